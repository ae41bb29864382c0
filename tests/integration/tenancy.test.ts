// Tenancy, walked route by route: every route the OpenAPI document lists is called — with valid
// bodies, so the request reaches the tenancy check and is not stopped by validation — by nobody
// (no session) and by a farmer, a partner and an officer of another farm or region, against a
// server holding a demo farm full of data. Each answer must be 401 / 403 / 404, or a 2xx that
// holds none of the demo farm's data; and afterwards the demo farm's data is as it was.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ReviewDetail, TipView } from '../../protocol/review.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { irrigationTip, seedImagery, SeedGateway, wheatRecommendation } from '../e2e/seed.ts';
import { DEMO_QUERY } from '../helpers/route-walk.ts';

type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

let stack: Stack;
// No webhook is seeded (its target would have to be a public address); an unknown id still has to
// pass validation and meet the tenancy check.
const ids = {
  rec: '',
  tip: '',
  scene: '',
  automation: 'auto-probe-1',
  webhook: 'wh-0000000000000000',
  zone: '',
};
let openapi: {
  paths: Record<string, Record<string, { parameters?: { in: string; name: string; required?: boolean }[] }>>;
};
let downlinkBefore = 0;
const sessions: Record<string, Fetcher> = {};

/** Strings that only the demo farm's data contains. */
const markers = () =>
  ['demo-farm', 'upland-1', 'paddy-1', 'wx-1', 'soil-1', 'gw-test', ids.rec, ids.tip, ids.scene].filter(
    Boolean,
  );

const OTHER_MANIFEST: Manifest = {
  farm: { id: 'other-farm', name: 'Other farm', region: 'elsewhere', timezone: 'Asia/Tokyo' },
  fields: [],
  devices: [{ id: 'other-1', kit: 'hatake-weather-station' }],
};

/** Routes that answer a signed-in stranger with their own (empty) scope rather than an error. */
const OWN_SCOPE = new Set([
  'GET /api/v1/auth/me',
  'GET /api/v1/farms',
  'GET /api/v1/devices',
  'GET /api/v1/live',
  'GET /api/v1/gateways',
  'GET /api/v1/reviews',
  'GET /api/v1/reviews/decisions.csv',
  'GET /api/v1/recommendations',
  'GET /api/v1/tips',
  'GET /api/v1/automations',
  'GET /api/v1/webhooks',
  'GET /api/v1/overview',
  'GET /api/v1/kits',
  'POST /api/v1/auth/login',
]);
/** Public, not of any farm: the server's public key and its health check. */
const PUBLIC = new Set(['GET /api/v1/server-key', 'GET /healthz']);

function pathParam(route: string, name: string): string {
  switch (name) {
    case 'farm':
      return 'demo-farm';
    case 'field':
      return 'upland-1';
    case 'scene':
      return ids.scene;
    case 'device':
      return 'wx-1';
    case 'format':
      return 'csv';
    case 'sha256':
      return JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8')).sha256;
    case 'id':
      if (route.includes('/tips/')) return ids.tip;
      if (route.includes('/reviews/') || route.includes('/recommendations/')) return ids.rec;
      if (route.includes('/automations/')) return ids.automation;
      if (route.includes('/webhooks/')) return ids.webhook;
      if (route.includes('/gateways/')) return 'gw-test';
      break;
  }
  throw new Error(`tenancy walk: no value for path parameter "${name}" of ${route}; add one`);
}

const QUERY = DEMO_QUERY;

const automationBody = {
  name: { ja: '探り', en: 'probe' },
  enabled: false,
  trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.2 },
  action: { device: 'wx-1', command: 'open' },
  limits: { maxRunsPerDay: 1, maxOpenMinutes: 10 },
};
const tinyManifest = 'farm: { id: demo-farm, name: x }\nfields: []\ndevices: []\n';

