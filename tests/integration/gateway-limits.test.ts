// The broker limits the refusal tests in gateway-broker.test.ts do not cover — connections,
// in-flight messages per device — and the rest of issue 4's broker and ingest promises: a device
// that drops off is marked offline by its last will on a retained `status`, dead letters are
// bounded (the newest kept) and visible, many messages share a commit under load, and a graceful
// stop stores every message it acknowledged. Real mqtt.js clients against a real gateway.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { AedesPublishPacket } from 'aedes';
import { deviceTopic } from '../../protocol/topics.ts';
import { imageryTopic } from '../../protocol/imagery.ts';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import { newSecret } from '../../firmware-config/provision.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const DAY = 86_400_000;
const FARM = 'demo-farm';
/** High enough that no test here trips the publish-rate limit by accident. */
const NO_RATE_LIMIT = { perSecond: 100_000, burst: 100_000 };
/** One metric per device, so a message is one reading. */
const METRIC: Record<string, string> = {
  'soil-1': 'soil_ec',
  'wx-1': 'air_temperature',
  'water-1': 'water_level',
};

function connect(stack: Stack, device: string, extra: mqtt.IClientOptions = {}) {
  return mqtt.connectAsync(stack.mqttUrl, {
    username: device,
    password: stack.secrets[device],
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  });
}
const refused = (stack: Stack, reason: string) =>
  stack.gateway.metrics.value('hatake_gateway_refused_total', { reason });
const metric = (stack: Stack, name: string, labels: Record<string, string> = {}) =>
  stack.gateway.metrics.value(name, labels);
const stored = (stack: Stack, device: string) =>
  (
    stack.gateway.store.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE device = ?').get(device) as {
      n: number;
    }
  ).n;
const storedTimes = (db: GatewayStore['db'], device: string) =>
  new Set(
    (db.prepare('SELECT time FROM readings WHERE device = ?').all(device) as { time: number }[]).map(
      (r) => r.time,
    ),
  );
/** A valid reading: the i-th value stays in every kit's range and within its step limit. */
const reading = (device: string, time: number, i = 0) =>
  JSON.stringify({ time, values: { [METRIC[device]!]: 1 + (i % 10) / 10 } });

const closed = (c: MqttClient) =>
  new Promise<void>((resolve) =>
    c.disconnected || !c.connected ? resolve() : c.once('close', () => resolve()),
  );

/** A connection attempt's outcome: CONNACK received, or the socket closed without one. */
function attempt(stack: Stack, device: string): Promise<{ connack: boolean; client: MqttClient }> {
  const client = mqtt.connect(stack.mqttUrl, {
    username: device,
    password: stack.secrets[device],
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ connack: true, client }));
    client.once('close', () => resolve({ connack: false, client }));
  });
}

/**
 * The retained messages the embedded broker holds for a topic: what aedes would send a new
 * subscriber (no MQTT client may subscribe to a `status` topic here, see below). aedes's types
 * leave `persistence` off the instance.
 */
async function retained(stack: Stack, topic: string): Promise<AedesPublishPacket[]> {
  const { persistence } = stack.gateway.broker!.aedes as unknown as {
    persistence: { createRetainedStream(pattern: string): AsyncIterable<AedesPublishPacket> };
  };
  const out: AedesPublishPacket[] = [];
  for await (const p of persistence.createRetainedStream(topic)) out.push(p);
  return out;
}

