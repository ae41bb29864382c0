// GDD methods (corn 30/10 °C, base 0 °C for wheat and rice), accumulation from the planting
// date, stages at and around their thresholds, the N timing windows, and a stage recorded in the
// field taking the estimate's place (ahead of it and behind it).
import { describe, expect, it } from 'vitest';
import { dailyGdd, gddBase, gddCorn3010 } from '../../../edge/rules/gdd.ts';
import {
  GROWTH_STAGE_DEFAULTS,
  countingStart,
  growthStageRule,
  windowState,
  type GrowthStageParams,
} from '../../../edge/rules/growth-stage.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import { dateToDay, dayToDate } from '../../../edge/rules/local-time.ts';
import { CORN_PROFILE, WINTER_WHEAT_PROFILE, type StageProfile } from '../../../edge/rules/stages.ts';
import type { DailyTemperature, RuleContext } from '../../../edge/rules/context.ts';
import { HOUR, MIN, context, device, field, jst, series, tipsOf } from './fixtures.ts';

describe('GDD methods', () => {
  it('corn 30/10 °C: caps Tmax at 30, raises Tmin to 10, subtracts 10', () => {
    expect(gddCorn3010(15, 25)).toBe(10);
    expect(gddCorn3010(8, 33)).toBe(10); // (10 + 30) / 2 − 10
    expect(gddCorn3010(20, 34)).toBe(15);
    expect(gddCorn3010(10, 30)).toBe(10); // at both limits
    expect(gddCorn3010(9.9, 30.1)).toBe(10); // just outside both: held
    expect(gddCorn3010(10.2, 29.8)).toBeCloseTo(10, 12); // just inside both
    expect(gddCorn3010(2, 8)).toBe(0); // a cold day: 0, never negative
    expect(gddCorn3010(5, 12)).toBe(1); // (10 + 12) / 2 − 10
  });

  it('matches the 86/50 °F method: low 48 °F, high 90 °F is 18 °F·d = 10 °C·d', () => {
    const c = (f: number) => ((f - 32) * 5) / 9;
    expect(gddCorn3010(c(48), c(90))).toBeCloseTo((18 * 5) / 9, 9);
  });

  it('base 0 °C for wheat: the mean, never below 0', () => {
    expect(gddBase(-2, 8, 0)).toBe(3);
    expect(gddBase(-5, 3, 0)).toBe(0); // mean −1 → 0 (McMaster & Wilhelm method 1)
    expect(gddBase(0, 0, 0)).toBe(0);
    expect(gddBase(-0.1, 0.3, 0)).toBeCloseTo(0.1, 12);
    expect(dailyGdd({ kind: 'base', baseC: 10 }, 18, 28)).toBe(13);
    expect(dailyGdd({ kind: 'corn_30_10' }, 18, 28)).toBe(13);
  });

  it('counts winter wheat from the first 1 January after planting', () => {
    const planted = dateToDay('2025-10-05')!;
    expect(dayToDate(countingStart(WINTER_WHEAT_PROFILE, planted))).toBe('2026-01-01');
    expect(dayToDate(countingStart(CORN_PROFILE, planted))).toBe('2025-10-05');
  });
});

/** Supplied daily extremes for local dates [from, to). */
function days(from: string, to: string, tmin: number, tmax: number): DailyTemperature[] {
  const out: DailyTemperature[] = [];
  for (let d = dateToDay(from)!; d < dateToDay(to)!; d++) out.push({ date: dayToDate(d), tmin, tmax });
  return out;
}

const TEST_PROFILE: StageProfile = {
  id: 'test',
  label: 'test-profile@1',
  method: { kind: 'base', baseC: 10 },
  start: { kind: 'planting' },
  stages: [
    { id: 'A', gdd: 100, name: { ja: 'A期', en: 'stage A' } },
    { id: 'B', gdd: 200, name: { ja: 'B期', en: 'stage B' } },
  ],
  fertilization: [
    {
      id: 'w',
      fromGdd: 150,
      toGdd: 180,
      name: { ja: '追肥', en: 'top-dress' },
      advice: { ja: '追肥を。', en: 'Top-dress.' },
    },
  ],
  seasonEndGdd: 400,
  sources: [{ citation: 'test' }],
};
const TEST_PARAMS: GrowthStageParams = {
  ...GROWTH_STAGE_DEFAULTS,
  profiles: { ...GROWTH_STAGE_DEFAULTS.profiles, test: TEST_PROFILE },
  cropProfiles: { ...GROWTH_STAGE_DEFAULTS.cropProfiles, soybean: 'test' },
};

