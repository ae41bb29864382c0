// The engine's pure decisions on fake time: thresholds at and around their value, band sides with
// hysteresis (a level wobbling at an edge does not flip the side), quiet hours in the farm's zone
// (wrapping midnight, other zones), runs counted per local day, cool-down, and which interlock or
// limit wins when several hold.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MIN_RUN_BEFORE_QUIET_MS,
  OVERRIDE_OWNER,
  SKIP_RELOG_MS,
  cooldownUntil,
  countersAt,
  decide,
  inQuietHours,
  minuteOfDay,
  nextQuietStart,
  nextSide,
  shouldLogSkip,
  thresholdHolds,
  type ActuatorView,
  type Counters,
  type Side,
} from '../../../gateway/automations/decide.ts';
import { planAutomation, type Plan } from '../../../gateway/automations/plan.ts';
import { localDay } from '../../../edge/rules/local-time.ts';
import { FARM, HOUR, MIN, irrigation, jst, kitOf, paddyBand } from './fixtures.ts';

const TZ = 'Asia/Tokyo';
const idle = (over: Partial<ActuatorView> = {}): ActuatorView => ({
  reported: 0,
  run: undefined,
  fault: undefined,
  override: undefined,
  ...over,
});
const fresh = (now: number): Counters => countersAt(undefined, TZ, now);

function decideAt(
  plan: Plan,
  now: number,
  value: number,
  opts: { side?: Side; counters?: Counters; act?: Partial<ActuatorView> } = {},
) {
  return decide({
    plan,
    now,
    tz: TZ,
    value,
    side: opts.side,
    counters: opts.counters ?? fresh(now),
    actuator: () => idle(opts.act),
  });
}
const kinds = (r: ReturnType<typeof decide>) =>
  r.decisions.map((d) =>
    d.kind === 'skip' ? d.event : d.kind === 'fire' ? `fire:${d.command.name}` : `close:${d.reason}`,
  );

describe('threshold trigger', () => {
  it.each([
    ['<', 0.219, true],
    ['<', 0.22, false],
    ['<=', 0.22, true],
    ['<=', 0.221, false],
    ['>', 0.221, true],
    ['>', 0.22, false],
    ['>=', 0.22, true],
    ['>=', 0.219, false],
  ] as const)('%s 0.22 with %s → %s', (op, value, holds) => {
    expect(thresholdHolds(op, value, 0.22)).toBe(holds);
  });

  it('fires the action when the condition holds and counts it as a run', () => {
    const plan = planAutomation(irrigation(), FARM, kitOf);
    const now = jst('2026-11-28T10:00');
    const r = decideAt(plan, now, 0.18);
    expect(r.active).toBe(true);
    expect(r.decisions).toMatchObject([
      { kind: 'fire', role: 'action', counts: true, command: { name: 'open_for', params: { minutes: 30 } } },
    ]);
    expect(kinds(decideAt(plan, now, 0.22))).toEqual([]);
    expect(decideAt(plan, now, 0.22).active).toBe(false);
  });

  it('does nothing while its own run is going, or when the valve already reports open', () => {
    const plan = planAutomation(irrigation(), FARM, kitOf);
    const now = jst('2026-11-28T10:00');
    const run = { owner: plan.id, role: 'action', opening: true };
    expect(kinds(decideAt(plan, now, 0.18, { act: { run, reported: 1 } }))).toEqual([]);
    expect(kinds(decideAt(plan, now, 0.18, { act: { reported: 1 } }))).toEqual([]);
  });

  it('closes an untimed opening once the condition clears, but lets a timed one run its course', () => {
    const untimed = planAutomation(
      irrigation({ action: { device: 'gate-1', command: 'open' } }),
      FARM,
      kitOf,
    );
    const now = jst('2026-11-28T10:00');
    const run = { owner: untimed.id, role: 'action', opening: true };
    const r = decideAt(untimed, now, 0.25, { act: { run, reported: 1 } });
    expect(r.decisions).toMatchObject([
      { kind: 'close', reason: 'condition', device: 'gate-1', via: undefined },
    ]);
    const timed = planAutomation(irrigation(), FARM, kitOf);
    expect(
      kinds(decideAt(timed, now, 0.25, { act: { run: { ...run, owner: timed.id }, reported: 1 } })),
    ).toEqual([]);
  });
});

