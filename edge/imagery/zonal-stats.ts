// Statistics of an index over a set of pixels: mean, median, p10, p90, p95, population std, min,
// max, count and the valid fraction. Percentiles interpolate linearly between order statistics
// (numpy's default, method 'linear': position (n − 1)·q), so they can be checked against
// GDAL/numpy exactly.
import type { IndexStats } from '../../protocol/imagery.ts';

/** Rounds to 7 decimals: far below the 1e-4 agreement we promise, and keeps stats.json readable. */
export function round7(x: number): number {
  return Math.round(x * 1e7) / 1e7;
}

/** The q-quantile (0–1) of sorted values, linear interpolation. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo]!;
  return a + (sorted[hi]! - a) * (pos - lo);
}

/** Statistics of `values` (valid values only, any order; sorted in place) out of `total` pixels. */
export function indexStats(values: Float32Array | Float64Array, total: number): IndexStats {
  const n = values.length;
  const validFraction = total > 0 ? round7(n / total) : 0;
  if (n === 0) {
    return {
      mean: null,
      median: null,
      p10: null,
      p90: null,
      p95: null,
      std: null,
      min: null,
      max: null,
      count: 0,
      validFraction,
    };
  }
  values.sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    ss += d * d;
  }
  return {
    mean: round7(mean),
    median: round7(quantileSorted(values, 0.5)),
    p10: round7(quantileSorted(values, 0.1)),
    p90: round7(quantileSorted(values, 0.9)),
    p95: round7(quantileSorted(values, 0.95)),
    std: round7(Math.sqrt(ss / n)),
    min: round7(values[0]!),
    max: round7(values[n - 1]!),
    count: n,
    validFraction,
  };
}
