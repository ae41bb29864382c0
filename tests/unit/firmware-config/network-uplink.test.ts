// LoRaWAN network-server uplinks: ChirpStack v4 and The Things Stack v3 events → readings, with
// the kit's own codec on the raw frame or the server's decoded object, deduplicated by DevEUI +
// fCnt, radio metadata kept; bad events get coded errors.
import { afterAll, describe, expect, it } from 'vitest';
import { CodecSandbox } from '../../../firmware-config/codecs/sandbox.ts';
import {
  decodeNetworkUplink,
  isNetworkUplinkTopic,
  lorawanLookup,
} from '../../../firmware-config/network-uplink.ts';
import { UplinkDedup, uplinkKey } from '../../../firmware-config/uplink-dedup.ts';
import { catalogue, coded } from './helpers.ts';

const sandbox = new CodecSandbox();
afterAll(() => sandbox.close());
const cat = catalogue();
const lookup = lorawanLookup([
  { id: 'lse-1', kit: 'dragino-lse01', devEui: 'A840414A71835F9D' },
  { id: 'lpp-1', kit: 'hatake-lpp-node', devEui: '70b3d57ed0000001' },
  { id: 'atm-1', kit: 'decentlab-dl-atm41', devEui: '70b3d57ed0000002' },
]);
const LSE01 = Buffer.from([0xce, 0x29, 0x00, 0xf1, 0x07, 0xa5, 0x09, 0x9b, 0x6e, 0x28, 0x90]).toString(
  'base64',
);
const now = Date.UTC(2026, 10, 28, 5, 0, 0);
const enc = (o: unknown) => Buffer.from(JSON.stringify(o));

const chirpstack = (over: Record<string, unknown> = {}) => ({
  deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
  time: '2026-11-28T04:59:58.123Z',
  deviceInfo: {
    tenantId: 't',
    applicationId: 'app-1',
    deviceName: 'lse01-field-3',
    devEui: 'a840414a71835f9d',
  },
  devAddr: '01f8c6a3',
  fCnt: 42,
  fPort: 2,
  data: LSE01,
  rxInfo: [
    { gatewayId: '0016c001f153a14c', rssi: -97, snr: 4.5 },
    { gatewayId: '0016c001f1500000', rssi: -88, snr: 9.25 },
  ],
  txInfo: { frequency: 923200000 },
  ...over,
});

const tts = (over: Record<string, unknown> = {}) => ({
  end_device_ids: {
    device_id: 'lpp-1',
    application_ids: { application_id: 'farm' },
    dev_eui: '70B3D57ED0000001',
  },
  received_at: '2026-11-28T04:59:59.5Z',
  uplink_message: {
    f_port: 8,
    f_cnt: 113,
    frm_payload: Buffer.from([0x01, 0x67, 0x01, 0x10, 0x02, 0x68, 0x64]).toString('base64'),
    rx_metadata: [{ gateway_ids: { gateway_id: 'farm-gw' }, rssi: -60, channel_rssi: -60, snr: 11 }],
    received_at: '2026-11-28T04:59:59.400Z',
    ...over,
  },
});

const CS_TOPIC = 'application/app-1/device/a840414a71835f9d/event/up';
const TTS_TOPIC = 'v3/farm@ttn/devices/lpp-1/up';