describe('quiet hours in the farm zone', () => {
  const q = { from: '22:00', to: '05:00' };
  it.each([
    ['2026-11-28T21:59', false],
    ['2026-11-28T22:00', true],
    ['2026-11-28T23:59', true],
    ['2026-11-29T00:00', true],
    ['2026-11-29T04:59', true],
    ['2026-11-29T05:00', false],
    ['2026-11-29T12:00', false],
  ])('22:00–05:00 at %s JST → %s', (t, quiet) => {
    expect(inQuietHours(q, TZ, jst(t))).toBe(quiet);
  });

  it('handles a window that does not wrap midnight', () => {
    const noon = { from: '12:00', to: '13:30' };
    expect(inQuietHours(noon, TZ, jst('2026-11-28T11:59'))).toBe(false);
    expect(inQuietHours(noon, TZ, jst('2026-11-28T12:00'))).toBe(true);
    expect(inQuietHours(noon, TZ, jst('2026-11-28T13:29'))).toBe(true);
    expect(inQuietHours(noon, TZ, jst('2026-11-28T13:30'))).toBe(false);
  });

  it('reads the hours in the farm zone, not UTC: 23:00 JST is 14:00 UTC', () => {
    const t = Date.parse('2026-11-28T14:00:00Z');
    expect(inQuietHours(q, TZ, t)).toBe(true);
    expect(inQuietHours(q, 'UTC', t)).toBe(false);
  });

  it('follows daylight saving time in a zone that has it', () => {
    // New York: 22:30 local is 02:30 UTC in summer (EDT) and 03:30 UTC in winter (EST).
    expect(inQuietHours(q, 'America/New_York', Date.parse('2026-07-01T02:30:00Z'))).toBe(true);
    expect(minuteOfDay('America/New_York', Date.parse('2026-07-01T02:30:00Z'))).toBe(22 * 60 + 30);
    expect(minuteOfDay('America/New_York', Date.parse('2026-01-15T03:30:00Z'))).toBe(22 * 60 + 30);
  });

  it('has no quiet hours when none are set or from equals to', () => {
    expect(inQuietHours(undefined, TZ, jst('2026-11-28T23:00'))).toBe(false);
    expect(inQuietHours({ from: '22:00', to: '22:00' }, TZ, jst('2026-11-28T23:00'))).toBe(false);
  });

  it('skips an opening in quiet hours and says so', () => {
    const plan = planAutomation(irrigation(), FARM, kitOf);
    const r = decideAt(plan, jst('2026-11-28T23:10'), 0.18);
    expect(r.decisions).toMatchObject([
      {
        kind: 'skip',
        event: 'skipped_quiet_hours',
        device: 'gate-1',
        detail: { from: '22:00', to: '05:00', local: '23:10' },
      },
    ]);
    expect(r.decisions[0]!.kind === 'skip' && r.decisions[0]!.message.en).toBe(
      'quiet hours 22:00–05:00: not opening',
    );
  });
});

