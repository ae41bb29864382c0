// Imagery over MQTT: a real Sentinel-2 clip is published in chunks to a real aedes broker and
// the gateway's ImageryReceiver (subscribed to hatake/v1/{farm}/imagery/#, answering on the
// scene's status topic) reassembles, verifies and processes it. In order and shuffled with a
// duplicate chunk give identical results; a missing chunk and a wrong sha256 are refused with
// their reasons; the missing chunk, resent after a restart of the receiver, completes the scene.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  imageryTopic,
  imageryTopicPrefix,
  type SceneManifest,
  type TransferStatus,
} from '../../protocol/imagery.ts';
import { ImageryReceiver, type ImageryResult } from '../../gateway/imagery/receiver.ts';
import { parseFields } from '../../edge/imagery/fields.ts';
import { crsOf, transformer } from '../../edge/imagery/crs.ts';
import { rng } from '../../sim/scene.ts';

const FARM = 'demo-farm';
const FILE = join(import.meta.dirname, '../../../shared/data/sentinel2/ftw-austria/inference-img.tif');
const CHUNK = 256 * 1024;
const bytes = readFileSync(FILE);
const sha = createHash('sha256').update(bytes).digest('hex');
const chunkCount = Math.ceil(bytes.length / CHUNK);

const t = transformer(crsOf(32633, 'test'));
const ll = (c: number, r: number) => t.toWgs84([359130 + c * 10, 5352340 - r * 10]);
const fields = parseFields(
  JSON.stringify({
    type: 'FeatureCollection',
    features: [
      {
        id: 'wheat-a',
        ring: [
          [100.3, 50.2],
          [300.7, 60.1],
          [280.2, 250.4],
          [90.1, 200.3],
          [100.3, 50.2],
        ],
      },
      {
        id: 'maize-b',
        ring: [
          [400.3, 100.2],
          [570.7, 120.1],
          [500.2, 370.4],
          [400.3, 100.2],
        ],
      },
    ].map((f) => ({
      type: 'Feature',
      properties: { id: f.id },
      geometry: { type: 'Polygon', coordinates: [f.ring.map(([c, r]) => ll(c!, r!))] },
    })),
  }),
  'fields.geojson',
);

let server: Server;
let broker: Aedes;
let url: string;
let dir: string;
let receiver: ImageryReceiver;
let gatewayClient: MqttClient;
let publisher: MqttClient;
const statuses: TransferStatus[] = [];
const results = new Map<string, ImageryResult>();

function attach(r: ImageryReceiver): void {
  r.on(
    'status',
    (s) =>
      void gatewayClient.publishAsync(imageryTopic(FARM, s.sceneId, 'status'), JSON.stringify(s), { qos: 1 }),
  );
  r.on('result', (res) => results.set(res.sceneId, res));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-mqtt-'));
  broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver = new ImageryReceiver({ dir: join(dir, 'gw'), fields: () => fields, maxChunkBytes: CHUNK });
  gatewayClient = await mqtt.connectAsync(url, { clientId: 'gateway', reconnectPeriod: 0 });
  const prefix = imageryTopicPrefix(FARM);
  gatewayClient.on('message', (topic, payload) => {
    void receiver.handle(topic.slice(prefix.length), payload);
  });
  await gatewayClient.subscribeAsync(`${prefix}#`, { qos: 1 });
  attach(receiver);
  publisher = await mqtt.connectAsync(url, { clientId: 'provider', reconnectPeriod: 0 });
  publisher.on('message', (_topic, payload) =>
    statuses.push(JSON.parse(payload.toString()) as TransferStatus),
  );
  await publisher.subscribeAsync(`${prefix}+/status`, { qos: 1 });
});

