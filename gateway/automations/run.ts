// One run of an actuator, as a pure state machine on an injected time: a command is sent, the
// reported state is awaited within the confirmation window and the command resent within the
// retry limit; an opened valve is watched until it reports closed — by itself (open_for), by a
// close the engine sends (condition cleared, band crossed, override, hold ended), or by the
// maximum open time, after which `close` is sent whatever the valve reports. A close that is
// never confirmed ends the run with a critical log and a fault on the actuator. An automation's
// opening never reaches into its quiet hours: `close` is sent when they begin, cutting a timed
// opening short. The engine turns each Step into I/O: persist, publish, log, schedule the next
// deadline.
import type { AutomationLog } from '../../protocol/automation.ts';
import type { Msg, QuietBound } from './decide.ts';
import type { ResolvedCommand, Role } from './plan.ts';

export const DEFAULT_CONFIRM_SECONDS = 60;
export const DEFAULT_RETRIES = 2;
/** A state reading measured this long before the command was sent still counts (device clocks drift). */
export const STATE_SKEW_MS = 60_000;
const MINUTE = 60_000;

export type Phase = 'opening' | 'open' | 'closing';
export type CloseReason =
  | 'planned'
  | 'condition'
  | 'band'
  | 'safety'
  | 'override'
  | 'hold_ended'
  | 'withdrawn'
  | 'not_confirmed'
  | 'not_self_closed'
  | 'quiet_hours';

export interface SentCommand {
  name: string;
  payload: string;
  expectValue: number;
}

export type Detail = Record<string, string | number | boolean | null>;

export interface Run {
  /** Automation id, or OVERRIDE_OWNER for a manual hold. */
  owner: string;
  role: Role | 'override';
  device: string;
  /** The state metric the actuator reports (valve_state). */
  metric: string;
  phase: Phase;
  /** The command of the current phase (what is resent on retry). */
  command: SentCommand;
  attempts: number;
  sentAt: number;
  startedAt: number;
  openedAt: number | null;
  confirmMs: number;
  retries: number;
  /** open_for: the device closes itself this many minutes after the (last) opening command. */
  selfCloseMinutes: number | null;
  /** The engine closes at this time (end of a manual hold open). */
  closeAt: number | null;
  /** The safety bound: `close` is sent at this time whatever the valve reports. */
  maxOpenAt: number | null;
  maxOpenMinutes: number | null;
  /** An automation's opening: `close` is sent when these quiet hours begin (absent in runs kept before). */
  quiet?: QuietBound | null;
  /** The actuator's plain close command. */
  close: SentCommand;
  closeReason: CloseReason | null;
  /** Counted against the automation's runs per day. */
  counts: boolean;
}

export interface LogDraft {
  event: AutomationLog['event'];
  device: string;
  message: Msg;
  detail?: Detail;
}

export interface Step {
  /** The run after the step; undefined once it has ended. */
  run: Run | undefined;
  /** A command to publish now. */
  send: SentCommand | undefined;
  logs: LogDraft[];
  /** How the run ended, when it did. */
  ended?: 'closed' | 'gave_up';
  /** Set on the actuator: it never confirmed a close. */
  fault?: string;
}

const sent = (c: ResolvedCommand): SentCommand => ({
  name: c.name,
  payload: c.payload,
  expectValue: c.expect.value,
});

const REASON: Record<CloseReason, Msg> = {
  planned: { ja: '予定の時刻', en: 'planned time' },
  condition: { ja: '条件が解消', en: 'condition cleared' },
  band: { ja: '目標範囲の反対側', en: 'band crossed' },
  safety: { ja: '最大開放時間', en: 'maximum open time' },
  override: { ja: '手動操作', en: 'manual override' },
  hold_ended: { ja: '固定の終了', en: 'hold ended' },
  withdrawn: { ja: '自動化の停止・削除', en: 'automation disabled or deleted' },
  not_confirmed: { ja: '開の報告なし', en: 'opening not confirmed' },
  not_self_closed: { ja: '自動で閉じなかった', en: 'did not close by itself' },
  quiet_hours: { ja: '静かな時間帯の開始', en: 'quiet hours begin' },
};

export interface StartOptions {
  owner: string;
  role: Role | 'override';
  command: ResolvedCommand;
  close: ResolvedCommand;
  now: number;
  confirmSeconds?: number;
  retries?: number;
  /** Null: no safety bound (a manual hold open, which ends at `closeAt`). */
  maxOpenMinutes: number | null;
  closeAt?: number | null;
  counts: boolean;
  /** An automation's opening: the quiet hours it must be closed at (decide.ts `nextQuietStart`). */
  quiet?: QuietBound | null;
}

