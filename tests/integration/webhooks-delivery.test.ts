// Webhooks: new tips (and review requests, see review-workflow) reach a receiver — a real HTTP
// server on port 0 — as signed POSTs the receiver verifies with its own HMAC-SHA256; a 500 is
// retried with backoff and delivered later with the same delivery id; a receiver that keeps
// failing is given up on after N attempts; the queue survives a restart, is bounded, refuses
// private and link-local targets unless allowed, and no secret or URL token reaches the logs.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { HatakeServer } from '../../dashboard/server.ts';
import { seedDemoUsers } from '../../dashboard/demo.ts';
import { reviewServices } from '../../dashboard/review/services.ts';
import type { DispatcherOptions } from '../../dashboard/review/webhook-dispatcher.ts';
import { Tip } from '../../protocol/tip.ts';
import { WebhookPayload, type DeliveryView, type TipView, type WebhookView } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { demoManifest, eventually, signIn } from '../helpers/stack.ts';

process.env.HATAKE_WEBHOOK_ALLOW_PRIVATE = '1'; // the receiver listens on 127.0.0.1

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A webhook receiver: records every request and answers with the next queued status (else 200). */
async function receiver(port = 0) {
  const got: Received[] = [];
  const statuses: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      res.statusCode = statuses.length > 0 ? statuses.shift()! : 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    got,
    statuses,
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The receiver's side of the contract, written here from the documented scheme (not the server's code). */
function verify(secret: string, r: Received, toleranceS = 300): boolean {
  const ts = Number(r.headers['x-hatake-timestamp']);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > toleranceS) return false;
  const want = Buffer.from(`v1=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`);
  const got = Buffer.from(String(r.headers['x-hatake-signature'] ?? ''));
  return want.length === got.length && timingSafeEqual(want, got);
}

let dir: string;
let server: HatakeServer;
let url: string;
let logs = '';
let token: string;
let seq = 0;
type Fetch = Awaited<ReturnType<typeof signIn>>;
let farmer: Fetch;
let officer: Fetch;
let partner: Fetch;
let otherFarmer: Fetch;
const secrets: string[] = [];

async function start() {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  server = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'debug' }, sink),
  });
  await seedDemoUsers(server.ctx.auth);
  url = `http://127.0.0.1:${await server.listen()}`;
  fast();
}

/** Test timing: quick retries, three attempts. */
function fast(over: Partial<DispatcherOptions> = {}) {
  const d = reviewServices(server.ctx).dispatcher;
  d.opts = { ...d.opts, baseDelayMs: 40, maxDelayMs: 200, maxAttempts: 3, timeoutMs: 2000, ...over };
}

let tipN = 0;
function tip(over: Partial<Tip> = {}): Tip {
  tipN++;
  const now = Date.now();
  const t: Tip = {
    id: `tip-webhook-${tipN}`,
    kind: 'frost',
    severity: 'warning',
    farm: 'demo-farm',
    field: 'upland-1',
    devices: ['wx-1'],
    title: { ja: `霜注意 ${tipN}`, en: `Frost risk ${tipN}` },
    text: { ja: '今夜は0.5 °Cまで下がる予報です。', en: 'Forecast low 0.5 °C tonight.' },
    evidence: {
      rule: { id: 'frost', version: '1.0.0', params: 'defaults' },
      sources: [{ citation: 'test' }],
      points: [
        { device: 'wx-1', metric: 'air_temperature', value: 0.5, unit: 'degC', time: now, role: 'forecast' },
      ],
      thresholds: [],
      quantities: [],
    },
    action: { type: 'frost_protection', field: 'upland-1', byTime: now + 6 * 3_600_000, thresholdC: 1 },
    created: now,
    expires: now + 12 * 3_600_000,
    dedupKey: `frost:demo-farm:upland-1:${tipN}`,
    reason: 'new',
    ...over,
  };
  expect(validator(Tip).problems(t)).toEqual([]);
  return t;
}

async function sync(items: { kind: string; body: unknown }[], gateway = 'gw-1') {
  const from = ++seq;
  seq += items.length - 1;
  const batch = {
    gateway,
    seqFrom: from,
    seqTo: seq,
    sentAt: Date.now(),
    items: items.map((it, i) => ({ seq: from + i, ...it })),
  };
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(batch),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return batch;
}
const syncTips = (...tips: Tip[]) => sync(tips.map((body) => ({ kind: 'tip', body })));

