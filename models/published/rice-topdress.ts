// Paddy-rice panicle-initiation top-dressing (穂肥) as an ONNX graph: satellite NDVI or NDRE →
// SPAD by a linear calibration baked into the graph (and stated on the card with where it was
// fitted), then the prefecture guideline's table of kg N/10a by SPAD bin × plant-height bin (the
// table is a crop-profile input), then the lodging check on plant height × stems/m².
//
// No published rule maps satellite indices straight to kg N; the shipped calibration is
// provisional (see CALIBRATIONS) and the card says so until a region fits its own.
import { GraphBuilder, onnxInfo } from '../onnx/graph.ts';
import type { ModelInput } from '../../protocol/model-card.ts';
import { declareInputs, finish, zoneIn, type BuiltModel, type CardDraft } from './card-parts.ts';

export const RICE_VERSION = '1.1.0';

interface Calibration {
  index: 'ndvi' | 'ndre';
  intercept: number;
  slope: number;
  viMin: number;
  viMax: number;
  where: string;
}

/** SPAD = intercept + slope · VI. Provisional: not fitted on paired observations. */
export const CALIBRATIONS: Calibration[] = [
  {
    index: 'ndvi',
    intercept: 8,
    slope: 36,
    viMin: 0.3,
    viMax: 0.95,
    where: 'Not fitted: a provisional line through SPAD 35 at NDVI 0.75 (slope 36 SPAD per NDVI unit)',
  },
  {
    index: 'ndre',
    intercept: 17,
    slope: 50,
    viMin: 0.1,
    viMax: 0.6,
    where: 'Not fitted: a provisional line through SPAD 35 at NDRE 0.36 (slope 50 SPAD per NDRE unit)',
  },
];

export const riceModelId = (index: string) => `rice-pi-topdress-${index}`;

/**
 * Plant height and stems are counted at panicle initiation, the image taken then: days either
 * side the two may lie apart (Sentinel-2 passes every 5 days and the rainy season hides many —
 * two passes; PI to the top-dressing date is only about two weeks, so more would mix stages).
 */
export const PI_SCOUTING_DAYS = 10;

const profile = (path: string) => ({ kind: 'profile_constant' as const, path });

function inputs(c: Calibration): ModelInput[] {
  const table = (
    name: string,
    shape: string[],
    path: string,
    unit: string,
    min: number,
    max: number,
    en: string,
    ja: string,
  ): ModelInput => ({
    name,
    description: { ja, en },
    unit,
    min,
    max,
    type: 'float64',
    shape,
    source: profile(path),
  });
  return [
    zoneIn(
      'vi',
      '1',
      c.viMin,
      c.viMax,
      { kind: 'index_stat', index: [c.index], stat: 'mean' },
      `${c.index.toUpperCase()} of the zone at panicle initiation`,
      `幼穂形成期のゾーンの${c.index.toUpperCase()}`,
    ),
    zoneIn(
      'plant_height_cm',
      'cm',
      20,
      130,
      { kind: 'zone_attribute', name: 'plant_height_cm', maxDaysFromImage: PI_SCOUTING_DAYS },
      'Plant height at panicle initiation',
      '幼穂形成期の草丈',
    ),
    zoneIn(
      'stems_per_m2',
      '1/m2',
      100,
      1000,
      { kind: 'zone_attribute', name: 'stems_per_m2', maxDaysFromImage: PI_SCOUTING_DAYS },
      'Stems per m² at panicle initiation',
      '幼穂形成期の茎数(本/m²)',
    ),
    table(
      'spad_edges',
      ['S'],
      'riceTopdress.spadEdges',
      'SPAD',
      0,
      80,
      'SPAD bin edges of the guideline table',
      '指針表のSPAD区分',
    ),
    table(
      'height_edges',
      ['H'],
      'riceTopdress.heightEdgesCm',
      'cm',
      0,
      200,
      'Plant-height bin edges of the guideline table',
      '指針表の草丈区分',
    ),
    table(
      'table',
      ['S1', 'H1'],
      'riceTopdress.tableKgN10a',
      'kg N/10a',
      0,
      10,
      'Guideline kg N/10a by SPAD bin × height bin',
      '指針表(SPAD区分×草丈区分の窒素量 kg/10a)',
    ),
    zoneIn(
      'lodging_max',
      'cm/m2',
      1,
      1000000,
      profile('riceTopdress.lodgingIndexMax'),
      'Lodging index above which lodging is likely',
      '倒伏の危険がある倒伏指数の上限',
    ),
    zoneIn(
      'lodging_factor',
      '1',
      0,
      1,
      profile('riceTopdress.lodgingFactor'),
      'Factor on the rate when lodging is likely',
      '倒伏の危険があるときの減肥係数',
    ),
  ];
}

/** Counts the edges a value exceeds: the 0-based bin index, as float64 [N, 1]. */
function binIndex(b: GraphBuilder, value: string, edges: string): string {
  const above = b.op('Cast', [b.op('Greater', [value, edges])], { to: { int: 11 } }); // [N, S]
  return b.op('ReduceSum', [above, b.i64([1])], { keepdims: { int: 1 } });
}

