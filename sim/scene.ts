// A synthetic but realistic Sentinel-2 L2A clip over the demo farm, for `npm start` and tests:
// generated, never downloaded. Four 10 m bands (B02, B03, B04, B08) plus SCL in one GeoTIFF on
// the WGS84 / UTM grid of the farm, DNs as a baseline-05.10 product stores them
// (DN = reflectance · 10000 + 1000, 0 = no data), and a STAC item beside it saying so — so the
// processing must apply BOA_ADD_OFFSET −1000 and read the decision from the metadata. Inside the
// fields the canopy varies smoothly (a vigour gradient, waves and a weak patch) so management
// zones mean something; outside is bare soil; a small cloud with its shadow sits on one field.
import { writeArrayBuffer } from 'geotiff';
import proj4 from 'proj4';
import type { Manifest } from '../protocol/manifest.ts';

/** A GeoTIFF (one strip, pixel-interleaved) of equally typed bands on a north-up grid. */
export function writeGeoTiff(opts: {
  bands: readonly (Uint16Array | Uint8Array | Float32Array)[];
  width: number;
  height: number;
  epsg: number;
  x0: number;
  y0: number;
  pixelSize: number;
  nodata?: number;
}): ArrayBuffer {
  const { bands, width, height } = opts;
  const n = width * height;
  const Ctor = bands[0]!.constructor as new (len: number) => Uint16Array | Uint8Array | Float32Array;
  const flat = new Ctor(n * bands.length);
  for (let i = 0; i < n; i++)
    for (let b = 0; b < bands.length; b++) flat[i * bands.length + b] = bands[b]![i]!;
  const geographic = opts.epsg === 4326;
  return writeArrayBuffer(flat, {
    width,
    height,
    ModelPixelScale: [opts.pixelSize, opts.pixelSize, 0],
    ModelTiepoint: [0, 0, 0, opts.x0, opts.y0, 0],
    GTModelTypeGeoKey: geographic ? 2 : 1,
    GTRasterTypeGeoKey: 1,
    ...(geographic ? { GeographicTypeGeoKey: 4326 } : { ProjectedCSTypeGeoKey: opts.epsg }),
    ...(opts.nodata !== undefined ? { GDAL_NODATA: `${opts.nodata}\0` } : {}),
  });
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pointInRings(x: number, y: number, rings: [number, number][][]): boolean {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i]!;
      const [xj, yj] = ring[j]!;
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
  }
  return inside;
}

export interface DemoScene {
  /** The GeoTIFF bytes: bands B02, B03, B04, B08, SCL (uint16). */
  tiff: ArrayBuffer;
  /** A STAC item describing it (processing baseline, acquisition time). */
  stac: Record<string, unknown>;
  /** `--bands` for the file. */
  bands: string;
  sceneId: string;
  epsg: number;
  width: number;
  height: number;
}

/** The demo farm's fields as a GeoJSON FeatureCollection (for `hatake imagery process --fields`). */
export function fieldsGeoJson(manifest: Manifest): Record<string, unknown> {
  return {
    type: 'FeatureCollection',
    features: manifest.fields
      .filter((f) => f.boundary)
      .map((f) => ({
        type: 'Feature',
        properties: { id: f.id, name: f.name, crop: f.crop },
        geometry: f.boundary,
      })),
  };
}