const post = (f: Fetch, path: string, body?: unknown) =>
  f(path, {
    method: 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text) as T;
}
async function hook(f: Fetch, body: unknown) {
  const created = await json<WebhookView & { secret: string }>(post(f, '/api/v1/webhooks', body), 201);
  secrets.push(created.secret);
  return created;
}
const deliveries = (id: string) => json<DeliveryView[]>(farmer(`/api/v1/webhooks/${id}/deliveries`));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-webhooks-'));
  await start();
  token = server.ctx.auth.issueGatewayToken('gw-1', 'demo-farm');
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['hok-farm'] });
  await sync([{ kind: 'manifest', body: demoManifest() }]);
  await signAll();
});

async function signAll() {
  farmer = await signIn(url, 'demo-farmer');
  officer = await signIn(url, 'demo-officer');
  partner = await signIn(url, 'demo-partner');
  otherFarmer = await signIn(url, 'other-farmer', 'other-password-1');
}
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('webhook delivery', () => {
  it('delivers a new tip as a POST the receiver can verify with the secret, once, however often the batch is resent', async () => {
    const rx = await receiver();
    try {
      const h = await hook(farmer, {
        farm: 'demo-farm',
        url: `http://127.0.0.1:${rx.port}/hooks/hatake?token=s3cr3t-token-in-query`,
        events: ['tip.created'],
      });
      expect(h.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      expect(h.url).toBe(`http://127.0.0.1:${rx.port}/hooks/hatake`);
      const listed = await json<WebhookView[]>(farmer('/api/v1/webhooks'));
      expect(listed.map((x) => x.id)).toEqual([h.id]);
      expect(JSON.stringify(listed)).not.toMatch(/whsec_|s3cr3t/);

      const t = tip();
      const batch = await syncTips(t);
      const r = await eventually(() => rx.got[0]);
      expect(r.path).toBe('/hooks/hatake?token=s3cr3t-token-in-query');
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-hatake-event']).toBe('tip.created');
      expect(r.headers['x-hatake-delivery']).toBe(`tip.created:demo-farm:${t.id}`);
      expect(verify(h.secret, r)).toBe(true);
      expect(verify(secrets.length > 1 ? secrets[0]! : `${h.secret}x`, r)).toBe(false);
      expect(verify(h.secret, { ...r, body: r.body.replace('霜注意', '霜なし') })).toBe(false);
      const payload = validator(WebhookPayload).parse(JSON.parse(r.body), 'webhook body');
      expect(payload).toMatchObject({ event: 'tip.created', farm: 'demo-farm', region: 'niigata' });
      expect(payload.data).toMatchObject({
        tip: { id: t.id, kind: 'frost', severity: 'warning', title: t.title },
      });

      await sync(batch.items.map(({ kind, body }) => ({ kind, body }))); // the same tips again, new sequence
      const again = await fetch(`${url}/api/v1/sync`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(batch),
      });
      expect(again.status).toBe(200);
      // a second gateway's duplicate of the live tip is not announced either
      await syncTips({ ...t, id: 'tip-webhook-dup', created: t.created + 1000 });
      const d = await deliveries(h.id);
      expect(d.map((x) => [x.eventId, x.state])).toEqual([[`tip.created:demo-farm:${t.id}`, 'delivered']]);
      expect(rx.got).toHaveLength(1);
      expect(
        (await json<{ queued: number }>(post(farmer, `/api/v1/webhooks/${h.id}/ping`), 202)).queued,
      ).toBe(1);
      const ping = await eventually(() => rx.got.find((x) => x.headers['x-hatake-event'] === 'ping'));
      expect(verify(h.secret, ping)).toBe(true);
      expect((await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' })).status).toBe(204);
    } finally {
      await rx.close();
    }
  });

  it('announces a condition once while its tip renews, dismissed or not, and again only when it escalates past what the farmer was shown', async () => {
    const rx = await receiver();
    const h = await hook(farmer, {
      farm: 'demo-farm',
      url: `http://127.0.0.1:${rx.port}/in`,
      events: ['tip.created'],
    });
    try {
      const H = 3_600_000;
      const t0 = Date.now();
      const key = 'frost:demo-farm:upland-1:renewing';
      // The chain as a gateway's tip lifecycle raises it: a renewal when the tip before expires
      // with the condition still holding (12 h), an escalation when the severity rises.
      const next = (prev: Tip, reason: Tip['reason'], severity: Tip['severity'], at: number) =>
        tip({ dedupKey: key, reason, severity, supersedes: prev.id, created: at, expires: at + 12 * H });
      const state = async (t: Tip) => json<TipView>(farmer(`/api/v1/tips/${t.id}`));
      const t1 = tip({ dedupKey: key, severity: 'warning', created: t0, expires: t0 + 12 * H });
      await syncTips(t1);
      await eventually(() => rx.got.length === 1);
      expect((await json<TipView>(post(farmer, `/api/v1/tips/${t1.id}/dismiss`))).state).toBe('dismissed');

      // Renewed as it was, renewed milder, and back to the warning the farmer dismissed: quiet.
      const t2 = next(t1, 'renewed', 'warning', t0 + 12 * H);
      const t3 = next(t2, 'renewed', 'advisory', t0 + 24 * H);
      const t4 = next(t3, 'escalated', 'warning', t0 + 25 * H);
      await syncTips(t2, t3, t4);
      for (const t of [t2, t4])
        expect(await state(t)).toMatchObject({ state: 'dismissed', stateBy: 'demo-farmer' });
      // (t3 was still live when t4 came: replaced by it, which carries the dismissal on)
      expect(await state(t3)).toMatchObject({ state: 'superseded', stateBy: `tip ${t4.id}` });
      // Severe is more than the farmer dismissed: open again, and announced; its renewal is not.
      const t5 = next(t4, 'escalated', 'severe', t0 + 26 * H);
      await syncTips(t5);
      expect(await state(t5)).toMatchObject({ state: 'open', stateBy: null });
      const t6 = next(t5, 'renewed', 'severe', t0 + 38 * H);
      await syncTips(t6);
      expect(await state(t6)).toMatchObject({ state: 'open', stateBy: null });

      const want = [t1, t5].map((t) => `tip.created:demo-farm:${t.id}`);
      const d = await eventually(async () => {
        const x = await deliveries(h.id);
        return x.length === 2 && x.every((y) => y.state === 'delivered') ? x : undefined;
      });
      expect(d.map((x) => x.eventId).sort()).toEqual([...want].sort());
      expect(rx.got.map((r) => r.headers['x-hatake-delivery'])).toEqual(want);
    } finally {
      await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' });
      await rx.close();
    }
  });

  it('retries after a 500 with backoff and delivers the same event with the same delivery id', async () => {
    const rx = await receiver();
    try {
      const h = await hook(farmer, {
        farm: 'demo-farm',
        url: `http://127.0.0.1:${rx.port}/in`,
        events: ['tip.created'],
      });
      rx.statuses.push(500);
      const t = tip();
      await syncTips(t);
      await eventually(() => rx.got.length >= 2);
      const [a, b] = rx.got as [Received, Received];
      expect(a.headers['x-hatake-delivery']).toBe(b.headers['x-hatake-delivery']);
      expect(a.body).toBe(b.body);
      expect(verify(h.secret, a) && verify(h.secret, b)).toBe(true);
      expect(b.at - a.at).toBeGreaterThanOrEqual(20); // the first backoff is 20–40 ms at a 40 ms base
      const [d] = await eventually(async () => {
        const x = await deliveries(h.id);
        return x[0]?.state === 'delivered' ? x : undefined;
      });
      expect(d).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 200 });
      await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' });
    } finally {
      await rx.close();
    }
  });

  it('gives up after the configured number of attempts, and at once on a 4xx', async () => {
    const rx = await receiver();
    try {
      const h = await hook(farmer, {
        farm: 'demo-farm',
        url: `http://127.0.0.1:${rx.port}/in`,
        events: ['tip.created'],
      });
      rx.statuses.push(500, 502, 503, 500, 500);
      await syncTips(tip());
      const [d] = await eventually(async () => {
        const x = await deliveries(h.id);
        return x[0]?.state === 'failed' ? x : undefined;
      });
      expect(d).toMatchObject({ state: 'failed', attempts: 3, lastStatus: 503, nextAt: null });
      expect(rx.got).toHaveLength(3);

      rx.statuses.length = 0;
      rx.statuses.push(410);
      await syncTips(tip());
      const [e] = await eventually(async () => {
        const x = await deliveries(h.id);
        return x[0]?.state === 'failed' && x.length === 2 ? x : undefined;
      });
      expect(e).toMatchObject({ attempts: 1, lastStatus: 410 });
      expect(rx.got).toHaveLength(4);
      await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' });
    } finally {
      await rx.close();
    }
  });

  it('keeps undelivered events across a restart and delivers them when the receiver is back', async () => {
    const rx = await receiver();
    const port = rx.port;
    const h = await hook(farmer, {
      farm: 'demo-farm',
      url: `http://127.0.0.1:${port}/in`,
      events: ['tip.created'],
    });
    await rx.close(); // the receiver is down: connections are refused
    fast({ baseDelayMs: 300, maxAttempts: 8 });
    const t = tip();
    await syncTips(t);
    await eventually(async () => (await deliveries(h.id))[0]?.attempts === 1);
    expect((await deliveries(h.id))[0]).toMatchObject({ state: 'pending', lastError: 'ECONNREFUSED' });
    await server.close();

    const back = await receiver(port);
    try {
      await start();
      await signAll();
      const r = await eventually(() => back.got[0], 10_000);
      expect(r.headers['x-hatake-delivery']).toBe(`tip.created:demo-farm:${t.id}`);
      expect(verify(h.secret, r)).toBe(true);
      await eventually(async () => (await deliveries(h.id))[0]?.state === 'delivered');
      await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' });
    } finally {
      await back.close();
    }
  });

  it('bounds each webhook’s queue by dropping the oldest pending events', async () => {
    const rx = await receiver();
    const store = reviewServices(server.ctx).webhooks;
    try {
      store.maxPendingPerHook = 2;
      fast({ baseDelayMs: 60_000, maxDelayMs: 60_000 });
      const h = await hook(farmer, {
        farm: 'demo-farm',
        url: `http://127.0.0.1:${rx.port}/in`,
        events: ['tip.created'],
      });
      rx.statuses.push(503, 503, 503, 503, 503, 503);
      const tips = [tip(), tip(), tip(), tip()];
      await syncTips(...tips);
      const d = await deliveries(h.id);
      expect(
        d
          .filter((x) => x.state === 'dropped')
          .map((x) => x.eventId)
          .sort(),
      ).toEqual(
        tips
          .slice(0, 2)
          .map((t) => `tip.created:demo-farm:${t.id}`)
          .sort(),
      );
      expect(d.filter((x) => x.state === 'pending')).toHaveLength(2);
      expect(
        (await json<WebhookView[]>(farmer('/api/v1/webhooks'))).find((x) => x.id === h.id),
      ).toMatchObject({ dropped: 2, pending: 2 });
      await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' });
      expect((await deliveries(h.id).catch(() => [])).length).toBe(0); // gone for the caller
    } finally {
      store.maxPendingPerHook = 1000;
      fast();
      await rx.close();
    }
  });
});

