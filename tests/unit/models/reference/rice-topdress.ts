// Reference implementation of the rice panicle-initiation top-dressing (VI → SPAD → guideline
// table → lodging check), used only by tests to check the ONNX graph.
export interface RiceIn {
  vi: number;
  plant_height_cm: number;
  stems_per_m2: number;
  spad_edges: number[];
  height_edges: number[];
  table: number[][];
  lodging_max: number;
  lodging_factor: number;
}

const bin = (v: number, edges: number[]) => edges.filter((e) => v > e).length;

export function riceTopdress(x: RiceIn, calibration: { intercept: number; slope: number }) {
  const spad = calibration.intercept + calibration.slope * x.vi;
  const tableRate = x.table[bin(spad, x.spad_edges)]![bin(x.plant_height_cm, x.height_edges)]!;
  const lodging = x.plant_height_cm * x.stems_per_m2;
  const risk = lodging > x.lodging_max;
  const rate10a = risk ? tableRate * x.lodging_factor : tableRate;
  return {
    n_rate: rate10a * 10,
    n_rate_10a: rate10a,
    spad,
    lodging_index: lodging,
    lodging_risk: risk ? 1 : 0,
  };
}
