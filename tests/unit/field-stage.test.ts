// The server's record of growth stages seen in the fields (dashboard/views/field-stage.ts) on a
// real SQLite file: what a field's crop allows, the planting date, the stage in effect (recorded or
// the manifest's) and its history; and the gateway's check of a `stage` document sent down.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../runtime/sqlite.ts';
import { Downlink } from '../../dashboard/downlink.ts';
import {
  fieldStageView,
  migrateFieldStages,
  recordFieldStage,
  withdrawFieldStage,
} from '../../dashboard/views/field-stage.ts';
import { stageCheck } from '../../gateway/downlink-apply.ts';
import { isHatakeError } from '../../protocol/errors.ts';
import type { Field } from '../../protocol/manifest.ts';
import type { User } from '../../dashboard/auth.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-field-stage-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const db = openDatabase(join(dir, `s-${Math.random().toString(36).slice(2)}.db`), []);
  migrateFieldStages(db);
  return { db, downlink: new Downlink(db) };
}

const farm = { id: 'f1', timezone: 'Asia/Tokyo' };
const farmer: User = { name: 'tanaka', role: 'farmer', farms: ['f1'], regions: [] };
const rice: Field = { id: 'paddy', name: '田んぼ', crop: '水稲', plantingDate: '2026-05-10' };
// 2026-05-20 08:00 JST
const now = Date.parse('2026-05-19T23:00:00Z');

const refusal = (fn: () => void) => {
  try {
    fn();
  } catch (e) {
    if (isHatakeError(e)) return { code: e.code, message: e.message, pointer: e.place?.pointer };
    throw e;
  }
  throw new Error('not refused');
};

