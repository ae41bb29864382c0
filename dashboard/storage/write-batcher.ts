// Batched writes with group commit, backpressure, retries and a deadline — for a store (InfluxDB)
// that wants few large writes, behind an endpoint (sync) that must not acknowledge anything not
// yet stored. A caller's `submit` resolves only when every one of its points has been written,
// and rejects within `writeTimeoutMs` otherwise.
//
// When a write goes out: at once when no write is in flight (an idle store adds no latency);
// while writes are in flight, points gather until a free slot can send a full batch
// (`maxPoints`) or the oldest has waited `maxDelayMs` — so under load writes grow towards
// `maxPoints`, and at most `maxInFlight` run at once. `maxQueuedPoints` bounds what is held in
// memory: past it, new submissions are refused at once (the sync endpoint answers 503 and the
// gateway keeps its outbox) instead of queueing without end.
//
// What the store hears of the outcome (onFailure, onSuccess) is what its callers saw: a caller
// rejected — its write failed for good, or its deadline passed first — is a failure; a write
// confirmed in time for a caller still waiting is a success. A write confirmed only after every
// one of its callers had timed out is neither: InfluxDB took the points, but each sync was refused.
import { HatakeError } from '../../protocol/errors.ts';

export interface BatcherOptions<P> {
  maxPoints: number;
  maxDelayMs: number;
  maxInFlight: number;
  maxQueuedPoints: number;
  writeTimeoutMs: number;
  /** Writes one batch; throws on failure. */
  send(points: P[]): Promise<void>;
  /** Whether a failed write may succeed if tried again (network, timeouts, 5xx). */
  retryable(e: unknown): boolean;
  /**
   * Called when callers are rejected because their points were not written: a write failed for
   * good, or a caller's deadline passed before its points were confirmed.
   */
  onFailure(e: unknown): void;
  /** Called after a write succeeded in time for a caller waiting for it. */
  onSuccess(): void;
  /** Whether the store is known to be failing: then a write is tried once, without retries. */
  failing(): boolean;
}

interface Call {
  remaining: number;
  settled: boolean;
  /** Rejected by its deadline (not by a failed write). */
  timedOut: boolean;
  /** The last failed attempt at writing its points, if any: why the deadline passed. */
  lastError?: unknown;
  queuedAt: number;
  deadline: number;
  timer: NodeJS.Timeout;
  resolve(): void;
  reject(e: Error): void;
}

interface Segment<P> {
  call: Call;
  points: P[];
}

const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 2000;

export class WriteBatcher<P> {
  private readonly o: BatcherOptions<P>;
  private queue: Segment<P>[] = [];
  private queued = 0;
  private inFlightPoints = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(o: BatcherOptions<P>) {
    this.o = o;
  }

  /** Points accepted and not yet written or given up (queued and in flight). */
  get pendingPoints(): number {
    return this.queued + this.inFlightPoints;
  }

  /** Whether new submissions are being refused for lack of room. */
  get full(): boolean {
    return this.pendingPoints >= this.o.maxQueuedPoints;
  }

