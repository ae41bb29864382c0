// Store-and-forward under a bad uplink: a proxy that drops connections, stalls them and cuts the
// server's answer mid-response; and a server killed with SIGKILL as a batch leaves and again
// after it stored one (its answer lost). In both, every reading arrives exactly once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { killingSync, queueBatteryBacklog, type KillMoment } from '../helpers/killing-fetch.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import type { SyncBatch } from '../../protocol/sync.ts';
import { FaultyProxy } from '../helpers/faulty-proxy.ts';
import { ServerProcess } from '../helpers/server-process.ts';
import { eventually, signIn, startServer, startStack, type Stack } from '../helpers/stack.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

describe('sync through a faulty uplink', () => {
  it('delivers every reading exactly once through drops, stalls and cut responses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-faults-'));
    const { server, url } = await startServer(dir);
    const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
    const proxy = new FaultyProxy({ host: '127.0.0.1', port: Number(new URL(url).port) });
    const proxyUrl = await proxy.start();
    proxy.faults = ['drop', 'stall', 'cut', 'drop', 'cut', 'stall', 'cut', 'pass', 'cut', 'drop'];
    const stack: Stack = await startStack({
      server: false,
      mqtt: { rate: { perSecond: 1000, burst: 1000 } },
      gateway: {
        server: { url: proxyUrl, token },
        sync: {
          intervalMs: 100,
          batchMaxItems: 40,
          batchDelayMs: 10,
          requestTimeoutMs: 400,
          backoffCapMs: 200,
        },
      },
    });
    cleanups.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => server.close(),
      () => proxy.stop(),
      () => stack.close(),
    );
    // The proxy's counts include the downlink's connections (its poll and its stream): what
    // proves a sync batch was cut after the server applied it, and resent, is the server
    // acknowledging readings it already held.
    let duplicates = 0;
    stack.gateway.sync!.on('synced', (ack) => (duplicates += ack.duplicates));

    const clients = await Promise.all(
      (['soil-1', 'wx-1', 'water-1'] as const).map((d) =>
        mqtt.connectAsync(stack.mqttUrl, { username: d, password: stack.secrets[d], reconnectPeriod: 0 }),
      ),
    );
    const metric = ['soil_vwc', 'air_temperature', 'water_level'];
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < 100; i++) {
      await Promise.all(
        clients.map((c, k) =>
          c.publishAsync(
            deviceTopic('demo-farm', ['soil-1', 'wx-1', 'water-1'][k]!, 'up'),
            JSON.stringify({ time: t0 + i * 1000, values: { [metric[k]!]: k === 0 ? 0.2 : 5 } }),
            { qos: 1 },
          ),
        ),
      );
    }
    for (const c of clients) await c.endAsync();
    await eventually(
      async () =>
        (await server.ctx.readings.count('demo-farm')) >= 300 && stack.gateway.store.outboxDepth() === 0,
      60_000,
      100,
    );
    expect(await server.ctx.readings.count('demo-farm')).toBe(300);
    for (const d of ['soil-1', 'wx-1', 'water-1'])
      expect(await server.ctx.readings.count('demo-farm', d)).toBe(100);
    // Every fault really happened, and the gateway really retried.
    expect(proxy.seen.drop).toBeGreaterThanOrEqual(3);
    expect(proxy.seen.stall).toBeGreaterThanOrEqual(2);
    expect(proxy.seen.cut).toBeGreaterThanOrEqual(4);
    expect(stack.gateway.sync!.status.sentItems).toBeGreaterThanOrEqual(300);
    expect(duplicates).toBeGreaterThan(0);
  });
});

describe('server killed with SIGKILL during a batch', () => {
  it('loses and duplicates nothing: the gateway resends what was not acknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-kill-'));
    const server = new ServerProcess(dir);
    await server.start();
    const admin = await signIn(server.url, 'admin');
    const reg = await admin('/api/v1/gateways', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'gw-test', farm: 'demo-farm' }),
    });
    expect(reg.status).toBe(201);
    const { token } = (await reg.json()) as { token: string };
    const stack: Stack = await startStack({
      server: false,
      gateway: {
        server: { url: server.url, token },
        sync: {
          intervalMs: 100,
          batchMaxItems: 500,
          batchDelayMs: 10,
          requestTimeoutMs: 5000,
          backoffCapMs: 300,
        },
      },
    });
    cleanups.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => server.kill(),
      () => stack.close(),
    );
    // A backlog of 30,000 readings the server has not seen.
    await stack.gateway.sync!.stop();
    const N = 30_000;
    const t0 = Date.now() - 40 * 86_400_000 + 1;
    queueBatteryBacklog(stack.gateway.store, N, t0);
    const { quietLog } = await import('../helpers/stack.ts');
    // Two kills, one at each dangerous moment of a batch:
    // 'sent'    — SIGKILL as the request leaves: the server dies with the batch on the wire or
    //             half applied (its transaction rolls back), never between two batches;
    // 'applied' — SIGKILL after the server has stored the batch and answered, the answer lost on
    //             the way: the gateway must send the batch again and the server must take the
    //             resend as a no-op (its ack says every item was already held).
    const { sync, killed, acks, arm } = killingSync(stack.gateway.store, server, token, quietLog());
    cleanups.push(() => sync.stop());
    const countAtServer = () => {
      const db = new Database(join(dir, 'server', 'server.db'), { readonly: true });
      try {
        return db
          .prepare(
            "SELECT COUNT(*) AS n, COALESCE(SUM((time - ?) / 60000), 0) AS minutes FROM readings WHERE farm = 'demo-farm' AND metric = 'battery'",
          )
          .get(t0) as { n: number; minutes: number };
      } finally {
        db.close();
      }
    };
    const killAt = async (at: KillMoment) => {
      await arm(at);
      const failuresBefore = sync.status.consecutiveFailures;
      await eventually(() => sync.status.consecutiveFailures > failuresBefore, 10_000, 10);
      await server.start();
    };
    sync.start();
    await eventually(() => countAtServer().n > 3000, 60_000, 20);
    await killAt('applied');
    await eventually(() => countAtServer().n > 12_000, 60_000, 20);
    await killAt('sent');
    await eventually(() => stack.gateway.store.outboxDepth() === 0, 120_000, 100);

    // Every reading once: the count, and the sum of their minutes since the first (a reading
    // lost and another stored twice would keep the count, not the sum).
    expect(countAtServer()).toEqual({ n: N, minutes: (N * (N - 1)) / 2 });
    expect(sync.status.consecutiveFailures).toBe(0);
    expect(killed.map((k) => k.at)).toEqual(['applied', 'sent']);
    // The batch whose answer was lost had been stored: sent again, the server held every item
    // and applied none of them a second time.
    const lost = killed[0]!.batch;
    const key = (items: SyncBatch['items']) => items.map((i) => JSON.stringify(i));
    const resent = acks.find((a) => {
      const held = new Set(key(a.batch.items));
      return key(lost.items).every((k) => held.has(k));
    });
    expect(resent).toBeDefined();
    expect(resent!.ack.duplicates).toBe(lost.items.length);
    expect(resent!.ack.applied).toBe(resent!.batch.items.length - lost.items.length);
    // The batch on the wire at the second kill was sent again too, whatever the server had
    // done with it.
    const cut = new Set(key(killed[1]!.batch.items));
    const again = acks.filter((a) => key(a.batch.items).some((k) => cut.has(k)));
    expect(again.flatMap((a) => key(a.batch.items)).filter((k) => cut.has(k)).length).toBe(cut.size);
  }, 180_000);
});
