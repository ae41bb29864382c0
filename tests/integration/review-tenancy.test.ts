// Every route of the review feature (review, recommendations, tips, automations, webhooks — taken
// from the OpenAPI document, so a new route cannot slip past) refuses a caller without a session
// (401), refuses a state change without the CSRF token (403, nothing changes), and gives a user
// of another farm or region a 403/404 — never the data — while the farm's own users get through.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Tip } from '../../protocol/tip.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';
import { DEMO_AUTOMATION } from '../helpers/route-walk.ts';
import { paddyWaterTip as waterTip } from '../helpers/tip.ts';

const TAGS = ['review', 'recommendations', 'tips', 'automations', 'webhooks'];
let server: HatakeServer;
let url: string;
let dir: string;
type Fetch = Awaited<ReturnType<typeof signIn>>;
const users: Record<string, Fetch> = {};
const ids: Record<string, string> = {};
let routes: { method: string; path: string }[] = [];

const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

async function recommendation(now: number) {
  const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
  const pool = await InferencePool.start({ size: 1 });
  try {
    await pool.load(reg.load('rice-pi-topdress-ndvi@1.1.0'));
    return await recommend(pool, {
      farm: 'demo-farm',
      field: 'paddy-1',
      card: reg.entry('rice-pi-topdress-ndvi').card,
      profile: reg.profile('rice-shinnosuke-niigata'),
      zones: {
        type: 'FeatureCollection',
        features: [0.7, 0.8].map((ndvi, k) => ({
          type: 'Feature',
          id: `z${k + 1}`,
          geometry: {
            type: 'MultiPolygon',
            coordinates: [[ring(138.9 + k * 0.0004, 37.8, 138.9004 + k * 0.0004, 37.8003)]],
          },
          properties: {
            sceneId: 'S2B',
            acquired: new Date(now - 86_400_000).toISOString(),
            zone: k + 1,
            areaHa: 0.1,
            validFraction: 1,
            indices: { ndvi: { mean: ndvi } },
            attributes: { plant_height_cm: 64, stems_per_m2: 400 },
          },
        })),
      },
      now,
      by: 'gateway gw-1',
    });
  } finally {
    await pool.close();
  }
}

const tip = (id: string, now: number): Tip =>
  waterTip({ id, now, dedupKey: `paddy_water:demo-farm:paddy-1:${id}` });

/** A path with concrete ids of the demo farm's things. */
function concrete(path: string): string {
  const family = path.split('/')[3]!;
  const id =
    family === 'reviews' || family === 'recommendations'
      ? path.includes('{id}/prescription') || family === 'recommendations'
        ? ids.approved
        : ids.pending
      : family === 'tips'
        ? ids.tip
        : family === 'automations'
          ? ids.automation
          : ids.webhook;
  return path
    .replace('{id}', id!)
    .replace('{farm}', 'demo-farm')
    .replace('{device}', 'gate-1')
    .replace('{format}', 'csv');
}

/** A body the route would accept from the right user, so a refusal is about who asks. */
function bodyFor(method: string, path: string): unknown {
  const key = `${method} ${path}`;
  const automation = DEMO_AUTOMATION;
  const bodies: Record<string, unknown> = {
    'POST /api/v1/reviews/{id}/edit': { zones: [{ zone: 'z1', kgNHa: 12 }], reason: 'tenancy check' },
    'POST /api/v1/reviews/{id}/approve': {},
    'POST /api/v1/reviews/{id}/reject': { reason: 'tenancy check' },
    'PUT /api/v1/farms/{farm}/auto-approval': { model: 'rice-pi-topdress-ndvi', maxKgNHa: 10 },
    'POST /api/v1/tips/{id}/automate': {},
    'POST /api/v1/automations': { farm: 'demo-farm', ...automation },
    'PUT /api/v1/automations/{id}': { ...automation, version: 1 },
    'PUT /api/v1/farms/{farm}/devices/{device}/override': { mode: 'pause', minutes: 5 },
    'POST /api/v1/webhooks': {
      farm: 'demo-farm',
      url: 'https://hooks.example.com/in',
      events: ['tip.created'],
    },
  };
  return bodies[key];
}

