// The InfluxDB 1.x store, for a co-op or prefecture that outgrows the embedded SQLite file and
// wants a time-series database its IT staff know and Grafana reads directly. docs/storage.md
// describes the measurements, tags, retention policies and roll-ups.
//
// Exactly-once effect: InfluxDB keeps one point per (measurement, tag set, timestamp) and a
// second write of the same point overwrites it. Every tag of a reading is a function of its key
// (farm, device, metric, time) — field and kit come from the device's history at the reading's
// time (device-labels.ts) — so a resent batch rewrites the same points instead of adding any.
//
// Readings are the hot path (every reading of every sync): their line protocol is built here,
// series by series, and posted through the `influx` client's connection pool (lineWriter below);
// index statistics and recommendation outputs, a few per scene, go through `writePoints`.
//
// A gateway's hourly aggregates (sent in place of raw readings its offline backlog had no room
// for) are points of `reading_hourly` beside the roll-up's, in the same series: the roll-up's
// point sits at the start of the hour, each part of a gateway's hour at its own time later in the
// hour (partTimeNs), so parts never overwrite each other or the roll-up, and a resent part
// overwrites itself. `rollups()` merges the points of each hour.
//
// A reading older than the raw retention period (a gateway offline for longer) cannot go into
// `raw` — InfluxDB refuses it — so it goes into `reading_hourly` as a point of its own, an hour of
// one reading, at a time in the second half of its hour that is a function of its time
// (lateTimeNs): a resend overwrites it, and `rollups()` merges it with the roll-up's point and the
// gateways' parts of that hour. Only a reading older than the long-term period too is set aside.
import { readFileSync } from 'node:fs';
import { FieldType, InfluxDB, escape, type IPoint, type ISchemaOptions } from 'influx';
import { HatakeError } from '../../protocol/errors.ts';
import { retentionHours, type InfluxStorageConfig } from '../../protocol/server-config.ts';
import type { Db } from '../../runtime/sqlite.ts';
import type { Logger } from '../../runtime/log.ts';
import { DeviceLabelHistory, type DeviceLabels } from './device-labels.ts';
import { HourlyRollup, assertNoResultErrors } from './influx-rollup.ts';
import {
  FLAG_BITS,
  READING_NAMES_PROBLEM,
  aggregateProblem,
  bitsToFlags,
  canonicalPart,
  checkPerDevice,
  checkRange,
  flagsToBits,
  hourCeil,
  indexStatProblem,
  isName,
  partition,
  readingValueProblem,
  recommendationProblem,
} from './input-checks.ts';
import { WriteBatcher, describeError } from './write-batcher.ts';
import type {
  ApplyResult,
  FarmAggregate,
  FarmReading,
  GatewayHourRow,
  IndexStat,
  IndexStatQuery,
  LatestRow,
  NewestQuery,
  QualityQuery,
  QualityRow,
  RangeQuery,
  ReadingQuery,
  ReadingRow,
  ReadingStore,
  RecommendationOutput,
  RollupQuery,
  RollupRow,
  StoreHealth,
} from './types.ts';
import { HOUR_MS } from './types.ts';
import type { QualityFlag } from '../../protocol/telemetry.ts';

export const RAW_RP = 'raw';
export const LONG_RP = 'longterm';
export const M_READING = 'reading';
export const M_READING_HOURLY = 'reading_hourly';
export const M_INDEX_STAT = 'index_stat';
export const M_RECOMMENDATION = 'recommendation_output';

/** The defaults behind every optional setting of the influx storage config. */
export const INFLUX_DEFAULTS = {
  raw: '90d',
  longterm: '520w',
  maxPoints: 5000,
  maxDelayMs: 1000,
  maxInFlight: 2,
  maxQueuedPoints: 100_000,
  requestMs: 5000,
  writeMs: 10_000,
  pingMs: 1000,
  rollupIntervalMs: 60_000,
} as const;

/**
 * The most flagged readings quality() reads one by one (their flags decoded here); past it,
 * InfluxDB counts them, a statement per flag.
 */
export const QUALITY_RAW_FLAGGED = 20_000;
/** The quality flags in their canonical order. */
const QUALITY_FLAGS = Object.keys(FLAG_BITS) as QualityFlag[];

/**
 * How long a failed write speaks for InfluxDB in health() when nothing was written since: past
 * it (no sync came to try again — gateways retry within their back-off cap, a minute by default),
 * health goes by the ping alone. A refusal (a 4xx such as an authorization error) is kept until
 * a write succeeds.
 */
export const WRITE_FAILURE_STALE_MS = 10 * 60_000;

/** Field types per measurement, so the client writes integers as integers (`i`) and floats as floats. */
const SCHEMAS: ISchemaOptions[] = [
  {
    measurement: M_READING,
    tags: ['farm', 'field', 'device', 'metric', 'kit'],
    fields: { value: FieldType.FLOAT, unit: FieldType.STRING, flags: FieldType.INTEGER },
  },
  {
    measurement: M_INDEX_STAT,
    tags: ['farm', 'field', 'zone', 'index'],
    fields: {
      scene: FieldType.STRING,
      mean: FieldType.FLOAT,
      median: FieldType.FLOAT,
      p10: FieldType.FLOAT,
      p90: FieldType.FLOAT,
      std: FieldType.FLOAT,
      pixels: FieldType.INTEGER,
      valid_fraction: FieldType.FLOAT,
    },
  },
  {
    measurement: M_RECOMMENDATION,
    tags: ['farm', 'field', 'zone', 'model'],
    fields: {
      recommendation: FieldType.STRING,
      model_version: FieldType.STRING,
      nitrogen_kg_ha: FieldType.FLOAT,
      product: FieldType.STRING,
      product_kg_ha: FieldType.FLOAT,
    },
  },
];

interface Series {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

/** Tags with a value; InfluxDB has no empty tag values (a missing tag reads as ''). */
function tags(t: Record<string, string | null | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(t)) if (v !== null && v !== undefined && v !== '') out[k] = v;
  return out;
}

