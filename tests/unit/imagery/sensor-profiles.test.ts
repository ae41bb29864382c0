// The Sentinel-2 profiles besides s2-l2a: s2-l2a-paddy keeps scene-classification class 6 (water)
// for paddies flooded at the time of the scene — the same water pixel s2-l2a masks is valid there,
// while cloud and shadow stay masked; s2-l1c has no SCL band and gets the baseline-04.00 offset
// (RADIO_ADD_OFFSET −1000) from the scene's metadata, a STAC item or the product name, and none
// before 04.00. Scenes written with the fixtures' GeoTIFF writer (indices.test.ts's approach).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profileById, SCL_KEEP_DEFAULT, SCL_KEEP_PADDY } from '../../../edge/imagery/profiles.ts';
import { Scene } from '../../../edge/imagery/scene.ts';
import { processScene } from '../../../edge/imagery/process.ts';
import { parseFields } from '../../../edge/imagery/fields.ts';
import type { SceneStats } from '../../../protocol/imagery.ts';
import { filled, rectFields, tiff } from './fixtures.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-sensor-profiles-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Refl = { blue: number; green: number; red: number; re: number; nir: number };
// A transplanted paddy under shallow water: blue 0.06, green 0.08, red 0.06, red edge 0.12, NIR 0.20
// → NDVI (0.20 − 0.06) / (0.20 + 0.06) = 0.14 / 0.26 = 0.5384615
const FLOODED: Refl = { blue: 0.06, green: 0.08, red: 0.06, re: 0.12, nir: 0.2 };
const FLOODED_NDVI = 0.5384615;
// Canopy: red 0.05, NIR 0.40 → NDVI 0.35 / 0.45 = 0.7777778
const CANOPY: Refl = { blue: 0.04, green: 0.08, red: 0.05, re: 0.15, nir: 0.4 };
const CANOPY_NDVI = 0.7777778;

/**
 * A square two-band clip (DN 1400 red, 4000 NIR) in its own folder with a STAC item beside it
 * naming the processing baseline and the product type.
 */
function stacScene(sub: string, side: number, baseline: string, productType: string): string {
  mkdirSync(join(dir, sub));
  const n = side * side;
  const file = tiff(join(dir, sub), 'clip.tif', [filled(n, 1400), filled(n, 4000)], side, side);
  writeFileSync(
    join(dir, sub, 'item.json'),
    JSON.stringify({
      type: 'Feature',
      stac_version: '1.0.0',
      id: `S2B_54SUE_20260701_0_${sub}`,
      properties: {
        datetime: '2026-07-01T01:36:00Z',
        's2:processing_baseline': baseline,
        's2:product_type': productType,
      },
    }),
  );
  return file;
}

