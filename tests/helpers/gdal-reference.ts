// The GDAL reference the imagery statistics are held to: Debian's GDAL Python bindings (in
// /usr/bin/python3) compute a normalised difference (NIR − other) / (NIR + other) — NDVI with the
// red band, NDRE with the red edge — on the same files and the same GeoJSON fields: OGR
// reprojects the fields, gdal.RasterizeLayer picks the pixels by centre-in-polygon, coarser bands
// (20 m red edge, B8A, SCL) are read nearest-neighbour onto the grid of `grid` (default: the
// `red` file), numpy does the statistics. Percentiles are numpy's default, method 'linear'
// (position (n − 1)·q between order statistics) — the definition hatake's p10, p90 and p95 use.
import { execFileSync } from 'node:child_process';
import { crsOf, transformer } from '../../edge/imagery/crs.ts';

export const PY = '/usr/bin/python3';

const REFERENCE = String.raw`
import json, sys
import numpy as np
from osgeo import gdal, ogr, osr
gdal.UseExceptions()
a = json.load(sys.stdin)
grid_ds = gdal.Open(a.get('grid') or a['red'])
W, H = grid_ds.RasterXSize, grid_ds.RasterYSize
def band(path, b):
    ds = gdal.Open(path)
    return ds.GetRasterBand(b).ReadAsArray(buf_xsize=W, buf_ysize=H, resample_alg=gdal.GRIORA_NearestNeighbour).astype(np.float64)
red = band(a['red'], a.get('redBand', 1))
nir = band(a['nir'], a.get('nirBand', 1))
valid = (red != 0) & (nir != 0)
if a.get('scl'):
    scl = band(a['scl'], 1)
    valid &= np.isin(scl, a['keep'])
off, s = a['offset'], a['scale']
with np.errstate(divide='ignore', invalid='ignore'):
    nd = ((nir + off) * s - (red + off) * s) / ((nir + off) * s + (red + off) * s)
valid &= np.isfinite(nd)
src = ogr.Open(a['fields']); layer = src.GetLayer()
out = {}
for feat in layer:
    fid = feat.GetField('id')
    mem = gdal.GetDriverByName('MEM').Create('', W, H, 1, gdal.GDT_Byte)
    mem.SetGeoTransform(grid_ds.GetGeoTransform()); mem.SetProjection(grid_ds.GetProjection())
    lyr_ds = ogr.GetDriverByName('Memory').CreateDataSource('m')
    srs = osr.SpatialReference(); srs.ImportFromEPSG(4326); srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lyr = lyr_ds.CreateLayer('f', srs=srs)
    f2 = ogr.Feature(lyr.GetLayerDefn()); f2.SetGeometry(feat.GetGeometryRef().Clone()); lyr.CreateFeature(f2)
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1], options=['ALL_TOUCHED=FALSE'])
    inside = mem.GetRasterBand(1).ReadAsArray() == 1
    v = nd[inside & valid]
    n = int(inside.sum())
    if v.size == 0:
        out[fid] = {'pixels': n, 'count': 0}
        continue
    out[fid] = {'pixels': n, 'count': int(v.size), 'validFraction': v.size / n, 'mean': float(v.mean()),
                'median': float(np.median(v)), 'p10': float(np.percentile(v, 10)), 'p90': float(np.percentile(v, 90)),
                'p95': float(np.percentile(v, 95, method='linear')),
                'std': float(v.std()), 'min': float(v.min()), 'max': float(v.max())}
print(json.dumps(out))
`;

/** GDAL/numpy statistics of one field (only pixels and count when no pixel was valid). */
export interface GdalStats {
  pixels: number;
  count: number;
  validFraction?: number;
  mean?: number;
  median?: number;
  p10?: number;
  p90?: number;
  p95?: number;
  std?: number;
  min?: number;
  max?: number;
}

export interface GdalArgs {
  /** The band subtracted: red for NDVI, red edge (B05) for NDRE. */
  red: string;
  redBand?: number;
  nir: string;
  nirBand?: number;
  /** The file whose grid the statistics are on (default: `red`). */
  grid?: string;
  scl?: string;
  keep?: number[];
  offset: number;
  scale: number;
  /** GeoJSON (WGS84) whose features carry an `id` property. */
  fields: string;
}

/** Per-field statistics of the normalised difference, computed by GDAL and numpy. */
export function gdalReference(args: GdalArgs): Record<string, GdalStats> {
  const out = execFileSync(PY, ['-c', REFERENCE], { input: JSON.stringify(args), encoding: 'utf8' });
  return JSON.parse(out) as Record<string, GdalStats>;
}

/** Fails loudly (not skip) when the reference is missing: CI must install gdal-bin python3-gdal. */
export function requireGdal(): void {
  execFileSync(PY, ['-c', 'from osgeo import gdal; import numpy']);
}

/** GeoJSON fields drawn in pixel space of a grid (vertices off the pixel-centre lines). */
export function fieldsGeoJson(
  epsg: number,
  x0: number,
  y0: number,
  px: number,
  shapes: { id: string; rings: [number, number][][][] }[],
): string {
  const t = transformer(crsOf(epsg, 'test'));
  const ll = ([c, r]: [number, number]) => t.toWgs84([x0 + c * px, y0 - r * px]);
  return JSON.stringify({
    type: 'FeatureCollection',
    features: shapes.map((s) => ({
      type: 'Feature',
      properties: { id: s.id },
      geometry: {
        type: 'MultiPolygon',
        coordinates: s.rings.map((poly) => poly.map((ring) => ring.map(ll))),
      },
    })),
  });
}

/** BigEarthNet patch S2A_MSIL2A_20170617T113321_36_85 (EPSG:32629, 10 m, 120 × 120). */
export const BEN_GRID = { epsg: 32629, x0: 643200, y0: 5798040, px: 10 } as const;

/**
 * Two fields on that patch, `a` and `b` (the fields of the audit that found the estimated
 * virtual reference above field a's maximum NDVI).
 */
export function benTwoFields(): string {
  return fieldsGeoJson(BEN_GRID.epsg, BEN_GRID.x0, BEN_GRID.y0, BEN_GRID.px, [
    {
      id: 'a',
      rings: [
        [
          [
            [5.3, 5.2],
            [60.7, 8.1],
            [55.2, 70.4],
            [10.1, 50.3],
            [5.3, 5.2],
          ],
        ],
      ],
    },
    {
      id: 'b',
      rings: [
        [
          [
            [70.3, 60.2],
            [115.7, 61.1],
            [110.2, 118.4],
            [70.3, 60.2],
          ],
        ],
      ],
    },
  ]);
}
