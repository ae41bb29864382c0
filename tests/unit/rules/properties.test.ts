// Properties of every rule over generated farms: never a throw on finite (or hostile) inputs,
// every tip valid against the protocol schema with Japanese and English texts, the order of
// readings irrelevant — and a season of minute data handled whole.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RULES, evaluateRules } from '../../../edge/rules/index.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import type { Assessment } from '../../../edge/rules/assessment.ts';
import type { RuleContext, SeriesInput } from '../../../edge/rules/context.ts';
import type { Field } from '../../../protocol/manifest.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { RULE_TIP_KINDS } from '../../../protocol/tip.ts';
import { DAY, HOUR, KITS, MIN, checkTip, device, jst } from './fixtures.ts';

const FIELD_IDS = ['f1', 'f2', 'f3'] as const;
const DEVICES = [
  device('d1', 'hatake-soil-probe', 'f1'),
  device('d2', 'hatake-weather-station'),
  device('d3', 'hatake-paddy-water', 'f2'),
  device('d4', 'hatake-weather-station', 'f3'),
  device('d5', 'hatake-water-gate', 'f1'),
  device('d6', 'mystery-kit', 'f3'),
];
const METRICS = [
  'soil_vwc',
  'air_temperature',
  'air_humidity',
  'leaf_wetness',
  'wind_speed',
  'rain',
  'water_level',
  'battery',
  'valve_state',
  'solar_radiation',
  'foo_bar',
] as const;
const CROPS = [
  'rice',
  'maize',
  'corn',
  'wheat',
  'winter-wheat',
  'spring-wheat',
  'soybean',
  'potato',
  'tomato',
  'lotus',
  '水稲',
];
const TEXTURES = ['loam', 'sand', 'clay', 'clay-loam', 'シルト質壌土', 'peat'];
const STAGES = ['establishment', 'tillering', 'midseason_drainage', 'heading', 'ripening', 'bogus'];
const YEAR_START = jst('2026-01-01T00:00');
const YEAR_END = jst('2027-01-01T00:00');

const text = fc.string({ minLength: 1, maxLength: 200 });
const date = fc
  .integer({ min: jst('2024-01-01T00:00'), max: YEAR_END })
  .map((t) => new Date(t).toISOString().slice(0, 10));

const fieldArb = (id: string): fc.Arbitrary<Field> =>
  fc.record(
    {
      id: fc.constant(id),
      name: text,
      crop: fc.oneof(fc.constantFrom(...CROPS), fc.string({ maxLength: 64 })),
      soilTexture: fc.oneof(fc.constantFrom(...TEXTURES), fc.string({ maxLength: 32 })),
      plantingDate: date,
    },
    { requiredKeys: ['id', 'name'] },
  );