describe('s2-l2a-paddy keeps water (SCL 6), s2-l2a masks it', () => {
  const W = 8;
  const dn = (refl: number) => Math.round(1000 + refl * 10000); // baseline 04.00 DNs
  const rows: (Refl & { scl: number })[] = [
    { ...CANOPY, scl: 4 }, //   0 vegetation: valid under both
    { ...FLOODED, scl: 6 }, //  1 water: the flooded paddy
    { ...FLOODED, scl: 9 }, //  2 cloud, high probability: masked under both
    { ...FLOODED, scl: 3 }, //  3 cloud shadow: masked under both
    { ...FLOODED, scl: 5 }, //  4 not vegetated: valid under both
  ];
  const stats: Record<string, SceneStats> = {};

  beforeAll(async () => {
    const band = (k: keyof Refl | 'scl') => {
      const a = new Uint16Array(W * rows.length);
      rows.forEach((row, r) => a.fill(k === 'scl' ? row.scl : dn(row[k]), r * W, (r + 1) * W));
      return a;
    };
    const file = tiff(
      dir,
      'paddy.tif',
      (['blue', 'green', 'red', 're', 'nir', 'scl'] as const).map(band),
      W,
      rows.length,
    );
    const fields = Object.fromEntries(
      rows.map((_, r) => [`row${r}`, [0.2, r + 0.2, W - 0.2, r + 0.8] as [number, number, number, number]]),
    );
    for (const id of ['s2-l2a', 's2-l2a-paddy']) {
      const scene = await Scene.open({
        files: [file],
        profile: profileById(id),
        bands: { blue: 1, green: 2, red: 3, rededge: 4, nir: 5, scl: 6 },
        offset: -1000,
      });
      try {
        ({ stats: stats[id]! } = await processScene(scene, parseFields(rectFields(fields), 'rows.geojson'), {
          outDir: join(dir, `out-${id}`),
          maps: false,
        }));
      } finally {
        await scene.close();
      }
    }
  });

  it('the two profiles differ only in the classes they keep', () => {
    expect(SCL_KEEP_DEFAULT).toEqual([4, 5]);
    expect(SCL_KEEP_PADDY).toEqual([4, 5, 6]);
    const { id: _a, name: _an, sclKeep: keepL2a, ...l2a } = profileById('s2-l2a');
    const { id: _b, name: _bn, sclKeep: keepPaddy, ...paddy } = profileById('s2-l2a-paddy');
    expect(paddy).toEqual(l2a);
    expect(keepL2a).toEqual([4, 5]);
    expect(keepPaddy).toEqual([4, 5, 6]);
    expect(stats['s2-l2a']!.scene.mask).toMatchObject({ kind: 'scl', keep: [4, 5] });
    expect(stats['s2-l2a-paddy']!.scene.mask).toMatchObject({ kind: 'scl', keep: [4, 5, 6] });
  });

  it('a water pixel is masked under s2-l2a', () => {
    const water = stats['s2-l2a']!.fields.row1!;
    expect(water.pixels).toBe(W);
    expect(water.validPixels).toBe(0);
    expect(water.indices.ndvi).toMatchObject({ count: 0, validFraction: 0, mean: null });
  });

  it('the same water pixel is valid under s2-l2a-paddy, with the flooded paddy’s NDVI', () => {
    const water = stats['s2-l2a-paddy']!.fields.row1!;
    expect(water.pixels).toBe(W);
    expect(water.validPixels).toBe(W);
    expect(water.validFraction).toBe(1);
    expect(water.indices.ndvi!.count).toBe(W);
    expect(water.indices.ndvi!.mean!).toBeCloseTo(FLOODED_NDVI, 6);
  });

  it('both keep vegetation and bare soil and mask cloud and shadow', () => {
    for (const id of ['s2-l2a', 's2-l2a-paddy']) {
      const f = stats[id]!.fields;
      expect(f.row0!.validPixels, id).toBe(W);
      expect(f.row0!.indices.ndvi!.mean!, id).toBeCloseTo(CANOPY_NDVI, 6);
      expect(f.row4!.validPixels, id).toBe(W);
      expect(f.row4!.indices.ndvi!.mean!, id).toBeCloseTo(FLOODED_NDVI, 6);
      for (const r of [2, 3]) {
        expect(f[`row${r}`]!.validPixels, `${id} row ${r}`).toBe(0);
        expect(f[`row${r}`]!.indices.ndvi!.mean, `${id} row ${r}`).toBeNull();
      }
    }
  });
});

