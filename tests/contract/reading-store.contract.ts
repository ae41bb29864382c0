// The ReadingStore contract: one suite, run against every adapter (sqlite.test.ts,
// influx.test.ts). What the server above the interface relies on — exactly-once effect on
// resends, latest per device, a field's metric over a range, hourly roll-ups (of raw readings
// and of the aggregates gateways send in their place), index statistics and recommendation
// outputs, tenancy in queries, and retention (raw readings for `retention.raw`, hourly roll-ups
// for `retention.longterm`, the same roll-ups before and after the raw readings expired) — must
// hold whichever store holds the data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { openServerDb } from '../../dashboard/db.ts';
import { applyManifest } from '../../dashboard/routes/sync.ts';
import type {
  FarmAggregate,
  FarmReading,
  IndexStat,
  ReadingStore,
  RecommendationOutput,
} from '../../dashboard/storage/types.ts';
import { HOUR_MS, MAX_TIME_MS, NEWEST_MAX_PER_DEVICE } from '../../dashboard/storage/types.ts';
import { QUALITY_RAW_FLAGGED } from '../../dashboard/storage/influx.ts';
import type { Db } from '../../runtime/sqlite.ts';

export type OpenStore = (db: Db) => Promise<ReadingStore>;

/** How the retention cases open and drive an adapter. */
export interface RetentionHooks {
  /**
   * A store on `db` that keeps raw readings for `retention.raw` and hourly roll-ups for
   * `retention.longterm` (its default when not given); `name` is a fresh name for what the store
   * keeps outside `db` (an InfluxDB database). Opening again with the same name reopens it.
   */
  open(db: Db, retention: { raw: string; longterm?: string }, name: string): Promise<ReadingStore>;
  /** Does now what the store's timer does: rolls up, and lets go of what retention lets go of. */
  settle(store: ReadingStore): Promise<void>;
}

