// OSU Sensor-Based Nitrogen Rate Calculator (Raun et al. 2002, 2005) as an ONNX graph. One graph
// serves every SBNRC profile (winter wheat 2007, corn 2004, raw or adjusted RI): the constants
// are inputs read from the crop profile, so the profile, not the model, carries them.
//
//   INSEY = NDVI / days;  YP0 = a·exp(b·INSEY);  RI = NDVI_ref / NDVI, adjusted RI′ = s·RI + c
//   when the profile says so, and RI < 1 → 1;  YPN = min(YP0·RI, YP_MAX, a·exp(b·NDVI_ref/days));
//   N = max(0, (YPN − YP0)·grainN / NUE)
import { GraphBuilder, onnxInfo } from '../onnx/graph.ts';
import { declareInputs, finish, zoneIn, type BuiltModel, type CardDraft } from './card-parts.ts';

export const SBNRC_ID = 'osu-sbnrc';
export const SBNRC_VERSION = '1.0.0';

const profile = (path: string) => ({ kind: 'profile_constant' as const, path });

const INPUTS = [
  zoneIn(
    'ndvi',
    '1',
    0.1,
    0.95,
    { kind: 'index_stat', index: ['ndvi'], stat: 'mean' },
    'NDVI of the zone (farmer practice)',
    'ゾーンのNDVI(慣行区)',
  ),
  zoneIn(
    'ndvi_ref',
    '1',
    0.1,
    0.95,
    { kind: 'index_reference', index: ['ndvi'] },
    'NDVI of the N-rich strip, or the field’s 95th percentile (virtual reference)',
    'Nリッチストリップ(または圃場NDVIの95パーセンタイル)のNDVI',
  ),
  zoneIn(
    'days',
    'd',
    20,
    250,
    { kind: 'field_attribute', name: 'days_gdd_positive' },
    'Days from planting to sensing with GDD > 0',
    '播種からセンシングまでの日数(GDD > 0 の日のみ)',
  ),
  zoneIn('a', 'kg/ha', 1, 100000, profile('sbnrc.a'), 'YP0 coefficient a', 'YP0 係数 a'),
  zoneIn('b', '1', 0, 400, profile('sbnrc.b'), 'YP0 exponent b', 'YP0 指数 b'),
  zoneIn(
    'adjust_ri',
    '1',
    0,
    1,
    profile('sbnrc.adjustRi'),
    '1: use the adjusted RI′, 0: the raw RI',
    '1: 補正RI′を使う, 0: RIそのまま',
  ),
  zoneIn('ri_slope', '1', 0, 5, profile('sbnrc.riSlope'), 'RI adjustment slope', 'RI補正の傾き'),
  zoneIn('ri_intercept', '1', -5, 5, profile('sbnrc.riIntercept'), 'RI adjustment intercept', 'RI補正の切片'),
  zoneIn('grain_n', 'kg/kg', 0.005, 0.05, profile('sbnrc.grainN'), 'N fraction of grain', '子実の窒素含有率'),
  zoneIn('nue', '1', 0.1, 1, profile('sbnrc.nue'), 'N use efficiency', '窒素利用効率'),
  zoneIn(
    'yp_max',
    'kg/ha',
    100,
    30000,
    profile('sbnrc.ypMaxKgHa'),
    'Highest attainable yield',
    '最大到達収量',
  ),
];

