// The live stream (Server-Sent Events, /api/v1/live): one stream per page load, shared by every
// component that listens. `reading` events update sensor tiles; `change` events say a tip,
// recommendation, review, automation or device of a farm changed, and the page showing it reloads
// that list — so a tip raised on the gateway appears without a refresh. After a reconnect every
// listener reloads: changes made while the phone had no signal were not heard.
//
// A watchdog keeps the page honest about the stream. The server writes a comment at least every
// SERVER_HEARTBEAT_MS (dashboard/routes/live.ts); a stream that brings nothing for longer than
// that plus a margin is dead even if its connection looks open (a phone that changed networks, a
// proxy that stopped forwarding), so the page says it is reconnecting, drops the stream and opens
// a new one. EventSource hides comments from the page (and so the heartbeats), which is why the
// stream is read with fetch: every byte that arrives, heartbeat or event, feeds the watchdog.
//
// A stream lives no longer than its session: the server ends it (a last `end` event) once the
// session is signed out, expired or removed. The reconnect that follows is answered 401, and then
// the page stops trying and goes back to the sign-in form (SIGNED_OUT) instead of retrying forever.
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { useEffect, useRef, useState } from 'preact/hooks';
import { LIVE_HEARTBEAT_MS, type LiveReadingEvent } from '../../protocol/api.ts';
import { SIGNED_OUT } from './api.ts';

/**
 * `connecting`: the first stream is not open yet; `open`: the stream is alive (a byte within the
 * watchdog's time); `reconnecting`: the stream failed or went silent, a new one is on its way.
 */
export type LiveState = 'connecting' | 'open' | 'reconnecting';

/** How often the server writes a heartbeat comment on the stream (dashboard/routes/live.ts). */
export const SERVER_HEARTBEAT_MS = LIVE_HEARTBEAT_MS;
/** Silence past the heartbeat by this much (a slow mobile link, a busy server) means the stream is dead. */
export const STALE_MARGIN_MS = 10_000;
export const STALE_AFTER_MS = SERVER_HEARTBEAT_MS + STALE_MARGIN_MS;
/** Waits before the 1st, 2nd, … attempt to reconnect; the last repeats. Back to the first once a stream opens. */
export const RETRY_MS: readonly number[] = [1_000, 2_000, 5_000, 10_000, 30_000];

/** What a stream tells the connection. */
export interface StreamHandlers {
  /** The server answered with an event stream. */
  open(): void;
  /** Text of the stream as it arrives: events, comments, heartbeats. */
  data(text: string): void;
  /**
   * The stream ended, or could not be opened (network, HTTP status, not an event stream);
   * `status` is the HTTP status of a refused request.
   */
  fail(status?: number): void;
}
/** Opens a stream; returns what aborts it (no handler is called after that). */
export type OpenStream = (h: StreamHandlers) => () => void;

export interface LiveListener {
  state(s: LiveState): void;
  /** An event of the stream: its type and its data. */
  event(type: string, data: string): void;
  /** A stream opened after another had been open: something may have been missed. */
  reconnected(): void;
  /** The server no longer knows the session (401): the connection has stopped for good. */
  signedOut?(): void;
}

/**
 * One live connection: opens streams through `openStream`, parses their events, and runs the
 * watchdog and the reconnection. Timers are the global ones (a test's fake timers drive it).
 */
export class LiveConnection {
  state: LiveState = 'connecting';
  private abort: (() => void) | null = null;
  /** Which stream is current; handlers of an older one are ignored. */
  private generation = 0;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private everOpen = false;
  private running = false;
  private readonly openStream: OpenStream;
  private readonly listener: LiveListener;
  /** The event-stream format (`event:` and `data:` lines, `:` comments), read by eventsource-parser. */
  private readonly parser: EventSourceParser;

  constructor(openStream: OpenStream, listener: LiveListener) {
    this.openStream = openStream;
    this.listener = listener;
    this.parser = createParser({ onEvent: (e) => this.listener.event(e.event ?? 'message', e.data) });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    clearTimeout(this.watchdog);
    clearTimeout(this.retry);
    this.abort?.();
    this.abort = null;
  }

  private setState(s: LiveState): void {
    if (s === this.state) return;
    this.state = s;
    this.listener.state(s);
  }

  /** (Re)arms the watchdog: the stream must bring something within STALE_AFTER_MS. */
  private arm(gen: number): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (gen === this.generation) this.lost();
    }, STALE_AFTER_MS);
  }

  private connect(): void {
    const gen = ++this.generation;
    this.parser.reset();
    // A request that hangs (a dead link answers nothing) is as silent as a stream that stops.
    this.arm(gen);
    this.abort = this.openStream({
      open: () => {
        if (gen !== this.generation) return;
        this.arm(gen);
        this.attempts = 0;
        const again = this.everOpen;
        this.everOpen = true;
        this.setState('open');
        if (again) this.listener.reconnected();
      },
      data: (text) => {
        if (gen !== this.generation) return;
        this.arm(gen);
        this.parser.feed(text);
      },
      fail: (status) => {
        if (gen !== this.generation) return;
        if (status === 401) this.signedOut();
        else this.lost();
      },
    });
  }

  /** Signed out: another attempt would be refused as well, so stop here and say so. */
  private signedOut(): void {
    this.stop();
    this.listener.signedOut?.();
  }

  /** The stream failed or went silent: drop it, say so, and open another after a wait. */
  private lost(): void {
    this.generation++;
    clearTimeout(this.watchdog);
    this.abort?.();
    this.abort = null;
    if (!this.running) return;
    this.setState(this.everOpen ? 'reconnecting' : 'connecting');
    const wait = RETRY_MS[Math.min(this.attempts, RETRY_MS.length - 1)]!;
    this.attempts++;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      if (this.running) this.connect();
    }, wait);
  }
}

