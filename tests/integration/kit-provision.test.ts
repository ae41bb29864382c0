// A provisioned device's JSON config is used as-is: `kit provision --port` writes the port the
// gateway's embedded broker (aedes, real SQLite) then listens on, and mqtt.js and Debian's
// mosquitto_pub connect with nothing but the config's fields; their readings are stored.
// Re-provisioning one device rotates only its secret; the running gateway picks up the new
// registry without a restart, refuses the old secret and accepts the new one.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import jsQRModule from 'jsqr';
import { connectAsync } from 'mqtt';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kit } from '../../cli/kit.ts';
import { BUILTIN_KITS_DIR, parseKitFile } from '../../firmware-config/catalogue.ts';
import { DeviceConfig } from '../../protocol/registry.ts';
import { validator } from '../../protocol/validate.ts';
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
  const { data, info } = await sharp(join(out, 'devices', `${id}.png`))
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
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
    expect(reg.devices.map((d) => d.id)).toEqual(['soil-1', 'water-1', 'lse-1']);
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
    expect(html.match(/<img alt="QR [^"]+" src="data:image\/png;base64,/g)).toHaveLength(2);
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
});
