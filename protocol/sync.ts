// The uplink sync contract between a gateway and the server. The gateway sends its outbox in
// batches keyed by (gateway, outbox epoch, sequence range). The server applies a batch in three
// steps, not one transaction: documents (one SQLite transaction), then readings and series (the
// reading store, perhaps InfluxDB), then the acknowledgement (a second transaction). Every step is
// keyed — readings by device+metric+time, documents by their own ids — and the gateway keeps the
// batch until the answer, which comes after the last step: a failure in between leaves a partial
// batch that the resend completes, and a resend changes nothing twice.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Id, SceneId } from './ids.ts';
import { Reading, METRIC_PATTERN } from './telemetry.ts';
import { Manifest } from './manifest.ts';
import { Recommendation } from './recommendation.ts';
import { Tip, TipCleared } from './tip.ts';
import { AutomationLog } from './automation.ts';
import { SceneStats, ZoneCollection } from './imagery.ts';
import { Registry } from './registry.ts';

export const MAX_BATCH_ITEMS = 5000;

export const DeviceStatusEvent = Type.Object(
  {
    device: Id('Device id'),
    online: Type.Boolean(),
    time: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type DeviceStatusEvent = Static<typeof DeviceStatusEvent>;

/** Longest event message, and longest string in an event's detail (the server refuses longer). */
export const EVENT_TEXT_MAX = 1000;

/** Something the gateway wants a person to know: an alert, a device event, a report. */
export const GatewayEvent = Type.Object(
  {
    id: Type.String({
      pattern: '^[A-Za-z0-9_-]{8,64}$',
      description: 'Unique id (the server keeps each once)',
    }),
    type: Type.Union([
      Type.Literal('disk_full'),
      Type.Literal('disk_ok'),
      Type.Literal('device_silent'),
      Type.Literal('device_back'),
      Type.Literal('battery_low'),
      Type.Literal('clock_skew'),
      Type.Literal('backlog_report'),
      Type.Literal('downlink_applied'),
      Type.Literal('downlink_refused'),
      Type.Literal('retention_shortened'),
      Type.Literal('retention_restored'),
      // The tunables the gateway runs on (a configuration sent down may set them), at start and
      // whenever they change: detail is { 'sync.intervalMs': 1000, … } in the file's units.
      Type.Literal('config_effective'),
    ]),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    time: Type.Integer({ minimum: 0 }),
    device: Type.Optional(Id('Device id')),
    message: Type.String({ maxLength: EVENT_TEXT_MAX }),
    detail: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Union([Type.String({ maxLength: EVENT_TEXT_MAX }), Type.Number(), Type.Boolean(), Type.Null()]),
      ),
    ),
  },
  { additionalProperties: false },
);
export type GatewayEvent = Static<typeof GatewayEvent>;

/** Raw readings of one device, metric and hour, rolled up when the outbox ran out of room. */
export const HourlyAggregate = Type.Object(
  {
    device: Id('Device id'),
    metric: Type.String({ pattern: METRIC_PATTERN }),
    unit: Type.String({ maxLength: 16 }),
    hour: Type.Integer({ minimum: 0, description: 'Start of the hour, epoch ms UTC' }),
    min: Type.Number(),
    max: Type.Number(),
    mean: Type.Number(),
    count: Type.Integer({ minimum: 1 }),
    part: Type.String({
      pattern: '^[0-9]{1,20}$',
      description: 'Which part of the hour (aggregates of one hour may come in parts)',
    }),
  },
  { additionalProperties: false },
);
export type HourlyAggregate = Static<typeof HourlyAggregate>;

