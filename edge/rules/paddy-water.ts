// Paddy water level outside the target band for the rice growth stage. The stage is the one a
// person declared for the field, else the GDD estimate (stages.ts, rice profile). The level is
// the mean of the last hour's readings of each level sensor in the field (cm above the soil
// surface; negative: below it). Bands per stage are data, typical of prefectural guidance.
import { Type, type Static } from '@sinclair/typebox';
import {
  checkParams,
  dedupKey,
  makeDraft,
  thresholdEvidence,
  type Assessment,
  type Rule,
  type RuleResult,
  type Trigger,
} from './assessment.ts';
import { fieldDevices, prepare, seriesOf, type RuleContext, type RuleNote } from './context.ts';
import { resolveCrop } from './crops.ts';
import { fmt, short } from './format.ts';
import { GROWTH_STAGE_DEFAULTS, estimateStage, type GrowthStageParams } from './growth-stage.ts';
import { HOUR_MS } from './local-time.ts';
import { latestPoint, mean, pointsIn } from './series.ts';
import { RICE_PROFILE, StageProfileSchema, profileProblem } from './stages.ts';

const RULE_ID = 'paddy-water-level';
const VERSION = '1.0.0';

const Cm = Type.Number({ minimum: -50, maximum: 100 });

export const PaddyWaterParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** The rice stage profile that places a field's stage by GDD when none is declared. */
    stageProfile: StageProfileSchema,
    /** Target band per stage id, cm relative to the soil surface. */
    bands: Type.Record(
      Type.String(),
      Type.Object({ minCm: Cm, maxCm: Cm }, { additionalProperties: false }),
      {
        minProperties: 1,
      },
    ),
    /** Raise when the level is at least this far outside the band. */
    toleranceCm: Type.Number({ minimum: 0, maximum: 20 }),
    /** Once raised, clears only when the level is back inside the band by (hysteresis − tolerance). */
    hysteresisCm: Type.Number({ minimum: 0, maximum: 20 }),
    /** The level is the mean of this many minutes of readings. */
    windowMinutes: Type.Number({ exclusiveMinimum: 0, maximum: 1440 }),
    /** A sensor whose latest reading is older than this is stale. */
    maxAgeMinutes: Type.Number({ exclusiveMinimum: 0, maximum: 10_080 }),
    /** At least this far outside the band, the tip is a warning. */
    warnCm: Type.Number({ minimum: 0, maximum: 50 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 240 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 240 }),
  },
  { additionalProperties: false },
);
export type PaddyWaterParams = Static<typeof PaddyWaterParamsSchema>;

const SOURCES = [
  {
    citation:
      'Typical paddy water management of prefectural rice guidelines (水稲栽培指針): shallow water at tillering, midseason drainage, flooding from panicle initiation to heading, intermittent irrigation in ripening, drainage before harvest — bands are defaults to check against the local guideline',
  },
];

export const PADDY_WATER_DEFAULTS: PaddyWaterParams = {
  label: 'paddy-water-defaults@1.0.0',
  stageProfile: RICE_PROFILE,
  bands: {
    establishment: { minCm: 3, maxCm: 5 },
    tillering: { minCm: 1, maxCm: 3 },
    midseason_drainage: { minCm: -20, maxCm: 0 },
    panicle_initiation: { minCm: 3, maxCm: 5 },
    booting: { minCm: 3, maxCm: 6 },
    heading: { minCm: 3, maxCm: 5 },
    ripening: { minCm: 0, maxCm: 4 },
    pre_harvest_drainage: { minCm: -20, maxCm: 0 },
    maturity: { minCm: -20, maxCm: 0 },
  },
  toleranceCm: 0.5,
  hysteresisCm: 1,
  windowMinutes: 60,
  maxAgeMinutes: 120,
  warnCm: 3,
  ttlHours: 12,
  coolDownHours: 3,
};

function consistent(p: PaddyWaterParams): string | undefined {
  const problem = profileProblem(p.stageProfile);
  if (problem) return problem;
  for (const [id, b] of Object.entries(p.bands))
    if (b.minCm > b.maxCm) return `bands.${id}: minCm exceeds maxCm`;
  return undefined;
}

/** Signed distance of a level from a band: positive outside (cm beyond the nearer edge), negative inside. */
export function bandDistance(level: number, minCm: number, maxCm: number): number {
  if (level < minCm) return minCm - level;
  if (level > maxCm) return level - maxCm;
  return -Math.min(level - minCm, maxCm - level);
}

