// GatewayStore.latest: each metric's newest reading of a device, found by seeks along the primary
// key rather than by reading the device's history — the same answer as the plain GROUP BY over
// any data, and, given the gateway's clock, a reading a fast device clock dated ahead does not
// hide the current value.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { GatewayStore } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { NEIGHBOUR_NAMES, storeRowsArb, tempStores } from '../helpers/store-rows.ts';

const { newStore, cleanUp } = tempStores('hatake-store-latest-');
afterAll(cleanUp);

const reading = (
  device: string,
  metric: string,
  time: number,
  value: number,
  flags: string[] = [],
): Reading => ({ device, metric, time, value, unit: 'u', flags }) as Reading;

/** The definition: the newest row of each (device, metric), by the plain query. */
const naive = (store: GatewayStore, device: string) =>
  store.db
    .prepare(
      `SELECT r.metric, r.value, r.unit, r.time, r.flags FROM readings r
       JOIN (SELECT metric, MAX(time) AS t FROM readings WHERE device = ? GROUP BY metric) m
         ON m.metric = r.metric AND m.t = r.time
       WHERE r.device = ? ORDER BY r.metric`,
    )
    .all(device, device);

describe('the latest readings of a device', () => {
  it('are the newest of each metric, as the plain query finds them, whatever the data', () => {
    fc.assert(
      fc.property(storeRowsArb({ maxTime: 50, maxLength: 60 }), (rs) => {
        const store = newStore();
        try {
          store.commit(rs, [], 1);
          for (const device of [...NEIGHBOUR_NAMES, 'y', ''])
            expect(store.latest(device)).toEqual(naive(store, device));
        } finally {
          store.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('given the clock, pass over a reading dated ahead of it by more than a few minutes', () => {
    const store = newStore();
    const now = Date.parse('2026-12-04T06:00:00Z');
    store.commit(
      [
        reading('soil-1', 'soil_vwc', now - 120_000, 0.24),
        reading('soil-1', 'soil_vwc', now - 60_000, 0.246),
        // A year ahead: the device's clock ran fast once.
        reading('soil-1', 'soil_vwc', now + 365 * 86_400_000, 0.41, ['clock_skew']),
        // A minute ahead: two clocks a little apart, still the current value.
        reading('soil-1', 'soil_temp', now + 60_000, 12.5),
        // Only ever dated ahead: shown, there being nothing else.
        reading('soil-1', 'soil_ec', now + 86_400_000, 0.3, ['clock_skew']),
      ],
      [],
      now,
    );
    expect(store.latest('soil-1', now).map((l) => [l.metric, l.value])).toEqual([
      ['soil_ec', 0.3],
      ['soil_temp', 12.5],
      ['soil_vwc', 0.246],
    ]);
    // Without the clock: the newest by time, as stored.
    expect(store.latest('soil-1').find((l) => l.metric === 'soil_vwc')!.value).toBe(0.41);
    store.close();
  });
});
