// Chart series for the farmer's charts: the last 24 h as raw readings, 7 days hourly with each
// hour's min and max, and the season (since planting, at most a year; 180 days when the field has
// no planting date) daily. A level (temperature, moisture) is charted as the mean of its hour or
// day; an amount per reading (rain, `summed` in protocol/metrics.ts) as the total of its hour or
// day — mm per hour, mm per day — without a min–max band (the largest single reading says little
// beside a total). Days are the farm's local days (Asia/Tokyo by default: 00:00–24:00 JST, not
// 09:00–09:00), and the season starts at local midnight of the planting date; the store's hours
// are UTC hours, so in a zone whose offset is not whole hours a day takes the hours that start in
// it. Built on the ReadingStore's range, rollup and gateway-hour queries, so the same code serves
// SQLite and InfluxDB. Hours a gateway sent as aggregates in place of raw readings (an offline
// backlog over its budget) are in the store's rollups, so the hourly and daily charts count them;
// the 24 h chart draws their means among the raw points.
import type { Series, SeriesRange } from '../../protocol/views.ts';
import { isMetricName, isSummed, METRICS } from '../../protocol/metrics.ts';
import { DEFAULT_TIMEZONE, dateToDay, localDay, startOfLocalDay } from '../../edge/rules/local-time.ts';
import { HOUR_MS, type ReadingStore } from '../storage/types.ts';

const DAY_MS = 24 * HOUR_MS;
/** Above this many raw points a 24 h chart is drawn from hourly rollups instead. */
export const MAX_RAW_POINTS = 20_000;
/**
 * Totals are rounded to this many decimals: a store's hour holds a mean and a count, and their
 * product carries the float error of the mean (0.2 + 0.4 + 0.6 mm would read 1.2000000000000002).
 */
const TOTAL_DECIMALS = 6;

export interface SeriesRequest {
  farm: string;
  device: string;
  metric: string;
  range: SeriesRange;
  /** YYYY-MM-DD of the device's field, for the season: a date in the farm's zone. */
  plantingDate: string | null;
  /** The farm's IANA time zone, whose days the season's points are (default Asia/Tokyo). */
  timeZone?: string;
  now: number;
}

/**
 * The start of the range (epoch ms). The season starts at a local midnight in `timeZone`: the
 * planting date's, or — without one, or more than a year back — that of the day 180 (366) days ago,
 * so its first day is a whole day.
 */
export function rangeStart(
  range: SeriesRange,
  plantingDate: string | null,
  now: number,
  timeZone: string = DEFAULT_TIMEZONE,
): number {
  if (range === '24h') return now - DAY_MS;
  if (range === '7d') return now - 7 * DAY_MS;
  const day = plantingDate ? dateToDay(plantingDate) : undefined;
  const planted = day === undefined ? NaN : startOfLocalDay(timeZone, day);
  const start =
    Number.isFinite(planted) && planted < now ? Math.max(planted, now - 366 * DAY_MS) : now - 180 * DAY_MS;
  if (start === planted) return planted;
  // The first local midnight at or after `start`.
  const midnight = startOfLocalDay(timeZone, localDay(timeZone, start));
  return midnight >= start ? midnight : startOfLocalDay(timeZone, localDay(timeZone, start) + 1);
}

/** One device's metric over a range, as uPlot columns (times in epoch seconds). */
export async function seriesOf(store: ReadingStore, q: SeriesRequest): Promise<Series> {
  const timeZone = q.timeZone ?? DEFAULT_TIMEZONE;
  const from = rangeStart(q.range, q.plantingDate, q.now, timeZone);
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
  // A device may report under two fields over the range (moved), and a day holds many hours:
  // merged per bucket — a UTC hour, or the local day its hour starts in.
  const daily = q.range === 'season';
  const dayStarts = new Map<number, number>();
  const bucketOf = (hour: number): number => {
    if (!daily) return hour;
    const day = localDay(timeZone, hour);
    let start = dayStarts.get(day);
    if (start === undefined) dayStarts.set(day, (start = startOfLocalDay(timeZone, day)));
    return start;
  };
  const byBucket = new Map<number, { min: number; max: number; sum: number; count: number }>();
  for (const h of hours) {
    const b = bucketOf(h.hour);
    const acc = byBucket.get(b) ?? { min: Infinity, max: -Infinity, sum: 0, count: 0 };
    acc.min = Math.min(acc.min, h.min);
    acc.max = Math.max(acc.max, h.max);
    acc.sum += h.mean * h.count;
    acc.count += h.count;
    byBucket.set(b, acc);
  }
  const buckets = [...byBucket.entries()].sort((a, b) => a[0] - b[0]);
  const series = {
    ...base,
    unit,
    resolution: daily ? ('day' as const) : ('hour' as const),
    t: buckets.map(([b]) => b / 1000),
  };
  if (isSummed(q.metric)) {
    const scale = 10 ** TOTAL_DECIMALS;
    return { ...series, v: buckets.map(([, a]) => Math.round(a.sum * scale) / scale) };
  }
  return {
    ...series,
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
  if (hour) return hour.unit;
  // Only rolled-up hours in range (e.g. readings InfluxDB kept past its raw period): the metric's
  // storage unit, which every stored reading of a known metric has.
  return isMetricName(key.metric) ? METRICS[key.metric].unit : '';
}
