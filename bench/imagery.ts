// Benchmark: `hatake imagery process` on a whole Sentinel-2 tile extent — a generated
// 10980 × 10980 two-band uint16 scene (red, NIR; 512 × 512 DEFLATE tiles like the Sentinel-2
// COGs) with 1,000 fields — against GDAL (Debian's Python bindings + numpy) computing the same
// NDVI and per-field means on the same file, in the same run. Prints wall time and peak RSS of
// each (GNU time's maximum resident set size) and their ratio. hatake also computes median,
// p10/p90, std and the management zones; GDAL only the means. Each side runs `--rounds` times
// (default 3), the two alternating and the first one swapping each round; the figures are the
// median times and the largest peak RSS, so a burst of load from a neighbour on a shared machine
// moves one round, not the figure.
// Run: npx tsx bench/imagery.ts [--keep DIR] [--rounds N]   (needs gdal-bin python3-gdal; ~2 GB of disk)
import { median, report } from './lib/report.ts';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { crsOf, transformer } from '../edge/imagery/crs.ts';
import { rng } from '../sim/scene.ts';
import { buildDist } from '../tests/helpers/dist.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SIZE = 10980;
const FIELDS = 1000;
const EPSG = 32654;
const X0 = 300000;
const Y0 = 4200000;
const RSS_LIMIT_MB = 1024;
const rArg = process.argv.indexOf('--rounds');
const ROUNDS = rArg > 0 ? Math.max(1, Number(process.argv[rArg + 1])) : 3;

const GENERATE = String.raw`
import sys
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
path, n, epsg, x0, y0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
drv = gdal.GetDriverByName('GTiff')
ds = drv.Create(path, n, n, 2, gdal.GDT_UInt16, ['TILED=YES', 'BLOCKXSIZE=512', 'BLOCKYSIZE=512', 'COMPRESS=DEFLATE', 'BIGTIFF=NO'])
ds.SetGeoTransform((x0, 10, 0, y0, 0, -10))
srs = osr.SpatialReference(); srs.ImportFromEPSG(epsg); ds.SetProjection(srs.ExportToWkt())
rng = np.random.default_rng(7)
rows = 512
xx = np.arange(n, dtype=np.float32)
for r0 in range(0, n, rows):
    h = min(rows, n - r0)
    yy = np.arange(r0, r0 + h, dtype=np.float32)[:, None]
    vigour = 0.5 + 0.25 * np.sin(xx / 97.0)[None, :] * np.cos(yy / 131.0) + rng.normal(0, 0.05, (h, n)).astype(np.float32)
    vigour = np.clip(vigour, 0, 1)
    red = (900 - 600 * vigour + rng.normal(0, 20, (h, n))).clip(1, 10000).astype(np.uint16)
    nir = (1800 + 2600 * vigour + rng.normal(0, 40, (h, n))).clip(1, 10000).astype(np.uint16)
    ds.GetRasterBand(1).WriteArray(red, 0, r0)
    ds.GetRasterBand(2).WriteArray(nir, 0, r0)
ds.GetRasterBand(1).SetNoDataValue(0); ds.GetRasterBand(2).SetNoDataValue(0)
ds = None
`;