/** A Go duration as SHOW RETENTION POLICIES prints it ("720h0m0s", "0s" = forever) in hours. */
function goDurationHours(d: string): number {
  if (d === '0s' || d === '0') return Infinity;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(d);
  if (!m) return NaN;
  return Number(m[1] ?? 0) + Number(m[2] ?? 0) / 60 + Number(m[3] ?? 0) / 3600;
}

/** The HTTP status InfluxDB answered with, if it answered (also through a wrapping error's cause). */
function statusOf(e: unknown): number | undefined {
  const direct = (e as { res?: { statusCode?: number } } | undefined)?.res?.statusCode;
  return direct ?? (e instanceof Error && e.cause !== undefined ? statusOf(e.cause) : undefined);
}

export class InfluxReadingStore implements ReadingStore {
  private readonly influx: InfluxDB;
  private readonly c: InfluxStorageConfig;
  private readonly url: string;
  private readonly log: Logger | undefined;
  private readonly labels: DeviceLabelHistory;
  private readonly rollup: HourlyRollup;
  /** Readings, as lines of line protocol. */
  private readonly points: WriteBatcher<string>;
  private readonly docs: WriteBatcher<IPoint>;
  /** Gateways' hourly aggregates, as lines of line protocol with nanosecond times. */
  private readonly hourly: WriteBatcher<string>;
  private readonly writeLines: LineWriter;
  private readonly rawHours: number;
  private readonly longHours: number;
  private readonly t: { requestMs: number; writeMs: number; pingMs: number };
  private schemaReady: Promise<void> | undefined;
  private schemaOk = false;
  /**
   * Since when writes fail (the first failure after the last success), when they last failed
   * and why; undefined while they succeed. health() reports it.
   */
  private failingSince: { at: number; lastAt: number; reason: string; fatal: boolean } | undefined;

  private constructor(c: InfluxStorageConfig, db: Db, log: Logger | undefined) {
    this.c = c;
    this.log = log;
    const u = new URL(c.url);
    this.url = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
    this.t = {
      requestMs: c.timeouts?.requestMs ?? INFLUX_DEFAULTS.requestMs,
      writeMs: c.timeouts?.writeMs ?? INFLUX_DEFAULTS.writeMs,
      pingMs: c.timeouts?.pingMs ?? INFLUX_DEFAULTS.pingMs,
    };
    const password =
      c.passwordFile !== undefined ? readPasswordFile(c.passwordFile) : (c.password ?? undefined);
    this.influx = new InfluxDB({
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      path: u.pathname === '/' ? '' : u.pathname.replace(/\/$/, ''),
      database: c.database,
      username: c.username,
      password,
      // Copies: the client writes the database into each schema object it is given.
      schema: SCHEMAS.map((m) => ({ ...m, database: c.database })),
      // Retries and back-off are ours (write-batcher.ts): the pool neither retries nor takes the
      // only host out of service, so a failure is seen at once and recovery on the next try.
      pool: {
        maxRetries: 0,
        requestTimeout: this.t.requestMs,
        backoff: {
          getDelay: () => 0,
          next() {
            return this;
          },
          reset() {
            return this;
          },
        },
      },
    });
    this.writeLines = lineWriter(
      this.influx,
      typeof c.username === 'string' ? `${c.username}:${password ?? ''}` : undefined,
    );
    this.rawHours = retentionHours(c.retention?.raw ?? INFLUX_DEFAULTS.raw);
    this.longHours = retentionHours(c.retention?.longterm ?? INFLUX_DEFAULTS.longterm);
    this.labels = new DeviceLabelHistory(db);
    this.rollup = new HourlyRollup(
      db,
      this.influx,
      {
        database: c.database,
        source: this.qualified(RAW_RP, M_READING),
        target: this.qualified(LONG_RP, M_READING_HOURLY),
      },
      log,
    );
    const b = c.batch ?? {};
    const batcher = <P>(send: (points: P[]) => Promise<void>) =>
      new WriteBatcher<P>({
        maxPoints: b.maxPoints ?? INFLUX_DEFAULTS.maxPoints,
        maxDelayMs: b.maxDelayMs ?? INFLUX_DEFAULTS.maxDelayMs,
        maxInFlight: b.maxInFlight ?? INFLUX_DEFAULTS.maxInFlight,
        maxQueuedPoints: b.maxQueuedPoints ?? INFLUX_DEFAULTS.maxQueuedPoints,
        writeTimeoutMs: this.t.writeMs,
        send: (points) => this.send(() => send(points)),
        retryable: (e) => {
          const s = statusOf(e);
          return s === undefined || s >= 500 || s === 404 || s === 408 || s === 429;
        },
        onFailure: (e) => this.writeFailed(e),
        onSuccess: () => this.writeSucceeded(),
        failing: () => this.failingSince !== undefined,
      });
    this.points = batcher<string>((lines) =>
      this.writeLines(lines.join('\n'), { db: c.database, rp: RAW_RP, precision: 'ms' }),
    );
    this.docs = batcher<IPoint>((points) =>
      this.influx.writePoints(points, { precision: 'ms', retentionPolicy: LONG_RP, database: c.database }),
    );
    this.hourly = batcher<string>((lines) =>
      this.writeLines(lines.join('\n'), { db: c.database, rp: LONG_RP, precision: 'ns' }),
    );
  }

  /** Connects, prepares the database and retention policies (or logs why not yet), starts the roll-up. */
  static async open(c: InfluxStorageConfig, db: Db, log: Logger | undefined): Promise<InfluxReadingStore> {
    const store = new InfluxReadingStore(c, db, log);
    try {
      await store.ensureSchema();
    } catch (e) {
      // The server still starts (its pages and metadata work); syncs get 503 until this succeeds.
      log?.error(
        { url: store.url, database: c.database, err: describeError(e) },
        'InfluxDB is not ready; sync batches are refused (503) until it is',
      );
    }
    store.rollup.start(c.rollupIntervalMs ?? INFLUX_DEFAULTS.rollupIntervalMs);
    return store;
  }