describe('no run reaches into quiet hours', () => {
  const q = { from: '22:00', to: '05:00' };
  const S = 1000;
  const plan = planAutomation(irrigation(), FARM, kitOf); // open_for 30 min, confirmSeconds 30
  const band = planAutomation(paddyBand({}, { quietHours: q }), FARM, kitOf); // untimed open below 3 cm

  it.each([
    ['2026-11-28T10:00', '2026-11-28T22:00'],
    ['2026-11-28T21:59', '2026-11-28T22:00'],
    ['2026-11-28T22:00', '2026-11-29T22:00'], // inside quiet hours: the next night's
    ['2026-11-29T04:59', '2026-11-29T22:00'],
    ['2026-11-29T05:00', '2026-11-29T22:00'],
  ])('quiet hours 22:00–05:00 next begin after %s JST at %s', (t, at) => {
    expect(nextQuietStart(q, TZ, jst(t))).toBe(jst(at));
  });

  it('finds the start of quiet hours from inside a minute, across a change of daylight saving time, or not at all', () => {
    expect(nextQuietStart(q, TZ, jst('2026-11-28T21:59') + 30 * S)).toBe(jst('2026-11-28T22:00'));
    // New York springs forward on 8 March 2026: noon that day is 16:00 UTC, not 17:00.
    const eve = Date.parse('2026-03-08T01:00:00Z'); // 20:00 EST on the 7th
    const noon = nextQuietStart({ from: '12:00', to: '13:00' }, 'America/New_York', eve)!;
    expect(noon).toBe(Date.parse('2026-03-08T16:00:00Z'));
    expect(minuteOfDay('America/New_York', noon)).toBe(12 * 60);
    expect(nextQuietStart(undefined, TZ, eve)).toBeNull();
    expect(nextQuietStart({ from: '22:00', to: '22:00' }, TZ, eve)).toBeNull();
  });

  it('gives an opening that fits before them its quiet hours as its last moment', () => {
    const r = decideAt(plan, jst('2026-11-28T10:00'), 0.18);
    expect(r.decisions).toMatchObject([
      { kind: 'fire', counts: true, quiet: { at: jst('2026-11-28T22:00'), from: '22:00', to: '05:00' } },
    ]);
    // a closing command is never bounded
    const closing = decideAt(band, jst('2026-11-28T21:59'), 5.5, { side: 'high', act: { reported: 1 } });
    expect(closing.decisions).toMatchObject([{ kind: 'fire', role: 'above', quiet: null }]);
    const none = planAutomation(irrigation({}, { quietHours: undefined }), FARM, kitOf);
    expect(decideAt(none, jst('2026-11-28T21:59'), 0.18).decisions).toMatchObject([
      { kind: 'fire', quiet: null },
    ]);
  });

  it('starts an opening with 5 minutes left, to be closed at 22:00, and refuses one with less', () => {
    expect(MIN_RUN_BEFORE_QUIET_MS).toBe(5 * MIN);
    const at = jst('2026-11-28T21:55');
    expect(decideAt(plan, at, 0.18).decisions).toMatchObject([
      { kind: 'fire', quiet: { at: jst('2026-11-28T22:00') } },
    ]);
    for (const t of [at + 1, jst('2026-11-28T21:59')]) {
      const r = decideAt(plan, t, 0.18);
      expect(kinds(r)).toEqual(['skipped_quiet_hours']);
      expect(r.decisions[0]).toMatchObject({ detail: { reason: 'too_close', from: '22:00', minMinutes: 5 } });
    }
    const late = decideAt(plan, jst('2026-11-28T21:59'), 0.18).decisions[0]!;
    expect(late.kind === 'skip' && late.message).toEqual({
      ja: '静かな時間帯（22:00–05:00）まであと 1 分のため開けません（5 分以上必要）',
      en: 'quiet hours 22:00–05:00 begin in 1 min: not opening (needs at least 5 min)',
    });
    // The band's untimed opening alike; at 22:00 itself it is the quiet hours.
    expect(kinds(decideAt(band, jst('2026-11-28T21:58'), 2.5, { side: 'low' }))).toEqual([
      'skipped_quiet_hours',
    ]);
    const r = decideAt(plan, jst('2026-11-28T22:00'), 0.18);
    expect(r.decisions).toMatchObject([{ kind: 'skip', detail: { local: '22:00' } }]);
    expect(r.decisions[0]!.kind === 'skip' && r.decisions[0]!.detail.reason).toBeUndefined();
  });

  it('wants the confirmation window at least, when it is longer than 5 minutes', () => {
    const slow = planAutomation(irrigation({}, { confirmSeconds: 600 }), FARM, kitOf);
    expect(kinds(decideAt(slow, jst('2026-11-28T21:50'), 0.18))).toEqual(['fire:open_for']);
    const r = decideAt(slow, jst('2026-11-28T21:51'), 0.18);
    expect(r.decisions).toMatchObject([
      { event: 'skipped_quiet_hours', detail: { minutesLeft: 9, minMinutes: 10 } },
    ]);
  });

  it('closes what the automation opened, still open in quiet hours, whatever the value says', () => {
    const night = jst('2026-11-28T22:03');
    const mine = (p: Plan, role: string) => ({ run: { owner: p.id, role, opening: true }, reported: 1 });
    // still dry: the timed opening is closed all the same, and nothing else is decided
    expect(decideAt(plan, night, 0.18, { act: mine(plan, 'action') }).decisions).toEqual([
      { kind: 'close', role: 'action', device: 'gate-1', reason: 'quiet_hours', via: undefined },
    ]);
    // the band's gate, below the band, inside it or above it: closed for the quiet hours
    for (const [v, side] of [
      [2.5, 'low'],
      [4, 'inside'],
      [5.5, 'high'],
    ] as const)
      expect(kinds(decideAt(band, night, v, { side, act: mine(band, 'below') }))).toEqual([
        'close:quiet_hours',
      ]);
    // another automation's run, or one already closing, is not this automation's to close
    expect(
      kinds(decideAt(plan, night, 0.18, { act: { run: { owner: 'other', role: 'action', opening: true } } })),
    ).toEqual(['skipped_override']);
    const closing = { run: { owner: plan.id, role: 'action', opening: false }, reported: 1 };
    expect(kinds(decideAt(plan, night, 0.18, { act: closing }))).toEqual([]);
    // outside quiet hours the run goes on
    expect(kinds(decideAt(plan, jst('2026-11-28T21:58'), 0.18, { act: mine(plan, 'action') }))).toEqual([]);
  });
});

