// Retention in the embedded SQLite store (dashboard/storage/sqlite-rollup.ts): raw readings past
// `retention.raw` become hourly rows and are deleted in the same transaction, hourly rows past
// `retention.longterm` are deleted. What a person sees must not change: the 7-day and season charts,
// the 24-hour chart, the device health figures and the latest values answer the same before and
// after (the data is written under a clock the test moves, then rolled up). The work runs in passes
// that hold the event loop briefly; a process killed mid-way (SIGKILL, on copies of one database)
// leaves every reading counted once; with retention on, the file stops growing; the settings are
// checked like InfluxDB's, with the file, line and column.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import type { StorageConfig } from '../../protocol/server-config.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { openServerDb } from '../../dashboard/db.ts';
import { applyManifest } from '../../dashboard/routes/sync.ts';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import { SqliteReadingStore } from '../../dashboard/storage/sqlite.ts';
import { HOUR_MS, MAX_TIME_MS, type FarmReading, type ReadingStore } from '../../dashboard/storage/types.ts';
import { seriesOf } from '../../dashboard/views/series.ts';
import type { Db } from '../../runtime/sqlite.ts';

const DAY_MS = 24 * HOUR_MS;
const dir = mkdtempSync(join(tmpdir(), 'hatake-sqlite-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A clock the test moves. */
class Clock {
  t: number;
  constructor(t: number) {
    this.t = t;
  }
  now = (): number => this.t;
}

const manifest = (moved: boolean) => ({
  farm: { id: 'f', name: 'f' },
  fields: [
    { id: 'p1', name: 'p1' },
    { id: 'p2', name: 'p2' },
  ],
  devices: [
    { id: 'd1', kit: 'hatake-soil-probe', field: 'p1' },
    { id: 'd2', kit: 'hatake-soil-probe', field: moved ? 'p2' : 'p1' },
    { id: 'd3', kit: 'hatake-weather-station', field: 'p2' },
    { id: 'gone', kit: 'hatake-soil-probe', field: 'p2' },
  ],
});

/** A deterministic value in [0, 1). */
const noise = (i: number) => {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return x - Math.floor(x);
};

/**
 * Ten days of readings, one every two minutes of two metrics of three devices (d2 moves from
 * field p1 to p2 on day 5; 'gone' stops after day 2), written an hour at a time as a server
 * receives them, under `clock`; a gateway's aggregate of one hour, and a few flagged readings.
 */
async function fill(db: Db, store: ReadingStore, clock: Clock, start: number, days = 10): Promise<number> {
  applyManifest(db, manifest(false));
  let n = 0;
  for (let h = 0; h < days * 24; h++) {
    const hour = start + h * HOUR_MS;
    if (h === 5 * 24) applyManifest(db, manifest(true));
    const batch: FarmReading[] = [];
    for (const device of ['d1', 'd2', 'd3', 'gone']) {
      if (device === 'gone' && h >= 2 * 24) continue;
      for (let m = 0; m < 60; m += 2) {
        const t = hour + m * 60_000 + (device === 'd3' ? 17_000 : 0);
        const i = n++;
        batch.push({
          farm: 'f',
          device,
          metric: 'soil_vwc',
          time: t,
          value: Number((0.2 + noise(i) / 4).toFixed(4)),
          unit: 'm3/m3',
          flags: i % 97 === 0 ? ['spike'] : [],
        });
        batch.push({
          farm: 'f',
          device,
          metric: 'soil_temperature',
          time: t,
          value: Number((10 + 8 * noise(i + 0.5)).toFixed(2)),
          unit: 'degC',
          flags: [],
        });
      }
    }
    clock.t = hour + HOUR_MS + 5 * 60_000;
    await store.writeReadings(batch);
  }
  await store.writeAggregates([
    {
      farm: 'f',
      device: 'd1',
      metric: 'soil_vwc',
      unit: 'm3/m3',
      hour: start + 3 * DAY_MS + 7 * HOUR_MS,
      part: '41',
      min: 0.1,
      max: 0.5,
      mean: 0.3,
      count: 25,
    },
  ]);
  return n * 2;
}

/** Everything the dashboard reads from the store, as of `now`. */
async function whatPagesShow(store: ReadingStore, now: number) {
  const out: Record<string, unknown> = {};
  for (const metric of ['soil_vwc', 'soil_temperature']) {
    out[`rollups ${metric}`] = await store.rollups({ farm: 'f', metric, from: 0, to: MAX_TIME_MS });
    out[`rollups ${metric} p2`] = await store.rollups({
      farm: 'f',
      field: 'p2',
      metric,
      from: 0,
      to: MAX_TIME_MS,
    });
    out[`gateway ${metric}`] = await store.gatewayHours({ farm: 'f', metric, from: 0, to: MAX_TIME_MS });
    for (const device of ['d1', 'd2', 'd3', 'gone'])
      for (const range of ['24h', '7d', 'season'] as const)
        out[`chart ${device} ${metric} ${range}`] = await seriesOf(store, {
          farm: 'f',
          device,
          metric,
          range,
          plantingDate: null,
          now,
        });
  }
  out.latest = await store.latest(['f']);
  const day = { farm: 'f', from: now - DAY_MS, to: now + 1 };
  out.quality = await store.quality(day);
  out.newest = await store.newest({ ...day, metric: 'soil_vwc', perDevice: 5 });
  return out;
}

const START = Date.UTC(2026, 4, 1);
const END = START + 10 * DAY_MS + 5 * 60_000;

describe('retention in the SQLite store', () => {
  it('rolls raw readings past the raw period into hourly rows, and every page shows what it showed before', async () => {
    const db = openServerDb(join(dir, 'pages.db'));
    const clock = new Clock(START);
    const keepAll = new SqliteReadingStore(db, undefined, {
      retention: { raw: 'INF', longterm: 'INF' },
      now: clock.now,
    });
    const total = await fill(db, keepAll, clock, START);
    const before = await whatPagesShow(keepAll, END);
    expect(await keepAll.count('f')).toBe(total);
    const cutoff = END - 2 * DAY_MS - (END % HOUR_MS);
    const rawLeft = (
      db.prepare('SELECT COUNT(*) AS n FROM readings WHERE time >= ?').get(cutoff) as { n: number }
    ).n;
    // One hourly row per device, metric, field and hour: d2's day of moving has an hour in each field.
    const seriesHours = (
      db
        .prepare(
          'SELECT COUNT(*) AS n FROM (SELECT DISTINCT device, metric, field, time - time % 3600000 FROM readings WHERE time < ?)',
        )
        .get(cutoff) as { n: number }
    ).n;

    const store = new SqliteReadingStore(db, undefined, { retention: { raw: '2d' }, now: clock.now });
    const run = await store.runRetention();
    expect(run.rolled).toBe(total - rawLeft);
    expect(await store.count('f')).toBe(rawLeft);
    expect(await store.readings({ farm: 'f', metric: 'soil_vwc', from: 0, to: cutoff })).toEqual([]);
    expect(store.hourlyRows('f')).toBe(seriesHours);
    // Every figure a page shows is the same, to the last bit: whole hours are rolled up, and an
    // hour's mean is the AVG the raw readings gave. 'gone' stopped reporting eight days ago and
    // still has its latest values.
    expect(await whatPagesShow(store, END)).toEqual(before);
    expect((before.latest as { device: string }[]).some((l) => l.device === 'gone')).toBe(true);
    // Nothing left to do: a second run does nothing, and idle passes query nothing.
    expect(await store.runRetention()).toMatchObject({ rolled: 0, deleted: 0, passes: 1 });
    // An hour later the next hour is rolled up.
    clock.t += HOUR_MS;
    expect((await store.runRetention()).rolled).toBe(3 * 30 * 2);
    expect(await whatPagesShow(store, END)).toEqual(before);
    db.close();
  }, 120_000);

  it('puts a reading delivered after the raw period into its hour, once, whether the hour was rolled up yet or not', async () => {
    const db = openServerDb(join(dir, 'late.db'));
    applyManifest(db, manifest(false));
    const h = START + 7 * DAY_MS;
    const clock = new Clock(h + 2 * HOUR_MS);
    const store = new SqliteReadingStore(db, undefined, { retention: { raw: '2d' }, now: clock.now });
    const r = (time: number, value: number): FarmReading => ({
      farm: 'f',
      device: 'd1',
      metric: 'soil_vwc',
      time,
      value,
      unit: 'm3/m3',
      flags: [],
    });
    expect(await store.writeReadings([r(h + 60_000, 0.2), r(h + 120_000, 0.4)])).toMatchObject({
      applied: 2,
    });
    expect(await store.count('f', 'd1')).toBe(2);
    // Two days and an hour and a half later, the hour is past the raw period.
    clock.t = h + 2 * DAY_MS + 90 * 60_000;
    // The hour is past the raw period but not rolled up yet: a resent reading is still a
    // duplicate, a new one goes into the hourly rows.
    expect(await store.writeReadings([r(h + 60_000, 0.2), r(h + 180_000, 0.9)])).toEqual({
      applied: 1,
      duplicates: 1,
      rejected: 0,
    });
    expect(await store.count('f', 'd1')).toBe(2);
    const q = { farm: 'f', metric: 'soil_vwc', from: h, to: h + HOUR_MS };
    const one = (await store.rollups(q)).map((x) => [x.hour, x.min, x.max, x.count]);
    expect(one).toEqual([[h, 0.2, 0.9, 3]]);
    await store.runRetention();
    expect(await store.count('f', 'd1')).toBe(0);
    expect((await store.rollups(q)).map((x) => [x.hour, x.min, x.max, x.count])).toEqual(one);
    // Resent after the roll-up: the late one is known by its time; the two that were raw cannot be
    // told apart from new readings any more (as in InfluxDB: docs/storage.md, "Exactly once").
    expect(await store.writeReadings([r(h + 180_000, 0.9)])).toEqual({
      applied: 0,
      duplicates: 1,
      rejected: 0,
    });
    expect((await store.rollups(q)).map((x) => x.count)).toEqual([3]);
    expect((await store.rollups(q))[0]!.mean).toBeCloseTo(0.5, 12);
    db.close();
  });

  it('deletes hourly rows and gateway aggregates past the long-term period, and keeps the latest values', async () => {
    const db = openServerDb(join(dir, 'longterm.db'));
    const clock = new Clock(START);
    const store = new SqliteReadingStore(db, undefined, {
      retention: { raw: '1d', longterm: '4d' },
      now: clock.now,
    });
    const total = await fill(db, store, clock, START);
    await store.writeIndexStats([
      {
        farm: 'f',
        field: 'p1',
        index: 'ndvi',
        time: START + DAY_MS,
        scene: 's1',
        mean: 0.5,
        median: 0.5,
        p10: 0.4,
        p90: 0.6,
        std: 0.1,
        pixels: 100,
        validFraction: 1,
      },
    ]);
    const latest = await store.latest(['f']);
    clock.t = END;
    await store.runRetention();
    const longCut = END - 4 * DAY_MS - (END % HOUR_MS);
    const rawCut = END - DAY_MS - (END % HOUR_MS);
    const all = await store.rollups({ farm: 'f', metric: 'soil_vwc', from: 0, to: MAX_TIME_MS });
    expect(Math.min(...all.map((x) => x.hour))).toBe(longCut);
    expect(await store.gatewayHours({ farm: 'f', metric: 'soil_vwc', from: 0, to: MAX_TIME_MS })).toEqual([]);
    expect(
      (db.prepare('SELECT MIN(hour) AS h FROM readings_hourly').get() as { h: number }).h,
    ).toBeGreaterThanOrEqual(longCut);
    expect(
      (db.prepare('SELECT MIN(time) AS t FROM readings').get() as { t: number }).t,
    ).toBeGreaterThanOrEqual(rawCut);
    // The hours kept count every reading of their hours.
    const counted = (
      await Promise.all(
        ['soil_vwc', 'soil_temperature'].map((metric) =>
          store.rollups({ farm: 'f', metric, from: longCut, to: MAX_TIME_MS }),
        ),
      )
    )
      .flat()
      .reduce((n, x) => n + x.count, 0);
    expect(counted).toBe(
      (db.prepare('SELECT COUNT(*) AS n FROM readings').get() as { n: number }).n +
        (db.prepare('SELECT SUM(count) AS n FROM readings_hourly').get() as { n: number }).n,
    );
    expect(counted).toBeLessThan(total);
    // Latest values and index statistics are not readings' history: kept.
    expect(await store.latest(['f'])).toEqual(latest);
    expect(await store.indexStats({ farm: 'f', from: 0, to: MAX_TIME_MS })).toHaveLength(1);
    db.close();
  }, 60_000);

  it('works in passes that hold the event loop briefly, with timers running between them', async () => {
    const db = openServerDb(join(dir, 'bounded.db'));
    const clock = new Clock(START);
    const setup = new SqliteReadingStore(db, undefined, {
      retention: { raw: 'INF', longterm: 'INF' },
      now: clock.now,
    });
    await fill(db, setup, clock, START, 6);
    clock.t = START + 6 * DAY_MS + HOUR_MS;
    const batchRows = 500;
    const store = new SqliteReadingStore(db, undefined, {
      retention: { raw: '1d' },
      now: clock.now,
      passMs: 3,
      batchRows,
    });
    // A pass with no budget takes one step: at most batchRows readings, whole hours of a farm's
    // metric (4 devices × 30 readings an hour here)…
    const first = store.retentionPass(0);
    expect(first.rolled).toBeGreaterThan(0);
    expect(first.rolled).toBeLessThanOrEqual(batchRows);
    expect(first.done).toBe(false);
    // … or, when one hour of it holds more (a farm of hundreds of devices), a few devices' hours.
    const small = new SqliteReadingStore(db, undefined, {
      retention: { raw: '1d' },
      now: clock.now,
      batchRows: 50,
    });
    expect([small.retentionPass(0).rolled, small.retentionPass(0).rolled]).toEqual([30, 30]);

    let ticks = 0;
    let longestGap = 0;
    let last = performance.now();
    const probe = setInterval(() => {
      const t = performance.now();
      longestGap = Math.max(longestGap, t - last);
      last = t;
      ticks++;
    }, 1);
    const started = performance.now();
    const run = await store.runRetention();
    const elapsed = performance.now() - started;
    clearInterval(probe);
    console.log(
      `retention catch-up: ${run.rolled} readings in ${run.passes} passes, ${Math.round(elapsed)} ms; ` +
        `longest pass ${run.longestMs.toFixed(1)} ms with its commit; longest event-loop gap ${longestGap.toFixed(1)} ms`,
    );
    expect(run.rolled + first.rolled + 60).toBe(
      (db.prepare('SELECT SUM(count) AS n FROM readings_hourly').get() as { n: number }).n,
    );
    expect(run.passes).toBeGreaterThan(5);
    // The timers ran between the passes (the pause after each is as long as its budget).
    expect(ticks).toBeGreaterThanOrEqual(run.passes - 1);
    // Generous for a shared, busy machine: a pass is ~3 ms of statements plus one commit.
    expect(run.longestMs).toBeLessThan(1000);
    db.close();
  }, 120_000);

  it("keeps everything without a retention section, as before; a section alone gives InfluxDB's defaults", async () => {
    const db = openServerDb(join(dir, 'default.db'));
    applyManifest(db, manifest(false));
    const r = (time: number): FarmReading => ({
      farm: 'f',
      device: 'd1',
      metric: 'soil_vwc',
      time,
      value: 0.3,
      unit: 'm3/m3',
      flags: [],
    });
    const now = Date.now();
    const old = [r(now - 2 * 365 * DAY_MS), r(now - 100 * DAY_MS)];
    for (const c of [undefined, { kind: 'sqlite' as const }]) {
      const store = SqliteReadingStore.open(c, db, undefined, { intervalMs: 10 });
      await store.writeReadings(old);
      await new Promise((res) => setTimeout(res, 50));
      expect(await store.count('f')).toBe(2);
      expect(await store.runRetention()).toMatchObject({ rolled: 0, deleted: 0 });
      expect(await store.count('f')).toBe(2);
      expect(store.hourlyRows('f')).toBe(0);
      await store.close();
    }
    // `retention: {}`: 90 days raw, 520 weeks hourly. The reading of 100 days ago is rolled up,
    // the one of two years ago kept in its hour, and a new one of 100 days ago goes to the hourly rows.
    const store = SqliteReadingStore.open({ kind: 'sqlite', retention: {} }, db, undefined);
    expect(await store.writeReadings([r(now - 100 * DAY_MS + 60_000)])).toMatchObject({ applied: 1 });
    expect(await store.runRetention()).toMatchObject({ rolled: 2 });
    expect(await store.count('f')).toBe(0);
    expect(store.hourlyRows('f')).toBe(3);
    await store.close();
    db.close();
  });

  it('rolls up on its own timer once opened, and stops with close()', async () => {
    const db = openServerDb(join(dir, 'timer.db'));
    applyManifest(db, manifest(false));
    const t = Date.now() - 3 * DAY_MS;
    const write = new SqliteReadingStore(db, undefined, { retention: { raw: 'INF', longterm: 'INF' } });
    await write.writeReadings(
      Array.from({ length: 120 }, (_, i) => ({
        farm: 'f',
        device: 'd1',
        metric: 'soil_vwc',
        time: t + i * 60_000,
        value: i,
        unit: 'm3/m3',
        flags: [],
      })),
    );
    const store = SqliteReadingStore.open({ kind: 'sqlite', retention: { raw: '1d' } }, db, undefined, {
      intervalMs: 50,
    });
    const deadline = Date.now() + 20_000;
    while ((await store.count('f')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await store.count('f')).toBe(0);
    expect(store.hourlyRows('f')).toBeGreaterThanOrEqual(2);
    await store.close();
    db.close();
  });
});

describe('a process killed while retention runs', () => {
  it('leaves each reading counted once, whichever pass it dies in (SIGKILL, on copies of one database)', async () => {
    const file = join(dir, 'crash-original.db');
    const clock = new Clock(START);
    {
      const db = openServerDb(file);
      const store = new SqliteReadingStore(db, undefined, {
        retention: { raw: 'INF', longterm: 'INF' },
        now: clock.now,
      });
      await fill(db, store, clock, START, 6);
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    }
    const now = START + 6 * DAY_MS + HOUR_MS;
    const expectedOf = async (path: string) => {
      const db = openServerDb(path);
      const store = new SqliteReadingStore(db, undefined, {
        retention: { raw: 'INF', longterm: 'INF' },
        now: () => now,
      });
      const out = {
        vwc: await store.rollups({ farm: 'f', metric: 'soil_vwc', from: 0, to: MAX_TIME_MS }),
        temperature: await store.rollups({ farm: 'f', metric: 'soil_temperature', from: 0, to: MAX_TIME_MS }),
        raw: await store.count('f'),
        hourly: store.hourlyRows('f'),
      };
      db.close();
      return out;
    };
    const expected = await expectedOf(file);
    expect(expected.hourly).toBe(0);
    const storeUrl = new URL('../../dashboard/storage/sqlite.ts', import.meta.url).href;
    const dbUrl = new URL('../../dashboard/db.ts', import.meta.url).href;

    // The child runs passes of one step each (at most 60 readings; about 400 passes in all). Kill
    // it after the first, the fifth and the fortieth, with no pause between passes (mostly inside
    // the next pass's transaction), and after the fifth with pauses (mostly between passes).
    for (const [after, gapMs] of [
      [1, 0],
      [5, 0],
      [40, 0],
      [5, 20],
    ] as const) {
      const copy = join(dir, `crash-${after}-${gapMs}.db`);
      copyFileSync(file, copy);
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `import { SqliteReadingStore } from ${JSON.stringify(storeUrl)};
           import { openServerDb } from ${JSON.stringify(dbUrl)};
           const db = openServerDb(${JSON.stringify(copy)});
           const store = new SqliteReadingStore(db, undefined, {
             retention: { raw: '1d' }, now: () => ${now}, passMs: 1, batchRows: 60,
           });
           for (;;) {
             const p = store.retentionPass(0);
             process.stdout.write('pass ' + p.rolled + '\\n');
             if (p.done) break;
             await new Promise((r) => (${gapMs} > 0 ? setTimeout(r, ${gapMs}) : setImmediate(r)));
           }
           process.stdout.write('done\\n');
           setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], cwd: process.cwd() },
      );
      let out = '';
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if ((out.match(/^pass /gm) ?? []).length >= after || out.includes('done')) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before its passes: ${err}`)));
      });
      await exited;
      expect(out).not.toContain('done');
      // After the crash: some hours rolled up, the rest raw, every reading counted once.
      const killed = await expectedOf(copy);
      expect(killed.hourly, `killed after ${after} passes`).toBeGreaterThan(0);
      expect(killed.raw).toBeLessThan(expected.raw);
      expect(killed.vwc).toEqual(expected.vwc);
      expect(killed.temperature).toEqual(expected.temperature);
      // The next start finishes the work, and still counts each reading once.
      const db = openServerDb(copy);
      const store = new SqliteReadingStore(db, undefined, { retention: { raw: '1d' }, now: () => now });
      await store.runRetention();
      db.close();
      const finished = await expectedOf(copy);
      expect(finished.vwc).toEqual(expected.vwc);
      expect(finished.temperature).toEqual(expected.temperature);
      expect(finished.raw).toBeLessThan(killed.raw);
    }
  }, 180_000);
});

