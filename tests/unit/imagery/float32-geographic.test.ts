// Float32 reflectance on an EPSG:4326 grid: a four-band float32 GeoTIFF in longitude/latitude
// (no reprojection of the fields, pixels that are not square in metres), with NaN and a no-data
// value in it. Which pixel centres lie in each field (a rectangle, a triangle, a square with a
// hole), which are valid, and their NDVI and GNDVI statistics are worked out here from the pixel
// values and the polygons, not by the code under test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scene } from '../../../edge/imagery/scene.ts';
import { profileById } from '../../../edge/imagery/profiles.ts';
import { processScene, type ProcessResult } from '../../../edge/imagery/process.ts';
import { parseFields } from '../../../edge/imagery/fields.ts';
import type { IndexStats } from '../../../protocol/imagery.ts';
import { rng } from '../../../sim/scene.ts';
import { tiff } from './fixtures.ts';

const W = 60;
const H = 50;
const N = W * H;
const LON0 = 138.9;
const LAT0 = 37.81;
const D = 0.0001; // degrees per pixel
const NODATA = -9999;

type Ring = [number, number][];
/** Rings in pixel units (column, row from the top-left corner), turned into lon/lat below. */
const SHAPES: Record<string, Ring[]> = {
  rect: [
    [
      [3.3, 2.2],
      [25.6, 2.2],
      [25.6, 20.7],
      [3.3, 20.7],
      [3.3, 2.2],
    ],
  ],
  triangle: [
    [
      [30.4, 5.3],
      [57.8, 10.1],
      [40.2, 46.6],
      [30.4, 5.3],
    ],
  ],
  holed: [
    [
      [5.3, 25.3],
      [25.7, 25.3],
      [25.7, 45.7],
      [5.3, 45.7],
      [5.3, 25.3],
    ],
    [
      [12.1, 31.9],
      [18.9, 31.9],
      [18.9, 38.2],
      [12.1, 38.2],
      [12.1, 31.9],
    ],
  ],
};
const toLonLat = ([c, r]: [number, number]): [number, number] => [LON0 + c * D, LAT0 - r * D];

let dir: string;
let bands: Float32Array[]; // blue, green, red, nir
let result: ProcessResult;

/** Even-odd ray casting over all rings, in lon/lat. */
function inside(lon: number, lat: number, rings: Ring[]): boolean {
  let inn = false;
  for (const ring of rings.map((r) => r.map(toLonLat))) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i]!;
      const [xj, yj] = ring[j]!;
      if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inn = !inn;
    }
  }
  return inn;
}

/** Distance (in pixels) from a point to the nearest edge of the rings. */
function edgeDistance(c: number, r: number, rings: Ring[]): number {
  let best = Infinity;
  for (const ring of rings) {
    for (let i = 1; i < ring.length; i++) {
      const [x1, y1] = ring[i - 1]!;
      const [x2, y2] = ring[i]!;
      const t = Math.max(
        0,
        Math.min(1, ((c - x1) * (x2 - x1) + (r - y1) * (y2 - y1)) / ((x2 - x1) ** 2 + (y2 - y1) ** 2)),
      );
      best = Math.min(best, Math.hypot(c - (x1 + t * (x2 - x1)), r - (y1 + t * (y2 - y1))));
    }
  }
  return best;
}

function percentile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo]! + (h - lo) * (sorted[Math.ceil(h)]! - sorted[lo]!);
}

