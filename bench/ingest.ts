// bench/ingest: the gateway's ingest (publish → durable in SQLite) against Mosquitto + an mqtt.js
// subscriber writing to SQLite, both measured in this run on this machine, QoS 0 and QoS 1:
// messages per second and CPU per message. Then the gateway's RSS and CPU (and its main thread's
// share) with 500 devices connected and reporting once a minute each, spread evenly over the
// minute, against Mosquitto + the subscriber driven by the same schedule for the same window,
// and the bytes each side caused to be written to storage there a message (the SD card's wear).
//   node --import tsx bench/ingest.ts [--messages 20000] [--devices 50] [--idle 500] [--window 60]
//                                     [--only qos0|qos1|idle]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { provisionRegistry } from '../firmware-config/provision.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { buildDist } from '../tests/helpers/dist.ts';
import { freePort } from '../tests/helpers/ports.ts';
import {
  cpuSeconds,
  writtenBytes,
  median,
  peakRssMb,
  report,
  rssMb,
  threadCpuSeconds,
  type BenchRow,
} from './lib/report.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    devices: { type: 'string', default: '50' },
    idle: { type: 'string', default: '500' },
    window: { type: 'string', default: '60' },
    only: { type: 'string' },
    'node-flags': { type: 'string', default: '' },
  },
});
// The gateway runs as its systemd unit runs it: the compiled tree (scripts/build.js), with the
// Node flags of the unit's ExecStart line (docs/systemd/hatake-gateway.service, read here so the
// two cannot differ).
const GATEWAY_NODE_FLAGS = unitNodeFlags();
function unitNodeFlags(): string[] {
  const unit = readFileSync(join(ROOT, 'docs/systemd/hatake-gateway.service'), 'utf8');
  const m = /^ExecStart=\S+node((?: --\S+)*) \S+hatake\.mjs /m.exec(unit);
  if (!m) throw new Error('docs/systemd/hatake-gateway.service: no ExecStart running node …/hatake.mjs');
  return m[1]!.trim().split(' ').filter(Boolean);
}
const NODE_FLAGS = args['node-flags'] ? args['node-flags'].split(' ') : GATEWAY_NODE_FLAGS;
const MESSAGES = Number(args.messages);
const DEVICES = Number(args.devices);
const IDLE_DEVICES = Number(args.idle);
const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-ingest-'));
const dist = buildDist();
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  dist.remove();
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

/** Mosquitto on a free port, as the peer runs it (no per-packet logging, no persistence). */
async function startMosquitto(name: string): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const conf = join(dir, `mosquitto-${name}.conf`);
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 100000\n`,
  );
  // Without -v: Mosquitto logging every packet would be CPU the peer spends on the bench.
  const proc = await spawnWaiting('mosquitto', ['-c', conf], /running|Opening ipv4 listen socket/);
  return { proc, port };
}

/**
 * The gateway's ingest: devices publish to its embedded broker; or, with `front`, to a Mosquitto
 * the gateway reads in external-broker mode (a QoS 1 client with a persistent session), the
 * deployment for a farm that outgrows the embedded broker. CPU is the gateway's (and Mosquitto's).
 */
async function runHatake(qos: 0 | 1, round: number, front = false): Promise<Run> {
  const manifest = manifestFor(DEVICES);
  const { registry, secrets } = provisionRegistry(manifest);
  const name = `${front ? 'front-' : ''}${qos}-${round}`;
  const d = join(dir, `hatake-${name}`);
  const mosq = front ? await startMosquitto(`front-${name}`) : undefined;
  const port = mosq?.port ?? (await freePort());
  writeFileSync(join(dir, 'm.yaml'), stringify(manifest));
  writeFileSync(join(dir, `r-${name}.json`), JSON.stringify(registry));
  writeFileSync(
    join(dir, `g-${name}.yaml`),
    stringify({
      id: 'bench-gw',
      dataDir: d,
      manifest: join(dir, 'm.yaml'),
      registry: join(dir, `r-${name}.json`),
      mqtt: mosq
        ? { enabled: false }
        : {
            host: '127.0.0.1',
            port,
            rate: { perSecond: 10000, burst: 100000 },
            maxInflightPerDevice: 1000,
          },
      ...(mosq
        ? {
            external: {
              url: `mqtt://127.0.0.1:${mosq.port}`,
              clientId: `bench-gw-${name}`,
              topics: [{ filter: 'hatake/v1/bench-farm/+/up', format: 'hatake' }],
            },
          }
        : {}),
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  const gw = await spawnWaiting(
    process.execPath,
    [...NODE_FLAGS, dist.entry, 'gateway', '--config', join(dir, `g-${name}.yaml`)],
    'gateway started',
  );
  await new Promise((r) => setTimeout(r, 300));
  const clients = await connectAll(`mqtt://127.0.0.1:${port}`, DEVICES, mosq ? undefined : secrets);
  const pids = [gw.pid!, ...(mosq ? [mosq.proc.pid!] : [])];
  const cpuNow = () => pids.reduce((t, pid) => t + cpuSeconds(pid), 0);
  const cpu0 = cpuNow();
  const start = performance.now();
  await publishAll(clients, qos, Date.now() - 86_400_000);
  // QoS 1: every PUBACK means durable (embedded) or held by Mosquitto (front); either way the
  // figure is taken when the rows are in the gateway's database.
  await waitRows(join(d, 'gateway.db'), 'readings', Math.ceil(MESSAGES / DEVICES) * DEVICES * 2);
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuNow() - cpu0;
  for (const c of clients) c.end(true);
  await stop(gw);
  if (mosq) await stop(mosq.proc);
  const n = Math.ceil(MESSAGES / DEVICES) * DEVICES;
  return { msgPerS: n / seconds, cpuUsPerMsg: (cpu / n) * 1e6 };
}

