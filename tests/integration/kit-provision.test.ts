// A provisioned device's JSON config is used as-is: `kit provision --port` writes the port the
// gateway's embedded broker (aedes, real SQLite) then listens on, and mqtt.js and Debian's
// mosquitto_pub connect with nothing but the config's fields; their readings are stored.
// The ESPHome snippet's topics, worked out as ESPHome would from the snippet (its own defaults
// included), are all accepted by that broker: a device flashed with it is not disconnected, and a
// water gate gets the gateway's commands on the topic it subscribes to. Re-provisioning one device
// rotates only its secret; the running gateway picks up the new registry without a restart,
// refuses the old secret and accepts the new one. Re-provisioning with another --host / --port
// keeps every secret and writes the configs, snippets and QR codes again with the new address.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import jsQRModule from 'jsqr';
import { connectAsync, type MqttClient } from 'mqtt';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kit } from '../../cli/kit.ts';
import { BUILTIN_KITS_DIR, loadCatalogue, parseKitFile } from '../../firmware-config/catalogue.ts';
import { encodeCommand } from '../../firmware-config/commands.ts';
import { provisionFiles } from '../../firmware-config/firmware-files.ts';
import { loadManifest } from '../../firmware-config/manifest-check.ts';
import { DeviceConfig } from '../../protocol/registry.ts';
import { validator } from '../../protocol/validate.ts';
import { parse as parseYaml } from 'yaml';
import { Gateway } from '../../gateway/gateway.ts';
import { resolveGatewayConfig } from '../../gateway/config.ts';
import type { GatewayConfig } from '../../protocol/gateway-config.ts';
import { eventually, quietLog } from '../helpers/stack.ts';
import { freePort } from '../helpers/ports.ts';

const run = promisify(execFile);
/** soil-1's own soil_vwc polynomial in the manifest: c0 + c1·raw. */
const SOIL_1_VWC = [-0.05, 0.0001] as const;
const MANIFEST = `# test farm
farm: { id: kit-farm, name: "キット農場 <script>alert(1)</script>" }
broker: { host: 127.0.0.1, port: 1883 }
fields:
  - id: paddy-1
    name: "田んぼ <img src=x onerror=alert(1)>"
    boundary: { type: Polygon, coordinates: [[[138.9, 37.8], [138.91, 37.8], [138.91, 37.81], [138.9, 37.81], [138.9, 37.8]]] }
devices:
  - { id: soil-1, kit: hatake-soil-probe, field: paddy-1, position: [138.905, 37.805], name: "<script>steal()</script>", calibration: { soil_vwc: [${SOIL_1_VWC.join(', ')}] } }
  - { id: water-1, kit: hatake-paddy-water, field: paddy-1, position: [138.906, 37.806] }
  - { id: lse-1, kit: dragino-lse01, field: paddy-1, devEui: A840414A71835F9D }
  - { id: gate-1, kit: hatake-water-gate, field: paddy-1, position: [138.9055, 37.8055] }
`;

let dir: string;
let out: string;
let gateway: Gateway;
/** The broker port given to `kit provision --port`, which the gateway then listens on. */
let port: number;
const configValidator = validator(DeviceConfig);
// jsqr is CommonJS whose exports object is the function, with itself as `default`.
const jsQR = jsQRModule.default;

/** What the device's QR code says (decoded from its PNG by jsQR, as a phone's camera would). */
async function qrText(id: string): Promise<string | undefined> {
  return qrOf(join(out, 'devices', `${id}.png`));
}
/** What a QR code image (a PNG file or its bytes) says, decoded by jsQR. */
async function qrOf(png: string | Buffer): Promise<string | undefined> {
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return jsQR(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), info.width, info.height)
    ?.data;
}
const config = (id: string) =>
  configValidator.parse(JSON.parse(readFileSync(join(out, 'devices', `${id}.json`), 'utf8')), id);
const registry = () =>
  JSON.parse(readFileSync(join(out, 'registry.json'), 'utf8')) as {
    devices: Array<{ id: string; secretHash?: string; devEui?: string }>;
  };
