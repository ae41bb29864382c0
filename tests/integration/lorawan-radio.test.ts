// Which LoRaWAN gateways heard a device: ChirpStack v4 uplink events through a real Mosquitto (the
// gateway in external-broker mode) carry the network server's radio metadata; the gateway keeps,
// per device, the network-server gateway that heard the last uplink best (highest RSSI) and how
// many heard it — merged when the network server delivers one frame once per gateway — in its
// devices table, and shows them in the device list of its status page and in /api/status.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import type { GatewayStatus } from '../../gateway/http.ts';
import { writeExternalGateway } from '../helpers/external-gateway.ts';
import { eventually, quietLog } from '../helpers/stack.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';

const EUI = '70b3d57ed0000abc';
const MANIFEST = `
farm: { id: radio-farm, name: Radio farm }
broker: { host: 127.0.0.1, port: 1883 }
fields:
  - id: paddy-1
    name: Paddy 1
    boundary: { type: Polygon, coordinates: [[[138.9, 37.8], [138.91, 37.8], [138.91, 37.81], [138.9, 37.81], [138.9, 37.8]]] }
devices:
  - { id: node-1, kit: hatake-lpp-node, field: paddy-1, devEui: ${EUI} }
`;
/** CayenneLPP: channel 1, temperature, 22.5 °C. */
const FRAME = Buffer.from([0x01, 0x67, 0x00, 0xe1]).toString('base64');

let dir: string;
let mosquitto: Mosquitto;
let gateway: Gateway | undefined;
let publisher: MqttClient;
let configFile: string;

const start = async () => {
  gateway = new Gateway(loadGatewayConfig(configFile), quietLog());
  await gateway.start();
  return gateway;
};
const gw = () => gateway!;

/** A ChirpStack v4 `event/up` as heard by the given gateways. */
const uplink = (fCnt: number, time: number, rx: { gatewayId: string; rssi?: number; snr?: number }[]) =>
  publisher.publishAsync(
    `application/farm-app/device/${EUI}/event/up`,
    JSON.stringify({
      deduplicationId: `d-${fCnt}-${rx.map((r) => r.gatewayId).join('-')}`,
      time: new Date(time).toISOString(),
      deviceInfo: { tenantId: 't', applicationId: 'farm-app', deviceName: 'node-1', devEui: EUI },
      fCnt,
      fPort: 1,
      data: FRAME,
      rxInfo: rx,
    }),
    { qos: 1 },
  );

const status = async (): Promise<GatewayStatus> =>
  (await (await fetch(`http://127.0.0.1:${gw().httpPort}/api/status`)).json()) as GatewayStatus;
const node = async () => (await status()).devices.find((d) => d.id === 'node-1')!;
const stored = (time: number) =>
  gw().store.db.prepare("SELECT metric, value FROM readings WHERE device = 'node-1' AND time = ?").all(time);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-radio-'));
  mosquitto = await Mosquitto.start(dir);
  configFile = writeExternalGateway(dir, {
    id: 'gw-radio',
    manifest: MANIFEST,
    url: mosquitto.url,
    clientId: 'hatake-gw-radio',
    topics: [{ filter: 'application/+/device/+/event/up', format: 'chirpstack' }],
  });
  await start();
  await mosquitto.waitFor(/Sending SUBACK to hatake-gw-radio/);
  publisher = await connectAsync(mosquitto.url, { clientId: 'radio-publisher', reconnectPeriod: 0 });
});

afterAll(async () => {
  await publisher?.endAsync();
  await gateway?.stop();
  await mosquitto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('LoRaWAN radio metadata', () => {
  it('keeps the gateway that heard the last uplink best and how many heard it, in /api/status', async () => {
    const t1 = Date.now() - 60_000;
    await uplink(1, t1, [
      { gatewayId: '0016c001f1500001', rssi: -112, snr: -3.5 },
      { gatewayId: '0016c001f1500002', rssi: -87, snr: 7.25 },
      { gatewayId: '0016c001f1500003', rssi: -101, snr: 1 },
    ]);
    await eventually(() => stored(t1).length > 0);
    expect(await node()).toMatchObject({
      loraGateway: '0016c001f1500002',
      loraGateways: 3,
      rssi: -87,
      snr: 7.25,
    });
    expect(
      gw()
        .store.devices()
        .find((d) => d.id === 'node-1'),
    ).toMatchObject({
      loraGateway: '0016c001f1500002',
      loraGateways: 3,
    });
  });

  it('merges one frame delivered once per gateway, without storing its readings twice', async () => {
    const t2 = Date.now() - 50_000;
    await uplink(2, t2, [{ gatewayId: '0016c001f1500001', rssi: -110, snr: -2 }]);
    await eventually(() => stored(t2).length > 0);
    expect(await node()).toMatchObject({ loraGateway: '0016c001f1500001', loraGateways: 1, rssi: -110 });
    const readings = stored(t2).length;
    // The same frame (fCnt 2) from two more gateways, one of them louder.
    await uplink(2, t2 + 40, [{ gatewayId: '0016c001f1500004', rssi: -95, snr: 3 }]);
    await uplink(2, t2 + 80, [{ gatewayId: '0016c001f1500003', rssi: -120, snr: -8 }]);
    await eventually(async () => (await node()).loraGateways === 3);
    expect(await node()).toMatchObject({ loraGateway: '0016c001f1500004', loraGateways: 3, rssi: -95 });
    expect(await gw().metrics.value('hatake_gateway_duplicate_uplinks_total')).toBe(2);
    expect(stored(t2)).toHaveLength(readings);
    expect(stored(t2 + 40)).toEqual([]);

    // The next frame starts afresh.
    const t3 = Date.now() - 40_000;
    await uplink(3, t3, [{ gatewayId: '0016c001f1500002', rssi: -90 }]);
    await eventually(() => stored(t3).length > 0);
    expect(await node()).toMatchObject({ loraGateway: '0016c001f1500002', loraGateways: 1, rssi: -90 });
  });

  it('shows it, escaped, in the device list of the status page, and keeps it across a restart', async () => {
    const t4 = Date.now() - 30_000;
    await uplink(4, t4, [
      { gatewayId: '<b>barn</b>', rssi: -80, snr: 9.5 },
      { gatewayId: 'field-edge', rssi: -99 },
    ]);
    await eventually(async () => (await node()).loraGateway === '<b>barn</b>');
    const page = async (lang: string) =>
      (await fetch(`http://127.0.0.1:${gw().httpPort}/?lang=${lang}`)).text();
    const en = await page('en');
    expect(en).toContain('-80 dBm / 9.5 dB');
    expect(en).toContain('via &lt;b&gt;barn&lt;/b&gt; (+1 more)');
    expect(en).not.toContain('<b>barn</b>');
    expect(await page('ja')).toContain('受信: &lt;b&gt;barn&lt;/b&gt;（ほか1台）');

    await gw().stop();
    gateway = undefined;
    await start();
    expect(await node()).toMatchObject({ loraGateway: '<b>barn</b>', loraGateways: 2, rssi: -80, snr: 9.5 });
  });
});