/** Starts a run: the command goes out now. */
export function startRun(o: StartOptions): Step {
  const c = o.command;
  const run: Run = {
    owner: o.owner,
    role: o.role,
    device: c.device,
    metric: c.expect.metric,
    phase: c.opening ? 'opening' : 'closing',
    command: sent(c),
    attempts: 1,
    sentAt: o.now,
    startedAt: o.now,
    openedAt: null,
    confirmMs: (o.confirmSeconds ?? DEFAULT_CONFIRM_SECONDS) * 1000,
    retries: o.retries ?? DEFAULT_RETRIES,
    selfCloseMinutes: c.selfCloseMinutes,
    closeAt: o.closeAt ?? null,
    maxOpenAt: c.opening && o.maxOpenMinutes !== null ? o.now + o.maxOpenMinutes * MINUTE : null,
    maxOpenMinutes: c.opening ? o.maxOpenMinutes : null,
    close: sent(o.close),
    closeReason: null,
    counts: o.counts,
    quiet: c.opening ? (o.quiet ?? null) : null,
  };
  return { run, send: run.command, logs: [sentLog(run)] };
}

/** When an opening would end by itself: its own timer, else the maximum open time. */
function plannedEnd(run: Run): number {
  if (run.selfCloseMinutes !== null) return run.sentAt + run.selfCloseMinutes * MINUTE;
  return run.maxOpenAt ?? Infinity;
}

/** The quiet hours that will close this opening before it would end by itself, if any. */
function cutByQuiet(run: Run): QuietBound | null {
  const q = run.quiet ?? null;
  return q !== null && run.phase !== 'closing' && q.at < plannedEnd(run) ? q : null;
}

function sentLog(run: Run, reason?: CloseReason): LogDraft {
  const q = run.quiet ?? null;
  const why: Msg | undefined =
    reason === 'quiet_hours' && q
      ? { ja: `静かな時間帯（${q.from}–${q.to}）の開始`, en: `quiet hours ${q.from}–${q.to} begin` }
      : reason
        ? REASON[reason]
        : undefined;
  const cut = reason ? null : cutByQuiet(run);
  const note: Msg | undefined = cut
    ? {
        ja: `静かな時間帯（${cut.from}–${cut.to}）が始まる ${cut.from} に閉じます`,
        en: `closing at ${cut.from}, when quiet hours ${cut.from}–${cut.to} begin`,
      }
    : why;
  return {
    event: 'command_sent',
    device: run.device,
    message: {
      ja: `${run.device} に「${run.command.name}」を送信しました${note ? `（${note.ja}）` : ''}`,
      en: `sent "${run.command.name}" to ${run.device}${note ? ` (${note.en})` : ''}`,
    },
    detail: {
      command: run.command.name,
      payload: run.command.payload.slice(0, 200),
      attempt: run.attempts,
      ...(reason ? { reason } : {}),
      ...(run.maxOpenAt !== null && run.phase !== 'closing' ? { maxOpenAt: run.maxOpenAt } : {}),
      ...(cut ? { quietAt: cut.at } : {}),
    },
  };
}

/** Switches a run to closing: `close` (or the automation's own closing command) goes out now. */
function beginClose(
  run: Run,
  reason: CloseReason,
  now: number,
  via?: ResolvedCommand,
  logs: LogDraft[] = [],
): Step {
  const next: Run = {
    ...run,
    phase: 'closing',
    command: via ? sent(via) : run.close,
    attempts: 1,
    sentAt: now,
    closeReason: reason,
  };
  return { run: next, send: next.command, logs: [...logs, sentLog(next, reason)] };
}

const minutesBetween = (a: number, b: number) => Math.round(((b - a) / MINUTE) * 10) / 10;

/** A reading of the run's state metric arrived. */
export function onState(run: Run, value: number, time: number, now: number): Step {
  const none: Step = { run, send: undefined, logs: [] };
  if (time < run.sentAt - STATE_SKEW_MS) return none; // measured before the command: says nothing
  if (run.phase === 'opening') {
    if (value !== run.command.expectValue) return none;
    const next: Run = { ...run, phase: 'open', openedAt: now };
    return {
      run: next,
      send: undefined,
      logs: [
        {
          event: 'state_confirmed',
          device: run.device,
          message: {
            ja: `${run.device} が ${run.metric} = ${value} を報告しました（「${run.command.name}」を確認）`,
            en: `${run.device} reported ${run.metric} = ${value} ("${run.command.name}" confirmed)`,
          },
          detail: {
            metric: run.metric,
            value,
            waitedMs: now - run.sentAt,
            attempt: run.attempts,
            ...(run.selfCloseMinutes !== null
              ? { closesItselfAt: run.sentAt + run.selfCloseMinutes * MINUTE }
              : {}),
            ...(run.maxOpenAt !== null ? { maxOpenAt: run.maxOpenAt } : {}),
          },
        },
      ],
    };
  }
  const closedValue = run.phase === 'closing' ? run.command.expectValue : run.close.expectValue;
  if (value !== closedValue) return none;
  const openMin = run.openedAt === null ? null : minutesBetween(run.openedAt, now);
  return {
    run: undefined,
    send: undefined,
    ended: 'closed',
    logs: [
      {
        event: 'closed',
        device: run.device,
        message: {
          ja: `${run.device} が閉じました${openMin === null ? '' : `（開いていた時間 ${openMin} 分）`}`,
          en: `${run.device} closed${openMin === null ? '' : ` after ${openMin} min open`}`,
        },
        detail: {
          metric: run.metric,
          value,
          openMinutes: openMin,
          reason: run.closeReason ?? (run.selfCloseMinutes !== null ? 'planned' : null),
        },
      },
    ],
  };
}

