// A synthetic but realistic Sentinel-2 L2A clip over the demo farm, for `npm start` and tests:
// generated, never downloaded. Four 10 m bands (B02, B03, B04, B08) plus SCL in one GeoTIFF on
// the WGS84 / UTM grid of the farm, DNs as a baseline-05.10 product stores them
// (DN = reflectance · 10000 + 1000, 0 = no data), and a STAC item beside it saying so — so the
// processing must apply BOA_ADD_OFFSET −1000 and read the decision from the metadata. Inside the
// fields the canopy varies smoothly (a vigour gradient, waves and a weak patch) so management
// zones mean something; outside is bare soil; a small cloud with its shadow sits on one field.
// Also the demo's calendar (demoSeason): which pass `hatake start` drops for which field on a
// given day, and the farm's dates that go with it, so each model is handed only a pass it serves.
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

export interface DemoSceneOptions {
  seed?: number;
  acquired?: string;
  /** Bare ground around the fields, m (300 by default). */
  marginM?: number;
  /**
   * Only these fields (ids): the raster spans them and their margin, and the farm's other fields
   * are off it when the margin is narrower than the gap between them (a clip of part of the farm).
   */
  fields?: readonly string[];
  /** The cloud and its shadow over the first field's corner (true by default). */
  cloud?: boolean;
  /**
   * Where each field's weak patch is centred, m east and north of the first corner of its
   * boundary ({ dxM: 40, dyM: 60 } by default).
   */
  weakPatch?: { dxM: number; dyM: number };
  /**
   * Canopy cover (0–1) of winter wheat, which scales the vigour the bands show: 0.45 by default,
   * the sparse canopy of late-autumn tillering.
   */
  wheatCanopy?: number;
}

/** Generates the demo scene over a farm's fields. */
export function demoScene(manifest: Manifest, opts: DemoSceneOptions = {}): DemoScene {
  const only = opts.fields ? new Set(opts.fields) : undefined;
  const fields = manifest.fields.filter((f) => f.boundary && (!only || only.has(f.id)));
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
        const { dxM, dyM } = opts.weakPatch ?? { dxM: 40, dyM: 60 };
        const patch = Math.exp(-(((x - fx - dxM) ** 2 + (y - fy - dyM) ** 2) / (2 * 25 ** 2))) * 0.35;
        const v = Math.min(1, Math.max(0, g + wave - patch + (rand() - 0.5) * 0.06));
        const flooded = crop === 'rice' ? 0.3 : 0; // paddies: water under a young canopy
        // Winter wheat in late autumn is at tillering: a sparse canopy over soil.
        const canopy = crop === 'winter-wheat' ? (opts.wheatCanopy ?? 0.45) : 1;
        const nir = 0.18 + 0.3 * v * canopy - 0.05 * flooded;
        const red = 0.09 - 0.065 * v * canopy + 0.01 * flooded;
        refl = [0.03 + 0.01 * (1 - v), 0.06 + 0.02 * v, red, nir];
        scl = 4;
      } else {
        refl = [0.09, 0.12, 0.16, 0.24]; // bare soil and roads
      }
      const dc = Math.hypot(x - cloud.x, y - cloud.y);
      const ds = Math.hypot(x - (cloud.x + 30), y - (cloud.y - 20));
      if (opts.cloud === false) {
        // a clear sky
      } else if (dc < cloud.r) {
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

// The demo's calendar. `hatake start` runs on the real date, so the demo farm's dates follow it:
// each field's crop keeps the calendar of its kind in Niigata, and the one pass dropped on a first
// start finds a crop at its top-dressing decision — never a crop a model must refuse, and never a
// rice top-dressing in December.

const DAY_MS = 86_400_000;
const addDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
const daysBetween = (from: string, to: string) =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);

/** The date (YYYY-MM-DD) at `time` in `timeZone`. */
export function localDate(time: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(time);
}

/**
 * The demo crops' calendars in Niigata, as MM-DD in the farm's zone. Rice (Koshihikari):
 * transplanted on 10 May, panicle initiation 69 days later (18 July), when its top-dressing (穂肥)
 * is decided from a pass and the scouting of plant height and stems; the window lets the
 * transplanting fall between early May and early June. Winter wheat: sown on 5 October, a
 * top-dressing decision from the 4-leaf stage before the snow (根雪前追肥, November) through the
 * dressings after snow-melt and at stem elongation to heading (end of May).
 */
