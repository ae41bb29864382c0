// Small numerics over sorted series: windows by binary search, the latest usable reading, a
// least-squares trend, medians, and hourly bins (mean, min, max, sum) keyed by UTC hour.
import type { Series } from './context.ts';
import { HOUR_MS } from './local-time.ts';

/** Index of the first element of the sorted `times` that is ≥ t. */
export function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface Point {
  time: number;
  value: number;
}

/** The points of a series in [from, to], skipping flagged readings unless `includeFlagged`. */
export function pointsIn(s: Series | undefined, from: number, to: number, includeFlagged = false): Point[] {
  if (!s) return [];
  const out: Point[] = [];
  for (let i = lowerBound(s.time, from); i < s.time.length && s.time[i]! <= to; i++) {
    if (includeFlagged || !s.flagged[i]) out.push({ time: s.time[i]!, value: s.value[i]! });
  }
  return out;
}

/** The last unflagged point at or before `to`, if any. */
export function latestPoint(s: Series | undefined, to: number): Point | undefined {
  if (!s) return undefined;
  for (let i = lowerBound(s.time, to + 1) - 1; i >= 0; i--) {
    if (!s.flagged[i]) return { time: s.time[i]!, value: s.value[i]! };
  }
  return undefined;
}

/** Least-squares slope of value against time, per hour; undefined for fewer than 2 distinct times. */
export function slopePerHour(points: readonly Point[]): number | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  // Centre times on the first point (in hours) to keep the sums well conditioned.
  const t0 = points[0]!.time;
  let st = 0;
  let sv = 0;
  for (const p of points) {
    st += (p.time - t0) / HOUR_MS;
    sv += p.value;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    const dt = (p.time - t0) / HOUR_MS - mt;
    num += dt * (p.value - mv);
    den += dt * dt;
  }
  if (den === 0) return undefined;
  const slope = num / den;
  return Number.isFinite(slope) ? slope : undefined;
}

/** Median of finite numbers (undefined for none). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export interface HourBin {
  /** UTC hour index (time / 1 h). */
  hour: number;
  mean: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

/** Bins the unflagged points of a series into UTC hours [from, to). */
export function hourlyBins(s: Series | undefined, from: number, to: number): Map<number, HourBin> {
  const bins = new Map<number, HourBin>();
  for (const p of pointsIn(s, from, to - 1)) {
    const hour = Math.floor(p.time / HOUR_MS);
    const b = bins.get(hour);
    if (!b) bins.set(hour, { hour, mean: p.value, min: p.value, max: p.value, sum: p.value, count: 1 });
    else {
      b.count++;
      b.sum += p.value;
      b.mean = b.sum / b.count;
      if (p.value < b.min) b.min = p.value;
      if (p.value > b.max) b.max = p.value;
    }
  }
  return bins;
}

/** Of several devices, the one with the most unflagged readings of a metric in [from, to]. */
export function primarySeries(
  candidates: readonly (Series | undefined)[],
  from: number,
  to: number,
): Series | undefined {
  let best: Series | undefined;
  let bestCount = 0;
  for (const s of candidates) {
    if (!s) continue;
    const count = lowerBound(s.time, to + 1) - lowerBound(s.time, from);
    if (count > bestCount) {
      best = s;
      bestCount = count;
    }
  }
  return best;
}
