// Automations on a real gateway, offline: a farmer writes two automations on the server, the
// gateway takes them through its own signed downlink, and the server goes away: nothing listens on
// the port the gateway is configured with, and its own uplink keeps failing. Then a simulated soil
// probe, paddy level sensor and two simulated water gates talk to the gateway's embedded aedes
// broker over real MQTT (mqtt.js): the irrigation rule fires on a real low VWC, the gate opens and
// closes itself on time, the cool-down, the daily limit (per local day in Asia/Tokyo) and the quiet
// hours hold, the paddy gate that never reports closed is closed at its maximum open time with a
// critical log, a manual override from the gateway's own page wins, and a run that would reach into
// the quiet hours is closed when they begin. When the server returns on the same port, the
// gateway's own uplink delivers every automation log exactly once, and each is listed per
// automation; the gate that never reported closed becomes the farmer's critical tip.
//
// Time: the engine and the valves run on one hand-driven clock (minutes pass at once); the
// sensors stamp their readings with it. It starts at 10:00 JST two days ago, so readings are in
// the past (no clock-skew flags) and days and quiet hours fall where the test puts them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Manifest } from '../../protocol/manifest.ts';
import type { AutomationLog } from '../../protocol/automation.ts';
import type { AutomationLogView, AutomationView, TipView } from '../../protocol/review.ts';
import type { PluggableKind } from '../../dashboard/sync-appliers.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { DEFAULT_MQTT, gatewayConfigFor } from '../../gateway/config.ts';
import type { AutomationEngine } from '../../gateway/automations/engine.ts';
import { loadOrCreateOverrideToken } from '../../gateway/automations/override-token.ts';
import { SimulatedValve } from '../../sim/valve.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { seedDemoUsers } from '../../dashboard/demo.ts';
import { eventually, quietLog, signIn } from '../helpers/stack.ts';
import { englishOutsideLangEn } from '../helpers/page-language.ts';
import { freePort } from '../helpers/ports.ts';
import { ManualClock } from '../unit/automations/manual-clock.ts';

const FARM = 'demo-farm';
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const JST = 9 * HOUR;

/** 10:00 JST on the day before yesterday (JST). */
const T0 = Math.floor((Date.now() + JST) / DAY) * DAY - 2 * DAY + 10 * HOUR - JST;
/** An instant on the test's first day (dayOffset 0) or the next, at local JST hh:mm. */
const local = (dayOffset: number, hh: number, mm = 0) =>
  T0 - 10 * HOUR + dayOffset * DAY + hh * HOUR + mm * MIN;

const manifest: Manifest = {
  farm: { id: FARM, name: '自動化テスト農場', region: 'niigata', timezone: 'Asia/Tokyo' },
  fields: [
    { id: 'upland-1', name: '畑1号', crop: 'winter-wheat', soilTexture: 'loam' },
    { id: 'paddy-1', name: '田んぼ1号', crop: 'rice' },
  ],
  devices: [
    { id: 'soil-1', kit: 'hatake-soil-probe', field: 'upland-1' },
    { id: 'level-1', kit: 'hatake-paddy-water', field: 'paddy-1' },
    { id: 'gate-1', kit: 'hatake-water-gate', field: 'upland-1', name: '灌水バルブ' },
    { id: 'gate-2', kit: 'hatake-water-gate', field: 'paddy-1', name: '水口' },
  ],
};

let dir: string;
let clock: ManualClock;
let gateway: Gateway;
let engine: AutomationEngine;
let secrets: Record<string, string>;
let server: HatakeServer | undefined;
/** The server's port: the gateway is configured with it; nothing listens there during the outage. */
let serverPort: number;
let serverUrl: string;
/** Items the gateway's uplink had delivered when the server went away. */
let sentBeforeOutage: number;
let irrigationId: string;
let paddyId: string;
let gate1: SimulatedValve;
let gate2: SimulatedValve;
let probe: MqttClient;
let level: MqttClient;
let pageUrl: string;
let overrideCode: string;

/**
 * The server on its fixed port, over the same data dir (its database, signing key and tokens);
 * `beforeListen` sees it before any request can reach it.
 */
