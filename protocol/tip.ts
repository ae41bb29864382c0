// A tip: advice raised by an agronomic or device-health rule (edge/rules/), shown to the farmer
// on the dashboard and the gateway's status page, synced like any other document (by its id).
// It carries its evidence (the readings, thresholds and rule version that produced it) and a
// suggested action precise enough to be turned into an automation.
import { Type, type Static } from '@sinclair/typebox';
import { Id, RecommendationId } from './ids.ts';
import { METRIC_PATTERN } from './telemetry.ts';
import { Position } from './manifest.ts';

/** The kinds the agronomic and device-health rules raise (edge/rules/), on the gateway and the server. */
export const RULE_TIP_KINDS = [
  'irrigation',
  'frost',
  'rice_blast',
  'late_blight',
  'paddy_water',
  'growth_stage',
  'fertilization_timing',
  'imagery_anomaly',
  'battery_low',
  'device_offline',
  'sensor_stuck',
] as const;
/**
 * Every kind: the rules' and the server's own — `prescription`, raised when an officer approves a
 * recommendation, and `valve_not_closed`, raised when a gateway's automation log says it gave up
 * closing a valve that never reported closed (water may still be flowing).
 */
export const TIP_KINDS = [...RULE_TIP_KINDS, 'prescription', 'valve_not_closed'] as const;
export type TipKind = (typeof TIP_KINDS)[number];
export const TipKindSchema = Type.Union(
  TIP_KINDS.map((k) => Type.Literal(k)),
  { description: 'What the tip is about' },
);

/** Ordered: info < advisory < warning < severe (see SEVERITY_RANK). */
export const TIP_SEVERITIES = ['info', 'advisory', 'warning', 'severe'] as const;
export type TipSeverity = (typeof TIP_SEVERITIES)[number];
export const TipSeveritySchema = Type.Union(
  TIP_SEVERITIES.map((s) => Type.Literal(s)),
  { description: 'info: good to know; advisory: plan for it; warning: act soon; severe: act now' },
);

/** Rank of a severity, for comparing (escalation raises a new tip). */
export function severityRank(s: TipSeverity): number {
  return TIP_SEVERITIES.indexOf(s);
}

const text = (max: number, description: string) =>
  Type.Object(
    {
      ja: Type.String({ minLength: 1, maxLength: max }),
      en: Type.String({ minLength: 1, maxLength: max }),
    },
    { additionalProperties: false, description },
  );

export const TipTitle = text(200, 'Short headline, Japanese first');
export const TipText = text(2000, 'The advice with the numbers behind it');
export type LocalizedTipText = Static<typeof TipText>;

/** A reading (or a value derived from readings) the rule looked at. */
export const EvidencePoint = Type.Object(
  {
    device: Type.Optional(Id('Device id')),
    metric: Type.String({ pattern: METRIC_PATTERN }),
    value: Type.Number(),
    unit: Type.String({ maxLength: 16 }),
    /** Measurement time, UTC epoch ms (a forecast point: the forecast time). */
    time: Type.Integer({ minimum: 0 }),
    /** What this point is: latest, minimum, forecast, window start, … */
    role: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type EvidencePoint = Static<typeof EvidencePoint>;

export const Comparison = Type.Union([
  Type.Literal('<'),
  Type.Literal('<='),
  Type.Literal('>'),
  Type.Literal('>='),
]);
export type Comparison = Static<typeof Comparison>;

/** A threshold the condition is tested against, with its hysteresis margin. */
export const EvidenceThreshold = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    /** The condition holds when `value comparison threshold`. */
    comparison: Comparison,
    threshold: Type.Number(),
    /** The value the rule measured. */
    value: Type.Number(),
    unit: Type.String({ maxLength: 16 }),
    /** Once raised, the condition clears only this far past the threshold. */
    hysteresis: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type EvidenceThreshold = Static<typeof EvidenceThreshold>;

/** A number the rule computed on the way (TAW, RAW, accumulated GDD, wet hours, …). */
export const EvidenceQuantity = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    value: Type.Number(),
    unit: Type.String({ maxLength: 16 }),
  },
  { additionalProperties: false },
);
export type EvidenceQuantity = Static<typeof EvidenceQuantity>;

