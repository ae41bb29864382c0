// The time-series store behind the server. Everything above this interface (sync endpoint, API,
// live stream) is unaware of which adapter holds the readings: the embedded SQLite default or
// InfluxDB 1.x. tests/contract/ runs one suite against both.
import type { HourlyAggregate } from '../../protocol/sync.ts';
import type { Reading } from '../../protocol/telemetry.ts';

export interface FarmReading extends Reading {
  farm: string;
}

/**
 * What a write did. `applied + duplicates + rejected` is the number of rows handed in.
 * `duplicates` are rows recognised as already held: the SQLite store knows this exactly; the
 * InfluxDB store overwrites a held point with itself (same key, same value — the stored effect
 * is the same) and so counts only repeats within one call. `rejected` rows cannot be stored at
 * all (a time outside 1970…2261, a non-finite number; with InfluxDB, older than the long-term
 * retention period) and
 * are logged; they never make the whole call fail, so one bad row cannot block a gateway's
 * outbox.
 */
export interface ApplyResult {
  applied: number;
  duplicates: number;
  rejected: number;
}

export interface LatestRow {
  farm: string;
  device: string;
  metric: string;
  value: number;
  unit: string;
  time: number;
  flags: string[];
}

/** A stored reading with the field and kit its device had at the reading's time. */
export interface ReadingRow extends LatestRow {
  field: string | null;
  kit: string | null;
}

/**
 * An hourly aggregate a gateway sent in place of raw readings (its offline backlog outgrew its
 * disk budget): those readings exist nowhere else. Keyed by (farm, device, metric, hour, part):
 * an hour may come in several parts, and each counts; `part` is a decimal number ("007" is "7").
 */
export interface FarmAggregate extends HourlyAggregate {
  farm: string;
}

/** Min, max, mean and count of one device's metric over one UTC hour. */
export interface RollupRow {
  farm: string;
  field: string | null;
  device: string;
  kit: string | null;
  metric: string;
  /** Start of the hour, epoch ms. */
  hour: number;
  min: number;
  max: number;
  mean: number;
  count: number;
}

/** Zonal statistics of one vegetation index over a field (or one management zone) for a scene. */
export interface IndexStat {
  farm: string;
  field: string;
  /** Management zone id; absent for the whole field. */
  zone?: string;
  /** Index name as the imagery pipeline names it: ndvi, ndre, gndvi, savi, evi, cire … */
  index: string;
  /** Acquisition time of the scene, epoch ms. */
  time: number;
  scene: string;
  mean: number;
  median: number;
  p10: number;
  p90: number;
  std: number;
  /** Valid pixels the statistics were computed from. */
  pixels: number;
  /** Valid pixels / all pixels of the field or zone, 0…1. */
  validFraction: number;
}

/** One zone's output of a fertilization recommendation (rates in kg/ha, as stored). */
export interface RecommendationOutput {
  farm: string;
  field: string;
  zone: string;
  /** Recommendation id (the document lives in the server's SQL tables). */
  recommendation: string;
  model: string;
  modelVersion: string;
  /** When the recommendation was computed, epoch ms. */
  time: number;
  nitrogenKgHa: number;
  product?: string;
  productKgHa?: number;
}

/** A farm's data over [from, to) (epoch ms), optionally one field. */
export interface RangeQuery {
  farm: string;
  from: number;
  to: number;
  field?: string;
}

export interface ReadingQuery extends RangeQuery {
  metric: string;
  device?: string;
  /** At most this many rows, oldest first (default and maximum: MAX_QUERY_ROWS). */
  limit?: number;
}

export interface RollupQuery extends RangeQuery {
  metric: string;
  device?: string;
}

/** One hour of a device's metric that a gateway sent as aggregates, its parts merged. */
export interface GatewayHourRow extends RollupRow {
  unit: string;
}

/** A farm's raw readings over [from, to) (epoch ms), for their quality figures. */
export interface QualityQuery {
  farm: string;
  from: number;
  to: number;
}

