// Authentication on every route of the OpenAPI document, with credentials of the wrong kind: a
// gateway's bearer token (or any token) where a person's session is required, a person's session
// where a gateway's token is required, revoked and look-alike tokens, tokens in the wrong header.
// Each request is one the route would accept from the right caller (so validation is not what
// stops it); the answer must be 401 problem+json with HATAKE_E_AUTH and nothing may change. The
// public routes are exactly /healthz, /docs*, /api/v1/auth/login, /api/v1/server-key and the UI.
// Also: a gateway of another farm gets nothing of this farm through the gateway routes.
// (tests/integration/tenancy.test.ts and review-tenancy.test.ts cover users of other farms.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signIn } from '../helpers/stack.ts';
import { seededServer, type SeededServer } from '../helpers/hostile-seed.ts';
import {
  operations,
  problemVerdict,
  rawRequest,
  type OpenApiDocument,
  type Operation,
} from '../helpers/hostile-http.ts';
import { StoreWatch } from '../helpers/hostile-stores.ts';
import { SeedGateway } from '../e2e/seed.ts';
import { DEMO_MANIFEST_FILE } from '../helpers/stack.ts';
import { DEMO_AUTOMATION, DEMO_QUERY } from '../helpers/route-walk.ts';

let seeded: SeededServer;
let ops: Operation[] = [];
let admin = { cookie: '', csrf: '' };
let loggedOut = { cookie: '', csrf: '' };
let revokedGatewayToken = '';
let other: SeedGateway;

const PUBLIC = new Set(['POST /api/v1/auth/login', 'GET /api/v1/server-key', 'GET /healthz']);

async function session(username: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${seeded.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'hatake-demo' }),
  });
  expect(res.status).toBe(200);
  return {
    cookie: res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; '),
    csrf: ((await res.json()) as { csrf: string }).csrf,
  };
}

