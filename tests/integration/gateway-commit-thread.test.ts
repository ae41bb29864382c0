// Group commits on the commit writer thread (gateway/commit-worker.js), each made slow as on a
// slow SD card: every QoS 0 and QoS 1 message is stored once, /metrics says where commits run,
// and a graceful stop commits everything that has arrived before it ends the thread.
// (That a PUBACK waits for its commit across a crash: tests/chaos/gateway-sigkill.test.ts.)
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/topics.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack | undefined;
afterEach(async () => {
  delete process.env.HATAKE_TEST_COMMIT_DELAY_MS;
  await stack?.close().catch(() => undefined);
  stack = undefined;
});

const count = (db: Database.Database, device: string) =>
  (db.prepare('SELECT COUNT(*) AS n FROM readings WHERE device = ?').get(device) as { n: number }).n;

/** A gateway whose commits go to the writer thread from the first, each `delayMs` slower. */
async function startSlowStack(delayMs: number): Promise<Stack> {
  // Read when the thread starts (the first commit, with commitThreadFrom 0).
  process.env.HATAKE_TEST_COMMIT_DELAY_MS = String(delayMs);
  stack = await startStack({
    server: false,
    mqtt: { rate: { perSecond: 10_000, burst: 10_000 } },
    gateway: { commitThreadFrom: 0 },
  });
  return stack;
}

describe('commits on the writer thread', () => {
  it('stores every QoS 0 and QoS 1 message once while each commit takes 300 ms', async () => {
    const s = await startSlowStack(300);
    const up = (device: string) => deviceTopic('demo-farm', device, 'up');
    const wx = await mqtt.connectAsync(s.mqttUrl, { username: 'wx-1', password: s.secrets['wx-1'] });
    const soil = await mqtt.connectAsync(s.mqttUrl, { username: 'soil-1', password: s.secrets['soil-1'] });
    const t0 = Date.now() - 3_600_000;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      sends.push(
        wx.publishAsync(
          up('wx-1'),
          JSON.stringify({ time: t0 + i * 1000, values: { air_temperature: 10 } }),
          {
            qos: 0,
          },
        ),
        soil.publishAsync(
          up('soil-1'),
          JSON.stringify({ time: t0 + i * 1000, values: { soil_temperature: 9 } }),
          {
            qos: 1,
          },
        ),
      );
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 30));
    }
    await Promise.all(sends); // QoS 1: every PUBACK is in, so every soil reading is on disk
    expect(count(s.gateway.store.db, 'soil-1')).toBe(60);
    await eventually(() => count(s.gateway.store.db, 'wx-1') === 60, 20_000, 20);
    expect(s.gateway.store.hasWriter).toBe(true);
    expect(await s.gateway.metrics.value('hatake_gateway_commit_thread')).toBe(1);
    await wx.endAsync();
    await soil.endAsync();
  }, 30_000);

  it('a graceful stop commits what has arrived before it ends the thread', async () => {
    // Longer than the rest of the stop takes: a stop that did not wait would end the thread mid-commit.
    const s = await startSlowStack(2000);
    const c = await mqtt.connectAsync(s.mqttUrl, {
      username: 'wx-1',
      password: s.secrets['wx-1'],
      reconnectPeriod: 0,
    });
    const t0 = Date.now() - 3_600_000;
    const acked: number[] = [];
    const publish = (i: number) =>
      c
        .publishAsync(
          deviceTopic('demo-farm', 'wx-1', 'up'),
          JSON.stringify({ time: t0 + i * 1000, values: { air_temperature: 11 } }),
          { qos: 1 },
        )
        .then(
          () => void acked.push(t0 + i * 1000),
          () => undefined,
        );
    await publish(0); // the first commit starts the thread
    for (let i = 1; i < 40; i++) void publish(i);
    // All 40 have reached the gateway; the last 39 are being committed (2 s each): stop now.
    await eventually(
      async () => (await s.gateway.metrics.value('hatake_gateway_messages_total')) >= 40,
      10_000,
      5,
    );
    expect(acked).toHaveLength(1);
    await s.gateway.stop();
    const db = new Database(join(s.gateway.config.dataDir, 'gateway.db'), { readonly: true });
    try {
      const stored = (
        db.prepare("SELECT time FROM readings WHERE device = 'wx-1'").all() as { time: number }[]
      ).map((r) => r.time);
      // What had arrived was committed before the store closed, not dropped with the thread.
      expect(stored.sort()).toEqual(Array.from({ length: 40 }, (_, i) => t0 + i * 1000));
    } finally {
      db.close();
    }
    c.end(true);
  }, 30_000);
});
