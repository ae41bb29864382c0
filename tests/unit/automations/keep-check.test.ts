// The gateway's check of an automation sent down (gateway/downlink-apply.ts keepHandler with
// automationCheck): one it cannot run is refused with the planner's reason — the downlink client
// then reports downlink_refused — and the version it had stays in the store and keeps running in
// the engine; a disabled one and a withdrawal are always kept. The refused document is remembered
// (automationKeeper) while it is the newest version of its automation, and planned again when the
// gateway's devices change: kept and reported applied once it plans, silent while it does not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Automation } from '../../../protocol/automation.ts';
import { HatakeError } from '../../../protocol/errors.ts';
import type { Kit } from '../../../protocol/kit.ts';
import { GatewayStore } from '../../../gateway/store.ts';
import { AutomationEngine } from '../../../gateway/automations/engine.ts';
import {
  REFUSED_AUTOMATION,
  automationCheck,
  automationKeeper,
  keepHandler,
  type AutomationKeeper,
} from '../../../gateway/downlink-apply.ts';
import type { DownlinkDoc } from '../../../gateway/downlink-client.ts';
import type { NewEvent } from '../../../gateway/events.ts';
import { ManualClock } from './manual-clock.ts';
import { DEVICES, FARM, catalogue, irrigation, jst, kitOf } from './fixtures.ts';

