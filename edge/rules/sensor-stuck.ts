// Device health: a stuck sensor — the same value (within a tolerance) for longer than is
// plausible for its metric. Durations are data per metric; values that legitimately stay put
// for long (no rain, calm nights, no sun at night) are ignored per metric. The tolerance is
// half the kit's resolution unless the parameters give one.
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
import { deviceName, prepare, type RuleContext, type RuleNote } from './context.ts';
import { fmt, short } from './format.ts';
import { HOUR_MS } from './local-time.ts';
import { METRICS, isMetricName } from '../../protocol/metrics.ts';

const RULE_ID = 'sensor-stuck';
const VERSION = '1.0.0';

export const StuckParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    metrics: Type.Record(
      Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
      Type.Object(
        {
          /** Unchanged this long counts as stuck. */
          hours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 60 }),
          /** Values that may stay unchanged for long without a fault (e.g. 0 mm rain). */
          ignoreValues: Type.Optional(Type.Array(Type.Number(), { maxItems: 10 })),
          tolerance: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** At least this many readings in the unchanged run. */
    minReadings: Type.Integer({ minimum: 2, maximum: 100_000 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 24 * 30 }),
  },
  { additionalProperties: false },
);
export type StuckParams = Static<typeof StuckParamsSchema>;

const SOURCES = [
  {
    citation:
      'hatake sensor plausibility defaults: how long each quantity can stay unchanged at the kit’s resolution under field conditions — check per site',
  },
];

export const STUCK_DEFAULTS: StuckParams = {
  label: 'sensor-stuck-defaults@1.0.0',
  metrics: {
    air_temperature: { hours: 6 },
    air_humidity: { hours: 12, ignoreValues: [100] },
    soil_vwc: { hours: 72 },
    soil_temperature: { hours: 48 },
    soil_ec: { hours: 72, ignoreValues: [0] },
    solar_radiation: { hours: 3, ignoreValues: [0] },
    wind_speed: { hours: 24, ignoreValues: [0] },
    water_level: { hours: 48 },
    water_temperature: { hours: 24 },
  },
  minReadings: 5,
  ttlHours: 24,
  coolDownHours: 6,
};

/** How long the latest value has been unchanged: [start time, end time, readings in the run]. */
export function unchangedRun(
  time: readonly number[],
  value: readonly number[],
  tolerance: number,
): { from: number; to: number; count: number; value: number } | undefined {
  const n = time.length;
  if (n === 0) return undefined;
  const v = value[n - 1]!;
  let i = n - 1;
  while (i > 0 && Math.abs(value[i - 1]! - v) <= tolerance) i--;
  return { from: time[i]!, to: time[n - 1]!, count: n - i, value: v };
}

function evaluate(ctx: RuleContext, params: StuckParams = STUCK_DEFAULTS): RuleResult {
  const P = checkParams<StuckParams>(RULE_ID, StuckParamsSchema, params);
  const p = prepare(ctx);
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];

  for (const d of p.deviceById.values()) {
    const kit = p.kitById.get(d.kit);
    for (const [metric, s] of p.series.get(d.id) ?? []) {
      const m = Object.hasOwn(P.metrics, metric) ? P.metrics[metric] : undefined;
      if (!m) continue;
      const tolerance = m.tolerance ?? (kit?.metrics[metric]?.resolution ?? 0) / 2 + 1e-9;
      const run = unchangedRun(s.time, s.value, tolerance);
      if (!run) continue;
      const ignored = (m.ignoreValues ?? []).some((x) => Math.abs(x - run.value) <= tolerance);
      const hours = run.count >= P.minReadings && !ignored ? (run.to - run.from) / HOUR_MS : 0;
      const trigger: Trigger = { value: hours, comparison: '>=', threshold: m.hours, hysteresis: 0 };
      const name = short(deviceName(p, d.id));
      const def = isMetricName(metric) ? METRICS[metric] : { ja: metric, en: metric, unit: s.unit };
      assessments.push({
        key: dedupKey('sensor_stuck', p.farm.id, d.id, metric),
        trigger,
        policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
        draft: makeDraft({
          kind: 'sensor_stuck',
          severity: 'warning',
          farm: p.farm.id,
          ...(d.field ? { field: d.field } : {}),
          devices: [d.id],
          title: {
            ja: `センサー値が変化しません：${name}の${def.ja}`,
            en: `Sensor stuck: ${def.en} of ${name}`,
          },
          text: {
            ja:
              `${name}の${def.ja}が ${fmt(hours)} 時間（${run.count} 回）${fmt(run.value, 3)} ${s.unit} のままです（目安 ${fmt(m.hours, 0)} 時間）。` +
              `センサーの故障、汚れ、配線を確かめてください。この値を使う助言は信頼できません。`,
            en:
              `${def.en} of ${name} has read ${fmt(run.value, 3)} ${s.unit} for ${fmt(hours)} h (${run.count} readings; limit ${fmt(m.hours, 0)} h). ` +
              `Check the sensor for a fault, dirt or wiring; advice based on it cannot be trusted.`,
          },
          rule: { id: RULE_ID, version: VERSION, params: P.label },
          sources: SOURCES,
          points: [
            {
              device: d.id,
              metric,
              value: run.value,
              unit: s.unit.slice(0, 16),
              time: run.from,
              role: 'run_start',
            },
            {
              device: d.id,
              metric,
              value: run.value,
              unit: s.unit.slice(0, 16),
              time: run.to,
              role: 'run_end',
            },
          ],
          thresholds: [thresholdEvidence('unchanged_hours', trigger, 'h')],
          quantities: [
            { name: 'readings', value: run.count, unit: '1' },
            { name: 'tolerance', value: tolerance, unit: s.unit.slice(0, 16) },
          ],
          window: { from: run.from, to: run.to },
          action: { type: 'device_maintenance', device: d.id, task: 'check_sensor', metric },
        }),
      });
    }
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const sensorStuckRule: Rule<StuckParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['sensor_stuck'],
  name: { ja: 'センサー固着', en: 'Stuck sensor' },
  sources: SOURCES,
  defaults: STUCK_DEFAULTS,
  schema: StuckParamsSchema,
  evaluate,
};
