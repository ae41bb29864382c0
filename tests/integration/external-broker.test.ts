// External-broker mode against a real broker: Debian's Mosquitto, started here on a free port, with
// the gateway as its QoS 1 client with a persistent session. hatake-format readings and ChirpStack
// v4 uplink events (real frames from the vendors' TTN Device Repository examples, decoded by their
// own codecs, found through the config's `codecs:` folder) and The Things Stack v3 `up` messages
// are stored once; a LoRaWAN frame heard
// by two gateways is stored once; a malformed event is dead-lettered and the next one still stored;
// and what is published while the gateway is down is delivered, once, when it comes back.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { parse as parseYamlText } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Gateway } from '../../gateway/gateway.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { writeExternalGateway } from '../helpers/external-gateway.ts';
import { isHatakeError } from '../../protocol/errors.ts';
import { eventually, quietLog } from '../helpers/stack.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';

const LORAWAN_DIR = join(import.meta.dirname, '../../../shared/data/lorawan');
const LSE01_EUI = 'a840414a71835f9d';
const ATM41_EUI = '70b3d57ed0000002';

const MANIFEST = `
farm: { id: ext-farm, name: External broker farm }
broker: { host: 127.0.0.1, port: 1883 }
fields:
  - id: paddy-1
    name: Paddy 1
    boundary: { type: Polygon, coordinates: [[[138.9, 37.8], [138.91, 37.8], [138.91, 37.81], [138.9, 37.81], [138.9, 37.8]]] }
devices:
  - { id: water-1, kit: hatake-paddy-water, field: paddy-1 }
  - { id: lse-1, kit: dragino-lse01, field: paddy-1, devEui: ${LSE01_EUI.toUpperCase()} }
  - { id: atm-1, kit: decentlab-dl-atm41, field: paddy-1, devEui: ${ATM41_EUI} }
`;

/** The first example of a vendor codec's TTN Device Repository description: its frame and output. */
function codecExample(file: string): { fPort: number; bytes: number[]; data: Record<string, unknown> } {
  const doc = parseYamlText(readFileSync(join(LORAWAN_DIR, file), 'utf8')) as {
    uplinkDecoder: {
      examples: { input: { fPort: number; bytes: number[] }; output: { data: Record<string, unknown> } }[];
    };
  };
  const ex = doc.uplinkDecoder.examples[0]!;
  return { fPort: ex.input.fPort, bytes: ex.input.bytes, data: ex.output.data };
}
const LSE01 = codecExample('dragino/lse01-codec.yaml');
const ATM41 = codecExample('decentlab/dl-atm41-codec.yaml');
const num = (v: unknown) => Number((v as { value?: unknown })?.value ?? v);

let dir: string;
let mosquitto: Mosquitto;
let gateway: Gateway | undefined;
let publisher: MqttClient;
let gatewayConfigFile: string;

const startGateway = async () => {
  const g = new Gateway(loadGatewayConfig(gatewayConfigFile), quietLog());
  await g.start();
  gateway = g;
  return g;
};
const gw = () => gateway!;

type Row = { device: string; metric: string; time: number; value: number; unit: string; flags: string };
const rows = (device: string): Row[] =>
  gw()
    .store.db.prepare(
      'SELECT device, metric, time, value, unit, flags FROM readings WHERE device = ? ORDER BY time, metric',
    )
    .all(device) as Row[];
const valueOf = (device: string, metric: string, time: number) =>
  rows(device).find((r) => r.metric === metric && r.time === time);

/** A ChirpStack v4 `event/up` as its MQTT integration publishes it. */
const chirpstackUp = (
  devEui: string,
  fCnt: number,
  time: number,
  frame: { fPort: number; bytes: number[] },
  gatewayId: string,
) => ({
  topic: `application/farm-app/device/${devEui}/event/up`,
  payload: JSON.stringify({
    deduplicationId: `dedup-${devEui}-${fCnt}-${gatewayId}`,
    time: new Date(time).toISOString(),
    deviceInfo: { tenantId: 'tenant', applicationId: 'farm-app', deviceName: devEui, devEui },
    devAddr: '01f8c6a3',
    fCnt,
    fPort: frame.fPort,
    data: Buffer.from(frame.bytes).toString('base64'),
    rxInfo: [{ gatewayId, rssi: -97, snr: 4.5 }],
    txInfo: { frequency: 923200000 },
  }),
});

