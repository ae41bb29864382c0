// GatewayStore.readingsBetween: the rules' window read series after series along the primary key —
// exactly the rows the plain time-range query returns (in another order), whatever the data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GatewayStore } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-store-window-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const key = (r: { device: string; metric: string; time: number }) =>
  `${r.device}\u0000${r.metric}\u0000${r.time}`;

describe('the readings of a window', () => {
  it('are the rows the time-range query returns, each once', () => {
    const names = fc.constantFrom('a', 'a-1', 'b', 'ab', 'soil_vwc', 'z');
    const rows = fc.array(
      fc.record({
        device: names,
        metric: names,
        time: fc.integer({ min: 0, max: 100 }),
        value: fc.integer({ min: -5, max: 5 }),
        flagged: fc.boolean(),
      }),
      { maxLength: 80 },
    );
    fc.assert(
      fc.property(rows, fc.integer({ min: -5, max: 105 }), fc.integer({ min: -5, max: 105 }), (rs, a, b) => {
        const store = new GatewayStore(join(dir, `w${n++}.db`));
        try {
          store.commit(
            rs.map(
              (r) =>
                ({
                  device: r.device,
                  metric: r.metric,
                  time: r.time,
                  value: r.value,
                  unit: 'u',
                  flags: r.flagged ? ['spike'] : [],
                }) as Reading,
            ),
            [],
            1,
          );
          const plain = store.db
            .prepare(
              'SELECT device, metric, value, unit, time, flags FROM readings WHERE time > ? AND time <= ?',
            )
            .all(a, b) as { device: string; metric: string; time: number }[];
          const got = store.readingsBetween(a, b);
          expect(got.length).toBe(plain.length);
          const sort = (xs: { device: string; metric: string; time: number }[]) =>
            [...xs].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
          expect(sort(got)).toEqual(sort(plain));
        } finally {
          store.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
