// BLASTAM (Koshimizu 1988): the temperature × wetness-hour table, quasi-favourable codes 1–4,
// wetness interrupted by wind and heavy rain, days in the farm's calendar, and the rule end to end:
// the tip's condition holds for the scouting week its action states, and a later favourable day
// renews the tip instead of raising a second one.
import { describe, expect, it } from 'vitest';
import { clears, fires } from '../../../edge/rules/assessment.ts';
import {
  BLASTAM_DEFAULTS,
  blastamCode,
  blastamDays,
  blastamRule,
  wetPeriods,
} from '../../../edge/rules/blastam.ts';
import { scoutingTrigger } from '../../../edge/rules/assessment.ts';
import { emptyTipState, stepTips, type TipState } from '../../../edge/rules/lifecycle.ts';
import type { WeatherHour } from '../../../edge/rules/hourly-weather.ts';
import { localDay } from '../../../edge/rules/local-time.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { HOUR, MIN, context, device, field, jst, tipsOf } from './fixtures.ts';

const P = BLASTAM_DEFAULTS;
const TABLE: [number, number][] = [
  [15, 17],
  [16, 15],
  [17, 14],
  [18, 13],
  [19, 12],
  [20, 11],
  [21, 11],
  [22, 10],
  [23, 10],
  [24, 10],
  [25, 10],
];

describe('the decision table', () => {
  it.each(TABLE)('at %i °C needs %i wet hours: ● at the hours, 4 one hour short', (temp, hours) => {
    expect(blastamCode(hours, temp, 22, P).code).toBe('●');
    expect(blastamCode(hours + 5, temp, 22, P).code).toBe('●');
    expect(blastamCode(hours - 1, temp, 22, P).code).toBe('4');
    expect(blastamCode(hours, temp, 22, P).requiredHours).toBe(hours);
  });

  it('rounds the wet-period mean to whole degrees, half up, at the ends of the range', () => {
    expect(blastamCode(17, 14.5, 22, P)).toMatchObject({ code: '●', tempClass: 15, requiredHours: 17 });
    expect(blastamCode(17, 14.49, 22, P)).toMatchObject({ code: '3', tempClass: 14 });
    expect(blastamCode(10, 25.49, 22, P)).toMatchObject({ code: '●', tempClass: 25 });
    expect(blastamCode(10, 25.5, 22, P)).toMatchObject({ code: '3', tempClass: 26 });
    expect(blastamCode(15, 15.5, 22, P)).toMatchObject({ code: '●', tempClass: 16, requiredHours: 15 });
    expect(blastamCode(14, 15.5, 22, P).code).toBe('4');
  });

  it('gives codes 1 and 2 for the 5-day mean just outside 20–25 °C, inclusive at both ends', () => {
    expect(blastamCode(11, 20, 20, P).code).toBe('●');
    expect(blastamCode(11, 20, 19.99, P).code).toBe('1');
    expect(blastamCode(11, 20, 25, P).code).toBe('●');
    expect(blastamCode(11, 20, 25.01, P).code).toBe('2');
  });

  it('gives code 3 for 10 wet hours outside 15–25 °C and nothing below 10 h', () => {
    expect(blastamCode(10, 27, 22, P).code).toBe('3');
    expect(blastamCode(10, 12, 22, P).code).toBe('3');
    expect(blastamCode(9, 27, 22, P).code).toBe('-');
  });

  it('gives "-" when more than one condition fails or nothing was wet', () => {
    expect(blastamCode(5, 20, 18, P).code).toBe('-'); // short and cool 5-day mean
    expect(blastamCode(12, 28, 18, P).code).toBe('-'); // hot wet period and cool 5-day mean
    expect(blastamCode(0, 20, 22, P).code).toBe('-');
  });
});