describe('runs per local day and cool-down', () => {
  it('starts a new count at local midnight in the farm zone (15:00 UTC), not at UTC midnight', () => {
    const before = jst('2026-11-28T23:59');
    const c: Counters = { day: localDay(TZ, before), runs: 2, lastRunAt: before - HOUR, lastEndAt: null };
    expect(countersAt(c, TZ, before)).toBe(c);
    expect(countersAt(c, TZ, Date.parse('2026-11-28T14:59:00Z')).runs).toBe(2); // 23:59 JST
    expect(countersAt(c, TZ, Date.parse('2026-11-28T15:00:00Z')).runs).toBe(0); // 00:00 JST next day
    expect(countersAt(c, TZ, Date.parse('2026-11-28T15:00:00Z')).lastRunAt).toBe(before - HOUR);
  });

  it('skips at the daily limit', () => {
    const plan = planAutomation(irrigation(), FARM, kitOf);
    const now = jst('2026-11-28T15:00');
    const counters: Counters = {
      day: localDay(TZ, now),
      runs: 2,
      lastRunAt: now - 3 * HOUR,
      lastEndAt: now - 2 * HOUR,
    };
    const r = decideAt(plan, now, 0.18, { counters });
    expect(r.decisions).toMatchObject([
      { kind: 'skip', event: 'skipped_daily_limit', detail: { runsToday: 2, maxRunsPerDay: 2 } },
    ]);
  });

  it('counts the cool-down from the end of the last run', () => {
    const plan = planAutomation(irrigation(), FARM, kitOf);
    const start = jst('2026-11-28T10:00');
    const c: Counters = { day: localDay(TZ, start), runs: 1, lastRunAt: start, lastEndAt: start + 30 * MIN };
    expect(cooldownUntil(c, plan.automation.limits)).toBe(start + 90 * MIN);
    expect(kinds(decideAt(plan, start + 89 * MIN, 0.18, { counters: c }))).toEqual(['skipped_cooldown']);
    expect(kinds(decideAt(plan, start + 90 * MIN, 0.18, { counters: c }))).toEqual(['fire:open_for']);
    expect(cooldownUntil(c, { ...plan.automation.limits, cooldownMinutes: 0 })).toBeNull();
  });

  it('logs a repeated skip once an hour, a different one at once', () => {
    const t = jst('2026-11-28T23:00');
    expect(shouldLogSkip(undefined, 'skipped_quiet_hours', t)).toBe(true);
    const last = { event: 'skipped_quiet_hours' as const, at: t };
    expect(shouldLogSkip(last, 'skipped_quiet_hours', t + SKIP_RELOG_MS - 1)).toBe(false);
    expect(shouldLogSkip(last, 'skipped_quiet_hours', t + SKIP_RELOG_MS)).toBe(true);
    expect(shouldLogSkip(last, 'skipped_daily_limit', t + 1)).toBe(true);
  });
});

