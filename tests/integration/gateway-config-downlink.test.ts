// The gateway configuration sent down from the server (issue 5): the farm's IT partner sets the
// tunables (retention, sync pacing, publish rate…) on the server; the gateway verifies the signed
// document, applies it live, reports what changed, keeps it across a restart, and returns to its
// own file when it is withdrawn. Only admins and the farm's partner may send one.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { REMOTE_CONFIG_FILE } from '../../gateway/remote-config.ts';
import type { ResolvedGatewayConfig } from '../../gateway/config.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import mqtt from 'mqtt';
import { eventually, quietLog, signIn, startRegisteredStack, type Stack } from '../helpers/stack.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { FarmHealth } from '../../protocol/views.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'hatake-config-downlink-'));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

const applied = (server: HatakeServer) =>
  (
    server.ctx.db
      .prepare("SELECT message FROM events WHERE type = 'downlink_applied' ORDER BY time")
      .all() as { message: string }[]
  ).map((e) => e.message);

describe('gateway configuration sent down', () => {
  let server: HatakeServer;
  let url: string;
  let stack: Stack;
  let own: ResolvedGatewayConfig;

  it('is applied live, reported, kept across a restart, and withdrawn back to the file', async () => {
    const r = await startRegisteredStack(dir, 'gw-cfg');
    ({ server, url, stack } = r);
    cleanups.push(() => r.close());
    const gw = stack.gateway;
    own = structuredClone(gw.config); // the gateway's own configuration, as its file gives it
    expect(gw.config.retention.rawMs).toBe(90 * DAY);
    expect(gw.config.sync.batchDelayMs).toBe(20);

    const partner = await signIn(url, 'demo-partner');
    // The settings it runs on, as it told the server at its start (config_effective): every key
    // a configuration may set, in the file's units — what the partner's form shows in effect.
    const told = async () =>
      ((await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth).gateways.find(
        (g) => g.id === 'gw-cfg',
      )!.settings;
    const atStart = await eventually(told, 20_000, 50);
    expect(atStart.values).toEqual({
      'storage.maxDbMB': 2048,
      'storage.minFreeMB': 100,
      'retention.rawDays': 90,
      'retention.hourlyDays': 5 * 365,
      'retention.deadLetters': 10_000,
      'health.offlineAfterIntervals': 3,
      'sync.intervalMs': 200,
      'sync.batchMaxItems': 1000,
      'sync.batchMaxBytes': 1024 * 1024,
      'sync.batchDelayMs': 20,
      'sync.backoffCapMs': 60_000,
      'sync.maxOutboxMB': 512,
      'sync.aggregateAfterMinutes': 60,
      'sync.downlinkIntervalMs': 600_000,
      'mqtt.rate.perSecond': 5,
      'mqtt.rate.burst': 50,
    });
    // (not an alert: the health view's alerts leave it out)
    const health = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth;
    expect(health.gateways[0]!.alerts.map((a) => a.type)).not.toContain('config_effective');
    const put = (body: unknown, who = partner) =>
      who('/api/v1/farms/demo-farm/gateway-config', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // 150 dead letters on file; the configuration below keeps 100.
    gw.store.commit(
      [],
      Array.from({ length: 150 }, (_, i) => ({
        time: Date.now() - 150 + i,
        device: 'soil-1',
        topic: 'hatake/v1/demo-farm/soil-1/up',
        code: 'HATAKE_E_PAYLOAD_SCHEMA',
        reason: `bad payload ${i}`,
        head: Buffer.from('{'),
      })),
      Date.now(),
    );
    const deadLetters = () => gw.store.deadLetters(1000).length;
    expect(deadLetters()).toBe(150);
    const budget = () => gw.store.diskUse(gw.maintenance.fsFree()).budgetBytes;
    expect(budget()).toBeGreaterThan(1024 * 1024 * 1024);
    const res = await put({
      retention: { rawDays: 30, deadLetters: 100 },
      storage: { maxDbMB: 64 },
      sync: { batchDelayMs: 250 },
      mqtt: { rate: { perSecond: 2, burst: 20 } },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const { version } = (await res.json()) as { version: number };

    // Told over the stream (the poll interval is ten minutes): applied in place and reported.
    await eventually(() => gw.config.retention.rawMs === 30 * DAY, 20_000, 50);
    expect(gw.config.sync.batchDelayMs).toBe(250);
    expect(gw.config.sync.intervalMs).toBe(200); // not named: the gateway's own value stays
    expect(gw.config.mqtt.rate).toEqual({ perSecond: 2, burst: 20 });
    // The store's own limits follow at once, not at the next restart.
    expect(budget()).toBeGreaterThan(63 * 1024 * 1024);
    expect(budget()).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(gw.store.deadLetterLimit).toBe(100);
    expect(deadLetters()).toBe(100);
    await eventually(() => applied(server).some((m) => m.includes(`configuration v${version}`)), 20_000, 100);
    expect(applied(server).find((m) => m.includes(`configuration v${version}`))).toContain(
      `retention.rawMs ${90 * DAY} → ${30 * DAY}`,
    );
    expect(gw.status().sync.configVersion).toBe(version); // on its status page too
    // …and it tells the server the settings now in effect: the form's "in effect" follows.
    const now = await eventually(
      async () => {
        const t = await told();
        return t?.values['retention.rawDays'] === 30 ? t : undefined;
      },
      20_000,
      100,
    );
    expect(now.values).toMatchObject({
      'retention.rawDays': 30,
      'retention.deadLetters': 100,
      'storage.maxDbMB': 64,
      'sync.batchDelayMs': 250,
      'sync.intervalMs': 200,
      'mqtt.rate.perSecond': 2,
      'mqtt.rate.burst': 20,
    });
    expect(Date.parse(now.time)).toBeGreaterThan(Date.parse(atStart.time));
    const view = await (await partner('/api/v1/farms/demo-farm/gateway-config')).json();
    expect(view).toMatchObject({ version, config: { retention: { rawDays: 30 } } });

    // The publish rate sent down holds on the broker: a burst of 30 from one device runs out of
    // its 20 tokens (under the file's 50 it would all pass).
    const rateRefusals = async () =>
      (await gw.metrics.refused.get()).values.find((v) => v.labels.reason === 'rate')?.value ?? 0;
    expect(await rateRefusals()).toBe(0);
    const device = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'soil-1',
      password: stack.secrets['soil-1'],
      reconnectPeriod: 0,
    });
    device.on('error', () => {}); // the broker closes a flooding connection
    for (let i = 0; i < 30; i++)
      device.publish(
        deviceTopic('demo-farm', 'soil-1', 'up'),
        JSON.stringify({ time: Date.now() - 1000 + i, values: { soil_vwc: 0.3 } }),
        { qos: 0 },
      );
    await eventually(async () => (await rateRefusals()) >= 1, 10_000, 50);
    device.end(true);

    // A restart runs on the configuration sent down, before it hears from the server again.
    expect(existsSync(join(gw.config.dataDir, REMOTE_CONFIG_FILE))).toBe(true);
    await gw.stop();
    const again = new Gateway({ ...own, server: undefined }, quietLog());
    await again.start();
    try {
      expect(again.config.retention.rawMs).toBe(30 * DAY);
      expect(again.config.mqtt.rate).toEqual({ perSecond: 2, burst: 20 });
      expect(again.config.sync.batchDelayMs).toBe(250);
    } finally {
      await again.stop();
    }
  });

  it('is refused by the server for people who do not configure the farm, and for bodies it does not take', async () => {
    for (const who of ['demo-farmer', 'demo-officer']) {
      const f = await signIn(url, who);
      const res = await f('/api/v1/farms/demo-farm/gateway-config', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ retention: { rawDays: 1 } }),
      });
      expect(res.status, who).toBe(403);
      expect((await f('/api/v1/farms/demo-farm/gateway-config')).status, who).toBe(403);
    }
    const admin = await signIn(url, 'admin');
    for (const body of [
      { server: { url: 'http://evil.example' } },
      { sync: { requestTimeoutMs: 100 } },
      { retention: { rawDays: 0 } },
      { mqtt: { port: 1 } },
      { sync: { intervalMs: 'fast' } },
      [],
    ]) {
      const res = await admin('/api/v1/farms/demo-farm/gateway-config', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const big = await admin('/api/v1/farms/demo-farm/gateway-config', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ health: { offlineAfterIntervals: 3 }, pad: 'x'.repeat(20_000) }),
    });
    expect(big.status).toBe(413);
    const view = (await (await admin('/api/v1/farms/demo-farm/gateway-config')).json()) as {
      config: unknown;
    };
    expect(view.config).toEqual({
      retention: { rawDays: 30, deadLetters: 100 },
      storage: { maxDbMB: 64 },
      sync: { batchDelayMs: 250 },
      mqtt: { rate: { perSecond: 2, burst: 20 } },
    });
  });

  it('withdrawn, returns the gateway to its own file', async () => {
    const gw = new Gateway(own, quietLog());
    await gw.start();
    cleanups.push(() => gw.stop());
    expect(gw.config.retention.rawMs).toBe(30 * DAY);
    // Restarted on the kept configuration: the store starts with its limits.
    const budget = () => gw.store.diskUse(gw.maintenance.fsFree()).budgetBytes;
    expect(budget()).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(gw.store.deadLetterLimit).toBe(100);
    const partner = await signIn(url, 'demo-partner');
    expect((await partner('/api/v1/farms/demo-farm/gateway-config', { method: 'DELETE' })).status).toBe(204);
    await eventually(() => gw.config.retention.rawMs === 90 * DAY, 20_000, 50);
    expect(gw.config.mqtt.rate).toEqual({ perSecond: 5, burst: 50 });
    expect(gw.config.sync.batchDelayMs).toBe(20);
    expect(budget()).toBeGreaterThan(1024 * 1024 * 1024); // the file's 2 GB again
    expect(gw.store.deadLetterLimit).toBe(10_000);
    expect(existsSync(join(gw.config.dataDir, REMOTE_CONFIG_FILE))).toBe(false);
    await eventually(() => gw.status().sync.configVersion === null, 10_000, 50);
    expect((await partner('/api/v1/farms/demo-farm/gateway-config')).status).toBe(404);
    expect((await partner('/api/v1/farms/demo-farm/gateway-config', { method: 'DELETE' })).status).toBe(404);
  });
});
