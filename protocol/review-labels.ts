// The words for a review's statuses and audit actions, as the officer's page shows them
// (dashboard/ui/i18n.ts `status_*`, `audit_*`): one table the server's exports can use without
// importing UI code; tests/unit/review-labels.test.ts keeps the two the same.
import type { ReviewStatus } from './recommendation.ts';
import type { AuditAction } from './review.ts';

export interface Label {
  ja: string;
  en: string;
}

export const REVIEW_STATUS_LABELS: Record<ReviewStatus, Label> = {
  pending_review: { ja: '審査待ち', en: 'Pending review' },
  edited: { ja: '修正済み（未承認）', en: 'Edited (not approved)' },
  approved: { ja: '承認済み', en: 'Approved' },
  rejected: { ja: '差し戻し', en: 'Rejected' },
  superseded: { ja: '新しい提案に置換', en: 'Superseded' },
};

export const AUDIT_ACTION_LABELS: Record<AuditAction, Label> = {
  received: { ja: '受信', en: 'received' },
  superseded: { ja: '置換', en: 'superseded' },
  edited: { ja: '修正', en: 'edited' },
  approved: { ja: '承認', en: 'approved' },
  rejected: { ja: '差し戻し', en: 'rejected' },
  auto_approved: { ja: '自動承認', en: 'auto-approved' },
  policy_set: { ja: '自動承認の設定', en: 'auto-approval set' },
  policy_removed: { ja: '自動承認の解除', en: 'auto-approval removed' },
};

/** A status's label, or the code itself for one the table does not know (null stays null). */
export function statusLabel(status: string | null, lang: keyof Label): string | null {
  if (status === null) return null;
  return Object.hasOwn(REVIEW_STATUS_LABELS, status)
    ? REVIEW_STATUS_LABELS[status as ReviewStatus][lang]
    : status;
}
