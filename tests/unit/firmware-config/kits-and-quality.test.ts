// The kit catalogue as data, CayenneLPP, calibration, unit conversion, actuator commands and the
// quality flags (range at decode; spike, stuck, duplicate, clock skew from the tracker).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkKitFile, loadCatalogue } from '../../../firmware-config/catalogue.ts';
import { decodeCayenneLpp } from '../../../firmware-config/codecs/cayenne-lpp.ts';
import { polynomial, topp } from '../../../firmware-config/calibration.ts';
import { encodeCommand } from '../../../firmware-config/commands.ts';
import { decodePayload } from '../../../firmware-config/decode.ts';
import { QualityTracker } from '../../../firmware-config/quality-tracker.ts';
import { convertUnit } from '../../../firmware-config/units.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { catalogue, coded } from './helpers.ts';

const cat = catalogue();
const enc = (o: unknown) => new Uint8Array(Buffer.from(JSON.stringify(o)));

describe('the kit catalogue', () => {
  it('ships the soil probe, weather station, paddy water level, water gate and the LoRaWAN devices', () => {
    const ids = [...cat.kits.keys()];
    for (const id of [
      'hatake-soil-probe',
      'hatake-weather-station',
      'hatake-paddy-water',
      'hatake-water-gate',
      'hatake-lpp-node',
      'dragino-lse01',
      'decentlab-dl-smtp',
      'decentlab-dl-atm41',
      'sensecap-s2101',
      'sensecap-s2105',
    ])
      expect(ids).toContain(id);
    expect(Object.keys(cat.require('hatake-weather-station').metrics)).toEqual(
      expect.arrayContaining([
        'air_temperature',
        'air_humidity',
        'rain',
        'wind_speed',
        'solar_radiation',
        'leaf_wetness',
      ]),
    );
    expect(Object.keys(cat.require('hatake-water-gate').commands ?? {})).toEqual([
      'open',
      'close',
      'open_for',
    ]);
  });

  it('refuses a command whose name breaks the naming rule, with its place', () => {
    const text =
      'id: acme-gate\nname: { ja: 水門, en: Gate }\ncodec: json\ninterval: 60\nmetrics:\n  valve_state: { unit: "1", min: 0, max: 1 }\ncommands:\n  "Open Now": { name: { ja: 開, en: Open }, payload: { command: open } }\n';
    const { kit, problems } = checkKitFile('acme-gate.yaml', text);
    expect(kit).toBeUndefined();
    expect(problems[0]).toMatchObject({ code: 'HATAKE_E_CONFIG' });
    expect(problems[0]!.place).toMatchObject({ file: 'acme-gate.yaml', line: 8 });
  });

  it('takes a partner kit dropped into a folder, and lets it override a built-in one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-kits-'));
    try {
      writeFileSync(
        join(dir, 'acme-leaf.yaml'),
        'id: acme-leaf\nname: { ja: 葉面センサー, en: Leaf sensor }\ncodec: json\ninterval: 300\nmetrics:\n  leaf_wetness: { unit: "%", min: 0, max: 100 }\n  leaf_temperature: { unit: degC, min: -20, max: 60, name: { ja: 葉温, en: Leaf temperature } }\n',
      );
      writeFileSync(
        join(dir, 'paddy.yaml'),
        'id: hatake-paddy-water\nname: { ja: 水位, en: Level }\ncodec: json\ninterval: 30\nmetrics:\n  water_level: { unit: cm, min: 0, max: 30 }\n',
      );
      const c = loadCatalogue([dir]);
      const leaf = c.require('acme-leaf');
      expect(
        decodePayload(enc({ values: { leaf_temperature: 21.5 } }), {
          device: 'l1',
          kit: leaf,
          receivedAt: 0,
        })[0],
      ).toMatchObject({
        metric: 'leaf_temperature',
        unit: 'degC',
      });
      expect(c.require('hatake-paddy-water').interval).toBe(30);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [
      'a well-known metric in the wrong unit',
      'metrics:\n  soil_vwc: { unit: "%", min: 0, max: 60 }\n',
      'stored in m3/m3',
      8,
    ],
    [
      'a range beyond the physical one',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 2 }\n',
      'physically possible',
      8,
    ],
    [
      'an unknown unit',
      'metrics:\n  x_level: { unit: furlong, min: 0, max: 1, name: { ja: x, en: x } }\n',
      'not known',
      8,
    ],
    ['an unnamed metric of its own', 'metrics:\n  x_level: { unit: cm, min: 0, max: 1 }\n', 'has no name', 8],
    ['min not below max', 'metrics:\n  soil_vwc: { unit: m3/m3, min: 0.5, max: 0.1 }\n', 'not below max', 8],
    [
      'an unknown codec',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\n',
      'union',
      3,
      'codec: protobuf',
    ],
    [
      'a mapping to a missing metric',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\nuplink:\n  - { path: a.b, metric: soil_ec }\n',
      'not among',
      10,
      'codec: cayenne-lpp',
    ],
    [
      'a bad field path',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\nuplink:\n  - { path: "a[", metric: soil_vwc }\n',
      'not a field path',
      10,
      'codec: cayenne-lpp',
    ],
    [
      'a bad infoFrames path',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\nuplink:\n  - { path: a, metric: soil_vwc }\ninfoFrames: ["x[1"]\n',
      'not a field path',
      11,
      'codec: cayenne-lpp',
    ],
    [
      'infoFrames on a json kit',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\ninfoFrames: [version]\n',
      'the json codec has none',
      9,
    ],
    [
      'an inconvertible unit',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\nuplink:\n  - { path: a, metric: soil_vwc, unit: degC }\n',
      'cannot be converted',
      10,
      'codec: cayenne-lpp',
    ],
    [
      'a codec file escaping its folder',
      'metrics:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\ncodecFile: ../../etc/x.js\nuplink:\n  - { path: a, metric: soil_vwc }\n',
      'relative path',
      9,
      'codec: ttn-js',
    ],
    [
      'a typo in a top-level key',
      'metric:\n  soil_vwc: { unit: m3/m3, min: 0, max: 1 }\n',
      'Unexpected property',
      8,
    ],
  ])('places a kit file problem: %s', (_what, tail, message, line, codec = 'codec: json') => {
    const { kit, problems } = checkKitFile(
      'k1.yaml',
      `id: k1\nname: { ja: k, en: k }\n${codec}\ninterval: 60\n\n\n${tail}`,
    );
    expect(kit).toBeUndefined();
    expect(problems.map((p) => p.message).join(' | ')).toMatch(message);
    expect(problems[0]!.place?.file).toBe('k1.yaml');
    expect(problems.some((p) => p.place?.line === line)).toBe(true);
  });
});

