// The gateway's durable store: readings, the sync outbox, dead letters and device state in one
// SQLite file. A reading and its outbox row are written in the same transaction, and only after
// that transaction commits does the broker send the PUBACK.
import { openDatabase, type Db } from '../runtime/sqlite.ts';
import type { Reading } from '../protocol/telemetry.ts';
import type { SyncItem, SyncKind } from '../protocol/sync.ts';

const MIGRATIONS = [
  `
  CREATE TABLE readings (
    device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL, received INTEGER NOT NULL,
    PRIMARY KEY (device, metric, time)
  ) WITHOUT ROWID;
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, priority INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL
  );
  CREATE INDEX outbox_by_priority ON outbox (priority, seq);
  CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, device TEXT, topic TEXT NOT NULL,
    code TEXT NOT NULL, reason TEXT NOT NULL, head BLOB
  );
  CREATE TABLE devices (id TEXT PRIMARY KEY, last_seen INTEGER, online INTEGER);
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
];

/** Lower drains first: documents and events before raw readings. */
export const PRIORITY: Record<SyncKind, number> = { manifest: 10, device_status: 50, reading: 100 };

export const DEAD_LETTER_LIMIT = 10_000;
export const DEAD_LETTER_HEAD_BYTES = 64;

export interface DeadLetter {
  time: number;
  device: string | null;
  topic: string;
  code: string;
  reason: string;
  head: Uint8Array | null;
}

export interface OutboxRow {
  seq: number;
  kind: SyncKind;
  body: string;
}

export class GatewayStore {
  readonly db: Db;
  private readonly insertReading;
  private readonly insertOutbox;
  private readonly insertDead;
  private readonly trimDead;
  private readonly touchDevice;

  constructor(file: string) {
    this.db = openDatabase(file, MIGRATIONS);
    this.insertReading = this.db.prepare(
      'INSERT OR IGNORE INTO readings (device, metric, time, value, unit, flags, received) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertOutbox = this.db.prepare(
      'INSERT INTO outbox (kind, priority, body, created) VALUES (?, ?, ?, ?)',
    );
    this.insertDead = this.db.prepare(
      'INSERT INTO dead_letters (time, device, topic, code, reason, head) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.trimDead = this.db.prepare(
      'DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?',
    );
    this.touchDevice = this.db.prepare(
      'INSERT INTO devices (id, last_seen, online) VALUES (?, ?, 1) ON CONFLICT(id) DO UPDATE SET last_seen = MAX(COALESCE(last_seen, 0), excluded.last_seen)',
    );
  }

  /**
   * Writes a group of accepted readings and dead letters in one transaction (group commit).
   * A reading already stored (same device, metric and time) is a resend: it is neither stored
   * nor queued again. Returns how many readings were new.
   */
  commit(readings: readonly Reading[], dead: readonly DeadLetter[], now: number): number {
    let fresh = 0;
    this.db.transaction(() => {
      for (const r of readings) {
        const flags = JSON.stringify(r.flags);
        if (this.insertReading.run(r.device, r.metric, r.time, r.value, r.unit, flags, now).changes === 1) {
          fresh++;
          this.insertOutbox.run('reading', PRIORITY.reading, JSON.stringify(r), now);
        }
        this.touchDevice.run(r.device, now);
      }
      for (const d of dead) {
        this.insertDead.run(d.time, d.device, d.topic, d.code, d.reason, d.head);
      }
      if (dead.length > 0) this.trimDead.run(DEAD_LETTER_LIMIT);
    })();
    return fresh;
  }

  /** Queues a document or event (not a reading) for the server. */
  enqueue(kind: Exclude<SyncKind, 'reading'>, body: unknown, now: number): void {
    this.insertOutbox.run(kind, PRIORITY[kind], JSON.stringify(body), now);
  }

  /** Records a device's online state (from its retained status or last will) and queues the event. */
  setDeviceOnline(device: string, online: boolean, now: number): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO devices (id, last_seen, online) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET online = excluded.online',
        )
        .run(device, online ? now : null, online ? 1 : 0);
      this.enqueue('device_status', { device, online, time: now }, now);
    })();
  }

  /** The next rows to send: highest priority first, oldest first within a priority. */
  peekOutbox(limit: number): OutboxRow[] {
    return this.db
      .prepare('SELECT seq, kind, body FROM outbox ORDER BY priority, seq LIMIT ?')
      .all(limit) as OutboxRow[];
  }

  /** Forgets rows the server has acknowledged. */
  deleteOutbox(seqs: readonly number[]): void {
    const del = this.db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.db.transaction(() => {
      for (const s of seqs) del.run(s);
    })();
  }

  /** Moves rows the server will never accept to the dead letters, with its reason. */
  deadLetterOutbox(rows: readonly OutboxRow[], code: string, reason: string, now: number): void {
    this.db.transaction(() => {
      for (const r of rows) {
        this.insertDead.run(
          now,
          null,
          `outbox/${r.kind}`,
          code,
          reason,
          Buffer.from(r.body.slice(0, DEAD_LETTER_HEAD_BYTES)),
        );
      }
      this.deleteOutbox(rows.map((r) => r.seq));
    })();
  }

  outboxDepth(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }

  readingCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM readings').get() as { n: number }).n;
  }

  deadLetters(limit = 100): DeadLetter[] {
    return this.db
      .prepare('SELECT time, device, topic, code, reason, head FROM dead_letters ORDER BY id DESC LIMIT ?')
      .all(limit) as DeadLetter[];
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
      ?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  close(): void {
    this.db.close();
  }
}

/** Turns outbox rows into protocol sync items. */
export function toSyncItems(rows: readonly OutboxRow[]): SyncItem[] {
  return rows.map((r) => ({ seq: r.seq, kind: r.kind, body: JSON.parse(r.body) }) as SyncItem);
}
