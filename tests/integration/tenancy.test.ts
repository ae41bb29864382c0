// Tenancy, walked route by route: every route the OpenAPI document lists is called — with valid
// bodies and the ids of real things of a demo farm full of data (pending and approved
// recommendations, tips, a scene, an automation, a webhook, a spare gateway, a gateway
// configuration, all made through the API), so the request reaches the tenancy check and is not
// stopped by validation or a made-up id — by nobody (no session) and by a farmer, a partner and an
// officer of another farm or region. Each answer must be 401 / 403 / 404, or a 2xx that holds none
// of the demo farm's data; and afterwards the demo farm's data is as it was. Then the demo farm's
// own farmer, partner and officer make the same requests, each expecting the status OWN lists for
// their role: a route that answers 404 to everyone (a made-up id, a lookup that finds nothing)
// fails there, so a 404 to a stranger above is a refusal and not a miss.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/manifest.ts';
import type { AutomationView, ReviewDetail, TipView } from '../../protocol/review.ts';
import type { Tip } from '../../protocol/tip.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import {
  DEMO_FARM_FILE,
  demoFarm,
  demoManifest,
  eventually,
  signIn,
  startStack,
  type Stack,
} from '../helpers/stack.ts';
import { irrigationTip, seedImagery, SeedGateway, wheatRecommendation } from '../e2e/seed.ts';
import { DEMO_AUTOMATION, DEMO_QUERY } from '../helpers/route-walk.ts';
import { paddyWaterTip as waterTip } from '../helpers/tip.ts';

type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

let stack: Stack;
/** The demo farm's things the walk names in paths and bodies, each made in beforeAll. */
const ids = {
  /** Pending on upland-1: read, edited and approved. */
  rec: '',
  /** Pending on paddy-1: rejected. */
  recReject: '',
  /** Approved: the farmer's recommendation and prescription routes. */
  recApproved: '',
  zone: '',
  /** An irrigation tip: read, acted on, dismissed. */
  tip: '',
  /** A paddy water-level tip: automated (with the paddy's water gate gate-1). */
  tipWater: '',
  scene: '',
  automation: '',
  webhook: '',
};
/** A second gateway of the demo farm, registered by its partner: the one the walk re-keys and revokes. */
const SPARE_GATEWAY = 'gw-spare';
/** A public webhook target: nothing is sent at creation; a ping is queued (and fails, offline). */
const WEBHOOK_URL = 'https://hooks.example.com/hatake';
const DEMO_FARM_TEXT = readFileSync(DEMO_FARM_FILE, 'utf8');
/** A rate for the edit probe that differs from the zone's (set with ids.zone). */
let editKgNHa = 0;

interface Operation {
  parameters?: { in: string; name: string; required?: boolean }[];
  security?: Record<string, unknown>[];
}
let openapi: { paths: Record<string, Record<string, Operation>> };
let downlinkBefore = 0;
const sessions: Record<string, Fetcher> = {};

/** Strings that only the demo farm's data contains. */
const markers = () =>
  [
    'demo-farm',
    'upland-1',
    'paddy-1',
    'wx-1',
    'soil-1',
    'water-1',
    'gate-1',
    'gw-test',
    SPARE_GATEWAY,
    ...Object.values(ids),
  ].filter(Boolean);

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
  'GET /api/v1/map',
  'POST /api/v1/auth/login',
]);
/** Public, not of any farm: the server's public key and its health check. */
const PUBLIC = new Set(['GET /api/v1/server-key', 'GET /healthz']);

/**
 * What the demo farm's own users get on each route that takes a person's session, as
 * [demo-farmer, demo-partner, demo-officer] (the routes declare no roles, so they are listed; see
 * dashboard/review/access.ts, dashboard/views/access.ts and the routes). "… data": the answer holds
 * the demo farm's data; "400 CODE": that problem, met after the tenancy check. Each user walks in
 * the document's order with the DELETEs last; the partner and the officer walk first, the farmer
 * last (the farmer's walk deletes the seeded automation and webhook at its end).
 */