/** Consecutive hours starting at a UTC hour index, with a builder for each. */
function hoursFrom(startHour: number, n: number, f: (i: number) => Partial<WeatherHour>): WeatherHour[] {
  return Array.from({ length: n }, (_, i) => ({
    hour: startHour + i,
    day: localDay('Asia/Tokyo', (startHour + i) * HOUR),
    temp: 21,
    wetness: 0,
    ...f(i),
  }));
}

describe('wet periods', () => {
  const h0 = Math.floor(jst('2026-07-08T18:00') / HOUR);

  it('counts consecutive wet hours and leaves an open run out', () => {
    const hs = hoursFrom(h0, 24, (i) => ({ wetness: i >= 3 && i < 14 ? 80 : 10 }));
    expect(wetPeriods(hs, h0 + 23, P).map((w) => [w.from - h0, w.hours, w.meanTempC])).toEqual([[3, 11, 21]]);
    expect(wetPeriods(hs, h0 + 13, P)).toEqual([]); // still wet at the last complete hour
  });

  it('is broken by wind over 3 m/s but not at 3 m/s', () => {
    const at3 = hoursFrom(h0, 24, (i) => ({ wetness: i >= 3 && i < 14 ? 80 : 10, wind: i === 8 ? 3 : 1 }));
    expect(wetPeriods(at3, h0 + 23, P).map((w) => w.hours)).toEqual([11]);
    const over = hoursFrom(h0, 24, (i) => ({ wetness: i >= 3 && i < 14 ? 80 : 10, wind: i === 8 ? 3.1 : 1 }));
    expect(wetPeriods(over, h0 + 23, P).map((w) => w.hours)).toEqual([5, 5]);
  });

  it('is broken by 4 mm/h of rain, or 3 mm/h for two hours running', () => {
    const heavy = hoursFrom(h0, 24, (i) => ({
      wetness: i >= 3 && i < 14 ? 80 : 10,
      rain: i === 8 ? 4 : 0.5,
    }));
    expect(wetPeriods(heavy, h0 + 23, P).map((w) => w.hours)).toEqual([5, 5]);
    const justUnder = hoursFrom(h0, 24, (i) => ({
      wetness: i >= 3 && i < 14 ? 80 : 10,
      rain: i === 8 ? 3.9 : 0.5,
    }));
    expect(wetPeriods(justUnder, h0 + 23, P).map((w) => w.hours)).toEqual([11]);
    const sustained = hoursFrom(h0, 24, (i) => ({
      wetness: i >= 3 && i < 14 ? 80 : 10,
      rain: i === 7 || i === 8 ? 3 : 0,
    }));
    expect(wetPeriods(sustained, h0 + 23, P).map((w) => w.hours)).toEqual([5, 5]);
    const once = hoursFrom(h0, 24, (i) => ({ wetness: i >= 3 && i < 14 ? 80 : 10, rain: i === 8 ? 3 : 0 }));
    expect(wetPeriods(once, h0 + 23, P).map((w) => w.hours)).toEqual([11]);
  });

  it('is broken by a missing hour', () => {
    const hs = hoursFrom(h0, 24, (i) => ({ wetness: i >= 3 && i < 14 ? 80 : 10 })).filter((_, i) => i !== 8);
    expect(wetPeriods(hs, h0 + 23, P).map((w) => w.hours)).toEqual([5, 5]);
  });
});