/** Generates the demo scene over a farm's fields. */
export function demoScene(
  manifest: Manifest,
  opts: { seed?: number; acquired?: string; marginM?: number } = {},
): DemoScene {
  const fields = manifest.fields.filter((f) => f.boundary);
  if (fields.length === 0) throw new Error('the manifest has no field boundaries');
  const lons = fields.flatMap((f) => f.boundary!.coordinates.flat().map((p) => p[0]));
  const lats = fields.flatMap((f) => f.boundary!.coordinates.flat().map((p) => p[1]));
  const lon0 = (Math.min(...lons) + Math.max(...lons)) / 2;
  const zone = Math.floor((lon0 + 180) / 6) + 1;
  const south = Math.min(...lats) < 0;
  const epsg = (south ? 32700 : 32600) + zone;
  const conv = proj4(
    'WGS84',
    `+proj=utm +zone=${zone}${south ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`,
  );
  const px = 10;
  const margin = opts.marginM ?? 300;
  const utm = fields.map((f) =>
    f.boundary!.coordinates.map((ring) => ring.map((p) => conv.forward([p[0], p[1]]) as [number, number])),
  );
  const xs = utm.flat(2).map((p) => p[0]);
  const ys = utm.flat(2).map((p) => p[1]);
  // Snap to the Sentinel-2 10 m grid (tiles start at multiples of 10 m, +0 easting offset).
  const x0 = Math.floor((Math.min(...xs) - margin) / px) * px;
  const y0 = Math.ceil((Math.max(...ys) + margin) / px) * px;
  const width = Math.ceil((Math.max(...xs) + margin - x0) / px);
  const height = Math.ceil((y0 - (Math.min(...ys) - margin)) / px);
  const n = width * height;
  const bands = [0, 1, 2, 3, 4].map(() => new Uint16Array(n));
  const rand = rng(opts.seed ?? 6);
  // A cloud (and its shadow, displaced by the sun's azimuth) over the first field's corner.
  const f0 = utm[0]![0]!;
  const cloud = { x: f0[0]![0] + 15, y: f0[0]![1] + 10, r: 18 };
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const i = row * width + col;
      const x = x0 + (col + 0.5) * px;
      const y = y0 - (row + 0.5) * px;
      const noise = () => (rand() - 0.5) * 0.01;
      let refl: [number, number, number, number]; // blue, green, red, nir
      let scl = 5; // not vegetated
      const k = utm.findIndex((rings) => pointInRings(x, y, rings));
      if (k >= 0) {
        const crop = fields[k]!.crop ?? '';
        // Vigour 0…1: a gradient across the field, gentle waves, and a weak patch.
        const [fx, fy] = utm[k]![0]![0]!;
        const g = Math.min(1, Math.max(0, 0.55 + 0.004 * (x - fx) - 0.002 * (y - fy)));
        const wave = 0.12 * Math.sin((x - fx) / 23) * Math.cos((y - fy) / 31);
        const patch = Math.exp(-(((x - fx - 40) ** 2 + (y - fy - 60) ** 2) / (2 * 25 ** 2))) * 0.35;
        const v = Math.min(1, Math.max(0, g + wave - patch + (rand() - 0.5) * 0.06));
        const flooded = crop === 'rice' ? 0.3 : 0; // paddies: water under a young canopy
        // Winter wheat in late autumn is at tillering: a sparse canopy over soil.
        const canopy = crop === 'winter-wheat' ? 0.45 : 1;
        const nir = 0.18 + 0.3 * v * canopy - 0.05 * flooded;
        const red = 0.09 - 0.065 * v * canopy + 0.01 * flooded;
        refl = [0.03 + 0.01 * (1 - v), 0.06 + 0.02 * v, red, nir];
        scl = 4;
      } else {
        refl = [0.09, 0.12, 0.16, 0.24]; // bare soil and roads
      }
      const dc = Math.hypot(x - cloud.x, y - cloud.y);
      const ds = Math.hypot(x - (cloud.x + 30), y - (cloud.y - 20));
      if (dc < cloud.r) {
        refl = [0.45, 0.46, 0.47, 0.5];
        scl = 9;
      } else if (ds < cloud.r * 0.8) {
        refl = refl.map((r) => r * 0.45) as typeof refl;
        scl = 3;
      }
      for (let b = 0; b < 4; b++) bands[b]![i] = Math.max(1, Math.round((refl[b]! + noise()) * 10000 + 1000));
      bands[4]![i] = scl;
    }
  }
  const acquired = opts.acquired ?? '2026-07-15T01:35:21Z';
  const compact = acquired.replace(/[-:]/g, '').slice(0, 15);
  const sceneId = `demo-s2-${compact.slice(0, 8)}`;
  const tiff = writeGeoTiff({ bands, width, height, epsg, x0, y0, pixelSize: px, nodata: 0 });
  const stac = {
    type: 'Feature',
    stac_version: '1.0.0',
    id: sceneId,
    properties: {
      datetime: acquired,
      platform: 'sentinel-2a',
      'proj:epsg': epsg,
      's2:processing_baseline': '05.10',
      's2:product_type': 'S2MSI2A',
      'earthsearch:boa_offset_applied': false,
      'hatake:synthetic': true,
    },
    geometry: null,
    links: [],
    assets: {},
  };
  return { tiff, stac, bands: 'blue=1,green=2,red=3,nir=4,scl=5', sceneId, epsg, width, height };
}
