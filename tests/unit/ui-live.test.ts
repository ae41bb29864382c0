// The web app's live stream (dashboard/ui/live.ts) as a state machine on fake timers: the events it
// reads from the stream's text however it is cut into chunks; a stream that keeps bringing the
// server's heartbeats stays open; one that goes silent for longer than the heartbeat plus a margin
// is dropped, the page is told it is reconnecting, a new stream is opened (and once it is, the
// listeners reload); failures back off. The heartbeat is the server's own (protocol LIVE_HEARTBEAT_MS).
// A reconnect answered 401 (the server ended the stream because the session ended) stops it for good.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  LiveConnection,
  RETRY_MS,
  SERVER_HEARTBEAT_MS,
  STALE_AFTER_MS,
  type LiveState,
  type OpenStream,
  type StreamHandlers,
} from '../../dashboard/ui/live.ts';

interface FakeStream {
  h: StreamHandlers;
  aborted: boolean;
}

/** A server the connection opens streams on, and what the connection told its listener. */
function setup() {
  const streams: FakeStream[] = [];
  const open: OpenStream = (h) => {
    const s: FakeStream = { h, aborted: false };
    streams.push(s);
    return () => {
      s.aborted = true;
    };
  };
  const states: LiveState[] = [];
  const events: [string, string][] = [];
  let reconnects = 0;
  let signedOut = 0;
  const conn = new LiveConnection(open, {
    state: (s) => states.push(s),
    event: (type, data) => events.push([type, data]),
    reconnected: () => reconnects++,
    signedOut: () => signedOut++,
  });
  return {
    conn,
    streams,
    states,
    events,
    reconnects: () => reconnects,
    signedOut: () => signedOut,
    last: () => streams.at(-1)!,
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the live stream', () => {
  it('reads events however the text is cut, and skips comments', () => {
    const t = setup();
    t.conn.start();
    t.last().h.open();
    const text =
      ': hatake live\n\n' +
      'event: reading\ndata: {"farm":"f","value":1}\n\n' +
      ': keep-alive\n\n' +
      'event: change\r\ndata: {"farm":"f","kind":"tip","id":"x"}\r\n\r\n';
    for (const chunk of [text.slice(0, 7), text.slice(7, 40), text.slice(40, 41), text.slice(41)])
      t.last().h.data(chunk);
    expect(t.events).toEqual([
      ['reading', '{"farm":"f","value":1}'],
      ['change', '{"farm":"f","kind":"tip","id":"x"}'],
    ]);
    expect(t.conn.state).toBe('open');
    t.conn.stop();
  });

  it('stays open for as long as the heartbeats come, with no event at all', () => {
    const t = setup();
    t.conn.start();
    expect(t.conn.state).toBe('connecting');
    t.last().h.open();
    t.last().h.data(': hatake live\n\n');
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(SERVER_HEARTBEAT_MS);
      t.last().h.data(': keep-alive\n\n');
    }
    expect(t.states).toEqual(['open']);
    expect(t.streams).toHaveLength(1);
    expect(t.last().aborted).toBe(false);
    t.conn.stop();
    expect(t.last().aborted).toBe(true);
  });

  it('says it is reconnecting when the stream goes silent past the heartbeat and its margin, and opens a new one', () => {
    const t = setup();
    t.conn.start();
    t.last().h.open();
    vi.advanceTimersByTime(SERVER_HEARTBEAT_MS);
    t.last().h.data(': keep-alive\n\n');
    // Silent from here: one heartbeat missed is not enough (a slow link), the margin past it is.
    vi.advanceTimersByTime(STALE_AFTER_MS - 1);
    expect(t.conn.state).toBe('open');
    expect(STALE_AFTER_MS).toBeGreaterThan(SERVER_HEARTBEAT_MS);
    vi.advanceTimersByTime(1);
    expect(t.conn.state).toBe('reconnecting');
    expect(t.streams[0]!.aborted).toBe(true);
    // A new stream after the first wait, and the old one's late words are not listened to.
    expect(t.streams).toHaveLength(1);
    vi.advanceTimersByTime(RETRY_MS[0]!);
    expect(t.streams).toHaveLength(2);
    t.streams[0]!.h.data('event: change\ndata: {"farm":"f","kind":"tip","id":"old"}\n\n');
    t.streams[0]!.h.open();
    expect(t.events).toEqual([]);
    expect(t.conn.state).toBe('reconnecting');
    expect(t.reconnects()).toBe(0);
    t.last().h.open();
    expect(t.conn.state).toBe('open');
    expect(t.reconnects()).toBe(1); // the listeners reload what they may have missed
    expect(t.states).toEqual(['open', 'reconnecting', 'open']);
    t.conn.stop();
  });

  it('gives up on a request that is never answered, as on a silent stream', () => {
    const t = setup();
    t.conn.start();
    vi.advanceTimersByTime(STALE_AFTER_MS);
    expect(t.streams[0]!.aborted).toBe(true);
    expect(t.conn.state).toBe('connecting'); // never open yet: not "reconnecting"
    vi.advanceTimersByTime(RETRY_MS[0]!);
    expect(t.streams).toHaveLength(2);
    t.last().h.open();
    expect(t.conn.state).toBe('open');
    expect(t.reconnects()).toBe(0);
    t.conn.stop();
  });

  it('backs off while the server cannot be reached, and starts over once a stream opens', () => {
    const t = setup();
    t.conn.start();
    t.last().h.open();
    const waits: number[] = [];
    for (let i = 0; i < RETRY_MS.length + 1; i++) {
      t.last().h.fail();
      const n = t.streams.length;
      let waited = 0;
      while (t.streams.length === n) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      waits.push(waited);
    }
    expect(waits).toEqual([...RETRY_MS, RETRY_MS.at(-1)]);
    expect(t.conn.state).toBe('reconnecting');
    t.last().h.open();
    t.last().h.fail();
    expect(t.streams).toHaveLength(RETRY_MS.length + 2);
    vi.advanceTimersByTime(RETRY_MS[0]!);
    expect(t.streams).toHaveLength(RETRY_MS.length + 3);
    t.conn.stop();
    vi.advanceTimersByTime(60_000);
    expect(t.streams).toHaveLength(RETRY_MS.length + 3); // stopped: no stream is opened again
  });

  it('stops for good when the server ends the stream and the reconnect is answered 401', () => {
    const t = setup();
    t.conn.start();
    t.last().h.open();
    // The session ended: the server's last event, then the stream closes.
    t.last().h.data('event: end\ndata: {"reason":"session-ended"}\n\n');
    t.last().h.fail();
    expect(t.conn.state).toBe('reconnecting');
    vi.advanceTimersByTime(RETRY_MS[0]!);
    expect(t.streams).toHaveLength(2);
    t.last().h.fail(401);
    expect(t.signedOut()).toBe(1); // the app goes back to the sign-in form
    expect(t.last().aborted).toBe(true);
    vi.advanceTimersByTime(10 * (STALE_AFTER_MS + RETRY_MS.at(-1)!));
    expect(t.streams).toHaveLength(2); // no third attempt, however long the page stays
    expect(t.signedOut()).toBe(1);

    // Signed in again, the same connection starts over.
    t.conn.start();
    expect(t.streams).toHaveLength(3);
    t.last().h.open();
    expect(t.conn.state).toBe('open');
    t.conn.stop();
  });

  it('keeps retrying on refusals other than 401 (too many streams, a server error)', () => {
    const t = setup();
    t.conn.start();
    for (const [i, status] of [429, 503, 502].entries()) {
      const n = t.streams.length;
      t.last().h.fail(status);
      vi.advanceTimersByTime(RETRY_MS[i]!);
      expect(t.streams.length, String(status)).toBe(n + 1);
    }
    expect(t.signedOut()).toBe(0);
    t.conn.stop();
  });
});
