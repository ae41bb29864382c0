// API shapes of the review workflow, tips, automations and webhooks (issue 8): what the server's
// routes take and return, so the OpenAPI document at /docs describes them exactly and the web UI
// and tools share one definition. Times on the API are ISO 8601 (UTC); rates are kg/ha with
// kg/10a beside them.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { Recommendation, ReviewStatus } from './recommendation.ts';
import { ModelCard } from './model-card.ts';
import { Tip } from './tip.ts';
import {
  ActuatorCommand,
  Automation,
  AutomationLimits,
  AutomationLog,
  BandTrigger,
  ManualOverride,
  ThresholdTrigger,
} from './automation.ts';

const IsoTime = Type.String({ format: 'date-time' });
const NullableIso = Type.Union([IsoTime, Type.Null()]);
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** A whole number in a query string (query strings are text; the server parses and range-checks it). */
export const QueryInt = (description: string, digits = 4) =>
  Type.String({ pattern: `^[0-9]{1,${digits}}$`, description });

/** A reason or note a person types: 1–1000 characters, no control characters but line breaks. */
export const Reason = Type.String({
  minLength: 3,
  maxLength: 1000,
  pattern: '^[^\\u0000-\\u0009\\u000b\\u000c\\u000e-\\u001f\\u007f]*$',
  description: 'Why (kept in the audit log)',
});

/** Plain text a person names something with: no markup characters, no control characters. */
export const PlainName = Type.String({
  maxLength: 200,
  pattern: '^[^<>\\u0000-\\u001f\\u007f\\u202a-\\u202e\\u2066-\\u2069]*$',
  description: 'Plain text (no < >, control or bidi-override characters)',
});

// ---------------------------------------------------------------------------------------------
// Review workflow (extension officers)
// ---------------------------------------------------------------------------------------------

export const RateView = Type.Object(
  {
    kgNHa: Type.Number(),
    kgN10a: Type.Number(),
    productKgHa: Type.Number(),
    productKg10a: Type.Number(),
  },
  { additionalProperties: false },
);
export type RateView = Static<typeof RateView>;

export const ReviewQueueItem = Type.Object(
  {
    id: Type.String(),
    farm: Id('Farm id'),
    farmName: Type.String(),
    region: Nullable(Type.String()),
    field: Type.String(),
    fieldName: Nullable(Type.String()),
    crop: Type.String(),
    status: ReviewStatus,
    createdAt: IsoTime,
    receivedAt: IsoTime,
    /** Hours since the gateway made it. */
    ageHours: Type.Number(),
    areaHa: Type.Number(),
    zones: Type.Integer(),
    /** Nitrogen over the field as it stands (officer edits included), kg N. */
    nKg: Type.Number(),
    maxKgNHa: Type.Number(),
    model: Type.Object({ id: Type.String(), version: Type.String() }, { additionalProperties: false }),
    revision: Type.Integer(),
    /**
     * How many of what the recommendation was computed from were already stale when it was made
     * (dashboard/review/freshness.ts, as the detail marks them): the scene once, however many of its
     * indices the model read, and every other stale input once by name. 0 when all were fresh.
     */
    staleInputs: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ReviewQueueItem = Static<typeof ReviewQueueItem>;

export const ReviewQueueQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union(
        [
          Type.Literal('open'),
          Type.Literal('pending_review'),
          Type.Literal('edited'),
          Type.Literal('approved'),
          Type.Literal('rejected'),
          Type.Literal('superseded'),
        ],
        { description: 'open (default) = pending_review and edited' },
      ),
    ),
    farm: Type.Optional(Id('Only this farm')),
    limit: Type.Optional(QueryInt('At most this many (1–500, default 200)')),
  },
  { additionalProperties: false },
);

