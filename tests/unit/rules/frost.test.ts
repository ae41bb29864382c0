// Frost: observed, trend-projected and supplied-forecast minima against the area threshold in
// its season window (local dates), severe at ≤ 0 °C, one tip per night.
import { describe, expect, it } from 'vitest';
import { FROST_DEFAULTS, frostRule, trendForecast, type FrostParams } from '../../../edge/rules/frost.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import type { RuleContext } from '../../../edge/rules/context.ts';
import { HOUR, MIN, context, device, field, jst, series, tipsOf } from './fixtures.ts';

const NO_TREND: FrostParams = { ...FROST_DEFAULTS, trend: { ...FROST_DEFAULTS.trend, enabled: false } };

/** A night whose temperature bottoms out at `min` at 05:00 and is `min + 4` elsewhere. */
function night(now: number, min: number, dev = 'wx-1') {
  return series(dev, 'air_temperature', now - 12 * HOUR, now, 10 * MIN, (t) =>
    Math.abs(t - jst('2026-04-20T05:00')) < 5 * MIN ? min : min + 4,
  );
}

function ctxAt(now: number, readings: RuleContext['readings'], over: Partial<RuleContext> = {}): RuleContext {
  return context({ now, devices: [device('wx-1', 'hatake-weather-station')], readings, ...over });
}

const NOW = jst('2026-04-20T06:00');

describe('frost thresholds', () => {
  it.each([
    [3.1, undefined],
    [3.0, 'warning'],
    [2.9, 'warning'],
    [0.1, 'warning'],
    [0.0, 'severe'],
    [-0.1, 'severe'],
  ])('minimum %s °C → %s', (min, severity) => {
    const tips = tipsOf(frostRule.evaluate(ctxAt(NOW, night(NOW, min)), NO_TREND), NOW);
    expect(tips.map((t) => t.severity)).toEqual(severity ? [severity] : []);
  });

  it('tells the minimum, its time, the area threshold and what to do', () => {
    const [tip] = tipsOf(frostRule.evaluate(ctxAt(NOW, night(NOW, 1.5)), NO_TREND), NOW);
    expect(tip!.title.ja).toBe('霜注意：テスト農場 最低気温 1.5 ℃');
    expect(tip!.text.ja).toContain('観測、4/20 05:00');
    expect(tip!.text.ja).toContain('霜の目安 3.0 ℃以下');
    expect(tip!.text.en).toContain('Protect the crop now');
    expect(tip!.field).toBeUndefined();
    expect(tip!.action).toEqual({ type: 'frost_protection', byTime: NOW, thresholdC: 3 });
    expect(tip!.evidence.thresholds[0]).toEqual({
      name: 'frost_threshold',
      comparison: '<=',
      threshold: 3,
      value: 1.5,
      unit: 'degC',
      hysteresis: 1,
    });
    expect(tip!.evidence.points.find((p) => p.role === 'observed_min')).toMatchObject({
      device: 'wx-1',
      value: 1.5,
      time: jst('2026-04-20T05:00'),
    });
  });

  it('uses the area of the farm region or of the context, else the default', () => {
    const params: FrostParams = {
      ...NO_TREND,
      areas: {
        ...NO_TREND.areas,
        niigata: {
          name: { ja: '新潟', en: 'Niigata' },
          thresholdC: 2,
          seasons: [{ from: '04-01', to: '05-20' }],
        },
        cold: {
          name: { ja: '高冷地', en: 'highlands' },
          thresholdC: 4,
          seasons: [{ from: '04-01', to: '06-10' }],
        },
      },
    };
    expect(tipsOf(frostRule.evaluate(ctxAt(NOW, night(NOW, 2.5)), params), NOW)).toHaveLength(0); // niigata: 2 °C
    expect(tipsOf(frostRule.evaluate(ctxAt(NOW, night(NOW, 2.0)), params), NOW)).toHaveLength(1);
    expect(
      tipsOf(frostRule.evaluate(ctxAt(NOW, night(NOW, 3.9), { frostArea: 'cold' }), params), NOW),
    ).toHaveLength(1);
    expect(tipsOf(frostRule.evaluate(ctxAt(NOW, night(NOW, 3.9)), NO_TREND), NOW)).toHaveLength(0);
  });
});