/** Registers the contract tests for one adapter. */
export function readingStoreContract(name: string, open: OpenStore, retention?: RetentionHooks): void {
  if (retention) retentionContract(name, retention);
  describe(`ReadingStore contract: ${name}`, () => {
    let dir: string;
    let db: Db;
    let store: ReadingStore;
    let farmNo = 0;
    // Recent enough for any raw retention period, hour-aligned so roll-up hours are known.
    const base = Math.floor((Date.now() - 3 * 86_400_000) / HOUR_MS) * HOUR_MS;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hatake-contract-'));
      db = openServerDb(join(dir, 'server.db'));
      store = await open(db);
    });
    afterAll(async () => {
      await store?.close();
      db?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A fresh farm per test (the store is shared), with its devices in the manifest. */
    const farm = (devices: { id: string; field?: string; kit?: string }[] = []): string => {
      const id = `farm-${++farmNo}`;
      placeDevices(id, devices);
      return id;
    };
    const placeDevices = (id: string, devices: { id: string; field?: string; kit?: string }[]) => {
      const fields = [...new Set(devices.map((d) => d.field).filter((f): f is string => !!f))];
      const m: Manifest = {
        farm: { id, name: id },
        fields: fields.map((f) => ({ id: f, name: f })),
        devices: devices.map((d) => ({
          id: d.id,
          kit: d.kit ?? 'hatake-soil-probe',
          ...(d.field ? { field: d.field } : {}),
        })),
      };
      applyManifest(db, m);
    };
    const reading = (
      f: string,
      device: string,
      metric: string,
      time: number,
      value: number,
      flags: string[] = [],
    ) => ({ farm: f, device, metric, time, value, unit: 'm3/m3', flags }) as FarmReading;
    const aggregate = (
      f: string,
      device: string,
      metric: string,
      hour: number,
      part: string,
      [min, max, mean, count]: [number, number, number, number],
      unit = 'mm',
    ): FarmAggregate => ({ farm: f, device, metric, unit, hour, part, min, max, mean, count });
    /** Roll-up rows with their means rounded (a weighted mean is a sum over a count). */
    const rounded = <T extends { mean: number }>(rows: T[]) =>
      rows.map((r) => ({ ...r, mean: Number(r.mean.toFixed(9)) }));
    const snapshot = async (f: string) => ({
      count: await store.count(f),
      rows: await store.readings({ farm: f, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
      latest: await store.latest([f]),
      rollups: await store.rollups({ farm: f, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
    });

    it('stores a batch and counts it per farm and per device', async () => {
      const f = farm([
        { id: 'a', field: 'f1' },
        { id: 'b', field: 'f1' },
      ]);
      const batch = [0, 1, 2].flatMap((i) => [
        reading(f, 'a', 'soil_vwc', base + i * 60_000, 0.2 + i / 100),
        reading(f, 'b', 'soil_vwc', base + i * 60_000, 0.3 + i / 100),
      ]);
      const r = await store.writeReadings(batch);
      expect(r).toEqual({ applied: 6, duplicates: 0, rejected: 0 });
      expect(await store.count(f)).toBe(6);
      expect(await store.count(f, 'a')).toBe(3);
      expect(await store.count(f, 'nobody')).toBe(0);
      expect(await store.count(`${f}-other`)).toBe(0);
    });

    it('stores nothing twice when a batch is resent, whole, reordered or overlapping', async () => {
      const f = farm([
        { id: 'a', field: 'f1' },
        { id: 'b', field: 'f2' },
      ]);
      const batch = Array.from({ length: 50 }, (_, i) =>
        reading(f, i % 2 ? 'a' : 'b', 'soil_vwc', base + i * 90_000, 0.1 + i / 1000),
      );
      await store.writeReadings(batch);
      const before = await snapshot(f);
      expect(before.count).toBe(50);

      const again = await store.writeReadings(batch);
      expect(again.applied + again.duplicates).toBe(50);
      expect(again.rejected).toBe(0);
      await store.writeReadings([...batch].reverse());
      expect(await snapshot(f)).toEqual(before);

      // The gateway's next batch overlaps the last one it was not sure the server had.
      const next = Array.from({ length: 20 }, (_, i) =>
        reading(f, 'a', 'soil_vwc', base + (50 + i) * 90_000, 0.5),
      );
      await store.writeReadings([...batch.slice(40), ...next]);
      expect(await store.count(f)).toBe(70);
      const rows = await store.readings({ farm: f, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS });
      expect(new Set(rows.map((r) => `${r.device}@${r.time}`)).size).toBe(70);
    });

    it('keeps the first of two rows with the same key in one call', async () => {
      const f = farm([{ id: 'a', field: 'f1' }]);
      const r = await store.writeReadings([
        reading(f, 'a', 'soil_vwc', base, 0.21),
        reading(f, 'a', 'soil_vwc', base, 0.99),
        reading(f, 'a', 'soil_vwc', base + 1, 0.22),
      ]);
      expect(r).toEqual({ applied: 2, duplicates: 1, rejected: 0 });
      const rows = await store.readings({ farm: f, metric: 'soil_vwc', from: base, to: base + 2 });
      expect(rows.map((x) => x.value)).toEqual([0.21, 0.22]);
    });

    it('answers latest with the newest reading by measurement time, even if an older one arrives later', async () => {
      const f = farm([
        { id: 'a', field: 'f1' },
        { id: 'b', field: 'f1' },
      ]);
      const g = farm([{ id: 'a', field: 'f1' }]);
      await store.writeReadings([
        reading(f, 'a', 'soil_vwc', base + 120_000, 0.3, ['spike']),
        reading(f, 'a', 'soil_temperature', base + 60_000, 11.5),
        reading(f, 'b', 'soil_vwc', base, 0.4),
        reading(g, 'a', 'soil_vwc', base, 0.9),
      ]);
      await store.writeReadings([reading(f, 'a', 'soil_vwc', base, 0.1)]);
      const latest = await store.latest([f]);
      expect(latest.map((l) => ({ ...l, flags: [...l.flags].sort() }))).toEqual([
        {
          farm: f,
          device: 'a',
          metric: 'soil_temperature',
          value: 11.5,
          unit: 'm3/m3',
          time: base + 60_000,
          flags: [],
        },
        {
          farm: f,
          device: 'a',
          metric: 'soil_vwc',
          value: 0.3,
          unit: 'm3/m3',
          time: base + 120_000,
          flags: ['spike'],
        },
        { farm: f, device: 'b', metric: 'soil_vwc', value: 0.4, unit: 'm3/m3', time: base, flags: [] },
      ]);
      // Tenancy: only the farms asked for.
      expect((await store.latest([g])).map((l) => l.farm)).toEqual([g]);
      expect((await store.latest([f, g])).length).toBe(4);
      expect(await store.latest([])).toEqual([]);
    });

    it("returns a field's metric over [from, to), oldest first, with flags, by field or device", async () => {
      const f = farm([
        { id: 'a', field: 'north', kit: 'hatake-soil-probe' },
        { id: 'b', field: 'north', kit: 'hatake-soil-probe' },
        { id: 'c', field: 'south', kit: 'hatake-weather-station' },
      ]);
      const batch: FarmReading[] = [];
      for (let i = 0; i < 10; i++) {
        for (const d of ['a', 'b', 'c']) batch.push(reading(f, d, 'soil_vwc', base + i * 600_000, i / 10));
        batch.push(reading(f, 'a', 'soil_ec', base + i * 600_000, 1));
      }
      batch.push(reading(f, 'b', 'soil_vwc', base + 10 * 600_000, 0.5, ['clock_skew', 'out_of_range']));
      await store.writeReadings(batch);

      const north = await store.readings({
        farm: f,
        field: 'north',
        metric: 'soil_vwc',
        from: base + 600_000,
        to: base + 3 * 600_000,
      });
      expect(north.map((r) => [r.device, r.time])).toEqual([
        ['a', base + 600_000],
        ['b', base + 600_000],
        ['a', base + 1_200_000],
        ['b', base + 1_200_000],
      ]);
      expect(north[0]).toMatchObject({
        farm: f,
        metric: 'soil_vwc',
        field: 'north',
        kit: 'hatake-soil-probe',
        value: 0.1,
        unit: 'm3/m3',
        flags: [],
      });

      const south = await store.readings({
        farm: f,
        field: 'south',
        metric: 'soil_vwc',
        from: base,
        to: base + HOUR_MS * 3,
      });
      expect(south).toHaveLength(10);
      expect(south.every((r) => r.device === 'c' && r.kit === 'hatake-weather-station')).toBe(true);

      const flagged = await store.readings({
        farm: f,
        device: 'b',
        metric: 'soil_vwc',
        from: base + 10 * 600_000,
        to: MAX_TIME_MS,
      });
      expect(flagged.map((r) => [...r.flags].sort())).toEqual([['clock_skew', 'out_of_range']]);

      const limited = await store.readings({
        farm: f,
        metric: 'soil_ec',
        from: 0,
        to: MAX_TIME_MS,
        limit: 3,
      });
      expect(limited.map((r) => r.time)).toEqual([base, base + 600_000, base + 1_200_000]);
    });

    it("counts a farm's readings per device over [from, to), all metrics together, flagged and per flag", async () => {
      const f = farm([
        { id: 'a', field: 'north' },
        { id: 'b', field: 'south' },
        { id: 'c', field: 'south' },
        { id: 'quiet', field: 'south' },
      ]);
      const from = base + HOUR_MS;
      const to = base + 2 * HOUR_MS;
      const batch: FarmReading[] = [];
      for (let i = 0; i < 6; i++) {
        batch.push(reading(f, 'a', 'soil_vwc', from + i * 60_000, 0.2));
        batch.push(reading(f, 'a', 'soil_ec', from + i * 60_000, 1, i < 2 ? ['spike'] : []));
        batch.push(reading(f, 'b', 'soil_vwc', from + i * 60_000, 0.3, i === 0 ? ['spike', 'stuck'] : []));
      }
      batch.push({ ...reading(f, 'b', 'battery', from + 30_000, 3.1, ['out_of_range']), unit: 'V' });
      batch.push(reading(f, 'b', 'soil_vwc', from + 10 * 60_000, 0.3, ['clock_skew', 'duplicate']));
      // The window's edges: `from` counts, `to` does not, as in readings().
      batch.push(reading(f, 'c', 'soil_vwc', from - 1, 0.1, ['spike']));
      batch.push(reading(f, 'c', 'soil_vwc', from, 0.1));
      batch.push(reading(f, 'c', 'soil_vwc', to - 1, 0.1, ['stuck']));
      batch.push(reading(f, 'c', 'soil_vwc', to, 0.1, ['spike']));
      // 'quiet' reported, but not in the window; a device in no manifest did, and counts.
      batch.push(reading(f, 'quiet', 'soil_vwc', base, 0.1, ['spike']));
      batch.push(reading(f, 'quiet', 'soil_vwc', to + HOUR_MS, 0.1));
      batch.push(reading(f, 'stray', 'soil_temperature', from + 5 * 60_000, 12));
      await store.writeReadings(batch);
      // The same device ids on another farm, flagged, in the same window: never counted here.
      const g = farm([{ id: 'a', field: 'north' }]);
      await store.writeReadings([
        reading(g, 'a', 'soil_vwc', from + 1000, 0.2, ['out_of_range']),
        reading(g, 'b', 'soil_vwc', from + 1000, 0.2, ['spike']),
      ]);

      const rows = await store.quality({ farm: f, from, to });
      expect(rows).toEqual([
        { device: 'a', readings: 12, flagged: 2, flags: { spike: 2 } },
        {
          device: 'b',
          readings: 8,
          flagged: 3,
          flags: { out_of_range: 1, spike: 1, stuck: 1, clock_skew: 1, duplicate: 1 },
        },
        { device: 'c', readings: 2, flagged: 1, flags: { stuck: 1 } },
        { device: 'stray', readings: 1, flagged: 0, flags: {} },
      ]);
      // What readings() returns over the same range, metric by metric.
      for (const row of rows) {
        let n = 0;
        for (const metric of ['soil_vwc', 'soil_ec', 'soil_temperature', 'battery'])
          n += (await store.readings({ farm: f, device: row.device, metric, from, to })).length;
        expect(n, row.device).toBe(row.readings);
      }
      expect(await store.quality({ farm: g, from, to })).toEqual([
        { device: 'a', readings: 1, flagged: 1, flags: { out_of_range: 1 } },
        { device: 'b', readings: 1, flagged: 1, flags: { spike: 1 } },
      ]);
      // Windows with nothing in them, and a farm with nothing at all.
      expect(await store.quality({ farm: f, from: to + 1, to: to + HOUR_MS })).toEqual([]);
      expect(await store.quality({ farm: f, from: to, to: to })).toEqual([]);
      expect(await store.quality({ farm: farm([{ id: 'a' }]), from: 0, to: MAX_TIME_MS })).toEqual([]);
      expect(await store.quality({ farm: `${f}-other`, from: 0, to: MAX_TIME_MS })).toEqual([]);
      // Clamped like every range: all of time is the farm's every reading.
      expect(
        (await store.quality({ farm: f, from: -1, to: Number.MAX_SAFE_INTEGER })).map((r) => [
          r.device,
          r.readings,
        ]),
      ).toEqual([
        ['a', 12],
        ['b', 8],
        ['c', 4],
        ['quiet', 2],
        ['stray', 1],
      ]);
    });

    it('counts more flagged readings than a store reads one by one', async () => {
      const f = farm([{ id: 'a' }, { id: 'b' }]);
      const n = QUALITY_RAW_FLAGGED + 500;
      const batch: FarmReading[] = [];
      for (let i = 0; i < n; i++) {
        const t = base + i * 1000;
        batch.push(
          reading(f, i % 2 ? 'a' : 'b', 'soil_vwc', t, 0.2, i % 3 ? ['clock_skew'] : ['clock_skew', 'spike']),
        );
        if (i % 10 === 0) batch.push(reading(f, 'a', 'soil_ec', t, 1));
      }
      for (let i = 0; i < batch.length; i += 5000) await store.writeReadings(batch.slice(i, i + 5000));
      const expected = (device: 'a' | 'b') => {
        const mine = batch.filter((r) => r.device === device);
        const flagged = mine.filter((r) => r.flags.length > 0);
        return {
          device,
          readings: mine.length,
          flagged: flagged.length,
          flags: {
            spike: flagged.filter((r) => r.flags.includes('spike')).length,
            clock_skew: flagged.length,
          },
        };
      };
      expect(await store.quality({ farm: f, from: base, to: base + n * 1000 })).toEqual([
        expected('a'),
        expected('b'),
      ]);
    });

    it("returns each device's newest readings of a metric over [from, to), oldest first, in a unit if asked", async () => {
      const f = farm([
        { id: 'a', field: 'east' },
        { id: 'b', field: 'east' },
        { id: 'c', field: 'east' },
      ]);
      const volts = (device: string, time: number, value: number, unit = 'V'): FarmReading => ({
        ...reading(f, device, 'battery', time, value),
        unit,
      });
      const from = base;
      const to = base + HOUR_MS;
      await store.writeReadings([
        ...[0, 1, 2, 3, 4].map((i) => volts('a', from + i * 60_000, [3.6, 3.59, 3.58, 3.57, 3.56][i]!)),
        volts('a', from - 1, 3.9),
        volts('a', to, 3.0),
        volts('b', from, 3.7),
        volts('b', from + 60_000, 88, '%'),
        { ...volts('b', from + 120_000, 3.2), flags: ['out_of_range'] },
        volts('c', to + 60_000, 3.5),
        reading(f, 'a', 'soil_vwc', to - 1, 0.2),
      ]);
      // Another farm's battery, same device id, newer: not this farm's.
      const g = farm([{ id: 'a', field: 'east' }]);
      await store.writeReadings([{ ...reading(g, 'a', 'battery', to - 1, 2.9), unit: 'V' }]);

      const newest = await store.newest({ farm: f, metric: 'battery', from, to, perDevice: 3 });
      expect(newest.map((r) => [r.device, r.time, r.value, r.unit])).toEqual([
        ['a', from + 2 * 60_000, 3.58, 'V'],
        ['a', from + 3 * 60_000, 3.57, 'V'],
        ['a', from + 4 * 60_000, 3.56, 'V'],
        ['b', from, 3.7, 'V'],
        ['b', from + 60_000, 88, '%'],
        ['b', from + 120_000, 3.2, 'V'],
      ]);
      expect(newest[5]).toMatchObject({
        farm: f,
        metric: 'battery',
        field: 'east',
        kit: 'hatake-soil-probe',
        flags: ['out_of_range'],
      });
      const inVolts = await store.newest({ farm: f, metric: 'battery', unit: 'V', from, to, perDevice: 2 });
      expect(inVolts.map((r) => [r.device, r.time])).toEqual([
        ['a', from + 3 * 60_000],
        ['a', from + 4 * 60_000],
        ['b', from],
        ['b', from + 120_000],
      ]);
      // A device moved to another field: its newest readings across both.
      placeDevices(f, [{ id: 'a', field: 'west' }]);
      const later = Date.now() + 60_000;
      await store.writeReadings([volts('a', later, 3.4)]);
      const moved = await store.newest({ farm: f, metric: 'battery', from, to: later + 1, perDevice: 2 });
      expect(moved.filter((r) => r.device === 'a').map((r) => [r.time, r.field])).toEqual([
        [to, 'east'],
        [later, 'west'],
      ]);
      expect(await store.newest({ farm: g, metric: 'battery', from, to, perDevice: 3 })).toMatchObject([
        { device: 'a', value: 2.9 },
      ]);
      expect(
        await store.newest({ farm: f, metric: 'battery', from: to + HOUR_MS, to: later, perDevice: 3 }),
      ).toEqual([]);
      expect(await store.newest({ farm: f, metric: 'rssi', from, to, perDevice: 3 })).toEqual([]);
      for (const perDevice of [0, 1.5, NEWEST_MAX_PER_DEVICE + 1]) {
        const e = await store.newest({ farm: f, metric: 'battery', from, to, perDevice }).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect((e as HatakeError).code, String(perDevice)).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      }
    });

    it('rolls up min, max, mean and count per device and hour, and keeps them right on late data and resends', async () => {
      const f = farm([
        { id: 'a', field: 'f1' },
        { id: 'b', field: 'f2' },
      ]);
      const h0 = base;
      const h1 = base + HOUR_MS;
      const batch = [
        reading(f, 'a', 'soil_vwc', h0 + 0, 0.1),
        reading(f, 'a', 'soil_vwc', h0 + 1_200_000, 0.3),
        reading(f, 'a', 'soil_vwc', h0 + 3_599_999, 0.2),
        reading(f, 'a', 'soil_vwc', h1 + 60_000, 0.5),
        reading(f, 'b', 'soil_vwc', h1 + 60_000, 0.7),
        reading(f, 'a', 'soil_temperature', h0, 12),
      ];
      await store.writeReadings(batch);
      const all = await store.rollups({ farm: f, metric: 'soil_vwc', from: h0, to: h1 + HOUR_MS });
      expect(all.map(({ mean, ...r }) => ({ ...r, mean: Number(mean.toFixed(9)) }))).toEqual([
        {
          farm: f,
          field: 'f1',
          device: 'a',
          kit: 'hatake-soil-probe',
          metric: 'soil_vwc',
          hour: h0,
          min: 0.1,
          max: 0.3,
          mean: 0.2,
          count: 3,
        },
        {
          farm: f,
          field: 'f1',
          device: 'a',
          kit: 'hatake-soil-probe',
          metric: 'soil_vwc',
          hour: h1,
          min: 0.5,
          max: 0.5,
          mean: 0.5,
          count: 1,
        },
        {
          farm: f,
          field: 'f2',
          device: 'b',
          kit: 'hatake-soil-probe',
          metric: 'soil_vwc',
          hour: h1,
          min: 0.7,
          max: 0.7,
          mean: 0.7,
          count: 1,
        },
      ]);
      // Hours that start in [from, to): a range starting mid-hour begins at the next hour.
      expect(
        (await store.rollups({ farm: f, metric: 'soil_vwc', from: h0 + 1, to: h1 + HOUR_MS })).map(
          (r) => r.hour,
        ),
      ).toEqual([h1, h1]);
      expect(
        (await store.rollups({ farm: f, field: 'f2', metric: 'soil_vwc', from: h0, to: h1 + HOUR_MS })).map(
          (r) => r.device,
        ),
      ).toEqual(['b']);

      // A resend changes no aggregate; a late reading for an earlier hour changes that hour.
      await store.writeReadings(batch);
      await store.writeReadings([reading(f, 'a', 'soil_vwc', h0 + 2_400_000, 0.9)]);
      const after = await store.rollups({
        farm: f,
        device: 'a',
        metric: 'soil_vwc',
        from: h0,
        to: h1 + HOUR_MS,
      });
      expect(after.map((r) => [r.hour, r.count, r.min, r.max])).toEqual([
        [h0, 4, 0.1, 0.9],
        [h1, 1, 0.5, 0.5],
      ]);
      expect(after[0]!.mean).toBeCloseTo(0.375, 9);
    });

    it("stores a gateway's hourly aggregates once: a resent part replaces itself, every part of an hour counts", async () => {
      const f = farm([{ id: 'r', field: 'f1', kit: 'hatake-weather-station' }]);
      const [h0, h1] = [base, base + HOUR_MS];
      // Hour h0 came in two parts (the gateway aggregated it in two rounds).
      const batch = [
        aggregate(f, 'r', 'rain', h0, '41', [0, 2, 1, 30]),
        aggregate(f, 'r', 'rain', h0, '97', [1, 5, 3, 10]),
        aggregate(f, 'r', 'rain', h1, '41', [0, 0, 0, 60]),
      ];
      expect(await store.writeAggregates(batch)).toEqual({ applied: 3, duplicates: 0, rejected: 0 });
      const q = { farm: f, metric: 'rain', from: h0, to: h1 + HOUR_MS };
      const expected = [
        {
          farm: f,
          field: 'f1',
          device: 'r',
          kit: 'hatake-weather-station',
          metric: 'rain',
          hour: h0,
          min: 0,
          max: 5,
          mean: (1 * 30 + 3 * 10) / 40,
          count: 40,
        },
        {
          farm: f,
          field: 'f1',
          device: 'r',
          kit: 'hatake-weather-station',
          metric: 'rain',
          hour: h1,
          min: 0,
          max: 0,
          mean: 0,
          count: 60,
        },
      ];
      expect(rounded(await store.rollups(q))).toEqual(expected);

      // Resent whole (a lost answer), in another order and split over two calls, with a part
      // number written with leading zeros, and once more after the device moved to another
      // field: the same hours, counted once, under the field the device was in at the time.
      const again = await store.writeAggregates(batch);
      expect(again.applied + again.duplicates).toBe(3);
      expect(again.rejected).toBe(0);
      await store.writeAggregates([batch[2]!]);
      await store.writeAggregates([batch[1]!, { ...batch[0]!, part: '0041' }]);
      placeDevices(f, [{ id: 'r', field: 'f2', kit: 'hatake-weather-station' }]);
      await store.writeAggregates(batch);
      expect(rounded(await store.rollups(q))).toEqual(expected);
      expect(rounded(await store.gatewayHours(q))).toEqual(expected.map((r) => ({ ...r, unit: 'mm' })));
      // They stand for readings, but they are not raw readings.
      expect(await store.count(f)).toBe(0);
      expect(await store.readings({ ...q, from: 0, to: MAX_TIME_MS })).toEqual([]);
    });

    it("rolls a gateway's aggregates up beside the raw readings of the same and of other hours", async () => {
      const f = farm([
        { id: 'a', field: 'f1' },
        { id: 'b', field: 'f2' },
      ]);
      const [h0, h1, h2] = [base, base + HOUR_MS, base + 2 * HOUR_MS];
      const raw = [
        reading(f, 'a', 'soil_vwc', h0, 0.1),
        reading(f, 'a', 'soil_vwc', h0 + 600_000, 0.3),
        reading(f, 'a', 'soil_vwc', h1 + 60_000, 0.5),
      ];
      // The rest of h0 reached the server as an aggregate; h2 only as one; b only as one.
      const hours = [
        aggregate(f, 'a', 'soil_vwc', h0, '5', [0.2, 0.4, 0.3, 2], 'm3/m3'),
        aggregate(f, 'a', 'soil_vwc', h2, '9', [0.1, 0.5, 0.3, 12], 'm3/m3'),
        aggregate(f, 'b', 'soil_vwc', h1, '5', [0.6, 0.8, 0.7, 4], 'm3/m3'),
        aggregate(f, 'a', 'soil_temperature', h0, '5', [10, 12, 11, 6], 'degC'),
      ];
      await store.writeReadings(raw);
      await store.writeAggregates(hours);
      const row = (
        device: string,
        field: string,
        hour: number,
        min: number,
        max: number,
        mean: number,
        count: number,
      ) => ({
        farm: f,
        field,
        device,
        kit: 'hatake-soil-probe',
        metric: 'soil_vwc',
        hour,
        min,
        max,
        mean,
        count,
      });
      const q = { farm: f, metric: 'soil_vwc', from: h0, to: h2 + HOUR_MS };
      const expected = [
        row('a', 'f1', h0, 0.1, 0.4, (0.1 + 0.3 + 0.3 * 2) / 4, 4),
        row('a', 'f1', h1, 0.5, 0.5, 0.5, 1),
        row('b', 'f2', h1, 0.6, 0.8, 0.7, 4),
        row('a', 'f1', h2, 0.1, 0.5, 0.3, 12),
      ];
      expect(rounded(await store.rollups(q))).toEqual(expected);
      // The same filters as for raw readings: a field, a device, hours that start in the range.
      expect((await store.rollups({ ...q, field: 'f2' })).map((r) => [r.device, r.hour])).toEqual([
        ['b', h1],
      ]);
      expect((await store.rollups({ ...q, device: 'a' })).map((r) => r.hour)).toEqual([h0, h1, h2]);
      expect((await store.rollups({ ...q, from: h0 + 1, to: h2 })).map((r) => r.hour)).toEqual([h1, h1]);
      expect(
        (await store.rollups({ ...q, metric: 'soil_temperature' })).map((r) => [r.hour, r.count, r.mean]),
      ).toEqual([[h0, 6, 11]]);

      // A resend of both changes nothing; a late raw reading joins the hour a gateway sent.
      await store.writeReadings(raw);
      await store.writeAggregates(hours);
      expect(rounded(await store.rollups(q))).toEqual(expected);
      await store.writeReadings([reading(f, 'a', 'soil_vwc', h2 + 60_000, 0.9)]);
      const h2After = (await store.rollups({ ...q, device: 'a', from: h2 })).map((r) => [
        r.count,
        r.min,
        r.max,
      ]);
      expect(h2After).toEqual([[13, 0.1, 0.9]]);
    });

    it('answers the hours gateways sent as aggregates over a range, parts merged, with their unit', async () => {
      const f = farm([
        { id: 'a', field: 'f1' },
        { id: 'b', field: 'f2' },
      ]);
      const g = farm([{ id: 'a', field: 'f1' }]);
      const h = (i: number) => base + i * HOUR_MS;
      await store.writeReadings([reading(f, 'a', 'air_temperature', h(0) + 60_000, 14)]);
      await store.writeAggregates([
        aggregate(f, 'a', 'air_temperature', h(1), '3', [10, 12, 11, 30], 'degC'),
        aggregate(f, 'a', 'air_temperature', h(1), '8', [12, 16, 14, 30], 'degC'),
        aggregate(f, 'b', 'air_temperature', h(1), '3', [9, 9, 9, 60], 'degC'),
        aggregate(f, 'a', 'air_temperature', h(3), '1', [5, 7, 6, 60], 'degC'),
        aggregate(g, 'a', 'air_temperature', h(1), '3', [30, 30, 30, 60], 'degC'),
      ]);
      const q = { farm: f, metric: 'air_temperature', from: h(0), to: h(4) };
      const hours = await store.gatewayHours(q);
      // Only what gateways sent: hour 0 holds raw readings alone.
      expect(rounded(hours)).toEqual([
        {
          farm: f,
          field: 'f1',
          device: 'a',
          kit: 'hatake-soil-probe',
          metric: 'air_temperature',
          hour: h(1),
          unit: 'degC',
          min: 10,
          max: 16,
          mean: 12.5,
          count: 60,
        },
        {
          farm: f,
          field: 'f2',
          device: 'b',
          kit: 'hatake-soil-probe',
          metric: 'air_temperature',
          hour: h(1),
          unit: 'degC',
          min: 9,
          max: 9,
          mean: 9,
          count: 60,
        },
        {
          farm: f,
          field: 'f1',
          device: 'a',
          kit: 'hatake-soil-probe',
          metric: 'air_temperature',
          hour: h(3),
          unit: 'degC',
          min: 5,
          max: 7,
          mean: 6,
          count: 60,
        },
      ]);
      const of = async (over: Partial<typeof q> & { device?: string; field?: string }) =>
        (await store.gatewayHours({ ...q, ...over })).map((r) => `${r.device}@${(r.hour - base) / HOUR_MS}`);
      expect(await of({ device: 'a' })).toEqual(['a@1', 'a@3']);
      expect(await of({ field: 'f2' })).toEqual(['b@1']);
      // Hours that start in [from, to), as for rollups.
      expect(await of({ from: h(1) + 1 })).toEqual(['a@3']);
      expect(await of({ to: h(3) })).toEqual(['a@1', 'b@1']);
      expect(await of({ metric: 'rain' })).toEqual([]);
      expect(await of({ from: h(4), to: h(1) })).toEqual([]);
      // Tenancy: another farm's gateway hours are its own.
      expect((await store.gatewayHours({ ...q, farm: g })).map((r) => [r.farm, r.mean])).toEqual([[g, 30]]);
    });

    it('sets aside aggregates no store can hold, stores the rest and says how many', async () => {
      const f = farm([{ id: 'a', field: 'f1' }]);
      const ok = aggregate(f, 'a', 'rain', base, '1', [0, 1, 0.5, 10]);
      const r = await store.writeAggregates([
        ok,
        { ...ok, hour: base + 1 },
        { ...ok, hour: -HOUR_MS },
        { ...ok, hour: MAX_TIME_MS + HOUR_MS },
        { ...ok, part: '' },
        { ...ok, part: 'x1' },
        { ...ok, part: '1'.repeat(21) },
        { ...ok, mean: Number.NaN },
        { ...ok, max: Number.POSITIVE_INFINITY },
        { ...ok, min: 2 },
        { ...ok, count: 0 },
        { ...ok, count: 1.5 },
        { ...ok, unit: 'x'.repeat(17) },
        { ...ok, device: 'a\n' },
        { ...ok, metric: 'rain\u0000' },
      ]);
      expect(r).toEqual({ applied: 1, duplicates: 0, rejected: 14 });
      expect(
        (await store.rollups({ farm: f, metric: 'rain', from: 0, to: MAX_TIME_MS })).map((x) => [
          x.hour,
          x.count,
        ]),
      ).toEqual([[base, 10]]);
    });

    it('labels a reading with the field its device was in at the time, and a move keeps resends exactly-once', async () => {
      const f = farm([{ id: 'a', field: 'east' }]);
      const before = [0, 1, 2].map((i) => reading(f, 'a', 'soil_vwc', base + i * 60_000, 0.2));
      await store.writeReadings(before);
      // The device is moved to another field; readings measured from now on belong there.
      placeDevices(f, [{ id: 'a', field: 'west' }]);
      const later = Date.now() + 60_000;
      const after = [0, 1].map((i) => reading(f, 'a', 'soil_vwc', later + i * 60_000, 0.4));
      await store.writeReadings(after);
      // The batch from before the move arrives again (its ack was lost).
      await store.writeReadings(before);
      expect(await store.count(f)).toBe(5);
      const east = await store.readings({
        farm: f,
        field: 'east',
        metric: 'soil_vwc',
        from: 0,
        to: MAX_TIME_MS,
      });
      const west = await store.readings({
        farm: f,
        field: 'west',
        metric: 'soil_vwc',
        from: 0,
        to: MAX_TIME_MS,
      });
      expect(east.map((r) => r.time)).toEqual(before.map((r) => r.time));
      expect(west.map((r) => r.time)).toEqual(after.map((r) => r.time));
    });

    it('labels readings of a device not in any manifest with no field, and stores them', async () => {
      const f = farm([]);
      await store.writeReadings([reading(f, 'stray', 'soil_vwc', base, 0.3)]);
      const rows = await store.readings({ farm: f, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS });
      expect(rows).toMatchObject([{ device: 'stray', field: null, kit: null, value: 0.3 }]);
    });

    it('sets aside rows no store can hold, stores the rest and says how many', async () => {
      const f = farm([{ id: 'a', field: 'f1' }]);
      const r = await store.writeReadings([
        reading(f, 'a', 'soil_vwc', base, 0.2),
        reading(f, 'a', 'soil_vwc', MAX_TIME_MS + 1, 0.2),
        reading(f, 'a', 'soil_vwc', -1, 0.2),
        reading(f, 'a', 'soil_vwc', base + 1.5, 0.2),
        reading(f, 'a', 'soil_vwc', base + 2, Number.NaN),
        reading(f, 'a', 'soil_vwc', base + 3, Number.POSITIVE_INFINITY),
        reading(f, 'a', 'soil_vwc', base + 4, 0.25),
        // Names InfluxDB's line protocol cannot carry in a tag (ids never hold them).
        reading(f, 'a\n', 'soil_vwc', base + 5, 0.2),
        reading(f, 'a\\', 'soil_vwc', base + 6, 0.2),
        reading(f, 'a', 'soil\u0000vwc', base + 7, 0.2),
        // Characters that need escaping but are storable.
        { ...reading(f, 'a,b c=d', 'soil_vwc', base + 8, 0.2), unit: 'a"b\\c' },
      ]);
      expect(r).toEqual({ applied: 3, duplicates: 0, rejected: 8 });
      expect(await store.count(f)).toBe(3);
      expect(
        await store.readings({ farm: f, device: 'a,b c=d', metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
      ).toMatchObject([{ device: 'a,b c=d', unit: 'a"b\\c' }]);
    });

    it('treats hostile strings in queries as values that match nothing', async () => {
      const f = farm([{ id: 'a', field: 'f1' }]);
      await store.writeReadings([reading(f, 'a', 'soil_vwc', base, 0.2)]);
      const hostile = [`${f}' OR '1'='1`, `${f}" OR 1=1 --`, `/.*/`, `${f}\\`, `'; DROP DATABASE x; --`, ''];
      await store.writeAggregates([aggregate(f, 'a', 'soil_vwc', base, '1', [0.2, 0.2, 0.2, 1])]);
      for (const h of hostile) {
        expect(await store.latest([h])).toEqual([]);
        expect(await store.count(h)).toBe(0);
        expect(await store.count(f, h)).toBe(0);
        expect(await store.readings({ farm: h, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS })).toEqual([]);
        expect(
          await store.readings({ farm: f, field: h, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
        ).toEqual([]);
        expect(await store.readings({ farm: f, metric: h || 'x', from: 0, to: MAX_TIME_MS })).toEqual([]);
        expect(
          await store.rollups({ farm: f, device: h, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
        ).toEqual([]);
        expect(
          await store.gatewayHours({ farm: f, device: h, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
        ).toEqual([]);
        expect(await store.gatewayHours({ farm: h, metric: 'soil_vwc', from: 0, to: MAX_TIME_MS })).toEqual(
          [],
        );
        expect(await store.quality({ farm: h, from: 0, to: MAX_TIME_MS })).toEqual([]);
        for (const q of [
          { farm: h, metric: 'soil_vwc' },
          { farm: f, metric: h || 'x' },
          { farm: f, metric: 'soil_vwc', unit: h },
        ])
          expect(await store.newest({ ...q, from: 0, to: MAX_TIME_MS, perDevice: 1 })).toEqual([]);
      }
      expect(await store.count(f)).toBe(1);
    });

    it('refuses query bounds that are not integers, and answers an empty range with nothing', async () => {
      const f = farm([{ id: 'a', field: 'f1' }]);
      await store.writeReadings([reading(f, 'a', 'soil_vwc', base, 0.2)]);
      const bad = [
        { farm: f, metric: 'soil_vwc', from: Number.NaN, to: 1 },
        { farm: f, metric: 'soil_vwc', from: 0, to: 1.5 },
        { farm: f, metric: 'soil_vwc', from: 0, to: Infinity },
        { farm: f, metric: 'soil_vwc', from: 0, to: 1, limit: 0 },
        { farm: f, metric: 'soil_vwc', from: 0, to: 1, limit: 1e9 },
      ];
      for (const q of bad) {
        const e = await store.readings(q).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(HatakeError);
        expect((e as HatakeError).code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      }
      expect(await store.readings({ farm: f, metric: 'soil_vwc', from: base + 1, to: base + 1 })).toEqual([]);
      expect(await store.readings({ farm: f, metric: 'soil_vwc', from: base + 5, to: base })).toEqual([]);
      expect(await store.rollups({ farm: f, metric: 'soil_vwc', from: base + HOUR_MS, to: base })).toEqual(
        [],
      );
      for (const q of bad.slice(0, 3)) {
        const e = await store.quality(q).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect((e as HatakeError).code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      }
      expect(await store.quality({ farm: f, from: base + 5, to: base })).toEqual([]);
    });

    it('stores index statistics per field and zone, and a re-processed scene replaces its rows', async () => {
      const f = farm([{ id: 'a', field: 'p1' }]);
      const t = base + 2 * 3_600_000 + 123;
      const stat = (field: string, index: string, zone: string | undefined, mean: number): IndexStat => ({
        farm: f,
        field,
        ...(zone ? { zone } : {}),
        index,
        time: t,
        scene: 'S2B_MSIL2A_20261125T013039',
        mean,
        median: mean,
        p10: mean - 0.1,
        p90: mean + 0.1,
        std: 0.05,
        pixels: 1200,
        validFraction: 0.93,
      });
      const stats = [
        stat('p1', 'ndvi', undefined, 0.61),
        stat('p1', 'ndvi', 'z1', 0.55),
        stat('p1', 'ndvi', 'z2', 0.67),
        stat('p1', 'ndre', undefined, 0.31),
        stat('p2', 'ndvi', undefined, 0.42),
      ];
      expect(await store.writeIndexStats(stats)).toEqual({ applied: 5, duplicates: 0, rejected: 0 });
      const ndvi = await store.indexStats({ farm: f, field: 'p1', index: 'ndvi', from: base, to: t + 1 });
      expect(ndvi).toEqual([stats[0], stats[1], stats[2]]);
      // The scene is processed again with a better cloud mask: same keys, new numbers.
      await store.writeIndexStats([stat('p1', 'ndvi', 'z1', 0.57)]);
      const again = await store.indexStats({ farm: f, from: base, to: t + 1 });
      expect(again).toHaveLength(5);
      expect(again.find((s) => s.zone === 'z1')?.mean).toBe(0.57);
      expect(await store.indexStats({ farm: f, from: t + 1, to: t + 2 })).toEqual([]);
      const bad = await store.writeIndexStats([{ ...stat('p1', 'ndvi', 'z3', 0.5), mean: Number.NaN }]);
      expect(bad).toEqual({ applied: 0, duplicates: 0, rejected: 1 });
    });

    it('stores recommendation outputs per zone and a resend replaces them', async () => {
      const f = farm([{ id: 'a', field: 'p1' }]);
      const t = base + 5 * 3_600_000;
      const out = (
        zone: string,
        n: number,
        product?: { name: string; kg: number },
      ): RecommendationOutput => ({
        farm: f,
        field: 'p1',
        zone,
        recommendation: 'rec-20261128-1',
        model: 'rice-n-topdress',
        modelVersion: '1.2.0',
        time: t,
        nitrogenKgHa: n,
        ...(product ? { product: product.name, productKgHa: product.kg } : {}),
      });
      const outputs = [out('z1', 20, { name: 'urea-46', kg: 43.5 }), out('z2', 30), out('z3', 0)];
      expect(await store.writeRecommendationOutputs(outputs)).toEqual({
        applied: 3,
        duplicates: 0,
        rejected: 0,
      });
      await store.writeRecommendationOutputs(outputs);
      expect(await store.recommendationOutputs({ farm: f, from: base, to: t + 1 })).toEqual(outputs);
      expect(await store.recommendationOutputs({ farm: f, field: 'p2', from: base, to: t + 1 })).toEqual([]);
    });

    it('reports itself healthy when it can take writes', async () => {
      const h = await store.health();
      expect(h.ok).toBe(true);
      expect(h.detail).toBeUndefined();
    });
  });
}

/**
 * Retention, the same on both stores: a reading delivered after the raw period counts in its hour
 * (and not among the raw readings), roll-ups answer the same after an hour's raw readings expired
 * as before, and what is older than the long-term period is set aside. Each case has its own
 * server database and its own store (retention is a store's setting).
 */
function retentionContract(name: string, hooks: RetentionHooks): void {
  describe(`ReadingStore contract, retention: ${name}`, () => {
    let dir: string;
    let n = 0;
    const opened: { db: Db; stores: ReadingStore[] }[] = [];
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'hatake-contract-retention-'));
    });
    afterAll(async () => {
      for (const o of opened) {
        for (const s of o.stores) await s.close();
        o.db.close();
      }
      rmSync(dir, { recursive: true, force: true });
    });

    /** A fresh server database with farm f (devices a and b in field p1), and a way to open stores on it. */
    const fresh = () => {
      const id = `retention_${++n}_${Date.now().toString(36)}`;
      const db = openServerDb(join(dir, `${id}.db`));
      applyManifest(db, {
        farm: { id: 'f', name: 'f' },
        fields: [{ id: 'p1', name: 'p1' }],
        devices: [
          { id: 'a', kit: 'hatake-soil-probe', field: 'p1' },
          { id: 'b', kit: 'hatake-soil-probe', field: 'p1' },
        ],
      });
      const o = { db, stores: [] as ReadingStore[] };
      opened.push(o);
      return {
        db,
        open: async (retention: { raw: string; longterm?: string }) => {
          const s = await hooks.open(db, retention, id);
          o.stores.push(s);
          return s;
        },
        close: async (s: ReadingStore) => {
          await s.close();
          o.stores.splice(o.stores.indexOf(s), 1);
        },
      };
    };
    const hourOf = (t: number) => t - (t % HOUR_MS);
    const reading = (device: string, time: number, value: number, metric = 'soil_vwc'): FarmReading => ({
      farm: 'f',
      device,
      metric,
      value,
      unit: 'm3/m3',
      time,
      flags: [],
    });
    /** Roll-up rows as [hour, device, field, kit, min, max, mean, count], the mean rounded. */
    const table = async (store: ReadingStore, from: number, to: number, device?: string) =>
      (await store.rollups({ farm: 'f', metric: 'soil_vwc', from, to, ...(device ? { device } : {}) })).map(
        (r) => [r.hour, r.device, r.field, r.kit, r.min, r.max, Number(r.mean.toFixed(9)), r.count],
      );

    it("counts a reading older than the raw period in its hour's roll-up, not among the raw readings, once", async () => {
      const { open } = fresh();
      const store = await open({ raw: '1h' });
      const now = Date.now();
      const h1 = hourOf(now) - 3 * HOUR_MS;
      const late = [
        reading('a', h1 + 60_000, 0.2),
        reading('a', h1 + 1_260_000, 0.5),
        reading('a', h1 + HOUR_MS - 1, 0.35),
        reading('b', h1 + 120_000, 0.6),
      ];
      const recent = reading('a', now - 600_000, 0.3);
      expect(await store.writeReadings([...late, recent])).toEqual({
        applied: 5,
        duplicates: 0,
        rejected: 0,
      });
      const expected = [
        [h1, 'a', 'p1', 'hatake-soil-probe', 0.2, 0.5, 0.35, 3],
        [h1, 'b', 'p1', 'hatake-soil-probe', 0.6, 0.6, 0.6, 1],
        [hourOf(recent.time), 'a', 'p1', 'hatake-soil-probe', 0.3, 0.3, 0.3, 1],
      ];
      expect(await table(store, h1, now + 1)).toEqual(expected);
      // Not raw: not counted, not among the readings, not the latest value.
      expect(await store.count('f', 'a')).toBe(1);
      expect(await store.count('f', 'b')).toBe(0);
      expect(await store.readings({ farm: 'f', metric: 'soil_vwc', from: h1, to: h1 + HOUR_MS })).toEqual([]);
      expect((await store.latest(['f'])).map((l) => [l.device, l.time])).toEqual([['a', recent.time]]);
      // Resent whole, split another way, and repeated in one call: each reading counts once.
      const again = await store.writeReadings([...late, recent]);
      expect(again.applied + again.duplicates).toBe(5);
      expect(again.rejected).toBe(0);
      await store.writeReadings([late[2]!, late[0]!, late[0]!]);
      await hooks.settle(store);
      expect(await table(store, h1, now + 1)).toEqual(expected);
      expect(await table(store, h1, h1 + HOUR_MS, 'b')).toEqual([expected[1]]);
    });

    it('answers the same roll-ups after the raw readings of an hour expired as before, and a late reading joins them', async () => {
      const { open, close } = fresh();
      // Raw readings kept 6 h: hours two and three hours back are raw.
      const before = await open({ raw: '6h' });
      const now = Date.now();
      const h = hourOf(now) - 3 * HOUR_MS;
      const raw = [
        reading('a', h + 60_000, 0.2),
        reading('a', h + 120_000, 0.4),
        reading('a', h + 1_800_000, 0.3),
        reading('a', h + HOUR_MS - 1, 0.1), // the hour's last millisecond
        reading('a', h + HOUR_MS, 0.9), // the next hour's first
        reading('b', h + HOUR_MS + 60_000, 0.6),
        reading('a', h + 600_000, 11, 'soil_temperature'),
      ];
      expect(await before.writeReadings(raw)).toEqual({ applied: 7, duplicates: 0, rejected: 0 });
      await before.writeAggregates([
        {
          farm: 'f',
          device: 'a',
          metric: 'soil_vwc',
          unit: 'm3/m3',
          hour: h,
          part: '5',
          min: 0.25,
          max: 0.8,
          mean: 0.5,
          count: 4,
        },
      ]);
      await hooks.settle(before);
      const range = [h - HOUR_MS, hourOf(now) + HOUR_MS] as const;
      const expected = await table(before, ...range);
      expect(expected).toEqual([
        [h, 'a', 'p1', 'hatake-soil-probe', 0.1, 0.8, Number(((1.0 + 2.0) / 8).toFixed(9)), 8],
        [h + HOUR_MS, 'a', 'p1', 'hatake-soil-probe', 0.9, 0.9, 0.9, 1],
        [h + HOUR_MS, 'b', 'p1', 'hatake-soil-probe', 0.6, 0.6, 0.6, 1],
      ]);
      const gatewayHours = await before.gatewayHours({
        farm: 'f',
        metric: 'soil_vwc',
        from: range[0],
        to: range[1],
      });
      await close(before);

      // The server restarts with raw readings kept 1 h: those hours are past it and retention runs.
      const after = await open({ raw: '1h' });
      await hooks.settle(after);
      expect(await table(after, ...range)).toEqual(expected);
      expect(await table(after, h, h + HOUR_MS, 'a')).toEqual([expected[0]]);
      expect(
        (await after.rollups({ farm: 'f', metric: 'soil_temperature', from: h, to: h + HOUR_MS })).map(
          (r) => [r.hour, r.count, r.mean],
        ),
      ).toEqual([[h, 1, 11]]);
      expect(
        await after.gatewayHours({ farm: 'f', metric: 'soil_vwc', from: range[0], to: range[1] }),
      ).toEqual(gatewayHours);
      // The rest of the hour arrives from a gateway that was offline: past the raw period now.
      expect(await after.writeReadings([reading('a', h + 2_400_000, 1.7)])).toMatchObject({
        applied: 1,
        rejected: 0,
      });
      await after.writeReadings([reading('a', h + 2_400_000, 1.7)]);
      await hooks.settle(after);
      expect((await table(after, h, h + HOUR_MS, 'a')).map((r) => [r[4], r[5], r[7]])).toEqual([
        [0.1, 1.7, 9],
      ]);
    });

    it('sets aside readings and aggregates older than the long-term period, and keeps the rest', async () => {
      const { open } = fresh();
      const store = await open({ raw: '1h', longterm: '2h' });
      const now = Date.now();
      const old = now - 5 * HOUR_MS;
      const kept = now - 90 * 60_000;
      expect(await store.writeReadings([reading('a', old, 0.1), reading('a', kept, 0.4)])).toEqual({
        applied: 1,
        duplicates: 0,
        rejected: 1,
      });
      const agg = {
        farm: 'f',
        device: 'b',
        metric: 'soil_vwc',
        unit: 'm3/m3',
        part: '1',
        min: 0.5,
        max: 0.5,
        mean: 0.5,
        count: 2,
      };
      expect(
        await store.writeAggregates([
          { ...agg, hour: hourOf(old) },
          { ...agg, hour: hourOf(now) },
        ]),
      ).toEqual({ applied: 1, duplicates: 0, rejected: 1 });
      await hooks.settle(store);
      expect(await table(store, hourOf(old) - HOUR_MS, now + HOUR_MS)).toEqual([
        [hourOf(kept), 'a', 'p1', 'hatake-soil-probe', 0.4, 0.4, 0.4, 1],
        [hourOf(now), 'b', 'p1', 'hatake-soil-probe', 0.5, 0.5, 0.5, 2],
      ]);
    });
  });
}