  async writeReadings(readings: readonly FarmReading[]): Promise<ApplyResult> {
    // One pass that checks, sets aside, labels and encodes: this runs for every reading of every
    // sync, so what is the same for a series (names checked, labels, tags escaped, unit) is done
    // once per farm, device and metric of the call, and a reading adds only its value and time.
    const now = Date.now();
    // InfluxDB refuses points older than a policy's period. A reading older than the raw period
    // (with a minute's margin for the two clocks) is written to `reading_hourly` in the long-term
    // policy as its own point (latePointLine): it counts in the hourly roll-ups for as long as
    // they are kept. Only a reading older than the long-term period too is set aside.
    const cutoff = Number.isFinite(this.rawHours) ? now - this.rawHours * HOUR_MS + 60_000 : -Infinity;
    const longCutoff = Number.isFinite(this.longHours) ? now - this.longHours * HOUR_MS + 60_000 : -Infinity;
    const farms = new Map<string, CallFarm>();
    const lines: string[] = [];
    const lateLines: string[] = [];
    let rejected = 0;
    let expired = 0;
    let duplicates = 0;
    let reason: string | undefined;
    // In one transaction: a device seen for the first time, or moved, records its labels.
    this.labels.batch(() => {
      for (const r of readings) {
        let farm = farms.get(r.farm);
        if (!farm) farms.set(r.farm, (farm = { ok: isName(r.farm), devices: new Map(), hours: new Set() }));
        let d = farm.devices.get(r.device);
        if (!d) farm.devices.set(r.device, (d = { ok: farm.ok && isName(r.device), metrics: new Map() }));
        let s = d.metrics.get(r.metric);
        if (!s) d.metrics.set(r.metric, (s = newCallSeries(d.ok && isName(r.metric))));
        const problem = s.ok ? readingValueProblem(r) : READING_NAMES_PROBLEM;
        if (problem !== undefined) {
          rejected++;
          reason ??= problem;
          continue;
        }
        if (r.time < longCutoff) {
          expired++;
          continue;
        }
        // Repeats within one call keep the first, as the SQLite store does.
        if (s.times.has(r.time)) {
          duplicates++;
          continue;
        }
        s.times.add(r.time);
        d.labelsAt ??= this.labels.labelsFor(r.farm, r.device, now);
        const labels = d.labelsAt(r.time);
        if (r.time < cutoff) {
          lateLines.push(latePointLine(r, labels));
          continue;
        }
        const bits = r.flags.length === 0 ? 0 : flagsToBits(r.flags);
        if (labels !== s.labels || r.unit !== s.unit || bits !== s.bits) {
          s.labels = labels;
          s.unit = r.unit;
          s.bits = bits;
          s.head = readingLineHead(r, labels, bits);
        }
        lines.push(`${s.head}${r.value} ${r.time}`);
        farm.hours.add(r.time - (r.time % 3_600_000));
      }
    });
    if (rejected > 0 || expired > 0)
      this.log?.warn(
        { rejected, expired, reason: reason ?? 'older than the long-term retention period' },
        'readings that cannot be stored were set aside',
      );
    if (lateLines.length > 0)
      this.log?.debug(
        { late: lateLines.length },
        'readings older than the raw retention period were stored in the hourly aggregates only',
      );
    const touched = [...farms].flatMap(([farm, f]) => [...f.hours].map((h) => [farm, h] as const));
    this.rollup.mark(touched);
    await Promise.all([this.points.submit(lines), this.hourly.submit(lateLines)]);
    // Marked again now that the points are in: a roll-up that ran while they were on their way
    // must not be the last one for their hours.
    this.rollup.mark(touched);
    return { applied: lines.length + lateLines.length, duplicates, rejected: rejected + expired };
  }

  async latest(farms: readonly string[]): Promise<LatestRow[]> {
    const out: LatestRow[] = [];
    for (let i = 0; i < farms.length; i += 100) {
      const part = farms.slice(i, i + 100);
      const placeholders: Record<string, string> = {};
      part.forEach((f, j) => (placeholders[`f${j}`] = f));
      const series = await this.select(
        `SELECT last("value") AS "value", "unit", "flags" FROM ${this.qualified(RAW_RP, M_READING)}
         WHERE ${part.map((_, j) => `"farm" = $f${j}`).join(' OR ')} GROUP BY "farm", "device", "metric"`,
        placeholders,
      );
      for (const s of series) {
        for (const row of rows(s)) {
          out.push({
            farm: s.tags?.farm ?? '',
            device: s.tags?.device ?? '',
            metric: s.tags?.metric ?? '',
            value: row.value as number,
            unit: (row.unit as string | null) ?? '',
            time: row.time as number,
            flags: bitsToFlags((row.flags as number | null) ?? 0),
          });
        }
      }
    }
    return out.sort((a, b) => cmp(a.farm, b.farm) || cmp(a.device, b.device) || cmp(a.metric, b.metric));
  }

  async count(farm: string, device?: string): Promise<number> {
    const series = await this.select(
      `SELECT count("value") AS "n" FROM ${this.qualified(RAW_RP, M_READING)} WHERE "farm" = $farm${device === undefined ? '' : ' AND "device" = $device'}`,
      device === undefined ? { farm } : { farm, device },
    );
    const first = series[0] ? rows(series[0])[0] : undefined;
    return (first?.n as number | undefined) ?? 0;
  }

  async readings(q: ReadingQuery): Promise<ReadingRow[]> {
    const { from, to, limit, empty } = checkRange(q);
    if (empty) return [];
    const { where, params } = filters(q, { metric: q.metric, field: q.field, device: q.device });
    const series = await this.select(
      `SELECT "device", "field", "kit", "value", "unit", "flags" FROM ${this.qualified(RAW_RP, M_READING)}
       WHERE ${where} AND time >= ${from}ms AND time < ${to}ms LIMIT ${limit}`,
      params,
    );
    const out = series.flatMap((s) =>
      rows(s).map((r) => readingRow(q.farm, r.device as string, q.metric, r)),
    );
    return out.sort((a, b) => a.time - b.time || cmp(a.device, b.device));
  }

