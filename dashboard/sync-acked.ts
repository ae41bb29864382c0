// Which of a gateway's outbox sequence numbers the server has acknowledged, as ranges. The store
// makes a resent item harmless (readings are keyed, documents replaced), but what the server
// *does* with a batch beyond storing it — the live events browsers get, the throughput figure the
// partner reads — must happen once per item, not once per delivery. A gateway whose ack was lost
// sends the same rows again, alone or with newer ones in the same batch (its batches follow
// priority, not sequence, so "every seq up to the highest acked" is not a rule): the items
// already in a range here are that resend.
//
// Ranges merge as gaps fill, so a gateway has a few rows. A gap left for good (an item the
// gateway moved to its dead letters, readings its backlog budget replaced by aggregates) keeps
// its two neighbours apart. A gateway sends the lowest sequence number its outbox still holds
// (`status.outboxMinSeq`): ranges wholly below it are forgotten, since those rows were deleted and
// can never come again, and nothing else is — not by time: a row whose answer was lost stays in
// the outbox until acknowledged, however long the gateway is away or wherever the server's clock
// jumps (tests/chaos/server-clock-jump.test.ts). For older gateways, which do not send it, ranges
// not touched for RESEND_WINDOW_MS are pruned.
//
// Sequence numbers count within an outbox epoch (protocol/sync.ts): a new gateway database under
// the same id — an SD card swapped, a re-flash — numbers from 1 again, and its items are new, not
// resends. The ranges held for a gateway are those of its current epoch (`sync_epoch`; no row: the
// epoch of batches that carry none, ''). A batch of another epoch finds nothing held, and its
// acknowledgement (`enter`) drops the old ranges and makes its epoch the current one.
import type { Db } from '../runtime/sqlite.ts';
import { migrate } from '../runtime/sqlite.ts';

/** How long an acknowledged range is remembered after its last merge. */
export const RESEND_WINDOW_MS = 30 * 24 * 3_600_000;

/** The epoch of batches that name none (gateways older than the field). */
export const LEGACY_EPOCH = '';

export type SyncAcked = ReturnType<typeof syncAcked>;

