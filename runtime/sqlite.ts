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
