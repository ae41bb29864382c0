// The gateway's recommender with a model that reads a sensor: the input comes from the latest
// reading of a device the manifest puts in the field (GatewayStore.latest), through the real ONNX
// pool. A stale, flagged or other-field reading is not used and the refusal says why; refusals
// are counted in a metric and shown on the gateway's status page and /api/status.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { GraphBuilder, onnxInfo } from '../../models/onnx/graph.ts';
import { finish, zoneIn } from '../../models/published/card-parts.ts';
import { CROP_MODELS, GatewayRecommender } from '../../gateway/recommender.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { renderStatusPage, type GatewayStatus } from '../../gateway/http.ts';
import { demoManifest, eventually, quietLog, startStack } from '../helpers/stack.ts';
import { processDemoScene } from '../e2e/seed.ts';
import { gatewayStatus } from '../helpers/gateway-status.ts';

const HOUR = 3_600_000;
const MAX_AGE_HOURS = 24;
/** The test model: n_rate = K · NDVI · soil_vwc (kg N/ha). Not agronomy — it shows the wiring. */
const K = 200;

/**
 * Writes a wheat model (the id the gateway picks for winter wheat, a newer version than the
 * shipped one) whose card reads soil_vwc from a sensor, into a gateway's models folder.
 */
function installSensorModel(gatewayDir: string): string {
  const id = CROP_MODELS['winter-wheat']!.model;
  const version = '9.0.0';
  const b = new GraphBuilder('sensor-test');
  const ndvi = b.input('ndvi', 'float64', ['N', 1]);
  const vwc = b.input('soil_vwc', 'float64', ['N', 1]);
  b.output('n_rate', b.op('Mul', [b.op('Mul', [ndvi, vwc]), b.f64([K], [1])]), 'float64', ['N', 1]);
  const bytes = b.encode({ doc: 'test model with a sensor input', ref: `${id}@${version}` });
  const { card } = finish(
    {
      schema: 'hatake.model-card/1',
      id,
      version,
      title: { ja: 'センサー入力のテスト', en: 'Sensor-input test' },
      file: `${id}@${version}.onnx`,
      kind: 'n_rate',
      crops: ['winter-wheat'],
      profiles: [CROP_MODELS['winter-wheat']!.profile],
      inputs: [
        zoneIn('ndvi', '1', 0, 1, { kind: 'index_stat', index: ['ndvi'], stat: 'mean' }, 'NDVI', 'NDVI'),
        zoneIn(
          'soil_vwc',
          'm3/m3',
          0.05,
          0.6,
          { kind: 'sensor_metric', metric: 'soil_vwc', maxAgeHours: MAX_AGE_HOURS },
          'Soil moisture',
          '土壌水分',
        ),
      ],
      outputs: [
        {
          name: 'n_rate',
          description: { ja: '窒素施用量', en: 'N rate' },
          unit: 'kg N/ha',
          type: 'float64',
          role: 'n_rate',
        },
      ],
      method: { name: 'test', source: 'tests only' },
      fitted: { where: 'nowhere', data: 'none', status: 'provisional' },
      onnx: onnxInfo(),
    },
    bytes,
  );
  const models = join(gatewayDir, 'models');
  mkdirSync(models, { recursive: true });
  writeFileSync(join(models, card.file), bytes);
  writeFileSync(join(models, `${id}@${version}.card.json`), JSON.stringify(card));
  return `${id}@${version}`;
}

/** Per zone of a field: the model rate the test model gives for its NDVI mean and a soil_vwc. */
function expectedRates(zones: ZoneCollection, field: string, vwc: number): Map<string, number> {
  return new Map(
    zones.features
      .filter((f) => f.properties.fieldId === field)
      .map((f) => [f.id, K * f.properties.indices.ndvi!.mean! * vwc]),
  );
}

function checkSensorRecommendation(rec: Recommendation, zones: ZoneCollection, vwc: number, time: number) {
  const want = expectedRates(zones, 'upland-1', vwc);
  // one value for the whole field: with the recommendation's shared inputs, with its time and device
  const input = rec.inputs.find((i) => i.name === 'soil_vwc');
  expect(input).toMatchObject({ value: vwc, unit: 'm3/m3', time });
  expect(input!.source).toContain('sensor soil-1');
  expect(rec.zones.map((z) => z.id).sort()).toEqual([...want.keys()].sort());
  for (const zone of rec.zones) expect(zone.rate.modelKgNHa).toBeCloseTo(want.get(zone.id)!, 5);
}