async function call(
  f: Fetch | undefined,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const init: RequestInit = {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
  return f ? f(concrete(path), init) : fetch(`${url}${concrete(path)}`, init);
}

/** Everything the demo farm's users could change, to prove a refused call changed nothing. */
function snapshot(): string {
  const db = server.ctx.db;
  return JSON.stringify([
    db.prepare('SELECT farm, id, status, revision FROM review_recommendations ORDER BY id').all(),
    db.prepare('SELECT COUNT(*) AS n FROM review_audit').get(),
    db.prepare('SELECT * FROM review_auto_approval').all(),
    db.prepare('SELECT id, state FROM tips ORDER BY id').all(),
    db.prepare('SELECT id, version, deleted FROM automations ORDER BY id').all(),
    db.prepare('SELECT * FROM device_overrides').all(),
    db.prepare('SELECT id, deleted FROM webhooks ORDER BY id').all(),
    db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get(),
    db.prepare('SELECT MAX(version) AS v FROM downlink').get(),
  ]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-review-tenancy-'));
  ({ server, url } = await startServer(dir));
  const token = server.ctx.auth.issueGatewayToken('gw-1', 'demo-farm');
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['hok-farm'] });
  await server.ctx.auth.createUser('other-officer', 'other-password-1', 'officer', { regions: ['hokkaido'] });
  await server.ctx.auth.createUser('other-partner', 'other-password-1', 'partner', { farms: ['hok-farm'] });
  const m: Manifest = demoManifest();
  m.devices.push({ id: 'gate-1', kit: 'hatake-water-gate', field: 'paddy-1' });
  const now = Date.now();
  const pending = await recommendation(now);
  const approved = await recommendation(now - 1000);
  approved.field = 'upland-1'; // another field, so the two do not supersede each other
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      gateway: 'gw-1',
      seqFrom: 1,
      seqTo: 4,
      sentAt: now,
      items: [
        { seq: 1, kind: 'manifest', body: m },
        { seq: 2, kind: 'recommendation', body: pending },
        { seq: 3, kind: 'recommendation', body: approved },
        { seq: 4, kind: 'tip', body: tip('tip-tenancy-1', now) },
      ],
    }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  for (const [name, pw] of [
    ['demo-farmer', undefined],
    ['demo-officer', undefined],
    ['demo-partner', undefined],
    ['admin', undefined],
    ['other-farmer', 'other-password-1'],
    ['other-officer', 'other-password-1'],
    ['other-partner', 'other-password-1'],
  ] as const)
    users[name] = await signIn(url, name, pw);
  ids.pending = pending.id;
  ids.approved = approved.id;
  ids.tip = 'tip-tenancy-1';
  const ok = async (r: Response | Promise<Response>, status = 200) => {
    const x = await r;
    expect(x.status, await x.clone().text()).toBe(status);
    return x.json() as Promise<{ id: string }>;
  };
  await ok(
    users['demo-officer']!(`/api/v1/reviews/${approved.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    }),
  );
  ids.automation = (
    await ok(
      users['demo-farmer']!('/api/v1/automations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bodyFor('POST', '/api/v1/automations')),
      }),
      201,
    )
  ).id;
  ids.webhook = (
    await ok(
      users['demo-farmer']!('/api/v1/webhooks', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bodyFor('POST', '/api/v1/webhooks')),
      }),
      201,
    )
  ).id;
  const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
    paths: Record<string, Record<string, { tags?: string[] }>>;
  };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => op.tags?.some((t) => TAGS.includes(t)))
      .map(([method]) => ({ method: method.toUpperCase(), path })),
  );
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const changing = (m: string) => m !== 'GET' && m !== 'HEAD';

describe('tenancy of every review, tip, automation and webhook route', () => {
  it('finds every route in the OpenAPI document', () => {
    expect(routes.length).toBeGreaterThanOrEqual(28);
    const needsBody = (r: { method: string; path: string }) =>
      changing(r.method) && r.method !== 'DELETE' && !/\/(act|dismiss|ping)$/.test(r.path);
    for (const r of routes.filter(needsBody))
      expect(bodyFor(r.method, r.path), `${r.method} ${r.path}`).toBeDefined();
  });

  it('refuses every route without a session with 401, before reading the body', async () => {
    const before = snapshot();
    for (const r of routes) {
      const res = await call(undefined, r.method, r.path, changing(r.method) ? { junk: true } : undefined);
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect((await res.json()).code).toBe('HATAKE_E_AUTH');
    }
    expect(snapshot()).toBe(before);
  });

  it('refuses every state-changing route without the CSRF token, and nothing changes', async () => {
    const before = snapshot();
    for (const r of routes.filter((x) => changing(x.method))) {
      for (const who of ['demo-farmer', 'demo-officer', 'admin']) {
        const res = await call(users[who], r.method, r.path, bodyFor(r.method, r.path), {
          'x-csrf-token': 'wrong',
        });
        expect(res.status, `${who} ${r.method} ${r.path}`).toBe(403);
        expect((await res.json()).detail).toMatch(/CSRF/);
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('gives users of another farm or region 403/404 on every route that names the farm’s things, and no data in lists', async () => {
    const before = snapshot();
    for (const who of ['other-farmer', 'other-officer', 'other-partner']) {
      for (const r of routes) {
        const res = await call(users[who], r.method, r.path, bodyFor(r.method, r.path));
        const text = await res.text();
        const where = `${who} ${r.method} ${r.path} → ${res.status} ${text.slice(0, 200)}`;
        if (r.path.endsWith('decisions.csv')) {
          // officers get their own region's decisions; farmers and partners are refused
          if (res.status === 200) expect(text, where).not.toContain('demo-farm');
          else expect(res.status, where).toBe(403);
          continue;
        }
        if (res.status === 200 && r.method === 'GET' && !/\{/.test(r.path)) {
          expect(JSON.parse(text), where).toEqual([]); // a list: theirs only, and they have none
          continue;
        }
        expect([403, 404], where).toContain(res.status);
        expect(text, where).not.toContain('"zones"');
        expect(text, where).not.toContain('paddy-1');
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('lets the farm’s own users through where their role allows', async () => {
    const get = async (who: string, path: string) => (await users[who]!(path)).status;
    expect(await get('demo-farmer', `/api/v1/recommendations/${ids.approved}`)).toBe(200);
    expect(await get('demo-farmer', `/api/v1/recommendations/${ids.approved}/prescription/geojson`)).toBe(
      200,
    );
    expect(await get('demo-farmer', `/api/v1/recommendations/${ids.pending}`)).toBe(404);
    expect(await get('demo-officer', `/api/v1/reviews/${ids.pending}`)).toBe(200);
    expect(await get('admin', `/api/v1/reviews/${ids.pending}`)).toBe(200);
    expect(await get('demo-partner', `/api/v1/reviews/${ids.pending}`)).toBe(403);
    expect(await get('demo-partner', `/api/v1/recommendations/${ids.approved}`)).toBe(403);
    expect(await get('demo-partner', `/api/v1/tips/${ids.tip}`)).toBe(200);
    expect(await get('demo-partner', `/api/v1/automations/${ids.automation}`)).toBe(200);
    expect(await get('demo-partner', `/api/v1/webhooks/${ids.webhook}/deliveries`)).toBe(404);
    expect(await get('demo-farmer', `/api/v1/webhooks/${ids.webhook}/deliveries`)).toBe(200);
  });
});