const OWN: Record<string, readonly [farmer: string, partner: string, officer: string]> = {
  'GET /api/v1/auth/me': ['200 data', '200 data', '200 data'],
  'GET /api/v1/farms': ['200 data', '200 data', '200 data'],
  'GET /api/v1/devices': ['200 data', '200 data', '200 data'],
  'GET /api/v1/live': ['200 data', '200 data', '200 data'],
  // Gateways are registered and revoked by admins and the farm's IT partner; everyone sees them.
  'POST /api/v1/gateways': ['403', '201', '403'],
  'GET /api/v1/gateways': ['200 data', '200 data', '200 data'],
  'DELETE /api/v1/gateways/{id}': ['403', '204', '403'],
  // Models go down to gateways by an admin only.
  'POST /api/v1/farms/{farm}/models': ['403', '403', '403'],
  'GET /api/v1/farms/{farm}/gateway-config': ['403', '200', '403'],
  'PUT /api/v1/farms/{farm}/gateway-config': ['403', '200', '403'],
  'DELETE /api/v1/farms/{farm}/gateway-config': ['403', '204', '403'],
  // The probe's file is not a TIFF: the partner gets past the tenancy check to the file check.
  'POST /api/v1/farms/{farm}/scenes': ['403', '400 HATAKE_E_IMAGERY_FILE', '403'],
  // Officers review; farmers see approved recommendations; partners see none.
  'GET /api/v1/reviews': ['403', '403', '200 data'],
  'GET /api/v1/reviews/decisions.csv': ['403', '403', '200 data'],
  'GET /api/v1/reviews/{id}': ['403', '403', '200 data'],
  'POST /api/v1/reviews/{id}/edit': ['403', '403', '200 data'],
  'POST /api/v1/reviews/{id}/approve': ['403', '403', '200 data'],
  'POST /api/v1/reviews/{id}/reject': ['403', '403', '200 data'],
  'GET /api/v1/farms/{farm}/auto-approval': ['200', '403', '200'],
  'PUT /api/v1/farms/{farm}/auto-approval': ['200', '403', '200'],
  'DELETE /api/v1/farms/{farm}/auto-approval': ['204', '403', '204'],
  'GET /api/v1/recommendations': ['200 data', '403', '200 data'],
  'GET /api/v1/recommendations/{id}': ['200 data', '403', '200 data'],
  'GET /api/v1/recommendations/{id}/prescription/{format}': ['200', '403', '200'],
  // Everyone who sees the farm reads its tips and automations; its farmer changes them.
  'GET /api/v1/tips': ['200 data', '200 data', '200 data'],
  'GET /api/v1/tips/{id}': ['200 data', '200 data', '200 data'],
  'POST /api/v1/tips/{id}/act': ['200 data', '403', '403'],
  'POST /api/v1/tips/{id}/dismiss': ['200 data', '403', '403'],
  'POST /api/v1/tips/{id}/automate': ['200 data', '403', '403'],
  'GET /api/v1/automations': ['200 data', '200 data', '200 data'],
  'POST /api/v1/automations': ['201 data', '403', '403'],
  'GET /api/v1/automations/{id}': ['200 data', '200 data', '200 data'],
  'PUT /api/v1/automations/{id}': ['200 data', '403', '403'],
  'DELETE /api/v1/automations/{id}': ['204', '403', '403'],
  'GET /api/v1/automations/{id}/logs': ['200', '200', '200'],
  'GET /api/v1/farms/{farm}/overrides': ['200', '200', '200'],
  'PUT /api/v1/farms/{farm}/devices/{device}/override': ['200 data', '403', '403'],
  'DELETE /api/v1/farms/{farm}/devices/{device}/override': ['200 data', '403', '403'],
  // A farm's webhooks are its farmer's: to anyone else one does not exist (404, by design —
  // dashboard/review/webhook-routes.ts), so the farmer's 2xx is what proves the id is real.
  'GET /api/v1/webhooks': ['200 data', '200', '200'],
  'POST /api/v1/webhooks': ['201 data', '403', '403'],
  'DELETE /api/v1/webhooks/{id}': ['204', '404', '404'],
  'POST /api/v1/webhooks/{id}/ping': ['202', '404', '404'],
  'GET /api/v1/webhooks/{id}/deliveries': ['200', '404', '404'],
  'GET /api/v1/farms/{farm}/fields': ['200 data', '200 data', '200 data'],
  'GET /api/v1/farms/{farm}/fields/{field}': ['200 data', '200 data', '200 data'],
  'GET /api/v1/farms/{farm}/fields/{field}/stage': ['200', '200', '200'],
  'PUT /api/v1/farms/{farm}/fields/{field}/stage': ['200', '403', '200'],
  'DELETE /api/v1/farms/{farm}/fields/{field}/stage': ['200', '403', '200'],
  'GET /api/v1/farms/{farm}/fields/{field}/scenes/{scene}': ['200 data', '200 data', '200 data'],
  'GET /api/v1/farms/{farm}/fields/{field}/scenes/{scene}/zones': ['200 data', '200 data', '200 data'],
  'GET /api/v1/farms/{farm}/scenes/{scene}/file': ['200', '200', '200'],
  'GET /api/v1/farms/{farm}/series': ['200', '200', '200'],
  'GET /api/v1/overview': ['200 data', '200 data', '200 data'],
  'GET /api/v1/kits': ['200', '200', '200'],
  // The maps' base layer of server.yaml: the same for every signed-in user (null when none).
  'GET /api/v1/map': ['200', '200', '200'],
  'GET /api/v1/farms/{farm}/health': ['200 data', '200 data', '200 data'],
  // Provisioning is the IT partner's (and an admin's).
  'GET /api/v1/farms/{farm}/manifest': ['403', '200 data', '403'],
  'POST /api/v1/farms/{farm}/manifest/check': ['403', '200 data', '403'],
  'POST /api/v1/farms/{farm}/provision': ['403', '200 data', '403'],
  // Everyone changes their own password: the walk's current password is wrong (403 after the
  // session check). Accounts are managed by admins only.
  'POST /api/v1/auth/password': [
    '403 HATAKE_E_FORBIDDEN',
    '403 HATAKE_E_FORBIDDEN',
    '403 HATAKE_E_FORBIDDEN',
  ],
  'GET /api/v1/admin/users': ['403', '403', '403'],
  'POST /api/v1/admin/users': ['403', '403', '403'],
  'PUT /api/v1/admin/users/{name}/password': ['403', '403', '403'],
  'PUT /api/v1/admin/users/{name}/disabled': ['403', '403', '403'],
  'DELETE /api/v1/admin/users/{name}/lock': ['403', '403', '403'],
  'DELETE /api/v1/admin/users/{name}': ['403', '403', '403'],
  'GET /api/v1/admin/account-audit': ['403', '403', '403'],
};
const OWN_USERS = ['demo-farmer', 'demo-partner', 'demo-officer'] as const;
/** Routes none of the three may use (an admin's). */
const ADMIN_ONLY = new Set([
  'POST /api/v1/farms/{farm}/models',
  'GET /api/v1/admin/users',
  'POST /api/v1/admin/users',
  'PUT /api/v1/admin/users/{name}/password',
  'PUT /api/v1/admin/users/{name}/disabled',
  'DELETE /api/v1/admin/users/{name}/lock',
  'DELETE /api/v1/admin/users/{name}',
  'GET /api/v1/admin/account-audit',
]);

