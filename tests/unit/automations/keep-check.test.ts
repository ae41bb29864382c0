// The gateway's check of an automation sent down (gateway/downlink-apply.ts keepHandler with
// automationCheck): one it cannot run is refused with the planner's reason — the downlink client
// then reports downlink_refused — and the version it had stays in the store and keeps running in
// the engine; a disabled one and a withdrawal are always kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Automation } from '../../../protocol/automation.ts';
import { HatakeError } from '../../../protocol/errors.ts';
import { GatewayStore } from '../../../gateway/store.ts';
import { AutomationEngine } from '../../../gateway/automations/engine.ts';
import { automationCheck, keepHandler } from '../../../gateway/downlink-apply.ts';
import type { DownlinkDoc } from '../../../gateway/downlink-client.ts';
import { ManualClock } from './manual-clock.ts';
import { DEVICES, FARM, irrigation, jst, kitOf } from './fixtures.ts';

let dir: string;
let store: GatewayStore;
let engine: AutomationEngine;
let told: DownlinkDoc[];
let keep: (doc: DownlinkDoc) => Promise<string>;
let downlinkVersion = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-keep-check-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
  engine = new AutomationEngine({
    store,
    publish: async () => undefined,
    kitOf,
    devices: () => Object.keys(DEVICES),
    farm: FARM,
    timezone: () => 'Asia/Tokyo',
    clock: new ManualClock(jst('2026-11-28T10:00')),
    log: pino({ level: 'silent' }),
  });
  engine.start();
  told = [];
  keep = keepHandler(
    store,
    (doc) => {
      told.push(doc);
      engine.document(doc);
    },
    automationCheck(store, FARM, kitOf),
  );
});
afterEach(() => {
  engine.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const doc = (body: unknown, deleted = false): DownlinkDoc => ({
  kind: 'automation',
  id: (body as { id: string }).id,
  version: ++downlinkVersion,
  body,
  deleted,
});
const kept = () => store.documents<Automation>('automation').map((d) => [d.id, d.body.version, d.version]);
const running = () =>
  engine
    .status()
    .automations.map((a) => ({ id: a.id, problem: a.problem, sensor: a.sensor, enabled: a.enabled }));
async function refusal(body: unknown): Promise<HatakeError> {
  const e = await keep(doc(body)).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HatakeError);
  return e as HatakeError;
}

describe('an automation sent down to the gateway', () => {
  it('is kept when the gateway can run it', async () => {
    expect(await keep(doc(irrigation()))).toBe('automation aut-irrigate kept');
    expect(kept()).toEqual([['aut-irrigate', 1, 1]]);
    expect(told.map((d) => d.version)).toEqual([1]);
    expect(running()).toEqual([
      { id: 'aut-irrigate', problem: null, sensor: 'soil-1 soil_vwc', enabled: true },
    ]);
  });

  it('naming a device the gateway lacks is refused, and the previous version keeps running', async () => {
    await keep(doc(irrigation()));
    const v1 = downlinkVersion;
    const e = await refusal(
      irrigation({
        version: 2,
        trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.18 },
        action: { device: 'gate-9', command: 'open_for', params: { minutes: 30 } },
      }),
    );
    expect(e.code).toBe('HATAKE_E_AUTOMATION');
    expect(e.place?.pointer).toBe('/action/device');
    expect(e.message).toBe(
      '/action/device: no device "gate-9" on this gateway; the previous version (v1) keeps running',
    );
    // Nothing changed: v1 stays in the store, the engine was not told, and runs v1's trigger.
    expect(kept()).toEqual([['aut-irrigate', 1, v1]]);
    expect(told).toHaveLength(1);
    expect(running()).toEqual([
      { id: 'aut-irrigate', problem: null, sensor: 'soil-1 soil_vwc', enabled: true },
    ]);
    const plan = engine.status().automations[0]!;
    expect(plan.trigger?.device).toBe('soil-1');
  });

  it('with a command the kit does not have is refused with the planner’s words, once', async () => {
    const e = await refusal(irrigation({ action: { device: 'gate-1', command: 'fly' } }));
    expect(e.place?.pointer).toBe('/action/command');
    expect(e.message).toMatch(/^\/action: .*"fly".*; no earlier version of it runs on this gateway$/);
    expect(e.message).not.toContain('/action/command');
    expect(kept()).toEqual([]);
    expect(running()).toEqual([]);
  });

  it('for another farm or with a sensor metric its kit lacks is refused', async () => {
    const other = await refusal(irrigation({ farm: 'other-farm' }));
    expect(other.message).toMatch(/^\/farm: automation is for farm "other-farm", not "demo-farm"/);
    const metric = await refusal(
      irrigation({ trigger: { kind: 'threshold', device: 'soil-1', metric: 'rain', op: '>', value: 1 } }),
    );
    expect(metric.message).toMatch(
      /^\/trigger\/metric: kit "hatake-soil-probe" does not measure "rain" \(expected .*soil_vwc/,
    );
    expect(kept()).toEqual([]);
  });

  it('says when the version it had is disabled, or one it cannot run either', async () => {
    await keep(doc(irrigation({ enabled: false })));
    const e = await refusal(irrigation({ version: 2, action: { device: 'gate-9', command: 'open' } }));
    expect(e.message).toMatch(/; the previous version \(v1\) stays, disabled$/);
    // A version kept before this check existed (or before the gateway lost a device) that it
    // cannot run: the refusal does not claim it runs.
    store.putDocument(
      'automation',
      'aut-irrigate',
      ++downlinkVersion,
      irrigation({ version: 2, action: { device: 'gate-8', command: 'open' } }),
      Date.now(),
    );
    const again = await refusal(irrigation({ version: 3, action: { device: 'gate-9', command: 'open' } }));
    expect(again.message).toMatch(
      /; the previous version \(v2\) stays, and the gateway cannot run it either$/,
    );
  });

  it('is always kept when disabled (it runs nothing), and a withdrawal is always taken', async () => {
    await keep(doc(irrigation()));
    const off = irrigation({ version: 2, enabled: false, action: { device: 'gate-9', command: 'open' } });
    expect(await keep(doc(off))).toBe('automation aut-irrigate kept');
    expect(kept()).toEqual([['aut-irrigate', 2, downlinkVersion]]);
    // Idle in the engine: nothing watched, no problem to show.
    expect(running()).toEqual([{ id: 'aut-irrigate', problem: null, sensor: null, enabled: false }]);
    // The withdrawal's body is not an automation: never planned.
    expect(await keep(doc({ id: 'aut-irrigate', farm: FARM, deleted: true }, true))).toBe(
      'automation aut-irrigate removed',
    );
    expect(kept()).toEqual([]);
    expect(running()).toEqual([]);
  });

  it('is not checked by a keepHandler without the hook (overrides, recommendations)', async () => {
    const plain = keepHandler(store);
    expect(await plain(doc(irrigation({ action: { device: 'gate-9', command: 'open' } })))).toBe(
      'automation aut-irrigate kept',
    );
    expect(kept()).toEqual([['aut-irrigate', 1, downlinkVersion]]);
  });
});
