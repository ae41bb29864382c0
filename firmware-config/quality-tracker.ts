// Quality flags that need memory: a spike (far from the median of the recent readings), a stuck
// value (the same reading again and again), a duplicate (a reading for a time already seen), and
// clock skew (a device time far from the gateway's). The gateway holds one tracker; it is pure
// (no timers, an injectable clock) and bounded: at most `maxSeries` device+metric series, the
// least recently seen evicted first.
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
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export class QualityTracker {
  private readonly series = new Map<string, Series>();
  private readonly maxSeries: number;
  private readonly history: number;
  private readonly clock: () => number;
  private readonly futureSkewMs: number;
  private readonly pastSkewMs: number;
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
    return readings.map((r) => {
      const flags = new Set<QualityFlag>(r.flags);
      if (r.time > receivedAt + this.futureSkewMs || r.time < receivedAt - this.pastSkewMs)
        flags.add('clock_skew');
      const key = `${r.device}\u0000${r.metric}`;
      let s = this.series.get(key);
      if (s)
        this.series.delete(key); // re-insert: Map order is the LRU order
      else s = { values: [], times: [] };
      this.series.set(key, s);
      if (this.series.size > this.maxSeries) {
        this.series.delete(this.series.keys().next().value!);
        this.counters.evicted++;
      }
      if (s.times.includes(r.time)) {
        flags.add('duplicate');
      } else {
        const m = kit.metrics[r.metric];
        if (
          m?.maxStep !== undefined &&
          s.values.length >= 3 &&
          Math.abs(r.value - median(s.values.slice(-this.history))) > m.maxStep
        ) {
          flags.add('spike');
        }
        if (m?.stuckCount !== undefined && s.values.length >= m.stuckCount - 1) {
          const tol = (m.resolution ?? 0) / 2;
          if (s.values.slice(-(m.stuckCount - 1)).every((v) => Math.abs(v - r.value) <= tol))
            flags.add('stuck');
        }
        const keep = Math.max(this.history, m?.stuckCount ?? 0);
        s.values.push(r.value);
        s.times.push(r.time);
        if (s.values.length > keep) {
          s.values.splice(0, s.values.length - keep);
          s.times.splice(0, s.times.length - keep);
        }
      }
      if (flags.size === r.flags.length) return r;
      this.counters.flagged++;
      return { ...r, flags: [...flags] };
    });
  }
}