describe('broker limits, last will and dead letters', () => {
  let stack: Stack;
  let good: MqttClient;
  let goodTime = Date.now() - 3_600_000;

  beforeAll(async () => {
    stack = await startStack({
      server: false,
      mqtt: { maxConnections: 3, maxInflightPerDevice: 3, rate: NO_RATE_LIMIT },
      gateway: { retention: { rawMs: 90 * DAY, hourlyMs: 5 * 365 * DAY, deadLetters: 5 } },
    });
    good = await connect(stack, 'water-1');
  });
  afterAll(async () => {
    await good?.endAsync();
    await stack?.close();
  });

  /** The well-behaved device publishes one reading; it must be stored. */
  async function goodDeviceStillWorks() {
    const before = stored(stack, 'water-1');
    goodTime += 1000;
    await good.publishAsync(deviceTopic(FARM, 'water-1', 'up'), reading('water-1', goodTime, 3), { qos: 1 });
    expect(stored(stack, 'water-1')).toBe(before + 1);
  }
  const openConnections = () => metric(stack, 'hatake_gateway_connections');

  it('refuses a connection over maxConnections before any CONNACK, counts it, and admits one when a slot frees', async () => {
    await eventually(async () => (await openConnections()) === 1); // the good device
    const a = await connect(stack, 'soil-1');
    const b = await connect(stack, 'wx-1');
    expect(await openConnections()).toBe(3);
    const before = await refused(stack, 'connections');

    // The fourth socket is destroyed on accept: no CONNACK (MQTT 3.1.1 has no "server busy" code).
    const over = await attempt(stack, 'soil-1');
    expect(over.connack).toBe(false);
    over.client.end(true);
    expect(await refused(stack, 'connections')).toBe(before + 1);
    expect(await openConnections()).toBe(3);
    await goodDeviceStillWorks();

    // A freed slot is usable again.
    await a.endAsync();
    await eventually(async () => (await openConnections()) === 2);
    const again = await attempt(stack, 'soil-1');
    expect(again.connack).toBe(true);
    await again.client.endAsync();
    await b.endAsync();
    await eventually(async () => (await openConnections()) === 1);
    expect(await refused(stack, 'connections')).toBe(before + 1);
    await goodDeviceStillWorks();
  });

  it('closes a device that has more than maxInflightPerDevice publishes awaiting commit, and counts it', async () => {
    const c = await connect(stack, 'soil-1');
    const before = await refused(stack, 'inflight');
    const t0 = Date.now() - 7_200_000;
    const acked: number[] = [];
    // Written in one synchronous loop, the publishes reach the broker in one read: aedes
    // authorises the whole batch before the ingest's group commit releases any of them.
    for (let i = 0; i < 20; i++) {
      const time = t0 + i * 1000;
      c.publish(deviceTopic(FARM, 'soil-1', 'up'), reading('soil-1', time, i), { qos: 1 }, (err) => {
        if (!err) acked.push(time);
      });
    }
    await closed(c);
    c.end(true);
    // MQTT 3.1.1 has no negative PUBACK: the refusal is the closed connection.
    expect(await refused(stack, 'inflight')).toBeGreaterThan(before);
    const times = storedTimes(stack.gateway.store.db, 'soil-1');
    expect(times.size).toBeGreaterThan(0);
    expect(times.size).toBeLessThanOrEqual(3);
    for (const t of acked) expect(times.has(t)).toBe(true);
    await goodDeviceStillWorks();
  });

  it('marks a device that drops off offline through its last will, and its retained status says so', async () => {
    const status = deviceTopic(FARM, 'wx-1', 'status');
    // As sim/device.ts does: a retained last will on `status`, then a retained "online".
    const c = await connect(stack, 'wx-1', {
      clientId: 'wx-1-will',
      clean: false,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await c.publishAsync(status, 'online', { qos: 1, retain: true });
    const state = () => stack.gateway.store.devices().find((d) => d.id === 'wx-1');
    const shown = () => stack.gateway.status().devices.find((d) => d.id === 'wx-1');
    expect(state()?.online).toBe(true);
    expect(shown()?.online).toBe(true);
    expect((await retained(stack, status)).map((p) => p.payload.toString())).toEqual(['online']);

    // The radio link dies: no DISCONNECT, the socket just goes.
    c.stream.destroy();
    await eventually(() => state()?.online === false);
    expect(shown()?.online).toBe(false);
    // The will, not only the disconnect: the retained status now says "offline" …
    await eventually(async () => (await retained(stack, status))[0]?.payload.toString() === 'offline');
    const [will] = await retained(stack, status);
    expect(will!.retain).toBe(true);
    // … and the server is told, in the outbox.
    const events = (
      stack.gateway.store.db.prepare("SELECT body FROM outbox WHERE kind = 'device_status'").all() as {
        body: string;
      }[]
    ).map((r) => JSON.parse(r.body) as { device: string; online: boolean });
    expect(events.filter((e) => e.device === 'wx-1').map((e) => e.online)).toEqual(
      expect.arrayContaining([true, false]),
    );
    expect(events.filter((e) => e.device === 'wx-1').at(-1)!.online).toBe(false);

    // No device may read another's status over MQTT (devices subscribe only to their own `down`,
    // as issue 4 asks): the retained status is for the broker's own record, refused with 0x80.
    const before = await refused(stack, 'subscribe');
    const reader = await connect(stack, 'soil-1');
    await expect(reader.subscribeAsync(status, { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(await refused(stack, 'subscribe')).toBe(before + 1);
    await reader.endAsync();
    c.end(true);
    await goodDeviceStillWorks();
  });

  it('keeps only the newest dead letters past the bound, counts every rejection and shows them', async () => {
    const limit = stack.gateway.store.deadLetterLimit;
    expect(limit).toBe(5);
    const c = await connect(stack, 'soil-1');
    const rejectedTotal = () =>
      stack.gateway.metrics.registry
        .getSingleMetric('hatake_gateway_rejected_total')!
        .get()
        .then((m) => m.values.reduce((a, v) => a + v.value, 0));
    const before = await rejectedTotal();
    const sent = 8;
    for (let i = 0; i < sent; i++) {
      // Not JSON: decoded, refused, dead-lettered, and still acknowledged (the device must not resend it).
      await c.publishAsync(deviceTopic(FARM, 'soil-1', 'up'), `garbage #${i} ${'x'.repeat(100)}`, { qos: 1 });
    }
    expect(await rejectedTotal()).toBe(before + sent);
    const rows = stack.gateway.store.db
      .prepare('SELECT device, topic, code, head FROM dead_letters ORDER BY id')
      .all() as { device: string; topic: string; code: string; head: Buffer }[];
    expect(rows).toHaveLength(limit);
    expect(rows.map((r) => r.head.toString().split(' ')[1])).toEqual(['#3', '#4', '#5', '#6', '#7']);
    expect(rows.every((r) => r.device === 'soil-1' && r.topic === deviceTopic(FARM, 'soil-1', 'up'))).toBe(
      true,
    );
    expect(rows.every((r) => r.head.length === 64)).toBe(true);

    // Visible on the status page's JSON, newest first.
    const res = await fetch(`http://127.0.0.1:${stack.gateway.httpPort}/api/status`);
    const body = (await res.json()) as { deadLetters: { device: string; reason: string; code: string }[] };
    expect(body.deadLetters).toHaveLength(limit);
    expect(body.deadLetters.every((d) => d.device === 'soil-1' && d.reason.length > 0)).toBe(true);
    expect(body.deadLetters[0]!.code).toBe(rows.at(-1)!.code);
    await c.endAsync();
    await goodDeviceStillWorks();
  });
});

describe('group commit', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ server: false, mqtt: { rate: NO_RATE_LIMIT } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('commits many concurrent messages in far fewer transactions, storing every one', async () => {
    const devices = ['soil-1', 'wx-1', 'water-1'];
    const perDevice = 90; // under the default in-flight limit (100)
    const clients = await Promise.all(devices.map((d) => connect(stack, d)));
    const commits0 = await metric(stack, 'hatake_gateway_commits_total');
    const messages0 = await metric(stack, 'hatake_gateway_messages_total');
    const t0 = Date.now() - 3_600_000;
    await Promise.all(
      clients.flatMap((c, k) =>
        Array.from({ length: perDevice }, (_, i) =>
          c.publishAsync(deviceTopic(FARM, devices[k]!, 'up'), reading(devices[k]!, t0 + i * 1000, i), {
            qos: 1,
          }),
        ),
      ),
    );
    const messages = (await metric(stack, 'hatake_gateway_messages_total')) - messages0;
    const commits = (await metric(stack, 'hatake_gateway_commits_total')) - commits0;
    expect(messages).toBe(devices.length * perDevice);
    for (const d of devices) expect(stored(stack, d)).toBe(perDevice);
    expect(commits).toBeGreaterThan(0);
    expect(commits * 5).toBeLessThanOrEqual(messages);
    await Promise.all(clients.map((c) => c.endAsync()));
  });
});

/**
 * Streams QoS 1 readings from every device as fast as mqtt.js writes them and stops the gateway
 * mid-stream — when the devices have seen `after` PUBACKs, or when the gateway's ingest has been
 * handed `after` messages (so some are received and not yet committed) — then reopens the
 * database the stopped gateway left behind.
 */
async function stopMidStream(trigger: 'acknowledged' | 'received', after: number) {
  const stack = await startStack({
    server: false,
    mqtt: { rate: NO_RATE_LIMIT, maxInflightPerDevice: 100_000 },
  });
  try {
    const devices = ['soil-1', 'wx-1', 'water-1'];
    const perDevice = 2000;
    const clients = await Promise.all(devices.map((d) => connect(stack, d)));
    const acked = new Map<string, Set<number>>(devices.map((d) => [d, new Set()]));
    let ackCount = 0;
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= stack.gateway.stop());
    if (trigger === 'received') {
      // Test instrumentation only: the broker calls this method of the same Ingest instance.
      const ingest = stack.gateway.ingest;
      const submit = ingest.submit.bind(ingest);
      let n = 0;
      ingest.submit = (...args) => {
        const outcome = submit(...args);
        if (++n === after) void stop();
        return outcome;
      };
    }
    const t0 = Date.now() - 3_600_000;
    clients.forEach((c, k) => {
      const device = devices[k]!;
      for (let i = 0; i < perDevice; i++) {
        const time = t0 + i * 1000;
        c.publish(deviceTopic(FARM, device, 'up'), reading(device, time, i), { qos: 1 }, (err) => {
          if (err) return; // "Connection closed": never acknowledged
          acked.get(device)!.add(time);
          if (++ackCount === after && trigger === 'acknowledged') void stop();
        });
      }
    });
    await eventually(() => stopping !== undefined, 20_000); // (not the promise: eventually would await it)
    await stopping;
    await Promise.all(clients.map((c) => closed(c)));
    for (const c of clients) c.end(true);
    const received = await metric(stack, 'hatake_gateway_messages_total');
    const store = new GatewayStore(join(stack.dir, 'gateway', 'gateway.db'));
    try {
      const storedTimesBy = new Map(devices.map((d) => [d, storedTimes(store.db, d)]));
      return { sent: devices.length * perDevice, received, ackCount, acked, storedTimesBy };
    } finally {
      store.close();
    }
  } finally {
    rmSync(stack.dir, { recursive: true, force: true });
  }
}

// Gateway.stop first takes no new connections and commits what has arrived while the devices
// are still connected, so those PUBACKs go out; then it closes the connections and commits what
// arrived meanwhile (stored; its PUBACK is lost and the device's resend is not stored twice).
describe('graceful stop', () => {
  for (const trigger of ['acknowledged', 'received'] as const) {
    it(`stores every message it acknowledged when stopped mid-stream (stop after 300 ${trigger})`, async () => {
      const r = await stopMidStream(trigger, 300);
      expect(r.received).toBeGreaterThanOrEqual(300);
      expect(r.ackCount).toBeLessThan(r.sent); // really mid-stream
      let stored = 0;
      for (const [device, times] of r.storedTimesBy) {
        stored += times.size;
        for (const t of r.acked.get(device)!) expect(times.has(t)).toBe(true);
      }
      // Everything the broker handed to the ingest was committed by the drain: nothing received is lost.
      expect(stored).toBe(r.received);
      // And what had arrived when the stop began was acknowledged before the connections closed.
      expect(r.ackCount).toBeGreaterThanOrEqual(300);
    });
  }
});

describe('a device cut off for flooding', () => {
  it('is still reported offline by its last will, which the rate limit does not stop', async () => {
    const stack = await startStack({ server: false, mqtt: { rate: { perSecond: 2, burst: 5 } } });
    try {
      const status = deviceTopic(FARM, 'wx-1', 'status');
      const c = await connect(stack, 'wx-1', {
        clientId: 'wx-1-flood',
        will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
      });
      await c.publishAsync(status, 'online', { qos: 1, retain: true });
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      const before = await refused(stack, 'rate');
      const t0 = Date.now() - 3_600_000;
      for (let i = 0; i < 30; i++)
        c.publish(deviceTopic(FARM, 'wx-1', 'up'), reading('wx-1', t0 + i * 1000, 10));
      await closed;
      expect(await refused(stack, 'rate')).toBeGreaterThan(before);
      await eventually(async () => (await retained(stack, status))[0]?.payload.toString() === 'offline');
      expect(stack.gateway.store.devices().find((d) => d.id === 'wx-1')?.online).toBe(false);
      c.end(true);
    } finally {
      await stack.close();
    }
  });
});

describe('an imagery provider', () => {
  it("publishes under its own limit, not the devices', and is cut off past it", async () => {
    const stack = await startStack({
      server: false,
      mqtt: { rate: { perSecond: 1, burst: 3 }, providerRate: { perSecond: 1, burst: 40 } },
    });
    try {
      const secret = newSecret();
      const file = join(stack.dir, 'registry.json');
      const reg = JSON.parse(readFileSync(file, 'utf8')) as Registry;
      reg.providers = [{ id: 'sat-1', secretHash: hashSecret(secret), scopes: ['imagery'] }];
      writeFileSync(file, JSON.stringify(reg));
      expect(stack.gateway.registry.reload()).toBe(true);
      const p = await mqtt.connectAsync(stack.mqttUrl, {
        username: 'sat-1',
        password: secret,
        reconnectPeriod: 0,
      });
      const closedP = new Promise<void>((resolve) => p.once('close', () => resolve()));
      const before = await refused(stack, 'rate');
      // 30 chunk messages in a row: ten times the devices' burst, within the providers'.
      for (let n = 0; n < 30; n++)
        await p.publishAsync(imageryTopic(FARM, 'scene-x', `chunk/${n}`), Buffer.alloc(64, n), { qos: 1 });
      expect(await refused(stack, 'rate')).toBe(before);
      expect(p.connected).toBe(true);
      // Past its own burst it is refused like a flooding device.
      for (let n = 30; n < 60; n++)
        p.publish(imageryTopic(FARM, 'scene-x', `chunk/${n}`), Buffer.alloc(64, n), { qos: 1 });
      await closedP;
      expect(await refused(stack, 'rate')).toBeGreaterThan(before);
      p.end(true);
    } finally {
      await stack.close();
    }
  });
});
