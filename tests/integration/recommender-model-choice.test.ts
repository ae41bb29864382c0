// The gateway's recommender serves the model and crop profile a field chooses in the manifest,
// through the real ONNX pool with a real gateway store (its latest readings): corn on the OSU
// SBNRC with its corn profile, paddy rice on the NDRE top-dressing model, corn on the trained
// Las Rosas forest — each recommendation computed by that model (checked against the TypeScript
// reference implementations, or the ONNX file run directly) and naming it and its profile in its
// provenance. A rice field whose variety has a profile gets that profile; a field that names
// nothing gets today's defaults; a choice the installed models cannot serve refuses the field.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import type { CropProfile } from '../../protocol/crop-profile.ts';
import { CROP_MODELS, GatewayRecommender } from '../../gateway/recommender.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { feedsFromValues } from '../../edge/inference/inputs.ts';
import { CALIBRATIONS } from '../../models/published/rice-topdress.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';
import { demoZones } from '../helpers/recommendation.ts';
import { sbnrcWithProfile } from '../unit/models/reference/sbnrc.ts';
import { hollandSchepers } from '../unit/models/reference/holland-schepers.ts';
import { riceTopdress } from '../unit/models/reference/rice-topdress.ts';

const DAY = 86_400_000;
const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });

type Field = Manifest['fields'][number];
/** The demo farm with upland-1 changed by `edit`. */
function farmWith(edit: Partial<Field>): Manifest {
  const m = demoManifest();
  return { ...m, fields: m.fields.map((f) => (f.id === 'upland-1' ? { ...f, ...edit } : f)) };
}
/** Three zones across upland-1 with these NDVI means (and NDRE means when given). */
function zonesOf(ndvi: number[], acquired: string, ndre?: number[]): ZoneCollection {
  const z = demoZones(ndvi, acquired);
  if (ndre)
    z.features.forEach((f, k) => {
      (f.properties.indices as Record<string, unknown>).ndre = {
        ...f.properties.indices.ndvi,
        mean: ndre[k],
      };
    });
  return z as unknown as ZoneCollection;
}
const upland = (recs: Recommendation[]) => recs.find((x) => x.field === 'upland-1');
const zoneK = (id: string) => Number(id.slice(-1)) - 1;