function pathParam(route: string, name: string): string {
  const real = (v: string, what: string) => {
    if (!v) throw new Error(`tenancy walk: no ${what} was seeded for ${route}`);
    return v;
  };
  switch (name) {
    case 'farm':
      return 'demo-farm';
    case 'field':
      return 'upland-1';
    case 'scene':
      return real(ids.scene, 'scene');
    case 'device':
      return 'gate-1'; // the paddy's water gate: the demo farm's actuator, which takes overrides
    case 'format':
      return 'csv';
    case 'name':
      return 'demo-farmer'; // a real account: what refuses is never a 404
    case 'sha256':
      // Only gateway routes take one; a person's session gets 401 there before it is read (a
      // gateway of another farm on them: tests/hostile/auth-crossing.test.ts).
      return JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8')).sha256;
    case 'id':
      if (route.startsWith('/api/v1/tips/'))
        return route.endsWith('/automate') ? real(ids.tipWater, 'tip') : real(ids.tip, 'tip');
      if (route.startsWith('/api/v1/reviews/'))
        return route.endsWith('/reject')
          ? real(ids.recReject, 'recommendation')
          : real(ids.rec, 'recommendation');
      if (route.startsWith('/api/v1/recommendations/')) return real(ids.recApproved, 'recommendation');
      if (route.startsWith('/api/v1/automations/')) return real(ids.automation, 'automation');
      if (route.startsWith('/api/v1/webhooks/')) return real(ids.webhook, 'webhook');
      if (route.startsWith('/api/v1/gateways/')) return SPARE_GATEWAY;
      break;
  }
  throw new Error(`tenancy walk: no value for path parameter "${name}" of ${route}; add one`);
}

