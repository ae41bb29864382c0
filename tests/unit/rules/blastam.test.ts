// BLASTAM (Koshimizu 1988): the temperature × wetness-hour table, quasi-favourable codes 1–4,
// wetness interrupted by wind and heavy rain, days in the farm's calendar, and the rule end to end.
import { describe, expect, it } from 'vitest';
import {
  BLASTAM_DEFAULTS,
  blastamCode,
  blastamDays,
  blastamRule,
  wetPeriods,
} from '../../../edge/rules/blastam.ts';
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
    expect(tip!.action).toEqual({ type: 'scout', field: 'paddy-1', target: 'rice_blast', withinHours: 168 });
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
