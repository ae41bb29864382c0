// Holland & Schepers (2010) sufficiency-index N algorithm for corn as an ONNX graph.
//
//   SI = VI / VI_ref;  N = max(0, MZ·N_OPT − N_PP − N_CRD) · √((1 − SI) / ΔSI),  SI ≥ 1 → 0.
//   Below SI = 1 − ΔSI the stress is likely not nitrogen: hatake clamps SI there (the rate then
//   stays at its full value) and reports `si_clamped` so the recommendation says so. This is
//   hatake's reading of AGRONOMY.md, not the paper's back-off curve.
import { GraphBuilder, onnxInfo } from '../onnx/graph.ts';
import { declareInputs, finish, zoneIn, type BuiltModel, type CardDraft } from './card-parts.ts';

export const HS_ID = 'holland-schepers-si';
export const HS_VERSION = '1.0.0';

const INPUTS = [
  zoneIn(
    'vi',
    '1',
    0.05,
    1,
    { kind: 'index_stat', index: ['ndre', 'ndvi'], stat: 'mean' },
    'NDRE (preferred once the canopy closes) or NDVI of the zone',
    'ゾーンのNDRE(群落が閉じた後に推奨)またはNDVI',
  ),
  zoneIn(
    'vi_ref',
    '1',
    0.05,
    1,
    { kind: 'index_reference', index: ['ndre', 'ndvi'] },
    'The same index over the N-rich strip, or the field’s 95th percentile',
    '同じ指数のNリッチストリップ値(または圃場の95パーセンタイル)',
  ),
  zoneIn(
    'mz',
    '1',
    0.5,
    1.5,
    { kind: 'zone_attribute', name: 'mz', default: 1 },
    'Zone productivity scalar MZ_i',
    'ゾーン生産性係数 MZ_i',
  ),
  zoneIn(
    'n_opt',
    'kg N/ha',
    0,
    400,
    { kind: 'profile_constant', path: 'hollandSchepers.nOptKgHa' },
    'N_OPT of the region',
    '地域の最適窒素量 N_OPT',
  ),
  zoneIn(
    'n_pp',
    'kg N/ha',
    0,
    400,
    { kind: 'field_attribute', name: 'n_preplant_kg_ha' },
    'N already applied before planting',
    '基肥として施用済みの窒素',
  ),
  zoneIn(
    'n_crd',
    'kg N/ha',
    0,
    400,
    { kind: 'field_attribute', name: 'n_credit_kg_ha' },
    'N credits (previous crop, manure, soil)',
    '窒素クレジット(前作・堆肥・土壌)',
  ),
  zoneIn(
    'delta_si',
    '1',
    0.05,
    0.5,
    { kind: 'profile_constant', path: 'hollandSchepers.deltaSi' },
    'ΔSI = 1 − SI of a zero-N area',
    'ΔSI(無窒素区の 1 − SI)',
  ),
];

/** Builds the Holland–Schepers graph and its card. */
export function buildHollandSchepers(): BuiltModel {
  const b = new GraphBuilder('holland_schepers_si');
  const i = declareInputs(b, INPUTS);
  const one = b.f64([1]);
  const zero = b.f64([0]);
  const si = b.op('Div', [i.vi!, i.vi_ref!]);
  const floor = b.op('Sub', [one, i.delta_si!]);
  const clamped = b.op('Cast', [b.op('Less', [si, floor])], { to: { int: 11 } }); // 11 = DOUBLE
  const siC = b.op('Max', [si, floor]);
  const deficit = b.op('Max', [b.op('Sub', [one, siC]), zero]);
  const factor = b.op('Sqrt', [b.op('Div', [deficit, i.delta_si!])]);
  const base = b.op('Max', [
    b.op('Sub', [b.op('Sub', [b.op('Mul', [i.mz!, i.n_opt!]), i.n_pp!]), i.n_crd!]),
    zero,
  ]);
  b.output('n_rate', b.op('Mul', [base, factor]), 'float64', ['N', 1]);
  b.output('si', si, 'float64', ['N', 1]);
  b.output('si_clamped', clamped, 'float64', ['N', 1]);
  const ref = `${HS_ID}@${HS_VERSION}`;
  const bytes = b.encode({ doc: 'Holland & Schepers (2010) sufficiency-index N algorithm (hatake)', ref });
  const card: CardDraft = {
    schema: 'hatake.model-card/1',
    id: HS_ID,
    version: HS_VERSION,
    title: {
      ja: 'Holland–Schepers 充足指数による窒素追肥量',
      en: 'Holland–Schepers sufficiency-index N rate',
    },
    file: `${ref}.onnx`,
    kind: 'n_rate',
    crops: ['corn'],
    profiles: ['corn-holland-schepers'],
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
        name: 'si',
        description: { ja: '充足指数 SI', en: 'Sufficiency index SI' },
        unit: '1',
        type: 'float64',
        role: 'diagnostic',
      },
      {
        name: 'si_clamped',
        description: {
          ja: 'SI < 1 − ΔSI(窒素以外のストレスの可能性)で1',
          en: '1 when SI < 1 − ΔSI (stress likely not N)',
        },
        unit: '1',
        type: 'float64',
        role: 'diagnostic',
      },
    ],
    method: {
      name: 'Holland & Schepers sufficiency-index algorithm',
      source: 'Holland K.H., Schepers J.S. 2010. Agron. J. 102:1415–1424',
      notes:
        'SI below 1 − ΔSI is clamped to 1 − ΔSI (full rate) and flagged, not backed off as in the paper; the profile’s min/max limits apply after the model.',
    },
    fitted: {
      where: 'Nebraska, USA (the paper’s corn trials), as published',
      data: 'The published algorithm; N_OPT and ΔSI are regional profile values',
      status: 'published',
    },
    onnx: onnxInfo(),
    example: {
      source: 'Hand-computed: SI 0.9, ΔSI 0.2, MZ 1, N_OPT 180, N_PP 50 → 130·√0.5',
      inputs: { vi: 0.36, vi_ref: 0.4, mz: 1, n_opt: 180, n_pp: 50, n_crd: 0, delta_si: 0.2 },
      outputs: { n_rate: 91.92388155425118, si: 0.9, si_clamped: 0 },
    },
  };
  return finish(card, bytes);
}
