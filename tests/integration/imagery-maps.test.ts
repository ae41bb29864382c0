// The maps `hatake imagery process` writes, read back with sharp: each heatmap is transparent
// where a pixel's centre lies outside the field and drawn inside it (ramp colour where the index
// has a value, translucent grey where masked), its WGS84 bounds hold the field's boundary, and
// each legend is a real image. Plus the coded message for a bad --bands value.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { demoScene, fieldsGeoJson } from '../../sim/scene.ts';
import { demoManifest } from '../helpers/stack.ts';
import { crsOf, transformer } from '../../edge/imagery/crs.ts';
import { MASKED_RGBA } from '../../edge/imagery/heatmap.ts';
import type { SceneStats } from '../../protocol/imagery.ts';

type Ring = [number, number][];
interface FieldFeature {
  type: 'Feature';
  properties: { id: string };
  geometry: { type: 'Polygon'; coordinates: Ring[] };
}

let dir: string;
let out: string;
let stats: SceneStats;
let fields: FieldFeature[];
let scenePath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-maps-'));
  const m = demoManifest();
  const s = demoScene(m);
  scenePath = join(dir, `${s.sceneId}.tif`);
  writeFileSync(scenePath, Buffer.from(s.tiff));
  writeFileSync(join(dir, 'item.json'), JSON.stringify(s.stac));
  const fc = fieldsGeoJson(m) as { type: string; features: FieldFeature[] };
  // A triangle over the upland field: half of its map window lies outside it.
  fc.features.push({
    type: 'Feature',
    properties: { id: 'triangle' },
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [138.902, 37.8],
          [138.9035, 37.8],
          [138.902, 37.801],
          [138.902, 37.8],
        ],
      ],
    },
  });
  fields = fc.features;
  writeFileSync(join(dir, 'fields.geojson'), JSON.stringify(fc));
  out = join(dir, 'out');
  const code = await main([
    'imagery',
    'process',
    scenePath,
    '--fields',
    join(dir, 'fields.geojson'),
    '--bands',
    'blue=1,green=2,red=3,nir=4,scl=5',
    '--out',
    out,
  ]);
  expect(code).toBe(0);
  stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as SceneStats;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Even-odd point in polygon (all rings). */
function inside(p: [number, number], rings: Ring[]): boolean {
  let inn = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i]!;
      const [xj, yj] = ring[j]!;
      if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inn = !inn;
    }
  }
  return inn;
}

/** Distance from a point to the nearest edge of the rings. */
function edgeDistance(p: [number, number], rings: Ring[]): number {
  let best = Infinity;
  for (const ring of rings) {
    for (let i = 1; i < ring.length; i++) {
      const [ax, ay] = ring[i - 1]!;
      const [bx, by] = ring[i]!;
      const dx = bx - ax;
      const dy = by - ay;
      const t = Math.max(0, Math.min(1, ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy)));
      best = Math.min(best, Math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy)));
    }
  }
  return best;
}

