// Growth stages seen in the fields, recorded by a farmer or an extension officer: kept with their
// history on the server, and the current one sent down to the farm's gateways as a signed `stage`
// document (id = the field), where the rules take it over the GDD estimate for
// DECLARED_STAGE_DAYS after the day it was seen (edge/rules/stages.ts, stageInEffect — the same
// function tells this view which stage is in effect).
import { HatakeError } from '../../protocol/errors.ts';
import {
  DECLARED_STAGE_DAYS,
  type FieldStageDoc,
  type FieldStageInput,
  type FieldStageView,
} from '../../protocol/field-stage.ts';
import type { Field } from '../../protocol/manifest.ts';
import { GROWTH_STAGE_DEFAULTS, profileOfCrop } from '../../edge/rules/growth-stage.ts';
import { dateToDay, dayToDate, localDay } from '../../edge/rules/local-time.ts';
import { stageInEffect, type SeenStage } from '../../edge/rules/stages.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';
import type { Downlink } from '../downlink.ts';
import type { Session } from '../auth.ts';

export function migrateFieldStages(db: Db): void {
  migrate(db, 'field-stages', [
    `
    CREATE TABLE field_stages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      farm TEXT NOT NULL, field TEXT NOT NULL, stage TEXT NOT NULL, date TEXT NOT NULL,
      note TEXT, by TEXT NOT NULL, role TEXT NOT NULL, at INTEGER NOT NULL,
      withdrawn INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX field_stages_by_field ON field_stages (farm, field, seq);
    `,
  ]);
}

interface StageRow {
  seq: number;
  stage: string;
  date: string;
  note: string | null;
  by: string;
  role: string;
  at: number;
  withdrawn: number;
}

/** How many records of a field the view lists (newest first). */
const HISTORY = 20;

const rowsOf = (db: Db, farm: string, field: string, limit = HISTORY): StageRow[] =>
  db
    .prepare('SELECT * FROM field_stages WHERE farm = ? AND field = ? ORDER BY seq DESC LIMIT ?')
    .all(farm, field, limit) as StageRow[];

/** The record in force: the newest, unless it was withdrawn. */
const currentOf = (rows: StageRow[]): StageRow | undefined =>
  rows[0] && rows[0].withdrawn === 0 ? rows[0] : undefined;

const profileOf = (field: Field) => profileOfCrop(field.crop).profile;

/** A field's stage as the rules see it, what may be recorded for it, and its history. */
export function fieldStageView(
  db: Db,
  downlink: Downlink,
  farm: { id: string; timezone: string },
  field: Field,
  now = Date.now(),
): FieldStageView {
  const rows = rowsOf(db, farm.id, field.id);
  const current = currentOf(rows);
  const profile = profileOf(field);
  const seen: SeenStage[] = [];
  if (current) seen.push({ stage: current.stage, date: current.date, source: 'recorded' });
  if (field.stage) seen.push({ stage: field.stage.id, date: field.stage.date, source: 'manifest' });
  const { stage } = stageInEffect(seen, localDay(farm.timezone, now));
  const doc = downlink.get(farm.id, 'stage', field.id);
  return {
    farm: farm.id,
    field: field.id,
    timezone: farm.timezone,
    today: dayToDate(localDay(farm.timezone, now)),
    crop: field.crop ?? null,
    plantingDate: field.plantingDate ?? null,
    profile: profile ? { id: profile.id, label: profile.label } : null,
    stages: profile?.stages.map((s) => ({ id: s.id, name: s.name })) ?? [],
    inEffect: stage
      ? {
          stage: stage.stage,
          name: profile?.stages.find((s) => s.id === stage.stage)?.name ?? null,
          date: stage.date,
          source: stage.source,
          until: stage.until,
        }
      : null,
    manifest: field.stage ? { stage: field.stage.id, date: field.stage.date } : null,
    history: rows.map((r) => ({
      stage: r.stage,
      date: r.date,
      note: r.note,
      by: r.by,
      role: r.role,
      at: new Date(r.at).toISOString(),
      current: r === current,
    })),
    downlinkVersion: doc && !doc.deleted ? doc.version : null,
  };
}

const refuse = (message: string, pointer: string, expected: string) =>
  new HatakeError('HATAKE_E_FIELD_STAGE', message, { place: { pointer }, expected });

/**
 * Records the stage seen in a field and sends it down to the farm's gateways; throws a
 * HatakeError (HATAKE_E_FIELD_STAGE, placed) when the stage is not one of the crop's, or its day
 * is in the future, before planting, or too old for the rules to use.
 */
export function recordFieldStage(
  db: Db,
  downlink: Downlink,
  farm: { id: string; timezone: string },
  field: Field,
  input: FieldStageInput,
  user: Session['user'],
  now = Date.now(),
): void {
  const profile = profileOf(field);
  if (!profile)
    throw refuse(
      `field "${field.id}" ${field.crop ? `grows ${field.crop}, which has` : 'has no crop, so it has'} no stage profile`,
      '/stage',
      `a field whose crop is one of ${Object.keys(GROWTH_STAGE_DEFAULTS.cropProfiles).join(', ')} (or another name of one)`,
    );
  if (!profile.stages.some((s) => s.id === input.stage))
    throw refuse(
      `"${input.stage}" is not a stage of ${profile.label}`,
      '/stage',
      profile.stages.map((s) => s.id).join(', '),
    );
  const day = dateToDay(input.date);
  const today = localDay(farm.timezone, now);
  if (day === undefined) throw refuse(`"${input.date}" is not a date`, '/date', 'a date YYYY-MM-DD');
  if (day > today)
    throw refuse(
      `${input.date} is in the future (today is ${dayToDate(today)} in ${farm.timezone})`,
      '/date',
      `a day on or before ${dayToDate(today)}`,
    );
  if (today - day > DECLARED_STAGE_DAYS)
    throw refuse(
      `${input.date} is ${today - day} days ago: the rules use a stage for ${DECLARED_STAGE_DAYS} days after it was seen`,
      '/date',
      `a day from ${dayToDate(today - DECLARED_STAGE_DAYS)} to ${dayToDate(today)}`,
    );
  const planted = field.plantingDate ? dateToDay(field.plantingDate) : undefined;
  if (planted !== undefined && day < planted)
    throw refuse(
      `${input.date} is before the field's planting date ${field.plantingDate}`,
      '/date',
      `a day on or after ${field.plantingDate}`,
    );
  const note = input.note?.trim() || null;
  const doc: FieldStageDoc = {
    farm: farm.id,
    field: field.id,
    stage: input.stage,
    date: input.date,
    by: user.name,
    at: new Date(now).toISOString(),
  };
  db.transaction(() => {
    db.prepare(
      'INSERT INTO field_stages (farm, field, stage, date, note, by, role, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(farm.id, field.id, input.stage, input.date, note, user.name, user.role, now);
    downlink.publish(farm.id, 'stage', field.id, doc);
  })();
}

/** Withdraws the stage recorded for a field (the rules go back to the manifest's or the GDD estimate). */
export function withdrawFieldStage(db: Db, downlink: Downlink, farm: string, field: string): void {
  const current = currentOf(rowsOf(db, farm, field, 1));
  if (!current) throw new HatakeError('HATAKE_E_STATE_CONFLICT', `no stage is recorded for field "${field}"`);
  db.transaction(() => {
    db.prepare('UPDATE field_stages SET withdrawn = 1 WHERE seq = ?').run(current.seq);
    downlink.publish(farm, 'stage', field, {}, { deleted: true });
  })();
}
