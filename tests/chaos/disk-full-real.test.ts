// A disk that really fills up — not a configured limit (disk-budget, disk-free-space): the real
// gateway runs as a child process with its data directory on an 8 MB tmpfs, three devices stream
// QoS 1 readings over mqtt.js, and the filesystem fills for real: the gateway's own database and
// WAL (checkpointed into the file at least once), then a filler file taking every block left, so
// SQLite meets ENOSPC at its checkpoint and writing its WAL. The gateway stays up and says the
// disk is full (/healthz, a disk_full event), gives no PUBACK for a reading it did not store,
// corrupts nothing, and takes readings again once the filler is removed, without a restart. Then
// it is SIGKILLed while the disk is full and restarted on the same full tmpfs: it starts, says the
// disk is full, and nothing acknowledged is lost; once space returns every reading sent is stored
// exactly once. Twice: with storage.minFreeMB 0 (nothing but ENOSPC tells the gateway), commits on
// the main thread; with minFreeMB 1, commits on the writer thread. Needs root (mount); skipped
// with the reason printed otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/topics.ts';
import { provisionRegistry } from '../../firmware-config/provision.ts';
import { DEMO_MANIFEST_FILE, demoManifest, eventually } from '../helpers/stack.ts';
import { freePort } from '../helpers/ports.ts';
import { fillUp, mountTmpfs, tmpfsUnavailable, unmountTmpfs } from '../helpers/tmpfs.ts';

const ROOT = join(import.meta.dirname, '../..');
const MB = 1024 * 1024;
const unavailable = tmpfsUnavailable();
if (unavailable) console.warn(`tests/chaos/disk-full-real.test.ts skipped: ${unavailable}`);

let root: string;
const mounts: string[] = [];
const children: ChildProcess[] = [];

interface Gw {
  child: ChildProcess;
  /** Everything it printed (pino lines, and anything else on stderr). */
  out: () => string;
}

