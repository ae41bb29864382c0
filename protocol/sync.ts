// The uplink sync contract between a gateway and the server. The gateway sends its outbox in
// batches keyed by (gateway, sequence range); the server applies a batch atomically, answers with
// the highest sequence it holds, and treats any resend as a no-op (readings are keyed by
// device+metric+time, documents by their own ids).
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { Reading } from './telemetry.ts';
import { Manifest } from './manifest.ts';

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

const item = <K extends string, B extends ReturnType<typeof Type.Object>>(kind: K, body: B) =>
  Type.Object(
    { seq: Type.Integer({ minimum: 1 }), kind: Type.Literal(kind), body },
    { additionalProperties: false },
  );

export const SyncItem = Type.Union([
  item('reading', Reading),
  item('manifest', Manifest),
  item('device_status', DeviceStatusEvent),
]);
export type SyncItem = Static<typeof SyncItem>;
export type SyncKind = SyncItem['kind'];

export const SyncBatch = Type.Object(
  {
    gateway: Id('Gateway id'),
    seqFrom: Type.Integer({ minimum: 1 }),
    seqTo: Type.Integer({ minimum: 1 }),
    sentAt: Type.Integer({ minimum: 0, description: 'Gateway clock, epoch ms' }),
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
      description: 'Highest sequence the server holds from this gateway',
    }),
    applied: Type.Integer({ minimum: 0 }),
    duplicates: Type.Integer({ minimum: 0 }),
    serverTime: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type SyncAck = Static<typeof SyncAck>;
