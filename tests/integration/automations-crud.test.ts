// Automations on the server: a farmer creates, replaces and deletes them over real HTTP; each
// change is checked against the farm's devices and their kits (firmware-config) and published to
// the farm's gateways; hostile input — a sensor as the actuator, an unknown command, parameters
// past the kit's limits, bad quiet hours, another farm's device, oversized or scripted names —
// gets a coded error naming the place and leaves nothing behind. Also manual overrides and the
// automation logs that come back by sync.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import {
  Automation,
  AutomationWithdrawn,
  ManualOverride,
  type AutomationLog,
} from '../../protocol/automation.ts';
import type { AutomationLogView, AutomationView, OverrideView } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';

let server: HatakeServer;
let url: string;
let dir: string;
type Fetch = Awaited<ReturnType<typeof signIn>>;
let farmer: Fetch;
let partner: Fetch;
let officer: Fetch;
let otherFarmer: Fetch;
const tokens: Record<string, string> = {};
let seq = 0;

const demo = (): Manifest => {
  const m = demoManifest();
  m.devices.push(
    { id: 'valve-1', kit: 'hatake-water-gate', field: 'upland-1' },
    { id: 'gate-1', kit: 'hatake-water-gate', field: 'paddy-1' },
  );
  return m;
};
const other: Manifest = {
  farm: { id: 'hok-farm', name: '北の農場', region: 'hokkaido', timezone: 'Asia/Tokyo' },
  fields: [{ id: 'paddy-9', name: '田んぼ9', crop: 'rice' }],
  devices: [
    { id: 'gate-9', kit: 'hatake-water-gate', field: 'paddy-9' },
    { id: 'water-9', kit: 'hatake-paddy-water', field: 'paddy-9' },
  ],
};