/** The demo query values, and those of a scene upload (a Sentinel-2 L2A scene of two days ago). */
const QUERY: Readonly<Record<string, string>> = {
  ...DEMO_QUERY,
  acquired: new Date(Date.now() - 2 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
  profile: 's2-l2a',
};

/** A body that passes the route's schema, aimed at the demo farm. */
function bodyFor(key: string): { body?: string | Uint8Array<ArrayBuffer>; type?: string } {
  const json = (v: unknown) => ({ body: JSON.stringify(v), type: 'application/json' });
  switch (key) {
    case 'POST /api/v1/sync':
      return json({ gateway: 'gw-test', seqFrom: 1, seqTo: 1, sentAt: 0, items: [] });
    case 'POST /api/v1/auth/login':
      return json({ username: 'demo-farmer', password: 'not-the-password' });
    case 'POST /api/v1/gateways':
      return json({ id: SPARE_GATEWAY, farm: 'demo-farm' });
    case 'POST /api/v1/farms/{farm}/models': {
      const card = JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8'));
      const onnx = readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.onnx')).toString('base64');
      return json({ card, onnx });
    }
    case 'POST /api/v1/farms/{farm}/scenes':
      // A TIFF header whose first directory lies past the end: refused as a file, never published.
      return {
        body: new Uint8Array([0x49, 0x49, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x7f, ...new Array(24).fill(0)]),
        type: 'image/tiff',
      };
    case 'PUT /api/v1/farms/{farm}/auto-approval':
      return json({ model: 'osu-sbnrc', maxKgNHa: 100 });
    case 'PUT /api/v1/farms/{farm}/gateway-config':
      return json({ retention: { rawDays: 30 } });
    case 'PUT /api/v1/farms/{farm}/fields/{field}/stage':
      return json({
        stage: 'tillering',
        date: new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10),
      });
    case 'POST /api/v1/reviews/{id}/edit':
      return json({ zones: [{ zone: ids.zone, kgNHa: editKgNHa }], reason: 'tenancy probe' });
    case 'POST /api/v1/reviews/{id}/approve':
    case 'POST /api/v1/tips/{id}/act':
    case 'POST /api/v1/tips/{id}/dismiss':
    case 'POST /api/v1/tips/{id}/automate':
    case 'POST /api/v1/webhooks/{id}/ping':
    case 'POST /api/v1/auth/logout':
      return json({});
    case 'POST /api/v1/reviews/{id}/reject':
      return json({ reason: 'tenancy probe' });
    case 'POST /api/v1/auth/password':
      return json({ current: 'not-the-password', password: 'tenancy-probe-password' });
    case 'POST /api/v1/admin/users':
      return json({ name: 'tenancy-probe', password: 'tenancy-probe-password', role: 'admin' });
    case 'PUT /api/v1/admin/users/{name}/password':
      return json({ password: 'tenancy-probe-password' });
    case 'PUT /api/v1/admin/users/{name}/disabled':
      return json({ disabled: true });
    case 'POST /api/v1/automations':
      return json({ farm: 'demo-farm', ...DEMO_AUTOMATION });
    case 'PUT /api/v1/automations/{id}':
      return json({ ...DEMO_AUTOMATION, version: 1 });
    case 'PUT /api/v1/farms/{farm}/devices/{device}/override':
      return json({ mode: 'hold_closed', minutes: 10 });
    case 'POST /api/v1/webhooks':
      return json({ farm: 'demo-farm', url: WEBHOOK_URL, events: ['ping'] });
    case 'POST /api/v1/farms/{farm}/manifest/check':
      return json({ text: DEMO_FARM_TEXT });
    case 'POST /api/v1/farms/{farm}/provision':
      return json({ text: DEMO_FARM_TEXT, broker: { host: '127.0.0.1' } });
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
  if (!sse || !res.body) return Buffer.from(await res.arrayBuffer()).toString('latin1');
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
  op: Operation;
  status: number;
  text: string;
  leaked: string[];
}

/** Every route of the document, in its order (or with the DELETEs last). */
function routes(deletesLast = false) {
  const all = Object.entries(openapi.paths).flatMap(([route, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ route, method: method.toUpperCase(), op })),
  );
  return deletesLast
    ? [...all.filter((r) => r.method !== 'DELETE'), ...all.filter((r) => r.method === 'DELETE')]
    : all;
}

