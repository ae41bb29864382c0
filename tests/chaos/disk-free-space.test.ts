// SD-card care, the other path to "disk full": not the database budget (disk-budget.test.ts) but
// the filesystem's free space falling below storage.minFreeMB. The IT partner sends a minimum
// above what the disk really has free (read with statfs) through the server; the real gateway
// applies it, its housekeeping round notices, and from then on refuses data (no PUBACK; the store
// says HATAKE_E_DISK_FULL) with a critical disk_full alert that reaches the partner's view —
// keeping every reading it already stored. When the partner lowers the minimum again, the next
// round raises disk_ok and readings are stored again. Also: free space low while the database
// budget already had the disk marked full keeps data refused after the budget frees up.
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { HatakeServer } from '../../dashboard/server.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import type { HatakeError } from '../../protocol/errors.ts';
import { eventually, signIn, startServer, startStack, type Stack } from '../helpers/stack.ts';

const MB = 1024 * 1024;
const CONFIG = '/api/v1/farms/demo-farm/gateway-config';
// Readings from the last minute (nothing near the retention limit).
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const dir = mkdtempSync(join(tmpdir(), 'hatake-chaos-fsfree-'));
let server: HatakeServer;
let stack: Stack;
let partner: Awaited<ReturnType<typeof signIn>>;