const PEER = String.raw`
import sys, json
import numpy as np
from osgeo import gdal, ogr, osr
gdal.UseExceptions()
path, fields = sys.argv[1], sys.argv[2]
ds = gdal.Open(path)
W, H = ds.RasterXSize, ds.RasterYSize
red = ds.GetRasterBand(1).ReadAsArray().astype(np.float32)
nir = ds.GetRasterBand(2).ReadAsArray().astype(np.float32)
valid = (red != 0) & (nir != 0)
with np.errstate(divide='ignore', invalid='ignore'):
    ndvi = (nir - red) / (nir + red)
del red, nir
src = ogr.Open(fields); layer = src.GetLayer()
mem = gdal.GetDriverByName('MEM').Create('', W, H, 1, gdal.GDT_Int32)
mem.SetGeoTransform(ds.GetGeoTransform()); mem.SetProjection(ds.GetProjection())
mds = ogr.GetDriverByName('Memory').CreateDataSource('m')
srs = osr.SpatialReference(); srs.ImportFromEPSG(4326); srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
lyr = mds.CreateLayer('f', srs=srs); lyr.CreateField(ogr.FieldDefn('n', ogr.OFTInteger))
ids = []
for i, feat in enumerate(layer):
    f2 = ogr.Feature(lyr.GetLayerDefn()); f2.SetField('n', i + 1); f2.SetGeometry(feat.GetGeometryRef().Clone()); lyr.CreateFeature(f2)
    ids.append(feat.GetField('id'))
gdal.RasterizeLayer(mem, [1], lyr, options=['ATTRIBUTE=n', 'ALL_TOUCHED=FALSE'])
labels = mem.GetRasterBand(1).ReadAsArray()
sel = valid & (labels > 0)
sums = np.bincount(labels[sel], weights=ndvi[sel], minlength=len(ids) + 1)
counts = np.bincount(labels[sel], minlength=len(ids) + 1)
print(json.dumps({ids[i]: (sums[i + 1] / counts[i + 1]) if counts[i + 1] else None for i in range(len(ids))}))
`;

interface Run {
  seconds: number;
  rssMb: number;
  stdout: string;
}

/** Runs a command under GNU time; returns wall seconds and peak RSS. */
function measured(cmd: string, args: string[]): Run {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const last = r.stderr.trim().split('\n').pop()!;
  const [sec, kb] = last.split(' ').map(Number);
  return { seconds: sec!, rssMb: kb! / 1024, stdout: r.stdout };
}

function fieldsGeoJson(): string {
  const t = transformer(crsOf(EPSG, 'bench'));
  const rand = rng(1000);
  const features = [];
  // One field in each of 1,000 of the tile's 32 × 32 cells (≈ 3.4 km): spread over the whole
  // tile and never overlapping (GDAL's label raster can hold one field per pixel).
  const cells = [...Array(32 * 32).keys()].sort(() => rand() - 0.5).slice(0, FIELDS);
  const cell = (SIZE * 10) / 32;
  for (let i = 0; i < FIELDS; i++) {
    // 1–25 ha fields, irregular quadrilaterals.
    const w = 100 + rand() * 400;
    const h = 100 + rand() * 400;
    const cx = X0 + (cells[i]! % 32) * cell + 300 + rand() * (cell - 600);
    const cy = Y0 - Math.floor(cells[i]! / 32) * cell - 300 - rand() * (cell - 600);
    const j = () => (rand() - 0.5) * 40;
    const ring = [
      [cx - w / 2 + j(), cy - h / 2 + j()],
      [cx + w / 2 + j(), cy - h / 2 + j()],
      [cx + w / 2 + j(), cy + h / 2 + j()],
      [cx - w / 2 + j(), cy + h / 2 + j()],
    ].map((p) => t.toWgs84(p as [number, number]));
    ring.push(ring[0]!);
    features.push({
      type: 'Feature',
      properties: { id: `f${i}` },
      geometry: { type: 'Polygon', coordinates: [ring] },
    });
  }
  return JSON.stringify({ type: 'FeatureCollection', features });
}

