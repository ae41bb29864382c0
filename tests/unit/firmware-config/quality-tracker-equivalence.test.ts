// The quality tracker computes its flags without copying the history (it runs for every reading
// the gateway ingests). Property: on any sequence of readings — repeated and jittering values,
// resent times, skewed clocks, readings that already carry flags, more series than it remembers —
// it flags exactly what the straightforward definition below (slice the window, sort for the
// median, a set of flags) flags, returns the same reading object when nothing changes, and keeps
// the same counters.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { QualityTracker, type QualityTrackerOptions } from '../../../firmware-config/quality-tracker.ts';
import type { Kit } from '../../../protocol/kit.ts';
import type { QualityFlag, Reading } from '../../../protocol/telemetry.ts';
import { catalogue } from './helpers.ts';

/** The definition: what the tracker flags, written plainly. */
class ReferenceTracker {
  private readonly series = new Map<string, { values: number[]; times: number[] }>();
  readonly counters = { evicted: 0, flagged: 0 };
  private readonly maxSeries: number;
  private readonly history: number;
  private readonly futureSkewMs: number;
  private readonly pastSkewMs: number;

  constructor(opts: QualityTrackerOptions) {
    this.maxSeries = opts.maxSeries ?? 10_000;
    this.history = opts.history ?? 5;
    this.futureSkewMs = opts.futureSkewMs ?? 5 * 60_000;
    this.pastSkewMs = opts.pastSkewMs ?? 7 * 24 * 3_600_000;
  }

  get size(): number {
    return this.series.size;
  }

  assess(readings: readonly Reading[], kit: Kit, receivedAt: number): Reading[] {
    const median = (xs: readonly number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    };
    return readings.map((r) => {
      const flags = new Set<QualityFlag>(r.flags);
      if (r.time > receivedAt + this.futureSkewMs || r.time < receivedAt - this.pastSkewMs)
        flags.add('clock_skew');
      const key = `${r.device}\u0000${r.metric}`;
      let s = this.series.get(key);
      if (s) this.series.delete(key);
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

const probe = catalogue().require('hatake-soil-probe');
const FLAGS: QualityFlag[] = ['out_of_range', 'spike', 'stuck', 'duplicate', 'clock_skew'];

const arbitraryKit = fc
  .record({
    stuckCount: fc.option(fc.integer({ min: 2, max: 9 }), { nil: undefined }),
    maxStep: fc.option(fc.constantFrom(0.01, 0.05, 0.3), { nil: undefined }),
    resolution: fc.option(fc.constantFrom(0.001, 0.01, 0.1), { nil: undefined }),
  })
  .map(({ stuckCount, maxStep, resolution }): Kit => ({
    ...probe,
    metrics: {
      ...probe.metrics,
      soil_vwc: { unit: 'm3/m3', min: 0, max: 0.6, stuckCount, maxStep, resolution },
    },
  }));

const arbitraryStep = fc.record({
  device: fc.constantFrom('a', 'b', 'c', 'd'),
  metric: fc.constantFrom('soil_vwc', 'soil_temperature'),
  // Few distinct values, so runs of one value (stuck), near values (within the resolution) and
  // jumps (spikes) all happen; -0 and 0 too.
  value: fc.oneof(
    fc.constantFrom(0, -0, 0.2, 0.2004, 0.2005, 0.21, 0.5, 12.5),
    fc.double({ min: -1, max: 1, noNaN: true }),
  ),
  // Times repeat (resends) and run ahead of or far behind the clock (skew).
  time: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(-10_000_000, 10_000_000)),
  flags: fc.subarray(FLAGS, { maxLength: 2 }).chain((f) => fc.constantFrom(f, [...f, ...f])),
  advance: fc.integer({ min: 0, max: 2 }),
});

describe('quality tracker', () => {
  it('flags exactly what the plain definition flags, on any sequence of readings', () => {
    fc.assert(
      fc.property(
        arbitraryKit,
        fc.record({
          maxSeries: fc.integer({ min: 1, max: 6 }),
          history: fc.integer({ min: 1, max: 7 }),
        }),
        fc.array(arbitraryStep, { minLength: 1, maxLength: 120 }),
        (kit, opts, steps) => {
          const options = { ...opts, futureSkewMs: 5_000_000, pastSkewMs: 5_000_000 };
          const fast = new QualityTracker(options);
          const plain = new ReferenceTracker(options);
          let now = 0;
          for (const s of steps) {
            now += s.advance;
            const r: Reading = {
              device: s.device,
              metric: s.metric,
              value: s.value,
              unit: 'm3/m3',
              time: s.time * 1000,
              flags: [...s.flags],
            };
            const [got] = fast.assess([r], kit, now * 1000);
            const [want] = plain.assess([r], kit, now * 1000);
            expect(got).toEqual(want);
            expect(got === r).toBe(want === r);
          }
          expect(fast.counters).toEqual(plain.counters);
          expect(fast.size).toBe(plain.size);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('flags a long stuck run of the soil probe (stuckCount 180) and clears it on the next change', () => {
    const t = new QualityTracker({ clock: () => 0 });
    const plain = new ReferenceTracker({});
    const flags: QualityFlag[][] = [];
    for (let i = 0; i < 400; i++) {
      const value = i === 300 ? 0.25 : 0.2;
      const r: Reading = {
        device: 'p',
        metric: 'soil_vwc',
        value,
        unit: 'm3/m3',
        time: i * 60_000,
        flags: [],
      };
      const got = t.assess([r], probe, i * 60_000)[0]!;
      expect(got).toEqual(plain.assess([r], probe, i * 60_000)[0]);
      flags.push(got.flags);
    }
    expect(flags.slice(0, 179).every((f) => f.length === 0)).toBe(true);
    expect(flags.slice(179, 300).every((f) => f.includes('stuck'))).toBe(true);
    expect(flags[300]).toEqual([]); // the change itself (0.05 is no spike for maxStep 0.15)
    expect(flags[301]).toEqual([]); // 0.2 again, but the window holds 0.25
  });
});