function expectStats(got: IndexStats, vals: number[], pixels: number): void {
  const s = [...vals].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  expect(got.count).toBe(s.length);
  expect(got.mean!).toBeCloseTo(mean, 6);
  expect(got.median!).toBeCloseTo(percentile(s, 0.5), 6);
  expect(got.p10!).toBeCloseTo(percentile(s, 0.1), 6);
  expect(got.p90!).toBeCloseTo(percentile(s, 0.9), 6);
  expect(got.std!).toBeCloseTo(Math.sqrt(s.reduce((a, v) => a + (v - mean) ** 2, 0) / s.length), 6);
  expect(got.min!).toBeCloseTo(s[0]!, 6);
  expect(got.max!).toBeCloseTo(s[s.length - 1]!, 6);
  expect(got.validFraction).toBeCloseTo(s.length / pixels, 6);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-f32-4326-'));
  const rand = rng(4326);
  bands = [0, 1, 2, 3].map(() => new Float32Array(N));
  for (let i = 0; i < N; i++) {
    const v = Math.min(1, Math.max(0, (i % W) / W + (rand() - 0.5) * 0.4));
    bands[0]![i] = 0.02 + 0.03 * rand();
    bands[1]![i] = 0.05 + 0.04 * v;
    bands[2]![i] = 0.03 + 0.12 * (1 - v);
    bands[3]![i] = 0.15 + 0.45 * v;
    // No data: NaN in one band, or the file's no-data value, here and there.
    const u = rand();
    if (u < 0.03) bands[2]![i] = NaN;
    else if (u < 0.06) bands[3]![i] = NODATA;
    else if (u < 0.08) bands[1]![i] = NODATA;
  }
  const file = tiff(dir, 'refl-4326.tif', bands, W, H, {
    epsg: 4326,
    x0: LON0,
    y0: LAT0,
    px: D,
    nodata: NODATA,
  });
  const fields = parseFields(
    JSON.stringify({
      type: 'FeatureCollection',
      features: Object.entries(SHAPES).map(([id, rings]) => ({
        type: 'Feature',
        properties: { id },
        geometry: { type: 'Polygon', coordinates: rings.map((r) => r.map(toLonLat)) },
      })),
    }),
    'fields.geojson',
  );
  const scene = await Scene.open({
    files: [file],
    profile: profileById('generic'),
    bands: { blue: 1, green: 2, red: 3, nir: 4 },
    scale: 1, // float reflectance 0–1
  });
  try {
    result = await processScene(scene, fields, { outDir: join(dir, 'out'), indices: ['ndvi', 'gndvi'] });
  } finally {
    await scene.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('float32 reflectance on an EPSG:4326 grid', () => {
  it('reads the grid and the sample type as they are', () => {
    const s = result.stats.scene;
    expect(s.crs).toBe('EPSG:4326');
    expect([s.width, s.height]).toEqual([W, H]);
    expect(s.pixelSize[0]).toBeCloseTo(D, 12);
    expect(s.pixelSize[1]).toBeCloseTo(D, 12);
    expect(s.radiometry).toMatchObject({ scale: 1, offset: 0 });
  });

  for (const id of Object.keys(SHAPES)) {
    it(`field ${id}: pixel counts, valid pixels, NDVI and GNDVI as computed here`, () => {
      const rings = SHAPES[id]!;
      const f = result.stats.fields[id]!;
      let pixels = 0;
      let valid = 0;
      const ndvi: number[] = [];
      const gndvi: number[] = [];
      const cols: number[] = [];
      const rows: number[] = [];
      for (let r = 0; r < H; r++) {
        for (let c = 0; c < W; c++) {
          // The fixture is unambiguous: no pixel centre on (or within a rounding of) an edge.
          expect(edgeDistance(c + 0.5, r + 0.5, rings)).toBeGreaterThan(1e-3);
          if (!inside(LON0 + (c + 0.5) * D, LAT0 - (r + 0.5) * D, rings)) continue;
          pixels++;
          cols.push(c);
          rows.push(r);
          const i = r * W + c;
          const [g, red, nir] = [bands[1]![i]!, bands[2]![i]!, bands[3]![i]!];
          // Every band read (green, red, NIR) must hold data for the pixel to be valid.
          if (![g, red, nir].every((x) => Number.isFinite(x) && x !== NODATA)) continue;
          valid++;
          ndvi.push(Math.fround((nir - red) / (nir + red)));
          gndvi.push(Math.fround((nir - g) / (nir + g)));
        }
      }
      expect(pixels).toBeGreaterThan(150);
      expect(valid).toBeLessThan(pixels); // some no-data fell in every field
      expect(f.pixels).toBe(pixels);
      expect(f.validPixels).toBe(valid);
      expect(f.validFraction).toBeCloseTo(valid / pixels, 6);
      // Area from the WGS84 ellipsoid's metres per degree at each pixel row's latitude (the code
      // uses a sphere of equal area: within 1 %).
      const rad = Math.PI / 180;
      const area = rows.reduce((a, r) => {
        const phi = (LAT0 - (r + 0.5) * D) * rad;
        const mLat = 111132.92 - 559.82 * Math.cos(2 * phi) + 1.175 * Math.cos(4 * phi);
        const mLon = 111412.84 * Math.cos(phi) - 93.5 * Math.cos(3 * phi);
        return a + D * mLat * D * mLon;
      }, 0);
      expect(Math.abs(f.areaHa - area / 1e4) / (area / 1e4)).toBeLessThan(0.01);
      expectStats(f.indices.ndvi!, ndvi, pixels);
      expectStats(f.indices.gndvi!, gndvi, pixels);
      // The zones tile the pixels that have an NDVI.
      const zones = result.zones.features.filter((z) => z.properties.fieldId === id);
      expect(zones.length).toBe(f.zones);
      expect(zones.reduce((a, z) => a + z.properties.pixels, 0)).toBe(ndvi.length);
      // The map lies on the pixel grid, in longitude/latitude as they are, and covers the field's
      // pixels (its window may reach one row or column past them at a sharp vertex, transparent).
      const [west, south, east, north] = f.maps.ndvi!.bounds;
      const col = (lon: number) => (lon - LON0) / D;
      const row = (lat: number) => (LAT0 - lat) / D;
      for (const x of [col(west), col(east), row(south), row(north)]) expect(x).toBeCloseTo(Math.round(x), 4);
      const [c0, c1, r0, r1] = [
        Math.min(...cols),
        Math.max(...cols) + 1,
        Math.min(...rows),
        Math.max(...rows) + 1,
      ];
      expect(Math.round(col(west))).toBeLessThanOrEqual(c0);
      expect(Math.round(col(west))).toBeGreaterThanOrEqual(c0 - 1);
      expect(Math.round(col(east))).toBeGreaterThanOrEqual(c1);
      expect(Math.round(col(east))).toBeLessThanOrEqual(c1 + 1);
      expect(Math.round(row(north))).toBeLessThanOrEqual(r0);
      expect(Math.round(row(north))).toBeGreaterThanOrEqual(r0 - 1);
      expect(Math.round(row(south))).toBeGreaterThanOrEqual(r1);
      expect(Math.round(row(south))).toBeLessThanOrEqual(r1 + 1);
      expect([f.maps.ndvi!.width, f.maps.ndvi!.height]).toEqual([
        Math.round(col(east) - col(west)),
        Math.round(row(south) - row(north)),
      ]);
    });
  }

  it('leaves the hole of the holed field out', () => {
    // Pixel (15, 35) is inside the hole; (8, 28) is in the field.
    expect(inside(LON0 + 15.5 * D, LAT0 - 35.5 * D, SHAPES.holed!)).toBe(false);
    expect(inside(LON0 + 8.5 * D, LAT0 - 28.5 * D, SHAPES.holed!)).toBe(true);
    // Centres in the outer square: columns and rows 5…25 (centres 5.5…25.5 within 5.3…25.7 and
    // 25.3…45.7: 21 × 21); in the hole: columns 12…18 (12.5…18.5 within 12.1…18.9) and rows
    // 32…37 (32.5…37.5 within 31.9…38.2: 7 × 6).
    expect(result.stats.fields.holed!.pixels).toBe(21 * 21 - 7 * 6);
  });
});
