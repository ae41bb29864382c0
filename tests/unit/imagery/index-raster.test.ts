// An already derived index raster (profile `index`): one float32 band holding NDVI, read as given —
// NaN, the file's no-data value and values outside NDVI's valid range −1…1 are no data — gives the
// per-field statistics computed here from the same values, the same stats, zones and maps as the
// reflectance scene the NDVI came from, and clear errors for what does not fit. Then the same
// raster through the gateway's ImageryReceiver (manifest `profile: index`, `index: ndvi`).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scene, type SceneInput } from '../../../edge/imagery/scene.ts';
import { profileById } from '../../../edge/imagery/profiles.ts';
import { processScene, type ProcessResult } from '../../../edge/imagery/process.ts';
import { parseFields, type FieldInput } from '../../../edge/imagery/fields.ts';
import { HatakeError } from '../../../protocol/errors.ts';
import type { IndexStats, SceneManifest, TransferStatus } from '../../../protocol/imagery.ts';
import { ImageryReceiver, type ImageryResult } from '../../../gateway/imagery/receiver.ts';
import { rng } from '../../../sim/scene.ts';
import { rectFields, tiff } from './fixtures.ts';

const W = 40;
const H = 30;
const N = W * H;
const NODATA = -9999;
/** Field rectangles in pixel space [c0, r0, c1, r1): the pixels c0…c1−1 × r0…r1−1. */
const RECTS: Record<string, [number, number, number, number]> = {
  north: [2, 1, 22, 13],
  south: [5, 15, 37, 29],
};

let dir: string;
let fields: FieldInput[];
/** Red and NIR reflectances (float32) and the NDVI of each pixel as the processing stores it (float32). */
let red: Float32Array;
let nir: Float32Array;
let ndvi: Float32Array;

const writeTiff = (
  name: string,
  bands: (Float32Array | Uint16Array)[],
  nodata?: number,
  grid: { epsg?: number; x0?: number } = {},
): string => tiff(dir, name, bands, W, H, { ...grid, nodata });

/** numpy's default percentile (linear interpolation between order statistics). */
function percentile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** The statistics of the values a field's rectangle holds, keeping those `keep` accepts. */
function expected(
  values: ArrayLike<number>,
  rect: [number, number, number, number],
  keep: (v: number) => boolean,
) {
  const [c0, r0, c1, r1] = rect;
  const vals: number[] = [];
  for (let r = r0; r < r1; r++)
    for (let c = c0; c < c1; c++) if (keep(values[r * W + c]!)) vals.push(values[r * W + c]!);
  vals.sort((a, b) => a - b);
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  return {
    pixels: (c1 - c0) * (r1 - r0),
    count: vals.length,
    mean,
    median: percentile(vals, 0.5),
    p10: percentile(vals, 0.1),
    p90: percentile(vals, 0.9),
    std: Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / vals.length),
    min: vals[0]!,
    max: vals[vals.length - 1]!,
  };
}

function expectStats(got: IndexStats, want: ReturnType<typeof expected>): void {
  expect(got.count).toBe(want.count);
  for (const k of ['mean', 'median', 'p10', 'p90', 'std', 'min', 'max'] as const) {
    expect(got[k], k).toBeCloseTo(want[k], 6);
  }
  expect(got.validFraction).toBeCloseTo(want.count / want.pixels, 6);
}

async function run(input: Partial<SceneInput> & { files: string[] }, out: string, indices?: string[]) {
  const scene = await Scene.open({ profile: profileById('index'), index: 'ndvi', ...input });
  try {
    return await processScene(scene, fields, { outDir: join(dir, out), indices });
  } finally {
    await scene.close();
  }
}