afterAll(async () => {
  await publisher?.endAsync();
  await gatewayClient?.endAsync();
  receiver?.close();
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function manifest(sceneId: string, over: Partial<SceneManifest> = {}): SceneManifest {
  return {
    v: 1,
    sceneId,
    acquired: '2021-05-20T10:06:31Z',
    profile: 's2-l2a',
    bands: { red: 1, green: 2, blue: 3, nir: 4 },
    offset: 0,
    format: 'geotiff',
    size: bytes.length,
    sha256: sha,
    chunkSize: CHUNK,
    chunkCount,
    ...over,
  };
}

async function send(sceneId: string, m: SceneManifest, order: number[], end = true): Promise<void> {
  await publisher.publishAsync(imageryTopic(FARM, sceneId, 'manifest'), JSON.stringify(m), { qos: 1 });
  for (const n of order) {
    await publisher.publishAsync(
      imageryTopic(FARM, sceneId, `chunk/${n}`),
      bytes.subarray(n * CHUNK, (n + 1) * CHUNK),
      { qos: 1 },
    );
  }
  if (end) await publisher.publishAsync(imageryTopic(FARM, sceneId, 'end'), '', { qos: 1 });
}

/** Polls until a status of the given states arrives for a scene (over MQTT). */
async function statusOf(
  sceneId: string,
  states: TransferStatus['state'][],
  timeoutMs = 20_000,
): Promise<TransferStatus> {
  const start = Date.now();
  for (;;) {
    const s = statuses.find((x) => x.sceneId === sceneId && states.includes(x.state));
    if (s) return s;
    if (Date.now() - start > timeoutMs)
      throw new Error(
        `no ${states.join('/')} status for ${sceneId}: ${JSON.stringify(statuses.filter((x) => x.sceneId === sceneId))}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stats and zones with the scene id taken out, for comparing two transfers of the same file. */
function comparable(r: ImageryResult): unknown {
  return JSON.parse(JSON.stringify({ stats: r.stats, zones: r.zones }).replaceAll(r.sceneId, 'SCENE'));
}

describe('imagery over MQTT', () => {
  const inOrder = [...Array(chunkCount).keys()];

  it('reassembles, verifies and processes a scene sent in order', async () => {
    expect(chunkCount).toBeGreaterThan(5);
    await send('ftw-in-order', manifest('ftw-in-order'), inOrder);
    const s = await statusOf('ftw-in-order', ['processed', 'refused', 'failed']);
    expect(s.state).toBe('processed');
    const r = results.get('ftw-in-order')!;
    expect(readFileSync(r.file).equals(bytes)).toBe(true);
    expect(Object.keys(r.stats.fields)).toEqual(['wheat-a', 'maize-b']);
    expect(r.stats.fields['wheat-a']!.indices.ndvi!.count).toBeGreaterThan(1000);
    expect(r.stats.scene.radiometry).toMatchObject({ offset: 0, offsetSource: 'manifest' });
    expect(r.zones.features.length).toBeGreaterThanOrEqual(6);
  });

  it('processes the same scene shuffled, with a duplicate chunk, identically', async () => {
    const rand = rng(42);
    const order = [...inOrder].sort(() => rand() - 0.5);
    order.splice(3, 0, order[1]!); // a duplicate
    expect(order).not.toEqual(inOrder);
    await send('ftw-shuffled', manifest('ftw-shuffled'), order);
    const s = await statusOf('ftw-shuffled', ['processed', 'refused', 'failed']);
    expect(s.state).toBe('processed');
    expect(receiver.counters.duplicates).toBe(1);
    const a = results.get('ftw-in-order')!;
    const b = results.get('ftw-shuffled')!;
    expect(comparable(b)).toEqual(comparable(a));
    const png = (r: ImageryResult) =>
      readFileSync(join(r.outDir, r.stats.fields['wheat-a']!.maps.ndvi!.file));
    expect(png(b).equals(png(a))).toBe(true);
  });

  it('refuses a scene with a chunk missing, naming the chunk; after a restart the resent chunk completes it', async () => {
    const missingOne = inOrder.filter((n) => n !== 5);
    await send('ftw-missing', manifest('ftw-missing'), missingOne);
    const s = await statusOf('ftw-missing', ['incomplete', 'processed', 'refused']);
    expect(s.state).toBe('incomplete');
    expect(s.code).toBe('HATAKE_E_IMAGERY_TRANSFER');
    expect(s.missing).toEqual([5]);
    expect(s.reason).toMatch(/1 of \d+ chunks missing \(5\)/);
    expect(results.has('ftw-missing')).toBe(false);

    // Restart the gateway's receiver on the same directory; the provider resumes.
    await receiver.idle();
    receiver.close();
    receiver.removeAllListeners();
    receiver = new ImageryReceiver({ dir: join(dir, 'gw'), fields: () => fields, maxChunkBytes: CHUNK });
    attach(receiver);
    statuses.length = 0;
    await publisher.publishAsync(
      imageryTopic(FARM, 'ftw-missing', 'manifest'),
      JSON.stringify(manifest('ftw-missing')),
      { qos: 1 },
    );
    const resumed = await statusOf('ftw-missing', ['receiving']);
    expect(resumed.missing).toEqual([5]);
    expect(resumed.received).toBe(chunkCount - 1);
    await publisher.publishAsync(
      imageryTopic(FARM, 'ftw-missing', 'chunk/5'),
      bytes.subarray(5 * CHUNK, 6 * CHUNK),
      { qos: 1 },
    );
    expect((await statusOf('ftw-missing', ['processed', 'refused', 'failed'])).state).toBe('processed');
    expect(comparable(results.get('ftw-missing')!)).toEqual(comparable(results.get('ftw-in-order')!));
  });

  it('refuses a scene whose bytes do not match the sha256, with both hashes in the reason', async () => {
    const wrong = createHash('sha256').update('not the scene').digest('hex');
    await send('ftw-bad-sha', manifest('ftw-bad-sha', { sha256: wrong }), inOrder);
    const s = await statusOf('ftw-bad-sha', ['refused', 'processed', 'failed']);
    expect(s.state).toBe('refused');
    expect(s.code).toBe('HATAKE_E_IMAGERY_TRANSFER');
    expect(s.reason).toBe(`sha256 mismatch: manifest says ${wrong}, received file hashes to ${sha}`);
    expect(results.has('ftw-bad-sha')).toBe(false);
  });

  describe('hostile and malformed messages (handed to the receiver directly)', () => {
    let seen: TransferStatus[];
    let invalid: string[];
    beforeAll(() => {
      receiver.on('status', (st) => seen.push(st));
      receiver.on('invalid', (suffix) => invalid.push(suffix));
    });
    const refusal = async (suffix: string, payload: Buffer | string): Promise<TransferStatus | undefined> => {
      seen = [];
      invalid = [];
      await receiver.handle(suffix, Buffer.from(payload));
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
      [
        'chunks larger than the packet limit',
        'big-chunks/manifest',
        m('big-chunks', { chunkSize: 4 * CHUNK, chunkCount: Math.ceil(bytes.length / (4 * CHUNK)) }),
        /chunk size 1048576 exceeds the limit of 262144/,
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
