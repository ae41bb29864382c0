// Field boundaries: GeoJSON (WGS84) polygons and multipolygons, checked, reprojected with proj4
// into the raster's CRS and then into pixel space, where a pixel belongs to a field when its
// centre lies inside (even-odd over all rings, so holes and multi-part fields work). Rows are
// rasterized one at a time, so a field never needs a full-size mask. A field's pixels are those of
// the grid's lattice, inside the raster or not: a scene that shows part of a field leaves the rest
// counted (`offRaster`), so what a scene saw of a field is measured against the whole field.
import { HatakeError } from '../../protocol/errors.ts';
import type { Grid } from './raster-file.ts';
import { transformer } from './crs.ts';

export const MAX_FIELDS = 100_000;
export const MAX_RING_VERTICES = 100_000;

type Ring = [number, number][];
type Window4 = [number, number, number, number];

/** A field as given: id, name, and polygons (outer ring first, then holes) in WGS84. */
export interface FieldInput {
  id: string;
  name?: string;
  polygons: Ring[][];
}

/** A field placed on a grid: its rings in pixel coordinates (x = column, y = row, corners at integers). */
export interface PlacedField {
  id: string;
  name?: string;
  /** Pixel window of candidate pixels [c0, r0, c1, r1) (end exclusive), clipped to the grid. */
  win: [number, number, number, number];
  /** Edges (x1, y1, x2, y2) of all rings in pixel coordinates, 4 numbers per edge. */
  edges: Float64Array;
  /**
   * The field's pixels (centre in the field, on the grid's lattice) that lie outside the raster,
   * and their area in m²: the part of the field a scene clipped short does not show. Zero for a
   * field inside the raster.
   */
  offRaster: { pixels: number; areaM2: number };
}

/** Fields placed on a grid, and the ids of those that cover no pixel centre of it. */
export interface LocatedFields {
  placed: PlacedField[];
  uncovered: string[];
}

function bad(file: string, pointer: string, message: string, expected?: string): HatakeError {
  return new HatakeError('HATAKE_E_FIELDS', message, { place: { file, pointer }, expected });
}

function checkRing(ring: unknown, file: string, pointer: string): Ring {
  if (!Array.isArray(ring) || ring.length < 4) {
    throw bad(file, pointer, 'a polygon ring needs at least 4 positions', 'a closed ring [[lon, lat], …]');
  }
  if (ring.length > MAX_RING_VERTICES) {
    throw bad(file, pointer, `a ring has ${ring.length} positions`, `at most ${MAX_RING_VERTICES}`);
  }
  const out: Ring = [];
  for (let i = 0; i < ring.length; i++) {
    const p = ring[i] as unknown;
    if (
      !Array.isArray(p) ||
      p.length < 2 ||
      typeof p[0] !== 'number' ||
      typeof p[1] !== 'number' ||
      !Number.isFinite(p[0]) ||
      !Number.isFinite(p[1])
    ) {
      throw bad(file, `${pointer}/${i}`, 'a position is not [longitude, latitude] numbers', '[lon, lat]');
    }
    if (Math.abs(p[0]) > 180 || Math.abs(p[1]) > 90) {
      throw bad(
        file,
        `${pointer}/${i}`,
        `position [${p[0]}, ${p[1]}] is not a WGS84 longitude/latitude`,
        'GeoJSON in WGS84 (EPSG:4326): longitude −180…180, latitude −90…90',
      );
    }
    out.push([p[0], p[1]]);
  }
  const a = out[0]!;
  const z = out[out.length - 1]!;
  if (a[0] !== z[0] || a[1] !== z[1]) {
    throw bad(file, pointer, 'a polygon ring is not closed', 'the last position equal to the first');
  }
  return out;
}