  async quality(q: QualityQuery): Promise<QualityRow[]> {
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const src = this.qualified(RAW_RP, M_READING);
    const where = `"farm" = $farm AND time >= ${from}ms AND time < ${to}ms`;
    const params = { farm: q.farm };
    // One request: each device's readings counted, and the flagged ones (few, as a rule) with
    // their bitmask; a device's series (a metric, and a field it was in) are one group.
    const [totals = [], flagged = []] = await this.selectEach(
      `SELECT count("value") AS "n" FROM ${src} WHERE ${where} GROUP BY "device";
       SELECT "device", "flags" FROM ${src} WHERE ${where} AND "flags" <> 0 LIMIT ${QUALITY_RAW_FLAGGED + 1}`,
      params,
    );
    const out = new Map<string, QualityRow>();
    const rowOf = (device: string): QualityRow => {
      let row = out.get(device);
      if (!row) out.set(device, (row = { device, readings: 0, flagged: 0, flags: {} }));
      return row;
    };
    const counts = (series: Series[], add: (row: QualityRow, n: number) => void) => {
      for (const s of series) {
        const n = rows(s)[0]?.n;
        if (typeof n === 'number' && n > 0) add(rowOf(s.tags?.device ?? ''), n);
      }
    };
    counts(totals, (row, n) => (row.readings = n));
    const raw = flagged.flatMap(rows);
    if (raw.length <= QUALITY_RAW_FLAGGED) {
      for (const r of raw) {
        const row = rowOf(r.device as string);
        row.flagged++;
        for (const f of bitsToFlags(r.flags as number)) row.flags[f] = (row.flags[f] ?? 0) + 1;
      }
    } else {
      // Too many to read one by one: InfluxDB counts them, each flag by its bit.
      const [any = [], ...perFlag] = await this.selectEach(
        ['<> 0', ...QUALITY_FLAGS.map((f) => `& ${FLAG_BITS[f]} <> 0`)]
          .map(
            (cond) =>
              `SELECT count("flags") AS "n" FROM ${src} WHERE ${where} AND "flags" ${cond} GROUP BY "device"`,
          )
          .join('; '),
        params,
      );
      counts(any, (row, n) => (row.flagged = n));
      QUALITY_FLAGS.forEach((f, i) => counts(perFlag[i] ?? [], (row, n) => (row.flags[f] = n)));
    }
    for (const row of out.values()) {
      // A reading written between the statements may be counted as flagged and not in the total.
      row.readings = Math.max(row.readings, row.flagged);
      // The flags in their canonical order, as the SQLite store lists them.
      row.flags = Object.fromEntries(
        QUALITY_FLAGS.filter((f) => row.flags[f]).map((f) => [f, row.flags[f]!]),
      );
    }
    return [...out.values()].sort((a, b) => cmp(a.device, b.device));
  }

  async newest(q: NewestQuery): Promise<ReadingRow[]> {
    const perDevice = checkPerDevice(q.perDevice);
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const { where, params } = filters(q, { metric: q.metric });
    // LIMIT applies to each group: a device's newest, whichever series (field) they lie in.
    const series = await this.select(
      `SELECT "field", "kit", "value", "unit", "flags" FROM ${this.qualified(RAW_RP, M_READING)}
       WHERE ${where} AND time >= ${from}ms AND time < ${to}ms${q.unit !== undefined ? ' AND "unit" = $unit' : ''}
       GROUP BY "device" ORDER BY time DESC LIMIT ${perDevice}`,
      q.unit !== undefined ? { ...params, unit: q.unit } : params,
    );
    const out = series.flatMap((s) =>
      rows(s)
        .reverse()
        .map((r) => readingRow(q.farm, s.tags?.device ?? '', q.metric, r)),
    );
    return out.sort((a, b) => cmp(a.device, b.device) || a.time - b.time);
  }

  async rollups(q: RollupQuery): Promise<RollupRow[]> {
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const [s, e] = [hourCeil(from), hourCeil(to)];
    // Hours with new data are recomputed before answering, so the answer is never stale.
    await this.rollup.run({ farm: q.farm, from: s, to: e }).catch((err: unknown) => {
      throw new HatakeError('HATAKE_E_STORAGE', `InfluxDB roll-up failed: ${describeError(err)}`, {
        cause: err,
      });
    });
    // The roll-up's point of each hour and the gateways' parts of it, merged per series and hour.
    return mergeHours(q, await this.hourlyPoints(q, s, e, false));
  }

  async writeAggregates(aggregates: readonly FarmAggregate[]): Promise<ApplyResult> {
    const { ok, rejected } = partition(aggregates, aggregateProblem);
    // InfluxDB refuses points older than the long-term retention period; set them aside here.
    const now = Date.now();
    const cutoff = Number.isFinite(this.longHours) ? now - this.longHours * HOUR_MS + HOUR_MS : -Infinity;
    const lines = new Map<string, string>();
    let expired = 0;
    let duplicates = 0;
    this.labels.batch(() => {
      const devices = new Map<string, (t: number) => DeviceLabels>();
      for (const a of ok) {
        if (a.hour < cutoff) {
          expired++;
          continue;
        }
        const part = canonicalPart(a.part);
        const device = `${a.farm}\u0000${a.device}`;
        let labelsAt = devices.get(device);
        if (!labelsAt) devices.set(device, (labelsAt = this.labels.labelsFor(a.farm, a.device, now)));
        const line = aggregateLine(a, part, labelsAt(a.hour));
        // A repeat within the call replaces, as a later write of the point would.
        const key = `${device}\u0000${a.metric}\u0000${a.hour}\u0000${part}`;
        if (lines.get(key) === line) duplicates++;
        lines.set(key, line);
      }
    });
    if (rejected.length > 0 || expired > 0)
      this.log?.warn(
        {
          rejected: rejected.length,
          expired,
          reason: rejected[0] ?? 'older than the long-term retention period',
        },
        'hourly aggregates that cannot be stored were set aside',
      );
    await this.hourly.submit([...lines.values()]);
    return {
      applied: ok.length - expired - duplicates,
      duplicates,
      rejected: rejected.length + expired,
    };
  }

