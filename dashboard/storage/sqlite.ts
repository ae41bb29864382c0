// The embedded default time-series store: readings in the server's SQLite file, keyed so that a
// resent reading is a no-op, with a `latest` table kept beside it for the live pages, index
// statistics and recommendation outputs in their own keyed tables. Hourly roll-ups are computed
// on demand from the raw readings still held, merged with the hours retention already rolled up
// (`readings_hourly`, sqlite-rollup.ts: raw readings past `retention.raw` become hourly rows) and
// the hourly aggregates gateways sent in place of raw readings (the `aggregates` table). A reading
// delivered after the raw period goes straight into `readings_hourly`, as InfluxDB's store puts it
// into `reading_hourly`.
import {
  SQLITE_RETENTION_DEFAULTS,
  retentionHours,
  type SqliteStorageConfig,
} from '../../protocol/server-config.ts';
import type { Db } from '../../runtime/sqlite.ts';
import type { Logger } from '../../runtime/log.ts';
import { DeviceLabelHistory } from './device-labels.ts';
import { SqliteRetention, hourFloor, type PassResult, type RunResult } from './sqlite-rollup.ts';
import type { QualityFlag } from '../../protocol/telemetry.ts';
import {
  FLAG_BITS,
  aggregateProblem,
  canonicalPart,
  checkPerDevice,
  checkRange,
  hourCeil,
  indexStatProblem,
  partition,
  readingProblem,
  recommendationProblem,
} from './input-checks.ts';
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