export const DEMO_CALENDAR = {
  rice: {
    transplanted: '05-10',
    scouted: '07-18',
    transplantToPiDays: 69,
    window: { from: '07-12', to: '08-10' },
  },
  wheat: { sown: '10-05', window: { from: '11-01', to: '05-31' } },
} as const;

/** What `hatake start` drops on a first start, and the farm's dates that go with it. */
export interface DemoSeason {
  /** The farm's date it was worked out for. */
  date: string;
  /** The paddy: transplanting day and, once it has been done this season, the scouting at panicle initiation. */
  rice: { plantingDate: string; scouted: string | null };
  /** The wheat: its sowing day. */
  wheat: { plantingDate: string };
  /**
   * The one pass dropped: for the crop at its decision now (`inSeason`, acquired 3 days ago), or,
   * in the weeks between the two crops' decisions, the last decision's pass (older; the review
   * says how old). Cloud-free, over that crop's fields only.
   */
  pass: {
    crop: 'rice' | 'winter-wheat';
    acquired: string;
    inSeason: boolean;
    /** The wheat's canopy cover at the pass (late-autumn tillering 0.45, closing in spring). */
    wheatCanopy: number;
  };
}

const inWindow = (md: string, w: { from: string; to: string }) =>
  w.from <= w.to ? md >= w.from && md <= w.to : md >= w.from || md <= w.to;

/** The last day on or before `date` that falls on month-day `md`. */
const lastOn = (date: string, md: string) => {
  const y = Number(date.slice(0, 4));
  return `${date.slice(5) >= md ? y : y - 1}-${md}`;
};

/**
 * Winter wheat's canopy cover by days after sowing: the sparse cover of tillering through the winter
 * (0.45), closing from early March (day 150) to heading (day 220, 0.9).
 */
export function wheatCanopy(daysAfterSowing: number): number {
  const k = Math.min(1, Math.max(0, (daysAfterSowing - 150) / 70));
  return Math.round((0.45 + 0.45 * k) * 100) / 100;
}

/** The demo's season on the day of `now` in the farm's zone (see DemoSeason). */
export function demoSeason(now: number, timeZone = 'Asia/Tokyo'): DemoSeason {
  const date = localDate(now, timeZone);
  const md = date.slice(5);
  const year = date.slice(0, 4);
  const { rice, wheat } = DEMO_CALENDAR;
  const at = (day: string) => `${day}T01:35:21Z`; // Sentinel-2 passes Niigata at about 10:35 JST
  let crop: DemoSeason['pass']['crop'];
  let passDate: string;
  let inSeason = true;
  if (inWindow(md, rice.window)) {
    crop = 'rice';
    passDate = addDays(date, -3);
  } else if (inWindow(md, wheat.window)) {
    crop = 'winter-wheat';
    passDate = addDays(date, -3);
  } else {
    // Between the decisions: the last one's pass — the paddy's after its window, the wheat's before it.
    inSeason = false;
    crop = md > rice.window.to ? 'rice' : 'winter-wheat';
    passDate = addDays(`${year}-${crop === 'rice' ? rice.window.to : wheat.window.to}`, -3);
  }
  // The paddy: scouted the day before its pass; otherwise this season's transplanting, and the
  // scouting at panicle initiation once that day has come.
  let paddy: DemoSeason['rice'];
  if (crop === 'rice') {
    const scouted = addDays(passDate, -1);
    paddy = { plantingDate: addDays(scouted, -rice.transplantToPiDays), scouted };
  } else {
    const plantingDate = lastOn(date, rice.transplanted);
    const scouted = `${plantingDate.slice(0, 4)}-${rice.scouted}`;
    paddy = { plantingDate, scouted: scouted <= date ? scouted : null };
  }
  const sown = lastOn(crop === 'winter-wheat' ? passDate : date, wheat.sown);
  return {
    date,
    rice: paddy,
    wheat: { plantingDate: sown },
    pass: { crop, acquired: at(passDate), inSeason, wheatCanopy: wheatCanopy(daysBetween(sown, passDate)) },
  };
}
