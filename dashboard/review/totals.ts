// A recommendation's field totals, the one computation for the whole review workflow: the
// document's own `totals` once an officer has edited a zone (so what goes down to the gateways,
// the farmer's API, the prescription tip and the officer's page all say the same kg N), the
// queue's and the webhooks' kg N, and the officer's economics as recommended and as applied.
// And what the prescription spreads over the whole field (`fieldSpread`): the total N and product
// the farmer's page and the officer's page both show.
import {
  effectiveRate,
  roundTotals,
  spreadTotals,
  type Money,
  type Note,
  type Recommendation,
  type RecommendationZone,
  type Totals,
} from '../../protocol/recommendation.ts';
import type { ReviewDetail } from '../../protocol/review.ts';

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** The code of the note an edited document carries when its gain could not be re-estimated. */
export const GAIN_NOT_REESTIMATED = 'gain_not_reestimated';

export interface FieldTotals {
  /** Rounded as edge/recommend rounds a recommendation's totals. */
  totals: Totals;
  /**
   * Whether the yield gain (and so gain and margin) is known at these rates: false when a zone is
   * edited to a rate the model was not asked about and its basis gives no response to
   * re-estimate with (a yield-response model would have to run again).
   */
  gainKnown: boolean;
}

/**
 * The field's totals at the rates it applies (`applied`: the officer's edit where there is one)
 * or at the recommendation's own rates (`recommended`: edge/recommend's `totals`, recomputed from
 * the zones in the same order and with the same rounding). A zone at its recommended rate keeps
 * the recommendation's own money; for an edited zone the cost is the product at its price plus
 * the application, and the gain is re-estimated with the recommendation's own linear response up
 * to the model's rate (agronomic efficiency or the model's yield gain) — otherwise unknown.
 */
export function fieldTotals(rec: Recommendation, at: 'applied' | 'recommended' = 'applied'): FieldTotals {
  const e = rec.economics;
  const linear = e.basis === 'agronomic_efficiency' || e.basis === 'model_yield_gain';
  const t = { areaHa: 0, nKg: 0, productKg: 0, yieldGainKg: 0, gainYen: 0, costYen: 0, marginYen: 0 };
  let gainKnown = true;
  for (const z of rec.zones) {
    const rate = at === 'applied' ? effectiveRate(z) : z.rate;
    t.areaHa += z.areaHa;
    t.nKg += rate.kgNHa * z.areaHa;
    t.productKg += rate.productKgHa * z.areaHa;
    if (rate.kgNHa === z.rate.kgNHa && rate.productKgHa === z.rate.productKgHa) {
      t.yieldGainKg += z.economics.yieldGainKgHa * z.areaHa;
      t.gainYen += z.economics.gainYenHa * z.areaHa;
      t.costYen += z.economics.costYenHa * z.areaHa;
      t.marginYen += z.economics.marginYenHa * z.areaHa;
      continue;
    }
    const m = editedMoney(z, rate, e);
    t.costYen += m.costYenHa * z.areaHa;
    if (!linear) {
      gainKnown = false;
      continue;
    }
    t.yieldGainKg += m.yieldGainKgHa * z.areaHa;
    t.gainYen += m.gainYenHa * z.areaHa;
    t.marginYen += m.marginYenHa * z.areaHa;
  }
  return {
    totals: roundTotals(t),
    gainKnown,
  };
}

/**
 * A zone's money at an edited rate, rounded per hectare as edge/recommend's `money` rounds it, at
 * the prices the recommendation was made with. The yield gain is linear up to the model's rate and
 * flat beyond (the response edge/recommend priced linear bases with); meaningless for other bases.
 */
function editedMoney(
  z: RecommendationZone,
  rate: { kgNHa: number; productKgHa: number },
  e: Recommendation['economics'],
): Money {
  const model = Math.max(0, z.rate.modelKgNHa);
  const at = Math.min(z.rate.kgNHa, model);
  const slope = at > 0 ? z.economics.yieldGainKgHa / at : 0;
  const yieldGainKgHa = slope * Math.min(rate.kgNHa, model);
  const gain = yieldGainKgHa * e.cropPriceYenPerKg;
  const cost = rate.productKgHa * e.productPriceYenPerKg + (rate.productKgHa > 0 ? e.applicationYenPerHa : 0);
  return {
    yieldGainKgHa: round(yieldGainKgHa, 3),
    gainYenHa: Math.round(gain),
    costYenHa: Math.round(cost),
    marginYenHa: Math.round(gain - cost),
  };
}

