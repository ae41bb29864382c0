// The tip lifecycle: one live tip per key, hysteresis on clear, cool-down before re-raising,
// escalation, expiry and renewal, pure over an explicit state; hostile state is refused.
import { describe, expect, it } from 'vitest';
import { HatakeError } from '../../../protocol/errors.ts';
import { makeDraft, type Assessment } from '../../../edge/rules/assessment.ts';
import {
  emptyTipState,
  liveTipIds,
  parseTipState,
  stepTips,
  tipId,
  type TipState,
} from '../../../edge/rules/lifecycle.ts';
import { HOUR, MIN, checkTip } from './fixtures.ts';

const T0 = Date.parse('2026-04-10T15:00:00Z');

/** A frost-like assessment: holds when value ≤ 3, clears above 4. */
function frost(
  value: number,
  opts: Partial<Assessment['policy']> & { severity?: 'warning' | 'severe'; key?: string } = {},
): Assessment {
  return {
    key: opts.key ?? 'frost:farm-1:f1',
    trigger: { value, comparison: '<=', threshold: 3, hysteresis: 1 },
    policy: {
      ttlMs: opts.ttlMs ?? 12 * HOUR,
      coolDownMs: opts.coolDownMs ?? 6 * HOUR,
      renewOnExpiry: opts.renewOnExpiry ?? true,
    },
    draft: makeDraft({
      kind: 'frost',
      severity: opts.severity ?? 'warning',
      farm: 'farm-1',
      field: 'f1',
      title: { ja: `霜注意 ${value}`, en: `Frost ${value}` },
      text: { ja: 'テスト', en: 'test' },
      rule: { id: 'frost', version: '1.0.0', params: 'test' },
      sources: [{ citation: 'test' }],
    }),
  };
}

/** Steps a sequence of (minutes after T0, assessment) and collects everything raised. */
function replay(steps: [number, Assessment | null][], start: TipState = emptyTipState()) {
  let state = start;
  const raised: ReturnType<typeof stepTips>['raised'] = [];
  const cleared: ReturnType<typeof stepTips>['cleared'] = [];
  const expired: ReturnType<typeof stepTips>['expired'] = [];
  for (const [min, a] of steps) {
    const r = stepTips(state, a ? [a] : [], T0 + min * MIN);
    state = r.state;
    raised.push(...r.raised);
    cleared.push(...r.cleared);
    expired.push(...r.expired);
  }
  return { state, raised, cleared, expired };
}

describe('de-duplication', () => {
  it('raises one tip while a condition persists, on every reading', () => {
    const steps: [number, Assessment][] = Array.from({ length: 60 }, (_, i) => [
      i * 5,
      frost(2.5 - i * 0.01),
    ]);
    const { raised, state } = replay(steps);
    expect(raised).toHaveLength(1);
    expect(raised[0]!.reason).toBe('new');
    expect(checkTip.check(raised[0])).toBe(true);
    expect(liveTipIds(state)).toEqual([raised[0]!.id]);
  });

  it('does not clear inside the hysteresis band, so a value hovering at the threshold raises once', () => {
    const values = [3, 3.4, 2.9, 3.9, 4.0, 3.0, 3.5, 2.8];
    const { raised, cleared } = replay(values.map((v, i) => [i * 10, frost(v)]));
    expect(raised).toHaveLength(1);
    expect(cleared).toHaveLength(0);
  });

  it('clears only past the hysteresis margin, then re-raises after the cool-down', () => {
    const { raised, cleared } = replay([
      [0, frost(2.0)], // raised
      [30, frost(4.01)], // > 3 + 1: cleared
      [60, frost(2.0)], // holds again, but inside the 6 h cool-down: nothing
      [5 * 60, frost(1.5)], // still inside the cool-down
      [30 + 6 * 60, frost(2.2)], // cool-down passed, still holding: raised again
      [31 + 6 * 60, frost(2.2)], // persisting: nothing more
    ]);
    expect(cleared).toHaveLength(1);
    expect(raised.map((t) => [t.reason, t.created - T0])).toEqual([
      ['new', 0],
      ['new', (30 + 6 * 60) * MIN],
    ]);
    expect(raised[0]!.id).not.toBe(raised[1]!.id);
  });

  it('clears at exactly the margin only when strictly past it', () => {
    const atMargin = replay([
      [0, frost(2)],
      [10, frost(4)],
    ]);
    expect(atMargin.cleared).toHaveLength(0);
    const past = replay([
      [0, frost(2)],
      [10, frost(4.0001)],
    ]);
    expect(past.cleared).toHaveLength(1);
  });

  it('does not raise when the condition never held, and remembers nothing for it', () => {
    const { raised, state } = replay([
      [0, frost(3.01)],
      [10, frost(10)],
    ]);
    expect(raised).toHaveLength(0);
    expect(state.entries).toEqual({});
  });

  it('raises at exactly the threshold and not just above it', () => {
    expect(replay([[0, frost(3)]]).raised).toHaveLength(1);
    expect(replay([[0, frost(3.0001)]]).raised).toHaveLength(0);
    expect(replay([[0, frost(2.9999)]]).raised).toHaveLength(1);
  });
});