/**
 * One device's raw readings over a quality query's range, all metrics together: how many, how many
 * carried a quality flag, and how many carried each flag (only flags that occurred; a reading with
 * two flags counts once in `flagged` and once under each flag).
 */
export interface QualityRow {
  device: string;
  readings: number;
  flagged: number;
  /** Quality flag → readings that carried it. */
  flags: Record<string, number>;
}

/** Each device's newest readings of a farm's metric over [from, to), at most `perDevice` of each. */
export interface NewestQuery {
  farm: string;
  metric: string;
  from: number;
  to: number;
  /** 1…NEWEST_MAX_PER_DEVICE. */
  perDevice: number;
  /** Only readings in this unit (as stored). */
  unit?: string;
}

export interface IndexStatQuery extends RangeQuery {
  index?: string;
}

export interface StoreHealth {
  ok: boolean;
  /** Why not, in words an operator can act on. */
  detail?: string;
  kind?: 'sqlite' | 'influx';
  /** Points waiting to be written (a bounded queue; see `maxQueuedPoints`). */
  queuedPoints?: number;
}

export interface ReadingStore {
  /** Stores readings idempotently: a reading already held (farm, device, metric, time) is not stored twice. */
  writeReadings(readings: readonly FarmReading[]): Promise<ApplyResult>;
  /** The latest value of every metric of the given farms' devices. */
  latest(farms: readonly string[]): Promise<LatestRow[]>;
  /** How many readings are held for a farm or one of its devices (for tests and diagnostics). */
  count(farm: string, device?: string): Promise<number>;
  /** A metric's readings over a range, for a farm, a field or a device, oldest first. */
  readings(q: ReadingQuery): Promise<ReadingRow[]>;
  /**
   * Per device of a farm, the quality figure of its raw readings (every metric) over [from, to),
   * the readings readings() would return, counted by the store for the whole farm at once (not a
   * query per device): a device with no reading in the range has no row. Ordered by device.
   */
  quality(q: QualityQuery): Promise<QualityRow[]>;
  /**
   * Per device of a farm, its newest `perDevice` readings of a metric over [from, to) (only those
   * in `unit` if given), for the whole farm at once; ordered by device, then oldest first.
   */
  newest(q: NewestQuery): Promise<ReadingRow[]>;
  /**
   * Hourly min/max/mean/count per device for the hours that start in [from, to): the raw
   * readings and the gateways' aggregates together, one row per device (and field) and hour.
   */
  rollups(q: RollupQuery): Promise<RollupRow[]>;
  /**
   * Stores a gateway's hourly aggregates, keyed by (farm, device, metric, hour, part): a resent
   * part replaces itself, parts of one hour are kept apart and all count.
   */
  writeAggregates(aggregates: readonly FarmAggregate[]): Promise<ApplyResult>;
  /** The hours that start in [from, to) that gateways sent as aggregates, parts merged, oldest first. */
  gatewayHours(q: RollupQuery): Promise<GatewayHourRow[]>;
  /** Stores index statistics, keyed by (farm, field, zone, index, time); a resend replaces. */
  writeIndexStats(stats: readonly IndexStat[]): Promise<ApplyResult>;
  indexStats(q: IndexStatQuery): Promise<IndexStat[]>;
  /** Stores recommendation outputs, keyed by (farm, field, zone, model, time); a resend replaces. */
  writeRecommendationOutputs(outputs: readonly RecommendationOutput[]): Promise<ApplyResult>;
  recommendationOutputs(q: RangeQuery): Promise<RecommendationOutput[]>;
  /** Whether the store can take writes now; `detail` says why not. */
  health(): Promise<StoreHealth>;
  /** Writes what is queued (bounded by the write timeout) and releases connections and timers. */
  close(): Promise<void>;
}

export const HOUR_MS = 3_600_000;
/** The latest time InfluxDB can hold (int64 nanoseconds end in April 2262); both stores refuse later. */
export const MAX_TIME_MS = Date.UTC(2262, 0, 1);
export const MAX_QUERY_ROWS = 100_000;
/** The most readings per device newest() returns. */
export const NEWEST_MAX_PER_DEVICE = 100;
