// The imagery inbox's `.hatake.json` sidecar names, for a raster of an index derived elsewhere,
// profile `index` and the index its one band holds: such a raster is processed into the NDVI
// statistics of the band scene it came from, while sidecars written before (no index) are read as
// ever. A sidecar whose descriptions have the wrong type, or an index that does not go with its
// profile, is refused with a coded reason. The scene handler carries a downlink document's index
// into the sidecar it writes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProcessedScene } from '../../../gateway/imagery/inbox.ts';
import { sceneHandler } from '../../../gateway/downlink-apply.ts';
import type { DownlinkClient } from '../../../gateway/downlink-client.ts';
import { INDICES } from '../../../edge/imagery/indices.ts';
import { INDEX_IDS } from '../../../protocol/imagery.ts';
import { demoScene } from '../../../sim/scene.ts';
import { demoManifest } from '../../helpers/stack.ts';
import { imageryFields, inboxScanner } from '../../helpers/inbox.ts';
import { demoNdviRaster } from '../../helpers/demo-ndvi.ts';

const manifest = demoManifest();
const fields = imageryFields(manifest);
const demo = demoScene(manifest, { acquired: '2026-07-20T01:30:00Z' });
const bandScene = Buffer.from(demo.tiff);
/** The band scene's description, as sidecars were written before the index profile. */
const BANDS = { bands: 'blue=1,green=2,red=3,nir=4,scl=5', offset: -1000 };
let ndviRaster: Buffer;
beforeAll(async () => {
  ndviRaster = await demoNdviRaster(demo);
});

const { scanWith, newInbox } = inboxScanner(fields, 'hatake-inbox-sidecar-');

