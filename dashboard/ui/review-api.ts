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
