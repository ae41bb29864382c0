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
import { demoRecommendation, demoZones } from '../helpers/recommendation.ts';
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

describe("the farmer's list of approved recommendations", () => {
  it('gives the date of the satellite image each one was computed from, or null', async () => {
    const now = Date.now();
    const dated = await demoRecommendation(now - 7_200_000, demoZones(undefined, ACQUIRED));
    // The same zones with no acquisition date in them: the recommendation names no image date.
    const undated = demoZones([0.5, 0.6, 0.7]);
    for (const f of undated.features) delete (f.properties as { acquired?: string }).acquired;
    const noDate = await demoRecommendation(now - 3_600_000, undated);
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
