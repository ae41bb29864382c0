// The rule context: readings cleaned, sorted and indexed; malformed contexts refused with coded
// errors naming the place; local-calendar arithmetic in zones with and without DST.
import { describe, expect, it } from 'vitest';
import { HatakeError } from '../../../protocol/errors.ts';
import { MAX_READINGS, prepare, seriesOf, type RuleContext } from '../../../edge/rules/context.ts';
import { evaluateRules } from '../../../edge/rules/index.ts';
import {
  dateToDay,
  dayToDate,
  inMonthDayWindow,
  localDay,
  localHour,
  parseMonthDay,
  startOfLocalDay,
} from '../../../edge/rules/local-time.ts';
import { HOUR, context, device, jst } from './fixtures.ts';

const NOW = jst('2026-05-01T12:00');
const r = (over: Record<string, unknown>) => ({
  device: 'wx-1',
  metric: 'air_temperature',
  value: 10,
  unit: 'degC',
  time: NOW - HOUR,
  flags: [],
  ...over,
});

function codeOf(fn: () => unknown): { code: string; pointer: string | undefined } {
  try {
    fn();
  } catch (e) {
    if (e instanceof HatakeError) return { code: e.code, pointer: e.place?.pointer };
    throw e;
  }
  return { code: 'none', pointer: undefined };
}

