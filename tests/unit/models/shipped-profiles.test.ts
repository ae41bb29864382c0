// The shipped SBNRC profiles that no other test runs — corn OSU 2004 and winter wheat OSU 2007 with
// the adjusted response index — through the real path (registry → inference pool → ONNX graph →
// recommend), held to rates worked out by hand from ../shared/AGRONOMY.md's constants and to the
// TypeScript reference; their constants held to AGRONOMY.md's, read from that file. Then the
// economic optimum of N-rate models (SBNRC, Holland–Schepers, rice top-dressing): linear-plateau,
// so it is either no fertilizer or the model's rate — a profile copy whose pass of the spreader
// costs more than the gain picks 0 and leaves the recommended rate alone; the shipped economics
// pick the model's rate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CropProfile } from '../../../protocol/crop-profile.ts';
import { Recommendation } from '../../../protocol/recommendation.ts';
import { validator } from '../../../protocol/validate.ts';
import { ModelRegistry } from '../../../edge/inference/registry.ts';
import { InferencePool } from '../../../edge/inference/pool.ts';
import { recommend } from '../../../edge/recommend/recommend.ts';
import { CALIBRATIONS } from '../../../models/published/rice-topdress.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../../models/paths.ts';
import { sbnrcWithProfile } from './reference/sbnrc.ts';

const AGRONOMY = join(import.meta.dirname, '../../../../shared/AGRONOMY.md');
const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
const NOW = Date.parse('2026-06-20T00:00:00Z');
const ACQUIRED = '2026-06-19T01:30:00Z';
const SBNRC = 'osu-sbnrc@1.0.0';
const HS = 'holland-schepers-si@1.0.0';
const RICE = 'rice-pi-topdress-ndvi@1.1.0';
let pool: InferencePool;

beforeAll(async () => {
  pool = await InferencePool.start({ size: 1 });
  for (const ref of [SBNRC, HS, RICE]) await pool.load(reg.load(ref));
});
afterAll(async () => {
  await pool?.close();
});

/** One-field zones.geojson: one 100 m × 80 m rectangle per zone near Sapporo, with these index means. */
function zones(indices: Record<string, number>[], attributes: Record<string, number>[] = []) {
  const x0 = 141.35;
  const y0 = 43.06;
  const dx = 100 / (111_320 * Math.cos((y0 * Math.PI) / 180));
  const dy = 80 / 110_950;
  return {
    type: 'FeatureCollection',
    schema: 'hatake.imagery.zones/1',
    features: indices.map((idx, k) => ({
      type: 'Feature',
      id: `f1-z${k + 1}`,
      geometry: {
        type: 'MultiPolygon',
        coordinates: [
          [
            [
              [x0 + k * dx, y0],
              [x0 + (k + 1) * dx, y0],
              [x0 + (k + 1) * dx, y0 + dy],
              [x0 + k * dx, y0 + dy],
              [x0 + k * dx, y0],
            ],
          ],
        ],
      },
      properties: {
        fieldId: 'f1',
        sceneId: 'S2B_20260619',
        acquired: ACQUIRED,
        zone: k + 1,
        k: indices.length,
        zoningIndex: Object.keys(idx)[0],
        pixels: 80,
        areaHa: 0.8,
        validFraction: 1,
        fieldValidFraction: 1,
        indices: Object.fromEntries(
          Object.entries(idx).map(([name, mean]) => [
            name,
            {
              mean,
              median: mean,
              p10: mean - 0.02,
              p90: mean + 0.02,
              std: 0.01,
              min: mean - 0.04,
              max: mean + 0.04,
              count: 80,
              validFraction: 1,
            },
          ]),
        ),
        ...(attributes[k] ? { attributes: attributes[k] } : {}),
      },
    })),
  };
}

/** An SBNRC recommendation with an N-rich strip, as the gateway makes one. */
function sbnrcRec(profile: CropProfile, ndvi: number[], ndviRef: number, days: number) {
  return recommend(pool, {
    farm: 'demo-farm',
    card: reg.entry(SBNRC).card,
    profile,
    zones: zones(ndvi.map((v) => ({ ndvi: v }))),
    fieldAttributes: {
      days_gdd_positive: { value: days, time: NOW - 3600_000, source: 'planting record + weather station' },
    },
    reference: { kind: 'n_rich_strip', values: { ndvi: ndviRef }, time: NOW, source: 'N-rich strip' },
    now: NOW,
    by: 'test',
  });
}