/** `hatake kit provision farm.yaml --out DIR --port PORT …`, as the installer runs it. */
const provision = (...more: string[]) =>
  kit(['provision', join(dir, 'farm.yaml'), '--out', out, '--port', String(port), ...more]);
const silenced = async (fn: () => Promise<number>) => {
  const write = process.stdout.write;
  let text = '';
  process.stdout.write = ((s: string) => ((text += s), true)) as typeof process.stdout.write;
  try {
    return { code: await fn(), text };
  } finally {
    process.stdout.write = write;
  }
};

type Snippet = { mqtt: Record<string, unknown> } & Record<string, unknown>;
const snippet = (id: string) =>
  parseYaml(readFileSync(join(out, 'devices', `${id}.esphome.yaml`), 'utf8')) as Snippet;
const builtin = loadCatalogue();

/** The ESPHome node's name (`esphome: name:`), which the snippet leaves to the device's own YAML. */
const NODE = 'field-node';
/** ESPHome's object id of an entity name (str_snake_case, then str_sanitize). */
const objectId = (name: string) =>
  name
    .toLowerCase()
    .replace(/ /g, '_')
    .replace(/[^a-z0-9_-]/g, '_');

/** Every mqtt.publish / mqtt.publish_json action in the snippet: its topic and the metrics it sends. */
function publishActions(node: unknown): Array<{ topic: string; metrics: string[] }> {
  if (Array.isArray(node)) return node.flatMap(publishActions);
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => [
    ...(k === 'mqtt.publish' || k === 'mqtt.publish_json'
      ? [
          {
            topic: (v as { topic: string }).topic,
            metrics: [
              ...String((v as { payload: unknown }).payload).matchAll(/root\["values"\]\["(\w+)"\]/g),
            ].map((m) => m[1]!),
          },
        ]
      : []),
    ...publishActions(v),
  ]);
}

/**
 * What an ESPHome node flashed with this snippet publishes, and where, with ESPHome's defaults
 * for what the snippet leaves out (esphome/components/mqtt: a topic prefix of the node's name,
 * entity states at `<prefix>/<component>/<object id>/state` unless internal, logs at
 * `<prefix>/debug`, birth and will at `<prefix>/status`, Home Assistant discovery and
 * `esphome/discover/<node>` unless turned off), and its own publish actions.
 */
function esphomePublishes(doc: Snippet, kitId: string): Array<{ topic: string; payload: string }> {
  const mqtt = doc.mqtt;
  const prefix = Object.hasOwn(mqtt, 'topic_prefix') ? ((mqtt.topic_prefix as string | null) ?? '') : NODE;
  const out: Array<{ topic: string; payload: string }> = [];
  const message = (key: string, suffix: string, payload: string) => {
    if (!Object.hasOwn(mqtt, key)) {
      if (prefix) out.push({ topic: `${prefix}/${suffix}`, payload });
      return;
    }
    const m = mqtt[key] as string | { topic: string; payload?: string } | null;
    if (m === null) return;
    out.push(
      typeof m === 'string' ? { topic: m, payload } : { topic: m.topic, payload: m.payload ?? payload },
    );
  };
  message('birth_message', 'status', 'online');
  message('will_message', 'status', 'offline');
  message('shutdown_message', 'status', 'offline');
  message('log_topic', 'debug', '[D][sensor:093]: a log line');
  for (const [component, list] of Object.entries(doc)) {
    if (!Array.isArray(list)) continue;
    for (const e of list as Array<Record<string, unknown>>) {
      if (typeof e !== 'object' || e === null || !('platform' in e)) continue;
      const name = objectId(String(e.name ?? e.id));
      if (typeof e.state_topic === 'string') out.push({ topic: e.state_topic, payload: '1' });
      else if (prefix && e.internal !== true)
        out.push({ topic: `${prefix}/${component}/${name}/state`, payload: '1' });
      if (mqtt.discovery !== false && e.internal !== true)
        out.push({ topic: `homeassistant/${component}/${NODE}/${name}/config`, payload: '{}' });
    }
  }
  if (mqtt.discover_ip !== false) out.push({ topic: `esphome/discover/${NODE}`, payload: '{}' });
  const kit = builtin.require(kitId);
  for (const a of publishActions(doc)) {
    const values = Object.fromEntries(
      a.metrics.map((m) => [m, (kit.metrics[m]!.min + kit.metrics[m]!.max) / 2] as const),
    );
    out.push({ topic: a.topic, payload: JSON.stringify({ values }) });
  }
  return out;
}

