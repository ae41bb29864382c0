// The officer's region overview over real HTTP and real sync batches: each farm's pending reviews
// are counted on the server, every one of them (the review queue answers a page, 200 items by
// default, too short to count from), with the queue's own statuses (pending or edited; approved,
// rejected and superseded ones not); a farm with none says 0; a farm of another region is not in
// the officer's overview at all; the stale flag holds for a farm whose data is fresh and one with
// none.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import type { ReviewDetail, ReviewQueueItem } from '../../protocol/review.ts';
import type { RegionOverview } from '../../protocol/views.ts';
import { regionOverview } from '../../dashboard/views/overview.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';
import { SeedGateway, wheatRecommendation } from '../e2e/seed.ts';

type Fetcher = Awaited<ReturnType<typeof signIn>>;
const json = async <T>(r: Response | Promise<Response>): Promise<T> => {
  const res = await r;
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};

/** More fields than the queue's default page, each with its own open recommendation. */
const BIG_FIELDS = 205;
const fieldId = (i: number) => `f-${String(i).padStart(3, '0')}`;

let dir: string;
let server: HatakeServer;
let url: string;
let officer: Fetcher;
let admin: Fetcher;
let template: Recommendation;

/** A farm of `region` with the given fields (the demo's wheat field, renamed) and devices. */
function manifest(id: string, region: string, fields: string[], devices: Manifest['devices'] = []): Manifest {
  const upland = demoManifest().fields.find((f) => f.id === 'upland-1')!;
  return {
    farm: { id, name: id, region, timezone: 'Asia/Tokyo' },
    fields: fields.map((f) => ({ ...upland, id: f, name: f })),
    devices,
  };
}

