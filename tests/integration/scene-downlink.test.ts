// Scenes sent down from the server: an admin (or the farm's IT partner) uploads a GeoTIFF to
// `POST /api/v1/farms/:farm/scenes`; the server checks it, stores it under its sha256 and
// publishes a signed `scene` document; a registered gateway, told over the stream, downloads it,
// checks size and sha256 and processes it through its imagery inbox — its statistics, zones and
// maps reach the server. A file altered on the server's disk is refused and the refusal reported;
// one that arrives intact but cannot be processed is reported too, and the next scene goes through;
// a raster of an index derived elsewhere (profile `index`) is sent down and processed the same way;
// uploads that are not TIFFs, hostile headers, truncated files, wrong descriptions, oversized
// bodies and callers who may not send scenes are refused with coded problems, storing nothing.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD, seedDemoUsers } from '../../dashboard/demo.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { demoScene } from '../../sim/scene.ts';
import type { FieldStats } from '../../protocol/imagery.ts';
import {
  demoManifest,
  eventually,
  signIn,
  startRegisteredStack,
  startServer,
  type Stack,
} from '../helpers/stack.ts';
import { undecodableTiff } from '../helpers/corrupt-tiff.ts';
import { demoNdviRaster } from '../helpers/demo-ndvi.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const ACQUIRED = '2026-07-20T01:30:00Z';
const scene = demoScene(demoManifest(), { acquired: ACQUIRED });
const tiff = Buffer.from(scene.tiff);
const sha = createHash('sha256').update(tiff).digest('hex');
const REAL = readFileSync(
  join(import.meta.dirname, '../../../shared/data/sentinel2/ftw-austria/inference-img.tif'),
);
const DEMO_QUERY = {
  acquired: ACQUIRED,
  profile: 's2-l2a',
  bands: 'blue=1,green=2,red=3,nir=4,scl=5',
  offset: '-1000',
};

type Caller = Awaited<ReturnType<typeof signIn>>;
type Problem = { status: number; code: string; detail: string };