  async gatewayHours(q: RollupQuery): Promise<GatewayHourRow[]> {
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const points = await this.hourlyPoints(q, hourCeil(from), hourCeil(to), true);
    const units = new Map<string, string>();
    for (const p of points) units.set(hourKey(p), (p.unit as string | null) ?? '');
    return mergeHours(q, points).map((r) => ({ ...r, unit: units.get(hourKey(r)) ?? '' }));
  }

  /** The points of `reading_hourly` for a roll-up query's hours [s, e); only gateways' parts if asked. */
  private async hourlyPoints(
    q: RollupQuery,
    s: number,
    e: number,
    gatewayOnly: boolean,
  ): Promise<HourlyPoint[]> {
    const { where, params } = filters(q, { metric: q.metric, field: q.field, device: q.device });
    const series = await this.select(
      `SELECT "device", "field", "kit", "min", "max", "mean", "count"${gatewayOnly ? ', "unit"' : ''}
       FROM ${this.qualified(LONG_RP, M_READING_HOURLY)}
       WHERE ${where}${gatewayOnly ? ` AND "part" <> ''` : ''} AND time >= ${s}ms AND time < ${e}ms`,
      params,
    );
    return series.flatMap((sr) =>
      rows(sr).map((r) => ({
        ...r,
        field: nullable(r.field),
        kit: nullable(r.kit),
        hour: (r.time as number) - ((r.time as number) % HOUR_MS),
      })),
    ) as HourlyPoint[];
  }

  /** Recomputes every hour with new data now (the timer does this every rollupIntervalMs). */
  refreshRollups(): Promise<void> {
    return this.rollup.run();
  }

  /** Hours waiting for their roll-up. */
  pendingRollups(): number {
    return this.rollup.pendingCount();
  }

  async writeIndexStats(stats: readonly IndexStat[]): Promise<ApplyResult> {
    const { ok, rejected } = partition(stats, indexStatProblem);
    await this.docs.submit(
      ok.map((s) => ({
        measurement: M_INDEX_STAT,
        tags: tags({ farm: s.farm, field: s.field, zone: s.zone, index: s.index }),
        fields: {
          scene: s.scene,
          mean: s.mean,
          median: s.median,
          p10: s.p10,
          p90: s.p90,
          std: s.std,
          pixels: s.pixels,
          valid_fraction: s.validFraction,
        },
        timestamp: String(s.time),
      })),
    );
    return { applied: ok.length, duplicates: 0, rejected: rejected.length };
  }

  async indexStats(q: IndexStatQuery): Promise<IndexStat[]> {
    const { from, to, limit, empty } = checkRange(q);
    if (empty) return [];
    const { where, params } = filters(q, { field: q.field, index: q.index });
    const series = await this.select(
      `SELECT "field", "zone", "index", "scene", "mean", "median", "p10", "p90", "std", "pixels", "valid_fraction"
       FROM ${this.qualified(LONG_RP, M_INDEX_STAT)} WHERE ${where} AND time >= ${from}ms AND time < ${to}ms LIMIT ${limit}`,
      params,
    );
    const out = series.flatMap((s) =>
      rows(s).map((r) => {
        const stat: IndexStat = {
          farm: q.farm,
          field: r.field as string,
          index: r.index as string,
          time: r.time as number,
          scene: r.scene as string,
          mean: r.mean as number,
          median: r.median as number,
          p10: r.p10 as number,
          p90: r.p90 as number,
          std: r.std as number,
          pixels: r.pixels as number,
          validFraction: r.valid_fraction as number,
        };
        const zone = nullable(r.zone);
        return zone === null ? stat : { ...stat, zone };
      }),
    );
    return out.sort(
      (a, b) =>
        a.time - b.time || cmp(a.field, b.field) || cmp(a.zone ?? '', b.zone ?? '') || cmp(a.index, b.index),
    );
  }

  async writeRecommendationOutputs(outputs: readonly RecommendationOutput[]): Promise<ApplyResult> {
    const { ok, rejected } = partition(outputs, recommendationProblem);
    await this.docs.submit(
      ok.map((o) => ({
        measurement: M_RECOMMENDATION,
        tags: tags({ farm: o.farm, field: o.field, zone: o.zone, model: o.model }),
        fields: {
          recommendation: o.recommendation,
          model_version: o.modelVersion,
          nitrogen_kg_ha: o.nitrogenKgHa,
          ...(o.product === undefined ? {} : { product: o.product }),
          ...(o.productKgHa === undefined ? {} : { product_kg_ha: o.productKgHa }),
        },
        timestamp: String(o.time),
      })),
    );
    return { applied: ok.length, duplicates: 0, rejected: rejected.length };
  }

  async recommendationOutputs(q: RangeQuery): Promise<RecommendationOutput[]> {
    const { from, to, limit, empty } = checkRange(q);
    if (empty) return [];
    const { where, params } = filters(q, { field: q.field });
    const series = await this.select(
      `SELECT "field", "zone", "model", "recommendation", "model_version", "nitrogen_kg_ha", "product", "product_kg_ha"
       FROM ${this.qualified(LONG_RP, M_RECOMMENDATION)} WHERE ${where} AND time >= ${from}ms AND time < ${to}ms LIMIT ${limit}`,
      params,
    );
    const out = series.flatMap((s) =>
      rows(s).map((r) => {
        const o: RecommendationOutput = {
          farm: q.farm,
          field: r.field as string,
          zone: r.zone as string,
          recommendation: r.recommendation as string,
          model: r.model as string,
          modelVersion: r.model_version as string,
          time: r.time as number,
          nitrogenKgHa: r.nitrogen_kg_ha as number,
        };
        if (r.product !== null && r.product !== undefined) o.product = r.product as string;
        if (r.product_kg_ha !== null && r.product_kg_ha !== undefined)
          o.productKgHa = r.product_kg_ha as number;
        return o;
      }),
    );
    return out.sort(
      (a, b) => a.time - b.time || cmp(a.field, b.field) || cmp(a.zone, b.zone) || cmp(a.model, b.model),
    );
  }

