// A sensor-kit definition: device support as data. One YAML file per kit model in the catalogue
// folder; a partner adds a kit by dropping a file, not by changing code.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { METRIC_PATTERN } from './telemetry.ts';

export const KitMetric = Type.Object(
  {
    unit: Type.String({ minLength: 1, maxLength: 16, description: 'Storage unit (SI or SI-prefixed)' }),
    min: Type.Number({ description: 'Lowest value the sensor can report' }),
    max: Type.Number({ description: 'Highest value the sensor can report' }),
    resolution: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
);
export type KitMetric = Static<typeof KitMetric>;

export const LocalizedText = Type.Object({
  ja: Type.String({ maxLength: 200 }),
  en: Type.String({ maxLength: 200 }),
});

export const Kit = Type.Object(
  {
    id: Id('Kit model id'),
    name: LocalizedText,
    vendor: Type.Optional(Type.String({ maxLength: 100 })),
    codec: Type.String({ minLength: 1, maxLength: 64, description: 'Codec id, e.g. "json"' }),
    interval: Type.Integer({ minimum: 1, maximum: 86400, description: 'Reporting interval in seconds' }),
    metrics: Type.Record(Type.String({ pattern: METRIC_PATTERN }), KitMetric, {
      minProperties: 1,
      maxProperties: 64,
    }),
  },
  { additionalProperties: true },
);
export type Kit = Static<typeof Kit>;
