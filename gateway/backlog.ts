// The outbox's disk budget. When the backlog outgrows it (weeks offline), raw readings older than
// the aggregation window are replaced by hourly aggregates (min, max, mean, count) first; only if
// that is not enough are the oldest aggregates, then the oldest raw readings, dropped.
// Recommendations, tips, events, automation logs and manifests are never touched. What was
// aggregated or dropped is counted (persistently) and reported to the server in one event that
// waits in the outbox, updated in place while it waits.
import { randomBytes } from 'node:crypto';
import type { GatewayEvent } from '../protocol/sync.ts';
import { PRIORITY, type GatewayStore } from './store.ts';

const HOUR = 3_600_000;
/** SQL condition: the row is not in the batch on its way to the server (parameter: JSON array of seqs). */
const NOT_IN_FLIGHT = 'seq NOT IN (SELECT value FROM json_each(?))';

export interface BacklogCounts {
  aggregatedReadings: number;
  aggregates: number;
  droppedAggregates: number;
  droppedReadings: number;
}

const ZERO: BacklogCounts = {
  aggregatedReadings: 0,
  aggregates: 0,
  droppedAggregates: 0,
  droppedReadings: 0,
};

export interface BacklogBudget {
  maxBytes: number;
  /** Raw readings queued longer than this may be aggregated. */
  aggregateAfterMs: number;
}

function readCounts(store: GatewayStore): BacklogCounts {
  const raw = store.getMeta('backlog_counts');
  return raw ? { ...ZERO, ...(JSON.parse(raw) as Partial<BacklogCounts>) } : { ...ZERO };
}

/** What one pass did, and whether the outbox is still over its budget because the pass ran out of time. */
export interface BacklogPass extends BacklogCounts {
  more: boolean;
}

/**
 * Brings the outbox under its budget, `chunk` rows a transaction. Returns what this call
 * aggregated and dropped (the running totals since the last report are kept in the store and
 * carried by the report event). With `budgetMs`, the pass stops after the chunk that used it up
 * and says `more`: each chunk is work on the event loop (about 8 µs a reading aggregated here,
 * several times that on a Pi), so the gateway goes on with the rest in later turns rather than
 * holding every PUBACK for seconds.
 */
export function enforceBacklogBudget(
  store: GatewayStore,
  budget: BacklogBudget,
  now: number,
  chunk = 50_000,
  budgetMs = Infinity,
): BacklogPass {
  const done = { ...ZERO };
  const started = performance.now();
  const outOfTime = () => performance.now() - started >= budgetMs;
  let more = false;
  if (store.outboxBytes <= budget.maxBytes) return { ...done, more };
  const db = store.db;
  const aggregate = db.prepare(
    `SELECT json_extract(body, '$.device') AS device, json_extract(body, '$.metric') AS metric,
            json_extract(body, '$.unit') AS unit, (json_extract(body, '$.time') / ${HOUR}) * ${HOUR} AS hour,
            MIN(json_extract(body, '$.value')) AS min, MAX(json_extract(body, '$.value')) AS max,
            AVG(json_extract(body, '$.value')) AS mean, COUNT(*) AS count, MIN(seq) AS first, MAX(seq) AS last
     FROM (SELECT seq, body FROM outbox WHERE kind = 'reading' AND created < ? AND ${NOT_IN_FLIGHT} ORDER BY seq LIMIT ?)
     GROUP BY device, metric, hour`,
  );
  const lastSeq = db.prepare(
    `SELECT MAX(seq) AS s FROM (SELECT seq FROM outbox WHERE kind = 'reading' AND created < ? AND ${NOT_IN_FLIGHT} ORDER BY seq LIMIT ?)`,
  );
  const delReadings = db.prepare(
    `DELETE FROM outbox WHERE kind = 'reading' AND created < ? AND ${NOT_IN_FLIGHT} AND seq <= ?
     RETURNING octet_length(body) AS n`,
  );
  const inFlight = JSON.stringify(store.inFlightSeqs);
  const insert = db.prepare('INSERT INTO outbox (kind, priority, body, created) VALUES (?, ?, ?, ?)');
  /** Bytes of the bodies of rows a statement returned as `octet_length(body) AS n`. */
  const bytesOf = (rows: readonly { n: number }[]) => rows.reduce((a, r) => a + r.n, 0);
  // 1. Aggregate old raw readings, oldest first, a chunk at a time.
  while (store.outboxBytes > budget.maxBytes) {
    const cutoff = now - budget.aggregateAfterMs;
    const upTo = (lastSeq.get(cutoff, inFlight, chunk) as { s: number | null }).s;
    if (upTo === null) break;
    // The totals change in the same transaction (kept in step: a recount reads every body, 0.27 s
    // for 2 M unsent readings, measured, and ran after every chunk before).
    db.transaction(() => {
      const groups = aggregate.all(cutoff, inFlight, chunk) as {
        device: string;
        metric: string;
        unit: string;
        hour: number;
        min: number;
        max: number;
        mean: number;
        count: number;
        first: number;
      }[];
      const deleted = delReadings.all(cutoff, inFlight, upTo) as { n: number }[];
      let bytes = -bytesOf(deleted);
      for (const g of groups) {
        // `part` makes each aggregate unique, so the server can keep several parts of one hour.
        const body = JSON.stringify({
          device: g.device,
          metric: g.metric,
          unit: g.unit,
          hour: g.hour,
          min: g.min,
          max: g.max,
          mean: g.mean,
          count: g.count,
          part: `${g.first}`,
        });
        insert.run('aggregate', PRIORITY.aggregate, body, now);
        bytes += Buffer.byteLength(body);
      }
      store.outboxChanged(bytes, groups.length - deleted.length);
      done.aggregatedReadings += deleted.length;
      done.aggregates += groups.length;
    })();
    if (store.outboxBytes > budget.maxBytes && outOfTime()) {
      more = true;
      break;
    }
  }
  // 2. Still over: drop the oldest aggregates, then the oldest raw readings. Nothing else.
  for (const kind of more ? [] : (['aggregate', 'reading'] as const)) {
    const drop = db.prepare(
      `DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind = ? AND ${NOT_IN_FLIGHT} ORDER BY seq LIMIT ?)
       RETURNING octet_length(body) AS n`,
    );
    const avg = db.prepare(
      'SELECT AVG(octet_length(body)) AS a FROM (SELECT body FROM outbox WHERE kind = ? ORDER BY seq LIMIT 100)',
    );
    while (store.outboxBytes > budget.maxBytes) {
      // About as many of the oldest rows as cover the excess, estimated from their size.
      const size = (avg.get(kind) as { a: number | null }).a;
      if (size === null) break;
      const excess = Math.ceil((store.outboxBytes - budget.maxBytes) / size);
      const n = db.transaction(() => {
        const gone = drop.all(kind, inFlight, Math.min(chunk, Math.max(1, excess))) as { n: number }[];
        store.outboxChanged(-bytesOf(gone), -gone.length);
        return gone.length;
      })();
      if (n === 0) break;
      if (kind === 'aggregate') done.droppedAggregates += n;
      else done.droppedReadings += n;
      if (store.outboxBytes > budget.maxBytes && outOfTime()) {
        more = true;
        break;
      }
    }
    if (more) break;
  }
  if (done.aggregatedReadings + done.droppedAggregates + done.droppedReadings > 0) {
    reportBacklog(store, done, now);
    // Once, at the end: what an enqueue in a transaction that rolled back may have added to the
    // counts in memory (see GatewayStore.outboxChanged); the database's totals are exact.
    store.loadOutboxTotals();
  }
  return { ...done, more };
}

