// The automation engine on the farm gateway, offline too: it runs the automations the server sent
// down (kept in the store's documents), watches readings as they are committed, publishes the
// actuator's command on its `down` topic when a trigger holds, waits for the reported state,
// retries, and enforces the safety bounds and manual overrides. The decisions are the pure
// functions of decide.ts and run.ts; this class is the I/O around them — the clock and timers,
// MQTT publishes, the engine's SQLite tables, and the AutomationLog outbox (synced to the server).
import { randomBytes } from 'node:crypto';
import { HatakeError } from '../../protocol/errors.ts';
import { ManualOverride, type AutomationLog } from '../../protocol/automation.ts';
import type { Kit, LocalizedText } from '../../protocol/kit.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { validator } from '../../protocol/validate.ts';
import type { Logger } from '../../runtime/log.ts';
import { DEFAULT_TIMEZONE, checkTimezone } from '../../edge/rules/local-time.ts';
import type { GatewayStore } from '../store.ts';
import type { DownlinkDoc } from '../downlink-client.ts';
import { MAX_TIMER_MS, systemClock, type EngineClock } from './clock.ts';
import {
  OVERRIDE_OWNER,
  cooldownUntil,
  countersAt,
  decide,
  formatHhmm,
  inQuietHours,
  nextSide,
  shouldLogSkip,
  type ActuatorView,
  type Decision,
  type Msg,
  type Side,
  type SkipEvent,
} from './decide.ts';
import { actuatorOf, planAutomation, type Plan, type ResolvedCommand } from './plan.ts';
import {
  nextDeadline,
  onState,
  onTick,
  requestClose,
  startRun,
  type Detail,
  type LogDraft,
  type Run,
  type Step,
} from './run.ts';
import { AutomationStateStore, type AutomationMemory, type OverrideState } from './state.ts';

export interface AutomationEngineOptions {
  store: GatewayStore;
  /** Publishes a payload on a device's `down` topic (Broker.command). */
  publish: (device: string, payload: string) => Promise<void>;
  /** The kit of a registered device. */
  kitOf: (device: string) => Kit | undefined;
  /** The registered devices (for the actuators an override may target). */
  devices: () => string[];
  farm: string;
  /** The farm's IANA zone (days and quiet hours); Asia/Tokyo when absent. */
  timezone?: () => string | undefined;
  clock?: EngineClock;
  log: Logger;
  /** A trigger reading older than this (by its measurement time) is not acted on. */
  maxReadingAgeMs?: number;
  /** Logs kept for the status page. */
  keepLogs?: number;
}

/** Manual override modes, plus `clear` to end one (the gateway page form). */
export const OVERRIDE_MODES = ['hold_closed', 'hold_open', 'pause'] as const;
/** The longest override the gateway page sets, as on the server (7 days). */
export const MAX_OVERRIDE_MINUTES = 10_080;

/** A problem of the automations on the gateway's health line; the status page words it. */
export interface AutomationProblem {
  code: 'valve_not_closed';
  device: string;
}

/** An automation problem as the English line of the gateway's health. */
export function automationProblemLine(p: AutomationProblem): string {
  return `valve ${p.device} never reported closed`;
}

export interface AutomationsStatus {
  timezone: string;
  automations: {
    id: string;
    name: { ja: string; en: string } | null;
    enabled: boolean;
    kind: 'threshold' | 'band' | null;
    /** Why the gateway does not run it (a device or command that does not fit), if so. */
    problem: string | null;
    /** The trigger's sensor and metric, as "device metric". */
    sensor: string | null;
    /** The same as data, with the metric's unit and the kit's own name for it (the page labels the value). */
    trigger?: { device: string; metric: string; unit: string; name: LocalizedText | null } | null;
    lastValue: { value: number; time: number } | null;
    side: Side | null;
    runsToday: number;
    maxRunsPerDay: number | null;
    lastRunAt: number | null;
    cooldownUntil: number | null;
    quietHours: { from: string; to: string } | null;
    quietNow: boolean;
  }[];
  actuators: {
    device: string;
    metric: string;
    reported: { value: number; time: number } | null;
    run: {
      owner: string;
      role: string;
      phase: Run['phase'];
      command: string;
      startedAt: number;
      openedAt: number | null;
      closesItselfAt: number | null;
      closeAt: number | null;
      maxOpenAt: number | null;
      attempts: number;
    } | null;
    override: { mode: ManualOverride['mode']; until: number; by: string; source: 'server' | 'local' } | null;
    fault: string | null;
  }[];
  /** Newest first. */
  logs: AutomationLog[];
}

