// Index statistics of a synced scene and the per-zone outputs of a synced recommendation land in
// the reading store beside the readings (issue 10: "index statistics and recommendation outputs
// stored beside readings"), on both stores: the SQLite default and a real influxd. A resent
// batch adds nothing, and while InfluxDB is away the batch is refused, so the series is written
// when the gateway resends it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HatakeServer } from '../../dashboard/server.ts';
import type { StorageConfig } from '../../protocol/server-config.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { SeedGateway, seedImagery, wheatRecommendation } from '../e2e/seed.ts';

let influxd: Influxd;
let dir: string;
// One scene and one recommendation, computed once (the scene through edge/imagery, the
// recommendation by the real ONNX model) and synced to each server.
let recommendation: Recommendation;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-series-'));
  influxd = await startInfluxd();
  recommendation = await wheatRecommendation('demo-farm', 'upland-1', new Date().toISOString());
}, 120_000);
afterAll(async () => {
  await influxd?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function serverWith(name: string, storage: StorageConfig) {
  const server = await HatakeServer.create({
    dataDir: join(dir, name),
    host: '127.0.0.1',
    port: 0,
    logger: quietLog(),
    storage,
  });
  const url = `http://127.0.0.1:${await server.listen()}`;
  const manifest = demoManifest();
  const gw = new SeedGateway(server, url, 'demo-farm', 'gw-series');
  await gw.send([{ kind: 'manifest', body: manifest }]);
  return { server, gw, manifest };
}

const stores: [string, () => StorageConfig][] = [
  ['sqlite', () => ({ kind: 'sqlite' })],
  [
    'influx',
    () => ({
      kind: 'influx',
      url: influxd.url,
      database: 'series',
      timeouts: { requestMs: 500, writeMs: 1500, pingMs: 300 },
    }),
  ],
];

describe.each(stores)('on the %s store', (name, storage) => {
  it('stores a scene’s field and zone statistics and a recommendation’s zone rates, once', async () => {
    const { server, gw, manifest } = await serverWith(name, storage());
    try {
      const scene = await seedImagery(gw, manifest);
      await gw.send([{ kind: 'recommendation', body: recommendation }]);
      const acquired = Date.parse(scene.acquired);
      const range = { farm: 'demo-farm', from: acquired - 1, to: Date.now() + 60_000 };

      const stats = await server.ctx.readings.indexStats(range);
      // Every index of every field with valid pixels, for the field and for each of its zones.
      const expected = Object.entries(scene.stats.fields).flatMap(([field, f]) => {
        const zones = scene.zones.features.filter((z) => z.properties.fieldId === field);
        const valid = (ix: Record<string, { mean: number | null }>) =>
          Object.entries(ix).filter(([, s]) => s.mean !== null).length;
        return [valid(f.indices), ...zones.map((z) => valid(z.properties.indices))];
      });
      expect(stats.length).toBe(expected.reduce((a, b) => a + b, 0));
      expect(stats.length).toBeGreaterThan(0);
      const [fieldId, fieldStats] = Object.entries(scene.stats.fields).find(
        ([, f]) => f.indices.ndvi?.mean !== null,
      )!;
      const ndvi = stats.find((s) => s.field === fieldId && s.index === 'ndvi' && s.zone === undefined);
      expect(ndvi).toMatchObject({
        scene: scene.sceneId,
        time: acquired,
        pixels: fieldStats.indices.ndvi!.count,
      });
      expect(ndvi!.mean).toBeCloseTo(fieldStats.indices.ndvi!.mean!, 6);
      const zone = scene.zones.features.find((z) => z.properties.fieldId === fieldId)!;
      expect(stats.some((s) => s.zone === zone.id && s.index === 'ndvi')).toBe(true);

      const outputs = await server.ctx.readings.recommendationOutputs({
        farm: 'demo-farm',
        from: recommendation.createdAt - 1,
        to: recommendation.createdAt + 1,
      });
      expect(outputs.map((o) => [o.zone, o.nitrogenKgHa, o.model, o.recommendation]).sort()).toEqual(
        recommendation.zones.map((z) => [z.id, z.rate.kgNHa, 'osu-sbnrc', recommendation.id]).sort(),
      );

      // The same documents again (a gateway resending after a lost answer): nothing added.
      await gw.send([
        { kind: 'imagery', body: scene },
        { kind: 'recommendation', body: recommendation },
      ]);
      expect((await server.ctx.readings.indexStats(range)).length).toBe(stats.length);
      expect(
        (
          await server.ctx.readings.recommendationOutputs({
            farm: 'demo-farm',
            from: recommendation.createdAt - 1,
            to: recommendation.createdAt + 1,
          })
        ).length,
      ).toBe(recommendation.zones.length);
    } finally {
      await server.close();
    }
  }, 120_000);
});

it('refuses the batch while InfluxDB is down and writes the series when it is resent', async () => {
  const { server, gw } = await serverWith('influx-down', {
    kind: 'influx',
    url: influxd.url,
    database: 'series_down',
    timeouts: { requestMs: 500, writeMs: 1500, pingMs: 300 },
  });
  try {
    const rec = { ...recommendation, id: 'rec-series-outage' };
    const q = { farm: 'demo-farm', from: rec.createdAt - 1, to: rec.createdAt + 1 };
    await influxd.stop();
    let refused = '';
    try {
      await gw.send([{ kind: 'recommendation', body: rec }]);
    } catch (e) {
      refused = (e as Error).message;
    } finally {
      await influxd.start();
    }
    expect(refused).toMatch(/503.*HATAKE_E_STORAGE/s);
    // The review document was stored by the refused batch's transaction; only the series was
    // missing. The resend (same document) writes it.
    await gw.send([{ kind: 'recommendation', body: rec }]);
    const outputs = await server.ctx.readings.recommendationOutputs(q);
    expect(outputs.filter((o) => o.recommendation === rec.id).length).toBe(rec.zones.length);
  } finally {
    await server.close();
  }
}, 120_000);
