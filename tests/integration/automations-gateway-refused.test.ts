// An automation the gateway cannot run is refused there, and the farmer is told. A real server and
// a real gateway (its own signed downlink, its own uplink): the farm has a paddy level sensor and
// two water gates. The farmer's automation on gate-1 is applied and the server says so. Then the
// gateway's manifest loses gate-2 — sent down by the server, which still lists gate-2 among the
// farm's devices — and the farmer points the automation at gate-2: the server's check passes, the
// gateway refuses it with the planner's reason, keeps running the previous version (a low level
// still opens gate-1), and the server's automation view says refused, with that reason. Pointed
// back at gate-1 it is applied again; switched off it is kept whatever it names (it runs nothing).
// Refused again for gate-2, it is applied, with no edit by the farmer, once the partner provisions
// gate-2 (a registry sent down), and gate-2 opens on a low level; a refusal remembered lasts a
// restart and is applied at the gateway's start when gate-2 was provisioned while it was down.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Registry } from '../../protocol/registry.ts';
import type { Automation } from '../../protocol/automation.ts';
import type { AutomationView } from '../../protocol/review.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { DEFAULT_MQTT, gatewayConfigFor, type ResolvedGatewayConfig } from '../../gateway/config.ts';
import { REFUSED_AUTOMATION } from '../../gateway/downlink-apply.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { eventually, quietLog, signIn, startServer } from '../helpers/stack.ts';
import { SeedGateway } from '../e2e/seed.ts';

const FARM = 'demo-farm';
const GW = 'gw-refuse';

const manifest: Manifest = {
  farm: { id: FARM, name: '拒否テスト農場', region: 'niigata', timezone: 'Asia/Tokyo' },
  fields: [{ id: 'paddy-1', name: '田んぼ1号', crop: 'rice' }],
  devices: [
    { id: 'level-1', kit: 'hatake-paddy-water', field: 'paddy-1' },
    { id: 'gate-1', kit: 'hatake-water-gate', field: 'paddy-1', name: '水口1' },
    { id: 'gate-2', kit: 'hatake-water-gate', field: 'paddy-1', name: '水口2' },
  ],
};

let dir: string;
let server: HatakeServer;
let url: string;
let gateway: Gateway;
let config: ResolvedGatewayConfig;
let registry: Registry;
let secrets: Record<string, string>;
let farmer: Awaited<ReturnType<typeof signIn>>;
let automation: AutomationView;
const clients: MqttClient[] = [];

const draft = (over: Partial<Automation> = {}) => ({
  field: 'paddy-1',
  name: { ja: '田んぼ1号の水口', en: 'Paddy 1 water gate' },
  enabled: true,
  trigger: { kind: 'threshold', device: 'level-1', metric: 'water_level', op: '<', value: 3 },
  action: { device: 'gate-1', command: 'open' },
  limits: { maxRunsPerDay: 4, maxOpenMinutes: 60 },
  ...over,
});

async function view(id: string): Promise<AutomationView> {
  const res = await farmer(`/api/v1/automations/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as AutomationView;
}

async function update(a: AutomationView, over: Partial<Automation>): Promise<AutomationView> {
  const res = await farmer(`/api/v1/automations/${a.id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...draft(over), version: a.version }),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as AutomationView;
}

/** The automation's view once the gateway's report about its current version has come up. */
const settled = (id: string, version: number) =>
  eventually(
    async () => {
      const v = await view(id);
      return v.version === version && v.onGateway.state !== 'pending' ? v : undefined;
    },
    20_000,
    100,
  );

/** The version of the automation the gateway holds (its store: what its engine runs). */
const held = () =>
  gateway.store.documents<Automation>('automation').find((d) => d.id === automation.id)?.body.version;

/** The automation versions the gateway refused and remembers, to plan again when its devices change. */
const remembered = () =>
  gateway.store.documents<Automation>(REFUSED_AUTOMATION).map((d) => [d.id, d.body.version]);

/** The automation's view once the gateway's reports about its current version say `state`. */
const reported = (id: string, version: number, state: 'applied' | 'refused') =>
  eventually(
    async () => {
      const v = await view(id);
      return v.version === version && v.onGateway.state === state ? v : undefined;
    },
    20_000,
    100,
  );

/** The gateway's downlink_applied message about the automation's current document, as the server stored it. */
const appliedMessage = (id: string) =>
  (
    server.ctx.db
      .prepare(
        `SELECT message FROM events WHERE type = 'downlink_applied' AND json_extract(detail, '$.id') = ?
           AND json_extract(detail, '$.version') = ? ORDER BY time DESC, rowid DESC`,
      )
      .get(id, server.ctx.downlink.get(FARM, 'automation', id)!.version) as { message: string } | undefined
  )?.message;