/** A body that passes the route's schema, aimed at the demo farm. */
function bodyFor(key: string): { body?: string | Uint8Array<ArrayBuffer>; type?: string } {
  const json = (v: unknown) => ({ body: JSON.stringify(v), type: 'application/json' });
  switch (key) {
    case 'POST /api/v1/sync':
      return json({ gateway: 'gw-test', seqFrom: 1, seqTo: 1, sentAt: 0, items: [] });
    case 'POST /api/v1/auth/login':
      return json({ username: 'demo-farmer', password: 'not-the-password' });
    case 'POST /api/v1/gateways':
      return json({ id: 'gw-test', farm: 'demo-farm' });
    case 'POST /api/v1/farms/{farm}/models': {
      const card = JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8'));
      const onnx = readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.onnx')).toString('base64');
      return json({ card, onnx });
    }
    case 'PUT /api/v1/farms/{farm}/auto-approval':
      return json({ model: 'osu-sbnrc', maxKgNHa: 100 });
    case 'PUT /api/v1/farms/{farm}/gateway-config':
      return json({ retention: { rawDays: 30 } });
    case 'PUT /api/v1/farms/{farm}/fields/{field}/stage':
      // Today in Tokyo: a day the server takes for the demo paddy.
      return json({
        stage: 'tillering',
        date: new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10),
      });
    case 'POST /api/v1/reviews/{id}/edit':
      return json({ zones: [{ zone: ids.zone, kgNHa: 50 }], reason: 'tenancy probe' });
    case 'POST /api/v1/reviews/{id}/approve':
    case 'POST /api/v1/tips/{id}/act':
    case 'POST /api/v1/tips/{id}/dismiss':
    case 'POST /api/v1/tips/{id}/automate':
    case 'POST /api/v1/webhooks/{id}/ping':
    case 'POST /api/v1/auth/logout':
      return json({});
    case 'POST /api/v1/reviews/{id}/reject':
      return json({ reason: 'tenancy probe' });
    case 'POST /api/v1/automations':
      return json({ farm: 'demo-farm', ...automationBody });
    case 'PUT /api/v1/automations/{id}':
      return json({ ...automationBody, version: 1 });
    case 'PUT /api/v1/farms/{farm}/devices/{device}/override':
      return json({ mode: 'hold_closed', minutes: 10 });
    case 'POST /api/v1/webhooks':
      return json({ farm: 'demo-farm', url: 'http://127.0.0.1:9/hook', events: ['ping'] });
    case 'POST /api/v1/farms/{farm}/manifest/check':
      return json({ text: tinyManifest });
    case 'POST /api/v1/farms/{farm}/provision':
      return json({ text: tinyManifest, broker: { host: '127.0.0.1' } });
    case 'PUT /api/v1/sync/imagery/{scene}/file':
      return {
        body: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(24).fill(0)]),
        type: 'image/png',
      };
  }
  return {};
}

/** Reads a response; an endless stream (SSE) is read for a moment while a demo reading goes out. */
async function readAll(res: Response, sse: boolean): Promise<string> {
  if (!sse || !res.body)
    return Buffer.from(await res.arrayBuffer()).toString('latin1') + (await Promise.resolve(''));
  const reader = res.body.getReader();
  let text = '';
  const end = Date.now() + 600;
  stack.server!.ctx.live.emit('reading', {
    farm: 'demo-farm',
    device: 'wx-1',
    metric: 'air_temperature',
    value: 1,
    unit: 'degC',
    time: new Date().toISOString(),
    flags: [],
  });
  while (Date.now() < end) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<null>((r) => setTimeout(() => r(null), 200)),
    ]);
    if (chunk && !chunk.done) text += Buffer.from(chunk.value).toString('utf8');
    if (chunk?.done) break;
    stack.server!.ctx.live.emit('downlink', { farm: 'demo-farm', version: 999 });
  }
  await reader.cancel();
  return text;
}

interface Probe {
  key: string;
  status: number;
  leaked: string[];
}

async function walk(who: Fetcher, signedIn: boolean): Promise<Probe[]> {
  const out: Probe[] = [];
  const routes = Object.entries(openapi.paths).flatMap(([route, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ route, method: method.toUpperCase(), op })),
  );
  for (const { route, method, op } of routes) {
    const key = `${method} ${route}`;
    if (key === 'POST /api/v1/auth/logout') continue; // walked last, with a session of its own
    if (signedIn && key === 'POST /api/v1/auth/login') continue; // the same for everyone; rate-limited
    let path = route.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(pathParam(route, name)));
    const query = new URLSearchParams();
    for (const p of op.parameters ?? [])
      if (p.in === 'query' && QUERY[p.name] !== undefined) query.set(p.name, QUERY[p.name]!);
    if ([...query.keys()].length) path += `?${query}`;
    const { body, type } = method === 'GET' || method === 'DELETE' ? {} : bodyFor(key);
    const res = await who(path, { method, body, headers: type ? { 'content-type': type } : {} });
    const text = await readAll(res, (res.headers.get('content-type') ?? '').includes('text/event-stream'));
    // An error that repeats the id the caller sent reveals nothing; anything else of the demo farm does.
    const sent = `${path} ${typeof body === 'string' ? body : ''}`;
    out.push({
      key,
      status: res.status,
      leaked: markers().filter((m) => text.includes(m) && !sent.includes(m)),
    });
  }
  return out;
}

/** The verdict on one probe: undefined when it is fine, else why not. */
function verdict(p: Probe, signedIn: boolean): string | undefined {
  if (p.status === 400 || p.status === 415)
    return `${p.key}: ${p.status} — the example request did not pass validation; fix it so tenancy is tested`;
  if (p.leaked.length) return `${p.key}: ${p.status} with demo-farm data (${p.leaked.join(', ')})`;
  if ([401, 403, 404].includes(p.status)) return undefined;
  if (p.status >= 200 && p.status < 300 && (PUBLIC.has(p.key) || (signedIn && OWN_SCOPE.has(p.key))))
    return undefined;
  return `${p.key}: ${p.status}, expected 401, 403 or 404`;
}

