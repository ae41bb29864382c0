// Readings delivered after InfluxDB's raw retention period — a gateway offline for longer than
// `retention.raw` — against a real influxd, beside the SQLite store that keeps everything: both
// must give the same hourly roll-ups, so the 7-day and season charts (dashboard/views/series.ts)
// are the same whichever store holds the data. InfluxDB refuses such readings in `raw`; the store
// writes them into `reading_hourly` in `longterm` (docs/storage.md, "Retention and roll-ups").
// Each test runs on both stores with the same steps and the same expectations; the InfluxDB store
// runs with `raw: 1h`, so a reading of three hours ago is past its raw period.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openServerDb } from '../../dashboard/db.ts';
import { applyManifest } from '../../dashboard/routes/sync.ts';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import {
  HOUR_MS,
  type FarmAggregate,
  type FarmReading,
  type ReadingStore,
  type RollupRow,
} from '../../dashboard/storage/types.ts';
import { seriesOf } from '../../dashboard/views/series.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { quietLog } from '../helpers/stack.ts';

let influxd: Influxd;
beforeAll(async () => {
  influxd = await startInfluxd();
});
afterAll(async () => {
  await influxd?.destroy();
});

interface Adapter {
  name: string;
  /** A store on `db` whose raw readings are kept for `raw` (InfluxDB; SQLite keeps everything). */
  open(db: Db, raw: string, database: string): Promise<ReadingStore>;
  /** Whether a reading past the raw period is among the raw readings (count, readings). */
  keepsLateRaw: boolean;
}
const adapters: Adapter[] = [
  {
    name: 'SQLite',
    open: (db) => createReadingStore({ kind: 'sqlite' }, db, quietLog()),
    keepsLateRaw: true,
  },
  {
    name: 'InfluxDB 1.x',
    open: (db, raw, database) =>
      createReadingStore({ kind: 'influx', url: influxd.url, database, retention: { raw } }, db, quietLog()),
    keepsLateRaw: false,
  },
];

const hourOf = (t: number) => t - (t % HOUR_MS);
const reading = (device: string, time: number, value: number): FarmReading => ({
  farm: 'f',
  device,
  metric: 'soil_vwc',
  value,
  unit: 'm3/m3',
  time,
  flags: [],
});
/** Roll-up rows as [hour, device, field, min, max, mean, count], the mean rounded. */
const table = (rows: RollupRow[]) =>
  rows.map((r) => [r.hour, r.device, r.field, r.min, r.max, Number(r.mean.toFixed(9)), r.count]);