async function sync(gateway: string, items: { kind: string; body: unknown }[], expectStatus = 200) {
  const from = ++seq;
  seq += items.length - 1;
  const batch = {
    gateway,
    seqFrom: from,
    seqTo: seq,
    sentAt: Date.now(),
    items: items.map((it, i) => ({ seq: from + i, ...it })),
  };
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[gateway]}`, 'content-type': 'application/json' },
    body: JSON.stringify(batch),
  });
  expect(res.status, await res.clone().text()).toBe(expectStatus);
  return batch;
}
const send = (f: Fetch, method: string, path: string, body?: unknown) =>
  f(path, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text) as T;
}

const valid = () => ({
  farm: 'demo-farm',
  field: 'upland-1',
  name: { ja: '畑1号の灌水', en: 'Upland 1 irrigation' },
  enabled: true,
  trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
  action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
  limits: { maxRunsPerDay: 2, quietHours: { from: '22:00', to: '05:00' }, maxOpenMinutes: 45 },
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-automations-'));
  ({ server, url } = await startServer(dir));
  tokens['gw-1'] = server.ctx.auth.issueGatewayToken('gw-1', 'demo-farm');
  tokens['gw-9'] = server.ctx.auth.issueGatewayToken('gw-9', 'hok-farm');
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['hok-farm'] });
  await sync('gw-1', [{ kind: 'manifest', body: demo() }]);
  await sync('gw-9', [{ kind: 'manifest', body: other }]);
  farmer = await signIn(url, 'demo-farmer');
  partner = await signIn(url, 'demo-partner');
  officer = await signIn(url, 'demo-officer');
  otherFarmer = await signIn(url, 'other-farmer', 'other-password-1');
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const automationDocs = () =>
  server.ctx.downlink.since('demo-farm', 0, 10_000).filter((d) => d.kind === 'automation');

describe('automation CRUD', () => {
  let created: AutomationView;

  it('creates a checked automation and publishes it to the farm’s gateways', async () => {
    created = await json<AutomationView>(send(farmer, 'POST', '/api/v1/automations', valid()), 201);
    expect(created).toMatchObject({
      ...valid(),
      version: 1,
      createdBy: 'demo-farmer',
      updatedBy: 'demo-farmer',
    });
    expect(created.id).toMatch(/^aut-[0-9a-f]{16}$/);
    const doc = server.ctx.downlink.get('demo-farm', 'automation', created.id)!;
    const { updatedAt: _u, updatedBy: _b, onGateway: _g, ...automation } = created;
    expect(validator(Automation).parse(doc.body, 'downlink')).toEqual(automation);
    expect(doc.deleted).toBe(false);
    expect(await json<AutomationView[]>(farmer('/api/v1/automations'))).toHaveLength(1);
    expect(await json<AutomationView>(farmer(`/api/v1/automations/${created.id}`))).toEqual(created);
    // those who can see the farm may read it; another farm may not
    expect((await partner(`/api/v1/automations/${created.id}`)).status).toBe(200);
    expect(await json(otherFarmer('/api/v1/automations'))).toEqual([]);
    expect((await otherFarmer(`/api/v1/automations/${created.id}`)).status).toBe(404);
  });

  it.each([
    [
      'a sensor as the actuator',
      { action: { device: 'soil-1', command: 'open' } },
      'HATAKE_E_AUTOMATION',
      '/action/device',
    ],
    [
      'an unknown command',
      { action: { device: 'valve-1', command: 'explode' } },
      'HATAKE_E_UNKNOWN_COMMAND',
      '/action/command',
    ],
    [
      'a parameter past the kit’s limit',
      { action: { device: 'valve-1', command: 'open_for', params: { minutes: 9999 } } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/action/params/minutes',
    ],
    [
      'a parameter the command does not take',
      { action: { device: 'valve-1', command: 'open', params: { seconds: 5 } } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/action/params/seconds',
    ],
    [
      'an opening longer than its safety bound',
      { action: { device: 'valve-1', command: 'open_for', params: { minutes: 60 } } },
      'HATAKE_E_AUTOMATION',
      '/action/params/minutes',
    ],
    [
      'empty quiet hours',
      { limits: { maxRunsPerDay: 2, maxOpenMinutes: 45, quietHours: { from: '22:00', to: '22:00' } } },
      'HATAKE_E_AUTOMATION',
      '/limits/quietHours',
    ],
    [
      'quiet hours at 24:00',
      { limits: { maxRunsPerDay: 2, maxOpenMinutes: 45, quietHours: { from: '24:00', to: '05:00' } } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/limits/quietHours/from',
    ],
    [
      'quiet hours in words',
      { limits: { maxRunsPerDay: 2, maxOpenMinutes: 45, quietHours: { from: 'ten pm', to: '05:00' } } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/limits/quietHours/from',
    ],
    [
      'another farm’s actuator',
      { action: { device: 'gate-9', command: 'open' } },
      'HATAKE_E_AUTOMATION',
      '/action/device',
    ],
    [
      'another farm’s sensor',
      { trigger: { kind: 'threshold', device: 'water-9', metric: 'water_level', op: '<', value: 3 } },
      'HATAKE_E_AUTOMATION',
      '/trigger/device',
    ],
    ['an oversized name', { name: { ja: '水'.repeat(201), en: 'x' } }, 'HATAKE_E_PAYLOAD_SCHEMA', '/name/ja'],
    [
      'a script in the name',
      { name: { ja: '灌水', en: '<script>alert(1)</script>' } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/name/en',
    ],
    [
      'a control character in the name',
      { name: { ja: '灌水\u0007', en: 'x' } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/name/ja',
    ],
    [
      'a right-to-left override in the name',
      { name: { ja: '灌水', en: 'exe.\u202etxt' } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/name/en',
    ],
    ['an empty name', { name: { ja: ' ', en: '' } }, 'HATAKE_E_AUTOMATION', '/name'],
    ['an unknown field', { field: 'no-such-field' }, 'HATAKE_E_AUTOMATION', '/field'],
    [
      'VWC in percent instead of m³/m³',
      { trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 22 } },
      'HATAKE_E_AUTOMATION',
      '/trigger/value',
    ],
    [
      'a metric the sensor does not measure',
      { trigger: { kind: 'threshold', device: 'soil-1', metric: 'air_temperature', op: '<', value: 2 } },
      'HATAKE_E_AUTOMATION',
      '/trigger/metric',
    ],
    ['a threshold without an action', { action: undefined }, 'HATAKE_E_AUTOMATION', '/action'],
    [
      'a band with an action',
      { trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 } },
      'HATAKE_E_AUTOMATION',
      '/action',
    ],
    [
      'a band upside down',
      {
        action: undefined,
        below: { device: 'gate-1', command: 'open' },
        trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 5, high: 3 },
      },
      'HATAKE_E_AUTOMATION',
      '/trigger/low',
    ],
    [
      'a zero safety bound',
      { limits: { maxRunsPerDay: 2, maxOpenMinutes: 0 } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/limits/maxOpenMinutes',
    ],
    ['an id of its own choosing', { id: 'aut-mine' }, 'HATAKE_E_PAYLOAD_SCHEMA', undefined],
    [
      'a device id that is a path',
      { action: { device: '../../etc/passwd', command: 'open' } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/action/device',
    ],
  ])('refuses %s with a coded error and stores nothing', async (_what, change, code, pointer) => {
    const before = automationDocs().length;
    const res = await send(farmer, 'POST', '/api/v1/automations', { ...valid(), ...change });
    const p = (await res.json()) as { code: string; pointer?: string; detail: string };
    expect(res.status, p.detail).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(p.code, p.detail).toBe(code);
    if (pointer) expect(p.pointer, p.detail).toBe(pointer);
    expect(p.detail).not.toMatch(/<script>/);
    expect(await json<AutomationView[]>(farmer('/api/v1/automations'))).toHaveLength(1);
    expect(automationDocs()).toHaveLength(before);
  });

  it('refuses a body larger than the server takes, and a farm that is not the caller’s', async () => {
    const huge = await send(farmer, 'POST', '/api/v1/automations', {
      ...valid(),
      name: { ja: 'x'.repeat(9 * 1024 * 1024), en: 'x' },
    });
    expect(huge.status).toBe(413);
    expect((await send(farmer, 'POST', '/api/v1/automations', { ...valid(), farm: 'hok-farm' })).status).toBe(
      404,
    );
    expect((await send(otherFarmer, 'POST', '/api/v1/automations', valid())).status).toBe(404);
    for (const f of [partner, officer]) {
      const res = await send(f, 'POST', '/api/v1/automations', valid());
      expect(res.status).toBe(403);
    }
    expect(await json<AutomationView[]>(farmer('/api/v1/automations'))).toHaveLength(1);
  });

  it('replaces an automation at the version the farmer edited, refuses a stale one, and publishes the new version', async () => {
    const { farm: _f, ...body } = valid();
    const next = {
      ...body,
      enabled: false,
      name: { ja: '畑1号の灌水（停止中）', en: 'Upland 1 irrigation (paused)' },
    };
    expect(
      (await send(otherFarmer, 'PUT', `/api/v1/automations/${created.id}`, { ...next, version: 1 })).status,
    ).toBe(404);
    expect(
      (await send(partner, 'PUT', `/api/v1/automations/${created.id}`, { ...next, version: 1 })).status,
    ).toBe(403);
    const bad = await send(farmer, 'PUT', `/api/v1/automations/${created.id}`, {
      ...next,
      action: { device: 'gate-9', command: 'open' },
      version: 1,
    });
    expect(bad.status).toBe(400);
    const v2 = await json<AutomationView>(
      send(farmer, 'PUT', `/api/v1/automations/${created.id}`, { ...next, version: 1 }),
    );
    expect(v2).toMatchObject({
      id: created.id,
      version: 2,
      enabled: false,
      createdBy: 'demo-farmer',
      createdAt: created.createdAt,
    });
    expect((server.ctx.downlink.get('demo-farm', 'automation', created.id)!.body as Automation).version).toBe(
      2,
    );
    const stale = await send(farmer, 'PUT', `/api/v1/automations/${created.id}`, { ...next, version: 1 });
    expect(stale.status).toBe(409);
    expect((await stale.json()).code).toBe('HATAKE_E_STATE_CONFLICT');
    expect(
      (
        await send(farmer, 'PUT', `/api/v1/automations/${created.id}`, {
          ...next,
          farm: 'hok-farm',
          version: 2,
        })
      ).status,
    ).toBe(400);
  });

  it('deletes an automation and tells the gateways to drop it', async () => {
    expect((await send(otherFarmer, 'DELETE', `/api/v1/automations/${created.id}`)).status).toBe(404);
    expect((await send(partner, 'DELETE', `/api/v1/automations/${created.id}`)).status).toBe(403);
    const res = await send(farmer, 'DELETE', `/api/v1/automations/${created.id}`);
    expect(res.status).toBe(204);
    const doc = server.ctx.downlink.get('demo-farm', 'automation', created.id)!;
    expect(doc.deleted).toBe(true);
    expect(validator(AutomationWithdrawn).parse(doc.body, 'downlink')).toEqual({
      id: created.id,
      farm: 'demo-farm',
      deleted: true,
    });
    expect((await farmer(`/api/v1/automations/${created.id}`)).status).toBe(404);
    expect(await json(farmer('/api/v1/automations'))).toEqual([]);
    expect((await send(farmer, 'DELETE', `/api/v1/automations/${created.id}`)).status).toBe(404);
  });
});

describe('automation logs', () => {
  it('stores logs synced from the gateway once and lists them per automation, newest first, for the farm only', async () => {
    const a = await json<AutomationView>(send(farmer, 'POST', '/api/v1/automations', valid()), 201);
    const t = Date.now() - 60_000;
    const logs: AutomationLog[] = [
      {
        id: 'log-00000001',
        automation: a.id,
        time: t,
        event: 'fired',
        device: 'soil-1',
        message: 'VWC 0.21 < 0.22',
        detail: { value: 0.21 },
      },
      {
        id: 'log-00000002',
        automation: a.id,
        time: t + 1000,
        event: 'command_sent',
        device: 'valve-1',
        message: 'open_for 30',
      },
      {
        id: 'log-00000003',
        automation: a.id,
        time: t + 5000,
        event: 'state_confirmed',
        device: 'valve-1',
        message: 'valve_state 1',
      },
    ];
    const batch = await sync(
      'gw-1',
      logs.map((body) => ({ kind: 'automation_log', body })),
    );
    const resend = await fetch(`${url}/api/v1/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['gw-1']}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    expect(resend.status).toBe(200);
    // another farm's gateway logging under the same automation id lands on its own farm
    await sync('gw-9', [
      { kind: 'automation_log', body: { ...logs[0], id: 'log-hok-0001', message: 'elsewhere' } },
    ]);
    const got = await json<AutomationLogView[]>(farmer(`/api/v1/automations/${a.id}/logs`));
    expect(got.map((l) => l.id)).toEqual(['log-00000003', 'log-00000002', 'log-00000001']);
    expect(got[2]).toMatchObject({
      event: 'fired',
      farm: 'demo-farm',
      gateway: 'gw-1',
      detail: { value: 0.21 },
    });
    expect(got[2]!.at).toBe(new Date(t).toISOString());
    expect(
      (await json<AutomationLogView[]>(farmer(`/api/v1/automations/${a.id}/logs?limit=1`))).map((l) => l.id),
    ).toEqual(['log-00000003']);
    expect(
      (await json<AutomationLogView[]>(farmer(`/api/v1/automations/${a.id}/logs?before=${t + 1000}`))).map(
        (l) => l.id,
      ),
    ).toEqual(['log-00000001']);
    expect((await farmer(`/api/v1/automations/${a.id}/logs?limit=0`)).status).toBe(400);
    expect((await farmer(`/api/v1/automations/${a.id}/logs?limit=-1`)).status).toBe(400);
    expect((await otherFarmer(`/api/v1/automations/${a.id}/logs`)).status).toBe(404);
    // a malformed log is refused with the whole batch
    await sync(
      'gw-1',
      [{ kind: 'automation_log', body: { ...logs[0], id: 'log-00000009', event: 'self_destruct' } }],
      400,
    );
    expect((await json<AutomationLogView[]>(farmer(`/api/v1/automations/${a.id}/logs`))).length).toBe(3);
  });
});