beforeAll(async () => {
  seeded = await seededServer();
  admin = await session('admin');
  loggedOut = await session('demo-farmer');
  const out = await fetch(`${seeded.url}/api/v1/auth/logout`, {
    method: 'POST',
    headers: { cookie: loggedOut.cookie, 'x-csrf-token': loggedOut.csrf, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(out.status).toBe(204);
  revokedGatewayToken = seeded.server.ctx.auth.issueGatewayToken('gw-revoked', 'demo-farm');
  seeded.server.ctx.auth.revokeGateway('gw-revoked');
  other = new SeedGateway(seeded.server, seeded.url, 'other-farm', 'gw-other-farm');
  await other.send([
    {
      kind: 'manifest',
      body: {
        farm: { id: 'other-farm', name: 'Other' },
        fields: [],
        devices: [{ id: 'wx-9', kit: 'hatake-weather-station' }],
      },
    },
  ]);
  ops = operations((await (await fetch(`${seeded.url}/docs/json`)).json()) as OpenApiDocument);
}, 120_000);
afterAll(async () => {
  await seeded?.close();
});

/** A request the route accepts from the right caller: real ids of the demo farm, a valid body. */
function example(op: Operation): { path: string; body?: Buffer; type?: string } {
  const { ids } = seeded;
  const param = (name: string): string => {
    const byName: Record<string, string> = {
      farm: 'demo-farm',
      field: 'upland-1',
      device: 'gate-1',
      scene: ids.scene,
      format: 'geojson',
      sha256: 'a'.repeat(64),
      name: 'demo-farmer',
    };
    if (name === 'id') {
      if (op.route.includes('/tips/')) return ids.tip;
      if (op.route.includes('/reviews/') || op.route.includes('/recommendations/')) return ids.rec;
      if (op.route.includes('/automations/')) return ids.automation;
      if (op.route.includes('/gateways/')) return 'gw-seed';
      return 'wh-0000000000000000';
    }
    if (byName[name] === undefined)
      throw new Error(`auth walk: no example for {${name}} of ${op.key}; add one`);
    return byName[name]!;
  };
  let path = op.route.replace(/\{(\w+)\}/g, (_m, n: string) => encodeURIComponent(param(n)));
  const query = DEMO_QUERY;
  const qs = new URLSearchParams();
  for (const p of op.queryParams) if (p.required && query[p.name]) qs.set(p.name, query[p.name]!);
  if ([...qs.keys()].length) path += `?${qs}`;
  const automation = DEMO_AUTOMATION;
  const bodies: Record<string, unknown> = {
    'POST /api/v1/sync': {
      gateway: 'gw-seed',
      seqFrom: 1000,
      seqTo: 1000,
      sentAt: Date.now(),
      items: [
        {
          seq: 1000,
          kind: 'reading',
          body: {
            device: 'wx-1',
            metric: 'air_temperature',
            value: 1,
            unit: 'degC',
            time: 1_700_000_000_000,
            flags: [],
          },
        },
      ],
    },
    'POST /api/v1/auth/logout': {},
    'POST /api/v1/auth/password': { current: 'hatake-demo', password: 'auth-walk-password' },
    'POST /api/v1/admin/users': { name: 'auth-walk', password: 'auth-walk-password', role: 'farmer' },
    'PUT /api/v1/admin/users/{name}/password': { password: 'auth-walk-password' },
    'PUT /api/v1/admin/users/{name}/disabled': { disabled: true },
    'POST /api/v1/gateways': { id: 'gw-new', farm: 'demo-farm' },
    'POST /api/v1/farms/{farm}/models': {
      card: JSON.parse(
        readFileSync(join(import.meta.dirname, '../../models/artifacts/osu-sbnrc@1.0.0.card.json'), 'utf8'),
      ),
      onnx: readFileSync(join(import.meta.dirname, '../../models/artifacts/osu-sbnrc@1.0.0.onnx')).toString(
        'base64',
      ),
    },
    'POST /api/v1/reviews/{id}/edit': { zones: [{ zone: ids.zone, kgNHa: 40 }], reason: 'auth walk' },
    'POST /api/v1/reviews/{id}/approve': {},
    'POST /api/v1/reviews/{id}/reject': { reason: 'auth walk' },
    'PUT /api/v1/farms/{farm}/auto-approval': { model: 'osu-sbnrc', maxKgNHa: 50 },
    'PUT /api/v1/farms/{farm}/gateway-config': { sync: { intervalMs: 5000 } },
    'PUT /api/v1/farms/{farm}/fields/{field}/stage': { stage: 'tillering', date: '2026-12-01' },
    'POST /api/v1/tips/{id}/act': {},
    'POST /api/v1/tips/{id}/dismiss': {},
    'POST /api/v1/tips/{id}/automate': {},
    'POST /api/v1/automations': { farm: 'demo-farm', ...automation },
    'PUT /api/v1/automations/{id}': { ...automation, version: 1 },
    'PUT /api/v1/farms/{farm}/devices/{device}/override': { mode: 'hold_closed', minutes: 10 },
    'POST /api/v1/webhooks': {
      farm: 'demo-farm',
      url: 'https://hooks.example.com/in',
      events: ['tip.created'],
    },
    'POST /api/v1/webhooks/{id}/ping': {},
    'POST /api/v1/farms/{farm}/manifest/check': { text: readFileSync(DEMO_MANIFEST_FILE, 'utf8') },
    'POST /api/v1/farms/{farm}/provision': {
      text: readFileSync(DEMO_MANIFEST_FILE, 'utf8'),
      broker: { host: '127.0.0.1' },
    },
  };
  if (op.key === 'PUT /api/v1/sync/imagery/{scene}/file')
    return {
      path,
      body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array(24).fill(0)]),
      type: 'image/png',
    };
  if (op.key === 'POST /api/v1/farms/{farm}/scenes')
    return {
      path: `${path}?acquired=2026-07-20T01:30:00Z&profile=s2-l2a&offset=-1000`,
      body: Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, ...Array(24).fill(0)]),
      type: 'image/tiff',
    };
  if (op.method === 'GET' || op.method === 'DELETE') return { path };
  if (!(op.key in bodies)) throw new Error(`auth walk: no example body for ${op.key}; add one`);
  return { path, body: Buffer.from(JSON.stringify(bodies[op.key])), type: 'application/json' };
}