describe('recording a growth stage', () => {
  it('knows a crop by any of its names, and refuses a stage of another crop', () => {
    const { db, downlink } = setup();
    const view = fieldStageView(db, downlink, farm, rice, now);
    expect(view.profile?.id).toBe('rice');
    expect(view.today).toBe('2026-05-20');
    expect(view.stages[0]).toEqual({ id: 'establishment', name: { ja: '活着期', en: 'establishment' } });
    const r = refusal(() =>
      recordFieldStage(db, downlink, farm, rice, { stage: 'V6', date: '2026-05-20' }, farmer, now),
    );
    expect(r).toMatchObject({ code: 'HATAKE_E_FIELD_STAGE', pointer: '/stage' });
    // Wheat by its Japanese name is winter wheat; spring wheat and soybean have no profile.
    const wheat = { id: 'w', name: 'W', crop: '秋まき小麦' };
    expect(fieldStageView(db, downlink, farm, wheat, now).profile?.id).toBe('winter_wheat');
    for (const crop of ['spring-wheat', 'soybean', undefined]) {
      const f: Field = { id: 'x', name: 'X', ...(crop ? { crop } : {}) };
      expect(fieldStageView(db, downlink, farm, f, now)).toMatchObject({ profile: null, stages: [] });
      expect(
        refusal(() =>
          recordFieldStage(db, downlink, farm, f, { stage: 'tillering', date: '2026-05-20' }, farmer, now),
        ).message,
      ).toMatch(/no stage profile/);
    }
    expect(downlink.latestVersion('f1')).toBe(0);
  });

  it('refuses a day before planting, and counts days in the farm’s time zone', () => {
    const { db, downlink } = setup();
    expect(
      refusal(() =>
        recordFieldStage(
          db,
          downlink,
          farm,
          rice,
          { stage: 'establishment', date: '2026-05-09' },
          farmer,
          now,
        ),
      ),
    ).toMatchObject({
      pointer: '/date',
      message: expect.stringMatching(/before the field's planting date 2026-05-10/),
    });
    // 08:00 JST on the 20th is still the 19th in UTC: the 20th is today on the farm.
    recordFieldStage(db, downlink, farm, rice, { stage: 'establishment', date: '2026-05-20' }, farmer, now);
    const utcFarm = { id: 'f1', timezone: 'UTC' };
    expect(
      refusal(() =>
        recordFieldStage(
          db,
          downlink,
          utcFarm,
          rice,
          { stage: 'establishment', date: '2026-05-20' },
          farmer,
          now,
        ),
      ).message,
    ).toMatch(/in the future \(today is 2026-05-19 in UTC\)/);
  });

  it('shows the later of the manifest’s stage and the recorded one, and keeps the history', () => {
    const { db, downlink } = setup();
    const seen: Field = { ...rice, stage: { id: 'tillering', date: '2026-06-10' } };
    const june = Date.parse('2026-06-12T03:00:00Z');
    let v = fieldStageView(db, downlink, farm, seen, june);
    expect(v.inEffect).toMatchObject({ stage: 'tillering', source: 'manifest', until: '2026-07-01' });
    expect(v.inEffect!.name).toEqual({ ja: '分げつ期', en: 'tillering' });
    recordFieldStage(db, downlink, farm, seen, { stage: 'establishment', date: '2026-06-01' }, farmer, june);
    v = fieldStageView(db, downlink, farm, seen, june);
    // The record is older than what the manifest says was seen: the manifest's stands.
    expect(v.inEffect).toMatchObject({ stage: 'tillering', source: 'manifest' });
    recordFieldStage(
      db,
      downlink,
      farm,
      seen,
      { stage: 'midseason_drainage', date: '2026-06-12', note: ' 中干し開始 ' },
      farmer,
      june,
    );
    v = fieldStageView(db, downlink, farm, seen, june);
    expect(v.inEffect).toMatchObject({
      stage: 'midseason_drainage',
      source: 'recorded',
      until: '2026-07-03',
    });
    expect(v.history.map((h) => [h.stage, h.current, h.note])).toEqual([
      ['midseason_drainage', true, '中干し開始'],
      ['establishment', false, null],
    ]);
    const doc = downlink.get('f1', 'stage', 'paddy')!;
    expect(doc.body).toEqual({
      farm: 'f1',
      field: 'paddy',
      stage: 'midseason_drainage',
      date: '2026-06-12',
      by: 'tanaka',
      at: new Date(june).toISOString(),
    });
    expect(v.downlinkVersion).toBe(doc.version);
    withdrawFieldStage(db, downlink, 'f1', 'paddy');
    v = fieldStageView(db, downlink, farm, seen, june);
    expect(v.inEffect).toMatchObject({ stage: 'tillering', source: 'manifest' });
    expect(v.downlinkVersion).toBeNull();
    expect(downlink.get('f1', 'stage', 'paddy')!.deleted).toBe(true);
    expect(refusal(() => withdrawFieldStage(db, downlink, 'f1', 'paddy')).code).toBe(
      'HATAKE_E_STATE_CONFLICT',
    );
    // Past 21 days nothing is in effect: the GDD estimate.
    expect(fieldStageView(db, downlink, farm, seen, Date.parse('2026-07-05T03:00:00Z')).inEffect).toBeNull();
  });
});

describe("the gateway's check of a stage document", () => {
  const check = stageCheck(() => 'f1');
  const doc = (body: unknown, id = 'paddy') => ({ kind: 'stage', id, version: 3, body, deleted: false });
  const good = {
    farm: 'f1',
    field: 'paddy',
    stage: 'tillering',
    date: '2026-06-12',
    by: 'tanaka',
    at: '2026-06-12T03:00:00.000Z',
  };

  it('takes a stage of its farm for the field it is named after, and nothing else', () => {
    expect(() => check(doc(good))).not.toThrow();
    const refused: [unknown, string, RegExp][] = [
      [{ ...good, farm: 'f2' }, 'paddy', /farm "f2"/],
      [good, 'other', /names field "paddy"/],
      [{ ...good, stage: 'a b' }, 'paddy', /stage/],
      [{ ...good, date: '2026-13-01' }, 'paddy', /date/],
      [{ ...good, extra: 1 }, 'paddy', /extra/],
      [null, 'paddy', /./],
      ['tillering', 'paddy', /./],
    ];
    for (const [body, id, message] of refused) {
      let error: unknown;
      try {
        check(doc(body, id));
      } catch (e) {
        error = e;
      }
      expect(isHatakeError(error), JSON.stringify(body)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});