describe('interlocks: which reason wins', () => {
  const plan = planAutomation(irrigation(), FARM, kitOf);
  const night = jst('2026-11-28T23:00');
  const full: Counters = { day: localDay(TZ, night), runs: 2, lastRunAt: night - 10 * MIN, lastEndAt: null };
  const override = { mode: 'pause' as const, until: night + HOUR, by: 'tanaka' };

  it('a manual override wins over everything else', () => {
    const r = decideAt(plan, night, 0.18, {
      counters: full,
      act: { override, fault: 'x', run: { owner: 'other', role: 'action', opening: true } },
    });
    expect(r.decisions).toMatchObject([
      {
        kind: 'skip',
        event: 'skipped_override',
        detail: { reason: 'override', mode: 'pause', by: 'tanaka' },
      },
    ]);
  });

  it('then another automation driving the actuator (one at a time)', () => {
    const r = decideAt(plan, night, 0.18, {
      counters: full,
      act: { run: { owner: 'aut-other', role: 'below', opening: true } },
    });
    expect(r.decisions).toMatchObject([
      { kind: 'skip', event: 'skipped_override', detail: { reason: 'interlock', holder: 'aut-other' } },
    ]);
    const manual = decideAt(plan, night, 0.18, {
      act: { run: { owner: OVERRIDE_OWNER, role: 'override', opening: false } },
    });
    expect(manual.decisions).toMatchObject([
      { event: 'skipped_override', detail: { holder: OVERRIDE_OWNER } },
    ]);
  });

  it('then a valve that never reported closed', () => {
    expect(kinds(decideAt(plan, night, 0.18, { counters: full, act: { fault: 'never closed' } }))).toEqual([
      'safety_stop',
    ]);
  });

  it('then quiet hours, the daily limit and the cool-down, in that order', () => {
    expect(kinds(decideAt(plan, night, 0.18, { counters: full }))).toEqual(['skipped_quiet_hours']);
    expect(kinds(decideAt(plan, night - 2 * HOUR, 0.18, { counters: full }))).toEqual([
      'skipped_daily_limit',
    ]);
    expect(
      kinds(
        decideAt(plan, night - 2 * HOUR, 0.18, {
          counters: { ...full, runs: 1, lastRunAt: night - 2 * HOUR - MIN },
        }),
      ),
    ).toEqual(['skipped_cooldown']);
  });
});

