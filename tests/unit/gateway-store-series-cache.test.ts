// The rules' window is kept between evaluations and read on from where the last read ended
// (gateway/series-cache.ts). Whatever happens between two reads — readings in order, late ones
// inside the window, resends, readings dated minutes ahead, roll-ups reaching into the window,
// the clock going back — a read gives exactly what a fresh read of the file gives. And it is
// kept: a read after a minute's new readings reads those readings, not the window again.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { GatewayStore, SeriesColumns } from '../../gateway/store.ts';
import { SeriesCache } from '../../gateway/series-cache.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { tempStores } from '../helpers/store-rows.ts';

const { newStore, cleanUp } = tempStores('hatake-series-cache-');
afterAll(cleanUp);

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-07-01T00:00:00Z');
const AHEAD = 5 * MIN; // the engine's FUTURE_TOLERANCE_MS
const WINDOW: Record<string, number> = { soil_vwc: 6 * HOUR, air_temperature: 12 * HOUR };

/** The file's own answer: the rows of the range, read afresh. */
function truth(store: GatewayStore, device: string, metric: string, from: number, to: number) {
  const rows = store.db
    .prepare(
      `SELECT time, value, flags <> '[]' AS f, unit FROM readings
       WHERE device = ? AND metric = ? AND time > ? AND time <= ? ORDER BY time`,
    )
    .all(device, metric, from, to) as { time: number; value: number; f: number; unit: string }[];
  if (rows.length === 0) return undefined;
  return {
    device,
    metric,
    unit: rows[rows.length - 1]!.unit,
    time: rows.map((r) => r.time),
    value: rows.map((r) => r.value),
    flagged: rows.map((r) => r.f === 1),
  };
}
const plain = (s: SeriesColumns | undefined) => (s ? { ...s } : undefined);

const series = fc.record({
  device: fc.constantFrom('soil-1', 'ws-1'),
  metric: fc.constantFrom('soil_vwc', 'air_temperature'),
});
const op = fc.oneof(
  // Readings around the clock: most new, some late (inside the window), some minutes ahead.
  fc.record({
    op: fc.constant('readings' as const),
    rows: fc.array(
      fc.record({
        s: series,
        ago: fc.integer({ min: -10, max: 14 * 60 }), // minutes before now (negative: ahead)
        value: fc.double({ min: -5, max: 45, noNaN: true }),
        flagged: fc.boolean(),
        unit: fc.constantFrom('%', '°C', 'degC'),
      }),
      { minLength: 1, maxLength: 20 },
    ),
  }),
  fc.record({ op: fc.constant('resend' as const), take: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant('roll up' as const), ago: fc.integer({ min: 0, max: 16 * 60 }) }),
  fc.record({ op: fc.constant('clock' as const), minutes: fc.integer({ min: -30, max: 180 }) }),
  fc.record({ op: fc.constant('read' as const) }),
);

