// One actuator run as a pure state machine on fake time: the command goes out, the reported state
// confirms it within the window or it is resent within the limit; a timed opening closes by itself
// on time; the maximum open time sends `close` whatever the valve reports; a close that is never
// confirmed ends in a critical log and a fault.
import { describe, expect, it } from 'vitest';
import {
  STATE_SKEW_MS,
  nextDeadline,
  onState,
  onTick,
  requestClose,
  startRun,
  type Run,
  type Step,
} from '../../../gateway/automations/run.ts';
import { closeCommandOf, resolveCommand } from '../../../gateway/automations/plan.ts';
import { MIN, jst, kitOf } from './fixtures.ts';

const gate = kitOf('gate-1')!;
const openFor = (minutes: number) => resolveCommand(gate, 'gate-1', 'open_for', { minutes });
const open = resolveCommand(gate, 'gate-1', 'open');
const close = closeCommandOf(gate, 'gate-1', 'valve_state')!;
const T0 = jst('2026-11-28T10:00');
const S = 1000;

function start(
  command = openFor(30),
  over: { maxOpenMinutes?: number | null; closeAt?: number; now?: number; quietAt?: number } = {},
): Run {
  return startRun({
    owner: 'aut-1',
    role: 'action',
    command,
    close,
    now: over.now ?? T0,
    confirmSeconds: 30,
    retries: 2,
    maxOpenMinutes: over.maxOpenMinutes === undefined ? 40 : over.maxOpenMinutes,
    closeAt: over.closeAt,
    counts: true,
    quiet: over.quietAt === undefined ? undefined : { at: over.quietAt, from: '22:00', to: '05:00' },
  }).run!;
}
const events = (s: Step) => s.logs.map((l) => l.event);