describe('CayenneLPP', () => {
  it('decodes the example of The Things Stack documentation', () => {
    expect(decodeCayenneLpp(new Uint8Array([0x03, 0x67, 0x01, 0x10, 0x05, 0x67, 0x00, 0xff]))).toEqual({
      temperature_3: 27.2,
      temperature_5: 25.5,
    });
  });

  it('decodes every standard and extended type with its resolution and sign', () => {
    const hex =
      '0000 01 0101 00 0202 ff9c 0303 0064 0464 00000400 0565 0190 0666 01 0767 ff38 0868 61 0971 0001fc18 03e8 0a73 2774' +
      ' 0b74 0136 0c75 03e8 0d76 0000c350 0e78 32 0f79 fffb 107d 0190 1180 00c8 1282 000186a0 1383 00002710 1484 0167' +
      ' 1585 67d2b300 1686 ff9c 0064 0000 1787 ff8000 1888 06765f f2960a 0003e8 198e 01';
    const out = decodeCayenneLpp(new Uint8Array(Buffer.from(hex.replace(/\s/g, ''), 'hex')));
    expect(out).toEqual({
      digital_in_0: 1,
      digital_out_1: 0,
      analog_in_2: -1,
      analog_out_3: 1,
      generic_sensor_4: 1024,
      luminosity_5: 400,
      presence_6: 1,
      temperature_7: -20,
      relative_humidity_8: 48.5,
      accelerometer_9: { x: 0.001, y: -1, z: 1 },
      barometric_pressure_10: 1010,
      voltage_11: 3.1,
      current_12: 1,
      frequency_13: 50000,
      percentage_14: 50,
      altitude_15: -5,
      concentration_16: 400,
      power_17: 200,
      distance_18: 100,
      energy_19: 10,
      direction_20: 359,
      unixtime_21: 1741861632,
      gyrometer_22: { x: -1, y: 1, z: 0 },
      colour_23: { r: 255, g: 128, b: 0 },
      gps_24: { latitude: 42.3519, longitude: -87.9094, altitude: 10 },
      switch_25: 1,
    });
  });

  it.each([
    ['empty', ''],
    ['a lone channel byte', '01'],
    ['a truncated temperature', '016701'],
    ['an unknown type', '01ff00'],
    ['a channel twice', '0167011001670110'],
    ['a truncated GPS record', '018806765ff2960a00'],
  ])('refuses %s with HATAKE_E_PAYLOAD_BINARY', (_what, hex) => {
    expect(coded(() => decodeCayenneLpp(new Uint8Array(Buffer.from(hex, 'hex')))).code).toBe(
      'HATAKE_E_PAYLOAD_BINARY',
    );
  });
});