async function failure(p: Promise<unknown>): Promise<HatakeError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HatakeError);
  return e as HatakeError;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-index-raster-'));
  fields = parseFields(rectFields(RECTS), 'fields.geojson');
  const rand = rng(11);
  red = new Float32Array(N);
  nir = new Float32Array(N);
  ndvi = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    const r = i % W;
    const vigour = Math.min(1, Math.max(0, 0.2 + (r / W) * 0.7 + (rand() - 0.5) * 0.3));
    red[i] = 0.02 + 0.12 * (1 - vigour);
    nir[i] = 0.15 + 0.4 * vigour;
    ndvi[i] = (nir[i]! - red[i]!) / (nir[i]! + red[i]!);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an already derived index raster (profile index)', () => {
  it('reads NDVI as given: NaN, no-data and values outside −1…1 are no data, and the statistics are those of the remaining values', async () => {
    const band = Float32Array.from(ndvi);
    const holes = rng(5);
    for (let i = 0; i < N; i++) {
      const u = holes();
      if (u < 0.04) band[i] = NaN;
      else if (u < 0.08) band[i] = NODATA;
      else if (u < 0.1)
        band[i] = 1.25; // outside NDVI's range
      else if (u < 0.12) band[i] = -3;
    }
    band[RECTS.north![1] * W + RECTS.north![0]] = 1; // the bounds themselves are valid
    band[RECTS.north![1] * W + RECTS.north![0] + 1] = -1;
    const file = writeTiff('ndvi-holes.tif', [band], NODATA);
    const { stats, zones, files } = await run({ files: [file] }, 'holes');

    expect(stats.scene.profile).toBe('index');
    expect(stats.scene.bands).toEqual({ index: 'ndvi-holes.tif#1 (NDVI)' });
    expect(stats.scene.radiometry).toMatchObject({
      scale: 1,
      offset: 0,
      offsetSource: 'profile',
      nodata: null,
    });
    expect(stats.indices).toEqual([
      {
        id: 'ndvi',
        name: 'NDVI',
        formula: '(NIR − Red) / (NIR + Red), derived elsewhere and read as given',
        bands: ['NDVI'],
      },
    ]);
    const keep = (v: number) => Number.isFinite(v) && v !== NODATA && v >= -1 && v <= 1;
    for (const [id, rect] of Object.entries(RECTS)) {
      const want = expected(band, rect, keep);
      const f = stats.fields[id]!;
      expect(f.pixels).toBe(want.pixels);
      expect(f.validPixels).toBe(want.count); // out-of-range pixels are not valid pixels
      expect(want.count).toBeLessThan(want.pixels * 0.92);
      expectStats(f.indices.ndvi!, want);
      expect(Object.keys(f.indices)).toEqual(['ndvi']);
      // Zones and a map, as for any scene.
      expect(f.zones).toBeGreaterThanOrEqual(3);
      expect(zones.features.filter((z) => z.properties.fieldId === id)).toHaveLength(f.zones);
      expect(files).toContain(f.maps.ndvi!.file);
      expect(existsSync(join(dir, 'holes', f.maps.ndvi!.file))).toBe(true);
    }
    expect(stats.fields.north!.indices.ndvi!.max).toBe(1);
    expect(stats.fields.north!.indices.ndvi!.min).toBe(-1);
  });

  it('gives the same statistics, zones and maps as the float32 reflectance scene it was derived from', async () => {
    const bandsFile = writeTiff('red-nir.tif', [red, nir]);
    const indexFile = writeTiff('ndvi.tif', [ndvi]);
    const fromBands = await (async () => {
      const scene = await Scene.open({
        files: [bandsFile],
        profile: profileById('generic'),
        bands: { red: 1, nir: 2 },
        scale: 1,
        sceneId: 'same',
      });
      try {
        return await processScene(scene, fields, { outDir: join(dir, 'bands'), indices: ['ndvi'] });
      } finally {
        await scene.close();
      }
    })();
    const fromIndex = await run({ files: [indexFile], sceneId: 'same' }, 'index');
    const strip = (r: ProcessResult) =>
      Object.fromEntries(Object.entries(r.stats.fields).map(([id, f]) => [id, { ...f, maps: undefined }]));
    expect(strip(fromIndex)).toEqual(strip(fromBands));
    expect(fromIndex.zones).toEqual(fromBands.zones);
    for (const id of Object.keys(RECTS)) {
      const png = (out: string, r: ProcessResult) =>
        readFileSync(join(dir, out, r.stats.fields[id]!.maps.ndvi!.file));
      expect(png('index', fromIndex).equals(png('bands', fromBands))).toBe(true);
      expect(fromIndex.stats.fields[id]!.maps.ndvi).toEqual(fromBands.stats.fields[id]!.maps.ndvi);
    }
    // And those statistics are the NDVI computed here.
    expectStats(fromIndex.stats.fields.south!.indices.ndvi!, expected(ndvi, RECTS.south!, Number.isFinite));
  });

  it('reads an index stored as integers with its scale and offset', async () => {
    // NDVI −1…1 stored as uint16 (NDVI + 1) · 10000: value = (DN − 10000) · 0.0001.
    const dn = Uint16Array.from(ndvi, (v) => Math.round((v + 1) * 10000));
    const file = writeTiff('ndvi-u16.tif', [dn]);
    const { stats } = await run({ files: [file], scale: 0.0001, offset: -10000 }, 'u16');
    expect(stats.scene.radiometry).toMatchObject({ scale: 0.0001, offset: -10000, offsetSource: 'user' });
    const decoded = Float64Array.from(dn, (d) => Math.fround((d - 10000) * 0.0001));
    expectStats(
      stats.fields.north!.indices.ndvi!,
      expected(decoded, RECTS.north!, () => true),
    );
  });

  it('refuses a raster whose every value in the fields is outside the range: an integer index read without its scale', async () => {
    const dn = Uint16Array.from(ndvi, (v) => Math.round((v + 1) * 10000));
    const file = writeTiff('ndvi-u16-unscaled.tif', [dn]);
    const lo = Math.min(
      ...[...Object.values(RECTS)].flatMap(([c0, r0, c1, r1]) => {
        const v: number[] = [];
        for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) v.push(dn[r * W + c]!);
        return v;
      }),
    );
    const e = await failure(run({ files: [file] }, 'unscaled'));
    expect(e.code).toBe('HATAKE_E_IMAGERY_RADIOMETRY');
    expect(e.message).toMatch(
      new RegExp(
        `^every value of the NDVI raster in the fields is outside NDVI's valid range -1 to 1 \\(\\d+ pixels, ${lo} to \\d+ after scale 1 and offset 0\\)$`,
      ),
    );
    expect(e.expected).toMatch(/0\.0001 for NDVI × 10000/);
    expect(e.place?.file).toBe(file);
  });

  it('range-checks each index by its own valid range (CIre −1…20)', async () => {
    const band = new Float32Array(N).fill(3.5);
    const [c0, r0] = RECTS.north!;
    band[r0 * W + c0] = 20;
    band[r0 * W + c0 + 1] = 20.5; // no data for CIre
    band[r0 * W + c0 + 2] = -1.5; // no data
    const file = writeTiff('cire.tif', [band]);
    const { stats } = await run({ files: [file], index: 'cire' }, 'cire');
    const f = stats.fields.north!;
    expect(Object.keys(f.indices)).toEqual(['cire']);
    expect(f.validPixels).toBe(f.pixels - 2);
    expect(f.indices.cire).toMatchObject({ count: f.pixels - 2, max: 20, min: 3.5 });
    expect(stats.zoning.index).toBe('cire');
  });

  describe('what does not fit is refused with a clear error', () => {
    let one: string;
    beforeAll(() => {
      one = writeTiff('one.tif', [ndvi]);
    });
    const open = (input: Partial<SceneInput>) =>
      failure(Scene.open({ files: [one], profile: profileById('index'), ...input }));

    it('no index named', async () => {
      const e = await open({});
      expect(e.code).toBe('HATAKE_E_CONFIG');
      expect(e.message).toBe('profile index needs the index the raster holds');
      expect(e.expected).toBe('an index: ndvi | ndre | gndvi | savi | evi | cire');
    });

    it('an index that is not in the index table', async () => {
      const e = await open({ index: 'ndwi' });
      expect(e.code).toBe('HATAKE_E_CONFIG');
      expect(e.message).toBe('unknown index "ndwi"');
      expect(e.expected).toBe('ndvi | ndre | gndvi | savi | evi | cire');
    });

    it('an index named for a reflectance profile', async () => {
      const e = await open({ index: 'ndvi', profile: profileById('s2-l2a') });
      expect(e.code).toBe('HATAKE_E_CONFIG');
      expect(e.message).toBe('an index ("ndvi") is named, but profile s2-l2a reads reflectance bands');
    });

    it('a file of more than one band', async () => {
      const two = writeTiff('two.tif', [ndvi, ndvi]);
      const e = await failure(Scene.open({ files: [two], profile: profileById('index'), index: 'ndvi' }));
      expect(e.code).toBe('HATAKE_E_IMAGERY_BANDS');
      expect(e.message).toBe('an index raster has one band, this file has 2');
      expect(e.place?.file).toBe(two);
    });

    it('more than one file', async () => {
      const e = await failure(
        Scene.open({ files: [one, one], profile: profileById('index'), index: 'ndvi' }),
      );
      expect(e.code).toBe('HATAKE_E_IMAGERY_BANDS');
      expect(e.message).toBe('an index raster is one file, 2 were given');
    });

    it('band roles', async () => {
      const e = await open({ index: 'ndvi', bands: { red: 1 } });
      expect(e.code).toBe('HATAKE_E_CONFIG');
      expect(e.message).toBe('band roles were given for an index raster');
    });

    it('asking an NDVI raster for another index', async () => {
      const e = await failure(run({ files: [one] }, 'other', ['gndvi']));
      expect(e.code).toBe('HATAKE_E_IMAGERY_BANDS');
      expect(e.message).toBe('the scene is a NDVI raster: GNDVI cannot be computed from it');
    });
  });
});

