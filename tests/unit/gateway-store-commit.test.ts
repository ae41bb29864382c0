// The gateway store's group commit writes a group's new readings and their outbox rows in one
// transaction, the outbox rows many per statement. Property: for any groups of readings (resends
// and repeats within a group included) the tables end up exactly as writing them one by one
// would leave them — same readings, same outbox rows with the same sequence numbers and bodies —
// and the backlog counters match the table. A commit that fails writes nothing. The same holds
// for commits on the commit writer thread (its own connection), in the order they were made,
// and a writer that dies hands the commits back to the store's own thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { READING_PRIORITY } from '../../gateway/commit-sql.js';
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

/** The i-th of a series of soil readings a second apart. */
const soilReading = (i: number): Reading => ({
  device: 'a',
  metric: 'soil_vwc',
  value: i / 1000,
  unit: 'm3/m3',
  time: 1_700_000_000_000 + i * 1000,
  flags: [],
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
      expect(store.commit([soilReading(0)], [], 1)).toBe(1);
      store.setBudget(0); // no room beyond the pages it has
      const before = { ...tables(store), bytes: store.outboxBytes, depth: store.outboxDepth() };
      const many = Array.from({ length: 5000 }, (_, i) => soilReading(i + 1));
      expect(() => store.commit(many, [], 2)).toThrow(/full/i);
      expect({ ...tables(store), bytes: store.outboxBytes, depth: store.outboxDepth() }).toEqual(before);
    } finally {
      store.close();
    }
  });

  it('the writer thread leaves the tables as the one-by-one writes would, commits applied in call order', async () => {
    expect(READING_PRIORITY).toBe(PRIORITY.reading);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(arbitraryReading, { maxLength: 150 }), { maxLength: 5 }),
        async (groups) => {
          const threaded = newStore();
          const plain = newStore();
          threaded.startWriter();
          try {
            expect(threaded.hasWriter).toBe(true);
            // All posted at once, not awaited one by one: the thread keeps their order.
            const fresh = await Promise.all(groups.map((g, i) => threaded.commitAsync(g, [], 1000 + i)));
            expect(fresh).toEqual(groups.map((g, i) => commitOneByOne(plain, g, 1000 + i)));
            expect(tables(threaded)).toEqual(tables(plain));
            const bytes = threaded.outboxBytes;
            const depth = threaded.outboxDepth();
            expect(threaded.recountOutbox()).toBe(bytes);
            expect(threaded.outboxDepth()).toBe(depth);
          } finally {
            await threaded.stopWriter();
            threaded.close();
            plain.close();
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it("the writer thread writes dead letters and device state, and ends a device's silence", async () => {
    const store = newStore();
    store.startWriter();
    try {
      store.commit([{ device: 'a', metric: 'battery', value: 3.3, unit: 'V', time: 1000, flags: [] }], [], 1);
      expect(store.markSilent('a', 5000)).toBe(true);
      const back: string[] = [];
      store.onDeviceBack = (devices) => back.push(...devices.map((d) => d.device));
      const head = Buffer.from('{"not json');
      const fresh = await store.commitAsync(
        [{ device: 'a', metric: 'battery', value: 3.1, unit: 'V', time: 9000, flags: [] }],
        [
          {
            time: 9000,
            device: 'b',
            topic: 'hatake/v1/f/b/up',
            code: 'HATAKE_E_PAYLOAD',
            reason: 'bad',
            head,
          },
        ],
        9500,
      );
      expect(fresh).toBe(1);
      expect(back).toEqual(['a']);
      expect(
        store.db.prepare("SELECT battery, last_seen, silent_since FROM devices WHERE id = 'a'").get(),
      ).toEqual({
        battery: 3.1,
        last_seen: 9500,
        silent_since: null,
      });
      expect(store.db.prepare('SELECT device, code, head FROM dead_letters').all()).toEqual([
        { device: 'b', code: 'HATAKE_E_PAYLOAD', head },
      ]);
    } finally {
      await store.stopWriter();
      store.close();
    }
  });

  it('the writer thread refuses a commit past the budget (SQLITE_FULL) and writes nothing of it', async () => {
    const store = newStore();
    store.startWriter();
    try {
      expect(await store.commitAsync([soilReading(0)], [], 1)).toBe(1);
      store.setBudget(0); // reaches the thread's connection too
      const before = { ...tables(store), bytes: store.outboxBytes, depth: store.outboxDepth() };
      const many = Array.from({ length: 5000 }, (_, i) => soilReading(i + 1));
      await expect(store.commitAsync(many, [], 2)).rejects.toMatchObject({ code: 'SQLITE_FULL' });
      expect({ ...tables(store), bytes: store.outboxBytes, depth: store.outboxDepth() }).toEqual(before);
      store.refuseWrites = true;
      await expect(store.commitAsync([soilReading(9)], [], 3)).rejects.toMatchObject({
        code: 'HATAKE_E_DISK_FULL',
      });
    } finally {
      await store.stopWriter();
      store.close();
    }
  });

  it("when the writer thread dies, its commits in flight are refused and later ones run on the store's thread", async () => {
    const store = newStore();
    const exits: string[] = [];
    store.onWriterExit = (why) => exits.push(why);
    store.startWriter();
    try {
      expect(await store.commitAsync([soilReading(1)], [], 1)).toBe(1);
      // The thread ends as a crash would (not by stopWriter).
      const worker = (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer
        .worker;
      const inFlight = store.commitAsync([soilReading(2)], [], 2);
      await worker.terminate();
      await expect(inFlight).rejects.toThrow(/commit writer stopped/);
      expect(exits).toHaveLength(1);
      expect(store.hasWriter).toBe(false);
      expect(await store.commitAsync([soilReading(3)], [], 3)).toBe(1);
      const times = store.db.prepare('SELECT time FROM readings ORDER BY time').all();
      // The refused commit may or may not have reached the disk before the thread ended (a device
      // resends it, and the resend is not stored twice); the one before and the one after did.
      expect(times).toContainEqual({ time: soilReading(1).time });
      expect(times).toContainEqual({ time: soilReading(3).time });
    } finally {
      store.close();
    }
  });
});
