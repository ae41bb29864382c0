// Chart series for the farmer's charts: the last 24 h as raw readings, 7 days as hourly means with
// their min and max, and the season (since planting, at most a year; 180 days when the field has
// no planting date) as daily means. Built on the ReadingStore's range and rollup queries, so the
// same code serves SQLite and InfluxDB.
import type { Series, SeriesRange } from '../../protocol/views.ts';
import { HOUR_MS, type ReadingStore } from '../storage/types.ts';
import type { Db } from '../../runtime/sqlite.ts';

const DAY_MS = 24 * HOUR_MS;
/** Above this many raw points a 24 h chart is drawn from hourly rollups instead. */
export const MAX_RAW_POINTS = 20_000;

export interface SeriesRequest {
  farm: string;
  device: string;
  metric: string;
  range: SeriesRange;
  /** YYYY-MM-DD of the device's field, for the season. */
  plantingDate: string | null;
  now: number;
  /**
   * Hourly aggregates the gateway sent instead of raw readings when its offline backlog outgrew
   * its budget (see `gatewayHours`): those readings exist nowhere else, so the hourly and daily
   * charts count them in beside the store's rollups, and the 24 h chart draws their means.
   */
  gatewayHours?: (from: number, to: number) => readonly GatewayHour[];
}

export interface GatewayHour {
  hour: number;
  unit: string;
  min: number;
  max: number;
  mean: number;
  count: number;
}

/** The gateway's hourly aggregates of one device's metric over [from, to), from the server's SQL tables. */
export function gatewayHours(
  db: Db,
  farm: string,
  device: string,
  metric: string,
): (from: number, to: number) => GatewayHour[] {
  const hours = db.prepare(
    `SELECT hour, unit, min, max, mean, count FROM aggregates
     WHERE farm = ? AND device = ? AND metric = ? AND hour >= ? AND hour < ? ORDER BY hour`,
  );
  return (from, to) => hours.all(farm, device, metric, from - (from % HOUR_MS), to) as GatewayHour[];
}

/** The start of the range (epoch ms). */
export function rangeStart(range: SeriesRange, plantingDate: string | null, now: number): number {
  if (range === '24h') return now - DAY_MS;
  if (range === '7d') return now - 7 * DAY_MS;
  const planted = plantingDate ? Date.parse(`${plantingDate}T00:00:00Z`) : NaN;
  if (Number.isFinite(planted) && planted < now) return Math.max(planted, now - 366 * DAY_MS);
  return now - 180 * DAY_MS;
}

/** One device's metric over a range, as uPlot columns (times in epoch seconds). */
export async function seriesOf(store: ReadingStore, q: SeriesRequest): Promise<Series> {
  const from = rangeStart(q.range, q.plantingDate, q.now);
  const to = q.now + 1;
  const base = { device: q.device, metric: q.metric, range: q.range, from, to };
  if (q.range === '24h') {
    const rows = await store.readings({
      farm: q.farm,
      device: q.device,
      metric: q.metric,
      from,
      to,
      limit: MAX_RAW_POINTS + 1,
    });
    if (rows.length <= MAX_RAW_POINTS) {
      // Hours whose raw readings the gateway replaced by aggregates (an offline backlog over its
      // budget) are drawn as their means at mid-hour among the raw points: those readings exist
      // nowhere else.
      const replaced = (q.gatewayHours?.(from, to) ?? []).map((h) => ({
        time: h.hour + HOUR_MS / 2,
        value: h.mean,
        unit: h.unit,
      }));
      const points = replaced.length ? [...rows, ...replaced].sort((a, b) => a.time - b.time) : rows;
      return {
        ...base,
        unit: rows[0]?.unit ?? replaced[0]?.unit ?? '',
        resolution: 'raw',
        t: points.map((r) => r.time / 1000),
        v: points.map((r) => r.value),
      };
    }
  }
  const stored = await store.rollups({ farm: q.farm, device: q.device, metric: q.metric, from, to });
  const fromGateway = q.gatewayHours?.(from, to) ?? [];
  const hours = [...stored, ...fromGateway];
  const first = stored.length
    ? (await store.readings({ farm: q.farm, device: q.device, metric: q.metric, from, to, limit: 1 }))[0]
    : undefined;
  const unit = first?.unit ?? fromGateway[0]?.unit ?? '';
  // A device may report under two fields over the range (moved); merge per hour.
  const byBucket = new Map<number, { min: number; max: number; sum: number; count: number }>();
  const bucketMs = q.range === 'season' ? DAY_MS : HOUR_MS;
  for (const h of hours) {
    const b = h.hour - (h.hour % bucketMs);
    const acc = byBucket.get(b) ?? { min: Infinity, max: -Infinity, sum: 0, count: 0 };
    acc.min = Math.min(acc.min, h.min);
    acc.max = Math.max(acc.max, h.max);
    acc.sum += h.mean * h.count;
    acc.count += h.count;
    byBucket.set(b, acc);
  }
  const buckets = [...byBucket.entries()].sort((a, b) => a[0] - b[0]);
  return {
    ...base,
    unit,
    resolution: q.range === 'season' ? 'day' : 'hour',
    t: buckets.map(([b]) => b / 1000),
    v: buckets.map(([, a]) => a.sum / a.count),
    min: buckets.map(([, a]) => a.min),
    max: buckets.map(([, a]) => a.max),
  };
}
