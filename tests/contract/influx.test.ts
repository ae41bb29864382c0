// The ReadingStore contract against InfluxDB 1.x: a real influxd (Debian's `influxdb` package)
// started for this file on free ports, reached through the server's own store factory. Beside
// it, what only InfluxDB can get wrong: how a gateway's hourly aggregates lie in the measurement
// the roll-up writes (docs/storage.md, "The measurements"), and that the sync endpoint refuses a
// batch of them while InfluxDB is away and stores it once when it is resent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServerDb } from '../../dashboard/db.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { applyManifest } from '../../dashboard/routes/sync.ts';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import type { InfluxReadingStore } from '../../dashboard/storage/influx.ts';
import { HOUR_MS, type FarmAggregate, type ReadingStore } from '../../dashboard/storage/types.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';
import { SeedGateway } from '../e2e/seed.ts';
import { readingStoreContract } from './reading-store.contract.ts';

let influxd: Influxd;
beforeAll(async () => {
  influxd = await startInfluxd();
});
afterAll(async () => {
  await influxd?.destroy();
});

readingStoreContract(
  'InfluxDB 1.x',
  (db) =>
    createReadingStore({ kind: 'influx', url: influxd.url, database: 'hatake_contract' }, db, quietLog()),
  {
    open: (db, retention, name) =>
      createReadingStore({ kind: 'influx', url: influxd.url, database: name, retention }, db, quietLog()),
    // InfluxDB expires raw points by itself (its retention service); the store's part is the roll-up.
    settle: (store) => (store as InfluxReadingStore).refreshRollups(),
  },
);

describe("a gateway's hourly aggregates in InfluxDB", () => {
  const database = 'hatake_hourly';
  let dir: string;
  let db: Db;
  let store: ReadingStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-hourly-'));
    db = openServerDb(join(dir, 'server.db'));
    applyManifest(db, {
      farm: { id: 'f', name: 'f' },
      fields: [{ id: 'p1', name: 'p1' }],
      devices: [
        { id: 'a', kit: 'hatake-soil-probe', field: 'p1' },
        { id: 'b', kit: 'hatake-soil-probe', field: 'p1' },
      ],
    });
    store = await createReadingStore({ kind: 'influx', url: influxd.url, database }, db, quietLog());
  });
  afterAll(async () => {
    await store?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A statement straight to influxd, not through the store. */
  async function influxql(q: string): Promise<{ columns: string[]; values: unknown[][] }[]> {
    const res = await fetch(`${influxd.url}/query`, {
      method: 'POST',
      // No epoch: times as RFC 3339 with nanoseconds (epoch=ns would not fit a JSON number).
      body: new URLSearchParams({ db: database, q }),
    });
    const json = (await res.json()) as {
      results: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[];
    };
    if (json.results[0]?.error) throw new Error(json.results[0].error);
    return json.results[0]?.series ?? [];
  }

  it("lies in the roll-up's series beside its points, with its fields and types, and no part tag", async () => {
    const hour = Math.floor((Date.now() - 2 * 86_400_000) / HOUR_MS) * HOUR_MS;
    const agg = (device: string, part: string, count: number): FarmAggregate => ({
      farm: 'f',
      device,
      metric: 'soil_vwc',
      unit: 'm3/m3',
      hour,
      part,
      min: 0.2,
      max: 0.4,
      mean: 0.3,
      count,
    });
    await store.writeReadings([
      {
        farm: 'f',
        device: 'a',
        metric: 'soil_vwc',
        value: 0.25,
        unit: 'm3/m3',
        time: hour + 1000,
        flags: [],
      },
    ]);
    await store.rollups({ farm: 'f', metric: 'soil_vwc', from: hour, to: hour + HOUR_MS }); // runs the roll-up
    // Parts far apart (one gateway's outbox over years), and again (a resend).
    const parts = [agg('a', '7', 10), agg('a', '18446744073709551615', 20), agg('b', '7', 30)];
    await store.writeAggregates(parts);
    await store.writeAggregates(parts);

    const tagKeys = await influxql('SHOW TAG KEYS FROM "longterm"."reading_hourly"');
    expect(tagKeys[0]!.values.map((v) => v[0])).toEqual(['device', 'farm', 'field', 'kit', 'metric']);
    const fieldKeys = await influxql('SHOW FIELD KEYS FROM "longterm"."reading_hourly"');
    expect(Object.fromEntries(fieldKeys[0]!.values.map((v) => [v[0], v[1]]))).toEqual({
      count: 'integer',
      max: 'float',
      mean: 'float',
      min: 'float',
      part: 'string',
      unit: 'string',
    });
    // One series per device and metric: the roll-up's point and the gateway's parts share it.
    const series = await influxql('SHOW SERIES FROM "longterm"."reading_hourly"');
    expect(series[0]!.values.map((v) => v[0])).toEqual([
      'reading_hourly,device=a,farm=f,field=p1,kit=hatake-soil-probe,metric=soil_vwc',
      'reading_hourly,device=b,farm=f,field=p1,kit=hatake-soil-probe,metric=soil_vwc',
    ]);
    // The roll-up's point at the start of the hour, each part inside the hour after it, once.
    const points = await influxql(
      `SELECT "count", "part" FROM "longterm"."reading_hourly" WHERE "device" = 'a' ORDER BY time`,
    );
    const start = BigInt(hour) * 1_000_000n;
    const ns = (t: string) => {
      const [, whole, frac] = /^(.*?)(?:\.(\d+))?Z$/.exec(t)!;
      return BigInt(Date.parse(`${whole}Z`)) * 1_000_000n + BigInt((frac ?? '').padEnd(9, '0'));
    };
    const rows = points[0]!.values.map(([t, count, part]) => [ns(t as string) - start, count, part]);
    expect(rows.map(([, count, part]) => [count, part])).toEqual([
      [1, null],
      [10, '7'],
      [20, '18446744073709551615'],
    ]);
    expect(rows[0]![0]).toBe(0n);
    expect(rows.slice(1).every(([t]) => (t as bigint) > 0n && (t as bigint) < 3_600_000_000_000n)).toBe(true);
    // Grafana's hourly count of readings counts the raw readings and the gateway's parts.
    const total = await influxql(
      `SELECT sum("count") FROM "longterm"."reading_hourly" WHERE "farm" = 'f' AND "field" = 'p1' AND time >= ${hour}ms AND time < ${hour + HOUR_MS}ms GROUP BY time(1h) fill(none)`,
    );
    expect(total[0]!.values[0]![1]).toBe(61);
  });
});

