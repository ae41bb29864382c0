// From a model's N rate to what the spreader applies: clamp to the profile's limits, convert to
// product with its N content (urea 46 %, ammonium sulfate 21 %), round to the spreader's step
// without leaving the limits, and give kg/10a beside kg/ha. Also the money: yield gain, cost and
// margin at the profile's prices (¥).
import type { CropProfile } from '../../protocol/crop-profile.ts';
import type { Money, ZoneRate } from '../../protocol/recommendation.ts';

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The applied rate for a model rate (kg N/ha) under the profile's limits and spreader step. */
export function applyRate(modelKgNHa: number, p: CropProfile): ZoneRate {
  const { minKgNHa, maxKgNHa } = p.limits;
  const f = p.fertilizer.nFraction;
  const step = p.spreader.stepKgProductHa;
  const safe = Number.isFinite(modelKgNHa) ? modelKgNHa : 0;
  let clamped: ZoneRate['clamped'] = null;
  let n = safe;
  if (n < minKgNHa) {
    n = minKgNHa;
    clamped = 'min';
  }
  if (n > maxKgNHa) {
    n = maxKgNHa;
    clamped = 'max';
  }
  let product = Math.round(n / f / step) * step;
  // rounding must not carry the rate past a limit
  if (product * f > maxKgNHa + 1e-9) product = Math.floor(maxKgNHa / f / step) * step;
  if (product * f < minKgNHa - 1e-9) product = Math.ceil(minKgNHa / f / step) * step;
  product = round(product, 6);
  const kgNHa = round(product * f, 4);
  return {
    modelKgNHa: round(safe, 6),
    kgNHa,
    kgN10a: round(kgNHa / 10, 4),
    productKgHa: product,
    productKg10a: round(product / 10, 4),
    clamped,
  };
}

/** Money per ha for a yield gain (kg/ha) and a product rate (kg/ha). */
export function money(yieldGainKgHa: number, productKgHa: number, p: CropProfile): Money {
  const gain = yieldGainKgHa * p.economics.cropPriceYenPerKg;
  const cost =
    productKgHa * p.fertilizer.priceYenPerKg + (productKgHa > 0 ? p.economics.applicationYenPerHa : 0);
  return {
    yieldGainKgHa: round(yieldGainKgHa, 3),
    gainYenHa: Math.round(gain),
    costYenHa: Math.round(cost),
    marginYenHa: Math.round(gain - cost),
  };
}

/** Candidate product rates (kg/ha) on the spreader's step whose N lies in [lo, hi] kg N/ha. */
export function candidateRates(p: CropProfile, lo: number, hi: number): number[] {
  const f = p.fertilizer.nFraction;
  const step = p.spreader.stepKgProductHa;
  const out: number[] = [];
  for (let k = Math.ceil(lo / f / step - 1e-9); k * step * f <= hi + 1e-9 && out.length < 1000; k++)
    out.push(round(k * step, 6));
  return out;
}

/** kg/ha per unit of a yield output. */
export const YIELD_UNITS: Record<string, number> = { 'kg/ha': 1, 'q/ha': 100, 't/ha': 1000, 'kg/10a': 10 };
