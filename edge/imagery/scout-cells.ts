// Scouting cells: fixed ground for the imagery-anomaly rule (edge/rules/imagery-anomaly.ts).
//
// The rule compares a zone with its own history, so a zone must name the same ground in every
// scene. The imagery's management zones do not: they are k-means classes of one scene's index
// values (zone 1 is that scene's lowest class, wherever it lies, and k changes from scene to
// scene). So the gateway lays a fixed grid of scouting cells over each field's manifest boundary
// (about 3 × 3 cells of at least 40 m, cut to the field, labelled A1… from the north-west) and
// estimates each cell's mean index per scene from the scene's zones: the mean of the zones over
// the cell, weighted by the area of each zone inside it (and by the zone's valid fraction). The
// zones are drawn from the valid pixels, so the share of the cell they cover is its valid
// fraction: a cloud over a cell leaves it uncovered, and the rule then ignores it.
import { createHash } from 'node:crypto';
import polygonClipping from 'polygon-clipping';
import type { MultiPolygon as ClipMultiPolygon, Polygon as ClipPolygon } from 'polygon-clipping';
import type { Field } from '../../protocol/manifest.ts';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import type { MultiPolygonGeometry } from '../../protocol/recommendation.ts';
import { AUTHALIC_RADIUS_M, areaM2, clipRobustly } from '../recommend/coverage.ts';
import type { ZoneIndexPoint } from '../rules/context.ts';

/** Version of the cell layout (part of the grid id: a change of layout starts a new history). */
const CELL_LAYOUT = 'cells/1';
/** The smallest cell side, metres (16 Sentinel-2 pixels). */
const MIN_CELL_M = 40;
/** About this many cells per field. */
const CELLS_PER_FIELD = 9;
const MAX_CELLS = 64;
/** A cell cut by the boundary to less than this share of its square is left out. */
const MIN_CELL_SHARE = 0.25;
const M_PER_DEG = (AUTHALIC_RADIUS_M * Math.PI) / 180;

/**
 * One statistic of one index over one scouting cell of a field in one scene: the rule's
 * ZoneIndexPoint with the cells' layout `grid` (the gateway keeps these per scene).
 */
export interface ScoutCellPoint extends ZoneIndexPoint {
  grid: string;
}

export interface ScoutCell {
  field: string;
  /** A1, A2 … (row letter from the north, column number from the west). */
  zone: string;
  geometry: ClipMultiPolygon;
  areaM2: number;
  centroid: [number, number];
}

/** The id of a field's cell layout: changes when its boundary (or the layout) does. */
export function cellGridId(field: Pick<Field, 'boundary'>): string {
  return createHash('sha256')
    .update(JSON.stringify([CELL_LAYOUT, field.boundary?.coordinates ?? null]))
    .digest('hex')
    .slice(0, 16);
}

const multiArea = (mp: ClipMultiPolygon): number =>
  mp.length ? areaM2({ type: 'MultiPolygon', coordinates: mp as MultiPolygonGeometry['coordinates'] }) : 0;

/** polygon-clipping's intersection, robust to its edge-case bugs (clipRobustly). */
const intersect = (a: ClipMultiPolygon, b: ClipMultiPolygon): ClipMultiPolygon =>
  clipRobustly((snap) => polygonClipping.intersection(snap(a), snap(b)));

/**
 * The area-weighted centroid of a multipolygon's outer rings less their holes (planar lon/lat,
 * relative to its first vertex: products of whole degrees would cancel the digits that matter).
 */
function centroidOf(mp: ClipMultiPolygon): [number, number] {
  const [ox, oy] = mp[0]![0]![0]! as [number, number];
  let a = 0;
  let cx = 0;
  let cy = 0;
  for (const poly of mp)
    for (const ring of poly)
      for (let i = 0; i + 1 < ring.length; i++) {
        const [x1, y1] = [ring[i]![0]! - ox, ring[i]![1]! - oy];
        const [x2, y2] = [ring[i + 1]![0]! - ox, ring[i + 1]![1]! - oy];
        const cross = x1 * y2 - x2 * y1;
        a += cross;
        cx += (x1 + x2) * cross;
        cy += (y1 + y2) * cross;
      }
  return a === 0 ? [ox, oy] : [ox + cx / (3 * a), oy + cy / (3 * a)];
}

