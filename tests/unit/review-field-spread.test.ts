// What a prescription spreads over the whole field (dashboard/review/totals.ts fieldSpread), on a
// real rice top-dressing recommendation (ONNX in a worker) whose zones leave part of the field
// uncovered (a cloud over its east third): the officer's page and the farmer's page read the same
// total N and product for the same recommendation — the zones and the uncovered rest at the zones'
// mean — where the zones' own totals (the money's) leave the rest out; at the officer's edits, at
// the recommendation's own rates and at the economic optimum alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { applyRate } from '../../edge/recommend/rates.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import {
  defaultRate,
  spreadTotals,
  type PolygonGeometry,
  type Recommendation,
} from '../../protocol/recommendation.ts';
import { fieldSpread, fieldTotals } from '../../dashboard/review/totals.ts';

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
const profile = reg.profile('rice-koshihikari');
let pool: InferencePool;
let rec: Recommendation;
const ring = (x0: number, y0: number, x1: number, y1: number): [number, number][] => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];
/** The field: 138.9000–138.9012 E; the zones cover its west two thirds. */
const boundary: PolygonGeometry = { type: 'Polygon', coordinates: [ring(138.9, 37.8, 138.9012, 37.8003)] };

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
      features: [0.6, 0.75].map((ndvi, k) => ({
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
          areaHa: 0.12,
          validFraction: 1,
          indices: { ndvi: { mean: ndvi } },
          attributes: { plant_height_cm: 64, stems_per_m2: 430 },
        },
      })),
    },
    boundary,
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

/** The zones' N at `rate` plus the uncovered rest at the zones' area-weighted mean of it. */
function byHand(doc: Recommendation, rate: (z: Recommendation['zones'][number]) => number): number {
  const area = doc.zones.reduce((s, z) => s + z.areaHa, 0);
  const zonesN = doc.zones.reduce((s, z) => s + rate(z) * z.areaHa, 0);
  const rest = doc.coverage!.uncoveredAreaHa;
  return zonesN + (Math.round((zonesN / area) * 1e4) / 1e4) * rest;
}

describe('what the prescription spreads over the field', () => {
  it('counts the uncovered part at the zones’ mean: what the farmer’s page shows, not the zones alone', () => {
    const rest = rec.coverage?.uncoveredAreaHa ?? 0;
    expect(rest).toBeGreaterThan(0.05);
    const spread = fieldSpread(rec);
    // The farmer's page (protocol's spreadTotals) and the officer's page read one figure.
    expect(spread).toEqual(spreadTotals(rec));
    expect(spread.restHa).toBeCloseTo(rest, 4);
    expect(spread.nKg).toBeCloseTo(
      byHand(rec, (z) => z.rate.kgNHa),
      2,
    );
    // The zones' totals (the money's, and what the officer's page used to call the total) leave the rest out.
    expect(spread.nKg).toBeGreaterThan(fieldTotals(rec).totals.nKg + 0.1);
    expect(fieldSpread(rec, 'recommended')).toEqual(spread);
  });

  it('follows the officer’s edit where it is applied, and keeps the recommendation’s own rates apart', () => {
    const doc = edited(rec, 0, rec.zones[0]!.rate.kgNHa + 20);
    const applied = fieldSpread(doc);
    expect(applied).toEqual(spreadTotals(doc));
    expect(applied.nKg).toBeCloseTo(
      byHand(doc, (z) => z.edited?.kgNHa ?? z.rate.kgNHa),
      2,
    );
    expect(applied.nKg).toBeGreaterThan(fieldSpread(rec).nKg);
    // As recommended: the document before the edit, the rest at the mean of the recommended rates.
    expect(fieldSpread(doc, 'recommended')).toEqual(fieldSpread(rec));
    // The mean the rest gets is the prescriptions' default rate (protocol defaultRate).
    const mean = defaultRate(doc.zones).kgNHa;
    expect(applied.nKg).toBeCloseTo(
      doc.zones.reduce((s, z) => s + (z.edited?.kgNHa ?? z.rate.kgNHa) * z.areaHa, 0) + mean * applied.restHa,
      2,
    );
  });

  it('counts the economic optimum the same way, whatever the edits', () => {
    const doc = edited(rec, 1, 0);
    const optimum = fieldSpread(doc, 'optimum');
    expect(optimum.nKg).toBeCloseTo(
      byHand(doc, (z) => z.economicOptimum.kgNHa),
      2,
    );
    expect(optimum.productKg).toBeCloseTo(
      spreadTotals({
        coverage: doc.coverage,
        zones: doc.zones.map((z) => ({
          ...z,
          edited: undefined,
          rate: { ...z.rate, kgNHa: z.economicOptimum.kgNHa, productKgHa: z.economicOptimum.productKgHa },
        })),
      }).productKg,
      2,
    );
    expect(optimum.restHa).toBe(fieldSpread(doc).restHa);
  });

  it('is the zones’ own totals when they cover the whole field', () => {
    const whole = { ...structuredClone(rec), coverage: undefined };
    const spread = fieldSpread(whole);
    expect(spread.restHa).toBe(0);
    expect(spread.nKg).toBe(fieldTotals(whole).totals.nKg);
    expect(spread.productKg).toBe(fieldTotals(whole).totals.productKg);
  });
});
