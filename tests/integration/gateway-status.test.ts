// What the gateway tells the person standing next to it: the status page (Japanese by default,
// English on request, readable with no scripts), /healthz, Prometheus /metrics, silent devices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import type { GatewayStatus } from '../../gateway/http.ts';
import { englishOutsideLangEn } from '../helpers/page-language.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';

let stack: Stack;
let base: string;
beforeAll(async () => {
  stack = await startStack({ server: false });
  base = `http://127.0.0.1:${stack.gateway.httpPort}`;
  const c = await mqtt.connectAsync(stack.mqttUrl, {
    username: 'soil-1',
    password: stack.secrets['soil-1'],
    reconnectPeriod: 0,
  });
  await c.publishAsync(
    deviceTopic('demo-farm', 'soil-1', 'up'),
    JSON.stringify({ time: Date.now() - 30_000, values: { soil_vwc: 0.254, battery: 3.71 } }),
    { qos: 1 },
  );
  // A payload whose parse error quotes hostile text: it must appear escaped on the page.
  await c.publishAsync(deviceTopic('demo-farm', 'soil-1', 'up'), '<script>alert(1)</script>', { qos: 1 });
  await c.endAsync();
});
afterAll(async () => {
  await stack.close();
});

describe('gateway status page', () => {
  it('shows each device with its latest values and freshness, in Japanese by default', async () => {
    const res = await fetch(`${base}/`);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<html lang="ja">');
    expect(html).toContain('ゲートウェイの状態');
    // Each device by its name in the farm manifest and its field, the id and kit's name small.
    expect(html).toContain(
      '土壌センサー 畑1号<br><span class="sub">畑1号（小麦）</span><br><small>soil-1 · 土壌センサー（水分・地温・EC）</small>',
    );
    expect(html).toContain('土壌水分: <b>25.4 %</b>');
    expect(html).toMatch(/\d+秒前/);
    expect(html).toContain('3.71 V');
    expect(html).toContain('water-1'); // registered but never heard: listed as such
    expect(html).toContain('受信なし');
    expect(html).not.toContain('<script');
  });

  it('switches to English with ?lang=en', async () => {
    const html = await (await fetch(`${base}/?lang=en`)).text();
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('Gateway status');
    expect(html).toContain('Soil moisture: <b>25.4 %</b>');
    expect(html).toContain('<small>soil-1 · Soil probe (moisture, temperature, EC)</small>');
  });

  it('lists the dead letters with their reasons, escaped', async () => {
    const html = await (await fetch(`${base}/?lang=en`)).text();
    expect(html).toContain('HATAKE_E_PAYLOAD_JSON');
    expect(html).toContain('&lt;script&gt;');
  });

  it('serves the same status as JSON, with the sync backlog and disk use', async () => {
    const s = (await (await fetch(`${base}/api/status`)).json()) as {
      sync: { configured: boolean; backlog: number };
      disk: { dbBytes: number; fsFreeBytes: number };
    };
    expect(s.sync.configured).toBe(false);
    expect(s.sync.backlog).toBeGreaterThanOrEqual(2); // two readings (+ manifest, device status) wait for a server
    expect(s.disk.dbBytes).toBeGreaterThan(0);
    expect(s.disk.fsFreeBytes).toBeGreaterThan(0);
  });

  it('exposes Prometheus metrics with messages, rejections, ingest latency, queue depths, disk and devices', async () => {
    // An evaluation of the rules keeps their window of readings (reported beside the rest).
    await stack.gateway.tips.run();
    stack.gateway.maintenance.run(Date.now());
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^hatake_gateway_messages_total 2$/m);
    expect(text).toMatch(/^hatake_gateway_rejected_total\{code="HATAKE_E_PAYLOAD_JSON"\} 1$/m);
    expect(text).toMatch(/^hatake_gateway_ingest_seconds_count 2$/m);
    expect(text).toMatch(/^hatake_gateway_queue_depth\{queue="outbox"\} \d+$/m);
    expect(text).toMatch(/^hatake_gateway_disk_bytes\{kind="db"\} \d+$/m);
    expect(text).toMatch(/^hatake_gateway_devices\{state="reporting"\} 1$/m);
    expect(text).toMatch(/^hatake_gateway_process_resident_memory_bytes \d+/m);
    // Bytes are their own gauges, beside the budgets they are held to (the stack's defaults).
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(gauge('hatake_gateway_outbox_bytes')).toBe(stack.gateway.store.outboxBytes);
    expect(gauge('hatake_gateway_outbox_bytes')).toBeGreaterThan(0);
    expect(gauge('hatake_gateway_outbox_budget_bytes')).toBe(512 * 2 ** 20);
    expect(gauge('hatake_gateway_db_budget_bytes')).toBe(2048 * 2 ** 20);
    expect(gauge('hatake_gateway_rules_window_readings')).toBe(2);
    expect(stack.gateway.store.seriesCache.heldRows).toBe(2);
    expect(text).not.toContain('outbox_bytes"');
    // All well: no health problem, so the gauge has no series.
    expect(text).toMatch(/^# TYPE hatake_gateway_health_problems gauge$/m);
    expect(text).not.toMatch(/^hatake_gateway_health_problems\{/m);
  });

  it('raises a "silent" event once when a device misses its expected intervals, and says so on /healthz', async () => {
    const gw = stack.gateway;
    const later = Date.now() + 4 * 60 * 60_000; // soil-1 reports every 60 s; 4 h of silence
    gw.maintenance.checkDevices(later);
    gw.maintenance.checkDevices(later + 60_000);
    const silent = gw.events.recent.filter((e) => e.type === 'device_silent' && e.device === 'soil-1');
    expect(silent).toHaveLength(1);
    expect(silent[0]!.message).toMatch(/soil-1 has sent nothing for \d+ min/);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { problems: string[] }).problems).toContain('silent: soil-1');
    // /metrics counts it by code, read at the scrape: a Prometheus alert needs no status page.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^hatake_gateway_health_problems\{code="devices_silent"\} 1$/m);
    const outboxed = gw.store
      .peekOutbox(1000)
      .filter((r) => r.kind === 'event' && r.body.includes('device_silent'));
    expect(outboxed).toHaveLength(1);
  });

  it('says the silent device in Japanese, in the health line and the events, with no English sentence left', async () => {
    // After the test above: soil-1 is silent; its event and the dead letters are on the page.
    const ja = await (await fetch(`${base}/`)).text();
    expect(ja).toContain('<li>応答のないセンサー: 土壌センサー 畑1号（soil-1）</li>');
    expect(ja).toContain('土壌センサー 畑1号（soil-1）から4時間データが届いていません（通常は60秒ごと）');
    expect(ja).toContain('JSONとして読めないデータです<br><small lang="en">HATAKE_E_PAYLOAD_JSON: ');
    expect(ja).not.toContain('has sent nothing');
    expect(englishOutsideLangEn(ja)).toEqual([]);
    const en = await (await fetch(`${base}/?lang=en`)).text();
    expect(en).toContain('<li>Silent sensors: 土壌センサー 畑1号 (soil-1)</li>');
    expect(en).toContain('土壌センサー 畑1号 (soil-1) has sent nothing for 4 h (expected every 60 s)');
  });

  it('keeps /api/status as it was, with the problems and events as data beside the English', async () => {
    const s = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
    expect(s.health.problems).toEqual(['silent: soil-1']);
    expect(s.health.issues).toEqual([{ code: 'devices_silent', devices: ['soil-1'] }]);
    const silent = s.events.find((e) => e.type === 'device_silent')!;
    expect(silent.message).toBe('soil-1 has sent nothing for 240 min (expected every 60 s)');
    expect(silent.detail).toMatchObject({ intervalS: 60, silentMin: 240 });
  });

  it('says once that a silent device is sending again, clears the health line, and tells the server', async () => {
    const gw = stack.gateway;
    const c = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'soil-1',
      password: stack.secrets['soil-1'],
      reconnectPeriod: 0,
    });
    try {
      for (const dt of [2000, 1000])
        await c.publishAsync(
          deviceTopic('demo-farm', 'soil-1', 'up'),
          JSON.stringify({ time: Date.now() - dt, values: { soil_vwc: 0.25 } }),
          { qos: 1 }, // acknowledged once committed: the event is raised by then
        );
    } finally {
      await c.endAsync();
    }
    const back = gw.events.recent.filter((e) => e.type === 'device_back' && e.device === 'soil-1');
    expect(back).toHaveLength(1); // the second message found it no longer silent
    expect(back[0]).toMatchObject({
      severity: 'info',
      detail: {
        silentSince: expect.any(Number),
        lastSeen: expect.any(Number),
        silentMin: expect.any(Number),
      },
    });
    expect(
      gw.store.peekOutbox(1000).filter((r) => r.kind === 'event' && r.body.includes('device_back')),
    ).toHaveLength(1);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ja = await (await fetch(`${base}/`)).text();
    // Silent since its last reading half a minute or so before (the test's clock jumped, not time).
    expect(ja).toMatch(/土壌センサー 畑1号（soil-1）から\d+分ぶりにデータが届きました/);
    expect(englishOutsideLangEn(ja)).toEqual([]);
    expect(await (await fetch(`${base}/?lang=en`)).text()).toMatch(
      /土壌センサー 畑1号 \(soil-1\) is sending again after \d+ min of silence/,
    );
    // Silent again later: a new silence, and its end, each said once more.
    gw.maintenance.checkDevices(Date.now() + 4 * 60 * 60_000);
    expect(gw.events.recent.filter((e) => e.type === 'device_silent')).toHaveLength(2);
  });

  it('shows an approved decision the gateway keeps by field name, per zone at the applied rates', async () => {
    const gw = stack.gateway;
    const rec = await demoRecommendation(Date.now() - 3_600_000);
    // Approved with zone 2 edited by the officer; its totals as they were before the edit.
    const edited = { kgNHa: 30, productKgHa: 65.2, by: 'officer', at: Date.now(), reason: '葉色が淡い' };
    const doc: Recommendation = {
      ...rec,
      status: 'approved',
      zones: rec.zones.map((z) => (z.zone === 2 ? { ...z, edited } : z)),
    };
    gw.store.putDocument('recommendation', doc.id, 1, doc, Date.now());
    gw.events.raise({
      type: 'downlink_applied',
      severity: 'info',
      message: `applied recommendation ${doc.id} v1: kept`,
      detail: { kind: 'recommendation', id: doc.id, version: 1 },
    });
    const ja = await (await fetch(`${base}/?lang=ja`)).text();
    expect(ja).toContain('<b>畑1号（小麦） <small>upland-1</small></b>: 承認済み');
    expect(ja).toContain(
      '<tr><th scope="row">2</th><td>0.44 ha</td><td><b>3</b> <small>(修正)</small></td><td><b>6.5</b></td></tr>',
    );
    const z1 = doc.zones[0]!.rate;
    expect(ja).toContain(
      `<tr><th scope="row">1</th><td>0.44 ha</td><td><b>${String(Math.round(z1.kgNHa * 10) / 100)}</b></td>`,
    );
    const nKg = doc.zones.reduce((s, z) => s + (z.edited ?? z.rate).kgNHa * z.areaHa, 0);
    expect(ja).toContain(`合計 N ${String(Math.round(nKg * 100) / 100)} kg・尿素 (N 46%) `);
    expect(ja).toContain('サーバーから届いた施肥の推奨を適用しました（畑1号（小麦）、版 1）');
    expect(ja).not.toContain(doc.id);
    expect(englishOutsideLangEn(ja)).toEqual([]);
    const en = await (await fetch(`${base}/?lang=en`)).text();
    expect(en).toContain('<td><b>30</b> <small>(edited)</small></td><td><b>65.2</b></td>');
    // /api/status keeps its shape: the decision by id, field id and the document's total.
    const s = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
    expect(s.recommendations).toContainEqual({
      id: doc.id,
      field: 'upland-1',
      status: 'approved',
      totalNKg: doc.totals.nKg,
    });
  }, 60_000);
});
