// Paddy water level against the band of the growth stage (declared, or estimated from GDD),
// at and around the tolerance, with hysteresis on the way back into the band.
import { describe, expect, it } from 'vitest';
import { PADDY_WATER_DEFAULTS, bandDistance, paddyWaterRule } from '../../../edge/rules/paddy-water.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import { dateToDay, dayToDate } from '../../../edge/rules/local-time.ts';
import type { DailyTemperature, RuleContext } from '../../../edge/rules/context.ts';
import { HOUR, MIN, context, device, field, jst, series, tipsOf } from './fixtures.ts';

const NOW = jst('2026-06-01T10:00');
const PADDY = field({ id: 'paddy-1', name: '田んぼ1号', crop: 'rice', plantingDate: '2026-05-10' });

function ctx(
  level: number | ((t: number) => number),
  over: Partial<RuleContext> = {},
  now = NOW,
): RuleContext {
  const f = typeof level === 'number' ? () => level : level;
  return context({
    now,
    fields: [PADDY],
    devices: [device('water-1', 'hatake-paddy-water', 'paddy-1')],
    readings: series('water-1', 'water_level', now - 2 * HOUR, now, 5 * MIN, f),
    stages: { 'paddy-1': 'tillering' }, // band 1–3 cm
    ...over,
  });
}

describe('the band distance', () => {
  it('is positive outside, zero on an edge and negative inside', () => {
    expect(bandDistance(2.5, 3, 5)).toBe(0.5);
    expect(bandDistance(5.6, 3, 5)).toBeCloseTo(0.6, 12);
    expect(bandDistance(3, 3, 5)).toBe(-0);
    expect(bandDistance(4, 3, 5)).toBe(-1);
    expect(bandDistance(-25, -20, 0)).toBe(5);
  });
});

describe('the paddy water rule', () => {
  it.each([
    [3.4, undefined],
    [3.5, 'advisory'],
    [3.6, 'advisory'],
    [6.0, 'warning'],
    [5.9, 'advisory'],
    [0.6, undefined],
    [0.5, 'advisory'],
    [-2.5, 'warning'],
  ])('level %s cm at tillering (1–3 cm) → %s', (level, severity) => {
    const tips = tipsOf(paddyWaterRule.evaluate(ctx(level)), NOW);
    expect(tips.map((t) => t.severity)).toEqual(severity ? [severity] : []);
  });

  it('says which way to move the water and gives a band an automation can keep', () => {
    const [high] = tipsOf(paddyWaterRule.evaluate(ctx(4.2)), NOW);
    expect(high!.title.ja).toBe('田んぼ1号：水位が高すぎます（4.2 cm）');
    expect(high!.text.ja).toContain('分げつ期の目安 1.0〜3.0 cm を1.2 cm外れています。落水・排水して');
    expect(high!.action).toEqual({
      type: 'water_level',
      field: 'paddy-1',
      device: 'water-1',
      minCm: 1,
      maxCm: 3,
    });
    const [low] = tipsOf(paddyWaterRule.evaluate(ctx(0.2)), NOW);
    expect(low!.text.en).toContain('Let water in');
  });

  it('averages the last hour, so one spike does not raise a tip', () => {
    const spike = (t: number) => (t === NOW ? 9 : 2);
    expect(tipsOf(paddyWaterRule.evaluate(ctx(spike)), NOW)).toHaveLength(0);
  });

  it('keeps the tip until the level is 0.5 cm back inside the band, then can raise again after the cool-down', () => {
    let state = emptyTipState();
    const log: string[] = [];
    const steps: [number, number][] = [
      [0, 3.6],
      [60, 3.2],
      [120, 3.0], // on the edge: inside the hysteresis band
      [180, 2.6], // 0.4 inside: still not cleared
      [240, 2.4], // 0.6 inside: cleared
      [300, 3.8], // outside again, inside the 3 h cool-down
      [240 + 180, 3.8], // cool-down over: raised again
    ];
    for (const [min, level] of steps) {
      const now = NOW + min * MIN;
      const step = stepTips(state, paddyWaterRule.evaluate(ctx(level, {}, now)).assessments, now);
      state = step.state;
      log.push(...step.raised.map(() => `${min} raised`), ...step.cleared.map(() => `${min} cleared`));
    }
    expect(log).toEqual(['0 raised', '240 cleared', '420 raised']);
  });

  it('takes the stage from GDD when none is declared', () => {
    const daily: DailyTemperature[] = [];
    for (let d = dateToDay('2026-05-10')!; d < dateToDay('2026-06-10')!; d++)
      daily.push({ date: dayToDate(d), tmin: 20, tmax: 30 });
    // 21 days × 25 °C·d = 525: tillering (150–600) on 31 May; 31 days = 775 by 10 June: midseason drainage.
    const now = jst('2026-06-10T10:00');
    const res = paddyWaterRule.evaluate(ctx(4, { stages: undefined, dailyTemperatures: daily }, now));
    const [tip] = tipsOf(res, now);
    expect(tip!.text.ja).toContain('中干し期（積算温度からの推定）の目安 -20.0〜0.0 cm');
    expect(tip!.action).toMatchObject({ minCm: -20, maxCm: 0 });
  });

  it('notes an unknown stage, a stage without a band and a stale sensor', () => {
    const unknown = paddyWaterRule.evaluate(ctx(4, { stages: undefined }));
    expect(unknown.notes.map((n) => n.code)).toEqual(['unknown_stage']);
    const noBand = paddyWaterRule.evaluate(ctx(4, { stages: { 'paddy-1': 'flowering' } }));
    expect(noBand.notes[0]!.message).toContain('no water band for stage "flowering"');
    const stale = paddyWaterRule.evaluate(
      context({
        now: NOW,
        fields: [PADDY],
        devices: [device('water-1', 'hatake-paddy-water', 'paddy-1')],
        readings: series('water-1', 'water_level', NOW - 6 * HOUR, NOW - 3 * HOUR, 5 * MIN, () => 9),
        stages: { 'paddy-1': 'tillering' },
      }),
    );
    expect(stale.notes.map((n) => n.code)).toEqual(['stale_data']);
  });

  it('leaves upland fields alone and refuses a band whose ends are swapped', () => {
    const res = paddyWaterRule.evaluate(ctx(9, { fields: [{ ...PADDY, crop: 'soybean' }] }));
    expect([res.assessments, res.notes]).toEqual([[], []]);
    expect(() =>
      paddyWaterRule.evaluate(ctx(2), {
        ...PADDY_WATER_DEFAULTS,
        bands: { tillering: { minCm: 3, maxCm: 1 } },
      }),
    ).toThrow(expect.objectContaining({ code: 'HATAKE_E_RULE_PARAMS' }));
  });
});
