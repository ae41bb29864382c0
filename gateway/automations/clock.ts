// The time source of the automation engine: the current time and one-shot timers, injected so
// the engine runs on the gateway's corrected clock in production and on a hand-driven clock in
// tests (minutes of valve time pass in microseconds of test time).

/** What the engine needs of time: now, and a timer it can cancel. */
export interface EngineClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers cap a delay at 2^31−1 ms; a longer wait is taken in steps. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The real clock (optionally corrected, e.g. by the gateway's offset to the server) and real timers. */
export function systemClock(now: () => number = Date.now): EngineClock {
  return {
    now,
    setTimeout(fn, ms) {
      const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
      // The gateway lives for its broker and HTTP server; a pending deadline must not hold a stop.
      t.unref();
      return t;
    },
    clearTimeout(handle) {
      clearTimeout(handle as NodeJS.Timeout);
    },
  };
}
