// The ingest commit: a group of readings and dead letters written in one SQLite transaction, each
// new reading with its outbox row. Plain JavaScript with no imports of ours, because it runs in
// two places: in the gateway's store (gateway/store.ts, on the main thread) and in the commit
// writer thread (gateway/commit-worker.js), which starts without the TypeScript loader.
// Types: commit-sql.d.ts.
import { Buffer } from 'node:buffer';

/** The outbox priority of a reading (PRIORITY.reading in gateway/store.ts; checked by a test). */
export const READING_PRIORITY = 100;

/** Outbox rows for readings written by one statement (fewer statements, one sequence update). */
const OUTBOX_ROWS_PER_INSERT = 32;

/** Adds to the outbox's totals (bytes, rows): every change to the outbox runs it in its transaction. */
export const OUTBOX_TOTAL_ADD_SQL = 'UPDATE outbox_total SET bytes = bytes + ?, rows = rows + ? WHERE id = 0';

/** Keeps the newest `?` dead letters; rows with a whole body (refused documents) are never trimmed. */
export const TRIM_DEAD_SQL =
  'DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ? AND body IS NULL';

const SQL = {
  insertReading:
    'INSERT OR IGNORE INTO readings (device, metric, time, value, unit, flags, received) VALUES (?, ?, ?, ?, ?, ?, ?)',
  readingRow: `('reading', ${READING_PRIORITY}, ?, ?)`,
  insertDead: 'INSERT INTO dead_letters (time, device, topic, code, reason, head) VALUES (?, ?, ?, ?, ?, ?)',
  touchDevice: `INSERT INTO devices (id, last_seen, online) VALUES (?, ?, 1)
     ON CONFLICT(id) DO UPDATE SET last_seen = MAX(COALESCE(last_seen, 0), excluded.last_seen), silent_since = NULL`,
  setHeardBy: `INSERT INTO devices (id, lora_gateway, lora_gateways, rssi, snr) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET lora_gateway = excluded.lora_gateway, lora_gateways = excluded.lora_gateways,
       rssi = COALESCE(excluded.rssi, rssi), snr = COALESCE(excluded.snr, snr)`,
};

const RADIO = new Set(['battery', 'rssi', 'snr']);

/**
 * Prepares the commit on a database (its migrations applied) and returns it. The commit writes
 * the readings (a reading already held is skipped, with no outbox row), their outbox rows in the
 * readings' order, the devices' last-seen and radio values, LoRaWAN reception, and the dead
 * letters (trimmed to `deadLimit`), all or nothing.
 */
export function prepareCommit(db) {
  const insertReading = db.prepare(SQL.insertReading);
  const insertReadingBody = db.prepare(
    `INSERT INTO outbox (kind, priority, body, created) VALUES ${SQL.readingRow}`,
  );
  const insertReadingBodies = db.prepare(
    `INSERT INTO outbox (kind, priority, body, created) VALUES ${Array(OUTBOX_ROWS_PER_INSERT).fill(SQL.readingRow).join(', ')}`,
  );
  const insertDead = db.prepare(SQL.insertDead);
  const trimDead = db.prepare(TRIM_DEAD_SQL);
  const touchDevice = db.prepare(SQL.touchDevice);
  const setHeardBy = db.prepare(SQL.setHeardBy);
  const addOutboxTotal = db.prepare(OUTBOX_TOTAL_ADD_SQL);
  const setRadio = {
    battery: db.prepare('UPDATE devices SET battery = ? WHERE id = ?'),
    rssi: db.prepare('UPDATE devices SET rssi = ? WHERE id = ?'),
    snr: db.prepare('UPDATE devices SET snr = ? WHERE id = ?'),
  };
  // The parameters of insertReadingBodies, filled as new readings come: body, created, …
  const args = new Array(2 * OUTBOX_ROWS_PER_INSERT).fill(0);
  let result = { fresh: 0 };
  const write = db.transaction((readings, dead, now, heardBy, deadLimit) => {
    // One device-state update per device per commit, not per reading.
    const seen = new Set();
    let fresh = 0;
    let added = 0;
    let queued = 0; // parameters in `args`
    for (const r of readings) {
      const flags = r.flags.length === 0 ? '[]' : JSON.stringify(r.flags);
      if (insertReading.run(r.device, r.metric, r.time, r.value, r.unit, flags, now).changes === 1) {
        fresh++;
        const body = JSON.stringify(r);
        added += Buffer.byteLength(body);
        args[queued++] = body;
        args[queued++] = now;
        if (queued === args.length) {
          insertReadingBodies.run(args);
          queued = 0;
        }
      }
      seen.add(r.device);
      if (RADIO.has(r.metric)) setRadio[r.metric].run(r.value, r.device);
    }
    for (let i = 0; i < queued; i += 2) insertReadingBody.run(args[i], now);
    if (fresh > 0) addOutboxTotal.run(added, fresh);
    for (const device of seen) touchDevice.run(device, now);
    for (const [device, h] of heardBy)
      setHeardBy.run(device, h.gateway, h.gateways, h.rssi ?? null, h.snr ?? null);
    for (const d of dead) insertDead.run(d.time, d.device, d.topic, d.code, d.reason, d.head);
    if (dead.length > 0) trimDead.run(deadLimit);
    result = { fresh };
  });
  return (readings, dead, now, heardBy, deadLimit) => {
    write(readings, dead, now, heardBy, deadLimit);
    return result;
  };
}
