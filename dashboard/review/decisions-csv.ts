// The officers' CSV export of review decisions: one row per decision (edits, approvals,
// rejections, auto-approvals, policy changes) from the audit log. UTF-8 with a BOM so Excel opens
// Japanese text correctly; cells that a spreadsheet would run as a formula (= + - @ tab CR) are
// prefixed with an apostrophe (OWASP CSV injection advice), since reasons and names are typed by people.
// Each machine column (ids, codes, UTC time, changes in kg N/ha) has a readable one beside it for
// the officer in Excel: names, Japanese words, the farm's local time and the changes in kg/10a as
// the review page writes them. Column names are ASCII snake_case; docs/review.md lists them.
import type { AuditChange, AuditEntry } from '../../protocol/review.ts';
import { zoneRateOfPath } from '../../protocol/pointer.ts';
import { AUDIT_ACTION_LABELS, statusLabel } from '../../protocol/review-labels.ts';
import { offsetMs } from '../../edge/rules/local-time.ts';

const FORMULA = /^[=+\-@\t\r]/;

/** One CSV cell: quoted when needed, formula-neutralised. */
export function csvCell(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  const s = FORMULA.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const DECISIONS_HEADER = [
  'time_utc',
  'time_local',
  'farm',
  'farm_name',
  'field',
  'field_name',
  'recommendation',
  'model',
  'action',
  'action_ja',
  'actor',
  'role',
  'from_status',
  'from_status_ja',
  'to_status',
  'to_status_ja',
  'changes',
  'changes_ja',
  'reason',
] as const;

/** What the CSV names of a farm. */
export interface FarmFacts {
  name: string;
  /** IANA zone. */
  timezone: string;
}

/** What the CSV names of a recommendation in the audit. */
export interface RecommendationFacts {
  field: string;
  /** The field's name from the farm's manifest; null when the server has none. */
  fieldName: string | null;
  /** id@version. */
  model: string;
  /** Each zone's number (ゾーン 1, 2 …) by its id. */
  zones: Record<string, number>;
}

export interface DecisionFacts {
  farm(farm: string): FarmFacts | undefined;
  recommendation(farm: string, id: string): RecommendationFacts | undefined;
}

/**
 * A time as a spreadsheet reads it, in the farm's zone: `2026-07-22 09:15` (what the officer and
 * the farmer call the time of the decision; `time_utc` beside it stays exact).
 */
export function localTime(iso: string, timeZone: string): string {
  const t = Date.parse(iso);
  return new Date(t + offsetMs(timeZone, t)).toISOString().slice(0, 16).replace('T', ' ');
}

/** The changes as tools read them: `/zones/upland-1-z2/kgNHa 0→29.9 (asked 30)` (kg N/ha). */
export function changesText(changes: AuditChange[]): string {
  return changes
    .filter((c) => c.path !== '/status')
    .map(
      (c) =>
        `${c.path} ${c.from ?? '∅'}→${c.to ?? '∅'}${c.requested !== undefined ? ` (asked ${c.requested})` : ''}`,
    )
    .join('; ');
}

// Three decimals where the page shows two: ammonium sulfate on a 5 kg step sets 19.95 kg N/ha,
// which must not read "2.0 kg/10a（入力 2.0 kg/10a）" in an export of what was decided.
const per10a = new Intl.NumberFormat('ja-JP', {
  minimumFractionDigits: 1,
  maximumFractionDigits: 3,
  useGrouping: false,
});
/** A rate in kg/ha in kg/10a, as the review page writes it: 29.9 → "2.99", 30 → "3.0", 19.95 → "1.995". */
const rate10a = (kgHa: number) => per10a.format(kgHa / 10);

/**
 * The changes as the officer's page writes them, rates in kg/10a (what the officer typed):
 * `ゾーン2 0.0→2.99 kg/10a（入力 3.0 kg/10a）` — the typed value only where the server moved it
 * (to the spreader step or the profile's limits). A zone's product follows from its N rate and is
 * left to `changes`; the status is in its own columns.
 */
export function changesJa(changes: AuditChange[], zones: Record<string, number> = {}): string {
  const rate = (v: AuditChange['from']) =>
    v === null ? 'なし' : typeof v === 'number' ? `${rate10a(v)} kg/10a` : v;
  const text = (v: AuditChange['from']) => (v === null ? 'なし' : String(v));
  return changes
    .flatMap((c) => {
      const zoneRate = zoneRateOfPath(c.path);
      if (c.path === '/status' || zoneRate?.rate === 'productKgHa') return [];
      const zone = zoneRate?.zone;
      if (zone !== undefined && typeof c.from === 'number' && typeof c.to === 'number') {
        const typed =
          c.requested !== undefined && Math.abs(c.requested - c.to) > 1e-9
            ? `（入力 ${rate10a(c.requested)} kg/10a）`
            : '';
        const n = Object.hasOwn(zones, zone) ? zones[zone] : zone;
        return [`ゾーン${n} ${rate10a(c.from)}→${rate10a(c.to)} kg/10a${typed}`];
      }
      if (c.path === '/policy/model') return [`自動承認の対象のモデル ${text(c.from)}→${text(c.to)}`];
      if (c.path === '/policy/maxKgNHa') return [`自動承認の窒素量の上限 ${rate(c.from)}→${rate(c.to)}`];
      return [`${c.path} ${text(c.from)}→${text(c.to)}`];
    })
    .join('、');
}

/** The decisions as CSV text (with a byte-order mark, CRLF line ends). */
export function decisionsCsv(entries: AuditEntry[], facts: DecisionFacts): string {
  const farms = new Map<string, FarmFacts | undefined>();
  const farmOf = (farm: string) => {
    if (!farms.has(farm)) farms.set(farm, facts.farm(farm));
    return farms.get(farm);
  };
  const recs = new Map<string, RecommendationFacts | undefined>();
  const recOf = (farm: string, id: string) => {
    const key = JSON.stringify([farm, id]);
    if (!recs.has(key)) recs.set(key, facts.recommendation(farm, id));
    return recs.get(key);
  };
  const lines = entries.map((e) => {
    const farm = farmOf(e.farm);
    const rec = e.recommendation ? recOf(e.farm, e.recommendation) : undefined;
    return [
      e.at,
      localTime(e.at, farm?.timezone ?? 'Asia/Tokyo'),
      e.farm,
      farm?.name ?? null,
      rec?.field ?? null,
      rec?.fieldName ?? null,
      e.recommendation,
      rec?.model ?? null,
      e.action,
      AUDIT_ACTION_LABELS[e.action]?.ja ?? e.action,
      e.actor,
      e.role,
      e.fromStatus,
      statusLabel(e.fromStatus, 'ja'),
      e.toStatus,
      statusLabel(e.toStatus, 'ja'),
      changesText(e.changes),
      changesJa(e.changes, rec?.zones),
      e.reason,
    ]
      .map(csvCell)
      .join(',');
  });
  return `\uFEFF${[DECISIONS_HEADER.join(','), ...lines].join('\r\n')}\r\n`;
}