async function runPeer(qos: 0 | 1, round: number): Promise<Run> {
  const { proc: mosq, port } = await startMosquitto(`${qos}-${round}`);
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

interface IdleFigures {
  /** CPU of the measured processes over the window, % of one core. */
  cpuPct: number;
  /** RSS of the measured processes at the end of the window, MB (summed). */
  rss: number;
  /** Reports published inside the window (expected: devices × window ÷ 60 s). */
  reports: number;
  /** Bytes the measured processes caused to be written to storage over the window (summed). */
  written: number;
  /** The first process's CPU by thread over the window, % of a core, by tid relative to the main one. */
  threads: Map<string, number>;
  /** The first process's main (JS) thread, % of a core. */
  mainPct: number;
}

/**
 * Connects IDLE_DEVICES clients and drives the once-a-minute schedule against a broker, measuring
 * the CPU and RSS of `pids` (the gateway; or Mosquitto and the subscriber) over the window.
 * Warm-up: each device reports once, spread over WARMUP_S, then a settle; the window then starts
 * with the minute's schedule, device i reporting at i × 60 s ÷ N and every 60 s after, so the load
 * is N/60 reports per second throughout — a window shorter than 60 s sees the first part of the
 * minute at the true rate, never a minute squeezed into it.
 */
async function driveIdle(
  url: string,
  secrets: Record<string, string> | undefined,
  pids: number[],
  windowS: number,
): Promise<IdleFigures> {
  const WARMUP_S = 5;
  const SETTLE_S = 3;
  const clients = await connectAll(url, IDLE_DEVICES, secrets);
  const publishReport = (i: number) =>
    clients[i]!.publish(
      `hatake/v1/bench-farm/dev-${i}/up`,
      JSON.stringify({ time: Date.now(), values: { soil_vwc: 0.2 + (i % 50) / 1000 } }),
      { qos: 1 },
    );
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const warm = clients.map((_, i) =>
    setTimeout(() => publishReport(i), (i * WARMUP_S * 1000) / IDLE_DEVICES),
  );
  await sleep((WARMUP_S + SETTLE_S) * 1000);
  warm.forEach(clearTimeout);

  let reports = 0;
  let measuring = true;
  const tick = (i: number) => {
    if (measuring) reports++;
    publishReport(i);
  };
  const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const written0 = pids.reduce((s, p) => s + writtenBytes(p), 0);
  const threads0 = threadCpuSeconds(pids[0]!);
  const t0 = performance.now();
  const timers = clients.map((_, i) => {
    const every: { t?: NodeJS.Timeout } = {};
    const first = setTimeout(
      () => {
        tick(i);
        every.t = setInterval(() => tick(i), 60_000);
      },
      (i * 60_000) / IDLE_DEVICES,
    );
    return () => (clearTimeout(first), clearInterval(every.t));
  });
  await sleep(windowS * 1000);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
  const written = pids.reduce((s, p) => s + writtenBytes(p), 0) - written0;
  const threads1 = threadCpuSeconds(pids[0]!);
  const rss = pids.reduce((s, p) => s + rssMb(p), 0);
  for (const stop of timers) stop();
  for (const c of clients) c.end(true);

  const pct = (cpuS: number) => (cpuS / seconds) * 100;
  const threads = new Map<string, number>();
  for (const [tid, t] of threads1)
    threads.set(
      `${tid === pids[0] ? 'main' : `+${tid - pids[0]!}`}`,
      pct(t.seconds - (threads0.get(tid)?.seconds ?? 0)),
    );
  const main = threads1.get(pids[0]!);
  const mainPct = pct((main?.seconds ?? 0) - (threads0.get(pids[0]!)?.seconds ?? 0));
  return { cpuPct: pct(cpu), rss, reports, threads, mainPct, written };
}

async function idle500(): Promise<{ gw: IdleFigures; peak: number; peer: IdleFigures }> {
  const windowS = Number(args.window);
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
  const gwProc = await spawnWaiting(
    process.execPath,
    [...NODE_FLAGS, dist.entry, 'gateway', '--config', join(dir, 'g500.yaml')],
    'gateway started',
  );
  await new Promise((r) => setTimeout(r, 300));
  // What the gateway holds before any device connects (its code and the store), for the peak below.
  process.stdout.write(
    `idle: gateway started, no device yet: RSS ${rssMb(gwProc.pid!).toFixed(0)} MB, peak ${peakRssMb(gwProc.pid!).toFixed(0)} MB\n`,
  );
  const gw = await driveIdle(`mqtt://127.0.0.1:${port}`, secrets, [gwProc.pid!], windowS);
  const peak = peakRssMb(gwProc.pid!);
  await stop(gwProc);

  // The peer under the same schedule for the same window: Mosquitto + the SQLite subscriber.
  const mport = await freePort();
  const conf = join(dir, 'mosquitto-idle.conf');
  writeFileSync(conf, `listener ${mport} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  // Without -v: Mosquitto logging every packet would be CPU the peer spends on the bench.
  const mosq = await spawnWaiting('mosquitto', ['-c', conf], /running|Opening ipv4 listen socket/);
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
  const peer = await driveIdle(`mqtt://127.0.0.1:${mport}`, undefined, [sub.pid!, mosq.pid!], windowS);
  await stop(sub);
  await stop(mosq);

  const expected = Math.min(IDLE_DEVICES, Math.floor((IDLE_DEVICES * windowS) / 60));
  process.stdout.write(
    `idle: ${windowS} s window, reports in it: gateway ${gw.reports}, peer ${peer.reports} ` +
      `(schedule: ≈ ${expected}, ${(IDLE_DEVICES / 60).toFixed(1)}/s)\n` +
      // Node names no thread: tids in creation order — main, then V8's platform workers (GC,
      // compiler), then libuv's pool and the rest.
      `idle: gateway CPU (% of a core) ${gw.cpuPct.toFixed(2)}: main thread ${gw.mainPct.toFixed(2)}, ` +
      `other threads ${(gw.cpuPct - gw.mainPct).toFixed(2)} (by tid: ${[...gw.threads]
        .filter(([, v]) => v >= 0.05)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')})\n` +
      `idle: written to storage in the window: gateway ${(gw.written / 1e6).toFixed(2)} MB ` +
      `(${gw.reports ? Math.round(gw.written / gw.reports) : 0} B a report), peer ${(peer.written / 1e6).toFixed(2)} MB ` +
      `(${peer.reports ? Math.round(peer.written / peer.reports) : 0} B a report)\n`,
  );
  return { gw, peak, peer };
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
  const f: Run[] = [];
  for (let round = 0; round < 3; round++) {
    h.push(await runHatake(qos, round));
    p.push(await runPeer(qos, round));
    f.push(await runHatake(qos, round, true));
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
  const fm = median(f.map((r) => r.msgPerS));
  rows.push({
    figure: `ingest QoS ${qos} with Mosquitto in front (external-broker mode)`,
    unit: 'msg/s',
    hatake: fm,
    peer: pm,
    peerName: 'Mosquitto + mqtt.js → SQLite',
    better: 'higher',
    target: 'report',
    met: null,
  });
  rows.push({
    figure: `CPU per message QoS ${qos}, Mosquitto in front (gateway + Mosquitto)`,
    unit: 'µs',
    hatake: median(f.map((r) => r.cpuUsPerMsg)),
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
  hatake: idle.gw.rss,
  peer: idle.peer.rss,
  peerName: 'Mosquitto + subscriber',
  better: 'lower',
  target: '< 150 MB',
  met: idle.gw.rss < 150,
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
  figure: `gateway CPU, ${IDLE_DEVICES} devices at 1 msg/min, ${Number(args.window)} s window`,
  unit: '% of a core',
  hatake: idle.gw.cpuPct,
  peer: idle.peer.cpuPct,
  peerName: 'Mosquitto + subscriber',
  better: 'lower',
  target: 'report',
  met: null,
});
rows.push({
  figure: `of which the gateway's main (JS) thread, same window`,
  unit: '% of a core',
  hatake: idle.gw.mainPct,
  peer: null,
  peerName: '',
  better: 'lower',
  target: 'report',
  met: null,
});
rows.push({
  // What wears an SD card: pages rewritten at each commit (WAL and checkpoint), per message.
  figure: `written to storage a message, ${IDLE_DEVICES} devices at 1 msg/min, same window`,
  unit: 'KB',
  hatake: idle.gw.reports ? idle.gw.written / idle.gw.reports / 1000 : 0,
  peer: idle.peer.reports ? idle.peer.written / idle.peer.reports / 1000 : 0,
  peerName: 'SQLite subscriber, a commit a loop turn',
  better: 'lower',
  target: 'report',
  met: null,
});
report(`ingest (${MESSAGES} messages from ${DEVICES} devices, median of 3 rounds)`, rows);
process.exit(0);
