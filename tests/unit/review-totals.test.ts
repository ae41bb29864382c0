// The review's one computation of a recommendation's totals (dashboard/review/totals.ts), on a
// real rice top-dressing recommendation (ONNX in a worker): without edits it gives back the
// gateway's own totals; with an officer's edit (set as the server sets it, by applyRate) the
// edited zone is priced as edge/recommend prices a zone — `money` at the profile's agronomic
// efficiency up to the model's rate — and the document carries those totals; where no response
// can re-estimate the gain the document keeps the recommendation's gain, says so once, and the
// officer's economics say "unknown".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { applyRate, money } from '../../edge/recommend/rates.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import { Recommendation } from '../../protocol/recommendation.ts';
import { validator } from '../../protocol/validate.ts';
import {
  appliedEconomics,
  fieldTotals,
  GAIN_NOT_REESTIMATED,
  recommendedEconomics,
  withAppliedTotals,
} from '../../dashboard/review/totals.ts';

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
const profile = reg.profile('rice-shinnosuke-niigata');
let pool: InferencePool;
let rec: Recommendation;
const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

beforeAll(async () => {
  pool = await InferencePool.start({ size: 1 });
  await pool.load(reg.load('rice-pi-topdress-ndvi@1.1.0'));
  rec = await recommend(pool, {
    farm: 'demo-farm',
    field: 'paddy-1',
    card: reg.entry('rice-pi-topdress-ndvi').card,
    profile,
    zones: {
      type: 'FeatureCollection',
      features: [0.6, 0.7, 0.8].map((ndvi, k) => ({
        type: 'Feature',
        id: `paddy-1-z${k + 1}`,
        geometry: {
          type: 'MultiPolygon',
          coordinates: [[ring(138.9 + k * 0.0004, 37.8, 138.9 + (k + 1) * 0.0004, 37.8003)]],
        },
        properties: {
          fieldId: 'paddy-1',
          sceneId: 'S2B_20260720',
          acquired: '2026-07-20T01:30:00Z',
          zone: k + 1,
          areaHa: 0.1 + 0.05 * k,
          validFraction: 1,
          indices: { ndvi: { mean: ndvi } },
          attributes: { plant_height_cm: 64, stems_per_m2: 400 },
        },
      })),
    },
    now: Date.parse('2026-07-22T00:00:00Z'),
    by: 'gateway gw-1',
  });
}, 60_000);
afterAll(async () => {
  await pool?.close();
});

/** The document after an officer's edit of zone `k` to `kgNHa`, as Reviews.edit sets it. */
function edited(base: Recommendation, k: number, kgNHa: number): Recommendation {
  const doc = structuredClone(base);
  const r = applyRate(kgNHa, profile);
  doc.zones[k]!.edited = { kgNHa: r.kgNHa, productKgHa: r.productKgHa, by: 'officer', at: 1, reason: 'pale' };
  return doc;
}