describe('ChirpStack v4 uplink events', () => {
  it('decodes the raw frame with the kit codec and keeps the radio metadata of every gateway', () => {
    const up = decodeNetworkUplink(CS_TOPIC, enc(chirpstack()), {
      catalogue: cat,
      lookup,
      receivedAt: now,
      sandbox,
    });
    expect(up).toMatchObject({
      server: 'chirpstack',
      device: 'lse-1',
      kit: 'dragino-lse01',
      devEui: 'a840414a71835f9d',
      fCnt: 42,
      fPort: 2,
      duplicate: false,
    });
    expect(up.time).toBe(Date.parse('2026-11-28T04:59:58.123Z'));
    expect(up.radio).toEqual({
      rssi: -88,
      snr: 9.25,
      gateways: [
        { id: '0016c001f153a14c', rssi: -97, snr: 4.5 },
        { id: '0016c001f1500000', rssi: -88, snr: 9.25 },
      ],
    });
    const byMetric = Object.fromEntries(up.readings.map((r) => [r.metric, r.value]));
    expect(byMetric).toMatchObject({
      soil_vwc: 0.1957,
      soil_temperature: 24.59,
      soil_ec: 28.2,
      battery: 3.625,
      rssi: -88,
      snr: 9.25,
    });
  });

  it("maps the server's decoded object when there is no frame payload", () => {
    const ev = chirpstack({
      data: undefined,
      object: { Bat: 3.6, water_SOIL: '31.20', temp_SOIL: '18.5', conduct_SOIL: 410, TempC_DS18B20: '17.9' },
    });
    const up = decodeNetworkUplink(CS_TOPIC, enc(ev), { catalogue: cat, lookup, receivedAt: now, sandbox });
    expect(Object.fromEntries(up.readings.map((r) => [r.metric, r.value]))).toMatchObject({
      soil_vwc: 0.312,
      soil_ec: 0.41,
      battery: 3.6,
    });
  });

  it('reports a repeated DevEUI + fCnt as a duplicate, flags its readings, and forgets it after the window', () => {
    let clock = now;
    const dedup = new UplinkDedup({ windowMs: 60_000, clock: () => clock });
    const ctx = () => ({ catalogue: cat, lookup, receivedAt: clock, sandbox, dedup });
    expect(decodeNetworkUplink(CS_TOPIC, enc(chirpstack()), ctx()).duplicate).toBe(false);
    const again = decodeNetworkUplink(CS_TOPIC, enc(chirpstack()), ctx());
    expect(again.duplicate).toBe(true);
    expect(again.dedupKey).toBe(uplinkKey('A840414A71835F9D', 42));
    expect(again.readings.every((r) => r.flags.includes('duplicate'))).toBe(true);
    expect(decodeNetworkUplink(CS_TOPIC, enc(chirpstack({ fCnt: 43 })), ctx()).duplicate).toBe(false);
    clock += 61_000;
    expect(decodeNetworkUplink(CS_TOPIC, enc(chirpstack()), ctx()).duplicate).toBe(false);
  });

  it('refuses an event whose devEui differs from its topic, an unknown device, and junk', () => {
    const other = chirpstack({ deviceInfo: { devEui: '0000000000000001' } });
    expect(
      coded(() => decodeNetworkUplink(CS_TOPIC, enc(other), { catalogue: cat, lookup, receivedAt: now }))
        .code,
    ).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    const unknownTopic = 'application/app-1/device/0000000000000001/event/up';
    expect(
      coded(() => decodeNetworkUplink(unknownTopic, enc(other), { catalogue: cat, lookup, receivedAt: now }))
        .code,
    ).toBe('HATAKE_E_UNKNOWN_DEVICE');
    expect(
      coded(() =>
        decodeNetworkUplink(CS_TOPIC, Buffer.from('{not json'), { catalogue: cat, lookup, receivedAt: now }),
      ).code,
    ).toBe('HATAKE_E_PAYLOAD_JSON');
    expect(
      coded(() =>
        decodeNetworkUplink(CS_TOPIC, Buffer.alloc(100_000, 32), { catalogue: cat, lookup, receivedAt: now }),
      ).code,
    ).toBe('HATAKE_E_PAYLOAD_SIZE');
    expect(
      coded(() =>
        decodeNetworkUplink(CS_TOPIC, enc(chirpstack({ fCnt: -1 })), {
          catalogue: cat,
          lookup,
          receivedAt: now,
        }),
      ).code,
    ).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    expect(
      coded(() =>
        decodeNetworkUplink(CS_TOPIC, enc(chirpstack({ data: 'not base64!' })), {
          catalogue: cat,
          lookup,
          receivedAt: now,
        }),
      ).code,
    ).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    expect(
      coded(() =>
        decodeNetworkUplink(CS_TOPIC, enc(chirpstack({ data: undefined })), {
          catalogue: cat,
          lookup,
          receivedAt: now,
        }),
      ).code,
    ).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    expect(
      coded(() =>
        decodeNetworkUplink('hatake/v1/f/d/up', enc(chirpstack()), {
          catalogue: cat,
          lookup,
          receivedAt: now,
        }),
      ).code,
    ).toBe('HATAKE_E_TOPIC');
  });
});