/** A farm, a time and data around it; `value` decides how tame the numbers are. */
function contextArb(value: fc.Arbitrary<number>, maxReadings = 250): fc.Arbitrary<RuleContext> {
  return fc.integer({ min: YEAR_START, max: YEAR_END }).chain((now) =>
    fc.record({
      now: fc.constant(now),
      farm: fc.record(
        {
          id: fc.constant('farm-1'),
          name: text,
          region: fc.constantFrom('niigata', 'hokkaido'),
          timezone: fc.constantFrom('Asia/Tokyo', 'America/New_York', 'UTC'),
        },
        { requiredKeys: ['id', 'name'] },
      ),
      fields: fc.tuple(...FIELD_IDS.map(fieldArb)),
      devices: fc.constant(DEVICES),
      kits: fc.constant(KITS),
      readings: fc.array(
        fc.record({
          device: fc.constantFrom('d1', 'd2', 'd3', 'd4', 'd5', 'd6', 'ghost'),
          metric: fc.constantFrom(...METRICS),
          value,
          unit: fc.constantFrom('degC', '%', 'm3/m3', 'cm', 'V', 'mm', 'm/s', '1'),
          time: fc.integer({ min: now - 40 * DAY, max: now + HOUR }),
          flags: fc.subarray(['out_of_range', 'spike', 'stuck', 'clock_skew', 'duplicate'] as const, {
            maxLength: 2,
          }),
        }),
        { maxLength: maxReadings },
      ),
      lastSeen: fc.option(
        fc.dictionary(
          fc.constantFrom('d1', 'd2', 'd3'),
          fc.oneof(value, fc.integer({ min: now - DAY, max: now })),
        ),
        { nil: undefined },
      ),
      forecast: fc.array(
        fc.record({ time: fc.integer({ min: now - HOUR, max: now + 2 * DAY }), airTemperature: value }),
        { maxLength: 10 },
      ),
      dailyTemperatures: fc.array(fc.record({ date, tmin: value, tmax: value }), { maxLength: 30 }),
      stages: fc.option(fc.record({ f2: fc.constantFrom(...STAGES) }), { nil: undefined }),
      zoneIndex: fc.array(
        fc.record({
          field: fc.constantFrom(...FIELD_IDS, 'other'),
          zone: fc.constantFrom('z1', 'z2', 'z3', 'z4'),
          index: fc.constantFrom('ndvi', 'ndre'),
          time: fc.integer({ min: now - 90 * DAY, max: now }),
          mean: value,
          validFraction: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        { maxLength: 40 },
      ),
      frostArea: fc.option(fc.constantFrom('default', 'unknown'), { nil: undefined }),
    }),
  ) as fc.Arbitrary<RuleContext>;
}

const finite = fc.oneof(
  fc.double({ min: -60, max: 120, noNaN: true }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e-300, -1e308, 1e308),
);
const hostile = fc.oneof(
  finite,
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);

/** Raises every assessment (forcing the trigger) and checks each tip against the schema. */
function everyTipValid(assessments: readonly Assessment[], now: number): void {
  const forced = assessments.map((a, i) => ({
    ...a,
    key: `${a.key}#${i}`,
    trigger: { value: 1, comparison: '>=' as const, threshold: 1, hysteresis: 0 },
  }));
  const { raised } = stepTips(emptyTipState(), forced, now);
  expect(raised).toHaveLength(assessments.length);
  for (const tip of raised) {
    const problems = checkTip.problems(tip);
    if (problems.length > 0) throw new Error(`${tip.kind}: ${JSON.stringify(problems)}`);
    for (const t of [tip.title.ja, tip.title.en, tip.text.ja, tip.text.en])
      expect(t.trim().length).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(tip))).toEqual(tip);
  }
}

