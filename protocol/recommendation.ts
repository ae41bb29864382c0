// A nitrogen recommendation for one field: per management zone, the rate (kg N/ha and kg/10a)
// and the product amount, field totals, economics in ¥, and full provenance (model id, version
// and sha256, crop profile, every input with its time and source, the imagery scene). It enters
// an extension officer's review queue as `pending_review`; the review fields (status, history,
// per-zone `edited`) are shaped so "pending_review → edited → approved | rejected" fits without
// changing the document. Also here: the zones a recommendation is made from (zones.geojson).
import { Type, type Static } from '@sinclair/typebox';
import { Id, RecommendationId } from './ids.ts';
import { Text } from './model-card.ts';
import { Dict } from './dict.ts';

export const RECOMMENDATION_SCHEMA = 'hatake.recommendation/1';

const Num = Type.Number();
const Position = Type.Tuple([Num, Num]);
const Ring = Type.Array(Position, { minItems: 4, maxItems: 100_000 });

export const PolygonGeometry = Type.Object(
  { type: Type.Literal('Polygon'), coordinates: Type.Array(Ring, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export type PolygonGeometry = Static<typeof PolygonGeometry>;
export const MultiPolygonGeometry = Type.Object(
  {
    type: Type.Literal('MultiPolygon'),
    coordinates: Type.Array(Type.Array(Ring, { minItems: 1, maxItems: 1000 }), {
      minItems: 1,
      maxItems: 10_000,
    }),
  },
  { additionalProperties: false },
);
export type MultiPolygonGeometry = Static<typeof MultiPolygonGeometry>;

// ---------------------------------------------------------------------------------------------
// Zones in: the narrow subset of the imagery part's zones.geojson (protocol/imagery.ts,
// ZONES_SCHEMA) that recommendations read. Imagery output validates against it as it is; a
// hand-made FeatureCollection with these properties works too. Extra properties are ignored.
// ---------------------------------------------------------------------------------------------

export const ZoneIndexStats = Type.Object(
  {
    mean: Type.Union([Num, Type.Null()]),
    median: Type.Optional(Type.Union([Num, Type.Null()])),
    p10: Type.Optional(Type.Union([Num, Type.Null()])),
    p90: Type.Optional(Type.Union([Num, Type.Null()])),
    p95: Type.Optional(Type.Union([Num, Type.Null()])),
    std: Type.Optional(Type.Union([Num, Type.Null()])),
    min: Type.Optional(Type.Union([Num, Type.Null()])),
    max: Type.Optional(Type.Union([Num, Type.Null()])),
    count: Type.Optional(Type.Integer({ minimum: 0 })),
    validFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: true },
);
export type ZoneIndexStats = Static<typeof ZoneIndexStats>;

export const ZoneInputProperties = Type.Object(
  {
    fieldId: Type.Optional(Type.String({ maxLength: 200 })),
    sceneId: Type.Optional(Type.String({ maxLength: 200 })),
    /** Acquisition time of the scene (ISO 8601, UTC). */
    acquired: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
    zone: Type.Integer({ minimum: 1, maximum: 10_000 }),
    pixels: Type.Optional(Type.Integer({ minimum: 0 })),
    areaHa: Type.Number({ exclusiveMinimum: 0, maximum: 100_000 }),
    validFraction: Type.Number({ minimum: 0, maximum: 1 }),
    indices: Dict('^[a-z][a-z0-9]{0,15}$', ZoneIndexStats, { maxProperties: 32 }),
    /**
     * The field's 95th percentile of each index over all its valid pixels — the virtual N-rich
     * reference. Every zone of a field carries the same values; zones without it (written before
     * it existed, or by hand) fall back to an estimate from the zones' means and stds.
     */
    fieldP95: Type.Optional(
      Dict('^[a-z][a-z0-9]{0,15}$', Type.Union([Num, Type.Null()]), { maxProperties: 32 }),
    ),
    /** Per-zone attributes a model may read (zone_attribute inputs), e.g. plant_height_cm. */
    attributes: Type.Optional(
      Dict('^[a-z][a-z0-9_]{0,63}$', Type.Union([Num, Type.String({ maxLength: 32 })]), {
        maxProperties: 64,
      }),
    ),
  },
  { additionalProperties: true },
);

export const ZoneInputFeature = Type.Object(
  {
    type: Type.Literal('Feature'),
    id: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Integer()])),
    geometry: Type.Union([PolygonGeometry, MultiPolygonGeometry]),
    properties: ZoneInputProperties,
  },
  { additionalProperties: true },
);
export type ZoneInputFeature = Static<typeof ZoneInputFeature>;

