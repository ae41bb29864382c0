// Imagery over MQTT when the gateway is a client of an external broker: Debian's Mosquitto,
// started here on a free port, and a gateway with no broker of its own (`mqtt.enabled: false`)
// subscribed to the farm's imagery topics in its persistent session. A real Sentinel-2 clip
// published in chunks is reassembled, verified and processed once — its statistics queued for
// the server — with the answers on the scene's status topic through Mosquitto; a wrong sha256 is
// refused there with its reason; a scene published while the gateway is down arrives from the
// session when it is back; a chunk redelivered after the scene is done is not refused; and a
// session made before the gateway took imagery gets the imagery subscriptions it lacks.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { imageryFilters } from '../../gateway/external.ts';
import { writeExternalGateway } from '../helpers/external-gateway.ts';
import {
  imageryTopic,
  imageryTopicPrefix,
  type SceneManifest,
  type TransferStatus,
} from '../../protocol/imagery.ts';
import type { ImageryResult } from '../../protocol/sync.ts';
import { crsOf, transformer } from '../../edge/imagery/crs.ts';
import { rng } from '../../sim/scene.ts';
import { eventually, quietLog } from '../helpers/stack.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { sceneManifest } from '../helpers/scene-manifest.ts';

const FARM = 'ext-img-farm';
const CLIENT_ID = 'hatake-gw-ext-img';
const FILE = join(import.meta.dirname, '../../../shared/data/sentinel2/ftw-austria/inference-img.tif');
const CHUNK = 128 * 1024; // within the gateway's default 256 KiB packet limit
const bytes = readFileSync(FILE);
const sha = createHash('sha256').update(bytes).digest('hex');
const chunkCount = Math.ceil(bytes.length / CHUNK);
const inOrder = [...Array(chunkCount).keys()];

// Two fields over the clip (EPSG:32633, 10 m pixels from its top-left corner), as WGS84 rings.
const t = transformer(crsOf(32633, 'test'));
const ring = (pixels: [number, number][]) =>
  pixels.map(([c, r]) => t.toWgs84([359130 + c * 10, 5352340 - r * 10]));
const FIELDS = {
  'wheat-a': ring([
    [100.3, 50.2],
    [300.7, 60.1],
    [280.2, 250.4],
    [90.1, 200.3],
    [100.3, 50.2],
  ]),
  'maize-b': ring([
    [400.3, 100.2],
    [570.7, 120.1],
    [500.2, 370.4],
    [400.3, 100.2],
  ]),
};
const MANIFEST = JSON.stringify({
  farm: { id: FARM, name: 'External broker imagery farm' },
  fields: Object.entries(FIELDS).map(([id, r]) => ({
    id,
    name: id,
    boundary: { type: 'Polygon', coordinates: [r] },
  })),
  devices: [{ id: 'water-1', kit: 'hatake-paddy-water', field: 'wheat-a' }],
});

let dir: string;
let mosquitto: Mosquitto;
let gateway: Gateway | undefined;
let publisher: MqttClient;
let configFile: string;
const statuses: TransferStatus[] = [];

const startGateway = async () => {
  const g = new Gateway(loadGatewayConfig(configFile), quietLog());
  await g.start();
  gateway = g;
  return g;
};
const gw = () => gateway!;

/** The imagery items the gateway queued for the server, by scene. */
const queued = (sceneId: string): ImageryResult[] =>
  (gw().store.db.prepare("SELECT body FROM outbox WHERE kind = 'imagery'").all() as { body: string }[])
    .map((r) => JSON.parse(r.body) as ImageryResult)
    .filter((b) => b.sceneId === sceneId);

const manifest = (sceneId: string, over: Partial<SceneManifest> = {}): SceneManifest =>
  sceneManifest(sceneId, bytes, CHUNK, over);

const chunk = (n: number) => bytes.subarray(n * CHUNK, (n + 1) * CHUNK);

async function send(sceneId: string, m: SceneManifest, order: number[]): Promise<void> {
  await publisher.publishAsync(imageryTopic(FARM, sceneId, 'manifest'), JSON.stringify(m), { qos: 1 });
  for (const n of order)
    await publisher.publishAsync(imageryTopic(FARM, sceneId, `chunk/${n}`), chunk(n), { qos: 1 });
  await publisher.publishAsync(imageryTopic(FARM, sceneId, 'end'), '', { qos: 1 });
}

