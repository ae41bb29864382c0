// Reference implementation of the Holland–Schepers sufficiency-index rate (AGRONOMY.md, with
// hatake's clamp below 1 − ΔSI), used only by tests to check the ONNX graph.
export interface HsIn {
  vi: number;
  vi_ref: number;
  mz: number;
  n_opt: number;
  n_pp: number;
  n_crd: number;
  delta_si: number;
}

export function hollandSchepers(x: HsIn): { n_rate: number; si: number; si_clamped: number } {
  const si = x.vi / x.vi_ref;
  const floor = 1 - x.delta_si;
  const clamped = si < floor;
  const s = clamped ? floor : si;
  const factor = s >= 1 ? 0 : Math.sqrt((1 - s) / x.delta_si);
  const base = Math.max(x.mz * x.n_opt - x.n_pp - x.n_crd, 0);
  return { n_rate: base * factor, si, si_clamped: clamped ? 1 : 0 };
}
