// A growth stage a person saw in a field: recorded by a farmer or an extension officer on the
// dashboard (or written by the partner into the manifest's field), sent down to the farm's
// gateways as a signed `stage` document, and taken by the gateway's rules over the GDD estimate
// for DECLARED_STAGE_DAYS after the day it was seen.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

/** How long a stage seen in the field stands in for the GDD estimate (the farm's local days). */
export const DECLARED_STAGE_DAYS = 21;

/** A stage of a crop's stage profile (edge/rules/stages.ts), e.g. tillering, panicle_initiation. */
export const StageId = (
  description = "A stage of the crop's stage profile, e.g. tillering, panicle_initiation",
) => Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', description });

const Day = (description: string) => Type.String({ format: 'date', maxLength: 10, description });

/** PUT /api/v1/farms/:farm/fields/:field/stage — what was seen, and on which day. */
export const FieldStageInput = Type.Object(
  {
    stage: StageId(),
    date: Day("The day it was seen in the field (YYYY-MM-DD, the farm's local day)"),
    note: Type.Optional(Type.String({ maxLength: 200, description: 'What was seen, e.g. 幼穂長 2 mm' })),
  },
  { additionalProperties: false },
);
export type FieldStageInput = Static<typeof FieldStageInput>;

/** One record of a field's stage history (newest first in the view). */
export const FieldStageRecord = Type.Object({
  stage: Type.String(),
  date: Type.String(),
  note: Type.Union([Type.String(), Type.Null()]),
  by: Type.String(),
  role: Type.String(),
  at: Type.String({ format: 'date-time' }),
  /** Withdrawn later (the record was cleared, or replaced by a newer one). */
  current: Type.Boolean(),
});
export type FieldStageRecord = Static<typeof FieldStageRecord>;

const Name = Type.Object({ ja: Type.String(), en: Type.String() });

/** GET …/fields/:field/stage — what the rules take as the field's stage, and what can be recorded. */
export const FieldStageView = Type.Object({
  farm: Type.String(),
  field: Type.String(),
  timezone: Type.String(),
  /** The farm's local day on the server's clock (the latest day a stage may be dated). */
  today: Type.String(),
  crop: Type.Union([Type.String(), Type.Null()]),
  plantingDate: Type.Union([Type.String(), Type.Null()]),
  /** The crop's stage profile, or null when the crop has none (no stage can be recorded). */
  profile: Type.Union([Type.Object({ id: Type.String(), label: Type.String() }), Type.Null()]),
  stages: Type.Array(Type.Object({ id: Type.String(), name: Name })),
  /**
   * The stage the gateway's rules take: the newer of the recorded one and the manifest's, while
   * younger than DECLARED_STAGE_DAYS; null when the GDD estimate is used.
   */
  inEffect: Type.Union([
    Type.Object({
      stage: Type.String(),
      name: Type.Union([Name, Type.Null()]),
      date: Type.String(),
      source: Type.Union([Type.Literal('recorded'), Type.Literal('manifest')]),
      /** The last day it is used. */
      until: Type.String(),
    }),
    Type.Null(),
  ]),
  /** The stage in the manifest's field, if any. */
  manifest: Type.Union([Type.Object({ stage: Type.String(), date: Type.String() }), Type.Null()]),
  history: Type.Array(FieldStageRecord),
  /** The downlink version that carries the current record to the gateways (null: none sent). */
  downlinkVersion: Type.Union([Type.Integer(), Type.Null()]),
});
export type FieldStageView = Static<typeof FieldStageView>;

/** The downlink document of kind `stage`, id = the field: the stage recorded for it. */
export const FieldStageDoc = Type.Object(
  {
    farm: Id('Farm id'),
    field: Id('Field id'),
    stage: StageId(),
    date: Day('The day it was seen in the field'),
    by: Type.String({ minLength: 1, maxLength: 64 }),
    at: Type.String({ format: 'date-time', maxLength: 40 }),
  },
  { additionalProperties: false },
);
export type FieldStageDoc = Static<typeof FieldStageDoc>;