export const SourceCitation = Type.Object(
  {
    citation: Type.String({ minLength: 1, maxLength: 500 }),
    url: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type SourceCitation = Static<typeof SourceCitation>;

export const Evidence = Type.Object(
  {
    rule: Type.Object(
      {
        id: Id('Rule id'),
        version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$', description: 'Rule version (semver)' }),
        /** Label of the parameter set used (defaults or a named profile). */
        params: Type.String({ minLength: 1, maxLength: 100 }),
      },
      { additionalProperties: false },
    ),
    sources: Type.Array(SourceCitation, { minItems: 1, maxItems: 8 }),
    points: Type.Array(EvidencePoint, { maxItems: 100 }),
    thresholds: Type.Array(EvidenceThreshold, { maxItems: 16 }),
    quantities: Type.Array(EvidenceQuantity, { maxItems: 40 }),
    /** The time window of data the rule read (UTC epoch ms). */
    window: Type.Optional(
      Type.Object(
        { from: Type.Integer({ minimum: 0 }), to: Type.Integer({ minimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Evidence = Static<typeof Evidence>;

// Suggested actions. `irrigate`, `valve` and `water_level` are what an automation can execute;
// the others tell a person what to do and where.

export const IrrigateAction = Type.Object(
  {
    type: Type.Literal('irrigate'),
    field: Id('Field id'),
    /** Net depth to apply, mm (1 mm = 1 m³ per 10a). */
    amountMm: Type.Number({ minimum: 0, maximum: 500 }),
    /** Minutes at the field's application rate, when the rate is known. */
    durationMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
    /** Apply within this many hours from the tip's creation (0 = now). */
    withinHours: Type.Number({ minimum: 0, maximum: 240 }),
    /** The valve that waters the field, when the manifest has one. */
    valve: Type.Optional(Id('Valve device id')),
  },
  { additionalProperties: false },
);

export const ValveAction = Type.Object(
  {
    type: Type.Literal('valve'),
    device: Id('Valve device id'),
    command: Type.Union([Type.Literal('open'), Type.Literal('close')]),
    durationMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
  },
  { additionalProperties: false },
);

export const WaterLevelAction = Type.Object(
  {
    type: Type.Literal('water_level'),
    field: Id('Field id'),
    /** The level sensor to steer by. */
    device: Type.Optional(Id('Level sensor device id')),
    minCm: Type.Number({ minimum: -50, maximum: 100 }),
    maxCm: Type.Number({ minimum: -50, maximum: 100 }),
  },
  { additionalProperties: false },
);

export const FrostProtectionAction = Type.Object(
  {
    type: Type.Literal('frost_protection'),
    field: Type.Optional(Id('Field id (absent: every field the station covers)')),
    /** Have protection in place by this time (UTC epoch ms). */
    byTime: Type.Integer({ minimum: 0 }),
    thresholdC: Type.Number(),
  },
  { additionalProperties: false },
);

export const ScoutAction = Type.Object(
  {
    type: Type.Literal('scout'),
    field: Id('Field id'),
    /** What to look for. */
    target: Type.Union([
      Type.Literal('rice_blast'),
      Type.Literal('late_blight'),
      Type.Literal('crop_stress'),
    ]),
    zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    position: Type.Optional(Position),
    withinHours: Type.Number({ minimum: 0, maximum: 720 }),
  },
  { additionalProperties: false },
);

export const FertilizeAction = Type.Object(
  {
    type: Type.Literal('fertilize'),
    field: Id('Field id'),
    nutrient: Type.Literal('N'),
    /** The crop stage (or window) the application belongs to. */
    stage: Type.String({ minLength: 1, maxLength: 64 }),
    /** Estimated window (UTC epoch ms); the rate comes from a reviewed recommendation. */
    from: Type.Optional(Type.Integer({ minimum: 0 })),
    to: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The approved recommendation whose prescription to apply (a `prescription` tip). */
    recommendation: Type.Optional(RecommendationId()),
  },
  { additionalProperties: false },
);

export const DeviceMaintenanceAction = Type.Object(
  {
    type: Type.Literal('device_maintenance'),
    device: Id('Device id'),
    task: Type.Union([
      Type.Literal('replace_battery'),
      Type.Literal('check_power_and_radio'),
      Type.Literal('check_sensor'),
    ]),
    metric: Type.Optional(Type.String({ pattern: METRIC_PATTERN })),
  },
  { additionalProperties: false },
);

export const SuggestedAction = Type.Union([
  IrrigateAction,
  ValveAction,
  WaterLevelAction,
  FrostProtectionAction,
  ScoutAction,
  FertilizeAction,
  DeviceMaintenanceAction,
]);
export type SuggestedAction = Static<typeof SuggestedAction>;

/** Why this tip was raised: first time, a higher severity, or its predecessor expired. */
export const TipReason = Type.Union([
  Type.Literal('new'),
  Type.Literal('escalated'),
  Type.Literal('renewed'),
]);
export type TipReason = Static<typeof TipReason>;

export const Tip = Type.Object(
  {
    /** Deterministic from the dedup key and the creation time, so resends are one document. */
    id: Id('Tip id'),
    kind: TipKindSchema,
    severity: TipSeveritySchema,
    farm: Id('Farm id'),
    field: Type.Optional(Id('Field id')),
    devices: Type.Array(Id('Device id'), { maxItems: 50 }),
    zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    title: TipTitle,
    text: TipText,
    evidence: Evidence,
    action: Type.Optional(SuggestedAction),
    /** UTC epoch ms. */
    created: Type.Integer({ minimum: 0 }),
    expires: Type.Integer({ minimum: 0 }),
    /** One live tip per key: a persisting condition never raises a second one. */
    dedupKey: Type.String({ minLength: 1, maxLength: 300 }),
    reason: TipReason,
    /** The tip this one replaces (escalation or renewal). */
    supersedes: Type.Optional(Id('Tip id')),
  },
  { additionalProperties: false },
);
export type Tip = Static<typeof Tip>;

/**
 * A live tip whose condition has ended (past the rule's hysteresis), sent by the gateway that
 * raised it so the server stops showing it and a later tip for the same condition is news again.
 * Expiry needs no message (the tip carries its own); a superseded tip is named by its successor.
 */
export const TipCleared = Type.Object(
  {
    id: Id('The tip that cleared'),
    dedupKey: Type.String({ minLength: 1, maxLength: 300 }),
    /** UTC epoch ms: when the gateway's rules found the condition gone. */
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type TipCleared = Static<typeof TipCleared>;
