// Gateway events (alerts, device events, reports): logged, counted and queued for the server.
import { randomBytes } from 'node:crypto';
import type { GatewayEvent } from '../protocol/sync.ts';
import type { Logger } from '../runtime/log.ts';
import type { GatewayStore } from './store.ts';

export type NewEvent = Omit<GatewayEvent, 'id' | 'time'> & { time?: number };

export class EventLog {
  private readonly store: GatewayStore;
  readonly log: Logger;
  /** The most recent events, newest first, for the status page. */
  readonly recent: GatewayEvent[] = [];

  constructor(store: GatewayStore, log: Logger) {
    this.store = store;
    this.log = log;
  }

  /** Records an event: queued for the server (durably) and kept for the status page. */
  raise(e: NewEvent): GatewayEvent {
    const event: GatewayEvent = {
      ...e,
      id: randomBytes(12).toString('base64url'),
      time: e.time ?? Date.now(),
    };
    try {
      this.store.enqueue('event', event, event.time);
    } catch (err) {
      // A full disk must not stop the alert from being seen on the status page and in the log.
      this.log.error({ err: (err as Error).message }, 'event not queued for the server');
    }
    const level = event.severity === 'critical' ? 'error' : event.severity === 'warning' ? 'warn' : 'info';
    this.log[level]({ event: event.type, device: event.device, detail: event.detail }, event.message);
    this.recent.unshift(event);
    this.recent.length = Math.min(this.recent.length, 50);
    return event;
  }
}
