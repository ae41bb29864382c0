// Late blight by the Hutton criteria (and the Smith period): Tmin ≥ 10 °C and ≥ 6 h of
// RH ≥ 90 % on each of two consecutive local days, at and around every threshold; the tip's
// condition holds for the 48 h scouting window its action states.
import { describe, expect, it } from 'vitest';
import { clears, fires } from '../../../edge/rules/assessment.ts';
import {
  HUTTON_CRITERIA,
  SMITH_PERIOD,
  blightDays,
  lateBlightRule,
} from '../../../edge/rules/late-blight.ts';
import type { WeatherHour } from '../../../edge/rules/hourly-weather.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import { localDay } from '../../../edge/rules/local-time.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { HOUR, MIN, context, device, field, jst, tipsOf } from './fixtures.ts';

const TZ = 'Asia/Tokyo';

function day(date: string, tmin: number, humid: number, rhHumid = 95): WeatherHour[] {
  const start = Math.floor(jst(`${date}T00:00`) / HOUR);
  return Array.from({ length: 24 }, (_, i) => ({
    hour: start + i,
    day: localDay(TZ, (start + i) * HOUR),
    temp: i === 5 ? tmin : tmin + 5,
    tmin: i === 5 ? tmin : tmin + 5,
    rh: i < humid ? rhHumid : 70,
  }));
}

const d = (date: string) => localDay(TZ, jst(`${date}T12:00`));

describe('the criteria for one day', () => {
  it.each([
    [10, 6, 95, true],
    [9.9, 6, 95, false],
    [10, 5, 95, false],
    [10, 6, 90, true],
    [10, 6, 89.9, false],
    [25, 24, 100, true],
  ])('Tmin %s °C with %i h at RH %s %% → %s', (tmin, humid, rh, meets) => {
    expect(
      blightDays(day('2026-06-18', tmin, humid, rh), [d('2026-06-18')], HUTTON_CRITERIA)[0],
    ).toMatchObject({
      meets,
      tminC: tmin,
    });
  });

  it('cannot judge a day with fewer than 20 hours of data', () => {
    const hs = day('2026-06-18', 12, 8).slice(0, 19);
    expect(blightDays(hs, [d('2026-06-18')], HUTTON_CRITERIA)[0]!.meets).toBeUndefined();
    expect(
      blightDays(day('2026-06-18', 12, 8).slice(0, 20), [d('2026-06-18')], HUTTON_CRITERIA)[0]!.meets,
    ).toBe(true);
  });

  it('needs 11 humid hours for a Smith period', () => {
    expect(blightDays(day('2026-06-18', 12, 10), [d('2026-06-18')], SMITH_PERIOD)[0]!.meets).toBe(false);
    expect(blightDays(day('2026-06-18', 12, 11), [d('2026-06-18')], SMITH_PERIOD)[0]!.meets).toBe(true);
  });
});

/** Station readings every 10 minutes: humid from 00:00 for `humidHours` each day, coldest at 05:00. */
function station(from: number, to: number, tmin: (date: string) => number, humidHours: number): Reading[] {
  const out: Reading[] = [];
  for (let t = from; t <= to; t += 10 * MIN) {
    const local = new Date(t + 9 * HOUR);
    const date = local.toISOString().slice(0, 10);
    const h = local.getUTCHours();
    out.push({
      device: 'wx-1',
      metric: 'air_temperature',
      value: h === 5 ? tmin(date) : tmin(date) + 6,
      unit: 'degC',
      time: t,
      flags: [],
    });
    out.push({
      device: 'wx-1',
      metric: 'air_humidity',
      value: h < humidHours ? 96 : 65,
      unit: '%',
      time: t,
      flags: [],
    });
  }
  return out;
}

