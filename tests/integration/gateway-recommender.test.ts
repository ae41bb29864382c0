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
import { DEMO_PI_SCENE } from '../../cli/start.ts';

let dir: string;
let manifest: Manifest;
/** The wheat's zones from the November pass, the paddy's from its panicle-initiation pass. */
let zones: ZoneCollection;
let november: ZoneCollection;
let july: ZoneCollection;
const recommenders: GatewayRecommender[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-recommender-'));
  manifest = demoManifest();
  const pass = async (acquired: string, sub: string) => {
    mkdirSync(join(dir, sub));
    return (await processDemoScene(manifest, acquired, join(dir, sub))).zones;
  };
  november = await pass('2026-11-20T01:30:00Z', 'nov');
  // the day after the paddy's scouting at panicle initiation (2026-07-18)
  july = await pass(DEMO_PI_SCENE, 'pi');
  const of = (z: ZoneCollection, field: string) => z.features.filter((f) => f.properties.fieldId === field);
  zones = { ...november, features: [...of(november, 'upland-1'), ...of(july, 'paddy-1')] };
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

it('pairs the paddy’s panicle-initiation scouting only with an image of that time', async () => {
  // November: 125 days after the scouting, long after harvest — the top-dressing is refused.
  const r = recommender();
  const recs = await r.forScene(manifest, 'gw-1', november, new Map(), now);
  expect(recs.map((x) => x.field)).toEqual(['upland-1']);
  expect(r.refused.map((x) => x.field)).toEqual(['paddy-1']);
  const reason = r.refused[0]!.reason;
  expect(reason).toMatch(/^HATAKE_E_MODEL_INPUT_MISSING/);
  expect(reason).toContain(
    'plant_height_cm: measured on 2026-07-18, 125 days from the image of 2026-11-20; the model takes it only within 10 days of the image',
  );
  expect(reason).toContain('stems_per_m2: measured on 2026-07-18, 125 days');
  // said once for the field, not once per zone
  expect(reason.split('plant_height_cm: measured').length).toBe(2);
  // July: the paddy's image of its scouting; the wheat, sown in October, is not in it.
  const r2 = recommender();
  const recs2 = await r2.forScene(manifest, 'gw-1', july, new Map(), now);
  expect(recs2.map((x) => x.field)).toEqual(['paddy-1']);
  expect(r2.refused.map((x) => [x.field, x.reason])).toEqual([
    [
      'upland-1',
      'HATAKE_E_MODEL_INPUT_RANGE: field upland-1: the image of 2026-07-19 was taken before planting (2026-10-05) (expected an image taken after 2026-10-05)',
    ],
  ]);
});

it('counts the wheat’s growing days to the image, not to the day it was processed', async () => {
  const at = (z: ZoneCollection, when: number) =>
    recommender()
      .forScene(manifest, 'gw-1', z, new Map(), when)
      .then((recs) => recs.find((x) => x.field === 'upland-1')!);
  // planted 2026-10-05, imaged 2026-11-20: 46 days, however late the scene is processed
  for (const when of [now, now + 30 * 86_400_000]) {
    const days = (await at(zones, when)).inputs.find((i) => i.name === 'days')!;
    expect(days.value).toBe(46);
    expect(days.time).toBe(Date.parse('2026-11-20T01:30:00Z'));
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

it('starts one inference pool for scenes that arrive together, and closing it leaves no worker behind', async () => {
  const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
  const before = ports();
  const r = new GatewayRecommender(join(dir, 'gw-together'), quietLog());
  // the paddy's summer pass and the wheat's November pass, processed one after the other and
  // recommended on at once (as the gateway's inbox hands them over)
  const [a, b] = await Promise.all([
    r.forScene(manifest, 'gw-1', july, new Map(), now),
    r.forScene(manifest, 'gw-1', november, new Map(), now),
  ]);
  expect([...a, ...b].map((x) => x.field).sort(), JSON.stringify(r.refused)).toEqual(['paddy-1', 'upland-1']);
  expect(ports()).toBe(before + 1);
  await r.close();
  expect(ports()).toBe(before);
});