const statusesOf = (sceneId: string) => statuses.filter((s) => s.sceneId === sceneId);
/** The first status of one of these states for a scene, as the provider heard it through Mosquitto. */
const statusOf = (sceneId: string, states: TransferStatus['state'][]) =>
  eventually(() => statusesOf(sceneId).find((s) => states.includes(s.state)), 30_000, 20).catch(
    (e: Error) => {
      throw new Error(`${e.message}; statuses of ${sceneId}: ${JSON.stringify(statusesOf(sceneId))}`);
    },
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-ext-img-'));
  mosquitto = await Mosquitto.start(dir);
  configFile = writeExternalGateway(dir, {
    id: 'gw-ext-img',
    manifest: MANIFEST,
    url: mosquitto.url,
    clientId: CLIENT_ID,
    topics: [{ filter: 'hatake/v1/+/+/up', format: 'hatake' }],
  });
  await startGateway();
  await mosquitto.waitFor(new RegExp(`Sending SUBACK to ${CLIENT_ID}`));
  publisher = await connectAsync(mosquitto.url, { clientId: 'scene-provider', reconnectPeriod: 0 });
  publisher.on('message', (_topic, payload) =>
    statuses.push(JSON.parse(payload.toString()) as TransferStatus),
  );
  await publisher.subscribeAsync(`${imageryTopicPrefix(FARM)}+/status`, { qos: 1 });
});