/** How the gateway is doing, sent with each batch so the server's gateway list is current. */
export const GatewaySyncStatus = Type.Object(
  {
    version: Type.String({ maxLength: 40 }),
    backlog: Type.Integer({ minimum: 0 }),
    backlogBytes: Type.Integer({ minimum: 0 }),
    oldestAgeMs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    clockOffsetMs: Type.Union([Type.Number(), Type.Null()]),
    downlinkVersion: Type.Integer({ minimum: 0 }),
    outboxMinSeq: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "The lowest sequence number in the gateway's outbox when the batch was built (this batch's " +
          'own rows included): every lower one was acknowledged and deleted, and can never be sent ' +
          'again, so the server may forget it. Absent from older gateways.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type GatewaySyncStatus = Static<typeof GatewaySyncStatus>;

/** A processed scene for one farm: per-field statistics and management zones (from edge/imagery). */
export const ImageryResult = Type.Object(
  {
    sceneId: SceneId('Scene id, unique per farm'),
    acquired: Type.String({ maxLength: 40, description: 'Acquisition time, ISO 8601' }),
    stats: SceneStats,
    zones: ZoneCollection,
  },
  { additionalProperties: false },
);
export type ImageryResult = Static<typeof ImageryResult>;

const item = <K extends string, B extends TSchema>(kind: K, body: B) =>
  Type.Object(
    { seq: Type.Integer({ minimum: 1 }), kind: Type.Literal(kind), body },
    { additionalProperties: false },
  );

export const SyncItem = Type.Union([
  item('reading', Reading),
  item('manifest', Manifest),
  item('device_status', DeviceStatusEvent),
  item('event', GatewayEvent),
  item('aggregate', HourlyAggregate),
  item('recommendation', Recommendation),
  item('tip', Tip),
  item('tip_cleared', TipCleared),
  item('automation_log', AutomationLog),
  item('imagery', ImageryResult),
  // The gateway's device registry as it holds it (secret hashes, never secrets), sent when the
  // gateway starts and whenever it changes: provisioning on the server starts from it, so the
  // devices already working in the field keep their keys.
  item('registry', Registry),
]);
export type SyncItem = Static<typeof SyncItem>;
export type SyncKind = SyncItem['kind'];

/**
 * An outbox epoch: a random id a gateway database gets once (gateway/sync-client.ts keeps it in
 * the store's meta) and sends with every batch. Sequence numbers count within it: a new database
 * under the same gateway id (an SD card swapped, a re-flash) numbers from 1 again, under a new epoch.
 */
export const OUTBOX_EPOCH_PATTERN = '^[A-Za-z0-9_-]{8,64}$';

export const SyncBatch = Type.Object(
  {
    gateway: Id('Gateway id'),
    epoch: Type.Optional(
      Type.String({
        pattern: OUTBOX_EPOCH_PATTERN,
        description:
          "The gateway database's outbox epoch, made once for the database: sequence numbers count " +
          'within it, and a new one (the database was replaced) starts the numbering afresh on the server. ' +
          'Absent from gateways older than the field: their batches all count in one epoch.',
      }),
    ),
    seqFrom: Type.Integer({ minimum: 1 }),
    seqTo: Type.Integer({ minimum: 1 }),
    sentAt: Type.Integer({ minimum: 0, description: 'Gateway clock, epoch ms' }),
    status: Type.Optional(GatewaySyncStatus),
    items: Type.Array(SyncItem, { minItems: 1, maxItems: MAX_BATCH_ITEMS }),
  },
  { additionalProperties: false },
);
export type SyncBatch = Static<typeof SyncBatch>;

export const SyncAck = Type.Object(
  {
    gateway: Id('Gateway id'),
    ackedSeq: Type.Integer({
      minimum: 0,
      description:
        'The highest sequence number of any batch the server acknowledged in the current outbox epoch ' +
        '(the largest seqTo since the epoch began). A progress mark, not a cursor: batches follow ' +
        'priority, so readings numbered below it may still be waiting at the gateway. 0 before any.',
    }),
    applied: Type.Integer({ minimum: 0 }),
    duplicates: Type.Integer({ minimum: 0 }),
    serverTime: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type SyncAck = Static<typeof SyncAck>;

/**
 * An ack as a gateway checks it: the fields it knows, and any a newer server adds (a server is
 * upgraded before the gateways of a co-op; one new field must not stall every older uplink).
 */
export const SyncAckAsRead = Type.Object(SyncAck.properties, { additionalProperties: true });
