// Opening the gateway's SQLite file the way an SD card in a barn needs: WAL, synchronous=FULL
// (a PUBACK'd reading must survive a power cut, not only a crash), and numbered migrations.
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Opens (creating) a database file and applies the migrations it has not seen yet. */
export function openDatabase(file: string, migrations: readonly string[]): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/**
 * Applies a named module's own numbered migrations (for parts of the server that keep their own
 * tables): each name has its own version in `schema_versions`, so modules never renumber each other.
 */
export function migrate(db: Db, name: string, migrations: readonly string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_versions WHERE name = ?').get(name) as
    { version: number } | undefined;
  for (let v = row?.version ?? 0; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.prepare(
        'INSERT INTO schema_versions (name, version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET version = excluded.version',
      ).run(name, v + 1);
    })();
  }
}
