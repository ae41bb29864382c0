// The automation engine's decisions, pure and on an injected time: whether a trigger holds, which
// side of a band a value is on (with hysteresis, so a level wobbling at a band edge does not make
// the gate chatter), the limits (runs per local day in the farm's zone, quiet hours in that zone,
// cool-down) and the interlocks (one automation per actuator, a manual override wins, a valve that
// never reported closed is not opened again). `decide` turns one new sensor value into what to do:
// fire a command, close a run it opened, or log why it does not act. A run never reaches into quiet
// hours: an opening is fired with the start of the next quiet hours as its last moment (run.ts
// closes it then), refused when less than MIN_RUN_BEFORE_QUIET_MS would be left, and a run of the
// automation still open in quiet hours (one started before this bound existed) is closed.
import { compares, type ComparisonOp } from '../../protocol/comparison.ts';
import type { AutomationLimits, ManualOverride } from '../../protocol/automation.ts';
import { DAY_MS, localDay, offsetMs } from '../../edge/rules/local-time.ts';
import type { Plan, ResolvedCommand, Role } from './plan.ts';
import { DEFAULT_CONFIRM_SECONDS } from './run.ts';

export type Side = 'low' | 'inside' | 'high';

/** Decisions not to act, as AutomationLog events. */
export type SkipEvent =
  'skipped_quiet_hours' | 'skipped_daily_limit' | 'skipped_cooldown' | 'skipped_override' | 'safety_stop';

/** Japanese first, then English (AutomationLog messages carry both). */
export interface Msg {
  ja: string;
  en: string;
}

/** What an automation has done so far, kept across restarts. */
export interface Counters {
  /** Local day (farm zone) the runs were counted on. */
  day: number;
  runs: number;
  lastRunAt: number | null;
  lastEndAt: number | null;
}

/** What the engine knows about one actuator when deciding. */
export interface ActuatorView {
  /** Last reported state (e.g. valve_state), if any. */
  reported: number | undefined;
  /** The run driving it now: whose, for which role, and whether it is opening or open. */
  run: { owner: string; role: string; opening: boolean } | undefined;
  /** Set when the actuator never confirmed a close: nothing opens it until it reports closed. */
  fault: string | undefined;
  /** The manual override in force, if any. */
  override: Pick<ManualOverride, 'mode' | 'until' | 'by'> | undefined;
}

/** Quiet hours a run must not reach into: they begin at `at` (epoch ms), local `from`–`to`. */
export interface QuietBound {
  at: number;
  from: string;
  to: string;
}

export type Decision =
  | {
      kind: 'fire';
      role: Role;
      command: ResolvedCommand;
      close: ResolvedCommand;
      counts: boolean;
      /** An opening's last moment: the start of the next quiet hours (null: none set, or a closing command). */
      quiet: QuietBound | null;
    }
  | {
      kind: 'close';
      role: Role;
      device: string;
      reason: 'condition' | 'band' | 'quiet_hours';
      /** The automation's own closing command for this device (band `above: close`), else the kit's close. */
      via: ResolvedCommand | undefined;
    }
  | {
      kind: 'skip';
      role: Role;
      device: string;
      event: SkipEvent;
      message: Msg;
      detail: Record<string, string | number | boolean | null>;
    };

/** A repeated identical decision not to act is logged again after this long (not at every reading). */
export const SKIP_RELOG_MS = 3_600_000;
const MINUTE = 60_000;
/**
 * An opening is not started when less than this is left before quiet hours (nor less than its
 * confirmation window): a valve opened for a minute or two waters nothing worth the wear, and
 * could not even be confirmed open before it has to close.
 */
export const MIN_RUN_BEFORE_QUIET_MS = 5 * MINUTE;

/** Whether `value op threshold` holds (the comparison every rule and page uses too). */
export function thresholdHolds(op: ComparisonOp, value: number, threshold: number): boolean {
  return compares(value, op, threshold);
}

/**
 * The band side of a value: below `low` is low, above `high` is high; once low (high), the value
 * must come `margin` back inside the band before it counts as inside again.
 */
