// The farmer's list of approved recommendations says when the satellite image each one's rates
// come from was taken, not only when they were computed: two real SBNRC recommendations go up from
// a registered gateway's outbox — one from the zones of an image taken on 2026-11-20, one from
// zones that name no image date — an officer approves both, and the farmer's list (and each one's
// detail) gives the image's acquisition time from the recommendation's provenance, or null.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { ApprovedRecommendation, type ReviewDetail } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { demoZones } from '../helpers/recommendation.ts';
import { eventually, signIn, startRegisteredStack, type Stack } from '../helpers/stack.ts';

const ACQUIRED = '2026-11-20T01:30:00Z';

let dir: string;
let url: string;
let stack: Stack;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-rx-image-date-'));
  ({ url, stack, close } = await startRegisteredStack(dir, 'gw-image-date'));
}, 60_000);
afterAll(async () => {
  await close?.();
  rmSync(dir, { recursive: true, force: true });
});

/** A real SBNRC recommendation for the demo wheat field from these zones (the model in ONNX). */
async function sbnrc(zones: ReturnType<typeof demoZones>, now: number): Promise<Recommendation> {
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
      by: 'gateway gw-image-date',
    });
  } finally {
    await pool.close();
  }
}

describe("the farmer's list of approved recommendations", () => {
  it('gives the date of the satellite image each one was computed from, or null', async () => {
    const now = Date.now();
    const dated = await sbnrc(demoZones(undefined, ACQUIRED), now - 7_200_000);
    // The same zones with no acquisition date in them: the recommendation names no image date.
    const undated = demoZones([0.5, 0.6, 0.7]);
    for (const f of undated.features) delete (f.properties as { acquired?: string }).acquired;
    const noDate = await sbnrc(undated, now - 3_600_000);
    expect(dated.imagery.acquired).toBe(Date.parse(ACQUIRED));
    expect(noDate.imagery.acquired).toBeNull();
    const officer = await signIn(url, 'demo-officer');
    const farmer = await signIn(url, 'demo-farmer');
    // One after the other: a newer recommendation for the field supersedes one still pending.
    for (const rec of [dated, noDate]) {
      stack.gateway.store.enqueue('recommendation', rec, Date.now());
      const detail = await eventually(async () => {
        const res = await officer(`/api/v1/reviews/${rec.id}`);
        return res.status === 200 ? ((await res.json()) as ReviewDetail) : undefined;
      }, 20_000);
      const res = await officer(`/api/v1/reviews/${rec.id}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ revision: detail.revision }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    }

    const res = await farmer('/api/v1/recommendations?farm=demo-farm');
    expect(res.status).toBe(200);
    const list = (await res.json()) as ApprovedRecommendation[];
    for (const item of list) expect(validator(ApprovedRecommendation).problems(item)).toEqual([]);
    const byId = new Map(list.map((x) => [x.id, x]));
    expect(byId.get(dated.id)?.imageAcquired).toBe(new Date(ACQUIRED).toISOString());
    expect(byId.get(noDate.id)?.imageAcquired).toBeNull();
    // Not when it was computed: the image is days older than the recommendation.
    expect(byId.get(dated.id)?.createdAt).not.toBe(byId.get(dated.id)?.imageAcquired);

    // One recommendation's detail says the same as the list, and as its own document.
    const one = (await (
      await farmer(`/api/v1/recommendations/${dated.id}`)
    ).json()) as ApprovedRecommendation & {
      recommendation: Recommendation;
    };
    expect(one.imageAcquired).toBe(new Date(one.recommendation.imagery.acquired!).toISOString());
  });
});