describe('webhook targets and tenancy', () => {
  it('refuses link-local, private (unless allowed) and malformed targets, and names that resolve to them at delivery', async () => {
    const d = reviewServices(server.ctx).dispatcher;
    const bad = async (u: string, why: RegExp) => {
      const res = await post(farmer, '/api/v1/webhooks', {
        farm: 'demo-farm',
        url: u,
        events: ['tip.created'],
      });
      const p = (await res.json()) as { code: string; detail: string; pointer?: string };
      expect(res.status, u).toBe(400);
      expect(p.code).toBe('HATAKE_E_WEBHOOK');
      expect(p.pointer).toBe('/url');
      expect(p.detail).toMatch(why);
    };
    await bad('http://169.254.169.254/latest/meta-data', /link-local/);
    await bad('http://[fe80::1]/x', /link-local/);
    await bad('http://0.0.0.0:8080/', /unspecified/);
    await bad('ftp://example.com/x', /scheme ftp: is not allowed/);
    await bad('file:///etc/passwd', /scheme file:/);
    await bad('https://user:pass@example.com/x', /user name or password/);
    await bad('not a url at all', /not a valid URL/);
    d.opts = { ...d.opts, allowPrivateTargets: false };
    const rx = await receiver();
    try {
      await bad(`http://127.0.0.1:${rx.port}/`, /loopback or private/);
      await bad('http://10.1.2.3/', /loopback or private/);
      await bad('http://[::ffff:127.0.0.1]/', /loopback or private/);
      // a name is checked where it resolves, when it is delivered to
      const h = await hook(farmer, {
        farm: 'demo-farm',
        url: `http://localhost:${rx.port}/in`,
        events: ['tip.created'],
      });
      await syncTips(tip());
      const [x] = await eventually(async () => {
        const y = await deliveries(h.id);
        return y[0]?.state === 'failed' ? y : undefined;
      });
      expect(x).toMatchObject({ attempts: 1, lastError: 'target resolves to a blocked address' });
      expect(rx.got).toHaveLength(0);
      await farmer(`/api/v1/webhooks/${h.id}`, { method: 'DELETE' });
    } finally {
      fast({ allowPrivateTargets: true });
      await rx.close();
    }
  });

  it('lets a farm’s farmer and a region’s officers manage their webhooks, and nobody else', async () => {
    const u = 'http://127.0.0.1:9/in';
    expect(
      (await post(partner, '/api/v1/webhooks', { farm: 'demo-farm', url: u, events: ['tip.created'] }))
        .status,
    ).toBe(403);
    expect(
      (await post(otherFarmer, '/api/v1/webhooks', { farm: 'demo-farm', url: u, events: ['tip.created'] }))
        .status,
    ).toBe(404);
    expect(
      (await post(farmer, '/api/v1/webhooks', { region: 'niigata', url: u, events: ['tip.created'] })).status,
    ).toBe(403);
    expect(
      (await post(officer, '/api/v1/webhooks', { region: 'hokkaido', url: u, events: ['review.requested'] }))
        .status,
    ).toBe(403);
    expect(
      (
        await post(farmer, '/api/v1/webhooks', {
          farm: 'demo-farm',
          region: 'niigata',
          url: u,
          events: ['tip.created'],
        })
      ).status,
    ).toBe(400);
    const noReview = await post(farmer, '/api/v1/webhooks', {
      farm: 'demo-farm',
      url: u,
      events: ['review.requested'],
    });
    expect(noReview.status).toBe(400);
    expect((await noReview.json()).pointer).toBe('/events/0');
    expect(
      (
        await post(farmer, '/api/v1/webhooks', {
          farm: 'demo-farm',
          url: u,
          events: ['tip.created', 'tip.created'],
        })
      ).status,
    ).toBe(400);
    expect((await post(farmer, '/api/v1/webhooks', { farm: 'demo-farm', url: u, events: [] })).status).toBe(
      400,
    );
    expect(
      (
        await post(farmer, '/api/v1/webhooks', {
          farm: 'demo-farm',
          url: `http://x/${'a'.repeat(2000)}`,
          events: ['tip.created'],
        })
      ).status,
    ).toBe(400);

    const region = await hook(officer, {
      region: 'niigata',
      url: u,
      events: ['review.requested', 'tip.created'],
    });
    const farm = await hook(farmer, {
      farm: 'demo-farm',
      url: u,
      events: ['tip.created', 'recommendation.approved'],
    });
    expect((await json<WebhookView[]>(officer('/api/v1/webhooks'))).map((x) => x.id)).toEqual([region.id]);
    expect((await json<WebhookView[]>(farmer('/api/v1/webhooks'))).map((x) => x.id)).toEqual([farm.id]);
    expect(await json(otherFarmer('/api/v1/webhooks'))).toEqual([]);
    expect(await json(partner('/api/v1/webhooks'))).toEqual([]);
    for (const [f, id] of [
      [otherFarmer, farm.id],
      [partner, farm.id],
      [farmer, region.id],
      [officer, farm.id],
    ] as const) {
      expect((await f(`/api/v1/webhooks/${id}/deliveries`)).status).toBe(404);
      expect((await post(f, `/api/v1/webhooks/${id}/ping`)).status).toBe(404);
      expect((await f(`/api/v1/webhooks/${id}`, { method: 'DELETE' })).status).toBe(404);
    }
    expect((await officer(`/api/v1/webhooks/${region.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await farmer(`/api/v1/webhooks/${farm.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('writes no secret and no URL token into the logs', () => {
    expect(logs).toMatch(/webhook delivery (failed; will retry|gave up)/);
    expect(secrets.length).toBeGreaterThan(3);
    for (const s of secrets) expect(logs).not.toContain(s);
    expect(logs).not.toContain('s3cr3t-token-in-query');
    expect(logs).not.toContain('x-hatake-signature');
  });
});
