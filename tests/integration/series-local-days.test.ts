// The farmer's 7-day and season chart series (dashboard/views/series.ts) on both stores — the
// SQLite default and a real influxd: rain, an amount per reading, is charted as the total of each
// hour and of each day (raw readings and a gateway's hourly aggregates alike), not as their mean;
// a season's days are the farm's local days, so a reading just before local midnight and one just
// after fall in different days, and a day's min and max come from that day alone (in Tokyo not
// 09:00–09:00 JST, as days cut at UTC midnight were). The season starts at local midnight of the
// planting date.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServerDb } from '../../dashboard/db.ts';
import { applyManifest } from '../../dashboard/routes/sync.ts';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import { SqliteReadingStore } from '../../dashboard/storage/sqlite.ts';
import { HOUR_MS, type FarmReading, type ReadingStore } from '../../dashboard/storage/types.ts';
import { rangeStart, seriesOf } from '../../dashboard/views/series.ts';
import { localDay, startOfLocalDay } from '../../edge/rules/local-time.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { quietLog } from '../helpers/stack.ts';

const DAY_MS = 24 * HOUR_MS;
const MIN = 60_000;

let influxd: Influxd;
beforeAll(async () => {
  influxd = await startInfluxd();
});
afterAll(async () => {
  await influxd?.destroy();
});

describe('the season starts at local midnight', () => {
  const now = Date.parse('2026-12-03T16:00:00Z');

  it('of the planting date, in the farm’s zone (Tokyo by default)', () => {
    expect(rangeStart('season', '2026-10-05', now)).toBe(Date.parse('2026-10-05T00:00:00+09:00'));
    expect(rangeStart('season', '2026-10-05', now, 'Asia/Tokyo')).toBe(Date.parse('2026-10-04T15:00:00Z'));
    // Summer time in Berlin (+2), winter time in New York (−5).
    expect(rangeStart('season', '2026-10-05', now, 'Europe/Berlin')).toBe(Date.parse('2026-10-04T22:00:00Z'));
    expect(rangeStart('season', '2026-11-20', now, 'America/New_York')).toBe(
      Date.parse('2026-11-20T05:00:00Z'),
    );
  });

  it('of the first whole local day when there is no planting date, or it is more than a year back', () => {
    for (const [planting, days] of [
      [null, 180],
      ['2025-01-10', 366],
      ['not-a-date', 180],
      ['2027-04-01', 180], // not planted yet
    ] as const) {
      const from = rangeStart('season', planting, now, 'Asia/Tokyo');
      expect(from).toBeGreaterThanOrEqual(now - days * DAY_MS);
      expect(from).toBeLessThan(now - days * DAY_MS + DAY_MS);
      expect((from + 9 * HOUR_MS) % DAY_MS).toBe(0);
    }
  });
});

const stores: [string, (db: Db) => Promise<ReadingStore>][] = [
  ['SQLite', async (db) => new SqliteReadingStore(db)],
  [
    'InfluxDB 1.x',
    (db) =>
      createReadingStore(
        { kind: 'influx', url: influxd.url, database: 'hatake_series_days' },
        db,
        quietLog(),
      ),
  ],
];