/** Builds the rice top-dressing graph for one index (ndvi or ndre) and its card. */
export function buildRiceTopdress(index: 'ndvi' | 'ndre'): BuiltModel {
  const c = CALIBRATIONS.find((x) => x.index === index)!;
  const ins = inputs(c);
  const id = riceModelId(index);
  const b = new GraphBuilder(id.replaceAll('-', '_'));
  const i = declareInputs(b, ins);
  const spad = b.op('Add', [b.f64([c.intercept]), b.op('Mul', [b.f64([c.slope]), i.vi!])]);
  const row = binIndex(b, spad, i.spad_edges!);
  const col = binIndex(b, i.plant_height_cm!, i.height_edges!);
  const cols = b.op('Cast', [b.op('Gather', [b.op('Shape', [i.table!]), b.i64([1], [])])], {
    to: { int: 11 },
  });
  const flat = b.op('Cast', [b.op('Add', [b.op('Mul', [row, cols]), col])], { to: { int: 7 } }); // 7 = INT64
  const tableRate = b.op('Gather', [b.op('Reshape', [i.table!, b.i64([-1])]), flat], { axis: { int: 0 } });
  const lodging = b.op('Mul', [i.plant_height_cm!, i.stems_per_m2!]);
  const risk = b.op('Greater', [lodging, i.lodging_max!]);
  const rate10a = b.op('Where', [risk, b.op('Mul', [tableRate, i.lodging_factor!]), tableRate]);
  b.output('n_rate', b.op('Mul', [rate10a, b.f64([10])]), 'float64', ['N', 1]);
  b.output('n_rate_10a', rate10a, 'float64', ['N', 1]);
  b.output('spad', spad, 'float64', ['N', 1]);
  b.output('lodging_index', lodging, 'float64', ['N', 1]);
  b.output('lodging_risk', b.op('Cast', [risk], { to: { int: 11 } }), 'float64', ['N', 1]);
  const ref = `${id}@${RICE_VERSION}`;
  const bytes = b.encode({
    doc: `Paddy-rice panicle-initiation top-dressing from ${index.toUpperCase()} (hatake)`,
    ref,
  });
  const calibration = `SPAD = ${c.intercept} + ${c.slope} × ${index.toUpperCase()} (valid for ${index.toUpperCase()} ${c.viMin}–${c.viMax})`;
  const card: CardDraft = {
    schema: 'hatake.model-card/1',
    id,
    version: RICE_VERSION,
    title: {
      ja: `水稲 穂肥(幼穂形成期)— ${index.toUpperCase()}→SPAD→指針表`,
      en: `Paddy rice panicle-initiation top-dressing — ${index.toUpperCase()} → SPAD → guideline table`,
    },
    file: `${ref}.onnx`,
    kind: 'n_rate',
    crops: ['rice'],
    profiles: ['rice-shinnosuke-niigata', 'rice-koshihikari'],
    inputs: ins,
    outputs: [
      {
        name: 'n_rate',
        description: { ja: '窒素施用量', en: 'N rate' },
        unit: 'kg N/ha',
        type: 'float64',
        role: 'n_rate',
      },
      {
        name: 'n_rate_10a',
        description: { ja: '窒素施用量(10aあたり)', en: 'N rate per 10 a' },
        unit: 'kg N/10a',
        type: 'float64',
        role: 'diagnostic',
      },
      {
        name: 'spad',
        description: { ja: '推定SPAD値', en: 'Estimated SPAD' },
        unit: 'SPAD',
        type: 'float64',
        role: 'diagnostic',
      },
      {
        name: 'lodging_index',
        description: { ja: '倒伏指数(草丈×茎数)', en: 'Lodging index (height × stems/m²)' },
        unit: 'cm/m2',
        type: 'float64',
        role: 'diagnostic',
      },
      {
        name: 'lodging_risk',
        description: { ja: '倒伏の危険で1', en: '1 when lodging is likely' },
        unit: '1',
        type: 'float64',
        role: 'diagnostic',
      },
    ],
    method: {
      name: 'Panicle-initiation top-dressing guideline (穂肥指針) with a satellite → SPAD calibration',
      source:
        'Niigata Agricultural Research Institute R02 results (新之助 穂肥: height 64 cm, SPAD 35 → 1 kg N/10a); Koshihikari ≈ 1.0 kg N/10a about 15 days before heading when SPAD ≤ 30, with a lodging check on height × stems/m²',
      notes:
        'The guideline table and the lodging limit are crop-profile data (one profile per variety and prefecture). A value equal to a bin edge falls in the lower bin.',
    },
    fitted: {
      where: c.where,
      data: 'No paired satellite/SPAD observations yet; replace with a regional fit before relying on it',
      status: 'provisional',
      calibration,
    },
    onnx: onnxInfo(),
    example: {
      source: 'AGRONOMY.md: Niigata Shinnosuke chart, height 64 cm and SPAD 35 → 1 kg N/10a',
      inputs: {
        vi: (35 - c.intercept) / c.slope,
        plant_height_cm: 64,
        stems_per_m2: 400,
        spad_edges: [30, 33, 36, 39],
        height_edges: [60, 70],
        table: [
          [2, 1.5, 1],
          [1.5, 1.5, 1],
          [1.5, 1, 0.5],
          [1, 0.5, 0],
          [0, 0, 0],
        ],
        lodging_max: 32000,
        lodging_factor: 0,
      },
      outputs: { n_rate_10a: 1, n_rate: 10, spad: 35 },
    },
  };
  return finish(card, bytes);
}
