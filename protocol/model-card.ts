// A model card: what an ONNX fertilization model is, what it needs and where it came from. The
// card travels with the artifact; the gateway refuses an artifact whose sha256 (or signature)
// does not match its card, and refuses inputs outside the ranges the card states.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

export const SHA256_HEX = '^[0-9a-f]{64}$';
/** ONNX input/output names hatake uses: lower snake case. */
export const TENSOR_NAME = '^[a-z][a-z0-9_]{0,63}$';
/** A model reference on the command line and in recommendations: id@version. */
export const MODEL_REF = /^([a-z0-9][a-z0-9_-]{0,63})@(\d+\.\d+\.\d+)$/;

export const Text = Type.Object({ ja: Type.String({ maxLength: 500 }), en: Type.String({ maxLength: 500 }) });
export type Text = Static<typeof Text>;

const IndexName = Type.String({
  pattern: '^[a-z][a-z0-9]{0,15}$',
  description: 'Vegetation index id, e.g. ndvi',
});
const IndexStatName = Type.Union(
  (['mean', 'median', 'p10', 'p90', 'min', 'max'] as const).map((s) => Type.Literal(s)),
  { description: 'Which zonal statistic of the index' },
);

/**
 * A measurement that describes the crop at the moment the image shows it (plant height and stems
 * at panicle initiation, scouted beside the image): a dated value further than this many days
 * from the image's acquisition is refused, never paired with an image of another growth stage.
 */
const MaxDaysFromImage = Type.Integer({ minimum: 0, maximum: 366 });

/** Where an input's value comes from when a recommendation is assembled. */
export const InputSource = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('index_stat'),
      /** Indices in order of preference; the first one the zone has is used and recorded. */
      index: Type.Array(IndexName, { minItems: 1, maxItems: 4 }),
      stat: IndexStatName,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('index_reference'),
      /** The reference (N-rich strip or the field's virtual 95th percentile) of the same index. */
      index: Type.Array(IndexName, { minItems: 1, maxItems: 4 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('sensor_metric'),
      metric: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
      /** Readings older than this at assembly time count as missing. */
      maxAgeHours: Type.Number({ exclusiveMinimum: 0, maximum: 8760 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('field_attribute'),
      name: Type.String({ pattern: TENSOR_NAME }),
      maxDaysFromImage: Type.Optional(MaxDaysFromImage),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('zone_attribute'),
      name: Type.String({ pattern: TENSOR_NAME }),
      /** Used (and recorded as the source) when neither the zone nor the field gives a value. */
      default: Type.Optional(Type.Number()),
      maxDaysFromImage: Type.Optional(MaxDaysFromImage),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('profile_constant'),
      /** Dotted path into the crop profile, e.g. sbnrc.a */
      path: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9]*(\\.[a-zA-Z][a-zA-Z0-9]*){0,4}$' }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('n_rate'),
      description: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false, description: 'The decision variable: a candidate N rate, kg N/ha' },
  ),
]);
export type InputSource = Static<typeof InputSource>;

export const TensorType = Type.Union([Type.Literal('float64'), Type.Literal('float32')]);
export type TensorType = Static<typeof TensorType>;

export const ModelInput = Type.Object(
  {
    name: Type.String({ pattern: TENSOR_NAME }),
    description: Text,
    unit: Type.String({ minLength: 1, maxLength: 32 }),
    /** Inclusive valid range; a value outside is refused, never extrapolated. */
    min: Type.Number(),
    max: Type.Number(),
    type: TensorType,
    /**
     * `zone`: one value per zone, fed as [N, 1] (constants are repeated per zone). An array of
     * symbolic dimension names: a table from the profile (e.g. ["S", "H"]), fed as it is.
     */
    shape: Type.Union([
      Type.Literal('zone'),
      Type.Array(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,15}$' }), { minItems: 1, maxItems: 2 }),
    ]),
    source: InputSource,
    /** A categorical input: the levels, fed as their 0-based code. */
    levels: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { minItems: 1, maxItems: 64 }),
    ),
  },
  { additionalProperties: false },
);
export type ModelInput = Static<typeof ModelInput>;

export const OUTPUT_ROLES = ['n_rate', 'yield', 'yield_gain', 'diagnostic'] as const;