  async health(): Promise<StoreHealth> {
    const base = {
      kind: 'influx' as const,
      queuedPoints: this.points.pendingPoints + this.docs.pendingPoints + this.hourly.pendingPoints,
    };
    const [ping] = await this.influx.ping(this.t.pingMs);
    if (!ping?.online) {
      return {
        ...base,
        ok: false,
        detail: `InfluxDB at ${this.url} does not answer /ping within ${this.t.pingMs} ms; sync batches are refused until it does`,
      };
    }
    if (!this.schemaOk) {
      try {
        await this.ensureSchema();
      } catch (e) {
        return {
          ...base,
          ok: false,
          detail: `InfluxDB database "${this.c.database}" is not ready: ${describeError(e)}`,
        };
      }
    }
    if (this.points.full || this.docs.full || this.hourly.full)
      return {
        ...base,
        ok: false,
        detail: 'the InfluxDB write queue is full; InfluxDB is slower than the syncs coming in',
      };
    // InfluxDB may answer /ping while its writes time out or fail (5xx): the syncs are refused
    // then, and the health says so until a write succeeds.
    const f = this.failingSince;
    if (f && (f.fatal || Date.now() - f.lastAt < WRITE_FAILURE_STALE_MS)) {
      const since = new Date(f.at).toISOString();
      const last = f.lastAt > f.at ? ` (last ${new Date(f.lastAt).toISOString()})` : '';
      return {
        ...base,
        ok: false,
        detail: f.fatal
          ? `InfluxDB refuses writes: ${f.reason} since ${since}${last}; sync batches are refused (503) until a write succeeds`
          : `InfluxDB writes failing: ${f.reason} since ${since}${last}; sync batches are refused (503) and stay in the gateways' outboxes until a write succeeds`,
      };
    }
    return { ...base, ok: true };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.points.close(), this.docs.close(), this.hourly.close()]);
    await this.rollup.stop();
  }

  /** Creates the database and the two retention policies if missing; fixes their durations. */
  ensureSchema(): Promise<void> {
    if (!this.schemaReady) {
      this.schemaReady = this.createSchema().then(
        () => {
          this.schemaOk = true;
        },
        (e: unknown) => {
          this.schemaReady = undefined;
          throw e;
        },
      );
    }
    return this.schemaReady;
  }

  private async createSchema(): Promise<void> {
    const db = escape.quoted(this.c.database);
    try {
      await this.exec(`CREATE DATABASE ${db}`);
    } catch (e) {
      // A user without admin rights cannot create databases; fine if it exists already.
      if (statusOf(e) !== 403 && !/authoriz|privilege/i.test(describeError(e))) throw e;
    }
    const want = [
      { name: RAW_RP, duration: this.c.retention?.raw ?? INFLUX_DEFAULTS.raw, isDefault: true },
      { name: LONG_RP, duration: this.c.retention?.longterm ?? INFLUX_DEFAULTS.longterm, isDefault: false },
    ];
    const have = new Map<string, number>();
    for (const s of await this.query(`SHOW RETENTION POLICIES ON ${db}`, {})) {
      const nameAt = s.columns.indexOf('name');
      const durAt = s.columns.indexOf('duration');
      for (const v of s.values ?? []) have.set(String(v[nameAt]), goDurationHours(String(v[durAt])));
    }
    for (const rp of want) {
      const hours = retentionHours(rp.duration);
      const current = have.get(rp.name);
      const clause = `ON ${db} DURATION ${rp.duration} REPLICATION 1`;
      try {
        if (current === undefined) {
          await this.exec(
            `CREATE RETENTION POLICY ${escape.quoted(rp.name)} ${clause}${rp.isDefault ? ' DEFAULT' : ''}`,
          );
          this.log?.info(
            { database: this.c.database, rp: rp.name, duration: rp.duration },
            'created retention policy',
          );
        } else if (current !== hours) {
          await this.exec(`ALTER RETENTION POLICY ${escape.quoted(rp.name)} ${clause}`);
          this.log?.info(
            { database: this.c.database, rp: rp.name, duration: rp.duration },
            'changed retention policy duration',
          );
        }
      } catch (e) {
        throw new HatakeError(
          'HATAKE_E_STORAGE',
          `cannot create or change retention policy "${rp.name}" on "${this.c.database}": ${describeError(e)}`,
          {
            cause: e,
            expected: `an InfluxDB user with admin rights, or the policy made by hand: CREATE RETENTION POLICY "${rp.name}" ${clause}`,
          },
        );
      }
    }
  }

  /** Makes one write (of a batch) once the schema is ready; sorts out what a failure means. */
  private async send(write: () => Promise<void>): Promise<void> {
    await this.ensureSchema();
    try {
      await write();
    } catch (e) {
      const msg = describeError(e);
      // InfluxDB writes the rest of a batch and answers 400 for points past the retention
      // period (our clock and its clock may disagree by a little).
      const dropped = /partial write: points beyond retention policy dropped=(\d+)/.exec(msg);
      if (dropped && !/unable to parse|field type conflict/.test(msg)) {
        this.log?.warn(
          { dropped: Number(dropped[1]) },
          'InfluxDB dropped points older than their retention period',
        );
        return;
      }
      if (/database not found/.test(msg)) {
        // Someone dropped it: make it again, and let the batcher retry.
        this.schemaReady = undefined;
        this.schemaOk = false;
      }
      throw e;
    }
  }

  private writeFailed(e: unknown): void {
    const reason = this.writeFailureReason(e);
    const s = statusOf(e);
    const fatal = s !== undefined && s >= 400 && s < 500 && s !== 404 && s !== 408 && s !== 429;
    if (!this.failingSince) {
      this.log?.error(
        { url: this.url, database: this.c.database, err: reason },
        `InfluxDB write failed (${reason}); sync batches are refused with 503 and stay in the gateways' outboxes until writes succeed`,
      );
    }
    const now = Date.now();
    this.failingSince = { at: this.failingSince?.at ?? now, lastAt: now, reason, fatal };
  }

  /**
   * A failed write's reason in words. The client turns a 5xx answer and its own request timeout
   * into a bare ServiceNotAvailableError ("Internal Server Error", "Request timed out", the body
   * dropped): say which.
   */
  private writeFailureReason(e: unknown): string {
    // A deadline that passed while attempts were failing: the attempts' reason says more.
    if (e instanceof HatakeError) return e.cause !== undefined ? this.writeFailureReason(e.cause) : e.message;
    const reason = describeError(e);
    if (e instanceof Error && e.constructor.name === 'ServiceNotAvailableError') {
      return reason === 'Request timed out'
        ? `no answer to a write within ${this.t.requestMs} ms`
        : `InfluxDB answered a write with HTTP 5xx (${reason})`;
    }
    return reason;
  }

  private writeSucceeded(): void {
    if (this.failingSince) {
      this.log?.info(
        { url: this.url, downMs: Date.now() - this.failingSince.at },
        'InfluxDB writes succeed again; sync batches are accepted',
      );
      this.failingSince = undefined;
    }
  }

  private qualified(rp: string, measurement: string): string {
    return `${escape.quoted(this.c.database)}.${escape.quoted(rp)}.${escape.quoted(measurement)}`;
  }

  private async exec(q: string): Promise<void> {
    assertNoResultErrors(await this.influx.queryRaw(q, { database: this.c.database, method: 'POST' }));
  }

  /** Runs one statement on a prepared database; returns its series, times in epoch ms. */
  private async select(q: string, placeholders: Record<string, string>): Promise<Series[]> {
    await this.ready();
    return this.query(q, placeholders);
  }

  /** The database and its retention policies made, or HATAKE_E_STORAGE saying why not. */
  private async ready(): Promise<void> {
    try {
      await this.ensureSchema();
    } catch (e) {
      if (e instanceof HatakeError) throw e;
      throw new HatakeError('HATAKE_E_STORAGE', `InfluxDB is not ready: ${describeError(e)}`, { cause: e });
    }
  }

  /** Runs one statement with bound parameters; returns its series, times in epoch ms. */
  private async query(q: string, placeholders: Record<string, string>): Promise<Series[]> {
    return (await this.queryAll(q, placeholders))[0] ?? [];
  }

  /** Runs statements (`;`-separated, in one request) on a prepared database; the series of each. */
  private async selectEach(q: string, placeholders: Record<string, string>): Promise<Series[][]> {
    await this.ready();
    return this.queryAll(q, placeholders);
  }

  /** Runs statements with bound parameters in one request; the series of each, times in epoch ms. */
  private async queryAll(q: string, placeholders: Record<string, string>): Promise<Series[][]> {
    let res: { results?: { statement_id?: number; error?: string; series?: Series[] }[] };
    try {
      res = assertNoResultErrors(
        (await this.influx.queryRaw(q, {
          database: this.c.database,
          precision: 'ms',
          method: 'POST',
          placeholders,
        })) as { results?: { statement_id?: number; error?: string; series?: Series[] }[] },
      );
    } catch (e) {
      // The API answers 503 with the reason rather than a 500.
      throw new HatakeError('HATAKE_E_STORAGE', `InfluxDB query failed: ${describeError(e)}`, { cause: e });
    }
    const out: Series[][] = [];
    for (const [i, r] of (res.results ?? []).entries()) out[r.statement_id ?? i] = r.series ?? [];
    return out;
  }
}

