// Every example in the TTN Device Repository codec YAMLs (../shared/data/lorawan) decodes to its
// expected output through hatake's sandbox, and the kit maps it to catalogue metrics in storage
// units.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CodecSandbox } from '../../../firmware-config/codecs/sandbox.ts';
import { codecSourceOf } from '../../../firmware-config/catalogue.ts';
import { decodePayload } from '../../../firmware-config/decode.ts';
import { mapUplinkFields } from '../../../firmware-config/uplink-fields.ts';
import { METRICS, isMetricName } from '../../../protocol/metrics.ts';
import { LORAWAN_DIR, catalogue, coded } from './helpers.ts';

interface Example {
  description: string;
  input: { fPort: number; bytes: number[] };
  output: { data?: unknown; errors?: string[] };
}

const sandbox = new CodecSandbox();
afterAll(() => sandbox.close());
const cat = catalogue();

const examples: Array<[string, string, Example]> = [];
for (const vendor of readdirSync(LORAWAN_DIR)) {
  for (const name of readdirSync(join(LORAWAN_DIR, vendor)).filter((n) => n.endsWith('-codec.yaml'))) {
    const doc = parse(readFileSync(join(LORAWAN_DIR, vendor, name), 'utf8')) as {
      uplinkDecoder: { fileName: string; examples: Example[] };
    };
    // Only uplink examples: DL-ATM41's downlink examples refer to a codec that is not included.
    for (const ex of doc.uplinkDecoder.examples)
      examples.push([`${vendor}/${doc.uplinkDecoder.fileName}`, ex.description, ex]);
  }
}

describe('vendor codecs in the sandbox', () => {
  it('finds the examples of all four codec files', () => {
    expect(new Set(examples.map((e) => e[0]))).toEqual(
      new Set([
        'dragino/lse01.js',
        'decentlab/dl-smtp.js',
        'decentlab/dl-atm41.js',
        'sensecap/sensecap210x-common-decoder.js',
      ]),
    );
    expect(examples.length).toBe(9);
  });

  it.each(examples)('%s — %s decodes to its expected output', (codecFile, _description, ex) => {
    const source = readFileSync(join(LORAWAN_DIR, codecFile), 'utf8');
    const out = sandbox.decodeUplink(source, codecFile, {
      bytes: ex.input.bytes,
      fPort: ex.input.fPort,
      recvTime: Date.UTC(2026, 10, 28),
    });
    expect(out).toEqual(ex.output);
  });
});

const at = Date.UTC(2026, 10, 28, 3, 0, 0);
const decode = (kitId: string, bytes: number[], fPort: number) =>
  decodePayload(new Uint8Array(bytes), {
    device: 'dev-1',
    kit: cat.require(kitId),
    receivedAt: at,
    fPort,
    sandbox,
  });
const values = (rs: ReturnType<typeof decode>) =>
  Object.fromEntries(rs.map((r) => [r.metric, [r.value, r.unit, ...r.flags]]));

