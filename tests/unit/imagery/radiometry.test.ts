// The Sentinel-2 baseline-04.00 offset: the same DNs give the documented NDVI with the offset and
// a different one without it, and the scene's metadata decides (AGRONOMY.md worked example).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baselineHasOffset, decideRadiometry } from '../../../edge/imagery/radiometry.ts';
import { profileById } from '../../../edge/imagery/profiles.ts';
import { Scene } from '../../../edge/imagery/scene.ts';
import { processScene } from '../../../edge/imagery/process.ts';
import { parseFields } from '../../../edge/imagery/fields.ts';
import { isHatakeError } from '../../../protocol/errors.ts';
import { filled, rectFields, tiff } from './fixtures.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-radiometry-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stac = (baseline: string | undefined, applied?: boolean) => ({
  type: 'Feature',
  stac_version: '1.0.0',
  id: 'S2B_54SUE_20260701_0_L2A',
  properties: {
    datetime: '2026-07-01T01:36:00Z',
    ...(baseline ? { 's2:processing_baseline': baseline } : {}),
    ...(applied !== undefined ? { 'earthsearch:boa_offset_applied': applied } : {}),
  },
});

/** NDVI of a 20×20 scene of DN B4 = 1400, B8 = 4000, given what sits beside it. */
async function ndviOf(beside: object | undefined, offset?: number): Promise<number> {
  const n = 20 * 20;
  const file = tiff(dir, 'clip.tif', [filled(n, 1400), filled(n, 4000)], 20, 20);
  if (beside) writeFileSync(join(dir, 'item.json'), JSON.stringify(beside));
  const scene = await Scene.open({
    files: [file],
    profile: profileById('s2-l2a'),
    bands: { red: 1, nir: 2 },
    offset,
  });
  try {
    const { stats } = await processScene(
      scene,
      parseFields(rectFields({ f: [2.3, 2.2, 17.6, 17.7] }), 'f.geojson'),
      {
        outDir: join(dir, 'out'),
        maps: false,
      },
    );
    return stats.fields.f!.indices.ndvi!.mean!;
  } finally {
    await scene.close();
  }
}

describe('Sentinel-2 radiometric offset', () => {
  it('gives NDVI 0.7647 for DN 1400/4000 when the STAC item says baseline 04.00', async () => {
    expect(await ndviOf(stac('04.00'))).toBeCloseTo(0.7647, 4);
  });

  it('gives NDVI 0.4815 for the same DNs when the STAC item says baseline 02.14', async () => {
    expect(await ndviOf(stac('02.14'))).toBeCloseTo(0.4815, 4);
  });

  it('adds no offset when the provider already applied it (earthsearch:boa_offset_applied)', async () => {
    expect(await ndviOf(stac('05.10', true))).toBeCloseTo(0.4815, 4);
  });

  it("lets the user's --offset override the metadata", async () => {
    expect(await ndviOf(stac('04.00'), 0)).toBeCloseTo(0.4815, 4);
    expect(await ndviOf(stac('02.14'), -1000)).toBeCloseTo(0.7647, 4);
  });

  it('refuses a scene whose offset nothing decides, naming the way out', async () => {
    const err = await ndviOf(undefined).catch((e: unknown) => e);
    expect(isHatakeError(err)).toBe(true);
    expect((err as Error & { code: string }).code).toBe('HATAKE_E_IMAGERY_RADIOMETRY');
    expect((err as Error).message).toMatch(/cannot tell the radiometric offset/);
    expect((err as { describe(): string }).describe()).toMatch(/clip\.tif.*--offset -1000/);
  });

  it('reads the baseline from a product name when there is no STAC item', () => {
    const r = decideRadiometry(profileById('s2-l2a'), {
      processingBaseline: '05.09',
      source: 'product name',
    });
    expect(r.offset).toBe(-1000);
    expect(r.offsetReason).toMatch(/05\.09/);
  });

  it('compares baselines numerically', () => {
    expect(baselineHasOffset('03.99')).toBe(false);
    expect(baselineHasOffset('04.00')).toBe(true);
    expect(baselineHasOffset('05.11')).toBe(true);
    expect(baselineHasOffset('N0400')).toBeUndefined();
  });

  it('uses a fixed-offset profile without asking (PlanetScope)', () => {
    const r = decideRadiometry(profileById('planetscope-4b'), {});
    expect(r).toMatchObject({ offset: 0, offsetSource: 'profile', scale: 1e-4 });
  });
});
