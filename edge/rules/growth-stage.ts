// Growth stage and nitrogen timing by accumulated GDD from the planting date (corn 30/10 °C,
// winter wheat base 0 °C from 1 January, rice base 0 °C from transplanting — see stages.ts).
// Raises an info tip when a field enters a stage (once per stage and season) and an advisory
// when a fertilization window is near (within the lead days at the recent GDD rate) or open;
// the advisory clears when the window has passed. A stage a person recorded for the field
// (`ctx.stages`) replaces the estimate: the stage tip tells it, and the windows are judged with
// the GDD estimate held inside that stage — so no window advice once the recorded stage is past
// the window, and none before the recorded stage reaches it.
import { Type, type Static } from '@sinclair/typebox';
import type { Field } from '../../protocol/manifest.ts';
import {
  checkParams,
  dedupKey,
  eventTrigger,
  makeDraft,
  type Assessment,
  type Rule,
  type RuleResult,
} from './assessment.ts';
import { prepare, type Prepared, type RuleContext, type RuleNote } from './context.ts';
import { CROPS, isSpringWheat, resolveCrop, type CropId } from './crops.ts';
import { fmt, short } from './format.ts';
import { accumulate, dailyExtremes, methodLabel } from './gdd.ts';
import {
  DAY_MS,
  dateToDay,
  dayToDate,
  localDay,
  monthDayOf,
  parseMonthDay,
  startOfLocalDay,
} from './local-time.ts';
import {
  STAGE_PROFILES,
  StageProfileSchema,
  profileProblem,
  type StageDef,
  type StageProfile,
} from './stages.ts';

const RULE_ID = 'growth-stage-gdd';
const VERSION = '1.1.0';
const MAX_SEASON_DAYS = 550;

export const GrowthStageParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    profiles: Type.Record(Type.String(), StageProfileSchema),
    /** Which profile a crop uses (crop id → profile id). */
    cropProfiles: Type.Record(Type.String(), Type.String()),
    /** Hours of sensor data a day needs before its extremes count. */
    minHoursPerDay: Type.Integer({ minimum: 1, maximum: 24 }),
    /** More days without data than this and no stage is estimated. */
    maxMissingDays: Type.Integer({ minimum: 0, maximum: 366 }),
    /** Raise a fertilization advisory this many days before its window opens. */
    fertilizationLeadDays: Type.Number({ minimum: 0, maximum: 60 }),
    stageTtlDays: Type.Number({ exclusiveMinimum: 0, maximum: 60 }),
    windowTtlDays: Type.Number({ exclusiveMinimum: 0, maximum: 60 }),
    coolDownDays: Type.Number({ minimum: 0, maximum: 60 }),
  },
  { additionalProperties: false },
);
export type GrowthStageParams = Static<typeof GrowthStageParamsSchema>;

export const GROWTH_STAGE_DEFAULTS: GrowthStageParams = {
  label: 'growth-stage-defaults@1.0.0',
  profiles: STAGE_PROFILES,
  cropProfiles: { maize: 'maize', wheat: 'winter_wheat', rice: 'rice' },
  minHoursPerDay: 20,
  maxMissingDays: 3,
  fertilizationLeadDays: 5,
  stageTtlDays: 7,
  windowTtlDays: 14,
  coolDownDays: 1,
};

function consistent(p: GrowthStageParams): string | undefined {
  for (const [crop, id] of Object.entries(p.cropProfiles))
    if (!Object.hasOwn(p.profiles, id)) return `cropProfiles.${crop}: no profile "${id}"`;
  for (const prof of Object.values(p.profiles)) {
    const problem = profileProblem(prof);
    if (problem) return problem;
    if (prof.start.kind === 'month_day' && parseMonthDay(prof.start.monthDay) === undefined)
      return `profile ${prof.id}: start ${prof.start.monthDay} is not a month-day`;
  }
  return undefined;
}

