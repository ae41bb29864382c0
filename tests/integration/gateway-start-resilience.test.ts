// A gateway starts whatever it finds, and a restart raises no false alarm:
// - external-broker mode with nothing listening on `external.url` (or a broker that accepts and
//   never answers): the gateway starts, its status page, /healthz and /metrics say the link is down,
//   and once Debian's Mosquitto comes up on that port, what is published there is stored; in
//   "beside" mode its own broker takes devices meanwhile;
// - a gateway killed (SIGKILL) while devices were connected and restarted as if after a two-hour
//   outage: no device is called silent before it has had its expected intervals to report, none
//   is shown online before it connects, and one that stays away is called silent after its grace;
// - housekeeping whose store writes fail: the round is logged and counted and tried again, the
//   process goes on, and the next round after the store recovers does its work.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { pino, type Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { DEFAULT_MQTT, gatewayConfigFor, loadGatewayConfig } from '../../gateway/config.ts';
import { provisionRegistry } from '../../firmware-config/provision.ts';
import { DEMO_MANIFEST_FILE, demoManifest, eventually } from '../helpers/stack.ts';
import { writeExternalGateway } from '../helpers/external-gateway.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = join(import.meta.dirname, '../..');
const root = mkdtempSync(join(tmpdir(), 'hatake-start-'));
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

const MANIFEST = `
farm: { id: late-farm, name: Late broker farm }
fields:
  - id: paddy-1
    name: Paddy 1
devices:
  - { id: water-1, kit: hatake-paddy-water, field: paddy-1 }
`;

/** A pino logger whose lines the test reads. */
function capturedLog(): { log: Logger; lines: () => { level: number; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return {
    log: pino({ level: 'debug' }, sink),
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { level: number; msg: string }),
  };
}

/** Mosquitto on the given port (tests/helpers/mosquitto.ts picks its own), in memory, logging to stderr. */
async function mosquittoOn(
  dir: string,
  port: number,
): Promise<{ waitFor(re: RegExp): Promise<unknown>; stop(): Promise<void> }> {
  const conf = join(dir, `mosquitto-${port}.conf`);
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type all',
      '',
    ].join('\n'),
  );
  const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (b: Buffer) => (log += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  const waitFor = (re: RegExp) =>
    eventually(() => re.test(log), 20_000).catch((e: Error) => {
      throw new Error(`${e.message}; mosquitto log:\n${log.slice(-2000)}`);
    });
  await waitFor(new RegExp(`listen socket on port ${port}`));
  return { waitFor, stop };
}