let dbNo = 0;
describe.each(adapters)('readings older than the raw retention period: $name', (adapter) => {
  let dir: string;
  let db: Db;
  let database: string;
  const stores: ReadingStore[] = [];
  const open = async (raw = '1h') => {
    const s = await adapter.open(db, raw, database);
    stores.push(s);
    return s;
  };
  const rollups = (store: ReadingStore, from: number, to: number, device?: string) =>
    store.rollups({ farm: 'f', metric: 'soil_vwc', from, to, ...(device ? { device } : {}) });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-late-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    database = `late${++dbNo}`;
    db = openServerDb(join(dir, `${database}.db`));
    applyManifest(db, {
      farm: { id: 'f', name: 'f' },
      fields: [{ id: 'p1', name: 'p1' }],
      devices: [
        { id: 'a', kit: 'hatake-soil-probe', field: 'p1' },
        { id: 'b', kit: 'hatake-soil-probe', field: 'p1' },
      ],
    });
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    db.close();
  });

  it("counts a reading past the raw period in its hour's roll-up, with min, max, mean and count, and in the 7-day chart", async () => {
    const store = await open();
    const now = Date.now();
    const h1 = hourOf(now) - 3 * HOUR_MS;
    const h2 = h1 + HOUR_MS;
    const r = await store.writeReadings([
      reading('a', h1 + 60_000, 0.2),
      reading('a', h1 + 1_260_000, 0.5),
      reading('a', h1 + HOUR_MS - 1, 0.35), // the last millisecond of its hour
      reading('b', h1 + 120_000, 0.6),
      reading('a', h2, 0.9), // the first millisecond of its hour, where the roll-up's point lies
      reading('a', now - 600_000, 0.3), // the gateway is back: a reading inside the raw period
    ]);
    expect(r).toEqual({ applied: 6, duplicates: 0, rejected: 0 });
    expect(table(await rollups(store, h1, h2 + HOUR_MS))).toEqual([
      [h1, 'a', 'p1', 0.2, 0.5, 0.35, 3],
      [h1, 'b', 'p1', 0.6, 0.6, 0.6, 1],
      [h2, 'a', 'p1', 0.9, 0.9, 0.9, 1],
    ]);
    expect(await store.count('f', 'a')).toBe(adapter.keepsLateRaw ? 5 : 1);

    const week = await seriesOf(store, {
      farm: 'f',
      device: 'a',
      metric: 'soil_vwc',
      range: '7d',
      plantingDate: null,
      now,
    });
    expect(week.resolution).toBe('hour');
    expect(week.unit).toBe('m3/m3');
    expect(week.t.slice(0, 2)).toEqual([h1 / 1000, h2 / 1000]);
    expect(week.v.slice(0, 2).map((v) => Number(v!.toFixed(9)))).toEqual([0.35, 0.9]);
    expect(week.min?.slice(0, 2)).toEqual([0.2, 0.9]);
    expect(week.max?.slice(0, 2)).toEqual([0.5, 0.9]);
    // A device with nothing but rolled-up hours in range still says its unit.
    const onlyLate = await seriesOf(store, {
      farm: 'f',
      device: 'b',
      metric: 'soil_vwc',
      range: '7d',
      plantingDate: null,
      now,
    });
    expect(onlyLate.v.slice(0, 1)).toEqual([0.6]);
    expect(onlyLate.unit).toBe('m3/m3');
    const season = await seriesOf(store, {
      farm: 'f',
      device: 'a',
      metric: 'soil_vwc',
      range: 'season',
      plantingDate: null,
      now,
    });
    // One or two local days; every reading counted, as in the hourly chart.
    expect(season.resolution).toBe('day');
    expect(Math.min(...season.min!.map(Number))).toBe(0.2);
    expect(Math.max(...season.max!.map(Number))).toBe(0.9);
  });

  it('stores it once: a resend, whole, split another way or repeated within one call, changes no hour', async () => {
    const store = await open();
    const h1 = hourOf(Date.now()) - 3 * HOUR_MS;
    const batch = [
      reading('a', h1 + 60_000, 0.2),
      reading('a', h1 + 1_260_000, 0.5),
      reading('a', h1 + 2_000_000, 0.35),
    ];
    const expected = [[h1, 'a', 'p1', 0.2, 0.5, 0.35, 3]];
    await store.writeReadings(batch);
    expect(table(await rollups(store, h1, h1 + HOUR_MS))).toEqual(expected);

    // The answer was lost: the gateway sends the batch again, then in other batches, and with a
    // repeat inside one batch (kept once, as in the first store).
    const again = await store.writeReadings(batch);
    expect(again.applied + again.duplicates).toBe(3);
    expect(again.rejected).toBe(0);
    await store.writeReadings([batch[2]!, batch[1]!]);
    await store.writeReadings([batch[0]!]);
    const repeated = await store.writeReadings([batch[1]!, batch[1]!, batch[0]!]);
    expect(repeated.duplicates).toBeGreaterThanOrEqual(1);
    expect(repeated.rejected).toBe(0);
    expect(table(await rollups(store, h1, h1 + HOUR_MS))).toEqual(expected);
    expect(table(await rollups(store, h1, h1 + HOUR_MS, 'a'))).toEqual(expected);
  });

  it("merges with the raw readings of an hour the raw period cuts in two, and with the gateway's parts of it", async () => {
    const store = await open();
    // The store's cutoff is now − 1 h + 1 min. This hour holds readings on both sides of it, raw
    // ones two minutes after it (still raw when resent below), so wait while the cutoff is in the
    // last 150 s of its hour or its first second.
    let cutoff = Date.now() - HOUR_MS + 60_000;
    while (cutoff % HOUR_MS < 1000 || cutoff % HOUR_MS > HOUR_MS - 150_000) {
      await new Promise((r) => setTimeout(r, 1000));
      cutoff = Date.now() - HOUR_MS + 60_000;
    }
    const hour = hourOf(cutoff);
    const late = [reading('a', hour, 0.1), reading('a', hour + Math.floor((cutoff - hour) / 2), 0.3)];
    const raw = [reading('a', cutoff + 120_000, 0.7), reading('a', cutoff + 121_000, 0.5)];
    const part: FarmAggregate = {
      farm: 'f',
      device: 'a',
      metric: 'soil_vwc',
      unit: 'm3/m3',
      hour,
      part: '9',
      min: 0.2,
      max: 0.8,
      mean: 0.4,
      count: 10,
    };
    expect(await store.writeReadings([late[0]!, raw[0]!, late[1]!, raw[1]!])).toMatchObject({
      applied: 4,
      rejected: 0,
    });
    await store.writeAggregates([part]);
    // Raw and late readings and the gateway's part of the hour, as one hour: (1.6 + 4) / 14.
    const merged = [[hour, 'a', 'p1', 0.1, 0.8, 0.4, 14]];
    expect(table(await rollups(store, hour, hour + HOUR_MS))).toEqual(merged);
    expect(await store.count('f', 'a')).toBe(adapter.keepsLateRaw ? 4 : 2);
    // The gateway's hours are its parts only.
    expect(
      (await store.gatewayHours({ farm: 'f', metric: 'soil_vwc', from: hour, to: hour + HOUR_MS })).map(
        (h) => [h.hour, h.count, h.unit],
      ),
    ).toEqual([[hour, 10, 'm3/m3']]);
    // Resent, the late readings, the raw ones and the part change nothing.
    await store.writeReadings([...raw, ...late]);
    await store.writeAggregates([part]);
    expect(table(await rollups(store, hour, hour + HOUR_MS))).toEqual(merged);
  }, 200_000);

  it('merges with the roll-up of an hour rolled up while its readings were raw', async () => {
    // Raw readings kept 6 h: an hour three hours back is rolled up from them.
    const before = await open('6h');
    const hour = hourOf(Date.now()) - 3 * HOUR_MS;
    await before.writeReadings([reading('a', hour + 60_000, 0.2), reading('a', hour + 120_000, 0.4)]);
    expect(table(await rollups(before, hour, hour + HOUR_MS))).toEqual([[hour, 'a', 'p1', 0.2, 0.4, 0.3, 2]]);
    await before.close();
    stores.splice(stores.indexOf(before), 1);
    // The server restarts with raw readings kept 1 h (the policy is shortened), and the rest of
    // the hour arrives from a gateway that was offline: past the raw period now.
    const after = await open('1h');
    expect(
      await after.writeReadings([reading('a', hour + 1_800_000, 0.9), reading('a', hour + 1_860_000, 0.1)]),
    ).toMatchObject({ applied: 2, rejected: 0 });
    expect(table(await rollups(after, hour, hour + HOUR_MS))).toEqual([[hour, 'a', 'p1', 0.1, 0.9, 0.4, 4]]);
  });
});
