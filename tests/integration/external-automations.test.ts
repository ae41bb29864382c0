// Automations on a gateway in external-broker mode (no embedded broker): the devices talk to a
// real Mosquitto, the gateway ingests from it, and the automation engine commands the water gate
// through the same broker, on the gate's `down` topic. A low paddy level published to Mosquitto
// opens the gate (a simulated one, a real mqtt.js client on Mosquitto); its reported state comes
// back through the gateway's ingest and confirms the command; a high level closes it. Before, a
// gateway without the embedded broker kept automations it could never run and reported them applied.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Automation } from '../../protocol/automation.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { SimulatedValve } from '../../sim/valve.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { writeExternalGateway } from '../helpers/external-gateway.ts';
import { eventually, quietLog } from '../helpers/stack.ts';
import { farmWithGates } from '../e2e/seed.ts';

const FARM = 'demo-farm';
let dir: string;
let mosquitto: Mosquitto;
let gateway: Gateway | undefined;
let sensor: MqttClient;
let gate: SimulatedValve;

const automation: Automation = {
  id: 'auto-ext-1',
  farm: FARM,
  field: 'paddy-1',
  name: { ja: '田んぼ1号の水位', en: 'Paddy 1 water level' },
  enabled: true,
  version: 1,
  trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
  below: { device: 'gate-1', command: 'open' },
  above: { device: 'gate-1', command: 'close' },
  limits: { maxRunsPerDay: 4, maxOpenMinutes: 120 },
  createdBy: 'demo-farmer',
  createdAt: Date.now() - 60_000,
};

const level = (cm: number) =>
  sensor.publishAsync(
    deviceTopic(FARM, 'water-1', 'up'),
    JSON.stringify({ time: Date.now(), values: { water_level: cm } }),
    { qos: 1 },
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-ext-automations-'));
  mosquitto = await Mosquitto.start(dir);
  const configFile = writeExternalGateway(dir, {
    id: 'gw-ext-auto',
    manifest: JSON.stringify(farmWithGates()), // JSON is YAML
    url: mosquitto.url,
    clientId: 'hatake-gw-ext-auto',
    topics: [{ filter: 'hatake/v1/+/+/up', format: 'hatake' }],
  });
  const config = loadGatewayConfig(configFile);
  // The automation as the downlink keeps it (gateway/downlink-apply.ts): the engine reads it at start.
  mkdirSync(config.dataDir, { recursive: true });
  const store = new GatewayStore(join(config.dataDir, 'gateway.db'));
  store.putDocument('automation', automation.id, 1, automation, Date.now());
  store.close();
  gateway = new Gateway(config, quietLog());
  await gateway.start();
  await mosquitto.waitFor(/Sending SUBACK to hatake-gw-ext-auto/);
  sensor = await connectAsync(mosquitto.url, { clientId: 'water-1', reconnectPeriod: 0 });
  gate = new SimulatedValve({ farm: FARM, device: 'gate-1', secret: '', brokerUrl: mosquitto.url });
  await gate.start();
});

afterAll(async () => {
  await gate?.stop();
  await sensor?.endAsync();
  await gateway?.stop();
  await mosquitto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('automations with an external broker and no embedded one', () => {
  it('runs the automation kept on the gateway: no embedded broker, yet an engine', () => {
    expect(gateway!.broker).toBeUndefined();
    expect(gateway!.automations!.status().automations).toMatchObject([{ id: automation.id, problem: null }]);
  });

  it('opens the gate through Mosquitto on a low level, and closes it on a high one', async () => {
    await level(2.1);
    await eventually(() => gate.state === 1, 10_000);
    // The gate's state came back through Mosquitto and the gateway's ingest.
    await eventually(
      () =>
        gateway!.store.db
          .prepare(
            "SELECT value FROM readings WHERE device = 'gate-1' AND metric = 'valve_state' ORDER BY time DESC",
          )
          .get() !== undefined,
      10_000,
    );
    await level(5.6);
    await eventually(() => gate.state === 0, 10_000);
    expect(mosquitto.log).toMatch(
      /Received PUBLISH from hatake-gw-ext-auto \(d0, q1, r0, m\d+, 'hatake\/v1\/demo-farm\/gate-1\/down'/,
    );
  });
});