/** A corn Holland–Schepers recommendation (NDRE, N-rich strip 0.45, 40 kg pre-plant N, 10 kg credit). */
function hsRec(profile: CropProfile) {
  return recommend(pool, {
    farm: 'demo-farm',
    card: reg.entry(HS).card,
    profile,
    zones: zones([{ ndre: 0.4 }]),
    fieldAttributes: {
      n_preplant_kg_ha: { value: 40, time: NOW, source: 'farm diary' },
      n_credit_kg_ha: { value: 10, time: NOW, source: 'soybean credit' },
    },
    reference: { kind: 'n_rich_strip', values: { ndre: 0.45 }, time: NOW, source: 'N-rich strip' },
    now: NOW,
    by: 'test',
  });
}

/** A rice top-dressing recommendation at SPAD 27.8 (≤ 30), 64 cm, 430 stems/m² (no lodging). */
function riceRec(profile: CropProfile) {
  const cal = CALIBRATIONS.find((c) => c.index === 'ndvi')!;
  const ndvi = 0.55;
  expect(cal.intercept + cal.slope * ndvi).toBeCloseTo(27.8, 6); // 8 + 36 · 0.55
  return recommend(pool, {
    farm: 'demo-farm',
    card: reg.entry(RICE).card,
    profile,
    zones: zones([{ ndvi }], [{ plant_height_cm: 64, stems_per_m2: 430 }]),
    now: NOW,
    by: 'test',
  });
}

/** The SBNRC library lines of AGRONOMY.md: "winter wheat 2007: a = …" and "corn 2004: a = …". */
function agronomySbnrc() {
  const text = readFileSync(AGRONOMY, 'utf8');
  const num = String.raw`(-?\d+(?:\.\d+)?)`;
  const wheat = new RegExp(
    String.raw`winter wheat 2007: a = ${num}, b = ${num}, RI adjustment RI′ = ${num}·RI − ${num}`,
  ).exec(text);
  const corn = new RegExp(String.raw`corn 2004: a = ${num}, b = ${num}, RI′ = ${num}·RI − ${num}`).exec(text);
  const wheatN = new RegExp(String.raw`wheat: ${num} / ${num} or ${num} / ${num}`).exec(text);
  const cornN = new RegExp(String.raw`corn:\s+${num} / ${num}–${num}`).exec(text);
  if (!wheat || !corn || !wheatN || !cornN)
    throw new Error(`the SBNRC constants were not found in ${AGRONOMY}`);
  const n = (m: RegExpExecArray) => m.slice(1).map(Number);
  const [wa, wb, ws, wi] = n(wheat);
  const [ca, cb, cs, ci] = n(corn);
  const [, , wGrainN, wNue] = n(wheatN);
  const [cGrainN, cNueLo, cNueHi] = n(cornN);
  return {
    wheat: { a: wa!, b: wb!, riSlope: ws!, riIntercept: -wi!, grainN: wGrainN!, nue: wNue! },
    corn: { a: ca!, b: cb!, riSlope: cs!, riIntercept: -ci!, grainN: cGrainN!, nue: [cNueLo!, cNueHi!] },
  };
}