/** Sends the route's example with only the given headers as credentials; returns why it failed, if it did. */
async function refusedWith(
  op: Operation,
  credentials: Record<string, string>,
  what: string,
): Promise<string | undefined> {
  const ex = example(op);
  const headers: Record<string, string> = { ...credentials, ...(ex.type ? { 'content-type': ex.type } : {}) };
  const res = await rawRequest(seeded.url, { method: op.method, path: ex.path, headers, body: ex.body });
  const where = `${op.key} with ${what} → ${res.status}`;
  if (res.status === 400 || res.status === 415)
    return `${where}: the example did not pass validation; fix it so authentication is tested`;
  if (res.status !== 401) return `${where}: ${res.body.toString().slice(0, 160)}`;
  const bad = problemVerdict(res);
  if (bad) return `${where}: ${bad}`;
  const code = (JSON.parse(res.body.toString()) as { code: string }).code;
  return code === 'HATAKE_E_AUTH' ? undefined : `${where}: code ${code}`;
}

describe('authentication on every route, with credentials of the wrong kind', () => {
  it('finds exactly the public routes it expects without a security requirement', () => {
    const open = ops
      .filter((o) => o.auth === 'none')
      .map((o) => o.key)
      .sort();
    expect(open).toEqual([...PUBLIC].sort());
    expect(ops.filter((o) => o.auth === 'session').length).toBeGreaterThan(40);
    expect(
      ops
        .filter((o) => o.auth === 'gateway')
        .map((o) => o.key)
        .sort(),
    ).toEqual([
      'GET /api/v1/downlink',
      'GET /api/v1/downlink/artifacts/{sha256}',
      'GET /api/v1/downlink/scenes/{sha256}',
      'GET /api/v1/downlink/stream',
      'POST /api/v1/sync',
      'PUT /api/v1/sync/imagery/{scene}/file',
    ]);
  });

  it('refuses a gateway token, and look-alike session cookies, on every route of people', async () => {
    const watch = new StoreWatch(seeded.server.ctx.db);
    const token = seeded.gateway.token;
    const variants: Array<[string, Record<string, string>]> = [
      ['a gateway bearer token', { authorization: `Bearer ${token}` }],
      [
        'a gateway token as the session cookie',
        { cookie: `hatake_session=${token}`, 'x-csrf-token': admin.csrf },
      ],
      ['a signed-out session', { cookie: loggedOut.cookie, 'x-csrf-token': loggedOut.csrf }],
      [
        'the CSRF token as the session cookie',
        { cookie: `hatake_session=${admin.csrf}`, 'x-csrf-token': admin.csrf },
      ],
      ['a CSRF token without a session', { 'x-csrf-token': admin.csrf }],
      [
        'a session cookie under another name',
        { cookie: admin.cookie.replace('hatake_session=', 'hatake_sess=') },
      ],
    ];
    const bad: string[] = [];
    for (const op of ops.filter((o) => o.auth === 'session'))
      for (const [what, creds] of variants) {
        const why = await refusedWith(op, creds, what);
        if (why) bad.push(why);
      }
    expect(bad).toEqual([]);
    expect(watch.changed()).toEqual([]);
  });

  it('refuses a person’s session, and look-alike tokens, on every route of gateways', async () => {
    const watch = new StoreWatch(seeded.server.ctx.db);
    const sessionToken = admin.cookie.split('=')[1]!;
    const variants: Array<[string, Record<string, string>]> = [
      ['an admin session', { cookie: admin.cookie, 'x-csrf-token': admin.csrf }],
      ['the session token as a bearer token', { authorization: `Bearer ${sessionToken}` }],
      ['the CSRF token as a bearer token', { authorization: `Bearer ${admin.csrf}` }],
      ['a revoked gateway token', { authorization: `Bearer ${revokedGatewayToken}` }],
      ['the token after a doubled scheme', { authorization: `Bearer Bearer ${seeded.gateway.token}` }],
      [
        'the token as Basic credentials',
        { authorization: `Basic ${Buffer.from(`gw-seed:${seeded.gateway.token}`).toString('base64')}` },
      ],
      [
        'the token with a byte changed',
        {
          authorization: `Bearer ${seeded.gateway.token.slice(0, -1)}${seeded.gateway.token.endsWith('A') ? 'B' : 'A'}`,
        },
      ],
      ['the token in a cookie', { cookie: `hatake_session=${seeded.gateway.token}` }],
    ];
    const bad: string[] = [];
    for (const op of ops.filter((o) => o.auth === 'gateway'))
      for (const [what, creds] of variants) {
        const why = await refusedWith(op, creds, what);
        if (why) bad.push(why);
      }
    expect(bad).toEqual([]);
    expect(watch.changed()).toEqual([]);
  });

  it('accepts the example requests from the right caller (the examples are valid)', async () => {
    // Read-only routes only: the right caller gets 2xx, so a 401 above was about the credentials.
    for (const op of ops.filter((o) => o.method === 'GET' && o.auth !== 'none' && !o.route.includes('{'))) {
      const ex = example(op);
      const creds: Record<string, string> =
        op.auth === 'gateway'
          ? { authorization: `Bearer ${seeded.gateway.token}` }
          : { cookie: admin.cookie };
      const res = await rawRequest(seeded.url, { method: 'GET', path: ex.path, headers: creds });
      expect(res.status, op.key).toBe(200);
    }
  });
});

