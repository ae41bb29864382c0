// Live fan-out to browsers: the sync endpoint publishes what it stored, each SSE connection
// receives the events of the farms its user may see. Bounded: a connection that cannot keep up
// loses events (counted) rather than growing a buffer, and the number of streams is capped — in
// all and per user, so one account cannot hold every stream and blank everyone else's live view.
// A stream lives no longer than its session: it checks the session and the user's farms at every
// heartbeat (dashboard/routes/live.ts), and `endSession` ends a session's streams at once.
import { EventEmitter } from 'node:events';
import { LIVE_HEARTBEAT_MS, type LiveReadingEvent } from '../protocol/api.ts';

export interface LiveEvents {
  reading: [event: LiveReadingEvent];
  /** A new downlink document for a farm's gateways. */
  downlink: [event: { farm: string; version: number }];
  /** Anything else a page may want to refresh on (a tip, a recommendation, an automation log). */
  change: [event: { farm: string; kind: string; id: string }];
}

/**
 * Why the server ended a stream (the `end` event's `reason`): the session was signed out, or is no
 * longer there (expired, removed, its account deleted); or it could not be checked (`error`).
 */
export type LiveEndReason = 'signed-out' | 'session-ended' | 'error';

export interface LiveLimits {
  /** Streams open at once, all users together (default 1000). */
  maxStreams?: number;
  /** Streams one user may hold open at once (default DEFAULT_MAX_STREAMS_PER_USER). */
  maxStreamsPerUser?: number;
  /** How often a stream writes its heartbeat and re-checks its session (default LIVE_HEARTBEAT_MS). */
  heartbeatMs?: number;
}

/** A page holds one stream; eight cover a user's phone, desk and a few tabs. */
export const DEFAULT_MAX_STREAMS_PER_USER = 8;

/** One open stream, as the hub knows it. */
export interface LiveStream {
  user: string;
  /** The session token the stream was opened with (its cookie). */
  token: string;
  /** Ends the stream with a final `end` event (idempotent). */
  end(reason: LiveEndReason): void;
}

export class LiveHub extends EventEmitter<LiveEvents> {
  readonly maxStreams: number;
  /** Set from server.yaml's `live.maxStreamsPerUser`; a test may lower it. */
  maxStreamsPerUser: number;
  /** Read when a stream opens; a test may shorten it. */
  heartbeatMs: number;
  dropped = 0;
  /** Streams refused because the server or the user had as many as allowed. */
  refused = 0;
  private readonly open = new Set<LiveStream>();
  private readonly perUser = new Map<string, number>();

  constructor(limits: LiveLimits = {}) {
    super();
    this.maxStreams = limits.maxStreams ?? 1000;
    this.maxStreamsPerUser = limits.maxStreamsPerUser ?? DEFAULT_MAX_STREAMS_PER_USER;
    this.heartbeatMs = limits.heartbeatMs ?? LIVE_HEARTBEAT_MS;
    this.setMaxListeners(this.maxStreams + 10);
  }

  /** Streams open now. */
  get streams(): number {
    return this.open.size;
  }

  /** Streams `user` has open now. */
  streamsOf(user: string): number {
    return this.perUser.get(user) ?? 0;
  }

  /** Why a new stream for `user` may not open now, or undefined when it may. */
  refusal(user: string): string | undefined {
    if (this.open.size >= this.maxStreams) return 'the server has as many live streams as it allows';
    if (this.streamsOf(user) >= this.maxStreamsPerUser)
      return `this account already has ${this.maxStreamsPerUser} live streams open; close a page or tab`;
    return undefined;
  }

  /** Counts an opened stream; returns what uncounts it (idempotent). */
  add(stream: LiveStream): () => void {
    this.open.add(stream);
    this.perUser.set(stream.user, this.streamsOf(stream.user) + 1);
    return () => {
      if (!this.open.delete(stream)) return;
      const n = this.streamsOf(stream.user) - 1;
      if (n > 0) this.perUser.set(stream.user, n);
      else this.perUser.delete(stream.user);
    };
  }

  /** Ends every stream of a session at once (sign-out); returns how many. */
  endSession(token: string | undefined, reason: LiveEndReason = 'signed-out'): number {
    if (!token) return 0;
    let n = 0;
    for (const s of [...this.open]) {
      if (s.token !== token) continue;
      s.end(reason);
      n++;
    }
    return n;
  }
}
