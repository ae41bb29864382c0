// The gateway's recommender with an N-rich reference strip: a field observation `n_rich_<index>`
// scouted near the scene's date is the RI / SI reference (through the real ONNX pool, checked
// against AGRONOMY.md's worked example and the TypeScript reference implementations); a strip too
// far from the scene, or of another index than the model reads, leaves the virtual 95th percentile
// with a note saying why; a strip value outside the card's range refuses the field. A field whose
// crop has no model is listed as not recommended; a field without a crop is not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import type { CropProfile } from '../../protocol/crop-profile.ts';
import { CROP_MODELS, GatewayRecommender, N_RICH_WINDOW_DAYS } from '../../gateway/recommender.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { readZones } from '../../edge/recommend/zones.ts';
import { virtualP95 } from '../../edge/recommend/reference.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';
import { demoZones } from '../helpers/recommendation.ts';
import { sbnrcWithProfile } from '../unit/models/reference/sbnrc.ts';
import { hollandSchepers } from '../unit/models/reference/holland-schepers.ts';

const DAY = 86_400_000;
/** 85 growing days after planting (no weather station: every day counts), as in AGRONOMY.md. */
const DAYS = 85;
const now = Date.parse('2026-12-29T00:00:00Z');
const acquired = '2026-12-27T01:30:00Z';
/** DAYS before the image (its growing days are counted up to the image, not to `now`). */
const plantingDate = new Date(Date.parse(acquired.slice(0, 10)) - DAYS * DAY).toISOString().slice(0, 10);
/** Zone 1 is the worked example's farmer practice (NDVI 0.54). */
const NDVI = [0.54, 0.62, 0.45];
const zones = demoZones(NDVI, acquired) as unknown as ZoneCollection;

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
const wheatProfile = reg.profile(CROP_MODELS['winter-wheat']!.profile);
const cornProfile = reg.profile(CROP_MODELS.corn!.profile);

