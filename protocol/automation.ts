// Automations: what a farmer asks the gateway to do on its own, offline too — e.g. "when the
// field's VWC < 22 %, open valve V1 for 30 minutes, at most twice a day, never 22:00–05:00", or
// "keep the paddy water level between 3 and 5 cm". Written on the server (or from a tip), sent
// down to the gateway, executed there within safety limits; every action is logged and synced.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { METRIC_PATTERN } from './telemetry.ts';

const HHMM = Type.String({
  pattern: '^([01]\\d|2[0-3]):[0-5]\\d$',
  description: 'Local time HH:MM in the farm zone',
});

/** Fire when a sensor metric crosses a threshold. */
export const ThresholdTrigger = Type.Object(
  {
    kind: Type.Literal('threshold'),
    device: Id('Sensor device'),
    metric: Type.String({ pattern: METRIC_PATTERN }),
    op: Type.Union([Type.Literal('<'), Type.Literal('<='), Type.Literal('>'), Type.Literal('>=')]),
    value: Type.Number({ description: 'In the metric storage unit (VWC in m3/m3)' }),
  },
  { additionalProperties: false },
);

/** Keep a metric inside a band: below `low` → the `below` command, above `high` → the `above` command. */
export const BandTrigger = Type.Object(
  {
    kind: Type.Literal('band'),
    device: Id('Sensor device'),
    metric: Type.String({ pattern: METRIC_PATTERN }),
    low: Type.Number(),
    high: Type.Number(),
  },
  { additionalProperties: false },
);

export const ActuatorCommand = Type.Object(
  {
    device: Id('Actuator device'),
    command: Type.String({
      minLength: 1,
      maxLength: 64,
      description: "A command of the actuator's kit, e.g. open, close, open_for",
    }),
    params: Type.Optional(Type.Record(Type.String({ maxLength: 32 }), Type.Number())),
  },
  { additionalProperties: false },
);
export type ActuatorCommand = Static<typeof ActuatorCommand>;

export const AutomationLimits = Type.Object(
  {
    maxRunsPerDay: Type.Integer({ minimum: 1, maximum: 96 }),
    quietHours: Type.Optional(Type.Object({ from: HHMM, to: HHMM }, { additionalProperties: false })),
    /** A valve is never left open longer than this, whatever it reports. */
    maxOpenMinutes: Type.Integer({ minimum: 1, maximum: 720 }),
    /** Minimum time between two runs. */
    cooldownMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1440 })),
    /** How long to wait for the actuator to report the expected state, and how often to retry. */
    confirmSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 3600 })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
  },
  { additionalProperties: false },
);
export type AutomationLimits = Static<typeof AutomationLimits>;

export const Automation = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{4,64}$' }),
    farm: Id('Farm id'),
    field: Type.Optional(Id('Field id')),
    name: Type.Object({ ja: Type.String({ maxLength: 200 }), en: Type.String({ maxLength: 200 }) }),
    enabled: Type.Boolean(),
    version: Type.Integer({ minimum: 1 }),
    trigger: Type.Union([ThresholdTrigger, BandTrigger]),
    /** threshold: `action` runs when the condition holds. band: `below` / `above`. */
    action: Type.Optional(ActuatorCommand),
    below: Type.Optional(ActuatorCommand),
    above: Type.Optional(ActuatorCommand),
    limits: AutomationLimits,
    /** The tip it was made from, if any. */
    fromTip: Type.Optional(Type.String({ maxLength: 128 })),
    createdBy: Type.String({ maxLength: 64 }),
    createdAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type Automation = Static<typeof Automation>;

/** The downlink body that withdraws a deleted automation (its document is published with deleted: true). */
export const AutomationWithdrawn = Type.Object(
  { id: Automation.properties.id, farm: Id('Farm id'), deleted: Type.Literal(true) },
  { additionalProperties: false },
);
export type AutomationWithdrawn = Static<typeof AutomationWithdrawn>;

export const AUTOMATION_EVENTS = [
  'fired',
  'command_sent',
  'state_confirmed',
  'retry',
  'gave_up',
  'safety_stop',
  'closed',
  'skipped_quiet_hours',
  'skipped_daily_limit',
  'skipped_cooldown',
  'skipped_override',
  'override_set',
  'override_cleared',
] as const;

/** One thing an automation did (or chose not to do), synced to the server. */
export const AutomationLog = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
    automation: Type.String({ maxLength: 64 }),
    time: Type.Integer({ minimum: 0 }),
    event: Type.Union(AUTOMATION_EVENTS.map((e) => Type.Literal(e))),
    device: Type.Optional(Id('Actuator or sensor')),
    /** Both languages in one line ("ja / en"), for logs, the gateway's page and older readers. */
    message: Type.String({ maxLength: 500 }),
    /** The message in each language, shown in the reader's; absent in logs of older gateways. */
    text: Type.Optional(
      Type.Object(
        { ja: Type.String({ maxLength: 500 }), en: Type.String({ maxLength: 500 }) },
        { additionalProperties: false },
      ),
    ),
    detail: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Union([Type.String({ maxLength: 500 }), Type.Number(), Type.Boolean(), Type.Null()]),
      ),
    ),
  },
  { additionalProperties: false },
);
export type AutomationLog = Static<typeof AutomationLog>;

/** A manual override from the dashboard or the gateway page: hold an actuator, pause automations. */
export const ManualOverride = Type.Object(
  {
    device: Id('Actuator'),
    /** 'hold_closed' / 'hold_open' pin the actuator; 'pause' only stops automations touching it. */
    mode: Type.Union([Type.Literal('hold_closed'), Type.Literal('hold_open'), Type.Literal('pause')]),
    until: Type.Integer({ minimum: 0, description: 'Epoch ms; the override ends by itself then' }),
    by: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type ManualOverride = Static<typeof ManualOverride>;