describe('preparing readings', () => {
  it('sorts out-of-order readings and keeps the last of equal times', () => {
    const p = prepare(
      context({
        now: NOW,
        readings: [
          r({ time: NOW - 1000, value: 3 }),
          r({ time: NOW - 3000, value: 1 }),
          r({ time: NOW - 2000, value: 2 }),
          r({ time: NOW - 1000, value: 4 }),
        ] as RuleContext['readings'],
      }),
    );
    const s = seriesOf(p, 'wx-1', 'air_temperature')!;
    expect(s.time).toEqual([NOW - 3000, NOW - 2000, NOW - 1000]);
    expect(s.value).toEqual([1, 2, 4]);
  });

  it('drops non-finite, malformed and future readings and says how many', () => {
    const readings = [
      r({}),
      r({ value: Number.NaN }),
      r({ value: Number.POSITIVE_INFINITY }),
      r({ time: Number.NEGATIVE_INFINITY }),
      r({ time: -5 }),
      r({ time: NOW - 0.5 }),
      r({ device: '../etc' }),
      r({ metric: 'Air Temp' }),
      r({ value: '10' }),
      r({ flags: ['bogus'] }),
      null,
      42,
      r({ time: NOW + HOUR }),
      r({ time: NOW + 60_000, value: 11 }), // within the 5-minute tolerance
      r({ flags: ['spike'], time: NOW - 2 * HOUR }),
    ] as unknown as RuleContext['readings'];
    const p = prepare(context({ now: NOW, readings }));
    expect(p.notes.map((n) => [n.code, n.count])).toEqual([
      ['dropped_input', 11],
      ['future_readings', 1],
    ]);
    const s = seriesOf(p, 'wx-1', 'air_temperature')!;
    expect(s.value).toEqual([10, 10, 11]);
    expect(s.flagged).toEqual([true, false, false]);
  });

  it('takes clean series in columns as they are, and sorts the others with the readings', () => {
    const clean = {
      device: 'wx-1',
      metric: 'air_temperature',
      unit: 'degC',
      time: [NOW - 2000, NOW - 1000],
      value: [1, 2],
      flagged: [false, true],
    };
    const p = prepare(
      context({
        now: NOW,
        readings: [
          r({ metric: 'air_humidity', unit: '%', time: NOW - 500, value: 70 }),
        ] as RuleContext['readings'],
        series: [
          clean,
          // Out of order with a repeated time: sorted, the later one given wins.
          {
            device: 'wx-1',
            metric: 'leaf_wetness',
            unit: '%',
            time: [NOW - 1000, NOW - 3000, NOW - 1000],
            value: [5, 6, 7],
            flagged: [false, false, false],
          },
          // Also in the readings: merged, the reading wins the tie.
          {
            device: 'wx-1',
            metric: 'air_humidity',
            unit: '%',
            time: [NOW - 900, NOW - 500],
            value: [60, 65],
            flagged: [false, false],
          },
        ],
      }),
    );
    const t = seriesOf(p, 'wx-1', 'air_temperature')!;
    expect(t.time).toBe(clean.time); // not copied
    expect([t.value, t.flagged]).toEqual([
      [1, 2],
      [false, true],
    ]);
    const w = seriesOf(p, 'wx-1', 'leaf_wetness')!;
    expect([w.time, w.value]).toEqual([
      [NOW - 3000, NOW - 1000],
      [6, 7],
    ]);
    const h = seriesOf(p, 'wx-1', 'air_humidity')!;
    expect([h.time, h.value]).toEqual([
      [NOW - 900, NOW - 500],
      [60, 70],
    ]);
    expect(p.notes).toEqual([]);
  });

  it('drops malformed, non-finite and future points of a series and says how many', () => {
    const s = (over: Record<string, unknown>) => ({
      device: 'wx-1',
      metric: 'air_temperature',
      unit: 'degC',
      time: [NOW - 2000, NOW - 1000],
      value: [1, 2],
      flagged: [false, false],
      ...over,
    });
    const p = prepare(
      context({
        now: NOW,
        readings: [],
        series: [
          s({
            time: [NOW - 3000, NOW + HOUR, NOW - 0.5, -1],
            value: [1, 2, 3, 4],
            flagged: [false, false, false, false],
          }), // 1 future, 2 non-finite
          s({ metric: 'air_humidity', value: [Number.NaN, '5'], flagged: [false, false] }), // 1 non-finite, 1 malformed
          s({ metric: 'wind_speed', flagged: [0, false] }), // a flag that is not a boolean: 1 malformed
          s({ metric: 'rain', value: [1] }), // columns of unequal length: both points
          s({ metric: 'Air Temp' }), // bad metric name: both points
          s({ device: '../etc' }),
          s({ time: new Float64Array([NOW - 2000, NOW - 1000]) }), // not an array
          null,
          'wx-1',
        ] as unknown as RuleContext['series'],
      }),
    );
    expect(p.notes.map((n) => [n.code, n.count])).toEqual([
      ['dropped_input', 14], // 2 + 2 + 1 + 2 + 2 + 2, and one for each of the last three
      ['future_readings', 1],
    ]);
    expect(seriesOf(p, 'wx-1', 'air_temperature')!.time).toEqual([NOW - 3000]);
    expect(seriesOf(p, 'wx-1', 'wind_speed')!.value).toEqual([2]);
    expect(seriesOf(p, 'wx-1', 'rain')).toBeUndefined();
  });

  it('refuses more readings in columns and rows together than it will read', () => {
    const half = Math.ceil(MAX_READINGS / 2) + 1;
    const col = {
      device: 'wx-1',
      metric: 'air_temperature',
      unit: 'degC',
      time: new Array(half),
      value: [],
      flagged: [],
    };
    const e = codeOf(() =>
      prepare(context({ now: NOW, readings: new Array(half) as RuleContext['readings'], series: [col] })),
    );
    expect(e).toEqual({ code: 'HATAKE_E_RULE_INPUT', pointer: '/series' });
  });

  it.each([
    ['now', { now: Number.NaN }, '/now'],
    ['now', { now: -1 }, '/now'],
    ['farm', { farm: { name: 'x' } }, '/id'],
    ['fields', { fields: 'f1' }, '/'],
    ['devices', { devices: [{ id: 'Bad Id', kit: 'k' }] }, '/0/id'],
    ['readings', { readings: {} }, '/readings'],
    ['series', { series: { time: [] } }, '/series'],
    ['forecast', { forecast: 'cold' }, '/forecast'],
    ['stages', { stages: ['tillering'] }, '/stages'],
    ['lastSeen', { lastSeen: 5 }, '/lastSeen'],
    ['timezone', { farm: { id: 'farm-1', name: 'x', timezone: 'Mars/Olympus' } }, '/farm/timezone'],
  ])('refuses a malformed %s with a coded error naming the place', (_what, over, pointer) => {
    const e = codeOf(() => prepare({ ...context({ now: NOW }), ...over } as RuleContext));
    expect(e).toEqual({ code: 'HATAKE_E_RULE_INPUT', pointer });
  });

  it('refuses more readings than it will read, before reading them', () => {
    const huge = new Array(MAX_READINGS + 1);
    const e = codeOf(() => evaluateRules(context({ now: NOW, readings: huge })));
    expect(e).toEqual({ code: 'HATAKE_E_RULE_INPUT', pointer: '/readings' });
  });

  it('runs every rule on an empty context and says only what it lacks', () => {
    const ev = evaluateRules(context({ now: NOW, devices: [device('wx-1', 'hatake-weather-station')] }));
    expect(ev.assessments).toEqual([]);
    expect(ev.notes.map((n) => [n.rule, n.code])).toEqual([
      ['frost', 'no_data'],
      ['device-offline', 'no_data'],
    ]);
  });

  it('refuses an unknown rule or bad parameters in the configuration', () => {
    expect(codeOf(() => evaluateRules(context({ now: NOW }), { disabled: ['nope'] })).code).toBe(
      'HATAKE_E_RULE_PARAMS',
    );
    expect(
      codeOf(() => evaluateRules(context({ now: NOW }), { params: { frost: { severeC: 'cold' } } })).code,
    ).toBe('HATAKE_E_RULE_PARAMS');
    const swapped = { params: { 'battery-low': { kits: { x: { lowV: 3, criticalV: 3.5 } } } } };
    expect(codeOf(() => evaluateRules(context({ now: NOW }), swapped)).code).toBe('HATAKE_E_RULE_PARAMS');
    const ev = evaluateRules(context({ now: NOW }), { disabled: ['frost', 'device-offline'] });
    expect(ev.notes).toEqual([]);
  });
});

