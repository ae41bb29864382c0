// Shared builders for the rule tests: a farm context with the reference kits, reading series
// from a function of time, and a one-shot "what tips would this raise" helper that validates
// every tip against the protocol schema.
import { expect } from 'vitest';
import type { DeviceEntry, Field } from '../../../protocol/manifest.ts';
import type { Kit } from '../../../protocol/kit.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { Tip } from '../../../protocol/tip.ts';
import { validator } from '../../../protocol/validate.ts';
import type { Assessment, LabelledParams, Rule, RuleResult } from '../../../edge/rules/assessment.ts';
import type { RuleContext } from '../../../edge/rules/context.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';

export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** Epoch ms of a Japan local time 'YYYY-MM-DDTHH:MM'. */
export function jst(local: string): number {
  return Date.parse(`${local}:00+09:00`);
}

export const KITS: Kit[] = [
  {
    id: 'hatake-soil-probe',
    name: { ja: '土壌センサー', en: 'Soil probe' },
    codec: 'json',
    interval: 60,
    metrics: {
      soil_vwc: { unit: 'm3/m3', min: 0, max: 0.6, resolution: 0.001 },
      soil_temperature: { unit: 'degC', min: -20, max: 60, resolution: 0.1 },
      soil_ec: { unit: 'dS/m', min: 0, max: 20, resolution: 0.01 },
      battery: { unit: 'V', min: 2.5, max: 4.3, resolution: 0.01 },
    },
  },
  {
    id: 'hatake-weather-station',
    name: { ja: '気象ステーション', en: 'Weather station' },
    codec: 'json',
    interval: 60,
    metrics: {
      air_temperature: { unit: 'degC', min: -40, max: 60, resolution: 0.1 },
      air_humidity: { unit: '%', min: 0, max: 100, resolution: 0.1 },
      rain: { unit: 'mm', min: 0, max: 200, resolution: 0.2 },
      wind_speed: { unit: 'm/s', min: 0, max: 60, resolution: 0.1 },
      solar_radiation: { unit: 'W/m2', min: 0, max: 1400, resolution: 1 },
      leaf_wetness: { unit: '%', min: 0, max: 100, resolution: 1 },
      battery: { unit: 'V', min: 2.5, max: 14.5, resolution: 0.01 },
    },
  },
  {
    id: 'hatake-paddy-water',
    name: { ja: '水位センサー', en: 'Paddy water-level sensor' },
    codec: 'json',
    interval: 60,
    metrics: {
      water_level: { unit: 'cm', min: -10, max: 40, resolution: 0.1 },
      water_temperature: { unit: 'degC', min: -5, max: 45, resolution: 0.1 },
      battery: { unit: 'V', min: 2.5, max: 4.3, resolution: 0.01 },
    },
  },
  {
    id: 'hatake-water-gate',
    name: { ja: '自動水口・バルブ', en: 'Water gate / valve' },
    codec: 'json',
    interval: 300,
    metrics: {
      valve_state: { unit: '1', min: 0, max: 1, resolution: 1 },
      battery: { unit: 'V', min: 5, max: 14.5, resolution: 0.01 },
    },
  },
];

export const FARM = { id: 'farm-1', name: 'テスト農場', region: 'niigata', timezone: 'Asia/Tokyo' };

export function context(over: Partial<RuleContext> & { now: number }): RuleContext {
  return { farm: FARM, fields: [], devices: [], kits: KITS, readings: [], ...over };
}

export const UNITS: Record<string, string> = {
  soil_vwc: 'm3/m3',
  air_temperature: 'degC',
  air_humidity: '%',
  leaf_wetness: '%',
  wind_speed: 'm/s',
  rain: 'mm',
  water_level: 'cm',
  battery: 'V',
  soil_temperature: 'degC',
  valve_state: '1',
};

/** Readings of one metric every `step` ms over [from, to], valued by f(t). */
export function series(
  device: string,
  metric: string,
  from: number,
  to: number,
  step: number,
  f: (t: number) => number,
): Reading[] {
  const out: Reading[] = [];
  for (let t = from; t <= to; t += step)
    out.push({ device, metric, value: f(t), unit: UNITS[metric] ?? '1', time: t, flags: [] });
  return out;
}

export const field = (over: Partial<Field> & { id: string }): Field => ({ name: `畑 ${over.id}`, ...over });
export const device = (id: string, kit: string, fieldId?: string): DeviceEntry => ({
  id,
  kit,
  ...(fieldId ? { field: fieldId } : {}),
});

export const checkTip = validator(Tip);

/** The tips a result would raise from an empty lifecycle state, each checked against the schema. */
export function tipsOf(results: RuleResult | readonly Assessment[], now: number) {
  const assessments = Array.isArray(results) ? results : (results as RuleResult).assessments;
  const step = stepTips(emptyTipState(), assessments, now);
  for (const t of step.raised) {
    if (!checkTip.check(t)) throw new Error(JSON.stringify(checkTip.problems(t)));
    expect(JSON.parse(JSON.stringify(t))).toEqual(t);
  }
  return step.raised;
}

/** Evaluates a rule with its defaults (or params) and returns its result. */
export function run<P extends LabelledParams>(rule: Rule<P>, ctx: RuleContext, params?: P): RuleResult {
  return rule.evaluate(ctx, params);
}
