// The uplink against a real server when things go wrong in the middle of a drain:
// - the server says an item is invalid (400 problem+json, a schema failure under /items): the
//   batch is halved until that item is alone, only it goes to the dead letters — a document whole,
//   a reading by its head — and everything else arrives;
// - the server refuses the batches themselves (403 for a token of another gateway; 400 for an
//   envelope it does not take) or a reverse proxy in front of it answers 404/403 pages during
//   maintenance: nothing is dead-lettered, the outbox stays as it was, the retries back off (one
//   item as a probe), the gateway's health says so, and once the cause is gone everything
//   arrives, once;
// - the backlog outgrows its budget while a batch is on its way: the rows of that batch are not
//   aggregated or dropped under it, so no reading reaches the server twice (raw and in an
//   aggregate), and the report's counts match what arrived.
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Reading } from '../../protocol/telemetry.ts';
import type { SyncAck, SyncBatch } from '../../protocol/sync.ts';
import { enforceBacklogBudget } from '../../gateway/backlog.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import { DEAD_LETTER_HEAD_BYTES, type GatewayStore, type OutboxRow } from '../../gateway/store.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { demoTip } from '../helpers/tip.ts';
import { ServerFront } from '../helpers/server-front.ts';
import { eventually, quietLog, startServer, startStack, type Stack } from '../helpers/stack.ts';

const HOUR = 3_600_000;
let stack: Stack;
let server: HatakeServer;
let url: string;
let store: GatewayStore;
beforeAll(async () => {
  stack = await startStack({ server: false });
  store = stack.gateway.store;
  ({ server, url } = await startServer(stack.dir));
});
afterAll(async () => {
  await server.close();
  await stack.close();
});

function readings(device: string, n: number, t0: number): Reading[] {
  return Array.from({ length: n }, (_, i) => ({
    device,
    metric: 'soil_vwc',
    value: 0.2 + (i % 10) / 100,
    unit: 'm3/m3',
    time: t0 + i * 30_000,
    flags: [],
  }));
}

const emptyOutbox = () => store.db.prepare('DELETE FROM outbox').run() && store.recountOutbox();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every row of a store's outbox, as it is. */
const outboxOf = (s: GatewayStore) =>
  s.db.prepare('SELECT seq, kind, body FROM outbox ORDER BY seq').all() as OutboxRow[];
/** Dead letters of outbox rows (not of payloads refused at ingest). */
const outboxDeadLetters = (s: GatewayStore) =>
  s.db.prepare("SELECT COUNT(*) AS n FROM dead_letters WHERE topic LIKE 'outbox/%'").get() as { n: number };
const recommendationsOnServer = (id: string) =>
  server.ctx.db.prepare('SELECT COUNT(*) AS n FROM review_recommendations WHERE id = ?').get(id);
const tipsOnServer = (id: string) =>
  server.ctx.db.prepare('SELECT COUNT(*) AS n FROM tips WHERE id = ?').get(id);

/** A fetch that notes each sync batch it carries (when, how many items) before sending it. */
function countingFetch(posts: { at: number; items: number }[]) {
  return (u: URL, init: RequestInit) => {
    const batch = JSON.parse(gunzipSync(init.body as Uint8Array).toString()) as SyncBatch;
    posts.push({ at: Date.now(), items: batch.items.length });
    return fetch(u, init);
  };
}

