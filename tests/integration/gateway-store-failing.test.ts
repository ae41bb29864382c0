// A gateway whose store refuses writes for a reason other than a full disk (a card gone
// read-only or returning I/O errors, as a failing SD card does): no device gets a PUBACK, and the
// gateway must say so — /healthz 503 with the problem, the status page in the reader's language —
// until a commit succeeds again. The failure is injected into the store's commit; the devices,
// broker and HTTP server are real.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let base: string;
let client: mqtt.MqttClient;
const topic = 'hatake/v1/demo-farm/soil-1/up';
const payload = (v: number) => JSON.stringify({ time: Date.now(), values: { soil_vwc: v } });

beforeAll(async () => {
  stack = await startStack({ server: false });
  base = `http://127.0.0.1:${stack.gateway.httpPort}`;
  client = await mqtt.connectAsync(stack.mqttUrl, {
    username: 'soil-1',
    password: stack.secrets['soil-1'],
    // A refused publish closes the connection (MQTT 3.1.1 has no negative PUBACK): the device
    // reconnects and sends it again, as devices do.
    reconnectPeriod: 200,
  });
});
afterAll(async () => {
  await client?.endAsync();
  await stack?.close();
});

const health = async () => {
  const res = await fetch(`${base}/healthz`);
  return { status: res.status, body: (await res.json()) as { status: string; problems: string[] } };
};

describe('a store that refuses writes', () => {
  it('is a health problem until a commit succeeds again, and no message is acknowledged meanwhile', async () => {
    await client.publishAsync(topic, payload(0.21), { qos: 1 });
    expect((await health()).status).toBe(200);

    const store = stack.gateway.store;
    const commit = store.commit.bind(store);
    store.commit = () => {
      throw Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' });
    };
    let acked = false;
    void client.publishAsync(topic, payload(0.22), { qos: 1 }).then(() => (acked = true));
    await expect.poll(async () => (await health()).status, { timeout: 10_000, interval: 100 }).toBe(503);
    const h = await health();
    expect(h.body.problems).toContain(
      'store refusing writes: store refused the write: attempt to write a readonly database',
    );
    expect(acked).toBe(false);
    const gauge = async () =>
      /^hatake_gateway_health_problems\{code="store_failing"\} (\d+)$/m.exec(
        await (await fetch(`${base}/metrics`)).text(),
      )?.[1];
    expect(await gauge()).toBe('1');
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('データベースに書き込めません');
    const en = await (await fetch(`${base}/?lang=en`)).text();
    expect(en).toContain('The database cannot be written');

    // The card works again: the device's resend is stored, and the next commit clears it.
    store.commit = commit;
    await expect.poll(() => acked, { timeout: 10_000, interval: 100 }).toBe(true);
    await client.publishAsync(topic, payload(0.23), { qos: 1 });
    await expect.poll(async () => (await health()).status, { timeout: 10_000, interval: 100 }).toBe(200);
    expect((await health()).body.problems).toEqual([]);
    expect(await gauge()).toBeUndefined();
  });
});
