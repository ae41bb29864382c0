// Management zones: the field's valid pixels are clustered on one index with optimal 1-D
// k-means (Ckmeans.1d.dp, simple-statistics) — deterministic, so the same scene always gives the
// same zones — with k fixed or chosen per field (the smallest k in 3–5 whose goodness of variance
// fit reaches a threshold). Zone 1 is the lowest. Specks smaller than a minimum region are then
// merged into their neighbours (like gdal_sieve), so the zones are areas a spreader can follow.
import { ckmeans } from 'simple-statistics';

export interface ZoningOptions {
  /** A fixed k, or 'auto' (3–5 by goodness of variance fit). */
  k: number | 'auto';
  /** GVF a k must reach to be chosen in auto mode. */
  gvf: number;
  /** Connected regions (4-neighbour) smaller than this many pixels are merged into a neighbour. */
  minRegionPixels: number;
}

export const DEFAULT_ZONING: ZoningOptions = { k: 'auto', gvf: 0.85, minRegionPixels: 4 };

/** At most this many values go into Ckmeans (a quantile sample of the field); it is O(k·n·log n). */
const MAX_CLUSTER_VALUES = 2500;

/** Breaks between k clusters of sorted values: value ≥ breaks[i] → zone ≥ i + 2. */
export function zoneBreaks(sorted: Float32Array | Float64Array, opts: ZoningOptions): number[] {
  const n = sorted.length;
  const m = Math.min(n, MAX_CLUSTER_VALUES);
  const sample: number[] = new Array(m);
  for (let i = 0; i < m; i++) sample[i] = sorted[Math.min(n - 1, Math.floor(((i + 0.5) * n) / m))]!;
  let distinct = 1;
  for (let i = 1; i < m; i++) if (sample[i] !== sample[i - 1]) distinct++;
  const ks = opts.k === 'auto' ? [3, 4, 5] : [opts.k];
  let chosen: number[][] | undefined;
  const mean = sample.reduce((a, b) => a + b, 0) / m;
  const sst = sample.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  for (const kk of ks) {
    const k = Math.min(kk, distinct);
    const clusters = ckmeans(sample, k);
    chosen = clusters;
    if (opts.k !== 'auto' || sst === 0) break;
    let ssw = 0;
    for (const c of clusters) {
      const cm = c.reduce((a, b) => a + b, 0) / c.length;
      for (const v of c) ssw += (v - cm) * (v - cm);
    }
    if (1 - ssw / sst >= opts.gvf) break;
  }
  const breaks: number[] = [];
  for (let i = 0; i + 1 < (chosen?.length ?? 0); i++) {
    const a = chosen![i]!;
    const b = chosen![i + 1]!;
    breaks.push((a[a.length - 1]! + b[0]!) / 2);
  }
  return breaks;
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
  const seen = new Int32Array(labels.length);
  const stack: number[] = [];
  const region: number[] = [];
  for (let pass = 1; pass <= 4; pass++) {
    let changed = false;
    seen.fill(0);
    for (let start = 0; start < labels.length; start++) {
      const z = labels[start]!;
      if (z === 0 || seen[start] === pass) continue;
      region.length = 0;
      stack.push(start);
      seen[start] = pass;
      while (stack.length) {
        const p = stack.pop()!;
        region.push(p);
        const x = p % width;
        for (let d = 0; d < 4; d++) {
          const q =
            d === 0
              ? x > 0
                ? p - 1
                : -1
              : d === 1
                ? x < width - 1
                  ? p + 1
                  : -1
                : d === 2
                  ? p - width
                  : p + width;
          if (q >= 0 && q < labels.length && labels[q] === z && seen[q] !== pass) {
            seen[q] = pass;
            stack.push(q);
          }
        }
      }
      if (region.length >= minPixels) continue;
      const border = new Map<number, number>();
      for (const p of region) {
        const x = p % width;
        const nb = [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, p - width, p + width];
        for (const q of nb) {
          if (q >= 0 && q < labels.length) {
            const l = labels[q]!;
            if (l !== 0 && l !== z) border.set(l, (border.get(l) ?? 0) + 1);
          }
        }
      }
      let best = 0;
      let bestN = 0;
      for (const [l, n] of [...border].sort((a, b) => a[0] - b[0])) {
        if (n > bestN) {
          best = l;
          bestN = n;
        }
      }
      if (best !== 0) {
        for (const p of region) labels[p] = best;
        changed = true;
      }
    }
    if (!changed) break;
  }
  void height;
}