async function upload(
  as: Caller,
  body: BodyInit | Buffer,
  query: Record<string, string> = { ...DEMO_QUERY, sceneId: 'demo-dl-1' },
  opts: { farm?: string; type?: string } = {},
): Promise<Response> {
  const isStream = body instanceof ReadableStream;
  return as(`/api/v1/farms/${opts.farm ?? 'demo-farm'}/scenes?${new URLSearchParams(query).toString()}`, {
    method: 'POST',
    headers: { 'content-type': opts.type ?? 'image/tiff' },
    body: Buffer.isBuffer(body) ? new Uint8Array(body) : body,
    ...(isStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

async function registered(): Promise<{ server: HatakeServer; url: string; stack: Stack }> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-scene-dl-'));
  const r = await startRegisteredStack(dir, 'gw-scene');
  cleanups.push(
    async () => rmSync(dir, { recursive: true, force: true }),
    () => r.close(),
  );
  return r;
}

const events = (server: HatakeServer, type: string) =>
  server.ctx.db.prepare('SELECT message, detail FROM events WHERE type = ? ORDER BY time').all(type) as {
    message: string;
    detail: string;
  }[];
const sceneDocs = (server: HatakeServer) =>
  server.ctx.downlink.since('demo-farm', 0).filter((d) => d.kind === 'scene');
const imageryDir = (stack: Stack) => join(stack.gateway.config.dataDir, 'imagery');

// Each of these sends a real scene through server, downlink and gateway processing (about 8 s
// alone) and waits up to 30 s at several steps: 90 s lets a slow step fail with its own message
// rather than the test's timeout.
describe('a scene sent down from the server', () => {
  it('is downloaded, verified and processed by the gateway; stats, zones and maps reach the server', async () => {
    const { server, url, stack } = await registered();
    const res = await upload(await signIn(url, 'admin'), tiff);
    expect(res.status).toBe(201);
    const created = (await res.json()) as { sceneId: string; version: number; sha256: string; size: number };
    expect(created).toMatchObject({ sceneId: 'demo-dl-1', sha256: sha, size: tiff.length });
    // Stored under its sha256; the signed document says what it is.
    expect(readFileSync(join(server.opts.dataDir, 'scenes', `${sha}.tif`)).equals(tiff)).toBe(true);
    const [doc, ...others] = sceneDocs(server);
    expect(others).toEqual([]);
    expect(doc!.signature).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    expect(doc!.body).toEqual({
      v: 1,
      sceneId: 'demo-dl-1',
      acquired: '2026-07-20T01:30:00.000Z',
      profile: 's2-l2a',
      bands: { blue: 1, green: 2, red: 3, nir: 4, scl: 5 },
      offset: -1000,
      format: 'geotiff',
      size: tiff.length,
      sha256: sha,
    });

    // The gateway processes it like any scene in its inbox…
    await eventually(() => existsSync(join(imageryDir(stack), 'done', 'demo-dl-1.tif')), 30_000, 50);
    expect(readFileSync(join(imageryDir(stack), 'done', 'demo-dl-1.tif')).equals(tiff)).toBe(true);
    expect(readdirSync(join(imageryDir(stack), 'failed'))).toEqual([]);
    const fields = demoManifest()
      .fields.filter((f) => f.boundary)
      .map((f) => f.id)
      .sort();
    // …and its statistics, zones and heatmaps reach the server.
    const synced = () =>
      server.ctx.db
        .prepare(
          "SELECT field, stats, zones FROM view_field_scenes WHERE farm = 'demo-farm' AND scene = ? ORDER BY field",
        )
        .all('demo-dl-1') as { field: string; stats: string; zones: string }[];
    await eventually(() => synced().length === fields.length, 30_000, 100);
    expect(synced().map((r) => r.field)).toEqual(fields);
    for (const r of synced()) {
      const stats = JSON.parse(r.stats) as { indices: { ndvi: { count: number } } };
      expect(stats.indices.ndvi.count).toBeGreaterThan(10);
      expect((JSON.parse(r.zones) as unknown[]).length).toBeGreaterThan(0);
    }
    const info = JSON.parse(
      (
        server.ctx.db.prepare("SELECT info FROM view_scenes WHERE scene = 'demo-dl-1'").get() as {
          info: string;
        }
      ).info,
    ) as { scene: { radiometry: { offset: number }; acquired: string } };
    expect(info.scene).toMatchObject({
      acquired: '2026-07-20T01:30:00.000Z',
      radiometry: { offset: -1000, offsetSource: 'user' },
    });
    await eventually(
      () =>
        (
          server.ctx.db
            .prepare("SELECT COUNT(*) AS n FROM view_map_files WHERE scene = 'demo-dl-1'")
            .get() as {
            n: number;
          }
        ).n > 0,
      30_000,
      100,
    );
    await eventually(
      () =>
        events(server, 'downlink_applied').some((e) => /scene demo-dl-1 .*sha256 verified/.test(e.message)),
      30_000,
      100,
    );

    // Sent again, the same: the same version, nothing new for the gateway.
    const again = await upload(await signIn(url, 'admin'), tiff);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { version: number }).version).toBe(created.version);
    // The same scene id for another file is a conflict.
    const other = Buffer.from(demoScene(demoManifest(), { acquired: ACQUIRED, seed: 9 }).tiff);
    const conflict = await upload(await signIn(url, 'admin'), other);
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as Problem).code).toBe('HATAKE_E_STATE_CONFLICT');
  }, 90_000);

  it('refuses a file altered on the server, keeps nothing of it and reports the refusal', async () => {
    const { server, url, stack } = await registered();
    // Sent by the farm's IT partner, who may send scenes to the farms they serve.
    const res = await upload(await signIn(url, 'demo-partner'), tiff, {
      ...DEMO_QUERY,
      sceneId: 'demo-dl-2',
    });
    expect(res.status).toBe(201);
    await eventually(() => existsSync(join(imageryDir(stack), 'done', 'demo-dl-2.tif')), 30_000, 50);
    // A second scene whose stored file is then altered (a bad disk, an intruder): the signed
    // document names the upload's sha256, the bytes served are not those.
    const second = Buffer.from(demoScene(demoManifest(), { acquired: '2026-07-25T01:30:00Z', seed: 3 }).tiff);
    const secondSha = createHash('sha256').update(second).digest('hex');
    const tampered = Buffer.from(second);
    tampered[tampered.length - 100]! ^= 0xff;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(second));
        c.close();
      },
    });
    // Hold the gateway's download until the file is altered: stop it polling first.
    await stack.gateway.downlink!.stop();
    const up = await upload(await signIn(url, 'admin'), stream, {
      ...DEMO_QUERY,
      acquired: '2026-07-25T01:30:00Z',
      sceneId: 'demo-dl-3',
    });
    expect(up.status).toBe(201);
    writeFileSync(join(server.opts.dataDir, 'scenes', `${secondSha}.tif`), tampered);
    const { DownlinkClient } = await import('../../gateway/downlink-client.ts');
    const { sceneHandler } = await import('../../gateway/downlink-apply.ts');
    const reg = stack.gateway.config.server!;
    const client = new DownlinkClient(
      stack.gateway.store,
      { url, token: reg.token, publicKey: reg.publicKey, intervalMs: 600_000 },
      stack.gateway.events,
      stack.gateway.log,
    );
    client.on('scene', sceneHandler(stack.gateway.imagery));
    await client.poll();
    await client.stop();
    stack.gateway.sync!.kick();
    await eventually(() => events(server, 'downlink_refused').length > 0, 30_000, 100);
    const refusal = events(server, 'downlink_refused')[0]!;
    expect(refusal.message).toMatch(
      new RegExp(
        `scene demo-dl-3: file sha256 [0-9a-f]{64} does not match the signed document's ${secondSha}`,
      ),
    );
    expect(JSON.parse(refusal.detail)).toMatchObject({
      kind: 'scene',
      id: 'demo-dl-3',
      code: 'HATAKE_E_IMAGERY_TRANSFER',
    });
    // Nothing of it in the imagery folder; the first scene stays processed.
    for (const d of ['inbox', 'done', 'failed'])
      expect(readdirSync(join(imageryDir(stack), d)).filter((f) => f.includes('demo-dl-3'))).toEqual([]);
    expect(existsSync(join(imageryDir(stack), 'done', 'demo-dl-2.tif'))).toBe(true);
  }, 90_000);

  it('reports a scene that arrives intact but cannot be processed, and processes the next one', async () => {
    const { server, url, stack } = await registered();
    const admin = await signIn(url, 'admin');
    // Sound header, grid and bands, so the server takes it; its pixel data does not decode.
    const corrupt = undecodableTiff(scene.tiff);
    const res = await upload(admin, corrupt, { ...DEMO_QUERY, sceneId: 'demo-dl-bad' });
    expect(res.status).toBe(201);
    const { version } = (await res.json()) as { version: number };

    // On the gateway: verified, queued, then failed — in failed/ with its reason, as before.
    const failed = join(imageryDir(stack), 'failed');
    await eventually(() => existsSync(join(failed, 'demo-dl-bad.reason.txt')), 30_000, 50);
    expect(readdirSync(failed).sort()).toEqual([
      'demo-dl-bad.hatake.json',
      'demo-dl-bad.reason.txt',
      'demo-dl-bad.tif',
    ]);
    expect(readFileSync(join(failed, 'demo-dl-bad.tif')).equals(corrupt)).toBe(true);
    expect(readFileSync(join(failed, 'demo-dl-bad.reason.txt'), 'utf8')).toMatch(
      /^HATAKE_E_IMAGERY_FILE .*demo-dl-bad\.tif: corrupt data in block \(0, 0\)/,
    );

    // The server learns of it: a downlink_refused event about the scene's document, with the reason.
    const refusals = () =>
      events(server, 'downlink_refused').filter(
        (e) => (JSON.parse(e.detail) as { id?: string }).id === 'demo-dl-bad',
      );
    await eventually(() => refusals().length > 0, 30_000, 100);
    const [refusal, ...more] = refusals();
    expect(more).toEqual([]);
    expect(refusal!.message).toMatch(
      new RegExp(`^scene demo-dl-bad v${version} could not be processed: corrupt data in block \\(0, 0\\)`),
    );
    const detail = JSON.parse(refusal!.detail) as Record<string, unknown>;
    expect(detail).toMatchObject({
      kind: 'scene',
      id: 'demo-dl-bad',
      version,
      code: 'HATAKE_E_IMAGERY_FILE',
    });
    expect(detail.reason).toMatch(/^corrupt data in block \(0, 0\): .*\(expected a valid GeoTIFF\)$/);
    expect(detail.reason).not.toContain(stack.gateway.config.dataDir); // no gateway paths
    // It was downloaded and verified first: that was reported as applied, for the same version.
    expect(
      events(server, 'downlink_applied').some((e) =>
        /^applied scene demo-dl-bad v\d+: .*sha256 verified\) queued for processing$/.test(e.message),
      ),
    ).toBe(true);
    // The farm's health view shows it among the gateway's alerts, naming the document.
    const health = (await (await admin('/api/v1/farms/demo-farm/health')).json()) as {
      gateways: { id: string; alerts: Record<string, unknown>[] }[];
    };
    const alert = health.gateways
      .find((g) => g.id === 'gw-scene')!
      .alerts.find((a) => a.type === 'downlink_refused');
    expect(alert).toMatchObject({
      severity: 'warning',
      message: refusal!.message,
      downlink: { kind: 'scene', id: 'demo-dl-bad', version },
    });

    // The next scene sent down is processed as usual; the failed one stays where it is.
    expect((await upload(admin, tiff, { ...DEMO_QUERY, sceneId: 'demo-dl-good' })).status).toBe(201);
    await eventually(() => existsSync(join(imageryDir(stack), 'done', 'demo-dl-good.tif')), 30_000, 50);
    await eventually(
      () =>
        (
          server.ctx.db
            .prepare("SELECT COUNT(*) AS n FROM view_field_scenes WHERE farm = 'demo-farm' AND scene = ?")
            .get('demo-dl-good') as { n: number }
        ).n > 0,
      30_000,
      100,
    );
    expect(readdirSync(failed).filter((f) => f.includes('demo-dl-good'))).toEqual([]);
    expect(refusals()).toHaveLength(1);
  }, 90_000);
});