describe('every rule', () => {
  it('never throws on finite inputs, and every tip it could raise is valid with both languages', () => {
    fc.assert(
      fc.property(contextArb(finite), (ctx) => {
        for (const rule of RULES) {
          const res = rule.evaluate(ctx);
          everyTipValid(res.assessments, ctx.now);
          for (const a of res.assessments) expect(Number.isNaN(a.trigger.value)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on NaN and infinities either: they are dropped and counted', () => {
    fc.assert(
      fc.property(contextArb(hostile), (ctx) => {
        const ev = evaluateRules(ctx);
        expect(ev.notes.filter((n) => n.code === 'rule_failed')).toEqual([]);
        everyTipValid(ev.assessments, ctx.now);
        const bad = ctx.readings.filter((r) => !Number.isFinite(r.value)).length;
        const dropped = ev.notes.find((n) => n.code === 'dropped_input' && n.message.includes('readings'));
        if (bad > 0) expect(dropped?.count).toBeGreaterThanOrEqual(bad);
      }),
      { numRuns: 100 },
    );
  });

  it('does not depend on the order of the readings', () => {
    fc.assert(
      fc.property(contextArb(finite, 150), fc.integer(), (ctx, seed) => {
        // One reading per device, metric and time (a tie is resolved by input order, by design).
        const seen = new Set<string>();
        const readings = ctx.readings.filter((r) => {
          const k = `${r.device}|${r.metric}|${r.time}`;
          return seen.has(k) ? false : (seen.add(k), true);
        });
        const shuffled = [...readings].sort(
          (a, b) => ((a.time * 31 + seed) % 97) - ((b.time * 31 + seed) % 97) || a.value - b.value,
        );
        const a = evaluateRules({ ...ctx, readings });
        const b = evaluateRules({ ...ctx, readings: shuffled });
        expect(b.assessments.map((x) => [x.key, x.trigger.value])).toEqual(
          a.assessments.map((x) => [x.key, x.trigger.value]),
        );
      }),
      { numRuns: 60 },
    );
  });
});

/** Dense hourly data for every rule at once, its numbers drawn from `value`. */
function denseArb(value: fc.Arbitrary<number>): fc.Arbitrary<RuleContext> {
  const HOURS = 12 * 24;
  const col = () => fc.array(value, { minLength: HOURS, maxLength: HOURS });
  return fc
    .record({
      now: fc.integer({ min: YEAR_START, max: YEAR_END }),
      cols: fc.record({
        temp: col(),
        rh: col(),
        wet: col(),
        wind: col(),
        rain: col(),
        vwc: col(),
        level: col(),
        volts: col(),
      }),
      daily: fc.array(fc.tuple(value, value), { minLength: 80, maxLength: 80 }),
      zones: fc.array(value, { minLength: 16, maxLength: 16 }),
      stage: fc.constantFrom(...STAGES),
      name: text,
    })
    .map(({ now, cols, daily, zones, stage, name }) => {
      const start = Math.floor(now / HOUR) * HOUR - HOURS * HOUR;
      const readings: Reading[] = [];
      const put = (dev: string, metric: string, unit: string, values: number[]) =>
        values.forEach((v, i) =>
          readings.push({ device: dev, metric, value: v, unit, time: start + i * HOUR, flags: [] }),
        );
      put('d2', 'air_temperature', 'degC', cols.temp);
      put('d2', 'air_humidity', '%', cols.rh);
      put('d2', 'leaf_wetness', '%', cols.wet);
      put('d2', 'wind_speed', 'm/s', cols.wind);
      put('d2', 'rain', 'mm', cols.rain);
      put('d1', 'soil_vwc', 'm3/m3', cols.vwc);
      put('d1', 'battery', 'V', cols.volts);
      put('d3', 'water_level', 'cm', cols.level);
      const day = (k: number) => new Date(now - k * DAY).toISOString().slice(0, 10);
      return {
        now,
        farm: { id: 'farm-1', name, timezone: 'Asia/Tokyo' },
        fields: [
          { id: 'f1', name, crop: 'potato', soilTexture: 'loam', plantingDate: day(40) },
          { id: 'f2', name, crop: 'rice', plantingDate: day(60) },
          { id: 'f3', name, crop: 'corn', plantingDate: day(50) },
        ],
        devices: DEVICES.filter((d) => d.id !== 'd4'),
        kits: KITS,
        readings,
        dailyTemperatures: daily.map(([a, b], k) => ({
          date: day(k + 1),
          tmin: Math.min(a, b),
          tmax: Math.max(a, b),
        })),
        stages: { f2: stage },
        zoneIndex: zones.map((mean, i) => ({
          field: 'f1',
          zone: `z${i % 4}`,
          index: 'ndvi',
          time: now - (1 + Math.floor(i / 4) * 7) * DAY,
          mean,
          validFraction: 0.9,
        })),
      } satisfies RuleContext;
    });
}

describe('every rule on dense data', () => {
  const tame = fc.double({ min: -5, max: 40, noNaN: true });

  it('judges every kind of tip on some farm, and every draft is a valid tip', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(
        denseArb(fc.oneof({ arbitrary: tame, weight: 200 }, { arbitrary: hostile, weight: 1 })),
        (ctx) => {
          const ev = evaluateRules(ctx);
          expect(ev.notes.filter((n) => n.code === 'rule_failed')).toEqual([]);
          everyTipValid(ev.assessments, ctx.now);
          for (const a of ev.assessments) kinds.add(a.draft.kind);
        },
      ),
      { numRuns: 60 },
    );
    expect([...kinds].sort()).toEqual([...RULE_TIP_KINDS].sort());
  });

  it('never throws when a fifth of the numbers are extreme, NaN or infinite', () => {
    fc.assert(
      fc.property(
        denseArb(fc.oneof({ arbitrary: tame, weight: 4 }, { arbitrary: hostile, weight: 1 })),
        (ctx) => {
          const ev = evaluateRules(ctx);
          expect(ev.notes.filter((n) => n.code === 'rule_failed')).toEqual([]);
          everyTipValid(ev.assessments, ctx.now);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/**
 * The readings of a context in columns, as a database read gives them: grouped by device and
 * metric (the unit of each group's first reading), times in order, ties kept in input order.
 */
function asColumns(readings: readonly Reading[]): SeriesInput[] {
  const groups = new Map<string, Reading[]>();
  for (const r of readings) {
    const k = `${r.device}\u0000${r.metric}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g].sort((a, b) => a.time - b.time);
    return {
      device: g[0]!.device,
      metric: g[0]!.metric,
      unit: g[0]!.unit,
      time: sorted.map((r) => r.time),
      value: sorted.map((r) => r.value),
      flagged: sorted.map((r) => r.flags.length > 0),
    };
  });
}

/** One unit per device and metric (its first reading's), as a store holds them; generated readings mix them. */
function oneUnit(ctx: RuleContext): RuleContext {
  const units = new Map<string, string>();
  const readings = ctx.readings.map((r) => {
    const k = `${r.device}\u0000${r.metric}`;
    if (!units.has(k)) units.set(k, r.unit);
    return { ...r, unit: units.get(k)! };
  });
  return { ...ctx, readings };
}

describe('the same data in columns', () => {
  const same = (generated: RuleContext) => {
    const ctx = oneUnit(generated);
    const asReadings = evaluateRules(ctx);
    const inColumns = evaluateRules({ ...ctx, readings: [], series: asColumns(ctx.readings) });
    expect(inColumns).toEqual(asReadings);
  };

  it('gives the same judgement, notes included, as the readings, hostile numbers and all', () => {
    fc.assert(fc.property(contextArb(hostile), same), { numRuns: 100 });
  });

  it('gives the same judgement on dense data for every rule', () => {
    fc.assert(
      fc.property(
        denseArb(
          fc.oneof(
            { arbitrary: fc.double({ min: -5, max: 40, noNaN: true }), weight: 9 },
            { arbitrary: hostile, weight: 1 },
          ),
        ),
        same,
      ),
      { numRuns: 25 },
    );
  });

  it('gives the same judgement split between columns and readings', () => {
    fc.assert(
      fc.property(contextArb(finite), fc.integer({ min: 0, max: 250 }), (generated, cut) => {
        const ctx = oneUnit(generated);
        const asReadings = evaluateRules(ctx);
        // The first readings as columns, the rest as readings: a series in both is merged, the
        // readings winning a tie as the later input.
        const split = evaluateRules({
          ...ctx,
          readings: ctx.readings.slice(cut),
          series: asColumns(ctx.readings.slice(0, cut)),
        });
        expect(split.assessments).toEqual(asReadings.assessments);
      }),
      { numRuns: 60 },
    );
  });
});

describe('a huge series', () => {
  it('reads 60 days of minute data from a station (≈ 350,000 readings) and judges it', () => {
    const now = jst('2026-07-10T09:00');
    const readings: Reading[] = [];
    for (let t = now - 60 * DAY; t <= now; t += MIN) {
      const h = new Date(t + 9 * HOUR).getUTCHours();
      const wet = t >= jst('2026-07-08T21:00') && t < jst('2026-07-09T08:00');
      readings.push({ device: 'd4', metric: 'air_temperature', value: 21, unit: 'degC', time: t, flags: [] });
      readings.push({
        device: 'd4',
        metric: 'leaf_wetness',
        value: wet ? 90 : 5,
        unit: '%',
        time: t,
        flags: [],
      });
      readings.push({
        device: 'd4',
        metric: 'air_humidity',
        value: h < 4 ? 95 : 60,
        unit: '%',
        time: t,
        flags: [],
      });
      readings.push({
        device: 'd4',
        metric: 'wind_speed',
        value: 1 + (h % 3) * 0.1,
        unit: 'm/s',
        time: t,
        flags: [],
      });
    }
    expect(readings.length).toBeGreaterThan(340_000);
    const ctx: RuleContext = {
      now,
      farm: { id: 'farm-1', name: '大規模', timezone: 'Asia/Tokyo' },
      fields: [{ id: 'f3', name: '田', crop: 'rice', plantingDate: '2026-05-10' }],
      devices: DEVICES,
      kits: KITS,
      readings,
    };
    const ev = evaluateRules(ctx);
    const blast = ev.assessments.find((a) => a.draft.kind === 'rice_blast')!;
    expect(blast.trigger.value).toBe(1); // 11 wet hours at 21 °C ended 9 July: ●
    const stage = ev.assessments.find((a) => a.draft.kind === 'growth_stage')!;
    expect(stage.key).toContain(':2026-05-10:');
    expect(ev.notes.filter((n) => n.code === 'rule_failed')).toEqual([]);
  });
});