/** Where a field's crop is in its season. */
export interface StageEstimate {
  profile: StageProfile;
  crop: CropId;
  startDay: number;
  gdd: number;
  counted: number;
  missing: number;
  recentDaily: number | undefined;
  stage: StageDef | undefined;
  next: StageDef | undefined;
  seasonOver: boolean;
  device: string | undefined;
}

/** The first local day GDD counting starts for a profile, given the planting day. */
export function countingStart(profile: StageProfile, plantingDay: number): number {
  if (profile.start.kind === 'planting') return plantingDay;
  const md = parseMonthDay(profile.start.monthDay)!;
  for (let d = plantingDay; d < plantingDay + 367; d++) if (monthDayOf(d) === md) return d;
  return plantingDay; // 29 February in a span without one: count from planting
}

/**
 * The crop a field's free-text crop names and the stage profile it uses (none for a crop without
 * one, or spring wheat, whose season the winter-wheat profile does not describe).
 */
export function profileOfCrop(
  name: string | null | undefined,
  P: Pick<GrowthStageParams, 'profiles' | 'cropProfiles'> = GROWTH_STAGE_DEFAULTS,
): { crop: CropId | undefined; profile: StageProfile | undefined } {
  const crop = resolveCrop(name ?? undefined);
  if (!crop || (crop === 'wheat' && isSpringWheat(name ?? undefined))) return { crop, profile: undefined };
  const id = Object.hasOwn(P.cropProfiles, crop) ? P.cropProfiles[crop] : undefined;
  return { crop, profile: id !== undefined && Object.hasOwn(P.profiles, id) ? P.profiles[id] : undefined };
}

/** Estimates a field's stage from GDD, or returns the note saying why it cannot. */
export function estimateStage(
  p: Prepared,
  field: Field,
  P: GrowthStageParams = GROWTH_STAGE_DEFAULTS,
): StageEstimate | RuleNote {
  const note = (code: RuleNote['code'], message: string): RuleNote => ({
    rule: RULE_ID,
    code,
    field: field.id,
    message,
  });
  if (field.crop === undefined) return note('missing_attribute', `field ${field.id} has no crop`);
  const { crop, profile } = profileOfCrop(field.crop, P);
  if (!crop || !profile) return note('unknown_crop', `no GDD stage profile for crop "${field.crop}"`);
  if (field.plantingDate === undefined)
    return note('missing_attribute', `field ${field.id} has no planting date`);
  const planted = dateToDay(field.plantingDate);
  if (planted === undefined)
    return note('missing_attribute', `planting date ${field.plantingDate} is not a date`);
  const today = localDay(p.tz, p.now);
  const startDay = countingStart(profile, planted);
  if (today <= startDay)
    return note('not_applicable', `GDD counting for ${profile.id} starts on ${dayToDate(startDay)}`);
  // A season spans well under a year and a half; an older planting date is last season's.
  if (today - startDay > MAX_SEASON_DAYS)
    return note(
      'out_of_season',
      `planting date ${field.plantingDate} is more than ${MAX_SEASON_DAYS} days ago`,
    );
  const fromDay = startDay;
  const { days, device } = dailyExtremes(p, field.id, fromDay, today, P.minHoursPerDay);
  const acc = accumulate(profile.method, days, fromDay, today);
  const missing = acc.missing;
  if (missing > P.maxMissingDays)
    return note(
      'insufficient_data',
      `${missing} of ${today - startDay} days since ${dayToDate(startDay)} have no temperature (at most ${P.maxMissingDays} allowed); supply daily temperatures`,
    );
  let stage: StageDef | undefined;
  let next: StageDef | undefined;
  for (const s of profile.stages) {
    if (s.gdd <= acc.gdd) stage = s;
    else {
      next = s;
      break;
    }
  }
  return {
    profile,
    crop,
    startDay,
    gdd: acc.gdd,
    counted: acc.counted,
    missing,
    recentDaily: acc.recentDaily,
    stage,
    next,
    seasonOver: acc.gdd > profile.seasonEndGdd,
    device,
  };
}