describe('shipped SBNRC profiles follow AGRONOMY.md', () => {
  it('corn-osu-2004 and winter-wheat-osu-2007-adjusted carry the library constants', () => {
    const doc = agronomySbnrc();
    // what the regular expressions read, so a misparse cannot pass silently
    expect(doc.corn).toEqual({
      a: 1565,
      b: 154.7,
      riSlope: 1.64,
      riIntercept: -0.5287,
      grainN: 0.0125,
      nue: [0.5, 0.6],
    });
    expect(doc.wheat).toEqual({
      a: 590,
      b: 258.2,
      riSlope: 1.69,
      riIntercept: -0.7,
      grainN: 0.024,
      nue: 0.6,
    });

    const corn = reg.profile('corn-osu-2004');
    expect(corn.crop).toBe('corn');
    expect(corn.sbnrc).toMatchObject({
      a: doc.corn.a,
      b: doc.corn.b,
      adjustRi: true,
      riSlope: doc.corn.riSlope,
      riIntercept: doc.corn.riIntercept,
      grainN: doc.corn.grainN,
      inseyBasis: 'days', // the coefficients below are for INSEY per day, as the model computes it
    });
    expect(corn.sbnrc!.nue).toBeGreaterThanOrEqual(doc.corn.nue[0]!);
    expect(corn.sbnrc!.nue).toBeLessThanOrEqual(doc.corn.nue[1]!);

    const wheat = reg.profile('winter-wheat-osu-2007-adjusted');
    expect(wheat.crop).toBe('winter-wheat');
    expect(wheat.sbnrc).toMatchObject({
      a: doc.wheat.a,
      b: doc.wheat.b,
      adjustRi: true,
      riSlope: doc.wheat.riSlope,
      riIntercept: doc.wheat.riIntercept,
      grainN: doc.wheat.grainN,
      nue: doc.wheat.nue,
      inseyBasis: 'days',
    });
  });

  it('corn-osu-2004: NDVI 0.6, N-rich 0.75, 60 days → 78.89 kg N/ha (YPN capped at the N-rich strip’s YP)', async () => {
    // By hand, AGRONOMY.md corn 2004 (a 1565, b 154.7, RI′ = 1.64·RI − 0.5287), grainN 0.0125, NUE 0.55:
    //   INSEY = 0.6 / 60 = 0.01;  YP0 = 1565 · e^(154.7 · 0.01) = 1565 · 4.69736 = 7351.36 kg/ha
    //   RI = 0.75 / 0.6 = 1.25;   RI′ = 1.64 · 1.25 − 0.5287 = 1.5213;  YP0 · RI′ = 11183.63
    //   YP of the N-rich strip = 1565 · e^(154.7 · 0.75 / 60) = 1565 · e^1.93375 = 10822.59
    //   YPN = min(11183.63, 15000, 10822.59) = 10822.59;  gain = 3471.23 kg/ha
    //   N = 3471.23 · 0.0125 / 0.55 = 78.892 kg N/ha
    const profile = reg.profile('corn-osu-2004');
    const rec = await sbnrcRec(profile, [0.6], 0.75, 60);
    expect(validator(Recommendation).problems(rec)).toEqual([]);
    expect(rec.profile).toEqual({ id: 'corn-osu-2004', version: '1.0.0' });
    const z = rec.zones[0]!;
    expect(z.outputs.ri).toBeCloseTo(1.5213, 4);
    expect(z.outputs.yp0).toBeCloseTo(7351.36, 1);
    expect(z.outputs.ypn).toBeCloseTo(10822.59, 1);
    expect(z.outputs.yield_gain).toBeCloseTo(3471.23, 1);
    expect(z.rate.modelKgNHa).toBeCloseTo(78.892, 3);
    expect(z.rate.modelKgNHa).toBeCloseTo(sbnrcWithProfile(profile.sbnrc!, 0.6, 0.75, 60), 5);
    // urea 46 % on a 10 kg step: 78.892 / 0.46 = 171.5 → 170 kg urea = 78.2 kg N/ha
    expect(z.rate).toMatchObject({ productKgHa: 170, kgNHa: 78.2, clamped: null });
    expect(rec.inputs.find((i) => i.name === 'a')).toMatchObject({
      value: 1565,
      source: 'profile corn-osu-2004@1.0.0 sbnrc.a',
    });
  });

  it('winter-wheat-osu-2007-adjusted: AGRONOMY.md’s example with RI′ → 59.72 kg N/ha (raw RI gives 36.06)', async () => {
    // By hand, AGRONOMY.md's worked example (wheat 2007, grainN 0.024, NUE 0.6, NDVI 0.54, N-rich
    // 0.70, 85 days) with the adjusted RI:
    //   INSEY = 0.54 / 85 = 0.0063529;  YP0 = 590 · e^(258.2 · 0.0063529) = 3042.55 kg/ha
    //   RI = 0.70 / 0.54 = 1.296296;   RI′ = 1.69 · 1.296296 − 0.70 = 1.490741;  YP0 · RI′ = 4535.66
    //   YP of the N-rich strip = 590 · e^(258.2 · 0.70 / 85) = 4946.70;  YP_MAX 6000
    //   YPN = 4535.66;  gain = 1493.10 kg/ha;  N = 1493.10 · 0.024 / 0.6 = 59.724 kg N/ha
    const adjusted = reg.profile('winter-wheat-osu-2007-adjusted');
    const rec = await sbnrcRec(adjusted, [0.54], 0.7, 85);
    expect(validator(Recommendation).problems(rec)).toEqual([]);
    expect(rec.profile).toEqual({ id: 'winter-wheat-osu-2007-adjusted', version: '1.0.0' });
    const z = rec.zones[0]!;
    expect(z.outputs.ri).toBeCloseTo(1.490741, 5);
    expect(z.outputs.yp0).toBeCloseTo(3042.55, 1);
    expect(z.outputs.ypn).toBeCloseTo(4535.66, 1);
    expect(z.rate.modelKgNHa).toBeCloseTo(59.724, 3);
    expect(z.rate.modelKgNHa).toBeCloseTo(sbnrcWithProfile(adjusted.sbnrc!, 0.54, 0.7, 85), 5);
    // urea on a 5 kg step: 59.724 / 0.46 = 129.8 → 130 kg urea = 59.8 kg N/ha
    expect(z.rate).toMatchObject({ productKgHa: 130, kgNHa: 59.8, clamped: null });

    // the same inputs with the raw-RI profile give AGRONOMY.md's 36.06: the adjustment is what differs
    const raw = await sbnrcRec(reg.profile('winter-wheat-osu-2007'), [0.54], 0.7, 85);
    expect(raw.zones[0]!.rate.modelKgNHa).toBeCloseTo(36.06, 2);
  });

  it('agrees with the TypeScript reference across a spread of zones for both profiles', async () => {
    for (const [id, ndvi, ref, days] of [
      ['corn-osu-2004', [0.35, 0.5, 0.62, 0.7, 0.78], 0.8, 45],
      ['corn-osu-2004', [0.3, 0.45, 0.6], 0.7, 120],
      ['winter-wheat-osu-2007-adjusted', [0.3, 0.45, 0.6, 0.72], 0.75, 60],
      ['winter-wheat-osu-2007-adjusted', [0.4, 0.55, 0.65], 0.7, 140],
    ] as const) {
      const profile = reg.profile(id);
      const rec = await sbnrcRec(profile, [...ndvi], ref, days);
      rec.zones.forEach((z, k) => {
        const expected = sbnrcWithProfile(profile.sbnrc!, ndvi[k]!, ref, days);
        expect(z.rate.modelKgNHa, `${id} NDVI ${ndvi[k]} ref ${ref} ${days} d`).toBeCloseTo(expected, 5);
      });
      // the greenest zone needs least, never more than a paler one
      const rates = rec.zones.map((z) => z.rate.modelKgNHa);
      for (let k = 1; k < rates.length; k++) expect(rates[k]!).toBeLessThanOrEqual(rates[k - 1]! + 1e-9);
      expect(rates[0]!).toBeGreaterThan(0);
    }
  });
});