describe('escalation, expiry and renewal', () => {
  it('raises an escalated tip that supersedes the live one when severity rises, once', () => {
    const r = replay([
      [0, frost(2)],
      [10, frost(-0.5, { severity: 'severe' })],
      [20, frost(-1, { severity: 'severe' })],
      [30, frost(1, { severity: 'warning' })],
    ]);
    expect(r.raised.map((t) => t.reason)).toEqual(['new', 'escalated']);
    expect(r.raised[1]!.supersedes).toBe(r.raised[0]!.id);
    expect(r.raised[1]!.severity).toBe('severe');
  });

  it('expires a tip at its expiry on a sweep with no assessment', () => {
    const first = stepTips(emptyTipState(), [frost(2)], T0);
    const before = stepTips(first.state, [], T0 + 12 * HOUR - 1);
    expect(before.expired).toHaveLength(0);
    const at = stepTips(before.state, [], T0 + 12 * HOUR);
    expect(at.expired.map((e) => e.tipId)).toEqual([first.raised[0]!.id]);
    expect(liveTipIds(at.state)).toEqual([]);
  });

  it('renews a still-holding state-like condition when its tip expires', () => {
    const r = replay([
      [0, frost(2)],
      [12 * 60, frost(2)],
    ]);
    expect(r.expired).toHaveLength(1);
    expect(r.raised.map((t) => t.reason)).toEqual(['new', 'renewed']);
    expect(r.raised[1]!.supersedes).toBe(r.raised[0]!.id);
  });

  it('does not renew or re-raise while the value only sits inside the hysteresis band', () => {
    const r = replay([
      [0, frost(2)],
      [12 * 60, frost(3.5)], // expired; 3.5 neither holds (> 3) nor clears (≤ 4)
      [13 * 60, frost(3.8)],
      [14 * 60, frost(2.5)], // holds again: the expired tip is renewed
    ]);
    expect(r.raised.map((t) => [t.reason, (t.created - T0) / MIN])).toEqual([
      ['new', 0],
      ['renewed', 14 * 60],
    ]);
  });

  it('does not renew an event-like condition: it waits for a clear and the cool-down', () => {
    const ev = (v: number) => frost(v, { renewOnExpiry: false, ttlMs: HOUR, coolDownMs: HOUR });
    const r = replay([
      [0, ev(2)],
      [61, ev(2)], // expired, still holding: spent
      [300, ev(2)],
      [301, ev(5)], // clears
      [330, ev(2)], // inside the cool-down
      [362, ev(2)], // cool-down passed
    ]);
    expect(r.raised.map((t) => [t.reason, (t.created - T0) / MIN])).toEqual([
      ['new', 0],
      ['new', 362],
    ]);
  });

  it('forgets keys long silent and keeps the number of keys bounded', () => {
    const s1 = stepTips(emptyTipState(), [frost(2, { ttlMs: HOUR })], T0);
    const later = stepTips(s1.state, [], T0 + 40 * 24 * HOUR);
    expect(later.state.entries).toEqual({});
    const many = Array.from({ length: 50 }, (_, i) => frost(2, { key: `frost:farm-1:f${i}` }));
    const bounded = stepTips(emptyTipState(), many, T0, { forgetAfterMs: 24 * HOUR, maxEntries: 20 });
    expect(Object.keys(bounded.state.entries)).toHaveLength(20);
    expect(bounded.raised).toHaveLength(50);
  });
});

