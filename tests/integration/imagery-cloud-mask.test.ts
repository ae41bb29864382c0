// `hatake imagery process --mask CLOUDMASK.tif` (issue 6: a user's cloud mask instead of the
// Sentinel-2 SCL band, the valid-pixel fraction with every statistic), end to end on real data: a
// 240 × 240 px window of the 29RKH L2A scene (B04, B08 at 100 m; SCL at 200 m), clipped by
// gdal_translate at an even offset so that the SCL window sits on the same origin. The masks are
// made by GDAL as a user would make them: gdal_calc.py turns SCL's cloud shadow (3) and cloud
// classes (8, 9, 10) into 1 and the rest into 0 (at SCL's 200 m, and gdal_translate puts it on the
// 100 m grid); a rectangle of 1s over one field; all 0s; all 1s. The reference is GDAL's
// (tests/helpers/gdal-reference.ts) with the mask passed as its SCL band keeping class 0 only —
// "a pixel passes where the mask is 0", read nearest onto the 100 m grid, centre-in-polygon
// fields by gdal.RasterizeLayer, numpy statistics. Masks that do not fit the scene, and files that
// are no mask at all, are refused with a coded error naming the file and write nothing.
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import type { SceneStats, ZoneCollection } from '../../protocol/imagery.ts';
import { undecodableTiff } from '../helpers/corrupt-tiff.ts';
import { PY, fieldsGeoJson, gdalReference, requireGdal, type GdalStats } from '../helpers/gdal-reference.ts';

const ROOT = join(import.meta.dirname, '../..');
const RKH = join(ROOT, '../shared/data/sentinel2/s2-29RKH-20200219-l2a-100m');
/** The window: columns 720–959, rows 40–279 of the 100 m bands; 360–479, 20–139 of the 200 m SCL. */
const X0 = 199980 + 720 * 100;
const Y0 = 2800020 - 40 * 100;

let dir: string;
const at = (name: string) => join(dir, name);

/** A GDAL command-line tool (gdal_translate, gdal_calc.py, gdalwarp), quiet. */
function gdal(tool: string, ...args: string[]): void {
  execFileSync(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `hatake imagery process` in this process (as the other imagery CLI tests run it), capturing output. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(['imagery', 'process', ...args]);
    const text = (s: typeof out) => s.mock.calls.map((c) => String(c[0])).join('');
    return { code, out: text(out), err: text(err) };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The real command, `node bin/hatake.js imagery process …`, in its own process. */
async function spawnCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'bin/hatake.js'), 'imagery', 'process', ...args],
      { cwd: ROOT, encoding: 'utf8' },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

/** Arguments for the clipped scene (offset 0: processing baseline 02.14, see the data README). */
const sceneArgs = (out: string, ...more: string[]) => [
  at('B04.tif'),
  at('B08.tif'),
  '--fields',
  at('fields.geojson'),
  '--out',
  at(out),
  '--offset',
  '0',
  '--no-maps',
  ...more,
];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const statsOf = (out: string) => JSON.parse(readFileSync(at(`${out}/stats.json`), 'utf8')) as SceneStats;
const reference = (mask?: string) =>
  gdalReference({
    red: at('B04.tif'),
    nir: at('B08.tif'),
    ...(mask ? { scl: at(mask), keep: [0] } : {}),
    offset: 0,
    scale: 1e-4,
    fields: at('fields.geojson'),
  });