describe('the totals of a recommendation under review', () => {
  it('gives back the gateway’s own totals for a recommendation without edits', () => {
    expect(rec.economics.basis).toBe('agronomic_efficiency');
    expect(rec.totals.nKg).toBeGreaterThan(0);
    expect(fieldTotals(rec, 'recommended')).toEqual({ totals: rec.totals, gainKnown: true });
    expect(fieldTotals(rec)).toEqual({ totals: rec.totals, gainKnown: true });
    expect(withAppliedTotals(rec)).toBe(rec);
    expect(recommendedEconomics(rec)).toEqual({
      nKg: rec.totals.nKg,
      productKg: rec.totals.productKg,
      costYen: rec.totals.costYen,
      gainYen: rec.totals.gainYen,
      marginYen: rec.totals.marginYen,
    });
  });

  it('prices an edited zone as edge/recommend prices a zone, and the document carries the totals', () => {
    const doc = edited(rec, 0, 3); // the officer lowers zone 1 to 0.3 kg/10a
    const z = doc.zones[0]!;
    expect(z.edited).toMatchObject({ kgNHa: 3.15, productKgHa: 15 }); // 15 kg of 21 % N on the 5 kg step
    const ae = profile.economics.agronomicEfficiency!;
    const m = money(ae * Math.min(3.15, z.rate.modelKgNHa), 15, profile);
    const zones = doc.zones.map((x, k) =>
      k === 0
        ? { areaHa: x.areaHa, n: 3.15, p: 15, m }
        : {
            areaHa: x.areaHa,
            n: x.rate.kgNHa,
            p: x.rate.productKgHa,
            m: x.economics,
          },
    );
    const sum = (f: (x: (typeof zones)[number]) => number) => zones.reduce((s, x) => s + f(x) * x.areaHa, 0);
    const expected = {
      areaHa: rec.totals.areaHa,
      nKg: Math.round(sum((x) => x.n) * 100) / 100,
      productKg: Math.round(sum((x) => x.p) * 100) / 100,
      yieldGainKg: Math.round(sum((x) => x.m.yieldGainKgHa) * 10) / 10,
      gainYen: Math.round(sum((x) => x.m.gainYenHa)),
      costYen: Math.round(sum((x) => x.m.costYenHa)),
      marginYen: Math.round(sum((x) => x.m.marginYenHa)),
    };
    expect(expected.nKg).toBeLessThan(rec.totals.nKg);
    expect(fieldTotals(doc)).toEqual({ totals: expected, gainKnown: true });
    expect(fieldTotals(doc, 'recommended').totals).toEqual(rec.totals);
    const out = withAppliedTotals(doc);
    expect(out.totals).toEqual(expected);
    expect(out.notes).toEqual(rec.notes);
    expect(validator(Recommendation).problems(out)).toEqual([]);
    expect(appliedEconomics(doc)).toEqual({
      nKg: expected.nKg,
      productKg: expected.productKg,
      costYen: expected.costYen,
      gainYen: expected.gainYen,
      marginYen: expected.marginYen,
    });
    expect(recommendedEconomics(doc).nKg).toBe(rec.totals.nKg);
  });

  it('keeps the recommendation’s gain where it cannot be re-estimated, and says so once', () => {
    const yieldModel: Recommendation = {
      ...structuredClone(rec),
      economics: { ...rec.economics, basis: 'model_yield' },
    };
    const doc = edited(yieldModel, 2, 20);
    const applied = fieldTotals(doc);
    expect(applied.gainKnown).toBe(false);
    const out = withAppliedTotals(doc);
    expect(out.totals).toEqual({
      ...applied.totals,
      yieldGainKg: rec.totals.yieldGainKg,
      gainYen: rec.totals.gainYen,
      marginYen: rec.totals.marginYen,
    });
    expect(out.totals.nKg).toBeGreaterThan(rec.totals.nKg);
    expect(out.totals.costYen).toBeGreaterThan(rec.totals.costYen);
    expect(out.notes.filter((n) => n.code === GAIN_NOT_REESTIMATED)).toHaveLength(1);
    expect(out.notes.find((n) => n.code === GAIN_NOT_REESTIMATED)!.text.ja).toMatch(/推奨時の値/);
    expect(withAppliedTotals(out).notes).toEqual(out.notes); // a second edit adds no second note
    expect(validator(Recommendation).problems(out)).toEqual([]);
    expect(appliedEconomics(doc)).toMatchObject({ gainYen: null, marginYen: null });

    // edited back to the recommended rate: the recommendation's own money again, the note gone
    const back = structuredClone(out);
    const z = back.zones[2]!;
    z.edited = { ...z.edited!, kgNHa: z.rate.kgNHa, productKgHa: z.rate.productKgHa };
    const again = withAppliedTotals(back);
    expect(again.totals).toEqual(rec.totals);
    expect(again.notes.some((n) => n.code === GAIN_NOT_REESTIMATED)).toBe(false);
  });
});
