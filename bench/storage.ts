// bench/storage: points per second the server's sync endpoint writes into InfluxDB, beside the
// same points written directly with the `influx` client, in the same run, into the same influxd
// (Debian's influxdb 1.6, started here on free ports).
//
// hatake: the server runs in its own process (as it does beside a real influxd); G gateways POST
// their outbox to it as gzip'd sync batches of 5,000 readings, one batch in flight per gateway,
// as the real sync client does; the server validates, labels, batches and writes them, and
// answers only once they are stored. peer: the same points (same measurement, tags, fields,
// timestamps) handed to `influx.writePoints` in batches of 5,000 with G writes in flight.
// Rounds alternate (peer, hatake, peer, hatake, …) on fresh timestamps; the median round of each
// is reported (a shared machine makes single rounds noisy), with the CPU each side used per
// 1,000 points.
//   node --import tsx bench/storage.ts [--gateways 4] [--batches 8] [--rounds 5] [--in-flight N]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { InfluxDB, FieldType, type IPoint } from 'influx';
import type { Manifest } from '../protocol/manifest.ts';
import type { StorageConfig } from '../protocol/server-config.ts';
import type { SyncBatch } from '../protocol/sync.ts';
import { HatakeServer } from '../dashboard/server.ts';
import { RAW_RP, M_READING } from '../dashboard/storage/influx.ts';
import { startInfluxd } from '../tests/helpers/influxd.ts';
import { cpuSeconds, median, report, type BenchRow } from './lib/report.ts';

const { values: args } = parseArgs({
  options: {
    gateways: { type: 'string', default: '4' },
    batches: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    'in-flight': { type: 'string' },
    // Internal: run as the server process.
    serve: { type: 'string' },
  },
});
const GATEWAYS = Number(args.gateways);
const BATCHES = Number(args.batches);
const ROUNDS = Number(args.rounds);
const BATCH = 5000;
const DEVICES = 100;
const METRICS = ['soil_vwc', 'soil_temperature', 'soil_ec', 'air_temperature', 'air_humidity'];
const UNITS: Record<string, string> = {
  soil_vwc: 'm3/m3',
  soil_temperature: 'degC',
  soil_ec: 'dS/m',
  air_temperature: 'degC',
  air_humidity: '%',
};
const farmOf = (g: number) => `bench-farm-${g}`;

