// Per-field NDVI statistics on real Sentinel-2 data agree with GDAL's to 1e-4, with and without
// the SCL mask, and every zone carries its field's 95th percentile (fieldP95) as stats.json has
// it. The reference is computed by Debian's GDAL Python bindings (in /usr/bin/python3) on the
// same files and the same GeoJSON (tests/helpers/gdal-reference.ts): OGR reprojects the fields,
// gdal.RasterizeLayer picks the pixels by centre-in-polygon, SCL is read resampled nearest onto
// the 10 m grid, numpy does the statistics — percentiles with numpy's default 'linear' method,
// position (n − 1)·q, which is hatake's definition. Pixel counts must match exactly.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scene } from '../../edge/imagery/scene.ts';
import { profileById } from '../../edge/imagery/profiles.ts';
import { processScene } from '../../edge/imagery/process.ts';
import { parseFields } from '../../edge/imagery/fields.ts';
import type { SceneStats, ZoneCollection } from '../../protocol/imagery.ts';
import {
  fieldsGeoJson,
  gdalReference,
  requireGdal,
  type GdalStats as Ref,
} from '../helpers/gdal-reference.ts';

const DATA = join(import.meta.dirname, '../../../shared/data/sentinel2');

function expectAgree(stats: SceneStats, ref: Record<string, Ref>, zones: ZoneCollection): void {
  for (const [id, r] of Object.entries(ref)) {
    const f = stats.fields[id]!;
    expect(f, id).toBeDefined();
    expect(f.pixels, `${id} pixels`).toBe(r.pixels);
    const s = f.indices.ndvi!;
    expect(s.count, `${id} count`).toBe(r.count);
    if (r.count === 0) continue;
    for (const k of ['mean', 'median', 'p10', 'p90', 'p95', 'std', 'min', 'max', 'validFraction'] as const) {
      expect(Math.abs((s[k] as number) - r[k]!), `${id} ${k}: hatake ${s[k]} GDAL ${r[k]}`).toBeLessThan(
        1e-4,
      );
    }
    // every zone of the field carries the field's p95 of every index, exactly as stats.json has it
    const own = zones.features.filter((z) => z.properties.fieldId === id);
    expect(own.length, `${id} zones`).toBe(f.zones);
    for (const z of own)
      expect(z.properties.fieldP95, `${z.id} fieldP95`).toEqual(
        Object.fromEntries(Object.entries(f.indices).map(([idx, st]) => [idx, st.p95])),
      );
  }
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-gdal-'));
  requireGdal();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('per-field NDVI agrees with GDAL on real Sentinel-2 data', () => {
  it('BigEarthNet L2A patch (one file per band), with a hole and a two-part field', async () => {
    const base = join(DATA, 'bigearthnet/S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85');
    const fieldsFile = join(dir, 'ben-fields.geojson');
    writeFileSync(
      fieldsFile,
      fieldsGeoJson(32629, 643200, 5798040, 10, [
        {
          id: 'holed',
          rings: [
            [
              [
                [5.3, 5.2],
                [60.7, 8.1],
                [55.2, 70.4],
                [10.1, 50.3],
                [5.3, 5.2],
              ],
              [
                [20.3, 20.2],
                [30.7, 20.1],
                [30.2, 30.4],
                [20.3, 20.2],
              ],
            ],
          ],
        },
        {
          id: 'two-part',
          rings: [
            [
              [
                [70.3, 60.2],
                [115.7, 61.1],
                [110.2, 118.4],
                [70.3, 60.2],
              ],
            ],
            [
              [
                [2.4, 90.3],
                [30.6, 88.2],
                [28.1, 117.7],
                [4.2, 112.9],
                [2.4, 90.3],
              ],
            ],
          ],
        },
        {
          id: 'small',
          rings: [
            [
              [
                [80.2, 10.3],
                [84.6, 10.1],
                [84.9, 13.7],
                [80.4, 13.8],
                [80.2, 10.3],
              ],
            ],
          ],
        },
      ]),
    );
    const scene = await Scene.open({
      files: [`${base}_B04.tif`, `${base}_B08.tif`],
      profile: profileById('s2-l2a'),
      offset: 0, // BigEarthNet v1: 2017 products, baseline before 04.00 (../shared/data/README.md)
    });
    const { stats, zones } = await processScene(scene, parseFields(readText(fieldsFile), fieldsFile), {
      outDir: join(dir, 'ben'),
      maps: false,
    });
    await scene.close();
    const ref = gdalReference({
      red: `${base}_B04.tif`,
      nir: `${base}_B08.tif`,
      offset: 0,
      scale: 1e-4,
      fields: fieldsFile,
    });
    expect(Object.keys(ref)).toHaveLength(3);
    expect(ref['holed']!.count).toBeGreaterThan(1000);
    expectAgree(stats, ref, zones);
  });

  describe('29RKH L2A COG (B04, B08 at 100 m; SCL at 200 m), offset decided by the STAC item', () => {
    const d = join(DATA, 's2-29RKH-20200219-l2a-100m');
    let fieldsFile: string;
    beforeAll(() => {
      fieldsFile = join(dir, 'rkh-fields.geojson');
      // Nine large "fields" spread over the tile so that some contain the scene's clouds.
      const shapes = [];
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          const c = 40.3 + i * 350;
          const r = 30.2 + j * 350;
          shapes.push({
            id: `f${i}${j}`,
            rings: [
              [
                [
                  [c, r],
                  [c + 300.4, r + 7.3],
                  [c + 280.6, r + 310.1],
                  [c + 12.2, r + 290.7],
                  [c, r],
                ] as [number, number][],
              ],
            ],
          });
        }
      }
      writeFileSync(fieldsFile, fieldsGeoJson(32629, 199980, 2800020, 100, shapes));
    });

    it.each([
      ['with the SCL mask', true],
      ['without the SCL mask', false],
    ])('%s', async (_name, useScl) => {
      const scene = await Scene.open({
        files: [join(d, 'B04.tif'), join(d, 'B08.tif'), join(d, 'SCL.tif')],
        profile: profileById('s2-l2a'),
        useScl,
      });
      expect(scene.radiometry.offset).toBe(0);
      expect(scene.radiometry.offsetSource).toBe('metadata');
      expect(scene.radiometry.offsetReason).toMatch(/02\.14|already applied/);
      expect(scene.acquired).toBe('2020-02-19T11:34:25.405Z');
      const { stats, zones } = await processScene(scene, parseFields(readText(fieldsFile), fieldsFile), {
        outDir: join(dir, `rkh-${useScl}`),
        maps: false,
        stripRows: 64, // several strips, so fields span strip boundaries
      });
      await scene.close();
      const ref = gdalReference({
        red: join(d, 'B04.tif'),
        nir: join(d, 'B08.tif'),
        scl: useScl ? join(d, 'SCL.tif') : undefined,
        keep: [4, 5],
        offset: 0,
        scale: 1e-4,
        fields: fieldsFile,
      });
      expectAgree(stats, ref, zones);
      const fractions = Object.values(stats.fields).map((f) => f.indices.ndvi!.validFraction);
      if (useScl)
        expect(Math.min(...fractions)).toBeLessThan(0.99); // the mask really removed clouds
      else expect(Math.min(...fractions)).toBe(1);
    });
  });

  it('FTW Austria 8-band file with --bands red=1,nir=4 (pixel-interleaved)', async () => {
    const file = join(DATA, 'ftw-austria/inference-img.tif');
    const fieldsFile = join(dir, 'ftw-fields.geojson');
    writeFileSync(
      fieldsFile,
      fieldsGeoJson(32633, 359130, 5352340, 10, [
        {
          id: 'a',
          rings: [
            [
              [
                [100.3, 50.2],
                [300.7, 60.1],
                [280.2, 250.4],
                [90.1, 200.3],
                [100.3, 50.2],
              ],
            ],
          ],
        },
        {
          id: 'b',
          rings: [
            [
              [
                [400.3, 100.2],
                [570.7, 120.1],
                [500.2, 370.4],
                [400.3, 100.2],
              ],
            ],
          ],
        },
      ]),
    );
    const scene = await Scene.open({
      files: [file],
      profile: profileById('s2-l2a'),
      bands: { red: 1, green: 2, blue: 3, nir: 4 },
      offset: -1000,
    });
    const { stats, zones } = await processScene(scene, parseFields(readText(fieldsFile), fieldsFile), {
      outDir: join(dir, 'ftw'),
      maps: false,
    });
    await scene.close();
    const ref = gdalReference({
      red: file,
      redBand: 1,
      nir: file,
      nirBand: 4,
      offset: -1000,
      scale: 1e-4,
      fields: fieldsFile,
    });
    expectAgree(stats, ref, zones);
  });
});

function readText(f: string): string {
  return readFileSync(f, 'utf8');
}
