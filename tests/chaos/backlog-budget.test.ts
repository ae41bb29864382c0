// The offline backlog's disk budget: past it, raw readings become hourly aggregates, then the
// oldest are dropped — never a recommendation, a tip or an event — and what happened is counted
// and reported to the server when the link returns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../protocol/telemetry.ts';
import { demoTip } from '../helpers/tip.ts';
import { enforceBacklogBudget, pendingBacklogCounts } from '../../gateway/backlog.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { quietLog, startServer, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ server: false });
});
afterAll(async () => {
  await stack.close();
});

const HOUR = 3_600_000;

function readings(n: number, t0: number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      device: i % 2 ? 'soil-1' : 'water-1',
      metric: i % 2 ? 'soil_vwc' : 'water_level',
      value: i % 2 ? 0.2 + (i % 10) / 100 : 3 + (i % 7),
      unit: i % 2 ? 'm3/m3' : 'cm',
      time: t0 + i * 30_000,
      flags: [],
    });
  }
  return out;
}

describe('backlog over its disk budget', () => {
  it('aggregates old readings, keeps every recommendation and tip, and reports the counts on reconnect', async () => {
    const store = stack.gateway.store;
    const now = Date.now();
    const t0 = Math.floor((now - 3 * 24 * HOUR) / HOUR) * HOUR;
    const rec = await demoRecommendation(now);
    // Two days of readings queued long ago, recommendations and tips among them.
    const old = readings(11_520, t0);
    for (let i = 0; i < old.length; i += 1000) store.commit(old.slice(i, i + 1000), [], now - 2 * 24 * HOUR);
    for (let k = 0; k < 3; k++)
      store.enqueue('recommendation', { ...rec, id: `rec-budget-${k}` }, now - 2 * 24 * HOUR);
    const tip = demoTip(now);
    store.enqueue('tip', tip, now - 2 * 24 * HOUR);
    const before = store.outboxBytes;
    expect(before).toBeGreaterThan(1_000_000);

    // Budget: a quarter of what is queued. Readings older than 1 h may become aggregates.
    const done = enforceBacklogBudget(
      store,
      { maxBytes: Math.floor(before / 4), aggregateAfterMs: HOUR },
      now,
    );
    expect(done.aggregatedReadings).toBe(11_520);
    // 2 devices × 96 hours of data (30 s apart = 120 per hour per device pair).
    expect(done.aggregates).toBe(2 * 96);
    expect(done.droppedReadings + done.droppedAggregates).toBe(0);
    expect(store.outboxBytes).toBeLessThanOrEqual(Math.floor(before / 4));
    const kinds = store.db
      .prepare('SELECT kind, COUNT(*) AS n FROM outbox GROUP BY kind ORDER BY kind')
      .all();
    expect(kinds).toEqual([
      { kind: 'aggregate', n: 192 },
      { kind: 'event', n: 1 },
      { kind: 'manifest', n: 1 },
      { kind: 'recommendation', n: 3 },
      { kind: 'tip', n: 1 },
    ]);
    // A budget smaller than the aggregates: the oldest aggregates go, nothing else.
    const squeezed = enforceBacklogBudget(
      store,
      { maxBytes: store.outboxBytes - 5_000, aggregateAfterMs: HOUR },
      now,
    );
    expect(squeezed.droppedAggregates).toBeGreaterThan(0);
    expect(
      store.db
        .prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind IN ('recommendation', 'tip', 'manifest')")
        .get(),
    ).toEqual({ n: 5 });
    const totals = pendingBacklogCounts(store);
    expect(totals).toMatchObject({ aggregatedReadings: 11_520, aggregates: 192, droppedReadings: 0 });
    expect(totals.droppedAggregates).toBe(squeezed.droppedAggregates);
    // One report event waits in the outbox, with the running totals.
    const reports = store.db.prepare("SELECT body FROM outbox WHERE kind = 'event'").all() as {
      body: string;
    }[];
    expect(reports).toHaveLength(1);
    expect(JSON.parse(reports[0]!.body)).toMatchObject({ type: 'backlog_report', detail: totals });

    // What the aggregates hold, before they leave: every reading of the surviving aggregates,
    // and one hour checked against the readings it replaced.
    const queued = store.db
      .prepare(
        "SELECT COUNT(*) AS n, SUM(json_extract(body, '$.count')) AS readings FROM outbox WHERE kind = 'aggregate'",
      )
      .get() as { n: number; readings: number };
    const lastHour = t0 + 95 * HOUR;
    const inHour = old.filter((r) => r.device === 'soil-1' && r.time >= lastHour && r.time < lastHour + HOUR);
    const hourAgg = JSON.parse(
      (
        store.db
          .prepare(
            "SELECT body FROM outbox WHERE kind = 'aggregate' AND json_extract(body, '$.device') = 'soil-1' AND json_extract(body, '$.hour') = ?",
          )
          .get(lastHour) as { body: string }
      ).body,
    ) as { min: number; max: number; mean: number; count: number; unit: string };
    expect(hourAgg).toMatchObject({
      count: inHour.length,
      unit: 'm3/m3',
      min: Math.min(...inHour.map((r) => r.value)),
      max: Math.max(...inHour.map((r) => r.value)),
    });
    expect(hourAgg.mean).toBeCloseTo(inHour.reduce((a, r) => a + r.value, 0) / inHour.length, 9);

    // The link returns.
    const { server, url } = await startServer(stack.dir);
    try {
      const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
      const sync = new SyncClient(
        store,
        { gatewayId: 'gw-test', url, token, intervalMs: 60_000, batchMaxItems: 500 },
        quietLog(),
      );
      await sync.drain();
      await sync.stop();
      expect(store.outboxDepth()).toBe(0);
      const report = server.ctx.db
        .prepare("SELECT message, detail FROM events WHERE type = 'backlog_report'")
        .get() as { message: string; detail: string };
      expect(JSON.parse(report.detail)).toEqual(totals);
      expect(report.message).toMatch(/11520 readings replaced by 192 hourly aggregates/);
      const aggregates = server.ctx.db
        .prepare("SELECT COUNT(*) AS n, SUM(count) AS readings FROM aggregates WHERE farm = 'demo-farm'")
        .get() as { n: number; readings: number };
      expect(aggregates).toEqual({ n: queued.n, readings: queued.readings });
      expect(aggregates.n).toBe(192 - squeezed.droppedAggregates);
      // The recommendations and the tip arrived, through the server's real appliers.
      expect(
        server.ctx.db
          .prepare("SELECT COUNT(*) AS n FROM review_recommendations WHERE id LIKE 'rec-budget-%'")
          .get(),
      ).toEqual({ n: 3 });
      expect(server.ctx.db.prepare('SELECT COUNT(*) AS n FROM tips WHERE id = ?').get(tip.id)).toEqual({
        n: 1,
      });
      // A resent aggregate (a lost answer) is not counted twice.
      store.enqueue('aggregate', hourAgg, Date.now());
      const again = new SyncClient(
        store,
        { gatewayId: 'gw-test', url, token, intervalMs: 60_000, batchMaxItems: 500 },
        quietLog(),
      );
      await again.drain();
      await again.stop();
      expect(store.outboxDepth()).toBe(0);
      expect(
        server.ctx.db
          .prepare("SELECT COUNT(*) AS n, SUM(count) AS readings FROM aggregates WHERE farm = 'demo-farm'")
          .get(),
      ).toEqual(aggregates);
    } finally {
      await server.close();
    }
  });
});
