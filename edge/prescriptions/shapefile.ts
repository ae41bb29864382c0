// A prescription as a zipped shapefile for spreader terminals: WGS84 .prj, one polygon per zone,
// a numeric RATE column (kg product/ha — what the spreader meters), short 8.3 file names.
// Shapefiles want outer rings clockwise and holes counter-clockwise (GeoJSON is the opposite),
// and shp-write writes Polygon and MultiPolygon layers to the same file name, so every zone goes
// in as a MultiPolygon with its rings rewound. When the recommendation knows its field, the part of
// the field no zone covers is one more polygon, ZONE 0, at the default RATE (rows.ts, defaultRow).
import shpwrite from '@mapbox/shp-write';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { allRows } from './rows.ts';

/** WGS84 as ESRI WKT. */
export const WGS84_PRJ =
  'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["Degree",0.017453292519943295]]';

/** Twice the signed area of a ring (positive = counter-clockwise). */
function signedArea2(ring: number[][]): number {
  let s = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++)
    s += (ring[j]![0]! - ring[i]![0]!) * (ring[j]![1]! + ring[i]![1]!);
  return -s;
}

const orient = (ring: number[][], clockwise: boolean) =>
  signedArea2(ring) < 0 === clockwise ? ring : [...ring].reverse();

/** The shapefile's base name: RX (8.3-safe). */
export const SHAPE_NAME = 'RX';

/** The recommendation as a shapefile zip (RX.shp, RX.shx, RX.dbf, RX.prj). */
export async function toShapefileZip(rec: Recommendation): Promise<Uint8Array> {
  const features = allRows(rec).map((r) => ({
    type: 'Feature' as const,
    properties: {
      ZONE: r.zone,
      RATE: r.productKgHa,
      N_KGHA: r.kgNHa,
      N_KG10A: Math.round(r.kgNHa * 100) / 1000,
      AREA_HA: Math.round(r.areaHa * 10000) / 10000,
      PRODUCT: rec.product.id.slice(0, 20),
    },
    geometry: {
      type: 'MultiPolygon' as const,
      coordinates: r.geometry.coordinates.map((poly) => poly.map((ring, k) => orient(ring, k === 0))),
    },
  }));
  const zip = await shpwrite.zip<'uint8array'>(
    { type: 'FeatureCollection', features },
    { outputType: 'uint8array', compression: 'DEFLATE', prj: WGS84_PRJ, types: { polygon: SHAPE_NAME } },
  );
  return zip;
}
