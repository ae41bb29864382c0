// The gateway's broker under misbehaviour: each refusal is made and counted, while a well-behaved
// device on the same gateway keeps getting its readings stored. Also TLS and MQTT over WebSocket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { deviceTopic } from '../../protocol/topics.ts';
import { makeSelfSignedCert } from '../../gateway/cert.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let good: MqttClient;
let certDir: string;
let goodTime = Date.now() - 600_000;

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'hatake-cert-'));
  const cert = await makeSelfSignedCert(certDir, { dns: ['localhost'], ips: ['127.0.0.1'] });
  stack = await startStack({
    server: false,
    mqtt: {
      maxPacketBytes: 4096,
      rate: { perSecond: 2, burst: 10 },
      tls: { port: 0, cert: cert.cert, key: cert.key },
      websocket: { port: 0, path: '/mqtt' },
    },
  });
  good = await connect('water-1');
});
afterAll(async () => {
  await good.endAsync();
  await stack.close();
  rmSync(certDir, { recursive: true, force: true });
});

function connect(
  device: string,
  password = stack.secrets[device],
  url = stack.mqttUrl,
  extra: mqtt.IClientOptions = {},
) {
  return mqtt.connectAsync(url, {
    username: device,
    password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  });
}
const refused = (reason: string) => stack.gateway.metrics.value('hatake_gateway_refused_total', { reason });
const stored = (device: string) =>
  (
    stack.gateway.store.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE device = ?').get(device) as {
      n: number;
    }
  ).n;

/** The well-behaved device publishes one reading; it must be stored. */
async function goodDeviceStillWorks() {
  const before = stored('water-1');
  goodTime += 1000;
  await good.publishAsync(
    deviceTopic('demo-farm', 'water-1', 'up'),
    JSON.stringify({ time: goodTime, values: { water_level: 4 } }),
    { qos: 1 },
  );
  expect(stored('water-1')).toBe(before + 1);
}

const closed = (c: MqttClient) =>
  new Promise<void>((resolve) =>
    c.disconnected || !c.connected ? resolve() : c.once('close', () => resolve()),
  );

