// Management zones: the field's valid pixels are clustered on one index with optimal 1-D
// k-means (Ckmeans.1d.dp, computed exactly as simple-statistics does) — deterministic, so the
// same scene always gives the same zones — with k fixed or chosen per field (the smallest k in
// 3–5 whose goodness of variance fit reaches a threshold). Zone 1 is the lowest. Specks smaller
// than a minimum region are then merged into their neighbours (like gdal_sieve), so the zones
// are areas a spreader can follow.

import { HatakeError } from '../../protocol/errors.ts';

export interface ZoningOptions {
  /** A fixed k, or 'auto' (3–5 by goodness of variance fit). */
  k: number | 'auto';
  /** GVF a k must reach to be chosen in auto mode. */
  gvf: number;
  /** Connected regions (4-neighbour) smaller than this many pixels are merged into a neighbour. */
  minRegionPixels: number;
}

export const DEFAULT_ZONING: ZoningOptions = { k: 'auto', gvf: 0.85, minRegionPixels: 4 };

/** The zone counts a prescription is made of (issue 6: k = 3–5, fixed or chosen per field). */
export const ZONE_COUNTS = [3, 4, 5] as const;

/** A zone count as a person writes it ("auto", "3", 4…), or a coded error naming `what`. */
export function parseZoneCount(value: string | number, what = 'zones'): number | 'auto' {
  if (value === 'auto') return 'auto';
  const k = typeof value === 'number' ? value : /^\d$/.test(value) ? Number(value) : NaN;
  if (!(ZONE_COUNTS as readonly number[]).includes(k))
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `${what} "${String(value).slice(0, 40)}" is not auto, 3, 4 or 5`,
      {
        expected: 'auto (the smallest k in 3–5 that fits) or a number of zones 3, 4 or 5',
      },
    );
  return k;
}

/** At most this many values go into Ckmeans (a quantile sample of the field); it is O(k·n·log n). */
const MAX_CLUSTER_VALUES = 2500;

/** Breaks between k clusters of sorted values: value ≥ breaks[i] → zone ≥ i + 2. */
export function zoneBreaks(sorted: Float32Array | Float64Array, opts: ZoningOptions): number[] {
  const n = sorted.length;
  const m = Math.min(n, MAX_CLUSTER_VALUES);
  const sample = new Float64Array(m);
  for (let i = 0; i < m; i++) sample[i] = sorted[Math.min(n - 1, Math.floor(((i + 0.5) * n) / m))]!;
  let distinct = 1;
  for (let i = 1; i < m; i++) if (sample[i] !== sample[i - 1]) distinct++;
  const ks = opts.k === 'auto' ? ZONE_COUNTS : [parseZoneCount(opts.k, 'k') as number];
  let chosen: Int32Array | undefined;
  let mean = 0;
  for (let i = 0; i < m; i++) mean += sample[i]!;
  mean /= m;
  let sst = 0;
  for (let i = 0; i < m; i++) sst += (sample[i]! - mean) * (sample[i]! - mean);
  const dp = new Ckmeans(sample);
  for (const kk of ks) {
    const k = Math.min(kk, distinct);
    const starts = dp.clusters(k);
    chosen = starts;
    if (opts.k !== 'auto' || sst === 0) break;
    let ssw = 0;
    for (let c = 0; c < starts.length; c++) {
      const lo = starts[c]!;
      const hi = c + 1 < starts.length ? starts[c + 1]! : m;
      let cm = 0;
      for (let i = lo; i < hi; i++) cm += sample[i]!;
      cm /= hi - lo;
      for (let i = lo; i < hi; i++) ssw += (sample[i]! - cm) * (sample[i]! - cm);
    }
    if (1 - ssw / sst >= opts.gvf) break;
  }
  const breaks: number[] = [];
  for (let i = 0; i + 1 < (chosen?.length ?? 0); i++) {
    const next = chosen![i + 1]!;
    breaks.push((sample[next - 1]! + sample[next]!) / 2);
  }
  return breaks;
}

