// The InfluxDB store against a real influxd: what it creates on start, how it batches, what it
// does when InfluxDB is down, frozen or slower than the syncs coming in, and that the documented
// schema and Grafana query hold. (The behaviour both stores share is in tests/contract/.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { HatakeError } from '../../protocol/errors.ts';
import type { InfluxStorageConfig } from '../../protocol/server-config.ts';
import { openServerDb } from '../../dashboard/db.ts';
import { applyManifest } from '../../dashboard/routes/sync.ts';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import type { InfluxReadingStore } from '../../dashboard/storage/influx.ts';
import type { FarmReading, ReadingStore } from '../../dashboard/storage/types.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { eventually } from '../helpers/stack.ts';

let influxd: Influxd;
beforeAll(async () => {
  influxd = await startInfluxd();
});
afterAll(async () => {
  await influxd?.destroy();
});

let dbNo = 0;
const opened: { store: ReadingStore; db: Db; dir: string }[] = [];
let logLines: string[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.store.close();
    o.db.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
  logLines = [];
});

/** A store on a fresh database (and a fresh server SQLite file), logging into `logLines`. */
async function open(over: Partial<InfluxStorageConfig> = {}, database = `t${++dbNo}`) {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-influx-'));
  const db = openServerDb(join(dir, 'server.db'));
  applyManifest(db, {
    farm: { id: 'f', name: 'f' },
    fields: [{ id: 'p1', name: 'p1' }],
    devices: Array.from({ length: 40 }, (_, i) => ({ id: `d${i}`, kit: 'hatake-soil-probe', field: 'p1' })),
  });
  const log = pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) });
  const store = await createReadingStore({ kind: 'influx', url: influxd.url, database, ...over }, db, log);
  opened.push({ store, db, dir });
  return { store: store as InfluxReadingStore, database };
}

/** A statement straight to influxd, not through our client. */
async function influxql(
  database: string,
  q: string,
): Promise<{ columns: string[]; values: unknown[][]; tags?: Record<string, string> }[]> {
  const body = new URLSearchParams({ db: database, q, epoch: 'ms' });
  const res = await fetch(`${influxd.url}/query`, { method: 'POST', body });
  const json = (await res.json()) as {
    results: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[];
  };
  if (json.results[0]?.error) throw new Error(json.results[0].error);
  return json.results[0]?.series ?? [];
}
const scalar = async (database: string, q: string) =>
  ((await influxql(database, q))[0]?.values[0]?.[1] as number | undefined) ?? 0;

const now = Date.now();
const readings = (device: string, n: number, t0 = now - 3_600_000): FarmReading[] =>
  Array.from({ length: n }, (_, i) => ({
    farm: 'f',
    device,
    metric: 'soil_vwc',
    value: 0.2 + (i % 10) / 100,
    unit: 'm3/m3',
    time: t0 + i * 1000,
    flags: [],
  }));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as HatakeError,
  );

