// The officers' CSV export of review decisions: one row per decision (edits, approvals,
// rejections, auto-approvals, policy changes) from the audit log. UTF-8 with a BOM so Excel opens
// Japanese text correctly; cells that a spreadsheet would run as a formula (= + - @ tab CR) are
// prefixed with an apostrophe (OWASP CSV injection advice), since reasons and names are typed by people.
import type { AuditEntry } from '../../protocol/review.ts';

const FORMULA = /^[=+\-@\t\r]/;

/** One CSV cell: quoted when needed, formula-neutralised. */
export function csvCell(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  const s = FORMULA.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const HEADER = [
  'time_utc',
  'farm',
  'field',
  'recommendation',
  'model',
  'action',
  'actor',
  'role',
  'from_status',
  'to_status',
  'changes',
  'reason',
];

/** The decisions as CSV text (with a byte-order mark). */
export function decisionsCsv(
  entries: AuditEntry[],
  describe: (farm: string, id: string) => { field: string; model: string } | undefined,
): string {
  const lines = entries.map((e) => {
    const rec = e.recommendation ? describe(e.farm, e.recommendation) : undefined;
    const changes = e.changes
      .filter((c) => c.path !== '/status')
      .map(
        (c) =>
          `${c.path} ${c.from ?? '∅'}→${c.to ?? '∅'}${c.requested !== undefined ? ` (asked ${c.requested})` : ''}`,
      )
      .join('; ');
    return [
      e.at,
      e.farm,
      rec?.field ?? null,
      e.recommendation,
      rec?.model ?? null,
      e.action,
      e.actor,
      e.role,
      e.fromStatus,
      e.toStatus,
      changes,
      e.reason,
    ]
      .map(csvCell)
      .join(',');
  });
  return `\uFEFF${[HEADER.join(','), ...lines].join('\r\n')}\r\n`;
}