const describe = (c: BacklogCounts) =>
  `offline backlog over its disk budget: ${c.aggregatedReadings} readings replaced by ${c.aggregates} hourly aggregates, ` +
  `${c.droppedAggregates} aggregates and ${c.droppedReadings} readings dropped`;

/**
 * Adds to the running totals and writes them into the report event still waiting in the outbox;
 * once that report has been delivered, a new one starts from this round's counts.
 */
function reportBacklog(store: GatewayStore, add: BacklogCounts, now: number): void {
  const db = store.db;
  db.transaction(() => {
    const pending = Number(store.getMeta('backlog_report_seq') ?? 0);
    // A report on its way to the server is not updated (the acknowledgement would delete the
    // update with it): these counts start a new report.
    const held =
      pending > 0 && !store.inFlightSeqs.includes(pending)
        ? (db.prepare('SELECT octet_length(body) AS n FROM outbox WHERE seq = ?').get(pending) as
            { n: number } | undefined)
        : undefined;
    const totals = held ? readCounts(store) : { ...ZERO };
    for (const k of Object.keys(totals) as (keyof BacklogCounts)[]) totals[k] += add[k];
    store.setMeta('backlog_counts', JSON.stringify(totals));
    const event: GatewayEvent = {
      id: held ? store.getMeta('backlog_report_id')! : randomBytes(12).toString('base64url'),
      type: 'backlog_report',
      severity: totals.droppedReadings + totals.droppedAggregates > 0 ? 'critical' : 'warning',
      time: now,
      message: describe(totals),
      detail: { ...totals },
    };
    const body = JSON.stringify(event);
    if (held) {
      db.prepare('UPDATE outbox SET body = ? WHERE seq = ?').run(body, pending);
      store.outboxChanged(Buffer.byteLength(body) - held.n, 0);
    } else {
      const seq = db
        .prepare('INSERT INTO outbox (kind, priority, body, created) VALUES (?, ?, ?, ?)')
        .run('event', PRIORITY.event, body, now).lastInsertRowid;
      store.outboxChanged(Buffer.byteLength(body), 1);
      store.setMeta('backlog_report_seq', String(seq));
      store.setMeta('backlog_report_id', event.id);
    }
  })();
}

/** The totals waiting to be reported (for the status page). */
export function pendingBacklogCounts(store: GatewayStore): BacklogCounts {
  return readCounts(store);
}