/** hatake's statistics of every field agree with GDAL's: pixel counts exactly, the rest to 1e-4. */
function expectAgree(stats: SceneStats, ref: Record<string, GdalStats>): void {
  expect(Object.keys(stats.fields).sort()).toEqual(Object.keys(ref).sort());
  for (const [id, r] of Object.entries(ref)) {
    const f = stats.fields[id]!;
    expect(f.pixels, `${id} pixels`).toBe(r.pixels);
    expect(f.validPixels, `${id} valid pixels`).toBe(r.count);
    // The valid fraction is validPixels / pixels, rounded to 7 decimals.
    expect(Math.abs(f.validFraction - r.count / r.pixels), `${id} validFraction`).toBeLessThan(1e-7);
    const s = f.indices.ndvi!;
    expect(s.count, `${id} count`).toBe(r.count);
    expect(Math.abs(s.validFraction - r.count / r.pixels), `${id} ndvi validFraction`).toBeLessThan(1e-7);
    if (r.count === 0) continue;
    for (const k of ['mean', 'median', 'p10', 'p90', 'p95', 'std', 'min', 'max'] as const) {
      expect(Math.abs(s[k]! - r[k]!), `${id} ${k}: hatake ${s[k]} GDAL ${r[k]}`).toBeLessThan(1e-4);
    }
  }
}

/** The four fields, in pixel space of the window: through the cloud, at its edge, clear, and one a rectangle covers. */
const FIELDS = {
  cloudy: [150.3, 20.2, 230.6, 120.4],
  edge: [40.2, 60.3, 120.7, 150.1],
  clear: [90.4, 175.2, 200.3, 230.6],
  boxed: [10.3, 170.4, 60.2, 220.3],
} as const;
/** The rectangle of 1s (rows, columns, end exclusive) over all of `boxed` and nothing of the others. */
const BOX = { r0: 165, r1: 226, c0: 5, c1: 66 };

let masked: SceneStats;
let spawned: { code: number; out: string; err: string };