  /** Resolves when all the points are written; rejects (HATAKE_E_STORAGE) when they cannot be. */
  submit(points: P[]): Promise<void> {
    if (this.closed) return Promise.reject(new HatakeError('HATAKE_E_STORAGE', 'the store is closing'));
    if (points.length === 0) return Promise.resolve();
    const pending = this.pendingPoints;
    if (pending > 0 && pending + points.length > this.o.maxQueuedPoints) {
      return Promise.reject(
        new HatakeError(
          'HATAKE_E_STORAGE',
          `write queue full (${pending} points waiting, limit ${this.o.maxQueuedPoints}); retry later`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const now = Date.now();
      const call: Call = {
        remaining: 0,
        settled: false,
        timedOut: false,
        queuedAt: now,
        deadline: now + this.o.writeTimeoutMs,
        timer: setTimeout(() => this.expire(call), this.o.writeTimeoutMs),
        resolve,
        reject,
      };
      for (let i = 0; i < points.length; i += this.o.maxPoints) {
        this.queue.push({ call, points: points.slice(i, i + this.o.maxPoints) });
        call.remaining++;
      }
      this.queued += points.length;
      this.pump();
    });
  }

  /** Stops taking points and waits until what was accepted is written or given up. */
  async close(): Promise<void> {
    this.closed = true;
    // Points still waiting for company go out now.
    this.pump(true);
    while (this.inFlight > 0 || this.queued > 0) {
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
    clearTimeout(this.timer);
  }

  private pump(force = false): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight < this.o.maxInFlight && this.queued > 0) {
      const oldest = this.queue[0]!.call.queuedAt;
      const due =
        force ||
        this.closed ||
        this.inFlight === 0 ||
        this.queued >= this.o.maxPoints ||
        Date.now() - oldest >= this.o.maxDelayMs;
      if (!due) {
        this.timer = setTimeout(() => this.pump(), Math.max(1, oldest + this.o.maxDelayMs - Date.now()));
        break;
      }
      this.launch(this.take());
    }
    if (this.inFlight === 0 && this.queued === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Takes up to maxPoints from the head of the queue, splitting a segment if needed. */
  private take(): Segment<P>[] {
    const chunk: Segment<P>[] = [];
    let n = 0;
    while (this.queue.length > 0 && n < this.o.maxPoints) {
      const seg = this.queue[0]!;
      const room = this.o.maxPoints - n;
      if (seg.points.length <= room) {
        this.queue.shift();
        chunk.push(seg);
        n += seg.points.length;
      } else {
        chunk.push({ call: seg.call, points: seg.points.slice(0, room) });
        seg.points = seg.points.slice(room);
        seg.call.remaining++;
        n += room;
      }
    }
    this.queued -= n;
    return chunk;
  }

  private launch(chunk: Segment<P>[]): void {
    const n = chunk.reduce((a, s) => a + s.points.length, 0);
    this.inFlight++;
    this.inFlightPoints += n;
    void this.run(chunk).finally(() => {
      this.inFlight--;
      this.inFlightPoints -= n;
      this.pump();
    });
  }

  private async run(chunk: Segment<P>[]): Promise<void> {
    const triedOnceOnly = this.o.failing();
    for (let attempt = 0; ; attempt++) {
      const live = chunk.filter((s) => !s.call.settled);
      if (live.length === 0) return;
      try {
        await this.o.send(live.flatMap((s) => s.points));
      } catch (e) {
        // What a caller whose deadline passes meanwhile is told went wrong (InfluxDB's 5xx, say).
        for (const s of live) s.call.lastError = e;
        const wait = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
        const latest = Math.max(...live.map((s) => s.call.deadline));
        if (!triedOnceOnly && this.o.retryable(e) && Date.now() + wait < latest) {
          await new Promise((r) => setTimeout(r, wait));
          continue;
        }
        // Callers whose deadline passed meanwhile were rejected, and reported, by expire().
        if (live.some((s) => !s.call.settled)) this.o.onFailure(e);
        const err = new HatakeError('HATAKE_E_STORAGE', `write failed: ${describeError(e)}`, { cause: e });
        for (const s of live) this.fail(s.call, err);
        return;
      }
      // Confirmed after the deadline of every caller it carried: each of them was refused.
      if (!live.every((s) => s.call.timedOut)) this.o.onSuccess();
      for (const s of live) {
        if (--s.call.remaining === 0 && !s.call.settled) {
          s.call.settled = true;
          clearTimeout(s.call.timer);
          s.call.resolve();
        }
      }
      return;
    }
  }

  /** A call's deadline passed before all its points were written: a failure, as the caller sees it. */
  private expire(call: Call): void {
    if (call.settled) return;
    call.timedOut = true;
    const e = new HatakeError(
      'HATAKE_E_STORAGE',
      `the write was not confirmed within ${this.o.writeTimeoutMs} ms`,
      call.lastError === undefined ? {} : { cause: call.lastError },
    );
    this.o.onFailure(e);
    this.fail(call, e);
  }

  /** Rejects a call and drops its points that have not gone out yet. */
  private fail(call: Call, e: Error): void {
    if (call.settled) return;
    call.settled = true;
    clearTimeout(call.timer);
    const before = this.queue.length;
    if (before > 0) {
      this.queue = this.queue.filter((s) => {
        if (s.call !== call) return true;
        this.queued -= s.points.length;
        return false;
      });
    }
    call.reject(e);
    if (this.queue.length !== before) this.pump();
  }
}

/** A one-line reason from whatever a client library threw. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    const msg = e.message || e.name;
    return code && !msg.includes(code) ? `${code} ${msg}` : msg;
  }
  return String(e);
}
