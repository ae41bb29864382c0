// The server's doors: the sync endpoint refuses strangers, lies and malformed or hostile bodies
// with problem+json; the API requires a session and scopes everything to the caller's farms.
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { SyncBatch } from '../../protocol/sync.ts';
import type { DeviceView } from '../../protocol/api.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';

let server: HatakeServer;
let url: string;
let token: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-api-'));
  ({ server, url } = await startServer(dir));
  token = server.ctx.auth.issueGatewayToken('gw-a', 'demo-farm');
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['other-farm'] });
  await server.ctx.auth.createUser('other-officer', 'other-password-1', 'officer', { regions: ['hokkaido'] });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const batch = (items: SyncBatch['items'], gateway = 'gw-a'): SyncBatch => ({
  gateway,
  seqFrom: Math.min(...items.map((i) => i.seq)),
  seqTo: Math.max(...items.map((i) => i.seq)),
  sentAt: Date.now(),
  items,
});
const reading = (seq: number, value: number, time = 1_780_000_000_000 + seq) => ({
  seq,
  kind: 'reading' as const,
  body: { device: 'soil-1', metric: 'soil_vwc', value, unit: 'm3/m3', time, flags: [] },
});

async function sync(body: unknown, opts: { token?: string; gzip?: boolean; raw?: Buffer } = {}) {
  const json = JSON.stringify(body);
  const payload = opts.raw ?? (opts.gzip === false ? Buffer.from(json) : gzipSync(json));
  return fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: {
      ...(opts.token === '' ? {} : { authorization: `Bearer ${opts.token ?? token}` }),
      'content-type': 'application/json',
      ...(opts.gzip === false ? {} : { 'content-encoding': 'gzip' }),
    },
    body: new Uint8Array(payload),
  });
}

describe('POST /api/v1/sync', () => {
  it('applies a manifest and readings, and answers with the highest sequence held', async () => {
    const res = await sync(
      batch([{ seq: 1, kind: 'manifest', body: demoManifest() }, reading(2, 0.25), reading(3, 0.26)]),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ gateway: 'gw-a', ackedSeq: 3, applied: 2, duplicates: 0 });
    // An older batch resent later leaves the high-water mark where it is.
    const old = await sync(batch([reading(2, 0.25)]));
    expect(await old.json()).toMatchObject({ ackedSeq: 3, applied: 0, duplicates: 1 });
  });

  it('accepts an uncompressed JSON body too', async () => {
    const res = await sync(batch([reading(4, 0.27)]), { gzip: false });
    expect(res.status).toBe(200);
  });

  it.each([
    ['no token', ''],
    ['an unknown token', 'hgw_not-a-real-token-at-all-000000'],
  ])('refuses %s with 401 problem+json', async (_n, t) => {
    const res = await sync(batch([reading(5, 0.3)]), { token: t });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await res.json()).toMatchObject({ code: 'HATAKE_E_AUTH', status: 401 });
  });

  it('refuses a revoked gateway with 401', async () => {
    const t = server.ctx.auth.issueGatewayToken('gw-revoked', 'demo-farm');
    server.ctx.auth.revokeGateway('gw-revoked');
    const res = await sync(batch([reading(6, 0.3)], 'gw-revoked'), { token: t });
    expect(res.status).toBe(401);
  });

  it('refuses a batch that claims to be another gateway', async () => {
    const res = await sync(batch([reading(7, 0.3)], 'gw-b'));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'HATAKE_E_FORBIDDEN' });
  });

  it('refuses a manifest for a farm the gateway does not belong to, storing nothing of the batch', async () => {
    const m = demoManifest();
    m.farm.id = 'other-farm';
    const before = await server.ctx.readings.count('demo-farm');
    const res = await sync(
      batch([{ seq: 8, kind: 'manifest', body: m }, reading(9, 0.31, 1_790_000_000_000)]),
    );
    expect(res.status).toBe(403);
    expect(await server.ctx.readings.count('demo-farm')).toBe(before);
    expect(server.ctx.db.prepare("SELECT COUNT(*) AS n FROM farms WHERE id = 'other-farm'").get()).toEqual({
      n: 0,
    });
  });

  it.each([
    ['a body that is not JSON', { raw: gzipSync('{"gateway": "gw-a", ') }, 400],
    ['a corrupt gzip stream', { raw: Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6]) }, 400],
    [
      'a gzip bomb (inflates past the body limit)',
      { raw: gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)) },
      413,
    ],
  ])('refuses %s', async (_n, opts, status) => {
    const res = await sync(null, opts);
    expect(res.status).toBe(status);
    expect((await res.json()) as { code: string }).toHaveProperty('code');
  });

  it.each([
    ['an empty item list', { gateway: 'gw-a', seqFrom: 1, seqTo: 1, sentAt: 0, items: [] }],
    [
      'a reading with a string value',
      batch([{ ...reading(10, 0), body: { ...reading(10, 0).body, value: 'x' as unknown as number } }]),
    ],
    ['an unknown item kind', batch([{ seq: 11, kind: 'shell', body: {} } as never])],
    [
      'a device id with a path',
      batch([{ ...reading(12, 0.2), body: { ...reading(12, 0.2).body, device: '../../etc' } }]),
    ],
    ['an item outside the declared range', { ...batch([reading(13, 0.2)]), seqTo: 12, seqFrom: 12 }],
  ])('refuses %s with 400 naming the problem', async (_n, body) => {
    const res = await sync(body);
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { code: string; detail: string };
    expect(problem.code).toMatch(/HATAKE_E_(PAYLOAD_SCHEMA|SYNC_BATCH)/);
    expect(problem.detail.length).toBeGreaterThan(5);
  });
});

