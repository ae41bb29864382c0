// Chart series for the farmer's charts: the last 24 h as raw readings, 7 days as hourly means with
// their min and max, and the season (since planting, at most a year; 180 days when the field has
// no planting date) as daily means. Built on the ReadingStore's range and rollup queries, so the
// same code serves SQLite and InfluxDB.
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
      return {
        ...base,
        unit: rows[0]?.unit ?? '',
        resolution: 'raw',
        t: rows.map((r) => r.time / 1000),
        v: rows.map((r) => r.value),
      };
    }
  }
  const hours = await store.rollups({ farm: q.farm, device: q.device, metric: q.metric, from, to });
  const unit = hours.length
    ? ((await store.readings({ farm: q.farm, device: q.device, metric: q.metric, from, to, limit: 1 }))[0]
        ?.unit ?? '')
    : '';
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