function polygonsOf(geom: unknown, file: string, pointer: string): Ring[][] {
  if (typeof geom !== 'object' || geom === null) {
    throw bad(file, pointer, 'a feature has no geometry', 'a Polygon or MultiPolygon');
  }
  const g = geom as { type?: unknown; coordinates?: unknown };
  const polys = (coords: unknown, ptr: string): Ring[] => {
    if (!Array.isArray(coords) || coords.length === 0) {
      throw bad(file, ptr, 'a polygon has no rings', 'an array of rings');
    }
    return coords.map((r, i) => checkRing(r, file, `${ptr}/${i}`));
  };
  if (g.type === 'Polygon') return [polys(g.coordinates, `${pointer}/coordinates`)];
  if (g.type === 'MultiPolygon') {
    if (!Array.isArray(g.coordinates) || g.coordinates.length === 0) {
      throw bad(file, `${pointer}/coordinates`, 'a MultiPolygon has no polygons', 'an array of polygons');
    }
    return g.coordinates.map((p, i) => polys(p, `${pointer}/coordinates/${i}`));
  }
  throw bad(
    file,
    `${pointer}/type`,
    `geometry type "${String(g.type).slice(0, 40)}" cannot be a field`,
    'Polygon or MultiPolygon',
  );
}

/** Parses field boundaries from GeoJSON text (FeatureCollection, Feature or bare geometry). */
export function parseFields(text: string, file: string, idProperty = 'id'): FieldInput[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(file, '/', `not valid JSON: ${(e as Error).message}`, 'a GeoJSON FeatureCollection');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw bad(file, '/', 'not a GeoJSON object', 'a GeoJSON FeatureCollection');
  }
  const d = doc as { type?: unknown; features?: unknown; crs?: unknown };
  const crsName = (d.crs as { properties?: { name?: unknown } } | undefined)?.properties?.name;
  if (typeof crsName === 'string' && !/(CRS84|4326)$/.test(crsName)) {
    throw bad(file, '/crs', `fields are in ${crsName.slice(0, 80)}`, 'GeoJSON in WGS84 (EPSG:4326 / CRS84)');
  }
  let features: unknown[];
  if (d.type === 'FeatureCollection') {
    if (!Array.isArray(d.features))
      throw bad(file, '/features', 'features is not an array', 'an array of Features');
    features = d.features;
  } else if (d.type === 'Feature') {
    features = [doc];
  } else if (d.type === 'Polygon' || d.type === 'MultiPolygon') {
    features = [{ type: 'Feature', id: 'field-1', geometry: doc, properties: {} }];
  } else {
    throw bad(
      file,
      '/type',
      `GeoJSON type "${String(d.type).slice(0, 40)}"`,
      'FeatureCollection, Feature, Polygon or MultiPolygon',
    );
  }
  if (features.length === 0) throw bad(file, '/features', 'the file has no fields', 'at least one Feature');
  if (features.length > MAX_FIELDS) {
    throw bad(file, '/features', `${features.length} fields`, `at most ${MAX_FIELDS}`);
  }
  const seen = new Set<string>();
  const out: FieldInput[] = [];
  features.forEach((f, i) => {
    const ptr = d.type === 'FeatureCollection' ? `/features/${i}` : '';
    if (typeof f !== 'object' || f === null || (f as { type?: unknown }).type !== 'Feature') {
      throw bad(file, ptr || '/', 'not a GeoJSON Feature', 'a Feature');
    }
    const feat = f as { id?: unknown; properties?: unknown; geometry?: unknown };
    const props = (
      typeof feat.properties === 'object' && feat.properties !== null ? feat.properties : {}
    ) as Record<string, unknown>;
    const raw = props[idProperty] ?? feat.id ?? `field-${i + 1}`;
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      throw bad(file, `${ptr}/properties/${idProperty}`, 'the field id is not a string or number', 'an id');
    }
    const id = String(raw);
    if (
      id.length === 0 ||
      id.length > 200 ||
      [...id].some((ch) => ch.charCodeAt(0) < 32 || ch === '/' || ch === '\\')
    ) {
      throw bad(
        file,
        `${ptr}/properties/${idProperty}`,
        `field id "${id.slice(0, 40)}" is not usable`,
        '1–200 printable characters without / or \\',
      );
    }
    if (seen.has(id))
      throw bad(file, `${ptr}/properties/${idProperty}`, `field id "${id}" appears twice`, 'unique ids');
    seen.add(id);
    const name = typeof props.name === 'string' ? props.name.slice(0, 200) : undefined;
    out.push({ id, name, polygons: polygonsOf(feat.geometry, file, `${ptr}/geometry`) });
  });
  return out;
}

