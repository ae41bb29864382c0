// Malformed telemetry is refused with its reason recorded on the gateway (dead letters), the
// device keeps its connection, and its next valid reading is still accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let client: MqttClient;
const topic = deviceTopic('demo-farm', 'soil-1', 'up');

beforeAll(async () => {
  stack = await startStack({ server: false, maxPayloadBytes: 4096 });
  client = await mqtt.connectAsync(stack.mqttUrl, {
    username: 'soil-1',
    password: stack.secrets['soil-1'],
    reconnectPeriod: 0,
  });
});
afterAll(async () => {
  await client.endAsync();
  await stack.close();
});

const cases: [string, string | Buffer, string][] = [
  ['not JSON', 'soil_vwc=0.3', 'HATAKE_E_PAYLOAD_JSON'],
  ['NaN (not valid JSON)', '{"values":{"soil_vwc":NaN}}', 'HATAKE_E_PAYLOAD_JSON'],
  ['a string where a number belongs', '{"values":{"soil_vwc":"wet"}}', 'HATAKE_E_PAYLOAD_SCHEMA'],
  ['no values at all', '{"values":{}}', 'HATAKE_E_PAYLOAD_SCHEMA'],
  ['an unknown field', '{"values":{"soil_vwc":0.2},"admin":true}', 'HATAKE_E_PAYLOAD_SCHEMA'],
  [
    'an impossible time',
    '{"time":"2026-13-45T99:00:00Z","values":{"soil_vwc":0.2}}',
    'HATAKE_E_PAYLOAD_SCHEMA',
  ],
  ['a value far out of range', '{"values":{"soil_vwc":55}}', 'HATAKE_E_OUT_OF_RANGE'],
  // JSON.parse makes 1e999 Infinity, which the payload schema refuses as not a (finite) number.
  ['an overflowing number', '{"values":{"soil_temperature":1e999}}', 'HATAKE_E_PAYLOAD_SCHEMA'],
  ['a metric the kit does not have', '{"values":{"air_temperature":20}}', 'HATAKE_E_UNKNOWN_METRIC'],
  [
    'a payload over the size limit',
    JSON.stringify({ values: { soil_vwc: 0.2 }, pad: 'x'.repeat(5000) }),
    'HATAKE_E_PAYLOAD_SIZE',
  ],
  ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]), 'HATAKE_E_PAYLOAD_JSON'],
  ['a JSON array', '[1,2,3]', 'HATAKE_E_PAYLOAD_SCHEMA'],
  [
    'a prototype-pollution attempt',
    '{"values":{"soil_vwc":0.2},"__proto__":{"polluted":1}}',
    'HATAKE_E_PAYLOAD_SCHEMA',
  ],
];

describe('malformed telemetry', () => {
  it.each(cases)(
    'refuses %s with a recorded reason and keeps the connection',
    async (_name, payload, code) => {
      const before = stack.gateway.store.readingCount();
      await client.publishAsync(topic, payload, { qos: 1 }); // PUBACK'd: the dead letter is durable
      expect(client.connected).toBe(true);
      expect(stack.gateway.store.readingCount()).toBe(before);
      const [dead] = stack.gateway.store.deadLetters(1);
      expect(dead).toBeDefined();
      expect(dead!.code).toBe(code);
      expect(dead!.device).toBe('soil-1');
      expect(dead!.topic).toBe(topic);
      expect(dead!.reason.length).toBeGreaterThan(10);
      const head = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
      expect(Buffer.from(dead!.head!)).toEqual(head.subarray(0, 64));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  );

  it("still accepts the device's next valid reading", async () => {
    const time = Date.now() - 1000;
    await client.publishAsync(topic, JSON.stringify({ time, values: { soil_vwc: 0.27, soil_ec: 0.6 } }), {
      qos: 1,
    });
    const rows = stack.gateway.store.db
      .prepare('SELECT metric, value, flags FROM readings WHERE device = ? AND time = ? ORDER BY metric')
      .all('soil-1', time);
    expect(rows).toEqual([
      { metric: 'soil_ec', value: 0.6, flags: '[]' },
      { metric: 'soil_vwc', value: 0.27, flags: '[]' },
    ]);
  });

  it("stores a value outside the sensor's range but physically possible, flagged out_of_range", async () => {
    const time = Date.now() - 500;
    await client.publishAsync(topic, JSON.stringify({ time, values: { soil_vwc: 0.7 } }), { qos: 1 });
    const row = stack.gateway.store.db
      .prepare('SELECT value, flags FROM readings WHERE device = ? AND time = ?')
      .get('soil-1', time);
    expect(row).toEqual({ value: 0.7, flags: '["out_of_range"]' });
  });

  it('counts each rejection by its code', async () => {
    const rejected = (code: string) => stack.gateway.metrics.value('hatake_gateway_rejected_total', { code });
    expect(await rejected('HATAKE_E_PAYLOAD_JSON')).toBe(3);
    expect(await rejected('HATAKE_E_PAYLOAD_SIZE')).toBe(1);
    expect(await rejected('HATAKE_E_PAYLOAD_SCHEMA')).toBe(
      cases.filter(([, , code]) => code === 'HATAKE_E_PAYLOAD_SCHEMA').length,
    );
    expect(await rejected('HATAKE_E_OUT_OF_RANGE')).toBeGreaterThanOrEqual(1);
  });
});