/**
 * Ckmeans.1d.dp on sorted values: simple-statistics' `ckmeans`, step for step (the same
 * divide-and-conquer fill of the same matrices, so the same clusters to the last bit), on typed
 * arrays, and sharing the rows that several k have in common: the rows below the last one do not
 * depend on k, so auto zoning (k = 3, 4, 5 in turn) fills each of them once.
 */
export class Ckmeans {
  private readonly sorted: Float64Array;
  private readonly n: number;
  private readonly sums: Float64Array;
  private readonly sumsOfSquares: Float64Array;
  /** Filled rows: cost (S) and backtrack (J) matrices, row c for c + 1 clusters. */
  private readonly cost: Float64Array[] = [];
  private readonly back: Int32Array[] = [];

  constructor(sorted: Float64Array) {
    this.sorted = sorted;
    const n = sorted.length;
    this.n = n;
    const shift = sorted[Math.floor(n / 2)]!;
    this.sums = new Float64Array(n);
    this.sumsOfSquares = new Float64Array(n);
    const cost0 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = sorted[i]! - shift;
      if (i === 0) {
        this.sums[0] = v;
        this.sumsOfSquares[0] = v * v;
      } else {
        this.sums[i] = this.sums[i - 1]! + v;
        this.sumsOfSquares[i] = this.sumsOfSquares[i - 1]! + v * v;
      }
      cost0[i] = this.ssq(0, i);
    }
    this.cost.push(cost0);
    this.back.push(new Int32Array(n));
  }

  /** Start index of each of k clusters (fewer when all values are equal). */
  clusters(k: number): Int32Array {
    const n = this.n;
    if (!(k >= 1) || k > n) throw new RangeError(`cannot make ${k} clusters of ${n} values`);
    const s = this.sorted;
    let distinct = 1;
    for (let i = 1; i < n; i++) if (s[i] !== s[i - 1]) distinct++;
    if (distinct === 1) return Int32Array.of(0);
    // Full rows 1 … k−2 (shared between k), then the last row at its last column only.
    while (this.cost.length < k - 1) {
      const c = this.cost.length;
      this.cost.push(new Float64Array(n));
      this.back.push(new Int32Array(n));
      this.fill(c, c, n - 1, this.cost[c]!, this.back[c]!);
    }
    let lastBack = this.back[0]!;
    if (k > 1) {
      const cost = new Float64Array(n);
      lastBack = new Int32Array(n);
      this.fill(k - 1, n - 1, n - 1, cost, lastBack);
    }
    const starts = new Int32Array(k);
    let right = n - 1;
    for (let c = k - 1; c >= 0; c--) {
      const left = (c === k - 1 ? lastBack : this.back[c]!)[right]!;
      starts[c] = left;
      if (c > 0) right = left - 1;
    }
    return starts;
  }

  private ssq(j: number, i: number): number {
    const sums = this.sums;
    const sq = this.sumsOfSquares;
    let sji: number;
    if (j > 0) {
      const muji = (sums[i]! - sums[j - 1]!) / (i - j + 1);
      sji = sq[i]! - sq[j - 1]! - (i - j + 1) * muji * muji;
    } else {
      sji = sq[i]! - (sums[i]! * sums[i]!) / (i + 1);
    }
    return sji < 0 ? 0 : sji;
  }

  /** simple-statistics' fillMatrixColumn for row `cluster`, columns iMin … iMax. */
  private fill(cluster: number, iMin: number, iMax: number, cost: Float64Array, back: Int32Array): void {
    if (iMin > iMax) return;
    const prevCost = this.cost[cluster - 1]!;
    const prevBack = this.back[cluster - 1]!;
    const i = Math.floor((iMin + iMax) / 2);
    cost[i] = prevCost[i - 1]!;
    back[i] = i;
    let jlow = cluster;
    if (iMin > cluster) jlow = Math.max(jlow, back[iMin - 1]!);
    jlow = Math.max(jlow, prevBack[i]!);
    let jhigh = i - 1;
    if (iMax < this.n - 1) jhigh = Math.min(jhigh, back[iMax + 1]!);
    for (let j = jhigh; j >= jlow; --j) {
      const sji = this.ssq(j, i);
      if (sji + prevCost[jlow - 1]! >= cost[i]!) break;
      const ssqjlow = this.ssq(jlow, i) + prevCost[jlow - 1]!;
      if (ssqjlow < cost[i]!) {
        cost[i] = ssqjlow;
        back[i] = jlow;
      }
      jlow++;
      const ssqj = sji + prevCost[j - 1]!;
      if (ssqj < cost[i]!) {
        cost[i] = ssqj;
        back[i] = j;
      }
    }
    this.fill(cluster, iMin, i - 1, cost, back);
    this.fill(cluster, i + 1, iMax, cost, back);
  }
}

