// The farm manifest: a farm, its fields and its devices. Written by an IT partner, checked by
// `hatake kit validate`, loaded by the gateway and synced to the server (with every boundary
// given by path read and inlined, so the server never sees a path).
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { Dict } from './dict.ts';
import { DECLARED_STAGE_DAYS, StageId } from './field-stage.ts';

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

export const BoundaryPath = Type.String({
  minLength: 1,
  maxLength: 300,
  pattern: '\\.(geo)?json$',
  description:
    'A GeoJSON file (Polygon geometry, or a Feature / one-feature FeatureCollection of one), relative to the manifest',
});

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

/**
 * A measurement scouted in the field (plant height, stems per m² at panicle initiation …) that a
 * model reads as a field attribute; its date goes with it into the recommendation's evidence.
 */
export const FieldObservation = Type.Object(
  {
    value: Type.Number(),
    date: Type.String({ format: 'date', description: 'When it was measured (YYYY-MM-DD)' }),
    note: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type FieldObservation = Static<typeof FieldObservation>;

/**
 * The fertilization model a field's recommendations come from, by id as on its card, and
 * optionally its version (else the highest installed). A field that names none gets its crop's
 * default (firmware-config/manifest-check.ts, DEFAULT_CROP_MODELS).
 */
export const FieldModel = Type.Object(
  {
    id: Id('Model id, as on its card (`hatake model list`)'),
    version: Type.Optional(
      Type.String({
        pattern: '^\\d+\\.\\d+\\.\\d+$',
        description: 'An installed version (1.2.3); the highest installed when absent',
      }),
    ),
  },
  { additionalProperties: false },
);
export type FieldModel = Static<typeof FieldModel>;

const fieldProperties = {
  id: Id('Field id'),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  crop: Type.Optional(Type.String({ maxLength: 64 })),
  variety: Type.Optional(Type.String({ maxLength: 64 })),
  plantingDate: Type.Optional(Type.String({ format: 'date' })),
  soilTexture: Type.Optional(Type.String({ maxLength: 32 })),
  stage: Type.Optional(
    Type.Object(
      {
        id: StageId(),
        date: Type.String({ format: 'date', description: 'When it was seen in the field (YYYY-MM-DD)' }),
      },
      {
        additionalProperties: false,
        description: `The growth stage a person saw in the field: the rules take it over the GDD estimate for ${DECLARED_STAGE_DAYS} days after its date (a stage recorded on the dashboard later than it wins)`,
      },
    ),
  ),
  observations: Type.Optional(
    Dict('^[a-z][a-z0-9_]{0,63}$', FieldObservation, {
      maxProperties: 32,
      description: 'Scouted measurements by attribute name, e.g. plant_height_cm, stems_per_m2',
    }),
  ),
  model: Type.Optional(FieldModel),
  profile: Type.Optional(
    Id(
      "The crop profile the field's model reads (`hatake model list`); when absent, the profile named after the crop and variety (`rice-shinnosuke…` for rice of variety Shinnosuke), else the crop's default",
    ),
  ),
};

/** A field as the gateway and the server hold it: its boundary, if any, inline. */
export const Field = Type.Object(
  { ...fieldProperties, boundary: Type.Optional(PolygonGeometry) },
  { additionalProperties: false },
);
export type Field = Static<typeof Field>;

/** A field as a partner writes it: the boundary inline or as a path to a GeoJSON file. */
export const FieldFile = Type.Object(
  { ...fieldProperties, boundary: Type.Optional(Type.Union([PolygonGeometry, BoundaryPath])) },
  { additionalProperties: false },
);
export type FieldFile = Static<typeof FieldFile>;

export const DeviceEntry = Type.Object(
  {
    id: Id('Device id, unique on the farm'),
    kit: Id('Kit model id from the catalogue'),
    field: Type.Optional(Id('Field the device is in')),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    position: Type.Optional(Position),
    depth: Type.Optional(Type.Number({ minimum: 0, maximum: 5, description: 'Sensor depth in metres' })),
    calibration: Type.Optional(
      Type.Record(Type.String(), Type.Array(Type.Number(), { minItems: 1, maxItems: 8 }), {
        description:
          "Per-device polynomial coefficients (c0, c1, …) replacing the kit's calibration of that metric",
      }),
    ),
    devEui: Type.Optional(
      Type.String({ pattern: '^[0-9A-Fa-f]{16}$', description: 'LoRaWAN DevEUI (16 hex digits)' }),
    ),
  },
  { additionalProperties: false },
);
export type DeviceEntry = Static<typeof DeviceEntry>;

/** Where provisioned devices find the gateway's broker (command-line options override it). */
export const BrokerAddress = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    tls: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BrokerAddress = Static<typeof BrokerAddress>;

/** The manifest as loaded (boundaries inline): what the gateway uses and syncs to the server. */
export const Manifest = Type.Object(
  {
    farm: Farm,
    broker: Type.Optional(BrokerAddress),
    fields: Type.Array(Field, { maxItems: 10000 }),
    devices: Type.Array(DeviceEntry, { maxItems: 10000 }),
  },
  { additionalProperties: false },
);
export type Manifest = Static<typeof Manifest>;

/** The manifest file a partner writes; `hatake kit validate` checks it, loading inlines its boundary files. */
export const ManifestFile = Type.Object(
  {
    farm: Farm,
    broker: Type.Optional(BrokerAddress),
    fields: Type.Array(FieldFile, { maxItems: 10000 }),
    devices: Type.Array(DeviceEntry, { maxItems: 10000 }),
  },
  { additionalProperties: false },
);
export type ManifestFile = Static<typeof ManifestFile>;
