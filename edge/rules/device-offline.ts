// Device health: offline — silent for more than N of its kit's reporting intervals. The last
// time a device was heard is its newest reading (flagged or not) or the gateway's own record
// (`lastSeen` in the context), whichever is later. A device never heard from is noted, not
// tipped: there is no "since" to tell.
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
import { HOUR_MS, formatLocal } from './local-time.ts';

const RULE_ID = 'device-offline';
const VERSION = '1.0.0';

export const OfflineParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** Offline when silent for more than this many expected intervals. */
    missedIntervals: Type.Number({ exclusiveMinimum: 0, maximum: 10_000 }),
    /** …and for at least this long (kits that report every few seconds). */
    minSilenceMinutes: Type.Number({ minimum: 0, maximum: 10_080 }),
    /** Once raised, clears when silence is below the threshold by this many intervals. */
    hysteresisIntervals: Type.Number({ minimum: 0, maximum: 10_000 }),
    /** Silent this long: severe. */
    severeAfterHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 365 }),
    ttlHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
    coolDownHours: Type.Number({ minimum: 0, maximum: 24 * 30 }),
  },
  { additionalProperties: false },
);
export type OfflineParams = Static<typeof OfflineParamsSchema>;

const SOURCES = [
  { citation: 'hatake kit catalogue: each kit declares its reporting interval (firmware-config/kits)' },
];

export const OFFLINE_DEFAULTS: OfflineParams = {
  label: 'device-offline-defaults@1.0.0',
  missedIntervals: 3,
  minSilenceMinutes: 10,
  hysteresisIntervals: 1,
  severeAfterHours: 24,
  ttlHours: 24,
  coolDownHours: 1,
};

function evaluate(ctx: RuleContext, params: OfflineParams = OFFLINE_DEFAULTS): RuleResult {
  const P = checkParams<OfflineParams>(RULE_ID, OfflineParamsSchema, params);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];

  for (const d of p.deviceById.values()) {
    const kit = p.kitById.get(d.kit);
    if (!kit) {
      notes.push({
        rule: RULE_ID,
        code: 'missing_parameter',
        device: d.id,
        message: `kit "${d.kit}" is not in the catalogue`,
      });
      continue;
    }
    let last = p.lastSeen.get(d.id);
    for (const s of p.series.get(d.id)?.values() ?? []) {
      const t = s.time[s.time.length - 1];
      if (t !== undefined && (last === undefined || t > last)) last = t;
    }
    if (last === undefined) {
      notes.push({
        rule: RULE_ID,
        code: 'no_data',
        device: d.id,
        message: `${d.id} has not been heard from`,
      });
      continue;
    }
    const intervalMin = kit.interval / 60;
    const silenceMin = Math.max(0, (now - last) / 60_000);
    const thresholdMin = Math.max(P.missedIntervals * intervalMin, P.minSilenceMinutes);
    const trigger: Trigger = {
      value: silenceMin,
      comparison: '>',
      threshold: thresholdMin,
      hysteresis: Math.min(thresholdMin, P.hysteresisIntervals * intervalMin),
    };
    const severe = silenceMin >= P.severeAfterHours * 60;
    const name = short(deviceName(p, d.id));
    const silence =
      silenceMin >= 120
        ? { ja: `${fmt(silenceMin / 60)}時間`, en: `${fmt(silenceMin / 60)} h` }
        : { ja: `${fmt(silenceMin, 0)}分`, en: `${fmt(silenceMin, 0)} min` };
    assessments.push({
      key: dedupKey('device_offline', p.farm.id, d.id),
      trigger,
      policy: { ttlMs: P.ttlHours * HOUR_MS, coolDownMs: P.coolDownHours * HOUR_MS, renewOnExpiry: true },
      draft: makeDraft({
        kind: 'device_offline',
        severity: severe ? 'severe' : 'warning',
        farm: p.farm.id,
        ...(d.field ? { field: d.field } : {}),
        devices: [d.id],
        title: {
          ja: `通信途絶：${name}（${silence.ja}受信なし）`,
          en: `Offline: ${name} (silent for ${silence.en})`,
        },
        text: {
          ja:
            `${name}から${silence.ja}データが届いていません（最終受信 ${formatLocal(p.tz, last)}、送信間隔 ${fmt(intervalMin, 0)}分）。` +
            `電源、電池、アンテナ、電波の届き具合を確かめてください。`,
          en:
            `Nothing from ${name} for ${silence.en} (last heard ${formatLocal(p.tz, last)} local; reports every ${fmt(intervalMin, 0)} min). ` +
            `Check its power, battery, antenna and radio coverage.`,
        },
        rule: { id: RULE_ID, version: VERSION, params: P.label },
        sources: SOURCES,
        points: [],
        thresholds: [thresholdEvidence('silence', trigger, 'min')],
        quantities: [
          { name: 'silence', value: silenceMin, unit: 'min' },
          { name: 'interval', value: intervalMin, unit: 'min' },
          { name: 'last_heard', value: last, unit: 'ms' },
        ],
        window: { from: last, to: now },
        action: { type: 'device_maintenance', device: d.id, task: 'check_power_and_radio' },
      }),
    });
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const deviceOfflineRule: Rule<OfflineParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['device_offline'],
  name: { ja: '通信途絶', en: 'Device offline' },
  sources: SOURCES,
  defaults: OFFLINE_DEFAULTS,
  schema: OfflineParamsSchema,
  evaluate,
};
