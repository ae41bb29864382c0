// A simulated paddy water gate / irrigation valve (kit hatake-water-gate): a real MQTT client
// (mqtt.js) that logs in with its provisioned secret, subscribes to its `down` topic, obeys
// `open`, `close` and timed `open` (open_for: `{ command: open, minutes }`, closing itself when
// the time is up), and reports valve_state, open_minutes_left and — with a level model — the
// paddy water_level on `up`. It logs in as every simulated kit does (connect.ts: a refused login
// is told to `onRefused`, and tried again every minute). Switches make it misbehave like a real
// one can: never report closed (a stuck limit switch), or ignore commands (a jammed motor, a dead
// relay). Its timers run on an injectable clock so a test can let minutes pass at once.
import type { MqttClient } from 'mqtt';
import { deviceTopic } from '../protocol/topics.ts';
import { connectKit, type KitConnection, type KitLogin } from './connect.ts';

/** Time and timers (the engine's EngineClock has the same shape). */
export interface ValveClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ValveFaults {
  /** Never publishes valve_state = 0 (it may still close). */
  neverReportClosed: boolean;
  /** Receives commands but does nothing about them. */
  ignoreCommands: boolean;
}

export interface SimulatedValveOptions extends KitLogin {
  clock?: ValveClock;
  /** Also report every this many ms of the clock (0: only when the state changes). */
  reportEveryMs?: number;
  /** A paddy behind the gate: the level rises while open and falls while closed. */
  level?: { startCm: number; fillCmPerMin: number; drainCmPerMin: number };
  /**
   * Whether the gate reports that level itself as water_level (default true; false: a level
   * sensor of the paddy reads levelNow() instead).
   */
  reportLevel?: boolean;
  faults?: Partial<ValveFaults>;
}

/** Largest command payload the valve reads. */
export const MAX_COMMAND_BYTES = 1024;
const MAX_OPEN_MINUTES = 720;

