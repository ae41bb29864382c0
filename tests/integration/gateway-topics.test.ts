// Which topics a device may publish on: its own `up` (stored, at QoS 0 and 1) and `status`
// (recorded), nothing else — not its id under another farm, not its `down`, not a look-alike of
// its `up`. The broker recognises a device's own `up` without parsing it; these pin down that the
// shortcut accepts exactly what parsing the topic accepts, also after the registry's farm changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const FARM = 'demo-farm';
let stack: Stack;
let time = Date.now() - 3_600_000;

beforeAll(async () => {
  stack = await startStack({ server: false });
});
afterAll(async () => {
  await stack.close();
});

const connect = (device: string) =>
  mqtt.connectAsync(stack.mqttUrl, {
    username: device,
    password: stack.secrets[device],
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
const refused = (reason: string) => stack.gateway.metrics.value('hatake_gateway_refused_total', { reason });
const stored = (device: string) =>
  (
    stack.gateway.store.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE device = ?').get(device) as {
      n: number;
    }
  ).n;
const closed = (c: MqttClient) =>
  new Promise<void>((resolve) =>
    c.disconnected || !c.connected ? resolve() : c.once('close', () => resolve()),
  );
const reading = () => JSON.stringify({ time: (time += 1000), values: { water_level: 4 } });

describe('device topics', () => {
  it('stores what a device publishes on its own up topic, at QoS 1 and at QoS 0', async () => {
    const c = await connect('water-1');
    const before = stored('water-1');
    await c.publishAsync(deviceTopic(FARM, 'water-1', 'up'), reading(), { qos: 1 });
    expect(stored('water-1')).toBe(before + 1);
    await c.publishAsync(deviceTopic(FARM, 'water-1', 'up'), reading(), { qos: 0 });
    await eventually(() => stored('water-1') === before + 2);
    await c.endAsync();
  });

  it('records a status publish without closing the connection', async () => {
    const c = await connect('water-1');
    await c.publishAsync(deviceTopic(FARM, 'water-1', 'status'), 'offline', { qos: 1 });
    const row = stack.gateway.store.db.prepare('SELECT online FROM devices WHERE id = ?').get('water-1') as {
      online: number;
    };
    expect(row.online).toBe(0);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  for (const [what, topic] of [
    ['its id under another farm', deviceTopic('other-farm', 'water-1', 'up')],
    ['its down topic', deviceTopic(FARM, 'water-1', 'down')],
    ['a level below its up topic', `${deviceTopic(FARM, 'water-1', 'up')}/x`],
    ['its id in capitals', deviceTopic(FARM, 'WATER-1', 'up')],
    ['another root', `hatake/v2/${FARM}/water-1/up`],
  ] as const) {
    it(`refuses a publish on ${what}, closing the connection, and stores nothing`, async () => {
      const c = await connect('water-1');
      const before = { topic: await refused('topic'), stored: stored('water-1') };
      c.publish(topic, reading(), { qos: 1 });
      await closed(c);
      expect(await refused('topic')).toBe(before.topic + 1);
      expect(stored('water-1')).toBe(before.stored);
      c.end(true);
    });
  }

  it("follows a change of the registry's farm: the old farm's topic is refused, the new one's accepted", async () => {
    const registry = stack.gateway.registry;
    const c = await connect('water-1');
    await c.publishAsync(deviceTopic(FARM, 'water-1', 'up'), reading(), { qos: 1 }); // known topic
    registry.farm = 'renamed-farm';
    try {
      const before = stored('water-1');
      await c.publishAsync(deviceTopic('renamed-farm', 'water-1', 'up'), reading(), { qos: 1 });
      expect(stored('water-1')).toBe(before + 1);
      const refusedBefore = await refused('topic');
      c.publish(deviceTopic(FARM, 'water-1', 'up'), reading(), { qos: 1 });
      await closed(c);
      expect(await refused('topic')).toBe(refusedBefore + 1);
      expect(stored('water-1')).toBe(before + 1);
    } finally {
      registry.farm = FARM;
      c.end(true);
    }
  });
});
