// One scene of a field by its id, over real HTTP against a server with a real SQLite file. The
// officer's review shows the scene a recommendation was computed from, which may be older than the
// newest 50 the field detail lists: that scene answers in the detail's own shape, with statistics
// and zones, and its heatmap marked unavailable once the farm's newer scenes have pushed its PNGs
// out. A scene not held for the field is 404, a user of another farm gets 404 with nothing of the
// farm in it, and a hostile scene id is refused with 400 — each as problem+json with a code.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldDetail, FieldScene } from '../../protocol/views.ts';
import type { ImageryResult } from '../../protocol/sync.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { DEMO_PASSWORD } from '../../dashboard/demo.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';
import { seedImagery, SeedGateway } from '../e2e/seed.ts';

type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

const DAY = 86_400_000;
const NEWER = 60; // more than the detail's 50, and enough to push the oldest scene's PNGs out
const OTHER_PASSWORD = 'other-password-1';
const isoAt = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

let dir: string;
let server: HatakeServer;
let url: string;
let gw: SeedGateway;
let old: ImageryResult;
const newer: string[] = [];
const users: Record<string, Fetcher> = {};
const json = async <T>(r: Response): Promise<T> => (await r.json()) as T;
const sceneUrl = (scene: string, field = 'upland-1', farm = 'demo-farm') =>
  `/api/v1/farms/${farm}/fields/${field}/scenes/${scene}`;

/** The processed result of `base` as another scene: its id and acquisition time, and `fields` only. */
function sceneLike(base: ImageryResult, sceneId: string, acquired: string, fields?: string[]): ImageryResult {
  const s = structuredClone(base);
  s.sceneId = sceneId;
  s.acquired = acquired;
  s.stats.scene.acquired = acquired;
  if (fields) {
    s.stats.fields = Object.fromEntries(Object.entries(s.stats.fields).filter(([f]) => fields.includes(f)));
    s.zones.features = s.zones.features.filter((z) => fields.includes(z.properties.fieldId));
  }
  for (const z of s.zones.features) z.properties = { ...z.properties, sceneId, acquired };
  return s;
}

/** The session cookie of a sign-in (for requests fetch would not send as written). */
async function sessionCookie(username: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: DEMO_PASSWORD }),
  });
  expect(res.status).toBe(200);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