describe('stages', () => {
  const SOY = field({ id: 'soy-1', name: '大豆畑', crop: 'soybean', plantingDate: '2026-06-01' });
  // base 10: tmin 15, tmax 25 → 10 °C·d a day; tmax 24 → 9.5
  const at = (date: string, daily: DailyTemperature[], over: Partial<RuleContext> = {}) =>
    growthStageRule.evaluate(
      context({ now: jst(`${date}T09:00`), fields: [SOY], dailyTemperatures: daily, ...over }),
      TEST_PARAMS,
    );
  const stageKeys = (r: ReturnType<typeof at>) =>
    r.assessments.filter((a) => a.draft.kind === 'growth_stage').map((a) => a.key.split(':').pop());

  it('enters a stage exactly at its GDD and not just before', () => {
    expect(stageKeys(at('2026-06-11', days('2026-06-01', '2026-06-11', 15, 25)))).toEqual(['A']); // 100
    const justBefore = [
      ...days('2026-06-01', '2026-06-10', 15, 25),
      ...days('2026-06-10', '2026-06-11', 15, 24),
    ]; // 99.5
    const r = at('2026-06-11', justBefore);
    expect(stageKeys(r)).toEqual([]);
    expect(stageKeys(at('2026-06-21', days('2026-06-01', '2026-06-21', 15, 25)))).toEqual(['B']); // 200
  });

  it('tells the stage, the GDD behind it and the next stage', () => {
    const [tip] = tipsOf(
      at('2026-06-13', days('2026-06-01', '2026-06-13', 15, 25)),
      jst('2026-06-13T09:00'),
    ).filter((t) => t.kind === 'growth_stage');
    expect(tip!.severity).toBe('info');
    expect(tip!.title.ja).toBe('大豆畑：大豆はA期と推定');
    expect(tip!.text.ja).toContain('2026-06-01からの積算温度 120 ℃・日（基準温度 10 ℃）');
    expect(tip!.text.en).toContain('Next: stage B in 80 °C·d (about 8 days)');
    expect(tip!.evidence.rule.params).toBe(`${GROWTH_STAGE_DEFAULTS.label}/test-profile@1`);
  });

  it('advises N timing before the window opens, while open, and clears when it has passed', () => {
    const NOW = (d: string) => jst(`${d}T09:00`);
    let state = emptyTipState();
    const log: string[] = [];
    for (const d of ['2026-06-10', '2026-06-11', '2026-06-12', '2026-06-16', '2026-06-18', '2026-06-19']) {
      const r = at(d, days('2026-06-01', d, 15, 25));
      const step = stepTips(
        state,
        r.assessments.filter((a) => a.draft.kind === 'fertilization_timing'),
        NOW(d),
      );
      state = step.state;
      log.push(
        ...step.raised.map((t) => `${d} raised ${t.title.en}`),
        ...step.cleared.map(() => `${d} cleared`),
      );
    }
    // 06-10: 90 GDD, 60 to go at 10 a day = 6 days > 5 lead days. 06-11: 100 GDD, 5 days: at the
    // lead, raised. 06-19: 180 GDD: the window [150, 180) has passed.
    expect(log).toEqual(['2026-06-11 raised 大豆畑: top-dress', '2026-06-19 cleared']);
    const r = at('2026-06-16', days('2026-06-01', '2026-06-16', 15, 25));
    const w = r.assessments.find((a) => a.draft.kind === 'fertilization_timing')!;
    expect(w.draft.text.ja).toContain('今が適期です（積算温度 150 ℃・日、適期 150〜180 ℃・日');
    expect(w.draft.action).toMatchObject({ type: 'fertilize', field: 'soy-1', nutrient: 'N', stage: 'w' });
  });

  it('takes sensor days over supplied ones and tolerates up to 3 missing days as a lower bound', () => {
    const daily = days('2026-06-01', '2026-06-11', 15, 25);
    // 9–10 June from the field's thermometer: 20 °C at night, 30 °C by day → 15 °C·d each.
    const readings = series(
      'wx-1',
      'air_temperature',
      jst('2026-06-09T00:00'),
      jst('2026-06-11T00:00') - MIN,
      10 * MIN,
      (t) => (new Date(t + 9 * HOUR).getUTCHours() < 12 ? 20 : 30),
    );
    const r = at('2026-06-11', daily, {
      devices: [device('wx-1', 'hatake-weather-station', 'soy-1')],
      readings,
    });
    const q = Object.fromEntries(r.assessments[0]!.draft.evidence.quantities.map((x) => [x.name, x.value]));
    expect(q.gdd).toBe(110);
    const gap = daily.filter((d) => !['2026-06-03', '2026-06-04', '2026-06-05'].includes(d.date));
    const lower = at('2026-06-11', gap);
    expect(lower.assessments[0]!.draft.text.en).toContain('(3 days without data: a lower bound)');
    const tooMany = at(
      '2026-06-11',
      gap.filter((d) => d.date !== '2026-06-06'),
    );
    expect(tooMany.assessments).toEqual([]);
    expect(tooMany.notes.map((n) => n.code)).toEqual(['insufficient_data']);
  });

  it('raises a stage once however often it is evaluated', () => {
    let state = emptyTipState();
    let n = 0;
    for (let h = 0; h < 48; h += 3) {
      const now = jst('2026-06-13T00:00') + h * HOUR;
      const day = new Date(now + 9 * HOUR).toISOString().slice(0, 10);
      const r = growthStageRule.evaluate(
        context({ now, fields: [SOY], dailyTemperatures: days('2026-06-01', day, 15, 25) }),
        TEST_PARAMS,
      );
      const step = stepTips(
        state,
        r.assessments.filter((a) => a.draft.kind === 'growth_stage'),
        now,
      );
      state = step.state;
      n += step.raised.length;
    }
    expect(n).toBe(1); // stage A (120–140 GDD); B comes at 200
  });
});