describe.each(stores)('chart series on the %s store', (_name, open) => {
  let dir: string;
  let db: Db;
  let store: ReadingStore;
  const zones = ['Asia/Tokyo', 'America/New_York'] as const;
  const farmOf = (zone: string) => `farm-${zone.replace('/', '-').toLowerCase()}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-series-days-'));
    db = openServerDb(join(dir, 'server.db'));
    for (const zone of zones)
      applyManifest(db, {
        farm: { id: farmOf(zone), name: zone, timezone: zone },
        fields: [{ id: 'f1', name: 'f1' }],
        devices: [{ id: 'wx', kit: 'hatake-weather-station', field: 'f1' }],
      });
    store = await open(db);
  });
  afterAll(async () => {
    await store?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe.each(zones)('a farm in %s', (zone) => {
    const farm = farmOf(zone);
    const now = Date.now();
    // Local day D, two days back (recent enough for any raw retention period), and its midnight.
    const d = localDay(zone, now) - 2;
    const midnight = startOfLocalDay(zone, d);
    const next = startOfLocalDay(zone, d + 1);
    const at = (t: number, metric: string, value: number, unit: string): FarmReading => ({
      farm,
      device: 'wx',
      metric,
      time: t,
      value,
      unit,
      flags: [],
    });
    const rain = (t: number, mm: number) => at(t, 'rain', mm, 'mm');
    const temp = (t: number, c: number) => at(t, 'air_temperature', c, 'degC');
    const q = (metric: string, range: '7d' | 'season') =>
      seriesOf(store, { farm, device: 'wx', metric, range, plantingDate: null, timeZone: zone, now });

    beforeAll(async () => {
      await store.writeReadings([
        rain(midnight - 10 * MIN, 1.4), // 23:50 the day before
        rain(midnight, 0.2), // 00:00 sharp: the day's first
        rain(midnight + 10 * MIN, 0.4),
        rain(midnight + 8 * HOUR_MS + 50 * MIN, 0.6), // 08:50: before 09:00, which was a UTC midnight in Tokyo
        rain(midnight + 9 * HOUR_MS + 10 * MIN, 1.0),
        rain(next - 10 * MIN, 2.2), // 23:50
        rain(next + 10 * MIN, 0.8), // 00:10 the day after
        temp(midnight - 30 * MIN, 9), // a mild evening before
        temp(midnight + 30 * MIN, 2), // the night
        temp(midnight + 14 * HOUR_MS, 18), // the afternoon
        temp(next - 30 * MIN, 5),
        temp(next + 30 * MIN, -3), // a colder night after
      ]);
      // A gateway's offline backlog: 12:00–13:00 as two parts of an hourly aggregate, 2 + 3 mm.
      const noon = midnight + 12 * HOUR_MS;
      await store.writeAggregates(
        [
          [0, 0.2, 10, '0'],
          [0.5, 0.5, 6, '1'],
        ].map(([min, mean, count, part]) => ({
          farm,
          device: 'wx',
          metric: 'rain',
          unit: 'mm',
          hour: noon,
          part: part as string,
          min: min as number,
          max: 0.5,
          mean: mean as number,
          count: count as number,
        })),
      );
    });

    it('charts rain as the total of each local day, exactly', async () => {
      const s = await q('rain', 'season');
      expect(s.resolution).toBe('day');
      expect(s.unit).toBe('mm');
      const byDay = Object.fromEntries(s.t.map((t, i) => [t * 1000, s.v[i]]));
      expect(byDay).toEqual({
        [startOfLocalDay(zone, d - 1)]: 1.4,
        [midnight]: 9.4, // 0.2 + 0.4 + 0.6 + 1.0 + 2.2 + the gateway's 5
        [next]: 0.8,
      });
      // Totals have no min–max band.
      expect(s.min).toBeUndefined();
      expect(s.max).toBeUndefined();
    });

    it('charts rain as the total of each hour over 7 days', async () => {
      const s = await q('rain', '7d');
      expect(s.resolution).toBe('hour');
      const byHour = Object.fromEntries(s.t.map((t, i) => [t * 1000, s.v[i]]));
      expect(byHour).toEqual({
        [midnight - HOUR_MS]: 1.4,
        [midnight]: 0.6,
        [midnight + 8 * HOUR_MS]: 0.6,
        [midnight + 9 * HOUR_MS]: 1,
        [midnight + 12 * HOUR_MS]: 5,
        [next - HOUR_MS]: 2.2,
        [next]: 0.8,
      });
      expect(s.min).toBeUndefined();
    });

    it('keeps a local day’s temperatures together: readings either side of local midnight in their own days', async () => {
      const s = await q('air_temperature', 'season');
      expect(s.resolution).toBe('day');
      const days = s.t.map((t, i) => ({ t: t * 1000, v: s.v[i], min: s.min![i], max: s.max![i] }));
      expect(days).toEqual([
        { t: startOfLocalDay(zone, d - 1), v: 9, min: 9, max: 9 },
        { t: midnight, v: 25 / 3, min: 2, max: 18 },
        { t: next, v: -3, min: -3, max: -3 },
      ]);
    });

    it('keeps levels as hourly means with their min and max over 7 days', async () => {
      const s = await q('air_temperature', '7d');
      const i = s.t.indexOf((midnight + 14 * HOUR_MS) / 1000);
      expect([s.v[i], s.min![i], s.max![i]]).toEqual([18, 18, 18]);
    });
  });
});