/** A GET with its path sent as written: fetch would resolve `..` and `%2E%2E` segments first. */
function rawGet(path: string, cookie: string): Promise<{ status: number; type: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, headers: { cookie } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A file the server takes for a PNG (its signature and enough bytes). */
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(40).fill(3)]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-scene-'));
  ({ server, url } = await startServer(dir));
  await server.ctx.auth.createUser('other-farmer', OTHER_PASSWORD, 'farmer', { farms: ['other-farm'] });
  await server.ctx.auth.createUser('other-partner', OTHER_PASSWORD, 'partner', { farms: ['other-farm'] });
  await server.ctx.auth.createUser('other-officer', OTHER_PASSWORD, 'officer', { regions: ['elsewhere'] });
  for (const u of ['demo-farmer', 'demo-officer', 'demo-partner', 'admin']) users[u] = await signIn(url, u);
  for (const u of ['other-farmer', 'other-partner', 'other-officer'])
    users[u] = await signIn(url, u, OTHER_PASSWORD);
  gw = new SeedGateway(server, url, 'demo-farm');
  await gw.send([{ kind: 'manifest', body: demoManifest() }]);
  // The oldest scene, processed by edge/imagery and synced with its PNGs as a gateway does.
  const t0 = Date.now() - 200 * DAY;
  old = await seedImagery(gw, demoManifest(), isoAt(t0));
  // Sixty newer scenes, a day apart, through the same sync applier.
  const bodies = Array.from({ length: NEWER }, (_, i) =>
    sceneLike(old, `demo-s2-newer-${String(i).padStart(2, '0')}`, isoAt(t0 + (i + 1) * DAY)),
  );
  newer.push(...bodies.map((b) => b.sceneId));
  for (let i = 0; i < bodies.length; i += 20)
    await gw.send(bodies.slice(i, i + 20).map((body) => ({ kind: 'imagery' as const, body })));
  // And one of paddy-1 only.
  await gw.send([
    { kind: 'imagery', body: sceneLike(old, 'demo-s2-paddy-only', isoAt(t0 + DAY / 2), ['paddy-1']) },
  ]);
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('one scene of a field', () => {
  it('answers a scene older than the newest 50 in the shape of the field detail’s scenes', async () => {
    const farmer = users['demo-farmer']!;
    const detail = await json<FieldDetail>(await farmer('/api/v1/farms/demo-farm/fields/upland-1'));
    expect(detail.scenes).toHaveLength(50);
    expect(detail.scenes.map((s) => s.sceneId)).not.toContain(old.sceneId);

    const res = await farmer(sceneUrl(old.sceneId));
    expect(res.status).toBe(200);
    const scene = await json<FieldScene>(res);
    const stats = old.stats.fields['upland-1']!;
    expect(scene).toMatchObject({
      sceneId: old.sceneId,
      acquired: new Date(old.acquired).toISOString(),
      areaHa: stats.areaHa,
      validFraction: stats.validFraction,
      zoneCount: stats.zones,
      indices: stats.indices,
    });
    expect(scene.maps.map((m) => m.index).sort()).toEqual(Object.keys(stats.maps).sort());
    // Its heatmap is still held: available, and served.
    const ndvi = scene.maps.find((m) => m.index === 'ndvi')!;
    expect(ndvi.available).toBe(true);
    expect(ndvi.bounds).toEqual(stats.maps.ndvi!.bounds);
    const file = await farmer(ndvi.url);
    expect(file.status).toBe(200);
    expect(
      Buffer.from(await file.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    // Its zones are held too.
    const zones = await json<{ features: unknown[] }>(await farmer(`${sceneUrl(old.sceneId)}/zones`));
    expect(zones.features).toHaveLength(stats.zones);

    // A scene the detail does list answers exactly as its element there.
    for (const listed of [detail.scenes[0]!, detail.scenes[49]!])
      expect(await json<FieldScene>(await farmer(sceneUrl(listed.sceneId)))).toEqual(listed);
  });

  it('marks the heatmap unavailable once newer scenes pushed its PNGs out, and keeps the statistics', async () => {
    const farmer = users['demo-farmer']!;
    // The gateway uploads a heatmap for each of the 60 newer scenes: the farm keeps 60 scenes' maps.
    for (const id of newer) await gw.upload(id, 'maps/upland-1/ndvi.png', png);
    const scene = await json<FieldScene>(await farmer(sceneUrl(old.sceneId)));
    expect(scene.maps.length).toBeGreaterThan(0);
    expect(scene.maps.every((m) => !m.available)).toBe(true);
    expect(scene.indices).toEqual(old.stats.fields['upland-1']!.indices);
    const ndvi = scene.maps.find((m) => m.index === 'ndvi')!;
    // Neither the heatmap nor its legend is there to show (the page must not draw broken images).
    expect((await farmer(ndvi.url)).status).toBe(404);
    expect((await farmer(ndvi.legendUrl)).status).toBe(404);
    // The newest scene's upload is held and said so.
    const newest = await json<FieldScene>(await farmer(sceneUrl(newer.at(-1)!)));
    expect(newest.maps.find((m) => m.index === 'ndvi')!.available).toBe(true);
  });

  it('answers a scene not held for the field with 404 problem+json', async () => {
    const farmer = users['demo-farmer']!;
    for (const path of [
      sceneUrl('demo-s2-never-received'),
      sceneUrl('demo-s2-paddy-only'), // held for the farm, but of paddy-1 only
      sceneUrl(old.sceneId, 'no-such-field'),
    ]) {
      const res = await farmer(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect((await json<{ code: string }>(res)).code).toBe('HATAKE_E_NOT_FOUND');
    }
    expect((await farmer(sceneUrl('demo-s2-paddy-only', 'paddy-1'))).status).toBe(200);
  });

  it('serves the farm’s farmer, partner, the region’s officer and the admin; nobody else', async () => {
    for (const u of ['demo-farmer', 'demo-officer', 'demo-partner', 'admin']) {
      const res = await users[u]!(sceneUrl(old.sceneId));
      expect(res.status, u).toBe(200);
      expect((await json<FieldScene>(res)).sceneId).toBe(old.sceneId);
    }
    for (const u of ['other-farmer', 'other-partner', 'other-officer']) {
      const res = await users[u]!(sceneUrl(old.sceneId));
      expect([403, 404], u).toContain(res.status);
      const body = await res.text();
      expect(JSON.parse(body).code).toMatch(/^HATAKE_E_(NOT_FOUND|FORBIDDEN)$/);
      // Nothing of the farm beyond the ids the caller sent.
      expect(body).not.toContain('upland-1');
      expect(body).not.toContain(old.sceneId);
    }
    const anonymous = await fetch(`${url}${sceneUrl(old.sceneId)}`);
    expect(anonymous.status).toBe(401);
    expect((await json<{ code: string }>(anonymous)).code).toBe('HATAKE_E_AUTH');
  });

  it('refuses hostile scene ids with 400 problem+json', async () => {
    const cookie = await sessionCookie('demo-farmer');
    for (const scene of [
      '..',
      '%2E%2E',
      '..%2F..%2Fserver.db',
      '.hidden',
      'a%00b',
      'a%20b',
      '%3Cscript%3E',
      '%E0%A4%A', // malformed %-encoding
    ]) {
      const res = await rawGet(sceneUrl(scene), cookie);
      expect(res.status, scene).toBe(400);
      expect(res.type).toContain('application/problem+json');
      expect((JSON.parse(res.body) as { code: string }).code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    }
    const farmer = users['demo-farmer']!;
    // An id over the schema's 200 characters is refused by it; one past the router's limit on a
    // path parameter (256, dashboard/server.ts) never reaches the route at all.
    const over = await farmer(sceneUrl('x'.repeat(201)));
    expect(over.status).toBe(400);
    expect(await json<{ code: string }>(over)).toMatchObject({ code: 'HATAKE_E_PAYLOAD_SCHEMA' });
    const huge = await farmer(sceneUrl('x'.repeat(1000)));
    expect(huge.status).toBe(404);
    expect(huge.headers.get('content-type')).toContain('application/problem+json');
    expect(await json<{ code: string; detail: string }>(huge)).toMatchObject({
      code: 'HATAKE_E_NOT_FOUND',
      detail: expect.stringMatching(/^no route GET /),
    });
    // An id of 200 characters does reach it (and is simply not held).
    const longest = await json<{ detail: string }>(await farmer(sceneUrl('x'.repeat(200))));
    expect(longest.detail).toBe('no such scene for this field');
    // A gateway cannot store a scene under an id no route could name (a path, a space).
    for (const sceneId of ['../../server', 'a b', 'x'.repeat(201)])
      await expect(
        gw.send([{ kind: 'imagery', body: sceneLike(old, sceneId, isoAt(Date.now()), ['upland-1']) }]),
      ).rejects.toThrow(
        /sync refused: 400 .*HATAKE_E_PAYLOAD_SCHEMA.*body\/items\/0\/body\/sceneId must match pattern/,
      );
    // A hostile farm or field id is refused the same way.
    expect((await farmer(sceneUrl(old.sceneId, 'UPLAND'))).status).toBe(400);
    expect((await farmer(sceneUrl(old.sceneId, 'upland-1', 'demo..farm'))).status).toBe(400);
  });

  it('is in the OpenAPI document (which the tenancy walk calls every route of), with its answers', async () => {
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string }[]; responses: object }>>;
    };
    const op = doc.paths['/api/v1/farms/{farm}/fields/{field}/scenes/{scene}']?.get;
    expect(op?.parameters?.map((p) => p.name).sort()).toEqual(['farm', 'field', 'scene']);
    expect(Object.keys(op?.responses ?? {}).sort()).toEqual(['200', '400', '401', '403', '404']);
  });
});
