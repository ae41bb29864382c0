// The vegetation index formulas of edge/imagery/indices.ts against values worked out by hand from
// the definitions in ../shared/AGRONOMY.md, the cases where a formula has no value (0/0, x/0),
// and the pipeline computing an index only where the mask passes, the bands hold data and the
// result is finite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INDICES, indexById, resolveInputs } from '../../../edge/imagery/indices.ts';
import { profileById } from '../../../edge/imagery/profiles.ts';
import { Scene } from '../../../edge/imagery/scene.ts';
import { processScene } from '../../../edge/imagery/process.ts';
import { parseFields } from '../../../edge/imagery/fields.ts';
import type { BandRole, SceneStats } from '../../../protocol/imagery.ts';
import { rectFields, tiff } from './fixtures.ts';

type Refl = { blue: number; green: number; red: number; re: number; nir: number };

/** Each index's inputs from a set of band reflectances. */
function inputsOf(id: string, r: Refl): Record<string, number> {
  const def = indexById(id)!;
  const by: Record<string, number> = { ...r };
  return Object.fromEntries(Object.keys(def.inputs).map((v) => [v, by[v]!]));
}
const value = (id: string, r: Refl) => indexById(id)!.compute(inputsOf(id, r));

// Dense canopy: blue 0.04, green 0.08, red 0.05, red edge 0.15, NIR 0.40.
const CANOPY: Refl = { blue: 0.04, green: 0.08, red: 0.05, re: 0.15, nir: 0.4 };
const CANOPY_EXPECTED = {
  ndvi: 0.7777778, //  (0.40 − 0.05) / (0.40 + 0.05) = 0.35 / 0.45
  ndre: 0.4545455, //  (0.40 − 0.15) / (0.40 + 0.15) = 0.25 / 0.55
  gndvi: 0.6666667, // (0.40 − 0.08) / (0.40 + 0.08) = 0.32 / 0.48
  savi: 0.5526316, //  1.5 · 0.35 / (0.45 + 0.5) = 0.525 / 0.95
  evi: 0.625, //       2.5 · 0.35 / (0.40 + 0.30 − 0.30 + 1) = 0.875 / 1.4
  cire: 1.6666667, //  0.40 / 0.15 − 1
};
// Sparse cover on bright soil: blue 0.10, green 0.12, red 0.20, red edge 0.22, NIR 0.25.
const SOIL: Refl = { blue: 0.1, green: 0.12, red: 0.2, re: 0.22, nir: 0.25 };
const SOIL_EXPECTED = {
  ndvi: 0.1111111, //  0.05 / 0.45
  ndre: 0.0638298, //  0.03 / 0.47
  gndvi: 0.3513514, // 0.13 / 0.37
  savi: 0.0789474, //  1.5 · 0.05 / 0.95 = 0.075 / 0.95
  evi: 0.0735294, //   2.5 · 0.05 / (0.25 + 1.20 − 0.75 + 1) = 0.125 / 1.7
  cire: 0.1363636, //  0.25 / 0.22 − 1
};

describe('index formulas (AGRONOMY.md)', () => {
  it('has exactly the six documented indices', () => {
    expect(INDICES.map((d) => d.id).sort()).toEqual(['cire', 'evi', 'gndvi', 'ndre', 'ndvi', 'savi']);
  });

  it('gives the hand-computed values for a dense canopy', () => {
    for (const [id, v] of Object.entries(CANOPY_EXPECTED)) expect(value(id, CANOPY), id).toBeCloseTo(v, 7);
  });

  it('gives the hand-computed values for sparse cover on soil', () => {
    for (const [id, v] of Object.entries(SOIL_EXPECTED)) expect(value(id, SOIL), id).toBeCloseTo(v, 7);
  });

  it("reproduces AGRONOMY.md's worked example: reflectance 0.04 / 0.30 → NDVI 0.7647", () => {
    expect(indexById('ndvi')!.compute({ red: 0.04, nir: 0.3 })).toBeCloseTo(0.7647, 4);
  });

  it('has no finite value where a ratio divides by zero', () => {
    const zero: Refl = { blue: 0, green: 0, red: 0, re: 0, nir: 0 };
    // 0 / 0 for the normalised differences and CIre (0 / 0 − 1) …
    for (const id of ['ndvi', 'ndre', 'gndvi', 'cire'])
      expect(Number.isFinite(value(id, zero)), id).toBe(false);
    // … while SAVI's 0.5 and EVI's 1 keep their denominators away from zero: 0 / 0.5 and 0 / 1.
    expect(value('savi', zero)).toBe(0);
    expect(value('evi', zero)).toBe(0);
    // CIre with no red-edge signal: 0.40 / 0 − 1.
    expect(Number.isFinite(value('cire', { ...CANOPY, re: 0 }))).toBe(false);
    // EVI's denominator 0.875 + 6·0 − 7.5·0.25 + 1 = 0 (a bright-blue pixel, e.g. haze).
    expect(Number.isFinite(value('evi', { ...CANOPY, red: 0, blue: 0.25, nir: 0.875 }))).toBe(false);
  });

  it('prefers B8A (nir08) for NDRE and falls back to B8', () => {
    const ndre = indexById('ndre')!;
    const all = new Set<BandRole>(['red', 'rededge', 'nir', 'nir08']);
    expect(resolveInputs(ndre, (r) => all.has(r))).toEqual({ nir: 'nir08', re: 'rededge' });
    all.delete('nir08');
    expect(resolveInputs(ndre, (r) => all.has(r))).toEqual({ nir: 'nir', re: 'rededge' });
    all.delete('rededge');
    expect(resolveInputs(ndre, (r) => all.has(r))).toBeUndefined();
  });
});

