// Frost, in the manner of JMA's frost advisory (霜注意報): the minimum air temperature at
// 1.5 m — observed over the last hours, forecast (when the server supplies a forecast), or
// extrapolated from the recent falling trend — at or below the area's threshold (2–4 °C by area,
// 3 °C by default), inside the area's season window. At or below 0 °C the tip is severe.
import { Type, type Static } from '@sinclair/typebox';
import type { EvidencePoint } from '../../protocol/tip.ts';
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
import {
  deviceName,
  fieldDevices,
  prepare,
  seriesOf,
  weatherDevices,
  type Prepared,
  type RuleContext,
  type RuleNote,
} from './context.ts';
import { fmt, short } from './format.ts';
import { HOUR_MS, formatLocal, inMonthDayWindow, localDay, monthDayOf, parseMonthDay } from './local-time.ts';
import { latestPoint, pointsIn, primarySeries, slopePerHour } from './series.ts';

const RULE_ID = 'frost';
const VERSION = '1.0.0';

const MonthDay = Type.String({ pattern: '^\\d{2}-\\d{2}$', description: 'MM-DD, local date' });

export const FrostParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** Areas by id (a farm's region id, or a frost area given in the context). */
    areas: Type.Record(
      Type.String(),
      Type.Object(
        {
          name: Type.Object({ ja: Type.String({ minLength: 1 }), en: Type.String({ minLength: 1 }) }),
          thresholdC: Type.Number({ minimum: -5, maximum: 10 }),
          /** Season windows (inclusive; a window may wrap over the new year). */
          seasons: Type.Array(
            Type.Object({ from: MonthDay, to: MonthDay }, { additionalProperties: false }),
            {
              minItems: 1,
              maxItems: 6,
            },
          ),
        },
        { additionalProperties: false },
      ),
      { minProperties: 1 },
    ),
    defaultArea: Type.String({ minLength: 1 }),
    /** At or below this the tip is severe. */
    severeC: Type.Number({ minimum: -10, maximum: 5 }),
    /** Observed minimum over this many past hours. */
    lookbackHours: Type.Number({ exclusiveMinimum: 0, maximum: 72 }),
    /** Once raised, clears only when the minimum is this far above the threshold. */
    hysteresisC: Type.Number({ minimum: 0, maximum: 10 }),
    /** Extrapolation of the recent falling trend (a simple forecast when none is supplied). */
    trend: Type.Object(
      {
        enabled: Type.Boolean(),
        windowHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 }),
        horizonHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 }),
        minPoints: Type.Integer({ minimum: 2, maximum: 10_000 }),
        /** The extrapolation never falls more than this below the latest reading. */
        maxDropC: Type.Number({ minimum: 0, maximum: 30 }),
        /** The latest reading must be at most this old for a trend. */
        maxAgeMinutes: Type.Number({ exclusiveMinimum: 0, maximum: 1440 }),
      },
      { additionalProperties: false },
    ),
    /** Supplied forecast points up to this many hours ahead are considered. */
    forecastHorizonHours: Type.Number({ exclusiveMinimum: 0, maximum: 72 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 240 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 240 }),
  },
  { additionalProperties: false },
);
export type FrostParams = Static<typeof FrostParamsSchema>;

const SOURCES = [
  {
    citation:
      "Japan Meteorological Agency, frost advisory (霜注意報) criteria: minimum temperature at or below an area threshold within the area's season; thresholds and seasons differ by local office — check the area's criteria",
    url: 'https://www.jma.go.jp/jma/kishou/know/kijun/index.html',
  },
];

export const FROST_DEFAULTS: FrostParams = {
  label: 'frost-defaults@1.0.0',
  areas: {
    default: {
      name: { ja: '既定の地域', en: 'default area' },
      thresholdC: 3,
      // Late frost in spring, early frost in autumn — a configurable default, not a JMA figure.
      seasons: [
        { from: '03-01', to: '05-31' },
        { from: '10-01', to: '11-30' },
      ],
    },
  },
  defaultArea: 'default',
  severeC: 0,
  lookbackHours: 12,
  hysteresisC: 1,
  trend: { enabled: true, windowHours: 3, horizonHours: 6, minPoints: 6, maxDropC: 8, maxAgeMinutes: 60 },
  forecastHorizonHours: 24,
  ttlHours: 12,
  coolDownHours: 6,
};

