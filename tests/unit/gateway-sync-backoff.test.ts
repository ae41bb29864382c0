// The uplink's retry wait: 500 ms doubling with each consecutive failure, capped (60 s unless
// configured), with "equal jitter" — between half the step and the whole of it. Checked on the
// pure function over 0..20 failures with Math.random at both ends of its range, then on a real
// SyncClient (fake timers, a fetch that fails) that retries exactly when the function says and
// starts again from the bottom after a success.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { GatewayStore } from '../../gateway/store.ts';
import { SyncClient, syncBackoffMs } from '../../gateway/sync-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-sync-backoff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** [failures, shortest wait, longest wait] in ms, written out: 500 · 2^n, halved for the low end. */
const TABLE: [number, number, number][] = [
  [0, 250, 500],
  [1, 500, 1_000],
  [2, 1_000, 2_000],
  [3, 2_000, 4_000],
  [4, 4_000, 8_000],
  [5, 8_000, 16_000],
  [6, 16_000, 32_000],
  // 500 · 2^7 = 64 s is past the 60 s cap: from here on the step is the cap.
  ...Array.from({ length: 14 }, (_, i): [number, number, number] => [7 + i, 30_000, 60_000]),
];

describe('syncBackoffMs', () => {
  it('waits half the step when Math.random gives 0 and the whole step when it gives 1, 0..20 failures', () => {
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValue(0);
    const low = TABLE.map(([n]) => syncBackoffMs(n));
    random.mockReturnValue(1);
    const high = TABLE.map(([n]) => syncBackoffMs(n));
    expect(low).toEqual(TABLE.map(([, lo]) => lo));
    expect(high).toEqual(TABLE.map(([, , hi]) => hi));
    expect(random).toHaveBeenCalledTimes(2 * TABLE.length);
  });

  it('doubles with each failure until the cap, then stays at the cap', () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const waits = Array.from({ length: 21 }, (_, n) => syncBackoffMs(n));
    for (let n = 1; n < waits.length; n++) {
      if (waits[n - 1]! * 2 <= 60_000) expect(waits[n], `failure ${n}`).toBe(waits[n - 1]! * 2);
      else expect(waits[n], `failure ${n}`).toBe(60_000);
    }
    expect(Math.max(...waits)).toBe(60_000);
  });

  it('keeps any jitter inside [step / 2, step]', () => {
    for (const r of [0.25, 0.5, 0.999_999]) {
      vi.spyOn(Math, 'random').mockReturnValue(r);
      for (const [n, lo, hi] of TABLE) {
        const w = syncBackoffMs(n);
        expect(w, `failures ${n}, random ${r}`).toBeGreaterThanOrEqual(lo);
        expect(w, `failures ${n}, random ${r}`).toBeLessThanOrEqual(hi);
      }
      vi.restoreAllMocks();
    }
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    expect(syncBackoffMs(3)).toBe(3_000); // 2000 + 0.5 · 2000
  });

  it('honours a configured cap, below and above the default', () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    expect([2, 3, 4, 20].map((n) => syncBackoffMs(n, 5_000))).toEqual([2_000, 4_000, 5_000, 5_000]);
    // The largest cap the configuration allows (an hour) is reached too; the exponent stops at 2^16.
    expect(syncBackoffMs(12, 3_600_000)).toBe(500 * 2 ** 12);
    expect(syncBackoffMs(20, 3_600_000)).toBe(3_600_000);
  });
});

describe('SyncClient retries', () => {
  it('retries when the backoff says, not before, and starts again from the bottom after a success', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const store = new GatewayStore(join(dir, 'retry.db'));
    const lines: { msg: string; retryInMs?: number }[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    let calls = 0;
    let failFrom = 0; // calls before this one succeed
    let failUntil = 9; // calls from this one on succeed
    const fakeFetch = (async () => {
      const n = calls++;
      if (n >= failFrom && n < failUntil) throw new TypeError('fetch failed');
      return new Response(
        JSON.stringify({ gateway: 'gw-b', ackedSeq: n, applied: 1, duplicates: 0, serverTime: Date.now() }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    }) as typeof fetch;
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-b',
        url: 'http://127.0.0.1:9',
        token: 't',
        intervalMs: 1_000,
        batchMaxItems: 10,
        fetch: fakeFetch,
      },
      log,
    );
    const retryWaits = () => lines.filter((l) => l.msg === 'sync failed; will retry').map((l) => l.retryInMs);
    try {
      store.enqueue('event', { id: 'e1' }, Date.now());
      sync.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(calls).toBe(1);
      // Nine failures in a row: each retry comes exactly after the wait logged for it.
      for (let i = 0; i < 8; i++) {
        const wait = retryWaits().at(-1)!;
        await vi.advanceTimersByTimeAsync(wait - 1);
        expect(calls, `retry ${i + 1} came early`).toBe(i + 1);
        await vi.advanceTimersByTimeAsync(1);
        expect(calls, `retry ${i + 1} did not come`).toBe(i + 2);
      }
      expect(sync.status.consecutiveFailures).toBe(9);
      // With Math.random at 0: half of 500 · 2^failures, capped at 60 s.
      expect(retryWaits()).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);

      // The tenth try succeeds: the row leaves the outbox and the count of failures resets.
      await vi.advanceTimersByTimeAsync(30_000);
      expect(calls).toBe(10);
      expect(sync.status.consecutiveFailures).toBe(0);
      expect(store.outboxDepth()).toBe(0);

      // A new failure waits the shortest step again; a smaller cap sent down is honoured.
      sync.configure({ intervalMs: 1_000, batchMaxItems: 10, backoffCapMs: 2_000 });
      failFrom = calls;
      failUntil = Infinity;
      store.enqueue('event', { id: 'e2' }, Date.now());
      sync.kick();
      await vi.advanceTimersByTimeAsync(1_000);
      for (let i = 0; i < 3; i++) await vi.advanceTimersByTimeAsync(retryWaits().at(-1)!);
      expect(retryWaits().slice(9)).toEqual([500, 1_000, 1_000, 1_000]);
    } finally {
      await sync.stop();
      store.close();
    }
  });
});