let dir: string;
let store: GatewayStore;
let metrics: GatewayMetrics;
let r: GatewayRecommender;
const open: { close(): unknown }[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-model-choice-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
  metrics = new GatewayMetrics(false);
  r = new GatewayRecommender(dir, quietLog(), { latest: (d) => store.latest(d), metrics });
  open.push(r, store);
});
afterAll(async () => {
  for (const o of open) await o.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('corn', () => {
  /** 85 growing days before the image (no weather station), an N-rich strip of 0.75 beside it. */
  const acquired = '2026-12-27T01:30:00Z';
  const DAYS = 85;
  const NDVI = [0.54, 0.62, 0.45];
  const zones = zonesOf(NDVI, acquired);
  const now = Date.parse('2026-12-29T00:00:00Z');
  const corn: Partial<Field> = {
    crop: 'corn',
    plantingDate: new Date(Date.parse(acquired.slice(0, 10)) - DAYS * DAY).toISOString().slice(0, 10),
    observations: {
      n_rich_ndvi: { value: 0.75, date: '2026-12-26' },
      n_preplant_kg_ha: { value: 40, date: '2026-09-01' },
      n_credit_kg_ha: { value: 10, date: '2026-09-01' },
    },
  };

  it('a field naming the OSU SBNRC gets its rates from that model, with the corn profile', async () => {
    const recs = await r.forScene(
      farmWith({ ...corn, model: { id: 'osu-sbnrc' } }),
      'gw-1',
      zones,
      new Map(),
      now,
    );
    expect(r.refused).toEqual([]);
    const rec = upland(recs)!;
    const card = reg.entry('osu-sbnrc').card;
    expect(rec.model).toMatchObject({ id: 'osu-sbnrc', version: card.version, sha256: card.sha256 });
    expect(rec.profile).toEqual({ id: 'corn-osu-2004', version: '1.0.0' });
    expect(rec.crop).toBe('corn');
    const profile = reg.profile('corn-osu-2004');
    expect(rec.inputs.find((i) => i.name === 'a')?.value).toBe(profile.sbnrc!.a);
    for (const zone of rec.zones)
      expect(zone.rate.modelKgNHa).toBeCloseTo(
        sbnrcWithProfile(profile.sbnrc!, NDVI[zoneK(zone.id)]!, 0.75, DAYS),
        6,
      );
  });

  it('with a version and a profile named: exactly those', async () => {
    const recs = await r.forScene(
      farmWith({ ...corn, model: { id: 'osu-sbnrc', version: '1.0.0' }, profile: 'corn-osu-2004' }),
      'gw-1',
      zones,
      new Map(),
      now,
    );
    expect(r.refused).toEqual([]);
    expect(upland(recs)).toMatchObject({
      model: { id: 'osu-sbnrc', version: '1.0.0' },
      profile: { id: 'corn-osu-2004', version: '1.0.0' },
    });
  });

  it('a corn field that names nothing keeps Holland–Schepers', async () => {
    const rec = upland(await r.forScene(farmWith(corn), 'gw-1', zones, new Map(), now))!;
    expect(r.refused).toEqual([]);
    expect(rec.model.id).toBe(CROP_MODELS.corn!.model);
    expect(rec.model.id).toBe('holland-schepers-si');
    expect(rec.profile.id).toBe('corn-holland-schepers');
    const hs = reg.profile('corn-holland-schepers').hollandSchepers!;
    for (const zone of rec.zones) {
      const want = hollandSchepers({
        vi: NDVI[zoneK(zone.id)]!,
        vi_ref: 0.75,
        mz: 1,
        n_opt: hs.nOptKgHa,
        n_pp: 40,
        n_crd: 10,
        delta_si: hs.deltaSi,
      }).n_rate;
      expect(zone.rate.modelKgNHa).toBeCloseTo(want, 6);
    }
  });

  it('a field naming the trained Las Rosas forest gets the forest’s yield response', async () => {
    const farm = farmWith({
      crop: 'corn',
      model: { id: 'lasrosas-corn-rf' },
      observations: { topo: { value: 1, date: '2026-09-01' }, bv: { value: 170, date: '2026-09-01' } },
    });
    const rec = upland(await r.forScene(farm, 'gw-1', zones, new Map(), now))!;
    expect(r.refused).toEqual([]);
    const { card, bytes } = reg.load('lasrosas-corn-rf');
    expect(rec.model).toMatchObject({ id: 'lasrosas-corn-rf', version: '1.1.0', sha256: card.sha256 });
    expect(rec.profile.id).toBe('corn-lasrosas-trial');
    expect(rec.notes.map((n) => n.text.en).join('\n')).toContain('Yield-response model');
    // The yield each zone records is the forest's own, at the zone's rate (topo HT, bv 170).
    const session = await ort.InferenceSession.create(bytes);
    try {
      for (const zone of rec.zones) {
        const feeds = feedsFromValues(card, { nitro: zone.rate.modelKgNHa, topo: 1, bv: 170 });
        const out = await session.run(
          Object.fromEntries(
            Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.type, f.data, f.dims)]),
          ),
        );
        expect(zone.outputs.yield).toBeCloseTo(Number(out.yield!.data[0]), 3);
      }
    } finally {
      await session.release();
    }
  });
});

describe('paddy rice', () => {
  const acquired = '2026-07-19T01:30:00Z';
  const now = Date.parse('2026-07-20T00:00:00Z');
  /** NDVI → SPAD 29.6, 33.2, 36.8; NDRE → SPAD 29.5, 32, 35. */
  const NDVI = [0.6, 0.7, 0.8];
  const NDRE = [0.25, 0.3, 0.36];
  const zones = zonesOf(NDVI, acquired, NDRE);
  const rice = (edit: Partial<Field>): Manifest =>
    farmWith({
      crop: 'rice',
      plantingDate: '2026-05-10',
      observations: {
        plant_height_cm: { value: 64, date: '2026-07-18' },
        stems_per_m2: { value: 430, date: '2026-07-18' },
      },
      ...edit,
    });
  /** The rate (kg N/ha) of the reference implementation for a zone, a profile and an index. */
  function want(profile: CropProfile, index: 'ndvi' | 'ndre', vi: number): number {
    const t = profile.riceTopdress!;
    const cal = CALIBRATIONS.find((c) => c.index === index)!;
    return riceTopdress(
      {
        vi,
        plant_height_cm: 64,
        stems_per_m2: 430,
        spad_edges: t.spadEdges,
        height_edges: t.heightEdgesCm,
        table: t.tableKgN10a,
        lodging_max: t.lodgingIndexMax,
        lodging_factor: t.lodgingFactor,
      },
      cal,
    ).n_rate;
  }
  const shinnosuke = reg.profile('rice-shinnosuke-niigata');
  const koshihikari = reg.profile('rice-koshihikari');

  it('a Shinnosuke field gets the Shinnosuke profile, a Koshihikari one (or another variety) Koshihikari', async () => {
    for (const [variety, profile] of [
      ['Shinnosuke', shinnosuke],
      ['新之助', shinnosuke],
      ['Koshihikari', koshihikari],
      ['Yumepirika', koshihikari],
    ] as const) {
      const rec = upland(await r.forScene(rice({ variety }), 'gw-1', zones, new Map(), now))!;
      expect(r.refused).toEqual([]);
      expect(rec.model.id, variety).toBe('rice-pi-topdress-ndvi');
      expect(rec.profile, variety).toEqual({ id: profile.id, version: profile.version });
      for (const zone of rec.zones)
        expect(zone.rate.modelKgNHa, `${variety} ${zone.id}`).toBeCloseTo(
          want(profile, 'ndvi', NDVI[zoneK(zone.id)]!),
          6,
        );
    }
    // the two tables differ here: the profile decides the rate
    expect(NDVI.map((v) => want(shinnosuke, 'ndvi', v))).not.toEqual(
      NDVI.map((v) => want(koshihikari, 'ndvi', v)),
    );
  });

  it('a field naming the NDRE model gets it, read from the zones’ NDRE', async () => {
    const rec = upland(
      await r.forScene(
        rice({ variety: 'Shinnosuke', model: { id: 'rice-pi-topdress-ndre' } }),
        'gw-1',
        zones,
        new Map(),
        now,
      ),
    )!;
    expect(r.refused).toEqual([]);
    const card = reg.entry('rice-pi-topdress-ndre').card;
    expect(rec.model).toMatchObject({ id: 'rice-pi-topdress-ndre', version: '1.1.0', sha256: card.sha256 });
    expect(rec.profile.id).toBe('rice-shinnosuke-niigata');
    for (const zone of rec.zones) {
      expect(zone.inputs.find((i) => i.name === 'vi')?.value).toBe(NDRE[zoneK(zone.id)]);
      expect(zone.rate.modelKgNHa).toBeCloseTo(want(shinnosuke, 'ndre', NDRE[zoneK(zone.id)]!), 6);
    }
  });

  it('the profile a field names wins over its variety’s', async () => {
    const rec = upland(
      await r.forScene(
        rice({ variety: 'Shinnosuke', profile: 'rice-koshihikari' }),
        'gw-1',
        zones,
        new Map(),
        now,
      ),
    )!;
    expect(rec.profile.id).toBe('rice-koshihikari');
  });
});