describe('the season window', () => {
  it("follows the farm's local date at the window edges", () => {
    const cold = (now: number) => series('wx-1', 'air_temperature', now - 3 * HOUR, now, 10 * MIN, () => 1);
    const lastNight = jst('2026-05-31T23:50'); // still 31 May in Japan (14:50 UTC)
    const firstOut = jst('2026-06-01T00:10'); // 1 June in Japan, 31 May in UTC
    expect(tipsOf(frostRule.evaluate(ctxAt(lastNight, cold(lastNight)), NO_TREND), lastNight)).toHaveLength(
      1,
    );
    const out = frostRule.evaluate(ctxAt(firstOut, cold(firstOut)), NO_TREND);
    expect(out.assessments).toHaveLength(0);
    expect(out.notes.map((n) => n.code)).toEqual(['out_of_season']);
    const before = jst('2026-02-28T23:00');
    expect(frostRule.evaluate(ctxAt(before, cold(before)), NO_TREND).notes[0]!.code).toBe('out_of_season');
  });

  it('handles a window that wraps over the new year', () => {
    const params: FrostParams = {
      ...NO_TREND,
      areas: {
        default: {
          name: { ja: '既定', en: 'default' },
          thresholdC: 3,
          seasons: [{ from: '11-15', to: '02-15' }],
        },
      },
    };
    const jan = jst('2027-01-10T05:00');
    const cold = series('wx-1', 'air_temperature', jan - 3 * HOUR, jan, 10 * MIN, () => 1);
    expect(tipsOf(frostRule.evaluate(ctxAt(jan, cold), params), jan)).toHaveLength(1);
    const mar = jst('2027-03-10T05:00');
    const cold2 = series('wx-1', 'air_temperature', mar - 3 * HOUR, mar, 10 * MIN, () => 1);
    expect(frostRule.evaluate(ctxAt(mar, cold2), params).notes[0]!.code).toBe('out_of_season');
  });
});

describe('forecasts', () => {
  const evening = jst('2026-04-20T21:00');

  it('projects a falling evening trend and says it is a projection', () => {
    // 7.0 °C at 18:00 falling 0.5 °C/h to 5.5 °C at 21:00: in 6 h, 2.5 °C.
    const falling = series(
      'wx-1',
      'air_temperature',
      evening - 3 * HOUR,
      evening,
      10 * MIN,
      (t) => 5.5 + (0.5 * (evening - t)) / HOUR,
    );
    const res = frostRule.evaluate(ctxAt(evening, falling));
    expect(res.assessments[0]!.trigger.value).toBeCloseTo(2.5, 9);
    const [tip] = tipsOf(res, evening);
    expect(tip!.severity).toBe('warning');
    expect(tip!.text.ja).toContain('直近の気温低下傾向からの予想');
    expect(tip!.text.en).toContain('Prepare frost protection');
    expect(tip!.evidence.points.find((p) => p.role === 'trend_forecast')).toMatchObject({
      time: evening + 6 * HOUR,
    });
    expect((tip!.action as { byTime: number }).byTime).toBe(evening + 6 * HOUR);
  });

  it('bounds the projection and makes none from a rising or old trend', () => {
    const steep = series(
      'wx-1',
      'air_temperature',
      evening - 3 * HOUR,
      evening,
      10 * MIN,
      (t) => 10 + (5 * (evening - t)) / HOUR,
    );
    expect(frostRule.evaluate(ctxAt(evening, steep)).assessments[0]!.trigger.value).toBeCloseTo(2, 9); // 10 − maxDrop 8
    const pts = (f: (t: number) => number, to = evening) =>
      Array.from({ length: 19 }, (_, i) => ({
        time: to - 3 * HOUR + i * 10 * MIN,
        value: f(to - 3 * HOUR + i * 10 * MIN),
      }));
    expect(
      trendForecast(
        pts((t) => (t - evening) / HOUR + 10),
        evening,
        FROST_DEFAULTS.trend,
      ),
    ).toBeUndefined();
    expect(
      trendForecast(
        pts((t) => (evening - t) / HOUR + 10, evening - 2 * HOUR),
        evening,
        FROST_DEFAULTS.trend,
      ),
    ).toBeUndefined();
  });

  it('uses a supplied forecast inside its horizon and ignores bad or far points', () => {
    const mild = series('wx-1', 'air_temperature', evening - 3 * HOUR, evening, 10 * MIN, () => 8);
    const res = frostRule.evaluate(
      ctxAt(evening, mild, {
        forecast: [
          { time: evening + 8 * HOUR, airTemperature: -0.5 },
          { time: evening + 30 * HOUR, airTemperature: -5 },
          { time: evening + 2 * HOUR, airTemperature: Number.NaN },
        ],
      }),
      NO_TREND,
    );
    expect(res.assessments[0]!.trigger.value).toBe(-0.5);
    const [tip] = tipsOf(res, evening);
    expect(tip!.severity).toBe('severe');
    expect(tip!.text.en).toContain('forecast');
  });
});