const anonymous: Fetcher = (path, init = {}) => fetch(`${stack.httpUrl}${path}`, init);

beforeAll(async () => {
  stack = await startStack();
  const { server } = stack;
  await server!.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['other-farm'] });
  await server!.ctx.auth.createUser('other-partner', 'other-password-1', 'partner', {
    farms: ['other-farm'],
  });
  await server!.ctx.auth.createUser('other-officer', 'other-password-1', 'officer', {
    regions: ['elsewhere'],
  });
  // Sessions are opened once: login is rate-limited per address.
  for (const u of ['demo-farmer', 'demo-partner', 'demo-officer'])
    sessions[u] = await signIn(stack.httpUrl, u);
  for (const u of ['other-farmer', 'other-partner', 'other-officer'])
    sessions[u] = await signIn(stack.httpUrl, u, 'other-password-1');
  const farmer = sessions['demo-farmer']!;
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  // The demo farm, full of data.
  const gw = new SeedGateway(server!, stack.httpUrl, 'demo-farm');
  const scene = await seedImagery(gw, demoManifest());
  ids.scene = scene.sceneId;
  const tip = irrigationTip('demo-farm', 'upland-1', 'soil-1');
  ids.tip = tip.id;
  const rec = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired);
  ids.rec = rec.id;
  ids.zone = rec.zones[0]!.id;
  await gw.send([
    { kind: 'tip', body: tip },
    { kind: 'recommendation', body: rec },
  ]);
  const partner = sessions['demo-partner']!;
  const prov = await partner('/api/v1/farms/demo-farm/provision', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      text: readFileSync(join(import.meta.dirname, '../../sim/demo-farm.yaml'), 'utf8'),
      broker: { host: '127.0.0.1' },
    }),
  });
  expect(prov.status).toBe(200);
  // The other farm exists too, with its own gateway.
  await new SeedGateway(server!, stack.httpUrl, 'other-farm', 'gw-other').send([
    { kind: 'manifest', body: OTHER_MANIFEST },
  ]);
  downlinkBefore = server!.ctx.downlink.since('demo-farm', 0, 100_000).length;
  openapi = (await (await fetch(`${stack.httpUrl}/docs/json`)).json()) as typeof openapi;
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('tenancy of every route in the OpenAPI document', () => {
  it('lists the routes of every part of the API', () => {
    const keys = Object.entries(openapi.paths).flatMap(([r, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${r}`),
    );
    expect(keys.length).toBeGreaterThan(40);
    for (const k of [
      'GET /api/v1/farms/{farm}/fields/{field}',
      'POST /api/v1/farms/{farm}/provision',
      'GET /api/v1/reviews/{id}',
      'POST /api/v1/tips/{id}/act',
      'PUT /api/v1/sync/imagery/{scene}/file',
    ])
      expect(keys).toContain(k);
  });

  it('answers nobody with 401 (or public reference data), never data', async () => {
    const bad = (await walk(anonymous, false)).map((p) => verdict(p, false)).filter(Boolean);
    expect(bad).toEqual([]);
  });

  for (const user of ['other-farmer', 'other-partner', 'other-officer']) {
    it(`answers ${user} with 401 / 403 / 404 or their own empty scope, never the demo farm's data`, async () => {
      const who = sessions[user]!;
      const probes = await walk(who, true);
      expect(probes.map((p) => verdict(p, true)).filter(Boolean)).toEqual([]);
      // Signing out ends only their own session.
      const logout = await who('/api/v1/auth/logout', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(logout.status).toBe(204);
    });
  }

  it('leaves the demo farm as it was', async () => {
    const farmer = sessions['demo-farmer']!;
    const officer = sessions['demo-officer']!;
    const tip = (await (await farmer(`/api/v1/tips/${ids.tip}`)).json()) as TipView;
    expect(tip.state).toBe('open');
    const review = (await (await officer(`/api/v1/reviews/${ids.rec}`)).json()) as ReviewDetail;
    expect(review.status).toBe('pending_review');
    expect(review.zones.every((z) => z.edited === null)).toBe(true);
    expect((await (await farmer('/api/v1/automations?farm=demo-farm')).json()) as unknown[]).toEqual([]);
    expect(stack.server!.ctx.downlink.since('demo-farm', 0, 100_000).length).toBe(downlinkBefore);
    const gw = stack.server!.ctx.db.prepare('SELECT revoked FROM gateways WHERE id = ?').get('gw-test') as {
      revoked: number | null;
    };
    expect(gw.revoked).toBeNull();
    expect(stack.server!.ctx.auth.gateway(stack.gatewayToken)).toEqual({ id: 'gw-test', farm: 'demo-farm' });
  });
});
