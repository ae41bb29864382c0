// The outbox's totals (UTF-8 bytes and rows: the backlog budget, the status page, the metrics) are
// kept by the database beside the rows, in the transaction of every change, so a start reads one row
// instead of every body a long outage left behind. Whatever happens to the outbox — readings
// committed, documents queued (Japanese and emoji included), a transaction rolled back, batches
// acknowledged or refused, the budget aggregating and dropping, a restart, an upgrade from a file
// that had no totals — they are the table's own sums.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { GatewayStore } from '../../gateway/store.ts';
import { enforceBacklogBudget } from '../../gateway/backlog.ts';
import { prepareCommit } from '../../gateway/commit-sql.js';
import type { Reading } from '../../protocol/telemetry.ts';
import { outboxCounted, queuedReadingsArb, tempStores } from '../helpers/store-rows.ts';

const { newFile, cleanUp } = tempStores('hatake-outbox-totals-');
afterAll(cleanUp);

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-04T06:00:00Z');

const held = (store: GatewayStore) => ({ bytes: store.outboxBytes, rows: store.outboxDepth() });

const text = fc.constantFrom('水位が低い', 'frost ❄️ 🥶', 'ok', '追肥 2.5 kg/10a', '𠮷野家');
const op = fc.oneof(
  fc.record({
    op: fc.constant('readings' as const),
    age: fc.integer({ min: 0, max: 6 * HOUR }),
    unit: fc.constantFrom('%', '°C', 'µS/cm', 'm³'),
    rows: queuedReadingsArb(NOW, 40),
  }),
  fc.record({ op: fc.constant('document' as const), text, many: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant('rolled back' as const), text }),
  fc.record({ op: fc.constant('acknowledged' as const), take: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ op: fc.constant('refused' as const), take: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant('budget' as const), share: fc.double({ min: 0.1, max: 1, noNaN: true }) }),
  fc.record({ op: fc.constant('restart' as const) }),
);

