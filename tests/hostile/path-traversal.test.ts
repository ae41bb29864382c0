// No path traversal through any name that becomes a file name: scene ids arriving over MQTT
// (gateway/imagery/receiver.ts) and in an imagery sidecar dropped in the gateway's inbox, model ids
// in downlink documents (gateway/downlink-apply.ts), device ids in provisioning outputs
// (firmware-config/firmware-files.ts), prescription download names, and boundary file names in a
// manifest uploaded to the server. Each test plants the names, then lists the file system around
// the folder the code owns: nothing may appear outside it, and nothing outside may be read.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageryReceiver } from '../../gateway/imagery/receiver.ts';
import { ImageryInbox } from '../../gateway/imagery/inbox.ts';
import { modelHandler } from '../../gateway/downlink-apply.ts';
import type { DownlinkClient, DownlinkDoc } from '../../gateway/downlink-client.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { safeFileName } from '../../dashboard/review/prescription-files.ts';
import { checkManifest } from '../../firmware-config/manifest-check.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { provisionFiles } from '../../firmware-config/firmware-files.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import { demoScene } from '../../sim/scene.ts';
import { DEMO_MANIFEST_FILE, demoManifest, quietLog, signIn, startServer } from '../helpers/stack.ts';
import {
  checkCoded,
  fcParams,
  hostileString,
  HOSTILE_STRINGS,
  mutateJson,
} from '../helpers/hostile-values.ts';
import type { HatakeServer } from '../../dashboard/server.ts';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hatake-traversal-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every file and folder under `dir`, relative to it. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      out.push(relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** A sandbox: `owned` is the folder the code under test may write; the rest of `outer` must stay as it was. */
function sandbox(name: string): { outer: string; owned: string; outside: () => string[] } {
  const outer = join(root, name, 'a', 'b', 'c');
  const owned = join(outer, 'owned');
  mkdirSync(owned, { recursive: true });
  const top = join(root, name);
  const mine = join('a', 'b', 'c', 'owned');
  const ancestors = new Set(['a', join('a', 'b'), join('a', 'b', 'c')]);
  return {
    outer,
    owned,
    outside: () => tree(top).filter((p) => !ancestors.has(p) && p !== mine && !p.startsWith(`${mine}/`)),
  };
}

/** Names that try to climb out of a folder or name one elsewhere. */
const traversal = () =>
  fc.oneof(
    fc.constantFrom(
      '..',
      '../escaped',
      '../../escaped',
      '../../../../escaped',
      '..\\..\\escaped',
      '/tmp/escaped',
      'a/../../escaped',
      '%2e%2e%2fescaped',
      '.',
      '',
      'escaped\u0000.tif',
    ),
    fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.constantFrom('escaped', 'owned2', '.ssh/authorized_keys'))
      .map(([n, t]) => `${'../'.repeat(n)}${t}`),
    hostileString().map((s) => s.slice(0, 200)),
  );

describe('scene ids arriving over MQTT (ImageryReceiver)', () => {
  it('never creates a file outside its folder, whatever the topic suffix and payload', async () => {
    const box = sandbox('receiver');
    const receiver = new ImageryReceiver({ dir: box.owned, fields: () => [], maxChunkBytes: 4096 });
    const statuses: unknown[] = [];
    receiver.on('status', (s) => statuses.push(s));
    const suffix = fc.tuple(
      traversal(),
      fc.constantFrom('manifest', 'chunk/0', 'chunk/1', 'end', 'status', '', 'chunk/../../x'),
    );
    const manifestFor = (sceneId: string) =>
      Buffer.from(
        JSON.stringify({
          sceneId,
          profile: 's2-l2a',
          acquired: '2026-06-01T01:00:00Z',
          size: 10,
          chunkSize: 8,
          chunkCount: 2,
          sha256: '0'.repeat(64),
        }),
      );
    await fc.assert(
      fc.asyncProperty(suffix, fc.boolean(), async ([scene, kind], asManifest) => {
        const topic = kind ? `${scene}/${kind}` : scene;
        const payload = asManifest ? manifestFor(scene) : Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
        await receiver.handle(topic, payload); // never throws for bad input
        expect(box.outside()).toEqual([]);
      }),
      fcParams(150),
    );
    receiver.close();
    // It answered: refusals carry the transfer code.
    expect(statuses.length).toBeGreaterThan(0);
    for (const s of statuses as { state: string; code?: string }[])
      if (s.state === 'refused') expect(s.code).toBe('HATAKE_E_IMAGERY_TRANSFER');
  });
});

