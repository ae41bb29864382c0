// A crop profile: the agronomic and economic constants a fertilization model reads, as data.
// With the same inputs the choice of constants alone can move an SBNRC rate by 2×, so every
// recommendation names the profile (id@version) that produced it. Profiles are YAML files.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { Text } from './model-card.ts';

const Positive = (description: string) => Type.Number({ exclusiveMinimum: 0, description });
const NonNegative = (description: string) => Type.Number({ minimum: 0, description });

/** OSU Sensor-Based Nitrogen Rate Calculator constants (Raun et al. 2002, 2005). */
export const SbnrcConstants = Type.Object(
  {
    /** YP0 = a · exp(b · INSEY), kg/ha */
    a: Positive('YP0 coefficient a (kg/ha)'),
    b: Positive('YP0 exponent b'),
    /** Whether INSEY divides NDVI by days with GDD > 0 (the only basis built so far). */
    inseyBasis: Type.Literal('days'),
    /** Apply RI′ = riSlope · RI + riIntercept (the library's adjusted RI) instead of the raw RI. */
    adjustRi: Type.Boolean(),
    riSlope: Type.Number(),
    riIntercept: Type.Number(),
    grainN: Positive('N fraction of grain (kg N / kg grain)'),
    nue: Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'N use efficiency of top-dressed N' }),
    ypMaxKgHa: Positive('YP_MAX, the highest attainable yield (kg/ha)'),
  },
  { additionalProperties: false },
);

/** Holland & Schepers (2010) sufficiency-index constants. */
export const HollandSchepersConstants = Type.Object(
  {
    nOptKgHa: Positive('N_OPT: the economic optimum N rate of the region (kg N/ha)'),
    deltaSi: Type.Number({
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      description: 'ΔSI = 1 − SI of a zero-N area',
    }),
  },
  { additionalProperties: false },
);

/** Paddy-rice panicle-initiation top-dressing guideline (穂肥), a table by SPAD × plant height. */
export const RiceTopdressConstants = Type.Object(
  {
    /** Ascending SPAD bin edges; a value equal to an edge falls in the lower bin. */
    spadEdges: Type.Array(Type.Number({ minimum: 0, maximum: 80 }), { minItems: 1, maxItems: 16 }),
    heightEdgesCm: Type.Array(Type.Number({ minimum: 0, maximum: 200 }), { minItems: 1, maxItems: 16 }),
    /** kg N/10a; rows: SPAD bins (spadEdges.length + 1), columns: height bins. */
    tableKgN10a: Type.Array(Type.Array(Type.Number({ minimum: 0, maximum: 10 }), { maxItems: 17 }), {
      minItems: 2,
      maxItems: 17,
    }),
    /** Lodging index = plant height (cm) × stems/m²; above this the top-dressing is cut. */
    lodgingIndexMax: Positive('Lodging index (cm·stems/m²) above which lodging is likely'),
    /** Factor applied to the table rate when the lodging check fails (0 = skip the top-dressing). */
    lodgingFactor: Type.Number({ minimum: 0, maximum: 1 }),
    source: Type.String({ maxLength: 1000 }),
  },
  { additionalProperties: false },
);

export const CropProfile = Type.Object(
  {
    schema: Type.Literal('hatake.crop-profile/1'),
    id: Id('Profile id'),
    version: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$' }),
    name: Text,
    crop: Id('Crop id'),
    source: Type.String({ maxLength: 2000, description: 'Where the constants come from' }),
    /** Constants marked "check" in the agronomy reference: configurable defaults, not truths. */
    notes: Type.Optional(Type.String({ maxLength: 2000 })),
    limits: Type.Object(
      {
        minKgNHa: NonNegative('Lowest N rate a zone is given (kg N/ha)'),
        maxKgNHa: Positive('Highest N rate a zone is given (kg N/ha)'),
        /** Zones whose imagery saw less than this fraction of valid pixels are refused. */
        minValidFraction: Type.Number({ minimum: 0, maximum: 1 }),
      },
      { additionalProperties: false },
    ),
    spreader: Type.Object(
      {
        /** Product rates are rounded to this step (kg product/ha), the spreader's setting step. */
        stepKgProductHa: Positive('Rate step of the spreader (kg product/ha)'),
      },
      { additionalProperties: false },
    ),
    fertilizer: Type.Object(
      {
        id: Id('Product id'),
        name: Text,
        /** N content as a fraction, e.g. urea 0.46, ammonium sulfate 0.21. */
        nFraction: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        priceYenPerKg: NonNegative('Product price (¥/kg product)'),
      },
      { additionalProperties: false },
    ),
    economics: Type.Object(
      {
        cropPriceYenPerKg: NonNegative('Price the farmer gets for the crop (¥/kg)'),
        /** Extra cost of a pass of the spreader (¥/ha), counted when a zone gets any N. */
        applicationYenPerHa: NonNegative('Application cost (¥/ha)'),
        /**
         * kg of crop per kg N, for models that give a rate but no yield (Holland–Schepers, rice):
         * the expected gain is rate × this. A configurable default, not a truth.
         */
        agronomicEfficiency: Type.Optional(NonNegative('kg crop per kg N applied')),
      },
      { additionalProperties: false },
    ),
    sbnrc: Type.Optional(SbnrcConstants),
    hollandSchepers: Type.Optional(HollandSchepersConstants),
    riceTopdress: Type.Optional(RiceTopdressConstants),
  },
  { additionalProperties: false },
);
export type CropProfile = Static<typeof CropProfile>;

/** "id@version" of a profile. */
export function profileRef(p: Pick<CropProfile, 'id' | 'version'>): string {
  return `${p.id}@${p.version}`;
}
