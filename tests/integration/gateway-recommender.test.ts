// The gateway's recommender on the demo farm: the demo scene through edge/imagery, then each
// field's model through the real ONNX pool. The paddy's rice top-dressing model reads plant height
// and stems per m² from the field's scouted observations in the manifest; without them it gives no
// recommendation and says which inputs were missing.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ZoneCollection } from '../../protocol/imagery.ts';
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