describe('a run', () => {
  it('sends the command at once and waits one confirmation window', () => {
    const step = startRun({
      owner: 'aut-1',
      role: 'action',
      command: openFor(30),
      close,
      now: T0,
      maxOpenMinutes: 40,
      counts: true,
    });
    expect(step.send).toEqual({
      name: 'open_for',
      payload: '{"command":"open","minutes":30}',
      expectValue: 1,
    });
    expect(events(step)).toEqual(['command_sent']);
    expect(step.logs[0]!.detail).toMatchObject({ attempt: 1, maxOpenAt: T0 + 40 * MIN });
    expect(nextDeadline(step.run!)).toBe(T0 + 60 * S); // the default window is 60 s
  });

  it('is confirmed by the expected state and then waits for the valve to close itself on time', () => {
    const run = start();
    const ok = onState(run, 1, T0 + 2 * S, T0 + 2 * S);
    expect(events(ok)).toEqual(['state_confirmed']);
    expect(ok.run).toMatchObject({ phase: 'open', openedAt: T0 + 2 * S });
    expect(ok.logs[0]!.detail).toMatchObject({ closesItselfAt: T0 + 30 * MIN, waitedMs: 2 * S });
    expect(nextDeadline(ok.run!)).toBe(T0 + 30 * MIN + 30 * S);
    const closed = onState(ok.run!, 0, T0 + 30 * MIN, T0 + 30 * MIN);
    expect(events(closed)).toEqual(['closed']);
    expect(closed.run).toBeUndefined();
    expect(closed.ended).toBe('closed');
    expect(closed.logs[0]!.detail).toMatchObject({ openMinutes: 30, reason: 'planned' });
  });

  it('ignores a state measured well before the command was sent', () => {
    const run = start();
    expect(onState(run, 1, T0 - STATE_SKEW_MS - 1, T0 + S).run).toBe(run);
    expect(onState(run, 0, T0 + S, T0 + S).run).toBe(run); // not the state it waits for
  });

  it('resends within the retry limit, then gives up and closes to be safe', () => {
    let run = start();
    expect(events(onTick(run, T0 + 29 * S))).toEqual([]);
    const r1 = onTick(run, T0 + 30 * S);
    expect(events(r1)).toEqual(['retry']);
    expect(r1.send?.name).toBe('open_for');
    run = r1.run!;
    expect(run.attempts).toBe(2);
    run = onTick(run, T0 + 60 * S).run!;
    expect(run.attempts).toBe(3);
    const gaveUp = onTick(run, T0 + 90 * S);
    expect(events(gaveUp)).toEqual(['gave_up', 'command_sent']);
    expect(gaveUp.send?.name).toBe('close');
    expect(gaveUp.run).toMatchObject({ phase: 'closing', closeReason: 'not_confirmed', attempts: 1 });
    expect(gaveUp.logs[0]!.detail).toMatchObject({ attempts: 3, severity: 'warning' });
  });

  it('sends close at the maximum open time whatever the valve reports', () => {
    const run = onState(start(open), 1, T0 + S, T0 + S).run!;
    expect(nextDeadline(run)).toBe(T0 + 40 * MIN);
    // The valve keeps saying it is open: that changes nothing.
    expect(onState(run, 1, T0 + 39 * MIN, T0 + 39 * MIN).run).toBe(run);
    expect(events(onTick(run, T0 + 40 * MIN - 1))).toEqual([]);
    const stop = onTick(run, T0 + 40 * MIN);
    expect(events(stop)).toEqual(['safety_stop', 'command_sent']);
    expect(stop.send?.name).toBe('close');
    expect(stop.logs[0]!.detail).toMatchObject({ maxOpenMinutes: 40, confirmedOpen: true });
    const closed = onState(stop.run!, 0, T0 + 40 * MIN + S, T0 + 40 * MIN + S);
    expect(closed.logs[0]).toMatchObject({ event: 'closed', detail: { reason: 'safety', openMinutes: 40 } });
  });

  it('ends in a critical log and a fault when the valve never reports closed', () => {
    let step = onTick(onState(start(open), 1, T0, T0).run!, T0 + 40 * MIN);
    let t = T0 + 40 * MIN;
    const sends = [step.send?.name];
    for (let i = 0; i < 2; i++) {
      t += 30 * S;
      step = onTick(step.run!, t);
      expect(events(step)).toEqual(['retry']);
      sends.push(step.send?.name);
    }
    t += 30 * S;
    const last = onTick(step.run!, t);
    expect(sends).toEqual(['close', 'close', 'close']);
    expect(last.run).toBeUndefined();
    expect(last.ended).toBe('gave_up');
    expect(last.fault).toMatch(/never reported valve_state = 0 after 3/);
    expect(last.logs[0]).toMatchObject({
      event: 'gave_up',
      detail: { severity: 'critical', reason: 'never_reported_closed', closeReason: 'safety', attempts: 3 },
    });
    expect(last.logs[0]!.message.en).toMatch(/^CRITICAL: gate-1 never reported closed/);
  });

  it('sends close when a timed opening did not close by itself', () => {
    const run = onState(start(openFor(30), { maxOpenMinutes: 60 }), 1, T0, T0).run!;
    expect(events(onTick(run, T0 + 30 * MIN))).toEqual([]);
    const late = onTick(run, T0 + 30 * MIN + 30 * S);
    expect(late.send?.name).toBe('close');
    expect(late.run?.closeReason).toBe('not_self_closed');
  });

  it('closes when asked, once, with the automation’s own closing command if given', () => {
    const run = onState(start(open), 1, T0, T0).run!;
    const c = requestClose(run, 'band', T0 + MIN, close);
    expect(c.send?.name).toBe('close');
    expect(c.logs[0]!.detail).toMatchObject({ reason: 'band' });
    expect(requestClose(c.run!, 'condition', T0 + 2 * MIN)).toEqual({
      run: c.run,
      send: undefined,
      logs: [],
    });
  });

  it('a manual hold open has no safety bound and closes when the hold ends', () => {
    const hold = start(open, { maxOpenMinutes: null, closeAt: T0 + 120 * MIN });
    expect(hold.maxOpenAt).toBeNull();
    const opened = onState(hold, 1, T0, T0).run!;
    expect(nextDeadline(opened)).toBe(T0 + 120 * MIN);
    const end = onTick(opened, T0 + 120 * MIN);
    expect(end.send?.name).toBe('close');
    expect(end.run?.closeReason).toBe('hold_ended');
  });

  it('a closing command is a run that ends once the valve reports closed', () => {
    const step = startRun({
      owner: 'aut-1',
      role: 'above',
      command: close,
      close,
      now: T0,
      maxOpenMinutes: 40,
      counts: false,
    });
    expect(step.run).toMatchObject({ phase: 'closing', maxOpenAt: null });
    expect(events(onState(step.run!, 0, T0 + S, T0 + S))).toEqual(['closed']);
  });

  describe('of an automation with quiet hours 22:00–05:00', () => {
    const QUIET = jst('2026-11-28T22:00');

    it('closes a timed opening started at 21:40 at 22:00, and says why when it starts and when it closes', () => {
      const first = startRun({
        owner: 'aut-1',
        role: 'action',
        command: openFor(30),
        close,
        now: QUIET - 20 * MIN,
        confirmSeconds: 30,
        maxOpenMinutes: 40,
        counts: true,
        quiet: { at: QUIET, from: '22:00', to: '05:00' },
      });
      expect(first.send?.payload).toBe('{"command":"open","minutes":30}'); // the valve's own timer stays the backstop
      expect(first.logs[0]).toMatchObject({
        event: 'command_sent',
        message: {
          ja: 'gate-1 に「open_for」を送信しました（静かな時間帯（22:00–05:00）が始まる 22:00 に閉じます）',
          en: 'sent "open_for" to gate-1 (closing at 22:00, when quiet hours 22:00–05:00 begin)',
        },
        detail: { quietAt: QUIET },
      });
      const run = onState(first.run!, 1, QUIET - 20 * MIN + S, QUIET - 20 * MIN + S).run!;
      expect(nextDeadline(run)).toBe(QUIET); // not 22:10:30 (its own timer) nor 22:20 (maximum open time)
      expect(events(onTick(run, QUIET - 1))).toEqual([]);
      const quiet = onTick(run, QUIET);
      expect(quiet.send?.name).toBe('close');
      expect(quiet.run).toMatchObject({ phase: 'closing', closeReason: 'quiet_hours' });
      expect(quiet.logs).toMatchObject([
        {
          event: 'command_sent',
          message: {
            ja: 'gate-1 に「close」を送信しました（静かな時間帯（22:00–05:00）の開始）',
            en: 'sent "close" to gate-1 (quiet hours 22:00–05:00 begin)',
          },
          detail: { reason: 'quiet_hours' },
        },
      ]);
      const closed = onState(quiet.run!, 0, QUIET + S, QUIET + S);
      expect(closed.logs[0]).toMatchObject({
        event: 'closed',
        detail: { reason: 'quiet_hours', openMinutes: 20 },
      });
    });

    it('closes at 22:00 an opening not yet confirmed, instead of resending it', () => {
      const run = start(openFor(30), { now: QUIET - 10 * S, quietAt: QUIET });
      expect(nextDeadline(run)).toBe(QUIET); // before the end of its confirmation window
      const step = onTick(run, QUIET);
      expect(events(step)).toEqual(['command_sent']);
      expect(step.send?.name).toBe('close');
      expect(step.run?.closeReason).toBe('quiet_hours');
    });

    it('closes an untimed opening (a band’s gate) at 22:00, before its maximum open time', () => {
      const run = onState(
        start(open, { now: QUIET - 30 * MIN, quietAt: QUIET }),
        1,
        QUIET - 30 * MIN,
        QUIET - 30 * MIN,
      ).run!;
      expect(nextDeadline(run)).toBe(QUIET);
      expect(onTick(run, QUIET).run?.closeReason).toBe('quiet_hours');
    });

    it('leaves a run that ends before 22:00 alone: it closes by itself, and its log says nothing of quiet hours', () => {
      const at = (t: number) =>
        startRun({
          owner: 'aut-1',
          role: 'action',
          command: openFor(30),
          close,
          now: t,
          confirmSeconds: 30,
          maxOpenMinutes: 40,
          counts: true,
          quiet: { at: QUIET, from: '22:00', to: '05:00' },
        });
      const first = at(QUIET - 60 * MIN); // 21:00–21:30
      expect(first.logs[0]!.message.en).toBe('sent "open_for" to gate-1');
      expect(first.logs[0]!.detail).not.toHaveProperty('quietAt');
      const run = onState(first.run!, 1, QUIET - 60 * MIN, QUIET - 60 * MIN).run!;
      expect(nextDeadline(run)).toBe(QUIET - 30 * MIN + 30 * S); // its own timer, then the confirmation window
      const closed = onState(run, 0, QUIET - 30 * MIN, QUIET - 30 * MIN);
      expect(closed.logs[0]).toMatchObject({
        event: 'closed',
        detail: { reason: 'planned', openMinutes: 30 },
      });

      // 21:30–22:00 ends just as quiet hours begin: not cut short, but not left open past 22:00 either.
      const edge = at(QUIET - 30 * MIN);
      expect(edge.logs[0]!.message.en).toBe('sent "open_for" to gate-1');
      const open30 = onState(edge.run!, 1, QUIET - 30 * MIN, QUIET - 30 * MIN).run!;
      expect(nextDeadline(open30)).toBe(QUIET);
      expect(onState(open30, 0, QUIET, QUIET).logs[0]).toMatchObject({ detail: { reason: 'planned' } });
      expect(onTick(open30, QUIET).run?.closeReason).toBe('quiet_hours'); // had the valve not said so yet
    });

    it('a close already on its way is not sent again when quiet hours begin', () => {
      const run = onState(start(open, { quietAt: T0 + 10 * MIN }), 1, T0, T0).run!;
      const c = requestClose(run, 'condition', T0 + 10 * MIN - 10 * S);
      expect(nextDeadline(c.run!)).toBe(T0 + 10 * MIN + 20 * S); // its confirmation window only
      expect(onTick(c.run!, T0 + 10 * MIN)).toEqual({ run: c.run, send: undefined, logs: [] });
    });
  });
});