/** A field's scouting cells (none without a boundary, or when the field is too small for three). */
export function scoutCells(field: Field): ScoutCell[] {
  if (!field.boundary) return [];
  const boundary: ClipMultiPolygon = [field.boundary.coordinates as ClipPolygon];
  const pts = field.boundary.coordinates.flat();
  const [w, s, e, n] = [
    Math.min(...pts.map((p) => p[0]!)),
    Math.min(...pts.map((p) => p[1]!)),
    Math.max(...pts.map((p) => p[0]!)),
    Math.max(...pts.map((p) => p[1]!)),
  ];
  const widthM = (e - w) * M_PER_DEG * Math.cos((((s + n) / 2) * Math.PI) / 180);
  const heightM = (n - s) * M_PER_DEG;
  let side = Math.max(MIN_CELL_M, Math.sqrt(multiArea(boundary) / CELLS_PER_FIELD));
  let cols = 1;
  let rows = 1;
  for (;;) {
    cols = Math.max(1, Math.round(widthM / side));
    rows = Math.max(1, Math.round(heightM / side));
    if (rows * cols <= MAX_CELLS) break;
    side *= 1.25;
  }
  const cells: ScoutCell[] = [];
  const dx = (e - w) / cols;
  const dy = (n - s) / rows;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const [x0, x1, y1, y0] = [w + c * dx, w + (c + 1) * dx, n - r * dy, n - (r + 1) * dy];
      const square: ClipMultiPolygon = [
        [
          [
            [x0, y0],
            [x1, y0],
            [x1, y1],
            [x0, y1],
            [x0, y0],
          ],
        ],
      ];
      let geometry: ClipMultiPolygon;
      try {
        geometry = intersect(boundary, square);
      } catch {
        continue;
      }
      const area = multiArea(geometry);
      if (area < MIN_CELL_SHARE * multiArea(square)) continue;
      cells.push({
        field: field.id,
        zone: `${String.fromCharCode(65 + (r % 26))}${c + 1}`,
        geometry,
        areaM2: area,
        centroid: centroidOf(geometry),
      });
    }
  return cells.length >= 3 ? cells : [];
}

/**
 * A processed scene's per-cell index statistics, estimated from its zones (see above), for the
 * farm's fields with a boundary: one row per field, cell and index the zones carry.
 */
export function scoutCellRows(
  fields: readonly Field[],
  zones: ZoneCollection,
  sceneId: string,
  acquired: number,
): ScoutCellPoint[] {
  const rows: ScoutCellPoint[] = [];
  for (const field of fields) {
    const features = zones.features.filter((z) => z.properties.fieldId === field.id);
    if (features.length === 0) continue;
    const grid = cellGridId(field);
    const geometries = features.map((z) => z.geometry.coordinates as ClipMultiPolygon);
    for (const cell of scoutCells(field)) {
      // index → [Σ weight · mean, Σ weight] over the zones in the cell
      const sums = new Map<string, [number, number]>();
      geometries.forEach((g, i) => {
        let inside: number;
        try {
          inside = multiArea(intersect(cell.geometry, g));
        } catch {
          return; // a zone that cannot be cut counts as not seen
        }
        if (inside <= 0) return;
        const p = features[i]!.properties;
        const weight = inside * p.validFraction;
        for (const [index, st] of Object.entries(p.indices)) {
          if (st.mean === null || !Number.isFinite(st.mean)) continue;
          const acc = sums.get(index) ?? [0, 0];
          acc[0] += weight * st.mean;
          acc[1] += weight;
          sums.set(index, acc);
        }
      });
      for (const [index, [wm, wt]] of sums) {
        if (wt <= 0) continue;
        rows.push({
          field: field.id,
          grid,
          zone: cell.zone,
          index,
          time: acquired,
          mean: wm / wt,
          validFraction: Math.min(1, wt / cell.areaM2),
          centroid: cell.centroid,
          scene: sceneId,
        });
      }
    }
  }
  return rows;
}