/** Reprojects fields onto a grid. Throws HATAKE_E_FIELDS naming the fields that cover no pixel. */
export function placeFields(fields: readonly FieldInput[], grid: Grid, file: string): PlacedField[] {
  const { placed, uncovered } = locateFields(fields, grid, file);
  if (uncovered.length > 0) throw uncoveredError(uncovered, grid, file);
  return placed;
}

/**
 * Reprojects fields onto a grid: the fields that cover at least one pixel centre of the raster
 * (wholly or in part), and the ids of those that cover none — a scene that shows part of the farm
 * (a provider's clip, a farm across two tiles). Throws only for a field that cannot be projected.
 */
export function locateFields(fields: readonly FieldInput[], grid: Grid, file: string): LocatedFields {
  const t = transformer(grid.crs);
  const placed: PlacedField[] = [];
  const uncovered: string[] = [];
  for (const f of fields) {
    const edges: number[] = [];
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const poly of f.polygons) {
      for (const ring of poly) {
        let prev: [number, number] | undefined;
        for (const p of ring) {
          const [x, y] = t.toCrs(p);
          const px = (x - grid.x0) / grid.dx;
          const py = (grid.y0 - y) / grid.dy;
          if (!Number.isFinite(px) || !Number.isFinite(py)) {
            throw bad(
              file,
              '',
              `field "${f.id}" cannot be projected into EPSG:${grid.crs.epsg}`,
              'fields near the raster',
            );
          }
          if (prev) edges.push(prev[0], prev[1], px, py);
          prev = [px, py];
          if (px < minX) minX = px;
          if (px > maxX) maxX = px;
          if (py < minY) minY = py;
          if (py > maxY) maxY = py;
        }
      }
    }
    // Candidate pixels: those whose centre (c + 0.5) can fall inside the bounding box, on the
    // grid's lattice (`full`) and within the raster (`win`).
    const full: Window4 = [
      Math.ceil(minX - 0.5),
      Math.ceil(minY - 0.5),
      Math.floor(maxX - 0.5) + 1,
      Math.floor(maxY - 0.5) + 1,
    ];
    const c0 = Math.max(0, full[0]);
    const r0 = Math.max(0, full[1]);
    const c1 = Math.min(grid.width, full[2]);
    const r1 = Math.min(grid.height, full[3]);
    const pf: PlacedField = {
      id: f.id,
      name: f.name,
      win: [c0, r0, c1, r1],
      edges: Float64Array.from(edges),
      offRaster: { pixels: 0, areaM2: 0 },
    };
    if (c1 <= c0 || r1 <= r0 || !hasAnyPixel(pf)) {
      uncovered.push(f.id);
      continue;
    }
    if (c0 !== full[0] || r0 !== full[1] || c1 !== full[2] || r1 !== full[3]) {
      pf.offRaster = offRasterPixels(pf, full, grid);
    }
    placed.push(pf);
  }
  return { placed, uncovered };
}

/** HATAKE_E_FIELDS naming (up to five of) the fields that cover no pixel centre of the raster. */
export function uncoveredError(uncovered: readonly string[], grid: Grid, file: string): HatakeError {
  const list =
    uncovered
      .slice(0, 5)
      .map((s) => `"${s}"`)
      .join(', ') + (uncovered.length > 5 ? ` and ${uncovered.length - 5} more` : '');
  return new HatakeError(
    'HATAKE_E_FIELDS',
    `${uncovered.length === 1 ? 'field' : `${uncovered.length} fields`} ${list} ${uncovered.length === 1 ? 'does' : 'do'} not cover any pixel centre of the raster (${grid.width}×${grid.height} px, EPSG:${grid.crs.epsg})`,
    { place: { file }, expected: 'field boundaries inside the scene' },
  );
}

/**
 * The pixels of a field whose centres lie in it but outside the raster, and their area: the rows
 * of its whole candidate window `full` on the grid's lattice, the same centre-in-polygon rule as
 * `rowSpans` (so the pixels inside the raster are exactly the ones `rowSpans` gives), less those
 * inside the raster. Edges enter and leave an active list as the rows pass them, so a field much
 * larger than the raster costs its rows times the edges crossing each, not times all its edges.
 */
