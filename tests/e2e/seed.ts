// Seeding a running server the way a farm gateway would: real sync batches (gateway token +
// POST /api/v1/sync) carrying a processed scene (the demo scene through edge/imagery, with its
// heatmap PNGs uploaded beside it), a tip, and a fertilization recommendation made by the real
// ONNX model in the inference pool. A separate gateway id is used, so the stack's own gateway
// keeps its sequence numbers.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import type { Tip } from '../../protocol/tip.ts';
import type { GatewaySyncStatus, SyncItem } from '../../protocol/sync.ts';
import { demoScene } from '../../sim/scene.ts';
import { Scene } from '../../edge/imagery/scene.ts';
import { profileById } from '../../edge/imagery/profiles.ts';
import { processScene } from '../../edge/imagery/process.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { demoManifest } from '../helpers/stack.ts';

type Body<K extends SyncItem['kind']> = Extract<SyncItem, { kind: K }>['body'];

export class SeedGateway {
  readonly url: string;
  readonly token: string;
  readonly id: string;
  private seq = 0;

  constructor(server: HatakeServer, url: string, farm: string, id = 'gw-seed') {
    this.url = url;
    this.id = id;
    this.token = server.ctx.auth.issueGatewayToken(id, farm);
  }

  /** Sends one batch; throws with the server's answer when it is not 200. */
  async send(
    items: Array<{ kind: SyncItem['kind']; body: unknown }>,
    status?: GatewaySyncStatus,
  ): Promise<void> {
    const seqFrom = this.seq + 1;
    const batch = {
      gateway: this.id,
      seqFrom,
      seqTo: this.seq + items.length,
      sentAt: Date.now(),
      ...(status ? { status } : {}),
      items: items.map((it, i) => ({ seq: seqFrom + i, kind: it.kind, body: it.body })),
    };
    this.seq += items.length;
    const res = await fetch(`${this.url}/api/v1/sync`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(batch),
    });
    if (res.status !== 200) throw new Error(`sync refused: ${res.status} ${await res.text()}`);
  }

  async upload(scene: string, path: string, png: Buffer): Promise<void> {
    const res = await fetch(
      `${this.url}/api/v1/sync/imagery/${encodeURIComponent(scene)}/file?path=${encodeURIComponent(path)}`,
      {
        method: 'PUT',
        headers: { 'content-type': 'image/png', authorization: `Bearer ${this.token}` },
        body: new Uint8Array(png),
      },
    );
    if (res.status !== 204) throw new Error(`upload refused: ${res.status} ${await res.text()}`);
  }
}

/** The demo scene (generated for the manifest's fields) processed by edge/imagery into `dir`/out. */
export async function processDemoScene(manifest: Manifest, acquired: string, dir: string) {
  const s = demoScene(manifest, { acquired });
  const file = join(dir, `${s.sceneId}.tif`);
  writeFileSync(file, Buffer.from(s.tiff));
  const scene = await Scene.open({
    files: [file],
    profile: profileById('s2-l2a'),
    bands: { blue: 1, green: 2, red: 3, nir: 4, scl: 5 },
    offset: -1000,
    offsetFrom: 'user',
    sceneId: s.sceneId,
    acquired,
  });
  const outDir = join(dir, 'out');
  const fields = manifest.fields
    .filter((f) => f.boundary)
    .map((f) => ({ id: f.id, name: f.name, polygons: [f.boundary!.coordinates as [number, number][][]] }));
  try {
    return { sceneId: s.sceneId, outDir, ...(await processScene(scene, fields, { outDir })) };
  } finally {
    await scene.close();
  }
}

/**
 * Processes the demo scene over the manifest's fields and syncs the result and its maps, as
 * acquired at `acquired` (default: two days ago).
 */