/**
 * A The Things Stack v3 `up` message as its MQTT integration publishes it (TTS's default device id
 * `eui-…`, nanosecond timestamps, two gateways in rx_metadata, the Device Repository's payload
 * formatter output in decoded_payload beside the raw frm_payload).
 */
const ttsUp = (
  devEui: string,
  fCnt: number,
  time: number,
  frame: { fPort: number; bytes: number[]; data: Record<string, unknown> },
) => {
  const ns = (t: number) => new Date(t).toISOString().replace('Z', '123456Z');
  const deviceId = `eui-${devEui}`;
  return {
    topic: `v3/hatake-farm@ttn/devices/${deviceId}/up`,
    payload: JSON.stringify({
      end_device_ids: {
        device_id: deviceId,
        application_ids: { application_id: 'hatake-farm' },
        dev_eui: devEui.toUpperCase(),
        join_eui: '70B3D57ED0000000',
        dev_addr: '260B3C5A',
      },
      correlation_ids: [`as:up:01JDTTS${fCnt}`, `rpc:/ttn.lorawan.v3.AppAs/SimulateUplink:${fCnt}`],
      received_at: ns(time + 40),
      uplink_message: {
        session_key_id: 'AZN0c3mCk2Vn4rJ0hWq3Tw==',
        f_port: frame.fPort,
        f_cnt: fCnt,
        frm_payload: Buffer.from(frame.bytes).toString('base64'),
        decoded_payload: frame.data,
        rx_metadata: [
          {
            gateway_ids: { gateway_id: 'farm-gw-north', eui: '0016C001F153A14C' },
            time: ns(time - 5),
            timestamp: 2463457012,
            rssi: -101,
            channel_rssi: -101,
            snr: 2.25,
            uplink_token: 'ChsKGQoNZmFybS1ndy1ub3J0aBIIABbAAfFToUwQ9KfQ2Ag=',
            received_at: ns(time - 3),
          },
          {
            gateway_ids: { gateway_id: 'farm-gw-south', eui: '0016C001F1500000' },
            timestamp: 1174423001,
            rssi: -89,
            channel_rssi: -89,
            snr: 8.5,
            uplink_token: 'ChsKGQoNZmFybS1ndy1zb3V0aBIIABbAAfFQAAAQ2c+M3wQ=',
            received_at: ns(time - 2),
          },
        ],
        settings: {
          data_rate: { lora: { bandwidth: 125000, spreading_factor: 10, coding_rate: '4/5' } },
          frequency: '923200000',
          timestamp: 2463457012,
        },
        received_at: ns(time),
        consumed_airtime: '0.370688s',
        network_ids: {
          net_id: '000013',
          ns_id: 'EC656E0000000181',
          tenant_id: 'ttn',
          cluster_id: 'au1',
          cluster_address: 'au1.cloud.thethings.network',
        },
      },
    }),
  };
};