describe('the Hutton rule', () => {
  const NOW = jst('2026-06-20T08:00');
  const POTATO = field({ id: 'pot-1', name: 'じゃがいも畑', crop: 'ばれいしょ' });
  const ctx = (readings: Reading[], now = NOW, fields = [POTATO]) =>
    context({ now, fields, devices: [device('wx-1', 'hatake-weather-station')], readings });
  const from = jst('2026-06-15T00:00');

  it('raises a warning after two qualifying days, naming both', () => {
    const res = lateBlightRule.evaluate(ctx(station(from, NOW, () => 11, 7)));
    const [tip] = tipsOf(res, NOW);
    expect(tip!.severity).toBe('warning');
    expect(tip!.title.en).toBe('じゃがいも畑: late blight risk (Hutton criteria met)');
    expect(tip!.text.ja).toContain('2026-06-18：最低 11.0 ℃・湿度90%以上 7 時間');
    expect(tip!.text.ja).toContain('2026-06-19：最低 11.0 ℃');
    // The period's last day, 06-19, was judged at 06-20 00:00; the 48 h scouting window runs to
    // 06-22 00:00: at 08:00, 40 h are left.
    expect(tip!.action).toEqual({ type: 'scout', field: 'pot-1', target: 'late_blight', withinHours: 40 });
    expect(tip!.text.en).toContain('Scout the crop by 2026-06-21');
    expect(tip!.evidence.rule).toEqual({
      id: 'late-blight-hutton',
      version: '1.1.0',
      params: 'late-blight-hutton@1.1.0',
    });
    expect(tip!.evidence.window).toEqual({ from: jst('2026-06-18T00:00'), to: jst('2026-06-20T00:00') });
  });

  it('holds the condition for the 48 h scouting window: the next day failing the criteria does not clear it', () => {
    // Qualifying days to 06-19, then 06-20 dry (Tmin 8 °C). Before, the condition was "the last
    // two days qualify", so 06-21 00:00 cleared the tip raised at 06-20 00:00 with "scout within
    // 48 h", a day before that window and its 48 h expiry were up.
    const tmin = (date: string) => (date >= '2026-06-20' ? 8 : 12);
    const at = (local: string) => {
      const now = jst(local);
      return lateBlightRule.evaluate(ctx(station(from, now, tmin, 8), now)).assessments[0]!.trigger;
    };
    expect(at('2026-06-20T00:00').value).toBe(1); // 06-18 and 06-19: a Hutton period
    expect(at('2026-06-21T00:00').value).toBe(1); // 06-20 failed: still inside the window
    expect(at('2026-06-21T23:50').value).toBe(1);
    expect(at('2026-06-22T00:00').value).toBe(-1); // 48 h after 06-19 was judged
    expect(clears(at('2026-06-22T00:00'))).toBe(true);

    let state = emptyTipState();
    const log: string[] = [];
    for (const local of ['2026-06-20T00:00', '2026-06-21T00:00', '2026-06-21T12:00', '2026-06-22T00:00']) {
      const now = jst(local);
      const step = stepTips(
        state,
        lateBlightRule.evaluate(ctx(station(from, now, tmin, 8), now)).assessments,
        now,
      );
      state = step.state;
      log.push(
        ...step.raised.map((t) => `${local} ${t.reason}`),
        ...step.cleared.map(() => `${local} cleared`),
        ...step.expired.map(() => `${local} expired`),
      );
    }
    // Raised at the judging, live for its whole 48 h: it expires as its window ends (expiry is
    // stepped before the clear, so there is no live tip left to clear).
    expect(log).toEqual(['2026-06-20T00:00 new', '2026-06-22T00:00 expired']);
  });

  it('does not take a period whose scouting window has ended', () => {
    // 06-16 … 06-18 qualify, 06-19 and 06-20 do not: the last period ended 06-18, judged 06-19
    // 00:00, its window over at 06-21 00:00.
    const tmin = (date: string) => (date >= '2026-06-19' ? 8 : 12);
    const now = jst('2026-06-21T08:00');
    const res = lateBlightRule.evaluate(ctx(station(from, now, tmin, 8), now));
    expect(res.assessments[0]!.trigger.value).toBe(-1);
    expect(fires(res.assessments[0]!.trigger)).toBe(false);
    expect(tipsOf(res, now)).toEqual([]);
  });

  it('needs both days: one day at 9.9 °C or with 5 humid hours is not a Hutton period', () => {
    const coldFirst = (date: string) => (date === '2026-06-18' ? 9.9 : 12);
    expect(tipsOf(lateBlightRule.evaluate(ctx(station(from, NOW, coldFirst, 7))), NOW)).toHaveLength(0);
    expect(tipsOf(lateBlightRule.evaluate(ctx(station(from, NOW, () => 12, 5))), NOW)).toHaveLength(0);
    expect(tipsOf(lateBlightRule.evaluate(ctx(station(from, NOW, () => 12, 6))), NOW)).toHaveLength(1);
  });

  it('raises once while the period continues, and renews it only when that tip has expired', () => {
    let state = emptyTipState();
    const raised: { reason: string; supersedes?: string; id: string }[] = [];
    for (const h of [0, 1, 6, 24, 30, 47, 48]) {
      const now = NOW + h * HOUR;
      const step = stepTips(
        state,
        lateBlightRule.evaluate(
          ctx(
            station(from, now, () => 12, 8),
            now,
          ),
        ).assessments,
        now,
      );
      state = step.state;
      raised.push(...step.raised);
    }
    expect(raised.map((t) => t.reason)).toEqual(['new', 'renewed']);
    expect(raised[1]!.supersedes).toBe(raised[0]!.id);
  });

  it('ignores other crops and notes missing hours', () => {
    const readings = station(from, NOW, () => 12, 8);
    const rice = lateBlightRule.evaluate(ctx(readings, NOW, [field({ id: 'r', crop: 'rice' })]));
    expect([rice.assessments, rice.notes]).toEqual([[], []]);
    const gappy = lateBlightRule.evaluate(ctx(readings.filter((r) => r.time < jst('2026-06-19T12:00'))));
    expect(gappy.notes.map((n) => n.code)).toEqual(['insufficient_data']);
    // 06-19 cannot be judged, but 06-17 and 06-18 were a period, judged at 06-19 00:00: its window
    // is open until 06-21 00:00, so the tip stands on it (16 h left at 06-20 08:00).
    const [tip] = tipsOf(gappy, NOW);
    expect(tip!.text.en).toContain('(2026-06-17: min 12.0 °C, 8 h at RH ≥ 90 %; 2026-06-18: min 12.0 °C');
    expect(tip!.action).toMatchObject({ withinHours: 16 });
    const older = lateBlightRule.evaluate(ctx(readings.filter((r) => r.time < jst('2026-06-18T12:00'))));
    expect(older.notes.map((n) => n.code)).toEqual(['insufficient_data']);
    expect(older.assessments).toEqual([]); // 06-16/06-17's window ended at 06-20 00:00
    const none = lateBlightRule.evaluate(ctx([]));
    expect(none.notes.map((n) => n.code)).toEqual(['no_data']);
  });
});