describe('scene files dropped in the gateway imagery inbox', () => {
  const scene = () => Buffer.from(demoScene(demoManifest()).tiff);

  it('keeps a sidecar’s hostile sceneId from writing results outside the imagery folder', async () => {
    const box = sandbox('inbox-sceneid');
    const results: string[] = [];
    const inbox = new ImageryInbox(
      box.owned,
      () => [],
      (r) => results.push(r.outDir),
      quietLog(),
    );
    writeFileSync(join(inbox.inbox, 'scene.tif'), scene());
    writeFileSync(
      join(inbox.inbox, 'scene.hatake.json'),
      JSON.stringify({
        sceneId: '../../../escaped-scene',
        bands: 'blue=1,green=2,red=3,nir=4,scl=5',
        offset: -1000,
      }),
    );
    await inbox.scan();
    await inbox.stop();
    expect(box.outside(), 'files written outside the imagery folder').toEqual([]);
    for (const dir of results) expect(relative(box.owned, dir).startsWith('..'), dir).toBe(false);
  });

  it('moves a scene whose sidecar is not JSON to failed/ with the reason, without a rejected scan', async () => {
    const box = sandbox('inbox-sidecar');
    const inbox = new ImageryInbox(
      box.owned,
      () => [],
      () => undefined,
      quietLog(),
    );
    writeFileSync(join(inbox.inbox, 'broken.tif'), scene());
    writeFileSync(join(inbox.inbox, 'broken.hatake.json'), '{"sceneId": "x", ');
    const outcome = await inbox.scan().then(
      () => 'resolved',
      (e: Error) => `rejected: ${e.constructor.name}: ${e.message}`,
    );
    await inbox.stop();
    expect(outcome).toBe('resolved');
    expect(readdirSync(inbox.inbox)).toEqual([]);
    expect(readdirSync(join(box.owned, 'failed'))).toContain('broken.reason.txt');
  });
});

describe('model ids in downlink documents (modelHandler)', () => {
  it('refuses a card whose id or version would leave the models folder, writing nothing', async () => {
    const box = sandbox('models');
    const store = new GatewayStore(join(root, 'models-store.db'));
    const cardText = readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8');
    const card = JSON.parse(cardText) as Record<string, unknown>;
    const onnx = readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.onnx'));
    // The artifact is served exactly: only the card decides where files go.
    const client = { get: async () => new Response(new Uint8Array(onnx)) } as unknown as DownlinkClient;
    const handle = modelHandler(box.owned, store);
    const hostileCard = fc.oneof(
      fc.tuple(traversal(), fc.constantFrom('id', 'version', 'file')).map(([v, k]) => ({ ...card, [k]: v })),
      mutateJson(card),
    );
    try {
      await fc.assert(
        fc.asyncProperty(hostileCard, async (c) => {
          const body = {
            id: (c as { id?: unknown }).id,
            version: (c as { version?: unknown }).version,
            sha256: card.sha256,
            card: c,
          };
          const doc = {
            kind: 'model',
            id: String(body.id).slice(0, 64),
            version: 1,
            body,
            deleted: false,
          } as unknown as DownlinkDoc;
          try {
            await handle(doc, client);
          } catch (e) {
            checkCoded(e, 'modelHandler');
          }
          expect(box.outside()).toEqual([]);
          for (const f of tree(box.owned))
            expect(f).toMatch(/^[a-z0-9][a-z0-9_-]{0,63}@\d+\.\d+\.\d+\.(onnx|card\.json)(\.tmp)?$/);
        }),
        fcParams(40),
      );
    } finally {
      store.close();
    }
  });
});

describe('prescription download names', () => {
  it('are plain names — one path segment of [A-Za-z0-9._-], no leading dot — for any field and id', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString(), traversal(), fc.string({ unit: 'binary' })), (s) => {
        const name = safeFileName(s);
        // A name of one path segment: `..` may appear inside it (a_.._b) but cannot climb.
        expect(name).toMatch(/^[A-Za-z0-9-][A-Za-z0-9._-]{0,119}$/);
      }),
      fcParams(500),
    );
    for (const s of HOSTILE_STRINGS) expect(safeFileName(s)).toMatch(/^[A-Za-z0-9-][A-Za-z0-9._-]{0,119}$/);
  });
});