let dir: string;
let store: GatewayStore;
let engine: AutomationEngine;
let clock: ManualClock;
let told: DownlinkDoc[];
let keep: (doc: DownlinkDoc) => Promise<string>;
let downlinkVersion = 0;
/** Water gates provisioned on the gateway after the fixtures' devices (as a registry sent down adds them). */
let provisioned: Set<string>;
let published: [device: string, payload: string][];
/** The fixtures' kits, and a water gate for each device provisioned since. */
const kitNow = (device: string): Kit | undefined =>
  kitOf(device) ?? (provisioned.has(device) ? catalogue.get('hatake-water-gate') : undefined);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-keep-check-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
  provisioned = new Set();
  published = [];
  clock = new ManualClock(jst('2026-11-28T10:00'));
  engine = new AutomationEngine({
    store,
    publish: async (device, payload) => {
      published.push([device, payload]);
    },
    kitOf: kitNow,
    devices: () => [...Object.keys(DEVICES), ...provisioned],
    farm: FARM,
    timezone: () => 'Asia/Tokyo',
    clock,
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

describe('an automation the gateway refused, once its devices change', () => {
  let keeper: AutomationKeeper;
  let raised: NewEvent[];
  beforeEach(() => {
    raised = [];
    keeper = automationKeeper({
      store,
      farm: FARM,
      kitOf: kitNow,
      onChange: (d) => {
        told.push(d);
        engine.document(d);
      },
      raise: (e) => raised.push(e),
    });
  });

  const remembered = () =>
    store.documents<Automation>(REFUSED_AUTOMATION).map((d) => [d.id, d.body.version, d.version]);
  async function refused(body: Automation): Promise<number> {
    const d = doc(body);
    await expect(keeper.handler(d)).rejects.toBeInstanceOf(HatakeError);
    return d.version;
  }
  /** "Below 3 cm of water, open gate-9": gate-9 is not on the gateway until a test provisions it. */
  const onGate9 = (version: number, over: Partial<Automation> = {}) =>
    irrigation({
      version,
      trigger: { kind: 'threshold', device: 'level-1', metric: 'water_level', op: '<', value: 3 },
      action: { device: 'gate-9', command: 'open' },
      ...over,
    });

  it('is remembered, kept once the valve is provisioned and reported applied, and runs', async () => {
    await keeper.handler(doc(irrigation()));
    const v1 = downlinkVersion;
    const v2 = await refused(onGate9(2));
    expect(remembered()).toEqual([['aut-irrigate', 2, v2]]);
    expect(kept()).toEqual([['aut-irrigate', 1, v1]]);

    // The devices change but the valve is still missing: nothing kept, nothing said.
    expect(keeper.recheck('registry v7')).toEqual([]);
    expect(raised).toEqual([]);
    expect(remembered()).toEqual([['aut-irrigate', 2, v2]]);
    expect(told.map((d) => d.version)).toEqual([v1]);

    provisioned.add('gate-9');
    expect(keeper.recheck('registry v8')).toEqual(['aut-irrigate']);
    // Kept as keepHandler keeps it (the same row), the engine told, the server told.
    expect(kept()).toEqual([['aut-irrigate', 2, v2]]);
    expect(remembered()).toEqual([]);
    expect(told.map((d) => [d.kind, d.id, d.version, d.deleted])).toEqual([
      ['automation', 'aut-irrigate', v1, false],
      ['automation', 'aut-irrigate', v2, false],
    ]);
    expect(raised).toEqual([
      {
        type: 'downlink_applied',
        severity: 'info',
        message: `applied automation aut-irrigate v${v2} after the gateway's devices changed (registry v8): automation aut-irrigate kept`,
        detail: { kind: 'automation', id: 'aut-irrigate', version: v2 },
      },
    ]);
    expect(running()).toEqual([
      { id: 'aut-irrigate', problem: null, sensor: 'level-1 water_level', enabled: true },
    ]);
    engine.observe([
      { device: 'level-1', metric: 'water_level', value: 2, unit: 'cm', time: clock.now(), flags: [] },
    ]);
    await Promise.resolve();
    expect(published.map(([device, payload]) => [device, JSON.parse(payload)])).toEqual([
      ['gate-9', { command: 'open' }],
    ]);

    // Once is enough: nothing is left to look at again.
    expect(keeper.recheck('manifest v9')).toEqual([]);
    expect(raised).toHaveLength(1);
  });

  it('is forgotten by a later version kept, withdrawn, or refused in its place', async () => {
    await refused(onGate9(1));
    await keeper.handler(doc(irrigation({ version: 2 })));
    expect(remembered()).toEqual([]);
    provisioned.add('gate-9');
    expect(keeper.recheck('registry v3')).toEqual([]);
    expect(kept().map(([id, version]) => [id, version])).toEqual([['aut-irrigate', 2]]);

    provisioned.clear();
    await refused(onGate9(3));
    expect(remembered().map(([, version]) => version)).toEqual([3]);
    expect(await keeper.handler(doc({ id: 'aut-irrigate', farm: FARM, deleted: true }, true))).toBe(
      'automation aut-irrigate removed',
    );
    expect(remembered()).toEqual([]);
    provisioned.add('gate-9');
    expect(keeper.recheck('registry v6')).toEqual([]);
    expect(kept()).toEqual([]);

    // Refused twice: only the newer one is remembered, and it is the one kept.
    provisioned.clear();
    await refused(onGate9(4, { action: { device: 'gate-8', command: 'open' } }));
    const v5 = await refused(onGate9(5));
    expect(remembered()).toEqual([['aut-irrigate', 5, v5]]);
    provisioned.add('gate-9');
    expect(keeper.recheck('registry v9')).toEqual(['aut-irrigate']);
    expect(kept()).toEqual([['aut-irrigate', 5, v5]]);
    expect(raised.map((e) => e.detail)).toEqual([{ kind: 'automation', id: 'aut-irrigate', version: v5 }]);
  });

  it('is remembered in the store, across a restart', async () => {
    const v1 = await refused(onGate9(1));
    engine.stop();
    store.close();
    store = new GatewayStore(join(dir, 'gateway.db'));
    const again = automationKeeper({ store, farm: FARM, kitOf: kitNow, raise: (e) => raised.push(e) });
    expect(again.recheck('gateway start')).toEqual([]);
    provisioned.add('gate-9');
    expect(again.recheck('gateway start')).toEqual(['aut-irrigate']);
    expect(kept()).toEqual([['aut-irrigate', 1, v1]]);
    expect(raised.map((e) => e.message)).toEqual([
      `applied automation aut-irrigate v${v1} after the gateway's devices changed (gateway start): automation aut-irrigate kept`,
    ]);
  });

  it('is forgotten, not kept, when the gateway holds a version as new (a stop between the two)', async () => {
    await keeper.handler(doc(irrigation({ version: 2 })));
    const v = downlinkVersion;
    store.putDocument(REFUSED_AUTOMATION, 'aut-irrigate', v - 1, onGate9(1), Date.now());
    provisioned.add('gate-9');
    expect(keeper.recheck('registry v9')).toEqual([]);
    expect(remembered()).toEqual([]);
    expect(kept()).toEqual([['aut-irrigate', 2, v]]);
    expect(raised).toEqual([]);
  });

  it('for another farm stays remembered and says nothing, whatever the devices', async () => {
    await refused(irrigation({ farm: 'other-farm' }));
    provisioned.add('gate-9');
    expect(keeper.recheck('registry v2')).toEqual([]);
    expect(keeper.recheck('manifest v3')).toEqual([]);
    expect(remembered().map(([id]) => id)).toEqual(['aut-irrigate']);
    expect(kept()).toEqual([]);
    expect(raised).toEqual([]);
  });
});
