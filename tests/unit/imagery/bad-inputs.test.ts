// Bad imagery inputs get a HatakeError naming the file and the problem: corrupt and truncated
// TIFFs, grids that do not align, missing bands, unknown CRS, TIFFs written by GDAL without
// georeferencing or without an EPSG code, fields that miss the raster, and malformed GeoJSON.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scene, type SceneInput } from '../../../edge/imagery/scene.ts';
import { profileById } from '../../../edge/imagery/profiles.ts';
import { processScene } from '../../../edge/imagery/process.ts';
import { parseFields } from '../../../edge/imagery/fields.ts';
import { HatakeError } from '../../../protocol/errors.ts';
import { filled, rectFields, tiff } from './fixtures.ts';

const REAL = join(
  import.meta.dirname,
  '../../../../shared/data/sentinel2/s2-29RKH-20200219-l2a-100m/B04.tif',
);
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-bad-imagery-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function openError(input: Partial<SceneInput> & { files: string[] }): Promise<HatakeError> {
  const e = await Scene.open({ profile: profileById('s2-l2a'), offset: 0, ...input }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HatakeError);
  return e as HatakeError;
}

const N = 16 * 16;
const red = () => filled(N, 1200);
const nir = () => filled(N, 3000);

describe('bad imagery files', () => {
  it('refuses a file that is not a TIFF, naming it', async () => {
    const f = join(dir, 'B04.tif');
    writeFileSync(f, 'this is not a tiff at all, just text');
    const e = await openError({ files: [f] });
    expect(e.code).toBe('HATAKE_E_IMAGERY_FILE');
    expect(e.describe()).toContain(f);
    expect(e.message).toMatch(/not a readable TIFF/);
  });

  it('refuses a truncated real COG instead of reading zeros', async () => {
    const f = join(dir, 'trunc_B04.tif');
    const bytes = readFileSync(REAL);
    writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const e = await openError({ files: [f] });
    expect(e.code).toBe('HATAKE_E_IMAGERY_FILE');
    expect(e.message).toMatch(/truncated: image data runs to byte \d+ but the file has \d+ bytes/);
    expect(e.place?.file).toBe(f);
  });

  it('refuses a COG whose compressed data is corrupt, naming the block', async () => {
    const f = join(dir, 'corrupt_B04.tif');
    copyFileSync(REAL, f);
    const bytes = readFileSync(f);
    for (let i = bytes.length - 200_000; i < bytes.length - 100_000; i += 7) bytes[i] = bytes[i]! ^ 0x5a;
    writeFileSync(f, bytes);
    const scene = await Scene.open({
      files: [f],
      profile: profileById('s2-l2a'),
      bands: { red: 1, nir: 1 },
      offset: 0,
    });
    const e = await scene.read(scene.sources.get('red')!, [0, 0, 1098, 1098]).catch((x: unknown) => x);
    await scene.close();
    expect(e).toBeInstanceOf(HatakeError);
    expect((e as HatakeError).code).toBe('HATAKE_E_IMAGERY_FILE');
    expect((e as HatakeError).message).toMatch(/corrupt data in block \(\d+, \d+\)/);
  });

  it('refuses bands whose grids do not align (shifted origin)', async () => {
    const a = tiff(dir, 'g_B04.tif', [red()], 16, 16);
    const b = tiff(dir, 'g_B08.tif', [nir()], 16, 16, { x0: 500005 });
    const e = await openError({ files: [a, b] });
    expect(e.code).toBe('HATAKE_E_IMAGERY_GRID');
    expect(e.message).toMatch(/grids do not align: origin 500005, 4185000 differs from 500000, 4185000/);
    expect(e.place?.file).toBe(b);
  });

  it('refuses a band whose pixel size is not a multiple of the finest', async () => {
    const a = tiff(dir, 'p_B04.tif', [red()], 16, 16);
    const b = tiff(dir, 'p_B08.tif', [filled(8 * 8, 3000)], 8, 8, { px: 15 });
    const e = await openError({ files: [a, b] });
    expect(e.code).toBe('HATAKE_E_IMAGERY_GRID');
    expect(e.message).toMatch(/pixel size 15×15 is not an integer multiple of 10×10/);
  });

  it('refuses bands of different CRSs', async () => {
    const a = tiff(dir, 'c_B04.tif', [red()], 16, 16);
    const b = tiff(dir, 'c_B08.tif', [nir()], 16, 16, { epsg: 32653 });
    const e = await openError({ files: [a, b] });
    expect(e.message).toMatch(/EPSG:32653 vs EPSG:32654/);
  });

  it('refuses a scene without the bands an index needs', async () => {
    const a = tiff(dir, 'm_B03.tif', [red()], 16, 16);
    const b = tiff(dir, 'm_B02.tif', [nir()], 16, 16);
    const e = await openError({ files: [a, b] });
    expect(e.code).toBe('HATAKE_E_IMAGERY_BANDS');
    expect(e.message).toMatch(/no vegetation index can be computed from the bands given \(blue, green\)/);
  });

  it('refuses a band number the file does not have', async () => {
    const f = tiff(dir, 'two.tif', [red(), nir()], 16, 16);
    const e = await openError({ files: [f], bands: { red: 1, nir: 5 } });
    expect(e.code).toBe('HATAKE_E_IMAGERY_BANDS');
    expect(e.message).toBe('band 5 for nir does not exist: the file has 2 bands');
  });

  it('refuses a multi-band file whose band roles nobody gave', async () => {
    const f = tiff(dir, 'unnamed.tif', [red(), nir()], 16, 16);
    const e = await openError({ files: [f] });
    expect(e.message).toMatch(/cannot tell which of the file's 2 bands is which/);
    expect(e.expected).toMatch(/--bands/);
  });

  it('refuses a file name that matches no band of the profile', async () => {
    const a = tiff(dir, 'x_B04.tif', [red()], 16, 16);
    const b = tiff(dir, 'mystery.tif', [nir()], 16, 16);
    const e = await openError({ files: [a, b] });
    expect(e.message).toBe('cannot tell which band this file is for profile s2-l2a');
    expect(e.place?.file).toBe(b);
  });

  it('refuses an unknown CRS', async () => {
    const f = tiff(dir, 'lcc.tif', [red(), nir()], 16, 16, { epsg: 2154 });
    const e = await openError({ files: [f], bands: { red: 1, nir: 2 } });
    expect(e.code).toBe('HATAKE_E_IMAGERY_CRS');
    expect(e.message).toBe('EPSG:2154 is not a CRS hatake knows');
    expect(e.place?.file).toBe(f);
  });
});

// Written with GDAL's own tools: gdal_create makes a plain TIFF (no geotransform, no CRS) and
// gdal_translate adds a geotransform (-a_ullr) alone (no GeoKey directory at all) or with a CRS
// from a proj string (-a_srs), which GDAL writes as user-defined: ProjectedCSTypeGeoKey 32767.
// gdalinfo confirms what each file holds.
describe('TIFFs written by GDAL without the georeferencing hatake needs', () => {
  const gdal = (tool: string, args: string[]) => execFileSync(tool, args, { encoding: 'utf8' });
  const plain = () => {
    const f = join(dir, 'plain_B04.tif');
    const size = ['-outsize', '16', '16', '-bands', '2', '-ot', 'UInt16'];
    gdal('gdal_create', ['-q', '-of', 'GTiff', ...size, '-burn', '1200', '-burn', '3000', f]);
    return f;
  };

  it('refuses a plain TIFF with no georeferencing, naming the file', async () => {
    const f = plain();
    const info = gdal('gdalinfo', [f]);
    expect(info).not.toMatch(/Origin =|Coordinate System is/); // GDAL sees no georeferencing either
    const e = await openError({ files: [f], bands: { red: 1, nir: 2 } });
    expect(e.code).toBe('HATAKE_E_IMAGERY_FILE');
    expect(e.message).toBe('no georeferencing (no tie point / pixel scale / transformation)');
    expect(e.place?.file).toBe(f);
    expect(e.describe()).toContain(f);
  });

  it('refuses a GeoTIFF with a geotransform but no CRS at all: its GeoKeys name no EPSG code', async () => {
    const f = join(dir, 'noepsg_B04.tif');
    gdal('gdal_translate', ['-q', '-a_ullr', '500000', '4185160', '500160', '4185000', plain(), f]);
    const info = gdal('gdalinfo', [f]);
    expect(info).toContain('Origin = (500000.000000000000000,4185160.000000000000000)');
    expect(info).not.toContain('Coordinate System is');
    const e = await openError({ files: [f], bands: { red: 1, nir: 2 } });
    expect(e.code).toBe('HATAKE_E_IMAGERY_CRS');
    expect(e.message).toBe('the GeoTIFF names no EPSG code in its GeoKeys (user-defined or missing CRS)');
    expect(e.place?.file).toBe(f);
    expect(e.expected).toMatch(/EPSG:4326/);
  });

  it('refuses a GeoTIFF whose CRS is user-defined (no EPSG code), naming the file', async () => {
    const f = join(dir, 'userdef_B04.tif');
    const tmerc = '+proj=tmerc +lat_0=36 +lon_0=138.5 +k=0.9999 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs';
    gdal('gdal_translate', ['-q', '-a_srs', tmerc, '-a_ullr', '0', '160', '160', '0', plain(), f]);
    const info = gdal('gdalinfo', [f]);
    expect(info).toMatch(/Coordinate System is:\s*PROJCRS\["unknown"/);
    expect(info).toContain('Origin = (0.000000000000000,160.000000000000000)');
    const e = await openError({ files: [f], bands: { red: 1, nir: 2 } });
    expect(e.code).toBe('HATAKE_E_IMAGERY_CRS');
    expect(e.message).toMatch(/names no EPSG code/);
    expect(e.place?.file).toBe(f);
  });
});

describe('bad fields', () => {
  const bad = (text: string) => {
    try {
      parseFields(text, 'fields.geojson');
    } catch (e) {
      expect(e).toBeInstanceOf(HatakeError);
      expect((e as HatakeError).code).toBe('HATAKE_E_FIELDS');
      expect((e as HatakeError).place?.file).toBe('fields.geojson');
      return e as HatakeError;
    }
    throw new Error('accepted bad GeoJSON');
  };
  const poly = (coords: unknown) =>
    JSON.stringify({
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', properties: { id: 'a' }, geometry: { type: 'Polygon', coordinates: coords } },
      ],
    });

  it.each([
    ['text that is not JSON', '{"type": "FeatureCollection", ', /^not valid JSON/],
    ['an empty collection', '{"type":"FeatureCollection","features":[]}', /has no fields/],
    [
      'points instead of polygons',
      JSON.stringify({ type: 'Point', coordinates: [1, 2] }),
      /GeoJSON type "Point"/,
    ],
    [
      'a ring that is not closed',
      poly([
        [
          [138.9, 37.8],
          [138.91, 37.8],
          [138.91, 37.81],
          [138.9, 37.81],
        ],
      ]),
      /not closed/,
    ],
    [
      'projected coordinates',
      poly([
        [
          [500000, 4185000],
          [500100, 4185000],
          [500100, 4185100],
          [500000, 4185000],
        ],
      ]),
      /not a WGS84 longitude\/latitude/,
    ],
    [
      'a string coordinate',
      poly([
        [
          [138.9, '37.8'],
          [138.91, 37.8],
          [138.91, 37.81],
          [138.9, 37.8],
        ],
      ]),
      /not \[longitude, latitude\] numbers/,
    ],
    [
      'a ring with three positions',
      poly([
        [
          [138.9, 37.8],
          [138.91, 37.8],
          [138.9, 37.8],
        ],
      ]),
      /at least 4 positions/,
    ],
    [
      'a named projected CRS',
      JSON.stringify({
        type: 'FeatureCollection',
        crs: { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::6677' } },
        features: [],
      }),
      /fields are in urn:ogc:def:crs:EPSG::6677/,
    ],
    [
      'duplicate field ids',
      JSON.stringify({
        type: 'FeatureCollection',
        features: [0, 1].map(() => ({
          type: 'Feature',
          properties: { id: 'same' },
          geometry: {
            type: 'Polygon',
            coordinates: [
              [
                [1, 1],
                [2, 1],
                [2, 2],
                [1, 1],
              ],
            ],
          },
        })),
      }),
      /field id "same" appears twice/,
    ],
  ])('refuses %s', (_name, text, message) => {
    expect(bad(text).message).toMatch(message);
  });

  it('names the JSON pointer of the bad position', () => {
    const e = bad(
      poly([
        [
          [138.9, 37.8],
          [138.91, 37.8],
          [999, 37.81],
          [138.9, 37.8],
        ],
      ]),
    );
    expect(e.place?.pointer).toBe('/features/0/geometry/coordinates/0/2');
  });

  it('refuses fields that do not touch the raster, naming them', async () => {
    const f = tiff(dir, 'o.tif', [red(), nir()], 16, 16);
    const scene = await Scene.open({
      files: [f],
      profile: profileById('s2-l2a'),
      bands: { red: 1, nir: 2 },
      offset: 0,
    });
    const fields = parseFields(
      rectFields({ inside: [2, 2, 10, 10], far: [100, 100, 120, 120] }),
      'f.geojson',
    );
    const e = await processScene(scene, fields, {
      outDir: join(dir, 'o'),
      maps: false,
      fieldsFile: 'f.geojson',
    }).catch((x: unknown) => x);
    await scene.close();
    expect(e).toBeInstanceOf(HatakeError);
    expect((e as HatakeError).code).toBe('HATAKE_E_FIELDS');
    expect((e as HatakeError).message).toBe(
      'field "far" does not cover any pixel centre of the raster (16×16 px, EPSG:32654)',
    );
    expect((e as HatakeError).place?.file).toBe('f.geojson');
  });

  it('refuses to process a scene for no fields at all, writing nothing', async () => {
    const f = tiff(dir, 'none.tif', [red(), nir()], 16, 16);
    const scene = await Scene.open({
      files: [f],
      profile: profileById('s2-l2a'),
      bands: { red: 1, nir: 2 },
      offset: 0,
      sceneId: 'none-scene',
    });
    const out = join(dir, 'none');
    const e = await processScene(scene, [], { outDir: out, maps: false }).catch((x: unknown) => x);
    await scene.close();
    expect(e).toBeInstanceOf(HatakeError);
    expect((e as HatakeError).code).toBe('HATAKE_E_FIELDS');
    expect((e as HatakeError).message).toBe('no fields to process scene none-scene for');
    expect((e as HatakeError).expected).toMatch(/^at least one field boundary/);
    expect(existsSync(out)).toBe(false);
  });
});