describe('an index raster sent down from the server (profile index)', () => {
  it('is processed by the gateway into the NDVI statistics of the band scene it was derived from', async () => {
    const { server, url, stack } = await registered();
    const admin = await signIn(url, 'admin');
    // The demo scene's NDVI, one float32 band on its grid (NaN where the band scene has none).
    const raster = await demoNdviRaster(scene);
    const rasterSha = createHash('sha256').update(raster).digest('hex');
    const up = await upload(admin, raster, {
      acquired: ACQUIRED,
      profile: 'index',
      index: 'ndvi',
      sceneId: 'demo-dl-ndvi',
    });
    expect(up.status, await up.clone().text()).toBe(201);
    expect(sceneDocs(server).find((d) => d.id === 'demo-dl-ndvi')!.body).toEqual({
      v: 1,
      sceneId: 'demo-dl-ndvi',
      acquired: '2026-07-20T01:30:00.000Z',
      profile: 'index',
      index: 'ndvi',
      format: 'geotiff',
      size: raster.length,
      sha256: rasterSha,
    });
    expect((await upload(admin, tiff, { ...DEMO_QUERY, sceneId: 'demo-dl-bands' })).status).toBe(201);

    // Both are downloaded, verified and processed on the gateway; the index raster's sidecar
    // carried its index through the inbox.
    for (const id of ['demo-dl-ndvi', 'demo-dl-bands'])
      await eventually(() => existsSync(join(imageryDir(stack), 'done', `${id}.tif`)), 30_000, 50);
    expect(readdirSync(join(imageryDir(stack), 'failed'))).toEqual([]);
    expect(
      JSON.parse(readFileSync(join(imageryDir(stack), 'done', 'demo-dl-ndvi.hatake.json'), 'utf8')),
    ).toMatchObject({ profile: 'index', index: 'ndvi' });
    const fields = demoManifest()
      .fields.filter((f) => f.boundary)
      .map((f) => f.id)
      .sort();
    type Row = { field: string; stats: string };
    const synced = (id: string) =>
      server.ctx.db
        .prepare(
          "SELECT field, stats FROM view_field_scenes WHERE farm = 'demo-farm' AND scene = ? ORDER BY field",
        )
        .all(id) as Row[];
    for (const id of ['demo-dl-ndvi', 'demo-dl-bands'])
      await eventually(() => synced(id).length === fields.length, 30_000, 100);
    const statsOf = (id: string) =>
      new Map(synced(id).map((r) => [r.field, JSON.parse(r.stats) as FieldStats]));
    const [ndvi, bands] = [statsOf('demo-dl-ndvi'), statsOf('demo-dl-bands')];
    expect([...ndvi.keys()]).toEqual(fields);
    for (const id of fields) {
      const [n, b] = [ndvi.get(id)!, bands.get(id)!];
      expect(Object.keys(n.indices), id).toEqual(['ndvi']);
      expect(b.indices.ndvi!.count, id).toBeGreaterThan(10);
      // The same values: the same statistics, valid pixels and zones.
      expect(n.indices.ndvi, id).toEqual(b.indices.ndvi);
      expect([n.pixels, n.validPixels, n.validFraction, n.zones], id).toEqual([
        b.pixels,
        b.validPixels,
        b.validFraction,
        b.zones,
      ]);
    }
    const info = server.ctx.db.prepare("SELECT info FROM view_scenes WHERE scene = 'demo-dl-ndvi'").get() as {
      info: string;
    };
    expect((JSON.parse(info.info) as { scene: { profile: string; bands: object } }).scene).toMatchObject({
      profile: 'index',
      bands: { index: expect.stringMatching(/#1 \(NDVI\)$/) },
    });
  }, 90_000);
});

describe('uploading a scene', () => {
  let dir: string;
  let server: HatakeServer;
  let url: string;
  let admin: Caller;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-scene-up-'));
    ({ server, url } = await startServer(dir));
    await server.ctx.auth.createUser('other-partner', DEMO_PASSWORD, 'partner', {
      farms: ['other-farm'],
      regions: [],
    });
    admin = await signIn(url, 'admin');
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** Nothing was stored or published: no file, no leftover upload, no document. */
  const nothingStored = () => {
    expect(readdirSync(join(server.opts.dataDir, 'scenes'))).toEqual([]);
    expect(sceneDocs(server)).toEqual([]);
  };
  const problem = async (res: Response, status: number, code: string, detail?: RegExp) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const p = (await res.json()) as Problem;
    expect(p.code).toBe(code);
    if (detail) expect(p.detail).toMatch(detail);
    nothingStored();
  };

  it('refuses callers who may not send scenes', async () => {
    for (const user of ['demo-farmer', 'demo-officer', 'other-partner'])
      await problem(
        await upload(await signIn(url, user), tiff),
        403,
        'HATAKE_E_FORBIDDEN',
        /admin or the farm’s IT partner/,
      );
    const anonymous = (path: string, init: RequestInit = {}) => fetch(`${url}${path}`, init);
    await problem(await upload(anonymous, tiff), 401, 'HATAKE_E_AUTH');
    // Signed in, but without the CSRF token.
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: DEMO_PASSWORD }),
    });
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const noCsrf = (path: string, init: RequestInit = {}) =>
      fetch(`${url}${path}`, { ...init, headers: { ...(init.headers as object), cookie } });
    await problem(await upload(noCsrf, tiff), 403, 'HATAKE_E_FORBIDDEN', /CSRF/);
  });

  it.each([
    ['an empty body', Buffer.alloc(0), /the upload is empty/],
    [
      'a PNG',
      Buffer.from('89504e470d0a1a0a0000000d4948445200000001', 'hex'),
      /not a TIFF \(no II\/MM byte-order mark\)/,
    ],
    ['a file too short for a TIFF header', Buffer.from('II*\0'), /too short to be a TIFF/],
    [
      'a header claiming two billion values (the allocation bomb the guard stops)',
      hostileTiff(),
      /tag 258 claims 2147483647 values/,
    ],
    ['a TIFF whose directory loops', loopingTiff(), /image directories loop back to byte 8/],
    [
      'a real scene cut short',
      REAL.subarray(0, REAL.length >> 1),
      /truncated: image data runs to byte \d+ but the file has \d+ bytes/,
    ],
  ])('refuses %s before storing it', async (_name, body, detail) => {
    await problem(await upload(admin, body), 400, 'HATAKE_E_IMAGERY_FILE', detail);
  });

  it.each([
    [
      'an unknown sensor profile',
      { profile: 'landsat-99' },
      'HATAKE_E_CONFIG',
      /unknown sensor profile "landsat-99"/,
    ],
    [
      'an unknown band role',
      { bands: 'red=3,swir=4' },
      'HATAKE_E_PAYLOAD_SCHEMA',
      /unknown band role "swir"/,
    ],
    [
      'a band the file does not have',
      { bands: 'red=3,nir=9' },
      'HATAKE_E_IMAGERY_BANDS',
      /band 9 for nir does not exist: the file has 5 bands/,
    ],
    ['a malformed band list', { bands: 'red:3' }, 'HATAKE_E_PAYLOAD_SCHEMA', /querystring\/bands/],
    [
      'an acquisition time that is not one',
      { acquired: 'last tuesday' },
      'HATAKE_E_PAYLOAD_SCHEMA',
      /querystring\/acquired/,
    ],
    [
      'a scene id that could be a path',
      { sceneId: '../../etc' },
      'HATAKE_E_PAYLOAD_SCHEMA',
      /querystring\/sceneId/,
    ],
    ['an offset that is not a number', { offset: '1e9' }, 'HATAKE_E_PAYLOAD_SCHEMA', /querystring\/offset/],
    ['an unknown parameter', { shell: 'rm -rf /' }, 'HATAKE_E_PAYLOAD_SCHEMA', /querystring/],
    [
      'an index with a profile of reflectance bands',
      { index: 'ndvi' },
      'HATAKE_E_CONFIG',
      /an index \("ndvi"\) is named, but profile s2-l2a reads reflectance bands/,
    ],
    [
      'profile index without an index',
      { profile: 'index', bands: undefined, offset: undefined },
      'HATAKE_E_CONFIG',
      /profile index needs the index the raster holds/,
    ],
    [
      'an index nobody knows',
      { profile: 'index', index: 'lai', bands: undefined, offset: undefined },
      'HATAKE_E_CONFIG',
      /unknown index "lai"/,
    ],
    [
      'band roles for an index raster',
      { profile: 'index', index: 'ndvi', offset: undefined },
      'HATAKE_E_CONFIG',
      /band roles were given for an index raster/,
    ],
    [
      'a band scene sent as an index raster (five bands, not one)',
      { profile: 'index', index: 'ndvi', bands: undefined, offset: undefined },
      'HATAKE_E_IMAGERY_BANDS',
      /an index raster has one band, this file has 5/,
    ],
    ['a malformed index', { index: 'NDVI;' }, 'HATAKE_E_PAYLOAD_SCHEMA', /querystring\/index/],
  ])('refuses %s with a coded problem', async (_name, over, code, detail) => {
    const query = Object.fromEntries(
      Object.entries({ ...DEMO_QUERY, ...over }).filter((e): e is [string, string] => e[1] !== undefined),
    );
    await problem(await upload(admin, tiff, query), 400, code, detail);
  });

  it('refuses an L2A scene whose radiometric offset nobody said', async () => {
    const { offset: _, ...noOffset } = DEMO_QUERY;
    await problem(await upload(admin, tiff, noOffset), 400, 'HATAKE_E_IMAGERY_RADIOMETRY');
  });

  it('refuses a body that is not sent as a TIFF', async () => {
    const json = await upload(
      admin,
      Buffer.from(JSON.stringify({ tiff: tiff.toString('base64') })),
      DEMO_QUERY,
      {
        type: 'application/json',
      },
    );
    await problem(json, 400, 'HATAKE_E_PAYLOAD_SCHEMA', /send the GeoTIFF as the body/);
    await problem(
      await upload(admin, tiff, DEMO_QUERY, { type: 'video/mp4' }),
      415,
      'HATAKE_E_PAYLOAD_SCHEMA',
    );
  });
});