describe('local time', () => {
  it("puts instants on the farm's local days (Tokyo: UTC+9, no DST)", () => {
    const t = Date.parse('2026-05-31T15:00:00Z'); // 1 June 00:00 in Tokyo
    expect(dayToDate(localDay('Asia/Tokyo', t))).toBe('2026-06-01');
    expect(dayToDate(localDay('Asia/Tokyo', t - 1))).toBe('2026-05-31');
    expect(localHour('Asia/Tokyo', t)).toBe(0);
    expect(startOfLocalDay('Asia/Tokyo', dateToDay('2026-06-01')!)).toBe(t);
  });

  it('follows a zone with DST across its changes', () => {
    // New York springs forward on 8 March 2026: that day has 23 hours.
    const d8 = dateToDay('2026-03-08')!;
    const start8 = startOfLocalDay('America/New_York', d8);
    const start9 = startOfLocalDay('America/New_York', d8 + 1);
    expect(start8).toBe(Date.parse('2026-03-08T05:00:00Z'));
    expect(start9 - start8).toBe(23 * HOUR);
    expect(localHour('America/New_York', Date.parse('2026-03-08T07:00:00Z'))).toBe(3);
  });

  it('parses dates and month-days strictly and wraps season windows', () => {
    expect(dateToDay('2026-02-30')).toBeUndefined();
    expect(dateToDay('2026-2-3')).toBeUndefined();
    expect(parseMonthDay('02-29')).toBe(229);
    expect(parseMonthDay('02-30')).toBeUndefined();
    expect(parseMonthDay('13-01')).toBeUndefined();
    expect(inMonthDayWindow(1231, 1115, 215)).toBe(true);
    expect(inMonthDayWindow(216, 1115, 215)).toBe(false);
    expect(inMonthDayWindow(1114, 1115, 215)).toBe(false);
  });
});
