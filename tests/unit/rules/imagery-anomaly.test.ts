// Imagery anomaly: a zone that dropped against its own history and against the field → "scout
// here"; a whole-field change is not an anomaly; thresholds at and around the score of −1.
import { describe, expect, it } from 'vitest';
import {
  IMAGERY_ANOMALY_DEFAULTS,
  imageryAnomalyRule,
  zoneAnomalies,
  type ImageryAnomalyParams,
} from '../../../edge/rules/imagery-anomaly.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import type { ZoneIndexPoint } from '../../../edge/rules/context.ts';
import { DAY, context, field, jst, tipsOf } from './fixtures.ts';

const NOW = jst('2026-07-20T12:00');
// Binary-exact thresholds so "at the threshold" is exact: own drop 0.125, relative drop 0.0625.
const P: ImageryAnomalyParams = { ...IMAGERY_ANOMALY_DEFAULTS, ownDrop: 0.125, relativeDrop: 0.0625 };
const ZONES = ['z1', 'z2', 'z3', 'z4', 'z5'];

/** Scenes 40, 30, 20 and 10 days ago with every zone at 0.75, then a latest scene 2 days ago. */
function scenes(
  latest: Record<string, number>,
  opts: { valid?: number; age?: number } = {},
): ZoneIndexPoint[] {
  const out: ZoneIndexPoint[] = [];
  for (const ago of [40, 30, 20, 10])
    for (const zone of ZONES)
      out.push({ field: 'f1', zone, index: 'ndvi', time: NOW - ago * DAY, mean: 0.75, validFraction: 0.95 });
  for (const zone of ZONES)
    out.push({
      field: 'f1',
      zone,
      index: 'ndvi',
      time: NOW - (opts.age ?? 2) * DAY,
      mean: latest[zone] ?? 0.75,
      validFraction: opts.valid ?? 0.9,
      centroid: [138.9, 37.8],
      scene: 'S2A_test',
    });
  return out;
}

const ctx = (zoneIndex: ZoneIndexPoint[], now = NOW) =>
  context({ now, fields: [field({ id: 'f1', name: '畑1号', crop: 'soybean' })], zoneIndex });

describe('zone scores', () => {
  it('scores a zone by the lesser of its two drops', () => {
    const { zones } = zoneAnomalies(scenes({ z3: 0.625 }), P);
    const z3 = zones.find((z) => z.zone === 'z3')!;
    expect([z3.ownChange, z3.relativeChange, z3.score]).toEqual([-0.125, -0.125, -1]);
    expect(zones.filter((z) => z.zone !== 'z3').every((z) => z.score === 0)).toBe(true);
  });

  it.each([
    [0.640625, false], // own drop 0.109 < 0.125
    [0.625, true], // at the threshold
    [0.609375, true],
  ])('zone at %s raises a tip: %s', (value, raised) => {
    expect(tipsOf(imageryAnomalyRule.evaluate(ctx(scenes({ z3: value })), P), NOW)).toHaveLength(
      raised ? 1 : 0,
    );
  });

  it('does not call a drop of the whole field an anomaly', () => {
    const all = Object.fromEntries(ZONES.map((z) => [z, 0.5]));
    const res = imageryAnomalyRule.evaluate(ctx(scenes(all)), P);
    expect(res.assessments.every((a) => a.trigger.value === 0)).toBe(true);
    expect(tipsOf(res, NOW)).toHaveLength(0);
  });

  it('needs the relative drop too: a zone falling with a field that falls almost as much is not flagged', () => {
    const falling = { z1: 0.625, z2: 0.625, z3: 0.59375, z4: 0.625, z5: 0.625 };
    const z3 = zoneAnomalies(scenes(falling), P).zones.find((z) => z.zone === 'z3')!;
    expect(z3.ownChange).toBeLessThan(-0.125);
    expect(z3.relativeChange).toBe(-0.03125);
    expect(z3.score).toBe(-0.5);
  });
});

describe('the imagery anomaly rule', () => {
  it('says where to scout, with the numbers and the scene date', () => {
    const [tip] = tipsOf(imageryAnomalyRule.evaluate(ctx(scenes({ z3: 0.5 })), P), NOW);
    expect(tip!.zone).toBe('z3');
    expect(tip!.severity).toBe('warning'); // score max(−0.25 / 0.125, −0.25 / 0.0625) = −2
    expect(tip!.title.ja).toBe('畑1号：ゾーンz3を見回ってください（NDVI低下）');
    expect(tip!.text.ja).toContain(
      '2026-07-18の画像で、ゾーンz3のNDVIが 0.50 と、このゾーンのこれまでの中央値 0.75 から -0.25',
    );
    expect(tip!.action).toEqual({
      type: 'scout',
      field: 'f1',
      target: 'crop_stress',
      zone: 'z3',
      position: [138.9, 37.8],
      withinHours: 72,
    });
  });

  it('raises once while the zone stays low and clears when it recovers', () => {
    let state = emptyTipState();
    const log: string[] = [];
    const history = scenes({ z3: 0.55 });
    const later = (t: number, z3: number) =>
      ZONES.map((zone) => ({
        field: 'f1',
        zone,
        index: 'ndvi',
        time: t,
        mean: zone === 'z3' ? z3 : 0.75,
        validFraction: 0.9,
      }));
    const series: [number, ZoneIndexPoint[]][] = [
      [NOW, history],
      [NOW + 5 * DAY, [...history, ...later(NOW + 3 * DAY, 0.56)]],
      [NOW + 9 * DAY, [...history, ...later(NOW + 3 * DAY, 0.56), ...later(NOW + 8 * DAY, 0.74)]],
    ];
    for (const [now, pts] of series) {
      const step = stepTips(state, imageryAnomalyRule.evaluate(ctx(pts, now), P).assessments, now);
      state = step.state;
      log.push(...step.raised.map(() => 'raised'), ...step.cleared.map(() => 'cleared'));
    }
    expect(log).toEqual(['raised', 'cleared']);
  });

  it('ignores cloudy zone statistics and says when history or scenes are lacking', () => {
    const cloudy = imageryAnomalyRule.evaluate(ctx(scenes({ z3: 0.4 }, { valid: 0.5 })), P);
    expect(cloudy.assessments.map((a) => a.trigger.value)).toEqual([0, 0, 0, 0, 0]); // judged on the last clear scene
    const old = scenes({ z3: 0.4 }, { age: 25 }).filter((p) => p.time <= NOW - 25 * DAY);
    const stale = imageryAnomalyRule.evaluate(ctx(old), P);
    expect(stale.notes.map((n) => n.code)).toEqual(['stale_data']);
    const young = imageryAnomalyRule.evaluate(
      ctx(scenes({ z3: 0.4 }).filter((p) => p.time > NOW - 15 * DAY)),
      P,
    );
    expect(young.notes.map((n) => n.code)).toEqual(['insufficient_data']);
    const two = imageryAnomalyRule.evaluate(
      ctx(scenes({}).filter((p) => p.zone === 'z1' || p.zone === 'z2')),
      P,
    );
    expect(two.notes.map((n) => n.code)).toEqual(['insufficient_data']);
  });

  it('ignores indices it is not asked about and fields not on the farm', () => {
    const pts = scenes({ z3: 0.4 }).map((p) => ({ ...p, index: 'evi' }));
    expect(imageryAnomalyRule.evaluate(ctx(pts), P).assessments).toEqual([]);
    const other = scenes({ z3: 0.4 }).map((p) => ({ ...p, field: 'elsewhere' }));
    expect(imageryAnomalyRule.evaluate(ctx(other), P).assessments).toEqual([]);
  });
});