describe('InfluxDB store on a real influxd', () => {
  it('creates the database and both retention policies on start, raw as the default, and fixes a changed duration', async () => {
    const { database } = await open({ retention: { raw: '30d', longterm: '104w' } });
    const rps = async () =>
      Object.fromEntries(
        (await influxql(database, `SHOW RETENTION POLICIES ON "${database}"`))[0]!.values.map((v) => [
          v[0],
          { duration: v[1], default: v[4] },
        ]),
      );
    expect(await rps()).toMatchObject({
      raw: { duration: '720h0m0s', default: true },
      longterm: { duration: '17472h0m0s', default: false },
    });
    // A restart with a longer raw period changes the policy in place.
    await open({ retention: { raw: '45d', longterm: '104w' } }, database);
    expect((await rps()).raw).toEqual({ duration: '1080h0m0s', default: true });
  });

  it('keeps the documented measurement schema: tags farm, field, device, metric, kit; fields value, unit, flags', async () => {
    const { store, database } = await open();
    await store.writeReadings([{ ...readings('d1', 1)[0]!, flags: ['spike', 'stuck'] }]);
    const tagKeys = (await influxql(database, 'SHOW TAG KEYS FROM "raw"."reading"'))[0]!.values.map(
      (v) => v[0],
    );
    expect(tagKeys.sort()).toEqual(['device', 'farm', 'field', 'kit', 'metric']);
    const fieldKeys = (await influxql(database, 'SHOW FIELD KEYS FROM "raw"."reading"'))[0]!.values;
    expect(Object.fromEntries(fieldKeys)).toEqual({ flags: 'integer', unit: 'string', value: 'float' });
    expect(await scalar(database, 'SELECT last("flags") FROM "raw"."reading"')).toBe(2 | 4);
    await store.writeIndexStats([
      {
        farm: 'f',
        field: 'p1',
        index: 'ndvi',
        time: now,
        scene: 's1',
        mean: 0.6,
        median: 0.6,
        p10: 0.5,
        p90: 0.7,
        std: 0.1,
        pixels: 10,
        validFraction: 1,
      },
    ]);
    await store.writeRecommendationOutputs([
      {
        farm: 'f',
        field: 'p1',
        zone: 'z1',
        recommendation: 'r1',
        model: 'm',
        modelVersion: '1',
        time: now,
        nitrogenKgHa: 30,
      },
    ]);
    // Index statistics and recommendation outputs live as long as the hourly aggregates.
    expect(await scalar(database, 'SELECT count("mean") FROM "longterm"."index_stat"')).toBe(1);
    expect(
      await scalar(database, 'SELECT count("nitrogen_kg_ha") FROM "longterm"."recommendation_output"'),
    ).toBe(1);
    expect(await influxql(database, 'SELECT * FROM "raw"."index_stat"')).toEqual([]);
  });

  it('writes names and units that line protocol must escape, and values of every magnitude, exactly', async () => {
    // The store encodes readings as line protocol itself; what comes back must be what went in.
    const { store } = await open();
    const odd: FarmReading[] = [
      ['d1', 'soil_vwc', 'm"3\\m3', 0.123456789012],
      ['d2', 'air_temperature', 'deg C,=x', -40.5],
      ['d3', 'rain', '\\', 1e21],
      ['d4', 'solar_radiation', "W/m2 'x'", 5e-324],
      ['d5', 'battery', '1', 0],
    ].map(([device, metric, unit, value], i) => ({
      farm: 'f',
      device: device as string,
      metric: metric as string,
      unit: unit as string,
      value: value as number,
      time: now - 60_000 + i,
      flags: i === 0 ? ['spike'] : [],
    }));
    expect(await store.writeReadings(odd)).toMatchObject({ applied: 5, rejected: 0 });
    const back = (
      await Promise.all(
        odd.map((r) =>
          store.readings({ farm: 'f', metric: r.metric, from: now - 120_000, to: now, limit: 10 }),
        ),
      )
    ).flat();
    expect(back.map((r) => [r.device, r.metric, r.unit, r.value, r.time, r.flags]).sort()).toEqual(
      odd.map((r) => [r.device, r.metric, r.unit, r.value, r.time, r.flags]).sort(),
    );
  });

  it('resolves a write only once its points can be read back, and merges concurrent writes into fewer, larger ones', async () => {
    const { store, database } = await open({ batch: { maxInFlight: 1, maxPoints: 5000 } });
    const stats = async () => {
      const s = (await influxql('_internal', `SHOW STATS FOR 'httpd'`))[0]!;
      return s.values[0]![s.columns.indexOf('writeReq')] as number;
    };
    const before = await stats();
    const seenAtResolve: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.writeReadings(readings(`d${i}`, 200)).then(async (r) => {
          expect(r).toEqual({ applied: 200, duplicates: 0, rejected: 0 });
          seenAtResolve.push(
            await scalar(database, `SELECT count("value") FROM "raw"."reading" WHERE "device" = 'd${i}'`),
          );
        }),
      ),
    );
    expect(seenAtResolve).toEqual(Array(30).fill(200));
    const writes = (await stats()) - before;
    expect(writes).toBeGreaterThanOrEqual(2);
    expect(writes).toBeLessThanOrEqual(4);
  });

  it('keeps a reading older than the raw retention period in the hourly aggregates, and sets aside only one older than the long-term period', async () => {
    const { store, database } = await open({ retention: { raw: '1h', longterm: '4h' } });
    const old = now - 2 * 3_600_000;
    const r = await store.writeReadings([
      ...readings('d1', 1, old).map((x) => ({ ...x, value: 0.42 })),
      ...readings('d2', 1, now - 10 * 60_000),
      ...readings('d3', 1, now - 5 * 3_600_000),
    ]);
    expect(r).toEqual({ applied: 2, duplicates: 0, rejected: 1 });
    // d2 is raw; d1 is not (InfluxDB refuses it there) but is a point of its hour in `longterm`.
    expect(await store.count('f')).toBe(1);
    expect(await store.count('f', 'd1')).toBe(0);
    const hour = old - (old % 3_600_000);
    expect(
      (
        await influxql(
          database,
          `SELECT "min", "max", "mean", "count" FROM "longterm"."reading_hourly" WHERE "device" = 'd1'`,
        )
      )[0]!.values,
    ).toEqual([[hour + 1_800_000 + Math.floor((old - hour) / 2), 0.42, 0.42, 0.42, 1]]);
    expect(
      (
        await store.rollups({ farm: 'f', device: 'd1', metric: 'soil_vwc', from: hour, to: hour + 3_600_000 })
      ).map((x) => [x.hour, x.min, x.max, x.mean, x.count, x.field]),
    ).toEqual([[hour, 0.42, 0.42, 0.42, 1, 'p1']]);
    // d3 is past the long-term period too: set aside, counted and logged.
    expect(
      await influxql(database, `SELECT * FROM "longterm"."reading_hourly" WHERE "device" = 'd3'`),
    ).toEqual([]);
    const warning = logLines.find((l) => l.includes('readings that cannot be stored were set aside'));
    expect(warning).toContain('"expired":1');
    expect(warning).toContain('older than the long-term retention period');
  });

  it('rejects a write within the write timeout while InfluxDB is down, says why on health, and writes again once it is back', async () => {
    const { store } = await open({ timeouts: { requestMs: 300, writeMs: 1000, pingMs: 200 } });
    await store.writeReadings(readings('d1', 10));
    await influxd.stop();
    try {
      let t0 = Date.now();
      const e = await failure(store.writeReadings(readings('d2', 10)));
      expect(e).toBeInstanceOf(HatakeError);
      expect(e!.code).toBe('HATAKE_E_STORAGE');
      expect(Date.now() - t0).toBeLessThan(1000 + 500);
      // Known to be failing: the next write is tried once, not retried for the whole timeout.
      t0 = Date.now();
      expect((await failure(store.writeReadings(readings('d3', 10))))?.code).toBe('HATAKE_E_STORAGE');
      expect(Date.now() - t0).toBeLessThan(500);
      const h = await store.health();
      expect(h.ok).toBe(false);
      expect(h.detail).toContain(`InfluxDB at ${influxd.url} does not answer`);
      // Reads fail the same clear way (the API answers 503 with the reason).
      const read = await failure(store.latest(['f']));
      expect(read?.code).toBe('HATAKE_E_STORAGE');
      expect(read?.message).toContain('ECONNREFUSED');
      const errors = logLines.filter((l) => l.includes('InfluxDB write failed'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('refused with 503');
    } finally {
      await influxd.start();
    }
    await store.writeReadings(readings('d2', 10));
    expect(await store.count('f')).toBe(20);
    expect((await store.health()).ok).toBe(true);
    expect(logLines.join('')).toContain('InfluxDB writes succeed again');
  });

  it('gives up within the write timeout on an InfluxDB that accepts connections and never answers', async () => {
    const { store } = await open({ timeouts: { requestMs: 300, writeMs: 1000, pingMs: 200 } });
    await store.writeReadings(readings('d1', 5));
    influxd.freeze();
    try {
      const t0 = Date.now();
      const e = await failure(store.writeReadings(readings('d2', 5)));
      expect(e?.code).toBe('HATAKE_E_STORAGE');
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(300);
      expect(took).toBeLessThan(1000 + 500);
      expect((await store.health()).ok).toBe(false);
    } finally {
      influxd.thaw();
    }
    // Thawed: the ping answers, but the health reports the timed-out write until one succeeds.
    const h = await store.health();
    expect(h.ok).toBe(false);
    expect(h.detail).toContain('InfluxDB writes failing: ');
    await eventually(() =>
      store.writeReadings(readings('d2', 5)).then(
        () => true,
        () => false,
      ),
    );
    expect(await store.count('f', 'd2')).toBe(5);
    expect((await store.health()).ok).toBe(true);
  });

  it('refuses new writes at once when its queue is full, and writes what it accepted once InfluxDB catches up', async () => {
    const { store } = await open({
      batch: { maxPoints: 100, maxQueuedPoints: 300, maxInFlight: 1 },
      timeouts: { requestMs: 5000, writeMs: 8000 },
    });
    await store.writeReadings(readings('d0', 1));
    influxd.freeze();
    let accepted: Promise<unknown> = Promise.resolve();
    try {
      accepted = store.writeReadings(readings('d1', 300));
      const t0 = Date.now();
      const e = await failure(store.writeReadings(readings('d2', 10)));
      expect(Date.now() - t0).toBeLessThan(100);
      expect(e?.code).toBe('HATAKE_E_STORAGE');
      expect(e?.message).toContain('write queue full');
    } finally {
      influxd.thaw();
    }
    await accepted;
    expect(await store.count('f', 'd1')).toBe(300);
    expect(await store.count('f', 'd2')).toBe(0);
  });

  it('makes the database again when it was dropped under a running server', async () => {
    const { store, database } = await open();
    await store.writeReadings(readings('d1', 3));
    await influxql(database, `DROP DATABASE "${database}"`);
    await store.writeReadings(readings('d2', 3));
    expect(await store.count('f')).toBe(3);
    expect(await scalar(database, 'SELECT count("value") FROM "raw"."reading"')).toBe(3);
  });

  it('rolls hours up on its timer, and the documented Grafana query charts a field from it', async () => {
    const { store, database } = await open({ rollupIntervalMs: 1000 });
    const hour = now - (now % 3_600_000) - 2 * 3_600_000;
    await store.writeReadings([
      ...readings('d1', 3, hour + 60_000).map((r, i) => ({ ...r, value: [0.2, 0.3, 0.4][i]! })),
      ...readings('d2', 1, hour + 120_000).map((r) => ({ ...r, value: 0.6 })),
    ]);
    await eventually(async () => store.pendingRollups() === 0, 10_000);
    const hourly = await influxql(
      database,
      `SELECT "min", "max", "mean", "count", "device" FROM "longterm"."reading_hourly" WHERE "farm" = 'f' ORDER BY time`,
    );
    const rounded = hourly[0]!.values.map((v) =>
      v.slice(0, 6).map((x) => (typeof x === 'number' ? Number(x.toFixed(9)) : x)),
    );
    expect(rounded).toEqual([
      [hour, 0.2, 0.4, 0.3, 3, 'd1'],
      [hour, 0.6, 0.6, 0.6, 1, 'd2'],
    ]);
    // The sample in docs/storage.md, with Grafana's $timeFilter and $__interval filled in.
    const grafana = `SELECT mean("mean") AS "soil moisture" FROM "longterm"."reading_hourly" WHERE "farm" = 'f' AND "field" = 'p1' AND "metric" = 'soil_vwc' AND time >= ${hour}ms AND time < ${hour + 3_600_000}ms GROUP BY time(1h) fill(none)`;
    const series = await influxql(database, grafana);
    expect(series[0]!.columns).toEqual(['time', 'soil moisture']);
    expect(series[0]!.values[0]![1]).toBeCloseTo((0.3 + 0.6) / 2, 9);
  });
});