/** Connects as the snippet says (credentials, client id, last will). */
async function connectAsSnippet(doc: Snippet): Promise<MqttClient> {
  const m = doc.mqtt;
  const will = m.will_message as { topic: string; payload: string; qos: 0 | 1; retain: boolean } | undefined;
  return connectAsync({
    host: '127.0.0.1', // the snippet's broker, as the device would reach it here
    port: m.port as number,
    username: m.username as string,
    password: m.password as string,
    clientId: m.client_id as string,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(will
      ? {
          will: { topic: will.topic, payload: Buffer.from(will.payload), qos: will.qos, retain: will.retain },
        }
      : {}),
  });
}

/**
 * Publishes at QoS 1 (whatever ESPHome would use: the broker's topic check is the same) and
 * answers whether the broker took it ('ok', its PUBACK) or closed the connection ('closed').
 */
function publishOrClose(client: MqttClient, topic: string, payload: string): Promise<'ok' | 'closed'> {
  if (!client.connected) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const onClose = () => resolve('closed');
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      client.off('close', onClose);
      resolve(err ? 'closed' : 'ok');
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-kit-'));
  out = join(dir, 'out');
  writeFileSync(join(dir, 'farm.yaml'), MANIFEST);
  port = await freePort();
  const r = await silenced(() => provision());
  expect(r.code).toBe(0);
  // The gateway as its config file would describe it: embedded broker on the provisioned port,
  // status page on port 0.
  gateway = new Gateway(
    resolveGatewayConfig(
      {
        id: 'gw-kit',
        dataDir: 'gateway',
        manifest: 'farm.yaml',
        registry: 'out/registry.json',
        mqtt: { host: '127.0.0.1', port },
        http: { host: '127.0.0.1', port: 0 },
      } as GatewayConfig,
      join(dir, 'gateway.yaml'),
    ),
    quietLog(),
  );
  await gateway.start();
  expect(gateway.mqttPort).toBe(port);
});

