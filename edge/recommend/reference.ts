// The virtual reference, estimated: when a field has no N-rich strip, the 95th percentile of the
// field's index stands in for it (AGRONOMY.md). The imagery part computes it exactly over the
// field's pixels and every zone carries it (`fieldP95`); this estimate is only the fallback for
// zones without it (written before it existed, or by hand). Zones carry statistics, not pixels,
// so the field's distribution is taken as the pixel-weighted mixture of one normal per zone (its
// mean and standard deviation; a point when std is unknown) and its 95th percentile found by
// bisection. It is an estimate and can be far off: a zone's NDVI is skewed, not normal, and on
// BigEarthNet field `a` it gave 0.9448 where the pixels' p95 is 0.9053 and their maximum 0.9295.
import type { ZoneData } from '../inference/inputs.ts';

const erf = (x: number): number => {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): plenty for a percentile of NDVI
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
};

/** The field's 95th percentile of an index, estimated from its zones; null if no zone has it. */
export function virtualP95(zones: ZoneData[], index: string, q = 0.95): number | null {
  const parts = zones
    .map((z) => ({ s: z.indices[index], w: z.indices[index]?.count ?? z.areaHa }))
    .filter((p) => typeof p.s?.mean === 'number' && p.w > 0)
    .map((p) => ({ mean: p.s!.mean as number, std: typeof p.s!.std === 'number' ? p.s!.std : 0, w: p.w }));
  if (parts.length === 0) return null;
  const total = parts.reduce((s, p) => s + p.w, 0);
  const cdf = (x: number) =>
    parts.reduce(
      (s, p) =>
        s +
        (p.w / total) *
          (p.std > 0 ? 0.5 * (1 + erf((x - p.mean) / (p.std * Math.SQRT2))) : x >= p.mean ? 1 : 0),
      0,
    );
  let lo = Math.min(...parts.map((p) => p.mean - 6 * p.std));
  let hi = Math.max(...parts.map((p) => p.mean + 6 * p.std));
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < q) lo = mid;
    else hi = mid;
  }
  return hi;
}