describe('manual overrides', () => {
  it('holds an actuator from the dashboard, publishes the override to the gateways, and ends it on request', async () => {
    const before = Date.now();
    const set = await json<OverrideView>(
      send(farmer, 'PUT', '/api/v1/farms/demo-farm/devices/valve-1/override', {
        mode: 'hold_closed',
        minutes: 90,
      }),
    );
    expect(set).toMatchObject({
      device: 'valve-1',
      mode: 'hold_closed',
      by: 'demo-farmer',
      farm: 'demo-farm',
      active: true,
    });
    expect(set.until).toBeGreaterThanOrEqual(before + 90 * 60_000);
    expect(set.until).toBeLessThanOrEqual(Date.now() + 90 * 60_000);
    const doc = server.ctx.downlink.get('demo-farm', 'override', 'valve-1')!;
    expect(validator(ManualOverride).parse(doc.body, 'override')).toEqual({
      device: 'valve-1',
      mode: 'hold_closed',
      until: set.until,
      by: 'demo-farmer',
    });
    expect(
      (await json<OverrideView[]>(partner('/api/v1/farms/demo-farm/overrides'))).map((o) => o.active),
    ).toEqual([true]);
    const cleared = await json<OverrideView>(
      send(farmer, 'DELETE', '/api/v1/farms/demo-farm/devices/valve-1/override'),
    );
    expect(cleared.active).toBe(false);
    const down = server.ctx.downlink.get('demo-farm', 'override', 'valve-1')!.body as { until: number };
    expect(down.until).toBeLessThanOrEqual(Date.now());
    expect(
      (await json<OverrideView[]>(farmer('/api/v1/farms/demo-farm/overrides'))).map((o) => o.active),
    ).toEqual([false]);
  });

  it.each([
    ['a sensor', 'demo-farm', 'soil-1', { mode: 'pause', minutes: 10 }, 400],
    ['an unknown device', 'demo-farm', 'valve-99', { mode: 'pause', minutes: 10 }, 404],
    ['another farm’s actuator under my farm', 'demo-farm', 'gate-9', { mode: 'pause', minutes: 10 }, 404],
    ['another farm', 'hok-farm', 'gate-9', { mode: 'pause', minutes: 10 }, 404],
    ['no time', 'demo-farm', 'valve-1', { mode: 'pause', minutes: 0 }, 400],
    ['more than a week', 'demo-farm', 'valve-1', { mode: 'pause', minutes: 10_081 }, 400],
    ['an unknown mode', 'demo-farm', 'valve-1', { mode: 'explode', minutes: 10 }, 400],
  ])('refuses an override of %s', async (_what, farm, device, body, status) => {
    const before = server.ctx.downlink.get(farm, 'override', device)?.version;
    const res = await send(farmer, 'PUT', `/api/v1/farms/${farm}/devices/${device}/override`, body);
    expect(res.status).toBe(status);
    expect(server.ctx.downlink.get(farm, 'override', device)?.version).toBe(before);
  });

  it('lets only the farm’s farmer override', async () => {
    for (const f of [partner, officer]) {
      expect(
        (
          await send(f, 'PUT', '/api/v1/farms/demo-farm/devices/gate-1/override', {
            mode: 'pause',
            minutes: 5,
          })
        ).status,
      ).toBe(403);
    }
    expect(
      (await send(otherFarmer, 'DELETE', '/api/v1/farms/demo-farm/devices/valve-1/override')).status,
    ).toBe(404);
    expect((await otherFarmer('/api/v1/farms/demo-farm/overrides')).status).toBe(404);
    expect(server.ctx.downlink.get('demo-farm', 'override', 'gate-1')).toBeUndefined();
  });
});
