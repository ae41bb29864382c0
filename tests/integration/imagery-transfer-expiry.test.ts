// Abandoned imagery transfers expire. Through a real broker — the gateway's own (aedes), a
// registered imagery provider publishing with mqtt.js — to a receiver with a short expiry
// (transferExpiryMs; 24 h by default) on the gateway's imagery topics of a second farm: four
// transfers abandoned part-way fill the limit of four and a fifth scene is refused; once they have
// heard nothing for the expiry, each is told `refused` ("transfer expired") on its status topic and
// its files (a data.part sized to the whole scene) are deleted, and the fifth scene is then accepted
// and processed. A transfer that keeps receiving chunks — slowly, for longer than the expiry in all
// — is not expired and completes. A transfer abandoned before a restart expires after it too (its
// files judged by their last change). The scene is a real Sentinel-2 clip (FTW Austria).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { DEFAULT_MQTT } from '../../gateway/config.ts';
import { ImageryReceiver, type ExpiredTransfer, type ImageryResult } from '../../gateway/imagery/receiver.ts';
import { ImageryTopics } from '../../gateway/imagery/mqtt.ts';
import { crsOf, transformer } from '../../edge/imagery/crs.ts';
import type { FieldInput } from '../../edge/imagery/fields.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';
import { sceneManifest } from '../helpers/scene-manifest.ts';

const FARM = 'expiry-farm';
const PROVIDER = 'sat-expiry';
const EXPIRY_MS = 4000;
const FILE = join(import.meta.dirname, '../../../shared/data/sentinel2/ftw-austria/inference-img.tif');
const CHUNK = 128 * 1024;
const bytes = readFileSync(FILE);
const chunkCount = Math.ceil(bytes.length / CHUNK);

// One field on the clip (EPSG:32633, 10 m pixels from its top-left corner), as a WGS84 ring.
const t = transformer(crsOf(32633, 'test'));
const FIELDS: FieldInput[] = [
  {
    id: 'wheat-a',
    polygons: [
      [
        (
          [
            [100.3, 50.2],
            [300.7, 60.1],
            [280.2, 250.4],
            [90.1, 200.3],
            [100.3, 50.2],
          ] as [number, number][]
        ).map(([c, r]) => t.toWgs84([359130 + c * 10, 5352340 - r * 10])),
      ],
    ],
  },
];

let stack: Stack;
let dir: string;
let receiver: ImageryReceiver;
let provider: MqttClient;
const statuses: TransferStatus[] = [];
const results = new Map<string, ImageryResult>();
const expired: ExpiredTransfer[] = [];

/** A receiver with the short expiry, answering on the gateway's broker. */
function newReceiver(): ImageryReceiver {
  const r = new ImageryReceiver({
    dir,
    fields: () => FIELDS,
    maps: false,
    maxChunkBytes: DEFAULT_MQTT.maxPacketBytes - 1024,
    transferExpiryMs: EXPIRY_MS,
  });
  r.on('status', (st) => {
    void stack.gateway.broker!.publish(imageryTopic(FARM, st.sceneId, 'status'), JSON.stringify(st), {
      qos: 1,
    });
  });
  r.on('result', (res) => results.set(res.sceneId, res));
  r.on('expired', (e) => expired.push(e));
  return r;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-expiry-'));
  stack = await startStack({ server: false, mqtt: { maxPacketBytes: DEFAULT_MQTT.maxPacketBytes } });
  const providerSecret = newSecret();
  const file = join(stack.dir, 'registry.json');
  const reg = JSON.parse(readFileSync(file, 'utf8')) as Registry;
  reg.providers = [{ id: PROVIDER, secretHash: hashSecret(providerSecret), scopes: ['imagery'] }];
  writeFileSync(file, JSON.stringify(reg));
  expect(stack.gateway.registry.reload()).toBe(true);
  receiver = newReceiver();
  stack.gateway.broker!.addTopicHandler(new ImageryTopics(FARM, stack.gateway.registry, receiver));
  provider = await mqtt.connectAsync(stack.mqttUrl, {
    clientId: `provider-${Math.random().toString(36).slice(2)}`,
    username: PROVIDER,
    password: providerSecret,
    reconnectPeriod: 0,
  });
  provider.on('message', (_topic, payload) =>
    statuses.push(JSON.parse(payload.toString()) as TransferStatus),
  );
  const [granted] = await provider.subscribeAsync(`${imageryTopicPrefix(FARM)}+/status`, { qos: 1 });
  expect(granted?.qos).toBe(1);
}, 60_000);