describe('the default profiles', () => {
  it('puts corn at 400 °C·d (40 days of 10) at V12 by the 30/10 method', () => {
    const corn = field({ id: 'corn-1', name: 'コーン畑', crop: 'corn', plantingDate: '2026-05-01' });
    const r = growthStageRule.evaluate(
      context({
        now: jst('2026-06-10T09:00'),
        fields: [corn],
        dailyTemperatures: days('2026-05-01', '2026-06-10', 15, 25),
      }),
    );
    const stage = r.assessments.find((a) => a.draft.kind === 'growth_stage')!;
    expect(stage.key).toBe('growth_stage:farm-1:corn-1:2026-05-01:V12');
    expect(stage.draft.title.en).toBe('コーン畑: maize has likely reached twelve leaves (V12)');
  });

  it('counts winter wheat from 1 January at base 0 °C and says nothing before', () => {
    const wheat = field({ id: 'w-1', crop: 'winter-wheat', plantingDate: '2025-10-05' });
    const autumn = growthStageRule.evaluate(context({ now: jst('2025-12-20T09:00'), fields: [wheat] }));
    expect(autumn.notes.map((n) => n.code)).toEqual(['not_applicable']);
    // 1 Jan – 19 Mar: 78 days at a mean of 7.5 °C = 585 °C·d → jointing is at 555.6
    const spring = growthStageRule.evaluate(
      context({
        now: jst('2026-03-20T09:00'),
        fields: [wheat],
        dailyTemperatures: days('2026-01-01', '2026-03-20', 2, 13),
      }),
    );
    expect(spring.assessments.find((a) => a.draft.kind === 'growth_stage')!.key.endsWith(':jointing')).toBe(
      true,
    );
    const spr = growthStageRule.evaluate(
      context({ now: jst('2026-06-20T09:00'), fields: [{ ...wheat, crop: '春まき小麦' }] }),
    );
    expect(spr.notes.map((n) => n.code)).toEqual(['unknown_crop']);
  });

  it('puts Koshihikari at heading at 1,700 °C·d of daily means and times the panicle fertilizer before it', () => {
    const paddy = field({ id: 'p-1', crop: 'rice', variety: 'Koshihikari', plantingDate: '2026-05-10' });
    // 51 days at a mean of 25 °C = 1,275 °C·d: inside the 1,250–1,325 window, at panicle initiation.
    const r = growthStageRule.evaluate(
      context({
        now: jst('2026-06-30T09:00'),
        fields: [paddy],
        dailyTemperatures: days('2026-05-10', '2026-06-30', 20, 30),
      }),
    );
    expect(r.assessments.map((a) => a.key.split(':').pop())).toEqual([
      'panicle_initiation',
      'panicle-fertilizer',
    ]);
    const tips = tipsOf(r, jst('2026-06-30T09:00'));
    expect(tips.find((t) => t.kind === 'fertilization_timing')!.title.ja).toContain('穂肥');
    const heading = growthStageRule.evaluate(
      context({
        now: jst('2026-07-18T09:00'),
        fields: [paddy],
        dailyTemperatures: days('2026-05-10', '2026-07-18', 20, 30),
      }),
    );
    expect(heading.assessments[0]!.key.endsWith(':heading')).toBe(true); // 69 × 25 = 1,725
  });

  it('notes fields it cannot place', () => {
    const r = growthStageRule.evaluate(
      context({
        now: jst('2026-06-10T09:00'),
        fields: [
          field({ id: 'a', crop: 'corn' }),
          field({ id: 'b', crop: 'corn', plantingDate: '2026-05-01' }),
          field({ id: 'c', crop: 'lotus', plantingDate: '2026-05-01' }),
          field({ id: 'd' }),
          field({ id: 'e', crop: 'corn', plantingDate: '2024-04-01' }),
          field({ id: 'f', crop: 'corn', plantingDate: '2026-07-01' }),
        ],
      }),
    );
    expect(r.notes.map((n) => [n.field, n.code])).toEqual([
      ['a', 'missing_attribute'],
      ['b', 'insufficient_data'],
      ['c', 'unknown_crop'],
      ['e', 'out_of_season'],
      ['f', 'not_applicable'],
    ]);
  });
});