export const ZoneInputCollection = Type.Object(
  {
    type: Type.Literal('FeatureCollection'),
    schema: Type.Optional(Type.String({ maxLength: 100 })),
    features: Type.Array(ZoneInputFeature, { minItems: 1, maxItems: 10_000 }),
  },
  { additionalProperties: true },
);
export type ZoneInputCollection = Static<typeof ZoneInputCollection>;

// ---------------------------------------------------------------------------------------------
// The recommendation
// ---------------------------------------------------------------------------------------------

export const REVIEW_STATUSES = ['pending_review', 'edited', 'approved', 'rejected', 'superseded'] as const;
export const ReviewStatus = Type.Union(REVIEW_STATUSES.map((s) => Type.Literal(s)));
export type ReviewStatus = Static<typeof ReviewStatus>;
/** The statuses still waiting for an officer: what the review queue lists as `open`. */
export const OPEN_REVIEW_STATUSES: readonly ReviewStatus[] = ['pending_review', 'edited'];

/** One input value as the model saw it, with where it came from and when it was observed. */
export const InputValue = Type.Object(
  {
    name: Type.String({ maxLength: 64 }),
    value: Type.Union([Num, Type.String({ maxLength: 32 })]),
    unit: Type.String({ maxLength: 32 }),
    /** e.g. "index_stat ndvi.mean", "sensor soil-1/soil_vwc", "profile winter-wheat@1.0.0 sbnrc.a". */
    source: Type.String({ maxLength: 300 }),
    /** Observation time, UTC epoch ms; null for constants. */
    time: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type InputValue = Static<typeof InputValue>;

export const ZoneRate = Type.Object(
  {
    /** What the model said, before limits and rounding. */
    modelKgNHa: Num,
    kgNHa: Type.Number({ minimum: 0 }),
    kgN10a: Type.Number({ minimum: 0 }),
    productKgHa: Type.Number({ minimum: 0 }),
    productKg10a: Type.Number({ minimum: 0 }),
    /** Which profile limit moved the rate, if any. */
    clamped: Type.Union([Type.Literal('min'), Type.Literal('max'), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ZoneRate = Static<typeof ZoneRate>;

export const Money = Type.Object(
  {
    yieldGainKgHa: Num,
    gainYenHa: Num,
    costYenHa: Num,
    marginYenHa: Num,
  },
  { additionalProperties: false },
);
export type Money = Static<typeof Money>;

export const Totals = Type.Object(
  {
    areaHa: Type.Number({ minimum: 0 }),
    nKg: Type.Number({ minimum: 0 }),
    productKg: Type.Number({ minimum: 0 }),
    yieldGainKg: Num,
    gainYen: Num,
    costYen: Num,
    marginYen: Num,
  },
  { additionalProperties: false },
);
export type Totals = Static<typeof Totals>;

export const Note = Type.Object(
  {
    code: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
    text: Text,
  },
  { additionalProperties: false },
);
export type Note = Static<typeof Note>;

export const RecommendationZone = Type.Object(
  {
    id: Type.String({ maxLength: 100 }),
    zone: Type.Integer({ minimum: 1 }),
    areaHa: Type.Number({ exclusiveMinimum: 0 }),
    geometry: MultiPolygonGeometry,
    inputs: Type.Array(InputValue, { maxItems: 64 }),
    /** Raw model outputs by name. */
    outputs: Type.Record(Type.String(), Num),
    rate: ZoneRate,
    economics: Money,
    /** The rate with the best margin at the profile's prices. */
    economicOptimum: Type.Object(
      { kgNHa: Type.Number({ minimum: 0 }), productKgHa: Type.Number({ minimum: 0 }), economics: Money },
      { additionalProperties: false },
    ),
    notes: Type.Array(Note, { maxItems: 16 }),
    /** Set by an officer's edit; the prescription then uses this rate. */
    edited: Type.Optional(
      Type.Object(
        {
          kgNHa: Type.Number({ minimum: 0 }),
          productKgHa: Type.Number({ minimum: 0 }),
          by: Type.String({ maxLength: 100 }),
          at: Type.Integer({ minimum: 0 }),
          reason: Type.String({ maxLength: 1000 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type RecommendationZone = Static<typeof RecommendationZone>;

/**
 * How much of the field the zones cover, when the field's boundary is known (the farm manifest's).
 * Zones come from a scene's valid pixels, so a cloud leaves part of the field in no zone; the
 * zones' geometry is then cut to the field, and `uncovered` (the field minus the union of the
 * zones) gets the default rate in every prescription. Recommendations made without a boundary
 * (or before this existed) have no `coverage`.
 */
export const Coverage = Type.Object(
  {
    /** The field's boundary (WGS84), from the farm manifest. */
    field: MultiPolygonGeometry,
    fieldAreaHa: Type.Number({ minimum: 0 }),
    /** The field minus the union of the zones; null when the zones cover it all. */
    uncovered: Type.Union([MultiPolygonGeometry, Type.Null()]),
    uncoveredAreaHa: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type Coverage = Static<typeof Coverage>;

export const Recommendation = Type.Object(
  {
    schema: Type.Literal(RECOMMENDATION_SCHEMA),
    id: RecommendationId(),
    farm: Id('Farm id'),
    field: Type.String({ minLength: 1, maxLength: 200 }),
    crop: Id('Crop id'),
    /** UTC epoch ms. */
    createdAt: Type.Integer({ minimum: 0 }),
    status: ReviewStatus,
    history: Type.Array(
      Type.Object(
        {
          status: ReviewStatus,
          at: Type.Integer({ minimum: 0 }),
          by: Type.String({ maxLength: 100 }),
          note: Type.Optional(Type.String({ maxLength: 1000 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    model: Type.Object(
      {
        id: Id('Model id'),
        version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$' }),
        sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
        kind: Type.Union([Type.Literal('n_rate'), Type.Literal('yield_response')]),
        method: Type.String({ maxLength: 200 }),
      },
      { additionalProperties: false },
    ),
    profile: Type.Object(
      {
        id: Id('Profile id'),
        version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$' }),
      },
      { additionalProperties: false },
    ),
    product: Type.Object(
      {
        id: Id('Product id'),
        name: Text,
        nFraction: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        priceYenPerKg: Type.Number({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    imagery: Type.Object(
      {
        sceneId: Type.Union([Type.String({ maxLength: 200 }), Type.Null()]),
        /** Acquisition time, UTC epoch ms. */
        acquired: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
        index: Type.Union([Type.String({ maxLength: 16 }), Type.Null()]),
      },
      { additionalProperties: false },
    ),
    /** The N-rich strip or the virtual reference used for RI / SI, when the model uses one. */
    reference: Type.Union([
      Type.Null(),
      Type.Object(
        {
          kind: Type.Union([Type.Literal('n_rich_strip'), Type.Literal('virtual_p95')]),
          index: Type.String({ maxLength: 16 }),
          value: Num,
          how: Type.String({ maxLength: 300 }),
        },
        { additionalProperties: false },
      ),
    ]),
    /** Inputs that are the same for every zone (profile constants, field attributes, sensors). */
    inputs: Type.Array(InputValue, { maxItems: 64 }),
    zones: Type.Array(RecommendationZone, { minItems: 1, maxItems: 10_000 }),
    /** The field and the part of it no zone covers; absent when the field's boundary was not known. */
    coverage: Type.Optional(Coverage),
    totals: Totals,
    economics: Type.Object(
      {
        cropPriceYenPerKg: Num,
        productPriceYenPerKg: Num,
        applicationYenPerHa: Num,
        /** How the yield gain was estimated. */
        basis: Type.Union([
          Type.Literal('model_yield'),
          Type.Literal('model_yield_gain'),
          Type.Literal('agronomic_efficiency'),
          Type.Literal('none'),
        ]),
        economicOptimum: Totals,
      },
      { additionalProperties: false },
    ),
    notes: Type.Array(Note, { maxItems: 32 }),
  },
  { additionalProperties: false },
);
export type Recommendation = Static<typeof Recommendation>;

/** A value rounded to `d` decimals. */
const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** Field totals as a document carries them: ha to 4 decimals, kg to 2 (yield to 1), whole yen. */
export function roundTotals(t: Totals): Totals {
  return {
    areaHa: round(t.areaHa, 4),
    nKg: round(t.nKg, 2),
    productKg: round(t.productKg, 2),
    yieldGainKg: round(t.yieldGainKg, 1),
    gainYen: Math.round(t.gainYen),
    costYen: Math.round(t.costYen),
    marginYen: Math.round(t.marginYen),
  };
}

/** The zones' area and their N and product at the rates they apply (the officer's edits included). */
function appliedSums(zones: readonly RecommendationZone[]): {
  areaHa: number;
  nKg: number;
  productKg: number;
} {
  let areaHa = 0;
  let nKg = 0;
  let productKg = 0;
  for (const z of zones) {
    const r = effectiveRate(z);
    areaHa += z.areaHa;
    nKg += r.kgNHa * z.areaHa;
    productKg += r.productKgHa * z.areaHa;
  }
  return { areaHa, nKg, productKg };
}

/**
 * The rates a prescription gives the part of the field no zone covers: the zones' area-weighted
 * means at the rates they apply (the officer's edits included) — N to 0.0001 kg/ha, product to
 * 0.01 kg/ha (what ISOXML's mg/m² holds). Zero without zones.
 */
export function defaultRate(zones: readonly RecommendationZone[]): { kgNHa: number; productKgHa: number } {
  const s = appliedSums(zones);
  return s.areaHa > 0
    ? { kgNHa: round(s.nKg / s.areaHa, 4), productKgHa: round(s.productKg / s.areaHa, 2) }
    : { kgNHa: 0, productKgHa: 0 };
}

/**
 * What the prescription files spread over the field: the zones at the rates they apply plus the
 * part no zone covers (`restHa`, from `coverage`) at the default rate — the amount a farmer loads,
 * where the recommendation's `totals` count the zones only. Rounded as `roundTotals` rounds.
 */
export function spreadTotals(rec: Pick<Recommendation, 'zones' | 'coverage'>): {
  areaHa: number;
  nKg: number;
  productKg: number;
  restHa: number;
} {
  const c = rec.coverage;
  const restHa = c?.uncovered && c.uncoveredAreaHa > 0 ? c.uncoveredAreaHa : 0;
  const s = appliedSums(rec.zones);
  const d = defaultRate(rec.zones);
  return {
    areaHa: round(s.areaHa + restHa, 4),
    nKg: round(s.nKg + d.kgNHa * restHa, 2),
    productKg: round(s.productKg + d.productKgHa * restHa, 2),
    restHa: round(restHa, 4),
  };
}

/** The rate a prescription applies for a zone: the officer's edit if any, else the recommendation. */
export function effectiveRate(zone: RecommendationZone): { kgNHa: number; productKgHa: number } {
  return zone.edited
    ? { kgNHa: zone.edited.kgNHa, productKgHa: zone.edited.productKgHa }
    : { kgNHa: zone.rate.kgNHa, productKgHa: zone.rate.productKgHa };
}
