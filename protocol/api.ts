// Shapes of the server's REST API that are shared with clients (the dashboard, tests, tools).
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { QualityFlag } from './telemetry.ts';

/** application/problem+json (RFC 9457) with hatake's error code. */
export const ProblemBody = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.String(),
  detail: Type.String(),
  pointer: Type.Optional(Type.String()),
  expected: Type.Optional(Type.String()),
});
export type ProblemBody = Static<typeof ProblemBody>;

export const LatestValue = Type.Object({
  metric: Type.String(),
  value: Type.Number(),
  unit: Type.String(),
  time: Type.String({ format: 'date-time' }),
  flags: Type.Array(QualityFlag),
});
export type LatestValue = Static<typeof LatestValue>;

export const DeviceView = Type.Object({
  id: Id('Device id'),
  farm: Id('Farm id'),
  field: Type.Union([Id('Field id'), Type.Null()]),
  kit: Type.Union([Type.String(), Type.Null()]),
  name: Type.Union([Type.String(), Type.Null()]),
  lastSeen: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  online: Type.Union([Type.Boolean(), Type.Null()]),
  latest: Type.Array(LatestValue),
});
export type DeviceView = Static<typeof DeviceView>;

export const FarmView = Type.Object({
  id: Id('Farm id'),
  name: Type.String(),
  region: Type.Union([Type.String(), Type.Null()]),
  timezone: Type.String(),
  fields: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      crop: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});
export type FarmView = Static<typeof FarmView>;

/** One live event on the SSE stream. */
/**
 * The live stream (GET /api/v1/live) writes a comment at least this often, so a client can tell a
 * quiet stream from a dead one (dashboard/ui/live.ts's watchdog waits this long plus a margin).
 */
export const LIVE_HEARTBEAT_MS = 15_000;

export const LiveReadingEvent = Type.Object({
  farm: Type.String(),
  device: Type.String(),
  metric: Type.String(),
  value: Type.Number(),
  unit: Type.String(),
  time: Type.String({ format: 'date-time' }),
  flags: Type.Array(QualityFlag),
});
export type LiveReadingEvent = Static<typeof LiveReadingEvent>;