describe('a stage recorded in the field', () => {
  const PADDY = field({ id: 'p-1', name: '田んぼ1号', crop: 'rice', plantingDate: '2026-05-10' });
  /** The rice field on `date` 09:00 after days at a mean of 25 °C (25 °C·d a day), with recorded stages. */
  const rice = (date: string, stages?: Record<string, string>) =>
    growthStageRule.evaluate(
      context({
        now: jst(`${date}T09:00`),
        fields: [PADDY],
        dailyTemperatures: days('2026-05-10', date, 20, 30),
        ...(stages ? { stages } : {}),
      }),
    );
  const byKind = (r: ReturnType<typeof rice>, kind: string) =>
    r.assessments.filter((a) => a.draft.kind === kind);

  it('rice recorded at heading while the estimate says panicle initiation: heading, and no panicle fertilizer advice', () => {
    // 47 days × 25 = 1,175 °C·d: panicle initiation by the estimate, the 1,250–1,325 window 3 days
    // off. Before, a recorded stage was ignored here: "the window opens in about 3 days" — after
    // heading, too late for a fertilizer due 18–15 days before it.
    const estimate = rice('2026-06-26');
    const [window] = byKind(estimate, 'fertilization_timing');
    expect(window!.trigger.value).toBe(1);
    expect(window!.draft.text.en).toContain('The window opens in about 3 days (1175 °C·d;');
    const recorded = rice('2026-06-26', { 'p-1': 'heading' });
    const [stage] = byKind(recorded, 'growth_stage');
    expect(stage!.key).toBe('growth_stage:farm-1:p-1:2026-05-10:heading');
    expect(stage!.draft.title).toEqual({
      ja: '田んぼ1号：水稲は出穂期（圃場での記録）',
      en: '田んぼ1号: rice is at heading (recorded in the field)',
    });
    expect(stage!.draft.text.en).toContain(
      'the GDD estimate was panicle initiation (1175 °C·d since 2026-05-10',
    );
    // Held at heading's 1,700 °C·d: past the window, so no advice — and the advisory the estimate
    // raised two days earlier clears.
    expect(byKind(recorded, 'fertilization_timing')[0]!.trigger.value).toBe(0);
    expect(tipsOf(recorded, jst('2026-06-26T09:00')).map((t) => t.kind)).toEqual(['growth_stage']);
    const before = stepTips(
      emptyTipState(),
      byKind(rice('2026-06-24'), 'fertilization_timing'),
      jst('2026-06-24T09:00'),
    );
    expect(before.raised).toHaveLength(1); // 1,125 °C·d: the window 5 days off, at the lead
    const after = stepTips(before.state, byKind(recorded, 'fertilization_timing'), jst('2026-06-26T09:00'));
    expect(after.cleared.map((c) => c.tipId)).toEqual([before.raised[0]!.id]);
  });

  it('rice recorded at midseason drainage while the estimate is inside the window: not yet', () => {
    // 51 days: 1,275 °C·d, inside 1,250–1,325 by the estimate ("open now"). Recorded at midseason
    // drainage (600–1,075): held just short of panicle initiation, 1,075 °C·d, the window 7 days
    // off at 25 °C·d a day — beyond the 5 lead days: no advice.
    expect(byKind(rice('2026-06-30'), 'fertilization_timing')[0]!.draft.text.en).toContain(
      'The window is open now',
    );
    const recorded = rice('2026-06-30', { 'p-1': 'midseason_drainage' });
    const [window] = byKind(recorded, 'fertilization_timing');
    expect(window!.trigger.value).toBe(0);
    expect(window!.draft.text.en).toContain(
      'opens in about 7 days (recorded stage midseason drainage: 1275 °C·d held at 1075 °C·d inside it;',
    );
    const [stage] = byKind(recorded, 'growth_stage');
    expect(stage!.key.endsWith(':midseason_drainage')).toBe(true);
    expect(stage!.draft.text.en).toContain('Next: panicle initiation, soon.');
  });

  describe('maize, side-dress N V4–V8 (133.3–266.7 °C·d), 10 °C·d a day', () => {
    const CORN = field({ id: 'c-1', name: 'コーン畑', crop: 'corn', plantingDate: '2026-05-01' });
    const corn = (date: string, stages?: Record<string, string>) => {
      const r = growthStageRule.evaluate(
        context({
          now: jst(`${date}T09:00`),
          fields: [CORN],
          dailyTemperatures: days('2026-05-01', date, 15, 25),
          ...(stages ? { stages } : {}),
        }),
      );
      return { r, window: byKind(r, 'fertilization_timing')[0]! };
    };

    it('recorded ahead, at V4, with the estimate at 100 °C·d: the window is open now, not 3 days off', () => {
      const estimate = corn('2026-05-11').window;
      expect(estimate.draft.text.en).toContain('The window opens in about 3 days (100 °C·d;');
      const { r, window } = corn('2026-05-11', { 'c-1': 'V4' });
      expect(window.trigger.value).toBe(1);
      expect(window.draft.text.en).toContain(
        'The window is open now (recorded stage four leaves (V4): 100 °C·d held at 133 °C·d',
      );
      expect(window.draft.evidence.thresholds.find((t) => t.name === 'window_from')).toMatchObject({
        value: 133.3,
        threshold: 133.3,
      });
      // The estimate had no stage yet (V4 is the first): the recorded one is told.
      expect(byKind(r, 'growth_stage').map((a) => a.key.split(':').pop())).toEqual(['V4']);
    });

    it('recorded ahead, at V8 (the window end), with the estimate inside the window: no advice', () => {
      expect(corn('2026-05-21').window.trigger.value).toBe(1); // 200 °C·d: open
      expect(corn('2026-05-21', { 'c-1': 'V8' }).window.trigger.value).toBe(0); // held at 266.7: past
    });

    it('recorded behind, at V6, with the estimate past the window: the window is still open', () => {
      expect(corn('2026-05-31').window.trigger.value).toBe(0); // 300 °C·d: past V8
      const { r, window } = corn('2026-05-31', { 'c-1': 'V6' });
      // Seen at V6 (200–266.7): the crop is short of V8, so the window has not closed.
      expect(window.trigger.value).toBe(1);
      expect(window.draft.text.en).toContain(
        'The window is open now (recorded stage six leaves (V6): 300 °C·d held at 267 °C·d',
      );
      expect(byKind(r, 'growth_stage').map((a) => a.key.split(':').pop())).toEqual(['V6']);
    });

    it('notes a recorded stage the profile does not have and uses the estimate', () => {
      const { r, window } = corn('2026-05-11', { 'c-1': 'heading' });
      expect(r.notes.map((n) => [n.field, n.code])).toEqual([['c-1', 'unknown_stage']]);
      expect(window.draft.text.en).toContain('The window opens in about 3 days (100 °C·d;');
    });
  });

  it('judges a window at its edges, inclusive of the start, exclusive of the end', () => {
    const w = { fromGdd: 150, toGdd: 180 };
    const at = (gdd: number, justBelow = false) =>
      windowState({ stage: undefined, next: undefined, gdd, justBelow, recorded: justBelow }, w);
    expect([at(149.9), at(150), at(179.9), at(180)]).toEqual(['before', 'open', 'open', 'past']);
    // Held just short of the next stage at `gdd`: short of 150 is before, short of 180 still open.
    expect([at(150, true), at(150.1, true), at(180, true), at(180.1, true)]).toEqual([
      'before',
      'open',
      'open',
      'past',
    ]);
  });
});