async function startServerOn(port: number, beforeListen?: (s: HatakeServer) => void): Promise<HatakeServer> {
  const s = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port,
    logger: quietLog(),
  });
  await seedDemoUsers(s.ctx.auth);
  beforeListen?.(s);
  await s.listen();
  return s;
}

/** Counts, per log id, how many times the server's sync endpoint is handed an automation log. */
function countAutomationLogArrivals(s: HatakeServer): Map<string, number> {
  const arrivals = new Map<string, number>();
  const appliers = s.ctx.appliers;
  const get = appliers.get.bind(appliers);
  appliers.get = ((kind: PluggableKind) => {
    const applier = get(kind);
    if (kind !== 'automation_log' || !applier) return applier;
    const count: typeof applier = (ctx, bodies) => {
      for (const b of bodies as AutomationLog[]) arrivals.set(b.id, (arrivals.get(b.id) ?? 0) + 1);
      applier(ctx, bodies);
    };
    return count;
  }) as typeof appliers.get;
  return arrivals;
}

const logs = () => engine.logs(1000).reverse();
const logsOf = (id: string, event?: AutomationLog['event']) =>
  logs().filter((l) => l.automation === id && (!event || l.event === event));
const waitFor = (id: string, event: AutomationLog['event'], n = 1) =>
  eventually(() => logsOf(id, event).length >= n, 5000, 10);

async function publish(client: MqttClient, device: string, values: Record<string, number>) {
  await client.publishAsync(deviceTopic(FARM, device, 'up'), JSON.stringify({ time: clock.now(), values }), {
    qos: 1,
  });
}
/** Moves the shared clock; the valves' reports that fall due go out over MQTT and are acknowledged. */
async function advanceTo(t: number) {
  clock.advanceTo(t);
  await gate1.settled();
  await gate2.settled();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-automations-it-'));
  clock = new ManualClock(T0 - MIN);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  const provisioned = provisionRegistry(manifest);
  secrets = provisioned.secrets;
  writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(provisioned.registry));

  // Before the outage: the server is up on the port the gateway is configured with.
  serverPort = await freePort();
  serverUrl = `http://127.0.0.1:${serverPort}`;
  server = await startServerOn(serverPort);
  const token = server.ctx.auth.issueGatewayToken('gw-test', FARM);
  gateway = new Gateway(
    gatewayConfigFor(
      {
        id: 'gw-test',
        dataDir: join(dir, 'gateway'),
        manifest: join(dir, 'manifest.json'),
        registry: join(dir, 'registry.json'),
      },
      {
        mqtt: { ...DEFAULT_MQTT, host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        server: { url: serverUrl, token, publicKey: server.ctx.signingPublicKey },
        sync: { intervalMs: 200, batchDelayMs: 20, backoffCapMs: 500, batchMaxItems: 500 },
      },
    ),
    quietLog(),
  );
  gateway.automationClock = clock;
  await gateway.start();
  if (!gateway.automations) throw new Error('the gateway did not start its automation engine');
  engine = gateway.automations;
  const sync = gateway.sync;
  if (!sync) throw new Error('the gateway did not start its uplink');

  // The gateway's own uplink sends the manifest: the server learns the farm's devices.
  await eventually(
    () =>
      sync.status.lastSuccess !== null && !gateway.store.peekOutbox(100).some((r) => r.kind === 'manifest'),
  );
  const farmer = await signIn(serverUrl, 'demo-farmer');
  const create = async (body: object) => {
    const res = await farmer('/api/v1/automations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`automation refused: ${res.status} ${text}`);
    return JSON.parse(text) as AutomationView;
  };
  irrigationId = (
    await create({
      farm: FARM,
      field: 'upland-1',
      name: { ja: '畑1号の灌水', en: 'Upland 1 irrigation' },
      enabled: true,
      trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
      action: { device: 'gate-1', command: 'open_for', params: { minutes: 30 } },
      limits: {
        maxRunsPerDay: 2,
        quietHours: { from: '22:00', to: '05:00' },
        maxOpenMinutes: 40,
        cooldownMinutes: 60,
        confirmSeconds: 30,
        retries: 1,
      },
    })
  ).id;
  paddyId = (
    await create({
      farm: FARM,
      field: 'paddy-1',
      name: { ja: '田んぼ1号の水位 3〜5 cm', en: 'Paddy 1 water level 3–5 cm' },
      enabled: true,
      trigger: { kind: 'band', device: 'level-1', metric: 'water_level', low: 3, high: 5 },
      below: { device: 'gate-2', command: 'open' },
      above: { device: 'gate-2', command: 'close' },
      limits: { maxRunsPerDay: 12, maxOpenMinutes: 20, confirmSeconds: 30, retries: 1 },
    })
  ).id;
  // The gateway's own downlink takes both (the server's stream says there is something new).
  await eventually(
    () => gateway.store.documents('automation').length === 2 && engine.status().automations.length === 2,
    10_000,
  ).catch((e: Error) => {
    throw new Error(`downlink: ${gateway.downlink?.lastError ?? 'no error'}; ${e.message}`);
  });

  // The outage: the server goes away; nothing listens on its port until it returns.
  await server.close();
  server = undefined;
  // A batch the server answered while closing is acknowledged just after: count from when the
  // uplink has nothing in flight.
  await eventually(() => gateway.store.inFlightSeqs.length === 0, 10_000);
  sentBeforeOutage = sync.status.sentItems;

  // The simulated devices, on real MQTT with their provisioned secrets.
  const brokerUrl = `mqtt://127.0.0.1:${gateway.mqttPort}`;
  gate1 = new SimulatedValve({ farm: FARM, device: 'gate-1', secret: secrets['gate-1']!, brokerUrl, clock });
  gate2 = new SimulatedValve({
    farm: FARM,
    device: 'gate-2',
    secret: secrets['gate-2']!,
    brokerUrl,
    clock,
    faults: { neverReportClosed: true },
  });
  await gate1.start();
  await gate2.start();
  const connect = (device: string) =>
    mqtt.connectAsync(brokerUrl, { username: device, password: secrets[device], reconnectPeriod: 0 });
  probe = await connect('soil-1');
  level = await connect('level-1');

  // The gateway page: the gateway's own HTTP server, with the override code it created.
  overrideCode = loadOrCreateOverrideToken(gateway.config.dataDir).token;
  pageUrl = `http://127.0.0.1:${gateway.httpPort}`;
}, 60_000);