afterAll(async () => {
  await gateway?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const stored = (device: string, metric: string) =>
  gateway.store.db
    .prepare('SELECT value FROM readings WHERE device = ? AND metric = ? ORDER BY time')
    .all(device, metric) as Array<{ value: number }>;

/** Publishes with mqtt.js using exactly the fields of the device's JSON config. */
async function publishWithMqttJs(c: DeviceConfig, message: string) {
  const client = await connectAsync({
    host: c.mqtt.host,
    port: c.mqtt.port,
    protocol: c.mqtt.tls ? 'mqtts' : 'mqtt',
    username: c.mqtt.username,
    password: c.mqtt.secret,
    clientId: c.mqtt.clientId,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  try {
    await client.publishAsync(c.mqtt.topic, message, { qos: c.mqtt.qos });
  } finally {
    await client.endAsync();
  }
}

async function mosquittoPub(c: DeviceConfig, message: string) {
  try {
    await run(
      'mosquitto_pub',
      [
        '-h',
        c.mqtt.host,
        '-p',
        String(c.mqtt.port),
        '-V',
        'mqttv311',
        '-i',
        c.mqtt.clientId,
        '-u',
        c.mqtt.username,
        '-P',
        c.mqtt.secret,
        '-t',
        c.mqtt.topic,
        '-q',
        String(c.mqtt.qos),
        '-m',
        message,
      ],
      { timeout: 10_000 },
    );
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: err.code ?? -1, stderr: err.stderr ?? '' };
  }
}

describe('hatake kit provision', () => {
  it('writes a registry with hashes only, 0600 config files holding the secret, and a QR code of the config', async () => {
    const reg = registry();
    expect(reg.devices.map((d) => d.id)).toEqual(['soil-1', 'water-1', 'lse-1', 'gate-1']);
    const soil = config('soil-1');
    expect(soil.mqtt).toMatchObject({
      host: '127.0.0.1',
      port, // --port, over the manifest's broker port 1883
      tls: false,
      username: 'soil-1',
      topic: 'hatake/v1/kit-farm/soil-1/up',
      qos: 1,
    });
    expect(soil.interval).toBe(60);
    const text = readFileSync(join(out, 'registry.json'), 'utf8');
    expect(text).not.toContain(soil.mqtt.secret);
    expect(reg.devices[0]!.secretHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(reg.devices[2]).toEqual({ id: 'lse-1', kit: 'dragino-lse01', devEui: 'a840414a71835f9d' }); // LoRaWAN: no secret
    for (const f of ['soil-1.json', 'soil-1.esphome.yaml', 'soil-1.png']) {
      expect(statSync(join(out, 'devices', f)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(out, 'registry.json')).mode & 0o777).toBe(0o600);
    const esphome = readFileSync(join(out, 'devices', 'soil-1.esphome.yaml'), 'utf8');
    expect(esphome).toContain(`password: ${soil.mqtt.secret}`);
    expect(esphome).toContain('topic: hatake/v1/kit-farm/soil-1/up');
    expect(esphome).toContain('root["values"]["soil_raw"]');
    expect(
      readFileSync(join(out, 'devices', 'soil-1.png'))
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    // The QR code holds the device's configuration file, as it is on disk.
    expect(JSON.parse((await qrText('soil-1'))!)).toEqual(soil);
  });

  it('writes a printable sheet with every device and QR code, escaping every name', () => {
    const html = readFileSync(join(out, 'sheet.html'), 'utf8');
    expect(html).not.toMatch(/<script|<img src=x/i);
    expect(html).toContain('&lt;script&gt;steal()&lt;/script&gt;');
    expect(html).toContain('キット農場 &lt;script&gt;');
    expect(html.match(/<img alt="QR [^"]+" src="data:image\/png;base64,/g)).toHaveLength(3);
    expect(html).toContain('A840414A71835F9D'); // the LoRaWAN device: its DevEUI instead of a QR code
    expect(html).toContain('Content-Security-Policy');
  });

  it('gets readings from mqtt.js and from mosquitto_pub, connecting with the config as-is', async () => {
    const soil = config('soil-1');
    // The device sends its raw count; the gateway stores it and the calibrated VWC.
    await publishWithMqttJs(
      soil,
      JSON.stringify({ time: Date.now() - 5000, values: { soil_raw: 2400, soil_temperature: 14.2 } }),
    );
    await eventually(() => stored('soil-1', 'soil_temperature').length === 1);
    expect(stored('soil-1', 'soil_raw')).toEqual([{ value: 2400 }]);
    // soil_vwc comes from soil-1's own polynomial in the manifest, not the kit's generic line.
    const own = SOIL_1_VWC[0] + SOIL_1_VWC[1] * 2400; // 0.19
    const file = join(BUILTIN_KITS_DIR, 'hatake-soil-probe.yaml');
    const generic = parseKitFile(file, readFileSync(file, 'utf8')).calibration!.find(
      (c) => c.metric === 'soil_vwc' && c.from === 'soil_raw',
    )!.coefficients!;
    const kitDefault = generic[0]! + generic[1]! * 2400; // ≈ 0.2
    expect(Math.abs(own - kitDefault)).toBeGreaterThan(0.005); // the assertion below can tell them apart
    const vwc = stored('soil-1', 'soil_vwc');
    expect(vwc).toHaveLength(1);
    expect(vwc[0]!.value).toBeCloseTo(own, 9);
    const water = config('water-1');
    const r = await mosquittoPub(
      water,
      JSON.stringify({ time: Date.now() - 4000, values: { water_level: 6.5, water_temperature: 17.1 } }),
    );
    expect(r).toEqual({ code: 0, stderr: '' });
    await eventually(() => stored('water-1', 'water_level').length === 1);
    expect(stored('water-1', 'water_level')).toEqual([{ value: 6.5 }]);
  });

  it('rotates only the named device; the running gateway refuses its old secret and takes the new one', async () => {
    const oldSoil = config('soil-1');
    const oldWater = config('water-1');
    const before = registry();
    const r = await silenced(() => provision('--device', 'soil-1'));
    expect(r.code).toBe(0);
    expect(r.text).not.toContain(oldSoil.mqtt.secret);
    const newSoil = config('soil-1');
    expect(newSoil.mqtt.secret).not.toBe(oldSoil.mqtt.secret);
    // The QR code to stick on the kit says the new secret, not the old one.
    expect(JSON.parse((await qrText('soil-1'))!)).toEqual(newSoil);
    expect(r.text).not.toContain(newSoil.mqtt.secret);
    expect(config('water-1').mqtt.secret).toBe(oldWater.mqtt.secret);
    const after = registry();
    expect(after.devices[1]).toEqual(before.devices[1]);
    expect(after.devices[0]!.secretHash).not.toBe(before.devices[0]!.secretHash);
    // No restart: the gateway re-reads the registry when the file changes.
    await eventually(() => gateway.registry.authenticate('soil-1', Buffer.from(newSoil.mqtt.secret)));
    const refused = await mosquittoPub(oldSoil, JSON.stringify({ values: { soil_temperature: 1 } }));
    expect(refused.code).not.toBe(0);
    await expect(publishWithMqttJs(oldSoil, '{"values":{"soil_temperature":1}}')).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );
    await publishWithMqttJs(
      newSoil,
      JSON.stringify({ time: Date.now() - 3000, values: { soil_temperature: 15.5 } }),
    );
    await eventually(() => stored('soil-1', 'soil_temperature').length === 2);
    expect(stored('soil-1', 'soil_temperature').map((x) => x.value)).not.toContain(1);
    // The other device was not touched.
    expect(
      (await mosquittoPub(oldWater, JSON.stringify({ time: Date.now() - 2000, values: { water_level: 7 } })))
        .code,
    ).toBe(0);
  });

  it('refuses to rotate a device that is not in the manifest, and keeps every secret on a plain re-run', async () => {
    await expect(provision('--device', 'ghost-1')).rejects.toMatchObject({ code: 'HATAKE_E_UNKNOWN_DEVICE' });
    const before = registry();
    expect((await silenced(() => provision())).code).toBe(0);
    expect(registry()).toEqual(before);
  });
  it('the ESPHome snippets publish only where the gateway takes it: a flashed device stays connected', async () => {
    const sent = [
      ['soil-1', 'soil_temperature'],
      ['water-1', 'water_level'],
      ['gate-1', 'valve_state'],
    ] as const;
    const counts = sent.map(([d, m]) => stored(d, m).length);
    for (const [id, kitId] of [
      ['soil-1', 'hatake-soil-probe'],
      ['water-1', 'hatake-paddy-water'],
      ['gate-1', 'hatake-water-gate'],
    ] as const) {
      const doc = snippet(id);
      expect(doc.mqtt.port).toBe(port);
      const client = await connectAsSnippet(doc);
      const results: string[] = [];
      try {
        for (const p of esphomePublishes(doc, kitId))
          results.push(`${p.topic} ${await publishOrClose(client, p.topic, p.payload)}`);
      } finally {
        if (client.connected) await client.endAsync();
        else client.end(true);
      }
      expect(results.length).toBeGreaterThan(0);
      for (const r of results) expect(r).toMatch(new RegExp(`^hatake/v1/kit-farm/${id}/(up|status) ok$`));
    }
    // What the snippets sent was stored.
    await eventually(() => sent.every(([d, m], i) => stored(d, m).length > counts[i]!));
  });

  it('the water gate snippet gets the gateway’s commands on its subscription and reports its state there', async () => {
    const doc = snippet('gate-1');
    const [handler] = doc.mqtt.on_json_message as Array<{ topic: string; qos: 0 | 1; then: unknown[] }>;
    const client = await connectAsSnippet(doc);
    try {
      const granted = await client.subscribeAsync(handler!.topic, { qos: handler!.qos });
      expect(granted.map((g) => g.qos)).toEqual([handler!.qos]); // not 128, the refusal
      const gateKit = builtin.require('hatake-water-gate');
      const command = encodeCommand(gateKit, 'open_for', { minutes: 30 }).payload;
      const received = new Promise<{ topic: string; payload: string }>((resolve) =>
        client.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() })),
      );
      await gateway.broker!.command('gate-1', command);
      expect(await received).toEqual({ topic: handler!.topic, payload: command });
      // The snippet's report after a command, as the device would send it having opened.
      const [report] = publishActions(handler!.then);
      expect(report!.metrics).toContain('valve_state');
      const before = stored('gate-1', 'valve_state').length;
      expect(
        await publishOrClose(
          client,
          report!.topic,
          JSON.stringify({ values: { valve_state: 1, open_minutes_left: 30 } }),
        ),
      ).toBe('ok');
      await eventually(() => stored('gate-1', 'valve_state').length === before + 1);
      expect(stored('gate-1', 'valve_state').at(-1)).toEqual({ value: 1 });
    } finally {
      await client.endAsync();
    }
  });

  it('re-provisioning with another --host and --port keeps every secret and writes configs, snippets and QR codes again', async () => {
    const ids = ['soil-1', 'water-1', 'gate-1'];
    const reg = registry();
    const before = new Map(ids.map((id) => [id, config(id)]));
    const r = await silenced(() =>
      kit(['provision', join(dir, 'farm.yaml'), '--out', out, '--host', '10.0.0.99', '--port', '8883']),
    );
    expect(r.code).toBe(0);
    // The installer is told which devices' files changed and how, never a secret.
    expect(r.text).toContain(
      `rewritten, secret kept: soil-1 (host 127.0.0.1 → 10.0.0.99, port ${port} → 8883)`,
    );
    expect(registry()).toEqual(reg);
    for (const id of ids) {
      const old = before.get(id)!;
      const now = config(id);
      expect(now.mqtt).toEqual({ ...old.mqtt, host: '10.0.0.99', port: 8883 }); // the same secret
      expect(r.text).not.toContain(old.mqtt.secret);
      expect(JSON.parse((await qrText(id))!)).toEqual(now);
      expect(snippet(id).mqtt).toMatchObject({ broker: '10.0.0.99', port: 8883, password: old.mqtt.secret });
      for (const f of [`${id}.json`, `${id}.esphome.yaml`, `${id}.png`])
        expect(statSync(join(out, 'devices', f)).mode & 0o777).toBe(0o600);
    }
    // The sheet's QR code says the new address too.
    const html = readFileSync(join(out, 'sheet.html'), 'utf8');
    const soilQr = /<img alt="QR soil-1" src="data:image\/png;base64,([^"]+)">/.exec(html)![1]!;
    expect(JSON.parse((await qrOf(Buffer.from(soilQr, 'base64')))!)).toEqual(config('soil-1'));
    // What changed, per device (the CLI prints it): never a secret.
    const manifest = loadManifest(join(dir, 'farm.yaml'), { catalogue: builtin });
    const broker = { host: '10.0.0.99', port: 8884, tls: false };
    const moved = await provisionFiles({ manifest, catalogue: builtin, outDir: out, broker });
    expect(moved.issued).toEqual([]);
    expect(moved.updated).toEqual(ids.map((device) => ({ device, changes: ['port 8883 → 8884'] })));
    expect(config('gate-1').mqtt.secret).toBe(before.get('gate-1')!.mqtt.secret);
    // Nothing changed, nothing written again.
    const again = await provisionFiles({ manifest, catalogue: builtin, outDir: out, broker });
    expect(again.updated).toEqual([]);
    expect(again.secretFiles).toEqual([join(out, 'sheet.html')]);
  });
});
