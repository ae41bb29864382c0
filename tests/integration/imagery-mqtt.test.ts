// Imagery over MQTT through the real gateway: its own broker (aedes, port 0, with the shipped
// packet limit, so the receiver takes chunks up to 255 KiB), its registry, and a satellite-data
// provider registered with the `imagery` scope that connects with its secret, publishes a real
// Sentinel-2 clip in 128 KiB chunks with mqtt.js and reads the answers on the scene's status topic.
// In order and shuffled with a duplicate chunk give identical results; a missing chunk is reported
// (and, resent after a restart of the gateway, completes the scene); a chunk corrupted in transit
// and a wrong sha256 are refused with both hashes; a clip truncated at its source fails with the
// reason; a derived NDVI raster (profile index) gives the NDVI of the clip. A wrong secret and a
// device that is not a provider get nowhere. Malformed manifests and messages are handed to the
// gateway's receiver directly.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  imageryTopic,
  imageryTopicPrefix,
  type SceneManifest,
  type TransferStatus,
} from '../../protocol/imagery.ts';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import { newSecret } from '../../firmware-config/provision.ts';
import { Gateway } from '../../gateway/gateway.ts';
import type { ImageryResult } from '../../gateway/imagery/receiver.ts';
import { DEFAULT_MQTT } from '../../gateway/config.ts';
import { crsOf, transformer } from '../../edge/imagery/crs.ts';
import { rng, writeGeoTiff } from '../../sim/scene.ts';
import { demoManifest, eventually, quietLog, startStack, type Stack } from '../helpers/stack.ts';
import { sceneManifest } from '../helpers/scene-manifest.ts';

const FARM = 'demo-farm';
const PROVIDER = 'sat-1';
const FILE = join(import.meta.dirname, '../../../shared/data/sentinel2/ftw-austria/inference-img.tif');
const CHUNK = 128 * 1024;
const bytes = readFileSync(FILE);
const sha = createHash('sha256').update(bytes).digest('hex');
const chunkCount = Math.ceil(bytes.length / CHUNK);
const inOrder = [...Array(chunkCount).keys()];

// The demo farm with its two fields moved onto the clip (EPSG:32633, 10 m, origin 359130, 5352340).
const t = transformer(crsOf(32633, 'test'));
const ll = (c: number, r: number) => t.toWgs84([359130 + c * 10, 5352340 - r * 10]);
const RINGS: Record<string, [number, number][]> = {
  'paddy-1': [
    [100.3, 50.2],
    [300.7, 60.1],
    [280.2, 250.4],
    [90.1, 200.3],
    [100.3, 50.2],
  ],
  'upland-1': [
    [400.3, 100.2],
    [570.7, 120.1],
    [500.2, 370.4],
    [400.3, 100.2],
  ],
};
const FIELDS = Object.keys(RINGS);

let dir: string;
let stack: Stack;
let providerSecret: string;
let provider: MqttClient;
const statuses: TransferStatus[] = [];
const results = new Map<string, ImageryResult>();

const gw = () => stack.gateway;
const mqttUrl = () => `mqtt://127.0.0.1:${gw().mqttPort}`;

/** Hears what the gateway's receiver produced (the provider hears the statuses over MQTT). */
function listen(g: Gateway): void {
  g.imageryReceiver.on('result', (r) => results.set(r.sceneId, r));
}

/** Connects as the registered provider and subscribes to the farm's status answers. */
async function connectProvider(): Promise<MqttClient> {
  const c = await mqtt.connectAsync(mqttUrl(), {
    clientId: `provider-${Math.random().toString(36).slice(2)}`,
    username: PROVIDER,
    password: providerSecret,
    reconnectPeriod: 0,
  });
  c.on('message', (_topic, payload) => statuses.push(JSON.parse(payload.toString()) as TransferStatus));
  const [granted] = await c.subscribeAsync(`${imageryTopicPrefix(FARM)}+/status`, { qos: 1 });
  expect(granted?.qos).toBe(1);
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-mqtt-'));
  const manifestFile = join(dir, 'farm.json');
  const farm = demoManifest();
  for (const f of farm.fields) {
    f.boundary = { type: 'Polygon', coordinates: [RINGS[f.id]!.map(([c, r]) => ll(c, r))] };
  }
  expect(farm.fields.map((f) => f.id)).toEqual(FIELDS);
  for (const d of farm.devices) delete d.position; // they stood in the fields' old place
  writeFileSync(manifestFile, JSON.stringify(farm));
  stack = await startStack({
    server: false,
    // The shipped packet limit (256 KiB) and publish limits: a provider sends its chunks as fast
    // as its QoS 1 acknowledgements come back, under the providers' own rate limit, while the
    // devices' 5/s would have cut it off after 50.
    mqtt: { maxPacketBytes: DEFAULT_MQTT.maxPacketBytes },
    gateway: { manifest: manifestFile },
  });
  // A registered imagery provider, as provisioning adds one; the broker re-reads the registry.
  providerSecret = newSecret();
  const file = join(stack.dir, 'registry.json');
  const reg = JSON.parse(readFileSync(file, 'utf8')) as Registry;
  reg.providers = [{ id: PROVIDER, secretHash: hashSecret(providerSecret), scopes: ['imagery'] }];
  writeFileSync(file, JSON.stringify(reg));
  expect(gw().registry.reload()).toBe(true);
  listen(gw());
  provider = await connectProvider();
}, 60_000);