/** Starts the gateway; rejects with what it printed if it exits (or does not start) instead. */
async function startGateway(configFile: string): Promise<Gw> {
  const child = spawn(process.execPath, ['bin/hatake.js', 'gateway', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, HATAKE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () =>
      reject(
        new Error(
          `gateway exited (${child.exitCode ?? child.signalCode}) before it started:\n${out.slice(-4000)}`,
        ),
      );
    child.once('exit', onExit);
  });
  try {
    await Promise.race([
      eventually(() => out.includes('gateway started'), 30_000).catch((e: Error) => {
        throw new Error(`${e.message}: the gateway did not start:\n${out.slice(-4000)}`);
      }),
      exited,
    ]);
  } finally {
    child.off('exit', onExit!);
  }
  return { child, out: () => out };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const devices = ['soil-1', 'wx-1', 'water-1'] as const;
const metric = { 'soil-1': 'soil_vwc', 'wx-1': 'air_temperature', 'water-1': 'water_level' } as const;
/** A plausible value (one out of its metric's range would be dead-lettered, and acknowledged). */
const value = (device: string, i: number) => (device === 'soil-1' ? 0.2 + (i % 100) / 1000 : 5 + (i % 20));

describe.skipIf(unavailable !== undefined)('a filesystem that really fills up (tmpfs, ENOSPC)', () => {
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'hatake-enospc-'));
  });
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await new Promise((r) => c.once('exit', r));
      }
    }
    // Every mount goes, even when a test failed half-way (and the next one is still tried).
    const failed: string[] = [];
    for (const m of mounts) {
      try {
        unmountTmpfs(m);
      } catch (e) {
        failed.push((e as Error).message);
      }
    }
    if (root) rmSync(root, { recursive: true, force: true });
    if (failed.length) throw new Error(`tmpfs not unmounted: ${failed.join('; ')}`);
  });

  it.each([
    ['storage.minFreeMB 0 (nothing but ENOSPC tells it), commits on the main thread', 0, ''],
    ['storage.minFreeMB 1, commits on the writer thread', 1, ', commitThreadFrom: 0'],
  ])(
    'stays up, says so, acknowledges only what it stored, recovers without a restart and after a SIGKILL: %s',
    async (_name, minFreeMB, storage) => {
      const dir = join(root, String(minFreeMB));
      const fs = join(dir, 'fs');
      mkdirSync(fs, { recursive: true });
      mountTmpfs(fs, 8 * MB);
      mounts.push(fs);
      const dataDir = join(fs, 'data');
      const filler = join(fs, 'filler');
      const dbFile = join(dataDir, 'gateway.db');
      const { registry, secrets } = provisionRegistry(demoManifest());
      writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry));
      const [mqttPort, httpPort] = [await freePort(), await freePort()];
      const configFile = join(dir, 'gateway.yaml');
      writeFileSync(
        configFile,
        [
          'id: gw-enospc',
          `dataDir: ${dataDir}`,
          `manifest: ${DEMO_MANIFEST_FILE}`,
          `registry: ${join(dir, 'registry.json')}`,
          `mqtt: { host: 127.0.0.1, port: ${mqttPort}, rate: { perSecond: 10000, burst: 10000 } }`,
          `http: { host: 127.0.0.1, port: ${httpPort} }`,
          `storage: { minFreeMB: ${minFreeMB}${storage} }`,
        ].join('\n'),
      );
      let gw = await startGateway(configFile);
      const alive = () => gw.child.exitCode === null && gw.child.signalCode === null;
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const events = async () =>
        ((await get('/api/status')).body.events as { type: string; severity: string; message: string }[]).map(
          (e) => e.type,
        );
      const fsFree = () => {
        const s = statfsSync(fs);
        return s.bavail * s.bsize;
      };
      const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);

      // --- Three devices streaming QoS 1, up to 20 messages in flight each, persistent sessions
      // (clean: false, a fixed client id): mqtt.js keeps a message until its PUBACK and resends it
      // after every reconnect — and a refused publish closes the connection.
      const acked = new Map<string, Set<number>>(devices.map((d) => [d, new Set<number>()]));
      const sent = new Map<string, Set<number>>(devices.map((d) => [d, new Set<number>()]));
      const ackedTotal = () => [...acked.values()].reduce((n, s) => n + s.size, 0);
      const snapshot = () => new Map([...acked].map(([d, s]) => [d, new Set(s)]));
      const clients: MqttClient[] = [];
      let closes = 0;
      let stop = false;
      // Inside the raw-retention period: nothing is rolled up meanwhile.
      const t0 = Date.now() - 3 * 86_400_000;
      const streams = devices.map(async (device) => {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
          username: device,
          password: secrets[device],
          clientId: `enospc-${device}`,
          clean: false,
          reconnectPeriod: 200,
          connectTimeout: 5000,
        });
        c.on('close', () => closes++);
        clients.push(c);
        for (let i = 0; !stop; i++) {
          const time = t0 + i * 1000;
          sent.get(device)!.add(time);
          const p = c
            .publishAsync(
              deviceTopic('demo-farm', device, 'up'),
              JSON.stringify({ time, values: { [metric[device]]: value(device, i) } }),
              { qos: 1 },
            )
            .then(
              () => void acked.get(device)!.add(time),
              () => {},
            );
          if (i % 20 === 19) await p;
        }
      });

      try {
        /**
         * Waits until no PUBACK has come for `quietMs` while the devices keep publishing (and being
         * disconnected). False if PUBACKs still came after 10 s: the checks that follow say more.
         */
        const refusing = (quietMs = 1500) =>
          eventually(
            async () => {
              const before = ackedTotal();
              const closedBefore = closes;
              await sleep(quietMs);
              return ackedTotal() === before && closes > closedBefore;
            },
            10_000,
            0,
          ).catch(() => false);
        /** Waits until every device has had `n` more readings acknowledged. */
        const accepting = async (n: number) => {
          const from = new Map([...acked].map(([d, s]) => [d, s.size]));
          await eventually(() => devices.every((d) => acked.get(d)!.size >= from.get(d)! + n), 30_000);
        };

        /**
         * The database as a reader sees it now: each device's stored times (checked unique), every
         * time in `mustHave` among them, one outbox row per stored reading, integrity ok.
         */
        const checkStored = (mustHave: Map<string, Set<number>>, what: string) => {
          const db = new Database(dbFile, { readonly: true, fileMustExist: true });
          try {
            expect(db.pragma('integrity_check', { simple: true }), `${what}: integrity_check`).toBe('ok');
            const stored = new Map<string, Set<number>>();
            for (const device of devices) {
              const times = (
                db
                  .prepare('SELECT time FROM readings WHERE device = ? AND metric = ?')
                  .all(device, metric[device]) as { time: number }[]
              ).map((r) => r.time);
              const set = new Set(times);
              expect(set.size, `${what}: ${device} stored twice`).toBe(times.length);
              const missing = [...mustHave.get(device)!].filter((t) => !set.has(t));
              expect(missing, `${what}: ${device} acknowledged but not stored`).toEqual([]);
              // Nothing stored that was never sent (and so no reading of another message).
              expect(
                [...set].filter((t) => !sent.get(device)!.has(t)),
                `${what}: ${device}`,
              ).toEqual([]);
              const outbox = (
                db
                  .prepare(
                    "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'reading' AND json_extract(body, '$.device') = ?",
                  )
                  .get(device) as { n: number }
              ).n;
              expect(outbox, `${what}: ${device} outbox rows per stored reading`).toBe(times.length);
              stored.set(device, set);
            }
            return stored;
          } finally {
            db.close();
          }
        };

        // --- 1. The database and its WAL grow until the WAL has been checkpointed into the file
        // (SQLite's autocheckpoint at 1000 pages, ~4 MB), then the filler takes every block left.
        await eventually(() => size(dbFile) > 512 * 1024, 30_000);
        const fillerBytes = fillUp(filler);
        expect(fsFree()).toBe(0);
        const atFill = { db: size(dbFile), wal: size(`${dbFile}-wal`), acked: ackedTotal() };
        // Commits go on in the WAL's room until SQLite needs a block: at its next checkpoint (the
        // database file must grow) and then for the WAL itself. From then on every publish is refused.
        expect.soft(await refusing(), 'PUBACKs went on with the disk full').toBe(true);
        const full = { db: size(dbFile), wal: size(`${dbFile}-wal`), acked: ackedTotal() };
        console.log(
          `[minFreeMB ${minFreeMB}] filler ${fillerBytes} B; at the fill db ${atFill.db} B, WAL ${atFill.wal} B, ` +
            `${atFill.acked} acked; refusing at db ${full.db} B, WAL ${full.wal} B, ${full.acked} acked`,
        );
        expect(gw.out(), 'SQLite never met ENOSPC').toContain('database or disk is full');
        // With no minimum, the commits themselves were refused by SQLite (no gate before them).
        if (minFreeMB === 0) expect(gw.out()).toContain('store refused the write: database or disk is full');

        // --- 2. Up, and saying so.
        expect(alive(), gw.out().slice(-3000)).toBe(true);
        const hz = await get('/healthz');
        expect.soft(hz, 'while the disk is full').toMatchObject({
          status: 503,
          body: { status: 'degraded', problems: expect.arrayContaining(['disk full']) },
        });
        expect.soft(await events(), 'events while the disk is full').toContain('disk_full');
        // No PUBACK for a reading not stored, none stored twice, nothing damaged.
        checkStored(snapshot(), 'disk full');

        // --- 3. Space returns: accepted again without a restart — the devices' resends, then more.
        rmSync(filler);
        await accepting(200);
        expect(alive()).toBe(true);
        await eventually(async () => (await get('/healthz')).status === 200, 15_000).catch(() => undefined);
        expect.soft(await get('/healthz'), 'after the filler is removed').toMatchObject({
          status: 200,
          body: { status: 'ok' },
        });
        expect.soft(await events(), 'events after the filler is removed').toContain('disk_ok');
        checkStored(snapshot(), 'space back');

        // --- 4. Full again, then SIGKILL and a restart on the same full filesystem.
        fillUp(filler);
        expect.soft(await refusing(), 'PUBACKs went on with the disk full again').toBe(true);
        const ackedAtKill = snapshot();
        gw.child.kill('SIGKILL');
        await new Promise((r) => gw.child.once('exit', r));
        expect(fsFree()).toBe(0);
        gw = await startGateway(configFile);
        // It says why nothing is accepted (the devices reconnect and resend, and are refused).
        await eventually(async () => (await get('/healthz')).status === 503, 15_000).catch(() => undefined);
        expect.soft(await get('/healthz'), 'restarted on a full disk').toMatchObject({
          status: 503,
          body: { status: 'degraded', problems: expect.arrayContaining(['disk full']) },
        });
        checkStored(ackedAtKill, 'restarted on a full disk');

        // --- 5. Space returns: everything sent is acknowledged and stored, exactly once.
        rmSync(filler);
        await accepting(100);
        stop = true;
        await Promise.all(streams);
        await eventually(() => devices.every((d) => acked.get(d)!.size === sent.get(d)!.size), 30_000);
        for (const c of clients) await c.endAsync();
        gw.child.kill('SIGTERM');
        const code = await new Promise<number | null>((r) => gw.child.once('exit', (c) => r(c)));
        expect(code, gw.out().slice(-3000)).toBe(0);
        const stored = checkStored(ackedAtKill, 'after the restart');
        for (const d of devices) expect(stored.get(d), d).toEqual(sent.get(d));
        console.log(
          `[minFreeMB ${minFreeMB}] ${[...sent.values()].reduce((n, s) => n + s.size, 0)} readings sent, ` +
            `${ackedTotal()} PUBACKs, ${[...stored.values()].reduce((n, s) => n + s.size, 0)} rows; ` +
            `${closes} connections closed on refusal`,
        );
      } finally {
        // A failure half-way: the devices stop (and stop reconnecting) all the same.
        stop = true;
        for (const c of clients) c.end(true);
      }
    },
    60_000,
  );
});
