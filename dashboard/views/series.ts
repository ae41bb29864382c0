// Chart series for the farmer's charts: the last 24 h as raw readings, 7 days as hourly means with
// their min and max, and the season (since planting, at most a year; 180 days when the field has
// no planting date) as daily means. Built on the ReadingStore's range, rollup and gateway-hour
// queries, so the same code serves SQLite and InfluxDB. Hours a gateway sent as aggregates in
// place of raw readings (an offline backlog over its budget) are in the store's rollups, so the
// hourly and daily charts count them; the 24 h chart draws their means among the raw points.
import type { Series, SeriesRange } from '../../protocol/views.ts';
import { HOUR_MS, type ReadingStore } from '../storage/types.ts';

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
  const key = { farm: q.farm, device: q.device, metric: q.metric };
  if (q.range === '24h') {
    const [rows, gatewayHours] = await Promise.all([
      store.readings({ ...key, from, to, limit: MAX_RAW_POINTS + 1 }),
      // From the start of the first hour: a replaced hour that began before `from` is drawn too.
      store.gatewayHours({ ...key, from: from - (from % HOUR_MS), to }),
    ]);
    if (rows.length <= MAX_RAW_POINTS) {
      // Hours whose raw readings the gateway replaced by aggregates are drawn as their means at
      // mid-hour among the raw points: those readings exist nowhere else.
      const replaced = gatewayHours.map((h) => ({ time: h.hour + HOUR_MS / 2, value: h.mean, unit: h.unit }));
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
  const hours = await store.rollups({ ...key, from, to });
  const unit = hours.length ? await unitOf(store, key, from, to, hours[0]!.hour) : '';
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

/**
 * The unit of a device's metric over a range that has rollups: a raw reading's, or, when the
 * gateway replaced every raw reading of the range, that of the first hour (then a gateway's).
 */
async function unitOf(
  store: ReadingStore,
  key: { farm: string; device: string; metric: string },
  from: number,
  to: number,
  firstHour: number,
): Promise<string> {
  const [raw] = await store.readings({ ...key, from, to, limit: 1 });
  if (raw) return raw.unit;
  const [hour] = await store.gatewayHours({ ...key, from: firstHour, to: firstHour + HOUR_MS });
  return hour?.unit ?? '';
}
