// A manual override set on the gateway's own page while the server is unreachable shows on the
// server once it returns, beside the dashboard's, as the override the gateway follows — and stops
// showing as active when it is released, replaced by a dashboard override, or past its `until`.
//
// A real gateway (embedded aedes broker, its own uplink, downlink and page) and two simulated water
// gates on real MQTT; the server goes away (nothing listens on its port) and comes back on the same
// port over the same data. gate-1 is commanded by an automation (its override logs go under it, as
// the farmer's log shows them); gate-2 by none (they go under 'manual'). The gateway runs on its
// own clock (the real one): the server compares the gateway's times with its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Manifest } from '../../protocol/manifest.ts';
import type { AutomationLogView, AutomationView, OverrideView } from '../../protocol/review.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { DEFAULT_MQTT, gatewayConfigFor } from '../../gateway/config.ts';
import type { AutomationEngine } from '../../gateway/automations/engine.ts';
import { loadOrCreateOverrideToken } from '../../gateway/automations/override-token.ts';
import { SimulatedValve } from '../../sim/valve.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { seedDemoUsers } from '../../dashboard/demo.ts';
import { eventually, quietLog, signIn } from '../helpers/stack.ts';
import { freePort } from '../helpers/ports.ts';

const FARM = 'demo-farm';
const MIN = 60_000;

const manifest: Manifest = {
  farm: { id: FARM, name: '手動操作テスト農場', region: 'niigata', timezone: 'Asia/Tokyo' },
  fields: [{ id: 'upland-1', name: '畑1号', crop: 'winter-wheat', soilTexture: 'loam' }],
  devices: [
    { id: 'soil-1', kit: 'hatake-soil-probe', field: 'upland-1' },
    { id: 'gate-1', kit: 'hatake-water-gate', field: 'upland-1', name: '灌水バルブ' },
    { id: 'gate-2', kit: 'hatake-water-gate', field: 'upland-1', name: '予備バルブ' },
  ],
};

let dir: string;
let gateway: Gateway | undefined;
let engine: AutomationEngine;
let server: HatakeServer | undefined;
let serverPort: number;
let serverUrl: string;
let farmer: Awaited<ReturnType<typeof signIn>>;
let automationId: string;
let gate1: SimulatedValve | undefined;
let gate2: SimulatedValve | undefined;
let pageUrl: string;
let overrideCode: string;

async function startServerOn(port: number): Promise<HatakeServer> {
  const s = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port,
    logger: quietLog(),
  });
  await seedDemoUsers(s.ctx.auth);
  await s.listen();
  return s;
}

async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${text}`);
  return JSON.parse(text) as T;
}

const overrides = () => json<OverrideView[]>(farmer(`/api/v1/farms/${FARM}/overrides`));
/** The entries of one device, as [source, mode, by, active]. */
const entriesOf = (list: OverrideView[], device: string) =>
  list.filter((o) => o.device === device).map((o) => [o.source, o.mode, o.by, o.active]);
const activeOf = (list: OverrideView[], device: string) =>
  list.filter((o) => o.device === device && o.active);

/** Sets (or with mode 'clear', ends) an override on the gateway's own page, as a form or as JSON. */
async function onGatewayPage(fields: Record<string, string>, as: 'form' | 'json' = 'form') {
  const body = { ...fields, token: overrideCode };
  const res = await fetch(`${pageUrl}/automations/override`, {
    method: 'POST',
    headers: { 'content-type': as === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: as === 'form' ? new URLSearchParams(body).toString() : JSON.stringify(body),
    redirect: 'manual',
  });
  expect(res.status).toBe(as === 'form' ? 303 : 200);
}

/** The gateway's uplink has delivered every automation log it queued (the server stored them). */
const logsDelivered = () =>
  eventually(() => !gateway!.store.peekOutbox(100_000).some((r) => r.kind === 'automation_log'), 20_000);

/** The gateway's newest override_set log of a device with this source. */
const lastSet = (device: string, source: 'local' | 'server') =>
  engine
    .logs(1000)
    .find((l) => l.event === 'override_set' && l.device === device && l.detail?.source === source);

const clearedLogs = (device: string) =>
  engine.logs(1000).filter((l) => l.event === 'override_cleared' && l.device === device).length;
/** The override the gateway follows on a device (none: undefined). */
const overrideState = (device: string) =>
  engine.status().actuators.find((a) => a.device === device)?.override;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-gw-override-it-'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  const provisioned = provisionRegistry(manifest);
  writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(provisioned.registry));

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
        sync: {
          intervalMs: 200,
          batchDelayMs: 20,
          backoffCapMs: 500,
          batchMaxItems: 500,
          downlinkIntervalMs: 300,
        },
      },
    ),
    quietLog(),
  );
  await gateway.start();
  if (!gateway.automations) throw new Error('the gateway did not start its automation engine');
  engine = gateway.automations;
  const gw = gateway;
  await eventually(
    () => gw.sync?.status.lastSuccess != null && !gw.store.peekOutbox(100).some((r) => r.kind === 'manifest'),
  );

  const brokerUrl = `mqtt://127.0.0.1:${gateway.mqttPort}`;
  gate1 = new SimulatedValve({
    farm: FARM,
    device: 'gate-1',
    secret: provisioned.secrets['gate-1']!,
    brokerUrl,
  });
  gate2 = new SimulatedValve({
    farm: FARM,
    device: 'gate-2',
    secret: provisioned.secrets['gate-2']!,
    brokerUrl,
  });
  await gate1.start();
  await gate2.start();
  overrideCode = loadOrCreateOverrideToken(gateway.config.dataDir).token;
  pageUrl = `http://127.0.0.1:${gateway.httpPort}`;

  farmer = await signIn(serverUrl, 'demo-farmer');
  automationId = (
    await json<AutomationView>(
      farmer('/api/v1/automations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          farm: FARM,
          field: 'upland-1',
          name: { ja: '畑1号の灌水', en: 'Upland 1 irrigation' },
          enabled: true,
          trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
          action: { device: 'gate-1', command: 'open_for', params: { minutes: 30 } },
          limits: { maxRunsPerDay: 2, maxOpenMinutes: 40 },
        }),
      }),
      201,
    )
  ).id;
  await eventually(() => engine.status().automations.length === 1, 10_000);

  // An old dashboard override of gate-1, set and ended before the evening: the gateway applied both.
  await json(
    farmer(`/api/v1/farms/${FARM}/devices/gate-1/override`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'pause', minutes: 5 }),
    }),
  );
  await json(farmer(`/api/v1/farms/${FARM}/devices/gate-1/override`, { method: 'DELETE' }));
  await eventually(() =>
    engine.logs(100).some((l) => l.event === 'override_cleared' && l.device === 'gate-1'),
  );
  await logsDelivered();
}, 60_000);

