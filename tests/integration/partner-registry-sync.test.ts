// A gateway provisioned on the farm (its registry made there, as `hatake start` and `hatake kit
// provision` do) syncs its registry — ids, kits, secret hashes — to the server; the partner then
// provisions the same manifest plus one device through the API: the check says beforehand that
// the three working devices keep their keys and the new one gets one, the devices keep their
// secret hashes, and once the registry sent down is applied by the gateway, real mqtt.js clients
// with the ORIGINAL secrets still log in (and the new device with its new one). The check warns of
// a device heard from that would get a new key, and of one the manifest leaves out. A simulated
// kit the gateway refuses says so once and keeps trying, without taking anything down.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type { ManifestCheckResult, ProvisionResult } from '../../protocol/views.ts';
import { writeFileAtomic } from '../../firmware-config/provision.ts';
import { readRegistryFile } from '../../gateway/registry.ts';
import { SimulatedDevice, type Refusal } from '../../sim/device.ts';
import { SIGNALS } from '../../sim/signals.ts';
import {
  DEMO_MANIFEST_FILE,
  demoManifest,
  eventually,
  signIn,
  startRegisteredStack,
} from '../helpers/stack.ts';
import { SeedGateway } from '../e2e/seed.ts';

type Fetcher = Awaited<ReturnType<typeof signIn>>;
const dir = mkdtempSync(join(tmpdir(), 'hatake-registry-sync-'));
let env: Awaited<ReturnType<typeof startRegisteredStack>>;
let partner: Fetcher;

const post = (path: string, body: unknown) =>
  partner(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const check = async (text: string, farm = 'demo-farm') =>
  (await (await post(`/api/v1/farms/${farm}/manifest/check`, { text })).json()) as ManifestCheckResult;
/** The demo manifest, as the farm's gateway runs it, with one device more. */
const PLUS_ONE = `${readFileSync(DEMO_MANIFEST_FILE, 'utf8').trimEnd()}
  - id: soil-2
    kit: hatake-soil-probe
    field: upland-1
    name: 土壌センサー 2号
`;
/** Connects as a device; resolves the client, or the broker's refusal as an Error. */
const login = (username: string, password: string) =>
  mqtt.connectAsync(env.stack.mqttUrl, { username, password, reconnectPeriod: 0 }).catch((e: Error) => e);

beforeAll(async () => {
  env = await startRegisteredStack(dir, 'gw-keys');
  partner = await signIn(env.url, 'demo-partner');
}, 60_000);

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('provisioning from the browser over a gateway provisioned on the farm', () => {
  it('knows the gateway’s keys: the check says the working devices keep theirs, the new one gets one', async () => {
    const { stack } = env;
    // soil-1 is working: it logs in with the secret it was given on the farm and reports.
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'soil-1',
      password: stack.secrets['soil-1'],
      reconnectPeriod: 0,
    });
    await client.publishAsync(
      'hatake/v1/demo-farm/soil-1/up',
      JSON.stringify({ values: { soil_temperature: 14 } }),
      { qos: 1 },
    );
    await client.endAsync();
    const keys = await eventually(async () => {
      const k = (await check(PLUS_ONE)).keys;
      // the registry synced, and soil-1's reading with it
      return k?.gatewayRegistry && k.devices.find((d) => d.id === 'soil-1')?.lastSeen ? k : undefined;
    }, 15_000);
    expect(keys.devices.map((d) => [d.id, d.key, d.from])).toEqual([
      ['soil-1', 'keep', 'gateway'],
      ['wx-1', 'keep', 'gateway'],
      ['water-1', 'keep', 'gateway'],
      ['soil-2', 'new', null],
    ]);
    expect(keys.devices.find((d) => d.id === 'soil-2')).toMatchObject({
      name: '土壌センサー 2号',
      lastSeen: null,
    });
    expect(keys).toMatchObject({ atRisk: [], removed: [] });
    // What the server holds is hashes only: the gateway's file, as it is on the farm.
    const held = JSON.parse(
      (
        env.server.ctx.db
          .prepare("SELECT registry FROM partner_gateway_registries WHERE gateway = 'gw-keys'")
          .get() as { registry: string }
      ).registry,
    ) as Registry;
    expect(held).toEqual(readRegistryFile(join(stack.dir, 'registry.json')));
    env.server.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    const db = readFileSync(join(dir, 'server', 'server.db'));
    for (const secret of Object.values(stack.secrets)) expect(db.includes(Buffer.from(secret))).toBe(false);
  });

  it('warns, before anything is done, of a working device the manifest leaves out', async () => {
    const withoutWater = PLUS_ONE.replace(/ {2}- id: water-1\n(?: {4}.*\n)+/, '');
    expect(withoutWater).not.toContain('water-1');
    const keys = (await check(withoutWater)).keys!;
    expect(keys.removed).toEqual(['water-1']);
    expect(keys.atRisk).toEqual([]);
  });

  it('keeps the working devices’ secrets: the registry sent down lets the original secrets in, and the new one', async () => {
    const { stack } = env;
    const res = await post('/api/v1/farms/demo-farm/provision', {
      text: PLUS_ONE,
      broker: { host: '127.0.0.1' },
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as ProvisionResult;
    expect(result.issued).toEqual(['soil-2']);
    expect(result.kept.sort()).toEqual(['soil-1', 'water-1', 'wx-1']);
    const sent = env.server.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    for (const id of ['soil-1', 'water-1', 'wx-1'])
      expect(sent.devices.find((d) => d.id === id)!.secretHash).toBe(hashSecret(stack.secrets[id]!));
    const soil2 = JSON.parse(result.devices.find((d) => d.id === 'soil-2')!.files!.config) as {
      mqtt: { secret: string; topic: string };
    };
    expect(sent.devices.find((d) => d.id === 'soil-2')!.secretHash).toBe(hashSecret(soil2.mqtt.secret));

    // The gateway fetches the registry sent down, writes it and reloads it.
    await eventually(() => stack.gateway.registry.get('soil-2'), 15_000);
    expect(readRegistryFile(join(stack.dir, 'registry.json')).devices.map((d) => d.id)).toContain('soil-2');
    for (const id of ['soil-1', 'water-1', 'wx-1']) {
      const client = await login(id, stack.secrets[id]!);
      expect(client, `${id} with its original secret`).not.toBeInstanceOf(Error);
      await (client as mqtt.MqttClient).endAsync();
    }
    const fresh = await login('soil-2', soil2.mqtt.secret);
    expect(fresh).not.toBeInstanceOf(Error);
    await (fresh as mqtt.MqttClient).publishAsync(
      soil2.mqtt.topic,
      JSON.stringify({ values: { soil_temperature: 13 } }),
      { qos: 1 },
    );
    await (fresh as mqtt.MqttClient).endAsync();
    // A wrong secret is still refused: the broker checks, it does not let anyone in.
    const wrong = await login('soil-1', soil2.mqtt.secret);
    expect(wrong).toBeInstanceOf(Error);
    expect((wrong as Error).message).toMatch(/Bad username or password/);

    // The gateway syncs the registry it applied: the next check knows soil-2's key from it.
    const keys = await eventually(async () => {
      const k = (await check(PLUS_ONE)).keys!;
      return k.devices.every((d) => d.key === 'keep') ? k : undefined;
    }, 15_000);
    expect(keys.devices.map((d) => d.id)).toEqual(['soil-1', 'wx-1', 'water-1', 'soil-2']);
  });

  it('warns loudly when a device heard from would get a new key (a gateway that never sent its keys)', async () => {
    // An older gateway of another farm: its manifest and a reading of soil-a reach the server,
    // its registry never does.
    const demo = demoManifest();
    const probe = demo.devices.find((d) => d.kit === 'hatake-soil-probe')!;
    const manifest = {
      ...demo,
      farm: { ...demo.farm, id: 'old-farm', name: '古い農場' },
      devices: [
        { ...probe, id: 'soil-a', name: '土壌センサー A' },
        { ...probe, id: 'soil-b', name: '土壌センサー B' },
      ],
    };
    await new SeedGateway(env.server, env.url, 'old-farm', 'gw-old').send([
      { kind: 'manifest', body: manifest },
      {
        kind: 'reading',
        body: {
          device: 'soil-a',
          metric: 'soil_temperature',
          value: 12,
          unit: 'degC',
          time: Date.now(),
          flags: [],
        },
      },
    ]);
    const admin = await signIn(env.url, 'admin');
    const res = await admin('/api/v1/farms/old-farm/manifest/check', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: JSON.stringify(manifest) }),
    });
    const keys = ((await res.json()) as ManifestCheckResult).keys!;
    expect(keys.gatewayRegistry).toBeNull();
    expect(keys.devices.map((d) => [d.id, d.key])).toEqual([
      ['soil-a', 'new'],
      ['soil-b', 'new'],
    ]);
    expect(keys.atRisk).toEqual(['soil-a']);
    // A manifest of another farm than the one checked: no preview (provisioning refuses it).
    expect((await check(JSON.stringify(manifest))).keys).toBeNull();
  });
});