describe('the upload limit', () => {
  const LIMIT = 100 * 1024;
  let dir: string;
  let server: HatakeServer;
  let url: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-scene-limit-'));
    // As `imagery: { maxSceneMB: … }` in server.yaml gives it.
    const file = join(dir, 'server.yaml');
    writeFileSync(file, `dataDir: ./server\nimagery: { maxSceneMB: ${LIMIT / 1024 / 1024} }\n`);
    server = await HatakeServer.create({
      ...loadServerConfig(file),
      host: '127.0.0.1',
      port: 0,
      logger: false,
    });
    await seedDemoUsers(server.ctx.auth);
    url = `http://127.0.0.1:${await server.listen()}`;
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a body announced larger than the limit before reading it, and one streamed past it', async () => {
    const admin = await signIn(url, 'admin');
    const big = Buffer.concat([tiff, Buffer.alloc(Math.max(0, LIMIT + 1 - tiff.length))]);
    expect(big.length).toBeGreaterThan(LIMIT);
    const announced = await upload(admin, big);
    expect(announced.status).toBe(413);
    expect((await announced.json()) as Problem).toMatchObject({
      code: 'HATAKE_E_PAYLOAD_SIZE',
      detail: `the scene is larger than the limit of ${LIMIT} bytes`,
    });
    // No content-length: counted while streaming, stopped at the limit.
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 4 * LIMIT) return c.close();
        const part = new Uint8Array(big.subarray(sent % big.length, (sent % big.length) + 16 * 1024));
        sent += part.length;
        c.enqueue(part);
      },
    });
    const streamed = await upload(admin, stream);
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as Problem).code).toBe('HATAKE_E_PAYLOAD_SIZE');
    expect(readdirSync(join(server.opts.dataDir, 'scenes'))).toEqual([]);
    expect(sceneDocs(server)).toEqual([]);
    // Within the limit, it is taken.
    const small = await upload(admin, tiff);
    expect(tiff.length).toBeLessThanOrEqual(LIMIT);
    expect(small.status).toBe(201);
  });
});

/** A little-endian TIFF whose one directory entry (BitsPerSample) claims 2^31 − 1 values. */
function hostileTiff(): Buffer {
  const b = Buffer.alloc(64);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4); // first directory at byte 8
  b.writeUInt16LE(1, 8); // one entry
  b.writeUInt16LE(258, 10); // BitsPerSample
  b.writeUInt16LE(3, 12); // SHORT
  b.writeUInt32LE(0x7fffffff, 14); // count
  b.writeUInt32LE(0, 18);
  b.writeUInt32LE(0, 22); // no next directory
  return b;
}

/** A TIFF whose directory names itself as the next one. */
function loopingTiff(): Buffer {
  const b = Buffer.alloc(64);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4);
  b.writeUInt16LE(1, 8);
  b.writeUInt16LE(256, 10); // ImageWidth
  b.writeUInt16LE(3, 12);
  b.writeUInt32LE(1, 14);
  b.writeUInt32LE(10, 18);
  b.writeUInt32LE(8, 22); // next directory: itself
  return b;
}