/** What one writeReadings call knows of a farm, a device of the farm, a metric of the device. */
interface CallFarm {
  ok: boolean;
  devices: Map<string, CallDevice>;
  hours: Set<number>;
}
interface CallDevice {
  /** Whether the farm and device are names. */
  ok: boolean;
  /** Fetched with the first reading that is stored. */
  labelsAt?: (t: number) => DeviceLabels;
  metrics: Map<string, CallSeries>;
}
interface CallSeries {
  /** Whether farm, device and metric are names. */
  ok: boolean;
  times: Set<number>;
  /** The labels, unit and flags `head` was built for; a reading with others rebuilds it. */
  labels: DeviceLabels | undefined;
  unit: string | undefined;
  bits: number;
  head: string;
}
const newCallSeries = (ok: boolean): CallSeries => ({
  ok,
  times: new Set(),
  labels: undefined,
  unit: undefined,
  bits: 0,
  head: '',
});

/**
 * A reading's line of line protocol up to its value: measurement, tags (sorted by key, as InfluxDB
 * keys a series; field and kit only when set), then the fields in the order the `influx` client
 * writes them (flags, unit, value). The same bytes writePoints makes from the point schema above.
 */
function readingLineHead(r: FarmReading, l: DeviceLabels, bits: number): string {
  const tag = escape.tag;
  return (
    `${M_READING},device=${tag(r.device)},farm=${tag(r.farm)}` +
    (l.field ? `,field=${tag(l.field)}` : '') +
    (l.kit ? `,kit=${tag(l.kit)}` : '') +
    `,metric=${tag(r.metric)} flags=${bits}i,unit=${escape.quoted(r.unit)},value=`
  );
}

/** Nanoseconds in an hour. */
const HOUR_NS = 3_600_000_000_000n;

/**
 * Where in its hour a gateway's part is stored: 1 ns … 1 h − 1 ns after the start (where the
 * roll-up's point is), a function of the part alone, so a resend overwrites the same point. A
 * gateway's parts are the first outbox sequence of what each one aggregates; two parts of one
 * hour share a time only if they differ by a multiple of 3.6 × 10¹² − 1, which no outbox reaches.
 */
export function partTimeNs(hour: number, part: string): bigint {
  return BigInt(hour) * 1_000_000n + 1n + (BigInt(part) % (HOUR_NS - 1n));
}

/**
 * A gateway aggregate as a line of line protocol: the tags of the roll-up's points (sorted by key;
 * field and kit only when set), its numbers in the roll-up's fields and types (`count` an
 * integer), its unit and part as strings, at its time within the hour in nanoseconds.
 */
function aggregateLine(a: FarmAggregate, part: string, l: DeviceLabels): string {
  const tag = escape.tag;
  return (
    `${M_READING_HOURLY},device=${tag(a.device)},farm=${tag(a.farm)}` +
    (l.field ? `,field=${tag(l.field)}` : '') +
    (l.kit ? `,kit=${tag(l.kit)}` : '') +
    `,metric=${tag(a.metric)} count=${a.count}i,max=${a.max},mean=${a.mean},min=${a.min}` +
    `,part=${escape.quoted(part)},unit=${escape.quoted(a.unit)} ${partTimeNs(a.hour, part)}`
  );
}

