// Quality flags that need memory: a spike (far from the median of the recent readings), a stuck
// value (the same reading again and again), a duplicate (a reading for a time already seen), and
// clock skew (a device time far from the gateway's). The gateway holds one tracker; it is pure
// (no timers, an injectable clock) and bounded: at most `maxSeries` device+metric series, the
// least recently seen evicted first.
//
// It runs for every reading the gateway ingests, so it allocates nothing per reading unless a
// flag is added: no slices of the history (a stuck window is up to 1000 values), no sets; and a
// series whose window is one repeated value (a stuck sensor) is checked with one comparison.
import type { Kit } from '../protocol/kit.ts';
import type { QualityFlag, Reading } from '../protocol/telemetry.ts';

export interface QualityTrackerOptions {
  /** Most device+metric series remembered (least recently seen evicted). */
  maxSeries?: number;
  /** Readings remembered per series for the spike median (at least the kit's stuckCount). */
  history?: number;
  clock?: () => number;
  /** A device time this far ahead of the gateway's is clock skew. */
  futureSkewMs?: number;
  /** A device time this far behind is clock skew (less may be a buffered reading sent late). */
  pastSkewMs?: number;
}

interface Series {
  values: number[];
  times: number[];
  /** How many of the last values are identical to the last one (a stuck sensor's run). */
  same: number;
  /** No time in `times` is later than this (times usually arrive in order: no search needed). */
  latest: number;
}

/** Where `xs.slice(-n)` starts in an array of `length` (the same rules, without the copy). */
const lastStart = (length: number, n: number): number => {
  const rel = -Math.trunc(n);
  return rel < 0 ? Math.max(length + rel, 0) : Math.min(rel, length);
};

export class QualityTracker {
  private readonly series = new Map<string, Series>();
  private readonly maxSeries: number;
  private readonly history: number;
  private readonly clock: () => number;
  private readonly futureSkewMs: number;
  private readonly pastSkewMs: number;
  /** Scratch space for the spike median (sorted in place, reused). */
  private readonly scratch: number[] = [];
  readonly counters = { evicted: 0, flagged: 0 };

  constructor(opts: QualityTrackerOptions = {}) {
    this.maxSeries = opts.maxSeries ?? 10_000;
    this.history = opts.history ?? 5;
    this.clock = opts.clock ?? Date.now;
    this.futureSkewMs = opts.futureSkewMs ?? 5 * 60_000;
    this.pastSkewMs = opts.pastSkewMs ?? 7 * 24 * 3_600_000;
  }

  get size(): number {
    return this.series.size;
  }

  /** Returns the readings with spike / stuck / duplicate / clock_skew flags added, and remembers them. */
  assess(readings: readonly Reading[], kit: Kit, receivedAt: number = this.clock()): Reading[] {
    const out: Reading[] = [];
    for (const r of readings) out.push(this.assessOne(r, kit, receivedAt));
    return out;
  }

  private assessOne(r: Reading, kit: Kit, receivedAt: number): Reading {
    const skew = r.time > receivedAt + this.futureSkewMs || r.time < receivedAt - this.pastSkewMs;
    const key = `${r.device}\u0000${r.metric}`;
    let s = this.series.get(key);
    if (s)
      this.series.delete(key); // re-insert: Map order is the LRU order
    else s = { values: [], times: [], same: 0, latest: -Infinity };
    this.series.set(key, s);
    if (this.series.size > this.maxSeries) {
      this.series.delete(this.series.keys().next().value!);
      this.counters.evicted++;
    }
    let duplicate = false;
    let spike = false;
    let stuck = false;
    const values = s.values;
    if (r.time <= s.latest && s.times.includes(r.time)) {
      duplicate = true;
    } else {
      const m = kit.metrics[r.metric];
      if (
        m?.maxStep !== undefined &&
        values.length >= 3 &&
        Math.abs(r.value - this.medianOfLast(values, this.history)) > m.maxStep
      ) {
        spike = true;
      }
      if (m?.stuckCount !== undefined && values.length >= m.stuckCount - 1) {
        const tol = (m.resolution ?? 0) / 2;
        const from = lastStart(values.length, m.stuckCount - 1);
        const window = values.length - from;
        if (window <= s.same) {
          // The whole window is one repeated value: one comparison decides.
          stuck = window === 0 || Math.abs(values[values.length - 1]! - r.value) <= tol;
        } else {
          stuck = true;
          for (let i = values.length - 1; i >= from; i--) {
            if (!(Math.abs(values[i]! - r.value) <= tol)) {
              stuck = false;
              break;
            }
          }
        }
      }
      const keep = Math.max(this.history, m?.stuckCount ?? 0);
      s.same = values.length > 0 && values[values.length - 1] === r.value ? s.same + 1 : 1;
      values.push(r.value);
      s.times.push(r.time);
      if (r.time > s.latest) s.latest = r.time;
      // shift() rather than splice(): no array of the removed values (trimmed by one per reading).
      while (values.length > keep) {
        values.shift();
        s.times.shift();
      }
      if (s.same > values.length) s.same = values.length;
    }
    if (!skew && !duplicate && !spike && !stuck && r.flags.length <= 1) return r;
    if (r.flags.length === 0) {
      const added: QualityFlag[] = [];
      if (skew) added.push('clock_skew');
      if (duplicate) added.push('duplicate');
      if (spike) added.push('spike');
      if (stuck) added.push('stuck');
      this.counters.flagged++;
      return { ...r, flags: added };
    }
    // The flags in the order they are added, each once (the reading's own first).
    const flags = new Set<QualityFlag>(r.flags);
    if (skew) flags.add('clock_skew');
    if (duplicate) flags.add('duplicate');
    if (spike) flags.add('spike');
    if (stuck) flags.add('stuck');
    if (flags.size === r.flags.length) return r;
    this.counters.flagged++;
    return { ...r, flags: [...flags] };
  }

  /** The median of the last `n` values (as `median(values.slice(-n))`), without allocating. */
  private medianOfLast(values: readonly number[], n: number): number {
    const s = this.scratch;
    const from = lastStart(values.length, n);
    const len = values.length - from;
    // Insertion sort into the scratch array: stable, like Array.prototype.sort with (a, b) => a - b.
    for (let i = 0; i < len; i++) {
      const x = values[from + i]!;
      let j = i - 1;
      while (j >= 0 && s[j]! - x > 0) {
        s[j + 1] = s[j]!;
        j--;
      }
      s[j + 1] = x;
    }
    const m = len >> 1;
    return len % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  }
}
