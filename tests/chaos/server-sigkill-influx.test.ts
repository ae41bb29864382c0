// The server killed with SIGKILL in the middle of a sync batch while its readings go to a real
// InfluxDB (`storage: { kind: influx }`) — uplink-faults.test.ts's server kill, on the other store.
// Two kills, one at each dangerous moment: as the batch leaves (the server dies with it on the
// wire or half written to InfluxDB, unacknowledged) and after the server stored it and answered
// (the answer lost). Every reading is in InfluxDB exactly once — one point per device and time,
// counted straight from influxd — the server serves again after each restart (/healthz ok, the
// gateway's backlog drains), and the throughput it reports counts every item once: InfluxDB cannot
// tell a rewritten point from a new one, so there only the server's record of acknowledged
// sequence numbers (dashboard/sync-acked.ts) keeps a resend from counting twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killingSync, queueBatteryBacklog, type KillMoment } from '../helpers/killing-fetch.ts';
import type { SyncBatch } from '../../protocol/sync.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { ServerChild } from '../helpers/server-child.ts';
import { eventually, quietLog, signIn, startStack, type Stack } from '../helpers/stack.ts';

const DATABASE = 'hatake';
let influxd: Influxd;
const cleanups: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  influxd = await startInfluxd();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await influxd?.destroy();
});

/** A statement straight to influxd (not through the server's client): its series. */
async function influxql(q: string): Promise<{ tags?: Record<string, string>; values?: unknown[][] }[]> {
  const res = await fetch(`${influxd.url}/query`, {
    method: 'POST',
    body: new URLSearchParams({ db: DATABASE, q, epoch: 'ms' }),
  });
  const json = (await res.json()) as {
    results: { series?: { tags?: Record<string, string>; values?: unknown[][] }[]; error?: string }[];
  };
  if (json.results[0]?.error) throw new Error(json.results[0].error);
  return json.results[0]?.series ?? [];
}