/**
 * Calls every route as `who`, the DELETEs last: a delete that goes through is reported, and the
 * thing it deleted is still there for the other routes to be judged on.
 */
async function walk(who: Fetcher, signedIn: boolean): Promise<Probe[]> {
  const out: Probe[] = [];
  for (const { route, method, op } of routes(true)) {
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
      op,
      status: res.status,
      text,
      leaked: markers().filter((m) => text.includes(m) && !sent.includes(m)),
    });
  }
  return out;
}

/** The verdict on a stranger's probe: undefined when it is fine, else why not. */
function verdict(p: Probe, signedIn: boolean): string | undefined {
  if (p.status === 400 || p.status === 415)
    return `${p.key}: ${p.status} — the example request did not pass validation; fix it so tenancy is tested`;
  if (p.leaked.length) return `${p.key}: ${p.status} with demo-farm data (${p.leaked.join(', ')})`;
  if ([401, 403, 404].includes(p.status)) return undefined;
  if (p.status >= 200 && p.status < 300 && (PUBLIC.has(p.key) || (signedIn && OWN_SCOPE.has(p.key))))
    return undefined;
  return `${p.key}: ${p.status}, expected 401, 403 or 404`;
}

/** What one of the demo farm's users (index into OWN's triples) should get. */
function expected(key: string, op: Operation, user: number): string | undefined {
  if (op.security === undefined) return '200'; // public
  if (op.security.some((s) => 'gateway' in s)) return '401'; // a gateway's token, not a person's session
  return OWN[key]?.[user];
}

/** The verdict on the farm's own user's probe: undefined when it is what OWN lists, else why not. */
function ownVerdict(p: Probe, want: string | undefined): string | undefined {
  if (want === undefined) return `${p.key}: ${p.status}, and OWN lists nothing for it; add the route`;
  const [status, what] = want.split(' ');
  const got = `${p.key}: ${p.status} ${p.text.slice(0, 200)}`;
  if (p.status !== Number(status)) return `${got} — expected ${want}`;
  if (what === 'data' && !markers().some((m) => p.text.includes(m)))
    return `${got} — expected the demo farm's data in it`;
  if (what && what !== 'data' && !p.text.includes(what)) return `${got} — expected ${what}`;
  return undefined;
}

const anonymous: Fetcher = (path, init = {}) => fetch(`${stack.httpUrl}${path}`, init);