describe('broker refusals', () => {
  it('refuses a wrong password with CONNACK "bad user name or password" and counts it', async () => {
    const before = await refused('bad_login');
    await expect(connect('soil-1', 'wrong')).rejects.toThrow(/Bad username or password/i);
    expect(await refused('bad_login')).toBe(before + 1);
    await goodDeviceStillWorks();
  });

  it('refuses an unknown device', async () => {
    const before = await refused('bad_login');
    await expect(connect('intruder', 'x')).rejects.toThrow(/Bad username or password/i);
    expect(await refused('bad_login')).toBe(before + 1);
    await goodDeviceStillWorks();
  });

  it("refuses a publish to another device's topic, closing that connection", async () => {
    const c = await connect('soil-1');
    const before = await refused('topic');
    c.publish(deviceTopic('demo-farm', 'wx-1', 'up'), JSON.stringify({ values: { air_temperature: 20 } }), {
      qos: 1,
    });
    await closed(c);
    expect(await refused('topic')).toBe(before + 1);
    expect(stored('wx-1')).toBe(0);
    c.end(true);
    await goodDeviceStillWorks();
  });

  it("refuses a subscription to another device's down topic with SUBACK 0x80, and allows its own", async () => {
    const c = await connect('soil-1');
    const before = await refused('subscribe');
    // mqtt.js rejects a subscription the broker answered with the failure code 0x80.
    await expect(c.subscribeAsync(deviceTopic('demo-farm', 'wx-1', 'down'), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    await expect(c.subscribeAsync('hatake/v1/demo-farm/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const own = await c.subscribeAsync(deviceTopic('demo-farm', 'soil-1', 'down'), { qos: 1 });
    expect(own[0]!.qos).toBe(1);
    expect(await refused('subscribe')).toBe(before + 2);
    await c.endAsync();
    await goodDeviceStillWorks();
  });

  it('closes a connection that sends a packet over the size limit, before buffering it', async () => {
    const c = await connect('soil-1');
    const before = await refused('packet_size');
    c.publish(deviceTopic('demo-farm', 'soil-1', 'up'), Buffer.alloc(10_000, 0x41), { qos: 0 });
    await closed(c);
    expect(await refused('packet_size')).toBe(before + 1);
    c.end(true);
    await goodDeviceStillWorks();
  });

  it('stops a publish flood at the per-device rate limit', async () => {
    const c = await connect('wx-1');
    const before = await refused('rate');
    for (let i = 0; i < 40 && c.connected; i++) {
      c.publish(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: 1_780_000_000_000 + i, values: { air_temperature: 10 } }),
        { qos: 0 },
      );
    }
    await closed(c);
    expect(await refused('rate')).toBeGreaterThan(before);
    // The burst got through (its commit may still be on the writer thread), the flood did not.
    await eventually(() => stored('wx-1') > 0, 5000, 10);
    await stack.gateway.ingest.drain();
    expect(stored('wx-1')).toBeLessThanOrEqual(11);
    c.end(true);
    await goodDeviceStillWorks();
  });
});

describe('transports', () => {
  it('accepts a device over TLS that trusts the gateway certificate, and refuses one that does not', async () => {
    const { readFileSync } = await import('node:fs');
    const url = `mqtts://localhost:${stack.gateway.ports.tls}`;
    const c = await connect('soil-1', stack.secrets['soil-1'], url, {
      ca: readFileSync(join(certDir, 'cert.pem')),
      rejectUnauthorized: true,
    });
    await c.publishAsync(
      deviceTopic('demo-farm', 'soil-1', 'up'),
      JSON.stringify({ time: Date.now() - 1, values: { soil_ec: 0.9 } }),
      { qos: 1 },
    );
    await c.endAsync();
    expect(
      stack.gateway.store.db
        .prepare("SELECT value FROM readings WHERE device = 'soil-1' AND metric = 'soil_ec'")
        .all(),
    ).toEqual([{ value: 0.9 }]);
    await expect(
      connect('soil-1', stack.secrets['soil-1'], url, { rejectUnauthorized: true }),
    ).rejects.toThrow(/certificate/i);
  });

  it('refuses and counts an oversized packet over WebSocket once, whichever frames it comes in', async () => {
    const url = `ws://127.0.0.1:${stack.gateway.ports.websocket}/mqtt`;
    const topic = deviceTopic('demo-farm', 'soil-1', 'up');
    // mqtt.js: the packet's fixed header in a frame of its own, the payload in the next.
    let before = await refused('packet_size');
    const c = await connect('soil-1', stack.secrets['soil-1'], url);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish(topic, 'x'.repeat(10_000), { qos: 0 });
    await closed;
    c.end(true);
    await eventually(async () => (await refused('packet_size')) === before + 1);
    // The whole packet in one frame over the limit: ws refuses the frame before the packet guard
    // reads a byte of it (close 1009), counted all the same.
    before = await refused('packet_size');
    const ws = new WebSocket(url, 'mqtt');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const code = new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)));
    // A PUBLISH of 10,000 bytes of payload, fixed header and all, sent as one frame.
    const topicBytes = Buffer.from(topic);
    const rest = 2 + topicBytes.length + 10_000;
    const header = Buffer.from([
      0x30,
      (rest & 0x7f) | 0x80,
      rest >> 7,
      topicBytes.length >> 8,
      topicBytes.length & 0xff,
    ]);
    ws.send(Buffer.concat([header, topicBytes, Buffer.alloc(10_000, 120)]));
    expect(await code).toBe(1009);
    await eventually(async () => (await refused('packet_size')) === before + 1);
  });

  it('accepts a device over MQTT-over-WebSocket', async () => {
    const c = await connect(
      'soil-1',
      stack.secrets['soil-1'],
      `ws://127.0.0.1:${stack.gateway.ports.websocket}/mqtt`,
    );
    await c.publishAsync(
      deviceTopic('demo-farm', 'soil-1', 'up'),
      JSON.stringify({ time: Date.now() - 2, values: { soil_temperature: 7.5 } }),
      { qos: 1 },
    );
    await c.endAsync();
    await eventually(() =>
      stack.gateway.store.db
        .prepare("SELECT 1 FROM readings WHERE device = 'soil-1' AND metric = 'soil_temperature'")
        .get(),
    );
  });
});