describe('provisioning outputs', () => {
  const catalogue = loadCatalogue();
  const text = readFileSync(DEMO_MANIFEST_FILE, 'utf8');

  it('writes only inside the output folder for any manifest the checker accepts, and refuses hostile ids', async () => {
    const box = sandbox('provision');
    const broker = { host: '127.0.0.1', port: 1883, tls: false };
    // The untouched manifest provisions into the output folder, and only there.
    const plain = checkManifest(join(box.outer, 'manifest.yaml'), text, { catalogue });
    const res = await provisionFiles({
      manifest: plain.manifest!,
      catalogue,
      outDir: join(box.owned, 'out'),
      broker,
    });
    expect(relative(box.owned, res.sheetFile).startsWith('..')).toBe(false);
    expect(tree(join(box.owned, 'out')).length).toBeGreaterThan(3);
    expect(box.outside()).toEqual([]);
    rmSync(join(box.owned, 'out'), { recursive: true, force: true });
    const idEdit = fc.tuple(
      fc.constantFrom('soil-1', 'wx-1', 'water-1', 'demo-farm', 'upland-1'),
      traversal(),
    );
    await fc.assert(
      fc.asyncProperty(idEdit, async ([id, hostile]) => {
        const edited = text.replaceAll(`id: ${id}`, `id: ${JSON.stringify(hostile)}`);
        const check = checkManifest(join(box.outer, 'manifest.yaml'), edited, { catalogue });
        for (const p of check.problems) checkCoded(p, 'checkManifest');
        if (check.manifest) {
          const out = join(box.owned, 'out');
          await provisionFiles({ manifest: check.manifest, catalogue, outDir: out, broker });
          rmSync(out, { recursive: true, force: true });
        }
        expect(box.outside()).toEqual([]);
      }),
      fcParams(25),
    );
  });
});

describe('boundary file names in a manifest uploaded to the server', () => {
  let server: HatakeServer;
  let url: string;
  let dir: string;
  const CANARY = [
    [
      [1.234567, 2.345678],
      [1.2346, 2.345678],
      [1.2346, 2.3457],
      [1.234567, 2.345678],
    ],
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-traversal-srv-'));
    ({ server, url } = await startServer(dir));
    // Files a traversal would reach: beside the server's data, in /tmp, and in the temp root.
    const polygon = JSON.stringify({ type: 'Polygon', coordinates: CANARY });
    for (const d of [dir, join(dir, 'server'), tmpdir()])
      writeFileSync(join(d, 'canary-hatake.geojson'), polygon);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(tmpdir(), 'canary-hatake.geojson'), { force: true });
  });

  it('never reads a file outside the upload, whatever the path says', async () => {
    const partner = await signIn(url, 'demo-partner');
    const manifestText = readFileSync(DEMO_MANIFEST_FILE, 'utf8');
    const pathArb = fc.oneof(
      fc.integer({ min: 1, max: 8 }).map((n) => `${'../'.repeat(n)}canary-hatake.geojson`),
      fc.constantFrom(
        '/tmp/canary-hatake.geojson',
        `${tmpdir()}/canary-hatake.geojson`,
        '..\\..\\canary-hatake.geojson',
        './../canary-hatake.geojson',
        'canary-hatake.geojson',
        '"../canary-hatake.geojson"',
        "'../../canary-hatake.geojson'",
        '!!str ../../canary-hatake.geojson',
        '|-\n      ../../canary-hatake.geojson',
        '>-\n      ../../../canary-hatake.geojson',
      ),
    );
    const filesArb = fc.option(
      fc.dictionary(
        fc.oneof(traversal(), fc.constantFrom('manifest.yaml', 'ok.geojson', '.hidden.json')),
        fc.constant('{}'),
        { maxKeys: 2 },
      ),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(pathArb, filesArb, async (p, files) => {
        const text = manifestText.replace(
          /boundary:\n\s+type: Polygon\n\s+coordinates: .*\n/,
          `boundary: ${p}\n`,
        );
        const res = await partner('/api/v1/farms/demo-farm/manifest/check', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text, ...(files ? { files } : {}) }),
        });
        const body = await res.text();
        expect(res.status, body.slice(0, 300)).toBeLessThan(500);
        expect(body, 'the canary polygon was read').not.toContain('1.234567');
      }),
      fcParams(40),
    );
  });
});