/** A paddy water-level tip, as the paddy-water rule would raise it: "automate" keeps the level with gate-1. */
const paddyWaterTip = (now = Date.now()): Tip =>
  waterTip({
    id: `tip-water-paddy-1-${Math.floor(now / 1000)}`,
    now,
    created: now - 300_000,
    measured: now - 600_000,
  });

/** The JSON body bodyFor makes for a route, as a value. */
function bodyJson(key: string): unknown {
  return JSON.parse(bodyFor(key).body as string);
}

/** Sends JSON as a signed-in user and returns the answer's body, failing unless it has `status`. */
async function made<T>(
  who: Fetcher,
  method: string,
  path: string,
  body: unknown,
  status: number,
): Promise<T> {
  const res = await who(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, `${method} ${path}: ${text}`).toBe(status);
  return JSON.parse(text) as T;
}

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
  for (const u of OWN_USERS) sessions[u] = await signIn(stack.httpUrl, u);
  for (const u of ['other-farmer', 'other-partner', 'other-officer'])
    sessions[u] = await signIn(stack.httpUrl, u, 'other-password-1');
  const farmer = sessions['demo-farmer']!;
  const partner = sessions['demo-partner']!;
  const officer = sessions['demo-officer']!;
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  // The partner provisions the whole demo farm, water gate included, and a gateway of the farm
  // syncs that manifest: the server knows gate-1 (automations and overrides act on it).
  await made(
    partner,
    'POST',
    '/api/v1/farms/demo-farm/provision',
    bodyJson('POST /api/v1/farms/{farm}/provision'),
    200,
  );
  const gw = new SeedGateway(server!, stack.httpUrl, 'demo-farm');
  await gw.send([{ kind: 'manifest', body: demoFarm() }]);
  expect(await (await farmer('/api/v1/devices')).text()).toContain('"gate-1"');
  // The demo farm, full of data: a scene, an approved recommendation, two pending ones, two tips.
  const scene = await seedImagery(gw, demoManifest());
  ids.scene = scene.sceneId;
  const approved = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired);
  await gw.send([{ kind: 'recommendation', body: approved }]);
  await made(officer, 'POST', `/api/v1/reviews/${approved.id}/approve`, {}, 200);
  ids.recApproved = approved.id;
  const rec = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired);
  const recReject = await wheatRecommendation('demo-farm', 'paddy-1', scene.acquired);
  const tip = irrigationTip('demo-farm', 'upland-1', 'soil-1');
  const tipWater = paddyWaterTip();
  await gw.send([
    { kind: 'tip', body: tip },
    { kind: 'tip', body: tipWater },
    { kind: 'recommendation', body: rec },
    { kind: 'recommendation', body: recReject },
  ]);
  ids.rec = rec.id;
  ids.recReject = recReject.id;
  ids.zone = rec.zones[0]!.id;
  const rate = rec.zones[0]!.rate.kgNHa;
  editKgNHa = rate >= 30 ? rate - 15 : rate + 15;
  ids.tip = tip.id;
  ids.tipWater = tipWater.id;
  // What the farm's people make through the API: an automation and a webhook (its farmer), a
  // spare gateway and a gateway configuration (its partner).
  ids.automation = (
    await made<AutomationView>(
      farmer,
      'POST',
      '/api/v1/automations',
      { farm: 'demo-farm', ...DEMO_AUTOMATION },
      201,
    )
  ).id;
  ids.webhook = (
    await made<{ id: string }>(
      farmer,
      'POST',
      '/api/v1/webhooks',
      { farm: 'demo-farm', url: WEBHOOK_URL, events: ['ping'] },
      201,
    )
  ).id;
  await made(partner, 'POST', '/api/v1/gateways', { id: SPARE_GATEWAY, farm: 'demo-farm' }, 201);
  await made(partner, 'PUT', '/api/v1/farms/demo-farm/gateway-config', { retention: { rawDays: 30 } }, 200);
  // The other farm exists too, with its own gateway.
  await new SeedGateway(server!, stack.httpUrl, 'other-farm', 'gw-other').send([
    { kind: 'manifest', body: OTHER_MANIFEST },
  ]);
  downlinkBefore = server!.ctx.downlink.since('demo-farm', 0, 100_000).length;
  openapi = (await (await fetch(`${stack.httpUrl}/docs/json`)).json()) as typeof openapi;
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

