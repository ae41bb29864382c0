// The automation engine's I/O on a real SQLite store in a temp dir and a hand-driven clock (the
// MQTT publish is captured; the real broker is in tests/integration/automations-gateway.test.ts):
// what survives a restart, manual overrides from the server and from the gateway page, withdrawn
// automations, hostile documents and readings, the logs in the outbox, a refused disk write.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { AutomationLog, type Automation, type ManualOverride } from '../../../protocol/automation.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { validator } from '../../../protocol/validate.ts';
import { isHatakeError } from '../../../protocol/errors.ts';
import { GatewayStore } from '../../../gateway/store.ts';
import { AutomationEngine } from '../../../gateway/automations/engine.ts';
import { ManualClock } from './manual-clock.ts';
import { DEVICES, FARM, HOUR, MIN, irrigation, jst, kitOf, paddyBand } from './fixtures.ts';

const S = 1000;
const T0 = jst('2026-11-28T10:00');
const logValidator = validator(AutomationLog);

let dir: string;
let store: GatewayStore;
let clock: ManualClock;
let sent: { device: string; command: string; at: number }[];
let engine: AutomationEngine;
let docVersion = 0;

function makeEngine(): AutomationEngine {
  return new AutomationEngine({
    store,
    publish: async (device, payload) => {
      sent.push({ device, command: payload, at: clock.now() });
    },
    kitOf,
    devices: () => Object.keys(DEVICES),
    farm: FARM,
    timezone: () => 'Asia/Tokyo',
    clock,
    log: pino({ level: 'silent' }),
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-automations-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
  clock = new ManualClock(T0);
  sent = [];
  engine = makeEngine();
  engine.start();
});
afterEach(() => {
  engine.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Keeps a document as the downlink's keepHandler does and tells the engine, as the Gateway does. */
function send(kind: 'automation' | 'override', id: string, body: unknown, deleted = false) {
  const version = ++docVersion;
  if (deleted) store.deleteDocument(kind, id);
  else store.putDocument(kind, id, version, body, Date.now());
  engine.document({ kind, id, version, body, deleted });
}
const put = (a: Automation) => send('automation', a.id, a);
const reading = (device: string, metric: string, value: number, over: Partial<Reading> = {}): Reading => ({
  device,
  metric,
  value,
  unit: metric === 'soil_vwc' ? 'm3/m3' : metric === 'water_level' ? 'cm' : '1',
  time: clock.now(),
  flags: [],
  ...over,
});
const vwc = (v: number, over: Partial<Reading> = {}) =>
  engine.observe([reading('soil-1', 'soil_vwc', v, over)]);
const valve = (device: string, v: number) => engine.observe([reading(device, 'valve_state', v)]);
const commands = () =>
  sent.map(
    (s) =>
      `${s.device}:${JSON.parse(s.command).command}${JSON.parse(s.command).minutes ? `/${JSON.parse(s.command).minutes}` : ''}`,
  );
function logs(): AutomationLog[] {
  return store
    .peekOutbox(10_000)
    .filter((r) => r.kind === 'automation_log')
    .map((r) => JSON.parse(r.body) as AutomationLog);
}
const events = (automation?: string) =>
  logs()
    .filter((l) => !automation || l.automation === automation)
    .map((l) => l.event);

describe('automation engine', () => {
  it('runs a threshold automation: fire, confirm, the valve closes itself on time, cool-down holds', () => {
    put(irrigation());
    vwc(0.25);
    expect(sent).toEqual([]);
    vwc(0.18);
    expect(commands()).toEqual(['gate-1:open/30']);
    clock.advance(2 * S);
    valve('gate-1', 1);
    clock.advance(30 * MIN - 2 * S);
    valve('gate-1', 0);
    expect(events()).toEqual(['fired', 'command_sent', 'state_confirmed', 'closed']);
    clock.advance(MIN);
    vwc(0.18);
    expect(events().at(-1)).toBe('skipped_cooldown');
    expect(engine.status().automations[0]).toMatchObject({
      runsToday: 1,
      maxRunsPerDay: 2,
      cooldownUntil: T0 + 90 * MIN,
    });
    for (const l of logs()) expect(logValidator.problems(l), JSON.stringify(l)).toEqual([]);
  });

  it('keeps runs today, the last run and an open valve’s deadline across a restart, and acts on a deadline passed while stopped', () => {
    put(irrigation({ action: { device: 'gate-1', command: 'open' } }, { maxRunsPerDay: 1 }));
    vwc(0.18);
    valve('gate-1', 1);
    expect(engine.status().actuators.find((a) => a.device === 'gate-1')?.run).toMatchObject({
      phase: 'open',
      maxOpenAt: T0 + 40 * MIN,
    });
    engine.stop();
    // The gateway is down for 50 minutes: the safety bound passed meanwhile.
    clock.advance(50 * MIN);
    sent = [];
    engine = makeEngine();
    engine.start();
    expect(commands()).toEqual(['gate-1:close']);
    expect(events().slice(-2)).toEqual(['safety_stop', 'command_sent']);
    valve('gate-1', 0);
    expect(events().at(-1)).toBe('closed');
    // The day's one run was used before the restart.
    vwc(0.17);
    expect(events().at(-1)).toBe('skipped_daily_limit');
    expect(engine.status().automations[0]).toMatchObject({ runsToday: 1, lastRunAt: T0 });
  });

  it('applies a manual override from the server: hold closed closes the gate and holds automations off until it ends', () => {
    put(irrigation());
    vwc(0.18);
    valve('gate-1', 1);
    const o: ManualOverride = {
      device: 'gate-1',
      mode: 'hold_closed',
      until: clock.now() + HOUR,
      by: 'demo-farmer',
    };
    send('override', 'gate-1', o);
    expect(commands()).toEqual(['gate-1:open/30', 'gate-1:close']);
    valve('gate-1', 0);
    clock.advance(10 * MIN);
    vwc(0.15);
    expect(events().at(-1)).toBe('skipped_override');
    expect(engine.status().actuators.find((a) => a.device === 'gate-1')?.override).toMatchObject({
      mode: 'hold_closed',
      source: 'server',
    });
    // An older version of the override arriving late changes nothing.
    engine.document({
      kind: 'override',
      id: 'gate-1',
      version: 1,
      body: { ...o, mode: 'hold_open' },
      deleted: false,
    });
    expect(engine.status().actuators.find((a) => a.device === 'gate-1')?.override?.mode).toBe('hold_closed');
    clock.advance(HOUR);
    expect(events().at(-1)).toBe('override_cleared');
    expect(engine.status().actuators.find((a) => a.device === 'gate-1')?.override).toBeNull();
    clock.advance(MIN);
    vwc(0.15);
    expect(commands().at(-1)).toBe('gate-1:open/30');
  });

  it('sets overrides from the gateway page: pause closes a running valve, hold open opens and closes when it ends, clear ends it', () => {
    put(paddyBand());
    engine.observe([reading('level-1', 'water_level', 2.5)]);
    valve('gate-2', 1);
    engine.setOverride({ device: 'gate-2', mode: 'pause', minutes: 30, by: 'tanaka' });
    expect(commands()).toEqual(['gate-2:open', 'gate-2:close']);
    valve('gate-2', 0);
    engine.setOverride({ device: 'gate-2', mode: 'hold_open', minutes: 20, by: 'tanaka' });
    expect(commands().at(-1)).toBe('gate-2:open');
    valve('gate-2', 1);
    clock.advance(20 * MIN);
    expect(commands().at(-1)).toBe('gate-2:close');
    expect(events('aut-paddy-band')).toContain('override_cleared');
    valve('gate-2', 0);
    engine.setOverride({ device: 'gate-2', mode: 'hold_closed', minutes: 600, by: 'tanaka' });
    expect(engine.clearOverride('gate-2', 'tanaka')?.active).toBe(false);
    const ov = logs().filter((l) => l.event === 'override_set');
    expect(ov.map((l) => l.detail?.mode)).toEqual(['pause', 'hold_open', 'hold_closed']);
    expect(ov[0]!.detail).toMatchObject({ source: 'local', by: 'tanaka' });
  });

  it.each([
    ['an unknown device', { device: 'ghost', mode: 'pause', minutes: 5 }, 'HATAKE_E_UNKNOWN_DEVICE'],
    ['a sensor', { device: 'soil-1', mode: 'pause', minutes: 5 }, 'HATAKE_E_AUTOMATION'],
    ['an unknown mode', { device: 'gate-1', mode: 'explode', minutes: 5 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['zero minutes', { device: 'gate-1', mode: 'pause', minutes: 0 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['more than a week', { device: 'gate-1', mode: 'pause', minutes: 10_081 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['fractional minutes', { device: 'gate-1', mode: 'pause', minutes: 1.5 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['NaN minutes', { device: 'gate-1', mode: 'pause', minutes: Number.NaN }, 'HATAKE_E_PAYLOAD_SCHEMA'],
  ])('refuses an override on %s with a coded error and changes nothing', (_w, input, code) => {
    let err: unknown;
    try {
      engine.setOverride({ ...(input as { device: string; mode: 'pause'; minutes: number }), by: 'x' });
    } catch (e) {
      err = e;
    }
    expect(isHatakeError(err) && err.code).toBe(code);
    expect(sent).toEqual([]);
    expect(logs()).toEqual([]);
  });

  it('reads an override the dashboard ended (until = its now) as ended, though this clock is a little behind', () => {
    put(irrigation());
    send('override', 'gate-1', { device: 'gate-1', mode: 'hold_closed', until: clock.now() + HOUR, by: 'a' });
    send('override', 'gate-1', {
      device: 'gate-1',
      mode: 'hold_closed',
      until: clock.now() + 3 * S,
      by: 'a',
    });
    expect(events().slice(-1)).toEqual(['override_cleared']);
    expect(engine.status().actuators.find((a) => a.device === 'gate-1')?.override).toBeNull();
  });

  it('falls back to Asia/Tokyo for an unknown farm zone instead of failing', () => {
    engine.stop();
    engine = new AutomationEngine({
      store,
      publish: async (device, payload) => {
        sent.push({ device, command: payload, at: clock.now() });
      },
      kitOf,
      devices: () => Object.keys(DEVICES),
      farm: FARM,
      timezone: () => 'Mars/Olympus_Mons',
      clock,
      log: pino({ level: 'silent' }),
    });
    engine.start();
    clock.advanceTo(jst('2026-11-28T23:00'));
    put(irrigation());
    vwc(0.1);
    expect(events()).toEqual(['skipped_quiet_hours']);
    expect(engine.status().timezone).toBe('Asia/Tokyo');
  });

  it('refuses override documents that are not a ManualOverride for that device', () => {
    put(irrigation());
    send('override', 'gate-1', { device: 'gate-2', mode: 'hold_closed', until: clock.now() + HOUR, by: 'x' });
    send('override', 'gate-1', { device: 'gate-1', mode: 'flood', until: clock.now() + HOUR, by: 'x' });
    send('override', 'gate-1', '<script>');
    expect(sent).toEqual([]);
    vwc(0.18);
    expect(commands()).toEqual(['gate-1:open/30']);
  });

  it('closes the valve of an automation that is disabled or deleted while it runs', () => {
    put(paddyBand());
    engine.observe([reading('level-1', 'water_level', 2.5)]);
    valve('gate-2', 1);
    put({ ...paddyBand(), enabled: false, version: 2 });
    expect(commands()).toEqual(['gate-2:open', 'gate-2:close']);
    expect(logs().at(-1)?.detail).toMatchObject({ reason: 'withdrawn' });
    valve('gate-2', 0);
    put({ ...paddyBand(), version: 3 });
    engine.observe([reading('level-1', 'water_level', 2.4, { time: clock.now() + 1 })]);
    valve('gate-2', 1);
    send('automation', 'aut-paddy-band', { id: 'aut-paddy-band', farm: FARM, deleted: true }, true);
    expect(commands()).toEqual(['gate-2:open', 'gate-2:close', 'gate-2:open', 'gate-2:close']);
    expect(engine.status().automations).toEqual([]);
  });

  it('does not run automations that do not fit, and says why on the status page', () => {
    put(irrigation({ id: 'aut-other-farm', farm: 'other-farm' }));
    put(irrigation({ id: 'aut-ghost', action: { device: 'ghost-9', command: 'open' } }));
    put(irrigation({ id: 'aut-too-long' }, { maxOpenMinutes: 10 }));
    send('automation', 'aut-garbage', { id: 'aut-garbage', farm: FARM, name: '<b>', enabled: true });
    vwc(0.1);
    expect(sent).toEqual([]);
    const st = engine.status().automations;
    expect(st.map((a) => [a.id, a.problem?.split(':')[0]])).toEqual([
      ['aut-garbage', 'HATAKE_E_AUTOMATION /version'],
      ['aut-ghost', 'HATAKE_E_AUTOMATION /action/device'],
      ['aut-other-farm', 'HATAKE_E_AUTOMATION /farm'],
      ['aut-too-long', 'HATAKE_E_AUTOMATION /action/params/minutes'],
    ]);
  });

  it('does not act on flagged, stale, future-dated or out-of-order readings', () => {
    put(irrigation());
    for (const flag of ['spike', 'stuck', 'clock_skew', 'out_of_range', 'duplicate'] as const)
      vwc(0.1, { flags: [flag] });
    vwc(0.1, { time: clock.now() - 31 * MIN });
    vwc(0.1, { time: clock.now() + 6 * MIN });
    expect(sent).toEqual([]);
    vwc(0.3, { time: clock.now() });
    vwc(0.1, { time: clock.now() - MIN }); // older than the last one seen: arrived late
    expect(sent).toEqual([]);
    vwc(0.1, { time: clock.now() + 1 });
    expect(commands()).toEqual(['gate-1:open/30']);
  });

  it('lets one automation at a time drive an actuator', () => {
    put(irrigation());
    put({
      ...paddyBand({ id: 'aut-gate1-band' }),
      below: { device: 'gate-1', command: 'open' },
      above: { device: 'gate-1', command: 'close' },
    });
    engine.observe([reading('level-1', 'water_level', 2)]);
    vwc(0.1);
    expect(commands()).toEqual(['gate-1:open']);
    const skip = logs().find((l) => l.automation === 'aut-irrigate');
    expect(skip).toMatchObject({
      event: 'skipped_override',
      detail: { reason: 'interlock', holder: 'aut-gate1-band' },
    });
  });

  it('logs a decision not to act once, not at every reading, and again an hour later', () => {
    clock.advanceTo(jst('2026-11-28T22:30'));
    put(irrigation());
    for (let i = 0; i < 14; i++) {
      vwc(0.1);
      clock.advance(5 * MIN);
    }
    expect(events()).toEqual(['skipped_quiet_hours', 'skipped_quiet_hours']);
  });

  it('after a critical give-up opens that valve no more until it reports closed', () => {
    put(paddyBand({}, { maxOpenMinutes: 20, cooldownMinutes: 0 }));
    engine.observe([reading('level-1', 'water_level', 2.5)]);
    valve('gate-2', 1);
    clock.advance(20 * MIN); // safety stop
    clock.advance(30 * S); // retry
    clock.advance(30 * S); // gave up
    const critical = logs().filter((l) => l.detail?.severity === 'critical');
    expect(critical).toHaveLength(1);
    expect(engine.problems()).toEqual(['valve gate-2 never reported closed']);
    expect(commands()).toEqual(['gate-2:open', 'gate-2:close', 'gate-2:close']);
    engine.observe([reading('level-1', 'water_level', 2.4)]);
    expect(events().at(-1)).toBe('safety_stop');
    expect(commands()).toHaveLength(3);
    valve('gate-2', 0);
    expect(engine.problems()).toEqual([]);
    engine.observe([reading('level-1', 'water_level', 2.3, { time: clock.now() + 1 })]);
    expect(commands().at(-1)).toBe('gate-2:open');
  });

  it('still sends the safety close when the disk refuses the engine’s writes', () => {
    put(irrigation({ action: { device: 'gate-1', command: 'open' } }));
    vwc(0.18);
    valve('gate-1', 1);
    store.db.pragma('query_only = ON');
    clock.advance(40 * MIN);
    expect(commands()).toEqual(['gate-1:open', 'gate-1:close']);
    expect(engine.status().actuators.find((a) => a.device === 'gate-1')?.run?.phase).toBe('closing');
    store.db.pragma('query_only = OFF');
  });
});
