// bench/ingest: the gateway's ingest (publish → durable in SQLite) against Mosquitto + an mqtt.js
// subscriber writing to SQLite, both measured in this run on this machine, QoS 0 and QoS 1:
// messages per second and CPU per message. Then the gateway's RSS and CPU with 500 devices
// connected and reporting once a minute.
//   node --import tsx bench/ingest.ts [--messages 20000] [--devices 50] [--only qos0|qos1|idle]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { provisionRegistry } from '../firmware-config/provision.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { cpuSeconds, peakRssMb, report, rssMb, type BenchRow } from './lib/report.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    devices: { type: 'string', default: '50' },
    idle: { type: 'string', default: '500' },
    window: { type: 'string', default: '30' },
    only: { type: 'string' },
    'node-flags': { type: 'string', default: '' },
  },
});
// The gateway runs with the V8 flags of its systemd unit (docs/systemd/hatake-gateway.service).
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=1'];
const NODE_FLAGS = args['node-flags'] ? args['node-flags'].split(' ') : GATEWAY_NODE_FLAGS;
const MESSAGES = Number(args.messages);
const DEVICES = Number(args.devices);
const IDLE_DEVICES = Number(args.idle);
const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-ingest-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function spawnWaiting(cmd: string, argv: string[], ready: string | RegExp): Promise<ChildProcess> {
  // Info level so the gateway's "gateway started" line (the readiness signal) is printed.
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HATAKE_LOG_LEVEL: 'info' },
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d.toString();
      if (typeof ready === 'string' ? out.includes(ready) : ready.test(out)) resolve(child);
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out.slice(-2000)}`)));
  });
}

const stop = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))));

function manifestFor(n: number): Manifest {
  return {
    farm: { id: 'bench-farm', name: 'Bench farm' },
    fields: [],
    devices: Array.from({ length: n }, (_, i) => ({ id: `dev-${i}`, kit: 'hatake-soil-probe' })),
  };
}

async function connectAll(
  url: string,
  n: number,
  secrets: Record<string, string> | undefined,
): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) =>
        mqtt.connectAsync(url, {
          username: `dev-${i + k}`,
          password: secrets?.[`dev-${i + k}`],
          clientId: `dev-${i + k}`,
          reconnectPeriod: 0,
        }),
      ),
    );
    clients.push(...batch);
  }
  return clients;
}

/** Publishes MESSAGES messages spread over the clients; resolves when all are sent (QoS 1: acknowledged). */
async function publishAll(clients: MqttClient[], qos: 0 | 1, t0: number): Promise<void> {
  const per = Math.ceil(MESSAGES / clients.length);
  await Promise.all(
    clients.map(async (c, d) => {
      let window: Promise<unknown>[] = [];
      for (let i = 0; i < per; i++) {
        const payload = JSON.stringify({
          time: t0 + i * 1000,
          values: { soil_vwc: 0.2 + (i % 50) / 1000, soil_temperature: 12.5 },
        });
        window.push(c.publishAsync(`hatake/v1/bench-farm/dev-${d}/up`, payload, { qos }));
        if (window.length >= 20) {
          await Promise.all(window);
          window = [];
        }
      }
      await Promise.all(window);
    }),
  );
}

async function waitRows(dbFile: string, table: string, n: number, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    while (Date.now() < end) {
      const c = (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      if (c >= n) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${table}: fewer than ${n} rows after ${timeoutMs} ms`);
  } finally {
    db.close();
  }
}

interface Run {
  msgPerS: number;
  cpuUsPerMsg: number;
}

