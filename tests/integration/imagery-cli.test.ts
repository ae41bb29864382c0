// `hatake imagery process` end to end on the demo farm's generated scene (sim/scene.ts): the
// STAC item beside it makes the offset −1000, the SCL cloud is masked, and the outputs are there.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { demoScene, fieldsGeoJson } from '../../sim/scene.ts';
import { demoManifest } from '../helpers/stack.ts';
import type { SceneStats, ZoneCollection } from '../../protocol/imagery.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-cli-'));
  const m = demoManifest();
  const s = demoScene(m);
  writeFileSync(join(dir, `${s.sceneId}.tif`), Buffer.from(s.tiff));
  writeFileSync(join(dir, 'item.json'), JSON.stringify(s.stac));
  writeFileSync(join(dir, 'fields.geojson'), JSON.stringify(fieldsGeoJson(m)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hatake imagery process (demo scene)', () => {
  it('writes stats, zones and maps with the offset decided by the metadata', async () => {
    const out = join(dir, 'out');
    const code = await main([
      'imagery',
      'process',
      join(dir, 'demo-s2-20260715.tif'),
      '--fields',
      join(dir, 'fields.geojson'),
      '--bands',
      'blue=1,green=2,red=3,nir=4,scl=5',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as SceneStats;
    expect(stats.scene.radiometry).toMatchObject({ offset: -1000, offsetSource: 'metadata' });
    expect(stats.scene.crs).toBe('EPSG:32654');
    expect(stats.scene.acquired).toBe('2026-07-15T01:35:21.000Z');
    const up = stats.fields['upland-1']!;
    expect(up.indices.ndvi!.mean).toBeGreaterThan(0.4);
    expect(up.indices.ndvi!.p90! - up.indices.ndvi!.p10!).toBeGreaterThan(0.1); // within-field variability
    expect(stats.fields['paddy-1']!.validFraction).toBeLessThan(1); // the cloud and its shadow
    expect(up.zones).toBeGreaterThanOrEqual(3);
    const zones = JSON.parse(readFileSync(join(out, 'zones.geojson'), 'utf8')) as ZoneCollection;
    const upZones = zones.features.filter((f) => f.properties.fieldId === 'upland-1');
    const means = upZones.map((f) => f.properties.indices.ndvi!.mean!);
    expect([...means].sort((a, b) => a - b)).toEqual(means); // zone 1 lowest
    expect(upZones.reduce((a, f) => a + f.properties.pixels, 0)).toBeLessThanOrEqual(up.validPixels);
    expect(existsSync(join(out, up.maps.ndvi!.file))).toBe(true);
    expect(existsSync(join(out, 'maps/legend-ndvi.png'))).toBe(true);
  });

  it('exits 1 with a coded message for a bad --bands value', async () => {
    const code = await main([
      'imagery',
      'process',
      join(dir, 'demo-s2-20260715.tif'),
      '--fields',
      join(dir, 'fields.geojson'),
      '--bands',
      'red=one',
      '--out',
      join(dir, 'x'),
    ]);
    expect(code).toBe(1);
  });
});