describe('imagery heatmaps and legends', () => {
  it('writes a heatmap per field and index, transparent outside the field and drawn inside', async () => {
    const epsg = Number(stats.scene.crs.replace('EPSG:', ''));
    const t = transformer(crsOf(epsg, 'scene'));
    const [dx, dy] = stats.scene.pixelSize;
    let outsideSeen = 0;
    for (const f of fields) {
      const fs = stats.fields[f.properties.id]!;
      const rings = f.geometry.coordinates.map((r) => r.map((p) => t.toCrs(p)));
      for (const [id, map] of Object.entries(fs.maps)) {
        const what = `${f.properties.id}/${id}`;
        const png = sharp(join(out, map.file));
        const meta = await png.metadata();
        expect(meta.format, what).toBe('png');
        expect([meta.width, meta.height], what).toEqual([map.width, map.height]);
        const { data, info } = await png.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
        expect(info.channels).toBe(4);
        // The window's top-left corner on the scene grid, from the map's own corners.
        const [x0, y0] = t.toCrs(map.corners[0]);
        let drawn = 0;
        let valued = 0;
        for (let r = 0; r < info.height; r++) {
          for (let c = 0; c < info.width; c++) {
            const i = (r * info.width + c) * 4;
            const alpha = data[i + 3]!;
            if (alpha > 0) drawn++;
            if (alpha === 255) valued++;
            const centre: [number, number] = [x0 + (c + 0.5) * dx, y0 - (r + 0.5) * dy];
            if (edgeDistance(centre, rings) < 0.5) continue; // too close to the edge to call
            if (inside(centre, rings)) {
              // Inside: an opaque ramp colour, or the translucent grey of a masked pixel.
              if (alpha !== 255) {
                expect([...data.subarray(i, i + 4)], `${what} (${c},${r})`).toEqual([...MASKED_RGBA]);
              }
            } else {
              outsideSeen++;
              expect(alpha, `${what} (${c},${r}) lies outside the field`).toBe(0);
            }
          }
        }
        // Every pixel of the field is drawn, and exactly the ones with a value are opaque.
        expect(drawn, what).toBe(fs.pixels);
        expect(valued, what).toBe(fs.indices[id]!.count);
        expect(valued, what).toBeGreaterThan(0);
      }
    }
    expect(outsideSeen).toBeGreaterThan(20); // the triangle's empty half at least
    // The cloud over the paddy shows as masked grey in its map.
    expect(stats.fields['paddy-1']!.indices.ndvi!.count).toBeLessThan(stats.fields['paddy-1']!.pixels);
  });

  // The map is the field's pixels, so its bounds are the extent of those pixels: the boundary
  // lies inside them but for at most half a pixel where no pixel centre falls beyond it.
  it("states WGS84 bounds that hold the field's boundary (to half a pixel) and its corners", () => {
    const epsg = Number(stats.scene.crs.replace('EPSG:', ''));
    const t = transformer(crsOf(epsg, 'scene'));
    const [dx, dy] = stats.scene.pixelSize;
    for (const f of fields) {
      const fs = stats.fields[f.properties.id]!;
      const pts = f.geometry.coordinates.flat();
      expect(Object.keys(fs.maps).length).toBeGreaterThan(0);
      for (const map of Object.values(fs.maps)) {
        const what = f.properties.id;
        const [w, s, e, n] = map.bounds;
        // The bounds are the box of the corners (TL, TR, BR, BL).
        const cl = map.corners.map((c) => c[0]);
        const ct = map.corners.map((c) => c[1]);
        expect([w, s, e, n]).toEqual([Math.min(...cl), Math.min(...ct), Math.max(...cl), Math.max(...ct)]);
        // The corners span exactly width × height pixels of the scene grid.
        const [tl, tr, br, bl] = map.corners.map((c) => t.toCrs(c));
        expect(tr![0] - tl![0]).toBeCloseTo(map.width * dx, 2);
        expect(tl![1] - bl![1]).toBeCloseTo(map.height * dy, 2);
        expect(br![0] - bl![0]).toBeCloseTo(map.width * dx, 2);
        // Every boundary vertex lies in that pixel box, give or take half a pixel …
        for (const p of pts) {
          const [x, y] = t.toCrs(p);
          expect(x, what).toBeGreaterThanOrEqual(tl![0] - dx / 2 - 1e-3);
          expect(x, what).toBeLessThanOrEqual(tr![0] + dx / 2 + 1e-3);
          expect(y, what).toBeLessThanOrEqual(tl![1] + dy / 2 + 1e-3);
          expect(y, what).toBeGreaterThanOrEqual(bl![1] - dy / 2 - 1e-3);
        }
        // … and so in the stated WGS84 bounds grown by half a pixel (5 m) in degrees.
        const lat = (s + n) / 2;
        const halfLon = dx / 2 / (111320 * Math.cos((lat * Math.PI) / 180));
        const halfLat = dy / 2 / 110574;
        for (const [lon, la] of pts) {
          expect(lon, what).toBeGreaterThanOrEqual(w - halfLon);
          expect(lon, what).toBeLessThanOrEqual(e + halfLon);
          expect(la, what).toBeGreaterThanOrEqual(s - halfLat);
          expect(la, what).toBeLessThanOrEqual(n + halfLat);
        }
        // Not larger than the boundary's own box plus a pixel on each side.
        const lons = pts.map((p) => p[0]);
        const lats = pts.map((p) => p[1]);
        expect(Math.min(...lons) - w).toBeLessThan(2 * halfLon);
        expect(e - Math.max(...lons)).toBeLessThan(2 * halfLon);
        expect(Math.min(...lats) - s).toBeLessThan(2 * halfLat);
        expect(n - Math.max(...lats)).toBeLessThan(2 * halfLat);
      }
    }
  });

  it('writes a legend PNG per index, of a sensible size and not blank', async () => {
    expect(stats.indices.length).toBeGreaterThan(0);
    for (const { id } of stats.indices) {
      const file = join(out, `maps/legend-${id}.png`);
      expect(existsSync(file), id).toBe(true);
      expect(stats.fields['upland-1']!.maps[id]!.legend).toBe(`maps/legend-${id}.png`);
      const meta = await sharp(file).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width!).toBeGreaterThanOrEqual(100);
      expect(meta.width!).toBeLessThanOrEqual(1000);
      expect(meta.height!).toBeGreaterThanOrEqual(30);
      expect(meta.height!).toBeLessThan(meta.width!);
      // The colour ramp: the red and blue channels each span a wide range (viridis runs from
      // dark purple to yellow).
      const st = await sharp(file).stats();
      expect(st.channels[0]!.max - st.channels[0]!.min).toBeGreaterThan(150);
      expect(st.channels[2]!.max - st.channels[2]!.min).toBeGreaterThan(100);
    }
  });
});

describe('imagery process: a bad --bands value', () => {
  async function stderrOf(bands: string): Promise<{ code: number; text: string }> {
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await main([
        'imagery',
        'process',
        scenePath,
        '--fields',
        join(dir, 'fields.geojson'),
        '--bands',
        bands,
        '--out',
        join(dir, 'bad'),
      ]);
      return { code, text: spy.mock.calls.map((c) => String(c[0])).join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('says which part is wrong and what is expected, with a code', async () => {
    const { code, text } = await stderrOf('red=one,nir=4');
    expect(code).toBe(1);
    expect(text).toContain('HATAKE_E_CONFIG');
    expect(text).toContain('--bands: "red=one" is not role=number');
    expect(text).toMatch(/expected role=N with role one of blue, green, red, rededge, nir, nir08, scl/);
  });

  it('names an unknown role and a role given twice', async () => {
    const unknown = await stderrOf('red=3,swir=6');
    expect(unknown.code).toBe(1);
    expect(unknown.text).toMatch(/HATAKE_E_CONFIG.*--bands: "swir=6" is not role=number/);
    const twice = await stderrOf('red=3,nir=4,red=2');
    expect(twice.code).toBe(1);
    expect(twice.text).toMatch(/HATAKE_E_CONFIG.*--bands: red given twice/);
  });

  it('names the file when a band number is beyond the file', async () => {
    const { code, text } = await stderrOf('red=3,nir=9');
    expect(code).toBe(1);
    expect(text).toContain('HATAKE_E_IMAGERY_BANDS');
    expect(text).toContain(scenePath);
    expect(text).toMatch(/band 9 for nir does not exist: the file has 5 bands/);
  });
});
