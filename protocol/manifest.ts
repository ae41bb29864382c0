// The farm manifest: a farm, its fields and its devices. Written by an IT partner, checked by
// `hatake kit validate`, loaded by the gateway and synced to the server.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

export const Position = Type.Tuple(
  [Type.Number({ minimum: -180, maximum: 180 }), Type.Number({ minimum: -90, maximum: 90 })],
  {
    description: '[longitude, latitude] in WGS84',
  },
);

export const PolygonGeometry = Type.Object(
  {
    type: Type.Literal('Polygon'),
    coordinates: Type.Array(Type.Array(Position, { minItems: 4, maxItems: 100000 }), {
      minItems: 1,
      maxItems: 1000,
    }),
  },
  { additionalProperties: true },
);
export type PolygonGeometry = Static<typeof PolygonGeometry>;

export const Farm = Type.Object(
  {
    id: Id('Farm id'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    region: Type.Optional(Id('Extension region (an officer is scoped to regions)')),
    timezone: Type.Optional(Type.String({ maxLength: 64, description: 'IANA zone; Asia/Tokyo when absent' })),
  },
  { additionalProperties: false },
);
export type Farm = Static<typeof Farm>;

export const Field = Type.Object(
  {
    id: Id('Field id'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    crop: Type.Optional(Type.String({ maxLength: 64 })),
    variety: Type.Optional(Type.String({ maxLength: 64 })),
    plantingDate: Type.Optional(Type.String({ format: 'date' })),
    soilTexture: Type.Optional(Type.String({ maxLength: 32 })),
    boundary: Type.Optional(PolygonGeometry),
  },
  { additionalProperties: false },
);
export type Field = Static<typeof Field>;

export const DeviceEntry = Type.Object(
  {
    id: Id('Device id, unique on the farm'),
    kit: Id('Kit model id from the catalogue'),
    field: Type.Optional(Id('Field the device is in')),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    position: Type.Optional(Position),
    depth: Type.Optional(Type.Number({ minimum: 0, maximum: 5, description: 'Sensor depth in metres' })),
    calibration: Type.Optional(Type.Record(Type.String(), Type.Array(Type.Number(), { maxItems: 8 }))),
  },
  { additionalProperties: false },
);
export type DeviceEntry = Static<typeof DeviceEntry>;

export const Manifest = Type.Object(
  {
    farm: Farm,
    fields: Type.Array(Field, { maxItems: 10000 }),
    devices: Type.Array(DeviceEntry, { maxItems: 10000 }),
  },
  { additionalProperties: false },
);
export type Manifest = Static<typeof Manifest>;