describe('the rules’ window kept between reads', () => {
  it('reads exactly what a fresh read of the file gives, whatever happened between', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
        const store = newStore();
        let now = T0;
        const sent: Reading[] = [];
        const read = () => {
          for (const device of ['soil-1', 'ws-1'])
            for (const metric of Object.keys(WINDOW)) {
              const from = now - WINDOW[metric]!;
              expect(plain(store.seriesColumns(device, metric, from, now + AHEAD))).toEqual(
                truth(store, device, metric, from, now + AHEAD),
              );
            }
        };
        try {
          for (const o of ops) {
            switch (o.op) {
              case 'readings': {
                const rs = o.rows.map((r) => ({
                  ...r.s,
                  time: now - r.ago * MIN,
                  value: r.value,
                  unit: r.unit,
                  flags: r.flagged ? ['spike' as const] : [],
                }));
                store.commit(rs, [], now);
                sent.push(...rs);
                break;
              }
              case 'resend':
                store.commit(sent.slice(-o.take), [], now);
                break;
              case 'roll up':
                store.rollUpOldest(now - o.ago * MIN, { budgetMs: Infinity });
                break;
              case 'clock':
                now += o.minutes * MIN;
                break;
              case 'read':
                read();
                break;
            }
          }
          read();
        } finally {
          store.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('reads on: after a minute’s readings only those are read; a late one has its series read again', () => {
    const store = newStore();
    try {
      let now = T0;
      const minute = (t: number): Reading[] =>
        ['soil-1', 'soil-2', 'soil-3'].map((device) => ({
          device,
          metric: 'soil_vwc',
          time: t,
          value: 30,
          unit: '%',
          flags: [],
        }));
      for (let t = now - 6 * HOUR; t <= now; t += MIN) store.commit(minute(t), [], now);
      const window = () =>
        ['soil-1', 'soil-2', 'soil-3'].map(
          (d) => store.seriesColumns(d, 'soil_vwc', now - 6 * HOUR, now + AHEAD)!.time.length,
        );
      const cache = store.seriesCache;
      // 361 readings a series; the window (now − 6 h, now + 5 min] holds the last 360.
      expect(window()).toEqual([360, 360, 360]);
      expect(cache.rowsRead).toBe(3 * 360);
      // A minute later, a minute's readings: three rows read, one trimmed from each front.
      now += MIN;
      store.commit(minute(now), [], now);
      expect(window()).toEqual([360, 360, 360]);
      expect(cache.rowsRead).toBe(3 * 360 + 3);
      expect(cache.heldRows).toBe(3 * 360);
      // Nothing new: nothing read.
      expect(window()).toEqual([360, 360, 360]);
      expect(cache.rowsRead).toBe(3 * 360 + 3);
      // And so on, minute after minute.
      for (let i = 1; i <= 3; i++) {
        now += MIN;
        store.commit(minute(now), [], now);
        expect(window()).toEqual([360, 360, 360]);
        expect(cache.rowsRead).toBe(3 * 360 + 3 + 3 * i);
      }
      // A late reading of soil-2 (an hour ago, between two kept): its series alone is read whole.
      store.commit([{ ...minute(now - HOUR - 30_000)[1]! }], [], now);
      expect(window()).toEqual([360, 361, 360]);
      expect(cache.rowsRead).toBe(3 * 360 + 12 + 361);
      // Series no longer read are let go.
      store.retainSeriesWindows(new Map([['soil-1', new Set(['soil_vwc'])]]));
      expect(cache.heldRows).toBe(360);
    } finally {
      store.close();
    }
  });

  it('keeps no more than its row limit, and answers the same past it', () => {
    const store = newStore();
    try {
      const now = T0;
      for (const device of ['a', 'b', 'c'])
        store.commit(
          Array.from({ length: 100 }, (_, i) => ({
            device,
            metric: 'soil_vwc',
            time: now - i * MIN,
            value: i,
            unit: '%',
            flags: [],
          })),
          [],
          now,
        );
      let reads = 0;
      const cache = new SeriesCache((d, m, from, to) => {
        reads++;
        return truth(store, d, m, from, to);
      }, 250);
      for (let round = 0; round < 3; round++)
        for (const d of ['a', 'b', 'c'])
          expect(plain(cache.get(d, 'soil_vwc', now - 2 * HOUR, now + AHEAD))).toEqual(
            truth(store, d, 'soil_vwc', now - 2 * HOUR, now + AHEAD),
          );
      expect(cache.heldRows).toBeLessThanOrEqual(250);
      expect(cache.heldRows).toBe(200);
      // Two kept (read whole once, then asked only for what came after their newest row), the
      // third read whole every round: 3 whole reads, then 3 reads a round.
      expect(cache.rowsRead).toBe(2 * 100 + 3 * 100);
      expect(reads).toBe(9);
    } finally {
      store.close();
    }
  });
});