describe('API access', () => {
  it('requires a session for the API', async () => {
    for (const path of ['/api/v1/devices', '/api/v1/farms', '/api/v1/live', '/api/v1/auth/me']) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(401);
    }
  });

  it('refuses a wrong password without saying whether the user exists', async () => {
    const a = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo-farmer', password: 'nope' }),
    });
    const b = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'nobody', password: 'nope' }),
    });
    expect(a.status).toBe(401);
    expect(b.status).toBe(401);
    expect((await a.json()).detail).toBe((await b.json()).detail);
  });

  it('shows a farmer of another farm nothing of the demo farm', async () => {
    const other = await signIn(url, 'other-farmer', 'other-password-1');
    expect(await (await other('/api/v1/devices')).json()).toEqual([]);
    expect(await (await other('/api/v1/farms')).json()).toEqual([]);
  });

  it('scopes an officer to the regions they cover', async () => {
    const officer = await signIn(url, 'demo-officer');
    const farms = (await (await officer('/api/v1/farms')).json()) as { id: string }[];
    expect(farms.map((f) => f.id)).toEqual(['demo-farm']);
    const outsider = await signIn(url, 'other-officer', 'other-password-1');
    expect(await (await outsider('/api/v1/devices')).json()).toEqual([]);
  });

  it('shows the demo farmer the synced device', async () => {
    const farmer = await signIn(url, 'demo-farmer');
    const devices = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
    expect(devices.map((d) => d.id).sort()).toEqual(['soil-1', 'water-1', 'wx-1']);
    expect(devices.find((d) => d.id === 'soil-1')!.latest[0]).toMatchObject({
      metric: 'soil_vwc',
      value: 0.27,
    });
  });

  it('requires the CSRF token to sign out', async () => {
    const farmer = await signIn(url, 'demo-farmer');
    const res = await farmer('/api/v1/auth/logout', { method: 'POST', headers: { 'x-csrf-token': 'wrong' } });
    expect(res.status).toBe(403);
    expect((await farmer('/api/v1/auth/logout', { method: 'POST' })).status).toBe(204);
    expect((await farmer('/api/v1/devices')).status).toBe(401);
  });

  it('serves the OpenAPI document listing its routes, and the UI', async () => {
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/sync', '/api/v1/devices', '/api/v1/farms', '/api/v1/auth/login']),
    );
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html lang="ja">');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('documents every API route it serves in OpenAPI (all but the docs and static files)', async () => {
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const served = server.routes.filter(
      (r) => r.method !== 'HEAD' && !r.url.startsWith('/docs') && !r.url.endsWith('*'),
    );
    expect(served.length).toBeGreaterThan(50);
    expect(served.some((r) => r.url === '/healthz')).toBe(true);
    const undocumented = served
      .filter((r) => !doc.paths[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()])
      .map((r) => `${r.method} ${r.url}`);
    expect(undocumented).toEqual([]);
    // Nothing is hidden from the document but the documentation's own pages.
    expect(served.filter((r) => r.hidden).map((r) => r.url)).toEqual([]);
  });
});