describe('a simulated kit the gateway refuses', () => {
  it('says so once, keeps the other kits running, and comes back when its key is put right', async () => {
    const { stack } = env;
    const refusals: Refusal[] = [];
    const back: string[] = [];
    const wrongSecret = 'not-the-secret-of-water-1-at-all';
    const kit = (device: string, secret: string, i: number) =>
      new SimulatedDevice({
        farm: 'demo-farm',
        device,
        secret,
        brokerUrl: stack.mqttUrl,
        intervalMs: 200,
        signal: SIGNALS[demoManifest().devices.find((d) => d.id === device)!.kit]!(i),
        refusedRetryMs: 300,
        onRefused: (r) => refusals.push(r),
        onBack: (d) => back.push(d),
      });
    const refused = kit('water-1', wrongSecret, 1);
    const working = kit('wx-1', stack.secrets['wx-1']!, 2);
    try {
      expect(await refused.start()).toBe(false);
      expect(await working.start()).toBe(true);
      await eventually(() => working.published >= 3, 10_000);
      // Several more attempts, refused each time, said once.
      await new Promise((r) => setTimeout(r, 1200));
      expect(refusals).toEqual([
        { device: 'water-1', reason: 'Connection refused: Bad username or password', code: 4 },
      ]);
      expect(refused.published).toBe(0);
      expect(refused.refused).toBeDefined();
      // Its key put right on the farm (the registry rewritten, as `hatake kit provision` does): it
      // connects on its next attempt and reports.
      const registry = readRegistryFile(join(stack.dir, 'registry.json'));
      const water = registry.devices.find((d) => d.id === 'water-1')!;
      water.secretHash = hashSecret(wrongSecret);
      writeFileAtomic(join(stack.dir, 'registry.json'), JSON.stringify(registry));
      await eventually(() => back.includes('water-1') && refused.published > 0, 10_000);
      expect(refused.refused).toBeUndefined();
      expect(refusals).toHaveLength(1);
    } finally {
      await refused.stop();
      await working.stop();
    }
  });
});
