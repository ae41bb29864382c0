// The auto-approval form's logic, without Preact: the draft a farmer or officer fills in (which
// model, the ceiling in the reader's rate unit, an optional reason), its checks against the same
// bounds as the API's AutoApprovalBody (tests/unit/ui-auto-approval.test.ts holds them equal), and
// the request body. The components are in components/AutoApproval.tsx.
import type { AutoApprovalBody, AutoApprovalPolicy } from '../../protocol/review.ts';
import { clean, parseNum, rangeError } from './automation-draft.ts';
import { fmtNumber } from './format.ts';
import { REASON_LENGTH, reasonLength } from './review-api.ts';
import type { Lang } from './i18n.ts';

export type Translate = (key: string) => string;

/** AutoApprovalBody.model: a model id (any version) or id@version. */
export const MODEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}(@\d+\.\d+\.\d+)?$/;
/** AutoApprovalBody.maxKgNHa's bounds, in kg N/ha. */
export const CEILING_KG_HA = { min: 0, max: 500 } as const;
/** Reason's length, when one is given (the review API's Reason). */
export { REASON_LENGTH };

export interface PolicyDraft {
  model: string;
  /** The ceiling as typed: kg N/10a in Japanese, kg N/ha in English. */
  ceiling: string;
  reason: string;
}

export type PolicyErrors = Partial<Record<keyof PolicyDraft, string>>;

/** kg/ha per unit of the reader's rate: Japanese reads kg/10a (1 kg/10a = 10 kg/ha). */
const factor = (lang: Lang): number => (lang === 'ja' ? 10 : 1);

/** The rate unit a reader types the ceiling in. */
export const ceilingUnit = (lang: Lang): string => (lang === 'ja' ? 'kg/10a' : 'kg/ha');

/** The model id of a model reference, without its version: osu-sbnrc@1.0.0 → osu-sbnrc. */
export const modelId = (ref: string): string => ref.split('@')[0] ?? ref;

/**
 * The models to suggest: each model id of the given references (a policy for an id covers every
 * version), then the references themselves, without repeats.
 */
export function modelChoices(refs: readonly string[]): string[] {
  return [...new Set([...refs.map(modelId), ...refs])].filter((m) => MODEL_PATTERN.test(m));
}

/** The ceiling as typed (full-width digits from a Japanese input method too) in kg N/ha; NaN if not a number. */
export function ceilingKgHa(text: string, lang: Lang): number {
  const n = parseNum(text.normalize('NFKC'));
  return Number.isFinite(n) ? clean(n * factor(lang)) : NaN;
}

/** The draft the form starts from: the farm's policy if it has one, else the first suggested model. */
export function draftOf(
  policy: AutoApprovalPolicy | null | undefined,
  refs: readonly string[],
  lang: Lang,
): PolicyDraft {
  if (policy)
    return { model: policy.model, ceiling: String(clean(policy.maxKgNHa / factor(lang))), reason: '' };
  return { model: modelChoices(refs)[0] ?? '', ceiling: '', reason: '' };
}

/** What is wrong with a draft, field by field, in the reader's language; empty when nothing is. */
export function checkPolicy(d: PolicyDraft, lang: Lang, t: Translate): PolicyErrors {
  const errors: PolicyErrors = {};
  if (!MODEL_PATTERN.test(d.model.trim())) errors.model = t('errModel');
  const kg = ceilingKgHa(d.ceiling, lang);
  if (!(kg >= CEILING_KG_HA.min && kg <= CEILING_KG_HA.max)) {
    errors.ceiling = rangeError(
      t,
      fmtNumber(CEILING_KG_HA.min / factor(lang), lang),
      fmtNumber(CEILING_KG_HA.max / factor(lang), lang),
      ceilingUnit(lang),
    );
  }
  const reason = d.reason.trim();
  // eslint-disable-next-line no-control-regex -- the control characters Reason refuses
  const control = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/;
  const length = reasonLength(reason);
  if (reason && (length < REASON_LENGTH.min || length > REASON_LENGTH.max || control.test(reason)))
    errors.reason = t('errReasonOptional');
  return errors;
}

/** The request body of a checked draft. */
export function policyBody(d: PolicyDraft, lang: Lang): AutoApprovalBody {
  const reason = d.reason.trim();
  return {
    model: d.model.trim(),
    maxKgNHa: ceilingKgHa(d.ceiling, lang),
    ...(reason ? { reason } : {}),
  };
}
