// Telemetry: what a device publishes, and the reading hatake stores from it.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { Dict } from './dict.ts';

export const METRIC_PATTERN = '^[a-z][a-z0-9_]{0,63}$';

/** Quality flags set at decode/validate time. A flagged reading is stored, with the flag. */
export const QualityFlag = Type.Union(
  [
    Type.Literal('out_of_range'), // outside the kit's sensor range (but physically possible)
    Type.Literal('spike'),
    Type.Literal('stuck'),
    Type.Literal('clock_skew'),
    Type.Literal('duplicate'),
  ],
  { description: 'What looked wrong about a reading that was still stored' },
);
export type QualityFlag = Static<typeof QualityFlag>;

/**
 * The latest instant hatake stores (2200-01-01 UTC): far beyond any real measurement, well inside
 * what every store can hold (InfluxDB's nanosecond timestamps end in 2262).
 */
export const MAX_TIME_MS = Date.UTC(2200, 0, 1);

/**
 * hatake's JSON telemetry payload on `hatake/v1/{farm}/{device}/up`.
 * `time` is the device's measurement time (ISO 8601 or epoch milliseconds); the gateway's
 * receive time is used when absent. `values` maps metric names to numbers in the kit's units.
 */
export const TelemetryPayload = Type.Object(
  {
    time: Type.Optional(
      Type.Union([
        Type.String({ format: 'date-time', maxLength: 40 }),
        Type.Integer({ minimum: 0, maximum: MAX_TIME_MS }),
      ]),
    ),
    values: Dict(METRIC_PATTERN, Type.Number(), { minProperties: 1, maxProperties: 64 }),
  },
  { additionalProperties: false },
);
export type TelemetryPayload = Static<typeof TelemetryPayload>;

/** A stored reading: one metric of one device at one time, in storage units. */
export const Reading = Type.Object(
  {
    device: Id('Device id'),
    metric: Type.String({ pattern: METRIC_PATTERN }),
    value: Type.Number(),
    unit: Type.String({ maxLength: 16 }),
    /** Measurement time, UTC, epoch milliseconds. */
    time: Type.Integer({ minimum: 0, maximum: MAX_TIME_MS }),
    flags: Type.Array(QualityFlag, { maxItems: 5 }),
  },
  { additionalProperties: false },
);
export type Reading = Static<typeof Reading>;