afterAll(async () => {
  receiver?.close();
  await provider?.endAsync();
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const manifest = (sceneId: string): SceneManifest => sceneManifest(sceneId, bytes, CHUNK);

const publish = (sceneId: string, what: string, payload: string | Buffer) =>
  provider.publishAsync(imageryTopic(FARM, sceneId, what), payload, { qos: 1 });
const sendManifest = (sceneId: string) => publish(sceneId, 'manifest', JSON.stringify(manifest(sceneId)));
const sendChunk = (sceneId: string, n: number) =>
  publish(sceneId, `chunk/${n}`, bytes.subarray(n * CHUNK, (n + 1) * CHUNK));

/** The first status of a scene that `match` accepts, as the provider heard it. */
const heard = (sceneId: string, match: (s: TransferStatus) => boolean, timeoutMs = 30_000) =>
  eventually(() => statuses.find((s) => s.sceneId === sceneId && match(s)), timeoutMs, 20).catch(
    (e: Error) => {
      throw new Error(
        `${e.message}; statuses of ${sceneId}: ${JSON.stringify(statuses.filter((s) => s.sceneId === sceneId))}`,
      );
    },
  );
const transferDir = (sceneId: string) => join(dir, 'transfers', sceneId);
const isExpiry = (s: TransferStatus) => s.state === 'refused' && /^transfer expired/.test(s.reason ?? '');

describe('abandoned imagery transfers expire', () => {
  it('frees the slots of four abandoned transfers and deletes their files; a new scene is then accepted', async () => {
    const abandoned = ['gone-1', 'gone-2', 'gone-3', 'gone-4'];
    for (const id of abandoned) {
      await sendManifest(id);
      for (const n of [0, 1, 2]) await sendChunk(id, n);
      await publish(id, 'end', '');
      expect((await heard(id, (s) => s.state !== 'receiving')).state).toBe('incomplete');
      // The partial file is sized to the whole scene.
      expect(statSync(join(transferDir(id), 'data.part')).size).toBe(bytes.length);
    }
    const sentAt = Date.now();
    // The limit is full: a fifth scene is refused while the four are in progress.
    await sendManifest('fresh');
    expect(await heard('fresh', (s) => s.state !== 'receiving')).toMatchObject({
      state: 'refused',
      reason: '4 transfers already in progress (limit 4)',
    });
    expect(results.has('fresh')).toBe(false);

    // Nothing more is heard of them: after the expiry each is told, and its files are gone.
    for (const id of abandoned) {
      const s = await heard(id, isExpiry);
      expect(s).toMatchObject({ code: 'HATAKE_E_IMAGERY_TRANSFER', received: 3, chunkCount });
      expect(s.reason).toMatch(
        new RegExp(
          `^transfer expired: nothing heard for \\d+ s \\(limit 4 s\\) with 3 of ${chunkCount} chunks received; its files were deleted`,
        ),
      );
      expect(existsSync(transferDir(id))).toBe(false);
    }
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(EXPIRY_MS - 1000); // not before they were idle
    expect(readdirSync(join(dir, 'transfers'))).toEqual([]);
    expect(expired.map((e) => e.sceneId).sort()).toEqual(abandoned);
    for (const e of expired) {
      expect(e).toMatchObject({ received: 3, chunkCount });
      expect(e.idleMs).toBeGreaterThanOrEqual(EXPIRY_MS);
    }
    expect(receiver.counters.expired).toBe(4);

    // The same fifth scene, sent again, is now taken and processed.
    statuses.length = 0;
    await sendManifest('fresh');
    for (let n = 0; n < chunkCount; n++) await sendChunk('fresh', n);
    await publish('fresh', 'end', '');
    expect((await heard('fresh', (s) => s.state !== 'receiving')).state).toBe('processed');
    expect(results.get('fresh')!.stats.fields['wheat-a']!.indices['ndvi']!.count).toBeGreaterThan(1000);
    expect(readdirSync(join(dir, 'transfers'))).toEqual([]);
  }, 120_000);

  it('keeps a transfer that receives a chunk now and then, for longer than the expiry in all', async () => {
    statuses.length = 0;
    const start = Date.now();
    await sendManifest('slow');
    let n = 0;
    // A chunk a second for 1.5 expiry periods: never silent for the expiry, though older than it.
    while (Date.now() - start < EXPIRY_MS * 1.5) {
      await sendChunk('slow', n++);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(n).toBeLessThan(chunkCount);
    expect(statuses.some((s) => s.sceneId === 'slow' && isExpiry(s))).toBe(false);
    expect(existsSync(join(transferDir('slow'), 'data.part'))).toBe(true);
    for (; n < chunkCount; n++) await sendChunk('slow', n);
    expect((await heard('slow', (s) => s.state !== 'receiving')).state).toBe('processed');
    expect(expired.map((e) => e.sceneId)).not.toContain('slow');
  }, 120_000);

  it('expires a transfer abandoned before a restart, from the files it left', async () => {
    statuses.length = 0;
    await sendManifest('before-restart');
    await sendChunk('before-restart', 0);
    // Acknowledged, so on disk: marked in the transfer's bitmap.
    expect([...readFileSync(join(transferDir('before-restart'), 'have')).subarray(0, 2)]).toEqual([1, 0]);
    // The gateway stops: the transfer's files stay on disk for it to resume after the restart.
    receiver.close();
    expect(existsSync(join(transferDir('before-restart'), 'data.part'))).toBe(true);
    // It comes back (a new receiver on the same folder, answering on the same broker) and the
    // sender never does.
    receiver = newReceiver();
    const e = await eventually(() => expired.find((x) => x.sceneId === 'before-restart'), 30_000, 50);
    expect(e).toMatchObject({ received: 1, chunkCount });
    expect(e.idleMs).toBeGreaterThanOrEqual(EXPIRY_MS);
    expect(existsSync(transferDir('before-restart'))).toBe(false);
    expect((await heard('before-restart', isExpiry)).received).toBe(1);
  }, 60_000);
});