/** Asks a run to close now (condition cleared, band crossed, override, automation withdrawn). */
export function requestClose(run: Run, reason: CloseReason, now: number, via?: ResolvedCommand): Step {
  if (run.phase === 'closing') return { run, send: undefined, logs: [] };
  return beginClose(run, reason, now, via);
}

/** The next time the run must be looked at (a confirmation window, a planned close, the safety bound). */
export function nextDeadline(run: Run): number {
  const confirmBy = run.sentAt + run.confirmMs;
  if (run.phase === 'closing') return confirmBy;
  // The safety bound and the start of quiet hours hold whether or not the opening was confirmed.
  const bound = Math.min(run.maxOpenAt ?? Infinity, run.quiet?.at ?? Infinity);
  if (run.phase === 'opening') return Math.min(confirmBy, bound);
  const selfClose =
    run.selfCloseMinutes !== null ? run.sentAt + run.selfCloseMinutes * MINUTE + run.confirmMs : Infinity;
  return Math.min(bound, run.closeAt ?? Infinity, selfClose);
}

/** Time has passed: handles whichever deadline is due at `now`. */
export function onTick(run: Run, now: number): Step {
  const none: Step = { run, send: undefined, logs: [] };
  if (run.phase !== 'closing' && run.maxOpenAt !== null && now >= run.maxOpenAt) {
    const openMin = minutesBetween(run.startedAt, now);
    return beginClose(run, 'safety', now, undefined, [
      {
        event: 'safety_stop',
        device: run.device,
        message: {
          ja: `${run.device} が最大開放時間 ${run.maxOpenMinutes} 分に達したため、報告に関わらず閉じます`,
          en: `${run.device} reached the maximum open time of ${run.maxOpenMinutes} min: closing whatever it reports`,
        },
        detail: {
          maxOpenMinutes: run.maxOpenMinutes,
          minutesSinceFirstCommand: openMin,
          confirmedOpen: run.openedAt !== null,
        },
      },
    ]);
  }
  // Quiet hours begin: the automation's opening ends now, however long it was planned for.
  if (run.phase !== 'closing' && run.quiet && now >= run.quiet.at) return beginClose(run, 'quiet_hours', now);
  if (run.phase === 'open') {
    if (run.closeAt !== null && now >= run.closeAt) return beginClose(run, 'hold_ended', now);
    if (run.selfCloseMinutes !== null && now >= run.sentAt + run.selfCloseMinutes * MINUTE + run.confirmMs)
      return beginClose(run, 'not_self_closed', now);
    return none;
  }
  if (now < run.sentAt + run.confirmMs) return none;
  if (run.attempts <= run.retries) {
    const next: Run = { ...run, attempts: run.attempts + 1, sentAt: now };
    return {
      run: next,
      send: next.command,
      logs: [
        {
          event: 'retry',
          device: run.device,
          message: {
            ja: `${run.device} から ${run.confirmMs / 1000} 秒以内に ${run.metric} = ${run.command.expectValue} の報告がないため「${run.command.name}」を再送します（${next.attempts}/${run.retries + 1} 回目）`,
            en: `no ${run.metric} = ${run.command.expectValue} from ${run.device} within ${run.confirmMs / 1000} s; resending "${run.command.name}" (attempt ${next.attempts} of ${run.retries + 1})`,
          },
          detail: { command: run.command.name, attempt: next.attempts, of: run.retries + 1 },
        },
      ],
    };
  }
  if (run.phase === 'opening') {
    return beginClose(run, 'not_confirmed', now, undefined, [
      {
        event: 'gave_up',
        device: run.device,
        message: {
          ja: `${run.device} が「${run.command.name}」を ${run.attempts} 回送っても確認できません。念のため閉じます`,
          en: `${run.device} did not confirm "${run.command.name}" after ${run.attempts} attempts; sending close to be safe`,
        },
        detail: { command: run.command.name, attempts: run.attempts, severity: 'warning' },
      },
    ]);
  }
  const fault = `never reported ${run.metric} = ${run.command.expectValue} after ${run.attempts} × "${run.command.name}"`;
  return {
    run: undefined,
    send: undefined,
    ended: 'gave_up',
    fault,
    logs: [
      {
        event: 'gave_up',
        device: run.device,
        message: {
          ja: `【重要】${run.device} が閉じたと報告しません（「${run.command.name}」を ${run.attempts} 回送信）。現地で確認してください`,
          en: `CRITICAL: ${run.device} never reported closed after ${run.attempts} × "${run.command.name}"; check it on site`,
        },
        detail: {
          severity: 'critical',
          reason: 'never_reported_closed',
          command: run.command.name,
          attempts: run.attempts,
          closeReason: run.closeReason,
        },
      },
    ],
  };
}
