// Potato (and tomato) late blight by the Hutton criteria: two consecutive days, each with a
// minimum temperature of at least 10 °C and at least 6 hours of relative humidity ≥ 90 %.
// The older Smith period (≥ 11 h of RH ≥ 90 %) is the same rule with SMITH_PERIOD parameters.
// Days are the farm's local calendar days; an hour counts as humid when its mean RH is ≥ 90 %.
// A period raises a tip asking to scout within 48 hours of its last day being judged (the
// midnight after it); the condition holds that long, so the next day failing the criteria does
// not clear it, and a period still going on when the tip expires renews it.
import { Type, type Static } from '@sinclair/typebox';
import {
  checkParams,
  dedupKey,
  makeDraft,
  scoutingTrigger,
  thresholdEvidence,
  type Assessment,
  type Rule,
  type RuleResult,
} from './assessment.ts';
import { prepare, type RuleContext, type RuleNote } from './context.ts';
import { CROPS, resolveCrop, type CropId } from './crops.ts';
import { fmt, short } from './format.ts';
import { hourlyWeather, type WeatherHour } from './hourly-weather.ts';
import { HOUR_MS, dayToDate, localDay, startOfLocalDay } from './local-time.ts';

const RULE_ID = 'late-blight-hutton';
const VERSION = '1.1.0';

export const LateBlightParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    name: Type.Object({ ja: Type.String({ minLength: 1 }), en: Type.String({ minLength: 1 }) }),
    minTempC: Type.Number({ minimum: -10, maximum: 40 }),
    humidRhPct: Type.Number({ minimum: 0, maximum: 100 }),
    humidHours: Type.Integer({ minimum: 1, maximum: 24 }),
    consecutiveDays: Type.Integer({ minimum: 1, maximum: 7 }),
    /** Hours of temperature and humidity a day needs to be judged. */
    minHoursPerDay: Type.Integer({ minimum: 1, maximum: 24 }),
    crops: Type.Array(Type.String(), { minItems: 1, maxItems: 20 }),
    /** The tip asks to scout within this many hours of the period's last day being judged; its condition holds as long. */
    scoutWithinHours: Type.Number({ exclusiveMinimum: 0, maximum: 720 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 24 * 30 }),
  },
  { additionalProperties: false },
);
export type LateBlightParams = Static<typeof LateBlightParamsSchema>;

const SOURCES = [
  {
    citation:
      'Dancey, Skelsey & Cooke (2017) The Hutton Criteria: a classification tool for identifying high risk periods for potato late blight disease development in Great Britain (AHDB)',
    url: 'https://ahdb.org.uk/knowledge-library/the-hutton-criteria-a-classification-tool-for-identifying-high-risk-periods-for-potato-late-blight-disease-development-in-great-britain',
  },
];

export const HUTTON_CRITERIA: LateBlightParams = {
  label: 'late-blight-hutton@1.1.0',
  name: { ja: 'ハットン基準', en: 'Hutton criteria' },
  minTempC: 10,
  humidRhPct: 90,
  humidHours: 6,
  consecutiveDays: 2,
  minHoursPerDay: 20,
  crops: ['potato', 'tomato'],
  scoutWithinHours: 48,
  ttlHours: 48,
  coolDownHours: 24,
};

/** The Smith period, which the Hutton criteria replaced in Great Britain (2017). */
export const SMITH_PERIOD: LateBlightParams = {
  ...HUTTON_CRITERIA,
  label: 'late-blight-smith@1.1.0',
  name: { ja: 'スミス期間', en: 'Smith period' },
  humidHours: 11,
};

export interface BlightDay {
  day: number;
  date: string;
  /** undefined: too little data to judge. */
  meets: boolean | undefined;
  tminC?: number;
  humidHours?: number;
  hours: number;
}

/** Judges local days against the criteria (pure; for tests and the status page). */
export function blightDays(
  hours: readonly WeatherHour[],
  days: readonly number[],
  P: LateBlightParams,
): BlightDay[] {
  const byDay = new Map<number, WeatherHour[]>();
  for (const h of hours) {
    let l = byDay.get(h.day);
    if (!l) byDay.set(h.day, (l = []));
    l.push(h);
  }
  return days.map((day) => {
    const hs = byDay.get(day) ?? [];
    const temps = hs.filter((h) => h.tmin !== undefined);
    const rhs = hs.filter((h) => h.rh !== undefined);
    const base = { day, date: dayToDate(day), hours: Math.min(temps.length, rhs.length) };
    if (temps.length < P.minHoursPerDay || rhs.length < P.minHoursPerDay)
      return { ...base, meets: undefined };
    const tminC = Math.min(...temps.map((h) => h.tmin!));
    const humidHours = rhs.filter((h) => h.rh! >= P.humidRhPct).length;
    return { ...base, tminC, humidHours, meets: tminC >= P.minTempC && humidHours >= P.humidHours };
  });
}