const overrideValidator = validator(ManualOverride);
const UNRELIABLE = new Set(['spike', 'stuck', 'clock_skew', 'duplicate', 'out_of_range']);
/** A reading stamped this far ahead of the engine's clock is not acted on. */
const FUTURE_SLACK_MS = 5 * 60_000;
const DEFAULT_MAX_READING_AGE_MS = 30 * 60_000;
const SERVER_CLOCK_SLACK_MS = 5_000;

interface Memory extends AutomationMemory {
  lastSkip?: { event: SkipEvent; at: number };
  last?: { value: number; time: number };
}

/** What one engine step changed, written in one transaction, then published. */
interface Batch {
  now: number;
  logs: AutomationLog[];
  sends: { device: string; payload: string }[];
  actuators: Set<string>;
  memories: Set<string>;
  overrides: Set<string>;
}

export class AutomationEngine {
  private readonly o: AutomationEngineOptions;
  private readonly clock: EngineClock;
  private state!: AutomationStateStore;
  private plans = new Map<string, Plan>();
  /** Automations the gateway keeps but does not run: disabled, or not fitting this farm. */
  private idle = new Map<string, { doc: Record<string, unknown>; problem: string | null }>();
  private triggerWatch = new Map<string, Plan[]>();
  private triggerDevices = new Set<string>();
  private relevantCache = new Map<string, boolean>();
  private memory = new Map<string, Memory>();
  private runs = new Map<string, Run>();
  private faults = new Map<string, string>();
  private reported = new Map<string, { value: number; time: number }>();
  private overrides = new Map<string, OverrideState>();
  private lastTime = new Map<string, number>();
  private actuatorCache = new Map<string, ReturnType<typeof actuatorOf> | null>();
  private timers = new Map<string, unknown>();
  private warned = new Set<string>();
  private zoneChecked: string | undefined;
  private started = false;
  private stopped = false;

  constructor(opts: AutomationEngineOptions) {
    this.o = opts;
    this.clock = opts.clock ?? systemClock();
  }

  /** The farm's zone; an unknown one falls back to Asia/Tokyo (said once in the log). */
  private get tz(): string {
    const tz = this.o.timezone?.() ?? DEFAULT_TIMEZONE;
    if (tz === this.zoneChecked) return tz;
    try {
      checkTimezone(tz);
      this.zoneChecked = tz;
      return tz;
    } catch {
      if (!this.warned.has(`tz:${tz}`)) {
        this.warned.add(`tz:${tz}`);
        this.o.log.warn(
          { timezone: tz.slice(0, 64) },
          `unknown time zone; automations use ${DEFAULT_TIMEZONE}`,
        );
      }
      return DEFAULT_TIMEZONE;
    }
  }

  /** Loads the kept state and documents, resumes runs in progress (a deadline passed while stopped is handled now). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.state = new AutomationStateStore(this.o.store.db);
    for (const [id, m] of this.state.memories()) this.memory.set(id, { ...m });
    for (const a of this.state.actuators()) {
      if (a.run) this.runs.set(a.device, a.run);
      if (a.fault) this.faults.set(a.device, a.fault);
    }
    for (const ov of this.state.overrides()) this.overrides.set(ov.device, ov);
    // The last state each actuator reported before the restart.
    for (const device of this.actuators()) {
      const metric = this.actuatorInfo(device)!.metric;
      const l = this.o.store.latest(device).find((x) => x.metric === metric);
      if (l) this.reported.set(device, { value: l.value, time: l.time });
    }
    this.reload();
    for (const d of this.o.store.documents<unknown>('override'))
      this.overrideDocument({ kind: 'override', id: d.id, version: d.version, body: d.body, deleted: false });
    const now = this.clock.now();
    this.batch((b) => {
      for (const ov of this.overrides.values()) {
        if (ov.active && ov.until <= now) this.endOverride(ov, b);
        else if (ov.active) this.scheduleOverrideEnd(ov);
      }
      for (const device of this.runs.keys()) b.actuators.add(device);
    });
    // A deadline that passed while the gateway was down (a valve past its maximum open time) is
    // handled now; the others are scheduled.
    for (const [device, run] of [...this.runs]) if (nextDeadline(run) <= now) this.tick(device);
  }

  /** Stops the timers; runs stay recorded and resume at the next start. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  /** A downlink document arrived (the Gateway's 'document' event). */
  document(doc: DownlinkDoc): void {
    if (!this.started || this.stopped) return;
    if (doc.kind === 'automation') this.reload();
    else if (doc.kind === 'override') this.overrideDocument(doc);
  }

