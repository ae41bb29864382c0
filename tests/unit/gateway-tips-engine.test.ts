// The gateway's tip engine as a neighbour of ingest: it reads its window a series at a time with a
// turn of the event loop between them (MQTT and HTTP go on while a busy farm's window is read),
// evaluations run one at a time and raise a tip once, at most one clock-timed evaluation waits,
// and an engine stopped mid-read ends quietly without writing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalogue } from '../../firmware-config/catalogue.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { TipEngine } from '../../gateway/tips.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import type { Logger } from '../../runtime/log.ts';
import { FARM, KITS, MIN, device, field, jst } from './rules/fixtures.ts';

const NOW = jst('2026-06-10T12:00');
const manifest: Manifest = {
  farm: FARM,
  fields: [field({ id: 'f1', crop: 'rice', soilTexture: 'loam', plantingDate: '2026-05-10' })],
  devices: [
    device('soil-1', 'hatake-soil-probe', 'f1'),
    device('soil-2', 'hatake-soil-probe', 'f1'),
    device('wx-1', 'hatake-weather-station', 'f1'),
  ],
};

let dir: string;
let store: GatewayStore;
let errors: string[];
let engine: TipEngine;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-tips-engine-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
  const catalogue = new Catalogue();
  for (const k of KITS) catalogue.kits.set(k.id, k);
  errors = [];
  const log = {
    error: (o: unknown, msg?: string) => errors.push(`${msg ?? ''} ${JSON.stringify(o)}`),
    warn: () => {},
    info: () => {},
    debug: () => {},
    child: () => log,
  };
  engine = new TipEngine(
    store,
    catalogue,
    () => manifest,
    { windowHours: 48, minIntervalMs: 60_000, everyMs: 5 * MIN, timeZone: 'Asia/Tokyo' },
    log as unknown as Logger,
  );
  // Two hours a minute apart: every metric of the three devices, soil-1's battery low (3.4 V).
  const readings: Reading[] = [];
  for (let t = NOW - 2 * 60 * MIN; t <= NOW; t += MIN)
    for (const d of manifest.devices)
      for (const [metric, spec] of Object.entries(KITS.find((k) => k.id === d.kit)!.metrics)) {
        const value =
          metric === 'battery' ? (d.id === 'soil-1' ? 3.4 : spec.max - 0.2) : (spec.min + spec.max) / 2;
        readings.push({ device: d.id, metric, value, unit: spec.unit, time: t, flags: [] });
      }
  store.commit(readings, [], NOW);
});

afterEach(() => {
  engine.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const lowBattery = (tips: readonly { kind: string; devices: string[] }[]) =>
  tips.filter((t) => t.kind === 'battery_low').map((t) => t.devices);

describe('the tip engine beside ingest', () => {
  it('lets the event loop turn between the series it reads', async () => {
    const series = store.seriesKeys().length;
    expect(series).toBe(4 + 4 + 7);
    let turns = 0;
    let done = false;
    const tick = () => {
      if (done) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const raised = await engine.run(NOW);
    done = true;
    expect(lowBattery(raised)).toEqual([['soil-1']]);
    expect(turns).toBeGreaterThanOrEqual(series);
    expect(errors).toEqual([]);
  });

  it('raises a tip once when evaluations are asked for at once, reading one window at a time', async () => {
    // Evaluations in progress: from the read of the series list to the write of the tip state.
    let active = 0;
    let most = 0;
    const keys = store.seriesKeys.bind(store);
    store.seriesKeys = () => {
      most = Math.max(most, ++active);
      return keys();
    };
    const setMeta = store.setMeta.bind(store);
    store.setMeta = (k, v) => {
      if (k === 'tip_state') active--;
      setMeta(k, v);
    };
    const all = await Promise.all([engine.run(NOW), engine.run(NOW), engine.run(NOW + MIN)]);
    expect(all.map(lowBattery)).toEqual([[['soil-1']], [], []]);
    expect([most, active]).toEqual([1, 0]);
    expect(store.peekOutbox(1000).filter((r) => r.kind === 'tip')).toHaveLength(1);
    expect(engine.live().map((t) => t.kind)).toEqual(['battery_low']);
  });

  it('lets at most one clock-timed evaluation wait, however many are asked for', async () => {
    let reads = 0;
    const keys = store.seriesKeys.bind(store);
    store.seriesKeys = () => {
      reads++;
      return keys();
    };
    const first = engine.run(NOW); // in progress
    const timed = [engine.run(), engine.run(), engine.run()]; // the timer and new readings
    expect(timed[1]).toBe(timed[0]);
    expect(timed[2]).toBe(timed[0]);
    await Promise.all([first, ...timed]);
    expect(reads).toBe(2);
    // Once it started, the next one asked for waits anew.
    await engine.run();
    expect(reads).toBe(3);
  });

  it('stopped while it reads, it stops reading, writes nothing and says nothing', async () => {
    let reads = 0;
    const columns = store.seriesColumns.bind(store);
    store.seriesColumns = (...a) => {
      reads++;
      return columns(...a);
    };
    const running = engine.run(NOW);
    // A few series in, the store still open.
    while (reads < 3) await new Promise((r) => setImmediate(r));
    engine.stop();
    expect(await running).toEqual([]);
    expect(reads).toBeLessThan(store.seriesKeys().length);
    expect(errors).toEqual([]);
    expect(store.getMeta('tip_state')).toBeUndefined();
    expect(store.peekOutbox(1000).filter((r) => r.kind === 'tip')).toEqual([]);
    // And a stopped engine evaluates nothing more.
    const after = reads;
    expect(await engine.run(NOW)).toEqual([]);
    expect(await engine.run()).toEqual([]);
    expect(reads).toBe(after);
  });

  it('says so when the store fails under a running evaluation it was not told to stop', async () => {
    const running = engine.run(NOW);
    store.close();
    expect(await running).toEqual([]);
    expect(errors).toEqual([expect.stringContaining('rules not evaluated')]);
    store = new GatewayStore(join(dir, 'gateway.db'));
  });
});