describe('the recommender, on its own with a real store', () => {
  let dir: string;
  let manifest: Manifest;
  let zones: ZoneCollection;
  const open: { close(): unknown }[] = [];
  const now = Date.parse('2026-11-28T00:00:00Z');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-recommender-sensors-'));
    manifest = demoManifest();
    ({ zones } = await processDemoScene(manifest, '2026-11-20T01:30:00Z', dir));
  }, 120_000);

  afterAll(async () => {
    for (const o of open) await o.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A gateway data folder with the sensor model, its store holding `readings`, and a recommender. */
  function gateway(name: string, readings: Reading[]) {
    const gwDir = join(dir, name);
    const ref = installSensorModel(gwDir);
    const store = new GatewayStore(join(gwDir, 'gateway.db'));
    open.push(store);
    if (readings.length) store.commit(readings, [], now);
    const metrics = new GatewayMetrics(false);
    const r = new GatewayRecommender(gwDir, quietLog(), { latest: (d) => store.latest(d), metrics });
    open.push(r);
    return { r, ref, store, metrics };
  }
  const reading = (device: string, value: number, time: number, extra: Partial<Reading> = {}): Reading => ({
    device,
    metric: 'soil_vwc',
    value,
    unit: 'm3/m3',
    time,
    flags: [],
    ...extra,
  });
  const upland = (r: GatewayRecommender) => r.refused.filter((x) => x.field === 'upland-1');

  it('reads the input from the latest reading of a device in the field', async () => {
    const t = now - 2 * HOUR;
    // soil-1 is in upland-1; an older reading of it and one from another field's device are not used
    const { r, ref } = gateway('fresh', [
      reading('soil-1', 0.2, now - 5 * HOUR),
      reading('soil-1', 0.31, t),
      reading('water-1', 0.5, now - HOUR),
    ]);
    const recs = await r.forScene(manifest, 'gw-1', zones, new Map(), now);
    const rec = recs.find((x) => x.field === 'upland-1');
    expect(upland(r)).toEqual([]);
    expect(rec?.model).toMatchObject({ id: ref.split('@')[0], version: '9.0.0' });
    checkSensorRecommendation(rec!, zones, 0.31, t);
  });

  it('refuses when the latest reading is older than the card allows, and counts it', async () => {
    const { r, ref, metrics } = gateway('stale', [reading('soil-1', 0.31, now - (MAX_AGE_HOURS + 1) * HOUR)]);
    const recs = await r.forScene(manifest, 'gw-1', zones, new Map(), now);
    expect(recs.map((x) => x.field)).not.toContain('upland-1');
    expect(upland(r)).toEqual([
      {
        field: 'upland-1',
        model: ref,
        code: 'HATAKE_E_MODEL_INPUT_MISSING',
        reason: expect.stringContaining(`soil_vwc reading is older than ${MAX_AGE_HOURS} h`) as unknown,
        time: now,
      },
    ]);
    expect(
      await metrics.value('hatake_gateway_recommendations_refused_total', {
        model: ref.split('@')[0]!,
        code: 'HATAKE_E_MODEL_INPUT_MISSING',
      }),
    ).toBe(1);
  });

  it('does not use a reading of a device in another field', async () => {
    const { r } = gateway('other-field', [reading('water-1', 0.31, now - HOUR)]);
    await r.forScene(manifest, 'gw-1', zones, new Map(), now);
    expect(upland(r)[0]?.reason).toMatch(/HATAKE_E_MODEL_INPUT_MISSING.*no soil_vwc reading/);
  });

  it('passes over a flagged reading or one in another unit, and says so in the refusal', async () => {
    const { r } = gateway('flagged', [
      reading('soil-1', 0.59, now - HOUR, { flags: ['spike'] }),
      reading('wx-1', 31, now - HOUR, { unit: '%' }),
    ]);
    await r.forScene(manifest, 'gw-1', zones, new Map(), now);
    const reason = upland(r)[0]!.reason;
    expect(reason).toContain('no soil_vwc reading');
    expect(reason).toContain('soil_vwc of soil-1 was flagged spike');
    expect(reason).toContain('soil_vwc of wx-1 is in %, the model wants m3/m3');
  });

  it('keeps the latest refusal per field and forgets it once a recommendation is made', async () => {
    const { r, store, metrics, ref } = gateway('recover', []);
    await r.forScene(manifest, 'gw-1', zones, new Map(), now);
    await r.forScene(manifest, 'gw-1', zones, new Map(), now + 1);
    expect(upland(r)).toHaveLength(1);
    expect(upland(r)[0]!.time).toBe(now + 1);
    const counted = { model: ref.split('@')[0]!, code: 'HATAKE_E_MODEL_INPUT_MISSING' };
    expect(await metrics.value('hatake_gateway_recommendations_refused_total', counted)).toBe(2);
    store.commit([reading('soil-1', 0.25, now - HOUR)], [], now);
    const recs = await r.forScene(manifest, 'gw-1', zones, new Map(), now + 2);
    checkSensorRecommendation(
      recs.find((x) => x.field === 'upland-1')!,
      zones,
      0.25,
      now - HOUR,
    );
    expect(upland(r)).toEqual([]);
  });
});

