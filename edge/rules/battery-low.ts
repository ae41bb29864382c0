// Device health: battery low, by the voltage thresholds of the device's kit (data per kit: a
// single Li-ion cell and a 12 V lead-acid battery discharge differently). The voltage is the
// median of the last few readings, so one sag under radio load does not raise a tip; a battery
// that recovers (solar charging) clears only past the hysteresis margin.
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
import { deviceName, prepare, seriesOf, type RuleContext, type RuleNote } from './context.ts';
import { fmt, short } from './format.ts';
import { HOUR_MS } from './local-time.ts';
import { median, pointsIn, type Point } from './series.ts';

const RULE_ID = 'battery-low';
const VERSION = '1.0.0';

const Volts = Type.Number({ minimum: 0, maximum: 60 });

export const BatteryParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** Per kit id: low (warning) and critical (severe) voltages. */
    kits: Type.Record(
      Type.String(),
      Type.Object({ lowV: Volts, criticalV: Volts }, { additionalProperties: false }),
    ),
    hysteresisV: Type.Number({ minimum: 0, maximum: 5 }),
    /** The voltage is the median of this many latest readings. */
    samples: Type.Integer({ minimum: 1, maximum: 100 }),
    /** Readings older than this are not used. */
    maxAgeHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 24 * 30 }),
  },
  { additionalProperties: false },
);
export type BatteryParams = Static<typeof BatteryParamsSchema>;

const SOURCES = [
  {
    citation:
      'Kit battery thresholds: hatake reference kits (single Li-ion cell 3.5 V low / 3.3 V critical; 12 V lead-acid 11.9 V / 11.5 V) — defaults to check against the vendor’s data sheet',
  },
];

export const BATTERY_DEFAULTS: BatteryParams = {
  label: 'battery-low-defaults@1.0.0',
  kits: {
    'hatake-soil-probe': { lowV: 3.5, criticalV: 3.3 },
    'hatake-paddy-water': { lowV: 3.5, criticalV: 3.3 },
    'hatake-weather-station': { lowV: 11.9, criticalV: 11.5 },
  },
  hysteresisV: 0.1,
  samples: 3,
  maxAgeHours: 24,
  ttlHours: 24,
  coolDownHours: 12,
};

function consistent(p: BatteryParams): string | undefined {
  for (const [id, k] of Object.entries(p.kits))
    if (k.criticalV > k.lowV) return `kits.${id}: criticalV exceeds lowV`;
  return undefined;
}

/** A battery by the rule: the voltage it judges by and where that stands against its kit's marks. */
export interface BatteryVerdict {
  /** ok: above the low mark; low: at or below it (the tip's warning); critical: at or below the critical mark (severe). */
  state: 'ok' | 'low' | 'critical';
  /** The median of the latest readings the rule looks at. */
  volts: number;
  lowV: number;
  criticalV: number;
  /** The readings the median is of, oldest first. */
  recent: Point[];
}

/** The rule's low and critical voltages for a kit, if it has them. */
export function batteryThresholds(
  kit: string | null | undefined,
  P: BatteryParams = BATTERY_DEFAULTS,
): { lowV: number; criticalV: number } | undefined {
  return kit && Object.hasOwn(P.kits, kit) ? P.kits[kit] : undefined;
}

/**
 * A battery as the rule sees it: the median of the last `samples` readings (flagged ones too) of
 * the last `maxAgeHours`, against the kit's marks. `points` are the battery readings, oldest first.
 * Undefined when the kit has no marks or no reading is recent enough. The partner's device table
 * (dashboard/partner/health.ts) flags a battery by this, so it says what the farmer's tip says.
 */
export function batteryVerdict(
  kit: string | null | undefined,
  points: readonly Point[],
  now: number,
  P: BatteryParams = BATTERY_DEFAULTS,
): BatteryVerdict | undefined {
  const k = batteryThresholds(kit, P);
  if (!k) return undefined;
  const from = now - P.maxAgeHours * HOUR_MS;
  const recent = points.filter((r) => r.time >= from && r.time <= now).slice(-P.samples);
  if (recent.length === 0) return undefined;
  const volts = median(recent.map((r) => r.value))!;
  const state = volts <= k.criticalV ? 'critical' : volts <= k.lowV ? 'low' : 'ok';
  return { state, volts, lowV: k.lowV, criticalV: k.criticalV, recent };
}