describe('a gateway of another farm on the gateway routes', () => {
  it('gets only its own farm’s downlink, and none of this farm’s artifacts or maps', async () => {
    const auth = { authorization: `Bearer ${other.token}` };
    const downlink = await rawRequest(seeded.url, { method: 'GET', path: '/api/v1/downlink', headers: auth });
    expect(downlink.status).toBe(200);
    const doc = JSON.parse(downlink.body.toString()) as { farm: string; documents: { bodyJson: string }[] };
    expect(doc.farm).toBe('other-farm');
    expect(downlink.body.toString()).not.toContain('demo-farm');
    // The demo farm's published model artifacts are not served to it.
    const demoDocs = seeded.server.ctx.downlink.since('demo-farm', 0, 1000);
    for (const d of demoDocs.filter((x) => x.kind === 'model')) {
      const sha = (d.body as { sha256: string }).sha256;
      const res = await rawRequest(seeded.url, {
        method: 'GET',
        path: `/api/v1/downlink/artifacts/${sha}`,
        headers: auth,
      });
      expect(res.status).toBe(404);
    }
    // Uploading a map under this farm's scene id lands in its own farm: this farm's maps stay.
    const before = seeded.server.ctx.db
      .prepare('SELECT farm, scene, path, sha256 FROM view_map_files WHERE farm = ? ORDER BY path')
      .all('demo-farm');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array(32).fill(7)]);
    const put = await rawRequest(seeded.url, {
      method: 'PUT',
      path: `/api/v1/sync/imagery/${encodeURIComponent(seeded.ids.scene)}/file?path=${encodeURIComponent('maps/upland-1/ndvi.png')}`,
      headers: { ...auth, 'content-type': 'image/png' },
      body: png,
    });
    expect(put.status).toBe(204);
    expect(
      seeded.server.ctx.db
        .prepare('SELECT farm, scene, path, sha256 FROM view_map_files WHERE farm = ? ORDER BY path')
        .all('demo-farm'),
    ).toEqual(before);
    // A batch claiming this farm's devices is stored under its own farm, never this one's.
    const demoBefore = await seeded.server.ctx.readings.count('demo-farm');
    await other.send([
      {
        kind: 'reading',
        body: {
          device: 'wx-1',
          metric: 'air_temperature',
          value: 99,
          unit: 'degC',
          time: 1_700_000_000_123,
          flags: [],
        },
      },
    ]);
    expect(await seeded.server.ctx.readings.count('demo-farm')).toBe(demoBefore);
  });

  it('cannot be used as a person: the farmer API refuses it, with no data', async () => {
    const farmer = await signIn(seeded.url, 'demo-farmer');
    expect((await farmer('/api/v1/devices')).status).toBe(200); // the route itself works
    const res = await rawRequest(seeded.url, {
      method: 'GET',
      path: '/api/v1/devices',
      headers: { authorization: `Bearer ${other.token}` },
    });
    expect(res.status).toBe(401);
    expect(res.body.toString()).not.toContain('wx-');
  });
});