/** Where in its hour the first late reading's point lies: half an hour after the start. */
const LATE_BASE_NS = 1_800_000_000_000n;

/**
 * Where a reading older than the raw retention period is stored in `reading_hourly`: in the
 * second half of its hour, at hour + 30 min + (time − hour) / 2 (in ns, exact: readings are whole
 * ms), a function of the reading's time alone. So every reading of an hour has its own point, a
 * resend overwrites it, and it never meets the roll-up's point (the start of the hour) nor a
 * gateway's part (partTimeNs: 1 + part ns after the start, inside the first 30 min for every part
 * below 1.8 × 10¹², which no outbox reaches).
 */
export function lateTimeNs(time: number): bigint {
  const hour = time - (time % HOUR_MS);
  return BigInt(hour) * 1_000_000n + LATE_BASE_NS + BigInt(time - hour) * 500_000n;
}

/**
 * A reading older than the raw retention period as a point of `reading_hourly`: the roll-up's
 * tags (its device's labels at its time, as the roll-up of raw readings groups them) and fields,
 * an hour of one reading (min = max = mean = value, count 1), at lateTimeNs.
 */
function latePointLine(r: FarmReading, l: DeviceLabels): string {
  const tag = escape.tag;
  return (
    `${M_READING_HOURLY},device=${tag(r.device)},farm=${tag(r.farm)}` +
    (l.field ? `,field=${tag(l.field)}` : '') +
    (l.kit ? `,kit=${tag(l.kit)}` : '') +
    `,metric=${tag(r.metric)} count=1i,max=${r.value},mean=${r.value},min=${r.value} ${lateTimeNs(r.time)}`
  );
}

/** One point of `reading_hourly` as hourlyPoints reads it. */
interface HourlyPoint {
  device: string;
  field: string | null;
  kit: string | null;
  hour: number;
  min: number;
  max: number;
  mean: number;
  count: number;
  unit?: string | null;
}

const hourKey = (p: { device: string; field: string | null; kit: string | null; hour: number }): string =>
  `${p.hour}\u0000${p.device}\u0000${p.field ?? ''}\u0000${p.kit ?? ''}`;

/** Points of one hour and series (the roll-up's, a gateway's parts) as one row; mean weighted by count. */
function mergeHours(q: { farm: string; metric: string }, points: HourlyPoint[]): RollupRow[] {
  const byHour = new Map<string, RollupRow & { sum: number; points: number }>();
  for (const p of points) {
    const k = hourKey(p);
    const row = byHour.get(k);
    if (!row) {
      byHour.set(k, {
        farm: q.farm,
        field: p.field,
        device: p.device,
        kit: p.kit,
        metric: q.metric,
        hour: p.hour,
        min: p.min,
        max: p.max,
        mean: p.mean,
        count: p.count,
        sum: p.mean * p.count,
        points: 1,
      });
      continue;
    }
    row.min = Math.min(row.min, p.min);
    row.max = Math.max(row.max, p.max);
    row.count += p.count;
    row.sum += p.mean * p.count;
    row.points++;
  }
  const out = [...byHour.values()].map(({ sum, points: n, ...r }) =>
    n === 1 ? r : { ...r, mean: sum / r.count },
  );
  return out.sort((a, b) => a.hour - b.hour || cmp(a.device, b.device) || cmp(a.field ?? '', b.field ?? ''));
}

type LineWriter = (body: string, query: { db: string; rp: string; precision: 'ms' | 'ns' }) => Promise<void>;

/**
 * The request `writePoints` makes, for line protocol built by the caller. The `influx` package
 * has no public method that takes line protocol, and turning point objects into it costs several
 * µs a point in `writePoints` — more than the rest of a sync. So this posts through the client's
 * own connection pool, as `writePoints` does: the same agent, timeout, retry policy and errors
 * (`res.statusCode` on a refusal, which statusOf reads).
 */
function lineWriter(influx: InfluxDB, auth: string | undefined): LineWriter {
  interface Pool {
    discard(o: {
      method: 'POST';
      path: string;
      query: Record<string, string>;
      body: string;
      auth?: string;
    }): Promise<void>;
  }
  const pool = (influx as unknown as { _pool?: Pool })._pool;
  if (typeof pool?.discard !== 'function') {
    throw new HatakeError(
      'HATAKE_E_INTERNAL',
      'the influx client has no connection pool to write through; was the package upgraded?',
    );
  }
  return (body, query) => pool.discard({ method: 'POST', path: '/write', query, body, auth });
}

/** A series' rows as objects keyed by column. */
function rows(s: Series): Record<string, unknown>[] {
  return (s.values ?? []).map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]])));
}

/** The WHERE clause for a farm and optional tag filters, with bound parameters. */
function filters(
  q: { farm: string },
  more: Record<string, string | undefined>,
): { where: string; params: Record<string, string> } {
  const parts = ['"farm" = $farm'];
  const params: Record<string, string> = { farm: q.farm };
  for (const [k, v] of Object.entries(more)) {
    if (v === undefined) continue;
    parts.push(`"${k}" = $${k}`);
    params[k] = v;
  }
  return { where: parts.join(' AND '), params };
}

const nullable = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** A raw reading as a store row, from an InfluxDB result row of `reading` (value, unit, flags, field, kit). */
const readingRow = (
  farm: string,
  device: string,
  metric: string,
  r: Record<string, unknown>,
): ReadingRow => ({
  farm,
  device,
  metric,
  value: r.value as number,
  unit: (r.unit as string | null) ?? '',
  time: r.time as number,
  flags: bitsToFlags((r.flags as number | null) ?? 0),
  field: nullable(r.field),
  kit: nullable(r.kit),
});
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Reads a password file (one line; a trailing newline is not part of the password). */
function readPasswordFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `cannot read the InfluxDB password file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { place: { file } },
    );
  }
}
