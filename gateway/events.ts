// Gateway events (alerts, device events, reports): logged, counted and queued for the server.
import { randomBytes } from 'node:crypto';
import { EVENT_TEXT_MAX, type GatewayEvent } from '../protocol/sync.ts';
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
      // Text from errors can be any length: clipped so the server never refuses the event (and
      // with it the batch it travels in).
      message: clip(e.message),
      ...(e.detail ? { detail: clipDetail(e.detail) } : {}),
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

function clip(text: string): string {
  return text.length <= EVENT_TEXT_MAX ? text : `${text.slice(0, EVENT_TEXT_MAX - 1)}…`;
}

function clipDetail(detail: NonNullable<GatewayEvent['detail']>): GatewayEvent['detail'] {
  const out: NonNullable<GatewayEvent['detail']> = {};
  for (const [k, v] of Object.entries(detail)) out[k] = typeof v === 'string' ? clip(v) : v;
  return out;
}