function evaluate(ctx: RuleContext, params: BatteryParams = BATTERY_DEFAULTS): RuleResult {
  const P = checkParams<BatteryParams>(RULE_ID, BatteryParamsSchema, params, consistent);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];

  for (const d of p.deviceById.values()) {
    const s = seriesOf(p, d.id, 'battery');
    if (!s) continue;
    if (!batteryThresholds(d.kit, P)) {
      notes.push({
        rule: RULE_ID,
        code: 'missing_parameter',
        device: d.id,
        message: `no battery thresholds for kit "${d.kit}"`,
      });
      continue;
    }
    // Flagged readings count here: a battery reading outside the sensor range is still a battery reading.
    const v = batteryVerdict(d.kit, pointsIn(s, now - P.maxAgeHours * HOUR_MS, now, true), now, P);
    if (!v) {
      notes.push({
        rule: RULE_ID,
        code: 'stale_data',
        device: d.id,
        message: `no battery reading from ${d.id} in ${P.maxAgeHours} h`,
      });
      continue;
    }
    const { volts, recent, state } = v;
    const k = { lowV: v.lowV, criticalV: v.criticalV };
    const trigger: Trigger = { value: volts, comparison: '<=', threshold: k.lowV, hysteresis: P.hysteresisV };
    const severe = state === 'critical';
    const name = short(deviceName(p, d.id));
    const last = recent[recent.length - 1]!;
    assessments.push({
      key: dedupKey('battery_low', p.farm.id, d.id),
      trigger,
      policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
      draft: makeDraft({
        kind: 'battery_low',
        severity: severe ? 'severe' : 'warning',
        farm: p.farm.id,
        ...(d.field ? { field: d.field } : {}),
        devices: [d.id],
        title: {
          ja: `電池残量低下：${name}（${fmt(volts, 2)} V）`,
          en: `Battery low: ${name} (${fmt(volts, 2)} V)`,
        },
        text: {
          ja:
            `${name}の電池電圧 ${fmt(volts, 2)} V（直近${recent.length}回の中央値）が` +
            `${severe ? `限界 ${fmt(k.criticalV, 2)} V 以下です。まもなく停止します。` : `目安 ${fmt(k.lowV, 2)} V 以下です。`}` +
            `電池を交換するか充電してください。`,
          en:
            `${name} reports ${fmt(volts, 2)} V (median of the last ${recent.length} readings), ` +
            `${severe ? `at or below the critical ${fmt(k.criticalV, 2)} V: it will stop soon.` : `at or below the low mark of ${fmt(k.lowV, 2)} V.`} ` +
            `Replace or recharge the battery.`,
        },
        rule: { id: RULE_ID, version: VERSION, params: P.label },
        sources: SOURCES,
        points: recent.map((r) => ({
          device: d.id,
          metric: 'battery',
          value: r.value,
          unit: 'V',
          time: r.time,
          role: 'recent',
        })),
        thresholds: [
          thresholdEvidence('low', trigger, 'V'),
          thresholdEvidence('critical', { ...trigger, threshold: k.criticalV, hysteresis: 0 }, 'V'),
        ],
        quantities: [{ name: 'voltage', value: volts, unit: 'V' }],
        window: { from: recent[0]!.time, to: last.time },
        action: { type: 'device_maintenance', device: d.id, task: 'replace_battery', metric: 'battery' },
      }),
    });
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const batteryLowRule: Rule<BatteryParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['battery_low'],
  name: { ja: '電池残量低下', en: 'Battery low' },
  sources: SOURCES,
  defaults: BATTERY_DEFAULTS,
  schema: BatteryParamsSchema,
  problem: consistent,
  evaluate,
};