describe('days', () => {
  it('judges the day a wet period ends on, with the 5-day mean of daily means', () => {
    const start = Math.floor(jst('2026-07-04T00:00') / HOUR);
    const wetFrom = Math.floor(jst('2026-07-08T21:00') / HOUR) - start;
    const hs = hoursFrom(start, 6 * 24, (i) => ({ wetness: i >= wetFrom && i < wetFrom + 11 ? 90 : 0 }));
    const d8 = localDay('Asia/Tokyo', jst('2026-07-08T12:00'));
    const days = blastamDays(hs, [d8, d8 + 1], start + 6 * 24 - 1, 'Asia/Tokyo', P);
    expect(days.map((d) => [d.date, d.code, d.wetHours, d.fiveDayMeanC])).toEqual([
      ['2026-07-08', '-', 0, 21],
      ['2026-07-09', '●', 11, 21],
    ]);
    expect(days[1]!.wetFrom).toBe(jst('2026-07-08T21:00'));
    expect(days[1]!.wetTo).toBe(jst('2026-07-09T08:00'));
  });

  it('cannot judge a day without enough hours or five daily means', () => {
    const start = Math.floor(jst('2026-07-06T00:00') / HOUR);
    const hs = hoursFrom(start, 4 * 24, () => ({}));
    const d9 = localDay('Asia/Tokyo', jst('2026-07-09T12:00'));
    expect(blastamDays(hs, [d9], start + 96, 'Asia/Tokyo', P)[0]!.code).toBe('?'); // only 4 days of means
  });
});

/** Weather-station readings every 10 minutes, from a function of local time. */
function station(
  from: number,
  to: number,
  f: (t: number) => { temp: number; wet: number; wind?: number },
): Reading[] {
  const out: Reading[] = [];
  for (let t = from; t <= to; t += 10 * MIN) {
    const v = f(t);
    out.push({ device: 'wx-1', metric: 'air_temperature', value: v.temp, unit: 'degC', time: t, flags: [] });
    out.push({ device: 'wx-1', metric: 'leaf_wetness', value: v.wet, unit: '%', time: t, flags: [] });
    out.push({ device: 'wx-1', metric: 'wind_speed', value: v.wind ?? 1, unit: 'm/s', time: t, flags: [] });
    out.push({ device: 'wx-1', metric: 'rain', value: 0, unit: 'mm', time: t, flags: [] });
  }
  return out;
}