describe('calibration', () => {
  const probe = cat.require('hatake-soil-probe');
  const vwc = (values: Record<string, number>, calibration?: Record<string, number[]>) =>
    decodePayload(enc({ values }), { device: 's', kit: probe, receivedAt: 0, calibration }).find(
      (r) => r.metric === 'soil_vwc',
    )?.value;

  it('uses the Topp equation for permittivity (dry soil ε=4 → 0.055, wet ε=25 → 0.400)', () => {
    expect(topp(4)).toBeCloseTo(0.0553, 4);
    expect(topp(25)).toBeCloseTo(0.4004, 4);
    expect(vwc({ soil_permittivity: 25 })).toBeCloseTo(0.4004, 4);
  });

  it("computes VWC from the raw count with the kit's polynomial, or with the device's own coefficients", () => {
    expect(polynomial([1, 2, 3], 2)).toBe(17);
    expect(vwc({ soil_raw: 2400 })).toBeCloseTo(0.2, 5);
    expect(vwc({ soil_raw: 2400 }, { soil_vwc: [-0.05, 0.0001] })).toBeCloseTo(0.19, 9);
    expect(vwc({ soil_vwc: 0.25 })).toBe(0.25);
  });

  it('refuses a calibrated value that cannot be true', () => {
    expect(coded(() => vwc({ soil_raw: 100 }, { soil_vwc: [5] })).code).toBe('HATAKE_E_OUT_OF_RANGE');
  });
});

describe('units', () => {
  it.each([
    [23.5, '%', 'm3/m3', 0.235],
    [1200, 'µS/cm', 'dS/m', 1.2],
    [1013.2, 'hPa', 'kPa', 101.32],
    [36, 'km/h', 'm/s', 10],
    [68, '°F', 'degC', 20],
    [3300, 'mV', 'V', 3.3],
    [2.5, 'm⋅s⁻¹', 'm/s', 2.5],
  ])('%s %s is %s %s', (v, from, to, want) => {
    expect(convertUnit(v, from, to)).toBeCloseTo(want, 9);
  });
  it('refuses an unknown or inconvertible unit', () => {
    expect(coded(() => convertUnit(1, 'degC', 'm/s')).code).toBe('HATAKE_E_CODEC');
    expect(coded(() => convertUnit(1, 'parsec', 'm')).code).toBe('HATAKE_E_CODEC');
  });
});

