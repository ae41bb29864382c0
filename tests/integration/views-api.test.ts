// The field-view API over real HTTP and real sync batches: processed imagery is stored per farm,
// field and scene (a resend is a no-op, a reprocessed scene replaces), heatmap PNGs are uploaded
// by the gateway beside it and refused when they are not what they claim; chart series come from
// the reading store at three resolutions; the region overview ranks fields by NDVI and flags
// farms whose data went quiet. Hostile input gets a coded 4xx and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FarmFields, FieldDetail, RegionOverview, Series } from '../../protocol/views.ts';
import type { ImageryResult } from '../../protocol/sync.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { seedImagery, SeedGateway } from '../e2e/seed.ts';
import { getMapFile, putMapFile } from '../../dashboard/views/imagery.ts';
import { localDay, startOfLocalDay } from '../../edge/rules/local-time.ts';

type Fetcher = Awaited<ReturnType<typeof signIn>>;
let stack: Stack;
let farmer: Fetcher;
let officer: Fetcher;
let gw: SeedGateway;
let scene: ImageryResult;
const json = async <T>(r: Response): Promise<T> => (await r.json()) as T;

beforeAll(async () => {
  stack = await startStack();
  farmer = await signIn(stack.httpUrl, 'demo-farmer');
  officer = await signIn(stack.httpUrl, 'demo-officer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm');
  scene = await seedImagery(gw, demoManifest());
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('fields and imagery', () => {
  it('lists the fields with their boundaries and the latest NDVI of each', async () => {
    const f = await json<FarmFields>(await farmer('/api/v1/farms/demo-farm/fields'));
    expect(f.fields.map((x) => x.id).sort()).toEqual(['paddy-1', 'upland-1']);
    const upland = f.fields.find((x) => x.id === 'upland-1')!;
    expect(upland.boundary?.type).toBe('Polygon');
    expect(upland.latest).toMatchObject({ sceneId: scene.sceneId });
    expect(upland.latest!.ndvi).toBeCloseTo(scene.stats.fields['upland-1']!.indices.ndvi!.mean!, 6);
  });

  it('gives a field its scenes with heatmap layers at the scene’s WGS84 bounds, and serves the PNG', async () => {
    const d = await json<FieldDetail>(await farmer('/api/v1/farms/demo-farm/fields/upland-1'));
    expect(d.scenes).toHaveLength(1);
    const ndvi = d.scenes[0]!.maps.find((m) => m.index === 'ndvi')!;
    expect(ndvi.available).toBe(true);
    expect(ndvi.bounds).toEqual(scene.stats.fields['upland-1']!.maps.ndvi!.bounds);
    const png = await farmer(ndvi.url);
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    const zones = await json<{ features: { properties: { fieldId: string } }[] }>(
      await farmer(`/api/v1/farms/demo-farm/fields/upland-1/scenes/${scene.sceneId}/zones`),
    );
    expect(zones.features.length).toBe(scene.stats.fields['upland-1']!.zones);
    expect(zones.features.every((z) => z.properties.fieldId === 'upland-1')).toBe(true);
  });

  it('treats a resent scene as the same scene, and a reprocessed one as a replacement', async () => {
    await gw.send([{ kind: 'imagery', body: scene }]);
    const changed = structuredClone(scene);
    changed.stats.fields['upland-1']!.indices.ndvi!.mean = 0.123;
    await gw.send([{ kind: 'imagery', body: changed }]);
    const d = await json<FieldDetail>(await farmer('/api/v1/farms/demo-farm/fields/upland-1'));
    expect(d.scenes).toHaveLength(1);
    expect(d.scenes[0]!.indices.ndvi!.mean).toBe(0.123);
    await gw.send([{ kind: 'imagery', body: scene }]);
  });

  it('refuses map uploads that are not PNG maps, without a token, or aimed outside maps/', async () => {
    const put = (path: string, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) =>
      fetch(`${stack.httpUrl}/api/v1/sync/imagery/${scene.sceneId}/file?path=${encodeURIComponent(path)}`, {
        method: 'PUT',
        headers: { 'content-type': 'image/png', authorization: `Bearer ${gw.token}`, ...headers },
        body,
      });
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(30).fill(1)]);
    const cases: Array<[Response, number, string]> = [
      [await put('../../server.db', png), 400, 'HATAKE_E_PAYLOAD_SCHEMA'],
      [await put('maps/../x.png', png), 400, 'HATAKE_E_PAYLOAD_SCHEMA'],
      [
        await put('maps/upland-1/ndvi.png', new TextEncoder().encode('<svg onload=alert(1)>')),
        400,
        'HATAKE_E_PAYLOAD_SCHEMA',
      ],
      [await put('maps/upland-1/ndvi.png', png, { authorization: 'Bearer hgw_wrong' }), 401, 'HATAKE_E_AUTH'],
      [
        await put('maps/upland-1/ndvi.png', png, { 'content-type': 'text/html' }),
        415,
        'HATAKE_E_PAYLOAD_SCHEMA',
      ],
      [
        await put('maps/upland-1/ndvi.png', new Uint8Array(4 * 1024 * 1024 + 10)),
        413,
        'HATAKE_E_PAYLOAD_SIZE',
      ],
    ];
    for (const [res, status, code] of cases) {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { code: string }).code).toBe(code);
    }
    // The real map is still there.
    const d = await json<FieldDetail>(await farmer('/api/v1/farms/demo-farm/fields/upland-1'));
    const ndvi = await farmer(d.scenes[0]!.maps.find((m) => m.index === 'ndvi')!.url);
    expect(Buffer.from(await ndvi.arrayBuffer()).length).toBeGreaterThan(100);
  });

  it("keeps another farm's gateway from touching this farm's scenes: its upload lands on its own farm", async () => {
    const other = new SeedGateway(stack.server!, stack.httpUrl, 'other-farm', 'gw-other');
    await other.upload(
      scene.sceneId,
      'maps/upland-1/ndvi.png',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(30).fill(7)]),
    );
    const d = await json<FieldDetail>(await farmer('/api/v1/farms/demo-farm/fields/upland-1'));
    const ndvi = await farmer(d.scenes[0]!.maps.find((m) => m.index === 'ndvi')!.url);
    expect(Buffer.from(await ndvi.arrayBuffer()).length).toBeGreaterThan(100);
    // And an imagery result naming another farm is refused whole.
    await expect(other.send([{ kind: 'imagery', body: { ...scene, farm: 'demo-farm' } }])).rejects.toThrow(
      /400|403/,
    );
  });

  it('keeps map files for the newest scenes only, so a farm’s maps cannot grow without bound', () => {
    const db = stack.server!.ctx.db;
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(30).fill(2)]);
    for (let i = 0; i < 5; i++)
      putMapFile(db, 'bound-farm', `scene-${i}`, 'maps/f/ndvi.png', png, 1000 + i, 3);
    const scenes = (
      db
        .prepare('SELECT DISTINCT scene FROM view_map_files WHERE farm = ? ORDER BY scene')
        .all('bound-farm') as { scene: string }[]
    ).map((r) => r.scene);
    expect(scenes).toEqual(['scene-2', 'scene-3', 'scene-4']);
    // Other farms' files are untouched.
    expect(getMapFile(db, 'demo-farm', scene.sceneId, 'maps/upland-1/ndvi.png')).toBeDefined();
  });

  it('answers unknown fields, scenes and files with 404 and malformed ids with 400', async () => {
    expect((await farmer('/api/v1/farms/demo-farm/fields/nope')).status).toBe(404);
    expect((await farmer('/api/v1/farms/demo-farm/fields/upland-1/scenes/nope/zones')).status).toBe(404);
    expect(
      (await farmer(`/api/v1/farms/demo-farm/scenes/${scene.sceneId}/file?path=maps/upland-1/evi9.png`))
        .status,
    ).toBe(404);
    expect(
      (await farmer(`/api/v1/farms/demo-farm/scenes/${scene.sceneId}/file?path=/etc/passwd`)).status,
    ).toBe(400);
    expect((await farmer('/api/v1/farms/DEMO%2Ffarm/fields')).status).toBe(400);
    expect((await farmer(`/api/v1/farms/demo-farm/fields/${'x'.repeat(100)}`)).status).toBe(400);
  });
});

