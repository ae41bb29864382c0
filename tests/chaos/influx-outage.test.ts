// InfluxDB goes away during a sync: the whole stack, all real — an mqtt.js device publishing to
// the gateway's broker, the gateway syncing over HTTP, the server writing into a real influxd.
// While InfluxDB is down the server refuses the batch (503 HATAKE_E_STORAGE), acknowledges
// nothing, tells /healthz why, and the gateway keeps the batch in its outbox; once InfluxDB is
// back the batch is delivered, and every reading is stored exactly once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/topics.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { seedDemoUsers } from '../../dashboard/demo.ts';
import { MAX_TIME_MS } from '../../dashboard/storage/types.ts';
import { syncAcked } from '../../dashboard/sync-acked.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';

let influxd: Influxd;
let server: HatakeServer | undefined;
let stack: Stack | undefined;
let dir: string;
const logLines: string[] = [];

beforeAll(async () => {
  influxd = await startInfluxd();
  dir = mkdtempSync(join(tmpdir(), 'hatake-outage-'));
});
afterAll(async () => {
  await stack?.close();
  await server?.close();
  await influxd?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function publish(url: string, secret: string, time: number, vwc: number) {
  const client = await mqtt.connectAsync(url, { username: 'soil-1', password: secret, reconnectPeriod: 0 });
  await client.publishAsync(
    deviceTopic('demo-farm', 'soil-1', 'up'),
    JSON.stringify({ time, values: { soil_vwc: vwc, soil_temperature: 12.5 } }),
    { qos: 1 },
  );
  await client.endAsync();
}

it("refuses the gateway's batch while InfluxDB is down, the gateway keeps it, and it is delivered once when InfluxDB is back", async () => {
  server = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) }),
    storage: {
      kind: 'influx',
      url: influxd.url,
      database: 'hatake',
      timeouts: { requestMs: 500, writeMs: 1500, pingMs: 300 },
    },
  });
  await seedDemoUsers(server.ctx.auth);
  const url = `http://127.0.0.1:${await server.listen()}`;
  const farmer = await signIn(url, 'demo-farmer');
  const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
  // Retries after a failed sync are capped at 2 s, so the test does not wait a minute.
  const sync = { intervalMs: 200, batchMaxItems: 500, backoffCapMs: 2000 };
  stack = await startStack({ server: false, gateway: { server: { url, token }, sync } });
  const gw = stack.gateway;
  const held = () => server!.ctx.readings.count('demo-farm', 'soil-1');
  const ackedSeq = () =>
    (
      server!.ctx.db.prepare('SELECT acked_seq FROM gateways WHERE id = ?').get('gw-test') as {
        acked_seq: number;
      }
    ).acked_seq;
  const healthz = async () => {
    const res = await fetch(`${url}/healthz`);
    return { status: res.status, body: (await res.json()) as { storage: { ok: boolean; detail?: string } } };
  };

  // Before: a reading goes all the way into InfluxDB.
  const t0 = Date.now() - 60_000;
  await publish(stack.mqttUrl, stack.secrets['soil-1']!, t0, 0.2);
  await eventually(async () => (await held()) === 2 && gw.store.outboxDepth() === 0);
  const ackedBefore = ackedSeq();

  // InfluxDB goes away; the device keeps measuring and the gateway keeps accepting.
  await influxd.stop();
  for (let i = 1; i <= 3; i++)
    await publish(stack.mqttUrl, stack.secrets['soil-1']!, t0 + i * 1000, 0.2 + i / 100);
  await eventually(() => gw.sync?.status.lastError?.includes('HTTP 503'), 15_000);
  expect(gw.sync!.status.lastError).toContain('HATAKE_E_STORAGE');
  // The six readings are still in the outbox, and the server acknowledged none of them (the
  // device's status changes, which need no reading store, may have gone through meanwhile).
  const kept = gw.store.peekOutbox(1000).filter((r) => r.kind === 'reading');
  expect(kept).toHaveLength(6);
  const seqs = kept.map((r) => r.seq);
  expect([...syncAcked(server.ctx.db).held('gw-test', seqs, gw.sync!.epoch)]).toEqual([]);
  const down = await healthz();
  expect(down.status).toBe(503);
  expect(down.body.storage.ok).toBe(false);
  expect(down.body.storage.detail).toContain('does not answer');
  expect(logLines.some((l) => l.includes('InfluxDB write failed'))).toBe(true);
  // A farmer's device page says the store is away, not "internal error".
  const devices = await farmer('/api/v1/devices');
  expect(devices.status).toBe(503);
  expect(((await devices.json()) as { code: string }).code).toBe('HATAKE_E_STORAGE');
  expect(logLines.some((l) => l.includes('batch refused so the gateway keeps it'))).toBe(true);

  // InfluxDB is back: the kept batch is delivered, once.
  await influxd.start();
  await eventually(() => gw.store.outboxDepth() === 0, 20_000);
  expect(await held()).toBe(8);
  expect(ackedSeq()).toBeGreaterThan(ackedBefore);
  const rows = await server.ctx.readings.readings({
    farm: 'demo-farm',
    device: 'soil-1',
    metric: 'soil_vwc',
    from: 0,
    to: MAX_TIME_MS,
  });
  expect(rows.map((r) => [r.time, r.value, r.field])).toEqual([
    [t0, 0.2, 'upland-1'],
    [t0 + 1000, 0.21, 'upland-1'],
    [t0 + 2000, 0.22, 'upland-1'],
    [t0 + 3000, 0.23, 'upland-1'],
  ]);
  const up = await healthz();
  expect(up.status).toBe(200);
  expect(up.body.storage.ok).toBe(true);
  const back = (await (await farmer('/api/v1/devices')).json()) as {
    id: string;
    latest: { metric: string; value: number }[];
  }[];
  expect(back.find((d) => d.id === 'soil-1')?.latest).toContainEqual(
    expect.objectContaining({ metric: 'soil_vwc', value: 0.23 }),
  );
});