describe('an index raster over the receiver (manifest profile index)', () => {
  let receiver: ImageryReceiver;
  let statuses: TransferStatus[];
  const results = new Map<string, ImageryResult>();
  let bytes: Buffer;
  beforeAll(() => {
    bytes = readFileSync(writeTiff('sent.tif', [ndvi]));
    receiver = new ImageryReceiver({ dir: join(dir, 'gw'), fields: () => fields, maps: false });
    receiver.on('status', (s) => statuses.push(s));
    receiver.on('result', (r) => results.set(r.sceneId, r));
  });
  afterAll(() => receiver.close());

  const manifest = (sceneId: string, over: Partial<SceneManifest> = {}): SceneManifest => ({
    v: 1,
    sceneId,
    acquired: '2026-07-15T01:35:21Z',
    profile: 'index',
    index: 'ndvi',
    format: 'geotiff',
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    chunkSize: 4096,
    chunkCount: Math.ceil(bytes.length / 4096),
    ...over,
  });
  const sendManifest = async (m: object, sceneId = (m as SceneManifest).sceneId) => {
    statuses = [];
    await receiver.handle(`${sceneId}/manifest`, Buffer.from(JSON.stringify(m)));
    return statuses[0]!;
  };

  it('processes the raster with the index the manifest names', async () => {
    const m = manifest('ndvi-scene');
    expect((await sendManifest(m)).state).toBe('receiving');
    for (let n = 0; n < m.chunkCount; n++) {
      await receiver.handle(`ndvi-scene/chunk/${n}`, bytes.subarray(n * m.chunkSize, (n + 1) * m.chunkSize));
    }
    await receiver.idle();
    expect(statuses.at(-1)).toMatchObject({ state: 'processed' });
    const r = results.get('ndvi-scene')!;
    expect(r.stats.scene.profile).toBe('index');
    expect(r.stats.indices.map((i) => i.id)).toEqual(['ndvi']);
    expectStats(r.stats.fields.north!.indices.ndvi!, expected(ndvi, RECTS.north!, Number.isFinite));
    expect(r.zones.features.length).toBeGreaterThan(0);
  });

  it.each([
    [
      'no index',
      { index: undefined },
      'profile index needs the index the raster holds (expected an index: ndvi | ndre | gndvi | savi | evi | cire)',
    ],
    [
      'an unknown index',
      { index: 'ndwi' },
      'unknown index "ndwi" (expected ndvi | ndre | gndvi | savi | evi | cire)',
    ],
    [
      'an index for a reflectance profile',
      { profile: 's2-l2a' },
      'an index ("ndvi") is named, but profile s2-l2a reads reflectance bands (expected profile index for a raster of an already derived index, or no index)',
    ],
    [
      'band roles for an index raster',
      { bands: { nir: 1 } },
      'band roles were given for an index raster (its one band is NDVI)',
    ],
  ])('refuses a manifest with %s before any chunk', async (_name, over, reason) => {
    const s = await sendManifest(JSON.parse(JSON.stringify(manifest('bad-index', over))) as object);
    expect(s).toMatchObject({ state: 'refused', code: 'HATAKE_E_IMAGERY_TRANSFER', reason });
  });
});