describe('purity', () => {
  it('leaves the input state untouched and gives the same ids for the same step', () => {
    const s0 = emptyTipState();
    const a = stepTips(s0, [frost(2)], T0);
    const b = stepTips(s0, [frost(2)], T0);
    expect(s0).toEqual(emptyTipState());
    expect(a.raised[0]!.id).toBe(b.raised[0]!.id);
    const frozen = JSON.parse(JSON.stringify(a.state)) as TipState;
    stepTips(a.state, [frost(5)], T0 + HOUR);
    expect(a.state).toEqual(frozen);
    expect(tipId('k', 1, 'new', 'info')).toMatch(/^tip-[0-9a-f]{40}$/);
  });

  it('round-trips its state through JSON', () => {
    const r = stepTips(emptyTipState(), [frost(2)], T0);
    const loaded = parseTipState(JSON.parse(JSON.stringify(r.state)));
    const next = stepTips(loaded, [frost(2.5)], T0 + HOUR);
    expect(next.raised).toHaveLength(0);
  });
});

describe('hostile state and assessments', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof HatakeError) return e.code;
      throw e;
    }
    return 'no error';
  };

  it.each([
    ['null', null],
    ['a string', 'state'],
    ['the wrong version', { version: 2, entries: {} }],
    [
      'an entry with a bad kind',
      { version: 1, entries: { k: { key: 'k', kind: 'x', active: true, renew: true, lastSeen: 0 } } },
    ],
    [
      'an entry filed under another key',
      { version: 1, entries: { a: { key: 'b', kind: 'frost', active: true, renew: true, lastSeen: 0 } } },
    ],
    [
      'a negative time',
      { version: 1, entries: { k: { key: 'k', kind: 'frost', active: true, renew: true, lastSeen: -1 } } },
    ],
  ])('refuses a stored state that is %s', (_what, value) => {
    expect(code(() => parseTipState(value))).toBe('HATAKE_E_TIP_STATE');
  });

  it('refuses a non-integer now and malformed assessments with coded errors', () => {
    expect(code(() => stepTips(emptyTipState(), [], Number.NaN))).toBe('HATAKE_E_RULE_INPUT');
    expect(code(() => stepTips(emptyTipState(), [], 1.5))).toBe('HATAKE_E_RULE_INPUT');
    const bad = {
      ...frost(2),
      trigger: { value: Number.NaN, comparison: '<=', threshold: 3, hysteresis: 1 },
    } as Assessment;
    expect(code(() => stepTips(emptyTipState(), [bad], T0))).toBe('HATAKE_E_RULE_INPUT');
    const noTtl = { ...frost(2), policy: { ttlMs: 0, coolDownMs: 0, renewOnExpiry: true } };
    expect(code(() => stepTips(emptyTipState(), [noTtl], T0))).toBe('HATAKE_E_RULE_INPUT');
    expect(code(() => stepTips({ version: 1 } as unknown as TipState, [], T0))).toBe('HATAKE_E_TIP_STATE');
  });

  it('treats an infinite trigger value as an ordinary far value', () => {
    const r = stepTips(emptyTipState(), [frost(Number.POSITIVE_INFINITY)], T0);
    expect(r.raised).toHaveLength(0);
    const cold = stepTips(emptyTipState(), [frost(Number.NEGATIVE_INFINITY)], T0);
    expect(cold.raised).toHaveLength(1);
  });
});
