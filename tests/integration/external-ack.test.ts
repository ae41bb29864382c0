// External-broker mode acknowledges a QoS 1 message to the broker only once it is durable on the
// gateway, while many messages share a commit. The external broker here is a real aedes on port 0,
// watched from inside: at every PUBACK it receives from the gateway, the reading must already be
// in the gateway's SQLite file. When the store refuses (disk full), nothing is acknowledged; the
// gateway drops the connection, and after the reconnect the broker's persistent session delivers
// the messages again, each stored once.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import Database from 'better-sqlite3';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { writeExternalGateway } from '../helpers/external-gateway.ts';
import { eventually, quietLog } from '../helpers/stack.ts';

const MANIFEST = `
farm: { id: ack-farm, name: Ack farm }
fields: []
devices:
  - { id: soil-1, kit: hatake-soil-probe }
`;
const GATEWAY_CLIENT = 'hatake-gw-ack';
const TOPIC = 'hatake/v1/ack-farm/soil-1/up';

let dir: string;
let broker: Aedes;
let server: Server;
let gateway: Gateway;
let device: MqttClient;
/** A second connection to the gateway's database, as another process would read it. */
let reader: Database.Database;
/** Per PUBACK from the gateway: the reading's time, and whether it was in the file at that moment. */
const acks: { time: number; stored: boolean }[] = [];
let disconnects = 0;

const storedAt = (time: number) =>
  reader.prepare("SELECT COUNT(*) AS n FROM readings WHERE device = 'soil-1' AND time = ?").get(time) as {
    n: number;
  };
const payload = (time: number, i: number) =>
  JSON.stringify({ time, values: { soil_vwc: 0.2 + (i % 50) / 1000, soil_temperature: 12.5 } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-ext-ack-'));
  broker = await Aedes.createBroker();
  broker.on('ack', (packet: PublishPacket | { cmd: string }, client: Client) => {
    if (client.id !== GATEWAY_CLIENT || !('payload' in packet)) return;
    const time = (JSON.parse(packet.payload.toString()) as { time: number }).time;
    acks.push({ time, stored: storedAt(time).n === 2 }); // both metrics of the message
  });
  broker.on('clientDisconnect', (client: Client) => {
    if (client.id === GATEWAY_CLIENT) disconnects++;
  });
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const configFile = writeExternalGateway(dir, {
    id: 'gw-ack',
    manifest: MANIFEST,
    url: url,
    clientId: GATEWAY_CLIENT,
    topics: [{ filter: 'hatake/v1/+/+/up', format: 'hatake' }],
  });
  gateway = new Gateway(loadGatewayConfig(configFile), quietLog());
  await gateway.start();
  reader = new Database(join(dir, 'gateway', 'gateway.db'), { readonly: true, fileMustExist: true });
  // Subscribed (its SUBACK) before anything is published, or the first messages go nowhere.
  await eventually(() => gateway.store.getMeta('external_subscriptions') !== undefined);
  device = await connectAsync(url, { clientId: 'soil-1-pub', reconnectPeriod: 0 });
}, 60_000);

afterAll(async () => {
  await device?.endAsync();
  reader?.close();
  await gateway?.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('external-broker mode, QoS 1', () => {
  it('acknowledges each message only once it is durable, with many messages per commit', async () => {
    const t0 = Date.now() - 3_600_000;
    const n = 400;
    const commits0 = await gateway.metrics.value('hatake_gateway_commits_total');
    await Promise.all(
      Array.from({ length: n }, (_, i) => device.publishAsync(TOPIC, payload(t0 + i * 1000, i), { qos: 1 })),
    );
    await eventually(() => acks.filter((a) => a.time >= t0).length === n, 30_000);
    const mine = acks.filter((a) => a.time >= t0);
    expect(mine.filter((a) => !a.stored)).toEqual([]);
    expect(new Set(mine.map((a) => a.time)).size).toBe(n);
    // In the order the broker sent them (MQTT asks PUBACKs in order).
    expect(mine.map((a) => a.time)).toEqual([...mine.map((a) => a.time)].sort((a, b) => a - b));
    const stored = reader
      .prepare("SELECT COUNT(*) AS n FROM readings WHERE device = 'soil-1' AND time >= ?")
      .get(t0) as { n: number };
    expect(stored.n).toBe(2 * n); // two metrics a message, each once
    const commits = (await gateway.metrics.value('hatake_gateway_commits_total')) - commits0;
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThan(n / 4);
  }, 60_000);

  it('acknowledges nothing the store refused, and stores it once when the broker delivers it again', async () => {
    const t0 = Date.now() - 1_800_000;
    const disconnects0 = disconnects;
    gateway.store.refuseWrites = true; // as when the disk is nearly full
    for (let i = 0; i < 5; i++) await device.publishAsync(TOPIC, payload(t0 + i * 1000, i), { qos: 1 });
    // Refused: the gateway drops its connection rather than acknowledge.
    await eventually(() => disconnects > disconnects0, 10_000);
    expect(acks.filter((a) => a.time >= t0 && a.time < t0 + 5000)).toEqual([]);
    expect(storedAt(t0).n).toBe(0);

    gateway.store.refuseWrites = false;
    // The persistent session delivers them again after the reconnect: stored once, then acknowledged.
    await eventually(() => acks.filter((a) => a.time >= t0 && a.time < t0 + 5000).length >= 5, 30_000);
    for (let i = 0; i < 5; i++) expect(storedAt(t0 + i * 1000).n).toBe(2); // two metrics, once each
    expect(acks.filter((a) => a.time >= t0 && a.time < t0 + 5000 && !a.stored)).toEqual([]);
  }, 60_000);
});