describe('tenancy of every route in the OpenAPI document', () => {
  it('lists the routes of every part of the API', () => {
    const keys = routes().map((r) => `${r.method} ${r.route}`);
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

  it('lists what the demo farm’s users get on every session route, and lets one of them in on each', () => {
    const sessionRoutes = routes()
      .filter((r) => r.op.security?.some((s) => 'session' in s))
      .map((r) => `${r.method} ${r.route}`)
      .filter((k) => k !== 'POST /api/v1/auth/logout');
    expect(Object.keys(OWN).sort()).toEqual(sessionRoutes.sort());
    // A route refused to every user of the farm would pass the walks below whatever its tenancy does:
    // someone must get a 2xx, or the problem named (met after the tenancy check).
    const shut = Object.entries(OWN)
      .filter(([k, wants]) => !ADMIN_ONLY.has(k) && !wants.some((w) => /^2| HATAKE_E_/.test(w)))
      .map(([k]) => k);
    expect(shut).toEqual([]);
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
    for (const id of [ids.tip, ids.tipWater])
      expect(((await (await farmer(`/api/v1/tips/${id}`)).json()) as TipView).state, id).toBe('open');
    for (const id of [ids.rec, ids.recReject]) {
      const review = (await (await officer(`/api/v1/reviews/${id}`)).json()) as ReviewDetail;
      expect(review.status, id).toBe('pending_review');
      expect(review.zones.every((z) => z.edited === null)).toBe(true);
    }
    expect(
      ((await (await officer(`/api/v1/reviews/${ids.recApproved}`)).json()) as ReviewDetail).status,
    ).toBe('approved');
    const automations = (await (
      await farmer('/api/v1/automations?farm=demo-farm')
    ).json()) as AutomationView[];
    expect(automations.map((a) => [a.id, a.version])).toEqual([[ids.automation, 1]]);
    const webhooks = (await (await farmer('/api/v1/webhooks')).json()) as { id: string }[];
    expect(webhooks.map((w) => w.id)).toEqual([ids.webhook]);
    expect(await (await farmer('/api/v1/farms/demo-farm/auto-approval')).json()).toBeNull();
    expect(stack.server!.ctx.downlink.since('demo-farm', 0, 100_000).length).toBe(downlinkBefore);
    for (const id of ['gw-test', SPARE_GATEWAY]) {
      const gw = stack.server!.ctx.db.prepare('SELECT farm, revoked FROM gateways WHERE id = ?').get(id) as {
        farm: string;
        revoked: number | null;
      };
      expect(gw, id).toEqual({ farm: 'demo-farm', revoked: null });
    }
    expect(stack.server!.ctx.auth.gateway(stack.gatewayToken)).toEqual({ id: 'gw-test', farm: 'demo-farm' });
    // The accounts too: none made, disabled, reset or deleted by the walk.
    expect(stack.server!.ctx.auth.account('tenancy-probe')).toBeUndefined();
    expect(stack.server!.ctx.auth.account('demo-farmer')).toMatchObject({ disabled: null });
    expect(stack.server!.ctx.auth.accountAudit().filter((e) => e.actor !== '(system)')).toEqual([]);
    expect(await farmer('/api/v1/auth/me').then((r) => r.status)).toBe(200);
  });

  // The farm's own users last (they change things): the partner and the officer, then the farmer.
  for (const user of ['demo-partner', 'demo-officer', 'demo-farmer'] as const) {
    it(`lets ${user} through as the role allows — the farm's own things are never a 404`, async () => {
      const index = OWN_USERS.indexOf(user);
      const probes = await walk(sessions[user]!, true);
      expect(probes.map((p) => ownVerdict(p, expected(p.key, p.op, index))).filter(Boolean)).toEqual([]);
    });
  }
});