describe('actuator commands', () => {
  const gate = cat.require('hatake-water-gate');
  it('builds open, close and open-for-minutes payloads, with the state to expect', () => {
    expect(encodeCommand(gate, 'open')).toEqual({
      payload: '{"command":"open"}',
      expect: { metric: 'valve_state', value: 1 },
    });
    expect(encodeCommand(gate, 'close').payload).toBe('{"command":"close"}');
    expect(encodeCommand(gate, 'open_for', { minutes: 45 }).payload).toBe('{"command":"open","minutes":45}');
    expect(encodeCommand(gate, 'open_for', { minutes: '45' }).payload).toBe(
      '{"command":"open","minutes":45}',
    );
  });
  it.each([
    ['an unknown command', 'explode', {}, 'HATAKE_E_UNKNOWN_COMMAND'],
    ['a prototype key as command', '__proto__', {}, 'HATAKE_E_UNKNOWN_COMMAND'],
    ['minutes beyond the safety limit', 'open_for', { minutes: 721 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['fractional minutes', 'open_for', { minutes: 1.5 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['missing minutes', 'open_for', {}, 'HATAKE_E_PAYLOAD_SCHEMA'],
    ['an extra parameter', 'open', { force: 1 }, 'HATAKE_E_PAYLOAD_SCHEMA'],
  ])('refuses %s', (_what, name, params, code) => {
    expect(coded(() => encodeCommand(gate, name, params)).code).toBe(code);
  });
  it('decodes the state the gate reports', () => {
    const rs = decodePayload(enc({ values: { valve_state: 1, open_minutes_left: 44 } }), {
      device: 'g',
      kit: gate,
      receivedAt: 0,
    });
    expect(rs.map((r) => [r.metric, r.value, r.unit])).toEqual([
      ['valve_state', 1, '1'],
      ['open_minutes_left', 44, 'min'],
    ]);
  });
});

describe('quality flags', () => {
  const probe = cat.require('hatake-soil-probe');
  const reading = (value: number, time: number, metric = 'soil_vwc'): Reading => ({
    device: 's1',
    metric,
    value,
    unit: 'm3/m3',
    time,
    flags: [],
  });

  it('flags a spike against the median of the recent readings, and recovers after a real level shift', () => {
    const t = new QualityTracker({ clock: () => 0 });
    const flags = [0.2, 0.21, 0.2, 0.5, 0.21, 0.45, 0.46, 0.47].map(
      (v, i) => t.assess([reading(v, i * 60_000)], probe, i * 60_000)[0]!.flags,
    );
    expect(flags).toEqual([[], [], [], ['spike'], [], ['spike'], ['spike'], []]);
  });

  it('flags a stuck value after the kit’s stuckCount identical readings', () => {
    const kit = {
      ...probe,
      metrics: { ...probe.metrics, soil_vwc: { ...probe.metrics.soil_vwc!, stuckCount: 4 } },
    };
    const t = new QualityTracker();
    const flags = [0.3, 0.3, 0.3, 0.3, 0.3, 0.31].map((v, i) => t.assess([reading(v, i)], kit, i)[0]!.flags);
    expect(flags).toEqual([[], [], [], ['stuck'], ['stuck'], []]);
  });

  it('flags a reading for a time already seen as a duplicate', () => {
    const t = new QualityTracker();
    t.assess([reading(0.3, 1000)], probe, 1000);
    expect(t.assess([reading(0.3, 1000)], probe, 2000)[0]!.flags).toEqual(['duplicate']);
  });

  it('flags clock skew: a device time ahead of the gateway, or far behind it', () => {
    const now = Date.UTC(2026, 10, 28);
    const t = new QualityTracker({ clock: () => now });
    expect(t.assess([reading(0.3, now + 10 * 60_000)], probe)[0]!.flags).toEqual(['clock_skew']);
    expect(t.assess([reading(0.3, now - 30 * 86_400_000)], probe)[0]!.flags).toEqual(['clock_skew']);
    expect(t.assess([reading(0.3, now - 3_600_000)], probe)[0]!.flags).toEqual([]);
  });

  it('is bounded: the least recently seen series are evicted', () => {
    const t = new QualityTracker({ maxSeries: 50 });
    for (let i = 0; i < 500; i++) t.assess([{ ...reading(0.3, i), device: `d${i}` }], probe, i);
    expect(t.size).toBe(50);
    expect(t.counters.evicted).toBe(450);
  });

  it('is applied by decodePayload when the gateway passes its tracker', () => {
    const tracker = new QualityTracker();
    const ctx = (receivedAt: number) => ({ device: 's1', kit: probe, receivedAt, tracker });
    for (const [i, v] of [0.2, 0.2, 0.2].entries())
      decodePayload(enc({ time: i * 1000, values: { soil_vwc: v } }), ctx(i * 1000));
    expect(decodePayload(enc({ time: 3000, values: { soil_vwc: 0.55 } }), ctx(3000))[0]!.flags).toEqual([
      'spike',
    ]);
  });
});
