// The gateway store's group commit writes a group's new readings and their outbox rows in one
// transaction, the outbox rows many per statement. Property: for any groups of readings (resends
// and repeats within a group included) the tables end up exactly as writing them one by one
// would leave them — same readings, same outbox rows with the same sequence numbers and bodies —
// and the backlog counters match the table. A commit that fails writes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GatewayStore, PRIORITY } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-store-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newStore = () => new GatewayStore(join(dir, `g${n++}.db`));

/** The definition: each reading, then its outbox row if it was new, one statement each. */
function commitOneByOne(store: GatewayStore, readings: readonly Reading[], now: number): number {
  const insert = store.db.prepare(
    'INSERT OR IGNORE INTO readings (device, metric, time, value, unit, flags, received) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const outbox = store.db.prepare('INSERT INTO outbox (kind, priority, body, created) VALUES (?, ?, ?, ?)');
  let fresh = 0;
  store.db.transaction(() => {
    for (const r of readings) {
      const flags = r.flags.length === 0 ? '[]' : JSON.stringify(r.flags);
      if (insert.run(r.device, r.metric, r.time, r.value, r.unit, flags, now).changes === 1) {
        fresh++;
        outbox.run('reading', PRIORITY.reading, JSON.stringify(r), now);
      }
    }
  })();
  return fresh;
}

const tables = (store: GatewayStore) => ({
  readings: store.db.prepare('SELECT * FROM readings ORDER BY device, metric, time').all(),
  outbox: store.db.prepare('SELECT * FROM outbox ORDER BY seq').all(),
});

const arbitraryReading = fc.record({
  device: fc.constantFrom('a', 'b', 'c'),
  metric: fc.constantFrom('soil_vwc', 'soil_temperature'),
  value: fc.double({ min: -50, max: 50, noNaN: true }),
  unit: fc.constantFrom('m3/m3', 'degC'),
  time: fc.integer({ min: 0, max: 60 }).map((t) => 1_700_000_000_000 + t * 1000),
  flags: fc.subarray(['out_of_range', 'stuck'] as const),
}) as fc.Arbitrary<Reading>;

describe('gateway store commit', () => {
  it('leaves the tables as writing one reading and its outbox row at a time would', () => {
    fc.assert(
      fc.property(fc.array(fc.array(arbitraryReading, { maxLength: 150 }), { maxLength: 5 }), (groups) => {
        const grouped = newStore();
        const plain = newStore();
        try {
          groups.forEach((g, i) => {
            expect(grouped.commit(g, [], 1000 + i)).toBe(commitOneByOne(plain, g, 1000 + i));
          });
          expect(tables(grouped)).toEqual(tables(plain));
          const depth = grouped.outboxDepth();
          const bytes = grouped.outboxBytes;
          expect(grouped.recountOutbox()).toBe(bytes);
          expect(grouped.outboxDepth()).toBe(depth);
        } finally {
          grouped.close();
          plain.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('writes no reading and no outbox row when the commit fails part-way (database at its size cap)', () => {
    const store = newStore();
    try {
      const reading = (i: number): Reading => ({
        device: 'a',
        metric: 'soil_vwc',
        value: i / 1000,
        unit: 'm3/m3',
        time: 1_700_000_000_000 + i * 1000,
        flags: [],
      });
      expect(store.commit([reading(0)], [], 1)).toBe(1);
      store.setBudget(0); // no room beyond the pages it has
      const before = { ...tables(store), bytes: store.outboxBytes, depth: store.outboxDepth() };
      const many = Array.from({ length: 5000 }, (_, i) => reading(i + 1));
      expect(() => store.commit(many, [], 2)).toThrow(/full/i);
      expect({ ...tables(store), bytes: store.outboxBytes, depth: store.outboxDepth() }).toEqual(before);
    } finally {
      store.close();
    }
  });
});
