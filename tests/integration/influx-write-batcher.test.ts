// The write batcher the InfluxDB store relies on, against a sink whose writes the test completes
// or fails by hand: when writes go out (at once when idle, full batches or aged points while
// busy), that a caller is answered only when all its points are written, retries, deadlines,
// backpressure and close. (The same batcher against a real influxd: influx-store.test.ts.)
import { describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import { WriteBatcher, type BatcherOptions } from '../../dashboard/storage/write-batcher.ts';

interface Write {
  points: number[];
  at: number;
  ok(): void;
  fail(e: unknown): void;
}

/** A batcher over a sink that records each write and leaves it open until the test settles it. */
function setup(over: Partial<BatcherOptions<number>> = {}) {
  const writes: Write[] = [];
  const failures: unknown[] = [];
  let failing = false;
  const b = new WriteBatcher<number>({
    maxPoints: 100,
    maxDelayMs: 200,
    maxInFlight: 2,
    maxQueuedPoints: 1000,
    writeTimeoutMs: 2000,
    send: (points) =>
      new Promise<void>((ok, fail) => writes.push({ points, at: Date.now(), ok: () => ok(), fail })),
    retryable: (e) => (e as { retry?: boolean }).retry === true,
    onFailure: (e) => {
      failures.push(e);
      failing = true;
    },
    onSuccess: () => {
      failing = false;
    },
    failing: () => failing,
    ...over,
  });
  return { b, writes, failures };
}
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const state = (p: Promise<unknown>) => {
  const s = { settled: false, error: undefined as unknown };
  p.then(
    () => (s.settled = true),
    (e: unknown) => ((s.settled = true), (s.error = e)),
  );
  return s;
};

describe('write batcher', () => {
  it('sends at once when nothing is in flight', async () => {
    const { b, writes } = setup();
    const done = state(b.submit(range(0, 10)));
    await tick();
    expect(writes.map((w) => w.points)).toEqual([range(0, 10)]);
    expect(done.settled).toBe(false);
    writes[0]!.ok();
    await tick();
    expect(done).toEqual({ settled: true, error: undefined });
  });

  it('while a write is in flight, sends a full batch on a free slot at once and a partial one after maxDelayMs', async () => {
    const { b, writes } = setup({ maxDelayMs: 150 });
    void b.submit(range(0, 10));
    await tick();
    const t0 = Date.now();
    void b.submit(range(10, 30)); // 30 points: not full, not old — waits for company
    await tick(50);
    expect(writes).toHaveLength(1);
    void b.submit(range(40, 80)); // now 110 waiting: a full batch goes to the free slot
    await tick();
    expect(writes).toHaveLength(2);
    expect(writes[1]!.points).toEqual(range(10, 100));
    // The 10 left over go out once they have waited maxDelayMs — but both slots are busy, so
    // they wait for one to free.
    await tick(200);
    expect(writes).toHaveLength(2);
    writes[0]!.ok();
    await tick();
    expect(writes).toHaveLength(3);
    expect(writes[2]!.points).toEqual(range(110, 10));
    expect(writes[2]!.at - t0).toBeGreaterThanOrEqual(150);
  });

  it('answers a caller only when every chunk of its points is written, and rejects it if one fails', async () => {
    const { b, writes } = setup({ maxPoints: 10, maxInFlight: 3, maxDelayMs: 50 });
    const done = state(b.submit(range(0, 25)));
    await tick();
    // Two full chunks at once; the last five wait maxDelayMs for company, then go too.
    expect(writes.map((w) => w.points.length)).toEqual([10, 10]);
    await tick(80);
    expect(writes.map((w) => w.points.length)).toEqual([10, 10, 5]);
    writes[0]!.ok();
    writes[2]!.ok();
    await tick();
    expect(done.settled).toBe(false);
    writes[1]!.fail(new Error('400 field type conflict'));
    await tick();
    expect(done.error).toBeInstanceOf(HatakeError);
    expect((done.error as HatakeError).code).toBe('HATAKE_E_STORAGE');
    expect((done.error as HatakeError).message).toContain('field type conflict');
  });

  it('retries a retryable failure with back-off and answers when it succeeds', async () => {
    const { b, writes, failures } = setup();
    const done = state(b.submit(range(0, 5)));
    await tick();
    writes[0]!.fail({ retry: true, message: 'ECONNRESET' });
    await tick(30);
    expect(writes).toHaveLength(1); // backing off
    await tick(150);
    expect(writes).toHaveLength(2);
    expect(writes[1]!.points).toEqual(range(0, 5));
    writes[1]!.ok();
    await tick();
    expect(done).toEqual({ settled: true, error: undefined });
    expect(failures).toEqual([]);
  });

  it('once writes are known to fail, tries a new write once instead of retrying until the deadline', async () => {
    const { b, writes, failures } = setup({ writeTimeoutMs: 400 });
    const first = state(b.submit([1]));
    // Retries until the next back-off would pass the deadline.
    for (let i = 0; i < 20 && !first.settled; i++) {
      await tick(20);
      writes.at(-1)?.fail({ retry: true, message: 'ECONNREFUSED' });
    }
    await tick(50);
    expect(first.error).toBeInstanceOf(HatakeError);
    expect(writes.length).toBeGreaterThan(1);
    expect(failures).toHaveLength(1);
    const before = writes.length;
    const second = state(b.submit([2]));
    await tick();
    writes.at(-1)!.fail({ retry: true, message: 'ECONNREFUSED' });
    await tick(300);
    expect(second.error).toBeInstanceOf(HatakeError);
    expect(writes.length).toBe(before + 1);
  });

  it('rejects at the deadline when a write never returns, and drops its points that had not gone out', async () => {
    const { b, writes } = setup({ maxInFlight: 1, writeTimeoutMs: 200 });
    const stuck = state(b.submit(range(0, 10)));
    const waiting = state(b.submit(range(10, 10)));
    await tick();
    expect(writes).toHaveLength(1);
    expect(b.pendingPoints).toBe(20);
    await tick(250);
    expect((stuck.error as HatakeError).message).toContain('not confirmed within 200 ms');
    expect((waiting.error as HatakeError).message).toContain('not confirmed within 200 ms');
    // The second caller's points never left the queue and are gone from it; the first's are
    // still on the wire (harmless: a resend rewrites the same points).
    expect(b.pendingPoints).toBe(10);
    writes[0]!.ok();
    await tick();
    expect(writes).toHaveLength(1);
    expect(b.pendingPoints).toBe(0);
  });

  it('refuses a submission at once when the queue is full, and takes one again when there is room', async () => {
    const { b, writes } = setup({ maxQueuedPoints: 150 });
    void b.submit(range(0, 100));
    void b.submit(range(100, 40));
    await tick();
    expect(b.full).toBe(false);
    const refused = await b.submit(range(200, 20)).then(
      () => undefined,
      (e: unknown) => e as HatakeError,
    );
    expect(refused?.message).toContain('write queue full (140 points waiting, limit 150)');
    writes[0]!.ok();
    await tick();
    const accepted = state(b.submit(range(200, 20)));
    await tick(250);
    for (const w of writes.slice(1)) w.ok();
    await tick();
    expect(accepted).toEqual({ settled: true, error: undefined });
  });

  it('takes a first submission larger than the queue limit when the queue is empty', async () => {
    const { b, writes } = setup({ maxQueuedPoints: 100, maxPoints: 100 });
    const done = state(b.submit(range(0, 250)));
    await tick();
    for (let i = 0; i < 3; i++) {
      writes[i]?.ok();
      await tick();
    }
    await tick();
    expect(writes.map((w) => w.points.length)).toEqual([100, 100, 50]);
    expect(done).toEqual({ settled: true, error: undefined });
  });

  it('on close, sends what waits, waits for it, and refuses new points', async () => {
    const { b, writes } = setup({ maxInFlight: 1 });
    const a = state(b.submit(range(0, 10)));
    const c = state(b.submit(range(10, 10)));
    const closed = state(b.close());
    await tick();
    expect(closed.settled).toBe(false);
    writes[0]!.ok();
    await tick();
    expect(writes[1]!.points).toEqual(range(10, 10));
    writes[1]!.ok();
    await tick();
    expect([a.settled, c.settled, closed.settled]).toEqual([true, true, true]);
    const late = await b.submit([1]).then(
      () => undefined,
      (e: unknown) => e as HatakeError,
    );
    expect(late?.message).toContain('closing');
  });
});
