// The ingest's commit window (storage.commitWindowMs): a message from a device that reports
// slowly waits up to the window for others to share its commit — fewer commits, less of the SD
// card rewritten — while a device sending again soon (a burst, the replay of its backlog, a
// flood) is never held. Real store, registry and catalogue; the clock is vitest's fake one, so
// the test counts commits rather than timing anything.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { provisionRegistry } from '../../firmware-config/provision.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { DeviceRegistry } from '../../gateway/registry.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { Ingest, type IngestOutcome } from '../../gateway/ingest.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';

const WINDOW = 500;
let dir: string;
let store: GatewayStore;
let metrics: GatewayMetrics;
let ingest: Ingest;
let t = Date.parse('2026-12-04T06:00:00Z');

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance', 'Date'] });
  dir = mkdtempSync(join(tmpdir(), 'hatake-window-'));
  const { registry } = provisionRegistry(demoManifest());
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry));
  store = new GatewayStore(join(dir, 'gateway.db'));
  metrics = new GatewayMetrics(false);
  ingest = newIngest(WINDOW);
});
afterEach(() => {
  vi.useRealTimers();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An ingest on this test's store, registry and metrics, with the given commit window. */
const newIngest = (commitWindowMs: number) =>
  new Ingest(store, new DeviceRegistry(join(dir, 'registry.json'), quietLog()), loadCatalogue(), metrics, {
    maxPayloadBytes: 4096,
    maxGroup: 1000,
    commitWindowMs,
  });
const commits = () => metrics.value('hatake_gateway_commits_total');
/** A metric each demo device's kit has. */
const METRIC: Record<string, string> = {
  'soil-1': 'soil_vwc',
  'wx-1': 'air_temperature',
  'water-1': 'water_level',
};
const VALUE: Record<string, number> = { soil_vwc: 0.25, air_temperature: 12, water_level: 4 };
const payload = (device = 'soil-1') =>
  Buffer.from(JSON.stringify({ time: (t += 1000), values: { [METRIC[device]!]: VALUE[METRIC[device]!] } }));
/** Submits one message; its outcome lands in `done` once durable. */
function send(device: string, done: IngestOutcome[]): Promise<IngestOutcome> {
  const p = ingest.submit(device, `hatake/v1/demo-farm/${device}/up`, payload(device));
  void p.then((o) => done.push(o));
  return p;
}

describe('the commit window', () => {
  it('holds slow reporters’ messages until the window ends, then commits them together', async () => {
    const done: IngestOutcome[] = [];
    void send('soil-1', done);
    await vi.advanceTimersByTimeAsync(100);
    void send('wx-1', done);
    void send('water-1', done);
    await vi.advanceTimersByTimeAsync(WINDOW - 101);
    // Not yet durable: no commit, nobody released (no PUBACK).
    expect(done).toEqual([]);
    expect(await commits()).toBe(0);
    expect(done).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await commits()).toBe(1);
    expect(done).toHaveLength(3);
    expect(done.every((o) => 'accepted' in o)).toBe(true);
    expect((store.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n).toBe(3);
  });

  it('does not hold a device that sends again soon: a replay goes one message after another, not one a window', async () => {
    const done: IngestOutcome[] = [];
    // The first message of a quiet device waits for company…
    const first = send('soil-1', done);
    await vi.advanceTimersByTimeAsync(WINDOW);
    await first;
    expect(await commits()).toBe(1);
    // …then the device replays its backlog, each message on the PUBACK of the one before.
    for (let i = 0; i < 20; i++) {
      const p = send('soil-1', done);
      await vi.advanceTimersByTimeAsync(0); // the end of the event loop's turn, no window
      await p;
    }
    expect(await commits()).toBe(21);
    expect(done).toHaveLength(21);
    // The fake clock moved only by the first window: the replay waited for no timer.
    expect(performance.now()).toBeLessThan(WINDOW + 50);
  });

  it('lets a message that may not wait take the held ones with it', async () => {
    const done: IngestOutcome[] = [];
    void send('wx-1', done); // slow: held
    await vi.advanceTimersByTimeAsync(WINDOW + 10);
    expect(await commits()).toBe(1);
    void send('water-1', done); // slow: held
    await vi.advanceTimersByTimeAsync(10);
    void send('wx-1', done); // wx-1 again after 20 ms: in a hurry
    await vi.advanceTimersByTimeAsync(0);
    expect(await commits()).toBe(2);
    expect(done).toHaveLength(3);
  });

  it('is off at 0: every turn of the event loop commits what arrived', async () => {
    const off = newIngest(0);
    const p = off.submit('soil-1', 'hatake/v1/demo-farm/soil-1/up', payload());
    await vi.advanceTimersByTimeAsync(0);
    await p;
    expect(await commits()).toBe(1);
  });
});