describe('sites and persistence', () => {
  it('judges a field with its own thermometer apart from the farm station', () => {
    const res = frostRule.evaluate(
      context({
        now: NOW,
        fields: [field({ id: 'orchard', name: '果樹園' })],
        devices: [
          device('wx-1', 'hatake-weather-station'),
          device('wx-2', 'hatake-weather-station', 'orchard'),
        ],
        readings: [...night(NOW, 5, 'wx-1'), ...night(NOW, 2, 'wx-2')],
      }),
      NO_TREND,
    );
    const tips = tipsOf(res, NOW);
    expect(tips.map((t) => [t.field, t.devices])).toEqual([['orchard', ['wx-2']]]);
    expect(res.assessments.map((a) => a.key).sort()).toEqual(['frost:farm-1:-', 'frost:farm-1:orchard']);
  });

  it('raises one tip through a cold night and clears only when the minimum is 1 °C above the threshold', () => {
    const params: FrostParams = { ...NO_TREND, lookbackHours: 3 };
    let state = emptyTipState();
    const raised: string[] = [];
    // Every 10 minutes from 21:00 to 06:00 the night cools to 1 °C; all readings kept.
    const start = jst('2026-04-19T20:00');
    const temps = (t: number) => Math.max(1, 9 - (t - start) / HOUR);
    for (let now = start + HOUR; now <= jst('2026-04-20T06:00'); now += 10 * MIN) {
      const readings = series('wx-1', 'air_temperature', start, now, 10 * MIN, temps);
      const step = stepTips(state, frostRule.evaluate(ctxAt(now, readings), params).assessments, now);
      state = step.state;
      raised.push(...step.raised.map((t) => t.id));
      expect(step.cleared).toHaveLength(0);
    }
    expect(raised).toHaveLength(1);
    // Morning: a 3-hour minimum of 3.9 °C is inside the hysteresis band; 4.1 °C clears.
    const morning = jst('2026-04-20T09:00');
    const warm = (min: number) =>
      series('wx-1', 'air_temperature', morning - 3 * HOUR, morning, 10 * MIN, () => min);
    const band = stepTips(state, frostRule.evaluate(ctxAt(morning, warm(3.9)), params).assessments, morning);
    expect([band.raised, band.cleared]).toEqual([[], []]);
    const clear = stepTips(
      band.state,
      frostRule.evaluate(ctxAt(morning + MIN, warm(4.1)), params).assessments,
      morning + MIN,
    );
    expect(clear.cleared.map((c) => c.tipId)).toEqual(raised);
    // The next evening's frost is a new tip (the 6 h cool-down has passed).
    const evening = jst('2026-04-20T22:00');
    const again = stepTips(
      clear.state,
      frostRule.evaluate(
        ctxAt(
          evening,
          warm(2).map((r) => ({ ...r, time: r.time + 13 * HOUR })),
        ),
        params,
      ).assessments,
      evening,
    );
    expect(again.raised.map((t) => t.reason)).toEqual(['new']);
  });

  it('notes a site with no recent temperature and no forecast', () => {
    const res = frostRule.evaluate(ctxAt(NOW, night(NOW - 13 * HOUR, 1)));
    expect(res.assessments).toHaveLength(0);
    expect(res.notes.map((n) => n.code)).toEqual(['no_data']);
  });

  it('refuses parameters whose default area is missing', () => {
    expect(() => frostRule.evaluate(ctxAt(NOW, []), { ...FROST_DEFAULTS, defaultArea: 'nowhere' })).toThrow(
      expect.objectContaining({ code: 'HATAKE_E_RULE_PARAMS' }),
    );
  });
});