function evaluate(ctx: RuleContext, params: PaddyWaterParams = PADDY_WATER_DEFAULTS): RuleResult {
  const P = checkParams<PaddyWaterParams>(RULE_ID, PaddyWaterParamsSchema, params, consistent);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];
  const stageParams: GrowthStageParams = {
    ...GROWTH_STAGE_DEFAULTS,
    profiles: { [P.stageProfile.id]: P.stageProfile },
    cropProfiles: { rice: P.stageProfile.id },
  };
  const stageNames = new Map(P.stageProfile.stages.map((s) => [s.id, s.name]));

  for (const field of p.fields) {
    const sensors = fieldDevices(p, field.id, 'water_level');
    if (sensors.length === 0 || resolveCrop(field.crop) !== 'rice') continue;
    const declared = p.ctx.stages?.[field.id];
    let stageId: string;
    let stageSource: 'declared' | 'gdd';
    if (typeof declared === 'string') {
      stageId = declared;
      stageSource = 'declared';
    } else {
      const est = estimateStage(p, field, stageParams);
      if ('code' in est || !est.stage) {
        notes.push({
          rule: RULE_ID,
          code: 'unknown_stage',
          field: field.id,
          message: `growth stage unknown (${'code' in est ? est.message : 'before the first stage'}); declare it for the field`,
        });
        continue;
      }
      stageId = est.stage.id;
      stageSource = 'gdd';
    }
    const band = Object.hasOwn(P.bands, stageId) ? P.bands[stageId]! : undefined;
    if (!band) {
      notes.push({
        rule: RULE_ID,
        code: 'unknown_stage',
        field: field.id,
        message: `no water band for stage "${stageId}"`,
      });
      continue;
    }
    const stageName = stageNames.get(stageId) ?? { ja: stageId, en: stageId };

    for (const d of sensors) {
      const s = seriesOf(p, d.id, 'water_level');
      const last = latestPoint(s, now);
      if (!last || now - last.time > P.maxAgeMinutes * 60_000) {
        notes.push({
          rule: RULE_ID,
          code: last ? 'stale_data' : 'no_data',
          field: field.id,
          device: d.id,
          message: last ? `latest water level from ${d.id} is too old` : `no water level from ${d.id}`,
        });
        continue;
      }
      const from = now - P.windowMinutes * 60_000;
      const pts = pointsIn(s, from, now);
      const level = mean(pts.map((x) => x.value)) ?? last.value;
      const distance = bandDistance(level, band.minCm, band.maxCm);
      const trigger: Trigger = {
        value: distance,
        comparison: '>=',
        threshold: P.toleranceCm,
        hysteresis: P.hysteresisCm,
      };
      const low = level < band.minCm;
      const name = short(field.name);
      const bandText = `${fmt(band.minCm)}〜${fmt(band.maxCm)} cm`;
      assessments.push({
        key: dedupKey('paddy_water', p.farm.id, field.id, d.id),
        trigger,
        policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
        draft: makeDraft({
          kind: 'paddy_water',
          severity: distance >= P.warnCm ? 'warning' : 'advisory',
          farm: p.farm.id,
          field: field.id,
          devices: [d.id],
          title: {
            ja: `${name}：水位が${low ? '低すぎます' : '高すぎます'}（${fmt(level)} cm）`,
            en: `${name}: water level too ${low ? 'low' : 'high'} (${fmt(level)} cm)`,
          },
          text: {
            ja:
              `水位 ${fmt(level)} cm（直近${fmt(P.windowMinutes, 0)}分の平均）は、${stageName.ja}` +
              `${stageSource === 'gdd' ? '（積算温度からの推定）' : ''}の目安 ${bandText} を${fmt(Math.max(0, distance))} cm外れています。` +
              `${low ? '入水して' : '落水・排水して'}${bandText}に保ってください。`,
            en:
              `Water level ${fmt(level)} cm (mean of the last ${fmt(P.windowMinutes, 0)} min) is ${fmt(Math.max(0, distance))} cm outside ` +
              `the ${fmt(band.minCm)}–${fmt(band.maxCm)} cm band for ${stageName.en}${stageSource === 'gdd' ? ' (stage estimated from GDD)' : ''}. ` +
              `${low ? 'Let water in' : 'Drain'} to keep it within the band.`,
          },
          rule: { id: RULE_ID, version: VERSION, params: P.label },
          sources: SOURCES,
          points: [
            {
              device: d.id,
              metric: 'water_level',
              value: last.value,
              unit: 'cm',
              time: last.time,
              role: 'latest',
            },
            ...(pts.length > 0
              ? [
                  {
                    device: d.id,
                    metric: 'water_level',
                    value: level,
                    unit: 'cm',
                    time: pts[0]!.time,
                    role: 'window_mean',
                  },
                ]
              : []),
          ],
          thresholds: [
            thresholdEvidence('outside_band', trigger, 'cm'),
            thresholdEvidence(
              'band_min',
              { value: level, comparison: '>=', threshold: band.minCm, hysteresis: 0 },
              'cm',
            ),
            thresholdEvidence(
              'band_max',
              { value: level, comparison: '<=', threshold: band.maxCm, hysteresis: 0 },
              'cm',
            ),
          ],
          quantities: [
            { name: 'level', value: level, unit: 'cm' },
            { name: 'band_min', value: band.minCm, unit: 'cm' },
            { name: 'band_max', value: band.maxCm, unit: 'cm' },
            { name: 'stage_declared', value: stageSource === 'declared' ? 1 : 0, unit: '1' },
          ],
          window: { from, to: now },
          action: {
            type: 'water_level',
            field: field.id,
            device: d.id,
            minCm: band.minCm,
            maxCm: band.maxCm,
          },
        }),
      });
    }
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const paddyWaterRule: Rule<PaddyWaterParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['paddy_water'],
  name: { ja: '水田の水位', en: 'Paddy water level' },
  sources: SOURCES,
  defaults: PADDY_WATER_DEFAULTS,
  schema: PaddyWaterParamsSchema,
  problem: consistent,
  evaluate,
};