if (args.serve !== undefined) {
  // The server process: starts, issues the gateways' tokens, says where it listens, and closes
  // cleanly on SIGTERM.
  const { dataDir, storage, gateways } = JSON.parse(args.serve) as {
    dataDir: string;
    storage: StorageConfig;
    gateways: number;
  };
  const server = await HatakeServer.create({ dataDir, host: '127.0.0.1', port: 0, logger: false, storage });
  const port = await server.listen();
  const tokens = Array.from({ length: gateways }, (_, g) =>
    server.ctx.auth.issueGatewayToken(`gw-${g}`, farmOf(g)),
  );
  process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}`, tokens })}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else {
  await main();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-storage-'));
  const influxd = await startInfluxd();
  const storage: StorageConfig = {
    kind: 'influx',
    url: influxd.url,
    database: 'bench_endpoint',
    ...(args['in-flight'] ? { batch: { maxInFlight: Number(args['in-flight']) } } : {}),
  };
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      import.meta.filename,
      '--serve',
      JSON.stringify({ dataDir: join(dir, 'server'), storage, gateways: GATEWAYS }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.on('exit', () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const { url, tokens } = await new Promise<{ url: string; tokens: string[] }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('READY ')) resolve(JSON.parse(l.slice(6)) as { url: string; tokens: string[] });
    });
  });

  const seq = Array<number>(GATEWAYS).fill(0);
  const body = (g: number, items: SyncBatch['items']) =>
    gzipSync(
      JSON.stringify({
        gateway: `gw-${g}`,
        seqFrom: items[0]!.seq,
        seqTo: items.at(-1)!.seq,
        sentAt: Date.now(),
        items,
      }),
    );
  const send = async (g: number, b: Buffer) => {
    const res = await fetch(`${url}/api/v1/sync`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens[g]}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: new Uint8Array(b),
    });
    if (res.status !== 200) throw new Error(`sync answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  for (let g = 0; g < GATEWAYS; g++)
    await send(g, body(g, [{ seq: ++seq[g]!, kind: 'manifest', body: manifest(g) }]));

  // The peer: the same client library and point schema, a database prepared the same way.
  const direct = new InfluxDB({
    host: '127.0.0.1',
    port: influxd.port,
    database: 'bench_direct',
    schema: [
      {
        measurement: M_READING,
        tags: ['farm', 'field', 'device', 'metric', 'kit'],
        fields: { value: FieldType.FLOAT, unit: FieldType.STRING, flags: FieldType.INTEGER },
      },
    ],
  });
  await direct.createDatabase('bench_direct');
  await direct.createRetentionPolicy(RAW_RP, {
    database: 'bench_direct',
    duration: '90d',
    replication: 1,
    isDefault: true,
  });

  const total = GATEWAYS * BATCHES * BATCH;
  const runs = { hatake: [] as number[], peer: [] as number[] };
  const cpu = { server: 0, influxdHatake: 0, influxdPeer: 0, peerClient: 0 };
  const influxdCpu = () => cpuSeconds(influxd.pid!);
  for (let round = 0; round < ROUNDS; round++) {
    const perGateway = Array.from({ length: GATEWAYS }, (_, g) => readingsFor(round, g));

    // Peer: the points the server would write, prepared before the clock starts.
    const points: IPoint[][] = perGateway.flatMap((batches, g) =>
      batches.map((batch) =>
        batch.map((r) => ({
          measurement: M_READING,
          tags: {
            farm: farmOf(g),
            field: fieldOf(r.device),
            device: r.device,
            metric: r.metric,
            kit: 'hatake-soil-probe',
          },
          fields: { value: r.value, unit: r.unit, flags: 0 },
          timestamp: String(r.time),
        })),
      ),
    );
    const c0 = process.cpuUsage();
    let i0 = influxdCpu();
    let t = performance.now();
    await pool(points.length, GATEWAYS, (i) =>
      direct.writePoints(points[i]!, { precision: 'ms', retentionPolicy: RAW_RP, database: 'bench_direct' }),
    );
    runs.peer.push(total / ((performance.now() - t) / 1000));
    const used = process.cpuUsage(c0);
    cpu.peerClient += (used.user + used.system) / 1e6;
    cpu.influxdPeer += influxdCpu() - i0;

    // hatake: gzip'd sync bodies prepared before the clock starts (compressing is the gateway's work).
    const bodies = perGateway.map((batches, g) =>
      batches.map((batch) =>
        body(
          g,
          batch.map((r) => ({ seq: ++seq[g]!, kind: 'reading' as const, body: r })),
        ),
      ),
    );
    const s0 = cpuSeconds(child.pid!);
    i0 = influxdCpu();
    t = performance.now();
    await Promise.all(
      bodies.map(async (gwBodies, g) => {
        for (const b of gwBodies) await send(g, b);
      }),
    );
    runs.hatake.push(total / ((performance.now() - t) / 1000));
    cpu.server += cpuSeconds(child.pid!) - s0;
    cpu.influxdHatake += influxdCpu() - i0;
  }

  // Both databases must hold every point exactly once, or the figures mean nothing.
  const countIn = async (db: string) => {
    const r = (await direct.query(`SELECT count("value") AS n FROM "${RAW_RP}"."${M_READING}"`, {
      database: db,
    })) as unknown as { n: number }[];
    return r[0]?.n ?? 0;
  };
  const [inPeer, inHatake] = [await countIn('bench_direct'), await countIn('bench_endpoint')];
  if (inPeer !== total * ROUNDS || inHatake !== total * ROUNDS)
    throw new Error(
      `point counts differ: direct ${inPeer}, endpoint ${inHatake}, expected ${total * ROUNDS}`,
    );

  const hatake = median(runs.hatake);
  const peer = median(runs.peer);
  const perK = (s: number) => (s / (total * ROUNDS)) * 1000 * 1000; // ms of CPU per 1,000 points
  const rows: BenchRow[] = [
    {
      figure: `sync endpoint → InfluxDB, ${GATEWAYS} gateways × ${BATCHES} batches of ${BATCH}, median of ${ROUNDS}`,
      unit: 'points/s',
      hatake,
      peer,
      peerName: `influx.writePoints direct, ${GATEWAYS} in flight`,
      better: 'higher',
      target: '≥ 0.70 × direct',
      met: hatake >= 0.7 * peer,
    },
  ];
  report('Storage: server sync endpoint into InfluxDB vs direct writes', rows);
  process.stdout.write(
    [
      `rounds (points/s): hatake ${runs.hatake.map((x) => x.toFixed(0)).join(', ')}; direct ${runs.peer.map((x) => x.toFixed(0)).join(', ')}`,
      `CPU per 1,000 points: hatake server ${perK(cpu.server).toFixed(1)} ms + influxd ${perK(cpu.influxdHatake).toFixed(1)} ms; ` +
        `direct client ${perK(cpu.peerClient).toFixed(1)} ms + influxd ${perK(cpu.influxdPeer).toFixed(1)} ms ` +
        `(${cpus().length} cores)`,
      '',
    ].join('\n'),
  );
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await influxd.destroy();
}

function manifest(g: number): Manifest {
  return {
    farm: { id: farmOf(g), name: `Bench farm ${g}` },
    fields: [
      { id: 'field-a', name: 'A' },
      { id: 'field-b', name: 'B' },
    ],
    devices: Array.from({ length: DEVICES }, (_, d) => ({
      id: `dev-${d}`,
      kit: 'hatake-soil-probe',
      field: fieldOf(`dev-${d}`),
    })),
  };
}

function fieldOf(device: string): string {
  return Number(device.slice(4)) % 2 ? 'field-a' : 'field-b';
}

interface R {
  device: string;
  metric: string;
  value: number;
  unit: string;
  time: number;
  flags: never[];
}

/** One gateway's readings for a round: BATCHES × 5,000, every device and metric, 1 s apart. */
function readingsFor(round: number, g: number): R[][] {
  const t0 = Date.now() - 2 * 86_400_000 + round * 3_600_000 + g;
  const out: R[][] = [];
  let k = 0;
  for (let b = 0; b < BATCHES; b++) {
    const batch: R[] = [];
    for (let i = 0; i < BATCH; i++, k++) {
      const slot = Math.floor(k / (DEVICES * METRICS.length));
      const metric = METRICS[Math.floor(k / DEVICES) % METRICS.length]!;
      batch.push({
        device: `dev-${k % DEVICES}`,
        metric,
        value: 0.1 + (k % 97) / 100,
        unit: UNITS[metric]!,
        time: t0 + slot * 1000,
        flags: [],
      });
    }
    out.push(batch);
  }
  return out;
}

/** Runs `work(i)` for i in 0…n-1 with `width` in flight. */
async function pool(n: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await work(next++);
    }),
  );
}
