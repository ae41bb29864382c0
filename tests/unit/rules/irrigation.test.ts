// Irrigation by FAO-56 soil-water depletion: p adjustment and clamp, TAW/RAW, "irrigate within
// N hours" around the horizon, "now" at RAW, severe at the wilting point, drainage above field
// capacity (not crop water use), the cap on a measured ETc, and what it says when it cannot judge.
import { describe, expect, it } from 'vitest';
import {
  IRRIGATION_DEFAULTS,
  NOT_DRYING_HOURS,
  irrigationRule,
  waterBalance,
  type IrrigationParams,
} from '../../../edge/rules/irrigation.ts';
import {
  adjustedDepletionFraction,
  readilyAvailableWater,
  resolveTexture,
  rootZoneDepletion,
  textureMidpoints,
  totalAvailableWater,
} from '../../../edge/rules/soil.ts';
import { fires } from '../../../edge/rules/assessment.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import { HOUR, MIN, context, device, field, jst, series, tipsOf } from './fixtures.ts';

const NOW = jst('2026-07-20T12:00');
// Exact binary fractions: TAW = 125 mm, and with p = 0.5 RAW = 62.5 mm.
const PARAMS: IrrigationParams = {
  ...IRRIGATION_DEFAULTS,
  fieldOverrides: { 'up-1': { fc: 0.25, wp: 0.125, rootDepthM: 1 } },
};
const FIELD = field({ id: 'up-1', name: '大豆畑', crop: 'soybean', soilTexture: 'loam' });

/** θ falling by `perHour` m³/m³ per hour for 24 h, ending at `thetaNow`. */
function drying(thetaNow: number, perHour: number, devId = 'soil-1') {
  return series(
    devId,
    'soil_vwc',
    NOW - 24 * HOUR,
    NOW,
    10 * MIN,
    (t) => thetaNow + (perHour * (NOW - t)) / HOUR,
  );
}

function evalWith(
  readings: ReturnType<typeof drying>,
  params = PARAMS,
  extra: Partial<Parameters<typeof context>[0]> = {},
) {
  return irrigationRule.evaluate(
    context({
      now: NOW,
      fields: [FIELD],
      devices: [device('soil-1', 'hatake-soil-probe', 'up-1')],
      readings,
      ...extra,
    }),
    params,
  );
}

describe('FAO-56 arithmetic', () => {
  it('adjusts p by 0.04 (5 − ETc) and clamps it to 0.1–0.8', () => {
    expect(adjustedDepletionFraction(0.55, 5)).toBeCloseTo(0.55, 12);
    expect(adjustedDepletionFraction(0.55, 7.5)).toBeCloseTo(0.45, 12);
    expect(adjustedDepletionFraction(0.55, 2.5)).toBeCloseTo(0.65, 12);
    expect(adjustedDepletionFraction(0.35, 12)).toBe(0.1); // 0.07 → 0.1
    expect(adjustedDepletionFraction(0.5, 15)).toBe(0.1); // at the clamp
    expect(adjustedDepletionFraction(0.5, 14.9)).toBeCloseTo(0.104, 12); // just inside
    expect(adjustedDepletionFraction(0.7, 0)).toBe(0.8); // 0.9 → 0.8
    expect(adjustedDepletionFraction(0.6, 0)).toBe(0.8); // at the clamp
    expect(adjustedDepletionFraction(0.55, 0)).toBeCloseTo(0.75, 12); // just inside
  });

  it('computes TAW, RAW and depletion from table 19 midpoints', () => {
    expect(resolveTexture('Loam')).toBe('loam');
    expect(resolveTexture('砂壌土')).toBe('sandy_loam');
    expect(resolveTexture('silty clay loam')).toBe('silty_clay_loam');
    expect(resolveTexture('clay-loam')).toBeUndefined(); // not a table-19 class
    expect(textureMidpoints('loam')).toEqual({ fc: 0.25, wp: 0.12 });
    expect(textureMidpoints('sand')).toEqual({ fc: 0.12, wp: 0.045 });
    expect(textureMidpoints('clay')).toEqual({ fc: 0.36, wp: 0.22 });
    // Maize on loam, 1.0 m: TAW = 1000 · 0.13 · 1.0 = 130 mm; RAW at ETc 5 = 0.55 · 130 = 71.5 mm.
    const taw = totalAvailableWater(0.25, 0.12, 1.0);
    expect(taw).toBeCloseTo(130, 9);
    expect(readilyAvailableWater(adjustedDepletionFraction(0.55, 5), taw)).toBeCloseTo(71.5, 9);
    expect(rootZoneDepletion(0.25, 0.2, 1.0)).toBeCloseTo(50, 9);
    expect(rootZoneDepletion(0.25, 0.3, 1.0)).toBe(0); // wetter than field capacity
  });

  it('says "now" at exactly RAW and gives hours before it', () => {
    const at = waterBalance({
      theta: 0.1875,
      fc: 0.25,
      wp: 0.125,
      rootDepthM: 1,
      pTable: 0.5,
      rateMmPerHour: undefined,
      defaultEtcMmPerDay: 5,
    });
    expect([at.tawMm, at.p, at.rawMm, at.depletionMm, at.hoursToRaw]).toEqual([125, 0.5, 62.5, 62.5, 0]);
    const before = waterBalance({
      theta: 0.1876,
      fc: 0.25,
      wp: 0.125,
      rootDepthM: 1,
      pTable: 0.5,
      rateMmPerHour: undefined,
      defaultEtcMmPerDay: 5,
    });
    expect(before.hoursToRaw).toBe(NOT_DRYING_HOURS); // not drying: no time to tell
    const drying_ = waterBalance({
      theta: 0.2,
      fc: 0.25,
      wp: 0.125,
      rootDepthM: 1,
      pTable: 0.5,
      rateMmPerHour: 0.25,
      defaultEtcMmPerDay: 5,
    });
    // ETc 6 mm/day → p 0.46 → RAW 57.5 mm; depletion 50 mm; (57.5 − 50) / 0.25 = 30 h
    expect(drying_.etcMmPerDay).toBeCloseTo(6, 12);
    expect(drying_.p).toBeCloseTo(0.46, 12);
    expect(drying_.rawMm).toBeCloseTo(57.5, 9);
    expect(drying_.hoursToRaw).toBeCloseTo(30, 9);
  });
});