afterAll(async () => {
  await provider?.endAsync();
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const manifest = (sceneId: string, over: Partial<SceneManifest> = {}, of: Buffer = bytes): SceneManifest =>
  sceneManifest(sceneId, of, CHUNK, over);

/** Publishes a manifest, the chunks in `order` (chunk n of `of`, or what `chunk` makes of it) and the end. */
async function send(
  sceneId: string,
  m: SceneManifest,
  order: number[],
  of: Buffer = bytes,
  chunk = (n: number, b: Buffer) => b,
): Promise<void> {
  await provider.publishAsync(imageryTopic(FARM, sceneId, 'manifest'), JSON.stringify(m), { qos: 1 });
  for (const n of order) {
    const b = of.subarray(n * CHUNK, (n + 1) * CHUNK);
    await provider.publishAsync(imageryTopic(FARM, sceneId, `chunk/${n}`), chunk(n, b), { qos: 1 });
  }
  await provider.publishAsync(imageryTopic(FARM, sceneId, 'end'), '', { qos: 1 });
}

/** The first status of one of these states for a scene, as the provider heard it. */
const statusOf = (sceneId: string, states: TransferStatus['state'][]) =>
  eventually(() => statuses.find((s) => s.sceneId === sceneId && states.includes(s.state)), 30_000, 20).catch(
    (e: Error) => {
      throw new Error(
        `${e.message}; statuses of ${sceneId}: ${JSON.stringify(statuses.filter((s) => s.sceneId === sceneId))}`,
      );
    },
  );
const FINAL: TransferStatus['state'][] = ['processed', 'refused', 'failed'];

/** The imagery items the gateway queued for the server for a scene. */
const queued = (sceneId: string) =>
  (gw().store.db.prepare("SELECT body FROM outbox WHERE kind = 'imagery'").all() as { body: string }[])
    .map((r) => JSON.parse(r.body) as { sceneId: string })
    .filter((b) => b.sceneId === sceneId);

/** Stats and zones with the scene id taken out, for comparing two transfers of the same file. */
function comparable(r: ImageryResult): unknown {
  return JSON.parse(JSON.stringify({ stats: r.stats, zones: r.zones }).replaceAll(r.sceneId, 'SCENE'));
}

describe('imagery over MQTT through the gateway', () => {
  it('reassembles, verifies and processes a scene sent in order in chunks within the packet limit', async () => {
    expect(chunkCount).toBeGreaterThan(20);
    expect(CHUNK).toBeLessThanOrEqual(DEFAULT_MQTT.maxPacketBytes - 1024);
    await send('ftw-in-order', manifest('ftw-in-order'), inOrder);
    const s = await statusOf('ftw-in-order', FINAL);
    expect(s).toMatchObject({ state: 'processed', received: chunkCount, chunkCount });
    const r = results.get('ftw-in-order')!;
    expect(readFileSync(r.file).equals(bytes)).toBe(true);
    expect(Object.keys(r.stats.fields)).toEqual(FIELDS);
    expect(r.stats.fields['paddy-1']!.indices.ndvi!.count).toBeGreaterThan(1000);
    expect(r.stats.scene.radiometry).toMatchObject({ offset: 0, offsetSource: 'manifest' });
    expect(r.zones.features.length).toBeGreaterThanOrEqual(6);
    // The results went where the gateway keeps them for the server.
    await eventually(() => queued('ftw-in-order').length === 1);
  });

  it('processes the same scene shuffled, with a duplicate chunk, identically', async () => {
    const rand = rng(42);
    const order = [...inOrder].sort(() => rand() - 0.5);
    order.splice(3, 0, order[1]!); // a duplicate
    expect(order).not.toEqual(inOrder);
    const dupsBefore = gw().imageryReceiver.counters.duplicates;
    await send('ftw-shuffled', manifest('ftw-shuffled'), order);
    expect((await statusOf('ftw-shuffled', FINAL)).state).toBe('processed');
    expect(gw().imageryReceiver.counters.duplicates - dupsBefore).toBe(1);
    const a = results.get('ftw-in-order')!;
    const b = results.get('ftw-shuffled')!;
    expect(comparable(b)).toEqual(comparable(a));
    const png = (r: ImageryResult) =>
      readFileSync(join(r.outDir, r.stats.fields['paddy-1']!.maps.ndvi!.file));
    expect(png(b).equals(png(a))).toBe(true);
  });

  it('reports a missing chunk by number; after a restart of the gateway the resent chunk completes the scene', async () => {
    await send(
      'ftw-missing',
      manifest('ftw-missing'),
      inOrder.filter((n) => n !== 5),
    );
    const s = await statusOf('ftw-missing', ['incomplete', ...FINAL]);
    expect(s).toMatchObject({ state: 'incomplete', code: 'HATAKE_E_IMAGERY_TRANSFER', missing: [5] });
    expect(s.reason).toBe(`1 of ${chunkCount} chunks missing (5); resend them`);
    expect(results.has('ftw-missing')).toBe(false);

    // The gateway restarts on the same data directory (a new port); the provider reconnects and resumes.
    await provider.endAsync();
    const config = gw().config;
    await gw().stop();
    const again = new Gateway(config, quietLog());
    await again.start();
    stack.gateway = again;
    listen(again);
    statuses.length = 0;
    provider = await connectProvider();
    await provider.publishAsync(
      imageryTopic(FARM, 'ftw-missing', 'manifest'),
      JSON.stringify(manifest('ftw-missing')),
      { qos: 1 },
    );
    const resumed = await statusOf('ftw-missing', ['receiving']);
    expect(resumed).toMatchObject({ missing: [5], received: chunkCount - 1 });
    await provider.publishAsync(
      imageryTopic(FARM, 'ftw-missing', 'chunk/5'),
      bytes.subarray(5 * CHUNK, 6 * CHUNK),
      { qos: 1 },
    );
    expect((await statusOf('ftw-missing', FINAL)).state).toBe('processed');
    expect(comparable(results.get('ftw-missing')!)).toEqual(comparable(results.get('ftw-in-order')!));
  });

  it('refuses a scene with a chunk corrupted in transit, with both hashes in the reason', async () => {
    let corrupted = '';
    await send('ftw-corrupt', manifest('ftw-corrupt'), inOrder, bytes, (n, b) => {
      if (n !== 7) return b;
      const c = Buffer.from(b);
      c[1000] = c[1000]! ^ 0xff;
      const whole = Buffer.from(bytes);
      c.copy(whole, n * CHUNK);
      corrupted = createHash('sha256').update(whole).digest('hex');
      return c;
    });
    const s = await statusOf('ftw-corrupt', FINAL);
    expect(s).toMatchObject({ state: 'refused', code: 'HATAKE_E_IMAGERY_TRANSFER' });
    expect(s.reason).toBe(`sha256 mismatch: manifest says ${sha}, received file hashes to ${corrupted}`);
    await gw().imageryReceiver.idle();
    expect(results.has('ftw-corrupt')).toBe(false);
    expect(queued('ftw-corrupt')).toEqual([]);
    expect(existsSync(join(gw().imageryReceiver.dir, 'transfers', 'ftw-corrupt'))).toBe(false);
  });

  it('refuses a scene whose bytes do not match the sha256 of its manifest', async () => {
    const wrong = createHash('sha256').update('not the scene').digest('hex');
    await send('ftw-bad-sha', manifest('ftw-bad-sha', { sha256: wrong }), inOrder);
    const s = await statusOf('ftw-bad-sha', FINAL);
    expect(s).toMatchObject({ state: 'refused', code: 'HATAKE_E_IMAGERY_TRANSFER' });
    expect(s.reason).toBe(`sha256 mismatch: manifest says ${wrong}, received file hashes to ${sha}`);
    expect(results.has('ftw-bad-sha')).toBe(false);
  });

  it('reports a clip truncated at its source (size and sha256 of the truncated file) as failed, with the reason', async () => {
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
    const m = manifest('ftw-truncated', {}, cut);
    await send('ftw-truncated', m, [...Array(m.chunkCount).keys()], cut);
    const s = await statusOf('ftw-truncated', FINAL);
    expect(s).toMatchObject({ state: 'failed', code: 'HATAKE_E_IMAGERY_FILE' });
    expect(s.reason).toMatch(/truncated: image data runs to byte \d+ but the file has \d+ bytes/);
    expect(queued('ftw-truncated')).toEqual([]);
  });

  it("processes a derived NDVI raster (profile index) into the clip's own NDVI statistics and zones", async () => {
    // NDVI of the clip, computed here from its red (band 1) and NIR (band 4) read with geotiff.js;
    // no data (DN 0 in any of the four bands the band scene read) is NaN.
    const tiff = await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const image = await tiff.getImage();
    const dn = (await image.readRasters()) as unknown as Uint16Array[];
    const [redDn, nirDn] = [dn[0]!, dn[3]!];
    const ndvi = new Float32Array(redDn.length);
    for (let i = 0; i < ndvi.length; i++) {
      const [r, n] = [redDn[i]! * 1e-4, nirDn[i]! * 1e-4];
      ndvi[i] = dn.slice(0, 4).some((band) => band[i] === 0) ? NaN : (n - r) / (n + r);
    }
    const [x0, y0] = image.getOrigin() as [number, number];
    const raster = Buffer.from(
      writeGeoTiff({
        bands: [ndvi],
        width: image.getWidth(),
        height: image.getHeight(),
        epsg: 32633,
        x0,
        y0,
        pixelSize: 10,
      }),
    );
    const m = manifest(
      'ftw-ndvi',
      { profile: 'index', index: 'ndvi', bands: undefined, offset: undefined },
      raster,
    );
    expect(m.chunkCount).toBeGreaterThan(3);
    await send('ftw-ndvi', m, [...Array(m.chunkCount).keys()], raster);
    expect((await statusOf('ftw-ndvi', FINAL)).state).toBe('processed');
    const r = results.get('ftw-ndvi')!;
    const bands = results.get('ftw-in-order')!;
    expect(r.stats.scene.profile).toBe('index');
    expect(r.stats.indices.map((i) => i.id)).toEqual(['ndvi']);
    for (const id of FIELDS) {
      const a = r.stats.fields[id]!;
      const b = bands.stats.fields[id]!;
      expect([a.pixels, a.validPixels, a.indices.ndvi]).toEqual([b.pixels, b.validPixels, b.indices.ndvi]);
    }
    const zones = (x: ImageryResult) =>
      x.zones.features.map((f) => [f.id, f.geometry, f.properties.pixels, f.properties.indices.ndvi]);
    expect(zones(r)).toEqual(zones(bands));
    await eventually(() => queued('ftw-ndvi').length === 1);
  });

  it('lets only a registered provider with its secret publish imagery', async () => {
    // A wrong secret: the connection is refused.
    const wrong = await mqtt
      .connectAsync(mqttUrl(), { username: PROVIDER, password: 'not-the-secret', reconnectPeriod: 0 })
      .then(
        async (c) => {
          await c.endAsync();
          return 'connected';
        },
        (e: Error) => e.message,
      );
    expect(wrong).toMatch(/Bad username or password|Not authorized/i);
    // A device with its own secret may not publish a scene: the broker hangs up, nothing arrives.
    const device = await mqtt.connectAsync(mqttUrl(), {
      username: 'wx-1',
      password: stack.secrets['wx-1'],
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    const manifestsBefore = gw().imageryReceiver.counters.manifests;
    void device
      .publishAsync(imageryTopic(FARM, 'from-device', 'manifest'), JSON.stringify(manifest('from-device')), {
        qos: 1,
      })
      .catch(() => undefined);
    await closed;
    device.end(true);
    expect(gw().imageryReceiver.counters.manifests).toBe(manifestsBefore);
    expect(statuses.filter((s) => s.sceneId === 'from-device')).toEqual([]);
  });

  it('refuses over MQTT a manifest whose chunks would not fit the packet limit', async () => {
    const big = 512 * 1024;
    await provider.publishAsync(
      imageryTopic(FARM, 'big-chunks', 'manifest'),
      JSON.stringify(manifest('big-chunks', { chunkSize: big, chunkCount: Math.ceil(bytes.length / big) })),
      { qos: 1 },
    );
    const s = await statusOf('big-chunks', FINAL);
    expect(s).toMatchObject({ state: 'refused', code: 'HATAKE_E_IMAGERY_TRANSFER' });
    expect(s.reason).toBe(
      `chunk size ${big} exceeds the limit of ${DEFAULT_MQTT.maxPacketBytes - 1024} bytes`,
    );
  });

  describe("hostile and malformed messages (handed to the gateway's receiver directly)", () => {
    let seen: TransferStatus[];
    let invalid: string[];
    beforeAll(() => {
      gw().imageryReceiver.on('status', (st) => seen.push(st));
      gw().imageryReceiver.on('invalid', (suffix) => invalid.push(suffix));
    });
    const refusal = async (suffix: string, payload: Buffer | string): Promise<TransferStatus | undefined> => {
      seen = [];
      invalid = [];
      await gw().imageryReceiver.handle(suffix, Buffer.from(payload));
      return seen.find((x) => x.state === 'refused');
    };
    const m = (id: string, over: Partial<SceneManifest> = {}) => JSON.stringify(manifest(id, over));

    it.each([
      ['a manifest that is not JSON', 'bad-json/manifest', '{nope', /^bad manifest: .*JSON/],
      [
        'a manifest missing its sha256',
        'no-sha/manifest',
        JSON.stringify({ ...manifest('no-sha'), sha256: undefined }),
        /sha256/,
      ],
      [
        'a manifest with a wrong chunk count',
        'bad-count/manifest',
        m('bad-count', { chunkCount: 3 }),
        /chunkCount 3 does not match size/,
      ],
      [
        'a manifest for an unknown profile',
        'bad-profile/manifest',
        m('bad-profile', { profile: 'landsat-99' }),
        /unknown sensor profile "landsat-99"/,
      ],
      ['a manifest for another scene', 'other/manifest', m('not-other'), /manifest is for scene "not-other"/],
      [
        'a scene over the size limit',
        'too-big/manifest',
        m('too-big', { size: 2 ** 32, chunkCount: 2 ** 32 / CHUNK }),
        /exceeds the limit of 536870912/,
      ],
      ['an oversized manifest', 'huge/manifest', 'x'.repeat(70_000), /manifest of 70000 bytes/],
      ['a chunk with no manifest', 'orphan/chunk/0', 'abc', /chunk 0 for a scene with no manifest/],
      ['an unknown message kind', 'x1/delete-everything', '', /unknown imagery message "delete-everything"/],
    ])('refuses %s with a reason', async (_name, suffix, payload, reason) => {
      const r = await refusal(suffix, payload);
      expect(r?.code).toBe('HATAKE_E_IMAGERY_TRANSFER');
      expect(r?.reason).toMatch(reason);
    });

    it('ignores a path-traversal scene id without answering on a forged topic', async () => {
      expect(await refusal('../../etc/manifest', m('x'))).toBeUndefined();
      expect(invalid).toEqual(['../../etc/manifest']);
      expect(seen).toEqual([]);
    });

    it('never answers a status message (no echo loop when subscribed to #)', async () => {
      expect(await refusal('anything/status', '{}')).toBeUndefined();
      expect(await refusal('../status', '{}')).toBeUndefined();
      expect(seen).toEqual([]);
    });

    it('refuses a chunk of the wrong length and drops the transfer', async () => {
      await refusal('short-chunk/manifest', m('short-chunk'));
      const r = await refusal('short-chunk/chunk/0', Buffer.alloc(100));
      expect(r?.reason).toBe(`chunk 0 has 100 bytes, the manifest says ${CHUNK}`);
      expect((await refusal('short-chunk/chunk/1', bytes.subarray(CHUNK, 2 * CHUNK)))?.reason).toMatch(
        /no manifest/,
      );
    });

    it('refuses a chunk number beyond the manifest', async () => {
      await refusal('far-chunk/manifest', m('far-chunk'));
      expect((await refusal(`far-chunk/chunk/${chunkCount}`, Buffer.alloc(10)))?.reason).toBe(
        `chunk ${chunkCount} is beyond the manifest's ${chunkCount} chunks`,
      );
    });
  });
});