afterAll(async () => {
  await publisher?.endAsync();
  await gateway?.stop();
  await mosquitto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('imagery over an external broker (Mosquitto)', () => {
  it("subscribes to the farm's scene topics, not to its own status answers", () => {
    const log = mosquitto.log;
    for (const f of imageryFilters(FARM)) expect(log).toContain(`${CLIENT_ID} 1 ${f}`);
    const gatewayFilters = log.split('\n').filter((l) => l.includes(`: ${CLIENT_ID} 1 `));
    expect(gatewayFilters).toHaveLength(4); // its device topics and the three of imagery
    expect(gatewayFilters.filter((l) => /status|#/.test(l))).toEqual([]);
  });

  it('reassembles, verifies and processes a real scene published in order, once', async () => {
    await send('ftw-ext', manifest('ftw-ext'), inOrder);
    const s = await statusOf('ftw-ext', ['processed', 'refused', 'failed']);
    expect(s).toMatchObject({ state: 'processed', received: chunkCount, chunkCount });
    // The received file is the clip, byte for byte.
    const file = join(gw().imageryReceiver.dir, 'scenes', 'ftw-ext.tif');
    expect(readFileSync(file).equals(bytes)).toBe(true);
    // Processed once: one statistics item queued for the server, with both fields and zones.
    await eventually(() => queued('ftw-ext').length > 0);
    const [item, ...more] = queued('ftw-ext');
    expect(more).toEqual([]);
    expect(item!.acquired).toBe('2021-05-20T10:06:31.000Z');
    expect(Object.keys(item!.stats.fields).sort()).toEqual(['maize-b', 'wheat-a']);
    expect(item!.stats.fields['wheat-a']!.indices.ndvi!.count).toBeGreaterThan(1000);
    expect(item!.stats.scene.radiometry).toMatchObject({ offset: 0, offsetSource: 'manifest' });
    expect(item!.zones.features.length).toBeGreaterThanOrEqual(6);
    expect(gw().imageryReceiver.counters).toMatchObject({ processed: 1, refused: 0, duplicates: 0 });
    expect(statusesOf('ftw-ext').filter((x) => x.state === 'processed')).toHaveLength(1);
    // Every chunk Mosquitto delivered was acknowledged by the gateway (after it was on disk).
    const delivered = (
      mosquitto.log.match(new RegExp(`Sending PUBLISH to ${CLIENT_ID} \\(d[01], q1`, 'g')) ?? []
    ).length;
    await eventually(
      () =>
        (mosquitto.log.match(new RegExp(`Received PUBACK from ${CLIENT_ID}`, 'g')) ?? []).length >= delivered,
    );
    expect(delivered).toBeGreaterThanOrEqual(chunkCount + 2);
  });

  it('takes a chunk sent again after the scene is done as a duplicate, not a refusal', async () => {
    const before = statusesOf('ftw-ext').length;
    await publisher.publishAsync(
      imageryTopic(FARM, 'ftw-ext', `chunk/${chunkCount - 1}`),
      chunk(chunkCount - 1),
      {
        qos: 1,
      },
    );
    await eventually(() => gw().imageryReceiver.counters.duplicates === 1);
    expect(statusesOf('ftw-ext').slice(before)).toEqual([]);
    expect(queued('ftw-ext')).toHaveLength(1);
  });

  it('refuses a scene whose bytes do not match the sha256, with the reason on its status topic', async () => {
    const wrong = createHash('sha256').update('not the scene').digest('hex');
    const rand = rng(7);
    await send(
      'ftw-ext-bad-sha',
      manifest('ftw-ext-bad-sha', { sha256: wrong }),
      [...inOrder].sort(() => rand() - 0.5),
    );
    const s = await statusOf('ftw-ext-bad-sha', ['refused', 'processed', 'failed']);
    expect(s.state).toBe('refused');
    expect(s.code).toBe('HATAKE_E_IMAGERY_TRANSFER');
    expect(s.reason).toBe(`sha256 mismatch: manifest says ${wrong}, received file hashes to ${sha}`);
    await gw().imageryReceiver.idle();
    expect(queued('ftw-ext-bad-sha')).toEqual([]);
    expect(existsSync(join(gw().imageryReceiver.dir, 'scenes', 'ftw-ext-bad-sha.tif'))).toBe(false);
    expect(existsSync(join(gw().imageryReceiver.dir, 'transfers', 'ftw-ext-bad-sha'))).toBe(false);
  });

  it('receives a scene published while it was down from its persistent session', async () => {
    await gw().stop();
    gateway = undefined;
    await mosquitto.waitFor(new RegExp(`Client ${CLIENT_ID} (disconnected|closed its connection)`));
    await send('ftw-ext-later', manifest('ftw-ext-later'), inOrder);
    const logFrom = mosquitto.log.length;
    await startGateway();
    await mosquitto.waitFor(new RegExp(`New client connected .* as ${CLIENT_ID} .*c0`), logFrom);
    // The session already holds the imagery subscriptions: nothing is subscribed again.
    expect(mosquitto.log.slice(logFrom)).not.toMatch(new RegExp(`Received SUBSCRIBE from ${CLIENT_ID}`));
    expect((await statusOf('ftw-ext-later', ['processed', 'refused', 'failed'])).state).toBe('processed');
    await eventually(() => queued('ftw-ext-later').length === 1);
    const a = queued('ftw-ext-later')[0]!;
    expect(Object.keys(a.stats.fields).sort()).toEqual(['maize-b', 'wheat-a']);
  });

  it('subscribes what a session from before imagery lacks, and then receives scenes', async () => {
    const dataDir = gw().config.dataDir;
    await gw().stop();
    gateway = undefined;
    // The session as a gateway without imagery left it: its device topics only.
    const old = await connectAsync(mosquitto.url, { clientId: CLIENT_ID, clean: false, reconnectPeriod: 0 });
    await old.unsubscribeAsync(imageryFilters(FARM));
    await old.endAsync();
    const store = new GatewayStore(join(dataDir, 'gateway.db'));
    store.setMeta('external_subscriptions', JSON.stringify(['hatake/v1/+/+/up']));
    store.close();

    const logFrom = mosquitto.log.length;
    await startGateway();
    await mosquitto.waitFor(new RegExp(`Sending SUBACK to ${CLIENT_ID}`), logFrom);
    const subscribed = mosquitto.log
      .slice(logFrom)
      .split('\n')
      .filter((l) => l.includes(`: ${CLIENT_ID} 1 `))
      .map((l) => l.slice(l.indexOf(`${CLIENT_ID} 1 `) + CLIENT_ID.length + 3));
    expect(subscribed).toEqual(imageryFilters(FARM));
    await send('ftw-ext-upgraded', manifest('ftw-ext-upgraded'), inOrder);
    expect((await statusOf('ftw-ext-upgraded', ['processed', 'refused', 'failed'])).state).toBe('processed');
  });
});