/** Builds the SBNRC graph and its card. */
export function buildSbnrc(): BuiltModel {
  const b = new GraphBuilder('osu_sbnrc');
  const i = declareInputs(b, INPUTS);
  const one = b.f64([1]);
  const zero = b.f64([0]);
  const half = b.f64([0.5]);
  const yieldAt = (ndvi: string) =>
    b.op('Mul', [i.a!, b.op('Exp', [b.op('Mul', [i.b!, b.op('Div', [ndvi, i.days!])])])]);
  const yp0 = yieldAt(i.ndvi!);
  const ypRef = yieldAt(i.ndvi_ref!);
  const riRaw = b.op('Div', [i.ndvi_ref!, i.ndvi!]);
  const riAdj = b.op('Add', [b.op('Mul', [i.ri_slope!, riRaw]), i.ri_intercept!]);
  const riSel = b.op('Where', [b.op('Greater', [i.adjust_ri!, half]), riAdj, riRaw]);
  const ri = b.op('Max', [riSel, one]);
  const ypn = b.op('Min', [b.op('Mul', [yp0, ri]), i.yp_max!, ypRef]);
  const gain = b.op('Max', [b.op('Sub', [ypn, yp0]), zero]);
  const rate = b.op('Div', [b.op('Mul', [gain, i.grain_n!]), i.nue!]);
  b.output('n_rate', rate, 'float64', ['N', 1]);
  b.output('yield_gain', gain, 'float64', ['N', 1]);
  b.output('yp0', yp0, 'float64', ['N', 1]);
  b.output('ypn', ypn, 'float64', ['N', 1]);
  b.output('ri', ri, 'float64', ['N', 1]);
  const ref = `${SBNRC_ID}@${SBNRC_VERSION}`;
  const bytes = b.encode({ doc: 'OSU Sensor-Based Nitrogen Rate Calculator (hatake)', ref });
  const card: CardDraft = {
    schema: 'hatake.model-card/1',
    id: SBNRC_ID,
    version: SBNRC_VERSION,
    title: {
      ja: 'OSU センサーベース窒素施肥量計算 (SBNRC)',
      en: 'OSU Sensor-Based Nitrogen Rate Calculator (SBNRC)',
    },
    file: `${ref}.onnx`,
    kind: 'n_rate',
    crops: ['winter-wheat', 'corn'],
    profiles: ['winter-wheat-osu-2007', 'winter-wheat-osu-2007-adjusted', 'corn-osu-2004'],
    inputs: INPUTS,
    outputs: [
      {
        name: 'n_rate',
        description: { ja: '窒素施用量', en: 'N rate' },
        unit: 'kg N/ha',
        type: 'float64',
        role: 'n_rate',
      },
      {
        name: 'yield_gain',
        description: { ja: '期待増収 (YPN − YP0)', en: 'Expected yield gain (YPN − YP0)' },
        unit: 'kg/ha',
        type: 'float64',
        role: 'yield_gain',
      },
      {
        name: 'yp0',
        description: { ja: '無追肥の収量ポテンシャル YP0', en: 'Yield potential without more N (YP0)' },
        unit: 'kg/ha',
        type: 'float64',
        role: 'diagnostic',
      },
      {
        name: 'ypn',
        description: { ja: '追肥時の収量ポテンシャル YPN', en: 'Yield potential with N (YPN)' },
        unit: 'kg/ha',
        type: 'float64',
        role: 'diagnostic',
      },
      {
        name: 'ri',
        description: {
          ja: '応答指数 RI (補正・下限1)',
          en: 'Response index RI (adjusted if so, at least 1)',
        },
        unit: '1',
        type: 'float64',
        role: 'diagnostic',
      },
    ],
    method: {
      name: 'OSU Sensor-Based Nitrogen Rate Calculator',
      source:
        'Raun et al. 2002 (Agron. J. 94:815), Raun et al. 2005; yield-potential library nue.okstate.edu/Yield_Potential.htm; Managing_N_Fertilizer_NRS.htm',
      notes:
        'Constants (a, b, RI adjustment, grainN, NUE, YP_MAX) come from the crop profile. INSEY divides by days with GDD > 0. The reference NDVI is an N-rich strip or, when there is none, the field’s 95th percentile (virtual reference); the recommendation records which.',
    },
    fitted: {
      where: 'Oklahoma, USA (OSU field trials), as published',
      data: 'The published yield-potential equations; not refitted by hatake',
      status: 'published',
    },
    onnx: onnxInfo(),
    example: {
      source: 'AGRONOMY.md worked example (raw RI, winter wheat 2007, grainN 0.024, NUE 0.6)',
      inputs: {
        ndvi: 0.54,
        ndvi_ref: 0.7,
        days: 85,
        a: 590,
        b: 258.2,
        adjust_ri: 0,
        ri_slope: 1.69,
        ri_intercept: -0.7,
        grain_n: 0.024,
        nue: 0.6,
        yp_max: 6000,
      },
      outputs: { n_rate: 36.06, yp0: 3042.6, ypn: 3944.0 },
    },
  };
  return finish(card, bytes);
}
