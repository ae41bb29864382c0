// Contracts: the topic scheme, the JSON telemetry codec and placed YAML errors.
import { describe, expect, it } from 'vitest';
import { deviceTopic, parseDeviceTopic } from '../../protocol/topics.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { hashSecret, verifySecret } from '../../protocol/registry.ts';
import { Manifest } from '../../protocol/manifest.ts';
import { validator } from '../../protocol/validate.ts';
import { parseYaml } from '../../protocol/yaml.ts';
import { decodeJsonTelemetry } from '../../firmware-config/codecs/json.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';

const catch_ = (fn: () => unknown): HatakeError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('did not throw');
};

describe('topics', () => {
  it('builds and parses a device topic', () => {
    expect(deviceTopic('farm-1', 'soil-1', 'up')).toBe('hatake/v1/farm-1/soil-1/up');
    expect(parseDeviceTopic('hatake/v1/farm-1/soil-1/status')).toEqual({
      farm: 'farm-1',
      device: 'soil-1',
      kind: 'status',
    });
  });

  it.each([
    ['hatake/v1/farm-1/soil-1', 'is not a device topic'],
    ['hatake/v2/farm-1/soil-1/up', 'is not a device topic'],
    ['hatake/v1/farm-1/soil-1/up/extra', 'is not a device topic'],
    ['hatake/v1/Farm/soil-1/up', 'not a valid id'],
    ['hatake/v1/farm-1/../up', 'not a valid id'],
    ['hatake/v1/farm-1/soil-1/exec', 'unknown channel'],
    ['', 'is not a device topic'],
  ])('refuses %s', (topic, message) => {
    const e = catch_(() => parseDeviceTopic(topic));
    expect(e.code).toBe('HATAKE_E_TOPIC');
    expect(e.message).toContain(message);
  });
});

describe('JSON telemetry codec', () => {
  const kit = loadCatalogue().require('hatake-soil-probe');
  const ctx = { device: 'soil-1', kit, receivedAt: 1_700_000_000_000 };
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o));

  it('decodes values in the kit units, with the payload time or the receive time', () => {
    expect(
      decodeJsonTelemetry(enc({ time: '2026-11-28T00:00:00Z', values: { soil_vwc: 0.2 } }), ctx),
    ).toEqual([
      {
        device: 'soil-1',
        metric: 'soil_vwc',
        value: 0.2,
        unit: 'm3/m3',
        time: Date.parse('2026-11-28T00:00:00Z'),
        flags: [],
      },
    ]);
    expect(decodeJsonTelemetry(enc({ values: { soil_ec: 1.5 } }), ctx)[0]!.time).toBe(ctx.receivedAt);
    expect(
      decodeJsonTelemetry(enc({ time: 1_700_000_001_000, values: { soil_ec: 1.5 } }), ctx)[0]!.time,
    ).toBe(1_700_000_001_000);
  });

  it('names the field of a schema problem', () => {
    const e = catch_(() => decodeJsonTelemetry(enc({ values: { soil_vwc: 'x' } }), ctx));
    expect(e.code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    expect(e.place?.pointer).toBe('/values/soil_vwc');
  });

  it('refuses a time past 2200, as a number or an ISO string (the stores cannot hold one)', () => {
    for (const time of [7_258_118_400_001, '2263-01-01T00:00:00Z', 8.64e15]) {
      const e = catch_(() => decodeJsonTelemetry(enc({ time, values: { soil_ec: 1.5 } }), ctx));
      expect(e.code, String(time)).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      expect(e.place?.pointer, String(time)).toMatch(/^\/time/);
    }
    expect(
      decodeJsonTelemetry(enc({ time: '2199-12-31T23:59:59Z', values: { soil_ec: 1.5 } }), ctx),
    ).toHaveLength(1);
  });

  it('refuses a metric name outside the pattern instead of passing it through unchecked', () => {
    // A patterned record key must not fall through to "additional property, anything goes".
    const e = catch_(() => decodeJsonTelemetry(enc({ values: { 'Soil VWC': 'x' } }), ctx));
    expect(e.code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    expect(e.place?.pointer).toBe('/values/Soil VWC');
  });

  it('refuses a physically impossible value and flags one only outside the sensor range', () => {
    expect(catch_(() => decodeJsonTelemetry(enc({ values: { soil_vwc: 1.2 } }), ctx)).code).toBe(
      'HATAKE_E_OUT_OF_RANGE',
    );
    expect(catch_(() => decodeJsonTelemetry(enc({ values: { soil_temperature: -41 } }), ctx)).code).toBe(
      'HATAKE_E_OUT_OF_RANGE',
    );
    expect(decodeJsonTelemetry(enc({ values: { soil_temperature: 70 } }), ctx)[0]!.flags).toEqual([
      'out_of_range',
    ]);
    expect(decodeJsonTelemetry(enc({ values: { soil_temperature: 60 } }), ctx)[0]!.flags).toEqual([]);
  });
});

describe('secrets', () => {
  it('verifies the right secret and nothing else', () => {
    const h = hashSecret('s3cret-value');
    expect(h).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(verifySecret('s3cret-value', h)).toBe(true);
    expect(verifySecret('s3cret-valuf', h)).toBe(false);
    expect(verifySecret('', h)).toBe(false);
    expect(verifySecret('s3cret-value', 'garbage')).toBe(false);
  });
});

describe('YAML with places', () => {
  const v = validator(Manifest);
  it('places a schema problem at its line and column', () => {
    const text = 'farm:\n  id: demo\n  name: Demo\nfields: []\ndevices:\n  - id: Bad Id\n    kit: k1\n';
    const e = catch_(() => parseYaml(text, 'm.yaml', v));
    expect(e.place).toMatchObject({ file: 'm.yaml', line: 6, column: 9, pointer: '/devices/0/id' });
  });
  it('places a syntax error', () => {
    const e = catch_(() => parseYaml('farm: {id: x\nfields: [', 'bad.yaml', v));
    expect(e.place?.file).toBe('bad.yaml');
    expect(e.place?.line).toBeGreaterThanOrEqual(1);
  });
  it('refuses duplicate keys', () => {
    const e = catch_(() =>
      parseYaml('farm: {id: a, name: A}\nfarm: {id: b, name: B}\nfields: []\ndevices: []\n', 'dup.yaml', v),
    );
    expect(e.place?.line).toBe(2);
  });
});
