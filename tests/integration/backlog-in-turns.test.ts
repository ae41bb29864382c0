// The outbox budget works a big overshoot off in turns of the event loop: a gateway whose outbox
// is far over its budget (weeks offline; a budget lowered over a full outbox) aggregates a few
// thousand readings a pass and lets the devices' PUBACKs and the status page in between, instead
// of one pass of seconds (60,000 readings took 0.5 s here in one go; a Pi several times that).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../protocol/telemetry.ts';
import { BACKLOG_CHUNK } from '../../gateway/maintenance.ts';
import { freePort } from '../helpers/ports.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';
import { outboxCounted } from '../helpers/store-rows.ts';

const BUDGET = 600_000;
const N = 60_000;
let stack: Stack;
beforeAll(async () => {
  const dead = await freePort(); // nobody listens: the link is down for the whole test
  stack = await startStack({
    server: false,
    gateway: {
      server: { url: `http://127.0.0.1:${dead}`, token: 'gw-token-that-is-never-checked' },
      sync: { intervalMs: 60_000, maxOutboxBytes: BUDGET, aggregateAfterMs: 1 },
    },
  });
});
afterAll(async () => {
  await stack.close();
});

describe('the outbox budget over a big overshoot', () => {
  it('aggregates a chunk or a few per turn of the event loop until the outbox is under budget', async () => {
    const store = stack.gateway.store;
    const now = Date.now();
    const t0 = now - 30 * 24 * 3_600_000;
    for (let i = 0; i < N; i += 5_000) {
      const batch: Reading[] = [];
      for (let k = i; k < i + 5_000; k++)
        batch.push({
          device: `probe-${k % 40}`,
          metric: 'soil_vwc',
          value: 0.2 + (k % 17) / 1000,
          unit: 'm3/m3',
          time: t0 + k * 1_000,
          flags: [],
        });
      store.commit(batch, [], now - 3_600_000);
    }
    expect(store.outboxBytes).toBeGreaterThan(10 * BUDGET);

    // One pass, as the housekeeping round or a commit starts it (its 2 s spacing set aside).
    const maintenance = stack.gateway.maintenance as unknown as { lastBacklogCheck: number };
    maintenance.lastBacklogCheck = -Infinity;
    const first = stack.gateway.maintenance.enforceBacklog(now)!;
    // It did part of the work and handed the rest to later turns: the outbox is still over.
    expect(first.aggregatedReadings).toBeGreaterThanOrEqual(BACKLOG_CHUNK);
    expect(first.aggregatedReadings).toBeLessThan(N);
    expect(store.outboxBytes).toBeGreaterThan(BUDGET);

    // The rest follows by itself, pass after pass, while the loop keeps turning.
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    await eventually(() => store.outboxBytes <= BUDGET, 30_000);
    ticking = false;
    expect(turns).toBeGreaterThan(1); // the loop turned between passes
    // Every reading is still there once, raw or in an aggregate (the oldest were aggregated until
    // the outbox fitted; nothing had to be dropped); the totals are the rows' own sums.
    const raw = store.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'reading'").get() as {
      n: number;
    };
    const counted = store.db
      .prepare("SELECT SUM(json_extract(body, '$.count')) AS n FROM outbox WHERE kind = 'aggregate'")
      .get() as { n: number };
    expect(counted.n).toBeGreaterThan(N / 2);
    expect(counted.n + raw.n).toBe(N);
    expect({ bytes: store.outboxBytes, rows: store.outboxDepth() }).toEqual(outboxCounted(store));
  });
});
