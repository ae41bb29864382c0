// Rice leaf blast by BLASTAM (Koshimizu 1988), from hourly leaf wetness, air temperature, wind
// and rain. A day is favourable (●) when a wet period lasts at least the hours its mean
// temperature requires (15 °C: 17 h … 22–25 °C: 10 h), that mean temperature is 15–25 °C, and
// the mean of the daily mean temperatures of that day and the four before is 20–25 °C.
// When exactly one of the three fails, the day is quasi-favourable and its code says which:
//   1 wetness sufficient, but the 5-day mean is below 20 °C
//   2 wetness sufficient, but the 5-day mean is above 25 °C
//   3 wet for at least 10 h, but the wet-period mean is outside 15–25 °C
//   4 the wet period is shorter than its mean temperature requires
// '-' none; '?' cannot be judged (too little data). Wetness is interrupted by wind over
// 3 m/s and by heavy rain (≥ 4 mm/h, or ≥ 3 mm/h for 2 hours running).
// A favourable day raises a tip asking to scout within the week after it; the tip's condition
// holds for that week (a dry day after it does not clear it), and a later favourable day renews
// the tip when the live one expires rather than raising a second one.
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
import { resolveCrop } from './crops.ts';
import { fmt, short } from './format.ts';
import { hourlyWeather, type WeatherHour } from './hourly-weather.ts';
import { HOUR_MS, dateToDay, dayToDate, localDay, startOfLocalDay } from './local-time.ts';

const RULE_ID = 'blastam';
const VERSION = '1.1.0';

