// Gateway events carry text from errors (a refused downlink's reason, a failed scene's decoder
// message) that can be any length. The server refuses an event longer than the protocol allows —
// and with it the whole batch it travels in — so the event log clips text when it raises one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { EventLog } from '../../gateway/events.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { EVENT_TEXT_MAX, GatewayEvent } from '../../protocol/sync.ts';
import { validator } from '../../protocol/validate.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-events-'));
const store = new GatewayStore(join(dir, 'gateway.db'));
const events = new EventLog(store, pino({ level: 'silent' }));
const valid = validator(GatewayEvent);
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The events queued for the server, as it will receive them. */
const queued = () =>
  store
    .peekOutbox(1000)
    .filter((r) => r.kind === 'event')
    .map((r) => JSON.parse(r.body) as unknown);

describe('gateway events', () => {
  it('queues short text as it is', () => {
    const e = events.raise({
      type: 'downlink_refused',
      severity: 'critical',
      message: 'refused model x@2: signature does not verify',
      detail: { kind: 'model', id: 'x@2', version: 7, code: 'HATAKE_E_SIGNATURE' },
    });
    expect(e.message).toBe('refused model x@2: signature does not verify');
    expect(e.detail).toEqual({ kind: 'model', id: 'x@2', version: 7, code: 'HATAKE_E_SIGNATURE' });
    expect(queued().at(-1)).toEqual(e);
    expect(valid.check(e)).toBe(true);
  });

  it('clips an over-long message and detail strings so the server takes the event', () => {
    const long = `scene s1 could not be processed: ${'なぜ'.repeat(3000)}`;
    const e = events.raise({
      type: 'downlink_refused',
      severity: 'warning',
      message: long,
      detail: { kind: 'scene', id: 's1', version: 3, reason: long, ok: true, none: null },
    });
    expect(e.message).toHaveLength(EVENT_TEXT_MAX);
    expect(e.message.endsWith('…')).toBe(true);
    expect(long.startsWith(e.message.slice(0, -1))).toBe(true);
    expect(e.detail).toEqual({
      kind: 'scene',
      id: 's1',
      version: 3,
      reason: e.message,
      ok: true,
      none: null,
    });
    const sent = queued().at(-1);
    expect(sent).toEqual(e);
    expect(valid.problems(sent)).toEqual([]);
    expect(events.recent[0]).toEqual(e);
  });
});
