// The officers' CSV export of review decisions: one row per decision (edits, approvals,
// rejections, auto-approvals, policy changes) from the audit log. UTF-8 with a BOM so Excel opens
// Japanese text correctly; cells that a spreadsheet would run as a formula (= + - @ tab CR) are
// prefixed with an apostrophe (OWASP CSV injection advice), since reasons and names are typed by people.
import type { AuditEntry } from '../../protocol/review.ts';
import { offsetMs } from '../../edge/rules/local-time.ts';

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
  'time_local',
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

/**
 * A time as a spreadsheet reads it, in the farm's zone: `2026-07-22 09:15` (what the officer and
 * the farmer call the time of the decision; `time_utc` beside it stays exact).
 */
export function localTime(iso: string, timeZone: string): string {
  const t = Date.parse(iso);
  return new Date(t + offsetMs(timeZone, t)).toISOString().slice(0, 16).replace('T', ' ');
}

/** The decisions as CSV text (with a byte-order mark); `zoneOf` gives a farm's IANA zone. */
export function decisionsCsv(
  entries: AuditEntry[],
  describe: (farm: string, id: string) => { field: string; model: string } | undefined,
  zoneOf: (farm: string) => string,
): string {
  const zones = new Map<string, string>();
  const zone = (farm: string) => {
    let z = zones.get(farm);
    if (z === undefined) zones.set(farm, (z = zoneOf(farm)));
    return z;
  };
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
      localTime(e.at, zone(e.farm)),
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