function consistent(p: FrostParams): string | undefined {
  if (!Object.hasOwn(p.areas, p.defaultArea)) return `defaultArea "${p.defaultArea}" is not in areas`;
  for (const [id, a] of Object.entries(p.areas)) {
    for (const s of a.seasons) {
      if (parseMonthDay(s.from) === undefined || parseMonthDay(s.to) === undefined)
        return `areas.${id}: season ${s.from}–${s.to} is not a pair of MM-DD dates`;
    }
    if (p.severeC > a.thresholdC) return `areas.${id}: severeC must not exceed the threshold`;
  }
  return undefined;
}

/** A simple forecast: the latest reading continued along the recent falling trend. */
export function trendForecast(
  points: readonly { time: number; value: number }[],
  now: number,
  t: FrostParams['trend'],
): { value: number; time: number; slopePerHour: number } | undefined {
  if (!t.enabled || points.length < t.minPoints) return undefined;
  const last = points[points.length - 1]!;
  if (now - last.time > t.maxAgeMinutes * 60_000) return undefined;
  if (last.time - points[0]!.time < (t.windowHours * HOUR_MS) / 2) return undefined;
  const slope = slopePerHour(points);
  if (slope === undefined || slope >= 0) return undefined;
  const hoursAhead = t.horizonHours - (now - last.time) / HOUR_MS;
  const value = Math.max(last.value - t.maxDropC, last.value + slope * Math.max(0, hoursAhead));
  return { value, time: now + t.horizonHours * HOUR_MS, slopePerHour: slope };
}

function areaOf(p: Prepared, P: FrostParams): { id: string; area: FrostParams['areas'][string] } {
  for (const id of [p.ctx.frostArea, p.farm.region]) {
    if (id !== undefined && Object.hasOwn(P.areas, id)) return { id, area: P.areas[id]! };
  }
  return { id: P.defaultArea, area: P.areas[P.defaultArea]! };
}

