// The review audit log: who did what to which recommendation (or a farm's auto-approval policy),
// when, what changed and why. Append-only twice over: SQLite triggers refuse UPDATE and DELETE
// (dashboard/review/schema.ts), and every row carries sha256(previous hash + its own content), so
// a row changed behind the triggers' back (or a dropped trigger) shows up in `verifyAuditChain`.
import { createHash } from 'node:crypto';
import type { Db } from '../../runtime/sqlite.ts';
import type { AuditAction, AuditChange, AuditEntry } from '../../protocol/review.ts';

const GENESIS = '0'.repeat(64);

export interface AuditInput {
  at: number;
  farm: string;
  recommendation: string | null;
  actor: string;
  role: string;
  action: AuditAction;
  fromStatus: string | null;
  toStatus: string | null;
  changes: AuditChange[];
  reason: string | null;
}

interface AuditRow {
  seq: number;
  at: number;
  farm: string;
  recommendation: string | null;
  actor: string;
  role: string;
  action: AuditAction;
  from_status: string | null;
  to_status: string | null;
  changes: string;
  reason: string | null;
  prev_hash: string;
  hash: string;
}

function rowHash(prev: string, r: Omit<AuditRow, 'seq' | 'prev_hash' | 'hash'>): string {
  const canonical = JSON.stringify([
    prev,
    r.at,
    r.farm,
    r.recommendation,
    r.actor,
    r.role,
    r.action,
    r.from_status,
    r.to_status,
    r.changes,
    r.reason,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Appends one entry (call inside the transaction that makes the change); returns its sequence. */
export function appendAudit(db: Db, e: AuditInput): number {
  const prev =
    (
      db.prepare('SELECT hash FROM review_audit ORDER BY seq DESC LIMIT 1').get() as
        { hash: string } | undefined
    )?.hash ?? GENESIS;
  const row = {
    at: e.at,
    farm: e.farm,
    recommendation: e.recommendation,
    actor: e.actor,
    role: e.role,
    action: e.action,
    from_status: e.fromStatus,
    to_status: e.toStatus,
    changes: JSON.stringify(e.changes),
    reason: e.reason,
  };
  const info = db
    .prepare(
      `INSERT INTO review_audit (at, farm, recommendation, actor, role, action, from_status, to_status, changes, reason, prev_hash, hash)
       VALUES (@at, @farm, @recommendation, @actor, @role, @action, @from_status, @to_status, @changes, @reason, @prev_hash, @hash)`,
    )
    .run({ ...row, prev_hash: prev, hash: rowHash(prev, row) });
  return Number(info.lastInsertRowid);
}

const toEntry = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  at: new Date(r.at).toISOString(),
  farm: r.farm,
  recommendation: r.recommendation,
  actor: r.actor,
  role: r.role,
  action: r.action,
  fromStatus: r.from_status,
  toStatus: r.to_status,
  changes: JSON.parse(r.changes) as AuditChange[],
  reason: r.reason,
});

/** A recommendation's entries, oldest first. */
export function auditOf(db: Db, farm: string, recommendation: string): AuditEntry[] {
  return (
    db
      .prepare('SELECT * FROM review_audit WHERE farm = ? AND recommendation = ? ORDER BY seq')
      .all(farm, recommendation) as AuditRow[]
  ).map(toEntry);
}

/** Decisions (and policy changes) on some farms in a time window, oldest first. */
export function decisionsOf(
  db: Db,
  farms: string[],
  from: number,
  to: number,
  limit = 100_000,
): AuditEntry[] {
  if (farms.length === 0) return [];
  return (
    db
      .prepare(
        `SELECT * FROM review_audit WHERE farm IN (${farms.map(() => '?').join(',')}) AND at >= ? AND at < ?
         AND action IN ('edited', 'approved', 'rejected', 'auto_approved', 'policy_set', 'policy_removed')
         ORDER BY seq LIMIT ?`,
      )
      .all(...farms, from, to, limit) as AuditRow[]
  ).map(toEntry);
}

/** Re-computes the hash chain; names the first row that does not match. */
export function verifyAuditChain(db: Db): { ok: true; rows: number } | { ok: false; seq: number } {
  let prev = GENESIS;
  let rows = 0;
  for (const r of db.prepare('SELECT * FROM review_audit ORDER BY seq').iterate() as Iterable<AuditRow>) {
    if (r.prev_hash !== prev || rowHash(prev, r) !== r.hash) return { ok: false, seq: r.seq };
    prev = r.hash;
    rows++;
  }
  return { ok: true, rows };
}