export function syncAcked(db: Db) {
  migrate(db, 'sync-acked', [
    `CREATE TABLE sync_acked (
       gateway TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, at INTEGER NOT NULL,
       PRIMARY KEY (gateway, lo)
     ) WITHOUT ROWID;`,
    `CREATE TABLE sync_epoch (gateway TEXT PRIMARY KEY, epoch TEXT NOT NULL) WITHOUT ROWID;`,
  ]);
  const overlapping = db.prepare(
    'SELECT lo, hi FROM sync_acked WHERE gateway = ? AND lo <= ? AND hi >= ? ORDER BY lo',
  );
  const remove = db.prepare('DELETE FROM sync_acked WHERE gateway = ? AND lo <= ? AND hi >= ?');
  const insert = db.prepare('INSERT INTO sync_acked (gateway, lo, hi, at) VALUES (?, ?, ?, ?)');
  const prune = db.prepare('DELETE FROM sync_acked WHERE gateway = ? AND at < ?');
  const below = db.prepare('DELETE FROM sync_acked WHERE gateway = ? AND hi < ?');
  const current = db.prepare('SELECT epoch FROM sync_epoch WHERE gateway = ?');
  const setEpoch = db.prepare(
    'INSERT INTO sync_epoch (gateway, epoch) VALUES (?, ?) ON CONFLICT(gateway) DO UPDATE SET epoch = excluded.epoch',
  );
  const dropRanges = db.prepare('DELETE FROM sync_acked WHERE gateway = ?');
  const dropEpoch = db.prepare('DELETE FROM sync_epoch WHERE gateway = ?');
  const epochOf = (gateway: string) =>
    (current.get(gateway) as { epoch: string } | undefined)?.epoch ?? LEGACY_EPOCH;
  return {
    /** The gateway's current outbox epoch ('' for batches that carry none, or none yet). */
    epoch: epochOf,
    /**
     * Makes `epoch` the gateway's current one. True when it was not — a new gateway database, or
     * the first batch that names an epoch (a gateway upgraded past the field; after `forget`) —
     * and then the ranges of the old epoch are dropped: their sequence numbers mean nothing in
     * the new one. (A gateway upgraded with a batch whose ack was lost resends it under its new
     * epoch: those items count once more; readings the store already held still do not.) Call it
     * in the transaction that acknowledges the batch, before `record`.
     */
    enter(gateway: string, epoch: string): boolean {
      if (epochOf(gateway) === epoch) return false;
      dropRanges.run(gateway);
      if (epoch === LEGACY_EPOCH) dropEpoch.run(gateway);
      else setEpoch.run(gateway, epoch);
      return true;
    },
    /**
     * Forgets everything acknowledged from the gateway, its epoch too (it was registered again:
     * whatever database it runs now counts from scratch).
     */
    forget(gateway: string): void {
      dropRanges.run(gateway);
      dropEpoch.run(gateway);
    },
    /**
     * The sequence numbers among `seqs` the server acknowledged before in `epoch` (a resend):
     * none when `epoch` is not the gateway's current one. One query over the span of the batch;
     * the ranges inside it are few.
     */
    held(gateway: string, seqs: readonly number[], epoch = LEGACY_EPOCH): Set<number> {
      const out = new Set<number>();
      if (seqs.length === 0 || epochOf(gateway) !== epoch) return out;
      let min = Infinity;
      let max = -Infinity;
      for (const s of seqs) {
        if (s < min) min = s;
        if (s > max) max = s;
      }
      const ranges = overlapping.all(gateway, max, min) as { lo: number; hi: number }[];
      if (ranges.length === 0) return out;
      for (const s of seqs) {
        // Ranges are disjoint and sorted: a binary search finds the one that could hold s.
        let a = 0;
        let b = ranges.length - 1;
        while (a <= b) {
          const m = (a + b) >> 1;
          const r = ranges[m]!;
          if (s < r.lo) b = m - 1;
          else if (s > r.hi) a = m + 1;
          else {
            out.add(s);
            break;
          }
        }
      }
      return out;
    },
    /**
     * Records `seqs` as acknowledged at `now` in the gateway's current epoch (`enter` the batch's
     * first), merged with the ranges they touch or adjoin. Call it in the transaction that
     * acknowledges the batch.
     */
    record(gateway: string, seqs: readonly number[], now: number, outboxMinSeq?: number): void {
      // A gateway that says the lowest sequence it still holds: what lies wholly below it can never
      // come again, and nothing else may be forgotten — however long the gateway was away or
      // wherever the server's clock went (a row whose answer was lost stays in its outbox until
      // acknowledged). Older gateways: ranges untouched for RESEND_WINDOW_MS go.
      if (outboxMinSeq !== undefined) below.run(gateway, outboxMinSeq);
      else prune.run(gateway, now - RESEND_WINDOW_MS);
      const sorted = [...seqs].sort((x, y) => x - y);
      let i = 0;
      while (i < sorted.length) {
        let lo = sorted[i]!;
        let hi = lo;
        while (i + 1 < sorted.length && sorted[i + 1]! <= hi + 1) hi = sorted[++i]!;
        i++;
        for (const r of overlapping.all(gateway, hi + 1, lo - 1) as { lo: number; hi: number }[]) {
          lo = Math.min(lo, r.lo);
          hi = Math.max(hi, r.hi);
        }
        remove.run(gateway, hi, lo);
        insert.run(gateway, lo, hi, now);
      }
    },
    /** The ranges held for a gateway (of its current epoch), lowest first (for tests and diagnosis). */
    ranges(gateway: string): { lo: number; hi: number }[] {
      return overlapping.all(gateway, Number.MAX_SAFE_INTEGER, 0) as { lo: number; hi: number }[];
    },
  };
}
