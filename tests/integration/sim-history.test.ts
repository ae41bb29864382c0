// A simulated kit with `history` (what `hatake start` gives each kit on a fresh demo): on its first
// connection it reports the past day, oldest first, through the gateway's real broker and ingest
// (within the default publish-rate burst), then its live readings — and not the past again after
// a reconnect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedDevice } from '../../sim/device.ts';
import { SIGNALS } from '../../sim/signals.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ server: false });
});
afterAll(async () => {
  await stack.close();
});

const times = () =>
  (
    stack.gateway.store.db
      .prepare("SELECT time FROM readings WHERE device = 'soil-1' AND metric = 'soil_vwc' ORDER BY time")
      .all() as { time: number }[]
  ).map((r) => r.time);

describe('a simulated kit’s first day', () => {
  it('reports the past 24 h every 30 min, oldest first, then live, and the past only once', async () => {
    const kit = new SimulatedDevice({
      farm: 'demo-farm',
      device: 'soil-1',
      secret: stack.secrets['soil-1']!,
      brokerUrl: stack.mqttUrl,
      intervalMs: 60_000,
      signal: SIGNALS['hatake-soil-probe']!(1),
      history: { hours: 24, everyMs: 30 * 60_000 },
    });
    const started = Date.now();
    try {
      expect(await kit.start()).toBe(true);
      // 47 past reports and the first live one, none refused by the default rate limit (burst 50).
      await eventually(() => times().length === 48, 10_000);
      const t = times();
      const live = t.at(-1)!;
      expect(live).toBeGreaterThanOrEqual(started - 1000);
      const past = t.slice(0, -1);
      expect(past[0]).toBeLessThanOrEqual(started - 23.5 * 3_600_000 + 1000);
      for (let i = 1; i < past.length; i++) expect(past[i]! - past[i - 1]!).toBe(30 * 60_000);
      expect(live - past.at(-1)!).toBeGreaterThan(29 * 60_000);
      expect(await stack.gateway.metrics.value('hatake_gateway_refused_total')).toBe(0);
      // Reconnect (a broker restart, a Wi-Fi drop): only live reports follow.
      // (aedes keeps its connections in `clients`, by client id; its types do not say so)
      const aedes = stack.gateway.broker!.aedes as unknown as { clients: Record<string, { close(): void }> };
      aedes.clients['soil-1-sim']!.close();
      await eventually(() => times().length === 49, 10_000);
      expect(times().at(-1)!).toBeGreaterThanOrEqual(started);
    } finally {
      await kit.stop();
    }
  });
});