async function runHatake(qos: 0 | 1, round: number): Promise<Run> {
  const manifest = manifestFor(DEVICES);
  const { registry, secrets } = provisionRegistry(manifest);
  const d = join(dir, `hatake-${qos}-${round}`);
  const port = await freePort();
  writeFileSync(join(dir, 'm.yaml'), stringify(manifest));
  writeFileSync(join(dir, `r-${qos}-${round}.json`), JSON.stringify(registry));
  writeFileSync(
    join(dir, `g-${qos}-${round}.yaml`),
    stringify({
      id: 'bench-gw',
      dataDir: d,
      manifest: join(dir, 'm.yaml'),
      registry: join(dir, `r-${qos}-${round}.json`),
      mqtt: {
        host: '127.0.0.1',
        port,
        rate: { perSecond: 10000, burst: 100000 },
        maxInflightPerDevice: 1000,
      },
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  const gw = await spawnWaiting(
    process.execPath,
    [...NODE_FLAGS, 'bin/hatake.js', 'gateway', '--config', join(dir, `g-${qos}-${round}.yaml`)],
    'gateway started',
  );
  await new Promise((r) => setTimeout(r, 300));
  const clients = await connectAll(`mqtt://127.0.0.1:${port}`, DEVICES, secrets);
  const cpu0 = cpuSeconds(gw.pid!);
  const start = performance.now();
  await publishAll(clients, qos, Date.now() - 86_400_000);
  // QoS 1: every PUBACK means durable. QoS 0: wait until the rows are there.
  await waitRows(join(d, 'gateway.db'), 'readings', Math.ceil(MESSAGES / DEVICES) * DEVICES * 2);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(gw.pid!) - cpu0;
  for (const c of clients) c.end(true);
  await stop(gw);
  const n = Math.ceil(MESSAGES / DEVICES) * DEVICES;
  return { msgPerS: n / seconds, cpuUsPerMsg: (cpu / n) * 1e6 };
}

async function runPeer(qos: 0 | 1, round: number): Promise<Run> {
  const port = await freePort();
  const conf = join(dir, `mosquitto-${qos}-${round}.conf`);
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 100000\n`,
  );
  const mosq = await spawnWaiting('mosquitto', ['-c', conf, '-v'], /running|Opening ipv4 listen socket/);
  const dbFile = join(dir, `peer-${qos}-${round}.db`);
  const sub = await spawnWaiting(
    process.execPath,
    ['--import', 'tsx', 'bench/lib/sqlite-subscriber.ts', `mqtt://127.0.0.1:${port}`, dbFile, String(qos)],
    'ready',
  );
  const clients = await connectAll(`mqtt://127.0.0.1:${port}`, DEVICES, undefined);
  const cpu0 = cpuSeconds(mosq.pid!) + cpuSeconds(sub.pid!);
  const start = performance.now();
  await publishAll(clients, qos, Date.now() - 86_400_000);
  await waitRows(dbFile, 'readings', Math.ceil(MESSAGES / DEVICES) * DEVICES * 2);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(mosq.pid!) + cpuSeconds(sub.pid!) - cpu0;
  for (const c of clients) c.end(true);
  await stop(sub);
  await stop(mosq);
  const n = Math.ceil(MESSAGES / DEVICES) * DEVICES;
  return { msgPerS: n / seconds, cpuUsPerMsg: (cpu / n) * 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function idle500(): Promise<{ rss: number; peak: number; cpuPct: number; peerRss: number }> {
  const manifest = manifestFor(IDLE_DEVICES);
  const { registry, secrets } = provisionRegistry(manifest);
  const port = await freePort();
  writeFileSync(join(dir, 'm500.yaml'), stringify(manifest));
  writeFileSync(join(dir, 'r500.json'), JSON.stringify(registry));
  writeFileSync(
    join(dir, 'g500.yaml'),
    stringify({
      id: 'bench-gw',
      dataDir: join(dir, 'idle'),
      manifest: join(dir, 'm500.yaml'),
      registry: join(dir, 'r500.json'),
      mqtt: { host: '127.0.0.1', port },
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  const gw = await spawnWaiting(
    process.execPath,
    [...NODE_FLAGS, 'bin/hatake.js', 'gateway', '--config', join(dir, 'g500.yaml')],
    'gateway started',
  );
  await new Promise((r) => setTimeout(r, 300));
  const clients = await connectAll(`mqtt://127.0.0.1:${port}`, IDLE_DEVICES, secrets);
  const windowS = Number(args.window);
  // Once a minute each: over the window, each device reports at its own offset.
  const timers = clients.map((c, i) => {
    const publish = () =>
      c.publish(
        `hatake/v1/bench-farm/dev-${i}/up`,
        JSON.stringify({ time: Date.now(), values: { soil_vwc: 0.25 } }),
        { qos: 1 },
      );
    const first = setTimeout(publish, ((i * 60_000) / IDLE_DEVICES) % (windowS * 1000));
    const every = setInterval(publish, 60_000);
    return [first, every];
  });
  await new Promise((r) => setTimeout(r, 3000)); // settle after the connection burst
  const cpu0 = cpuSeconds(gw.pid!);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowS * 1000));
  const cpuPct = ((cpuSeconds(gw.pid!) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  const rss = rssMb(gw.pid!);
  const peak = peakRssMb(gw.pid!);
  for (const [a, b] of timers) {
    clearTimeout(a);
    clearInterval(b);
  }
  for (const c of clients) c.end(true);
  await stop(gw);
  // The peer's footprint for the same 500 connections: Mosquitto + the SQLite subscriber.
  const mport = await freePort();
  const conf = join(dir, 'mosquitto-idle.conf');
  writeFileSync(conf, `listener ${mport} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const mosq = await spawnWaiting('mosquitto', ['-c', conf, '-v'], /running|Opening ipv4 listen socket/);
  const sub = await spawnWaiting(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/lib/sqlite-subscriber.ts',
      `mqtt://127.0.0.1:${mport}`,
      join(dir, 'peer-idle.db'),
      '1',
    ],
    'ready',
  );
  const peerClients = await connectAll(`mqtt://127.0.0.1:${mport}`, IDLE_DEVICES, undefined);
  await new Promise((r) => setTimeout(r, 3000));
  const peerRss = rssMb(mosq.pid!) + rssMb(sub.pid!);
  for (const c of peerClients) c.end(true);
  await stop(sub);
  await stop(mosq);
  return { rss, peak, cpuPct, peerRss };
}

const rows: BenchRow[] = [];
const qosRuns =
  args.only === 'idle'
    ? []
    : args.only === 'qos1'
      ? ([1] as const)
      : args.only === 'qos0'
        ? ([0] as const)
        : ([0, 1] as const);
for (const qos of qosRuns) {
  const h: Run[] = [];
  const p: Run[] = [];
  for (let round = 0; round < 3; round++) {
    h.push(await runHatake(qos, round));
    p.push(await runPeer(qos, round));
  }
  const hm = median(h.map((r) => r.msgPerS));
  const pm = median(p.map((r) => r.msgPerS));
  rows.push({
    figure: `ingest QoS ${qos}, publish → durable`,
    unit: 'msg/s',
    hatake: hm,
    peer: pm,
    peerName: 'Mosquitto + mqtt.js → SQLite',
    better: 'higher',
    target: '≥ 1× peer',
    met: hm >= pm,
  });
  const hc = median(h.map((r) => r.cpuUsPerMsg));
  const pc = median(p.map((r) => r.cpuUsPerMsg));
  rows.push({
    figure: `CPU per message QoS ${qos}`,
    unit: 'µs',
    hatake: hc,
    peer: pc,
    peerName: 'Mosquitto + subscriber',
    better: 'lower',
    target: 'report',
    met: null,
  });
}
const idle = await idle500();
rows.push({
  figure: `gateway RSS, ${IDLE_DEVICES} devices connected, 1 msg/min each`,
  unit: 'MB',
  hatake: idle.rss,
  peer: idle.peerRss,
  peerName: 'Mosquitto + subscriber',
  better: 'lower',
  target: '< 150 MB',
  met: idle.rss < 150,
});
rows.push({
  figure: `gateway peak RSS (VmHWM), same run`,
  unit: 'MB',
  hatake: idle.peak,
  peer: null,
  peerName: '',
  better: 'lower',
  target: '< 150 MB',
  met: idle.peak < 150,
});
rows.push({
  figure: `gateway CPU, ${IDLE_DEVICES} devices at 1 msg/min`,
  unit: '% of a core',
  hatake: idle.cpuPct,
  peer: null,
  peerName: '',
  better: 'lower',
  target: 'report',
  met: null,
});
report(`ingest (${MESSAGES} messages from ${DEVICES} devices, median of 3 rounds)`, rows);
process.exit(0);