/** Rejects when `p` has not settled within `ms`: a start that hangs fails the test, not the run. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not return within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function started(g: Gateway): Promise<Gateway> {
  cleanups.push(() => g.stop());
  await within(g.start(), 20_000, 'gateway.start()');
  return g;
}

const http = (g: Gateway, path: string) => fetch(`http://127.0.0.1:${g.httpPort}${path}`);
async function healthz(
  g: Gateway,
): Promise<{ status: number; body: { status: string; problems: string[] } }> {
  const res = await http(g, '/healthz');
  return { status: res.status, body: (await res.json()) as { status: string; problems: string[] } };
}
const metricsText = async (g: Gateway) => (await http(g, '/metrics')).text();

describe('external-broker mode with the broker away', () => {
  it('starts without the broker, says so, and stores what is published once Mosquitto comes up on that port', async () => {
    const dir = join(root, 'late');
    mkdirSync(dir);
    const port = await freePort(); // nothing listens there
    const file = writeExternalGateway(dir, {
      id: 'gw-late',
      manifest: MANIFEST,
      url: `mqtt://127.0.0.1:${port}`,
      clientId: 'hatake-gw-late',
      topics: [{ filter: 'hatake/v1/+/+/up', format: 'hatake' }],
    });
    const { log, lines } = capturedLog();
    const g = await started(new Gateway(loadGatewayConfig(file), log));

    // Degraded, not crashed: /healthz, the status page and /metrics answer and name the link.
    const down = await healthz(g);
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('degraded');
    expect(down.body.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^external broker unreachable: mqtt://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\), down less than a minute; retrying every 2 s$`,
        ),
      ),
    ]);
    const page = await (await http(g, '/?lang=en')).text();
    // (The English line while gateway/http.ts has no wording of its own for this problem.)
    expect(page).toMatch(new RegExp(`external broker[^<]{0,20}mqtt://127\\.0\\.0\\.1:${port}`, 'i'));
    let metrics = await metricsText(g);
    expect(metrics).toMatch(/^hatake_gateway_external_broker_connected 0$/m);
    expect(metrics).toMatch(/^hatake_gateway_health_problems\{code="external_unreachable"\} 1$/m);
    // The log says it once, not at every attempt (one every 2 s).
    await eventually(() => g.external!.link().failedAttempts >= 3, 15_000);
    const said = lines().filter((l) => l.msg.startsWith('external broker unreachable'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 50, url: `mqtt://127.0.0.1:${port}` });

    // The broker comes up on that port: the gateway connects, subscribes, and ingest begins.
    const mosquitto = await mosquittoOn(dir, port);
    await mosquitto.waitFor(/Sending SUBACK to hatake-gw-late/);
    const t = Date.now() - 30_000;
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    await publisher.publishAsync(
      'hatake/v1/late-farm/water-1/up',
      JSON.stringify({ time: t, values: { water_level: 4.5 } }),
      { qos: 1 },
    );
    await publisher.endAsync();
    await promisify(execFile)('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(port), '-q', '1'],
      ...['-t', 'hatake/v1/late-farm/water-1/up'],
      ...['-m', JSON.stringify({ time: t + 1000, values: { water_level: 4.6 } })],
    ]);
    const stored = () =>
      g.store.db.prepare("SELECT time, value FROM readings WHERE device = 'water-1' ORDER BY time").all();
    await eventually(() => stored().length === 2, 15_000);
    expect(stored()).toEqual([
      { time: t, value: 4.5 },
      { time: t + 1000, value: 4.6 },
    ]);
    expect(await healthz(g)).toEqual({ status: 200, body: { status: 'ok', problems: [] } });
    metrics = await metricsText(g);
    expect(metrics).toMatch(/^hatake_gateway_external_broker_connected 1$/m);
    expect(metrics).not.toMatch(/^hatake_gateway_health_problems\{/m);
    expect(lines().some((l) => l.msg === 'connected to external broker after it was unreachable')).toBe(true);

    // Its only way to hear devices lost again: none is called silent for that, however long.
    await mosquitto.stop();
    await eventually(async () => (await healthz(g)).status === 503, 15_000);
    g.maintenance.checkDevices(Date.now() + 4 * 3_600_000);
    expect(g.events.recent.filter((e) => e.type === 'device_silent')).toEqual([]);
    // Back: water-1 gets its three intervals from then, and past them is silent.
    const again = await mosquittoOn(dir, port);
    await again.waitFor(/Sending SUBACK to hatake-gw-late/);
    g.maintenance.checkDevices(Date.now() + 60_000);
    expect(g.events.recent.filter((e) => e.type === 'device_silent')).toEqual([]);
    g.maintenance.checkDevices(Date.now() + 4 * 3_600_000);
    expect(g.events.recent.filter((e) => e.type === 'device_silent').map((e) => e.device)).toEqual([
      'water-1',
    ]);
  }, 90_000);

  it('in "beside" mode, its own broker takes devices while the external one is unreachable', async () => {
    const dir = join(root, 'beside');
    mkdirSync(dir);
    const { registry, secrets } = provisionRegistry(demoManifest());
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry));
    const port = await freePort();
    const g = await started(
      new Gateway(
        gatewayConfigFor(
          {
            id: 'gw-beside',
            dataDir: join(dir, 'gw'),
            manifest: DEMO_MANIFEST_FILE,
            registry: join(dir, 'registry.json'),
          },
          {
            mqtt: { ...DEFAULT_MQTT, host: '127.0.0.1', port: 0 },
            http: { host: '127.0.0.1', port: 0 },
            external: {
              url: `mqtt://127.0.0.1:${port}`,
              clientId: 'hatake-gw-beside',
              topics: [{ filter: 'application/+/device/+/event/up', format: 'chirpstack' }],
            },
          },
        ),
        pino({ level: 'silent' }),
      ),
    );
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, {
      username: 'soil-1',
      password: secrets['soil-1'],
      reconnectPeriod: 0,
    });
    await device.publishAsync(
      'hatake/v1/demo-farm/soil-1/up',
      JSON.stringify({ values: { soil_temperature: 12.5 } }),
      {
        qos: 1,
      },
    );
    await device.endAsync();
    expect(g.store.db.prepare("SELECT metric, value FROM readings WHERE device = 'soil-1'").all()).toEqual([
      { metric: 'soil_temperature', value: 12.5 },
    ]);
    const h = await healthz(g);
    expect(h.status).toBe(503);
    expect(h.body.problems).toEqual([expect.stringMatching(/^external broker unreachable: /)]);
  }, 60_000);

  it('is not held up by a broker that accepts the connection and never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s); // read nothing, answer nothing: no CONNACK
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });
    const port = (silent.address() as { port: number }).port;
    const dir = join(root, 'hang');
    mkdirSync(dir);
    const file = writeExternalGateway(dir, {
      id: 'gw-hang',
      manifest: MANIFEST,
      url: `mqtt://127.0.0.1:${port}`,
      clientId: 'hatake-gw-hang',
      topics: [{ filter: 'hatake/v1/+/+/up', format: 'hatake' }],
    });
    const t0 = Date.now();
    const g = await started(new Gateway(loadGatewayConfig(file), pino({ level: 'silent' })));
    expect(Date.now() - t0).toBeLessThan(10_000); // waits 3 s at most for the first CONNACK
    expect(sockets.size).toBe(1); // it did connect: the broker just never answered
    expect((await http(g, '/')).status).toBe(200);
    // Down long enough to count: a health problem, with what is known of why.
    const h = await eventually(async () => {
      const r = await healthz(g);
      return r.status === 503 ? r : undefined;
    }, 15_000);
    expect(h.body.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^external broker unreachable: mqtt://127\\.0\\.0\\.1:${port} \\((no answer from the broker|connack timeout)\\)`,
        ),
      ),
    ]);
  }, 60_000);
});

describe('a restart after an outage', () => {
  it('calls no device silent, and none online, before it has had its chance to report', async () => {
    const dir = join(root, 'restart');
    mkdirSync(dir);
    const { registry, secrets } = provisionRegistry(demoManifest());
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry));
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'id: gw-restart',
        `dataDir: ${join(dir, 'gw')}`,
        `manifest: ${DEMO_MANIFEST_FILE}`,
        `registry: ${join(dir, 'registry.json')}`,
        `mqtt: { host: 127.0.0.1, port: ${mqttPort} }`,
        `http: { host: 127.0.0.1, port: ${httpPort} }`,
      ].join('\n'),
    );
    // The gateway as a process: devices connect and report, two stay connected, and it is killed.
    const child: ChildProcess = spawn(process.execPath, ['bin/hatake.js', 'gateway', '--config', file], {
      cwd: ROOT,
      env: { ...process.env, HATAKE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('gateway started'), 30_000);
    const values = {
      'soil-1': { soil_temperature: 11 },
      'wx-1': { air_temperature: 18 },
      'water-1': { water_level: 5 },
    };
    const clients = [];
    for (const [id, v] of Object.entries(values)) {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        username: id,
        password: secrets[id],
        reconnectPeriod: 0,
      });
      await c.publishAsync(`hatake/v1/demo-farm/${id}/up`, JSON.stringify({ values: v }), { qos: 1 });
      clients.push(c);
    }
    await clients.pop()!.endAsync(); // water-1 leaves properly: recorded offline
    type Status = { devices: { id: string; online: boolean | null; lastSeen: number | null }[] };
    const online = (s: Status) => Object.fromEntries(s.devices.map((d) => [d.id, d.online]));
    await eventually(async () => {
      const s = (await (await fetch(`http://127.0.0.1:${httpPort}/api/status`)).json()) as Status;
      const o = online(s);
      return o['soil-1'] === true && o['wx-1'] === true && o['water-1'] === false;
    }, 10_000);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    for (const c of clients) c.end(true);

    // Two hours pass with the gateway off.
    const db = new Database(join(dir, 'gw', 'gateway.db'));
    expect(db.prepare('SELECT id, online FROM devices ORDER BY id').all()).toEqual([
      { id: 'soil-1', online: 1 },
      { id: 'water-1', online: 0 },
      { id: 'wx-1', online: 1 },
    ]);
    db.prepare('UPDATE devices SET last_seen = last_seen - ?').run(2 * 3_600_000);
    db.close();

    const before = Date.now();
    const g = await started(new Gateway(loadGatewayConfig(file), pino({ level: 'silent' })));
    const after = Date.now();
    // Nothing connected yet: none online, and the server is told so for those it had online.
    expect(Object.fromEntries(g.store.devices().map((d) => [d.id, d.online]))).toEqual({
      'soil-1': false,
      'water-1': false,
      'wx-1': false,
    });
    const told = (
      g.store.db.prepare("SELECT body FROM outbox WHERE kind = 'device_status' ORDER BY seq").all() as {
        body: string;
      }[]
    )
      .map((r) => JSON.parse(r.body) as { device: string; online: boolean; time: number })
      .filter((b) => b.time >= before);
    expect(told.map(({ device, online }) => ({ device, online }))).toEqual([
      { device: 'soil-1', online: false },
      { device: 'wx-1', online: false },
    ]);
    // Last heard two hours ago, but the gateway has heard nothing yet: no alarm, healthy.
    g.maintenance.run(Date.now());
    expect(g.events.recent.filter((e) => e.type === 'device_silent')).toEqual([]);
    expect(await healthz(g)).toEqual({ status: 200, body: { status: 'ok', problems: [] } });
    expect(await metricsText(g)).toMatch(/^hatake_gateway_devices\{state="waiting"\} 3$/m);

    // soil-1 comes back; the others do not.
    const soil = await mqtt.connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, {
      username: 'soil-1',
      password: secrets['soil-1'],
      reconnectPeriod: 0,
    });
    cleanups.push(() => soil.end(true));
    await soil.publishAsync(
      'hatake/v1/demo-farm/soil-1/up',
      JSON.stringify({ values: { soil_temperature: 12 } }),
      {
        qos: 1,
      },
    );
    expect(g.store.devices().find((d) => d.id === 'soil-1')).toMatchObject({ online: true });
    // Their kits report every 60 s, so 3 min of grace from when the broker began listening.
    const grace = 3 * 60_000;
    g.maintenance.checkDevices(before + grace - 1000);
    expect(g.events.recent.filter((e) => e.type === 'device_silent')).toEqual([]);
    g.maintenance.checkDevices(after + grace + 1000);
    const silent = g.events.recent.filter((e) => e.type === 'device_silent' && e.device !== 'soil-1');
    expect(silent.map((e) => e.device).sort()).toEqual(['water-1', 'wx-1']);
    // Said as it is: silent since it was last heard, two hours and more before.
    for (const e of silent) expect(e.message).toMatch(/has sent nothing for 12\d min/);
  }, 120_000);
});

describe('housekeeping with a store that refuses writes', () => {
  it('logs and counts the failed step, goes on, and does the work once the store recovers', async () => {
    const dir = join(root, 'readonly');
    mkdirSync(dir);
    const { registry } = provisionRegistry(demoManifest());
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry));
    const { log, lines } = capturedLog();
    const g = await started(
      new Gateway(
        gatewayConfigFor(
          {
            id: 'gw-ro',
            dataDir: join(dir, 'gw'),
            manifest: DEMO_MANIFEST_FILE,
            registry: join(dir, 'registry.json'),
          },
          { mqtt: { ...DEFAULT_MQTT, host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
        ),
        log,
      ),
    );
    // soil-1, heard since the start, last two hours ago: the next round marks it silent.
    g.store.db
      .prepare("INSERT INTO devices (id, last_seen, online) VALUES ('soil-1', ?, 0)")
      .run(Date.now() - 2 * 3_600_000);
    // Every write refused from now on, as on a card remounted read-only (SQLITE_READONLY).
    g.store.db.pragma('query_only = ON');
    g.maintenance.stop();
    g.maintenance.start(50); // runs a round at once, then every 50 ms
    const failures = async () =>
      Number(
        /^hatake_gateway_maintenance_failures_total\{step="devices"\} (\d+)$/m.exec(
          await metricsText(g),
        )?.[1] ?? 0,
      );
    await eventually(async () => (await failures()) >= 5, 10_000);
    expect(g.store.devices().find((d) => d.id === 'soil-1')?.silentSince).toBeNull();
    // Said once (and again only if the error changes, or every 10 min), not at every round.
    const failed = lines().filter((l) => l.msg.startsWith('housekeeping step failed'));
    expect(failed).toEqual([
      expect.objectContaining({ level: 50, step: 'devices', err: 'attempt to write a readonly database' }),
    ]);

    g.store.db.pragma('query_only = OFF');
    await eventually(
      () => g.events.recent.some((e) => e.type === 'device_silent' && e.device === 'soil-1'),
      10_000,
    );
    expect(lines().some((l) => l.msg === 'housekeeping step works again' && l.step === 'devices')).toBe(true);
    const n = await failures();
    await new Promise((r) => setTimeout(r, 300));
    expect(await failures()).toBe(n);
  }, 60_000);
});