describe('a sidecar naming an index (profile index)', () => {
  it("is processed into the band scene's NDVI statistics; a sidecar without an index is read as before", async () => {
    const { results, failures } = await scanWith({
      'bands.tif': bandScene,
      'bands.hatake.json': { ...BANDS, sceneId: 'bands', acquired: '2026-07-20T01:30:00Z' },
      'ndvi.tif': ndviRaster,
      'ndvi.hatake.json': {
        profile: 'index',
        index: 'ndvi',
        sceneId: 'ndvi',
        acquired: '2026-07-20T01:30:00Z',
      },
    });
    expect(failures).toEqual([]);
    const [bands, ndvi] = ['bands', 'ndvi'].map((id) => results.find((r) => r.sceneId === id)!);
    expect(ndvi!.stats.scene).toMatchObject({
      profile: 'index',
      acquired: '2026-07-20T01:30:00.000Z',
      bands: { index: 'ndvi.tif#1 (NDVI)' },
    });
    expect(ndvi!.stats.indices.map((i) => i.id)).toEqual(['ndvi']);
    expect(bands!.stats.indices.map((i) => i.id)).toContain('ndvi');
    const ids = fields.map((f) => f.id).sort();
    expect(Object.keys(ndvi!.stats.fields).sort()).toEqual(ids);
    for (const id of ids) {
      const [b, n] = [bands!.stats.fields[id]!, ndvi!.stats.fields[id]!];
      expect(b.indices.ndvi!.count, id).toBeGreaterThan(10);
      expect(n.indices.ndvi, id).toEqual(b.indices.ndvi);
      expect([n.pixels, n.validPixels, n.validFraction], id).toEqual([
        b.pixels,
        b.validPixels,
        b.validFraction,
      ]);
    }
    // The same values zone the same way.
    const zonesOf = (r: ProcessedScene) =>
      r.zones.features.map((f) => [f.properties.fieldId, f.properties.zone, f.properties.pixels]);
    expect(zonesOf(ndvi!)).toEqual(zonesOf(bands!));
  });

  it.each([
    [
      'an index that is not a string',
      { profile: 'index', index: 7 },
      'HATAKE_E_IMAGERY_FILE',
      'x.hatake.json: index must be a string (expected for profile index: the index the raster holds, e.g. "ndvi")',
    ],
    [
      'profile index without an index',
      { profile: 'index' },
      'HATAKE_E_CONFIG',
      'profile index needs the index the raster holds (expected an index: ndvi | ndre | gndvi | savi | evi | cire)',
    ],
    [
      'an index the gateway does not know',
      { profile: 'index', index: 'lai' },
      'HATAKE_E_CONFIG',
      'unknown index "lai" (expected ndvi | ndre | gndvi | savi | evi | cire)',
    ],
    [
      'an index with a profile of reflectance bands',
      { ...BANDS, profile: 's2-l2a', index: 'ndvi' },
      'HATAKE_E_CONFIG',
      'an index ("ndvi") is named, but profile s2-l2a reads reflectance bands (expected profile index for a raster of an already derived index, or no index)',
    ],
    [
      'band roles for an index raster',
      { profile: 'index', index: 'ndvi', bands: 'red=1' },
      'HATAKE_E_CONFIG',
      "band roles were given for an index raster (expected no band roles: the file's one band is NDVI)",
    ],
    [
      'an offset that is not a number',
      { ...BANDS, offset: '-1000' },
      'HATAKE_E_IMAGERY_FILE',
      'x.hatake.json: offset must be a number (expected e.g. -1000)',
    ],
    [
      'an acquisition time that is not one',
      { ...BANDS, acquired: 'last tuesday' },
      'HATAKE_E_IMAGERY_FILE',
      'x.hatake.json: acquired must be a date and time (expected ISO 8601, e.g. "2026-07-20T01:30:00Z")',
    ],
    [
      'a band map that is not a string',
      { bands: { red: 3 }, offset: -1000 },
      'HATAKE_E_IMAGERY_FILE',
      'x.hatake.json: bands must be a string (expected band roles → numbers, e.g. "red=3,nir=4")',
    ],
  ])('refuses %s with a coded reason', async (_name, sidecar, code, reason) => {
    const file = /index/.test(JSON.stringify(sidecar)) ? ndviRaster : bandScene;
    const { results, failures, dir } = await scanWith({ 'x.tif': file, 'x.hatake.json': sidecar });
    expect(results).toEqual([]);
    expect(failures).toEqual([{ file: 'x.tif', code, reason }]);
    expect(readFileSync(join(dir, 'failed', 'x.reason.txt'), 'utf8')).toMatch(new RegExp(`^${code}\\b`));
  });
});

describe('a scene sent down with an index', () => {
  it('is written to the inbox with its index in the sidecar', async () => {
    const dir = newInbox();
    const client = {
      get: async () => new Response(new Uint8Array(ndviRaster)),
    } as unknown as DownlinkClient;
    const apply = sceneHandler({ dir, scan: async () => undefined });
    const body = {
      v: 1,
      sceneId: 'sent-ndvi',
      acquired: '2026-07-20T01:30:00.000Z',
      profile: 'index',
      index: 'ndvi',
      format: 'geotiff',
      size: ndviRaster.length,
      sha256: createHash('sha256').update(ndviRaster).digest('hex'),
    };
    const doc = (b: object) => ({ kind: 'scene', id: 'sent-ndvi', version: 4, body: b, deleted: false });
    expect(await apply(doc(body), client)).toMatch(/sha256 verified\) queued for processing$/);
    expect(JSON.parse(readFileSync(join(dir, 'inbox', 'sent-ndvi.hatake.json'), 'utf8'))).toEqual({
      sceneId: 'sent-ndvi',
      acquired: body.acquired,
      profile: 'index',
      index: 'ndvi',
      downlink: { id: 'sent-ndvi', version: 4 },
    });
    // The signed document names one of the indices the gateway knows, or it is refused.
    const refused = await apply(doc({ ...body, index: 'lai' }), client).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'HATAKE_E_IMAGERY_TRANSFER' });
    expect((refused as Error).message).toMatch(/\/index/);
  });

  it("the protocol's index ids are the index table's", () => {
    expect([...INDEX_IDS]).toEqual(INDICES.map((d) => d.id));
  });
});
