// The embedded default time-series store: readings in the server's SQLite file, keyed so that a
// resent reading is a no-op, with a `latest` table kept beside it for the live pages.
import type { Db } from '../../runtime/sqlite.ts';
import type { ApplyResult, FarmReading, LatestRow, ReadingStore } from './types.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS readings (
    farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL,
    PRIMARY KEY (farm, device, metric, time)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS latest (
    farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL,
    PRIMARY KEY (farm, device, metric)
  ) WITHOUT ROWID;
`;

export class SqliteReadingStore implements ReadingStore {
  private readonly db: Db;
  private readonly insert;
  private readonly upsertLatest;

  constructor(db: Db) {
    this.db = db;
    db.exec(SCHEMA);
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO readings (farm, device, metric, time, value, unit, flags) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.upsertLatest = db.prepare(
      `INSERT INTO latest (farm, device, metric, time, value, unit, flags) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (farm, device, metric) DO UPDATE SET time = excluded.time, value = excluded.value,
         unit = excluded.unit, flags = excluded.flags WHERE excluded.time >= latest.time`,
    );
  }

  /** Synchronous core, so the sync endpoint can run it inside its own transaction. */
  writeReadingsSync(readings: readonly FarmReading[]): ApplyResult {
    let applied = 0;
    for (const r of readings) {
      const flags = JSON.stringify(r.flags);
      if (this.insert.run(r.farm, r.device, r.metric, r.time, r.value, r.unit, flags).changes === 1) {
        applied++;
        this.upsertLatest.run(r.farm, r.device, r.metric, r.time, r.value, r.unit, flags);
      }
    }
    return { applied, duplicates: readings.length - applied };
  }

  async writeReadings(readings: readonly FarmReading[]): Promise<ApplyResult> {
    return this.db.transaction(() => this.writeReadingsSync(readings))();
  }

  async latest(farms: readonly string[]): Promise<LatestRow[]> {
    if (farms.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT farm, device, metric, value, unit, time, flags FROM latest WHERE farm IN (${farms.map(() => '?').join(',')}) ORDER BY farm, device, metric`,
      )
      .all(...farms) as (Omit<LatestRow, 'flags'> & { flags: string })[];
    return rows.map((r) => ({ ...r, flags: JSON.parse(r.flags) as string[] }));
  }

  async count(farm: string, device?: string): Promise<number> {
    const row = device
      ? this.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE farm = ? AND device = ?').get(farm, device)
      : this.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE farm = ?').get(farm);
    return (row as { n: number }).n;
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    this.db.prepare('SELECT 1').get();
    return { ok: true };
  }

  async close(): Promise<void> {}
}
