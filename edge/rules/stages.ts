// Crop stage profiles: growth stages and nitrogen timing windows by accumulated GDD, as data.
// Each profile names its GDD method, where counting starts and its sources. The thresholds are
// regional averages for particular varieties: treat them as configurable defaults ("check").
import { Type, type Static } from '@sinclair/typebox';
import { SourceCitation } from '../../protocol/tip.ts';
import { DECLARED_STAGE_DAYS } from '../../protocol/field-stage.ts';
import { dateToDay, dayToDate } from './local-time.ts';

const Text = Type.Object(
  { ja: Type.String({ minLength: 1, maxLength: 200 }), en: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
const Gdd = Type.Number({ minimum: 0, maximum: 20_000 });
const StageId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$' });

export const GddMethodSchema = Type.Union([
  Type.Object({ kind: Type.Literal('corn_30_10') }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal('base'), baseC: Type.Number({ minimum: -10, maximum: 30 }) },
    { additionalProperties: false },
  ),
]);

export const StageDefSchema = Type.Object(
  { id: StageId, gdd: Gdd, name: Text },
  { additionalProperties: false },
);
export type StageDef = Static<typeof StageDefSchema>;

export const WindowDefSchema = Type.Object(
  { id: StageId, fromGdd: Gdd, toGdd: Gdd, name: Text, advice: Text },
  { additionalProperties: false },
);
export type WindowDef = Static<typeof WindowDefSchema>;

export const StageProfileSchema = Type.Object(
  {
    id: StageId,
    label: Type.String({ minLength: 1, maxLength: 100 }),
    method: GddMethodSchema,
    /** Count from the planting date, or from the first given month-day on or after it. */
    start: Type.Union([
      Type.Object({ kind: Type.Literal('planting') }, { additionalProperties: false }),
      Type.Object(
        { kind: Type.Literal('month_day'), monthDay: Type.String({ pattern: '^\\d{2}-\\d{2}$' }) },
        { additionalProperties: false },
      ),
    ]),
    /** In increasing GDD order. */
    stages: Type.Array(StageDefSchema, { minItems: 1, maxItems: 40 }),
    fertilization: Type.Array(WindowDefSchema, { maxItems: 10 }),
    /** Past this many GDD the season is over: no more tips. */
    seasonEndGdd: Gdd,
    sources: Type.Array(SourceCitation, { minItems: 1, maxItems: 8 }),
  },
  { additionalProperties: false },
);
export type StageProfile = Static<typeof StageProfileSchema>;

/** Problems a schema cannot see: stage order and window bounds. */
export function profileProblem(p: StageProfile): string | undefined {
  for (let i = 1; i < p.stages.length; i++)
    if (!(p.stages[i]!.gdd > p.stages[i - 1]!.gdd))
      return `profile ${p.id}: stages must be in increasing GDD order`;
  for (const w of p.fertilization)
    if (!(w.toGdd > w.fromGdd)) return `profile ${p.id}: window ${w.id} is empty`;
  return undefined;
}

/** °F growing degree-days to °C (the 86/50 °F and 30/10 °C methods differ by this factor exactly). */
const f = (gddF: number) => Math.round(((gddF * 5) / 9) * 10) / 10;

export const CORN_PROFILE: StageProfile = {
  id: 'maize',
  label: 'stages-maize-hprcc@1.0.0',
  method: { kind: 'corn_30_10' },
  start: { kind: 'planting' },
  stages: [
    { id: 'V4', gdd: f(240), name: { ja: '4葉期（V4）', en: 'four leaves (V4)' } },
    { id: 'V6', gdd: f(360), name: { ja: '6葉期（V6）', en: 'six leaves (V6)' } },
    { id: 'V8', gdd: f(480), name: { ja: '8葉期（V8）', en: 'eight leaves (V8)' } },
    { id: 'V10', gdd: f(600), name: { ja: '10葉期（V10）', en: 'ten leaves (V10)' } },
    { id: 'V12', gdd: f(720), name: { ja: '12葉期（V12）', en: 'twelve leaves (V12)' } },
    { id: 'V16', gdd: f(960), name: { ja: '16葉期（V16）', en: 'sixteen leaves (V16)' } },
    { id: 'R1', gdd: f(1200), name: { ja: '絹糸抽出期（R1）', en: 'silking (R1)' } },
    { id: 'R2', gdd: f(1440), name: { ja: '水熟期（R2）', en: 'blister (R2)' } },
    { id: 'R4', gdd: f(1680), name: { ja: '糊熟期（R4）', en: 'dough (R4)' } },
    { id: 'R5', gdd: f(1920), name: { ja: '黄熟初期（R5）', en: 'beginning dent (R5)' } },
    { id: 'R6', gdd: f(2400), name: { ja: '完熟期（R6）', en: 'black layer (R6)' } },
  ],
  fertilization: [
    {
      id: 'sidedress-v4-v8',
      fromGdd: f(240),
      toGdd: f(480),
      name: { ja: '追肥（V4〜V8）', en: 'side-dress N (V4–V8)' },
      advice: {
        ja: '窒素の追肥適期です。施肥量は審査済みの施肥提案に従ってください。',
        en: 'Side-dress nitrogen now; take the rate from the reviewed recommendation.',
      },
    },
  ],
  seasonEndGdd: f(2400) + 200,
  sources: [
    {
      citation:
        'High Plains Regional Climate Center (UNL), AWDN corn crop coefficients: GDD (86/50 °F) at the start of each stage, medium maturity group; converted to °C',
      url: 'https://hprcc.unl.edu/archive/data/AWDN/crop_corn.txt',
    },
  ],
};

export const WINTER_WHEAT_PROFILE: StageProfile = {
  id: 'winter_wheat',
  label: 'stages-winter-wheat-kstate@1.0.0',
  method: { kind: 'base', baseC: 0 },
  // Winter wheat's spring development is counted from 1 January, after vernalisation.
  start: { kind: 'month_day', monthDay: '01-01' },
  stages: [
    { id: 'tillering', gdd: 0, name: { ja: '分げつ期', en: 'tillering' } },
    {
      id: 'upright_tillers',
      gdd: f(600),
      name: { ja: '茎立ち前（分げつ直立）', en: 'strongly upright tillers' },
    },
    { id: 'jointing', gdd: f(1000), name: { ja: '茎立期（第1節）', en: 'jointing (first node)' } },
    { id: 'flag_leaf', gdd: f(1200), name: { ja: '止葉抽出期', en: 'flag leaf emergence' } },
    { id: 'boot', gdd: f(1400), name: { ja: '穂ばらみ期', en: 'boot' } },
    { id: 'heading', gdd: f(1600), name: { ja: '出穂期', en: 'heading' } },
    { id: 'flowering', gdd: f(2000), name: { ja: '開花期', en: 'flowering' } },
    { id: 'milk', gdd: f(2200), name: { ja: '乳熟期', en: 'milk' } },
    { id: 'dough', gdd: f(2400), name: { ja: '糊熟期', en: 'dough' } },
    { id: 'maturity', gdd: f(3000), name: { ja: '成熟期', en: 'physiological maturity' } },
  ],
  fertilization: [
    {
      id: 'topdress-before-jointing',
      fromGdd: f(600),
      toGdd: f(1000),
      name: { ja: '追肥（茎立ち前）', en: 'top-dress N before jointing' },
      advice: {
        ja: '茎立ち前の窒素追肥の適期です。施肥量は審査済みの施肥提案に従ってください。',
        en: 'Top-dress nitrogen before jointing; take the rate from the reviewed recommendation.',
      },
    },
  ],
  seasonEndGdd: f(3000) + 300,
  sources: [
    {
      citation:
        'Kansas Mesonet, wheat growing degree days (base 32 °F from 1 January) and estimated growth stage; band starts converted to °C',
      url: 'https://mesonet.k-state.edu/agriculture/wheat/gdd',
    },
  ],
};

// Rice in Japan is timed by the sum of daily mean temperatures (積算温度, base 0 °C) from
// transplanting. Koshihikari heads at about 1,700 °C·d and matures about 1,050 °C·d after
// heading; stages before heading are placed by their usual distance in days from heading at
// about 25 °C a day. Calibrate per variety and region.
export const RICE_PROFILE: StageProfile = {
  id: 'rice',
  label: 'stages-rice-koshihikari@1.0.0',
  method: { kind: 'base', baseC: 0 },
  start: { kind: 'planting' },
  stages: [
    { id: 'establishment', gdd: 0, name: { ja: '活着期', en: 'establishment' } },
    { id: 'tillering', gdd: 150, name: { ja: '分げつ期', en: 'tillering' } },
    { id: 'midseason_drainage', gdd: 600, name: { ja: '中干し期', en: 'midseason drainage' } },
    { id: 'panicle_initiation', gdd: 1075, name: { ja: '幼穂形成期', en: 'panicle initiation' } },
    { id: 'booting', gdd: 1400, name: { ja: '穂ばらみ期', en: 'booting' } },
    { id: 'heading', gdd: 1700, name: { ja: '出穂期', en: 'heading' } },
    { id: 'ripening', gdd: 1800, name: { ja: '登熟期', en: 'ripening' } },
    { id: 'pre_harvest_drainage', gdd: 2400, name: { ja: '落水期', en: 'pre-harvest drainage' } },
    { id: 'maturity', gdd: 2750, name: { ja: '成熟期', en: 'maturity' } },
  ],
  fertilization: [
    {
      id: 'panicle-fertilizer',
      fromGdd: 1250,
      toGdd: 1325,
      name: { ja: '穂肥（出穂前18〜15日）', en: 'panicle fertilizer (18–15 days before heading)' },
      advice: {
        ja: '穂肥の適期です。葉色（SPAD）と草丈を確かめ、施肥量は審査済みの施肥提案に従ってください。',
        en: 'Panicle top-dressing time; check leaf colour (SPAD) and height, and take the rate from the reviewed recommendation.',
      },
    },
  ],
  seasonEndGdd: 2750 + 300,
  sources: [
    {
      citation:
        'Transplanting to heading of Koshihikari ≈ 1,700 °C·d of daily mean temperature (5-year record, dronerice.jp 2018) — check',
      url: 'https://dronerice.jp/2018/07/27/%e5%87%ba%e7%a9%82%e6%9c%9f2018%e5%b9%b4',
    },
    {
      citation: 'Nagano Prefecture Suwa office: maturity at 1,050 °C·d after heading for Koshihikari',
      url: 'https://www.pref.nagano.lg.jp/suwachi/nosei-aec/kannai/r7suitousyuukakuokure.html',
    },
    {
      citation:
        'Koshihikari panicle fertilizer about 15 days before heading (hatake AGRONOMY.md, prefecture guidance)',
    },
  ],
};

export const STAGE_PROFILES: Record<string, StageProfile> = {
  maize: CORN_PROFILE,
  winter_wheat: WINTER_WHEAT_PROFILE,
  rice: RICE_PROFILE,
};

/** A growth stage a person saw in a field: recorded on the dashboard, or in the manifest's field. */
export interface SeenStage {
  stage: string;
  /** The day it was seen (YYYY-MM-DD, the farm's local day). */
  date: string;
  source: 'recorded' | 'manifest';
}

/**
 * Which of the stages seen in a field the rules take on local day `today`: the latest-dated (a
 * recorded one wins over the manifest's on the same day), while it is no older than
 * DECLARED_STAGE_DAYS — then `until` is its last day. A stale or future-dated latest one is
 * returned as `ignored`, with its age in days, and the GDD estimate is used.
 */
export function stageInEffect(
  seen: readonly SeenStage[],
  today: number,
): { stage?: SeenStage & { until: string }; ignored?: SeenStage & { days: number } } {
  let latest: { s: SeenStage; day: number } | undefined;
  for (const s of seen) {
    const day = dateToDay(s.date);
    if (day === undefined) continue;
    if (!latest || day > latest.day || (day === latest.day && s.source === 'recorded')) latest = { s, day };
  }
  if (!latest) return {};
  const days = today - latest.day;
  if (days >= 0 && days <= DECLARED_STAGE_DAYS)
    return { stage: { ...latest.s, until: dayToDate(latest.day + DECLARED_STAGE_DAYS) } };
  return { ignored: { ...latest.s, days } };
}