describe('the BLASTAM rule', () => {
  const NOW = jst('2026-07-10T09:00');
  const PADDY = field({ id: 'paddy-1', name: '田んぼ1号', crop: '水稲', plantingDate: '2026-05-10' });
  const wetNight = (t: number, nights: string[]) =>
    nights.some((n) => t >= jst(`${n}T21:00`) && t < jst(`${n}T21:00`) + 11 * HOUR) ? 95 : 5;
  const ctx = (readings: Reading[], over = {}) =>
    context({
      now: NOW,
      fields: [PADDY],
      devices: [device('wx-1', 'hatake-weather-station', 'paddy-1')],
      readings,
      ...over,
    });

  it('raises a warning for a favourable day, with the codes of the last days', () => {
    const readings = station(NOW - 12 * 24 * HOUR, NOW, (t) => ({
      temp: 21,
      wet: wetNight(t, ['2026-07-08']),
    }));
    const res = blastamRule.evaluate(ctx(readings));
    const [tip] = tipsOf(res, NOW);
    expect(tip!.severity).toBe('warning');
    expect(tip!.title.ja).toContain('葉いもち感染好適日（BLASTAM ●）');
    expect(tip!.text.ja).toContain('2026-07-09は感染好適条件でした：葉の濡れ 11 時間（必要 11 時間）');
    expect(tip!.text.en).toContain('Last 7 days: ------●');
    // The scouting week runs from 07-10 00:00, when 07-09 was judged, to 07-17 00:00: at 09:00,
    // 159 h are left.
    expect(tip!.text.en).toContain('scout the field by 2026-07-16');
    expect(tip!.text.ja).toContain('2026-07-16までに圃場を見回り');
    expect(tip!.action).toEqual({ type: 'scout', field: 'paddy-1', target: 'rice_blast', withinHours: 159 });
    expect(tip!.evidence.rule).toEqual({ id: 'blastam', version: '1.1.0', params: 'blastam-defaults@1.1.0' });
  });

  /** The rule's trigger at `now` for wet nights, on the station's readings up to then. */
  const triggerAt = (now: number, nights: string[]) =>
    blastamRule.evaluate(
      ctx(
        station(now - 14 * 24 * HOUR, now, (t) => ({ temp: 21, wet: wetNight(t, nights) })),
        { now },
      ),
    ).assessments[0]!.trigger;

  it('holds the condition for the scouting week after a favourable day; the dry days after it do not clear it', () => {
    // 07-09 ● is judged at 07-10 00:00 and the tip asks to scout within 168 h: until 07-17 00:00.
    // Before, the condition was "the latest judged day is ●", and 07-10 ('-') cleared it at 07-11
    // 00:00, four days before the scouting it asked for was due and two before the tip's expiry.
    const at = (local: string) => triggerAt(jst(local), ['2026-07-08']);
    expect(at('2026-07-09T23:50').value).toBe(-1); // not judged yet: nothing
    // Raised (1) for the tip's 72 h lifetime, then held (0) to the end of the week: it never
    // fires again for the same day, so an expired tip is not renewed for it.
    expect(at('2026-07-10T00:00').value).toBe(1);
    expect(at('2026-07-11T00:00').value).toBe(1); // 07-10 is '-': not cleared
    expect(at('2026-07-12T23:50').value).toBe(1);
    expect(at('2026-07-13T00:00').value).toBe(0); // 72 h after judging
    expect(fires(at('2026-07-13T00:00'))).toBe(false);
    expect(clears(at('2026-07-13T00:00'))).toBe(false);
    expect(clears(at('2026-07-16T23:50'))).toBe(false);
    expect(at('2026-07-17T00:00').value).toBe(-1); // 168 h after judging: the week is over
    expect(clears(at('2026-07-17T00:00'))).toBe(true);
  });

  it('raises one tip per favourable day or spell, renewing it for a later favourable day, never a second live one', () => {
    /** Steps the lifecycle every 6 h (and at each midnight) from 07-10 00:00 to `until`. */
    const story = (nights: string[], until: string) => {
      let state: TipState = emptyTipState();
      const out: string[] = [];
      for (let t = jst('2026-07-10T00:00'); t <= jst(until); t += 6 * HOUR) {
        const step = stepTips(
          state,
          blastamRule.evaluate(
            ctx(
              station(t - 14 * 24 * HOUR, t, (x) => ({ temp: 21, wet: wetNight(x, nights) })),
              { now: t },
            ),
          ).assessments,
          t,
        );
        state = step.state;
        const when = new Date(t + 9 * HOUR).toISOString().slice(5, 16);
        out.push(
          ...step.expired.map(() => `${when} expired`),
          ...step.cleared.map(() => `${when} cleared`),
          ...step.raised.map((r) => `${when} ${r.reason} ${r.severity} ${r.text.en.slice(0, 10)}`),
        );
        // One live tip at most.
        expect(Object.values(state.entries).filter((e) => e.tip).length).toBeLessThanOrEqual(1);
      }
      return out;
    };
    // 07-09 ● and, after the first tip expired, 07-14 ● inside 07-09's week: the tip is renewed
    // (it supersedes the expired one) for 07-14 — the week then runs to 07-22.
    expect(story(['2026-07-08', '2026-07-13'], '2026-07-16T00:00')).toEqual([
      '07-10T00:00 new warning 2026-07-09',
      '07-13T00:00 expired',
      '07-15T00:00 renewed warning 2026-07-14',
    ]);
    // 07-09 ● and 07-11 ● while the first tip is live: nothing more then; when it expires (07-13
    // 00:00) 07-11 is still within a tip's lifetime of its judging, so the tip is renewed for it.
    expect(story(['2026-07-08', '2026-07-10'], '2026-07-16T00:00')).toEqual([
      '07-10T00:00 new warning 2026-07-09',
      '07-13T00:00 expired',
      '07-13T00:00 renewed warning 2026-07-11',
      '07-16T00:00 expired', // 07-11's week goes on to 07-19; no newer favourable day: held, not renewed
    ]);
    // 07-09 ● and 07-18 ● after 07-09's week ended (07-17 00:00, a clear with no live tip): a new tip.
    expect(story(['2026-07-08', '2026-07-17'], '2026-07-20T00:00')).toEqual([
      '07-10T00:00 new warning 2026-07-09',
      '07-13T00:00 expired',
      '07-19T00:00 new warning 2026-07-18',
    ]);
  });

  it('codes the trigger: raise inside the fire window, hold to the end of the scouting window, then clear', () => {
    const H = HOUR;
    expect(scoutingTrigger(0, 72 * H, 168 * H)).toEqual({
      value: 1,
      comparison: '>=',
      threshold: 1,
      hysteresis: 1,
    });
    expect(scoutingTrigger(72 * H - 1, 72 * H, 168 * H).value).toBe(1);
    expect(scoutingTrigger(72 * H, 72 * H, 168 * H).value).toBe(0);
    expect(scoutingTrigger(168 * H - 1, 72 * H, 168 * H).value).toBe(0);
    expect(scoutingTrigger(168 * H, 72 * H, 168 * H).value).toBe(-1);
    expect(scoutingTrigger(Infinity, 72 * H, 168 * H).value).toBe(-1);
    // A lifetime longer than the window fires only within the window.
    expect(scoutingTrigger(47 * H, 96 * H, 48 * H).value).toBe(1);
    expect(scoutingTrigger(48 * H, 96 * H, 48 * H).value).toBe(-1);
  });

  it('is severe on the second favourable day running, and one hour short gives code 4 and no tip', () => {
    const twice = station(NOW - 12 * 24 * HOUR, NOW, (t) => ({
      temp: 21,
      wet: wetNight(t, ['2026-07-07', '2026-07-08']),
    }));
    expect(tipsOf(blastamRule.evaluate(ctx(twice)), NOW)[0]!.severity).toBe('severe');
    const short = station(NOW - 12 * 24 * HOUR, NOW, (t) => ({
      temp: 21,
      wet: t >= jst('2026-07-08T22:00') && t < jst('2026-07-09T08:00') ? 95 : 5,
    }));
    const res = blastamRule.evaluate(ctx(short));
    expect(tipsOf(res, NOW)).toHaveLength(0);
    expect(res.assessments[0]!.draft.text.en).toContain('quasi-favourable (wet period too short)');
  });

  it('does not count a wet night broken by a windy hour', () => {
    const windy = station(NOW - 12 * 24 * HOUR, NOW, (t) => ({
      temp: 21,
      wet: wetNight(t, ['2026-07-08']),
      wind: t >= jst('2026-07-09T02:00') && t < jst('2026-07-09T03:00') ? 4 : 1,
    }));
    expect(tipsOf(blastamRule.evaluate(ctx(windy)), NOW)).toHaveLength(0);
  });

  it('applies only to rice from 20 days after transplanting, and says what data it lacks', () => {
    const readings = station(NOW - 12 * 24 * HOUR, NOW, (t) => ({
      temp: 21,
      wet: wetNight(t, ['2026-07-08']),
    }));
    const early = blastamRule.evaluate(ctx(readings, { fields: [{ ...PADDY, plantingDate: '2026-06-25' }] }));
    expect(early.notes.map((n) => n.code)).toEqual(['not_applicable']);
    const wheat = blastamRule.evaluate(ctx(readings, { fields: [{ ...PADDY, crop: 'wheat' }] }));
    expect([wheat.assessments, wheat.notes]).toEqual([[], []]);
    const noWet = blastamRule.evaluate(ctx(readings.filter((r) => r.metric !== 'leaf_wetness')));
    expect(noWet.notes.map((n) => n.code)).toEqual(['no_data']);
    const gappy = blastamRule.evaluate(ctx(readings.filter((r) => new Date(r.time).getUTCHours() % 4 !== 0)));
    expect(gappy.notes.map((n) => n.code)).toEqual(['insufficient_data']);
  });
});