beforeAll(async () => {
  let url: string;
  ({ server, url } = await startServer(dir));
  // Registered as `hatake gateway register` leaves it: a token and the server's public key, so it
  // verifies the signed configuration it is sent (over the downlink stream; it polls rarely).
  const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
  stack = await startStack({
    server: false,
    mqtt: { rate: { perSecond: 10_000, burst: 10_000 } },
    gateway: {
      server: { url, token, publicKey: server.ctx.signingPublicKey },
      sync: { intervalMs: 200, batchMaxItems: 500, batchDelayMs: 20, downlinkIntervalMs: 600_000 },
    },
  });
  partner = await signIn(url, 'demo-partner');
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (): Promise<MqttClient> =>
  mqtt.connectAsync(stack.mqttUrl, {
    username: 'soil-1',
    password: stack.secrets['soil-1'],
    reconnectPeriod: 0,
  });
const reading = (time: number, soil_vwc: number) =>
  JSON.stringify({ time, values: { soil_vwc, soil_temperature: 12, soil_ec: 0.4 } });
const UP = deviceTopic('demo-farm', 'soil-1', 'up');
const storedVwc = () =>
  new Map(
    (
      stack.gateway.store.db
        .prepare("SELECT time, value FROM readings WHERE device = 'soil-1' AND metric = 'soil_vwc'")
        .all() as { time: number; value: number }[]
    ).map((r) => [r.time, r.value]),
  );
const fsFree = () => {
  const s = statfsSync(stack.gateway.config.dataDir);
  return s.bavail * s.bsize;
};
const sendMinFree = async (minFreeMB: number) => {
  const res = await partner(CONFIG, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ storage: { minFreeMB } }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  // The gateway applies it live, in the very object its housekeeping reads.
  await eventually(() => stack.gateway.config.storage.minFreeBytes === minFreeMB * MB, 20_000);
};
const partnerAlerts = async () => {
  const health = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as {
    gateways: { id: string; alerts: { type: string; severity: string; message: string }[] }[];
  };
  return health.gateways.find((g) => g.id === 'gw-test')?.alerts ?? [];
};

describe('disk free space below storage.minFreeMB', () => {
  it('refuses data with a disk_full alert when free space is below the minimum, keeps what it stored, and recovers when the minimum is lowered', async () => {
    const gw = stack.gateway;
    const storeFailures: string[] = [];
    gw.ingest.on('storeFailed', (e: HatakeError) => storeFailures.push(e.code));

    // Readings stored and acknowledged while there is room.
    const c = await connect();
    const acked: number[] = [];
    for (let i = 0; i < 30; i++) {
      await c.publishAsync(UP, reading(T0 + i * 1000, 0.2 + i / 1000), { qos: 1 });
      acked.push(T0 + i * 1000);
    }
    await c.endAsync();
    const before = storedVwc();
    expect([...before.keys()].sort()).toEqual(acked);
    expect(gw.maintenance.diskFull).toBe(false);

    // The partner asks for more free space than the disk has: a terabyte over what statfs says.
    const free = fsFree();
    const tooMuch = Math.ceil(free / MB) + 1024 * 1024;
    await sendMinFree(tooMuch);
    // The housekeeping timer (every 5 s) notices; nothing here calls it.
    await eventually(() => gw.maintenance.diskFull, 15_000);
    expect(gw.store.refuseWrites).toBe(true);
    const full = gw.events.recent.find((e) => e.type === 'disk_full');
    expect(full).toMatchObject({ severity: 'critical', message: expect.stringMatching(/MB free.*refused/) });
    expect((full!.detail as { fsFreeBytes: number }).fsFreeBytes).toBeLessThan(tooMuch * MB);
    const healthz = await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`);
    expect(healthz.status).toBe(503);
    expect(await healthz.json()).toMatchObject({
      status: 'degraded',
      problems: expect.arrayContaining(['disk full']),
    });
    expect(await gw.metrics.value('hatake_gateway_disk_bytes', { kind: 'fs_free' })).toBeLessThan(
      tooMuch * MB,
    );

    // A QoS 1 publish gets no PUBACK: the broker closes the connection, the device keeps it.
    const refusedBefore = await gw.metrics.value('hatake_gateway_refused_total', { reason: 'store' });
    const refusedTime = T0 + 30_000;
    const c2 = await connect();
    const closed = new Promise<'closed'>((resolve) => c2.once('close', () => resolve('closed')));
    const outcome = await Promise.race([
      c2.publishAsync(UP, reading(refusedTime, 0.5), { qos: 1 }).then(
        () => 'acked' as const,
        () => 'failed' as const,
      ),
      closed,
    ]);
    c2.end(true);
    expect(outcome).not.toBe('acked');
    expect(storeFailures).toContain('HATAKE_E_DISK_FULL');
    expect(await gw.metrics.value('hatake_gateway_refused_total', { reason: 'store' })).toBeGreaterThan(
      refusedBefore,
    );
    // Nothing refused was stored; nothing stored was lost or changed.
    expect(storedVwc()).toEqual(before);
    expect(gw.store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    // The alert reaches the partner (events still sync while readings are refused).
    await eventually(
      async () => (await partnerAlerts()).some((a) => a.type === 'disk_full' && a.severity === 'critical'),
      20_000,
    );

    // The partner lowers the minimum below what is free: the next round recovers.
    expect(free).toBeGreaterThan(2 * MB);
    await sendMinFree(1);
    await eventually(() => !gw.maintenance.diskFull, 15_000);
    expect(gw.store.refuseWrites).toBe(false);
    const ok = gw.events.recent.findIndex((e) => e.type === 'disk_ok');
    expect(ok, 'no disk_ok event').toBeGreaterThanOrEqual(0);
    expect(gw.events.recent[ok]).toMatchObject({ severity: 'info' });
    // Newest first: the recovery came after the alert.
    expect(ok).toBeLessThan(gw.events.recent.findIndex((e) => e.type === 'disk_full'));
    expect((await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`)).status).toBe(200);
    await eventually(async () => (await partnerAlerts()).some((a) => a.type === 'disk_ok'), 20_000);

    // The device resends what was refused, and a new reading: both are acknowledged and stored.
    const c3 = await connect();
    await c3.publishAsync(UP, reading(refusedTime, 0.5), { qos: 1 });
    await c3.publishAsync(UP, reading(refusedTime + 1000, 0.51), { qos: 1 });
    await c3.endAsync();
    const after = storedVwc();
    expect(after.get(refusedTime)).toBe(0.5);
    expect(after.get(refusedTime + 1000)).toBe(0.51);
    for (const [t, v] of before) expect(after.get(t)).toBe(v);
  });

  it('keeps refusing while free space is low even after the database budget that filled first is freed', async () => {
    // Both causes at once, in the order an SD card meets them: the database budget fills, then
    // the card runs low (logs, imagery), then retention frees database pages. Free space is
    // still below the minimum, so readings must still be refused. (The live minimum is set here
    // directly — the object a configuration sent down writes into, as the test above shows.)
    const gw = stack.gateway;
    const store = gw.store;
    const minFree = gw.config.storage.minFreeBytes;
    const used = store.diskUse(0).dbBytes;
    // No free pages left in the file (earlier deletes may have left some, and free pages are
    // room under the budget), then a budget as small as SQLite allows: what the file holds now.
    store.db.exec('VACUUM');
    store.setBudget(0);
    gw.maintenance.checkDisk();
    expect(gw.maintenance.diskFull, 'the database budget did not fill').toBe(true);
    // The budget refuses through SQLite (SQLITE_FULL), not through the store's free-space gate.
    expect(store.refuseWrites).toBe(false);

    gw.config.storage.minFreeBytes = fsFree() + 1024 * 1024 * MB;
    gw.maintenance.checkDisk();
    expect(store.refuseWrites).toBe(true);

    store.setBudget(used + 64 * MB);
    gw.maintenance.checkDisk();
    expect(gw.maintenance.diskFull).toBe(true);
    expect(store.refuseWrites).toBe(true);
    const time = T0 + 40_000;
    const c = await connect();
    const closed = new Promise<'closed'>((resolve) => c.once('close', () => resolve('closed')));
    const outcome = await Promise.race([
      c.publishAsync(UP, reading(time, 0.6), { qos: 1 }).then(
        () => 'acked' as const,
        () => 'failed' as const,
      ),
      closed,
    ]);
    c.end(true);
    expect(outcome).not.toBe('acked');
    expect(storedVwc().has(time)).toBe(false);

    // Free space returns: accepted again.
    gw.config.storage.minFreeBytes = minFree;
    gw.maintenance.checkDisk();
    expect(gw.maintenance.diskFull).toBe(false);
    expect(store.refuseWrites).toBe(false);
    const c2 = await connect();
    await c2.publishAsync(UP, reading(time, 0.6), { qos: 1 });
    await c2.endAsync();
    expect(storedVwc().get(time)).toBe(0.6);
  });
});