/** Which rates a field's spread is counted at (see fieldSpread). */
export type SpreadRates = 'applied' | 'recommended' | 'optimum';

/** The zones and coverage of a recommendation: what fieldSpread reads (a farmer's or an officer's copy). */
export type SpreadInput = Pick<Recommendation, 'zones' | 'coverage'>;

/**
 * What the prescription spreads over the whole field: the zones at their rates plus the part no
 * zone covers (`restHa`) at the zones' mean — the amount a farmer loads, where `fieldTotals` and
 * the money count the zones only. At the rates the field gets (`applied`: the officer's edits, as
 * protocol's spreadTotals counts them for the farmer's page, the prescription tip and the files),
 * at the recommendation's own (`recommended`) or at each zone's economic optimum (`optimum`),
 * the rest at the mean of those same rates. The one total N the farmer and the officer both read.
 */
export function fieldSpread(rec: SpreadInput, at: SpreadRates = 'applied'): ReturnType<typeof spreadTotals> {
  if (at === 'applied') return spreadTotals(rec);
  // The zones at those rates and without the officer's edits (which spreadTotals would apply).
  const zones = rec.zones.map((z): RecommendationZone => {
    const o = z.economicOptimum;
    const rate = at === 'recommended' ? z.rate : { ...z.rate, kgNHa: o.kgNHa, productKgHa: o.productKgHa };
    return { ...z, rate, edited: undefined };
  });
  return spreadTotals({ zones, coverage: rec.coverage });
}

/** The officer's economics at the applied rates; the gain and margin are null where unknown. */
export function appliedEconomics(rec: Recommendation): ReviewDetail['economics']['applied'] {
  const { totals: t, gainKnown } = fieldTotals(rec);
  return {
    nKg: t.nKg,
    productKg: t.productKg,
    costYen: t.costYen,
    gainYen: gainKnown ? t.gainYen : null,
    marginYen: gainKnown ? t.marginYen : null,
  };
}

/** The officer's economics at the recommendation's own rates. */
export function recommendedEconomics(rec: Recommendation): ReviewDetail['economics']['recommended'] {
  const { totals: t } = fieldTotals(rec, 'recommended');
  return {
    nKg: t.nKg,
    productKg: t.productKg,
    costYen: t.costYen,
    gainYen: t.gainYen,
    marginYen: t.marginYen,
  };
}

const GAIN_NOTE: Note = {
  code: GAIN_NOT_REESTIMATED,
  text: {
    ja: '修正した施肥量での増収・収益・利益は再計算できないため（収量応答モデルを修正後の施肥量で再実行する必要があります）、合計の増収・収益・利益は推奨時の値です。窒素量・資材量・費用は修正後の値です',
    en: "The totals' yield gain, gain and margin are the recommendation's: a yield-response model would have to run again at the edited rates. Their N, product and cost are at the edited rates",
  },
};

/**
 * The document with `totals` at the rates it applies, as every copy of an edited recommendation
 * carries them (the one stored, published down to the gateways, shown to the farmer). A document
 * without edits is returned as it is (its totals are the gateway's). Where the gain cannot be
 * re-estimated, the yield gain, gain and margin stay the recommendation's and a note says so:
 * the schema has no "unknown" for them.
 */
export function withAppliedTotals(rec: Recommendation): Recommendation {
  if (!rec.zones.some((z) => z.edited !== undefined)) return rec;
  const { totals, gainKnown } = fieldTotals(rec);
  const notes = rec.notes.filter((n) => n.code !== GAIN_NOT_REESTIMATED);
  if (gainKnown) return { ...rec, totals, notes };
  const recommended = fieldTotals(rec, 'recommended').totals;
  return {
    ...rec,
    totals: {
      ...totals,
      yieldGainKg: recommended.yieldGainKg,
      gainYen: recommended.gainYen,
      marginYen: recommended.marginYen,
    },
    notes: notes.length < 32 ? [...notes, GAIN_NOTE] : notes,
  };
}
