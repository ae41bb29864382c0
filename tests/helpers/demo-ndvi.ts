// An already derived NDVI raster of the demo scene (sim/scene.ts): one float32 band on the scene's
// own grid, each pixel's NDVI computed here exactly as the processing computes it from the bands —
// reflectance = (DN + offset) · scale in doubles, (NIR − Red) / (NIR + Red), stored as float32 —
// and NaN (no data) wherever the band scene has no NDVI: SCL outside the classes s2-l2a keeps, a
// band at its no-data DN 0, or a result that is not finite. Processed with profile `index`, it
// must give the band scene's NDVI statistics, value for value.
import { fromArrayBuffer } from 'geotiff';
import { writeGeoTiff, type DemoScene } from '../../sim/scene.ts';
import { SCL_KEEP_DEFAULT } from '../../edge/imagery/profiles.ts';

/** The demo scene's BOA offset (baseline 05.10) and Sentinel-2's scale. */
const OFFSET = -1000;
const SCALE = 1 / 10000;

export async function demoNdviRaster(scene: DemoScene): Promise<Buffer> {
  const tiff = await fromArrayBuffer(scene.tiff.slice(0));
  const image = await tiff.getImage();
  // Bands: B02, B03, B04, B08, SCL.
  const dn = (await image.readRasters()) as unknown as Uint16Array[];
  const [red, nir, scl] = [dn[2]!, dn[3]!, dn[4]!];
  const keep = new Set(SCL_KEEP_DEFAULT);
  const ndvi = new Float32Array(red.length);
  for (let i = 0; i < ndvi.length; i++) {
    if (!keep.has(scl[i]!) || dn.slice(0, 4).some((band) => band[i] === 0)) {
      ndvi[i] = NaN;
      continue;
    }
    const r = (red[i]! + OFFSET) * SCALE;
    const n = (nir[i]! + OFFSET) * SCALE;
    const v = (n - r) / (n + r);
    ndvi[i] = Number.isFinite(v) ? v : NaN;
  }
  const [x0, y0] = image.getOrigin() as [number, number];
  return Buffer.from(
    writeGeoTiff({
      bands: [ndvi],
      width: image.getWidth(),
      height: image.getHeight(),
      epsg: scene.epsg,
      x0,
      y0,
      pixelSize: image.getResolution()[0]!,
    }),
  );
}