export async function seedImagery(
  gw: SeedGateway,
  manifest: Manifest,
  acquired = new Date(Date.now() - 2 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
): Promise<Body<'imagery'>> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-seed-'));
  try {
    const { sceneId, stats, zones, files, outDir } = await processDemoScene(manifest, acquired, dir);
    const body = {
      sceneId,
      acquired: stats.scene.acquired ?? new Date().toISOString(),
      stats,
      zones,
    };
    await gw.send([{ kind: 'imagery', body }]);
    for (const f of files.filter((x) => x.endsWith('.png')))
      await gw.upload(sceneId, f, readFileSync(join(outDir, f)));
    return body;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The demo farm with two water gates to automate: valve-1 on upland-1 and gate-1 on paddy-1. */
export function farmWithGates(): Manifest {
  const m = demoManifest();
  m.devices.push(
    { id: 'valve-1', kit: 'hatake-water-gate', field: 'upland-1', name: '水門 畑1号' },
    { id: 'gate-1', kit: 'hatake-water-gate', field: 'paddy-1', name: '水門 田んぼ1号' },
  );
  return m;
}

/** An irrigation tip for a field, as the irrigation rule would raise it. */
export function irrigationTip(farm: string, field: string, device: string, now = Date.now()): Tip {
  return {
    id: `tip-irr-${field}-${Math.floor(now / 1000)}`.slice(0, 64),
    kind: 'irrigation',
    severity: 'warning',
    farm,
    field,
    devices: [device],
    title: { ja: '12時間以内に灌水してください', en: 'Irrigate within 12 hours' },
    text: {
      ja: '土壌水分が易有効水分の下限を下回りました（枯渇率 58%）。約 20 mm の灌水が必要です。',
      en: 'Soil water is below the readily available water (depletion 58 %). About 20 mm is needed.',
    },
    evidence: {
      rule: { id: 'irrigation-fao56', version: '1.0.0', params: 'defaults' },
      sources: [{ citation: 'Allen et al. (1998) FAO Irrigation and Drainage Paper 56' }],
      points: [
        { device, metric: 'soil_vwc', value: 0.19, unit: 'm3/m3', time: now - 600_000, role: 'latest' },
      ],
      thresholds: [
        { name: 'hours_to_raw', comparison: '<=', threshold: 48, value: 10_000, unit: 'h', hysteresis: 0 },
        {
          name: 'depletion_reaches_raw',
          comparison: '>=',
          threshold: 38,
          value: 41,
          unit: 'mm',
          hysteresis: 0,
        },
      ],
      quantities: [{ name: 'raw', value: 38, unit: 'mm' }],
    },
    action: { type: 'irrigate', field, amountMm: 20, withinHours: 12 },
    created: now - 300_000,
    expires: now + 86_400_000,
    dedupKey: `irrigation:${farm}:${field}`,
    reason: 'new',
  };
}

const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

/** A recommendation for the demo's winter-wheat field, made by the OSU SBNRC model in ONNX. */
export async function wheatRecommendation(
  farm: string,
  field: string,
  acquired: string,
  sceneId = 'demo-s2',
): Promise<Recommendation> {
  const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
  const pool = await InferencePool.start({ size: 1 });
  try {
    await pool.load(reg.load('osu-sbnrc@1.0.0'));
    // Three strips across upland-1 (138.9020–138.9035 E, 37.8000–37.8010 N).
    const ndvi = [0.45, 0.55, 0.68];
    const dx = 0.0015 / 3;
    const zones = {
      type: 'FeatureCollection',
      features: ndvi.map((mean, k) => ({
        type: 'Feature',
        id: `${field}-z${k + 1}`,
        geometry: {
          type: 'MultiPolygon',
          coordinates: [[ring(138.902 + k * dx, 37.8, 138.902 + (k + 1) * dx, 37.801)]],
        },
        properties: {
          fieldId: field,
          sceneId,
          acquired,
          zone: k + 1,
          k: 3,
          pixels: 40,
          areaHa: 0.44,
          validFraction: 1,
          indices: { ndvi: { mean, median: mean, count: 40, validFraction: 1 } },
        },
      })),
    };
    const now = Date.now();
    return await recommend(pool, {
      farm,
      card: reg.entry('osu-sbnrc@1.0.0').card,
      profile: reg.profile('winter-wheat-osu-2007'),
      zones,
      fieldAttributes: { days_gdd_positive: { value: 85, time: now - 3_600_000, source: 'planting record' } },
      reference: {
        kind: 'n_rich_strip',
        values: { ndvi: 0.7 },
        time: now - 86_400_000,
        source: 'N-rich strip',
      },
      now,
      by: 'gateway gw-seed',
    });
  } finally {
    await pool.close();
  }
}