const isNote = (x: StageEstimate | RuleNote): x is RuleNote => 'code' in x;

/** Where the crop is taken to be: the GDD estimate, or a stage a person recorded. */
export interface StagePlacement {
  stage: StageDef | undefined;
  next: StageDef | undefined;
  /** GDD the windows are judged at: the estimate, held inside the recorded stage. */
  gdd: number;
  /** The estimate is past the recorded stage: the crop is just short of `gdd` (the next stage's start). */
  justBelow: boolean;
  /** The stage is the recorded one. */
  recorded: boolean;
}

/**
 * Places the crop by a recorded stage of the estimate's profile: that stage, with the estimate
 * held inside it — raised to its start when behind it, kept just short of the next stage when
 * past it. Undefined when the profile has no such stage.
 */
export function placeByRecorded(est: StageEstimate, recordedId: string): StagePlacement | undefined {
  const i = est.profile.stages.findIndex((s) => s.id === recordedId);
  if (i < 0) return undefined;
  const stage = est.profile.stages[i]!;
  const next = est.profile.stages[i + 1];
  const past = next !== undefined && est.gdd >= next.gdd;
  const gdd = est.gdd < stage.gdd ? stage.gdd : past ? next.gdd : est.gdd;
  return { stage, next, gdd, justBelow: past, recorded: true };
}

/** Whether the crop is before, in or past a window, from its placement. */
export function windowState(
  at: StagePlacement,
  w: { fromGdd: number; toGdd: number },
): 'before' | 'open' | 'past' {
  if (at.justBelow ? at.gdd <= w.fromGdd : at.gdd < w.fromGdd) return 'before';
  if (at.justBelow ? at.gdd > w.toGdd : at.gdd >= w.toGdd) return 'past';
  return 'open';
}

