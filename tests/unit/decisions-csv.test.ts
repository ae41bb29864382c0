// The officers' CSV of review decisions as Excel and a tool read it: parsed back with csv-parse
// (RFC 4180), every machine column beside its readable one — names, the page's Japanese words,
// the changes in kg/10a as the officer typed them — and names with commas, quotes, line breaks or
// a leading "=" kept whole and harmless. The status and action words are the officer page's own.
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import {
  changesJa,
  DECISIONS_HEADER,
  decisionsCsv,
  type DecisionFacts,
} from '../../dashboard/review/decisions-csv.ts';
import { CATALOGUE } from '../../dashboard/ui/i18n.ts';
import { AUDIT_ACTION_LABELS, REVIEW_STATUS_LABELS } from '../../protocol/review-labels.ts';
import { REVIEW_STATUSES } from '../../protocol/recommendation.ts';
import { AUDIT_ACTIONS, type AuditEntry } from '../../protocol/review.ts';

const FIELD_NAME = '畑1号, "北" 側（小麦）';
const facts: DecisionFacts = {
  farm: (farm) =>
    farm === 'demo-farm'
      ? { name: 'はたけ"デモ"農場, 新潟', timezone: 'Asia/Tokyo' }
      : farm === 'evil-farm'
        ? { name: '=HYPERLINK("http://evil.example")', timezone: 'Europe/Berlin' }
        : undefined,
  recommendation: (farm, id) =>
    farm === 'demo-farm' && id === 'rec-1'
      ? {
          field: 'upland-1',
          fieldName: FIELD_NAME,
          model: 'osu-sbnrc@1.0.0',
          zones: { 'upland-1-z1': 1, 'upland-1-z2': 2, 'upland-1-z3': 3 },
        }
      : undefined,
};

const entry = (e: Partial<AuditEntry> & Pick<AuditEntry, 'action'>): AuditEntry => ({
  seq: 1,
  at: '2026-07-22T00:15:00.000Z',
  farm: 'demo-farm',
  recommendation: 'rec-1',
  actor: 'demo-officer',
  role: 'officer',
  fromStatus: null,
  toStatus: null,
  changes: [],
  reason: null,
  ...e,
});

const ENTRIES: AuditEntry[] = [
  entry({
    action: 'edited',
    fromStatus: 'pending_review',
    toStatus: 'edited',
    changes: [
      { path: '/status', from: 'pending_review', to: 'edited' },
      { path: '/zones/upland-1-z2/kgNHa', from: 0, to: 29.9, requested: 30 },
      { path: '/zones/upland-1-z2/productKgHa', from: 0, to: 65 },
      { path: '/zones/upland-1-z3/kgNHa', from: 13.8, to: 23, requested: 23 },
      { path: '/zones/upland-1-z3/productKgHa', from: 30, to: 50 },
    ],
    reason: '葉色が淡い\n圃場巡回で確認',
  }),
  entry({
    action: 'approved',
    fromStatus: 'edited',
    toStatus: 'approved',
    changes: [{ path: '/status', from: 'edited', to: 'approved' }],
  }),
  entry({
    action: 'policy_set',
    recommendation: null,
    actor: 'demo-farmer',
    role: 'farmer',
    changes: [
      { path: '/policy/model', from: null, to: 'rice-pi-topdress-ndvi' },
      { path: '/policy/maxKgNHa', from: null, to: 12 },
    ],
  }),
  entry({
    action: 'rejected',
    farm: 'evil-farm',
    recommendation: 'rec-9',
    at: '2026-07-22T10:00:00.000Z',
    fromStatus: 'pending_review',
    toStatus: 'rejected',
    changes: [{ path: '/status', from: 'pending_review', to: 'rejected' }],
    reason: '@SUM(A1)',
  }),
];

