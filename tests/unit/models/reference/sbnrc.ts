// Reference implementation of the OSU SBNRC (AGRONOMY.md), used only by tests to check the ONNX graph.
import type { CropProfile } from '../../../../protocol/crop-profile.ts';

export interface SbnrcIn {
  ndvi: number;
  ndvi_ref: number;
  days: number;
  a: number;
  b: number;
  adjust_ri: number;
  ri_slope: number;
  ri_intercept: number;
  grain_n: number;
  nue: number;
  yp_max: number;
}

/** N rate (kg N/ha) and the intermediate figures. */
export function sbnrc(x: SbnrcIn): {
  n_rate: number;
  yield_gain: number;
  yp0: number;
  ypn: number;
  ri: number;
} {
  const insey = x.ndvi / x.days;
  const yp0 = x.a * Math.exp(x.b * insey);
  let ri = x.ndvi_ref / x.ndvi;
  if (x.adjust_ri > 0.5) ri = x.ri_slope * ri + x.ri_intercept;
  if (ri < 1) ri = 1;
  const ypNrich = x.a * Math.exp((x.b * x.ndvi_ref) / x.days);
  const ypn = Math.min(yp0 * ri, x.yp_max, ypNrich);
  const gain = Math.max(ypn - yp0, 0);
  return { n_rate: (gain * x.grain_n) / x.nue, yield_gain: gain, yp0, ypn, ri };
}

/** The N rate (kg N/ha) for a zone's and the reference's index, with a crop profile's SBNRC constants. */
export function sbnrcWithProfile(
  c: NonNullable<CropProfile['sbnrc']>,
  ndvi: number,
  ndviRef: number,
  days: number,
): number {
  return sbnrc({
    ndvi,
    ndvi_ref: ndviRef,
    days,
    a: c.a,
    b: c.b,
    adjust_ri: c.adjustRi ? 1 : 0,
    ri_slope: c.riSlope,
    ri_intercept: c.riIntercept,
    grain_n: c.grainN,
    nue: c.nue,
    yp_max: c.ypMaxKgHa,
  }).n_rate;
}
