// bench/sync: drain throughput of a large offline backlog (readings/s from the gateway's outbox
// to a server on loopback, acknowledged and durable there) and the bytes on the wire per reading,
// beside the same readings written straight into the server's store in this process (the peer:
// what the drain costs over writing the rows directly).
//   node --import tsx bench/sync.ts [--readings 1000000] [--devices 200]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Reading } from '../protocol/telemetry.ts';
import { GatewayStore } from '../gateway/store.ts';
import { SyncClient } from '../gateway/sync-client.ts';
import { resolveTunables } from '../gateway/config.ts';
import { HatakeServer } from '../dashboard/server.ts';
import { openServerDb } from '../dashboard/db.ts';
import { SqliteReadingStore } from '../dashboard/storage/sqlite.ts';
import { report, type BenchRow } from './lib/report.ts';

const { values: args } = parseArgs({
  options: { readings: { type: 'string', default: '1000000' }, devices: { type: 'string', default: '200' } },
});
const N = Number(args.readings);
const SHIPPED = resolveTunables({}).sync;
const BATCH = `batches of ${SHIPPED.batchMaxItems} items / ${SHIPPED.batchMaxBytes / 1024 / 1024} MB as shipped`;
const DEVICES = Number(args.devices);
const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-sync-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });

/** One reading per device per minute, going back from now: N readings in all. */
function* backlog(): Generator<Reading[]> {
  const perDevice = Math.ceil(N / DEVICES);
  const t0 = Date.now() - perDevice * 60_000;
  let chunk: Reading[] = [];
  for (let i = 0; i < perDevice; i++) {
    for (let d = 0; d < DEVICES && i * DEVICES + d < N; d++) {
      chunk.push({
        device: `dev-${d}`,
        metric: 'soil_vwc',
        value: 0.2 + ((i + d) % 100) / 1000,
        unit: 'm3/m3',
        time: t0 + i * 60_000,
        flags: [],
      });
      if (chunk.length === 20_000) {
        yield chunk;
        chunk = [];
      }
    }
  }
  if (chunk.length) yield chunk;
}

// The gateway's backlog.
const store = new GatewayStore(join(dir, 'gateway.db'));
const fillStart = performance.now();
for (const chunk of backlog()) store.commit(chunk, [], Date.now());
const fillS = (performance.now() - fillStart) / 1000;
process.stdout.write(`backlog of ${N} readings written in ${fillS.toFixed(1)} s\n`);

// hatake: drain to a real server over HTTP on loopback.
const server = await HatakeServer.create({
  dataDir: join(dir, 'server'),
  host: '127.0.0.1',
  port: 0,
  logger: log,
});
const port = await server.listen();
const token = server.ctx.auth.issueGatewayToken('bench-gw', 'bench-farm');
server.ctx.db.prepare("INSERT INTO farms (id, name) VALUES ('bench-farm', 'Bench farm')").run();
const sync = new SyncClient(
  store,
  {
    gatewayId: 'bench-gw',
    url: `http://127.0.0.1:${port}`,
    token,
    intervalMs: 60_000,
    // The batch size a gateway ships with (sync.batchMaxItems, sync.batchMaxBytes), not a tuned one.
    batchMaxItems: SHIPPED.batchMaxItems,
    batchMaxBytes: SHIPPED.batchMaxBytes,
  },
  log,
);
const drainStart = performance.now();
await sync.drain();
const drainS = (performance.now() - drainStart) / 1000;
await sync.stop();
if (store.outboxDepth() !== 0 || (await server.ctx.readings.count('bench-farm')) !== N)
  throw new Error('drain incomplete');
const bytesPerReading = sync.status.sentBytes / N;
await server.close();

// Peer: the same rows written directly into a fresh server store (no HTTP, no JSON, no gzip).
const peerDb = openServerDb(join(dir, 'peer.db'));
const peer = new SqliteReadingStore(peerDb);
const peerStart = performance.now();
for (const chunk of backlog()) await peer.writeReadings(chunk.map((r) => ({ ...r, farm: 'bench-farm' })));
const peerS = (performance.now() - peerStart) / 1000;
peerDb.close();

const rows: BenchRow[] = [
  {
    figure: `sync drain, ${N} readings backlog, ${BATCH}`,
    unit: 'readings/s',
    hatake: N / drainS,
    peer: N / peerS,
    peerName: 'direct writes into the server store',
    better: 'higher',
    target: 'report',
    met: null,
  },
  {
    figure: 'bytes on the wire per reading (gzip JSON)',
    unit: 'B',
    hatake: bytesPerReading,
    peer: null,
    peerName: '',
    better: 'lower',
    target: 'report',
    met: null,
  },
  {
    figure: `time to drain ${N} readings`,
    unit: 's',
    hatake: drainS,
    peer: peerS,
    peerName: 'direct writes',
    better: 'lower',
    target: 'report',
    met: null,
  },
];
report('sync', rows);
process.exit(0);
