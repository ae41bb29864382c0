// Makes a nitrogen recommendation for one field: normalise the zones (the named field's, when the
// file holds several), cut them to the field's boundary when it is known (coverage.ts: what of the
// field no zone covers goes into `coverage`, for the prescriptions' default rate), pick the reference (N-rich strip, or the field's 95th percentile as the
// imagery computed it over its pixels — estimated from the zones for older zone files), assemble
// and range-check every input, run all zones in one batch (an n_rate model once; a
// yield_response model once over zones × candidate rates), then apply the profile's limits and
// spreader step, price it, and record the provenance. Pure: the runner (the worker pool) is
// passed in.
import { createHash } from 'node:crypto';
import { HatakeError } from '../../protocol/errors.ts';
import { modelRef, type ModelCard } from '../../protocol/model-card.ts';
import { profileRef, type CropProfile } from '../../protocol/crop-profile.ts';
import {
  RECOMMENDATION_SCHEMA,
  roundTotals,
  type Money,
  type MultiPolygonGeometry,
  type Note,
  type PolygonGeometry,
  type Recommendation,
  type RecommendationZone,
  type Totals,
} from '../../protocol/recommendation.ts';
import {
  assembleInputs,
  chooseIndex,
  feedsFor,
  type Feeds,
  type Observed,
  type ReferenceData,
} from '../inference/inputs.ts';
import { readZones } from './zones.ts';
import { virtualP95 } from './reference.ts';
import { applyRate, candidateRates, money, YIELD_UNITS } from './rates.ts';
import { clipZonesToField, type ClippedZones } from './coverage.ts';

/** Runs a batch of a loaded model (the inference pool satisfies this). */
export interface Runner {
  run(ref: string, feeds: Feeds): Promise<Record<string, { data: ArrayLike<number> }>>;
}

export interface RecommendRequest {
  farm: string;
  /**
   * The field: picks its zones when the file holds several fields' (required then); defaults to
   * the zones' fieldId.
   */
  field?: string;
  card: ModelCard;
  profile: CropProfile;
  /** zones.geojson as parsed JSON. */
  zones: unknown;
  /**
   * The field's boundary (WGS84; the farm manifest's). With it every zone is cut to the field,
   * its area is the area of what is left, and the recommendation's `coverage` says what of the
   * field no zone covers (the prescriptions give that the default rate). Without it the zones are
   * taken as they are and there is no `coverage`.
   */
  boundary?: PolygonGeometry | MultiPolygonGeometry;
  fieldAttributes?: Record<string, Observed>;
  sensors?: Record<string, Observed>;
  /** An N-rich strip's index values, or the field's virtual 95th percentile (default). */
  reference?:
    | { kind: 'n_rich_strip'; values: Record<string, number>; time: number | null; source: string }
    | { kind: 'virtual_p95' };
  now: number;
  /** Who made it, for the review history (e.g. "gateway gw-1"). */
  by: string;
}

const note = (code: string, ja: string, en: string): Note => ({ code, text: { ja, en } });
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

function totalsOf(rows: { areaHa: number; kgNHa: number; productKgHa: number; m: Money }[]): Totals {
  const t = { areaHa: 0, nKg: 0, productKg: 0, yieldGainKg: 0, gainYen: 0, costYen: 0, marginYen: 0 };
  for (const r of rows) {
    t.areaHa += r.areaHa;
    t.nKg += r.kgNHa * r.areaHa;
    t.productKg += r.productKgHa * r.areaHa;
    t.yieldGainKg += r.m.yieldGainKgHa * r.areaHa;
    t.gainYen += r.m.gainYenHa * r.areaHa;
    t.costYen += r.m.costYenHa * r.areaHa;
    t.marginYen += r.m.marginYenHa * r.areaHa;
  }
  return roundTotals(t);
}