beforeAll(async () => {
  requireGdal();
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-mask-'));
  // Tiles of 64 rows: the walk goes in strips of 64 rows, so fields and the mask span strips.
  for (const b of ['B04', 'B08']) {
    gdal(
      'gdal_translate',
      '-q',
      '-co',
      'TILED=YES',
      '-co',
      'BLOCKXSIZE=64',
      '-co',
      'BLOCKYSIZE=64',
      '-srcwin',
      '720',
      '40',
      '240',
      '240',
      join(RKH, `${b}.tif`),
      at(`${b}.tif`),
    );
  }
  gdal('gdal_translate', '-q', '-srcwin', '360', '20', '120', '120', join(RKH, 'SCL.tif'), at('SCL.tif'));
  // The cloud mask from SCL, at SCL's 200 m, and the same mask on the bands' 100 m grid.
  const calc = (out: string, input: string, expr: string) =>
    gdal(
      'gdal_calc.py',
      '--quiet',
      '--hideNoData',
      '-A',
      input,
      `--outfile=${out}`,
      '--type=Byte',
      `--calc=${expr}`,
    );
  calc(at('mask20.tif'), at('SCL.tif'), '(A==3)|(A==8)|(A==9)|(A==10)');
  gdal('gdal_translate', '-q', '-tr', '100', '100', '-r', 'nearest', at('mask20.tif'), at('mask10.tif'));
  calc(at('zeros.tif'), at('B04.tif'), 'A*0');
  calc(at('ones.tif'), at('B04.tif'), 'A*0+1');
  // A rectangle of 1s, written with GDAL's Python bindings on the bands' grid.
  execFileSync(PY, [
    '-c',
    `from osgeo import gdal
import numpy as np
gdal.UseExceptions()
ds = gdal.Translate(${JSON.stringify(at('box.tif'))}, ${JSON.stringify(at('zeros.tif'))})
a = np.zeros((ds.RasterYSize, ds.RasterXSize), dtype=np.uint8)
a[${BOX.r0}:${BOX.r1}, ${BOX.c0}:${BOX.c1}] = 1
ds.GetRasterBand(1).WriteArray(a)
ds = None`,
  ]);
  writeFileSync(
    at('fields.geojson'),
    fieldsGeoJson(
      32629,
      X0,
      Y0,
      100,
      Object.entries(FIELDS).map(([id, [c0, r0, c1, r1]]) => ({
        id,
        rings: [
          [
            [
              [c0, r0],
              [c1, r0 + 3.3],
              [c1 - 4.1, r1],
              [c0 + 2.2, r1 - 1.7],
              [c0, r0],
            ],
          ],
        ],
      })),
    ),
  );
  // The real command with the SCL-derived mask on the 100 m grid.
  spawned = await spawnCli(sceneArgs('mask10', '--mask', at('mask10.tif')));
  expect(spawned.code, spawned.err).toBe(0);
  masked = statsOf('mask10');
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hatake imagery process --mask (29RKH window, masks made by GDAL)', () => {
  it('masks with the raster: the valid fraction and NDVI of every field agree with GDAL applying the same mask', () => {
    expect(spawned.out).toMatch(/; mask raster\n/);
    expect(masked.scene.mask).toEqual({ kind: 'raster', file: 'mask10.tif' });
    expect(masked.scene.files).toEqual(['B04.tif', 'B08.tif', 'mask10.tif']);
    expectAgree(masked, reference('mask10.tif'));
    // The mask did mask: through the cloud most pixels go, at its edge some, in the clear none.
    const vf = (id: string) => masked.fields[id]!.validFraction;
    expect(vf('cloudy')).toBeGreaterThan(0);
    expect(vf('cloudy')).toBeLessThan(0.5);
    expect(vf('edge')).toBeGreaterThan(vf('cloudy'));
    expect(vf('edge')).toBeLessThan(1);
    expect(vf('clear')).toBe(1);
    // … and what it removed changes the statistics (GDAL without a mask keeps every pixel).
    const plain = reference();
    expect(plain['cloudy']!.count).toBe(plain['cloudy']!.pixels);
    expect(Math.abs(plain['cloudy']!.mean! - masked.fields['cloudy']!.indices.ndvi!.mean!)).toBeGreaterThan(
      1e-3,
    );
  });

  it('reads a mask at half the resolution of the bands (200 m on the 100 m grid, as a 20 m mask on 10 m bands) nearest, as GDAL does', async () => {
    const r = await run(sceneArgs('mask20', '--mask', at('mask20.tif')));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf('mask20');
    expect(stats.scene.mask).toEqual({ kind: 'raster', file: 'mask20.tif' });
    expectAgree(stats, reference('mask20.tif'));
    // mask10 is mask20 resampled nearest by gdal_translate: the same pixels pass.
    expect(stats.fields).toEqual(masked.fields);
  });

  it('uses the mask instead of the SCL band given with the scene', async () => {
    const r = await run(sceneArgs('scl-and-mask', at('SCL.tif'), '--mask', at('mask10.tif')));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf('scl-and-mask');
    expect(stats.scene.mask).toEqual({ kind: 'raster', file: 'mask10.tif' });
    expect(Object.keys(stats.scene.bands).sort()).toEqual(['nir', 'red']);
    expect(stats.fields).toEqual(masked.fields);
  });

  it('gives with a mask of all 0s the numbers of --no-scl', async () => {
    const a = await run(sceneArgs('zeros', at('SCL.tif'), '--mask', at('zeros.tif')));
    expect(a.code, a.err).toBe(0);
    const b = await run(sceneArgs('no-scl', at('SCL.tif'), '--no-scl'));
    expect(b.code, b.err).toBe(0);
    const zeros = statsOf('zeros');
    const noScl = statsOf('no-scl');
    expect(zeros.scene.mask).toEqual({ kind: 'raster', file: 'zeros.tif' });
    expect(noScl.scene.mask).toEqual({ kind: 'none' });
    expect(zeros.fields).toEqual(noScl.fields);
    expectAgree(zeros, reference());
    for (const f of Object.values(zeros.fields)) expect(f.validFraction, f.fieldId).toBe(1);
  });

  it('reports a field the mask covers whole as valid fraction 0 with no statistics, and the others as before', async () => {
    const r = await run(sceneArgs('box', '--mask', at('box.tif')).filter((a) => a !== '--no-maps'));
    expect(r.code, r.err).toBe(0);
    const text = readFileSync(at('box/stats.json'), 'utf8');
    expect(text).not.toMatch(/NaN|Infinity/);
    const stats = JSON.parse(text) as SceneStats;
    expectAgree(stats, reference('box.tif'));
    const boxed = stats.fields['boxed']!;
    expect(boxed.pixels).toBeGreaterThan(1000);
    expect(boxed).toMatchObject({ validPixels: 0, validFraction: 0, zones: 0 });
    for (const [id, s] of Object.entries(boxed.indices)) {
      expect(s, id).toEqual({
        mean: null,
        median: null,
        p10: null,
        p90: null,
        p95: null,
        std: null,
        min: null,
        max: null,
        count: 0,
        validFraction: 0,
      });
    }
    // Its map is still drawn (all of it masked), and no zone claims it.
    expect(existsSync(at(`box/${boxed.maps.ndvi!.file}`))).toBe(true);
    const zones = JSON.parse(readFileSync(at('box/zones.geojson'), 'utf8')) as ZoneCollection;
    expect(zones.features.filter((z) => z.properties.fieldId === 'boxed')).toEqual([]);
    // The rectangle touches no other field: every pixel of theirs passes (and expectAgree held
    // their statistics to GDAL's).
    for (const id of ['cloudy', 'edge', 'clear']) expect(stats.fields[id]!.validFraction, id).toBe(1);
  });

  it('processes a scene the mask covers whole into valid fraction 0 everywhere, and no zones', async () => {
    const r = await run(sceneArgs('ones', '--mask', at('ones.tif')));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf('ones');
    expectAgree(stats, reference('ones.tif'));
    for (const f of Object.values(stats.fields)) {
      expect(f.pixels, f.fieldId).toBeGreaterThan(0);
      expect(f).toMatchObject({ validPixels: 0, validFraction: 0, zones: 0 });
      expect(f.indices.ndvi).toMatchObject({ mean: null, count: 0, validFraction: 0 });
    }
    const zones = JSON.parse(readFileSync(at('ones/zones.geojson'), 'utf8')) as ZoneCollection;
    expect(zones.features).toEqual([]);
  });
});

