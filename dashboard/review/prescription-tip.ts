// The farmer's tip for an approved recommendation: "your top-dressing prescription for field X is
// ready — mean N kg N/10a, this much product — download it for your spreader". Raised by the
// server when an officer (or the farm's auto-approval policy) approves, never by a gateway, so a
// farmer hears about a recommendation only once it has been reviewed. A prescription of 0 kg N in
// every zone (the crop needs none, or the image is from outside the top-dressing window) says
// plainly that no top-dressing is needed, as information, and does not ask for the spreader.
// Rates read kg/10a first in Japanese and kg/ha first in English, as the pages show them; the
// product total is written to 0.1 kg as the farmer's page writes it (productTotalText).
import { isId } from '../../protocol/ids.ts';
import { effectiveRate, spreadTotals, type Recommendation } from '../../protocol/recommendation.ts';
import type { Tip } from '../../protocol/tip.ts';
import { tipId } from '../../edge/rules/lifecycle.ts';
import { fieldTotals } from './totals.ts';

/** How long the tip stays on the farmer's list: a top-dressing window is one to two weeks. */
export const PRESCRIPTION_TIP_DAYS = 14;

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * A product total in kg as the tip and the farmer's page both write it: one decimal, grouped as
 * the language groups thousands ("42.7", "1,234.5"). dashboard/ui/pages/farmer.tsx SpreadTotals
 * writes the same.
 */
export function productTotalText(kg: number, lang: 'ja' | 'en'): string {
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  }).format(kg);
}

/** Whether a prescription spreads nothing: every zone at 0 kg N/ha (the officer's edits included). */
export function spreadsNothing(rec: Pick<Recommendation, 'zones'>): boolean {
  return rec.zones.every((z) => effectiveRate(z).kgNHa <= 0);
}

export interface ApprovalFacts {
  /** The field's name as the farmer knows it, when the server has it. */
  fieldName: string | null;
  /** Who approved: an officer's name, or null for the farm's auto-approval policy. The name is
   * not in the text (a user name is not how a farmer knows their officer); the recommendation shows it. */
  approvedBy: string | null;
  now: number;
}

/** The dedup key of an approved recommendation's prescription tip (one per recommendation). */
export const prescriptionKey = (farm: string, rec: string) => `prescription:${farm}:${rec}`;

/** The `prescription` tip for an approved recommendation (the rates are the officer's, if edited). */
export function prescriptionTip(rec: Recommendation, facts: ApprovalFacts): Tip {
  const rates = rec.zones.map((z) => ({ areaHa: z.areaHa, ...effectiveRate(z) }));
  const zoneTotals = fieldTotals(rec).totals;
  const meanHa = zoneTotals.areaHa > 0 ? zoneTotals.nKg / zoneTotals.areaHa : 0;
  // What the files spread: the zones and the part of the field outside them at the zones' mean.
  const { areaHa: area, nKg, productKg, restHa } = spreadTotals(rec);
  const ha = (v: number) => v.toFixed(2);
  const minHa = Math.min(...rates.map((r) => r.kgNHa));
  const maxHa = Math.max(...rates.map((r) => r.kgNHa));
  const field = facts.fieldName ?? rec.field;
  const by = facts.approvedBy;
  const per10a = (kgHa: number) => (kgHa / 10).toFixed(1);
  const perHa = (kgHa: number) => kgHa.toFixed(1);
  const key = prescriptionKey(rec.farm, rec.id);
  const zones = rec.zones.length;
  const none = spreadsNothing(rec);
  const severity = none ? 'info' : 'advisory';
  const approved = {
    ja: `${by ? '普及指導員が' : '自動承認ルールにより'}承認しました。`,
    en: `${by ? 'Approved by an extension officer' : "Approved by the farm's auto-approval policy"}. `,
  };
  const where = {
    ja: restHa > 0 ? `（圃場全体 ${ha(area)} ha 分。ゾーン外の ${ha(restHa)} ha はゾーンの平均の量）` : '',
    en:
      restHa > 0
        ? ` (the whole field, ${ha(area)} ha; the ${ha(restHa)} ha outside the zones at their mean rate)`
        : '',
  };
  return {
    id: tipId(key, facts.now, 'new', severity),
    kind: 'prescription',
    severity,
    farm: rec.farm,
    ...(isId(rec.field) ? { field: rec.field } : {}),
    devices: [],
    title: none
      ? {
          ja: `${field}は今回、追肥の必要はありません`.slice(0, 200),
          en: `No top-dressing needed for ${field}`.slice(0, 200),
        }
      : {
          ja: `${field}の施肥処方が承認されました`.slice(0, 200),
          en: `Fertilizer prescription approved for ${field}`.slice(0, 200),
        },
    text: none
      ? {
          ja:
            approved.ja +
            `${zones === 1 ? 'ゾーンは' : 'どのゾーンも'} 0 kg N/10a です。` +
            '今回は追肥の必要はなく、散布機に処方を読み込む必要もありません。',
          en:
            approved.en +
            `${zones === 1 ? 'The zone is' : 'Every zone is'} at 0 kg N/ha: ` +
            'no top-dressing is needed this time, and there is nothing to load into the spreader.',
        }
      : {
          ja:
            approved.ja +
            `${zones}ゾーン、平均 ${per10a(meanHa)} kg N/10a（${perHa(meanHa)} kg N/ha、` +
            `${per10a(minHa)}〜${per10a(maxHa)} kg N/10a）、` +
            `${rec.product.name.ja} 計 ${productTotalText(productKg, 'ja')} kg${where.ja}。` +
            '処方箋をダウンロードして散布機に読み込んでください。',
          en:
            approved.en +
            `${zones} zone${zones === 1 ? '' : 's'}, mean ${perHa(meanHa)} kg N/ha (${per10a(meanHa)} kg N/10a; ` +
            `${perHa(minHa)}–${perHa(maxHa)} kg N/ha), ` +
            `${productTotalText(productKg, 'en')} kg of ${rec.product.name.en} in all${where.en}. ` +
            "Download the prescription and load it into your spreader's controller.",
        },
    evidence: {
      rule: { id: 'officer-review', version: '1.0.0', params: `${rec.model.id}@${rec.model.version}` },
      sources: [{ citation: rec.model.method.slice(0, 500) }],
      points: [],
      thresholds: [],
      quantities: [
        { name: 'mean_rate', value: round(meanHa, 2), unit: 'kg N/ha' },
        { name: 'min_rate', value: round(minHa, 2), unit: 'kg N/ha' },
        { name: 'max_rate', value: round(maxHa, 2), unit: 'kg N/ha' },
        { name: 'total_n', value: round(nKg, 2), unit: 'kg' },
        { name: 'total_product', value: round(productKg, 2), unit: 'kg' },
        { name: 'area', value: round(area, 4), unit: 'ha' },
      ],
    },
    ...(isId(rec.field)
      ? {
          action: {
            type: 'fertilize' as const,
            field: rec.field,
            nutrient: 'N' as const,
            stage: 'in_season',
            recommendation: rec.id,
          },
        }
      : {}),
    created: facts.now,
    expires: facts.now + PRESCRIPTION_TIP_DAYS * 86_400_000,
    dedupKey: key,
    reason: 'new',
  };
}