export function nextSide(
  prev: Side | undefined,
  value: number,
  low: number,
  high: number,
  margin: number,
): Side {
  if (value < low) return 'low';
  if (value > high) return 'high';
  if (prev === 'low' && value < low + margin) return 'low';
  if (prev === 'high' && value > high - margin) return 'high';
  return 'inside';
}

/** Minutes since local midnight of 'HH:MM'. */
export function parseHhmm(s: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s);
  if (!m) throw new RangeError(`not a time HH:MM: ${s.slice(0, 10)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Local minute of the day (0–1439) of instant `t` in zone `tz`. */
export function minuteOfDay(tz: string, t: number): number {
  const local = t + offsetMs(tz, t);
  return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE);
}

/** Local 'HH:MM' of instant `t`. */
export function formatHhmm(tz: string, t: number): string {
  const m = minuteOfDay(tz, t);
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** Whether `t` falls in the quiet hours [from, to) in zone `tz`; a window may wrap midnight (22:00–05:00). */
export function inQuietHours(q: { from: string; to: string } | undefined, tz: string, t: number): boolean {
  if (!q) return false;
  const from = parseHhmm(q.from);
  const to = parseHhmm(q.to);
  if (from === to) return false;
  const m = minuteOfDay(tz, t);
  return from < to ? m >= from && m < to : m >= from || m < to;
}

/**
 * When the next quiet hours begin after `t` (the first instant of their `from` minute, in zone
 * `tz`), or null without quiet hours. Inside quiet hours it is the start of the next night's.
 */
export function nextQuietStart(
  q: { from: string; to: string } | undefined,
  tz: string,
  t: number,
): number | null {
  if (!q) return null;
  const from = parseHhmm(q.from);
  if (from === parseHhmm(q.to)) return null;
  const offset = offsetMs(tz, t);
  const minuteStart = t - ((((t + offset) % MINUTE) + MINUTE) % MINUTE);
  const ahead = (from - minuteOfDay(tz, t) + 1440) % 1440 || 1440;
  const at = minuteStart + ahead * MINUTE;
  // A change of the zone's offset (daylight saving time) in between moves the wall clock.
  return at + offset - offsetMs(tz, at);
}

/** The counters as of `now`: a new local day in the farm's zone starts at zero runs. */
export function countersAt(c: Counters | undefined, tz: string, now: number): Counters {
  const day = localDay(tz, now);
  if (!c) return { day, runs: 0, lastRunAt: null, lastEndAt: null };
  return c.day === day ? c : { ...c, day, runs: 0 };
}

/** Until when the cool-down holds (counted from the end of the last run, or its start while none ended since). */
export function cooldownUntil(c: Counters, limits: AutomationLimits): number | null {
  const minutes = limits.cooldownMinutes ?? 0;
  const from = Math.max(c.lastRunAt ?? -Infinity, c.lastEndAt ?? -Infinity);
  return minutes > 0 && Number.isFinite(from) ? from + minutes * MINUTE : null;
}

/** Whether a decision not to act should be logged: a new kind of decision, or the same one an hour later. */
export function shouldLogSkip(
  last: { event: SkipEvent; at: number } | undefined,
  event: SkipEvent,
  now: number,
): boolean {
  return !last || last.event !== event || now - last.at >= SKIP_RELOG_MS;
}

const MODE_TEXT: Record<ManualOverride['mode'], Msg> = {
  hold_closed: { ja: '閉で固定', en: 'hold closed' },
  hold_open: { ja: '開で固定', en: 'hold open' },
  pause: { ja: '自動化を一時停止', en: 'automations paused' },
};

export interface DecideInput {
  plan: Plan;
  now: number;
  tz: string;
  /** The new sensor value. */
  value: number;
  /** Band automations: the side after this value (see `nextSide`). */
  side: Side | undefined;
  counters: Counters;
  actuator: (device: string) => ActuatorView;
}

/**
 * What to do about one new sensor value. `active` says whether the trigger holds (threshold) or
 * the value is outside the band (band); decisions are in the order to carry them out.
 */
export function decide(i: DecideInput): { active: boolean; decisions: Decision[] } {
  const { plan, now, tz } = i;
  const a = plan.automation;
  const t = a.trigger;
  const byRole = new Map(plan.commands.map((c) => [c.role, c]));
  let want: Role[] = [];
  let release: Role[] = [];
  let active: boolean;
  if (t.kind === 'threshold') {
    active = thresholdHolds(t.op, i.value, t.value);
    // An untimed opening lasts while the condition holds; a timed one (open_for) runs its course.
    if (active) want = ['action'];
    else if (byRole.get('action')?.command.selfCloseMinutes === null) release = ['action'];
  } else {
    const side = i.side ?? 'inside';
    active = side !== 'inside';
    if (side === 'low') {
      want = ['below'];
      release = ['above'];
    } else if (side === 'high') {
      want = ['above'];
      release = ['below'];
    }
  }
  const decisions: Decision[] = [];
  const wanted = want.flatMap((r) => (byRole.has(r) ? [byRole.get(r)!] : []));
  /** Devices whose run is closed by one of the wanted (closing) commands. */
  const closedVia = new Set<string>();
  const q = a.limits.quietHours;

  // In quiet hours nothing this automation opened stays open, whatever the value says. (A run
  // started since the quiet bound existed is closed by run.ts at their start; this is the backstop.)
  /** Devices closed because quiet hours began. */
  const quietClosed = new Set<string>();
  if (inQuietHours(q, tz, now))
    for (const c of plan.commands) {
      const run = i.actuator(c.command.device).run;
      if (!c.command.opening || quietClosed.has(c.command.device)) continue;
      if (run?.owner !== plan.id || run.role !== c.role || !run.opening) continue;
      quietClosed.add(c.command.device);
      decisions.push({
        kind: 'close',
        role: c.role,
        device: c.command.device,
        reason: 'quiet_hours',
        via: undefined,
      });
    }

  for (const role of release) {
    const c = byRole.get(role);
    if (!c || quietClosed.has(c.command.device)) continue;
    const run = i.actuator(c.command.device).run;
    if (run?.owner !== plan.id || run.role !== role || !run.opening) continue;
    // The band's own closing command for this device (e.g. above → close) closes the run.
    const via = wanted.find((w) => w.command.device === c.command.device && !w.command.opening);
    if (via) closedVia.add(c.command.device);
    decisions.push({
      kind: 'close',
      role,
      device: c.command.device,
      reason: t.kind === 'band' ? 'band' : 'condition',
      via: via?.command,
    });
  }

  for (const w of wanted) {
    const cmd = w.command;
    if (quietClosed.has(cmd.device)) continue; // closing for quiet hours, above
    if (closedVia.has(cmd.device) && !cmd.opening) continue; // carried out by the close above
    const act = i.actuator(cmd.device);
    const skip = (event: SkipEvent, message: Msg, detail: Record<string, string | number | boolean | null>) =>
      decisions.push({ kind: 'skip', role: w.role, device: cmd.device, event, message, detail });
    if (act.run && act.run.owner === plan.id && act.run.role === w.role) continue; // already doing it
    const inState = act.reported === cmd.expect.value;
    if (!cmd.opening) {
      if (act.run?.owner === plan.id && act.run.opening) {
        decisions.push({ kind: 'close', role: w.role, device: cmd.device, reason: 'band', via: cmd });
        continue;
      }
      if (inState && !act.run) continue;
      if (act.override?.mode === 'hold_closed' && !act.run) continue; // the override already holds it closed
      if (act.override) {
        skip('skipped_override', overrideMsg(cmd.device, act.override, tz), overrideDetail(act.override));
        continue;
      }
      if (act.run) {
        skip('skipped_override', interlockMsg(cmd.device, act.run.owner), {
          reason: 'interlock',
          holder: act.run.owner,
        });
        continue;
      }
      // Bringing an actuator to rest is never held back by quiet hours, limits or cool-down.
      decisions.push({
        kind: 'fire',
        role: w.role,
        command: cmd,
        close: w.close,
        counts: false,
        quiet: null,
      });
      continue;
    }
    if (act.fault && !act.override) {
      skip(
        'safety_stop',
        {
          ja: `${cmd.device} は閉の報告がないままです。閉じたと報告するまで開けません`,
          en: `${cmd.device} never reported closed; not opening it until it does`,
        },
        { reason: 'actuator_fault', fault: act.fault.slice(0, 200) },
      );
      continue;
    }
    if (inState && !act.run) continue; // already open: nothing to do
    if (act.override) {
      skip('skipped_override', overrideMsg(cmd.device, act.override, tz), overrideDetail(act.override));
      continue;
    }
    if (act.run) {
      skip('skipped_override', interlockMsg(cmd.device, act.run.owner), {
        reason: 'interlock',
        holder: act.run.owner,
      });
      continue;
    }
    const limits = a.limits;
    if (inQuietHours(q, tz, now)) {
      skip(
        'skipped_quiet_hours',
        {
          ja: `静かな時間帯（${q!.from}–${q!.to}）のため開けません`,
          en: `quiet hours ${q!.from}–${q!.to}: not opening`,
        },
        { from: q!.from, to: q!.to, local: formatHhmm(tz, now), value: i.value },
      );
      continue;
    }
    // The run will be closed when quiet hours begin: not worth starting when too little is left.
    const quietAt = nextQuietStart(q, tz, now);
    const needed = Math.max(
      MIN_RUN_BEFORE_QUIET_MS,
      (limits.confirmSeconds ?? DEFAULT_CONFIRM_SECONDS) * 1000,
    );
    if (quietAt !== null && quietAt - now < needed) {
      const left = Math.round(((quietAt - now) / MINUTE) * 10) / 10;
      const min = Math.round((needed / MINUTE) * 10) / 10;
      skip(
        'skipped_quiet_hours',
        {
          ja: `静かな時間帯（${q!.from}–${q!.to}）まであと ${left} 分のため開けません（${min} 分以上必要）`,
          en: `quiet hours ${q!.from}–${q!.to} begin in ${left} min: not opening (needs at least ${min} min)`,
        },
        {
          reason: 'too_close',
          from: q!.from,
          to: q!.to,
          local: formatHhmm(tz, now),
          minutesLeft: left,
          minMinutes: min,
          value: i.value,
        },
      );
      continue;
    }
    if (i.counters.runs >= limits.maxRunsPerDay) {
      skip(
        'skipped_daily_limit',
        {
          ja: `本日の上限 ${limits.maxRunsPerDay} 回に達しています`,
          en: `daily limit of ${limits.maxRunsPerDay} runs reached`,
        },
        { runsToday: i.counters.runs, maxRunsPerDay: limits.maxRunsPerDay, value: i.value },
      );
      continue;
    }
    const until = cooldownUntil(i.counters, limits);
    if (until !== null && now < until) {
      skip(
        'skipped_cooldown',
        {
          ja: `前回の動作から ${limits.cooldownMinutes} 分空けます（${formatHhmm(tz, until)} まで）`,
          en: `cool-down of ${limits.cooldownMinutes} min: not before ${formatHhmm(tz, until)}`,
        },
        { until, cooldownMinutes: limits.cooldownMinutes ?? 0, value: i.value },
      );
      continue;
    }
    decisions.push({
      kind: 'fire',
      role: w.role,
      command: cmd,
      close: w.close,
      counts: true,
      quiet: quietAt === null ? null : { at: quietAt, from: q!.from, to: q!.to },
    });
  }
  return { active, decisions };
}

function overrideMsg(device: string, o: NonNullable<ActuatorView['override']>, tz: string): Msg {
  const m = MODE_TEXT[o.mode];
  return {
    ja: `${device} は手動操作（${m.ja}、${formatHhmm(tz, o.until)} まで、${o.by}）が優先です`,
    en: `manual override on ${device} (${m.en} until ${formatHhmm(tz, o.until)}, by ${o.by}) wins`,
  };
}

function overrideDetail(o: NonNullable<ActuatorView['override']>): Record<string, string | number> {
  return { reason: 'override', mode: o.mode, until: o.until, by: o.by };
}

function interlockMsg(device: string, holder: string): Msg {
  return holder === OVERRIDE_OWNER
    ? {
        ja: `${device} は手動操作の指令を実行中です`,
        en: `${device} is carrying out a manual override`,
      }
    : {
        ja: `${device} は自動化 ${holder} が動かしています（1台に同時に1つ）`,
        en: `${device} is driven by automation ${holder} (one automation per actuator at a time)`,
      };
}

/** The owner of runs a manual override starts (hold closed / hold open). */
export const OVERRIDE_OWNER = 'manual';
