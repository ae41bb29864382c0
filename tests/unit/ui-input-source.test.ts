// Where a model input came from, as the officer's page reads it (dashboard/ui/format.ts
// readInputSource): the gateway and the model's input assembly write each source in English, and
// the page words it in the reader's language from its parts. Read here from what the producers
// really write — real recommendations made by the ONNX models (crop profile constants, zone index
// statistics with their scene, zone records, a model card's default, the virtual reference exact
// and estimated, an N-rich strip the gateway chose), the gateway's growing-day count and its
// sensor inputs — so a change to the producers' wording shows here, not as English on the page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import { chooseReference, daysGddPositive, sensorInputs } from '../../gateway/recommender.ts';
import { readInputSource, type InputSource } from '../../dashboard/ui/format.ts';

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
let pool: InferencePool;
const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];
const ACQUIRED = '2026-04-05T01:30:00Z';

/** Zones of a field from one scene, with what each carries of the index and the field's records. */
function zones(
  field: string,
  ndvi: number[],
  extra: { fieldP95?: Record<string, number>; attributes?: Record<string, number> } = {},
): ZoneCollection {
  return {
    type: 'FeatureCollection',
    features: ndvi.map((mean, k) => ({
      type: 'Feature',
      id: `${field}-z${k + 1}`,
      geometry: {
        type: 'MultiPolygon',
        coordinates: [[ring(138.9 + k * 0.0004, 37.8, 138.9 + (k + 1) * 0.0004, 37.8003)]],
      },
      properties: {
        fieldId: field,
        sceneId: 'S2B_MSIL2A_20260405',
        acquired: ACQUIRED,
        zone: k + 1,
        areaHa: 0.12,
        validFraction: 1,
        indices: { ndvi: { mean, std: 0.04, count: 40, validFraction: 1 } },
        ...(extra.fieldP95 ? { fieldP95: extra.fieldP95 } : {}),
        ...(extra.attributes ? { attributes: extra.attributes } : {}),
      },
    })),
  } as unknown as ZoneCollection;
}

/** Every source a recommendation names, field-wide and per zone. */
const sourcesOf = (rec: Recommendation) => [
  ...new Set([...rec.inputs, ...rec.zones.flatMap((z) => z.inputs)].map((i) => i.source)),
];

const recs: Recommendation[] = [];
const extraSources: string[] = [];

beforeAll(async () => {
  pool = await InferencePool.start({ size: 1 });
  const now = Date.parse('2026-04-06T00:00:00Z');
  // Winter wheat: the growing days as the gateway counts them, with the weather station's days
  // for all of the season (one recommendation) or part of it (the other); the reference is the
  // field's 95th percentile, exact from the imagery or estimated from the zones.
  const wheat = reg.entry('osu-sbnrc@1.0.0');
  await pool.load(reg.load('osu-sbnrc@1.0.0'));
  const planting = '2026-01-10';
  const allDays = new Map<string, number>();
  for (let t = Date.parse(`${planting}T00:00:00Z`); t < Date.parse(ACQUIRED); t += 86_400_000)
    allDays.set(new Date(t).toISOString().slice(0, 10), 6);
  const someDays = new Map([...allDays].slice(0, 20));
  for (const [days, p95] of [
    [allDays, { ndvi: 0.82 }],
    [someDays, undefined],
  ] as const) {
    const g = daysGddPositive(planting, Date.parse(ACQUIRED), days);
    recs.push(
      await recommend(pool, {
        farm: 'demo-farm',
        field: 'upland-1',
        card: wheat.card,
        profile: reg.profile('winter-wheat-osu-2007'),
        zones: zones('upland-1', [0.55, 0.7], p95 ? { fieldP95: p95 } : {}),
        fieldAttributes: {
          days_gdd_positive: { value: g.days, time: Date.parse(ACQUIRED), source: g.source },
        },
        now,
        by: 'gateway gw-1',
      }),
    );
  }
  // Maize (Holland–Schepers): the N-rich strip the gateway chose from the field's scouting, the
  // field's records as the gateway writes its observations, the card's default for a zone that
  // has no productivity factor.
  const corn = reg.entry('holland-schepers-si@1.0.0');
  await pool.load(reg.load('holland-schepers-si@1.0.0'));
  const cornZones = zones('corn-1', [0.6, 0.72]);
  const field = {
    id: 'corn-1',
    name: 'Corn 1',
    observations: { n_rich_ndvi: { value: 0.85, date: '2026-04-03', note: 'east end' } },
  } as unknown as Manifest['fields'][number];
  const strip = chooseReference(corn.card, field, cornZones.features, 'Asia/Tokyo');
  expect(strip.reference.kind).toBe('n_rich_strip');
  const record = (value: number) => ({
    value,
    time: Date.parse('2026-03-20T00:00:00Z'),
    // As GatewayRecommender writes a field's observation (gateway/recommender.ts).
    source: 'field observation 2026-03-20 (soil test)',
  });
  recs.push(
    await recommend(pool, {
      farm: 'demo-farm',
      field: 'corn-1',
      card: corn.card,
      profile: reg.profile('corn-holland-schepers'),
      zones: cornZones,
      fieldAttributes: { n_preplant_kg_ha: record(40), n_credit_kg_ha: record(10) },
      reference: strip.reference,
      now,
      by: 'gateway gw-1',
    }),
  );
  // Rice: the zones' own records (plant height, stems).
  const rice = reg.entry('rice-pi-topdress-ndvi@1.1.0');
  await pool.load(reg.load('rice-pi-topdress-ndvi@1.1.0'));
  recs.push(
    await recommend(pool, {
      farm: 'demo-farm',
      field: 'paddy-1',
      card: rice.card,
      profile: reg.profile('rice-koshihikari'),
      zones: zones('paddy-1', [0.6, 0.75], { attributes: { plant_height_cm: 64, stems_per_m2: 430 } }),
      now,
      by: 'gateway gw-1',
    }),
  );
  // A sensor's latest reading, as the gateway gives it to a model that reads one.
  const card = { inputs: [{ source: { kind: 'sensor_metric', metric: 'soil_vwc' }, unit: 'm3/m3' }] };
  const farm = {
    devices: [
      { id: 'soil-1', field: 'paddy-1', depth: 0.15 },
      { id: 'soil-2', field: 'paddy-2' },
    ],
  };
  const latest = () => [{ metric: 'soil_vwc', value: 0.3, unit: 'm3/m3', time: now, flags: '[]' }];
  for (const f of ['paddy-1', 'paddy-2'])
    extraSources.push(
      sensorInputs(card as unknown as ModelCard, farm as unknown as Manifest, f, latest as never).sensors
        .soil_vwc!.source,
    );
}, 90_000);
afterAll(async () => {
  await pool?.close();
});