/** The model's recommendation for upland-1, as made for `field` of `farm` (its zones renamed). */
const recFor = (template: Recommendation, farm: string, field: string): Recommendation => {
  const rec = JSON.parse(JSON.stringify(template).replaceAll('upland-1', field)) as Recommendation;
  return { ...rec, id: `rec-${farm}-${field}`, farm };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-overview-'));
  ({ server, url } = await startServer(dir));
  // One recommendation made by the real model; the others are its copies for other fields.
  template = await wheatRecommendation('big-farm', 'upland-1', new Date().toISOString());

  const big = new SeedGateway(server, url, 'big-farm', 'gw-big');
  const bigFields = Array.from({ length: BIG_FIELDS }, (_, i) => fieldId(i + 1));
  await big.send([{ kind: 'manifest', body: manifest('big-farm', 'niigata', bigFields) }]);
  for (let i = 0; i < bigFields.length; i += 50)
    await big.send(
      bigFields
        .slice(i, i + 50)
        .map((f) => ({ kind: 'recommendation' as const, body: recFor(template, 'big-farm', f) })),
    );

  // The same region, its weather station heard from just now, and no recommendation.
  const quiet = new SeedGateway(server, url, 'quiet-farm', 'gw-quiet');
  await quiet.send([
    {
      kind: 'manifest',
      body: manifest('quiet-farm', 'niigata', ['q-1'], [{ id: 'wx-q', kit: 'hatake-weather-station' }]),
    },
    {
      kind: 'reading',
      body: {
        device: 'wx-q',
        metric: 'air_temperature',
        value: 21.5,
        unit: 'degC',
        time: Date.now(),
        flags: [],
      },
    },
  ]);

  // Another region, with recommendations of its own.
  const far = new SeedGateway(server, url, 'far-farm', 'gw-far');
  await far.send([
    { kind: 'manifest', body: manifest('far-farm', 'okinawa', ['o-1', 'o-2', 'o-3']) },
    ...['o-1', 'o-2', 'o-3'].map((f) => ({
      kind: 'recommendation' as const,
      body: recFor(template, 'far-farm', f),
    })),
  ]);

  officer = await signIn(url, 'demo-officer'); // region niigata
  admin = await signIn(url, 'admin');
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (who: Fetcher, path: string, body: unknown) =>
  who(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('region overview: pending reviews and stale data', () => {
  it('counts every open review of a farm, past the queue’s page, as the queue would list them', async () => {
    // Decided ones leave the count; an edited one stays in it (the queue lists it too).
    const id = (i: number) => `rec-big-farm-${fieldId(i)}`;
    const edited = await json<ReviewDetail>(officer(`/api/v1/reviews/${id(1)}`));
    const zone = edited.zones[0]!;
    const kg = zone.applied.kgNHa > 60 ? zone.applied.kgNHa - 20 : zone.applied.kgNHa + 20;
    await json(
      post(officer, `/api/v1/reviews/${id(1)}/edit`, {
        zones: [{ zone: zone.id, kgNHa: kg }],
        reason: 'test',
      }),
    );
    await json(post(officer, `/api/v1/reviews/${id(2)}/approve`, {}));
    await json(post(officer, `/api/v1/reviews/${id(3)}/approve`, {}));
    await json(post(officer, `/api/v1/reviews/${id(4)}/reject`, { reason: 'test' }));
    // A newer recommendation for field 5 supersedes the older one: still one open there.
    const newer = recFor(template, 'big-farm', fieldId(5));
    await new SeedGateway(server, url, 'big-farm', 'gw-big-2').send([
      { kind: 'recommendation', body: { ...newer, id: `${newer.id}-b`, createdAt: newer.createdAt + 1 } },
    ]);
    expect((await json<ReviewDetail>(officer(`/api/v1/reviews/${id(5)}`))).status).toBe('superseded');
    const expected = BIG_FIELDS - 3;
    expect(expected).toBeGreaterThan(200);

    const o = await json<RegionOverview>(officer('/api/v1/overview'));
    const big = o.farms.find((f) => f.id === 'big-farm')!;
    expect(big.pendingReviews).toBe(expected);
    // The queue's default page stops at 200; asked for all of the farm's, it lists the same number.
    expect(await json<ReviewQueueItem[]>(officer('/api/v1/reviews'))).toHaveLength(200);
    const queue = await json<ReviewQueueItem[]>(officer('/api/v1/reviews?farm=big-farm&limit=500'));
    expect(queue).toHaveLength(expected);
    expect(queue.map((q) => q.status)).toContain('edited');
  });

  it('says 0 for a farm with none, and leaves out a farm of another region', async () => {
    const o = await json<RegionOverview>(officer('/api/v1/overview'));
    expect(o.farms.map((f) => f.id)).toEqual(['big-farm', 'quiet-farm']);
    expect(o.farms.find((f) => f.id === 'quiet-farm')!.pendingReviews).toBe(0);
    expect(o.fields.some((f) => f.farm === 'far-farm')).toBe(false);
    // An admin sees every farm, each with its own count.
    const all = await json<RegionOverview>(admin('/api/v1/overview'));
    expect(Object.fromEntries(all.farms.map((f) => [f.id, f.pendingReviews]))).toEqual({
      'big-farm': BIG_FIELDS - 3,
      'far-farm': 3,
      'quiet-farm': 0,
    });
  });

  it('flags a farm with no data as stale, and not one whose device was just heard from', async () => {
    const o = await json<RegionOverview>(officer('/api/v1/overview'));
    const quiet = o.farms.find((f) => f.id === 'quiet-farm')!;
    expect(quiet).toMatchObject({ devices: 1, silentDevices: 0, stale: false });
    expect(Date.now() - Date.parse(quiet.lastData!)).toBeLessThan(60_000);
    expect(quiet.lastSync).not.toBeNull();
    const big = o.farms.find((f) => f.id === 'big-farm')!;
    expect(big).toMatchObject({ devices: 0, lastData: null, stale: true });
  });

  it('gives a farmer and a partner of the farm no count over the API', async () => {
    await server.ctx.auth.createUser('big-farmer', 'big-farmer-password-1', 'farmer', {
      farms: ['big-farm'],
    });
    await server.ctx.auth.createUser('big-partner', 'big-partner-password-1', 'partner', {
      farms: ['big-farm'],
    });
    for (const [user, password] of [
      ['big-farmer', 'big-farmer-password-1'],
      ['big-partner', 'big-partner-password-1'],
    ] as const) {
      const o = await json<RegionOverview>((await signIn(url, user, password))('/api/v1/overview'));
      expect(
        o.farms.map((f) => [f.id, f.pendingReviews]),
        user,
      ).toEqual([['big-farm', null]]);
    }
  });

  it('gives no count for farms whose reviews the caller does not see', () => {
    const o = regionOverview(server.ctx.db, loadCatalogue(), ['big-farm', 'quiet-farm'], Date.now(), [
      'quiet-farm',
    ]);
    expect(Object.fromEntries(o.farms.map((f) => [f.id, f.pendingReviews]))).toEqual({
      'big-farm': null,
      'quiet-farm': 0,
    });
  });
});