/** The quality flags, in their canonical order (the bits of InfluxDB's `flags` field). */
const QUALITY_FLAGS = Object.keys(FLAG_BITS) as QualityFlag[];

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS readings (
    farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL, field TEXT, kit TEXT,
    PRIMARY KEY (farm, device, metric, time)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS latest (
    farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL,
    PRIMARY KEY (farm, device, metric)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS index_stats (
    farm TEXT NOT NULL, field TEXT NOT NULL, zone TEXT NOT NULL, index_name TEXT NOT NULL,
    time INTEGER NOT NULL, scene TEXT NOT NULL, mean REAL NOT NULL, median REAL NOT NULL,
    p10 REAL NOT NULL, p90 REAL NOT NULL, std REAL NOT NULL, pixels INTEGER NOT NULL,
    valid_fraction REAL NOT NULL,
    PRIMARY KEY (farm, field, zone, index_name, time)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS recommendation_outputs (
    farm TEXT NOT NULL, field TEXT NOT NULL, zone TEXT NOT NULL, model TEXT NOT NULL,
    time INTEGER NOT NULL, recommendation TEXT NOT NULL, model_version TEXT NOT NULL,
    nitrogen_kg_ha REAL NOT NULL, product TEXT, product_kg_ha REAL,
    PRIMARY KEY (farm, field, zone, model, time)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS aggregates (
    farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, hour INTEGER NOT NULL, part TEXT NOT NULL,
    unit TEXT NOT NULL, min REAL NOT NULL, max REAL NOT NULL, mean REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (farm, device, metric, hour, part)
  ) WITHOUT ROWID;
`;

/**
 * Tables from before the field and kit labels (readings; the gateways' aggregates, so roll-ups of a
 * field count them) get the columns, their rows labelled by the current devices; then the index of
 * a field's metric over a range, the common query (the primary key serves one device).
 */
function addLabels(db: Db, table: 'readings' | 'aggregates', time: 'time' | 'hour'): void {
  const cols = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  if (!cols.includes('field')) {
    db.transaction(() => {
      db.exec(`ALTER TABLE ${table} ADD COLUMN field TEXT; ALTER TABLE ${table} ADD COLUMN kit TEXT;`);
      db.exec(`UPDATE ${table} SET
        field = (SELECT d.field FROM devices d WHERE d.farm = ${table}.farm AND d.id = ${table}.device),
        kit = (SELECT d.kit FROM devices d WHERE d.farm = ${table}.farm AND d.id = ${table}.device)`);
    })();
  }
  db.exec(`CREATE INDEX IF NOT EXISTS ${table}_by_metric ON ${table} (farm, metric, ${time})`);
}

/** How often the retention timer looks for work (an idle look costs no query). */
export const SQLITE_RETENTION_INTERVAL_MS = 60_000;
const DAY_MS = 24 * HOUR_MS;

export interface SqliteStoreOptions {
  /**
   * As in the storage config: without it everything is kept; within it, a period not given is
   * SQLITE_RETENTION_DEFAULTS'.
   */
  retention?: SqliteStorageConfig['retention'];
  /** The wall clock (tests move it). */
  now?: () => number;
  /** Retention's pass budget, pause and step size (sqlite-rollup.ts). */
  passMs?: number;
  gapMs?: number;
  batchRows?: number;
}

export class SqliteReadingStore implements ReadingStore {
  private readonly db: Db;
  private readonly log: Logger | undefined;
  private readonly labels: DeviceLabelHistory;
  private readonly retention: SqliteRetention;
  private readonly now: () => number;
  private readonly insert;
  private readonly rawExists;
  private readonly insertLate;
  private readonly upsertLatest;
  private readonly upsertIndexStat;
  private readonly upsertRecommendation;
  private readonly upsertAggregate;
  private readonly qualityStmt;

  /**
   * The store with its retention from the config (none without a `retention` section), and the
   * retention's timer started when anything expires, as InfluxReadingStore.open starts its
   * roll-up; close() stops it.
   */
  static open(
    c: SqliteStorageConfig | undefined,
    db: Db,
    log?: Logger,
    options: Omit<SqliteStoreOptions, 'retention'> & { intervalMs?: number } = {},
  ): SqliteReadingStore {
    const store = new SqliteReadingStore(db, log, { ...options, retention: c?.retention });
    // The 24-hour chart and the device health figures read the last day's raw readings.
    if (store.retention.rawMs < 2 * DAY_MS)
      log?.warn(
        { raw: c?.retention?.raw },
        'retention.raw is shorter than 2 days: the 24-hour charts and the device health figures will miss readings',
      );
    store.retention.start(options.intervalMs ?? SQLITE_RETENTION_INTERVAL_MS);
    return store;
  }

  /** A store without a timer: retention runs only when runRetention() or retentionPass() is called. */
  constructor(db: Db, log?: Logger, options: SqliteStoreOptions = {}) {
    this.db = db;
    this.log = log;
    this.now = options.now ?? Date.now;
    db.exec(SCHEMA);
    addLabels(db, 'readings', 'time');
    addLabels(db, 'aggregates', 'hour');
    this.labels = new DeviceLabelHistory(db);
    const r = options.retention;
    const ms = (d: string | undefined, fallback: string) =>
      r === undefined ? Infinity : retentionHours(d ?? fallback) * HOUR_MS;
    this.retention = new SqliteRetention(db, {
      rawMs: ms(r?.raw, SQLITE_RETENTION_DEFAULTS.raw),
      longMs: ms(r?.longterm, SQLITE_RETENTION_DEFAULTS.longterm),
      now: this.now,
      passMs: options.passMs,
      gapMs: options.gapMs,
      batchRows: options.batchRows,
      log: log?.child({ part: 'retention' }),
    });
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO readings (farm, device, metric, time, value, unit, flags, field, kit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.rawExists = db
      .prepare('SELECT 1 FROM readings WHERE farm = ? AND device = ? AND metric = ? AND time = ?')
      .pluck();
    // A reading delivered after the raw period: an hour of one reading, keyed by its time.
    this.insertLate = db.prepare(
      `INSERT OR IGNORE INTO readings_hourly (farm, device, metric, hour, field, kit, slot, min, max, mean, count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
    );
    this.upsertLatest = db.prepare(
      `INSERT INTO latest (farm, device, metric, time, value, unit, flags) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (farm, device, metric) DO UPDATE SET time = excluded.time, value = excluded.value,
         unit = excluded.unit, flags = excluded.flags WHERE excluded.time >= latest.time`,
    );
    this.upsertIndexStat = db.prepare(
      `INSERT OR REPLACE INTO index_stats (farm, field, zone, index_name, time, scene, mean, median, p10, p90, std, pixels, valid_fraction)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertRecommendation = db.prepare(
      `INSERT OR REPLACE INTO recommendation_outputs (farm, field, zone, model, time, recommendation, model_version, nitrogen_kg_ha, product, product_kg_ha)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // The farm's series from `latest` (one row per series, written with its readings), each
    // one's readings over [from, to) by its primary key range: the farm's older readings are not
    // read and no index beyond the key is needed. Grouped by `l.device`, the key's order, so no
    // sort. A flag is counted by its quoted name in the stored list (JSON of known flags, `[]`
    // when clean), looked for in flagged readings only; a flag listed twice counts once, as its
    // bit does in InfluxDB.
    this.qualityStmt = db.prepare(
      `SELECT l.device AS device, COUNT(*) AS readings, SUM(r.flags <> '[]') AS flagged,
              ${QUALITY_FLAGS.map((f, i) => `SUM(CASE WHEN r.flags <> '[]' THEN instr(r.flags, '"${f}"') > 0 ELSE 0 END) AS f${i}`).join(',\n              ')}
       FROM latest l CROSS JOIN readings r
       WHERE l.farm = ? AND r.farm = l.farm AND r.device = l.device AND r.metric = l.metric
         AND r.time >= ? AND r.time < ?
       GROUP BY l.device ORDER BY l.device`,
    );
    // A resent part changes nothing (no row changed: counted as a duplicate); a part sent again
    // with other numbers replaces itself, as it does in InfluxDB. Labels are a function of the key.
    this.upsertAggregate = db.prepare(
      `INSERT INTO aggregates (farm, device, metric, hour, part, unit, min, max, mean, count, field, kit)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (farm, device, metric, hour, part) DO UPDATE SET unit = excluded.unit,
         min = excluded.min, max = excluded.max, mean = excluded.mean, count = excluded.count
       WHERE unit IS NOT excluded.unit OR min IS NOT excluded.min OR max IS NOT excluded.max
         OR mean IS NOT excluded.mean OR count IS NOT excluded.count`,
    );
  }

  /** Synchronous core, so a caller can run it inside its own transaction. */
  writeReadingsSync(readings: readonly FarmReading[]): ApplyResult {
    const { ok, rejected } = partition(readings, readingProblem);
    const now = this.now();
    // Readings of hours past the raw period go into the hourly rows; those of hours the long-term
    // period has passed too are set aside (retention would delete them at once).
    const rawCut = this.retention.rawCutoff(now);
    const longCut = this.retention.longCutoff(now);
    let expired = 0;
    let late = 0;
    if (rejected.length > 0)
      this.log?.warn(
        { rejected: rejected.length, reason: rejected[0] },
        'readings that cannot be stored were set aside',
      );
    try {
      this.labels.refresh(ok.map((r) => [r.farm, r.device] as const));
      let applied = 0;
      let oldestRaw = Infinity;
      let oldestLate = Infinity;
      // The newest new reading of each series; `latest` is written once per series, not per row.
      const newest = new Map<string, { r: FarmReading; flags: string }>();
      for (const r of ok) {
        if (r.time < longCut) {
          expired++;
          continue;
        }
        const { field, kit } = this.labels.at(r.farm, r.device, r.time);
        if (r.time < rawCut) {
          // Not among the raw readings (nor in `latest`), as in InfluxDB. A reading still held
          // raw (its hour not rolled up yet) is a duplicate; so is a resent late reading.
          if (
            this.rawExists.get(r.farm, r.device, r.metric, r.time) === undefined &&
            this.insertLate.run(
              r.farm,
              r.device,
              r.metric,
              hourFloor(r.time),
              field ?? '',
              kit ?? '',
              r.time,
              r.value,
              r.value,
              r.value,
            ).changes === 1
          ) {
            applied++;
            late++;
            if (r.time < oldestLate) oldestLate = r.time;
          }
          continue;
        }
        const flags = r.flags.length === 0 ? '[]' : JSON.stringify(r.flags);
        if (
          this.insert.run(r.farm, r.device, r.metric, r.time, r.value, r.unit, flags, field, kit).changes ===
          1
        ) {
          applied++;
          if (r.time < oldestRaw) oldestRaw = r.time;
          const key = `${r.farm}\u0000${r.device}\u0000${r.metric}`;
          const prev = newest.get(key);
          if (!prev || prev.r.time <= r.time) newest.set(key, { r, flags });
        }
      }
      for (const { r, flags } of newest.values())
        this.upsertLatest.run(r.farm, r.device, r.metric, r.time, r.value, r.unit, flags);
      if (oldestRaw < Infinity) this.retention.noteWritten('raw', oldestRaw);
      if (oldestLate < Infinity) this.retention.noteWritten('hourly', hourFloor(oldestLate));
      if (expired > 0)
        this.log?.warn(
          { expired, reason: 'older than the long-term retention period' },
          'readings that cannot be stored were set aside',
        );
      if (late > 0)
        this.log?.debug(
          { late },
          'readings older than the raw retention period were stored in the hourly aggregates only',
        );
      return {
        applied,
        duplicates: ok.length - expired - applied,
        rejected: rejected.length + expired,
      };
    } catch (e) {
      this.labels.forget();
      throw e;
    }
  }

  async writeReadings(readings: readonly FarmReading[]): Promise<ApplyResult> {
    return this.db.transaction(() => this.writeReadingsSync(readings))();
  }

  async latest(farms: readonly string[]): Promise<LatestRow[]> {
    if (farms.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT farm, device, metric, value, unit, time, flags FROM latest WHERE farm IN (${farms.map(() => '?').join(',')}) ORDER BY farm, device, metric`,
      )
      .all(...farms) as (Omit<LatestRow, 'flags'> & { flags: string })[];
    return rows.map((r) => ({ ...r, flags: JSON.parse(r.flags) as string[] }));
  }

  async count(farm: string, device?: string): Promise<number> {
    const row =
      device !== undefined
        ? this.db
            .prepare('SELECT COUNT(*) AS n FROM readings WHERE farm = ? AND device = ?')
            .get(farm, device)
        : this.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE farm = ?').get(farm);
    return (row as { n: number }).n;
  }

  async readings(q: ReadingQuery): Promise<ReadingRow[]> {
    const { from, to, limit, empty } = checkRange(q);
    if (empty) return [];
    const w = whereOf(
      [
        ['farm', q.farm],
        ['metric', q.metric],
        ['field', q.field],
        ['device', q.device],
      ],
      from,
      to,
    );
    const rows = this.db
      .prepare(
        `SELECT farm, device, metric, value, unit, time, flags, field, kit FROM readings
         WHERE ${w.sql} ORDER BY time, device LIMIT ?`,
      )
      .all(...w.args, limit) as (Omit<ReadingRow, 'flags'> & { flags: string })[];
    return rows.map((r) => ({ ...r, flags: JSON.parse(r.flags) as string[] }));
  }

  async quality(q: QualityQuery): Promise<QualityRow[]> {
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const rows = this.qualityStmt.all(q.farm, from, to) as ({
      device: string;
      readings: number;
      flagged: number;
    } & Record<string, number>)[];
    return rows.map((r) => {
      const flags: Record<string, number> = {};
      QUALITY_FLAGS.forEach((f, i) => {
        const n = r[`f${i}`]!;
        if (n > 0) flags[f] = n;
      });
      return { device: r.device, readings: r.readings, flagged: r.flagged, flags };
    });
  }

  async newest(q: NewestQuery): Promise<ReadingRow[]> {
    const perDevice = checkPerDevice(q.perDevice);
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    // Each of the farm's series of the metric (from `latest`), its newest rows by a backward walk
    // of its primary key range that stops after perDevice.
    const series = this.db
      .prepare('SELECT device FROM latest WHERE farm = ? AND metric = ? ORDER BY device')
      .pluck()
      .all(q.farm, q.metric) as string[];
    const rows = this.db.prepare(
      `SELECT farm, device, metric, value, unit, time, flags, field, kit FROM readings
       WHERE farm = ? AND device = ? AND metric = ? AND time >= ? AND time < ?
         ${q.unit !== undefined ? 'AND unit = ?' : ''}
       ORDER BY time DESC LIMIT ?`,
    );
    const unit = q.unit !== undefined ? [q.unit] : [];
    return series.flatMap((device) =>
      (
        rows.all(q.farm, device, q.metric, from, to, ...unit, perDevice) as (Omit<ReadingRow, 'flags'> & {
          flags: string;
        })[]
      )
        .reverse()
        .map((r) => ({ ...r, flags: JSON.parse(r.flags) as string[] })),
    );
  }

  async rollups(q: RollupQuery): Promise<RollupRow[]> {
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const [s, e] = [hourCeil(from), hourCeil(to)];
    const raw = whereOf(rollupFilters(q), s, e);
    const agg = whereOf(rollupFilters(q), s, e, 'hour');
    // Raw readings per hour beside the hours retention rolled up (and the readings delivered after
    // the raw period) and the gateways' parts, merged per device, field and hour: the mean
    // weighted by count. Retention moves whole hours in one transaction, so an hour's readings are
    // counted once, raw or rolled up. An hour from one source keeps its own mean: a rolled-up
    // hour's is the AVG the raw readings gave.
    return this.db
      .prepare(
        `SELECT farm, field, device, kit, metric, hour, MIN(min) AS min, MAX(max) AS max,
                CASE WHEN COUNT(*) = 1 THEN MAX(mean) ELSE SUM(mean * count) / SUM(count) END AS mean,
                SUM(count) AS count
         FROM (
           SELECT farm, field, device, kit, metric, time - (time % 3600000) AS hour,
                  MIN(value) AS min, MAX(value) AS max, AVG(value) AS mean, COUNT(*) AS count
           FROM readings WHERE ${raw.sql} GROUP BY device, field, kit, hour
           UNION ALL
           SELECT farm, nullif(field, '') AS field, device, nullif(kit, '') AS kit, metric, hour, min, max,
                  mean, count
           FROM readings_hourly WHERE ${agg.sql}
           UNION ALL
           SELECT farm, field, device, kit, metric, hour, min, max, mean, count
           FROM aggregates WHERE ${agg.sql}
         )
         GROUP BY device, field, kit, hour ORDER BY hour, device, field`,
      )
      .all(...raw.args, ...agg.args, ...agg.args) as RollupRow[];
  }

  async writeAggregates(aggregates: readonly FarmAggregate[]): Promise<ApplyResult> {
    const checked = partition(aggregates, aggregateProblem);
    const { rejected } = checked;
    // Hours the long-term period has passed are set aside (retention would delete them at once).
    const longCut = this.retention.longCutoff();
    const ok = checked.ok.filter((a) => a.hour >= longCut);
    const expired = checked.ok.length - ok.length;
    if (rejected.length > 0 || expired > 0)
      this.log?.warn(
        {
          rejected: rejected.length,
          expired,
          reason: rejected[0] ?? 'older than the long-term retention period',
        },
        'hourly aggregates that cannot be stored were set aside',
      );
    try {
      let applied = 0;
      // One transaction with the labels it records, so a failure leaves neither.
      this.db.transaction(() => {
        this.labels.refresh(ok.map((a) => [a.farm, a.device] as const));
        for (const a of ok) {
          const { field, kit } = this.labels.at(a.farm, a.device, a.hour);
          applied += this.upsertAggregate.run(
            a.farm,
            a.device,
            a.metric,
            a.hour,
            canonicalPart(a.part),
            a.unit,
            a.min,
            a.max,
            a.mean,
            a.count,
            field,
            kit,
          ).changes;
        }
        if (ok.length > 0) this.retention.noteWritten('aggregates', Math.min(...ok.map((a) => a.hour)));
      })();
      return { applied, duplicates: ok.length - applied, rejected: rejected.length + expired };
    } catch (e) {
      this.labels.forget();
      throw e;
    }
  }

  async gatewayHours(q: RollupQuery): Promise<GatewayHourRow[]> {
    const { from, to, empty } = checkRange(q);
    if (empty) return [];
    const w = whereOf(rollupFilters(q), hourCeil(from), hourCeil(to), 'hour');
    return this.db
      .prepare(
        `SELECT farm, field, device, kit, metric, hour, MIN(unit) AS unit, MIN(min) AS min, MAX(max) AS max,
                CASE WHEN COUNT(*) = 1 THEN MAX(mean) ELSE SUM(mean * count) / SUM(count) END AS mean,
                SUM(count) AS count
         FROM aggregates WHERE ${w.sql}
         GROUP BY device, field, kit, hour ORDER BY hour, device, field`,
      )
      .all(...w.args) as GatewayHourRow[];
  }

  async writeIndexStats(stats: readonly IndexStat[]): Promise<ApplyResult> {
    const { ok, rejected } = partition(stats, indexStatProblem);
    this.db.transaction(() => {
      for (const s of ok)
        this.upsertIndexStat.run(
          s.farm,
          s.field,
          s.zone ?? '',
          s.index,
          s.time,
          s.scene,
          s.mean,
          s.median,
          s.p10,
          s.p90,
          s.std,
          s.pixels,
          s.validFraction,
        );
    })();
    return { applied: ok.length, duplicates: 0, rejected: rejected.length };
  }

  async indexStats(q: IndexStatQuery): Promise<IndexStat[]> {
    const { from, to, limit, empty } = checkRange(q);
    if (empty) return [];
    const w = whereOf(
      [
        ['farm', q.farm],
        ['field', q.field],
        ['index_name', q.index],
      ],
      from,
      to,
    );
    const rows = this.db
      .prepare(
        `SELECT farm, field, zone, index_name AS "index", time, scene, mean, median, p10, p90, std, pixels,
                valid_fraction AS validFraction
         FROM index_stats WHERE ${w.sql} ORDER BY time, field, zone, index_name LIMIT ?`,
      )
      .all(...w.args, limit) as (Omit<IndexStat, 'zone'> & { zone: string })[];
    return rows.map(({ zone, ...r }) => (zone === '' ? r : { ...r, zone }));
  }

  async writeRecommendationOutputs(outputs: readonly RecommendationOutput[]): Promise<ApplyResult> {
    const { ok, rejected } = partition(outputs, recommendationProblem);
    this.db.transaction(() => {
      for (const o of ok)
        this.upsertRecommendation.run(
          o.farm,
          o.field,
          o.zone,
          o.model,
          o.time,
          o.recommendation,
          o.modelVersion,
          o.nitrogenKgHa,
          o.product ?? null,
          o.productKgHa ?? null,
        );
    })();
    return { applied: ok.length, duplicates: 0, rejected: rejected.length };
  }

  async recommendationOutputs(q: RangeQuery): Promise<RecommendationOutput[]> {
    const { from, to, limit, empty } = checkRange(q);
    if (empty) return [];
    const w = whereOf(
      [
        ['farm', q.farm],
        ['field', q.field],
      ],
      from,
      to,
    );
    const rows = this.db
      .prepare(
        `SELECT farm, field, zone, recommendation, model, model_version AS modelVersion, time,
                nitrogen_kg_ha AS nitrogenKgHa, product, product_kg_ha AS productKgHa
         FROM recommendation_outputs WHERE ${w.sql} ORDER BY time, field, zone, model LIMIT ?`,
      )
      .all(...w.args, limit) as (RecommendationOutput & {
      product: string | null;
      productKgHa: number | null;
    })[];
    return rows.map(({ product, productKgHa, ...r }) => ({
      ...r,
      ...(product === null ? {} : { product }),
      ...(productKgHa === null ? {} : { productKgHa }),
    }));
  }

  async health(): Promise<StoreHealth> {
    this.db.prepare('SELECT 1').get();
    return { ok: true, kind: 'sqlite' };
  }

  /**
   * Runs retention now until nothing is left to do (in passes, as the timer does): raw readings
   * past the raw period rolled up, rows past the long-term period deleted.
   */
  runRetention(): Promise<RunResult> {
    return this.retention.run();
  }

  /** One pass of retention of about `budgetMs`, synchronously (for tests and diagnostics). */
  retentionPass(budgetMs?: number): PassResult {
    return this.retention.pass(budgetMs);
  }

  /** Rows in the hourly table: rolled-up hours and readings delivered after the raw period. */
  hourlyRows(farm: string): number {
    return (
      this.db.prepare('SELECT COUNT(*) AS n FROM readings_hourly WHERE farm = ?').get(farm) as { n: number }
    ).n;
  }

  async close(): Promise<void> {
    await this.retention.stop();
  }
}

/** The filters of a roll-up query, as whereOf takes them. */
const rollupFilters = (q: RollupQuery): [column: string, value: string | undefined][] => [
  ['farm', q.farm],
  ['metric', q.metric],
  ['field', q.field],
  ['device', q.device],
];

/** A WHERE clause over [from, to) and the filters that are set (column names are ours, values bound). */
function whereOf(
  filters: [column: string, value: string | undefined][],
  from: number,
  to: number,
  timeColumn = 'time',
): { sql: string; args: (string | number)[] } {
  const set = filters.filter((f): f is [string, string] => f[1] !== undefined);
  return {
    sql: [...set.map(([c]) => `${c} = ?`), `${timeColumn} >= ?`, `${timeColumn} < ?`].join(' AND '),
    args: [...set.map(([, v]) => v), from, to],
  };
}