/** QoS 1 messages Mosquitto sent the gateway, sent again (DUP), and had acknowledged, from its log. */
const deliveries = (log: string) => ({
  sent: (log.match(/Sending PUBLISH to hatake-gw-ext \(d[01], q1/g) ?? []).length,
  acked: (log.match(/Received PUBACK from hatake-gw-ext/g) ?? []).length,
  redelivered: (log.match(/Sending PUBLISH to hatake-gw-ext \(d1/g) ?? []).length,
});
const publish = (m: { topic: string; payload: string }) =>
  publisher.publishAsync(m.topic, m.payload, { qos: 1 });
const metric = (name: string, labels: Record<string, string> = {}) => gw().metrics.value(name, labels);
const now = () => Date.now();

beforeAll(async () => {
  vi.stubEnv('HATAKE_CODEC_PATH', ''); // the codecs must come from the config file alone
  dir = mkdtempSync(join(tmpdir(), 'hatake-ext-'));
  mosquitto = await Mosquitto.start(dir);
  gatewayConfigFile = writeExternalGateway(dir, {
    id: 'gw-ext',
    manifest: MANIFEST,
    url: mosquitto.url,
    clientId: 'hatake-gw-ext',
    topics: [
      { filter: 'hatake/v1/+/+/up', format: 'hatake' },
      { filter: 'application/+/device/+/event/up', format: 'chirpstack' },
      { filter: 'v3/+/devices/+/up', format: 'tts' },
    ],
    extra: [`codecs: [${JSON.stringify(relative(dir, LORAWAN_DIR))}]`],
  });
  await startGateway();
  // The first session subscribes after CONNACK; publishing before its SUBACK would be lost.
  await mosquitto.waitFor(/Sending SUBACK to hatake-gw-ext/);
  publisher = await connectAsync(mosquitto.url, { clientId: 'test-publisher', reconnectPeriod: 0 });
});

afterAll(async () => {
  await publisher?.endAsync();
  await gateway?.stop();
  await mosquitto?.stop();
  vi.unstubAllEnvs();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('external-broker mode with Mosquitto', () => {
  it('uses the codec folder of its config file, resolved against that file', () => {
    expect(gw().config.codecs).toEqual([LORAWAN_DIR]);
    expect(gw().config.external?.clientId).toBe('hatake-gw-ext');
  });

  it('stores a hatake-format reading published to Mosquitto, once', async () => {
    const time = now() - 60_000;
    await publish({
      topic: 'hatake/v1/ext-farm/water-1/up',
      payload: JSON.stringify({ time, values: { water_level: 5.5 } }),
    });
    await eventually(() => rows('water-1').length > 0);
    expect(rows('water-1')).toMatchObject([{ metric: 'water_level', time, value: 5.5, unit: 'cm' }]);
    expect(await metric('hatake_gateway_messages_total')).toBe(1);
  });

  it('stores ChirpStack uplinks heard by two gateways once, in the catalogue units', async () => {
    const t1 = now() - 50_000;
    const t2 = now() - 40_000;
    const before = await metric('hatake_gateway_messages_total');
    await publish(chirpstackUp(LSE01_EUI, 1, t1, LSE01, '0016c001f153a14c'));
    await publish(chirpstackUp(LSE01_EUI, 1, t1 + 35, LSE01, '0016c001f1500000')); // the same frame
    await publish(chirpstackUp(LSE01_EUI, 2, t2, LSE01, '0016c001f153a14c'));
    await publish(chirpstackUp(ATM41_EUI, 7, t2, ATM41, '0016c001f153a14c'));
    // Received (the duplicate is counted as soon as it is decoded) and committed.
    await eventually(async () => (await metric('hatake_gateway_messages_total')) === before + 4);
    await eventually(() => {
      const dead = gw().store.deadLetters(1)[0];
      if (dead) throw new Error(`dead-lettered: ${dead.reason}`); // e.g. a codec not found
      return valueOf('lse-1', 'soil_vwc', t2) && valueOf('atm-1', 'battery', t2);
    });
    expect(await metric('hatake_gateway_duplicate_uplinks_total')).toBe(1);

    // Two frames of LSE01, each with its five metrics and the radio's rssi/snr; no third.
    const lse = rows('lse-1');
    expect([...new Set(lse.map((r) => r.time))]).toEqual([t1, t2]);
    expect(lse.filter((r) => r.time === t1).map((r) => r.metric)).toEqual([
      'battery',
      'probe_temperature',
      'rssi',
      'snr',
      'soil_ec',
      'soil_temperature',
      'soil_vwc',
    ]);
    // The vendor's example output, converted: % → m3/m3, µS/cm → dS/m.
    const d = LSE01.data;
    expect(valueOf('lse-1', 'soil_vwc', t2)?.value).toBeCloseTo(num(d.water_SOIL) / 100, 6);
    expect(valueOf('lse-1', 'soil_vwc', t2)?.unit).toBe('m3/m3');
    expect(valueOf('lse-1', 'soil_ec', t2)).toMatchObject({ unit: 'dS/m', flags: '["out_of_range"]' });
    expect(valueOf('lse-1', 'soil_ec', t2)?.value).toBeCloseTo(num(d.conduct_SOIL) / 1000, 6);
    expect(valueOf('lse-1', 'soil_temperature', t2)?.value).toBeCloseTo(num(d.temp_SOIL), 6);
    expect(valueOf('lse-1', 'probe_temperature', t2)?.value).toBeCloseTo(num(d.TempC_DS18B20), 6);
    expect(valueOf('lse-1', 'battery', t1)).toMatchObject({ value: num(d.Bat), unit: 'V' });
    expect(valueOf('lse-1', 'rssi', t1)).toMatchObject({ value: -97, unit: 'dBm' });

    const a = ATM41.data;
    expect(valueOf('atm-1', 'air_temperature', t2)).toMatchObject({
      value: num(a.air_temperature),
      unit: 'degC',
    });
    expect(valueOf('atm-1', 'air_pressure', t2)).toMatchObject({
      value: num(a.atmospheric_pressure),
      unit: 'kPa',
    });
    expect(valueOf('atm-1', 'air_humidity', t2)).toMatchObject({
      value: num(a.relative_humidity),
      unit: '%',
    });
    expect(valueOf('atm-1', 'battery', t2)).toMatchObject({ value: num(a.battery_voltage), unit: 'V' });
    expect(gw().store.deadLetters()).toEqual([]);
  });

  it('dead-letters a malformed event with its reason and still stores the next one', async () => {
    const t3 = now() - 30_000;
    const valid = chirpstackUp(LSE01_EUI, 3, t3, LSE01, '0016c001f153a14c');
    const before = await metric('hatake_gateway_messages_total');
    await publish({ topic: valid.topic, payload: valid.payload.slice(0, 40) }); // cut short: not JSON
    await publish(chirpstackUp('0000000000000bad', 1, t3, LSE01, '0016c001f153a14c')); // no such device
    await publish(valid);
    await eventually(async () => (await metric('hatake_gateway_messages_total')) === before + 3);
    await eventually(() => valueOf('lse-1', 'soil_vwc', t3));

    const dead = gw().store.deadLetters();
    expect(dead).toHaveLength(2);
    const [unknown, truncated] = dead; // newest first
    expect(truncated).toMatchObject({ topic: valid.topic, device: null });
    expect(truncated!.code).toMatch(/^HATAKE_E_/);
    expect(truncated!.reason).toMatch(/json/i);
    expect(Buffer.from(truncated!.head ?? []).toString()).toBe(valid.payload.slice(0, 40));
    expect(unknown).toMatchObject({ topic: 'application/farm-app/device/0000000000000bad/event/up' });
    expect(unknown!.reason).toMatch(/0000000000000bad/i);
    expect(await metric('hatake_gateway_rejected_total', { code: truncated!.code })).toBeGreaterThanOrEqual(
      1,
    );
    expect(valueOf('lse-1', 'soil_vwc', t3)?.value).toBeCloseTo(num(LSE01.data.water_SOIL) / 100, 6);
  });

  it('stores a The Things Stack v3 uplink in the catalogue units, and its duplicate not again', async () => {
    const t = now() - 35_000;
    const before = await metric('hatake_gateway_messages_total');
    const dupsBefore = await metric('hatake_gateway_duplicate_uplinks_total');
    const up = ttsUp(ATM41_EUI, 412, t, ATM41);
    await publish(up);
    await eventually(() => valueOf('atm-1', 'battery', t));
    await publish(up); // the same message again (a redelivery)
    // The same frame (DevEUI and f_cnt) reported again a quarter second later, as by a late gateway.
    await publish(ttsUp(ATM41_EUI, 412, t + 250, ATM41));
    await eventually(async () => (await metric('hatake_gateway_messages_total')) === before + 3);
    // Both copies recognised as the frame already stored (this times out if they were not).
    await eventually(async () => (await metric('hatake_gateway_duplicate_uplinks_total')) === dupsBefore + 2);
    expect(gw().store.deadLetters()).toHaveLength(2); // the two of the test before, no more

    // Stored at the network server's receive time (its nanoseconds cut to ms), once.
    const at = rows('atm-1').filter((r) => r.time === t);
    expect(at.map((r) => r.metric)).toEqual([...new Set(at.map((r) => r.metric))]);
    const a = ATM41.data;
    expect(valueOf('atm-1', 'air_temperature', t)).toMatchObject({
      value: num(a.air_temperature),
      unit: 'degC',
    });
    expect(valueOf('atm-1', 'air_pressure', t)).toMatchObject({
      value: num(a.atmospheric_pressure),
      unit: 'kPa',
    });
    expect(valueOf('atm-1', 'air_humidity', t)).toMatchObject({ value: num(a.relative_humidity), unit: '%' });
    expect(valueOf('atm-1', 'wind_speed', t)).toMatchObject({ value: num(a.wind_speed), unit: 'm/s' });
    expect(valueOf('atm-1', 'battery', t)).toMatchObject({ value: num(a.battery_voltage), unit: 'V' });
    // The radio readings are those of the gateway that heard it loudest.
    expect(valueOf('atm-1', 'rssi', t)).toMatchObject({ value: -89, unit: 'dBm' });
    expect(valueOf('atm-1', 'snr', t)).toMatchObject({ value: 8.5, unit: 'dB' });
    // Nothing under any other time: not the late copy's, not the event's outer received_at, not ours.
    expect(rows('atm-1').filter((r) => r.time > t - 1000 && r.time !== t)).toEqual([]);
  });

  it('gets what was published while it was down from its persistent session, exactly once', async () => {
    // Stopped only once Mosquitto has every PUBACK: nothing is left in flight to be sent again.
    await eventually(() => {
      const { sent, acked } = deliveries(mosquitto.log);
      return sent > 0 && sent === acked;
    });
    const stored = gw().store.readingCount();
    await gw().stop();
    gateway = undefined;
    await mosquitto.waitFor(/Client hatake-gw-ext (disconnected|closed its connection)/);

    const tw = now() - 20_000;
    const t4 = now() - 10_000;
    await publish({
      topic: 'hatake/v1/ext-farm/water-1/up',
      payload: JSON.stringify({ time: tw, values: { water_level: 6.25 } }),
    });
    await publish(chirpstackUp(LSE01_EUI, 4, t4, LSE01, '0016c001f153a14c'));
    await publish(chirpstackUp(LSE01_EUI, 4, t4 + 20, LSE01, '0016c001f1500000')); // the same frame

    const logFrom = mosquitto.log.length;
    await startGateway();
    await mosquitto.waitFor(/New client connected .* as hatake-gw-ext .*c0/, logFrom); // clean session off
    expect(mosquitto.log.slice(logFrom)).not.toMatch(/Received SUBSCRIBE from hatake-gw-ext/);
    await eventually(async () => (await metric('hatake_gateway_messages_total')) === 3);
    await eventually(() => valueOf('water-1', 'water_level', tw) && valueOf('lse-1', 'soil_vwc', t4));
    // Each queued message was sent once (no redelivery) and acknowledged.
    await eventually(() => deliveries(mosquitto.log.slice(logFrom)).acked === 3);
    expect(deliveries(mosquitto.log.slice(logFrom))).toEqual({ sent: 3, acked: 3, redelivered: 0 });
    expect(await metric('hatake_gateway_messages_total')).toBe(3);
    expect(await metric('hatake_gateway_duplicate_uplinks_total')).toBe(1);

    expect(valueOf('water-1', 'water_level', tw)).toMatchObject({ value: 6.25, unit: 'cm' });
    expect(rows('lse-1').filter((r) => r.time === t4)).toHaveLength(7);
    expect(rows('lse-1').filter((r) => r.time === t4 + 20)).toEqual([]);
    expect(gw().store.readingCount()).toBe(stored + 1 + 7);
  });
});

describe('the `codecs` setting', () => {
  it('without it, the gateway names at start the devices whose vendor codec it cannot find', async () => {
    const file = join(dir, 'no-codecs.yaml');
    writeFileSync(
      file,
      'id: gw-nocodec\ndataDir: gateway-nocodec\nmanifest: farm.yaml\nregistry: registry.json\n' +
        'mqtt: { enabled: false }\nhttp: { host: 127.0.0.1, port: 0 }\n',
    );
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const g = new Gateway(loadGatewayConfig(file), log);
    await g.start();
    await g.stop();
    const warnings = lines
      .map((l) => JSON.parse(l) as { msg: string; kit?: string; devices?: string[]; codecFile?: string })
      .filter((l) => l.msg.startsWith('vendor codec not found'));
    expect(warnings.map((w) => [w.kit, w.codecFile, w.devices])).toEqual([
      ['dragino-lse01', 'dragino/lse01.js', ['lse-1']],
      ['decentlab-dl-atm41', 'decentlab/dl-atm41.js', ['atm-1']],
    ]);
  });

  it('refuses a codec folder that does not exist, placed at its setting', () => {
    const file = join(dir, 'bad-codecs.yaml');
    writeFileSync(
      file,
      'id: gw-bad\ndataDir: gateway\nmanifest: farm.yaml\nregistry: registry.json\ncodecs: [no-such-folder]\n',
    );
    let err: unknown;
    try {
      loadGatewayConfig(file);
    } catch (e) {
      err = e;
    }
    expect(isHatakeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'HATAKE_E_CONFIG', place: { file, pointer: '/codecs/0' } });
    expect((err as Error).message).toContain(join(dir, 'no-such-folder'));
  });

  it('refuses a codec folder that is not a string, at its line', () => {
    const file = join(dir, 'bad-codecs-type.yaml');
    writeFileSync(
      file,
      'id: gw-bad\ndataDir: gateway\nmanifest: farm.yaml\nregistry: registry.json\ncodecs: [42]\n',
    );
    let err: unknown;
    try {
      loadGatewayConfig(file);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'HATAKE_E_CONFIG', place: { file, pointer: '/codecs/0', line: 5 } });
  });
});
