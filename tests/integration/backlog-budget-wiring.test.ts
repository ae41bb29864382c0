// The outbox budget as the gateway's config sets it (sync.maxOutboxBytes, aggregateAfterMs), reached
// through the running gateway: devices publish over MQTT while the server cannot be reached, and
// the gateway itself — not a test calling the budget function — turns old raw readings into
// hourly aggregates, keeps the recommendation and the tip queued beside them, and keeps every raw
// reading in its own table. (tests/chaos/backlog-budget.test.ts covers the budget's arithmetic.)
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/topics.ts';
import { freePort } from '../helpers/ports.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { demoTip } from '../helpers/tip.ts';

const BUDGET = 20_000;
let stack: Stack;
beforeAll(async () => {
  // A server address nobody listens on: the link is down for the whole test.
  const dead = await freePort();
  stack = await startStack({
    server: false,
    mqtt: { rate: { perSecond: 10_000, burst: 10_000 } }, // the devices here send a day in seconds
    gateway: {
      server: { url: `http://127.0.0.1:${dead}`, token: 'gw-token-that-is-never-checked' },
      sync: { intervalMs: 200, maxOutboxBytes: BUDGET, aggregateAfterMs: 1 },
    },
  });
});
afterAll(async () => {
  await stack.close();
});

const kinds = () =>
  Object.fromEntries(
    (
      stack.gateway.store.db.prepare('SELECT kind, COUNT(*) AS n FROM outbox GROUP BY kind').all() as {
        kind: string;
        n: number;
      }[]
    ).map((r) => [r.kind, r.n]),
  );

describe('the outbox budget of the gateway config, offline', () => {
  it('aggregates what the devices sent once over budget, keeping the recommendation, the tip and the raw table', async () => {
    const store = stack.gateway.store;
    const now = Date.now();
    store.enqueue('recommendation', { ...(await demoRecommendation(now)), id: 'rec-wiring' }, now);
    store.enqueue('tip', demoTip(now), now);

    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'soil-1',
      password: stack.secrets['soil-1'],
      reconnectPeriod: 0,
    });
    const topic = deviceTopic('demo-farm', 'soil-1', 'up');
    const t0 = Math.floor((now - 3_600_000) / 3_600_000) * 3_600_000; // the start of the last full hour
    const N = 400;
    let sent = 0;
    const publish = async (k: number) => {
      await client.publishAsync(
        topic,
        JSON.stringify({
          time: new Date(t0 + k * 5_000).toISOString(),
          values: { soil_vwc: 0.2 + (k % 20) / 1000, soil_temperature: 10 + (k % 7) / 10 },
        }),
        { qos: 1 },
      );
      sent++;
    };
    for (let k = 0; k < N; k++) await publish(k);
    // Every raw reading is stored, acknowledged before the budget was looked at.
    expect(
      (store.db.prepare("SELECT COUNT(*) AS n FROM readings WHERE device = 'soil-1'").get() as { n: number })
        .n,
    ).toBe(2 * N);

    // The gateway checks the budget after commits (at most every 2 s) and in its housekeeping
    // round (every 5 s): keep publishing, as devices do, until it has brought the outbox under it.
    // (With both checks taken out, the outbox stays at ~100 kB and this fails.)
    await expect
      .poll(
        async () => {
          if (store.outboxBytes > BUDGET) await publish(N + sent);
          return store.outboxBytes;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBeLessThanOrEqual(BUDGET);
    await client.endAsync();

    const k = kinds();
    expect(k['aggregate']).toBeGreaterThanOrEqual(2); // soil_vwc and soil_temperature, per hour
    expect(k['recommendation']).toBe(1);
    expect(k['tip']).toBe(1);
    // The aggregates account for the readings that left the outbox: nothing vanished uncounted.
    const agg = store.db
      .prepare("SELECT SUM(json_extract(body, '$.count')) AS n FROM outbox WHERE kind = 'aggregate'")
      .get() as { n: number };
    const rawQueued = k['reading'] ?? 0;
    expect(agg.n + rawQueued).toBe(2 * sent);
    expect(
      (store.db.prepare("SELECT COUNT(*) AS n FROM readings WHERE device = 'soil-1'").get() as { n: number })
        .n,
    ).toBe(2 * sent);
  }, 60_000); // 400 acknowledged publishes and the wait, on a loaded CI machine
});
