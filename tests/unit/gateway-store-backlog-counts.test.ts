// The backlog budget keeps the outbox's byte and row counts in step as it aggregates and drops,
// chunk after chunk, instead of recounting every body after each (a full read of the outbox).
// Whatever the outbox holds, the counts it decides by are the table's, at every step; documents
// and the batch in flight are never touched.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GatewayStore } from '../../gateway/store.ts';
import { enforceBacklogBudget } from '../../gateway/backlog.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { outboxCounted, queuedReadingsArb, tempStores } from '../helpers/store-rows.ts';

const { newStore, newFile, cleanUp } = tempStores('hatake-store-backlog-');
afterAll(cleanUp);

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-04T06:00:00Z');

const batch = fc.record({
  kind: fc.constantFrom('reading', 'reading', 'reading', 'aggregate', 'event'),
  // How long ago it was queued.
  age: fc.integer({ min: 0, max: 6 * HOUR }),
  rows: queuedReadingsArb(NOW, 30),
});

describe('the backlog budget’s counts', () => {
  it('are the table’s at every step, and what is left is what the budget allows', () => {
    fc.assert(
      fc.property(
        fc.array(batch, { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0.05, max: 1.2, noNaN: true }),
        fc.integer({ min: 5, max: 40 }),
        fc.integer({ min: 0, max: 20 }),
        (batches, share, chunk, flying) => {
          const store = newStore();
          try {
            for (const b of batches) {
              const created = NOW - b.age;
              if (b.kind === 'reading')
                store.commit(
                  b.rows.map((r) => ({ ...r, unit: 'u', flags: [] }) as Reading),
                  [],
                  created,
                );
              else
                for (const r of b.rows)
                  store.enqueue(
                    b.kind,
                    b.kind === 'event'
                      ? { id: `e-${r.time}`, type: 'device_silent', time: r.time }
                      : {
                          ...r,
                          unit: 'u',
                          hour: r.time - (r.time % HOUR),
                          min: 0,
                          max: 1,
                          mean: 0.5,
                          count: 3,
                          part: '1',
                        },
                    created,
                  );
            }
            const seqs = (
              store.db.prepare('SELECT seq FROM outbox ORDER BY seq').all() as { seq: number }[]
            ).map((r) => r.seq);
            store.inFlightSeqs = seqs.slice(0, flying);
            const inFlight = store.db
              .prepare('SELECT seq, body FROM outbox WHERE seq IN (SELECT value FROM json_each(?))')
              .all(JSON.stringify(store.inFlightSeqs));
            const events = store.db.prepare("SELECT seq, body FROM outbox WHERE kind = 'event'").all();
            expect({ bytes: store.outboxBytes, rows: store.outboxDepth() }).toEqual(outboxCounted(store));
            // Every figure the budget decides by is the table's: checked at each step.
            const changed = store.outboxChanged.bind(store);
            let steps = 0;
            store.outboxChanged = (bytes, rows) => {
              changed(bytes, rows);
              steps++;
              expect({ bytes: store.outboxBytes, rows: store.outboxDepth() }).toEqual(outboxCounted(store));
            };
            // The budget never reads every body to count them (a full recount), and reloads the
            // database's totals once at the end.
            store.recountOutbox = () => {
              throw new Error('the budget recounted the outbox');
            };
            const reload = store.loadOutboxTotals.bind(store);
            let reloads = 0;
            store.loadOutboxTotals = () => {
              reloads++;
              return reload();
            };
            const maxBytes = Math.floor(store.outboxBytes * share);
            const done = enforceBacklogBudget(store, { maxBytes, aggregateAfterMs: HOUR }, NOW, chunk);
            // The counts kept in step are the table's (the one reload at the end changes nothing).
            const kept = { bytes: store.outboxBytes, rows: store.outboxDepth() };
            expect(kept).toEqual(outboxCounted(store));
            const acted = done.aggregatedReadings + done.droppedAggregates + done.droppedReadings > 0;
            expect(reloads).toBe(acted ? 1 : 0);
            if (acted) expect(steps).toBeGreaterThan(0);
            // Under the budget (but for the report it adds), unless only documents, young readings
            // and the batch in flight are left.
            const reportSeq = Number(store.getMeta('backlog_report_seq') ?? 0);
            const report = store.db
              .prepare('SELECT octet_length(body) AS n FROM outbox WHERE seq = ?')
              .get(reportSeq) as { n: number } | undefined;
            if (store.outboxBytes - (report?.n ?? 0) > maxBytes) {
              const movable = store.db
                .prepare(
                  `SELECT COUNT(*) AS n FROM outbox WHERE kind IN ('reading', 'aggregate')
                     AND seq NOT IN (SELECT value FROM json_each(?))`,
                )
                .get(JSON.stringify(store.inFlightSeqs)) as { n: number };
              expect(movable.n).toBe(0);
            }
            // The batch in flight and the events (but the report) are as they were.
            expect(
              store.db
                .prepare('SELECT seq, body FROM outbox WHERE seq IN (SELECT value FROM json_each(?))')
                .all(JSON.stringify(store.inFlightSeqs)),
            ).toEqual(inFlight);
            expect(
              store.db
                .prepare("SELECT seq, body FROM outbox WHERE kind = 'event' AND seq <> ?")
                .all(reportSeq),
            ).toEqual(events);
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('are the table’s again after the gateway restarts (the status page’s backlog, the metrics)', () => {
    const file = newFile();
    let store = new GatewayStore(file);
    const readings: Reading[] = Array.from({ length: 25 }, (_, i) => ({
      device: 'soil-1',
      metric: 'soil_vwc',
      time: NOW - i * 60_000,
      value: 0.2 + i / 1000,
      unit: 'm3/m3',
      flags: [],
    }));
    store.commit(readings, [], NOW);
    store.enqueue('event', { id: 'e-1', type: 'device_silent', time: NOW }, NOW);
    const before = outboxCounted(store);
    expect(before.rows).toBe(26);
    expect({ bytes: store.outboxBytes, rows: store.outboxDepth() }).toEqual(before);
    store.close();
    store = new GatewayStore(file);
    try {
      expect({ bytes: store.outboxBytes, rows: store.outboxDepth() }).toEqual(before);
      // And in step from there: the server acknowledges ten rows.
      store.deleteOutbox(store.peekOutbox(10).map((r) => r.seq));
      expect({ bytes: store.outboxBytes, rows: store.outboxDepth() }).toEqual(outboxCounted(store));
      expect(store.outboxDepth()).toBe(16);
    } finally {
      store.close();
    }
  });
});