async function main(): Promise<void> {
  const keep = process.argv.indexOf('--keep');
  const dir =
    keep > 0 ? resolve(process.argv[keep + 1]!) : mkdtempSync(join(tmpdir(), 'hatake-bench-imagery-'));
  // The installed command (docs/raspberry-pi.md links `hatake` to the compiled tree).
  const dist = buildDist();
  try {
    const scene = join(dir, 'scene.tif');
    const fields = join(dir, 'fields.geojson');
    const t0 = Date.now();
    execFileSync('/usr/bin/python3', [
      '-c',
      GENERATE,
      scene,
      String(SIZE),
      String(EPSG),
      String(X0),
      String(Y0),
    ]);
    writeFileSync(fields, fieldsGeoJson());
    console.log(
      `generated ${SIZE}×${SIZE} 2-band uint16 scene + ${FIELDS} fields in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );

    const runHatake = (): Run =>
      measured('node', [
        dist.entry,
        'imagery',
        'process',
        scene,
        '--fields',
        fields,
        '--profile',
        'generic',
        '--bands',
        'red=1,nir=2',
        '--indices',
        'ndvi',
        '--no-maps',
        '--out',
        join(dir, 'out'),
      ]);
    const runPeer = (): Run => measured('/usr/bin/python3', ['-c', PEER, scene, fields]);
    const ours: Run[] = [];
    const theirsRuns: Run[] = [];
    const sides = [() => ours.push(runHatake()), () => theirsRuns.push(runPeer())];
    for (let k = 0; k < ROUNDS; k++) for (const side of k % 2 ? [...sides].reverse() : sides) side();
    console.log(
      `rounds (s): hatake ${ours.map((r) => r.seconds.toFixed(2)).join(', ')}; GDAL ${theirsRuns.map((r) => r.seconds.toFixed(2)).join(', ')}`,
    );
    const hatake = {
      seconds: median(ours.map((r) => r.seconds)),
      rssMb: Math.max(...ours.map((r) => r.rssMb)),
    };
    const peer = {
      seconds: median(theirsRuns.map((r) => r.seconds)),
      rssMb: Math.max(...theirsRuns.map((r) => r.rssMb)),
      stdout: theirsRuns[0]!.stdout,
    };

    // Same numbers? The per-field means must agree.
    const stats = JSON.parse(readFileSync(join(dir, 'out', 'stats.json'), 'utf8')) as {
      fields: Record<string, { indices: { ndvi: { mean: number | null } } }>;
    };
    const theirs = JSON.parse(peer.stdout) as Record<string, number | null>;
    let worst = 0;
    for (const [id, m] of Object.entries(theirs)) {
      const o = stats.fields[id]?.indices.ndvi.mean;
      if (m === null || o === undefined || o === null) throw new Error(`field ${id}: hatake ${o}, GDAL ${m}`);
      worst = Math.max(worst, Math.abs(o - m));
    }

    const ratio = hatake.seconds / peer.seconds;
    report(
      `imagery (${SIZE}×${SIZE} two-band uint16 scene, ${FIELDS} fields, median of ${ROUNDS} rounds; largest per-field NDVI mean difference ${worst.toExponential(2)})`,
      [
        {
          figure: `NDVI + per-field stats, time, median of ${ROUNDS} rounds`,
          unit: 's',
          hatake: hatake.seconds,
          peer: peer.seconds,
          peerName: 'GDAL 3.6 + numpy',
          better: 'lower',
          target: '≤ 1× GDAL',
          met: ratio <= 1,
        },
        {
          figure: `peak RSS, largest of ${ROUNDS} rounds`,
          unit: 'MB',
          hatake: hatake.rssMb,
          peer: peer.rssMb,
          peerName: 'GDAL 3.6 + numpy',
          better: 'lower',
          target: `< ${RSS_LIMIT_MB} MB`,
          met: hatake.rssMb < RSS_LIMIT_MB,
        },
      ],
    );
    if (hatake.rssMb >= RSS_LIMIT_MB)
      console.log(`FAIL: peak RSS ${hatake.rssMb.toFixed(0)} MB ≥ ${RSS_LIMIT_MB} MB`);
    if (ratio > 1) console.log(`MISSED: hatake is ${ratio.toFixed(2)}× GDAL's time`);
    if (worst > 1e-4) console.log(`FAIL: means differ by ${worst}`);
  } finally {
    dist.remove();
    if (keep < 0) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