describe('vendor codec output mapped to catalogue metrics', () => {
  it('loads every vendor codec the shipped kits name', () => {
    expect(cat.problems).toEqual([]);
    for (const k of cat.kits.values())
      if (k.codec === 'ttn-js') expect(codecSourceOf(k)?.source).toContain('decodeUplink');
  });

  it('Dragino LSE01: "19.57" % moisture → m3/m3, µS/cm → dS/m, strings → numbers', () => {
    const rs = decode('dragino-lse01', [0xce, 0x29, 0x00, 0xf1, 0x07, 0xa5, 0x09, 0x9b, 0x6e, 0x28, 0x90], 2);
    expect(values(rs)).toEqual({
      soil_vwc: [0.1957, 'm3/m3'],
      soil_temperature: [24.59, 'degC'],
      soil_ec: [28.2, 'dS/m', 'out_of_range'], // 28 200 µS/cm is beyond the LSE01's 20 dS/m range
      probe_temperature: [24.1, 'degC'],
      battery: [3.625, 'V'],
    });
    expect(rs.every((r) => r.time === at && r.device === 'dev-1')).toBe(true);
  });

  it('Dragino LSE01 on an unknown fPort is a coded codec error', () => {
    expect(
      coded(() => decode('dragino-lse01', [0xce, 0x29, 0, 0xf1, 7, 0xa5, 9, 0x9b, 0x6e, 0x28, 0x90], 42))
        .code,
    ).toBe('HATAKE_E_CODEC');
  });

  it('Decentlab DL-SMTP: six connected depths, the two without a sensor give no reading', () => {
    const bytes = [
      0x02, 0x0b, 0x50, 0x00, 0x03, 0x09, 0x01, 0x8a, 0x8c, 0x09, 0x43, 0x8a, 0x98, 0x09, 0x27, 0x8a, 0x92,
      0x0b, 0x3c, 0x8a, 0xa5, 0x0c, 0x9c, 0x8a, 0x8c, 0x11, 0xe0, 0x8a, 0xa5, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x0b, 0x3b,
    ];
    const v = values(decode('decentlab-dl-smtp', bytes, 1));
    expect(v.soil_moisture_index_0).toEqual([-0.39, '1']);
    expect(v.soil_temperature_5).toEqual([27.25, 'degC']);
    expect(v.battery).toEqual([2.875, 'V']);
    expect(v.soil_temperature_6).toBeUndefined();
    expect(v.soil_moisture_index_7).toBeUndefined();
    expect(Object.keys(v)).toHaveLength(13);
    expect(values(decode('decentlab-dl-smtp', [0x02, 0x0b, 0x50, 0x00, 0x02, 0x0b, 0x3b], 1))).toEqual({
      battery: [2.875, 'V'],
    });
  });

  it('Decentlab DL-ATM41: W⋅m⁻², m⋅s⁻¹, kPa and °C become W/m2, m/s, kPa and degC', () => {
    const bytes = [
      0x02, 0x03, 0x5a, 0x00, 0x03, 0x80, 0x0a, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x09, 0x81, 0x2b,
      0x80, 0x14, 0x81, 0x08, 0x80, 0xb4, 0xa5, 0x7c, 0x82, 0x0c, 0x81, 0x09, 0x80, 0x02, 0x7f, 0xe8, 0x80,
      0x56, 0x80, 0x08, 0x80, 0x04, 0x0b, 0xf5,
    ];
    expect(values(decode('decentlab-dl-atm41', bytes, 1))).toEqual({
      air_temperature: [26.4, 'degC'],
      air_humidity: [52.4, '%'],
      air_pressure: [95.96, 'kPa'],
      vapor_pressure: [1.8, 'kPa'],
      rain: [0, 'mm'],
      wind_speed: [0.09, 'm/s'],
      wind_gust: [0.2, 'm/s'],
      wind_direction: [29.9, 'deg'],
      solar_radiation: [10, 'W/m2'],
      lightning_strikes: [0, '1'],
      lightning_distance: [0, 'km'],
      battery: [3.061, 'V'],
    });
    for (const [m, [, unit]] of Object.entries(values(decode('decentlab-dl-atm41', bytes, 1)))) {
      if (isMetricName(m)) expect(unit).toBe(METRICS[m].unit);
    }
  });

  it('SenseCAP S2101: measurement ids 4097 / 4098 become air temperature and humidity', () => {
    expect(
      values(decode('sensecap-s2101', [1, 1, 16, 152, 83, 0, 0, 1, 2, 16, 168, 122, 0, 0, 175, 81], 1)),
    ).toEqual({
      air_temperature: [21.4, 'degC'],
      air_humidity: [31.4, '%'],
    });
    expect(
      values(
        decode(
          'sensecap-s2101',
          [0, 0, 0, 1, 1, 0, 1, 0, 7, 0, 100, 0, 60, 0, 1, 32, 1, 0, 0, 0, 0, 40, 144],
          1,
        ),
      ),
    ).toEqual({ battery_level: [100, '%'] });
  });

  it('SenseCAP S2105 maps the same codec to soil metrics (ids 4102 / 4103 / 4108)', () => {
    // Telemetry frames for 4102 = 21.4 °C and 4103 = 31.4 %, built like the S210x example.
    const bytes = [1, 6, 16, 152, 83, 0, 0, 1, 7, 16, 168, 122, 0, 0, 0, 0];
    expect(values(decode('sensecap-s2105', bytes, 1))).toEqual({
      soil_temperature: [21.4, 'degC'],
      soil_vwc: [0.314, 'm3/m3'],
    });
  });

  it('accepts the S210x sensor-id frame sent at join (no readings by design) with nothing stored', () => {
    // The codec YAML's "Report sensor's metadatas" example: upload_sensor_id messages only.
    const meta = [
      1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 106, 1, 0, 21, 1, 3, 0, 48, 241, 247, 44, 1, 4, 0, 9, 12, 19, 20, 1, 5, 0,
      127, 77, 0, 0, 1, 6, 0, 0, 0, 0, 0, 76, 190,
    ];
    expect(decode('sensecap-s2101', meta, 1)).toEqual([]);
    expect(decode('sensecap-s2105', meta, 1)).toEqual([]);
    // Without its infoFrames the kit refuses that frame's decoded object, as any frame it does not
    // describe; a "sensor removed" frame alone is not an info frame and is refused either way.
    const decoded = examples.find((x) => x[1] === "Report sensor's metadatas")![2].output.data;
    const kit = cat.require('sensecap-s2101');
    expect(mapUplinkFields(kit, decoded)).toEqual([]);
    const e = coded(() => mapUplinkFields({ ...kit, infoFrames: undefined }, decoded));
    expect(e.code).toBe('HATAKE_E_CODEC');
    expect(e.message).toContain('it has "valid", "err", "payload", "messages"');
    const removed = { valid: true, err: 0, messages: [{ type: 'report_remove_sensor', channel: 1 }] };
    expect(coded(() => mapUplinkFields(kit, removed)).code).toBe('HATAKE_E_CODEC');
  });

  it('refuses a frame with none of the kit’s fields (an S2101 air frame on an S2105 soil kit)', () => {
    // Accepted, it would store nothing and the device would look silent; refused, the dead letter
    // says which fields the codec gave and which the kit expects.
    const air = [1, 1, 16, 152, 83, 0, 0, 1, 2, 16, 168, 122, 0, 0, 175, 81];
    const e = coded(() => decode('sensecap-s2105', air, 1));
    expect(e.code).toBe('HATAKE_E_CODEC');
    expect(e.message).toContain('none of kit "sensecap-s2105"');
    expect(e.message).toMatch(/it has "\w+"/);
    expect(e.expected).toContain('measurementId=4102');
  });
});