describe('hatake imagery process --mask refuses a mask that does not fit or is no mask, writing nothing', () => {
  beforeAll(() => {
    const tr = (out: string, ...args: string[]) => gdal('gdal_translate', '-q', ...args, at(out));
    tr('utm28.tif', '-a_srs', 'EPSG:32628', at('mask10.tif')); // same numbers, another CRS
    gdal('gdalwarp', '-q', '-t_srs', 'EPSG:32628', '-tr', '100', '100', at('mask10.tif'), at('warped.tif'));
    tr(
      'shifted.tif',
      '-a_ullr',
      `${X0 + 50}`,
      `${Y0}`,
      `${X0 + 50 + 24000}`,
      `${Y0 - 24000}`,
      at('mask10.tif'),
    );
    tr('smaller.tif', '-srcwin', '0', '0', '200', '240', at('mask10.tif'));
    tr('m150.tif', '-tr', '150', '150', at('mask10.tif'));
    tr('short20.tif', '-srcwin', '0', '0', '100', '120', at('mask20.tif'));
    tr('m50.tif', '-tr', '50', '50', at('mask10.tif'));
    tr('two-bands.tif', '-b', '1', '-b', '1', at('mask10.tif'));
    tr('raw.tif', '-co', 'COMPRESS=NONE', at('mask10.tif'));
    const whole = readFileSync(at('raw.tif'));
    writeFileSync(at('truncated.tif'), whole.subarray(0, whole.length >> 1));
    writeFileSync(at('undecodable.tif'), undecodableTiff(whole));
    // A DEFLATE mask in strips of 16 rows whose last strip is garbage: the walk reads it in its
    // last strip of 64 rows, after fields `cloudy` and `edge` were finished and their maps written.
    tr('late.tif', '-co', 'COMPRESS=DEFLATE', '-co', 'BLOCKYSIZE=16', at('mask10.tif'));
    execFileSync(PY, [
      '-c',
      `from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(${JSON.stringify(at('late.tif'))})
b = ds.GetRasterBand(1)
off = int(b.GetMetadataItem('BLOCK_OFFSET_0_14', 'TIFF'))
size = int(b.GetMetadataItem('BLOCK_SIZE_0_14', 'TIFF'))
ds = None
with open(${JSON.stringify(at('late.tif'))}, 'r+b') as f:
    f.seek(off)
    f.write(b'\\xff' * size)`,
    ]);
    writeFileSync(at('not-a-tiff.tif'), '{"type": "FeatureCollection", "features": []}\n');
    writeFileSync(at('empty.tif'), '');
  });

  it.each([
    ['utm28.tif', 'HATAKE_E_IMAGERY_GRID', 'grids do not align: EPSG:32628 vs EPSG:32629'],
    ['warped.tif', 'HATAKE_E_IMAGERY_GRID', 'grids do not align: EPSG:32628 vs EPSG:32629'],
    [
      'shifted.tif',
      'HATAKE_E_IMAGERY_GRID',
      `grids do not align: origin ${X0 + 50}, ${Y0} differs from ${X0}, ${Y0}`,
    ],
    ['smaller.tif', 'HATAKE_E_IMAGERY_GRID', 'grids do not align: size 200×240 differs from 240×240'],
    [
      'm150.tif',
      'HATAKE_E_IMAGERY_GRID',
      'grids do not align: pixel size 150×150 is not an integer multiple of 100×100',
    ],
    [
      'short20.tif',
      'HATAKE_E_IMAGERY_GRID',
      'grids do not align: 100×120 at 200 does not cover 240×240 at 100',
    ],
    [
      'm50.tif',
      'HATAKE_E_IMAGERY_GRID',
      'grids do not align: pixel size 50×50 is not an integer multiple of 100×100',
    ],
    ['two-bands.tif', 'HATAKE_E_IMAGERY_BANDS', 'a cloud mask has one band, this file has 2'],
    ['truncated.tif', 'HATAKE_E_IMAGERY_FILE', 'truncated: image data runs to byte'],
    // Found only when its blocks are decoded, after the output was begun; which block fails first varies.
    ['undecodable.tif', 'HATAKE_E_IMAGERY_FILE', 'corrupt data in block ('],
    ['late.tif', 'HATAKE_E_IMAGERY_FILE', 'corrupt data in block (0, 14)'],
    ['not-a-tiff.tif', 'HATAKE_E_IMAGERY_FILE', 'not a readable TIFF'],
    ['empty.tif', 'HATAKE_E_IMAGERY_FILE', 'the file is 0 bytes, too short to be a TIFF'],
    ['missing.tif', 'HATAKE_E_IMAGERY_FILE', 'cannot read the file: ENOENT'],
  ])('%s: %s', async (mask, code, message) => {
    const out = `refused-${mask}`;
    // With maps: a run that fails after writing some takes them back.
    const r = await run(sceneArgs(out, '--mask', at(mask)).filter((a) => a !== '--no-maps'));
    expect(r.code, r.out).toBe(1);
    expect(r.err).toContain(`hatake: ${code} ${at(mask)}: ${message}`);
    expect(r.out).toBe('');
    expect(existsSync(at(out)), 'the out directory').toBe(false);
  });

  it('takes back only what the failed run created in an out directory that was there before', async () => {
    mkdirSync(at('existing'));
    writeFileSync(at('existing/notes.txt'), 'the farmer’s own file\n');
    const r = await run(sceneArgs('existing', '--mask', at('late.tif')).filter((a) => a !== '--no-maps'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`HATAKE_E_IMAGERY_FILE ${at('late.tif')}: corrupt data in block (0, 14)`);
    expect(readdirSync(at('existing'), { recursive: true })).toEqual(['notes.txt']);
  });

  it('exits 1 with the coded message and no stack trace from the real command', async () => {
    const r = await spawnCli(sceneArgs('refused-spawned', '--mask', at('truncated.tif')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^hatake: HATAKE_E_IMAGERY_FILE ${escape(at('truncated.tif'))}: truncated: .*\\(expected the complete file\\)\\n$`,
      ),
    );
    expect(existsSync(at('refused-spawned'))).toBe(false);
  });
});