function offRasterPixels(f: PlacedField, full: Window4, grid: Grid): { pixels: number; areaM2: number } {
  const e = f.edges;
  const [C0, R0, C1, R1] = full;
  const [, r0, , r1] = f.win;
  const ymin = (i: number) => Math.min(e[i + 1]!, e[i + 3]!);
  const ymax = (i: number) => Math.max(e[i + 1]!, e[i + 3]!);
  const byStart: number[] = [];
  for (let i = 0; i < e.length; i += 4) if (e[i + 1] !== e[i + 3]) byStart.push(i);
  byStart.sort((a, b) => ymin(a) - ymin(b));
  let next = 0;
  let active: number[] = [];
  const xs: number[] = [];
  let pixels = 0;
  let areaM2 = 0;
  for (let row = R0; row < R1; row++) {
    const y = row + 0.5;
    while (next < byStart.length && ymin(byStart[next]!) <= y) active.push(byStart[next++]!);
    // Half-open in y, as rowSpans: an edge crosses the scanline when ymin <= y < ymax.
    active = active.filter((i) => ymax(i) > y);
    xs.length = 0;
    for (const i of active) {
      const x1 = e[i]!;
      const y1 = e[i + 1]!;
      xs.push(x1 + ((y - y1) * (e[i + 2]! - x1)) / (e[i + 3]! - y1));
    }
    if (xs.length < 2) continue;
    xs.sort((a, b) => a - b);
    const inRows = row >= r0 && row < r1;
    let off = 0;
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const a = Math.max(C0, Math.ceil(xs[i]! - 0.5));
      const b = Math.min(C1, Math.ceil(xs[i + 1]! - 0.5));
      if (b <= a) continue;
      const inside = inRows ? Math.max(0, Math.min(b, grid.width) - Math.max(a, 0)) : 0;
      off += b - a - inside;
    }
    if (off > 0) {
      pixels += off;
      areaM2 += off * pixelAreaM2(grid, row);
    }
  }
  return { pixels, areaM2 };
}

function hasAnyPixel(f: PlacedField): boolean {
  const spans: number[] = [];
  for (let r = f.win[1]; r < f.win[3]; r++) {
    if (rowSpans(f, r, spans) > 0) return true;
  }
  return false;
}

/**
 * The columns of row `row` whose pixel centres lie inside the field, as [start, end) pairs in
 * `out` (cleared first), clipped to the field's window. Returns the number of pixels.
 */
export function rowSpans(f: PlacedField, row: number, out: number[]): number {
  out.length = 0;
  const y = row + 0.5;
  const e = f.edges;
  const xs: number[] = [];
  for (let i = 0; i < e.length; i += 4) {
    const y1 = e[i + 1]!;
    const y2 = e[i + 3]!;
    // Half-open in y, so a vertex on the scanline is counted once.
    if ((y1 <= y && y < y2) || (y2 <= y && y < y1)) {
      const x1 = e[i]!;
      xs.push(x1 + ((y - y1) * (e[i + 2]! - x1)) / (y2 - y1));
    }
  }
  if (xs.length < 2) return 0;
  xs.sort((a, b) => a - b);
  let n = 0;
  const [c0, , c1] = f.win;
  for (let i = 0; i + 1 < xs.length; i += 2) {
    // Centres c + 0.5 in [xa, xb).
    const a = Math.max(c0, Math.ceil(xs[i]! - 0.5));
    const b = Math.min(c1, Math.ceil(xs[i + 1]! - 0.5));
    if (b > a) {
      out.push(a, b);
      n += b - a;
    }
  }
  return n;
}

/** Area of one pixel of a row, in m² (geographic grids: on the WGS84 sphere of equal area). */
export function pixelAreaM2(grid: Grid, row: number): number {
  if (!grid.crs.geographic) return grid.dx * grid.dy;
  const R = 6371007.2; // authalic radius
  const rad = Math.PI / 180;
  const lat1 = (grid.y0 - row * grid.dy) * rad;
  const lat2 = (grid.y0 - (row + 1) * grid.dy) * rad;
  return R * R * grid.dx * rad * Math.abs(Math.sin(lat1) - Math.sin(lat2));
}