function evaluate(ctx: RuleContext, params: LateBlightParams = HUTTON_CRITERIA): RuleResult {
  const P = checkParams<LateBlightParams>(RULE_ID, LateBlightParamsSchema, params);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];
  const today = localDay(p.tz, now);
  const cd = P.consecutiveDays;
  const windowMs = P.scoutWithinHours * HOUR_MS;
  // A period whose last day is still inside its scouting window: ending yesterday back to
  // ⌈window / 24 h⌉ days ago, each with the days before it that make it a period.
  const span = Math.ceil(P.scoutWithinHours / 24) + cd - 1;
  const days = Array.from({ length: span }, (_, i) => today - span + i);
  const from = startOfLocalDay(p.tz, days[0]!);
  const to = startOfLocalDay(p.tz, today);

  for (const field of p.fields) {
    const crop = resolveCrop(field.crop);
    if (!crop || !P.crops.includes(crop)) continue;
    const w = hourlyWeather(p, field.id, from, to, ['air_temperature', 'air_humidity']);
    const all = blightDays(w.hours, days, P);
    // The latest period: `cd` qualifying days in a row, the last of them as late as possible.
    let end: number | undefined;
    for (let i = all.length - 1; i >= cd - 1 && end === undefined; i--)
      if (all.slice(i - cd + 1, i + 1).every((d) => d.meets === true)) end = i;
    const recent = all.slice(-cd);
    if (recent.some((d) => d.meets === undefined)) {
      notes.push({
        rule: RULE_ID,
        code: w.hours.length === 0 ? 'no_data' : 'insufficient_data',
        field: field.id,
        message: `${P.name.en} need ${P.minHoursPerDay} h of temperature and humidity on each of the last ${P.consecutiveDays} days`,
      });
      // Without a period still in its window, nothing can be said of the days not judged.
      if (end === undefined) continue;
    }
    // The days the tip tells of: the latest period, else (for a draft nothing raises) the last days.
    const judged = end !== undefined ? all.slice(end - cd + 1, end + 1) : recent;
    const judgedAt = end !== undefined ? startOfLocalDay(p.tz, all[end]!.day + 1) : undefined;
    const scoutUntil = judgedAt !== undefined ? judgedAt + windowMs : now + windowMs;
    const scoutBy = dayToDate(localDay(p.tz, scoutUntil - 1));
    const trigger = scoutingTrigger(
      judgedAt !== undefined ? now - judgedAt : Infinity,
      P.ttlHours * HOUR_MS,
      windowMs,
    );
    const name = short(field.name);
    const cropName = CROPS[crop as CropId];
    const daysJa = judged
      .map((d) => `${d.date}：最低 ${fmt(d.tminC!)} ℃・湿度${P.humidRhPct}%以上 ${d.humidHours} 時間`)
      .join('、');
    const daysEn = judged
      .map((d) => `${d.date}: min ${fmt(d.tminC!)} °C, ${d.humidHours} h at RH ≥ ${P.humidRhPct} %`)
      .join('; ');
    const devices = [w.devices.air_temperature, w.devices.air_humidity].filter(
      (d): d is string => d !== undefined,
    );
    assessments.push({
      key: dedupKey('late_blight', p.farm.id, field.id),
      trigger,
      policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
      draft: makeDraft({
        kind: 'late_blight',
        severity: 'warning',
        farm: p.farm.id,
        field: field.id,
        devices,
        title: {
          ja: `${name}：疫病が発生しやすい条件（${P.name.ja}）`,
          en: `${name}: late blight risk (${P.name.en} met)`,
        },
        text: {
          ja:
            `${cropName.ja}の疫病が感染しやすい気象が${P.consecutiveDays}日続きました（${daysJa}）。` +
            `基準：最低気温 ${fmt(P.minTempC)} ℃以上かつ湿度${P.humidRhPct}%以上が${P.humidHours}時間以上の日が${P.consecutiveDays}日連続。` +
            `${scoutBy}までに圃場を見回り、予防散布を検討してください。`,
          en:
            `Weather favouring ${cropName.en} late blight for ${P.consecutiveDays} days in a row (${daysEn}). ` +
            `Criteria: minimum temperature ≥ ${fmt(P.minTempC)} °C and at least ${P.humidHours} h at RH ≥ ${P.humidRhPct} % on each of ${P.consecutiveDays} consecutive days. ` +
            `Scout the crop by ${scoutBy} and consider a protectant spray.`,
        },
        rule: { id: RULE_ID, version: VERSION, params: P.label },
        sources: SOURCES,
        points: judged.flatMap((d) => [
          {
            ...(w.devices.air_temperature ? { device: w.devices.air_temperature } : {}),
            metric: 'air_temperature',
            value: d.tminC!,
            unit: 'degC',
            time: startOfLocalDay(p.tz, d.day),
            role: `tmin_${d.date}`,
          },
          {
            ...(w.devices.air_humidity ? { device: w.devices.air_humidity } : {}),
            metric: 'air_humidity',
            value: d.humidHours!,
            unit: 'h',
            time: startOfLocalDay(p.tz, d.day),
            role: `humid_hours_${d.date}`,
          },
        ]),
        thresholds: [
          thresholdEvidence('criteria_met', trigger, '1'),
          ...judged.map((d) =>
            thresholdEvidence(
              `tmin_${d.date}`,
              { value: d.tminC!, comparison: '>=', threshold: P.minTempC, hysteresis: 0 },
              'degC',
            ),
          ),
          ...judged.map((d) =>
            thresholdEvidence(
              `humid_hours_${d.date}`,
              { value: d.humidHours!, comparison: '>=', threshold: P.humidHours, hysteresis: 0 },
              'h',
            ),
          ),
        ],
        quantities: [{ name: 'consecutive_days', value: P.consecutiveDays, unit: 'd' }],
        window: {
          from: startOfLocalDay(p.tz, judged[0]!.day),
          to: startOfLocalDay(p.tz, judged[cd - 1]!.day + 1),
        },
        // The window runs from the period's judging, however late the tip is raised.
        action: {
          type: 'scout',
          field: field.id,
          target: 'late_blight',
          withinHours: Math.max(1, Math.ceil((scoutUntil - now) / HOUR_MS)),
        },
      }),
    });
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const lateBlightRule: Rule<LateBlightParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['late_blight'],
  name: { ja: '疫病（ハットン基準）', en: 'Late blight (Hutton criteria)' },
  sources: SOURCES,
  defaults: HUTTON_CRITERIA,
  schema: LateBlightParamsSchema,
  evaluate,
};