function evaluate(ctx: RuleContext, params: FrostParams = FROST_DEFAULTS): RuleResult {
  const P = checkParams<FrostParams>(RULE_ID, FrostParamsSchema, params, consistent);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];
  const result = () => ({ rule: { id: RULE_ID, version: VERSION }, assessments, notes });

  const { id: areaId, area } = areaOf(p, P);
  const md = monthDayOf(localDay(p.tz, now));
  const inSeason = area.seasons.some((s) =>
    inMonthDayWindow(md, parseMonthDay(s.from)!, parseMonthDay(s.to)!),
  );
  if (!inSeason) {
    notes.push({
      rule: RULE_ID,
      code: 'out_of_season',
      message: `outside the frost season of area ${areaId} (${area.seasons.map((s) => `${s.from}–${s.to}`).join(', ')})`,
    });
    return result();
  }

  // Sites: each field with its own thermometer, and the farm's field-less station for the rest.
  const sites: { field: string | undefined; devices: string[] }[] = [];
  for (const f of p.fields) {
    const own = fieldDevices(p, f.id, 'air_temperature');
    if (own.length > 0) sites.push({ field: f.id, devices: own.map((d) => d.id) });
  }
  const farmLevel = weatherDevices(p, undefined, 'air_temperature').map((d) => d.id);
  if (farmLevel.length > 0 || (sites.length === 0 && p.forecast.length > 0))
    sites.push({ field: undefined, devices: farmLevel });

  const from = now - P.lookbackHours * HOUR_MS;
  for (const site of sites) {
    const s = primarySeries(
      site.devices.map((d) => seriesOf(p, d, 'air_temperature')),
      from,
      now,
    );
    const window = pointsIn(s, from, now);
    let observed: EvidencePoint | undefined;
    for (const pt of window)
      if (!observed || pt.value < observed.value)
        observed = {
          device: s!.device,
          metric: 'air_temperature',
          value: pt.value,
          unit: 'degC',
          time: pt.time,
          role: 'observed_min',
        };
    const latest = latestPoint(s, now);
    const trend = trendForecast(pointsIn(s, now - P.trend.windowHours * HOUR_MS, now), now, P.trend);
    let supplied: EvidencePoint | undefined;
    for (const f of p.forecast) {
      if (f.time <= now || f.time > now + P.forecastHorizonHours * HOUR_MS) continue;
      if (!supplied || f.airTemperature < supplied.value)
        supplied = {
          metric: 'air_temperature',
          value: f.airTemperature,
          unit: 'degC',
          time: f.time,
          role: 'forecast_min',
        };
    }
    const candidates: { value: number; time: number; source: 'observed' | 'trend' | 'forecast' }[] = [];
    if (observed) candidates.push({ value: observed.value, time: observed.time, source: 'observed' });
    if (trend) candidates.push({ value: trend.value, time: trend.time, source: 'trend' });
    if (supplied) candidates.push({ value: supplied.value, time: supplied.time, source: 'forecast' });
    if (candidates.length === 0) {
      notes.push({
        rule: RULE_ID,
        code: 'no_data',
        ...(site.field ? { field: site.field } : {}),
        message: `no air temperature in the last ${P.lookbackHours} h and no forecast`,
      });
      continue;
    }
    const min = candidates.reduce((a, b) => (b.value < a.value ? b : a));
    const trigger: Trigger = {
      value: min.value,
      comparison: '<=',
      threshold: area.thresholdC,
      hysteresis: P.hysteresisC,
    };
    const severe = min.value <= P.severeC;
    const field = site.field !== undefined ? p.fieldById.get(site.field) : undefined;
    const where = field ? short(field.name) : short(p.farm.name);
    const when = formatLocal(p.tz, min.time);
    const srcJa = { observed: '観測', trend: '直近の気温低下傾向からの予想', forecast: '予報' }[min.source];
    const srcEn = { observed: 'observed', trend: 'projected from the recent fall', forecast: 'forecast' }[
      min.source
    ];
    const points: EvidencePoint[] = [];
    if (observed) points.push(observed);
    if (latest && s)
      points.push({
        device: s.device,
        metric: 'air_temperature',
        value: latest.value,
        unit: 'degC',
        time: latest.time,
        role: 'latest',
      });
    if (trend)
      points.push({
        ...(s ? { device: s.device } : {}),
        metric: 'air_temperature',
        value: trend.value,
        unit: 'degC',
        time: trend.time,
        role: 'trend_forecast',
      });
    if (supplied) points.push(supplied);
    const devices = s ? [s.device] : [];
    assessments.push({
      key: dedupKey('frost', p.farm.id, site.field),
      trigger,
      policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
      draft: makeDraft({
        kind: 'frost',
        severity: severe ? 'severe' : 'warning',
        farm: p.farm.id,
        ...(site.field ? { field: site.field } : {}),
        devices,
        title: severe
          ? {
              ja: `強い霜のおそれ：${where} 最低気温 ${fmt(min.value)} ℃`,
              en: `Hard frost risk at ${where}: minimum ${fmt(min.value)} °C`,
            }
          : {
              ja: `霜注意：${where} 最低気温 ${fmt(min.value)} ℃`,
              en: `Frost risk at ${where}: minimum ${fmt(min.value)} °C`,
            },
        text: {
          ja:
            `最低気温 ${fmt(min.value)} ℃（${srcJa}、${when}）が、${area.name.ja}の霜の目安 ${fmt(area.thresholdC)} ℃以下です` +
            `${severe ? `（${fmt(P.severeC)} ℃以下：凍霜害の危険）` : ''}。` +
            `被覆、散水、送風などの霜対策を${min.source === 'observed' ? '急いでください' : '準備してください'}。` +
            (devices.length ? `観測：${short(deviceName(p, devices[0]!))}。` : ''),
          en:
            `Minimum air temperature ${fmt(min.value)} °C (${srcEn}, ${when} local) is at or below the frost threshold of ` +
            `${fmt(area.thresholdC)} °C for the ${area.name.en}${severe ? ` (at or below ${fmt(P.severeC)} °C: freeze damage likely)` : ''}. ` +
            `${min.source === 'observed' ? 'Protect the crop now' : 'Prepare frost protection'} — covers, sprinkling or fans.` +
            (devices.length ? ` Station: ${short(deviceName(p, devices[0]!))}.` : ''),
        },
        rule: { id: RULE_ID, version: VERSION, params: P.label },
        sources: SOURCES,
        points,
        thresholds: [
          thresholdEvidence('frost_threshold', trigger, 'degC'),
          thresholdEvidence('severe_threshold', { ...trigger, threshold: P.severeC, hysteresis: 0 }, 'degC'),
        ],
        quantities: [
          { name: 'threshold', value: area.thresholdC, unit: 'degC' },
          ...(trend ? [{ name: 'trend_slope', value: trend.slopePerHour, unit: 'degC/h' }] : []),
          { name: 'lookback', value: P.lookbackHours, unit: 'h' },
        ],
        window: { from, to: now },
        action: {
          type: 'frost_protection',
          ...(site.field ? { field: site.field } : {}),
          byTime: Math.max(now, Math.floor(min.time)),
          thresholdC: area.thresholdC,
        },
      }),
    });
  }
  return result();
}

export const frostRule: Rule<FrostParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['frost'],
  name: { ja: '霜注意', en: 'Frost' },
  sources: SOURCES,
  defaults: FROST_DEFAULTS,
  schema: FrostParamsSchema,
  problem: consistent,
  evaluate,
};