/** A stream read with fetch (same-origin, with the session's cookie). */
export function fetchStream(url: string): OpenStream {
  return (h) => {
    const ctrl = new AbortController();
    let over = false;
    const fail = (status?: number) => {
      if (over) return;
      over = true;
      h.fail(status);
    };
    void (async () => {
      try {
        const res = await fetch(url, {
          headers: { accept: 'text/event-stream' },
          cache: 'no-store',
          credentials: 'same-origin',
          signal: ctrl.signal,
        });
        const type = res.headers.get('content-type') ?? '';
        if (!res.ok || !res.body || !type.startsWith('text/event-stream')) {
          void res.body?.cancel().catch(() => undefined);
          return fail(res.ok ? undefined : res.status);
        }
        if (over) return;
        h.open();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done || over) break;
          h.data(decoder.decode(value, { stream: true }));
        }
        fail();
      } catch {
        fail(); // aborted (then `over` is already set), or the network failed
      }
    })();
    return () => {
      over = true;
      ctrl.abort();
    };
  };
}

/** A change, as the server's `change` event names it (dashboard/routes/live.ts). */
export interface LiveChange {
  farm: string;
  kind: string;
  id: string;
}

const readers = new Set<(e: LiveReadingEvent) => void>();
/** A change, or null after a reconnect (something may have been missed). */
const watchers = new Set<(e: LiveChange | null) => void>();
const stateListeners = new Set<(s: LiveState) => void>();
let connection: LiveConnection | null = null;
let state: LiveState = 'connecting';
let users = 0;

function dispatch<T>(data: string, to: Set<(e: T) => void>): void {
  let e: T;
  try {
    e = JSON.parse(data) as T;
  } catch {
    return; // a malformed event is ignored; the next one brings the news
  }
  for (const f of to) {
    try {
      f(e);
    } catch {
      // one listener's failure is not another's
    }
  }
}

function acquire(): void {
  users++;
  if (connection) {
    connection.start(); // again, if a 401 had stopped it (nothing when it runs)
    return;
  }
  state = 'connecting';
  connection = new LiveConnection(fetchStream('/api/v1/live'), {
    state: (s) => {
      state = s;
      for (const f of stateListeners) f(s);
    },
    event: (type, data) => {
      if (type === 'reading') dispatch(data, readers);
      else if (type === 'change') dispatch(data, watchers);
    },
    reconnected: () => {
      for (const f of watchers) f(null);
    },
    // The app goes back to the sign-in form, as on any other 401 (api.ts).
    signedOut: () => window.dispatchEvent(new Event(SIGNED_OUT)),
  });
  for (const f of stateListeners) f(state);
  connection.start();
}

function release(): void {
  users--;
  if (users === 0 && connection) {
    connection.stop();
    connection = null;
  }
}

/** Every live reading of the farms the user may see; returns the stream's state. */
export function useLive(onReading: (e: LiveReadingEvent) => void): LiveState {
  const cb = useRef(onReading);
  cb.current = onReading;
  const [s, setS] = useState<LiveState>(state);
  useEffect(() => {
    const r = (e: LiveReadingEvent) => cb.current(e);
    readers.add(r);
    stateListeners.add(setS);
    acquire();
    setS(state);
    return () => {
      readers.delete(r);
      stateListeners.delete(setS);
      release();
    };
  }, []);
  return s;
}

/** Calm for a burst: a sync batch of twenty tips is one reload, not twenty. */
const CHANGE_SETTLE_MS = 250;

/**
 * Calls `onChange` when the server says something of one of `kinds` changed on `farm` (any farm
 * when null), and after a reconnect; several changes close together make one call.
 */
export function useLiveChanges(farm: string | null, kinds: readonly string[], onChange: () => void): void {
  const cb = useRef(onChange);
  cb.current = onChange;
  const key = kinds.join(',');
  useEffect(() => {
    const wanted = new Set(key.split(','));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const w = (e: LiveChange | null) => {
      if (e && ((farm !== null && e.farm !== farm) || !wanted.has(e.kind))) return;
      timer ??= setTimeout(() => {
        timer = undefined;
        cb.current();
      }, CHANGE_SETTLE_MS);
    };
    watchers.add(w);
    acquire();
    return () => {
      watchers.delete(w);
      clearTimeout(timer);
      release();
    };
  }, [farm, key]);
}