describe('The Things Stack v3 uplink messages', () => {
  it('decodes frm_payload (CayenneLPP) and keeps the gateway id, RSSI and SNR', () => {
    const up = decodeNetworkUplink(TTS_TOPIC, enc(tts()), { catalogue: cat, lookup, receivedAt: now });
    expect(up).toMatchObject({
      server: 'tts',
      device: 'lpp-1',
      fCnt: 113,
      fPort: 8,
      radio: { rssi: -60, snr: 11, gateways: [{ id: 'farm-gw' }] },
    });
    expect(up.time).toBe(Date.parse('2026-11-28T04:59:59.400Z'));
    expect(Object.fromEntries(up.readings.map((r) => [r.metric, [r.value, r.unit]]))).toEqual({
      air_temperature: [27.2, 'degC'],
      air_humidity: [50, '%'],
      rssi: [-60, 'dBm'],
      snr: [11, 'dB'],
    });
  });

  it('maps decoded_payload (e.g. from the TTS CayenneLPP formatter) when there is no frm_payload', () => {
    const ev = tts({
      frm_payload: undefined,
      decoded_payload: { temperature_1: 21.5, barometric_pressure_3: 1013.2 },
    });
    const up = decodeNetworkUplink(TTS_TOPIC, enc(ev), { catalogue: cat, lookup, receivedAt: now });
    expect(Object.fromEntries(up.readings.map((r) => [r.metric, r.value]))).toMatchObject({
      air_temperature: 21.5,
      air_pressure: 101.32,
    });
  });

  it('takes f_cnt 0 when protobuf JSON leaves it out, and refuses a device id that is not the topic’s', () => {
    const ev = tts({ f_cnt: undefined });
    expect(decodeNetworkUplink(TTS_TOPIC, enc(ev), { catalogue: cat, lookup, receivedAt: now }).fCnt).toBe(0);
    expect(
      coded(() =>
        decodeNetworkUplink('v3/farm@ttn/devices/other/up', enc(tts()), {
          catalogue: cat,
          lookup,
          receivedAt: now,
        }),
      ).code,
    ).toBe('HATAKE_E_PAYLOAD_SCHEMA');
  });

  it('recognises both servers’ uplink topics and nothing else', () => {
    expect(isNetworkUplinkTopic(CS_TOPIC)).toBe(true);
    expect(isNetworkUplinkTopic(TTS_TOPIC)).toBe(true);
    expect(isNetworkUplinkTopic('application/app-1/device/a840414a71835f9d/event/join')).toBe(false);
    expect(isNetworkUplinkTopic('v3/farm@ttn/devices/lpp-1/join')).toBe(false);
  });
});

describe('UplinkDedup', () => {
  it('stays within its bound, forgetting the oldest keys first', () => {
    const d = new UplinkDedup({ max: 100, windowMs: 3_600_000, clock: () => 0 });
    for (let i = 0; i < 1000; i++) expect(d.seen(uplinkKey('a840414a71835f9d', i))).toBe(false);
    expect(d.size).toBeLessThanOrEqual(100);
    expect(d.seen(uplinkKey('a840414a71835f9d', 999))).toBe(true);
    expect(d.seen(uplinkKey('a840414a71835f9d', 0))).toBe(false);
  });
});
