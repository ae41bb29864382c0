// A running gateway with kits whose vendor codec file (TTN decodeUplink format) is hostile: one
// that never returns, one that throws, and one that returns garbage shapes. One uplink from such a
// device over real MQTT — published to the gateway's embedded broker, or as a ChirpStack event
// through an external Mosquitto for a LoRaWAN device — is dead-lettered with its code and a reason
// that names the codec; the device stays connected, the gateway keeps serving, and a well-behaved
// device's reading published right after is stored.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { codecSourceOf, loadCatalogue } from '../../firmware-config/catalogue.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { Manifest } from '../../protocol/manifest.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { validator } from '../../protocol/validate.ts';
import { parseYaml } from '../../protocol/yaml.ts';
import { eventually, quietLog } from '../helpers/stack.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';

const FARM = 'codec-farm';
const LORA_EUI = '70b3d57ed0000bad';

/** The hostile codec files, beside their kit files (kits/hostile/…). */
const CODECS: Record<string, string> = {
  'loop.js': 'function decodeUplink(input) { for (;;) {} }',
  'throw.js':
    'function decodeUplink(input) { throw new Error("vendor codec exploded at byte " + input.bytes[0]); }',
  // The first byte picks the garbage.
  'garbage.js': `function decodeUplink(input) {
  switch (input.bytes[0]) {
    case 1: return [1, 2, 3];
    case 2: return { data: "soil is wet" };
    case 3: return { data: { vwc: "very wet" } };
    case 4: return { data: { vwc: [0.3] } };
    case 5: return { errors: [42] };
    case 6: return undefined;
    default: return { data: { vwc: 0.3 } };
  }
}`,
};

const kitYaml = (id: string, codecFile: string, transport = 'mqtt') => `id: ${id}
name: { ja: 有害なコーデック ${id}, en: Hostile codec ${id} }
transport: ${transport}
codec: ttn-js
codecFile: hostile/${codecFile}
interval: 60
metrics:
  soil_vwc: { unit: m3/m3, min: 0, max: 1, resolution: 0.001 }
uplink:
  - { path: vwc, metric: soil_vwc }
`;

const MANIFEST = `
farm: { id: ${FARM}, name: Hostile codec farm }
broker: { host: 127.0.0.1, port: 1883 }
fields:
  - id: field-1
    name: Field 1
    boundary: { type: Polygon, coordinates: [[[138.9, 37.8], [138.91, 37.8], [138.91, 37.81], [138.9, 37.81], [138.9, 37.8]]] }
devices:
  - { id: loop-1, kit: hostile-loop, field: field-1 }
  - { id: throw-1, kit: hostile-throw, field: field-1 }
  - { id: garbage-1, kit: hostile-garbage, field: field-1 }
  - { id: lora-loop-1, kit: hostile-lora-loop, field: field-1, devEui: ${LORA_EUI} }
  - { id: soil-1, kit: hatake-soil-probe, field: field-1 }
`;

let dir: string;
let gateway: Gateway;
let mosquitto: Mosquitto;
let secrets: Record<string, string>;
const clients: MqttClient[] = [];

