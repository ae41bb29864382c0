// The gateway compares its clock with the server's at every sync. When they differ by more than a
// minute it raises one clock_skew event, saying by how much and which way — it cannot tell which
// clock is wrong — and raises another only after they agreed again (a second jump, either side's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../../protocol/sync.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await stack.gateway.sync!.stop(); // the test tells the gateway what each sync measured
});
afterAll(async () => {
  await stack.close();
});

const skewEvents = () =>
  (stack.gateway.store.db.prepare("SELECT body FROM outbox WHERE kind = 'event'").all() as { body: string }[])
    .map((r) => JSON.parse(r.body) as GatewayEvent)
    .filter((e) => e.type === 'clock_skew');

describe('the clock_skew event', () => {
  it('is raised once per disagreement, says which way, and again after the clocks agreed', () => {
    const sync = stack.gateway.sync!;
    sync.emit('clock', 120_000);
    sync.emit('clock', 125_000);
    expect(skewEvents().map((e) => e.message)).toEqual([
      "the server's clock is 120 s ahead of the gateway's; the gateway times readings by the server's clock and flags far-off ones — check both clocks",
    ]);
    sync.emit('clock', 30_000); // closer, not yet in agreement: nothing new
    expect(skewEvents()).toHaveLength(1);
    sync.emit('clock', 300); // agreed
    sync.emit('clock', -2_700_000); // the server's clock set 45 minutes back
    const events = skewEvents();
    expect(events).toHaveLength(2);
    expect(events[1]!.message).toMatch(/^the server's clock is 2700 s behind the gateway's/);
    expect(events[1]!.detail).toEqual({ offsetMs: -2_700_000 });
  });
});
