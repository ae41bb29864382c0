// A server holding a demo farm full of data for the hostile suites — the manifest, a day of
// readings, a processed scene with its maps, a tip, a pending fertilization recommendation made by
// the real ONNX model, an automation and the partner's provisioned manifest — seeded the way
// production fills it: sync batches with a gateway token, and API calls by signed-in users.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HatakeServer } from '../../dashboard/server.ts';
import { DEMO_MANIFEST_FILE, demoManifest, signIn, startServer } from './stack.ts';
import { irrigationTip, seedImagery, SeedGateway, wheatRecommendation } from '../e2e/seed.ts';

export type Fetcher = Awaited<ReturnType<typeof signIn>>;

export interface SeededServer {
  dir: string;
  server: HatakeServer;
  url: string;
  /** The demo farm's gateway (token for gateway routes). */
  gateway: SeedGateway;
  ids: { rec: string; zone: string; tip: string; scene: string; automation: string };
  close(): Promise<void>;
}

/** Starts a server and fills the demo farm with data through its own doors. */
export async function seededServer(): Promise<SeededServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-hostile-'));
  const { server, url } = await startServer(dir);
  const manifest = demoManifest();
  manifest.devices.push({ id: 'gate-1', kit: 'hatake-water-gate', field: 'paddy-1', name: '水門 / gate' });
  const gateway = new SeedGateway(server, url, 'demo-farm', 'gw-seed');
  const t0 = Date.now() - 24 * 3_600_000;
  const readings = Array.from({ length: 48 }, (_, i) => [
    {
      kind: 'reading' as const,
      body: {
        device: 'wx-1',
        metric: 'air_temperature',
        value: 10 + (i % 7),
        unit: 'degC',
        time: t0 + i * 1_800_000,
        flags: [],
      },
    },
    {
      kind: 'reading' as const,
      body: {
        device: 'soil-1',
        metric: 'soil_vwc',
        value: 0.2 + (i % 5) / 100,
        unit: 'm3/m3',
        time: t0 + i * 1_800_000,
        flags: [],
      },
    },
  ]).flat();
  await gateway.send([{ kind: 'manifest', body: manifest }, ...readings]);
  const scene = await seedImagery(gateway, manifest);
  const tip = irrigationTip('demo-farm', 'upland-1', 'soil-1');
  const rec = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired);
  await gateway.send([
    { kind: 'tip', body: tip },
    { kind: 'recommendation', body: rec },
  ]);
  const farmer = await signIn(url, 'demo-farmer');
  const automation = await farmer('/api/v1/automations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      farm: 'demo-farm',
      name: { ja: '水位', en: 'water level' },
      enabled: false,
      trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
      below: { device: 'gate-1', command: 'open' },
      limits: { maxRunsPerDay: 4, maxOpenMinutes: 60 },
    }),
  });
  if (automation.status !== 201)
    throw new Error(`automation not created: ${automation.status} ${await automation.text()}`);
  const partner = await signIn(url, 'demo-partner');
  const prov = await partner('/api/v1/farms/demo-farm/provision', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: readFileSync(DEMO_MANIFEST_FILE, 'utf8'), broker: { host: '127.0.0.1' } }),
  });
  if (prov.status !== 200) throw new Error(`provisioning failed: ${prov.status} ${await prov.text()}`);
  return {
    dir,
    server,
    url,
    gateway,
    ids: {
      rec: rec.id,
      zone: rec.zones[0]!.id,
      tip: tip.id,
      scene: scene.sceneId,
      automation: ((await automation.json()) as { id: string }).id,
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
