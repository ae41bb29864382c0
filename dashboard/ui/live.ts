// The live stream (Server-Sent Events, /api/v1/live): one EventSource per page load, shared by every
// component that listens, and reconnecting by itself. `reading` events update sensor tiles;
// `change` events say a tip, recommendation, review or automation of a farm changed, and the page
// showing it reloads that list — so a tip raised on the gateway appears without a refresh. After a
// reconnect every listener reloads: changes made while the phone had no signal were not heard.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LiveReadingEvent } from '../../protocol/api.ts';

export type LiveState = 'connecting' | 'open' | 'closed';
/** What the server's `change` event names (dashboard/routes/live.ts). */
export interface LiveChange {
  farm: string;
  kind: string;
  id: string;
}

const readers = new Set<(e: LiveReadingEvent) => void>();
/** A change, or null after a reconnect (something may have been missed). */
const watchers = new Set<(e: LiveChange | null) => void>();
const stateListeners = new Set<(s: LiveState) => void>();
let source: EventSource | null = null;
let state: LiveState = 'connecting';
let users = 0;

function setState(s: LiveState): void {
  state = s;
  for (const f of stateListeners) f(s);
}

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
  if (source) return;
  const es = new EventSource('/api/v1/live');
  source = es;
  let opened = false;
  setState('connecting');
  es.onopen = () => {
    setState('open');
    if (opened) for (const f of watchers) f(null);
    opened = true;
  };
  es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
  es.addEventListener('reading', (m) => dispatch((m as MessageEvent<string>).data, readers));
  es.addEventListener('change', (m) => dispatch((m as MessageEvent<string>).data, watchers));
}

function release(): void {
  users--;
  if (users === 0 && source) {
    source.close();
    source = null;
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
