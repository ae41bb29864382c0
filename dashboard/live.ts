// Live fan-out to browsers: the sync endpoint publishes what it stored, each SSE connection
// receives the events of the farms its user may see. Bounded: a connection that cannot keep up
// loses events (counted) rather than growing a buffer, and the number of streams is capped.
import { EventEmitter } from 'node:events';
import type { LiveReadingEvent } from '../protocol/api.ts';

export interface LiveEvents {
  reading: [event: LiveReadingEvent];
  /** A new downlink document for a farm's gateways. */
  downlink: [event: { farm: string; version: number }];
  /** Anything else a page may want to refresh on (a tip, a recommendation, an automation log). */
  change: [event: { farm: string; kind: string; id: string }];
}

export class LiveHub extends EventEmitter<LiveEvents> {
  readonly maxStreams: number;
  streams = 0;
  dropped = 0;

  constructor(maxStreams = 1000) {
    super();
    this.maxStreams = maxStreams;
    this.setMaxListeners(maxStreams + 10);
  }
}