describe('s2-l1c: top-of-atmosphere bands, offset by processing baseline', () => {
  // AGRONOMY.md's example: DN B4 = 1400, B8 = 4000 → with −1000: reflectance 0.04, 0.30 → NDVI
  // 0.26 / 0.34 = 0.7647; without: 0.14, 0.40 → NDVI 0.26 / 0.54 = 0.4815.
  const n = 20 * 20;
  const field = () => parseFields(rectFields({ f: [2.3, 2.2, 17.6, 17.7] }), 'f.geojson');

  async function run(sub: string, files: string[], bands?: { red: number; nir: number }) {
    const scene = await Scene.open({ files, profile: profileById('s2-l1c'), ...(bands ? { bands } : {}) });
    try {
      const { stats } = await processScene(scene, field(), { outDir: join(dir, sub, 'out'), maps: false });
      return { radiometry: scene.radiometry, stats };
    } finally {
      await scene.close();
    }
  }

  /** One two-band file with a STAC item beside it saying the baseline and that it is L1C. */
  async function withStac(sub: string, baseline: string) {
    return run(sub, [stacScene(sub, 20, baseline, 'S2MSI1C')], { red: 1, nir: 2 });
  }

  it('has no SCL band, so nothing is masked by class', () => {
    const p = profileById('s2-l1c');
    expect(p.bands.scl).toBeUndefined();
    expect(p.sclKeep).toBeUndefined();
    expect(p.offsetRule).toBe('s2-l2a-baseline');
  });

  it('gets −1000 at baseline 04.00 from a STAC item: NDVI 0.7647', async () => {
    const { radiometry, stats } = await withStac('stac-0400', '04.00');
    expect(radiometry).toMatchObject({ offset: -1000, offsetSource: 'metadata', scale: 1e-4 });
    expect(radiometry.offsetReason).toMatch(/processing baseline 04\.00 \(≥ 04\.00\)/);
    expect(stats.scene.profile).toBe('s2-l1c');
    expect(stats.scene.radiometry.offset).toBe(-1000);
    expect(stats.scene.mask.kind).toBe('none');
    expect(stats.fields.f!.validFraction).toBe(1);
    expect(stats.fields.f!.indices.ndvi!.mean!).toBeCloseTo(0.7647, 4);
  });

  it('gets no offset before 04.00 (02.14): NDVI 0.4815', async () => {
    const { radiometry, stats } = await withStac('stac-0214', '02.14');
    expect(radiometry).toMatchObject({ offset: 0, offsetSource: 'metadata' });
    expect(stats.fields.f!.indices.ndvi!.mean!).toBeCloseTo(0.4815, 4);
  });

  it('reads baseline 04.00 from L1C band file names (…_MSIL1C_…_N0400_…_B04.tif) without a STAC item', async () => {
    const sub = 'product-name';
    mkdirSync(join(dir, sub));
    const name = (b: string) => `S2A_MSIL1C_20260701T013701_N0400_R031_T54SUE_20260701T031542_${b}.tif`;
    const b04 = tiff(join(dir, sub), name('B04'), [filled(n, 1400)], 20, 20);
    const b08 = tiff(join(dir, sub), name('B08'), [filled(n, 4000)], 20, 20);
    const { radiometry, stats } = await run(sub, [b04, b08]);
    expect(radiometry).toMatchObject({ offset: -1000, offsetSource: 'metadata' });
    expect(radiometry.offsetReason).toMatch(/04\.00.*product name/);
    expect(Date.parse(stats.scene.acquired!)).toBe(Date.parse('2026-07-01T01:37:01Z'));
    expect(stats.fields.f!.indices.ndvi!.mean!).toBeCloseTo(0.7647, 4);
  });
});

describe('the product level the metadata names must be the profile’s', () => {
  async function open(sub: string, productType: string, profile: string) {
    const file = stacScene(sub, 10, '05.11', productType);
    const scene = await Scene.open({
      files: [file],
      profile: profileById(profile),
      bands: { red: 1, nir: 2 },
    });
    await scene.close();
  }

  it('refuses an L1C scene read as L2A surface reflectance, and an L2A scene read as L1C, naming the profiles that fit', async () => {
    await expect(open('l1c-as-l2a', 'S2MSI1C', 's2-l2a')).rejects.toMatchObject({
      code: 'HATAKE_E_IMAGERY_RADIOMETRY',
      message: expect.stringContaining('the scene is Sentinel-2 L1C') as unknown,
      expected: 'a profile for L1C: s2-l1c',
    });
    await expect(open('l2a-as-l1c', 'S2MSI2A', 's2-l1c')).rejects.toMatchObject({
      code: 'HATAKE_E_IMAGERY_RADIOMETRY',
      message: expect.stringContaining('but profile s2-l1c reads L1C') as unknown,
      expected: 'a profile for L2A: s2-l2a, s2-l2a-paddy',
    });
    // The matching level opens (the L2A profile wants its SCL band only when one is given).
    await expect(open('l2a-as-l2a', 'S2MSI2A', 's2-l2a')).resolves.toBeUndefined();
  });
});