function rows(text: string): Record<string, string>[] {
  return parse(text, { bom: true, columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
}

describe('the CSV of decisions', () => {
  const text = decisionsCsv(ENTRIES, facts);

  it('is UTF-8 with a BOM and CRLF, with ASCII snake_case column names', () => {
    expect(text.startsWith('\uFEFF')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    const header = text.slice(1, text.indexOf('\r\n'));
    expect(header.split(',')).toEqual([...DECISIONS_HEADER]);
    for (const name of DECISIONS_HEADER) expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
    // the machine columns that were there before the readable ones, all still there
    for (const name of [
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
    ])
      expect(DECISIONS_HEADER).toContain(name);
  });

  it('reads as the officer’s page reads: names, Japanese words, rates in kg/10a as typed', () => {
    const [edit, approve, policy] = rows(text);
    expect(edit).toEqual({
      time_utc: '2026-07-22T00:15:00.000Z',
      time_local: '2026-07-22 09:15',
      farm: 'demo-farm',
      farm_name: 'はたけ"デモ"農場, 新潟',
      field: 'upland-1',
      field_name: FIELD_NAME,
      recommendation: 'rec-1',
      model: 'osu-sbnrc@1.0.0',
      action: 'edited',
      action_ja: '修正',
      actor: 'demo-officer',
      role: 'officer',
      from_status: 'pending_review',
      from_status_ja: '審査待ち',
      to_status: 'edited',
      to_status_ja: '修正済み（未承認）',
      changes:
        '/zones/upland-1-z2/kgNHa 0→29.9 (asked 30); /zones/upland-1-z2/productKgHa 0→65; ' +
        '/zones/upland-1-z3/kgNHa 13.8→23 (asked 23); /zones/upland-1-z3/productKgHa 30→50',
      changes_ja: 'ゾーン2 0.0→2.99 kg/10a（入力 3.0 kg/10a）、ゾーン3 1.38→2.3 kg/10a',
      reason: '葉色が淡い\n圃場巡回で確認',
    });
    expect(approve).toMatchObject({
      action: 'approved',
      action_ja: '承認',
      from_status_ja: '修正済み（未承認）',
      to_status_ja: '承認済み',
      changes: '',
      changes_ja: '',
    });
    expect(policy).toMatchObject({
      field: '',
      field_name: '',
      recommendation: '',
      action_ja: '自動承認の設定',
      from_status_ja: '',
      changes: '/policy/model ∅→rice-pi-topdress-ndvi; /policy/maxKgNHa ∅→12',
      changes_ja: '自動承認の対象のモデル なし→rice-pi-topdress-ndvi、自動承認の窒素量の上限 なし→1.2 kg/10a',
    });
  });

  it('quotes names with commas, quotes and line breaks, and neutralises formulas', () => {
    // the field name's quotes doubled inside a quoted cell
    expect(text).toContain(',"畑1号, ""北"" 側（小麦）",');
    expect(text).toContain(',"はたけ""デモ""農場, 新潟",');
    const evil = rows(text)[3]!;
    expect(evil).toMatchObject({
      time_local: '2026-07-22 12:00', // Europe/Berlin in summer
      farm_name: `'=HYPERLINK("http://evil.example")`,
      field: '', // a recommendation the server does not know: ids only
      reason: `'@SUM(A1)`,
      action_ja: '差し戻し',
      to_status_ja: '差し戻し',
    });
  });

  it('names a zone by its id when the recommendation is unknown, and writes what was typed only where it was moved', () => {
    expect(
      changesJa([
        { path: '/zones/z-9/kgNHa', from: 19.95, to: 19.95, requested: 19.95 },
        { path: '/zones/z-9/kgNHa', from: 0, to: 19.95, requested: 20 },
      ]),
    ).toBe('ゾーンz-9 1.995→1.995 kg/10a、ゾーンz-9 0.0→1.995 kg/10a（入力 2.0 kg/10a）');
  });
});

describe('the words of statuses and actions', () => {
  it('are the officer page’s words, in both languages', () => {
    for (const lang of ['ja', 'en'] as const) {
      for (const s of REVIEW_STATUSES)
        expect(REVIEW_STATUS_LABELS[s][lang], s).toBe(
          (CATALOGUE[lang] as Record<string, string>)[`status_${s}`],
        );
      for (const a of AUDIT_ACTIONS)
        expect(AUDIT_ACTION_LABELS[a][lang], a).toBe(
          (CATALOGUE[lang] as Record<string, string>)[`audit_${a}`],
        );
    }
  });
});