describe('an input’s source as the officer’s page reads it', () => {
  it('reads every source the real producers write, of every kind', () => {
    const all = [...recs.flatMap(sourcesOf), ...extraSources];
    const unread = all.filter((s) => readInputSource(s) === null);
    expect(unread).toEqual([]);
    const kinds = new Set(all.map((s) => readInputSource(s)!.kind));
    expect([...kinds].sort()).toEqual(
      [
        'cardDefault',
        'index',
        'observation',
        'p95',
        'planting',
        'profile',
        'sensor',
        'strip',
        'zoneRecord',
      ].sort(),
    );
  });

  it('takes each source apart into the names it holds', () => {
    const read = (pick: (s: InputSource) => boolean) =>
      [...recs.flatMap(sourcesOf), ...extraSources].map(readInputSource).filter((s) => s && pick(s));
    expect(read((s) => s.kind === 'profile')).toContainEqual({
      kind: 'profile',
      profile: 'winter-wheat-osu-2007@1.0.0',
      path: 'sbnrc.riSlope',
    });
    expect(read((s) => s.kind === 'index')).toContainEqual({
      kind: 'index',
      index: 'ndvi',
      stat: 'mean',
      scene: 'S2B_MSIL2A_20260405',
    });
    expect(read((s) => s.kind === 'p95')).toEqual(
      expect.arrayContaining([
        { kind: 'p95', index: 'ndvi', estimated: false },
        { kind: 'p95', index: 'ndvi', estimated: true },
      ]),
    );
    expect(read((s) => s.kind === 'planting')).toEqual(
      expect.arrayContaining([
        { kind: 'planting', date: '2026-01-10', measured: null, total: null },
        { kind: 'planting', date: '2026-01-10', measured: 20, total: 85 },
      ]),
    );
    expect(read((s) => s.kind === 'strip')).toEqual([
      { kind: 'strip', date: '2026-04-03', note: 'east end' },
    ]);
    expect(read((s) => s.kind === 'observation')).toEqual([
      { kind: 'observation', date: '2026-03-20', note: 'soil test' },
    ]);
    expect(read((s) => s.kind === 'cardDefault')).toEqual([{ kind: 'cardDefault', name: 'mz' }]);
    expect(read((s) => s.kind === 'zoneRecord')).toEqual(
      expect.arrayContaining([
        { kind: 'zoneRecord', name: 'plant_height_cm' },
        { kind: 'zoneRecord', name: 'stems_per_m2' },
      ]),
    );
    expect(read((s) => s.kind === 'sensor')).toEqual([
      { kind: 'sensor', device: 'soil-1', depthM: 0.15, metric: 'soil_vwc' },
      { kind: 'sensor', device: 'soil-2', depthM: null, metric: 'soil_vwc' },
    ]);
  });

  it('leaves a source of any other form to be shown as written', () => {
    for (const s of [
      'planting record',
      'planting 2026-01-10; counted by hand',
      'index_stat ndvi.p50 scene S2',
      'virtual_p95 ndvi: the officer’s own estimate',
      'N-rich strip from the neighbour',
      '',
    ])
      expect(readInputSource(s), s).toBeNull();
    // A strip given as a caller's bare words is still a strip.
    expect(readInputSource('N-rich strip')).toEqual({ kind: 'strip', date: null, note: null });
    expect(readInputSource('n_rich_strip ndvi: N-rich strip')).toEqual({
      kind: 'strip',
      date: null,
      note: null,
    });
  });
});
