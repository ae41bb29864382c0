// GatewayStore.seriesKeys + seriesColumns: the rules' window read series after series along the
// primary key, in columns — exactly the rows the plain time-range query returns (in another order),
// with their flags reduced to "any", whatever the data.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { storeRowsArb, tempStores } from '../helpers/store-rows.ts';

const { newStore, cleanUp } = tempStores('hatake-store-window-');
afterAll(cleanUp);

const key = (r: { device: string; metric: string; time: number }) =>
  `${r.device}\u0000${r.metric}\u0000${r.time}`;

describe('the readings of a window', () => {
  it('are the rows the time-range query returns, each once', () => {
    const rows = storeRowsArb({ maxTime: 100, maxLength: 80, flags: true, units: ['u', 'v'] });
    fc.assert(
      fc.property(rows, fc.integer({ min: -5, max: 105 }), fc.integer({ min: -5, max: 105 }), (rs, a, b) => {
        const store = newStore();
        try {
          store.commit(rs, [], 1);
          type Row = { device: string; metric: string; time: number; value: number; flagged: boolean };
          const plain = (
            store.db
              .prepare('SELECT device, metric, value, time, flags FROM readings WHERE time > ? AND time <= ?')
              .all(a, b) as (Omit<Row, 'flagged'> & { flags: string })[]
          ).map(({ flags, ...r }) => ({ ...r, flagged: (JSON.parse(flags) as string[]).length > 0 }));
          const got: Row[] = [];
          for (const { device, metric } of store.seriesKeys()) {
            const s = store.seriesColumns(device, metric, a, b);
            if (!s) continue;
            // The unit of its newest row in the range (a series' unit is its metric's, so
            // the rows agree in a real store; where they do not, the current one speaks).
            const newest = store.db
              .prepare(
                'SELECT unit FROM readings WHERE device = ? AND metric = ? AND time > ? AND time <= ? ORDER BY time DESC LIMIT 1',
              )
              .get(device, metric, a, b) as { unit: string };
            expect(s.unit).toBe(newest.unit);
            expect(s.time.length).toBeGreaterThan(0);
            expect([s.value.length, s.flagged.length]).toEqual([s.time.length, s.time.length]);
            // Times strictly ascending: the rules take such a series as it is.
            for (let i = 1; i < s.time.length; i++) expect(s.time[i]).toBeGreaterThan(s.time[i - 1]!);
            s.time.forEach((time, i) =>
              got.push({ device, metric, time, value: s.value[i]!, flagged: s.flagged[i]! }),
            );
          }
          const sort = (xs: Row[]) =>
            [...xs].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
          expect(sort(got)).toEqual(sort(plain));
          // Every series that has rows is listed once, in key order.
          const keys = store.seriesKeys().map((k) => `${k.device}\u0000${k.metric}`);
          expect(keys).toEqual([...new Set(rs.map((r) => `${r.device}\u0000${r.metric}`))].sort());
        } finally {
          store.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