describe('the outbox totals', () => {
  it('are the table’s sums after every change, in memory and after a restart', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 14 }), (ops) => {
        const file = newFile();
        let store = new GatewayStore(file);
        try {
          for (const o of ops) {
            switch (o.op) {
              case 'readings':
                store.commit(
                  o.rows.map((r) => ({ ...r, unit: o.unit, flags: [] }) as Reading),
                  [],
                  NOW - o.age,
                );
                break;
              case 'document':
                for (let i = 0; i < o.many; i++)
                  store.enqueue('tip', { id: `t${i}`, text: o.text.repeat(i + 1) }, NOW);
                break;
              case 'rolled back':
                expect(() =>
                  store.db.transaction(() => {
                    store.enqueue('event', { id: 'gone', message: o.text }, NOW);
                    throw new Error('the caller gave up');
                  })(),
                ).toThrow('the caller gave up');
                // The database's totals rolled back with the row; memory is put right by a reload.
                store.loadOutboxTotals();
                break;
              case 'acknowledged':
                store.acknowledged(
                  store.peekOutbox(o.take).map((r) => r.seq),
                  NOW,
                );
                break;
              case 'refused':
                store.deadLetterOutbox(store.peekOutbox(o.take), 'HATAKE_E_PAYLOAD_SCHEMA', 'HTTP 400', NOW);
                break;
              case 'budget':
                enforceBacklogBudget(
                  store,
                  { maxBytes: Math.floor(store.outboxBytes * o.share), aggregateAfterMs: HOUR },
                  NOW,
                  7,
                );
                break;
              case 'restart':
                store.close();
                store = new GatewayStore(file);
                break;
            }
            expect(held(store)).toEqual(outboxCounted(store));
          }
          store.close();
          store = new GatewayStore(file);
          expect(held(store)).toEqual(outboxCounted(store));
        } finally {
          store.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('stay the table’s when the budget runs between a writer-thread commit and its answer', async () => {
    const file = newFile();
    const store = new GatewayStore(file);
    const rows = (device: string, n: number, t0: number): Reading[] =>
      Array.from({ length: n }, (_, i) => ({
        device,
        metric: 'soil_vwc',
        time: t0 - i * 60_000,
        value: 30,
        unit: '%',
        flags: [],
      }));
    store.commit(rows('old', 2000, NOW - 3 * HOUR), [], NOW - 3 * HOUR); // an old backlog
    store.startWriter();
    // A second connection sees when the writer's transaction is in the file.
    const spy = new Database(file, { readonly: true });
    try {
      const inFile = () => (spy.prepare('SELECT rows FROM outbox_total').get() as { rows: number }).rows;
      const before = inFile();
      const answer = store.commitAsync(rows('soil-1', 100, NOW), [], NOW);
      // The main thread busy (as under load) while the writer commits; its answer waits.
      const give = performance.now() + 10_000;
      while (inFile() === before && performance.now() < give);
      expect(inFile()).toBe(before + 100);
      const done = enforceBacklogBudget(
        store,
        { maxBytes: Math.floor(store.outboxBytes * 0.8), aggregateAfterMs: HOUR },
        NOW,
      );
      expect(done.aggregatedReadings).toBeGreaterThan(0);
      await answer;
      expect(held(store)).toEqual(outboxCounted(store));
    } finally {
      spy.close();
      await store.stopWriter();
      store.close();
    }
  });

  it('are the table’s, and the rules’ kept window told, when the writer thread dies after its commit', async () => {
    const store = new GatewayStore(newFile());
    try {
      const reading = (time: number, value: number): Reading => ({
        device: 'soil-1',
        metric: 'soil_vwc',
        time,
        value,
        unit: '%',
        flags: [],
      });
      store.commit([reading(NOW - 2 * HOUR, 30), reading(NOW, 31)], [], NOW);
      const window = () => store.seriesColumns('soil-1', 'soil_vwc', NOW - 6 * HOUR, NOW + 60_000);
      expect(window()!.value).toEqual([30, 31]);
      // A writer thread that commits and then dies before it answers (killed after its COMMIT).
      const commit = prepareCommit(store.db);
      (store as unknown as { writer: unknown }).writer = {
        commit: (...args: Parameters<typeof commit>) => {
          commit(...args);
          return Promise.reject(new Error('the commit writer thread exited (exit code 1)'));
        },
        close: () => Promise.resolve(),
      };
      // A late reading (inside the kept window) in that commit.
      await expect(store.commitAsync([reading(NOW - HOUR, 29)], [], NOW)).rejects.toThrow('exited');
      expect(held(store)).toEqual(outboxCounted(store));
      expect(window()!.value).toEqual([30, 29, 31]);
    } finally {
      (store as unknown as { writer: unknown }).writer = undefined;
      store.close();
    }
  });

  it('are counted once when a file from before them is opened', () => {
    const file = newFile();
    let store = new GatewayStore(file);
    store.commit(
      Array.from({ length: 500 }, (_, i) => ({
        device: 'wl-1',
        metric: 'water_temperature',
        time: NOW - i * 60_000,
        value: 20 + (i % 7),
        unit: '°C',
        flags: [],
      })),
      [],
      NOW,
    );
    store.enqueue('tip', { text: '中干しの時期です 🌾' }, NOW);
    const before = outboxCounted(store);
    // The file as the previous version left it: no totals table, one migration behind.
    const version = store.db.pragma('user_version', { simple: true }) as number;
    store.db.exec('DROP TABLE outbox_total');
    store.db.pragma(`user_version = ${version - 1}`);
    store.close();
    store = new GatewayStore(file);
    try {
      expect(before.rows).toBe(501);
      expect(held(store)).toEqual(before);
      expect(store.db.pragma('user_version', { simple: true })).toBe(version);
    } finally {
      store.close();
    }
  });

  it('a start reads the totals, not the outbox: opening a 40 MB backlog reads a small part of it', () => {
    const file = newFile();
    let store = new GatewayStore(file);
    // 40 MB of queued documents (a long outage's worth of bodies, in fewer rows to build quickly).
    const body = { id: 'x', note: 'n'.repeat(40_000) };
    store.db.transaction(() => {
      for (let i = 0; i < 1000; i++) store.enqueue('event', { ...body, id: `e${i}` }, NOW);
    })();
    const expected = outboxCounted(store);
    store.close();
    expect(expected.bytes).toBeGreaterThan(40_000_000);
    // Bytes this thread read through read()/pread() (SQLite reads its file that way), page cache
    // or not.
    const readSoFar = () => {
      const io = readFileSync('/proc/thread-self/io', 'utf8');
      return Number(/^rchar: (\d+)$/m.exec(io)![1]);
    };
    // The check is sound: reading the file's bodies shows up in the counter.
    const probe = readSoFar();
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(1 << 20);
    let got = 0;
    for (let r; (r = readSync(fd, buf)) > 0;) got += r;
    closeSync(fd);
    expect(readSoFar() - probe).toBeGreaterThanOrEqual(got);
    expect(got).toBeGreaterThan(40_000_000);

    const start = readSoFar();
    store = new GatewayStore(file);
    const read = readSoFar() - start;
    try {
      expect(held(store)).toEqual(expected);
      expect(read).toBeLessThan(2_000_000);
    } finally {
      store.close();
    }
  });
});

describe('a queued document or device status the disk has no room for', () => {
  it('leaves the totals in memory as the rows are: the rollback undid them too', () => {
    const store = new GatewayStore(newFile());
    try {
      store.enqueue('tip', { text: '霜注意' }, NOW);
      store.setBudget(0); // no room beyond the pages the file has
      let failures = 0;
      // Fill what room the pages have, then fail: documents, then a device's status (its row in
      // `devices` and its event queued, one transaction), several times each.
      for (let i = 0; i < 2000 && failures < 3; i++) {
        try {
          store.enqueue('tip', { text: '追肥'.repeat(2000), i }, NOW);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('SQLITE_FULL');
          failures++;
          expect(held(store)).toEqual(outboxCounted(store));
        }
      }
      expect(failures).toBe(3);
      let statusFailures = 0;
      for (let i = 0; i < 2000 && statusFailures < 3; i++) {
        try {
          store.setDeviceOnline(`device-with-a-long-name-${i}`.repeat(20), i % 2 === 0, NOW + i);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('SQLITE_FULL');
          statusFailures++;
          expect(held(store)).toEqual(outboxCounted(store));
        }
      }
      expect(statusFailures).toBe(3);
    } finally {
      store.close();
    }
  });
});