function evaluate(ctx: RuleContext, params: GrowthStageParams = GROWTH_STAGE_DEFAULTS): RuleResult {
  const P = checkParams<GrowthStageParams>(RULE_ID, GrowthStageParamsSchema, params, consistent);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];

  for (const field of p.fields) {
    if (field.crop === undefined) continue; // a field without a crop has no stage to tell
    const est = estimateStage(p, field, P);
    if (isNote(est)) {
      notes.push(est);
      continue;
    }
    const recordedId = p.ctx.stages?.[field.id];
    let at: StagePlacement = {
      stage: est.stage,
      next: est.next,
      gdd: est.gdd,
      justBelow: false,
      recorded: false,
    };
    if (typeof recordedId === 'string') {
      const placed = placeByRecorded(est, recordedId);
      if (placed) at = placed;
      else
        notes.push({
          rule: RULE_ID,
          code: 'unknown_stage',
          field: field.id,
          message: `recorded stage "${recordedId}" is not a stage of profile ${est.profile.id}; the GDD estimate is used`,
        });
    }
    if (at.gdd > est.profile.seasonEndGdd) {
      notes.push({ rule: RULE_ID, code: 'out_of_season', field: field.id, message: 'the season is over' });
      continue;
    }
    const name = short(field.name);
    const crop = CROPS[est.crop];
    const method = methodLabel(est.profile.method);
    const startDate = dayToDate(est.startDay);
    const missingJa = est.missing > 0 ? `（欠測 ${est.missing} 日を含むため下限値）` : '';
    const missingEn = est.missing > 0 ? ` (${est.missing} days without data: a lower bound)` : '';
    const daysTo = (gdd: number) =>
      est.recentDaily !== undefined && est.recentDaily > 0 ? (gdd - at.gdd) / est.recentDaily : undefined;
    // With a recorded stage, what the estimate said beside it.
    const estimateJa = at.recorded
      ? `積算温度からの推定は${est.stage ? est.stage.name.ja : '最初のステージ前'}（${startDate}から ${fmt(est.gdd, 0)} ℃・日、${method.ja}）${missingJa}`
      : '';
    const estimateEn = at.recorded
      ? `the GDD estimate was ${est.stage ? est.stage.name.en : 'before the first stage'} (${fmt(est.gdd, 0)} °C·d since ${startDate}, ${method.en})${missingEn}`
      : '';
    const quantities = [
      { name: 'gdd', value: est.gdd, unit: 'degC.d' },
      { name: 'days_counted', value: est.counted, unit: 'd' },
      { name: 'days_missing', value: est.missing, unit: 'd' },
      ...(est.recentDaily !== undefined
        ? [{ name: 'recent_daily_gdd', value: est.recentDaily, unit: 'degC.d' }]
        : []),
      ...(est.profile.method.kind === 'base'
        ? [{ name: 'base_temperature', value: est.profile.method.baseC, unit: 'degC' }]
        : []),
    ];
    const common = {
      farm: p.farm.id,
      field: field.id,
      devices: est.device ? [est.device] : [],
      rule: { id: RULE_ID, version: VERSION, params: `${P.label}/${est.profile.label}` },
      sources: est.profile.sources,
      quantities,
      window: { from: Math.max(0, startOfLocalDay(p.tz, est.startDay)), to: now },
    };
    const season = field.plantingDate!;

    const stage = at.stage;
    if (stage) {
      const next = at.next;
      const nextDays = next ? daysTo(next.gdd) : undefined;
      const nextJa = !next
        ? ''
        : at.justBelow
          ? `次は${next.name.ja}（まもなく）。`
          : `次は${next.name.ja}（あと ${fmt(next.gdd - at.gdd, 0)} ℃・日${nextDays !== undefined ? `、約${fmt(nextDays, 0)}日` : ''}）。`;
      const nextEn = !next
        ? ''
        : at.justBelow
          ? ` Next: ${next.name.en}, soon.`
          : ` Next: ${next.name.en} in ${fmt(next.gdd - at.gdd, 0)} °C·d${nextDays !== undefined ? ` (about ${fmt(nextDays, 0)} days)` : ''}.`;
      const title = at.recorded
        ? {
            ja: `${name}：${crop.ja}は${stage.name.ja}（圃場での記録）`,
            en: `${name}: ${crop.en} is at ${stage.name.en} (recorded in the field)`,
          }
        : {
            ja: `${name}：${crop.ja}は${stage.name.ja}と推定`,
            en: `${name}: ${crop.en} has likely reached ${stage.name.en}`,
          };
      const text = at.recorded
        ? {
            ja: `圃場で${stage.name.ja}と記録されています。${estimateJa}。${nextJa}`,
            en: `Recorded in the field at ${stage.name.en}; ${estimateEn}.${nextEn}`,
          }
        : {
            ja:
              `${startDate}からの積算温度 ${fmt(est.gdd, 0)} ℃・日（${method.ja}）${missingJa}で、` +
              `${stage.name.ja}（${fmt(stage.gdd, 0)} ℃・日〜）に入ったと推定されます。${nextJa}` +
              `品種・地域で差があるため、圃場で生育を確かめてください。`,
            en:
              `${fmt(est.gdd, 0)} °C·d since ${startDate} (${method.en})${missingEn}: ${crop.en} is likely at ` +
              `${stage.name.en} (from ${fmt(stage.gdd, 0)} °C·d).${nextEn} Varieties and regions differ: check the crop in the field.`,
          };
      assessments.push({
        key: dedupKey('growth_stage', p.farm.id, field.id, season, stage.id),
        trigger: eventTrigger(true),
        policy: { ttlMs: P.stageTtlDays * DAY_MS, coolDownMs: P.coolDownDays * DAY_MS, renewOnExpiry: false },
        draft: makeDraft({
          ...common,
          kind: 'growth_stage',
          severity: 'info',
          title,
          text,
          thresholds: [
            {
              name: `stage_${stage.id}`.slice(0, 64),
              comparison: '>=',
              threshold: stage.gdd,
              value: at.gdd,
              unit: 'degC.d',
              hysteresis: 0,
            },
          ],
        }),
      });
    }

    for (const w of est.profile.fertilization) {
      const where = windowState(at, w);
      const open = where === 'open';
      const toStart = where === 'before' ? daysTo(w.fromGdd) : 0;
      const soon = toStart !== undefined && toStart <= P.fertilizationLeadDays;
      const toEnd = daysTo(w.toGdd);
      const fromTime = now + Math.max(0, toStart ?? 0) * DAY_MS;
      const toTime = toEnd !== undefined ? now + Math.max(0, toEnd) * DAY_MS : undefined;
      const whenJa = open ? '今が適期です' : `約${fmt(toStart ?? NaN, 0)}日後に適期に入ります`;
      const whenEn = open
        ? 'the window is open now'
        : `the window opens in about ${fmt(toStart ?? NaN, 0)} days`;
      const placedJa = at.recorded
        ? `圃場で記録された生育ステージ ${at.stage!.name.ja}、積算温度 ${fmt(est.gdd, 0)} ℃・日をこのステージ内の ${fmt(at.gdd, 0)} ℃・日として`
        : `積算温度 ${fmt(est.gdd, 0)} ℃・日`;
      const placedEn = at.recorded
        ? `recorded stage ${at.stage!.name.en}: ${fmt(est.gdd, 0)} °C·d held at ${fmt(at.gdd, 0)} °C·d inside it`
        : `${fmt(est.gdd, 0)} °C·d`;
      assessments.push({
        key: dedupKey('fertilization_timing', p.farm.id, field.id, season, w.id),
        trigger: eventTrigger(open || (soon && where === 'before')),
        policy: {
          ttlMs: P.windowTtlDays * DAY_MS,
          coolDownMs: P.coolDownDays * DAY_MS,
          renewOnExpiry: false,
        },
        draft: makeDraft({
          ...common,
          kind: 'fertilization_timing',
          severity: 'advisory',
          title: { ja: `${name}：${w.name.ja}`, en: `${name}: ${w.name.en}` },
          text: {
            ja:
              `${whenJa}（${placedJa}、適期 ${fmt(w.fromGdd, 0)}〜${fmt(w.toGdd, 0)} ℃・日、${method.ja}）${missingJa}。` +
              w.advice.ja,
            en:
              `${whenEn.charAt(0).toUpperCase()}${whenEn.slice(1)} (${placedEn}; window ${fmt(w.fromGdd, 0)}–${fmt(w.toGdd, 0)} °C·d, ${method.en})${missingEn}. ` +
              w.advice.en,
          },
          thresholds: [
            {
              name: 'window_from',
              comparison: '>=',
              threshold: w.fromGdd,
              value: at.gdd,
              unit: 'degC.d',
              hysteresis: 0,
            },
            {
              name: 'window_to',
              comparison: '<',
              threshold: w.toGdd,
              value: at.gdd,
              unit: 'degC.d',
              hysteresis: 0,
            },
          ],
          action: {
            type: 'fertilize',
            field: field.id,
            nutrient: 'N',
            stage: w.id,
            from: Math.floor(fromTime),
            ...(toTime !== undefined ? { to: Math.floor(Math.max(fromTime, toTime)) } : {}),
          },
        }),
      });
    }
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const growthStageRule: Rule<GrowthStageParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['growth_stage', 'fertilization_timing'],
  name: { ja: '生育ステージと施肥適期（積算温度）', en: 'Growth stage and N timing (GDD)' },
  sources: Object.values(STAGE_PROFILES).flatMap((prof) => prof.sources),
  defaults: GROWTH_STAGE_DEFAULTS,
  schema: GrowthStageParamsSchema,
  problem: consistent,
  evaluate,
};