export const ModelOutput = Type.Object(
  {
    name: Type.String({ pattern: TENSOR_NAME }),
    description: Text,
    unit: Type.String({ minLength: 1, maxLength: 32 }),
    type: TensorType,
    /** n_rate: kg N/ha to apply; yield: predicted yield; yield_gain: expected gain at n_rate. */
    role: Type.Union(OUTPUT_ROLES.map((r) => Type.Literal(r))),
  },
  { additionalProperties: false },
);
export type ModelOutput = Static<typeof ModelOutput>;

export const HeldOutReport = Type.Object(
  {
    split: Type.String({ maxLength: 200, description: 'How the held-out rows were chosen' }),
    trainRows: Type.Integer({ minimum: 1 }),
    testRows: Type.Integer({ minimum: 1 }),
    unit: Type.String({ maxLength: 32 }),
    rmse: Type.Number({ minimum: 0 }),
    mae: Type.Number({ minimum: 0 }),
    r2: Type.Number(),
    /** The same figures for a named baseline on the same split. */
    baseline: Type.Optional(
      Type.Object(
        {
          name: Type.String({ maxLength: 200 }),
          rmse: Type.Number({ minimum: 0 }),
          mae: Type.Number({ minimum: 0 }),
          r2: Type.Number(),
          parameters: Type.Record(Type.String(), Type.Number()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type HeldOutReport = Static<typeof HeldOutReport>;

export const ModelCard = Type.Object(
  {
    schema: Type.Literal('hatake.model-card/1'),
    id: Id('Model id'),
    version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$' }),
    title: Text,
    /** The ONNX file, relative to the card. */
    file: Type.String({ pattern: '^[A-Za-z0-9._@-]{1,128}\\.onnx$' }),
    sha256: Type.String({ pattern: SHA256_HEX }),
    /** Ed25519 signature of the ONNX bytes (base64), when the server signs the model. */
    signature: Type.Optional(
      Type.Object(
        { keyId: Type.String({ maxLength: 64 }), ed25519: Type.String({ maxLength: 200 }) },
        { additionalProperties: false },
      ),
    ),
    kind: Type.Union([Type.Literal('n_rate'), Type.Literal('yield_response')], {
      description: 'n_rate: the model outputs the N rate; yield_response: yield as a function of N',
    }),
    crops: Type.Array(Id('Crop id'), { minItems: 1, maxItems: 16 }),
    /** Crop profiles whose constants this model was built to read. */
    profiles: Type.Array(Id('Crop profile id'), { maxItems: 32 }),
    inputs: Type.Array(ModelInput, { minItems: 1, maxItems: 64 }),
    outputs: Type.Array(ModelOutput, { minItems: 1, maxItems: 16 }),
    method: Type.Object(
      {
        name: Type.String({ maxLength: 200 }),
        source: Type.String({ maxLength: 1000, description: 'Citation of the published method' }),
        notes: Type.Optional(Type.String({ maxLength: 4000 })),
      },
      { additionalProperties: false },
    ),
    /** Where and on what the model (or its calibration) was fitted. */
    fitted: Type.Object(
      {
        where: Type.String({ maxLength: 500 }),
        data: Type.String({ maxLength: 1000 }),
        status: Type.Union([Type.Literal('published'), Type.Literal('fitted'), Type.Literal('provisional')]),
        calibration: Type.Optional(Type.String({ maxLength: 1000 })),
      },
      { additionalProperties: false },
    ),
    onnx: Type.Object(
      {
        irVersion: Type.Integer({ minimum: 3 }),
        opsets: Type.Record(Type.String(), Type.Integer({ minimum: 1 })),
        producer: Type.String({ maxLength: 100 }),
      },
      { additionalProperties: false },
    ),
    heldOut: Type.Optional(HeldOutReport),
    /** A worked example: loading and `verify` run it and compare the outputs (relative tolerance 1e-4). */
    example: Type.Optional(
      Type.Object(
        {
          inputs: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Array(Type.Any())])),
          outputs: Type.Record(Type.String(), Type.Number()),
          source: Type.String({ maxLength: 500 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ModelCard = Static<typeof ModelCard>;

/** "id@version" of a card. */
export function modelRef(card: Pick<ModelCard, 'id' | 'version'>): string {
  return `${card.id}@${card.version}`;
}