describe('the gateway shows the recommendations it did not make', () => {
  it('on /api/status, the status page (ja, en) and /metrics; a sensor reading over MQTT then serves', async () => {
    const stack = await startStack({ server: false });
    const scratch = mkdtempSync(join(tmpdir(), 'hatake-recommender-stack-'));
    try {
      const base = `http://127.0.0.1:${stack.gateway.httpPort}`;
      const ref = installSensorModel(join(stack.dir, 'gateway'));
      const manifest = demoManifest();
      const acquired = new Date(Date.now() - 2 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const scene = { ...(await processDemoScene(manifest, acquired, scratch)), acquired };

      // no soil reading yet: refused
      const first = await stack.gateway.onScene(scene);
      expect(first.map((x) => x.field)).not.toContain('upland-1');
      const status = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
      const refusal = status.notRecommended?.find((x) => x.field === 'upland-1');
      expect(refusal).toMatchObject({ model: ref, code: 'HATAKE_E_MODEL_INPUT_MISSING' });
      expect(refusal!.reason).toContain('no soil_vwc reading');
      const en = await (await fetch(`${base}/?lang=en`)).text();
      expect(en).toContain('Recommendations not made');
      expect(en).toContain('an input the model needs is missing');
      expect(en).toContain(ref);
      const ja = await (await fetch(`${base}/?lang=ja`)).text();
      expect(ja).toContain('施肥の推奨を出せなかった圃場');
      expect(ja).toContain('必要なデータが足りません');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(
          `hatake_gateway_recommendations_refused_total\\{model="${ref.split('@')[0]}",code="HATAKE_E_MODEL_INPUT_MISSING"\\} 1`,
        ),
      );

      // soil-1 reports over MQTT; the next scene's recommendation reads it
      const c = await mqtt.connectAsync(stack.mqttUrl, {
        username: 'soil-1',
        password: stack.secrets['soil-1'],
        reconnectPeriod: 0,
      });
      const time = Date.now() - 60_000;
      await c.publishAsync(
        deviceTopic('demo-farm', 'soil-1', 'up'),
        JSON.stringify({ time, values: { soil_vwc: 0.28 } }),
        { qos: 1 },
      );
      await c.endAsync();
      await eventually(() => stack.gateway.store.latest('soil-1').some((l) => l.metric === 'soil_vwc'));
      const second = await stack.gateway.onScene(scene);
      checkSensorRecommendation(
        second.find((x) => x.field === 'upland-1')!,
        scene.zones,
        0.28,
        time,
      );
      const after = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
      expect(after.notRecommended?.some((x) => x.field === 'upland-1')).toBe(false);
    } finally {
      await stack.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('the status page section', () => {
  it('escapes the field, model and reason, and explains known codes only', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const base = gatewayStatus({ sync: { ...gatewayStatus().sync, configured: false } });
    for (const lang of ['ja', 'en'] as const) {
      expect(renderStatusPage(base, lang)).not.toContain(lang === 'ja' ? '推奨を出せなかった' : 'not made');
      const html = renderStatusPage(
        {
          ...base,
          notRecommended: [
            {
              field: evil,
              model: evil,
              code: 'HATAKE_E_MODEL_INPUT_RANGE',
              reason: evil,
              time: base.time - 60_000,
            },
            { field: 'f2', model: 'm', code: evil, reason: 'r', time: base.time },
          ],
        },
        lang,
      );
      expect(html).not.toContain('<img');
      expect(html.split('&lt;img src=x').length - 1).toBe(3);
      expect(html).toContain(
        lang === 'ja' ? 'データがモデルの有効範囲外です' : 'outside the model’s valid range',
      );
    }
  });
});