describe('server killed with SIGKILL during a batch, readings in InfluxDB', () => {
  it('stores every reading in InfluxDB once, serves again after each restart and counts each item once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-kill-influx-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = new ServerChild(dir, {
      config: [
        'storage:',
        '  kind: influx',
        `  url: ${influxd.url}`,
        `  database: ${DATABASE}`,
        // A busy test machine: generous, but well inside the gateway's request timeout.
        '  timeouts: { requestMs: 5000, writeMs: 10000, pingMs: 2000 }',
      ],
    });
    cleanups.push(() => server.kill());
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
        sync: { intervalMs: 100, batchMaxItems: 500, batchDelayMs: 10, backoffCapMs: 300 },
      },
    });
    cleanups.push(() => stack.close());
    // The gateway's own uplink delivers what it queued at start (its manifest, so the server knows
    // the devices' fields and kits), then stops: the test's client below takes over its outbox.
    await eventually(() => stack.gateway.store.outboxDepth() === 0, 30_000, 50);
    await stack.gateway.sync!.stop();
    const serverDb = () => new Database(join(dir, 'server', 'server.db'), { readonly: true });
    const countedItems = () => {
      const db = serverDb();
      try {
        return (
          db
            .prepare("SELECT COALESCE(SUM(items), 0) AS n FROM gateway_throughput WHERE gateway = 'gw-test'")
            .get() as { n: number }
        ).n;
      } finally {
        db.close();
      }
    };
    const countedBefore = countedItems();

    // A backlog of 15,000 readings the server has not seen, a minute apart (inside the raw period).
    const N = 15_000;
    const devices = ['soil-1', 'wx-1', 'water-1'] as const;
    const t0 = Date.now() - 12 * 86_400_000 + 1;
    const readings = queueBatteryBacklog(stack.gateway.store, N, t0);
    // 'sent'    — SIGKILL as the request leaves: the server dies with the batch on the wire or
    //             half written to InfluxDB, before its acknowledgement;
    // 'applied' — SIGKILL after the server has stored the batch and answered, the answer lost on
    //             the way: the gateway sends the batch again, InfluxDB rewrites the same points.
    const { sync, killed, acks, arm } = killingSync(stack.gateway.store, server, token, quietLog());
    cleanups.push(() => sync.stop());
    const pointsInInflux = async () =>
      ((await influxql(`SELECT count("value") FROM "raw"."reading" WHERE "metric" = 'battery'`))[0]
        ?.values?.[0]?.[1] as number | undefined) ?? 0;
    const killAt = async (at: KillMoment) => {
      await arm(at);
      const failuresBefore = sync.status.consecutiveFailures;
      await eventually(() => sync.status.consecutiveFailures > failuresBefore, 20_000, 10);
      await server.start();
      // It serves again: healthy, its store reachable, and the gateway's next batch is taken.
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { storage: { ok: boolean } }).storage.ok).toBe(true);
      const acked = acks.length;
      await eventually(() => acks.length > acked, 30_000, 20);
    };
    sync.start();
    await eventually(async () => (await pointsInInflux()) > 2000, 60_000, 50);
    await killAt('applied');
    await eventually(async () => (await pointsInInflux()) > 7000, 60_000, 50);
    await killAt('sent');
    await eventually(() => stack.gateway.store.outboxDepth() === 0, 120_000, 100);
    expect(sync.status.consecutiveFailures).toBe(0);
    expect(killed.map((k) => k.at)).toEqual(['applied', 'sent']);

    // Every reading once, counted straight from influxd: per device, one point per time (a point
    // written twice under other tags would be a second series), and exactly the times sent.
    const series = await influxql(
      `SELECT "value" FROM "raw"."reading" WHERE "farm" = 'demo-farm' AND "metric" = 'battery' GROUP BY *`,
    );
    const timesOf = new Map<string, number[]>(devices.map((d) => [d, []]));
    for (const s of series)
      for (const [time] of s.values ?? []) timesOf.get(s.tags!.device!)!.push(time as number);
    for (const [k, d] of devices.entries()) {
      const times = timesOf.get(d)!.sort((a, b) => a - b);
      const expected = readings.filter((_, i) => i % 3 === k).map((r) => r.time);
      expect(times.length, `${d}: points in InfluxDB`).toBe(expected.length);
      expect(times, `${d}: one point per time, every time sent`).toEqual(expected);
    }
    expect(series.length, 'one series per device').toBe(devices.length);

    // The batch whose answer was lost had been stored: it came again, and InfluxDB, unable to
    // tell, calls its items applied (docs/storage.md, "Exactly once") ...
    const key = (items: SyncBatch['items']) => items.map((i) => JSON.stringify(i));
    const lost = key(killed[0]!.batch.items);
    const resent = acks.find((a) => {
      const held = new Set(key(a.batch.items));
      return lost.every((k) => held.has(k));
    });
    expect(resent, 'the batch whose answer was lost, sent again').toBeDefined();
    expect(resent!.ack.duplicates).toBe(0);
    expect(resent!.ack.applied).toBe(resent!.batch.items.length);
    // ... so what keeps the throughput from counting it twice is the server's record of what it
    // acknowledged, which a SIGKILL does not lose: every item delivered is counted once.
    const delivered = new Set(acks.flatMap((a) => a.batch.items.map((i) => i.seq)));
    expect(countedItems() - countedBefore).toBe(delivered.size);
    // The batch on the wire at the second kill was sent again too, whatever the server had done
    // with it.
    const cut = new Set(key(killed[1]!.batch.items));
    const again = acks.filter((a) => key(a.batch.items).some((k) => cut.has(k)));
    expect(again.flatMap((a) => key(a.batch.items)).filter((k) => cut.has(k)).length).toBe(cut.size);
    // And the farmer's pages read from InfluxDB again.
    const farmer = await signIn(server.url, 'demo-farmer');
    const list = (await (await farmer('/api/v1/devices')).json()) as {
      id: string;
      latest: { metric: string; time: string }[];
    }[];
    expect(list.find((d) => d.id === 'water-1')?.latest).toContainEqual(
      expect.objectContaining({ metric: 'battery', time: new Date(readings.at(-1)!.time).toISOString() }),
    );
  }, 180_000);
});