describe('the irrigation rule', () => {
  it('says irrigate within N hours with the numbers behind it', () => {
    const res = evalWith(drying(0.2, 0.00025));
    expect(res.assessments).toHaveLength(1);
    const a = res.assessments[0]!;
    expect(a.trigger.value).toBeCloseTo(30, 6);
    const [tip] = tipsOf(res, NOW);
    expect(tip!.severity).toBe('advisory');
    expect(tip!.title.ja).toContain('30時間以内に');
    expect(tip!.title.en).toContain('within 30 h');
    expect(tip!.text.ja).toContain('易有効水分 57.5 mm');
    expect(tip!.text.en).toContain('TAW 125.0 mm');
    expect(tip!.action).toEqual({ type: 'irrigate', field: 'up-1', amountMm: 57.5, withinHours: 30 });
    const q = Object.fromEntries(tip!.evidence.quantities.map((x) => [x.name, x.value]));
    expect(q.taw).toBeCloseTo(125, 9);
    expect(q.raw).toBeCloseTo(57.5, 6);
    expect(q.p).toBeCloseTo(0.46, 9);
    expect(q.etc).toBeCloseTo(6, 6);
    expect(q.etc_measured).toBe(1);
    expect(q.depletion_rate).toBeCloseTo(0.25, 9);
    expect(tip!.evidence.rule).toEqual({ id: 'irrigation-fao56', version: '1.1.0', params: PARAMS.label });
    expect(tip!.evidence.points.find((p) => p.role === 'latest')).toMatchObject({
      device: 'soil-1',
      value: 0.2,
      time: NOW,
    });
  });

  it('fires just inside the 48 h horizon and not just outside it', () => {
    // RAW 57.5 mm at 0.25 mm/h: 47.9 h ↔ depletion 45.525 mm; 48.1 h ↔ 45.475 mm
    const inside = evalWith(drying(0.25 - 0.045525, 0.00025)).assessments[0]!;
    const outside = evalWith(drying(0.25 - 0.045475, 0.00025)).assessments[0]!;
    expect(inside.trigger.value).toBeCloseTo(47.9, 6);
    expect(outside.trigger.value).toBeCloseTo(48.1, 6);
    expect(fires(inside.trigger)).toBe(true);
    expect(fires(outside.trigger)).toBe(false);
    expect(inside.trigger).toMatchObject({ comparison: '<=', threshold: 48, hysteresis: 12 });
  });

  it('says irrigate now at RAW, not just before it, and warns of wilting at TAW', () => {
    const flat = (theta: number) => series('soil-1', 'soil_vwc', NOW - 24 * HOUR, NOW, 10 * MIN, () => theta);
    const now_ = tipsOf(evalWith(flat(0.1875)), NOW);
    expect(now_).toHaveLength(1);
    expect(now_[0]!.severity).toBe('warning');
    expect(now_[0]!.title.ja).toContain('今すぐ');
    expect(now_[0]!.action).toMatchObject({ amountMm: 62.5, withinHours: 0 });
    expect(tipsOf(evalWith(flat(0.1876)), NOW)).toHaveLength(0);
    const wilt = tipsOf(evalWith(flat(0.125)), NOW);
    expect(wilt[0]!.severity).toBe('severe');
    expect(wilt[0]!.text.ja).toContain('しおれ点');
    expect(tipsOf(evalWith(flat(0.1251)), NOW)[0]!.severity).toBe('warning');
  });

  it('turns the amount into minutes and names the field valve when known', () => {
    const res = irrigationRule.evaluate(
      context({
        now: NOW,
        fields: [FIELD],
        devices: [
          device('soil-1', 'hatake-soil-probe', 'up-1'),
          device('gate-1', 'hatake-water-gate', 'up-1'),
        ],
        readings: drying(0.2, 0.00025),
      }),
      { ...PARAMS, applicationRateMmPerHour: 5 },
    );
    const [tip] = tipsOf(res, NOW);
    expect(tip!.action).toEqual({
      type: 'irrigate',
      field: 'up-1',
      amountMm: 57.5,
      withinHours: 30,
      durationMin: 690,
      valve: 'gate-1',
    });
    expect(tip!.devices).toEqual(['soil-1', 'gate-1']);
  });

  it('averages the probes of a field', () => {
    const res = irrigationRule.evaluate(
      context({
        now: NOW,
        fields: [FIELD],
        devices: [
          device('soil-1', 'hatake-soil-probe', 'up-1'),
          device('soil-2', 'hatake-soil-probe', 'up-1'),
        ],
        readings: [...drying(0.19, 0.0002, 'soil-1'), ...drying(0.21, 0.0003, 'soil-2')],
      }),
      PARAMS,
    );
    const q = Object.fromEntries(res.assessments[0]!.draft.evidence.quantities.map((x) => [x.name, x.value]));
    expect(q.theta).toBeCloseTo(0.2, 12);
    expect(q.depletion_rate).toBeCloseTo(0.25, 9);
  });

  it('uses the default ETc when too few readings give a rate, and says so', () => {
    const few = drying(0.2, 0.00025).slice(-3);
    const res = evalWith(few);
    expect(res.notes.map((n) => n.code)).toContain('insufficient_data');
    const q = Object.fromEntries(res.assessments[0]!.draft.evidence.quantities.map((x) => [x.name, x.value]));
    expect(q.etc_measured).toBe(0);
    expect(q.p).toBe(0.5);
    expect(q.depletion_rate).toBeUndefined();
    expect(res.assessments[0]!.draft.text.en).toContain('depletion rate unknown');
  });

  it('clears after irrigation and does not raise again while the soil stays wet', () => {
    const first = stepTips(emptyTipState(), evalWith(drying(0.2, 0.00025)).assessments, NOW);
    expect(first.raised).toHaveLength(1);
    // Irrigated: the probe jumps to field capacity and the trend turns to wetting.
    const wet = [
      ...drying(0.2, 0.00025).filter((r) => r.time < NOW - HOUR),
      ...series('soil-1', 'soil_vwc', NOW - HOUR + MIN, NOW, 10 * MIN, () => 0.26),
    ];
    const after = stepTips(first.state, evalWith(wet).assessments, NOW + MIN);
    expect(after.cleared.map((c) => c.tipId)).toEqual([first.raised[0]!.id]);
    const again = stepTips(after.state, evalWith(wet).assessments, NOW + 2 * MIN);
    expect(again.raised).toHaveLength(0);
  });

  it('says why it cannot judge a field: rice, unknown texture, no crop, stale or no readings', () => {
    const devices = [
      device('soil-1', 'hatake-soil-probe', 'rice-1'),
      device('soil-2', 'hatake-soil-probe', 'clay-1'),
      device('soil-3', 'hatake-soil-probe', 'none-1'),
      device('soil-4', 'hatake-soil-probe', 'up-1'),
      device('soil-5', 'hatake-soil-probe', 'up-2'),
    ];
    const res = irrigationRule.evaluate(
      context({
        now: NOW,
        fields: [
          field({ id: 'rice-1', crop: 'rice', soilTexture: 'clay' }),
          field({ id: 'clay-1', crop: 'maize', soilTexture: 'clay-loam' }),
          field({ id: 'none-1', soilTexture: 'loam' }),
          field({ id: 'up-1', crop: 'soybean', soilTexture: 'loam' }),
          field({ id: 'up-2', crop: 'とうもろこし', soilTexture: 'loam' }),
          field({ id: 'no-probe', crop: 'maize', soilTexture: 'loam' }),
        ],
        devices,
        readings: drying(0.2, 0.0002, 'soil-4').map((r) => ({ ...r, time: r.time - 4 * HOUR })),
      }),
    );
    const byField = Object.fromEntries(res.notes.map((n) => [n.field, n.code]));
    expect(byField).toEqual({
      'rice-1': 'not_applicable',
      'clay-1': 'unknown_texture',
      'none-1': 'missing_attribute',
      'up-1': 'stale_data',
      'up-2': 'no_data',
    });
    expect(res.assessments).toHaveLength(0);
  });

  it('refuses inconsistent parameters with a coded error', () => {
    const bad = { ...PARAMS, soils: { loam: { fc: 0.1, wp: 0.2 } } };
    expect(() => evalWith(drying(0.2, 0.0002), bad)).toThrow(/fc must exceed wp/);
    expect(() => evalWith(drying(0.2, 0.0002), { ...PARAMS, defaultEtcMmPerDay: 13 })).toThrow(
      /defaultEtcMmPerDay must not exceed maxEtcMmPerDay/,
    );
    expect(() => evalWith(drying(0.2, 0.0002), { ...PARAMS, horizonHours: -1 })).toThrow(
      expect.objectContaining({ code: 'HATAKE_E_RULE_PARAMS' }),
    );
  });
});

