// The peer pipeline for bench/ingest: an mqtt.js subscriber on Mosquitto that writes each
// telemetry message's readings and outbox rows to SQLite, committing everything that arrived in
// one turn of the event loop together (the same group commit hatake uses), WAL, synchronous=FULL.
import Database from 'better-sqlite3';
import mqtt from 'mqtt';

const [url, dbFile, qosArg] = process.argv.slice(2) as [string, string, string];
const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`CREATE TABLE IF NOT EXISTS readings (device TEXT, metric TEXT, time INTEGER, value REAL, PRIMARY KEY (device, metric, time)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)`);
const ins = db.prepare('INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?)');
const out = db.prepare('INSERT INTO outbox (body) VALUES (?)');
let pending: { device: string; payload: Buffer }[] = [];
let scheduled = false;
const flush = db.transaction((batch: { device: string; payload: Buffer }[]) => {
  for (const m of batch) {
    let p: { time?: number; values?: Record<string, number> };
    try {
      p = JSON.parse(m.payload.toString());
    } catch {
      continue;
    }
    for (const [metric, value] of Object.entries(p.values ?? {})) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      if (ins.run(m.device, metric, p.time ?? Date.now(), value).changes)
        out.run(JSON.stringify({ device: m.device, metric, value, time: p.time }));
    }
  }
});
const client = mqtt.connect(url, { clientId: 'bench-subscriber', clean: true });
client.on('connect', () => {
  client.subscribe('hatake/v1/+/+/up', { qos: Number(qosArg) as 0 | 1 }, () =>
    process.stdout.write('ready\n'),
  );
});
client.on('message', (topic, payload) => {
  pending.push({ device: topic.split('/')[3]!, payload });
  if (!scheduled) {
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const batch = pending;
      pending = [];
      flush(batch);
    });
  }
});
process.on('SIGTERM', () => {
  client.end(true, () => process.exit(0));
});
