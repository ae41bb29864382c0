// The routes of the review workflow, tips and automations (issue 8, dashboard/features/review.ts)
// as the pages call them — kept in one place so the pages read as what they do.
import type {
  ApprovedRecommendation,
  AutoApprovalBody,
  AutoApprovalPolicy,
  ApprovedRecommendationDetail,
  AutomateBody,
  AutomationCreate,
  AutomationLogView,
  AutomationUpdate,
  AutomationView,
  EditBody,
  EditResult,
  OverrideBody,
  OverrideView,
  ReviewDetail,
  ReviewQueueItem,
  TipView,
} from '../../protocol/review.ts';
import type { Static } from '@sinclair/typebox';
import { api, qs } from './api.ts';

const enc = encodeURIComponent;

/** The API's Reason (protocol/review.ts): 3 to 1000 characters, counted as code points (𠮷 is one). */
export const REASON_LENGTH = { min: 3, max: 1000 } as const;
// eslint-disable-next-line no-control-regex -- the control characters Reason refuses (tab among them)
const REASON_CONTROL = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/g;

/**
 * A reason or note as it is sent: a control character the API refuses (a tab pasted from a
 * spreadsheet) becomes a space, and the ends are trimmed.
 */
export function reasonText(raw: string): string {
  return raw.replace(REASON_CONTROL, ' ').trim();
}

/** Characters as the API counts them: code points, so a rare kanji outside the BMP (𠮷) is one. */
export const reasonLength = (text: string): number => [...text].length;

/**
 * What the API would make of a reason box: `empty` (nothing: an approval goes without a note, an
 * edit or a rejection cannot be sent), `short` (under 3 characters: refused as an edit's or a
 * rejection's reason and as an approval's note alike) or `ok`.
 */
export function reasonState(raw: string): 'empty' | 'short' | 'ok' {
  const n = reasonLength(reasonText(raw));
  return n === 0 ? 'empty' : n < REASON_LENGTH.min ? 'short' : 'ok';
}

/** EditBody's bounds for a zone's rate, in kg N/ha. */
export const EDIT_KG_HA = { min: 0, max: 1000 } as const;

/**
 * A rate as typed in a zone's box (kg N/10a in Japanese: `perUnit` 10; kg N/ha in English: 1),
 * full-width digits from a Japanese input method too: null when the box is empty (no edit), the
 * rate in kg N/ha, or the problem the API would refuse it for — not a number (a number box the
 * browser could not read reports `badInput` and an empty value), or outside EditBody's bounds.
 */
export function typedRate(
  text: string,
  perUnit: number,
  badInput = false,
): { kgNHa: number } | { problem: 'number' | 'range' } | null {
  const x = text.normalize('NFKC').trim();
  if (x === '') return badInput ? { problem: 'number' } : null;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(x)) return { problem: 'number' };
  const kgNHa = Math.round(Number(x) * perUnit * 1e6) / 1e6;
  return kgNHa >= EDIT_KG_HA.min && kgNHa <= EDIT_KG_HA.max ? { kgNHa } : { problem: 'range' };
}

export type ApprovedDetail = Static<typeof ApprovedRecommendationDetail>;

export const reviewApi = {
  tips: (farm: string, view: 'active' | 'history' = 'active') =>
    api<TipView[]>(`/api/v1/tips${qs({ farm, view })}`),
  tipAct: (id: string) => api<TipView>(`/api/v1/tips/${enc(id)}/act`, { method: 'POST', body: {} }),
  tipDismiss: (id: string) => api<TipView>(`/api/v1/tips/${enc(id)}/dismiss`, { method: 'POST', body: {} }),
  tipAutomate: (id: string, body: AutomateBody) =>
    api<{ tip: TipView; automation: AutomationView }>(`/api/v1/tips/${enc(id)}/automate`, {
      method: 'POST',
      body,
    }),

  approved: (farm: string) => api<ApprovedRecommendation[]>(`/api/v1/recommendations${qs({ farm })}`),
  approvedOne: (id: string) => api<ApprovedDetail>(`/api/v1/recommendations/${enc(id)}`),

  automations: (farm: string) => api<AutomationView[]>(`/api/v1/automations${qs({ farm })}`),
  automation: (id: string) => api<AutomationView>(`/api/v1/automations/${enc(id)}`),
  automationCreate: (body: AutomationCreate) =>
    api<AutomationView>('/api/v1/automations', { method: 'POST', body }),
  automationUpdate: (id: string, body: AutomationUpdate) =>
    api<AutomationView>(`/api/v1/automations/${enc(id)}`, { method: 'PUT', body }),
  /** Deletes an automation (204); the server tells the farm's gateways to drop it. */
  automationDelete: (id: string) =>
    api<unknown>(`/api/v1/automations/${enc(id)}`, { method: 'DELETE' }).then(() => undefined),
  automationLogs: (id: string) =>
    api<AutomationLogView[]>(`/api/v1/automations/${enc(id)}/logs${qs({ limit: 50 })}`),
  overrides: (farm: string) => api<OverrideView[]>(`/api/v1/farms/${enc(farm)}/overrides`),
  setOverride: (farm: string, device: string, body: OverrideBody) =>
    api<OverrideView>(`/api/v1/farms/${enc(farm)}/devices/${enc(device)}/override`, { method: 'PUT', body }),
  clearOverride: (farm: string, device: string) =>
    api<unknown>(`/api/v1/farms/${enc(farm)}/devices/${enc(device)}/override`, { method: 'DELETE' }),

  /** The farm's auto-approval policy, null when it has none (its farmer, its officers, admins). */
  autoApproval: (farm: string) => api<AutoApprovalPolicy | null>(`/api/v1/farms/${enc(farm)}/auto-approval`),
  setAutoApproval: (farm: string, body: AutoApprovalBody) =>
    api<AutoApprovalPolicy>(`/api/v1/farms/${enc(farm)}/auto-approval`, { method: 'PUT', body }),
  /** Opts the farm out (204); a farm without a policy answers 404. */
  removeAutoApproval: (farm: string) =>
    api<unknown>(`/api/v1/farms/${enc(farm)}/auto-approval`, { method: 'DELETE' }).then(() => undefined),

  queue: () => api<ReviewQueueItem[]>(`/api/v1/reviews`),
  review: (id: string) => api<ReviewDetail>(`/api/v1/reviews/${enc(id)}`),
  edit: (id: string, body: EditBody) =>
    api<EditResult>(`/api/v1/reviews/${enc(id)}/edit`, { method: 'POST', body }),
  /** `note`: the officer's note, kept in the audit and the decisions CSV (none when empty). */
  approve: (id: string, revision: number, note?: string) =>
    api<ReviewDetail>(`/api/v1/reviews/${enc(id)}/approve`, {
      method: 'POST',
      body: note?.trim() ? { revision, note: note.trim() } : { revision },
    }),
  reject: (id: string, reason: string, revision: number) =>
    api<ReviewDetail>(`/api/v1/reviews/${enc(id)}/reject`, { method: 'POST', body: { reason, revision } }),
  decisionsCsvUrl: (from?: string, to?: string) => `/api/v1/reviews/decisions.csv${qs({ from, to })}`,
};