const realClock: ValveClock = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class SimulatedValve {
  readonly opts: SimulatedValveOptions;
  private readonly clock: ValveClock;
  private conn: KitConnection | undefined;
  private closeTimer: unknown;
  private reportTimer: unknown;
  private lastStamp = 0;
  private levelCm: number | undefined;
  private levelAt = 0;
  private pending = new Set<Promise<unknown>>();
  faults: ValveFaults;
  /** 1 open, 0 closed. */
  state: 0 | 1 = 0;
  /** When a timed opening ends (clock ms), if one runs. */
  openUntil: number | null = null;
  /** Every command that arrived, obeyed or not. */
  readonly received: { time: number; command: string; minutes?: number; obeyed: boolean }[] = [];
  /** Payloads that were not a command this valve knows (kept short). */
  readonly refused: string[] = [];

  constructor(opts: SimulatedValveOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.faults = { neverReportClosed: false, ignoreCommands: false, ...opts.faults };
    if (opts.level) {
      this.levelCm = opts.level.startCm;
      this.levelAt = this.clock.now();
    }
  }

  private get client(): MqttClient | undefined {
    return this.conn?.client;
  }

  /**
   * Connects, subscribes to its `down` topic and reports its state; at every reconnection again
   * (a clean session: a command queued while the valve was away must not open it hours later).
   * Resolves true once that is done for the first login, false when the first login is refused
   * or fails (it keeps trying); rejects when the broker refuses the subscription.
   */
  async start(): Promise<boolean> {
    const { farm, device } = this.opts;
    let ready: Promise<void> | undefined;
    this.conn = connectKit(this.opts, { clientId: `${device}-valve-sim`, clean: true }, (client) => {
      const p = (async () => {
        const granted = await client.subscribeAsync(deviceTopic(farm, device, 'down'), { qos: 1 });
        if (granted.some((g) => g.qos === 128))
          throw new Error(`${device}: subscription to its down topic refused`);
        await this.report();
      })();
      ready ??= p;
      p.catch(() => {});
    });
    this.conn.client.on('message', (_topic, payload) => this.onCommand(payload));
    this.scheduleReport();
    if (!(await this.conn.first)) return false;
    await ready;
    return true;
  }

  /** Switches misbehaviour on or off while running. */
  setFaults(f: Partial<ValveFaults>): void {
    this.faults = { ...this.faults, ...f };
  }

  /** The water level now (cm), with the level model. */
  levelNow(): number | undefined {
    if (this.levelCm === undefined || !this.opts.level) return undefined;
    const now = this.clock.now();
    const minutes = (now - this.levelAt) / 60_000;
    const rate = this.state === 1 ? this.opts.level.fillCmPerMin : -this.opts.level.drainCmPerMin;
    this.levelCm = Math.min(40, Math.max(-10, this.levelCm + rate * minutes));
    this.levelAt = now;
    return Math.round(this.levelCm * 10) / 10;
  }

  private onCommand(payload: Buffer): void {
    const cmd = parseCommand(payload);
    if (!cmd) {
      if (this.refused.length < 100) this.refused.push(payload.subarray(0, 64).toString('utf8'));
      return;
    }
    const obeyed = !this.faults.ignoreCommands;
    this.received.push({ time: this.clock.now(), ...cmd, obeyed });
    if (!obeyed) return;
    this.levelNow(); // settle the level at the old state before changing it
    this.clock.clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    if (cmd.command === 'open') {
      this.state = 1;
      this.openUntil = cmd.minutes === undefined ? null : this.clock.now() + cmd.minutes * 60_000;
      if (cmd.minutes !== undefined)
        this.closeTimer = this.clock.setTimeout(() => this.closeByItself(), cmd.minutes * 60_000);
    } else {
      this.state = 0;
      this.openUntil = null;
    }
    void this.report();
  }

  private closeByItself(): void {
    this.levelNow();
    this.state = 0;
    this.openUntil = null;
    this.closeTimer = undefined;
    void this.report();
  }

  private scheduleReport(): void {
    const every = this.opts.reportEveryMs ?? 0;
    if (every <= 0) return;
    this.reportTimer = this.clock.setTimeout(() => {
      void this.report();
      this.scheduleReport();
    }, every);
  }

  /** Publishes the current state (QoS 1); resolves once the gateway acknowledged it. */
  report(): Promise<void> {
    const now = this.clock.now();
    // Strictly increasing times: the gateway keeps one reading per device, metric and time.
    const time = Math.max(now, this.lastStamp + 1);
    this.lastStamp = time;
    const values: Record<string, number> = {};
    if (this.state === 1 || !this.faults.neverReportClosed) values.valve_state = this.state;
    values.open_minutes_left =
      this.openUntil === null ? 0 : Math.min(MAX_OPEN_MINUTES, Math.ceil((this.openUntil - now) / 60_000));
    const level = this.levelNow();
    if (level !== undefined && this.opts.reportLevel !== false) values.water_level = level;
    const client = this.client;
    // Not connected: nothing to tell now; each login reports the state anew.
    if (!client?.connected) return Promise.resolve();
    const p = client
      .publishAsync(deviceTopic(this.opts.farm, this.opts.device, 'up'), JSON.stringify({ time, values }), {
        qos: 1,
      })
      .then(() => undefined)
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    return p;
  }

  /** Resolves when every report sent so far has been acknowledged. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.closeTimer);
    this.clock.clearTimeout(this.reportTimer);
    const conn = this.conn;
    this.conn = undefined;
    await conn?.end();
  }
}

/** Reads a command payload: `{ command: open|close, minutes? }`; anything else is undefined. */
export function parseCommand(
  payload: Uint8Array,
): { command: 'open' | 'close'; minutes?: number } | undefined {
  if (payload.length > MAX_COMMAND_BYTES) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { command, minutes, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return undefined;
  if (command === 'close') return minutes === undefined ? { command } : undefined;
  if (command !== 'open') return undefined;
  if (minutes === undefined) return { command };
  if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > MAX_OPEN_MINUTES)
    return undefined;
  return { command, minutes };
}