describe('chart series', () => {
  beforeAll(async () => {
    const now = Date.now();
    const hour = 3_600_000;
    const readings = [];
    for (let h = 0; h < 10 * 24; h += 1)
      for (const m of [0, 20 * 60_000, 40 * 60_000])
        readings.push({
          kind: 'reading' as const,
          body: {
            device: 'wx-1',
            metric: 'air_temperature',
            value: 10 + (h % 24) / 2,
            unit: 'degC',
            time: now - h * hour - m,
            flags: [],
          },
        });
    for (let i = 0; i < readings.length; i += 500) await gw.send(readings.slice(i, i + 500));
  }, 60_000);

  it('serves 24 h raw, 7 days hourly with min and max, and the season daily', async () => {
    const get = async (range: string) =>
      json<Series>(
        await farmer(`/api/v1/farms/demo-farm/series?device=wx-1&metric=air_temperature&range=${range}`),
      );
    const day = await get('24h');
    expect(day.resolution).toBe('raw');
    expect(day.t.length).toBeGreaterThanOrEqual(70);
    expect(day.t.length).toBeLessThanOrEqual(75);
    expect(day.unit).toBe('degC');
    expect([...day.t].sort((a, b) => a - b)).toEqual(day.t);
    const week = await get('7d');
    expect(week.resolution).toBe('hour');
    expect(week.t.length).toBeGreaterThanOrEqual(7 * 24 - 1);
    expect(week.t.length).toBeLessThanOrEqual(7 * 24 + 1);
    week.t.forEach((_t, i) => expect(week.min![i]!).toBeLessThanOrEqual(week.max![i]!));
    expect(week.t.every((t) => (t * 1000) % 3_600_000 === 0)).toBe(true);
    const season = await get('season'); // upland-1 was planted 2026-10-05, in Tokyo
    expect(season.resolution).toBe('day');
    const planted = Date.parse('2026-10-05T00:00:00+09:00');
    if (planted >= season.to - 1 - 366 * 86_400_000) expect(season.from).toBe(planted);
    else expect(season.from - (season.to - 1 - 366 * 86_400_000)).toBeLessThan(86_400_000);
    // One point per day of the farm (Asia/Tokyo): each at a JST midnight, 15:00 UTC.
    expect(season.t.every((t) => (t * 1000 + 9 * 3_600_000) % 86_400_000 === 0)).toBe(true);
    expect((season.from + 9 * 3_600_000) % 86_400_000).toBe(0);
    expect(season.t.length).toBeGreaterThanOrEqual(10);
    expect(season.t.length).toBeLessThanOrEqual(12);
  });

  it('draws the hourly means a gateway sent for an offline backlog among the last 24 h of raw readings', async () => {
    const hour = 3_600_000;
    const h = Math.floor(Date.now() / hour) * hour - 5 * hour;
    const raw = await json<Series>(
      await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=air_temperature&range=24h'),
    );
    expect(raw.resolution).toBe('raw');
    await gw.send([
      {
        kind: 'aggregate' as const,
        body: {
          device: 'wx-1',
          metric: 'air_temperature',
          unit: '°C',
          hour: h,
          part: '0',
          min: 11,
          max: 15,
          mean: 13.25,
          count: 60,
        },
      },
    ]);
    const merged = await json<Series>(
      await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=air_temperature&range=24h'),
    );
    expect(merged.resolution).toBe('raw');
    expect(merged.t).toHaveLength(raw.t.length + 1);
    const at = merged.t.indexOf((h + hour / 2) / 1000);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(merged.v[at]).toBe(13.25);
    expect([...merged.t].sort((a, b) => a - b)).toEqual(merged.t);
  });

  it('counts the hourly aggregates a gateway sent for an offline backlog in the 7-day and season charts', async () => {
    const hour = 3_600_000;
    const h0 = Math.floor(Date.now() / hour) * hour - 4 * 24 * hour;
    // Rain: only aggregates (the raw readings were replaced on the gateway); one hour in two parts.
    const agg = (h: number, part: string, min: number, max: number, mean: number, count: number) => ({
      kind: 'aggregate' as const,
      body: { device: 'wx-1', metric: 'rain', unit: 'mm', hour: h, part, min, max, mean, count },
    });
    await gw.send([
      agg(h0, '0', 0, 0.4, 0.1, 30),
      agg(h0, '1', 0, 0.6, 0.3, 30),
      agg(h0 + hour, '0', 0, 0, 0, 60),
    ]);
    const week = await json<Series>(
      await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=rain&range=7d'),
    );
    expect(week.unit).toBe('mm');
    const hours = (s: Series) => Object.fromEntries(s.t.map((t, i) => [t * 1000, s.v[i]]));
    // Rain is an amount per reading: an hour's worth is its total (3 + 9 mm), not the mean 0.2.
    expect(hours(week)).toMatchObject({ [h0]: 12, [h0 + hour]: 0 });
    expect(week.min).toBeUndefined();
    expect(week.max).toBeUndefined();
    const season = await json<Series>(
      await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=rain&range=season'),
    );
    const day = startOfLocalDay('Asia/Tokyo', localDay('Asia/Tokyo', h0));
    expect(hours(season)[day]).toBe(12); // (h0 + 1 h, 0 mm, may be the next day)
    // Resent (a lost answer): the same parts, nothing counted twice.
    await gw.send([agg(h0, '0', 0, 0.4, 0.1, 30)]);
    expect(
      hours(
        await json<Series>(await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=rain&range=7d')),
      ),
    ).toMatchObject({ [h0]: 12, [h0 + hour]: 0 });
  });

  it('charts rain as mm per day of the farm: a JST day’s readings add up to its total, exactly', async () => {
    const hour = 3_600_000;
    const tokyo = 'Asia/Tokyo';
    // A JST day two days back: its readings either side of 09:00 JST (a UTC midnight) and at its
    // ends, and the readings just outside it.
    const d = localDay(tokyo, Date.now()) - 2;
    const start = startOfLocalDay(tokyo, d);
    const end = startOfLocalDay(tokyo, d + 1);
    const mm: [number, number][] = [
      [start - 5 * 60_000, 0.6],
      [start, 0.2],
      [start + 9 * hour - 5 * 60_000, 1.4],
      [start + 9 * hour + 5 * 60_000, 0.4],
      [start + 15 * hour, 2.6],
      [end - 60_000, 0.8],
      [end + 5 * 60_000, 1.2],
    ];
    await gw.send(
      mm.map(([time, value]) => ({
        kind: 'reading' as const,
        body: { device: 'wx-1', metric: 'rain', value, unit: 'mm', time, flags: [] },
      })),
    );
    const season = await json<Series>(
      await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=rain&range=season'),
    );
    const days = Object.fromEntries(season.t.map((t, i) => [t * 1000, season.v[i]]));
    expect(days[start]).toBe(5.4); // 0.2 + 1.4 + 0.4 + 2.6 + 0.8
    expect(days[end]).toBe(1.2);
    expect(days[startOfLocalDay(tokyo, d - 1)]).toBe(0.6);
    const week = await json<Series>(
      await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=rain&range=7d'),
    );
    const hours = Object.fromEntries(week.t.map((t, i) => [t * 1000, week.v[i]]));
    expect([hours[start], hours[start + 8 * hour], hours[start + 9 * hour], hours[end - hour]]).toEqual([
      0.2, 1.4, 0.4, 0.8,
    ]);
  });

  it('refuses an unknown range, a malformed metric and an unknown device', async () => {
    expect(
      (await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=air_temperature&range=1y')).status,
    ).toBe(400);
    expect(
      (await farmer('/api/v1/farms/demo-farm/series?device=wx-1&metric=DROP%20TABLE&range=24h')).status,
    ).toBe(400);
    expect(
      (await farmer('/api/v1/farms/demo-farm/series?device=ghost&metric=air_temperature&range=24h')).status,
    ).toBe(404);
    expect((await farmer('/api/v1/farms/demo-farm/series?device=wx-1&range=24h')).status).toBe(400);
  });
});

describe('region overview', () => {
  it('ranks fields by latest NDVI and flags a farm whose sensors went quiet', async () => {
    const o = await json<RegionOverview>(await officer('/api/v1/overview'));
    expect(o.fields.map((f) => f.field)).toEqual(
      [...o.fields].sort((a, b) => (a.ndvi ?? Infinity) - (b.ndvi ?? Infinity)).map((f) => f.field),
    );
    expect(o.fields.every((f) => f.ndvi !== null)).toBe(true);
    const farm = o.farms.find((f) => f.id === 'demo-farm')!;
    // soil-1 and water-1 never reported in this stack: silent, so the farm is flagged.
    expect(farm.silentDevices).toBeGreaterThanOrEqual(2);
    expect(farm.stale).toBe(true);
    expect(farm.lastSync).not.toBeNull();
  });
});