  /** Readings just committed by the ingest, in arrival order. */
  observe(readings: readonly Reading[]): void {
    if (!this.started || this.stopped) return;
    try {
      this.observeAll(readings);
    } catch (e) {
      // Called from the ingest's commit: a fault here must not reach it.
      this.o.log.error({ err: (e as Error).message }, 'readings not evaluated');
    }
  }

  private observeAll(readings: readonly Reading[]): void {
    const now = this.clock.now();
    const maxAge = this.o.maxReadingAgeMs ?? DEFAULT_MAX_READING_AGE_MS;
    for (const r of readings) {
      if (!this.relevant(r.device) || r.flags.includes('duplicate')) continue;
      const key = `${r.device}\u0000${r.metric}`;
      const watchers = this.triggerWatch.get(key);
      const info = this.actuatorInfo(r.device);
      const isState = info?.metric === r.metric;
      if (!watchers && !isState) continue;
      const last = this.lastTime.get(key);
      if (last !== undefined && r.time < last) continue; // an older reading arriving late
      // A reading stamped in the future would hide the real ones after it: it is not used.
      if (r.time > now + FUTURE_SLACK_MS) continue;
      if (isState) {
        this.lastTime.set(key, r.time);
        this.batch((b) => this.onActuatorState(r.device, r.value, r.time, b));
      }
      if (!watchers || r.flags.some((f) => UNRELIABLE.has(f)) || r.time < now - maxAge) continue;
      this.lastTime.set(key, r.time);
      for (const plan of watchers) this.batch((b) => this.evaluate(plan, r.value, r.time, b));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Automations
  // ---------------------------------------------------------------------------------------------

  /** Re-reads the automation documents; runs of a withdrawn automation are closed. */
  private reload(): void {
    this.plans = new Map();
    this.idle = new Map();
    this.actuatorCache.clear();
    for (const d of this.o.store.documents<unknown>('automation')) {
      const doc = (typeof d.body === 'object' && d.body !== null ? d.body : {}) as Record<string, unknown>;
      if (doc.enabled === false) {
        this.idle.set(d.id, { doc, problem: null });
        continue;
      }
      try {
        const plan = planAutomation(d.body, this.o.farm, this.o.kitOf);
        this.plans.set(plan.id, plan);
      } catch (e) {
        const problem = e instanceof HatakeError ? e.describe() : String(e);
        this.idle.set(d.id, { doc, problem });
        if (!this.warned.has(`${d.id}@${d.version}`)) {
          this.warned.add(`${d.id}@${d.version}`);
          this.o.log.warn({ automation: d.id, version: d.version, problem }, 'automation not run');
        }
      }
    }
    this.triggerWatch = new Map();
    this.triggerDevices = new Set();
    this.relevantCache.clear();
    for (const p of this.plans.values()) {
      const key = `${p.sensor.device}\u0000${p.sensor.metric}`;
      this.triggerWatch.set(key, [...(this.triggerWatch.get(key) ?? []), p]);
      this.triggerDevices.add(p.sensor.device);
    }
    this.batch((b) => {
      for (const [device, run] of this.runs) {
        if (run.owner === OVERRIDE_OWNER) continue;
        const plan = this.plans.get(run.owner);
        if (!plan || !plan.commands.some((c) => c.command.device === device)) {
          this.apply(device, run, requestClose(run, 'withdrawn', b.now), b);
          continue;
        }
        // A lowered maximum open time applies to the run in progress.
        const max = plan.automation.limits.maxOpenMinutes;
        if (run.maxOpenAt !== null && run.startedAt + max * 60_000 < run.maxOpenAt) {
          this.runs.set(device, { ...run, maxOpenAt: run.startedAt + max * 60_000, maxOpenMinutes: max });
          b.actuators.add(device);
        }
      }
    });
  }

  private mem(id: string): Memory {
    let m = this.memory.get(id);
    if (!m) {
      m = { counters: undefined, side: undefined };
      this.memory.set(id, m);
    }
    return m;
  }

  private view(device: string, now: number): ActuatorView {
    const ov = this.overrides.get(device);
    const run = this.runs.get(device);
    return {
      reported: this.reported.get(device)?.value,
      run: run && { owner: run.owner, role: run.role, opening: run.phase !== 'closing' },
      fault: this.faults.get(device),
      override: ov?.active && ov.until > now ? ov : undefined,
    };
  }

  private evaluate(plan: Plan, value: number, time: number, b: Batch): void {
    const now = b.now;
    const m = this.mem(plan.id);
    const t = plan.automation.trigger;
    const counters = countersAt(m.counters, this.tz, now);
    const side = t.kind === 'band' ? nextSide(m.side, value, t.low, t.high, plan.margin) : undefined;
    m.last = { value, time };
    if (side !== m.side || counters !== m.counters) {
      m.side = side;
      m.counters = counters;
      b.memories.add(plan.id);
    }
    const { active, decisions } = decide({
      plan,
      now,
      tz: this.tz,
      value,
      side,
      counters,
      actuator: (d) => this.view(d, now),
    });
    let skipped = false;
    for (const d of decisions) {
      if (d.kind === 'fire') this.fire(plan, d, value, b);
      else if (d.kind === 'close') {
        const run = this.runs.get(d.device);
        if (run) this.apply(d.device, run, requestClose(run, d.reason, now, d.via), b);
      } else {
        skipped = true;
        if (shouldLogSkip(m.lastSkip, d.event, now)) {
          m.lastSkip = { event: d.event, at: now };
          this.log(b, plan.id, {
            event: d.event,
            device: d.device,
            message: d.message,
            detail: { ...d.detail, role: d.role },
          });
        }
      }
    }
    if (!skipped && !active) m.lastSkip = undefined; // the next episode's first skip is logged again
  }

  private fire(plan: Plan, d: Extract<Decision, { kind: 'fire' }>, value: number, b: Batch): void {
    const a = plan.automation;
    const t = a.trigger;
    const m = this.mem(plan.id);
    const counters = countersAt(m.counters, this.tz, b.now);
    const runs = counters.runs + (d.counts ? 1 : 0);
    const cond =
      t.kind === 'threshold'
        ? `${t.device} ${t.metric} = ${value} ${t.op} ${t.value}`
        : `${t.device} ${t.metric} = ${value}, ${t.low}–${t.high}`;
    this.log(b, plan.id, {
      event: 'fired',
      device: d.command.device,
      message: {
        ja: `条件成立（${cond}）：${d.command.device} に「${d.command.name}」${d.counts ? `（本日 ${runs}/${a.limits.maxRunsPerDay} 回目）` : ''}`,
        en: `trigger held (${cond}): "${d.command.name}" on ${d.command.device}${d.counts ? ` (run ${runs} of ${a.limits.maxRunsPerDay} today)` : ''}`,
      },
      detail: {
        role: d.role,
        sensor: t.device,
        metric: t.metric,
        value,
        command: d.command.name,
        ...(d.command.selfCloseMinutes !== null ? { minutes: d.command.selfCloseMinutes } : {}),
        runsToday: runs,
        maxRunsPerDay: a.limits.maxRunsPerDay,
      },
    });
    const step = startRun({
      owner: plan.id,
      role: d.role,
      command: d.command,
      close: d.close,
      now: b.now,
      confirmSeconds: a.limits.confirmSeconds,
      retries: a.limits.retries,
      maxOpenMinutes: a.limits.maxOpenMinutes,
      counts: d.counts,
      quiet: d.quiet,
    });
    this.apply(d.command.device, undefined, step, b);
    m.counters = d.counts ? { ...counters, runs, lastRunAt: b.now } : counters;
    m.lastSkip = undefined;
    b.memories.add(plan.id);
  }

  // ---------------------------------------------------------------------------------------------
  // Actuators and runs
  // ---------------------------------------------------------------------------------------------

  /** Whether a device's readings can matter: an automation's sensor or an actuator (cached per device). */
  private relevant(device: string): boolean {
    let r = this.relevantCache.get(device);
    if (r === undefined) {
      r = this.triggerDevices.has(device) || this.actuatorInfo(device) !== undefined;
      this.relevantCache.set(device, r);
    }
    return r;
  }

  private actuatorInfo(device: string): ReturnType<typeof actuatorOf> {
    let info = this.actuatorCache.get(device);
    if (info === undefined) {
      info = actuatorOf(this.o.kitOf(device), device) ?? null;
      this.actuatorCache.set(device, info);
    }
    return info ?? undefined;
  }

  private onActuatorState(device: string, value: number, time: number, b: Batch): void {
    this.reported.set(device, { value, time });
    const info = this.actuatorInfo(device);
    if (this.faults.has(device) && value === info?.close.expect.value) {
      this.faults.delete(device);
      b.actuators.add(device);
      this.logDevice(b, device, {
        event: 'closed',
        device,
        message: {
          ja: `${device} が閉じたと報告しました。異常を解除します`,
          en: `${device} reported closed again; fault cleared`,
        },
        detail: { metric: info.metric, value, reason: 'fault_cleared' },
      });
    }
    const run = this.runs.get(device);
    if (run) this.apply(device, run, onState(run, value, time, b.now), b);
  }

  /** Applies a run step: the new run (or its end), its command, its logs, its fault. */
  private apply(device: string, prev: Run | undefined, step: Step, b: Batch): void {
    const owner = step.run?.owner ?? prev?.owner ?? OVERRIDE_OWNER;
    if (step.run) this.runs.set(device, step.run);
    else this.runs.delete(device);
    b.actuators.add(device);
    if (step.send) b.sends.push({ device, payload: step.send.payload });
    for (const l of step.logs) {
      if (owner === OVERRIDE_OWNER) this.logDevice(b, device, l);
      else this.log(b, owner, l);
    }
    if (step.ended && prev?.counts && owner !== OVERRIDE_OWNER) {
      const m = this.mem(owner);
      m.counters = { ...countersAt(m.counters, this.tz, b.now), lastEndAt: b.now };
      b.memories.add(owner);
    }
    if (step.fault) this.faults.set(device, step.fault);
  }

  private tick(device: string): void {
    this.timers.delete(`run:${device}`);
    if (this.stopped) return;
    const run = this.runs.get(device);
    if (!run) return;
    this.batch((b) => this.apply(device, run, onTick(run, b.now), b));
  }

  private reschedule(device: string): void {
    const key = `run:${device}`;
    const old = this.timers.get(key);
    if (old !== undefined) this.clock.clearTimeout(old);
    this.timers.delete(key);
    const run = this.runs.get(device);
    if (!run || this.stopped) return;
    const at = nextDeadline(run);
    if (!Number.isFinite(at)) return;
    const delay = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_MS);
    this.timers.set(
      key,
      this.clock.setTimeout(() => this.tick(device), delay),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Manual overrides
  // ---------------------------------------------------------------------------------------------

  /** The registered devices the engine can drive (a kit with a plain close command). */
  actuators(): string[] {
    return this.o
      .devices()
      .filter((d) => this.actuatorInfo(d) !== undefined)
      .sort();
  }

  /**
   * Sets a manual override from the gateway's page: hold an actuator closed or open, or pause its
   * automations, for `minutes`. Throws HATAKE_E_UNKNOWN_DEVICE or HATAKE_E_PAYLOAD_SCHEMA.
   */
  setOverride(input: {
    device: string;
    mode: ManualOverride['mode'];
    minutes: number;
    by: string;
  }): OverrideState {
    this.requireActuator(input.device);
    if (!(OVERRIDE_MODES as readonly string[]).includes(input.mode))
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_SCHEMA',
        `unknown override mode "${String(input.mode).slice(0, 20)}"`,
        {
          place: { pointer: '/mode' },
          expected: OVERRIDE_MODES.join(', '),
        },
      );
    if (!Number.isInteger(input.minutes) || input.minutes < 1 || input.minutes > MAX_OVERRIDE_MINUTES)
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_SCHEMA',
        `minutes ${String(input.minutes).slice(0, 20)} is not allowed`,
        {
          place: { pointer: '/minutes' },
          expected: `an integer from 1 to ${MAX_OVERRIDE_MINUTES}`,
        },
      );
    const now = this.clock.now();
    const o: ManualOverride = {
      device: input.device,
      mode: input.mode,
      until: now + input.minutes * 60_000,
      by: input.by.slice(0, 64),
    };
    this.batch((b) => this.applyOverride(o, 'local', undefined, b));
    return this.overrides.get(input.device)!;
  }

  /** Ends an actuator's override now (from the gateway's page). */
  clearOverride(device: string, by: string): OverrideState | undefined {
    this.requireActuator(device);
    const cur = this.overrides.get(device);
    if (!cur) return undefined;
    const now = this.clock.now();
    this.batch((b) =>
      this.applyOverride({ device, mode: cur.mode, until: now, by: by.slice(0, 64) }, 'local', undefined, b),
    );
    return this.overrides.get(device);
  }

  private requireActuator(device: string): void {
    if (typeof device !== 'string' || !this.o.devices().includes(device))
      throw new HatakeError(
        'HATAKE_E_UNKNOWN_DEVICE',
        `no device "${String(device).slice(0, 64)}" on this gateway`,
        {
          place: { pointer: '/device' },
          expected: this.actuators().join(', ') || 'an actuator such as a water gate',
        },
      );
    if (!this.actuatorInfo(device))
      throw new HatakeError(
        'HATAKE_E_AUTOMATION',
        `device "${device}" is not an actuator the gateway can drive`,
        {
          place: { pointer: '/device' },
          expected: this.actuators().join(', ') || 'an actuator such as a water gate',
        },
      );
  }

  private overrideDocument(doc: DownlinkDoc): void {
    const cur = this.overrides.get(doc.id);
    if (cur && cur.serverVersion >= doc.version) return; // applied already (or superseded)
    let o: ManualOverride;
    if (doc.deleted) {
      if (!cur) return;
      o = { device: doc.id, mode: cur.mode, until: this.clock.now(), by: 'server' };
    } else if (overrideValidator.check(doc.body) && doc.body.device === doc.id) {
      o = doc.body;
    } else {
      this.o.log.warn(
        { override: doc.id, version: doc.version },
        'override document refused: not a ManualOverride',
      );
      return;
    }
    this.batch((b) => this.applyOverride(o, 'server', doc.version, b));
  }

  private applyOverride(
    o: ManualOverride,
    source: 'server' | 'local',
    version: number | undefined,
    b: Batch,
  ): void {
    const prev = this.overrides.get(o.device);
    const next: OverrideState = {
      device: o.device,
      mode: o.mode,
      until: o.until,
      by: o.by,
      source,
      setAt: b.now,
      serverVersion: Math.max(prev?.serverVersion ?? 0, version ?? 0),
      // The dashboard ends an override by sending it with `until` = its now: a clock a little
      // behind must not read that as a few seconds of a new override.
      active: o.until - b.now > (source === 'server' ? SERVER_CLOCK_SLACK_MS : 0),
    };
    this.overrides.set(o.device, next);
    b.overrides.add(o.device);
    const key = `override:${o.device}`;
    const t = this.timers.get(key);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(key);
    if (!next.active) {
      if (prev?.active) this.endOverride({ ...prev, by: o.by }, b);
      return;
    }
    const mode = MODE[o.mode];
    this.logDevice(b, o.device, {
      event: 'override_set',
      device: o.device,
      message: {
        ja: `手動操作：${o.device} を${mode.ja}（${formatHhmm(this.tz, o.until)} まで、${o.by}、${source === 'local' ? 'ゲートウェイの画面' : 'ダッシュボード'}）`,
        en: `manual override: ${o.device} ${mode.en} until ${formatHhmm(this.tz, o.until)} by ${o.by} (${source === 'local' ? 'gateway page' : 'dashboard'})`,
      },
      detail: { mode: o.mode, until: o.until, by: o.by, source },
    });
    this.enforce(o.device, o.mode, o.until, b);
    this.scheduleOverrideEnd(next);
  }

  /** Puts the actuator in the state the override asks for. */
  private enforce(device: string, mode: ManualOverride['mode'], until: number, b: Batch): void {
    const info = this.actuatorInfo(device);
    if (!info) return;
    const run = this.runs.get(device);
    if (mode === 'pause' || mode === 'hold_closed') {
      if (run && run.phase !== 'closing') this.apply(device, run, requestClose(run, 'override', b.now), b);
      else if (!run && mode === 'hold_closed' && this.reported.get(device)?.value !== info.close.expect.value)
        this.startOverrideRun(device, info.close, info.close, null, b);
      return;
    }
    if (!info.open) {
      this.o.log.warn({ device }, 'hold_open: the kit has no plain open command');
      return;
    }
    if (run?.owner === OVERRIDE_OWNER && run.phase !== 'closing') {
      this.runs.set(device, { ...run, closeAt: until });
      b.actuators.add(device);
      return;
    }
    if (run) this.runs.delete(device); // the hold takes the actuator over
    this.startOverrideRun(device, info.open, info.close, until, b);
  }

  private startOverrideRun(
    device: string,
    command: ResolvedCommand,
    close: ResolvedCommand,
    closeAt: number | null,
    b: Batch,
  ): void {
    const step = startRun({
      owner: OVERRIDE_OWNER,
      role: 'override',
      command,
      close,
      now: b.now,
      maxOpenMinutes: null,
      closeAt,
      counts: false,
    });
    this.apply(device, undefined, step, b);
  }

  private endOverride(prev: OverrideState, b: Batch): void {
    const cur = this.overrides.get(prev.device);
    if (cur) {
      cur.active = false;
      b.overrides.add(prev.device);
    }
    const mode = MODE[prev.mode];
    this.logDevice(b, prev.device, {
      event: 'override_cleared',
      device: prev.device,
      message: {
        ja: `手動操作（${mode.ja}）が終わりました：${prev.device} は自動化に戻ります`,
        en: `manual override (${mode.en}) on ${prev.device} ended; automations resume`,
      },
      detail: { mode: prev.mode, by: prev.by },
    });
    const run = this.runs.get(prev.device);
    if (run?.owner === OVERRIDE_OWNER && run.phase !== 'closing')
      this.apply(prev.device, run, requestClose(run, 'hold_ended', b.now), b);
  }

  private scheduleOverrideEnd(ov: OverrideState): void {
    const key = `override:${ov.device}`;
    const old = this.timers.get(key);
    if (old !== undefined) this.clock.clearTimeout(old);
    const wait = Math.min(Math.max(0, ov.until - this.clock.now()), MAX_TIMER_MS);
    this.timers.set(
      key,
      this.clock.setTimeout(() => {
        this.timers.delete(key);
        if (this.stopped) return;
        const cur = this.overrides.get(ov.device);
        if (!cur?.active) return;
        if (cur.until > this.clock.now()) {
          this.scheduleOverrideEnd(cur); // a wait longer than a timer can hold
          return;
        }
        this.batch((b) => this.endOverride(cur, b));
      }, wait),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Logs, persistence, status
  // ---------------------------------------------------------------------------------------------

  /** Automations that command a device (their logs show what happened to it), or 'manual'. */
  private automationsFor(device: string): string[] {
    const ids = [...this.plans.values()]
      .filter((p) => p.commands.some((c) => c.command.device === device))
      .map((p) => p.id);
    return ids.length > 0 ? ids : [OVERRIDE_OWNER];
  }

  private logDevice(b: Batch, device: string, l: LogDraft): void {
    for (const id of this.automationsFor(device)) this.log(b, id, l);
  }

  private log(b: Batch, automation: string, l: LogDraft): void {
    b.logs.push({
      id: randomBytes(12).toString('base64url'),
      automation,
      time: b.now,
      event: l.event,
      device: l.device,
      message: `${l.message.ja} / ${l.message.en}`.slice(0, 500),
      text: { ja: l.message.ja.slice(0, 500), en: l.message.en.slice(0, 500) },
      ...(l.detail ? { detail: cleanDetail(l.detail) } : {}),
    });
  }

  /** Runs one engine step: in-memory changes, then one transaction, then the publishes and timers. */
  private batch(fn: (b: Batch) => void): void {
    const b: Batch = {
      now: this.clock.now(),
      logs: [],
      sends: [],
      actuators: new Set(),
      memories: new Set(),
      overrides: new Set(),
    };
    try {
      fn(b);
    } catch (e) {
      // A fault here must never reach the ingest that called us; what was decided still goes out.
      this.o.log.error({ err: (e as Error).message }, 'automation step failed');
    }
    if (b.logs.length + b.actuators.size + b.memories.size + b.overrides.size === 0) return;
    try {
      this.state.transaction(() => {
        for (const id of b.memories) {
          const m = this.memory.get(id);
          if (m) this.state.putMemory(id, { counters: m.counters, side: m.side });
        }
        for (const d of b.actuators) this.state.putActuator(d, this.runs.get(d), this.faults.get(d));
        for (const d of b.overrides) this.state.putOverride(this.overrides.get(d)!);
        for (const l of b.logs) {
          this.o.store.enqueue('automation_log', l, b.now);
          this.state.appendLog(l, this.o.keepLogs ?? 200);
        }
      });
    } catch (e) {
      // A full disk must not keep a valve open: the commands still go out, from memory.
      this.o.log.error({ err: (e as Error).message, logs: b.logs.length }, 'automation state not saved');
    }
    for (const l of b.logs) {
      const level = l.detail?.severity === 'critical' ? 'error' : 'info';
      this.o.log[level]({ automation: l.automation, event: l.event, device: l.device }, l.message);
    }
    for (const s of b.sends) {
      this.o.publish(s.device, s.payload).catch((e: unknown) => {
        // The confirmation window runs out and the command is resent.
        this.o.log.warn({ device: s.device, err: (e as Error).message }, 'command not published');
      });
    }
    for (const d of b.actuators) this.reschedule(d);
  }

  /** The most recent logs, newest first. */
  logs(limit = 50): AutomationLog[] {
    return this.started ? this.state.recentLogs(limit) : [];
  }

  /** Problems for the gateway's health line, as data (a valve that never reported closed). */
  healthProblems(): AutomationProblem[] {
    return [...this.faults.keys()].map((device) => ({ code: 'valve_not_closed', device }));
  }

  /** The same problems as English lines (the health line of /healthz and /api/status). */
  problems(): string[] {
    return this.healthProblems().map(automationProblemLine);
  }

  /** A trigger's sensor with the unit its kit stores the metric in and the kit's name for it. */
  private triggerOf(
    sensor: Plan['sensor'],
  ): NonNullable<AutomationsStatus['automations'][number]['trigger']> {
    const metrics = this.o.kitOf(sensor.device)?.metrics;
    const def = metrics && Object.hasOwn(metrics, sensor.metric) ? metrics[sensor.metric] : undefined;
    return { ...sensor, unit: def?.unit ?? '', name: def?.name ?? null };
  }

  /** What the status page shows. */
  status(): AutomationsStatus {
    const now = this.clock.now();
    const tz = this.tz;
    const automations: AutomationsStatus['automations'] = [];
    for (const p of this.plans.values()) {
      const a = p.automation;
      const m = this.memory.get(p.id);
      const c = countersAt(m?.counters, tz, now);
      const cd = cooldownUntil(c, a.limits);
      automations.push({
        id: p.id,
        name: a.name,
        enabled: true,
        kind: a.trigger.kind,
        problem: null,
        sensor: `${p.sensor.device} ${p.sensor.metric}`,
        trigger: this.triggerOf(p.sensor),
        lastValue: m?.last ?? null,
        side: m?.side ?? null,
        runsToday: c.runs,
        maxRunsPerDay: a.limits.maxRunsPerDay,
        lastRunAt: c.lastRunAt,
        cooldownUntil: cd !== null && cd > now ? cd : null,
        quietHours: a.limits.quietHours ?? null,
        quietNow: inQuietHours(a.limits.quietHours, tz, now),
      });
    }
    for (const [id, { doc, problem }] of this.idle) {
      const name = doc.name as { ja?: unknown; en?: unknown } | undefined;
      automations.push({
        id,
        name:
          typeof name?.ja === 'string' && typeof name.en === 'string'
            ? { ja: name.ja.slice(0, 200), en: name.en.slice(0, 200) }
            : null,
        enabled: doc.enabled === true,
        kind: null,
        problem,
        sensor: null,
        trigger: null,
        lastValue: null,
        side: null,
        runsToday: countersAt(this.memory.get(id)?.counters, tz, now).runs,
        maxRunsPerDay: null,
        lastRunAt: this.memory.get(id)?.counters?.lastRunAt ?? null,
        cooldownUntil: null,
        quietHours: null,
        quietNow: false,
      });
    }
    automations.sort((x, y) => x.id.localeCompare(y.id));
    const devices = new Set([...this.actuators(), ...this.runs.keys(), ...this.overrides.keys()]);
    const actuators: AutomationsStatus['actuators'] = [...devices].sort().map((device) => {
      const run = this.runs.get(device);
      const ov = this.overrides.get(device);
      return {
        device,
        metric: this.actuatorInfo(device)?.metric ?? run?.metric ?? 'valve_state',
        reported: this.reported.get(device) ?? null,
        run: run
          ? {
              owner: run.owner,
              role: run.role,
              phase: run.phase,
              command: run.command.name,
              startedAt: run.startedAt,
              openedAt: run.openedAt,
              closesItselfAt:
                run.selfCloseMinutes !== null && run.phase !== 'closing'
                  ? run.sentAt + run.selfCloseMinutes * 60_000
                  : null,
              closeAt: run.closeAt,
              maxOpenAt: run.phase === 'closing' ? null : run.maxOpenAt,
              attempts: run.attempts,
            }
          : null,
        override:
          ov?.active && ov.until > now
            ? { mode: ov.mode, until: ov.until, by: ov.by, source: ov.source }
            : null,
        fault: this.faults.get(device) ?? null,
      };
    });
    return { timezone: tz, automations, actuators, logs: this.logs(30) };
  }
}

const MODE: Record<ManualOverride['mode'], Msg> = {
  hold_closed: { ja: '閉で固定', en: 'held closed' },
  hold_open: { ja: '開で固定', en: 'held open' },
  pause: { ja: '自動化を一時停止', en: 'automations paused' },
};

/** Log details as the contract takes them: strings cut to 500, non-finite numbers as null. */
function cleanDetail(d: Detail): Detail {
  const out: Detail = {};
  for (const [k, v] of Object.entries(d)) {
    out[k] =
      typeof v === 'string' ? v.slice(0, 500) : typeof v === 'number' && !Number.isFinite(v) ? null : v;
  }
  return out;
}
