// A recommendation whose every zone gets no fertilizer carries no N, no product and no cost: the
// demo paddy's top-dressing from its panicle-initiation pass (sim/demo-farm.yaml, scene of
// 2026-07-19, the real rice model in the inference pool) — SPAD above 30 in all three zones — in
// edge/recommend's totals and economic optimum, the review's totals (recommended and applied) and
// what the prescription spreads. The demo audit read 0.11 kg N, ¥82 cost and −¥82 margin on it: those
// are the figures of an officer's edit of the one-pixel zone 1 (0.0103 ha) to 1 kg N/10a (50 kg/ha of
// ammonium sulfate: 10.5 kg N/ha; ¥3,000 of product + ¥5,000 application per ha), whose gain is 0
// because the model's own rate there is 0 (linear-plateau) — the applied economics, not a rounding.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { applyRate } from '../../edge/recommend/rates.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import { spreadTotals, type Recommendation } from '../../protocol/recommendation.ts';
import { appliedEconomics, fieldTotals, recommendedEconomics } from '../../dashboard/review/totals.ts';
import { DEMO_PI_SCENE } from '../../cli/start.ts';
import { processDemoScene } from '../e2e/seed.ts';
import { demoManifest } from '../helpers/stack.ts';

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
const profile = reg.profile('rice-koshihikari');
const ZERO = { nKg: 0, productKg: 0, yieldGainKg: 0, gainYen: 0, costYen: 0, marginYen: 0 };
let pool: InferencePool;
let dir: string;
let rec: Recommendation;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-zero-rate-'));
  const manifest = demoManifest();
  const paddy = manifest.fields.find((f) => f.id === 'paddy-1')!;
  const { zones } = await processDemoScene(manifest, DEMO_PI_SCENE, dir);
  pool = await InferencePool.start({ size: 1 });
  await pool.load(reg.load('rice-pi-topdress-ndvi@1.1.0'));
  const scouted = (name: string) => {
    const o = paddy.observations![name]!;
    return { value: o.value, time: Date.parse(`${o.date}T00:00:00Z`), source: `field observation ${o.date}` };
  };
  rec = await recommend(pool, {
    farm: 'demo-farm',
    field: 'paddy-1',
    card: reg.entry('rice-pi-topdress-ndvi').card,
    profile,
    zones: { ...zones, features: zones.features.filter((f) => f.properties.fieldId === 'paddy-1') },
    boundary: paddy.boundary!,
    fieldAttributes: { plant_height_cm: scouted('plant_height_cm'), stems_per_m2: scouted('stems_per_m2') },
    now: Date.parse('2026-12-05T02:45:00Z'),
    by: 'test',
  });
}, 120_000);

afterAll(async () => {
  await pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a recommendation of no fertilizer in every zone', () => {
  it('is what the demo paddy gets from its panicle-initiation pass', () => {
    expect(rec.zones.length).toBeGreaterThanOrEqual(3);
    for (const z of rec.zones) {
      expect(z.outputs.spad).toBeGreaterThan(30); // Koshihikari: top-dress only at SPAD ≤ 30
      expect(z.rate).toMatchObject({ modelKgNHa: 0, kgNHa: 0, productKgHa: 0 });
      expect(z.economics).toEqual({ yieldGainKgHa: 0, gainYenHa: 0, costYenHa: 0, marginYenHa: 0 });
    }
  });

  it('carries no N, product, cost or margin in any total', () => {
    expect(rec.totals).toMatchObject(ZERO);
    expect(rec.totals.areaHa).toBeGreaterThan(0);
    expect(rec.economics.economicOptimum).toMatchObject(ZERO);
    expect(fieldTotals(rec, 'recommended').totals).toMatchObject(ZERO);
    expect(fieldTotals(rec, 'applied').totals).toMatchObject(ZERO);
    const money = { nKg: 0, productKg: 0, costYen: 0, gainYen: 0, marginYen: 0 };
    expect(recommendedEconomics(rec)).toEqual(money);
    expect(appliedEconomics(rec)).toEqual(money);
    // The part under the cloud gets the zones' mean rate: nothing either.
    expect(rec.coverage!.uncoveredAreaHa).toBeGreaterThan(0);
    expect(spreadTotals(rec)).toMatchObject({ nKg: 0, productKg: 0 });
  });

  it('shows the audit’s 0.11 kg N, ¥82 and −¥82 only once an officer edits its smallest zone to 1 kg N/10a', () => {
    const doc = structuredClone(rec);
    const small = doc.zones.reduce((a, b) => (b.areaHa < a.areaHa ? b : a));
    expect(small.areaHa).toBeCloseTo(0.0103, 4);
    const r = applyRate(10, profile); // 1 kg N/10a → 50 kg/ha of 21 % N on the 5 kg step
    expect(r).toMatchObject({ kgNHa: 10.5, productKgHa: 50 });
    small.edited = { kgNHa: r.kgNHa, productKgHa: r.productKgHa, by: 'officer', at: 1, reason: 'pale' };
    expect(appliedEconomics(doc)).toEqual({
      nKg: 0.11,
      productKg: 0.51,
      costYen: 82,
      gainYen: 0,
      marginYen: -82,
    });
    expect(recommendedEconomics(doc)).toEqual({ nKg: 0, productKg: 0, costYen: 0, gainYen: 0, marginYen: 0 });
  });
});
