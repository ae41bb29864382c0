// A sensor-kit definition: device support as data. One YAML file per kit model in the catalogue
// folder; a partner adds a kit by dropping a file, not by changing code. A kit says which metrics
// the device reports (unit, range, resolution, what counts as a spike or a stuck value), which
// codec turns its bytes into values, how a codec's output maps onto metrics, how raw values are
// calibrated, and — for actuators — which commands it takes.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { METRIC_PATTERN } from './telemetry.ts';
import { Dict } from './dict.ts';

export const LocalizedText = Type.Object(
  {
    ja: Type.String({ maxLength: 200 }),
    en: Type.String({ maxLength: 200 }),
  },
  { additionalProperties: false },
);
export type LocalizedText = Static<typeof LocalizedText>;

export const KitMetric = Type.Object(
  {
    unit: Type.String({ minLength: 1, maxLength: 16, description: 'Storage unit (SI or SI-prefixed)' }),
    min: Type.Number({ description: 'Lowest value the sensor can report' }),
    max: Type.Number({ description: 'Highest value the sensor can report' }),
    resolution: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    name: Type.Optional(LocalizedText),
    maxStep: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: 'Largest plausible change from the median of the recent readings; more is a spike',
      }),
    ),
    stuckCount: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 1000,
        description: 'This many identical readings in a row are flagged as stuck',
      }),
    ),
  },
  { additionalProperties: false },
);
export type KitMetric = Static<typeof KitMetric>;

export const CODECS = ['json', 'cayenne-lpp', 'ttn-js', 'network-server'] as const;
export type CodecId = (typeof CODECS)[number];

/**
 * One value taken from a codec's output. `path` is a dot path into the decoded object; a segment
 * may select an array element by index (`messages[0]`) or by a field's value
 * (`messages[measurementId=4097]`). A value may be a number, a numeric string with or without a
 * unit (`"23.50 %"`), or an object `{ value, unit }`.
 */
export const UplinkField = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 200 }),
    metric: Type.String({ pattern: METRIC_PATTERN }),
    unit: Type.Optional(
      Type.String({ maxLength: 16, description: 'Unit of the source value when it carries none' }),
    ),
    scale: Type.Optional(Type.Number({ description: 'Multiplier applied before unit conversion' })),
    offset: Type.Optional(Type.Number({ description: 'Added after scaling' })),
    skip: Type.Optional(
      Type.Array(Type.Number(), {
        maxItems: 16,
        description: 'Sentinel values meaning "no sensor / no reading" (dropped, not stored)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type UplinkField = Static<typeof UplinkField>;

/** Raw → SI: a polynomial in the raw value (c0 + c1·x + c2·x² …) or the Topp (1980) equation. */
export const KitCalibration = Type.Object(
  {
    metric: Type.String({ pattern: METRIC_PATTERN, description: 'The calibrated metric' }),
    from: Type.String({ pattern: METRIC_PATTERN, description: 'The raw metric it is computed from' }),
    method: Type.Union([Type.Literal('polynomial'), Type.Literal('topp')]),
    coefficients: Type.Optional(Type.Array(Type.Number(), { minItems: 1, maxItems: 8 })),
  },
  { additionalProperties: false },
);
export type KitCalibration = Static<typeof KitCalibration>;

export const CommandParam = Type.Object(
  {
    type: Type.Union([Type.Literal('integer'), Type.Literal('number')]),
    min: Type.Number(),
    max: Type.Number(),
    unit: Type.Optional(Type.String({ maxLength: 16 })),
    name: Type.Optional(LocalizedText),
  },
  { additionalProperties: false },
);
export type CommandParam = Static<typeof CommandParam>;

/**
 * A command an actuator takes, published as JSON on the device's `down` topic. In `payload`, a
 * string that is exactly `${param}` is replaced by the parameter's (numeric) value.
 */
export const KitCommand = Type.Object(
  {
    name: LocalizedText,
    params: Type.Optional(Dict('^[a-z][a-z0-9_]{0,31}$', CommandParam, { maxProperties: 8 })),
    payload: Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 32 }),
    expect: Type.Optional(
      Type.Object(
        {
          metric: Type.String({ pattern: METRIC_PATTERN }),
          value: Type.Number(),
        },
        { additionalProperties: false, description: 'The state the device reports once it obeyed' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type KitCommand = Static<typeof KitCommand>;

export const Kit = Type.Object(
  {
    id: Id('Kit model id'),
    name: LocalizedText,
    vendor: Type.Optional(Type.String({ maxLength: 100 })),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    transport: Type.Optional(
      Type.Union([Type.Literal('mqtt'), Type.Literal('lorawan')], {
        description:
          'mqtt (default): the device connects to the gateway with its own credentials; lorawan: it reaches the gateway through a network server',
      }),
    ),
    codec: Type.Union(
      CODECS.map((c) => Type.Literal(c)),
      {
        description:
          'json | cayenne-lpp | ttn-js (a vendor decodeUplink file) | network-server (decoded by the LoRaWAN network server)',
      },
    ),
    codecFile: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 300,
        description: 'ttn-js: the decodeUplink JS file, relative to the kit file or a codec folder',
      }),
    ),
    fPorts: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 223 }), { maxItems: 32 })),
    interval: Type.Integer({ minimum: 1, maximum: 86400, description: 'Reporting interval in seconds' }),
    metrics: Dict(METRIC_PATTERN, KitMetric, { minProperties: 1, maxProperties: 64 }),
    uplink: Type.Optional(Type.Array(UplinkField, { maxItems: 64 })),
    infoFrames: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
        maxItems: 16,
        description:
          'Field paths present in frames that carry device information and no readings (sensor ids, versions, settings): such a frame is accepted with nothing stored instead of refused',
      }),
    ),
    calibration: Type.Optional(Type.Array(KitCalibration, { maxItems: 16 })),
    commands: Type.Optional(Dict('^[a-z][a-z0-9_]{0,31}$', KitCommand, { maxProperties: 32 })),
  },
  { additionalProperties: false },
);
export type Kit = Static<typeof Kit>;
