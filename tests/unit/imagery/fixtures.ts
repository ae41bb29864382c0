// Test fixtures for imagery: small GeoTIFFs written with geotiff.js (sim/scene.ts's writer) on a
// UTM grid, and GeoJSON fields drawn in that grid's pixel space.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGeoTiff } from '../../../sim/scene.ts';
import { crsOf, transformer } from '../../../edge/imagery/crs.ts';

export const EPSG = 32654; // WGS84 / UTM 54N (Niigata)
export const X0 = 500000;
export const Y0 = 4185000;
export const PX = 10;

/** Writes a GeoTIFF of uint16 or float32 bands, on the test grid unless `grid` says otherwise. */
export function tiff(
  dir: string,
  name: string,
  bands: (Uint16Array | Float32Array)[],
  width: number,
  height: number,
  grid: { epsg?: number; x0?: number; y0?: number; px?: number; nodata?: number } = {},
): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    Buffer.from(
      writeGeoTiff({
        bands,
        width,
        height,
        epsg: grid.epsg ?? EPSG,
        x0: grid.x0 ?? X0,
        y0: grid.y0 ?? Y0,
        pixelSize: grid.px ?? PX,
        nodata: grid.nodata,
      }),
    ),
  );
  return file;
}

/** A band filled with one value. */
export function filled(n: number, v: number): Uint16Array {
  return new Uint16Array(n).fill(v);
}

/** Lon/lat of a pixel-space point on the test grid. */
export function lonLat(
  c: number,
  r: number,
  grid: { x0?: number; y0?: number; px?: number } = {},
): [number, number] {
  const t = transformer(crsOf(EPSG, 'test'));
  const [lon, lat] = t.toWgs84([
    (grid.x0 ?? X0) + c * (grid.px ?? PX),
    (grid.y0 ?? Y0) - r * (grid.px ?? PX),
  ]);
  return [lon, lat];
}

/** A FeatureCollection of rectangles given in pixel space [c0, r0, c1, r1]. */
export function rectFields(rects: Record<string, [number, number, number, number]>): string {
  return JSON.stringify({
    type: 'FeatureCollection',
    features: Object.entries(rects).map(([id, [c0, r0, c1, r1]]) => ({
      type: 'Feature',
      properties: { id },
      geometry: {
        type: 'Polygon',
        coordinates: [[lonLat(c0, r0), lonLat(c0, r1), lonLat(c1, r1), lonLat(c1, r0), lonLat(c0, r0)]],
      },
    })),
  });
}