describe('the file with retention on', () => {
  /** Bytes of the database and its WAL. */
  const bytes = (file: string) =>
    [file, `${file}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);

  /** Days of one reading a minute of 8 series, retention run every simulated hour; the size each day. */
  async function simulate(name: string, retention: { raw: string; longterm?: string }, days: number) {
    const file = join(dir, `${name}.db`);
    const db = openServerDb(file);
    applyManifest(db, manifest(false));
    const clock = new Clock(START);
    const store = new SqliteReadingStore(db, undefined, { retention, now: clock.now });
    const sizes: number[] = [];
    for (let h = 0; h < days * 24; h++) {
      const hour = START + h * HOUR_MS;
      const batch: FarmReading[] = [];
      for (const device of ['d1', 'd2', 'd3', 'gone'])
        for (const metric of ['soil_vwc', 'soil_temperature'])
          for (let m = 0; m < 60; m++)
            batch.push({
              farm: 'f',
              device,
              metric,
              time: hour + m * 60_000,
              value: noise(h * 60 + m),
              unit: 'x',
              flags: [],
            });
      clock.t = hour + HOUR_MS + 60_000;
      await store.writeReadings(batch);
      await store.runRetention();
      if (h % 24 === 23) sizes.push(bytes(file));
    }
    db.close();
    return sizes;
  }

  it('stops growing once the raw period is full, where keeping everything grows every day', async () => {
    const days = 12;
    const kept = await simulate('size-everything', { raw: 'INF', longterm: 'INF' }, days);
    const bounded = await simulate('size-retention', { raw: '2d' }, days);
    const mb = (n: number) => (n / 1e6).toFixed(2);
    console.log(`file + WAL by day, everything kept: ${kept.map(mb).join(' ')} MB`);
    console.log(`file + WAL by day, raw 2d:          ${bounded.map(mb).join(' ')} MB`);
    // Everything kept: a day's readings more every day (about 1 MB here).
    const grew = kept[days - 1]! - kept[3]!;
    expect(grew).toBeGreaterThan((days - 4) * 0.7e6);
    // Raw 2 days: from the fourth day on only the hourly rows grow, 1/60 of the readings; the
    // rolled-up readings' pages are used again.
    expect(bounded[days - 1]! - bounded[3]!).toBeLessThan(grew / 10);
  }, 300_000);
});

describe('retention settings', () => {
  let n = 0;
  const load = (storage: string) => {
    const file = join(dir, `server-${++n}.yaml`);
    writeFileSync(file, `dataDir: ./data\nhttp:\n  port: 8080\n${storage}`);
    return loadServerConfig(file);
  };
  const refusal = (storage: string): HatakeError => {
    try {
      load(storage);
    } catch (e) {
      if (e instanceof HatakeError) return e;
      throw e;
    }
    throw new Error('the config was accepted');
  };

  it('loads retention for the SQLite store in the same syntax as for InfluxDB', () => {
    expect(load('storage:\n  kind: sqlite\n  retention: { raw: 30d, longterm: 260w }\n').storage).toEqual({
      kind: 'sqlite',
      retention: { raw: '30d', longterm: '260w' },
    });
    expect(load('storage:\n  kind: sqlite\n  retention:\n    raw: 1w2d\n').storage).toEqual({
      kind: 'sqlite',
      retention: { raw: '1w2d' },
    });
    // Everything kept, as before retention existed.
    expect(load('storage: { kind: sqlite, retention: { raw: INF, longterm: INF } }\n').storage).toMatchObject(
      {
        retention: { raw: 'INF', longterm: 'INF' },
      },
    );
  });

  it.each([
    [
      'a raw period in minutes',
      'storage:\n  kind: sqlite\n  retention: { raw: 30m }\n',
      '/storage/retention/raw',
      6,
    ],
    [
      'a raw period of 0 days',
      'storage:\n  kind: sqlite\n  retention:\n    raw: 0d\n',
      '/storage/retention/raw',
      7,
    ],
    [
      'aggregates kept shorter than raw readings',
      'storage:\n  kind: sqlite\n  retention:\n    raw: 52w\n    longterm: 30d\n',
      '/storage/retention/longterm',
      8,
    ],
    [
      'raw readings kept forever and aggregates not',
      'storage:\n  kind: sqlite\n  retention: { raw: INF }\n',
      '/storage/retention/longterm',
      6,
    ],
    [
      'a misspelt setting',
      'storage:\n  kind: sqlite\n  retention: { raw: 90d, hourly: 2w }\n',
      '/storage/retention/hourly',
      6,
    ],
  ])('refuses %s, at its line', (_what, yaml, pointer, line) => {
    const e = refusal(yaml);
    expect(e.code).toBe('HATAKE_E_CONFIG');
    expect(e.place?.pointer).toBe(pointer);
    expect(e.place?.line).toBe(line);
    expect(e.place?.file).toContain('server-');
    if (pointer.endsWith('/raw'))
      expect(`${e.message} ${e.expected ?? ''}`).toContain('such as 36h, 90d, 52w, or INF');
    if (pointer.endsWith('/longterm')) expect(e.message).toContain('at least as long as raw readings');
  });

  it('refuses the same in a config built in code', async () => {
    const db = openServerDb(join(dir, 'factory.db'));
    for (const [c, message] of [
      [{ kind: 'sqlite', retention: { raw: '90m' } }, 'raw'],
      [{ kind: 'sqlite', retention: { raw: '52w', longterm: '4w' } }, 'at least as long'],
    ] as const) {
      const e = await createReadingStore(c as unknown as StorageConfig, db, undefined).then(
        () => undefined,
        (x: unknown) => x as HatakeError,
      );
      expect(e?.code).toBe('HATAKE_E_CONFIG');
      expect(e?.message).toContain(message);
    }
    db.close();
  });
});
