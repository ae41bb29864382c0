// The uplink against a real server when things go wrong in the middle of a drain:
// - the server refuses one item for good (a manifest of another farm → 403): the batch is halved
//   until that item is alone, only it goes to the dead letters, everything else arrives;
// - the backlog outgrows its budget while a batch is on its way: the rows of that batch are not
//   aggregated or dropped under it, so no reading reaches the server twice (raw and in an
//   aggregate), and the report's counts match what arrived.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../protocol/telemetry.ts';
import { enforceBacklogBudget } from '../../gateway/backlog.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import type { GatewayStore } from '../../gateway/store.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { quietLog, startServer, startStack, type Stack } from '../helpers/stack.ts';

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

describe('sync refusals and the budget during a drain', () => {
  it('isolates an item the server refuses for good and delivers the rest of its batch', async () => {
    emptyOutbox();
    const now = Date.now();
    const t0 = now - 6 * HOUR;
    store.commit(readings('soil-1', 60, t0), [], now);
    store.enqueue('manifest', { farm: { id: 'someone-else', name: 'x' }, fields: [], devices: [] }, now);
    const rec = { ...(await demoRecommendation(now)), id: 'rec-refusal-survivor' };
    store.enqueue('recommendation', rec, now);
    store.commit(readings('soil-1', 60, t0 + 60 * 30_000), [], now);
    const token = server.ctx.auth.issueGatewayToken('gw-refusals', 'demo-farm');
    let posts = 0;
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-refusals',
        url,
        token,
        intervalMs: 60_000,
        batchMaxItems: 500,
        fetch: (u, init) => (posts++, fetch(u, init)),
      },
      quietLog(),
    );
    const deadBefore = store.deadLetters(1000).length;
    await sync.drain();
    await sync.stop();
    expect(store.outboxDepth()).toBe(0);
    // Only the manifest of another farm is a dead letter, with the server's reason.
    const dead = store.deadLetters(1000).slice(0, store.deadLetters(1000).length - deadBefore);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ topic: 'outbox/manifest', code: 'HATAKE_E_SYNC_BATCH' });
    expect(dead[0]!.reason).toMatch(/403.*someone-else|someone-else.*403|HATAKE_E_FORBIDDEN/s);
    expect(sync.status.deadLettered).toBe(1);
    // Everything else arrived, once.
    expect(await server.ctx.readings.count('demo-farm', 'soil-1')).toBe(120);
    expect(
      server.ctx.db.prepare('SELECT COUNT(*) AS n FROM review_recommendations WHERE id = ?').get(rec.id),
    ).toEqual({ n: 1 });
    // Halving took a handful of tries, not one per item.
    expect(posts).toBeLessThan(20);
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
