// The gateway's default rice model and profile (CROP_MODELS.rice: the NDVI top-dressing model with
// rice-koshihikari) against the Koshihikari rule of ../shared/AGRONOMY.md, read from that file:
// about 1.0 kg N/10a at panicle initiation when SPAD ≤ 30, none above. Run on the committed ONNX
// artifact with the profile's own constants, at SPAD 29 and 31.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import type { CropProfile } from '../../../protocol/crop-profile.ts';
import type { ModelCard } from '../../../protocol/model-card.ts';
import { CROP_MODELS } from '../../../gateway/recommender.ts';
import { ModelRegistry } from '../../../edge/inference/registry.ts';
import { feedsFromValues } from '../../../edge/inference/inputs.ts';
import { applyRate } from '../../../edge/recommend/rates.ts';
import { CALIBRATIONS } from '../../../models/published/rice-topdress.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../../models/paths.ts';

const AGRONOMY = join(import.meta.dirname, '../../../../shared/AGRONOMY.md');

/** The Koshihikari rule as AGRONOMY.md states it: "Koshihikari ≈ R kg N/10a … when SPAD ≤ S". */
function koshihikariRule(): { kgN10a: number; spadMax: number } {
  const text = readFileSync(AGRONOMY, 'utf8');
  const m = /Koshihikari\s+≈\s+(\d+(?:\.\d+)?)\s+kg\s+N\/10a[^.]*?when\s+SPAD\s+≤\s+(\d+(?:\.\d+)?)/.exec(
    text,
  );
  if (!m) throw new Error(`the Koshihikari rule was not found in ${AGRONOMY}`);
  return { kgN10a: Number(m[1]), spadMax: Number(m[2]) };
}

function profileValue(profile: CropProfile, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
      profile,
    );
}

describe('rice-koshihikari, the gateway’s default rice profile, follows AGRONOMY.md', () => {
  const rule = koshihikariRule();
  const { model, profile: profileId } = CROP_MODELS.rice!;
  let card: ModelCard;
  let profile: CropProfile;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
    const loaded = reg.load(model); // the committed artifact, checked against its card's sha256
    card = loaded.card;
    profile = reg.profile(profileId);
    session = await ort.InferenceSession.create(loaded.bytes);
  });
  afterAll(async () => {
    await session?.release();
  });

  /** Runs the model for one zone at a SPAD, with the demo paddy's scouting and the profile's constants. */
  async function at(spad: number) {
    const viInput = card.inputs.find((i) => i.source.kind === 'index_stat')!;
    const index = viInput.source.kind === 'index_stat' ? viInput.source.index[0] : undefined;
    const cal = CALIBRATIONS.find((c) => c.index === index)!;
    const values: Record<string, unknown> = {
      [viInput.name]: (spad - cal.intercept) / cal.slope,
      plant_height_cm: 64,
      stems_per_m2: 430,
    };
    for (const i of card.inputs)
      if (i.source.kind === 'profile_constant') values[i.name] = profileValue(profile, i.source.path);
    // the rule's rate is for a crop that is not at risk of lodging
    expect(64 * 430).toBeLessThanOrEqual(profile.riceTopdress!.lodgingIndexMax);
    const feeds = feedsFromValues(card, values);
    const out = await session.run(
      Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.type, f.data, f.dims)])),
    );
    const get = (name: string) => Number(out[name]!.data[0]);
    return {
      spad: get('spad'),
      kgN10a: get('n_rate_10a'),
      kgNHa: get('n_rate'),
      lodging: get('lodging_risk'),
    };
  }

  for (const delta of [-1, +1]) {
    it(`SPAD ${rule.spadMax + delta}: ${delta < 0 ? 'below' : 'above'} the rule's limit of ${rule.spadMax}`, async () => {
      const spad = rule.spadMax + delta;
      const r = await at(spad);
      expect(r.spad).toBeCloseTo(spad, 9);
      expect(r.lodging).toBe(0);
      // SPAD ≤ limit → the rule's rate; above it the rule gives none
      const want10a = spad <= rule.spadMax ? rule.kgN10a : 0;
      expect(r.kgN10a).toBeCloseTo(want10a, 9);
      expect(r.kgNHa).toBeCloseTo(want10a * 10, 9); // 1 kg/10a = 10 kg/ha
      // what the spreader applies: the nearest step of product, within half a step of N of the rule
      const applied = applyRate(r.kgNHa, profile);
      const halfStepN10a = (profile.spreader.stepKgProductHa * profile.fertilizer.nFraction) / 2 / 10;
      expect(Math.abs(applied.kgN10a - want10a)).toBeLessThanOrEqual(halfStepN10a + 1e-9);
      expect(applied.clamped).toBeNull();
      if (want10a === 0) expect(applied.productKgHa).toBe(0);
    });
  }
});