it('stores a stream of readings published across an InfluxDB restart completely and once', async () => {
  const gw = stack!.gateway;
  const before = await server!.ctx.readings.count('demo-farm', 'soil-1');
  const refused = () => logLines.filter((l) => l.includes('batch refused so the gateway keeps it')).length;
  const refusedBefore = refused();
  const client = await mqtt.connectAsync(stack!.mqttUrl, {
    username: 'soil-1',
    password: stack!.secrets['soil-1']!,
    reconnectPeriod: 0,
  });
  const t0 = Date.now() - 30_000;
  const n = 40;
  let restart: Promise<void> | undefined;
  for (let i = 0; i < n; i++) {
    await client.publishAsync(
      deviceTopic('demo-farm', 'soil-1', 'up'),
      JSON.stringify({ time: t0 + i * 100, values: { soil_vwc: 0.3, soil_temperature: 12 } }),
      { qos: 1 },
    );
    // InfluxDB goes down while the gateway is syncing every 200 ms, for longer than the
    // server's write timeout (1.5 s), and comes back later.
    if (i === 5)
      restart = influxd
        .stop()
        .then(() => new Promise((r) => setTimeout(r, 2500)))
        .then(() => influxd.start());
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.endAsync();
  await restart;
  await eventually(() => gw.store.outboxDepth() === 0, 20_000);
  // Syncs were refused meanwhile, and still every reading is there, once.
  expect(refused()).toBeGreaterThan(refusedBefore);
  expect(await server!.ctx.readings.count('demo-farm', 'soil-1')).toBe(before + 2 * n);
  const rows = await server!.ctx.readings.readings({
    farm: 'demo-farm',
    device: 'soil-1',
    metric: 'soil_temperature',
    from: t0,
    to: t0 + n * 100,
  });
  expect(rows.map((r) => r.time)).toEqual(Array.from({ length: n }, (_, i) => t0 + i * 100));
});