describe('band trigger with hysteresis', () => {
  const plan = planAutomation(paddyBand(), FARM, kitOf);

  it('takes 10 % of the band, at least the sensor resolution, as the margin', () => {
    expect(plan.margin).toBeCloseTo(0.2);
    const narrow = planAutomation(
      paddyBand({ trigger: { kind: 'band', device: 'level-1', metric: 'water_level', low: 3, high: 3.5 } }),
      FARM,
      kitOf,
    );
    expect(narrow.margin).toBeCloseTo(0.1); // the level sensor reads in 0.1 cm
  });

  it('stays on a side until the value comes the margin back inside', () => {
    const seq = [4, 2.9, 3.1, 3.19, 3.2, 5.01, 4.9, 4.81, 4.8, 2.99];
    const sides: Side[] = [];
    let side: Side | undefined;
    for (const v of seq) sides.push((side = nextSide(side, v, 3, 5, 0.2)));
    expect(sides).toEqual(['inside', 'low', 'low', 'low', 'inside', 'high', 'high', 'high', 'inside', 'low']);
  });

  it('opens below the band, closes above it with its own close command, and does nothing inside', () => {
    const now = jst('2026-11-28T10:00');
    expect(decideAt(plan, now, 2.9, { side: 'low' }).decisions).toMatchObject([
      { kind: 'fire', role: 'below', counts: true, command: { name: 'open' } },
    ]);
    const open = { owner: plan.id, role: 'below', opening: true };
    expect(
      decideAt(plan, now, 5.1, { side: 'high', act: { run: open, reported: 1 } }).decisions,
    ).toMatchObject([{ kind: 'close', role: 'below', reason: 'band', via: { name: 'close' } }]);
    expect(kinds(decideAt(plan, now, 4, { side: 'inside', act: { run: open, reported: 1 } }))).toEqual([]);
  });

  it('closes a gate left open above the band without counting a run, even in quiet hours at the limit', () => {
    const night = jst('2026-11-28T23:30');
    const quietPlan = planAutomation(
      paddyBand({}, { quietHours: { from: '22:00', to: '05:00' }, maxRunsPerDay: 1 }),
      FARM,
      kitOf,
    );
    const counters: Counters = {
      day: localDay(TZ, night),
      runs: 1,
      lastRunAt: night - HOUR,
      lastEndAt: null,
    };
    expect(
      decideAt(quietPlan, night, 5.5, { side: 'high', counters, act: { reported: 1 } }).decisions,
    ).toMatchObject([{ kind: 'fire', role: 'above', counts: false, command: { name: 'close' } }]);
    expect(kinds(decideAt(quietPlan, night, 2.5, { side: 'low', counters }))).toEqual([
      'skipped_quiet_hours',
    ]);
  });

  it('never flips side more than once while the value wobbles less than the margin', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 7, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 0.19, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (base, wobble) => {
          let side: Side | undefined = 'inside';
          let flips = 0;
          for (const w of wobble) {
            const next = nextSide(side, base + w, 3, 5, 0.2);
            if (next !== side) flips++;
            side = next;
          }
          return flips <= 1;
        },
      ),
    );
  });

  it('with a gate that obeys at once, commands the gate only on values outside the band, open and close in turn', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 8, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (levels) => {
          const now = jst('2026-11-28T10:00');
          let side: Side | undefined;
          let reported = 0;
          let run: ActuatorView['run'];
          let last: 'open' | 'close' | undefined;
          for (const v of levels) {
            side = nextSide(side, v, 3, 5, plan.margin);
            const { decisions } = decide({
              plan: planAutomation(paddyBand({}, { maxRunsPerDay: 96 }), FARM, kitOf),
              now,
              tz: TZ,
              value: v,
              side,
              counters: fresh(now),
              actuator: () => idle({ reported, run }),
            });
            for (const d of decisions) {
              const cmd = d.kind === 'fire' ? d.command.name : d.kind === 'close' ? 'close' : undefined;
              if (!cmd) continue;
              if (v >= 3 && v <= 5) return false; // acted inside the band
              if (cmd === last) return false; // the same command twice in a row: chatter
              last = cmd as 'open' | 'close';
              reported = cmd === 'open' ? 1 : 0;
              run = cmd === 'open' ? { owner: plan.id, role: 'below', opening: true } : undefined;
            }
          }
          return true;
        },
      ),
    );
  });
});