describe('a choice the installed models cannot serve refuses the field, with the reason', () => {
  const acquired = '2026-12-27T01:30:00Z';
  const zones = zonesOf([0.54, 0.62, 0.45], acquired);
  const now = Date.parse('2026-12-29T00:00:00Z');
  const plantingDate = '2026-10-03';

  it.each([
    [
      { crop: 'corn', model: { id: 'osu-sbnrk' } },
      'osu-sbnrk',
      'model "osu-sbnrk" is not installed',
      'osu-sbnrk',
    ],
    [
      { crop: 'corn', model: { id: 'osu-sbnrc', version: '2.0.0' } },
      'osu-sbnrc@2.0.0',
      'model osu-sbnrc 2.0.0 is not installed',
      'osu-sbnrc',
    ],
    [
      { crop: 'winter-wheat', model: { id: 'holland-schepers-si' } },
      'holland-schepers-si',
      'model holland-schepers-si@1.0.0 is for corn, and field upland-1 grows winter-wheat',
      'holland-schepers-si',
    ],
    [
      { crop: 'corn', model: { id: 'osu-sbnrc' }, profile: 'winter-wheat-osu-2007' },
      'osu-sbnrc',
      'crop profile winter-wheat-osu-2007 is for winter-wheat, and field upland-1 grows corn',
      'osu-sbnrc',
    ],
    [
      { crop: 'winter-wheat', profile: 'winter-wheat-osu-2099' },
      'osu-sbnrc',
      'crop profile "winter-wheat-osu-2099" is not installed',
      'osu-sbnrc',
    ],
  ] as const)('%j', async (edit, model, message, label) => {
    const before = await metrics.value('hatake_gateway_recommendations_refused_total', {
      model: label,
      code: 'HATAKE_E_MODEL_NOT_FOUND',
    });
    const recs = await r.forScene(
      farmWith({ plantingDate, ...(edit as Partial<Field>) }),
      'gw-1',
      zones,
      new Map(),
      now,
    );
    expect(upland(recs)).toBeUndefined();
    expect(r.refused).toEqual([
      {
        field: 'upland-1',
        model,
        code: 'HATAKE_E_MODEL_NOT_FOUND',
        reason: expect.stringContaining(message) as unknown,
        time: now,
      },
    ]);
    expect(
      await metrics.value('hatake_gateway_recommendations_refused_total', {
        model: label,
        code: 'HATAKE_E_MODEL_NOT_FOUND',
      }),
    ).toBe(before + 1);
  });

  it('the winter wheat that names nothing is served as before', async () => {
    const recs = await r.forScene(farmWith({ plantingDate }), 'gw-1', zones, new Map(), now);
    expect(r.refused).toEqual([]);
    expect(upland(recs)).toMatchObject({
      model: { id: 'osu-sbnrc' },
      profile: { id: 'winter-wheat-osu-2007' },
      crop: 'winter-wheat',
    });
  });
});