afterAll(async () => {
  await probe?.endAsync();
  await level?.endAsync();
  await gate1?.stop();
  await gate2?.stop();
  await gateway?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('automations on the gateway, with the server unreachable', () => {
  it('took both automations from its signed downlink, runs them and serves its page, with the server unreachable', async () => {
    // Configured with the server, whose port has nothing listening: the uplink keeps failing.
    const sync = gateway.sync!;
    await eventually(() => sync.status.consecutiveFailures >= 2);
    expect(sync.status.lastError).toMatch(/^network: /);
    expect(sync.status.stopped).toBeNull();
    expect(gateway.status().health.problems).toContain('server unreachable');

    const st = engine.status();
    expect(st.automations.map((a) => [a.id, a.problem])).toEqual(
      [
        [irrigationId, null],
        [paddyId, null],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(st.actuators.map((a) => a.device)).toEqual(['gate-1', 'gate-2']);

    const page = await fetch(`${pageUrl}/automations?lang=en`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Upland 1 irrigation');
    expect(html).toContain(irrigationId);
    expect(html).toContain(paddyId);
  });

  it('fires on a real low VWC; the gate opens and closes itself on time', async () => {
    await publish(probe, 'soil-1', { soil_vwc: 0.25 });
    await advanceTo(T0);
    await publish(probe, 'soil-1', { soil_vwc: 0.18 });
    await waitFor(irrigationId, 'state_confirmed');
    expect(gate1.received.map((c) => [c.command, c.minutes])).toEqual([['open', 30]]);
    expect(gate1.state).toBe(1);
    expect(logsOf(irrigationId).map((l) => l.event)).toEqual(['fired', 'command_sent', 'state_confirmed']);
    expect(logsOf(irrigationId, 'fired')[0]).toMatchObject({
      time: T0,
      device: 'gate-1',
      detail: { sensor: 'soil-1', value: 0.18, runsToday: 1, maxRunsPerDay: 2 },
    });

    await advanceTo(T0 + 29 * MIN);
    expect(gate1.state).toBe(1);
    expect(logsOf(irrigationId, 'closed')).toEqual([]);
    await advanceTo(T0 + 30 * MIN);
    expect(gate1.state).toBe(0);
    await waitFor(irrigationId, 'closed');
    expect(logsOf(irrigationId, 'closed')[0]).toMatchObject({
      time: T0 + 30 * MIN,
      detail: { openMinutes: 30 },
    });
    expect(engine.status().actuators[0]!.run).toBeNull();
  });

  it('holds the cool-down and the daily limit', async () => {
    await advanceTo(T0 + 31 * MIN);
    await publish(probe, 'soil-1', { soil_vwc: 0.18 });
    await waitFor(irrigationId, 'skipped_cooldown');
    expect(gate1.received).toHaveLength(1);

    await advanceTo(T0 + 95 * MIN); // 60 min after the first run closed
    await publish(probe, 'soil-1', { soil_vwc: 0.17 });
    await waitFor(irrigationId, 'state_confirmed', 2);
    await advanceTo(T0 + 125 * MIN);
    await waitFor(irrigationId, 'closed', 2);

    await advanceTo(local(0, 14));
    await publish(probe, 'soil-1', { soil_vwc: 0.16 });
    await waitFor(irrigationId, 'skipped_daily_limit');
    expect(logsOf(irrigationId, 'skipped_daily_limit')[0]!.detail).toMatchObject({
      runsToday: 2,
      maxRunsPerDay: 2,
    });
    expect(gate1.received).toHaveLength(2);
  });

  it('holds the quiet hours of the farm zone, and opens again at 05:00 on a new day', async () => {
    await advanceTo(local(0, 23));
    await publish(probe, 'soil-1', { soil_vwc: 0.15 });
    await waitFor(irrigationId, 'skipped_quiet_hours');
    await advanceTo(local(1, 4, 30)); // a new day: the limit is fresh, the night is not over
    await publish(probe, 'soil-1', { soil_vwc: 0.15 });
    await waitFor(irrigationId, 'skipped_quiet_hours', 2);
    expect(logsOf(irrigationId, 'skipped_quiet_hours').map((l) => l.detail?.local)).toEqual([
      '23:00',
      '04:30',
    ]);
    expect(gate1.received).toHaveLength(2);

    await advanceTo(local(1, 5));
    await publish(probe, 'soil-1', { soil_vwc: 0.15 });
    await waitFor(irrigationId, 'state_confirmed', 3);
    expect(logsOf(irrigationId, 'fired')[2]!.detail).toMatchObject({ runsToday: 1 });
    await advanceTo(local(1, 5, 30));
    await waitFor(irrigationId, 'closed', 3);
    expect(gate1.received).toHaveLength(3);
  });

  it('closes a paddy gate that never reports closed at its maximum open time, with a critical log', async () => {
    const start = local(1, 6);
    await advanceTo(start);
    await publish(level, 'level-1', { water_level: 2.5 });
    await waitFor(paddyId, 'state_confirmed');
    expect(gate2.state).toBe(1);
    // The level wobbles at the band's lower edge: no new command (hysteresis, one run at a time).
    for (const [m, v] of [
      [2, 2.9],
      [4, 3.1],
      [6, 2.95],
      [8, 3.05],
    ] as const) {
      await advanceTo(start + m * MIN);
      await publish(level, 'level-1', { water_level: v });
    }
    await eventually(
      () => engine.status().automations.find((a) => a.id === paddyId)?.lastValue?.value === 3.05,
    );
    expect(gate2.received).toHaveLength(1);

    await advanceTo(start + 20 * MIN);
    await waitFor(paddyId, 'safety_stop');
    await eventually(() => gate2.received.length === 2);
    expect(gate2.received[1]).toMatchObject({ command: 'close', time: start + 20 * MIN });
    expect(gate2.state).toBe(0); // it did close, but it never says so
    await advanceTo(start + 20 * MIN + 30_000);
    await eventually(() => gate2.received.length === 3);
    await waitFor(paddyId, 'retry');
    await advanceTo(start + 21 * MIN);
    await waitFor(paddyId, 'gave_up');
    const gaveUp = logsOf(paddyId, 'gave_up')[0]!;
    expect(gaveUp.detail).toMatchObject({
      severity: 'critical',
      reason: 'never_reported_closed',
      closeReason: 'safety',
    });
    expect(gaveUp.time).toBe(start + 21 * MIN);
    expect(logsOf(paddyId, 'safety_stop')[0]!.time).toBe(start + 20 * MIN);
    expect(engine.problems()).toEqual(['valve gate-2 never reported closed']);
    expect(engine.healthProblems()).toEqual([{ code: 'valve_not_closed', device: 'gate-2' }]);
    expect(gate2.received.map((c) => c.command)).toEqual(['open', 'close', 'close']);
  });

  it('says the automations, the valve that never closed and the outage on the status page in Japanese', async () => {
    const ja = await (await fetch(`${pageUrl}/`)).text();
    // The health line, each problem from its code.
    expect(ja).toContain(
      '<li>サーバーに接続できません。データはゲートウェイに保存し、つながり次第送ります</li>',
    );
    // The valve by its manifest name, its id beside it.
    expect(ja).toContain('<li>バルブ 水口（gate-2） が閉じたと報告しません。現地で確認してください</li>');
    // The automation summary: the VWC sensor's label and value in %, as the sensor table shows it.
    expect(ja).toMatch(/最新の値: soil-1 土壌水分 = <b>\d+\.\d %<\/b>/);
    expect(ja).toMatch(/最新の値: level-1 水位 = <b>[\d.]+ cm<\/b>/);
    expect(ja).toContain('<b class="critical">異常: 閉じたと報告しません。現地で確認してください</b>');
    // The automations the downlink applied, and the critical log in the page's language.
    expect(ja).toContain('サーバーから届いた自動化を適用しました');
    expect(ja).toContain('【重要】gate-2 が閉じたと報告しません');
    expect(ja).toMatch(
      /<dt>直近のエラー<\/dt><dd>サーバーに接続できません（[^<]+）<br><small lang="en">network: /,
    );
    expect(englishOutsideLangEn(ja)).toEqual([]);

    const en = await (await fetch(`${pageUrl}/?lang=en`)).text();
    expect(en).toContain('<li>Valve 水口 (gate-2) never reported closed; check it on site</li>');
    expect(en).toMatch(/Latest value: soil-1 Soil moisture = <b>\d+\.\d %<\/b>/);
    expect(en).toContain('Applied the automation sent by the server');
    expect(en).toContain('CRITICAL: gate-2 never reported closed');
    expect(en).not.toContain('【重要】');
  });

  it('lets a manual override set on the gateway page win over the automation', async () => {
    await advanceTo(local(1, 8));
    const res = await fetch(`${pageUrl}/automations/override`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        device: 'gate-1',
        mode: 'hold_closed',
        minutes: '120',
        by: 'tanaka',
        token: overrideCode,
      }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    await waitFor(irrigationId, 'override_set');
    await publish(probe, 'soil-1', { soil_vwc: 0.12 });
    await waitFor(irrigationId, 'skipped_override');
    expect(gate1.received).toHaveLength(3);
    await advanceTo(local(1, 10));
    await waitFor(irrigationId, 'override_cleared');
  });

  it('closes a run that would reach into the quiet hours when they begin', async () => {
    // 21:40, the second run of the day: open_for 30 would keep the gate open until 22:10.
    await advanceTo(local(1, 21, 40));
    await publish(probe, 'soil-1', { soil_vwc: 0.15 });
    await waitFor(irrigationId, 'state_confirmed', 4);
    expect(gate1.received.at(-1)).toMatchObject({ command: 'open', minutes: 30 });
    expect(logsOf(irrigationId, 'command_sent').at(-1)!.detail).toMatchObject({ quietAt: local(1, 22) });
    await advanceTo(local(1, 21, 59));
    expect(gate1.state).toBe(1);
    // No reading comes: the gateway's own deadline closes it at 22:00.
    await advanceTo(local(1, 22));
    await waitFor(irrigationId, 'closed', 4);
    expect(gate1.received.at(-1)).toMatchObject({ command: 'close', time: local(1, 22) });
    expect(gate1.state).toBe(0);
    expect(logsOf(irrigationId, 'closed').at(-1)).toMatchObject({
      time: local(1, 22),
      detail: { reason: 'quiet_hours', openMinutes: 20 },
    });
  });

  it('keeps every log in the outbox, and they reach the server when it returns', async () => {
    const onGateway = logs();
    const queued = gateway.store
      .peekOutbox(100_000)
      .filter((r) => r.kind === 'automation_log')
      .map((r) => (JSON.parse(r.body) as AutomationLog).id);
    expect(new Set(queued)).toEqual(new Set(onGateway.map((l) => l.id)));

    // Still offline: the uplink keeps failing and nothing has gone out since the outage began.
    const sync = gateway.sync!;
    expect(sync.status.consecutiveFailures).toBeGreaterThan(0);
    expect(sync.status.sentItems).toBe(sentBeforeOutage);

    // The server returns on the same port; the gateway's own uplink, retrying, delivers.
    let arrivals = new Map<string, number>();
    server = await startServerOn(serverPort, (s) => (arrivals = countAutomationLogArrivals(s)));
    await eventually(
      () => !gateway.store.peekOutbox(100_000).some((r) => r.kind === 'automation_log'),
      20_000,
    );
    expect(sync.status.consecutiveFailures).toBe(0);
    expect(sync.status.lastError).toBeNull();
    expect(sync.status.deadLettered).toBe(0);
    // Exactly once: the server was handed each log one time, and none it was not sent.
    expect([...arrivals.keys()].sort()).toEqual(onGateway.map((l) => l.id).sort());
    expect([...arrivals.values()].every((n) => n === 1)).toBe(true);

    const farmer = await signIn(serverUrl, 'demo-farmer');
    for (const id of [irrigationId, paddyId]) {
      const res = await farmer(`/api/v1/automations/${id}/logs?limit=1000`);
      expect(res.status).toBe(200);
      const listed = (await res.json()) as AutomationLogView[];
      const mine = onGateway.filter((l) => l.automation === id);
      expect(listed.map((l) => l.id).sort()).toEqual(mine.map((l) => l.id).sort());
      expect(listed.every((l) => l.gateway === 'gw-test' && l.farm === FARM)).toBe(true);
    }
    const irrigation = (await (
      await farmer(`/api/v1/automations/${irrigationId}/logs?limit=1000`)
    ).json()) as AutomationLogView[];
    expect(new Set(irrigation.map((l) => l.event))).toEqual(
      new Set([
        'fired',
        'command_sent',
        'state_confirmed',
        'closed',
        'skipped_cooldown',
        'skipped_daily_limit',
        'skipped_quiet_hours',
        'override_set',
        'skipped_override',
        'override_cleared',
      ]),
    );
    const paddy = (await (
      await farmer(`/api/v1/automations/${paddyId}/logs?limit=1000`)
    ).json()) as AutomationLogView[];
    expect(paddy.find((l) => l.event === 'gave_up')?.detail).toMatchObject({ severity: 'critical' });
    expect(paddy.some((l) => l.event === 'safety_stop')).toBe(true);

    // The gate that never reported closed reaches the farmer as one critical tip (pushed by the
    // farm's tip.created webhooks), naming the gate and the automation; nothing else is one.
    const gaveUp = onGateway.find((l) => l.event === 'gave_up' && l.detail?.severity === 'critical')!;
    const tips = (await (await farmer(`/api/v1/tips?farm=${FARM}&view=history`)).json()) as TipView[];
    const stuck = tips.filter((v) => v.tip.kind === 'valve_not_closed');
    expect(stuck).toHaveLength(1);
    expect(stuck[0]).toMatchObject({ state: 'open', cleared: null });
    expect(stuck[0]!.tip).toMatchObject({
      severity: 'severe',
      field: 'paddy-1',
      devices: ['gate-2'],
      created: gaveUp.time,
      action: { type: 'valve', device: 'gate-2', command: 'close' },
    });
    expect(stuck[0]!.tip.title.ja).toBe('田んぼ1号の水口が閉まったことを確認できません');
    expect(stuck[0]!.tip.text.ja).toContain(
      '自動制御「田んぼ1号の水位 3〜5 cm」が最大開放時間の20分に達したため、田んぼ1号の水口に閉じる指示を2回送りました',
    );
  });
});