export const BlastamParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** Wet hours required by the wet period's mean temperature (°C, rounded half up). */
    requiredWetHours: Type.Array(
      Type.Object(
        {
          tempC: Type.Integer({ minimum: -10, maximum: 50 }),
          hours: Type.Number({ exclusiveMinimum: 0, maximum: 72 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 40 },
    ),
    /** Wetness that counts for codes 1–3 when the temperature is off the table (10 h). */
    minWetHours: Type.Number({ exclusiveMinimum: 0, maximum: 72 }),
    /** 5-day mean temperature range, inclusive. */
    fiveDayMeanC: Type.Object({ min: Type.Number(), max: Type.Number() }, { additionalProperties: false }),
    /** An hour is wet when its mean leaf wetness is at least this (sensor %). */
    wetThresholdPct: Type.Number({ minimum: 0, maximum: 100 }),
    /** Wind above this interrupts wetness. */
    maxWindMs: Type.Number({ minimum: 0, maximum: 90 }),
    heavyRainMmPerHour: Type.Number({ exclusiveMinimum: 0, maximum: 500 }),
    sustainedRainMmPerHour: Type.Number({ exclusiveMinimum: 0, maximum: 500 }),
    sustainedRainHours: Type.Integer({ minimum: 1, maximum: 24 }),
    /** Hours with temperature and wetness a day needs to be judged. */
    minHoursPerDay: Type.Integer({ minimum: 1, maximum: 24 }),
    /** Days judged (ending yesterday, local). */
    lookbackDays: Type.Integer({ minimum: 1, maximum: 60 }),
    /** BLASTAM is not applied in the first days after transplanting. */
    startDaysAfterPlanting: Type.Integer({ minimum: 0, maximum: 200 }),
    /**
     * The tip asks to scout within this many hours of the favourable day being judged (the
     * midnight after it); its condition holds as long, whatever the days after it are.
     */
    scoutWithinHours: Type.Number({ exclusiveMinimum: 0, maximum: 720 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 24 * 30 }),
  },
  { additionalProperties: false },
);
export type BlastamParams = Static<typeof BlastamParamsSchema>;

const SOURCES = [
  { citation: 'Koshimizu Y. (1988) BLASTAM: a leaf blast forecasting model using AMeDAS data' },
  {
    citation:
      'Oita Prefecture plant protection office, BLASTAM criteria and codes 1–4 (interruption by wind > 3 m/s and rain)',
    url: 'https://pref.oita.jp/site/oita-boujosho/blastam.html',
  },
  {
    citation: 'Mie Prefecture plant protection office, BLASTAM temperature × wetness-hour table',
    url: 'https://www.pref.mie.lg.jp/byogai/hp/39584007416.htm',
  },
  {
    citation: 'Miyazaki plant protection office, BLASTAM codes ● and 1–4',
    url: 'https://www.jppn.ne.jp/miyazaki/800/300/suitou/blastambase.htm',
  },
  {
    citation: 'Kochi plant protection office: BLASTAM not applied in the first ~20 days after transplanting',
    url: 'http://www.nogyo.tosa.pref.kochi.lg.jp/info/dtl.php?ID=4758',
  },
];

export const BLASTAM_DEFAULTS: BlastamParams = {
  label: 'blastam-defaults@1.1.0',
  requiredWetHours: [
    { tempC: 15, hours: 17 },
    { tempC: 16, hours: 15 },
    { tempC: 17, hours: 14 },
    { tempC: 18, hours: 13 },
    { tempC: 19, hours: 12 },
    { tempC: 20, hours: 11 },
    { tempC: 21, hours: 11 },
    { tempC: 22, hours: 10 },
    { tempC: 23, hours: 10 },
    { tempC: 24, hours: 10 },
    { tempC: 25, hours: 10 },
  ],
  minWetHours: 10,
  fiveDayMeanC: { min: 20, max: 25 },
  wetThresholdPct: 50,
  maxWindMs: 3,
  heavyRainMmPerHour: 4,
  sustainedRainMmPerHour: 3,
  sustainedRainHours: 2,
  minHoursPerDay: 20,
  lookbackDays: 7,
  startDaysAfterPlanting: 20,
  // Lesions appear 7–10 days after an infection-favourable day: scout in the week after it.
  scoutWithinHours: 7 * 24,
  ttlHours: 72,
  coolDownHours: 24,
};

function consistent(p: BlastamParams): string | undefined {
  const temps = p.requiredWetHours.map((r) => r.tempC);
  for (let i = 1; i < temps.length; i++)
    if (temps[i] !== temps[i - 1]! + 1)
      return 'requiredWetHours must list consecutive whole degrees in order';
  if (p.fiveDayMeanC.min > p.fiveDayMeanC.max) return 'fiveDayMeanC.min exceeds max';
  return undefined;
}

export type BlastamCode = '●' | '1' | '2' | '3' | '4' | '-' | '?';

/** The BLASTAM decision table for one wet period. */
export function blastamCode(
  wetHours: number,
  wetMeanTempC: number,
  fiveDayMeanC: number,
  P: Pick<BlastamParams, 'requiredWetHours' | 'minWetHours' | 'fiveDayMeanC'>,
): { code: BlastamCode; requiredHours: number; tempClass: number } {
  if (!(wetHours > 0)) return { code: '-', requiredHours: P.minWetHours, tempClass: NaN };
  const tempClass = Math.floor(wetMeanTempC + 0.5); // rounded half up, as the table's whole degrees
  const row = P.requiredWetHours.find((r) => r.tempC === tempClass);
  const requiredHours = row ? row.hours : P.minWetHours;
  const wetEnough = wetHours >= requiredHours;
  const tempOk = row !== undefined;
  const meanOk = fiveDayMeanC >= P.fiveDayMeanC.min && fiveDayMeanC <= P.fiveDayMeanC.max;
  let code: BlastamCode = '-';
  if (wetEnough && tempOk && meanOk) code = '●';
  else if (wetEnough && tempOk) code = fiveDayMeanC < P.fiveDayMeanC.min ? '1' : '2';
  else if (wetEnough && meanOk) code = '3';
  else if (tempOk && meanOk) code = '4';
  return { code, requiredHours, tempClass };
}

export interface WetPeriod {
  /** First and last wet hour (UTC hour index). */
  from: number;
  to: number;
  hours: number;
  meanTempC: number | undefined;
}

/**
 * Wet periods: runs of consecutive hours whose leaf wetness reaches the threshold, ended by a
 * dry hour, a missing hour, wind above the limit or heavy rain. A run still wet at `lastHour`
 * (the last complete hour) is open and left out.
 */
export function wetPeriods(hours: readonly WeatherHour[], lastHour: number, P: BlastamParams): WetPeriod[] {
  const out: WetPeriod[] = [];
  let run: WeatherHour[] = [];
  let rainRun = 0;
  let prevHour: number | undefined;
  const close = () => {
    if (run.length > 0) {
      const temps = run.map((h) => h.temp).filter((t): t is number => t !== undefined);
      out.push({
        from: run[0]!.hour,
        to: run[run.length - 1]!.hour,
        hours: run.length,
        meanTempC: temps.length === run.length ? temps.reduce((a, b) => a + b, 0) / temps.length : undefined,
      });
    }
    run = [];
  };
  for (const h of hours) {
    if (h.hour > lastHour) break;
    if (prevHour !== undefined && h.hour !== prevHour + 1) {
      close();
      rainRun = 0;
    }
    prevHour = h.hour;
    rainRun = h.rain !== undefined && h.rain >= P.sustainedRainMmPerHour ? rainRun + 1 : 0;
    const interrupted =
      (h.wind !== undefined && h.wind > P.maxWindMs) ||
      (h.rain !== undefined && h.rain >= P.heavyRainMmPerHour) ||
      rainRun >= P.sustainedRainHours;
    const wet = h.wetness !== undefined && h.wetness >= P.wetThresholdPct && !interrupted;
    if (wet) run.push(h);
    else close();
  }
  // A run reaching the last complete hour may go on: not judged yet.
  if (run.length > 0 && run[run.length - 1]!.hour < lastHour) close();
  return out;
}

export interface BlastamDay {
  day: number;
  date: string;
  code: BlastamCode;
  wetHours: number;
  wetMeanTempC?: number;
  requiredHours?: number;
  fiveDayMeanC?: number;
  wetFrom?: number;
  wetTo?: number;
}

/** Judges local days from hourly weather (a pure function of the hours, for tests and the status page). */
export function blastamDays(
  hours: readonly WeatherHour[],
  days: readonly number[],
  lastHour: number,
  tz: string,
  P: BlastamParams,
): BlastamDay[] {
  const periods = wetPeriods(hours, lastHour, P);
  const byDay = new Map<number, WeatherHour[]>();
  for (const h of hours) {
    let l = byDay.get(h.day);
    if (!l) byDay.set(h.day, (l = []));
    l.push(h);
  }
  const dailyMean = (day: number): number | undefined => {
    const temps = (byDay.get(day) ?? []).map((h) => h.temp).filter((t): t is number => t !== undefined);
    return temps.length >= P.minHoursPerDay ? temps.reduce((a, b) => a + b, 0) / temps.length : undefined;
  };
  const judgeable = (day: number) =>
    (byDay.get(day) ?? []).filter((h) => h.temp !== undefined && h.wetness !== undefined).length >=
    P.minHoursPerDay;
  return days.map((day) => {
    const base = { day, date: dayToDate(day) };
    const means = [0, 1, 2, 3, 4].map((k) => dailyMean(day - k));
    if (!judgeable(day) || means.some((m) => m === undefined))
      return { ...base, code: '?' as const, wetHours: 0 };
    const fiveDayMeanC = (means as number[]).reduce((a, b) => a + b, 0) / 5;
    const ending = periods.filter((w) => localDay(tz, w.to * HOUR_MS) === day);
    if (ending.some((w) => w.meanTempC === undefined))
      return { ...base, code: '?' as const, wetHours: 0, fiveDayMeanC };
    let best: BlastamDay | undefined;
    for (const w of ending) {
      const j = blastamCode(w.hours, w.meanTempC!, fiveDayMeanC, P);
      const d: BlastamDay = {
        ...base,
        code: j.code,
        wetHours: w.hours,
        wetMeanTempC: w.meanTempC!,
        requiredHours: j.requiredHours,
        fiveDayMeanC,
        wetFrom: w.from * HOUR_MS,
        wetTo: (w.to + 1) * HOUR_MS,
      };
      if (!best || (d.code === '●' && best.code !== '●') || (best.code !== '●' && d.wetHours > best.wetHours))
        best = d;
    }
    return best ?? { ...base, code: '-' as const, wetHours: 0, fiveDayMeanC };
  });
}

function evaluate(ctx: RuleContext, params: BlastamParams = BLASTAM_DEFAULTS): RuleResult {
  const P = checkParams<BlastamParams>(RULE_ID, BlastamParamsSchema, params, consistent);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];
  const today = localDay(p.tz, now);
  // Judge the days shown and, when it is longer, the scouting window a favourable day opens.
  const span = Math.max(P.lookbackDays, Math.ceil(P.scoutWithinHours / 24));
  const days = Array.from({ length: span }, (_, i) => today - span + i);
  const from = startOfLocalDay(p.tz, days[0]! - 5);
  const windowMs = P.scoutWithinHours * HOUR_MS;
  const lastHour = Math.floor(now / HOUR_MS) - 1; // the last complete hour

  for (const field of p.fields) {
    if (resolveCrop(field.crop) !== 'rice') continue;
    const planted = field.plantingDate !== undefined ? dateToDay(field.plantingDate) : undefined;
    if (planted !== undefined && today - planted < P.startDaysAfterPlanting) {
      notes.push({
        rule: RULE_ID,
        code: 'not_applicable',
        field: field.id,
        message: `BLASTAM applies from ${P.startDaysAfterPlanting} days after transplanting`,
      });
      continue;
    }
    const w = hourlyWeather(p, field.id, from, now, [
      'air_temperature',
      'leaf_wetness',
      'wind_speed',
      'rain',
    ]);
    if (w.devices.leaf_wetness === undefined || w.devices.air_temperature === undefined) {
      notes.push({
        rule: RULE_ID,
        code: 'no_data',
        field: field.id,
        message: 'BLASTAM needs hourly leaf wetness and air temperature',
      });
      continue;
    }
    const judged = blastamDays(w.hours, days, lastHour, p.tz, P);
    const shown = judged.slice(-P.lookbackDays);
    const known = judged.filter((d) => d.code !== '?');
    if (known.length === 0) {
      notes.push({
        rule: RULE_ID,
        code: 'insufficient_data',
        field: field.id,
        message: `no day of the last ${span} could be judged (each needs ${P.minHoursPerDay} h of data and 5 daily means)`,
      });
      continue;
    }
    // The day the tip tells of: the last favourable day, else (for a draft nothing raises) the
    // latest judged one.
    const favourable = judged.findLast((d) => d.code === '●');
    const latest = favourable ?? known[known.length - 1]!;
    const prev = judged.find((d) => d.day === latest.day - 1);
    const twice = favourable !== undefined && prev?.code === '●';
    const judgedAt = favourable ? startOfLocalDay(p.tz, favourable.day + 1) : undefined;
    const scoutUntil = judgedAt !== undefined ? judgedAt + windowMs : now + windowMs;
    const scoutBy = dayToDate(localDay(p.tz, scoutUntil - 1));
    const sequence = shown.map((d) => d.code).join('');
    const devices = [
      w.devices.leaf_wetness,
      w.devices.air_temperature,
      w.devices.wind_speed,
      w.devices.rain,
    ].filter((d): d is string => d !== undefined);
    const trigger = scoutingTrigger(
      judgedAt !== undefined ? now - judgedAt : Infinity,
      P.ttlHours * HOUR_MS,
      windowMs,
    );
    const name = short(field.name);
    const codeNote = {
      '●': { ja: '感染好適条件', en: 'infection-favourable' },
      '1': { ja: '準好適（前5日間の平均気温が低い）', en: 'quasi-favourable (5-day mean below range)' },
      '2': { ja: '準好適（前5日間の平均気温が高い）', en: 'quasi-favourable (5-day mean above range)' },
      '3': {
        ja: '準好適（湿潤時間中の気温が範囲外）',
        en: 'quasi-favourable (wet-period temperature out of range)',
      },
      '4': { ja: '準好適（湿潤時間が不足）', en: 'quasi-favourable (wet period too short)' },
      '-': { ja: '好適条件なし', en: 'not favourable' },
      '?': { ja: '判定不能', en: 'cannot be judged' },
    }[latest.code];
    assessments.push({
      key: dedupKey('rice_blast', p.farm.id, field.id),
      trigger,
      policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
      draft: makeDraft({
        kind: 'rice_blast',
        severity: twice ? 'severe' : 'warning',
        farm: p.farm.id,
        field: field.id,
        devices,
        title: {
          ja: `${name}：葉いもち感染好適日${twice ? '（連続）' : ''}（BLASTAM ${latest.code}）`,
          en: `${name}: leaf blast infection-favourable day${twice ? ' again' : ''} (BLASTAM ${latest.code})`,
        },
        text: {
          ja:
            `${latest.date}は${codeNote.ja}でした：葉の濡れ ${latest.wetHours} 時間（必要 ${fmt(latest.requiredHours ?? NaN, 0)} 時間）、` +
            `濡れている間の平均気温 ${fmt(latest.wetMeanTempC ?? NaN)} ℃、前5日間の平均気温 ${fmt(latest.fiveDayMeanC ?? NaN)} ℃。` +
            `${twice ? '好適日が続いており多発のおそれがあります。' : ''}` +
            `7〜10日後に病斑が出始めるおそれがあります。${scoutBy}までに圃場を見回り、防除の準備を。直近${P.lookbackDays}日：${sequence}`,
          en:
            `${latest.date} was ${codeNote.en}: leaves wet ${latest.wetHours} h (needed ${fmt(latest.requiredHours ?? NaN, 0)} h), ` +
            `mean temperature while wet ${fmt(latest.wetMeanTempC ?? NaN)} °C, 5-day mean ${fmt(latest.fiveDayMeanC ?? NaN)} °C. ` +
            `${twice ? 'Favourable days in a row: an outbreak is likely. ' : ''}` +
            `Lesions may appear in 7–10 days: scout the field by ${scoutBy} and prepare protection. Last ${P.lookbackDays} days: ${sequence}`,
        },
        rule: { id: RULE_ID, version: VERSION, params: P.label },
        sources: SOURCES,
        points: [
          ...(latest.wetFrom !== undefined
            ? [
                {
                  device: w.devices.leaf_wetness,
                  metric: 'leaf_wetness',
                  value: latest.wetHours,
                  unit: 'h',
                  time: latest.wetFrom,
                  role: 'wet_period_start',
                },
                {
                  device: w.devices.leaf_wetness,
                  metric: 'leaf_wetness',
                  value: latest.wetHours,
                  unit: 'h',
                  time: latest.wetTo!,
                  role: 'wet_period_end',
                },
              ]
            : []),
        ],
        thresholds: [
          thresholdEvidence('favourable_day', trigger, '1'),
          ...(latest.requiredHours !== undefined
            ? [
                thresholdEvidence(
                  'wet_hours',
                  {
                    value: latest.wetHours,
                    comparison: '>=',
                    threshold: latest.requiredHours,
                    hysteresis: 0,
                  },
                  'h',
                ),
              ]
            : []),
        ],
        quantities: [
          { name: 'wet_hours', value: latest.wetHours, unit: 'h' },
          ...(latest.wetMeanTempC !== undefined
            ? [{ name: 'wet_mean_temp', value: latest.wetMeanTempC, unit: 'degC' }]
            : []),
          ...(latest.fiveDayMeanC !== undefined
            ? [{ name: 'five_day_mean_temp', value: latest.fiveDayMeanC, unit: 'degC' }]
            : []),
          { name: 'favourable_days', value: shown.filter((d) => d.code === '●').length, unit: 'd' },
        ],
        window: { from, to: now },
        // The window runs from the favourable day's judging, however late the tip is raised.
        action: {
          type: 'scout',
          field: field.id,
          target: 'rice_blast',
          withinHours: Math.max(1, Math.ceil((scoutUntil - now) / HOUR_MS)),
        },
      }),
    });
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const blastamRule: Rule<BlastamParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['rice_blast'],
  name: { ja: '葉いもち（BLASTAM）', en: 'Rice leaf blast (BLASTAM)' },
  sources: SOURCES,
  defaults: BLASTAM_DEFAULTS,
  schema: BlastamParamsSchema,
  problem: consistent,
  evaluate,
};