describe('drainage above field capacity and the cap on a measured ETc', () => {
  // Winter wheat on loam with the defaults: θFC 0.25, θWP 0.12, root depth 1.0 m, p 0.55 →
  // TAW 130 mm.
  const WHEAT = field({ id: 'w-1', name: '小麦畑', crop: 'wheat', soilTexture: 'loam' });
  const evalWheat = (readings: ReturnType<typeof drying>) =>
    irrigationRule.evaluate(
      context({
        now: NOW,
        fields: [WHEAT],
        devices: [device('soil-1', 'hatake-soil-probe', 'w-1')],
        readings,
      }),
    );
  const quantities = (res: ReturnType<typeof evalWheat>) =>
    Object.fromEntries(res.assessments[0]!.draft.evidence.quantities.map((x) => [x.name, x.value]));

  it('takes no drainage after rain for crop water use: 0.32 → 0.27 over a day raises nothing', () => {
    // The review's case. Fitted on every reading, the fall of 0.05 m³/m³ a day was 2.08 mm/h,
    // "ETc" 50 mm/day, p clamped to 0.1, RAW 13 mm and "irrigate within 6 h (about 13 mm)" —
    // with nothing depleted (the soil is still wetter than field capacity).
    const res = evalWheat(drying(0.27, 0.05 / 24));
    expect(tipsOf(res, NOW)).toEqual([]);
    const q = quantities(res);
    expect(q.depletion).toBe(0);
    expect(q.etc_measured).toBe(0); // no reading at or below θFC: no use rate
    expect(q.etc).toBe(5); // the default: p unadjusted
    expect(q.p).toBeCloseTo(0.55, 12);
    expect(q.raw).toBeCloseTo(71.5, 9);
    expect(q.depletion_rate).toBeUndefined();
    expect(res.assessments[0]!.trigger.value).toBe(NOT_DRYING_HOURS);
    expect(res.notes).toEqual([
      expect.objectContaining({ code: 'insufficient_data', device: 'soil-1', count: 0 }),
    ]);
    expect(res.notes[0]!.message).toContain('wetter soil is draining');
  });

  it('fits the use rate only on the readings at or below field capacity', () => {
    // Drains from 0.31 to θFC over the first 12 h, then dries at 0.0002 m³/m³ an hour (0.2 mm/h)
    // for 12 h: only the drying half is crop water use.
    const readings = series('soil-1', 'soil_vwc', NOW - 24 * HOUR, NOW, 10 * MIN, (t) => {
      const h = (t - (NOW - 24 * HOUR)) / HOUR;
      return h <= 12 ? 0.31 - (0.06 * h) / 12 : 0.25 - 0.0002 * (h - 12);
    });
    const res = evalWheat(readings);
    const q = quantities(res);
    expect(q.depletion_rate).toBeCloseTo(0.2, 9);
    expect(q.etc).toBeCloseTo(4.8, 9);
    expect(q.etc_measured).toBe(1);
    expect(q.theta).toBeCloseTo(0.2476, 12);
    // p = 0.55 + 0.04 · 0.2 = 0.558; RAW 72.54 mm; depletion 2.4 mm → 350.7 h: no tip.
    expect(q.raw).toBeCloseTo(72.54, 9);
    expect(q.hours_to_raw).toBeCloseTo((72.54 - 2.4) / 0.2, 6);
    expect(res.notes).toEqual([]);
    expect(
      res.assessments[0]!.draft.evidence.points.find((p) => p.role === 'rate_window_start'),
    ).toMatchObject({
      time: NOW - 12 * HOUR,
      value: 0.25,
    });
  });

  it('tells no time to RAW at or above field capacity, and one just below it', () => {
    // A small RAW (p clamped at 0.1 by a high ETc) would otherwise be "reached" within hours.
    const wb = (theta: number) =>
      waterBalance({
        theta,
        fc: 0.25,
        wp: 0.125,
        rootDepthM: 1,
        pTable: 0.5,
        rateMmPerHour: 0.5,
        defaultEtcMmPerDay: 5,
        maxEtcMmPerDay: 12,
      });
    expect(wb(0.26).hoursToRaw).toBe(NOT_DRYING_HOURS); // above
    expect(wb(0.25).hoursToRaw).toBe(NOT_DRYING_HOURS); // at: depletion 0
    expect(wb(0.25).depletionMm).toBe(0);
    // Just below: ETc 12 → p 0.22 → RAW 27.5 mm; depletion 0.1 mm → (27.5 − 0.1) / 0.5 = 54.8 h.
    const below = wb(0.2499);
    expect(below.depletionMm).toBeCloseTo(0.1, 9);
    expect(below.hoursToRaw).toBeCloseTo(54.8, 6);
  });

  it('caps a measured ETc at 12 mm/day, and the evidence shows it', () => {
    const at = (rate: number) =>
      waterBalance({
        theta: 0.2,
        fc: 0.25,
        wp: 0.125,
        rootDepthM: 1,
        pTable: 0.5,
        rateMmPerHour: rate,
        defaultEtcMmPerDay: 5,
        maxEtcMmPerDay: IRRIGATION_DEFAULTS.maxEtcMmPerDay,
      });
    expect(IRRIGATION_DEFAULTS.maxEtcMmPerDay).toBe(12);
    expect([at(0.5).etcMmPerDay, at(0.5).etcCapped]).toEqual([12, false]); // at the cap
    expect([at(0.5001).etcMmPerDay, at(0.5001).etcCapped]).toEqual([12, true]); // just above
    expect(at(0.4999).etcMmPerDay).toBeCloseTo(11.9976, 9); // just below
    // Soybean field: θ 0.235, drying 0.0006 m³/m³ an hour = 0.6 mm/h = 14.4 mm/day, every reading
    // below θFC. Uncapped: p = 0.5 + 0.04 (5 − 14.4) = 0.124, RAW 15.5 mm, depletion 15 mm →
    // "irrigate within 0 h (about 16 mm)". Capped at 12: p 0.22, RAW 27.5 mm, and the time to RAW
    // at 0.5 mm/h: (27.5 − 15) / 0.5 = 25 h.
    const res = evalWith(drying(0.235, 0.0006));
    const q = Object.fromEntries(res.assessments[0]!.draft.evidence.quantities.map((x) => [x.name, x.value]));
    expect(q.depletion_rate).toBeCloseTo(0.6, 9); // as measured
    expect(q.etc).toBe(12); // as used
    expect(q.etc_measured).toBe(1);
    expect(q.p).toBeCloseTo(0.22, 12);
    expect(q.raw).toBeCloseTo(27.5, 9);
    expect(q.depletion).toBeCloseTo(15, 9);
    expect(q.hours_to_raw).toBeCloseTo(25, 6);
    const [tip] = tipsOf(res, NOW);
    expect(tip!.action).toEqual({ type: 'irrigate', field: 'up-1', amountMm: 27.5, withinHours: 25 });
    expect(tip!.text.en).toContain('14.4 mm/day is more than a crop uses: ETc capped at 12.0 mm/day');
    expect(tip!.text.ja).toContain('上限 12.0 mm/日で計算');
  });
});