/** A device of the farm connected to the gateway's broker with its own credentials. */
async function connect(device: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttPort}`, {
    username: device,
    password: secrets[device],
    reconnectPeriod: 0,
  });
  clients.push(c);
  return c;
}

/** Subscribes as `device` to its commands; returns them as they arrive. */
async function commandsTo(device: string): Promise<unknown[]> {
  const c = await connect(device);
  const got: unknown[] = [];
  c.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString())));
  await c.subscribeAsync(deviceTopic(FARM, device, 'down'), { qos: 1 });
  return got;
}

async function lowWater(level = 2.0): Promise<void> {
  const c = await connect('level-1');
  await c.publishAsync(
    deviceTopic(FARM, 'level-1', 'up'),
    JSON.stringify({ time: Date.now(), values: { water_level: level } }),
    { qos: 1 },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-automation-refused-'));
  ({ server, url } = await startServer(dir));
  ({ registry, secrets } = provisionRegistry(manifest));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(registry));
  config = gatewayConfigFor(
    {
      id: GW,
      dataDir: join(dir, 'gateway'),
      manifest: join(dir, 'manifest.json'),
      registry: join(dir, 'registry.json'),
    },
    {
      mqtt: { ...DEFAULT_MQTT, host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      server: {
        url,
        token: server.ctx.auth.issueGatewayToken(GW, FARM),
        publicKey: server.ctx.signingPublicKey,
      },
      sync: { intervalMs: 200, batchDelayMs: 20, backoffCapMs: 500, batchMaxItems: 500 },
    },
  );
  gateway = new Gateway(config, quietLog());
  await gateway.start();
  // The gateway's uplink tells the server the farm's devices.
  await eventually(() => server.ctx.db.prepare("SELECT 1 FROM devices WHERE id = 'gate-2'").get(), 10_000);
  farmer = await signIn(url, 'demo-farmer');
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  await gateway?.stop();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an automation on the farm’s gateway', () => {
  it('is pending until the gateway reports it, then applied', async () => {
    const res = await farmer('/api/v1/automations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ farm: FARM, ...draft() }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    automation = (await res.json()) as AutomationView;
    // Just written: no gateway has said anything about it yet.
    expect(automation.onGateway).toEqual({ state: 'pending', version: 1 });
    const v1 = await settled(automation.id, 1);
    expect(v1.onGateway).toMatchObject({ state: 'applied', version: 1, gateway: GW });
    expect(Date.parse(v1.onGateway.at!)).toBeGreaterThan(Date.now() - 60_000);
    expect(v1.onGateway.reason).toBeUndefined();
    // The list says the same.
    const list = (await (await farmer(`/api/v1/automations?farm=${FARM}`)).json()) as AutomationView[];
    expect(list.map((a) => a.onGateway)).toEqual([v1.onGateway]);
    expect(held()).toBe(1);
    automation = v1;
  });

  it('naming a device the gateway no longer has is refused there; the previous version keeps running', async () => {
    // The gateway's manifest and registry lose gate-2 (sent down as a partner's provisioning
    // does); the server still lists gate-2 among the farm's devices, so its own check passes.
    const without = { ...manifest, devices: manifest.devices.filter((d) => d.id !== 'gate-2') };
    server.ctx.downlink.publish(FARM, 'manifest', 'manifest', without);
    server.ctx.downlink.publish(FARM, 'registry', 'registry', provisionRegistry(without, registry).registry);
    await eventually(() => gateway.registry.get('gate-2') === undefined, 20_000);
    expect(server.ctx.db.prepare("SELECT 1 FROM devices WHERE id = 'gate-2'").get()).toBeTruthy();

    const sent = await update(automation, { action: { device: 'gate-2', command: 'open' } });
    expect(sent.version).toBe(2);
    expect(sent.onGateway).toEqual({ state: 'pending', version: 2 });
    const v2 = await settled(automation.id, 2);
    expect(v2.onGateway).toMatchObject({ state: 'refused', version: 2, gateway: GW });
    expect(v2.onGateway.reason).toBe(
      '/action/device: no device "gate-2" on this gateway; the previous version (v1) keeps running',
    );
    // As the gateway reported it (the partner's alerts read the same event).
    const event = server.ctx.db
      .prepare("SELECT message, detail FROM events WHERE type = 'downlink_refused'")
      .get() as { message: string; detail: string };
    expect(event.message).toMatch(
      /^refused automation aut-[0-9a-f]+ v\d+: \/action\/device: no device "gate-2"/,
    );
    expect(JSON.parse(event.detail)).toMatchObject({
      kind: 'automation',
      id: automation.id,
      code: 'HATAKE_E_AUTOMATION',
    });

    // The gateway kept version 1, and its engine runs it: a low level opens gate-1.
    expect(held()).toBe(1);
    const status = gateway.automations!.status().automations;
    expect(status.map((a) => ({ id: a.id, problem: a.problem, sensor: a.sensor }))).toEqual([
      { id: automation.id, problem: null, sensor: 'level-1 water_level' },
    ]);
    const commands = await commandsTo('gate-1');
    await lowWater(2.1);
    await eventually(() => commands.length > 0, 10_000);
    expect(commands[0]).toEqual({ command: 'open' });
    automation = v2;
  });

  it('pointed back at a gate the gateway has is applied again; switched off it is always kept', async () => {
    const v3 = await update(automation, {
      trigger: { kind: 'threshold', device: 'level-1', metric: 'water_level', op: '<', value: 2.5 },
    });
    expect((await settled(v3.id, 3)).onGateway).toMatchObject({ state: 'applied', version: 3 });
    expect(held()).toBe(3);
    // Off, it runs nothing: kept even naming gate-2, which the gateway lacks.
    const v4 = await update(v3, { enabled: false, action: { device: 'gate-2', command: 'open' } });
    expect((await settled(v4.id, 4)).onGateway).toMatchObject({ state: 'applied', version: 4 });
    expect(held()).toBe(4);
    expect(gateway.automations!.status().automations[0]).toMatchObject({ enabled: false, problem: null });
    automation = v4;
  });

  it('is looked up by the document, not by scanning the farm’s events', () => {
    // The index the automation view's query uses (dashboard/review/automations.ts).
    const plan = server.ctx.db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT e.gateway FROM events e JOIN gateways g ON g.id = e.gateway AND g.revoked IS NULL
         WHERE e.farm = ? AND e.type IN ('downlink_applied', 'downlink_refused') AND json_valid(e.detail)
           AND json_extract(e.detail, '$.kind') = 'automation' AND json_extract(e.detail, '$.id') = ?
           AND json_extract(e.detail, '$.version') = ?`,
      )
      .all(FARM, automation.id, 1) as { detail: string }[];
    expect(plan.map((p) => p.detail).join('\n')).toMatch(/USING INDEX events_downlink_by_doc/);
    expect(readFileSync(join(dir, 'registry.json'), 'utf8')).not.toContain('gate-2');
  });
  it('refused for a valve the gateway lacks is applied once the partner provisions it, with no edit', async () => {
    const v5 = await update(automation, { action: { device: 'gate-2', command: 'open' } });
    const refused = await settled(v5.id, 5);
    expect(refused.onGateway).toMatchObject({ state: 'refused', version: 5, gateway: GW });
    expect(refused.onGateway.reason).toBe(
      '/action/device: no device "gate-2" on this gateway; the previous version (v4) stays, disabled',
    );
    expect(held()).toBe(4);
    expect(remembered()).toEqual([[automation.id, 5]]);

    // The partner provisions gate-2 again: the registry (with its credentials) and the manifest
    // are sent down. The farmer saves nothing.
    server.ctx.downlink.publish(FARM, 'registry', 'registry', registry);
    server.ctx.downlink.publish(FARM, 'manifest', 'manifest', manifest);
    const applied = await reported(automation.id, 5, 'applied');
    expect(applied.onGateway).toMatchObject({ state: 'applied', version: 5, gateway: GW });
    expect(gateway.registry.get('gate-2')).toBeDefined();
    expect(held()).toBe(5);
    expect(remembered()).toEqual([]);
    expect(appliedMessage(automation.id)).toMatch(
      new RegExp(
        `^applied automation ${automation.id} v\\d+ after the gateway's devices changed \\(registry v\\d+\\): automation ${automation.id} kept$`,
      ),
    );
    // The refusal stays stored beside it (the partner's alerts list both); the newer report counts.
    expect(
      server.ctx.db
        .prepare(
          `SELECT type FROM events WHERE json_extract(detail, '$.id') = ? AND json_extract(detail, '$.version') = ?
           ORDER BY time, rowid`,
        )
        .all(automation.id, server.ctx.downlink.get(FARM, 'automation', automation.id)!.version),
    ).toEqual([{ type: 'downlink_refused' }, { type: 'downlink_applied' }]);

    // The gateway's engine runs it: a low level opens gate-2.
    expect(
      gateway
        .automations!.status()
        .automations.map((a) => ({ id: a.id, problem: a.problem, sensor: a.sensor })),
    ).toEqual([{ id: automation.id, problem: null, sensor: 'level-1 water_level' }]);
    const gate2 = await commandsTo('gate-2');
    await lowWater();
    await eventually(() => gate2.length > 0, 10_000);
    expect(gate2[0]).toEqual({ command: 'open' });
    automation = applied;
  });

  it('a refusal remembered lasts a restart: a valve provisioned meanwhile is applied at the start', async () => {
    // The gateway loses gate-2 again; the farmer changes the automation, still on gate-2: refused.
    const without = { ...manifest, devices: manifest.devices.filter((d) => d.id !== 'gate-2') };
    server.ctx.downlink.publish(FARM, 'manifest', 'manifest', without);
    server.ctx.downlink.publish(FARM, 'registry', 'registry', provisionRegistry(without, registry).registry);
    await eventually(() => gateway.registry.get('gate-2') === undefined, 20_000);
    const v6 = await update(automation, {
      trigger: { kind: 'threshold', device: 'level-1', metric: 'water_level', op: '<', value: 2.5 },
      action: { device: 'gate-2', command: 'open' },
    });
    expect((await settled(v6.id, 6)).onGateway).toMatchObject({
      state: 'refused',
      reason:
        '/action/device: no device "gate-2" on this gateway; the previous version (v5) stays, and the gateway cannot run it either',
    });
    expect(remembered()).toEqual([[automation.id, 6]]);

    // Stopped; gate-2 provisioned on the farm meanwhile (its registry file written in place).
    await gateway.stop();
    writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(registry));
    gateway = new Gateway(config, quietLog());
    await gateway.start();
    const applied = await reported(automation.id, 6, 'applied');
    expect(applied.onGateway).toMatchObject({ state: 'applied', version: 6, gateway: GW });
    expect(held()).toBe(6);
    expect(remembered()).toEqual([]);
    expect(appliedMessage(automation.id)).toMatch(/after the gateway's devices changed \(gateway start\)/);
    expect(gateway.automations!.status().automations[0]).toMatchObject({
      id: automation.id,
      problem: null,
      trigger: expect.anything(),
    });
    automation = applied;
  });

  it('a valve provisioned on the farm while the gateway runs (its registry file rewritten) applies it', async () => {
    const without = { ...manifest, devices: manifest.devices.filter((d) => d.id !== 'gate-2') };
    writeFileAtomic(
      join(dir, 'registry.json'),
      JSON.stringify(provisionRegistry(without, registry).registry),
    );
    await eventually(() => gateway.registry.get('gate-2') === undefined, 20_000);
    const v7 = await update(automation, {
      trigger: { kind: 'threshold', device: 'level-1', metric: 'water_level', op: '<', value: 2 },
      action: { device: 'gate-2', command: 'open' },
    });
    expect((await settled(v7.id, 7)).onGateway).toMatchObject({ state: 'refused', version: 7 });
    expect(remembered()).toEqual([[automation.id, 7]]);

    writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(registry));
    const applied = await reported(automation.id, 7, 'applied');
    expect(applied.onGateway).toMatchObject({ state: 'applied', version: 7, gateway: GW });
    expect(held()).toBe(7);
    expect(remembered()).toEqual([]);
    expect(appliedMessage(automation.id)).toMatch(
      /after the gateway's devices changed \(registry file changed\)/,
    );
    automation = applied;
  });

  it('takes each gateway’s newest report: applied after refused in the same millisecond is applied', async () => {
    const seed = new SeedGateway(server, url, FARM, 'gw-second');
    const version = server.ctx.downlink.get(FARM, 'automation', automation.id)!.version;
    const at = Date.now();
    const event = (id: string, type: 'downlink_applied' | 'downlink_refused') => ({
      kind: 'event' as const,
      body: {
        id,
        type,
        severity: type === 'downlink_refused' ? 'critical' : 'info',
        time: at,
        message: `${type === 'downlink_refused' ? 'refused' : 'applied'} automation ${automation.id} v${version}: …`,
        detail: { kind: 'automation', id: automation.id, version },
      },
    });
    await seed.send([event('second-1', 'downlink_refused')]);
    expect((await view(automation.id)).onGateway).toMatchObject({ state: 'refused', gateway: 'gw-second' });
    await seed.send([event('second-2', 'downlink_applied')]);
    expect((await view(automation.id)).onGateway).toMatchObject({
      state: 'applied',
      version: automation.version,
    });
    server.ctx.auth.revokeGateway('gw-second');
  });
});