/** The zone (1-based) of a value given the breaks. */
export function zoneOf(v: number, breaks: readonly number[]): number {
  let z = 1;
  while (z - 1 < breaks.length && v >= breaks[z - 1]!) z++;
  return z;
}

/**
 * Merges 4-connected regions smaller than `minPixels` into the neighbouring zone they share
 * the longest border with. `labels` (0 = no zone) is changed in place; a region with no
 * labelled neighbour is kept.
 */
export function sieve(labels: Uint8Array, width: number, height: number, minPixels: number): void {
  if (minPixels <= 1) return;
  const size = labels.length;
  const seen = new Uint8Array(size);
  // Each pixel joins one region per pass, so the stack and the region fit in `size` entries.
  const stack = new Int32Array(size);
  const region = new Int32Array(size);
  let maxLabel = 0;
  for (let i = 0; i < size; i++) if (labels[i]! > maxLabel) maxLabel = labels[i]!;
  const border = new Int32Array(maxLabel + 1);
  for (let pass = 1; pass <= 4; pass++) {
    let changed = false;
    seen.fill(0);
    for (let start = 0; start < size; start++) {
      const z = labels[start]!;
      if (z === 0 || seen[start] === pass) continue;
      let count = 0;
      let top = 0;
      stack[top++] = start;
      seen[start] = pass;
      while (top > 0) {
        const p = stack[--top]!;
        region[count++] = p;
        const x = p % width;
        if (x > 0 && labels[p - 1] === z && seen[p - 1] !== pass) {
          seen[p - 1] = pass;
          stack[top++] = p - 1;
        }
        if (x < width - 1 && labels[p + 1] === z && seen[p + 1] !== pass) {
          seen[p + 1] = pass;
          stack[top++] = p + 1;
        }
        if (p - width >= 0 && labels[p - width] === z && seen[p - width] !== pass) {
          seen[p - width] = pass;
          stack[top++] = p - width;
        }
        if (p + width < size && labels[p + width] === z && seen[p + width] !== pass) {
          seen[p + width] = pass;
          stack[top++] = p + width;
        }
      }
      if (count >= minPixels) continue;
      // Border lengths with each label (relabelling never raises the highest); the longest
      // border with another label wins, the lowest label on a tie.
      for (let r = 0; r < count; r++) {
        const p = region[r]!;
        const x = p % width;
        if (x > 0) border[labels[p - 1]!]++;
        if (x < width - 1) border[labels[p + 1]!]++;
        if (p - width >= 0) border[labels[p - width]!]++;
        if (p + width < size) border[labels[p + width]!]++;
      }
      let best = 0;
      let bestN = 0;
      for (let l = 1; l <= maxLabel; l++) {
        if (l !== z && border[l]! > bestN) {
          best = l;
          bestN = border[l]!;
        }
      }
      border.fill(0);
      if (best !== 0) {
        for (let r = 0; r < count; r++) labels[region[r]!] = best;
        changed = true;
      }
    }
    if (!changed) break;
  }
  void height;
}