describe('the sync endpoint on InfluxDB', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-hourly-sync-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a gateway's aggregates while InfluxDB is down, acknowledges nothing, and stores them once when resent", async () => {
    const server = await HatakeServer.create({
      dataDir: join(dir, 'server'),
      host: '127.0.0.1',
      port: 0,
      logger: quietLog(),
      storage: {
        kind: 'influx',
        url: influxd.url,
        database: 'hatake_hourly_sync',
        timeouts: { requestMs: 500, writeMs: 1500, pingMs: 300 },
      },
    });
    try {
      const url = `http://127.0.0.1:${await server.listen()}`;
      const gw = new SeedGateway(server, url, 'demo-farm', 'gw-hourly');
      await gw.send([{ kind: 'manifest', body: demoManifest() }]);
      const acked = () =>
        (
          server.ctx.db.prepare('SELECT acked_seq FROM gateways WHERE id = ?').get('gw-hourly') as {
            acked_seq: number;
          }
        ).acked_seq;
      const ackedBefore = acked();
      const hour = Math.floor((Date.now() - 86_400_000) / HOUR_MS) * HOUR_MS;
      const parts = ['12', '340'].map((part, i) => ({
        kind: 'aggregate' as const,
        body: {
          device: 'wx-1',
          metric: 'rain',
          unit: 'mm',
          hour,
          part,
          min: i,
          max: i + 2,
          mean: i + 1,
          count: 30,
        },
      }));
      const q = { farm: 'demo-farm', device: 'wx-1', metric: 'rain', from: hour, to: hour + HOUR_MS };

      await influxd.stop();
      let refused = '';
      try {
        await gw.send(parts);
      } catch (e) {
        refused = (e as Error).message;
      } finally {
        await influxd.start();
      }
      expect(refused).toMatch(/503.*HATAKE_E_STORAGE/s);
      expect(acked()).toBe(ackedBefore);

      // The gateway kept the batch and sends it again; the answer to that one is lost, so once more.
      await gw.send(parts);
      await gw.send(parts);
      expect(acked()).toBeGreaterThan(ackedBefore);
      const rollups = await server.ctx.readings.rollups(q);
      expect(rollups.map((r) => [r.hour, r.count, r.min, r.max, r.mean])).toEqual([[hour, 60, 0, 3, 1.5]]);
      expect((await server.ctx.readings.gatewayHours(q)).map((r) => [r.hour, r.count, r.unit])).toEqual([
        [hour, 60, 'mm'],
      ]);
    } finally {
      await server.close();
    }
  }, 60_000);
});
