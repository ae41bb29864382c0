// The commit writer thread (gateway/commit-writer.ts): the ingest's group commits run here, on
// their own SQLite connection to the gateway's file, so the event loop that serves the broker
// decodes the next messages while a group is written and fsync'd. Plain JavaScript with no
// TypeScript imports, so the thread starts in milliseconds and costs a few MB, not a loader.
import { Buffer } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { prepareCommit } from './commit-sql.js';

// The pragmas of runtime/sqlite.ts openDatabase (synchronous and busy_timeout are per connection;
// WAL is the file's, set when the store opened it).
const db = new Database(workerData.file);
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
// A small page cache: this connection appends; the store's own connection does the reading.
db.pragma('cache_size = -1024');
const commit = prepareCommit(db);
// Fault injection for the chaos suite: every commit takes this much longer, as on a slow SD card
// (a PUBACK sent before its commit is then lost to a crash every time, not by chance).
const delayMs = Number(workerData.delayMs) || 0;
const sleeper = delayMs > 0 ? new Int32Array(new SharedArrayBuffer(4)) : undefined;

parentPort.on('message', (m) => {
  if (m.type === 'budget') {
    // SQLite's max_page_count is a setting of each connection: the store's budget, here too.
    db.pragma(`max_page_count = ${Number(m.pages)}`);
    return;
  }
  if (m.type === 'close') {
    db.close();
    parentPort.postMessage({ id: m.id, fresh: 0 });
    parentPort.close();
    return;
  }
  try {
    // A dead letter's head arrives as a Uint8Array; SQLite binds a Buffer as a blob.
    const dead = m.dead.map((d) => (d.head ? { ...d, head: Buffer.from(d.head) } : d));
    if (sleeper) Atomics.wait(sleeper, 0, 0, delayMs);
    const r = commit(m.readings, dead, m.now, m.heardBy, m.deadLimit);
    parentPort.postMessage({ id: m.id, fresh: r.fresh });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { message: String(e?.message ?? e), code: e?.code } });
  }
});