/** A copy of a shipped profile whose pass of the spreader costs this much (¥/ha), still a valid profile. */
function withApplicationCost(id: string, yenPerHa: number): CropProfile {
  const p = structuredClone(reg.profile(id));
  p.economics.applicationYenPerHa = yenPerHa;
  expect(validator(CropProfile).problems(p)).toEqual([]);
  return p;
}

describe('economic optimum of N-rate models: no fertilizer or the model’s rate', () => {
  const cases = [
    // [model, profile, make the recommendation, application cost that outweighs the gain (¥/ha)]
    ['SBNRC', 'corn-osu-2004', (p: CropProfile) => sbnrcRec(p, [0.6], 0.75, 60), 1_000_000],
    ['Holland–Schepers', 'corn-holland-schepers', hsRec, 1_000_000],
    ['rice top-dressing', 'rice-koshihikari', riceRec, 1_000_000],
  ] as const;

  it.each(cases)(
    '%s (%s): a spreader pass dearer than the gain makes 0 the optimum, the recommended rate unchanged',
    async (_model, id, make, dear) => {
      const shipped = await make(reg.profile(id));
      const rec = await make(withApplicationCost(id, dear));
      const z = rec.zones[0]!;
      const base = shipped.zones[0]!;
      expect(z.rate.productKgHa).toBeGreaterThan(0);
      expect(z.rate).toEqual(base.rate); // economics never move the recommended rate
      expect(z.economics.costYenHa).toBe(Math.round(z.rate.productKgHa * rec.product.priceYenPerKg + dear));
      expect(z.economics.marginYenHa).toBeLessThan(0);
      expect(z.economicOptimum).toEqual({
        kgNHa: 0,
        productKgHa: 0,
        economics: { yieldGainKgHa: 0, gainYenHa: 0, costYenHa: 0, marginYenHa: 0 },
      });
      expect(rec.economics.economicOptimum).toMatchObject({ nKg: 0, productKg: 0, costYen: 0, marginYen: 0 });
      expect(rec.totals.productKg).toBeGreaterThan(0);
      expect(rec.notes.map((n) => n.code)).toContain('economic_optimum');
    },
  );

  it('SBNRC corn-osu-2004 as shipped: the model’s rate wins, by a margin worked out by hand', async () => {
    const rec = await sbnrcRec(reg.profile('corn-osu-2004'), [0.6], 0.75, 60);
    const z = rec.zones[0]!;
    // yield gain per kg N = 3471.23 / 78.892 = 44.0 kg/kg; at the applied 78.2 kg N: 3440.8 kg/ha
    // gain 3440.8 · 45 ¥ = 154,836 ¥; cost 170 kg urea · 130 ¥ + 3000 ¥ = 25,100 ¥; margin 129,736 ¥
    expect(z.economics.yieldGainKgHa).toBeCloseTo(3440.77, 0);
    expect(z.economics.costYenHa).toBe(25_100);
    expect(Math.abs(z.economics.marginYenHa - 129_736)).toBeLessThanOrEqual(30);
    expect(z.economicOptimum.productKgHa).toBe(z.rate.productKgHa);
    expect(z.economicOptimum.kgNHa).toBeCloseTo(z.rate.kgNHa, 6);
    expect(z.economicOptimum.economics).toEqual(z.economics);
    expect(rec.economics.basis).toBe('model_yield_gain');
  });

  it('Holland–Schepers corn as shipped: the model’s rate wins (agronomic efficiency)', async () => {
    const rec = await hsRec(reg.profile('corn-holland-schepers'));
    const z = rec.zones[0]!;
    // SI = 0.40 / 0.45 = 0.8889 (≥ 1 − ΔSI 0.8: no clamp); N = (180 − 40 − 10) · √((1 − 0.8889) / 0.2)
    //   = 130 · 0.745356 = 96.896 kg N/ha → 460 kg ammonium sulfate (10 kg step) = 96.6 kg N/ha
    // gain 20 kg/kg N · 96.6 · 45 ¥ = 86,940 ¥; cost 460 · 60 + 3000 = 30,600 ¥; margin 56,340 ¥
    expect(z.rate.modelKgNHa).toBeCloseTo(96.896, 3);
    expect(z.rate).toMatchObject({ productKgHa: 460, kgNHa: 96.6 });
    expect(z.economics).toEqual({
      yieldGainKgHa: 1932,
      gainYenHa: 86_940,
      costYenHa: 30_600,
      marginYenHa: 56_340,
    });
    expect(z.economicOptimum).toEqual({ kgNHa: 96.6, productKgHa: 460, economics: z.economics });
    expect(rec.economics.basis).toBe('agronomic_efficiency');
  });

  it('rice-koshihikari as shipped: the model’s rate wins (agronomic efficiency)', async () => {
    const rec = await riceRec(reg.profile('rice-koshihikari'));
    const z = rec.zones[0]!;
    // SPAD 27.8 ≤ 30, 64 cm → 1.0 kg N/10a = 10 kg N/ha → 10 / 0.21 = 47.6 → 50 kg ammonium
    // sulfate (5 kg step) = 10.5 kg N/ha. The gain stops at the model's 10 kg N (linear-plateau):
    // 15 kg/kg N · 10 = 150 kg · 300 ¥ = 45,000 ¥; cost 50 · 60 + 5000 = 8,000 ¥; margin 37,000 ¥
    expect(z.outputs.n_rate_10a).toBe(1);
    expect(z.rate).toMatchObject({ modelKgNHa: 10, productKgHa: 50, kgNHa: 10.5 });
    expect(z.economics).toEqual({
      yieldGainKgHa: 150,
      gainYenHa: 45_000,
      costYenHa: 8_000,
      marginYenHa: 37_000,
    });
    expect(z.economicOptimum).toEqual({ kgNHa: 10.5, productKgHa: 50, economics: z.economics });
  });
});