const connect = async (device: string) => {
  const c = await connectAsync(`mqtt://127.0.0.1:${gateway.mqttPort}`, {
    username: device,
    password: secrets[device],
    clientId: `${device}-client`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  clients.push(c);
  return c;
};
const readings = (device: string) =>
  gateway.store.db
    .prepare('SELECT metric, time, value FROM readings WHERE device = ? ORDER BY time, metric')
    .all(device) as { metric: string; time: number; value: number }[];
const deadLetterCount = () =>
  (gateway.store.db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n;

let soil: MqttClient;
/** Publishes a valid soil-1 reading right away and checks it is stored. */
async function wellBehavedStillStored(): Promise<void> {
  const time = Date.now() - 1000 - readings('soil-1').length; // unique per call
  await soil.publishAsync(
    deviceTopic(FARM, 'soil-1', 'up'),
    JSON.stringify({ time, values: { soil_vwc: 0.31, soil_temperature: 14.5 } }),
    { qos: 1 }, // PUBACK'd once durable
  );
  expect(readings('soil-1').filter((r) => r.time === time)).toEqual([
    { metric: 'soil_temperature', time, value: 14.5 },
    { metric: 'soil_vwc', time, value: 0.31 },
  ]);
}
/** The gateway's status page answers and reports itself healthy. */
async function gatewayServes(): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${gateway.httpPort}/healthz`);
  expect(await res.json()).toMatchObject({ status: 'ok' });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  vi.stubEnv('HATAKE_CODEC_PATH', ''); // the codecs come from the kit folder alone
  dir = mkdtempSync(join(tmpdir(), 'hatake-hostile-codec-'));
  const kits = join(dir, 'kits');
  mkdirSync(join(kits, 'hostile'), { recursive: true });
  for (const [file, source] of Object.entries(CODECS)) writeFileSync(join(kits, 'hostile', file), source);
  writeFileSync(join(kits, 'hostile-loop.yaml'), kitYaml('hostile-loop', 'loop.js'));
  writeFileSync(join(kits, 'hostile-throw.yaml'), kitYaml('hostile-throw', 'throw.js'));
  writeFileSync(join(kits, 'hostile-garbage.yaml'), kitYaml('hostile-garbage', 'garbage.js'));
  writeFileSync(join(kits, 'hostile-lora-loop.yaml'), kitYaml('hostile-lora-loop', 'loop.js', 'lorawan'));
  writeFileSync(join(dir, 'farm.yaml'), MANIFEST);
  const catalogue = loadCatalogue([kits], { codecDirs: [] });
  for (const id of ['hostile-loop', 'hostile-throw', 'hostile-garbage', 'hostile-lora-loop']) {
    expect(codecSourceOf(catalogue.require(id))?.file).toMatch(/kits\/hostile\/\w+\.js$/); // found
  }
  const manifest = parseYaml(MANIFEST, 'farm.yaml', validator(Manifest));
  const provisioned = provisionRegistry(manifest, undefined, { catalogue });
  secrets = provisioned.secrets;
  writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(provisioned.registry));
  mosquitto = await Mosquitto.start(dir);
  writeFileSync(
    join(dir, 'gateway.yaml'),
    [
      'id: gw-hostile-codec',
      'dataDir: gateway',
      'manifest: farm.yaml',
      'registry: registry.json',
      'kits: [kits]',
      'mqtt: { host: 127.0.0.1, port: 0 }',
      'http: { host: 127.0.0.1, port: 0 }',
      'external:',
      `  url: ${mosquitto.url}`,
      '  clientId: hatake-gw-hostile',
      '  topics:',
      "    - { filter: 'application/+/device/+/event/up', format: chirpstack }",
      '',
    ].join('\n'),
  );
  gateway = new Gateway(loadGatewayConfig(join(dir, 'gateway.yaml')), quietLog());
  await gateway.start();
  await mosquitto.waitFor(/Sending SUBACK to hatake-gw-hostile/);
  soil = await connect('soil-1');
}, 30_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync().catch(() => {});
  await gateway?.stop();
  await mosquitto?.stop();
  vi.unstubAllEnvs();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** [name, device, first byte, code, what the reason must say] */
const cases: [string, string, number, string, RegExp][] = [
  [
    'a codec that never returns',
    'loop-1',
    0,
    'HATAKE_E_CODEC_LIMIT',
    /codec loop\.js (ran past its \d+ ms limit|did not finish within \d+ ms) and was stopped/,
  ],
  ['a codec that throws', 'throw-1', 7, 'HATAKE_E_CODEC', /codec throw\.js.*vendor codec exploded at byte 7/],
  ['a codec returning an array', 'garbage-1', 1, 'HATAKE_E_CODEC', /codec garbage\.js returned an array/],
  ['a codec whose data is a string', 'garbage-1', 2, 'HATAKE_E_CODEC', /garbage\.js: data is not an object/],
  ['a codec giving a word for a number', 'garbage-1', 3, 'HATAKE_E_CODEC', /vwc: "very wet" is not a number/],
  ['a codec giving an array for a number', 'garbage-1', 4, 'HATAKE_E_CODEC', /vwc is an array/],
  [
    'a codec whose errors are not strings',
    'garbage-1',
    5,
    'HATAKE_E_CODEC',
    /errors is not a list of strings/,
  ],
  ['a codec returning nothing', 'garbage-1', 6, 'HATAKE_E_CODEC', /codec garbage\.js .*returned nothing/],
];

describe('a gateway running hostile vendor codecs', () => {
  it.each(cases)(
    'dead-letters one uplink from %s and keeps serving',
    async (_name, device, firstByte, code, reason) => {
      const client = await connect(device);
      const topic = deviceTopic(FARM, device, 'up');
      const before = deadLetterCount();
      const started = Date.now();
      await client.publishAsync(topic, Buffer.from([firstByte, 0x2a, 0x00]), { qos: 1 });
      expect(Date.now() - started).toBeLessThan(5_000); // bounded by the sandbox's hard limit
      expect(deadLetterCount()).toBe(before + 1);
      const [dead] = gateway.store.deadLetters(1);
      expect(dead).toMatchObject({ device, topic, code });
      expect(dead!.reason).toMatch(reason);
      expect(Buffer.from(dead!.head!)).toEqual(Buffer.from([firstByte, 0x2a, 0x00]));
      expect(readings(device)).toEqual([]);
      expect(await gateway.metrics.value('hatake_gateway_rejected_total', { code })).toBeGreaterThan(0);
      expect(client.connected).toBe(true);
      await gatewayServes();
      await wellBehavedStillStored();
    },
    20_000,
  );

  it('still decodes an honest uplink with the same codec file (the sandbox recovered)', async () => {
    const client = await connect('garbage-1');
    await client.publishAsync(deviceTopic(FARM, 'garbage-1', 'up'), Buffer.from([0]), { qos: 1 });
    expect(readings('garbage-1')).toMatchObject([{ metric: 'soil_vwc', value: 0.3 }]);
  });

  it('dead-letters a LoRaWAN uplink whose codec never returns, arriving through an external broker', async () => {
    const publisher = await connectAsync(mosquitto.url, { clientId: 'ns-publisher', reconnectPeriod: 0 });
    clients.push(publisher);
    const before = deadLetterCount();
    const topic = `application/farm-app/device/${LORA_EUI}/event/up`;
    await publisher.publishAsync(
      topic,
      JSON.stringify({
        deduplicationId: 'dedup-hostile-1',
        time: new Date().toISOString(),
        deviceInfo: { tenantId: 't', applicationId: 'farm-app', deviceName: 'lora-loop-1', devEui: LORA_EUI },
        devAddr: '01f8c6a3',
        fCnt: 1,
        fPort: 2,
        data: Buffer.from([1, 2, 3]).toString('base64'),
        rxInfo: [{ gatewayId: '0016c001f153a14c', rssi: -97, snr: 4.5 }],
      }),
      { qos: 1 },
    );
    await eventually(() => deadLetterCount() === before + 1, 10_000);
    const [dead] = gateway.store.deadLetters(1);
    expect(dead).toMatchObject({ topic, code: 'HATAKE_E_CODEC_LIMIT' });
    expect(dead!.reason).toMatch(/codec loop\.js .*stopped/);
    expect(readings('lora-loop-1')).toEqual([]);
    await gatewayServes();
    await wellBehavedStillStored();
  }, 20_000);
});
