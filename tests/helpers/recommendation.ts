// A real fertilization recommendation for tests: the OSU SBNRC model run through the inference
// pool on three management zones of the demo farm's wheat field.
import type { Recommendation } from '../../protocol/recommendation.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';

const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

/** Three zones across the demo farm's upland-1 field, with their NDVI. */
export function demoZones(ndvi: number[] = [0.45, 0.55, 0.68], acquired = '2026-11-20T01:30:00Z') {
  const [x0, x1, y0, y1] = [138.902, 138.9035, 37.8, 37.801];
  const w = (x1 - x0) / ndvi.length;
  return {
    type: 'FeatureCollection',
    schema: 'hatake.imagery.zones/1',
    features: ndvi.map((mean, k) => ({
      type: 'Feature',
      id: `upland-1-z${k + 1}`,
      geometry: { type: 'MultiPolygon', coordinates: [[ring(x0 + k * w, y0, x0 + (k + 1) * w, y1)]] },
      properties: {
        fieldId: 'upland-1',
        sceneId: 'S2B_demo_20261120',
        acquired,
        zone: k + 1,
        k: ndvi.length,
        zoningIndex: 'ndvi',
        pixels: 45,
        areaHa: 0.44,
        validFraction: 1,
        fieldValidFraction: 0.98,
        indices: {
          ndvi: {
            mean,
            median: mean,
            p10: mean - 0.03,
            p90: mean + 0.03,
            std: 0.02,
            min: mean - 0.06,
            max: mean + 0.06,
            count: 45,
            validFraction: 1,
          },
        },
      },
    })),
  };
}

/** Computes one real SBNRC recommendation for the demo farm's wheat field (from `zones`, default demoZones()). */
export async function demoRecommendation(
  now = Date.now(),
  zones: ReturnType<typeof demoZones> = demoZones(),
): Promise<Recommendation> {
  const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
  const pool = await InferencePool.start({ size: 1 });
  try {
    await pool.load(reg.load('osu-sbnrc@1.0.0'));
    return await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('osu-sbnrc@1.0.0').card,
      profile: reg.profile('winter-wheat-osu-2007'),
      zones,
      fieldAttributes: {
        days_gdd_positive: { value: 45, time: now - 3_600_000, source: 'planting date + weather station' },
      },
      reference: {
        kind: 'n_rich_strip',
        values: { ndvi: 0.7 },
        time: now - 86_400_000,
        source: 'N-rich strip',
      },
      now,
      by: 'gateway gw-test',
    });
  } finally {
    await pool.close();
  }
}
