// Fingerprints of what hatake has stored, to prove that a refused hostile input disturbed nothing:
// every table of the server's database (readings, latest, the review/tip/automation tables, farms,
// gateways, downlink, …) and of the gateway's (readings, outbox, documents), row by row.
import { createHash } from 'node:crypto';
import type { Db } from '../../runtime/sqlite.ts';

/** Tables that change without anyone's input: sessions (log-ins) and SQLite's own bookkeeping. */
const VOLATILE = new Set(['sessions', 'sqlite_sequence', 'sqlite_stat1']);

/** A sha256 per table over all its rows in a stable order. */
export function tableFingerprints(db: Db, skip: readonly string[] = []): Record<string, string> {
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]
  )
    .map((r) => r.name)
    .filter((n) => !VOLATILE.has(n) && !skip.includes(n));
  const out: Record<string, string> = {};
  for (const t of tables) {
    const h = createHash('sha256');
    const rows = db.prepare(`SELECT * FROM "${t}"`).raw(true).all() as unknown[][];
    // Row order is the table's storage order; sort the encoded rows so it does not matter.
    const encoded = rows.map((r) =>
      JSON.stringify(r, (_k, v: unknown) =>
        Buffer.isBuffer(v) ? `b64:${v.toString('base64')}` : typeof v === 'bigint' ? `n:${v}` : v,
      ),
    );
    encoded.sort();
    for (const e of encoded) h.update(e).update('\n');
    out[t] = `${rows.length}:${h.digest('hex').slice(0, 16)}`;
  }
  return out;
}

/** The tables whose fingerprints differ between two snapshots. */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort();
}

/** Every stored reading of the gateway by key, to check old readings are never changed. */
export function gatewayReadings(db: Db): Map<string, string> {
  const rows = db.prepare('SELECT device, metric, time, value, unit, flags FROM readings').all() as {
    device: string;
    metric: string;
    time: number;
    value: number;
    unit: string;
    flags: string;
  }[];
  return new Map(rows.map((r) => [`${r.device}/${r.metric}/${r.time}`, `${r.value} ${r.unit} ${r.flags}`]));
}

/** Keys of `before` whose stored value is gone or different in `after`. */
export function disturbed(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before].filter(([k, v]) => after.get(k) !== v).map(([k]) => k);
}

/**
 * Watches a database for changes between requests: SQLite's total_changes() is read after each
 * request (cheap); only when it moved are the tables fingerprinted, to name what changed.
 */
export class StoreWatch {
  private readonly db: Db;
  private changes: number;
  private fingerprints: Record<string, string>;

  constructor(db: Db) {
    this.db = db;
    this.changes = this.totalChanges();
    this.fingerprints = tableFingerprints(db);
  }

  private totalChanges(): number {
    return (this.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  }

  /** The tables whose rows differ from the last accepted state (none if nothing was written). */
  changed(): string[] {
    if (this.totalChanges() === this.changes) return [];
    return changedTables(this.fingerprints, tableFingerprints(this.db));
  }

  /** Takes the current state as the new baseline (after a request that was allowed to write). */
  accept(): void {
    const n = this.totalChanges();
    if (n === this.changes) return;
    this.changes = n;
    this.fingerprints = tableFingerprints(this.db);
  }
}