export const AuditChange = Type.Object(
  {
    /** What changed, as a JSON pointer (RFC 6901; a zone by its id): /status, /zones/{id}/kgNHa, /policy/maxKgNHa … */
    path: Type.String(),
    from: Type.Union([Type.Number(), Type.String(), Type.Null()]),
    to: Type.Union([Type.Number(), Type.String(), Type.Null()]),
    /** For rate edits: what the officer typed, before limits and the spreader step. */
    requested: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);
export type AuditChange = Static<typeof AuditChange>;

export const AUDIT_ACTIONS = [
  'received',
  'superseded',
  'edited',
  'approved',
  'rejected',
  'auto_approved',
  'policy_set',
  'policy_removed',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AuditEntry = Type.Object(
  {
    seq: Type.Integer(),
    at: IsoTime,
    farm: Type.String(),
    recommendation: Nullable(Type.String()),
    actor: Type.String(),
    role: Type.String(),
    action: Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a))),
    fromStatus: Nullable(Type.String()),
    toStatus: Nullable(Type.String()),
    changes: Type.Array(AuditChange),
    reason: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type AuditEntry = Static<typeof AuditEntry>;

export const InputFreshness = Type.Object(
  {
    name: Type.String(),
    value: Type.Union([Type.Number(), Type.String()]),
    unit: Type.String(),
    source: Type.String(),
    category: Type.Union([
      Type.Literal('imagery'),
      Type.Literal('sensor'),
      Type.Literal('record'),
      Type.Literal('constant'),
    ]),
    /** Field-wide inputs, or the zones whose input this was. */
    zones: Type.Union([Type.Literal('all'), Type.Array(Type.String())]),
    time: NullableIso,
    /** Age when the recommendation was made, and now; null for constants. */
    ageHoursAtCreation: Nullable(Type.Number()),
    ageHoursNow: Nullable(Type.Number()),
    staleAfterHours: Nullable(Type.Number()),
    stale: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type InputFreshness = Static<typeof InputFreshness>;

export const ReviewZone = Type.Object(
  {
    id: Type.String(),
    zone: Type.Integer(),
    areaHa: Type.Number(),
    /** The model's rate after the profile limits and the spreader step. */
    recommended: RateView,
    /** What the prescription applies (the officer's edit, when there is one). */
    applied: RateView,
    clamped: Type.Union([Type.Literal('min'), Type.Literal('max'), Type.Null()]),
    edited: Nullable(
      Type.Object({ by: Type.String(), at: IsoTime, reason: Type.String() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type ReviewZone = Static<typeof ReviewZone>;

export const ProfileLimits = Type.Object(
  {
    profile: Type.String({ description: 'id@version' }),
    minKgNHa: Type.Number(),
    maxKgNHa: Type.Number(),
    stepKgProductHa: Type.Number(),
    nFraction: Type.Number(),
  },
  { additionalProperties: false },
);
export type ProfileLimits = Static<typeof ProfileLimits>;

export const AutoApprovalPolicy = Type.Object(
  {
    farm: Id('Farm id'),
    /** A model id (any version) or id@version. */
    model: Type.String(),
    maxKgNHa: Type.Number(),
    setBy: Type.String(),
    setAt: IsoTime,
  },
  { additionalProperties: false },
);
export type AutoApprovalPolicy = Static<typeof AutoApprovalPolicy>;

export const AutoApprovalBody = Type.Object(
  {
    model: Type.String({
      pattern: '^[a-z0-9][a-z0-9_-]{0,63}(@\\d+\\.\\d+\\.\\d+)?$',
      description: 'Model id, or id@version',
    }),
    maxKgNHa: Type.Number({ minimum: 0, maximum: 500, description: 'No zone above this rate (kg N/ha)' }),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
);
export type AutoApprovalBody = Static<typeof AutoApprovalBody>;

export const ReviewDetail = Type.Object(
  {
    id: Type.String(),
    status: ReviewStatus,
    /** Increases with every action; send it back to refuse a decision on a stale view. */
    revision: Type.Integer(),
    farm: Type.Object(
      { id: Type.String(), name: Type.String(), region: Nullable(Type.String()) },
      { additionalProperties: false },
    ),
    field: Type.Object(
      { id: Type.String(), name: Nullable(Type.String()), crop: Nullable(Type.String()) },
      { additionalProperties: false },
    ),
    receivedAt: IsoTime,
    recommendation: Recommendation,
    zones: Type.Array(ReviewZone),
    inputs: Type.Array(InputFreshness),
    imagery: Type.Object(
      {
        sceneId: Nullable(Type.String()),
        acquired: NullableIso,
        index: Nullable(Type.String()),
        ageDaysAtCreation: Nullable(Type.Number()),
        stale: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
    model: Type.Object(
      {
        ref: Type.String(),
        /** matches: the installed card has the recommendation's sha256. */
        cardStatus: Type.Union([
          Type.Literal('matches'),
          Type.Literal('sha256_mismatch'),
          Type.Literal('not_installed'),
        ]),
        card: Nullable(ModelCard),
      },
      { additionalProperties: false },
    ),
    limits: Nullable(ProfileLimits),
    economics: Type.Object(
      {
        recommended: Type.Object(
          {
            nKg: Type.Number(),
            productKg: Type.Number(),
            costYen: Type.Number(),
            gainYen: Type.Number(),
            marginYen: Type.Number(),
          },
          { additionalProperties: false },
        ),
        /** With the applied rates; the gain is only re-estimated where the basis allows it. */
        applied: Type.Object(
          {
            nKg: Type.Number(),
            productKg: Type.Number(),
            costYen: Type.Number(),
            gainYen: Nullable(Type.Number()),
            marginYen: Nullable(Type.Number()),
          },
          { additionalProperties: false },
        ),
        basis: Type.String(),
        cropPriceYenPerKg: Type.Number(),
        productPriceYenPerKg: Type.Number(),
        applicationYenPerHa: Type.Number(),
      },
      { additionalProperties: false },
    ),
    audit: Type.Array(AuditEntry),
    autoApproval: Nullable(AutoApprovalPolicy),
    /** For a superseded recommendation, the newer one of the field that replaced it; else null. */
    supersededBy: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type ReviewDetail = Static<typeof ReviewDetail>;

export const EditBody = Type.Object(
  {
    zones: Type.Array(
      Type.Object(
        {
          zone: Type.String({ minLength: 1, maxLength: 100, description: 'Zone id' }),
          kgNHa: Type.Number({ minimum: 0, maximum: 1000 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 10_000 },
    ),
    reason: Reason,
    revision: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type EditBody = Static<typeof EditBody>;

export const EditResult = Type.Object(
  {
    review: ReviewDetail,
    zones: Type.Array(
      Type.Object(
        {
          zone: Type.String(),
          requestedKgNHa: Type.Number(),
          kgNHa: Type.Number(),
          productKgHa: Type.Number(),
          clamped: Type.Union([Type.Literal('min'), Type.Literal('max'), Type.Null()]),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type EditResult = Static<typeof EditResult>;

export const ApproveBody = Type.Object(
  { note: Type.Optional(Reason), revision: Type.Optional(Type.Integer({ minimum: 0 })) },
  { additionalProperties: false },
);
export type ApproveBody = Static<typeof ApproveBody>;

export const RejectBody = Type.Object(
  { reason: Reason, revision: Type.Optional(Type.Integer({ minimum: 0 })) },
  { additionalProperties: false },
);
export type RejectBody = Static<typeof RejectBody>;

export const DecisionsQuery = Type.Object(
  {
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    farm: Type.Optional(Id('Only this farm')),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Approved recommendations (farmers)
// ---------------------------------------------------------------------------------------------

export const PRESCRIPTION_FORMATS = ['isoxml', 'shp', 'geojson', 'csv'] as const;
export type PrescriptionFormat = (typeof PRESCRIPTION_FORMATS)[number];
export const PrescriptionFormatSchema = Type.Union(PRESCRIPTION_FORMATS.map((f) => Type.Literal(f)));

export const ApprovedZone = Type.Object(
  {
    id: Type.String(),
    zone: Type.Integer(),
    areaHa: Type.Number(),
    rate: RateView,
    /** The officer changed this zone's rate, and why. */
    edited: Type.Boolean(),
    reason: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const ApprovedRecommendation = Type.Object(
  {
    id: Type.String(),
    farm: Type.String(),
    field: Type.String(),
    crop: Type.String(),
    createdAt: IsoTime,
    /**
     * When the satellite image the rates come from was taken (the recommendation's
     * imagery.acquired); null when it was computed without one.
     */
    imageAcquired: NullableIso,
    approvedAt: IsoTime,
    approvedBy: Type.String(),
    autoApproved: Type.Boolean(),
    model: Type.String({ description: 'id@version' }),
    profile: Type.String({ description: 'id@version' }),
    product: Type.Object(
      { id: Type.String(), name: Type.Object({ ja: Type.String(), en: Type.String() }) },
      { additionalProperties: false },
    ),
    totals: Type.Object(
      { areaHa: Type.Number(), nKg: Type.Number(), productKg: Type.Number() },
      { additionalProperties: false },
    ),
    zones: Type.Array(ApprovedZone),
    /**
     * The newer approved recommendation for the same field that replaces this one as the field's
     * current prescription (null while this one is the newest approved).
     */
    replacedBy: Nullable(Type.String()),
    /** Links to the prescription files (GET). */
    downloads: Type.Object(
      { isoxml: Type.String(), shp: Type.String(), geojson: Type.String(), csv: Type.String() },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type ApprovedRecommendation = Static<typeof ApprovedRecommendation>;

export const ApprovedRecommendationDetail = Type.Object(
  { ...ApprovedRecommendation.properties, recommendation: Recommendation },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Tips
// ---------------------------------------------------------------------------------------------

export const TIP_STATES = ['open', 'acted', 'dismissed', 'automated', 'superseded', 'duplicate'] as const;
export type TipState = (typeof TIP_STATES)[number];

export const TipView = Type.Object(
  {
    tip: Tip,
    state: Type.Union(TIP_STATES.map((s) => Type.Literal(s))),
    stateBy: Nullable(Type.String()),
    stateAt: NullableIso,
    expired: Type.Boolean(),
    /** When its gateway found the tip's condition gone (it is then no longer active), or null. */
    cleared: NullableIso,
    /**
     * Whether "automate" can make an automation from the tip as it stands: its action is one an
     * automation can do, and its field has an actuator for it.
     */
    automatable: Type.Boolean(),
    /** The actuators it could steer (the one the tip names, else those on its field): pick one when several. */
    actuators: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 }),
    automation: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type TipView = Static<typeof TipView>;

export const TipsQuery = Type.Object(
  {
    farm: Type.Optional(Id('Only this farm')),
    field: Type.Optional(Id('Only this field')),
    view: Type.Optional(
      Type.Union([Type.Literal('active'), Type.Literal('history')], {
        description:
          'active (default): open, acted or automated, neither expired nor cleared; history: everything but duplicates',
      }),
    ),
    limit: Type.Optional(QueryInt('At most this many (1–500, default 100)')),
  },
  { additionalProperties: false },
);

/** Adjustments to the automation "automate" makes from a tip; everything has a safe default. */
export const AutomateBody = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Default false: the farmer reviews, then enables' })),
    name: Type.Optional(Type.Object({ ja: PlainName, en: PlainName }, { additionalProperties: false })),
    /** The valve or gate to drive, when the tip names none. */
    actuator: Type.Optional(Id('Actuator device')),
    /** Minutes a valve opens per run (irrigation). */
    durationMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 720 })),
    trigger: Type.Optional(Type.Union([ThresholdTrigger, BandTrigger])),
    limits: Type.Optional(Type.Partial(AutomationLimits, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type AutomateBody = Static<typeof AutomateBody>;

// ---------------------------------------------------------------------------------------------
// Automations
// ---------------------------------------------------------------------------------------------

const automationFields = {
  field: Type.Optional(Id('Field id')),
  name: Type.Object({ ja: PlainName, en: PlainName }, { additionalProperties: false }),
  enabled: Type.Boolean(),
  trigger: Type.Union([ThresholdTrigger, BandTrigger]),
  action: Type.Optional(ActuatorCommand),
  below: Type.Optional(ActuatorCommand),
  above: Type.Optional(ActuatorCommand),
  limits: AutomationLimits,
};

export const AutomationCreate = Type.Object(
  { farm: Id('Farm id'), ...automationFields },
  { additionalProperties: false },
);
export type AutomationCreate = Static<typeof AutomationCreate>;

export const AutomationUpdate = Type.Object(
  {
    ...automationFields,
    /** The version being replaced; a newer one on the server refuses the change (409). */
    version: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type AutomationUpdate = Static<typeof AutomationUpdate>;

/**
 * What the farm's gateways did with an automation's current version, from the downlink_applied /
 * downlink_refused events they sync, each gateway by its newest report: refused when a gateway's
 * newest refuses it (it cannot run it — a device or kit it lacks; the version it had before keeps
 * running, and the gateway applies it once its devices change), applied when a gateway took it and
 * none refuses it, pending until then (not fetched yet, or the report not synced yet).
 */
export const AutomationOnGateway = Type.Object(
  {
    state: Type.Union([Type.Literal('pending'), Type.Literal('applied'), Type.Literal('refused')]),
    /** The automation's version this is about: always its current one. */
    version: Type.Integer({ minimum: 1 }),
    /** Why it was refused, in the gateway's own words (English). */
    reason: Type.Optional(Type.String()),
    /** The gateway whose report decided the state (applied, refused). */
    gateway: Type.Optional(Type.String()),
    /** When that gateway applied or refused it (its clock). */
    at: Type.Optional(IsoTime),
  },
  { additionalProperties: false },
);
export type AutomationOnGateway = Static<typeof AutomationOnGateway>;

export const AutomationView = Type.Object(
  {
    ...Automation.properties,
    updatedAt: IsoTime,
    updatedBy: Type.String(),
    onGateway: AutomationOnGateway,
  },
  { additionalProperties: false },
);
export type AutomationView = Static<typeof AutomationView>;

export const AutomationLogView = Type.Object(
  {
    ...AutomationLog.properties,
    farm: Type.String(),
    gateway: Type.String(),
    at: IsoTime,
  },
  { additionalProperties: false },
);
export type AutomationLogView = Static<typeof AutomationLogView>;

export const LogsQuery = Type.Object(
  {
    limit: Type.Optional(QueryInt('At most this many (1–1000, default 100)')),
    before: Type.Optional(QueryInt('Only entries before this time (epoch ms)', 15)),
  },
  { additionalProperties: false },
);

export const OverrideBody = Type.Object(
  {
    mode: ManualOverride.properties.mode,
    minutes: Type.Integer({ minimum: 1, maximum: 10_080, description: 'How long it holds (at most 7 days)' }),
  },
  { additionalProperties: false },
);
export type OverrideBody = Static<typeof OverrideBody>;

/** Where an override was set: the dashboard (or the API), or the form on a gateway's own page. */
export const OverrideSource = Type.Union([Type.Literal('dashboard'), Type.Literal('gateway')]);
export type OverrideSource = Static<typeof OverrideSource>;

/**
 * An actuator's manual override. A dashboard one is the server's own; a gateway one is read from
 * the override logs the gateway synced (set on its page, maybe while the server was unreachable).
 * At most one per device is `active`: the one the gateway follows (docs/automations.md).
 */
export const OverrideView = Type.Object(
  {
    ...ManualOverride.properties,
    farm: Type.String(),
    setAt: IsoTime,
    active: Type.Boolean(),
    source: OverrideSource,
    /** source 'gateway': the gateway whose page set it. */
    gateway: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type OverrideView = Static<typeof OverrideView>;

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

export const WEBHOOK_EVENTS = ['tip.created', 'review.requested', 'recommendation.approved', 'ping'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const WebhookEventSchema = Type.Union(WEBHOOK_EVENTS.map((e) => Type.Literal(e)));

export const WebhookCreate = Type.Object(
  {
    farm: Type.Optional(Id('Deliver events of this farm')),
    region: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9_-]{0,63}$',
        description: 'Deliver events of every farm of this region (officers)',
      }),
    ),
    url: Type.String({ minLength: 8, maxLength: 2000, description: 'http(s) URL that receives POSTs' }),
    events: Type.Array(WebhookEventSchema, { minItems: 1, maxItems: 8, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreate>;

export const WebhookView = Type.Object(
  {
    id: Type.String(),
    scope: Type.Union([Type.Literal('farm'), Type.Literal('region')]),
    farm: Nullable(Type.String()),
    region: Nullable(Type.String()),
    /** The URL without its query or credentials (they may hold a token). */
    url: Type.String(),
    events: Type.Array(WebhookEventSchema),
    createdBy: Type.String(),
    createdAt: IsoTime,
    pending: Type.Integer(),
    delivered: Type.Integer(),
    failed: Type.Integer(),
    dropped: Type.Integer(),
  },
  { additionalProperties: false },
);
export type WebhookView = Static<typeof WebhookView>;

export const WebhookCreated = Type.Object(
  {
    ...WebhookView.properties,
    /** Shown once: the HMAC-SHA256 key receivers verify x-hatake-signature with. */
    secret: Type.String(),
  },
  { additionalProperties: false },
);

export const DeliveryView = Type.Object(
  {
    id: Type.Integer(),
    event: WebhookEventSchema,
    eventId: Type.String(),
    state: Type.Union([
      Type.Literal('pending'),
      Type.Literal('delivered'),
      Type.Literal('failed'),
      Type.Literal('dropped'),
    ]),
    attempts: Type.Integer(),
    lastStatus: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
    createdAt: IsoTime,
    nextAt: NullableIso,
    deliveredAt: NullableIso,
  },
  { additionalProperties: false },
);
export type DeliveryView = Static<typeof DeliveryView>;

/**
 * The JSON body of every webhook POST. Headers: x-hatake-event, x-hatake-delivery (the same on
 * every retry of one delivery), x-hatake-timestamp (unix seconds of this attempt) and
 * x-hatake-signature: "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body).
 */
export const WebhookPayload = Type.Object(
  {
    id: Type.String({ description: 'Event id: the same for a retried delivery' }),
    event: WebhookEventSchema,
    time: IsoTime,
    farm: Nullable(Type.String()),
    region: Nullable(Type.String()),
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type WebhookPayload = Static<typeof WebhookPayload>;