describe('sync refusals and the budget during a drain', () => {
  it('dead-letters only the items the server says are invalid — a document whole — and delivers the rest', async () => {
    emptyOutbox();
    const now = Date.now();
    const t0 = now - 6 * HOUR;
    store.commit(readings('soil-1', 60, t0), [], now);
    // A tip the server's schema refuses (no kind, severity, field…), longer than a dead letter's head.
    const brokenTip = {
      id: 'tip-broken',
      farm: 'demo-farm',
      text: '水位が低い状態が続いています。'.repeat(20),
    };
    store.enqueue('tip', brokenTip, now);
    const rec = { ...(await demoRecommendation(now)), id: 'rec-refusal-survivor' };
    store.enqueue('recommendation', rec, now);
    const tip = { ...demoTip(now), id: 'tip-refusal-survivor' };
    store.enqueue('tip', tip, now);
    // A reading whose value is text (a row written by a bug): refused, kept by its head only.
    const brokenReading = JSON.stringify({
      ...readings('soil-1', 1, t0 - 30_000)[0],
      value: 'wet',
      note: 'x'.repeat(100),
    });
    store.db
      .prepare("INSERT INTO outbox (kind, priority, body, created) VALUES ('reading', 100, ?, ?)")
      .run(brokenReading, now);
    store.commit(readings('soil-1', 60, t0 + 60 * 30_000), [], now);
    store.recountOutbox();
    const token = server.ctx.auth.issueGatewayToken('gw-refusals', 'demo-farm');
    const posts: { at: number; items: number }[] = [];
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-refusals',
        url,
        token,
        intervalMs: 60_000,
        batchMaxItems: 500,
        fetch: countingFetch(posts),
      },
      quietLog(),
    );
    const deadBefore = store.deadLetters(1000).length;
    await sync.drain();
    await sync.stop();
    expect(store.outboxDepth()).toBe(0);
    expect(sync.status.refused).toBeNull();
    // Only the two invalid items are dead letters, with the server's code and reason.
    const dead = store.deadLetters(1000).slice(0, store.deadLetters(1000).length - deadBefore);
    expect(dead.map((d) => d.topic).sort()).toEqual(['outbox/reading', 'outbox/tip']);
    for (const d of dead) {
      expect(d.code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      expect(d.reason).toMatch(/^HTTP 400: .*\/items\/0\/(?:body|kind)/s);
    }
    expect(sync.status.deadLettered).toBe(2);
    // The tip is kept whole; the reading by its head, as before.
    const docs = store.deadLetteredDocuments();
    expect(docs[0]).toMatchObject({ kind: 'tip', code: 'HATAKE_E_PAYLOAD_SCHEMA' });
    expect(JSON.parse(docs[0]!.body)).toEqual(brokenTip);
    const readingRow = store.db
      .prepare("SELECT head, body FROM dead_letters WHERE topic = 'outbox/reading' ORDER BY id DESC LIMIT 1")
      .get() as { head: Buffer; body: string | null };
    expect(readingRow.body).toBeNull();
    expect(readingRow.head.toString()).toBe(brokenReading.slice(0, DEAD_LETTER_HEAD_BYTES));
    // Everything else arrived, once.
    expect(await server.ctx.readings.count('demo-farm', 'soil-1')).toBe(120);
    expect(recommendationsOnServer(rec.id)).toEqual({ n: 1 });
    expect(tipsOnServer(tip.id)).toEqual({ n: 1 });
    // Halving took a handful of tries, not one per item.
    expect(posts.length).toBeLessThan(30);
  });

  it('keeps everything while a token of another gateway is refused (403), backs off, then delivers it all once with the right one', async () => {
    emptyOutbox();
    const now = Date.now();
    const t0 = now - 2 * HOUR;
    store.commit(readings('probe-403', 200, t0), [], now);
    const rec = { ...(await demoRecommendation(now)), id: 'rec-held-403' };
    store.enqueue('recommendation', rec, now);
    const tip = { ...demoTip(now), id: 'tip-held-403' };
    store.enqueue('tip', tip, now);
    const before = outboxOf(store);
    const deadBefore = outboxDeadLetters(store);

    // The token the gateway was given belongs to another gateway id: every batch gets 403.
    const foreign = server.ctx.auth.issueGatewayToken('gw-someone-else', 'demo-farm');
    const posts: { at: number; items: number }[] = [];
    const lines: { level: number; msg: string; status?: number; code?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const wrong = new SyncClient(
      store,
      {
        gatewayId: 'gw-held',
        url,
        token: foreign,
        intervalMs: 200,
        batchMaxItems: 500,
        fetch: countingFetch(posts),
      },
      log,
    );
    wrong.start();
    await eventually(() => posts.length >= 3, 10_000, 20);
    const third = posts[2]!.at;
    await sleep(900);
    await wrong.stop();
    // Backed off: 0.5–1 s, then 1–2 s, then at least 2 s (nothing in the 0.9 s after the third).
    expect(posts.length).toBe(3);
    const gaps = [posts[1]!.at - posts[0]!.at, third - posts[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(450);
    expect(gaps[1]).toBeGreaterThanOrEqual(950);
    // The first try carried the batch; the retries one item each, as a probe.
    expect(posts.map((p) => p.items)).toEqual([202, 1, 1]);
    // Nothing dead-lettered, the outbox exactly as it was.
    expect(outboxOf(store)).toEqual(before);
    expect(outboxDeadLetters(store)).toEqual(deadBefore);
    expect(wrong.status.deadLettered).toBe(0);
    expect(wrong.status.refused).toMatchObject({ status: 403, code: 'HATAKE_E_FORBIDDEN', attempts: 3 });
    expect(wrong.status.lastError).toMatch(/^HTTP 403: .*gw-someone-else/);
    expect(wrong.status.stopped).toBeNull();
    // Said once, not once per try.
    const held = lines.filter((l) => /uplink held/.test(l.msg));
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ level: 50, status: 403, code: 'HATAKE_E_FORBIDDEN' });
    expect(lines.filter((l) => l.level >= 40)).toHaveLength(1);
    expect(recommendationsOnServer(rec.id)).toEqual({ n: 0 });
    expect(await server.ctx.readings.count('demo-farm', 'probe-403')).toBe(0);

    // The right token in the configuration (the gateway restarted): everything arrives, once.
    const right = server.ctx.auth.issueGatewayToken('gw-held', 'demo-farm');
    const acks: SyncAck[] = [];
    const fixed = new SyncClient(
      store,
      { gatewayId: 'gw-held', url, token: right, intervalMs: 60_000, batchMaxItems: 500 },
      quietLog(),
    );
    fixed.on('synced', (ack) => acks.push(ack));
    await fixed.drain();
    await fixed.stop();
    expect(store.outboxDepth()).toBe(0);
    expect(outboxDeadLetters(store)).toEqual(deadBefore);
    expect(await server.ctx.readings.count('demo-farm', 'probe-403')).toBe(200);
    expect(acks.reduce((n, a) => n + a.applied, 0)).toBe(200);
    expect(acks.reduce((n, a) => n + a.duplicates, 0)).toBe(0);
    expect(recommendationsOnServer(rec.id)).toEqual({ n: 1 });
    expect(tipsOnServer(tip.id)).toEqual({ n: 1 });
  });

  it('keeps everything when the server refuses the envelope (a status field it does not take), not an item', async () => {
    emptyOutbox();
    const now = Date.now();
    store.commit(readings('probe-envelope', 20, now - HOUR), [], now);
    store.enqueue('tip', { ...demoTip(now), id: 'tip-envelope' }, now);
    const before = outboxOf(store);
    const deadBefore = outboxDeadLetters(store);
    const token = server.ctx.auth.issueGatewayToken('gw-envelope', 'demo-farm');
    const posts: { at: number; items: number }[] = [];
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-envelope',
        url,
        token,
        intervalMs: 60_000,
        batchMaxItems: 500,
        fetch: countingFetch(posts),
        // A version string longer than this server takes: every batch fails at /status/version.
        status: () => ({ version: `9.${'9'.repeat(60)}`, downlinkVersion: 0 }),
      },
      quietLog(),
    );
    await sync.drain();
    await sync.stop();
    expect(posts).toHaveLength(1);
    expect(sync.status.refused).toMatchObject({ status: 400, code: 'HATAKE_E_PAYLOAD_SCHEMA' });
    expect(sync.status.lastError).toMatch(/\/status\/version/);
    expect(outboxOf(store)).toEqual(before);
    expect(outboxDeadLetters(store)).toEqual(deadBefore);
  });

  it('keeps everything while a reverse proxy answers 404 and 403 pages, says so in the health, and delivers it all after', async () => {
    // A reverse proxy in front of the server, as a farm's server may sit behind nginx.
    const proxy = new ServerFront(url);
    await proxy.start();
    proxy.maintenance = 404;
    const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
    const gw = await startStack({
      server: false,
      gateway: {
        server: { url: proxy.url, token },
        sync: { intervalMs: 200, batchDelayMs: 20, batchMaxItems: 500, backoffCapMs: 200 },
      },
    });
    try {
      const g = gw.gateway;
      const now = Date.now();
      g.store.commit(readings('probe-proxy', 100, now - 3 * HOUR), [], now);
      const rec = { ...(await demoRecommendation(now)), id: 'rec-held-proxy' };
      g.store.enqueue('recommendation', rec, now);
      const tip = { ...demoTip(now), id: 'tip-held-proxy' };
      g.store.enqueue('tip', tip, now);
      const syncPosts = () => proxy.seen.filter((r) => r.path === '/api/v1/sync');
      await eventually(() => syncPosts().length >= 3, 15_000);
      const sync = g.sync!;
      expect(sync.status.refused).toMatchObject({ status: 404, code: null });
      expect(sync.status.lastError).toMatch(/^HTTP 404: <html>/);
      const held = outboxOf(g.store);
      expect(held.filter((r) => r.kind === 'reading')).toHaveLength(100);
      expect(held.some((r) => r.kind === 'recommendation')).toBe(true);
      expect(outboxDeadLetters(g.store)).toEqual({ n: 0 });
      expect(sync.status.deadLettered).toBe(0);
      // Backed off, not bisected: a few tries, spaced out.
      const at = syncPosts().map((r) => r.at);
      expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(200);

      // Where the gateway reports its state: /healthz, the status page, /api/status.
      const base = `http://127.0.0.1:${g.httpPort}`;
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { problems: string[] }).problems).toContain(
        'sync refused by the server: HTTP 404; outbox kept, retrying',
      );
      expect(g.status().health.issues).toContainEqual({ code: 'sync_refused', status: 404 });
      expect(await (await fetch(`${base}/`)).text()).toContain('サーバーが送信を受け付けません (HTTP 404)');
      expect(await (await fetch(`${base}/?lang=en`)).text()).toContain(
        'The server refuses what this gateway sends (HTTP 404)',
      );

      // The proxy changes its answer: the state follows; still nothing dead-lettered.
      proxy.maintenance = 403;
      await eventually(() => sync.status.refused?.status === 403, 15_000);
      expect(g.status().health.issues).toContainEqual({ code: 'sync_refused', status: 403 });
      const stillHeld = new Set(outboxOf(g.store).map((r) => r.seq));
      for (const r of held) expect(stillHeld.has(r.seq), `seq ${r.seq} kept`).toBe(true);
      expect(outboxDeadLetters(g.store)).toEqual({ n: 0 });

      // Maintenance over: everything arrives, once, and the health is clear of it.
      proxy.maintenance = null;
      await eventually(
        async () => (await server.ctx.readings.count('demo-farm', 'probe-proxy')) === 100,
        20_000,
      );
      await eventually(() => g.store.outboxDepth() === 0 && sync.status.refused === null, 10_000);
      expect(recommendationsOnServer(rec.id)).toEqual({ n: 1 });
      expect(tipsOnServer(tip.id)).toEqual({ n: 1 });
      expect(outboxDeadLetters(g.store)).toEqual({ n: 0 });
      expect(g.status().health.issues?.some((p) => p.code === 'sync_refused')).toBe(false);
    } finally {
      await gw.close();
      await proxy.stop();
    }
  });

  it('leaves the rows of a batch on its way alone when the budget is enforced meanwhile', async () => {
    emptyOutbox();
    const now = Date.now();
    const t0 = Math.floor((now - 3 * 24 * HOUR) / HOUR) * HOUR;
    const total = 4_000;
    const old = readings('water-1', total, t0).map((r) => ({
      ...r,
      metric: 'water_level',
      unit: 'cm',
      value: 4,
    }));
    for (let i = 0; i < old.length; i += 1000) store.commit(old.slice(i, i + 1000), [], now - 2 * 24 * HOUR);
    const token = server.ctx.auth.issueGatewayToken('gw-race', 'demo-farm');
    let enforced = 0;
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-race',
        url,
        token,
        intervalMs: 60_000,
        batchMaxItems: 1000,
        // Ingest commits while the first batch is on its way and the budget is enforced: the
        // budget is half of what is queued, so it wants to aggregate every old reading.
        fetch: (u, init) => {
          if (enforced++ === 0)
            enforceBacklogBudget(
              store,
              { maxBytes: Math.floor(store.outboxBytes / 2), aggregateAfterMs: HOUR },
              now,
            );
          return fetch(u, init);
        },
      },
      quietLog(),
    );
    await sync.drain();
    await sync.stop();
    expect(store.outboxDepth()).toBe(0);
    const raw = await server.ctx.readings.count('demo-farm', 'water-1');
    const agg = server.ctx.db
      .prepare(
        `SELECT COALESCE(SUM(count), 0) AS n FROM aggregates WHERE farm = 'demo-farm' AND device = 'water-1'`,
      )
      .get() as { n: number };
    // The first batch arrived raw; the rest as aggregates; every reading exactly once.
    expect(raw).toBe(1000);
    expect(raw + agg.n).toBe(total);
    const report = server.ctx.db
      .prepare("SELECT detail FROM events WHERE type = 'backlog_report' ORDER BY time DESC")
      .get() as { detail: string };
    expect(JSON.parse(report.detail)).toMatchObject({ aggregatedReadings: total - 1000 });
  });
});