// A 6-band Sentinel-2-like scene, 8 × 8 pixels, one case per row; each row is its own field so
// stats.json gives each case's values and counts. DN = 1000 + reflectance · 10000 (baseline 04.00).
describe('indices in a processed scene: computed only where valid', () => {
  const W = 8;
  const dn = (refl: number) => Math.round(1000 + refl * 10000);
  type Row = { blue: number; green: number; red: number; re: number; nir: number; scl: number };
  const px = (r: Refl, scl: number): Row => ({
    blue: dn(r.blue),
    green: dn(r.green),
    red: dn(r.red),
    re: dn(r.re),
    nir: dn(r.nir),
    scl,
  });
  const rows: Row[] = [
    px(CANOPY, 4), //                                          0 vegetation
    px(SOIL, 5), //                                            1 not vegetated
    { ...px(CANOPY, 4), red: 0 }, //                           2 red is no data (DN 0)
    px(CANOPY, 9), //                                          3 cloud (SCL 9)
    px({ blue: 0, green: 0, red: 0, re: 0, nir: 0 }, 4), //    4 every reflectance 0
    px({ blue: 0.25, green: 0.1, red: 0, re: 0.25, nir: 0.875 }, 4), // 5 EVI's denominator 0
    px({ ...CANOPY, re: 0 }, 4), //                            6 red edge 0
    px(CANOPY, 6), //                                          7 water, masked by s2-l2a
  ];
  let dir: string;
  let stats: SceneStats;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-indices-'));
    const band = (k: keyof Row) => {
      const a = new Uint16Array(W * rows.length);
      rows.forEach((row, r) => a.fill(row[k], r * W, (r + 1) * W));
      return a;
    };
    const file = tiff(
      dir,
      'six.tif',
      (['blue', 'green', 'red', 're', 'nir', 'scl'] as const).map(band),
      W,
      rows.length,
    );
    const scene = await Scene.open({
      files: [file],
      profile: profileById('s2-l2a'),
      bands: { blue: 1, green: 2, red: 3, rededge: 4, nir: 5, scl: 6 },
      offset: -1000,
    });
    try {
      const fields = Object.fromEntries(
        rows.map((_, r) => [`row${r}`, [0.2, r + 0.2, W - 0.2, r + 0.8] as [number, number, number, number]]),
      );
      ({ stats } = await processScene(scene, parseFields(rectFields(fields), 'rows.geojson'), {
        outDir: join(dir, 'out'),
        maps: false,
      }));
    } finally {
      await scene.close();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const row = (r: number) => stats.fields[`row${r}`]!;
  const ids = ['ndvi', 'ndre', 'gndvi', 'savi', 'evi', 'cire'];

  it('computes all six indices, with the documented values, where everything is valid', () => {
    expect(stats.indices.map((i) => i.id)).toEqual(ids);
    for (const [r, expected] of [
      [0, CANOPY_EXPECTED],
      [1, SOIL_EXPECTED],
    ] as const) {
      expect(row(r).pixels).toBe(W);
      expect(row(r).validPixels).toBe(W);
      for (const [id, v] of Object.entries(expected)) {
        const s = row(r).indices[id]!;
        expect(s.count, `row ${r} ${id}`).toBe(W);
        expect(s.validFraction).toBe(1);
        expect(s.mean!, `row ${r} ${id}`).toBeCloseTo(v, 6);
        expect(s.std!).toBeCloseTo(0, 6);
      }
    }
  });

  it('computes nothing where a band is no data or the mask removes the pixel', () => {
    for (const r of [2, 3, 7]) {
      expect(row(r).pixels, `row ${r}`).toBe(W);
      expect(row(r).validPixels, `row ${r}`).toBe(0);
      expect(row(r).validFraction).toBe(0);
      for (const id of ids) {
        expect(row(r).indices[id], `row ${r} ${id}`).toMatchObject({
          count: 0,
          validFraction: 0,
          mean: null,
        });
      }
    }
  });

  it('leaves out, per index, the pixels where its formula divides by zero', () => {
    // Row 4: every reflectance 0 — only SAVI and EVI have a value (0).
    expect(row(4).validPixels).toBe(W);
    for (const id of ['ndvi', 'ndre', 'gndvi', 'cire']) {
      expect(row(4).indices[id], id).toMatchObject({ count: 0, mean: null });
    }
    expect(row(4).indices.savi).toMatchObject({ count: W, mean: 0 });
    expect(row(4).indices.evi).toMatchObject({ count: W, mean: 0 });

    // Row 5: blue 0.25, green 0.10, red 0, red edge 0.25, NIR 0.875 — no EVI.
    expect(row(5).indices.evi).toMatchObject({ count: 0, mean: null, validFraction: 0 });
    const r5 = {
      ndvi: 1, //          0.875 / 0.875
      ndre: 0.5555556, //  0.625 / 1.125
      gndvi: 0.7948718, // 0.775 / 0.975
      savi: 0.9545455, //  1.5 · 0.875 / 1.375
      cire: 2.5, //        0.875 / 0.25 − 1
    };
    for (const [id, v] of Object.entries(r5)) {
      expect(row(5).indices[id]!.count, id).toBe(W);
      expect(row(5).indices[id]!.mean!, id).toBeCloseTo(v, 6);
    }

    // Row 6: red edge 0 — no CIre; NDRE is (0.40 − 0) / (0.40 + 0) = 1; the rest as the canopy.
    expect(row(6).indices.cire).toMatchObject({ count: 0, mean: null });
    expect(row(6).indices.ndre!.mean!).toBeCloseTo(1, 6);
    expect(row(6).indices.ndvi!.mean!).toBeCloseTo(CANOPY_EXPECTED.ndvi, 6);
    expect(row(6).indices.evi!.mean!).toBeCloseTo(CANOPY_EXPECTED.evi, 6);
  });
});