/** Makes a recommendation; throws a coded HatakeError when an input is missing or out of range. */
export async function recommend(runner: Runner, req: RecommendRequest): Promise<Recommendation> {
  const { card, profile } = req;
  const pRef = profileRef(profile);
  if (!card.crops.includes(profile.crop))
    throw new HatakeError(
      'HATAKE_E_MODEL_CARD',
      `profile ${pRef} is for ${profile.crop}; ${modelRef(card)} is for ${card.crops.join(', ')}`,
      {
        expected: `a profile for ${card.crops.join(' or ')}`,
      },
    );
  const z = readZones(req.zones, 'zones', req.field);
  const field = req.field ?? z.fieldId;
  if (!field)
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'the zones name no field and none was given', {
      expected: '--field ID',
    });
  // Cut to the field before anything runs: zones that are not the field's are refused here.
  const clip: ClippedZones | null = req.boundary
    ? clipZonesToField(
        field,
        req.boundary,
        z.zones.map((zone, k) => ({ id: zone.id, geometry: z.geometry[k]! })),
      )
    : null;

  // the reference for RI / SI
  const refInput = card.inputs.find((i) => i.source.kind === 'index_reference');
  let reference: ReferenceData | undefined;
  /** Indices whose virtual reference is an estimate from the zones (no fieldP95). */
  const estimated = new Set<string>();
  if (refInput && refInput.source.kind === 'index_reference') {
    if (req.reference?.kind === 'n_rich_strip') {
      reference = {
        kind: 'n_rich_strip',
        values: req.reference.values,
        how: req.reference.source,
        time: req.reference.time,
      };
    } else {
      // The field's 95th percentile over its pixels, as the imagery part computed it (zones'
      // fieldP95). Zones written before it existed carry only per-zone statistics: then it is
      // estimated as the 95th percentile of the pixel-weighted mixture of one normal per zone,
      // which can land well off the field's (even above its maximum) — the notes say so.
      const values: Record<string, number> = {};
      for (const idx of refInput.source.index) {
        const exact = z.fieldP95[idx];
        if (exact !== undefined) values[idx] = exact;
        else {
          const v = virtualP95(z.zones, idx);
          if (v !== null) {
            values[idx] = round(v, 6);
            estimated.add(idx);
          }
        }
      }
      const idx = chooseIndex(card, z.zones) ?? refInput.source.index[0]!;
      reference = {
        kind: 'virtual_p95',
        values,
        how: estimated.has(idx)
          ? 'no N-rich strip: 95th percentile of the field, estimated from the pixel-weighted mixture of zone means and standard deviations (the zones carry no fieldP95)'
          : "no N-rich strip: 95th percentile of the field's valid pixels (linear interpolation), from the imagery's fieldP95",
        time: z.acquired,
      };
    }
  }

  const a = assembleInputs(card, {
    zones: z.zones,
    profile,
    profileRef: pRef,
    field: req.fieldAttributes ?? {},
    sensors: req.sensors ?? {},
    reference,
    now: req.now,
  });
  const ref = modelRef(card);
  const n = z.zones.length;
  const notes: Note[] = [];
  const zoneNotes: Note[][] = z.zones.map(() => []);
  const modelRates = new Float64Array(n);
  const outputsByZone: Record<string, number>[] = z.zones.map(() => ({}));
  let basis: Recommendation['economics']['basis'] = 'none';
  // response(z, r): expected yield gain in kg/ha at r kg N/ha
  let response: (zone: number, kgNHa: number) => number = () => 0;
  let options: ((zone: number) => number[]) | undefined;

  if (card.kind === 'n_rate') {
    const out = await runner.run(
      ref,
      feedsFor(
        card,
        a,
        z.zones.map((_, k) => k),
      ),
    );
    const rateName = card.outputs.find((o) => o.role === 'n_rate')!.name;
    const gainName = card.outputs.find((o) => o.role === 'yield_gain')?.name;
    for (let k = 0; k < n; k++) {
      for (const o of card.outputs) outputsByZone[k]![o.name] = round(Number(out[o.name]!.data[k]), 6);
      modelRates[k] = Number(out[rateName]!.data[k]);
    }
    const ae = profile.economics.agronomicEfficiency;
    const slope = (k: number): number => {
      if (gainName) return modelRates[k]! > 0 ? Number(out[gainName]!.data[k]) / modelRates[k]! : 0;
      return ae ?? 0;
    };
    basis = gainName ? 'model_yield_gain' : ae !== undefined ? 'agronomic_efficiency' : 'none';
    // Linear up to the model's rate, flat beyond (linear-plateau): the model gives no gain past
    // its own rate (SBNRC's rate is what reaches YPN; AGRONOMY.md gives no response curve for
    // these methods). The margin is then linear in the rate up to the model's rate and falls
    // beyond it, so its maximum is at 0 or at the model's rate: those are the only options.
    response = (k, r) => slope(k) * Math.min(r, modelRates[k]!);
    options = (k) => [0, applyRate(modelRates[k]!, profile).productKgHa];
    notes.push(
      note(
        'economic_optimum',
        `施肥量モデル: 収量はモデルの施肥量までは施肥量に比例して増え、それ以上は増えない(直線プラトー)とみなすため、利益が最大になるのは無施肥かモデルの施肥量のどちらかです`,
        `N-rate model: the yield gain is taken as proportional to the rate up to the model's rate and flat beyond (linear-plateau), so the margin is best either at no fertilizer or at the model's rate; no other rate is searched`,
      ),
    );
  } else {
    const rateInput = card.inputs.find((i) => i.source.kind === 'n_rate')!;
    const yieldOut = card.outputs.find((o) => o.role === 'yield')!;
    const perUnit = YIELD_UNITS[yieldOut.unit];
    if (perUnit === undefined)
      throw new HatakeError(
        'HATAKE_E_MODEL_CARD',
        `${ref}: yield unit "${yieldOut.unit}" is not one hatake converts`,
        {
          expected: Object.keys(YIELD_UNITS).join(', '),
        },
      );
    // never ask the model about rates it was not trained on
    const lo = Math.max(profile.limits.minKgNHa, rateInput.min);
    const hi = Math.min(profile.limits.maxKgNHa, rateInput.max);
    const cands = candidateRates(profile, lo, hi);
    if (cands.length === 0)
      throw new HatakeError(
        'HATAKE_E_MODEL_INPUT_RANGE',
        `${ref}: no spreader rate lies inside both the profile's limits and the model's N range ${rateInput.min}–${rateInput.max}`,
      );
    const nOf = (product: number) => product * profile.fertilizer.nFraction;
    const zoneOf: number[] = [];
    const nRate: number[] = [];
    for (let k = 0; k < n; k++) {
      for (const c of cands) {
        zoneOf.push(k);
        nRate.push(nOf(c));
      }
    }
    const out = await runner.run(ref, feedsFor(card, a, zoneOf, nRate));
    const y = out[yieldOut.name]!.data;
    const yieldAt = (k: number, c: number) => Number(y[k * cands.length + c]) * perUnit;
    basis = 'model_yield';
    for (let k = 0; k < n; k++) {
      let best = 0;
      let bestMargin = -Infinity;
      cands.forEach((c, ci) => {
        const m = money(yieldAt(k, ci) - yieldAt(k, 0), c, profile).marginYenHa;
        if (m > bestMargin) {
          bestMargin = m;
          best = ci;
        }
      });
      modelRates[k] = nOf(cands[best]!);
      outputsByZone[k]![yieldOut.name] = round(yieldAt(k, best) / perUnit, 4);
      outputsByZone[k]![`${yieldOut.name}_at_lowest_rate`] = round(yieldAt(k, 0) / perUnit, 4);
    }
    response = (k, r) => {
      const ci = cands.findIndex((c) => Math.abs(nOf(c) - r) < 1e-6);
      return ci < 0 ? 0 : yieldAt(k, ci) - yieldAt(k, 0);
    };
    options = () => cands;
    notes.push(
      note(
        'economic_optimum',
        `収量応答モデル: 各ゾーンで利益が最大となる施肥量(${lo}–${hi} kg N/ha の範囲)を推奨`,
        `Yield-response model: each zone gets the rate with the best margin (searched over ${lo}–${hi} kg N/ha)`,
      ),
    );
  }

  // diagnostics the models flag
  z.zones.forEach((_, k) => {
    const o = outputsByZone[k]!;
    if (o.si_clamped === 1)
      zoneNotes[k]!.push(
        note(
          'si_clamped',
          'SIが 1−ΔSI を下回りました: 窒素以外のストレスの可能性があります',
          'SI below 1 − ΔSI: the stress is likely not nitrogen; SI was clamped',
        ),
      );
    if (o.lodging_risk === 1)
      zoneNotes[k]!.push(
        note(
          'lodging_risk',
          '倒伏の危険: 草丈×茎数が上限を超えています',
          'Lodging likely: plant height × stems/m² is above the limit',
        ),
      );
  });
  if (reference?.kind === 'virtual_p95')
    notes.push(
      note(
        'virtual_reference',
        'Nリッチストリップなし: 圃場の95パーセンタイルを基準にしました',
        'No N-rich strip: the field’s 95th percentile was the reference',
      ),
    );
  if (reference?.kind === 'virtual_p95' && a.index && estimated.has(a.index))
    notes.push(
      note(
        'virtual_reference_estimated',
        `ゾーンに圃場の95パーセンタイル(fieldP95)がないため、ゾーンの平均・標準偏差から推定しました(推定値 ${reference.values[a.index]}): 画像を処理し直すと正確な値になります`,
        `The zones carry no fieldP95 (written before it existed): the field’s 95th percentile was estimated from the zones’ means and standard deviations (${reference.values[a.index]}), which can differ from the pixels’ — reprocess the scene for the exact value`,
      ),
    );
  if (clip && clip.coverage.uncoveredAreaHa > 0) {
    const c = clip.coverage;
    const pct = c.fieldAreaHa > 0 ? round((100 * c.uncoveredAreaHa) / c.fieldAreaHa, 1) : 0;
    const ha = round(c.uncoveredAreaHa, 4);
    notes.push(
      note(
        'uncovered_area',
        `圃場の ${pct} %(${ha} ha)はどのゾーンにも入っていません(雲・影で画素が使えない部分や、境界沿いで画素の中心が圃場外の部分): 処方ではゾーンの面積加重平均の施肥量を散布します`,
        `${pct} % of the field (${ha} ha) is in no zone (pixels masked by cloud or shadow, or along the boundary where no pixel centre falls in the field): the prescriptions give it the zones' area-weighted mean rate`,
      ),
    );
  }
  if (card.fitted.status === 'provisional')
    notes.push(
      note(
        'provisional_calibration',
        `暫定の較正を使用: ${card.fitted.where}`,
        `Provisional calibration: ${card.fitted.where}`,
      ),
    );

  const zones: RecommendationZone[] = z.zones.map((zone, k) => {
    const rate = applyRate(modelRates[k]!, profile);
    if (rate.clamped)
      zoneNotes[k]!.push(
        note(
          `clamped_${rate.clamped}`,
          `施肥量をプロファイルの${rate.clamped === 'max' ? '上限' : '下限'}に合わせました`,
          `Rate moved to the profile's ${rate.clamped} limit`,
        ),
      );
    const econ = money(response(k, rate.kgNHa), rate.productKgHa, profile);
    let bestProduct = rate.productKgHa;
    let bestMoney = econ;
    for (const product of options!(k)) {
      const m = money(response(k, product * profile.fertilizer.nFraction), product, profile);
      if (m.marginYenHa > bestMoney.marginYenHa) {
        bestMoney = m;
        bestProduct = product;
      }
    }
    return {
      id: zone.id,
      zone: zone.zone,
      // Cut to the field: the area the zone's pixels cover inside it, where its rate is spread.
      areaHa: clip ? clip.areaHa[k]! : zone.areaHa,
      geometry: clip ? clip.geometry[k]! : z.geometry[k]!,
      inputs: a.perZone[k]!,
      outputs: outputsByZone[k]!,
      rate,
      economics: econ,
      economicOptimum: {
        kgNHa: round(bestProduct * profile.fertilizer.nFraction, 4),
        productKgHa: bestProduct,
        economics: bestMoney,
      },
      notes: zoneNotes[k]!,
    };
  });

  const totals = totalsOf(
    zones.map((x) => ({
      areaHa: x.areaHa,
      kgNHa: x.rate.kgNHa,
      productKgHa: x.rate.productKgHa,
      m: x.economics,
    })),
  );
  const optimum = totalsOf(
    zones.map((x) => ({
      areaHa: x.areaHa,
      kgNHa: x.economicOptimum.kgNHa,
      productKgHa: x.economicOptimum.productKgHa,
      m: x.economicOptimum.economics,
    })),
  );
  const id = `rec-${createHash('sha256')
    .update(JSON.stringify([req.farm, field, ref, pRef, req.now, zones.map((x) => [x.id, x.rate.kgNHa])]))
    .digest('hex')
    .slice(0, 20)}`;
  return {
    schema: RECOMMENDATION_SCHEMA,
    id,
    farm: req.farm,
    field,
    crop: profile.crop,
    createdAt: req.now,
    status: 'pending_review',
    history: [{ status: 'pending_review', at: req.now, by: req.by }],
    model: {
      id: card.id,
      version: card.version,
      sha256: card.sha256,
      kind: card.kind,
      method: card.method.name,
    },
    profile: { id: profile.id, version: profile.version },
    product: {
      id: profile.fertilizer.id,
      name: profile.fertilizer.name,
      nFraction: profile.fertilizer.nFraction,
      priceYenPerKg: profile.fertilizer.priceYenPerKg,
    },
    imagery: { sceneId: z.sceneId, acquired: z.acquired, index: a.index },
    reference:
      reference && a.index && reference.values[a.index] !== undefined
        ? {
            kind: reference.kind,
            index: a.index,
            value: reference.values[a.index]!,
            how: reference.how.slice(0, 300),
          }
        : null,
    inputs: a.shared,
    zones,
    ...(clip ? { coverage: clip.coverage } : {}),
    totals,
    economics: {
      cropPriceYenPerKg: profile.economics.cropPriceYenPerKg,
      productPriceYenPerKg: profile.fertilizer.priceYenPerKg,
      applicationYenPerHa: profile.economics.applicationYenPerHa,
      basis,
      economicOptimum: optimum,
    },
    notes,
  };
}