let dir: string;
const open: GatewayRecommender[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-recommender-nrich-'));
});
afterAll(async () => {
  for (const r of open) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

function recommender(metrics?: GatewayMetrics): GatewayRecommender {
  const r = new GatewayRecommender(join(dir, `gw-${open.length}`), quietLog(), { metrics });
  open.push(r);
  return r;
}

type Field = Manifest['fields'][number];
/** The demo farm with upland-1 changed by `edit` (planted DAYS before `now`). */
function farmWith(edit: Partial<Field>, extra: Field[] = []): Manifest {
  const m = demoManifest();
  return {
    ...m,
    fields: [...m.fields.map((f) => (f.id === 'upland-1' ? { ...f, plantingDate, ...edit } : f)), ...extra],
  };
}

/** The SBNRC rate of the reference implementation for a zone's NDVI and a reference NDVI. */
function sbnrcRate(profile: CropProfile, ndvi: number, ndviRef: number): number {
  return sbnrcWithProfile(profile.sbnrc!, ndvi, ndviRef, DAYS);
}

const upland = (recs: Recommendation[]) => recs.find((x) => x.field === 'upland-1');
const noteCodes = (rec: Recommendation) => rec.notes.map((n) => n.code);
const zoneNdvi = (id: string) => NDVI[Number(id.slice(-1)) - 1]!;

describe('an N-rich strip scouted near the scene is the reference', () => {
  it('SBNRC (wheat): reproduces the worked example, 36.06 kg N/ha, and names the strip', async () => {
    const strip = { value: 0.7, date: '2026-12-24', note: 'GreenSeeker' };
    const r = recommender();
    const recs = await r.forScene(
      farmWith({ observations: { n_rich_ndvi: strip } }),
      'gw-1',
      zones,
      new Map(),
      now,
    );
    expect(r.refused).toEqual([]);
    const rec = upland(recs)!;
    expect(rec.reference).toEqual({
      kind: 'n_rich_strip',
      index: 'ndvi',
      value: 0.7,
      how: 'N-rich strip, scouted 2026-12-24 (GreenSeeker)',
    });
    const ref = rec.inputs.find((i) => i.name === 'ndvi_ref');
    expect(ref).toMatchObject({ value: 0.7, time: Date.parse('2026-12-24T00:00:00Z') });
    expect(ref!.source).toContain('n_rich_strip ndvi: N-rich strip, scouted 2026-12-24');
    expect(rec.inputs.find((i) => i.name === 'days')?.value).toBe(DAYS);
    expect(noteCodes(rec).filter((c) => c.includes('reference') || c.startsWith('n_rich'))).toEqual([]);
    const z1 = rec.zones.find((z) => z.id === 'upland-1-z1')!;
    expect(z1.rate.modelKgNHa).toBeCloseTo(36.06, 2); // AGRONOMY.md: 36.06 kg N/ha
    for (const zone of rec.zones)
      expect(zone.rate.modelKgNHa).toBeCloseTo(sbnrcRate(wheatProfile, zoneNdvi(zone.id), 0.7), 6);
  });

  it('Holland–Schepers (corn): the strip of the index the model reads', async () => {
    const corn = {
      crop: 'corn',
      observations: {
        n_rich_ndvi: { value: 0.75, date: '2027-01-03' }, // after the scene, inside the window
        n_preplant_kg_ha: { value: 40, date: '2026-10-01' },
        n_credit_kg_ha: { value: 10, date: '2026-10-01' },
      },
    };
    const r = recommender();
    const rec = upland(await r.forScene(farmWith(corn), 'gw-1', zones, new Map(), now))!;
    expect(r.refused).toEqual([]);
    expect(rec.reference).toMatchObject({ kind: 'n_rich_strip', index: 'ndvi', value: 0.75 });
    const hs = cornProfile.hollandSchepers!;
    for (const zone of rec.zones) {
      const want = hollandSchepers({
        vi: zoneNdvi(zone.id),
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
});

describe('a strip that cannot serve leaves the virtual 95th percentile, and the notes say why', () => {
  const virtual = readZones(zones).zones;

  it(`too far from the scene (more than ${N_RICH_WINDOW_DAYS} days)`, async () => {
    const strip = { value: 0.7, date: '2026-12-10' }; // 17 days before the scene
    const r = recommender();
    const rec = upland(
      await r.forScene(farmWith({ observations: { n_rich_ndvi: strip } }), 'gw-1', zones, new Map(), now),
    )!;
    expect(r.refused).toEqual([]);
    const p95 = virtualP95(virtual, 'ndvi')!;
    expect(rec.reference).toMatchObject({ kind: 'virtual_p95', index: 'ndvi' });
    expect(rec.reference!.value).toBeCloseTo(p95, 6);
    expect(noteCodes(rec)).toEqual(
      expect.arrayContaining(['virtual_reference', 'n_rich_strip_out_of_window']),
    );
    const n = rec.notes.find((x) => x.code === 'n_rich_strip_out_of_window')!;
    expect(n.text.en).toContain('(n_rich_ndvi 2026-12-10) is 17 days from the scene’s date 2026-12-27');
    expect(n.text.ja).toContain('n_rich_ndvi 2026-12-10');
    expect(n.text.ja).toContain('17日');
    for (const zone of rec.zones)
      expect(zone.rate.modelKgNHa).toBeCloseTo(
        sbnrcRate(wheatProfile, zoneNdvi(zone.id), rec.reference!.value),
        6,
      );
    // the strip's value, 0.7, would have given the worked example's rate; the virtual one does not
    expect(rec.reference!.value).not.toBeCloseTo(0.7, 3);
  });

  it('of another index than the model reads (NDRE strip, zones with NDVI only)', async () => {
    const corn = {
      crop: 'corn',
      observations: {
        n_rich_ndre: { value: 0.4, date: '2026-12-26' },
        n_preplant_kg_ha: { value: 40, date: '2026-10-01' },
        n_credit_kg_ha: { value: 10, date: '2026-10-01' },
      },
    };
    const r = recommender();
    const rec = upland(await r.forScene(farmWith(corn), 'gw-1', zones, new Map(), now))!;
    expect(rec.reference).toMatchObject({ kind: 'virtual_p95', index: 'ndvi' });
    const n = rec.notes.find((x) => x.code === 'n_rich_strip_other_index')!;
    expect(n.text.en).toContain('n_rich_ndre 2026-12-26');
    expect(n.text.en).toContain('not measured in NDVI');
    expect(n.text.ja).toContain('NDVI');
  });
});

describe('refused, with a reason on the status list', () => {
  it('a strip value outside the card’s range (NDVI 5) is not used, nor replaced', async () => {
    const metrics = new GatewayMetrics(false);
    const r = recommender(metrics);
    const recs = await r.forScene(
      farmWith({ observations: { n_rich_ndvi: { value: 5, date: '2026-12-24' } } }),
      'gw-1',
      zones,
      new Map(),
      now,
    );
    expect(upland(recs)).toBeUndefined();
    expect(r.refused).toEqual([
      {
        field: 'upland-1',
        model: 'osu-sbnrc@1.0.0',
        code: 'HATAKE_E_MODEL_INPUT_RANGE',
        reason: expect.stringContaining(
          'n_rich_ndvi = 5 (scouted 2026-12-24) is outside the valid range 0.1–0.95',
        ) as unknown,
        time: now,
      },
    ]);
    expect(r.refused[0]!.reason).toContain('/fields/upland-1/observations/n_rich_ndvi');
    expect(
      await metrics.value('hatake_gateway_recommendations_refused_total', {
        model: 'osu-sbnrc',
        code: 'HATAKE_E_MODEL_INPUT_RANGE',
      }),
    ).toBe(1);
  });

  it('a crop with no model; a field with no crop is not listed', async () => {
    // a second field in the scene, without a crop: the same zones under its id
    const bare: Field = { id: 'bare-1', name: '休耕地' };
    const both = {
      ...zones,
      features: [
        ...zones.features,
        ...zones.features.map((f) => ({
          ...f,
          id: f.id.replace('upland-1', 'bare-1'),
          properties: { ...f.properties, fieldId: 'bare-1' },
        })),
      ],
    };
    const metrics = new GatewayMetrics(false);
    const r = recommender(metrics);
    for (const crop of ['soybean', 'constructor']) {
      const recs = await r.forScene(farmWith({ crop }, [bare]), 'gw-1', both, new Map(), now);
      expect(recs).toEqual([]);
      expect(r.refused).toEqual([
        {
          field: 'upland-1',
          model: '',
          code: 'HATAKE_E_MODEL_NOT_FOUND',
          reason: expect.stringContaining(`no model for crop ${crop}`) as unknown,
          time: now,
        },
      ]);
    }
    expect(
      await metrics.value('hatake_gateway_recommendations_refused_total', {
        model: 'none',
        code: 'HATAKE_E_MODEL_NOT_FOUND',
      }),
    ).toBe(2);
    // once the crop has a model, the field's entry goes
    await r.forScene(farmWith({}, [bare]), 'gw-1', both, new Map(), now);
    expect(r.refused).toEqual([]);
  });
});
