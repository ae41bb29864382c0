// The thin end-to-end path, all real: an mqtt.js device publishes to the gateway's aedes broker,
// the gateway stores the reading durably and syncs it over HTTP, the server stores it once and
// serves it on the API — however often a batch is sent.
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import type { DeviceView } from '../../protocol/api.ts';
import type { SyncBatch } from '../../protocol/sync.ts';
import { toSyncItems } from '../../gateway/store.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import { eventually, quietLog, signIn, startServer, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function publishAsDevice(s: Stack, device: string, payload: object | string) {
  const client = await mqtt.connectAsync(s.mqttUrl, {
    username: device,
    password: s.secrets[device],
    reconnectPeriod: 0,
  });
  await client.publishAsync(
    deviceTopic('demo-farm', device, 'up'),
    typeof payload === 'string' ? payload : JSON.stringify(payload),
    { qos: 1 },
  );
  await client.endAsync();
}

describe('pipeline: device → gateway → server → API', () => {
  it('delivers a reading published over MQTT to GET /api/v1/devices with its latest value and lastSeen', async () => {
    stack = await startStack();
    const time = new Date(Date.now() - 1000).toISOString();
    await publishAsDevice(stack, 'soil-1', { time, values: { soil_vwc: 0.241, soil_temperature: 11.5 } });
    const farmer = await signIn(stack.httpUrl, 'demo-farmer');
    const soil = await eventually(async () => {
      const devices = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      const d = devices.find((x) => x.id === 'soil-1');
      return d && d.latest.length === 2 ? d : undefined;
    });
    expect(soil.farm).toBe('demo-farm');
    expect(soil.field).toBe('upland-1');
    expect(soil.kit).toBe('hatake-soil-probe');
    expect(soil.lastSeen).toBe(time);
    expect(soil.latest.find((l) => l.metric === 'soil_vwc')).toMatchObject({
      value: 0.241,
      unit: 'm3/m3',
      time,
      flags: [],
    });
    expect(await stack.server!.ctx.readings.count('demo-farm', 'soil-1')).toBe(2);
    // The uplink's health in the gateway's metrics: a recent successful sync, a drained backlog.
    const gateway = stack.gateway;
    const metrics = gateway.metrics;
    const lastSync = await metrics.value('hatake_gateway_last_successful_sync_timestamp_seconds');
    expect(Date.now() / 1000 - lastSync).toBeLessThan(30);
    await eventually(() => gateway.store.outboxDepth() === 0);
    expect(await metrics.value('hatake_gateway_backlog_oldest_age_seconds')).toBe(0);
  });

  it('reports the age of the oldest item waiting while the server is away', async () => {
    const s = await startStack({ server: false });
    stack = s; // closed by afterEach
    const t0 = Date.now();
    await publishAsDevice(s, 'soil-1', { values: { soil_vwc: 0.25 } });
    await eventually(() => s.gateway.store.outboxDepth() > 0);
    // No uplink configured: the gauges say "nothing known" rather than a made-up figure …
    expect(await s.gateway.metrics.value('hatake_gateway_last_successful_sync_timestamp_seconds')).toBe(0);
    // … and with one that has not reached the server yet, the backlog ages.
    s.gateway.metrics.uplink = {
      oldestQueuedAt: () => s.gateway.store.oldestOutbox(),
      lastSuccess: () => null,
    };
    await new Promise((r) => setTimeout(r, 1100));
    const age = await s.gateway.metrics.value('hatake_gateway_backlog_oldest_age_seconds');
    expect(age).toBeGreaterThanOrEqual(1);
    expect(age).toBeLessThanOrEqual((Date.now() - t0) / 1000 + 1);
  });

  it("streams a newly published reading to a signed-in browser over SSE, and not to another farm's user", async () => {
    stack = await startStack();
    const farmer = await signIn(stack.httpUrl, 'demo-farmer');
    await stack.server!.ctx.auth.createUser('stranger', 'stranger-password', 'farmer', {
      farms: ['elsewhere'],
    });
    const stranger = await signIn(stack.httpUrl, 'stranger', 'stranger-password');
    const read = async (res: Response, until: (text: string) => boolean, ms: number) => {
      const reader = res.body!.getReader();
      let text = '';
      const deadline = Date.now() + ms;
      while (!until(text) && Date.now() < deadline) {
        const chunk = await Promise.race([
          reader.read(),
          new Promise<undefined>((r) => setTimeout(r, deadline - Date.now())),
        ]);
        if (!chunk || chunk.done) break;
        text += new TextDecoder().decode(chunk.value);
      }
      await reader.cancel();
      return text;
    };
    const mine = await farmer('/api/v1/live');
    const theirs = await stranger('/api/v1/live');
    expect(mine.headers.get('content-type')).toMatch(/text\/event-stream/);
    await publishAsDevice(stack, 'water-1', { time: Date.now(), values: { water_level: 3.3 } });
    const text = await read(mine, (t) => t.includes('event: reading'), 10_000);
    // The reading's own data line (a `change` event — the device's connection — may come first).
    const lines = text.split('\n');
    const data = lines.slice(lines.indexOf('event: reading')).find((l) => l.startsWith('data: '))!;
    expect(JSON.parse(data.slice(6))).toMatchObject({
      farm: 'demo-farm',
      device: 'water-1',
      metric: 'water_level',
      value: 3.3,
      unit: 'cm',
    });
    expect(await read(theirs, () => false, 500)).not.toContain('event: reading');
  });

  it('stores a reading once when the same sync batch is sent twice', async () => {
    stack = await startStack({ server: false });
    const { server, url } = await startServer(stack.dir);
    try {
      const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
      await publishAsDevice(stack, 'water-1', {
        time: Date.now() - 5000,
        values: { water_level: 4.2, water_temperature: 14.1 },
      });
      const rows = await eventually(() => {
        const r = stack!.gateway.store.peekOutbox(100).filter((x) => x.kind === 'reading');
        return r.length === 2 ? stack!.gateway.store.peekOutbox(100) : undefined;
      });
      const seqs = rows.map((r) => r.seq);
      const batch: SyncBatch = {
        gateway: 'gw-test',
        seqFrom: Math.min(...seqs),
        seqTo: Math.max(...seqs),
        sentAt: Date.now(),
        items: toSyncItems(rows),
      };
      const send = () =>
        fetch(`${url}/api/v1/sync`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-encoding': 'gzip',
          },
          body: gzipSync(JSON.stringify(batch)),
        });
      const first = await send();
      expect(first.status).toBe(200);
      expect(await first.json()).toMatchObject({
        gateway: 'gw-test',
        ackedSeq: batch.seqTo,
        applied: 2,
        duplicates: 0,
      });
      const second = await send();
      expect(second.status).toBe(200);
      expect(await second.json()).toMatchObject({ ackedSeq: batch.seqTo, applied: 0, duplicates: 2 });
      expect(await server.ctx.readings.count('demo-farm', 'water-1')).toBe(2);
      const farmer = await signIn(url, 'demo-farmer');
      const devices = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      const water = devices.find((d) => d.id === 'water-1')!;
      expect(water.latest.map((l) => [l.metric, l.value]).sort()).toEqual([
        ['water_level', 4.2],
        ['water_temperature', 14.1],
      ]);
    } finally {
      await server.close();
    }
  });

  it('stores a reading once when the gateway resends after losing the ack (real sync client)', async () => {
    stack = await startStack({ server: false });
    const { server, url } = await startServer(stack.dir);
    try {
      const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
      await publishAsDevice(stack, 'wx-1', { time: Date.now() - 3000, values: { air_temperature: 9.5 } });
      const store = stack.gateway.store;
      await eventually(() => store.peekOutbox(100).some((r) => r.kind === 'reading'));
      const before = store.peekOutbox(100);
      const client = new SyncClient(
        store,
        { gatewayId: 'gw-test', url, token, intervalMs: 60_000, batchMaxItems: 100 },
        quietLog(),
      );
      await client.drain();
      expect(store.outboxDepth()).toBe(0);
      // The ack was "lost": the gateway crashed before forgetting the rows and sends them again.
      for (const r of before)
        store.db
          .prepare('INSERT INTO outbox (seq, kind, priority, body, created) VALUES (?, ?, 0, ?, 0)')
          .run(r.seq, r.kind, r.body);
      await client.drain();
      await client.stop();
      expect(store.outboxDepth()).toBe(0);
      expect(await server.ctx.readings.count('demo-farm', 'wx-1')).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('keeps readings in the outbox while the server is unreachable and delivers them when it returns', async () => {
    stack = await startStack({ server: false });
    const store = stack.gateway.store;
    await publishAsDevice(stack, 'soil-1', { time: Date.now() - 2000, values: { soil_ec: 0.5 } });
    await eventually(() => store.peekOutbox(100).some((r) => r.kind === 'reading'));
    const { server, url } = await startServer(stack.dir);
    const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
    await server.close();
    // The server has stopped: nothing listens on its port any more.
    const client = new SyncClient(
      store,
      { gatewayId: 'gw-test', url, token, intervalMs: 60_000, batchMaxItems: 100 },
      quietLog(),
    );
    await client.drain();
    expect(client.status.consecutiveFailures).toBe(1);
    expect(client.status.lastError).toMatch(/network/);
    const depth = store.outboxDepth();
    expect(depth).toBeGreaterThan(0);
    await client.stop();
    const again = await startServer(stack.dir);
    try {
      const client2 = new SyncClient(
        store,
        { gatewayId: 'gw-test', url: again.url, token, intervalMs: 60_000, batchMaxItems: 100 },
        quietLog(),
      );
      await client2.drain();
      await client2.stop();
      expect(store.outboxDepth()).toBe(0);
      expect(await again.server.ctx.readings.count('demo-farm', 'soil-1')).toBe(1);
    } finally {
      await again.server.close();
    }
  });
});