afterAll(async () => {
  vi.useRealTimers();
  await gate1?.stop();
  await gate2?.stop();
  await gateway?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a manual override set on the gateway page, on the server', () => {
  it('before: the server lists only the old dashboard override, not active', async () => {
    expect((await overrides()).map((o) => [o.device, o.source, o.mode, o.active])).toEqual([
      ['gate-1', 'dashboard', 'pause', false],
    ]);
  });

  it('set while the server is down, it is listed as active once the logs arrive', async () => {
    await server!.close();
    server = undefined;
    await eventually(() => gateway!.store.inFlightSeqs.length === 0, 10_000);

    // 父 holds gate-1 open for 10 minutes on the gateway's page; 母 holds gate-2 closed.
    const before = Date.now();
    await onGatewayPage({ device: 'gate-1', mode: 'hold_open', minutes: '10', by: '父' });
    await onGatewayPage({ device: 'gate-2', mode: 'hold_closed', minutes: '30', by: '母' }, 'json');
    await eventually(() => gate1!.state === 1, 10_000);
    expect(gate1!.received.map((c) => c.command)).toEqual(['open']);
    const set1 = lastSet('gate-1', 'local')!;
    const set2 = lastSet('gate-2', 'local')!;
    expect(set1.automation).toBe(automationId);
    expect(set2.automation).toBe('manual');
    expect(set1.text?.ja).toMatch(/^手動操作：gate-1 を開で固定（\d\d:\d\d まで、父、ゲートウェイの画面）$/);
    const until1 = set1.detail!.until as number;
    expect(until1).toBeGreaterThanOrEqual(before + 10 * MIN);
    expect(until1).toBeLessThanOrEqual(Date.now() + 10 * MIN);

    // The logs wait in the outbox: the uplink cannot reach the server.
    await eventually(() => (gateway!.sync?.status.consecutiveFailures ?? 0) >= 1, 10_000);
    expect(gateway!.store.peekOutbox(100_000).filter((r) => r.kind === 'automation_log')).not.toEqual([]);

    // The server returns on the same port; the gateway's uplink delivers the logs.
    server = await startServerOn(serverPort);
    await logsDelivered();
    farmer = await signIn(serverUrl, 'demo-farmer');
    const list = await overrides();
    expect(list).toEqual([
      expect.objectContaining({ device: 'gate-1', source: 'dashboard', mode: 'pause', active: false }),
      {
        device: 'gate-1',
        mode: 'hold_open',
        until: until1,
        by: '父',
        farm: FARM,
        setAt: new Date(set1.time).toISOString(),
        active: true,
        source: 'gateway',
        gateway: 'gw-test',
      },
      {
        device: 'gate-2',
        mode: 'hold_closed',
        until: set2.detail!.until,
        by: '母',
        farm: FARM,
        setAt: new Date(set2.time).toISOString(),
        active: true,
        source: 'gateway',
        gateway: 'gw-test',
      },
    ]);
    // The automation's log says the same as the list.
    const logs = await json<AutomationLogView[]>(farmer(`/api/v1/automations/${automationId}/logs`));
    expect(logs.find((l) => l.event === 'override_set')?.id).toBe(set1.id);
  });

  it('ended from the dashboard (no dashboard override of its own): the gateway takes the release', async () => {
    const cleared = await json<OverrideView>(
      farmer(`/api/v1/farms/${FARM}/devices/gate-2/override`, { method: 'DELETE' }),
    );
    expect(cleared).toMatchObject({
      device: 'gate-2',
      mode: 'hold_closed',
      source: 'dashboard',
      active: false,
    });
    expect(activeOf(await overrides(), 'gate-2')).toEqual([]);
    // The gateway ends 母's hold when the release arrives, and says so.
    await eventually(() => clearedLogs('gate-2') === 1 && !overrideState('gate-2'), 10_000);
    await logsDelivered();
    expect(entriesOf(await overrides(), 'gate-2')).toEqual([
      ['dashboard', 'hold_closed', 'demo-farmer', false],
      ['gateway', 'hold_closed', '母', false],
    ]);
  });

  it('a dashboard override set after it wins; its release does not bring the gateway one back', async () => {
    await json(
      farmer(`/api/v1/farms/${FARM}/devices/gate-1/override`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: 'pause', minutes: 60 }),
      }),
    );
    expect(entriesOf(await overrides(), 'gate-1')).toEqual([
      ['dashboard', 'pause', 'demo-farmer', true],
      ['gateway', 'hold_open', '父', false],
    ]);
    // The gateway follows it: 父's hold ends, the valve is closed.
    await eventually(() => overrideState('gate-1')?.source === 'server', 10_000);
    await eventually(() => gate1!.state === 0, 10_000);
    await logsDelivered();
    expect(entriesOf(await overrides(), 'gate-1')).toEqual([
      ['dashboard', 'pause', 'demo-farmer', true],
      ['gateway', 'hold_open', '父', false],
    ]);

    await json(farmer(`/api/v1/farms/${FARM}/devices/gate-1/override`, { method: 'DELETE' }));
    await eventually(() => !overrideState('gate-1'), 10_000);
    await logsDelivered();
    expect(activeOf(await overrides(), 'gate-1')).toEqual([]);
  });

  it('a gateway override set after a dashboard one is the active one; released on the page, none is', async () => {
    await onGatewayPage({ device: 'gate-1', mode: 'hold_closed', minutes: '20', by: '父' });
    await logsDelivered();
    expect(entriesOf(await overrides(), 'gate-1')).toEqual([
      ['dashboard', 'pause', 'demo-farmer', false],
      ['gateway', 'hold_closed', '父', true],
    ]);
    await onGatewayPage({ device: 'gate-1', mode: 'clear', by: '父' });
    await logsDelivered();
    expect(activeOf(await overrides(), 'gate-1')).toEqual([]);
  });

  it('is active until its until by the server clock, and not after, with the gateway silent', async () => {
    await onGatewayPage({ device: 'gate-1', mode: 'hold_open', minutes: '10', by: '父' });
    await eventually(() => gate1!.state === 1, 10_000);
    await logsDelivered();
    const until = lastSet('gate-1', 'local')!.detail!.until as number;
    expect(activeOf(await overrides(), 'gate-1')).toEqual([
      expect.objectContaining({ source: 'gateway', mode: 'hold_open', by: '父', until }),
    ]);
    // The gateway goes silent (power cut) before its hold ends: it will never log the end.
    await gate1!.stop();
    await gate2!.stop();
    await gateway!.stop();
    gate1 = gate2 = gateway = undefined;
    const log = (
      await json<AutomationLogView[]>(farmer(`/api/v1/automations/${automationId}/logs?limit=1000`))
    ).filter((l) => l.event === 'override_cleared' && l.time >= until);
    expect(log).toEqual([]);

    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(until - 1000);
      expect(activeOf(await overrides(), 'gate-1').map((o) => o.source)).toEqual(['gateway']);
      vi.setSystemTime(until);
      const after = await overrides();
      expect(activeOf(after, 'gate-1')).toEqual([]);
      expect(entriesOf(after, 'gate-1')).toEqual([
        ['dashboard', 'pause', 'demo-farmer', false],
        ['gateway', 'hold_open', '父', false],
      ]);
    } finally {
      vi.useRealTimers();
    }
  });
});
