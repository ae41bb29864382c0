// The gateway's recommender on the demo farm: the demo scene through edge/imagery, then each
// field's model through the real ONNX pool. The paddy's rice top-dressing model reads plant height
// and stems per m² from the field's scouted observations in the manifest; without them it gives no
// recommendation and says which inputs were missing. The zones are cut to each field's manifest
// boundary: the paddy, 69 % valid under a cloud, carries the rest of the field in `coverage`, and
// its ISOXML gives that part the default rate.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import isoxml from 'isoxml';
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import { Recommendation } from '../../protocol/recommendation.ts';
import { validator } from '../../protocol/validate.ts';
import { toIsoxmlZip, MG_M2_PER_KG_HA } from '../../edge/prescriptions/isoxml.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { GatewayRecommender } from '../../gateway/recommender.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';
import { processDemoScene } from '../e2e/seed.ts';

let dir: string;
let manifest: Manifest;
let zones: ZoneCollection;
const recommenders: GatewayRecommender[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-recommender-'));
  manifest = demoManifest();
  ({ zones } = await processDemoScene(manifest, '2026-11-20T01:30:00Z', dir));
}, 120_000);

afterAll(async () => {
  for (const r of recommenders) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

const recommender = () => {
  const r = new GatewayRecommender(join(dir, `gw-${recommenders.length}`), quietLog());
  recommenders.push(r);
  return r;
};
const now = Date.parse('2026-11-28T00:00:00Z');

it('recommends for the wheat field and the paddy, the paddy from its scouted observations', async () => {
  const r = recommender();
  const recs = await r.forScene(manifest, 'gw-1', zones, new Map(), now);
  expect(r.refused).toEqual([]);
  const byField = new Map(recs.map((x) => [x.field, x]));
  expect([...byField.keys()].sort()).toEqual(['paddy-1', 'upland-1']);
  const rice = byField.get('paddy-1')!;
  expect(rice.model.id).toMatch(/^rice-/);
  expect(rice.status).toBe('pending_review');
  for (const zone of rice.zones) {
    const height = zone.inputs.find((i) => i.name === 'plant_height_cm');
    expect(height).toMatchObject({
      value: 64,
      unit: 'cm',
      time: Date.parse('2026-07-18T00:00:00Z'),
    });
    expect(height!.source).toContain('field observation 2026-07-18');
    expect(zone.inputs.find((i) => i.name === 'stems_per_m2')).toMatchObject({ value: 430 });
    expect(zone.rate.kgN10a).toBeGreaterThanOrEqual(0);
  }
});

it('gives no paddy recommendation without the observations, and names what is missing', async () => {
  const bare: Manifest = {
    ...manifest,
    fields: manifest.fields.map(({ observations: _o, ...f }) => f),
  };
  const r = recommender();
  const recs = await r.forScene(bare, 'gw-1', zones, new Map(), now);
  expect(recs.map((x) => x.field)).toEqual(['upland-1']);
  expect(r.refused).toHaveLength(1);
  expect(r.refused[0]!.field).toBe('paddy-1');
  expect(r.refused[0]!.reason).toMatch(/HATAKE_E_MODEL_INPUT_MISSING.*plant_height_cm/);
  expect(r.refused[0]!.reason).toContain('stems_per_m2');
});

it('refuses an observation outside the model card’s valid range, with the range', async () => {
  const odd: Manifest = {
    ...manifest,
    fields: manifest.fields.map((f) =>
      f.id === 'paddy-1'
        ? { ...f, observations: { ...f.observations, plant_height_cm: { value: 640, date: '2026-07-18' } } }
        : f,
    ),
  };
  const r = recommender();
  const recs = await r.forScene(odd, 'gw-1', zones, new Map(), now);
  expect(recs.map((x) => x.field)).toEqual(['upland-1']);
  expect(r.refused[0]!.reason).toMatch(/HATAKE_E_MODEL_INPUT_RANGE.*plant_height_cm/);
});

it('uses the newest installed version of a model, e.g. one the server sent down', async () => {
  // A 1.1.0 of the SBNRC model in the gateway's models folder (where the downlink installs).
  const gwDir = join(dir, 'gw-newer');
  mkdirSync(join(gwDir, 'models'), { recursive: true });
  const card = JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8')) as {
    version: string;
    file: string;
  };
  card.version = '1.1.0';
  card.file = 'osu-sbnrc@1.1.0.onnx';
  copyFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.onnx'), join(gwDir, 'models', card.file));
  writeFileSync(join(gwDir, 'models', 'osu-sbnrc@1.1.0.card.json'), JSON.stringify(card));
  const r = new GatewayRecommender(gwDir, quietLog());
  recommenders.push(r);
  const recs = await r.forScene(manifest, 'gw-1', zones, new Map(), now);
  expect(recs.find((x) => x.field === 'upland-1')?.model).toMatchObject({
    id: 'osu-sbnrc',
    version: '1.1.0',
  });
  // Without it, the shipped 1.0.0 serves.
  const shipped = await recommender().forScene(manifest, 'gw-1', zones, new Map(), now);
  expect(shipped.find((x) => x.field === 'upland-1')?.model.version).toBe('1.0.0');
});

it('cuts the zones to each field’s boundary; the paddy’s cloudy part is in coverage and gets the default rate', async () => {
  const recs = await recommender().forScene(manifest, 'gw-1', zones, new Map(), now);
  const R = 6371007.2;
  const rad = Math.PI / 180;
  for (const rec of recs) {
    expect(validator(Recommendation).problems(rec)).toEqual([]);
    const field = manifest.fields.find((f) => f.id === rec.field)!;
    const c = rec.coverage!;
    // the manifest's lon/lat rectangle on the sphere the imagery measures pixels on
    const xs = field.boundary!.coordinates[0]!.map((p) => p[0]);
    const ys = field.boundary!.coordinates[0]!.map((p) => p[1]);
    const want =
      (R *
        R *
        (Math.max(...xs) - Math.min(...xs)) *
        rad *
        (Math.sin(Math.max(...ys) * rad) - Math.sin(Math.min(...ys) * rad))) /
      1e4;
    expect(c.fieldAreaHa).toBeCloseTo(want, 6);
    const zonesHa = rec.zones.reduce((s, z) => s + z.areaHa, 0);
    expect(Math.abs(zonesHa + c.uncoveredAreaHa - c.fieldAreaHa)).toBeLessThan(1e-6);
    // every zone vertex inside the rectangle (1e-9°)
    for (const p of rec.zones.flatMap((z) => z.geometry.coordinates.flat(2))) {
      expect(p[0]).toBeGreaterThanOrEqual(Math.min(...xs) - 1e-9);
      expect(p[0]).toBeLessThanOrEqual(Math.max(...xs) + 1e-9);
      expect(p[1]).toBeGreaterThanOrEqual(Math.min(...ys) - 1e-9);
      expect(p[1]).toBeLessThanOrEqual(Math.max(...ys) + 1e-9);
    }
    // the zones' pixels reached past the boundary: each zone is now at most its pixels' area
    const own = zones.features.filter((f) => f.properties.fieldId === rec.field);
    const pixelsHa = own.reduce((s, f) => s + f.properties.areaHa, 0);
    expect(zonesHa).toBeLessThan(pixelsHa);
    rec.zones.forEach((z, k) => expect(z.areaHa).toBeLessThanOrEqual(own[k]!.properties.areaHa * 1.001));
  }
  const paddy = recs.find((r) => r.field === 'paddy-1')!;
  const c = paddy.coverage!;
  const valid = zones.features.find((f) => f.properties.fieldId === 'paddy-1')!.properties
    .fieldValidFraction!;
  expect(valid).toBeLessThan(0.75); // the demo cloud
  // at least the cloud's share of the field is in no zone (and the strip along the boundary)
  expect(c.uncoveredAreaHa).toBeGreaterThan(0.9 * (1 - valid) * c.fieldAreaHa);
  expect(paddy.notes.map((n) => n.code)).toContain('uncovered_area');
  // the ISOXML: cells whose centre is in the uncovered part (clear of its edges) get the default rate
  const m = new isoxml.ISOXMLManager();
  await m.parseISOXMLFile(await toIsoxmlZip(paddy), 'application/zip');
  const task = m.rootElement.attributes.Task![0]!;
  const grid = task.attributes.Grid![0]! as never as {
    attributes: Record<string, number>;
    binaryData: Uint8Array;
  };
  const g = grid.attributes;
  const values = new Int32Array(grid.binaryData.slice().buffer);
  const mean =
    paddy.zones.reduce((s, z) => s + z.rate.productKgHa * z.areaHa, 0) /
    paddy.zones.reduce((s, z) => s + z.areaHa, 0);
  const M = R * rad;
  const clear = (pt: number[], ring: number[][]) =>
    ring.every((a, i) => {
      const b = ring[(i + 1) % ring.length]!;
      const [ax, ay, bx, by] = [
        a[0]! * M * Math.cos(37.8 * rad),
        a[1]! * M,
        b[0]! * M * Math.cos(37.8 * rad),
        b[1]! * M,
      ];
      const [px, py] = [pt[0]! * M * Math.cos(37.8 * rad), pt[1]! * M];
      const t = Math.max(
        0,
        Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2 || 1)),
      );
      return Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay))) > 1.5;
    });
  let inRest = 0;
  for (let row = 0; row < g.GridMaximumRow!; row++)
    for (let col = 0; col < g.GridMaximumColumn!; col++) {
      const centre = [
        g.GridMinimumEastPosition! + (col + 0.5) * g.GridCellEastSize!,
        g.GridMinimumNorthPosition! + (row + 0.5) * g.GridCellNorthSize!,
      ];
      if (!booleanPointInPolygon(centre, c.uncovered!)) continue;
      if (!c.uncovered!.coordinates.flat(1).every((ring) => clear(centre, ring))) continue;
      inRest++;
      expect(values[row * g.GridMaximumColumn! + col]).toBe(Math.round(mean * MG_M2_PER_KG_HA));
    }
  expect(inRest).toBeGreaterThanOrEqual(4); // 8 of the 30 cells on this scene
});
