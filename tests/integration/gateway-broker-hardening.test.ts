// The embedded broker against three faults an audit found, on a real gateway (the demo farm with its
// water gate gate-1, real SQLite files, mqtt.js clients): a device may not take over another
// device's session (its connection and the commands queued for it); a registry reload that
// rotates or removes a device's secret disconnects it; a database at its budget refuses a status
// publish it cannot record instead of crashing the gateway.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import { newSecret, provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { DEFAULT_MQTT, gatewayConfigFor } from '../../gateway/config.ts';
import { DEMO_FARM_FILE, demoFarm, eventually, quietLog } from '../helpers/stack.ts';

const FARM = 'demo-farm';
let dir: string;
let gateway: Gateway;
let registry: Registry;
let registryFile: string;
let secrets: Record<string, string>;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-harden-'));
  ({ registry, secrets } = provisionRegistry(demoFarm()));
  registryFile = join(dir, 'registry.json');
  writeFileAtomic(registryFile, JSON.stringify(registry));
  gateway = new Gateway(
    gatewayConfigFor(
      { id: 'gw-harden', dataDir: join(dir, 'gateway'), manifest: DEMO_FARM_FILE, registry: registryFile },
      {
        mqtt: {
          ...DEFAULT_MQTT,
          host: '127.0.0.1',
          port: 0,
          rate: { perSecond: 10_000, burst: 10_000 },
        },
        http: { host: '127.0.0.1', port: 0 },
      },
    ),
    quietLog(),
  );
  await gateway.start();
  url = `mqtt://127.0.0.1:${gateway.mqttPort}`;
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (device: string, opts: mqtt.IClientOptions = {}, password = secrets[device]) =>
  mqtt.connectAsync(url, { username: device, password, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
const refused = (reason: string) => gateway.metrics.value('hatake_gateway_refused_total', { reason });
const closed = (c: MqttClient) =>
  new Promise<void>((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
/** The connections aedes holds, by client id (its types do not say so). */
const aedesClients = () => (gateway.broker!.aedes as unknown as { clients: Record<string, unknown> }).clients;
/** Collects what a client receives on its `down` topic. */
const inbox = (c: MqttClient) => {
  const got: string[] = [];
  c.on('message', (_t, p) => got.push(p.toString()));
  return got;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("another device's session", () => {
  it("refuses soil-1 logging in as gate-1's client id: gate-1 stays connected and gets its commands", async () => {
    const down = deviceTopic(FARM, 'gate-1', 'down');
    let gate = await connect('gate-1', { clientId: 'gate-1', clean: false });
    await gate.subscribeAsync(down, { qos: 1 });
    let got = inbox(gate);
    let kicked = false;
    gate.once('close', () => (kicked = true));
    const before = await refused('client_id');

    // The audit's hijack: soil-1's own credentials, gate-1's client id. CONNACK 2.
    await expect(connect('soil-1', { clientId: 'gate-1', clean: false })).rejects.toThrow(
      /Identifier rejected/i,
    );
    // So is the client id of gate-1's simulated valve (`gate-1-valve-sim`, sim/valve.ts).
    await expect(connect('soil-1', { clientId: 'gate-1-valve-sim' })).rejects.toThrow(/Identifier rejected/i);
    expect(await refused('client_id')).toBe(before + 2);
    await sleep(200);
    expect(kicked).toBe(false);
    expect(gate.connected).toBe(true);
    await gateway.broker!.command('gate-1', '{"valve":"open"}');
    await eventually(() => got.includes('{"valve":"open"}'), 5000);

    // gate-1 drops off the air (no DISCONNECT); a command waits in its session.
    gate.stream.destroy();
    await eventually(() => aedesClients()['gate-1'] === undefined, 5000);
    await gateway.broker!.command('gate-1', '{"valve":"close"}');
    // The stored session is gate-1's too: soil-1 may not resume it and read the command.
    const thief = connect('soil-1', { clientId: 'gate-1', clean: false });
    await expect(thief).rejects.toThrow(/Identifier rejected/i);
    expect(await refused('client_id')).toBe(before + 3);

    // gate-1 comes back to its session and gets the command that waited.
    gate = await connect('gate-1', { clientId: 'gate-1', clean: false });
    got = inbox(gate);
    await eventually(() => got.includes('{"valve":"close"}'), 5000);
    await gate.endAsync();
  });

  it("refuses another device's session under a client id no device is named by, and frees a clean one", async () => {
    // wx-1 with a client id of its own choosing and a persistent session.
    const wx = await connect('wx-1', { clientId: 'field-radio-7', clean: false });
    await wx.subscribeAsync(deviceTopic(FARM, 'wx-1', 'down'), { qos: 1 });
    await expect(connect('soil-1', { clientId: 'field-radio-7' })).rejects.toThrow(/Identifier rejected/i);
    expect(wx.connected).toBe(true);
    await wx.endAsync();
    // Its session outlives the connection: still wx-1's.
    await expect(connect('soil-1', { clientId: 'field-radio-7', clean: false })).rejects.toThrow(
      /Identifier rejected/i,
    );
    const back = await connect('wx-1', { clientId: 'field-radio-7', clean: false });
    expect(back.connected).toBe(true);
    await back.endAsync();

    // A clean session ends with its connection: the client id is free afterwards.
    const water = await connect('water-1', { clientId: 'shared-bench' });
    await water.endAsync();
    await eventually(() => aedesClients()['shared-bench'] === undefined, 5000);
    const soil = await connect('soil-1', { clientId: 'shared-bench' });
    await soil.endAsync();
  });

  it('lets the legit clients in: their own id, the simulators, the mqtt.js default', async () => {
    const clients = await Promise.all([
      connect('gate-1', { clientId: 'gate-1' }), // firmware-config's generated configs
      connect('gate-1', { clientId: 'gate-1-valve-sim' }), // sim/valve.ts
      connect('soil-1', { clientId: 'soil-1-sim', clean: false }), // sim/device.ts
      connect('wx-1'), // mqttjs_… (most tests, generic clients)
    ]);
    for (const c of clients) expect(c.connected).toBe(true);
    await Promise.all(clients.map((c) => c.endAsync()));
  });
});

describe('a registry reload', () => {
  it('disconnects the devices whose secret changed or that were removed; the others stay', async () => {
    const old = secrets['wx-1']!;
    const wx = await connect('wx-1', { clientId: 'wx-1' });
    const water = await connect('water-1');
    const soil = await connect('soil-1');
    let soilClosed = false;
    soil.once('close', () => (soilClosed = true));

    // Provisioning rotates wx-1's key and drops water-1, rewriting the file (by rename).
    const fresh = newSecret();
    registry = {
      ...registry,
      devices: registry.devices
        .filter((d) => d.id !== 'water-1')
        .map((d) => (d.id === 'wx-1' ? { ...d, secretHash: hashSecret(fresh) } : d)),
    };
    writeFileAtomic(registryFile, JSON.stringify(registry));
    await eventually(() => !wx.connected && !water.connected, 5000);
    secrets['wx-1'] = fresh;

    await expect(connect('wx-1', { clientId: 'wx-1' }, old)).rejects.toThrow(/Bad username or password/i);
    await expect(connect('water-1')).rejects.toThrow(/Bad username or password/i);
    const again = await connect('wx-1', { clientId: 'wx-1' }, fresh);
    await again.endAsync();

    // soil-1 was not touched: still connected, its readings still stored.
    expect(soilClosed).toBe(false);
    const time = Date.now() - 5000;
    await soil.publishAsync(
      deviceTopic(FARM, 'soil-1', 'up'),
      JSON.stringify({ time, values: { soil_vwc: 0.31 } }),
      { qos: 1 },
    );
    expect(
      gateway.store.db
        .prepare("SELECT value FROM readings WHERE device = 'soil-1' AND metric = 'soil_vwc' AND time = ?")
        .get(time),
    ).toEqual({ value: 0.31 });
    await soil.endAsync();
  });
});

describe('a database at its budget', () => {
  it('refuses a status publish it cannot record, counted, and keeps serving', async () => {
    const store = gateway.store;
    const used = store.diskUse(0).dbBytes;
    const before = await refused('store');
    // Nothing more fits: the budget is what the database holds now.
    store.setBudget(0);
    try {
      // ESPHome's birth and will messages, as sim/connect.ts sends them: each one records the
      // device's state and queues it for the server, until SQLite answers SQLITE_FULL.
      const status = deviceTopic(FARM, 'wx-1', 'status');
      const wx = await connect('wx-1', {
        clientId: 'wx-1',
        will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
      });
      const gone = closed(wx).then(() => 'closed' as const);
      let acked = 0;
      for (let i = 0; i < 20_000; i++) {
        const outcome = await Promise.race([
          wx.publishAsync(status, i % 2 ? 'offline' : 'online', { qos: 1, retain: true }).then(
            () => 'acked' as const,
            () => 'failed' as const,
          ),
          gone,
        ]);
        if (outcome !== 'acked') break;
        acked++;
      }
      wx.end(true);
      expect(acked, 'the budget was never reached').toBeLessThan(20_000);
      await eventually(async () => (await refused('store')) > before, 5000);

      // The gateway is up: /healthz answers, another device logs in and gets its command.
      const health = await fetch(`http://127.0.0.1:${gateway.httpPort}/healthz`);
      expect((await health.json()) as { status: string }).toHaveProperty('status');
      const gate = await connect('gate-1', { clientId: 'gate-1' });
      await gate.subscribeAsync(deviceTopic(FARM, 'gate-1', 'down'), { qos: 1 });
      const got = inbox(gate);
      await gateway.broker!.command('gate-1', '{"valve":"close"}');
      await eventually(() => got.length > 0, 5000);
      await gate.endAsync();
    } finally {
      store.setBudget(used + 64 * 1024 * 1024);
      gateway.maintenance.checkDisk();
    }
    // Space again: the status is recorded and acknowledged.
    const wx = await connect('wx-1', { clientId: 'wx-1' });
    await wx.publishAsync(deviceTopic(FARM, 'wx-1', 'status'), 'online', { qos: 1, retain: true });
    await wx.endAsync();
  });
});
