// The gateway settings form's logic (dashboard/ui/gateway-settings.ts) on its own: every key of
// RemoteGatewayConfig with the schema's own bounds; seconds, KiB and days converted exactly both
// ways (where binary floating point would not be); each check at and around its limits and in
// agreement with the schema the server validates with; empty fields left out of the body; hostile
// input answered by the check's error; and each gateway's outcome from its downlink version and
// its newest report about the configuration (the health view's configReport).
import fc from 'fast-check';
import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { RemoteGatewayConfig } from '../../protocol/gateway-config.ts';
import { validator } from '../../protocol/validate.ts';
import { translate, type Lang } from '../../dashboard/ui/i18n.ts';
import {
  FIELDS,
  MAX_INPUT,
  buildBody,
  checkField,
  fieldOfPointer,
  fromApi,
  inEffect,
  outcomeOf,
  rangeText,
  settled,
  summary,
  toApi,
  valuesOf,
  type ConfigReport,
  type SettingField,
} from '../../dashboard/ui/gateway-settings.ts';

const t =
  (lang: Lang = 'ja') =>
  (k: string) =>
    translate(lang, k);
const ja = t('ja');
const field = (key: string): SettingField => {
  const f = FIELDS.find((x) => x.key === key);
  if (!f) throw new Error(`no field ${key}`);
  return f;
};
const api = (key: string, text: string) => toApi(field(key), text);
const schema = validator(RemoteGatewayConfig);

/** The body a single key with a value in the API's units makes (to ask the schema about it). */
function bodyWith(key: string, value: number): unknown {
  const out: Record<string, unknown> = {};
  const parts = key.split('.');
  let o = out;
  for (const p of parts.slice(0, -1)) o = (o[p] = {}) as Record<string, unknown>;
  o[parts.at(-1)!] = value;
  // The publish rate is one object: its other key at a valid value.
  if (key === 'mqtt.rate.perSecond') (o as Record<string, number>).burst = 10;
  if (key === 'mqtt.rate.burst') (o as Record<string, number>).perSecond = 5;
  return out;
}

/** Every leaf key of a TypeBox object schema, as dotted paths. */
function leaves(s: TSchema, prefix = ''): string[] {
  const props = (s as { properties?: Record<string, TSchema> }).properties;
  if (!props) return [prefix];
  return Object.entries(props).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}
function schemaOf(key: string): TSchema & {
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  type?: string;
} {
  let s = RemoteGatewayConfig as TSchema;
  for (const p of key.split('.'))
    s = (s as unknown as { properties: Record<string, TSchema> }).properties[p]!;
  return s;
}

describe('the fields', () => {
  it('cover every key RemoteGatewayConfig takes, and no other', () => {
    expect(FIELDS.map((f) => f.key).sort()).toEqual(leaves(RemoteGatewayConfig).sort());
  });

  it('keep the schema’s own bounds and integer-ness', () => {
    for (const f of FIELDS) {
      const s = schemaOf(f.key);
      expect({ key: f.key, ...f.api }).toEqual({
        key: f.key,
        ...(s.minimum !== undefined ? { min: s.minimum } : {}),
        ...(s.exclusiveMinimum !== undefined ? { exclusiveMin: s.exclusiveMinimum } : {}),
        ...(s.maximum !== undefined ? { max: s.maximum } : {}),
        integer: s.type === 'integer',
      });
    }
  });

  it('put seconds beside the keys the API takes in milliseconds, KiB beside bytes, days, MB and minutes as named', () => {
    const units = Object.fromEntries(FIELDS.map((f) => [f.key, f.unit(ja)]));
    for (const f of FIELDS) {
      if (f.key.endsWith('Ms')) expect([f.key, f.scale, units[f.key]]).toEqual([f.key, 1000, '秒']);
      if (f.key.endsWith('MB')) expect([f.key, f.scale, units[f.key]]).toEqual([f.key, 1, 'MB']);
      if (f.key.endsWith('Days')) expect([f.key, f.scale, units[f.key]]).toEqual([f.key, 1, '日']);
    }
    expect(units['sync.aggregateAfterMinutes']).toBe('分');
    expect(field('sync.batchMaxBytes').scale).toBe(1024);
    expect(units['sync.batchMaxBytes']).toBe('KiB');
    expect(field('sync.intervalMs').unit(t('en'))).toBe('s');
    expect(field('retention.rawDays').unit(t('en'))).toBe('days');
  });
});

describe('conversions', () => {
  it('turn what the partner typed into the API’s units exactly', () => {
    expect(api('retention.rawDays', '30')).toEqual({ ok: true, value: 30 });
    expect(api('sync.intervalMs', '5')).toEqual({ ok: true, value: 5000 });
    expect(api('sync.intervalMs', '2.5')).toEqual({ ok: true, value: 2500 });
    expect(api('sync.intervalMs', '0.05')).toEqual({ ok: true, value: 50 });
    // 1.005 × 1000 in binary floating point is 1004.9999999999999; on the digits it is 1005.
    expect(1.005 * 1000).not.toBe(1005);
    expect(api('sync.intervalMs', '1.005')).toEqual({ ok: true, value: 1005 });
    expect(api('sync.backoffCapMs', '0.1')).toEqual({ ok: true, value: 100 });
    expect(api('sync.downlinkIntervalMs', '86400')).toEqual({ ok: true, value: 86_400_000 });
    expect(api('sync.downlinkIntervalMs', '1e3')).toEqual({ ok: true, value: 1_000_000 });
    expect(api('sync.batchMaxBytes', '1.5')).toEqual({ ok: true, value: 1536 });
    expect(api('sync.batchMaxBytes', '8192')).toEqual({ ok: true, value: 8 * 1024 * 1024 });
    expect(api('sync.aggregateAfterMinutes', '90')).toEqual({ ok: true, value: 90 });
    expect(api('storage.maxDbMB', '0.5e4')).toEqual({ ok: true, value: 5000 });
    expect(api('retention.rawDays', '0.5')).toEqual({ ok: true, value: 0.5 });
    // What a Japanese input method types: full-width digits and point, an ideographic space.
    expect(api('sync.intervalMs', '　１．５ ')).toEqual({ ok: true, value: 1500 });
    expect(api('storage.minFreeMB', '-0')).toEqual({ ok: true, value: 0 });
  });

  it('show the API’s values in the partner’s units exactly', () => {
    expect(fromApi(field('sync.intervalMs'), 2500)).toBe('2.5');
    expect(fromApi(field('sync.intervalMs'), 50)).toBe('0.05');
    expect(fromApi(field('sync.intervalMs'), 1005)).toBe('1.005');
    expect(fromApi(field('sync.downlinkIntervalMs'), 86_400_000)).toBe('86400');
    expect(fromApi(field('sync.batchMaxBytes'), 1025)).toBe('1.0009765625');
    expect(fromApi(field('sync.batchMaxBytes'), 1536)).toBe('1.5');
    expect(fromApi(field('retention.rawDays'), 30)).toBe('30');
    expect(fromApi(field('storage.maxDbMB'), 1e21)).toBe('1000000000000000000000');
  });

  it('round-trip every whole number of milliseconds and bytes the schema takes', () => {
    for (const key of [
      'sync.intervalMs',
      'sync.batchDelayMs',
      'sync.backoffCapMs',
      'sync.downlinkIntervalMs',
    ]) {
      const f = field(key);
      fc.assert(
        fc.property(fc.integer({ min: f.api.min!, max: f.api.max! }), (ms) => {
          expect(toApi(f, fromApi(f, ms))).toEqual({ ok: true, value: ms });
        }),
        { numRuns: 500 },
      );
    }
    const bytes = field('sync.batchMaxBytes');
    fc.assert(
      fc.property(fc.integer({ min: 1024, max: 8 * 1024 * 1024 }), (b) => {
        expect(toApi(bytes, fromApi(bytes, b))).toEqual({ ok: true, value: b });
      }),
      { numRuns: 500 },
    );
  });

  it('round-trip any number of days or MB', () => {
    for (const key of ['retention.rawDays', 'storage.maxDbMB', 'sync.aggregateAfterMinutes']) {
      const f = field(key);
      fc.assert(
        fc.property(fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }), (x) => {
          const v = x === 0 ? 0 : x; // -0 is 0 on the wire
          expect(toApi(f, fromApi(f, v))).toEqual({ ok: true, value: v });
        }),
        { numRuns: 500 },
      );
    }
  });
});

describe('checks at and around each limit, in agreement with the schema', () => {
  /** [key, accepted texts, refused texts with the error] in the partner's units. */
  const cases: [string, string[], [string, string][]][] = [
    ['storage.maxDbMB', ['1', '2048', '1e6'], [['0.999', '1 MB以上で入れてください']]],
    ['storage.minFreeMB', ['0', '100'], [['-0.001', '0 MB以上で入れてください']]],
    [
      'retention.rawDays',
      ['0.0416667', '1', '30'],
      [
        ['0.0416666', '1/24 日以上で入れてください'],
        ['0', '1/24 日以上で入れてください'],
      ],
    ],
    ['retention.hourlyDays', ['1', '1825'], [['0.99', '1 日以上で入れてください']]],
    [
      'retention.deadLetters',
      ['100', '10000'],
      [
        ['99', '100以上の整数で入れてください'],
        ['100.5', '100以上の整数で入れてください'],
      ],
    ],
    ['health.offlineAfterIntervals', ['1', '2.5'], [['0.9', '1 回分以上で入れてください']]],
    [
      'sync.intervalMs',
      ['0.05', '3600', '1.001'],
      [
        ['0.049', '0.05〜3600 秒 の範囲で入れてください'],
        ['3600.001', '0.05〜3600 秒 の範囲で入れてください'],
        ['1.0005', '小数点以下3桁（ミリ秒）までで入れてください'],
        ['0.0001', '0.05〜3600 秒 の範囲で入れてください'],
      ],
    ],
    [
      'sync.batchMaxItems',
      ['1', '5000'],
      [
        ['0', '1〜5000 の整数で入れてください'],
        ['5001', '1〜5000 の整数で入れてください'],
        ['2.5', '1〜5000 の整数で入れてください'],
      ],
    ],
    [
      'sync.batchMaxBytes',
      ['1', '8192', '1.5'],
      [
        ['0.999', '1〜8192 KiB の範囲で入れてください'],
        ['8192.001', '1〜8192 KiB の範囲で入れてください'],
        ['1.0001', 'バイト数が整数になる値を入れてください（1024 バイト単位）'],
      ],
    ],
    [
      'sync.batchDelayMs',
      ['0', '60', '0.25'],
      [
        ['60.001', '0〜60 秒 の範囲で入れてください'],
        ['-0.001', '0〜60 秒 の範囲で入れてください'],
      ],
    ],
    [
      'sync.backoffCapMs',
      ['0.1', '3600'],
      [
        ['0.099', '0.1〜3600 秒 の範囲で入れてください'],
        ['3601', '0.1〜3600 秒 の範囲で入れてください'],
      ],
    ],
    ['sync.maxOutboxMB', ['1', '512'], [['0.5', '1 MB以上で入れてください']]],
    ['sync.aggregateAfterMinutes', ['0', '60', '0.5'], [['-1', '0 分以上で入れてください']]],
    [
      'sync.downlinkIntervalMs',
      ['1', '86400'],
      [
        ['0.999', '1〜86400 秒 の範囲で入れてください'],
        ['86400.001', '1〜86400 秒 の範囲で入れてください'],
      ],
    ],
    [
      'mqtt.rate.perSecond',
      ['0.001', '10000'],
      [
        ['0', '0より大きく10000 件/秒以下で入れてください'],
        ['10000.0001', '0より大きく10000 件/秒以下で入れてください'],
      ],
    ],
    [
      'mqtt.rate.burst',
      ['1', '100000'],
      [
        ['0', '1〜100000 の整数で入れてください'],
        ['100001', '1〜100000 の整数で入れてください'],
        ['1.5', '1〜100000 の整数で入れてください'],
      ],
    ],
  ];

  it('tests every field', () => {
    expect(cases.map(([k]) => k).sort()).toEqual(FIELDS.map((f) => f.key).sort());
  });

  for (const [key, good, bad] of cases) {
    it(`${key}: takes ${good.join(', ')}; refuses ${bad.map(([v]) => v).join(', ')}`, () => {
      const f = field(key);
      for (const v of good) {
        expect(checkField(f, v, ja), `${key}=${v}`).toBeUndefined();
        const c = toApi(f, v);
        expect(c.ok).toBe(true);
        // What the form lets through, the server's schema takes.
        expect(schema.problems(bodyWith(key, (c as { value: number }).value)), `${key}=${v}`).toEqual([]);
      }
      for (const [v, message] of bad) {
        expect(checkField(f, v, ja), `${key}=${v}`).toBe(message);
        // And what it stops, the schema would refuse too.
        const c = toApi(f, v);
        if ('value' in c) expect(schema.check(bodyWith(key, c.value)), `${key}=${v}`).toBe(false);
      }
    });
  }

  it('says the range beside each field in the partner’s units', () => {
    expect(rangeText(field('sync.intervalMs'), ja)).toBe('範囲: 0.05〜3600 秒');
    expect(rangeText(field('retention.rawDays'), ja)).toBe('1/24 日以上');
    expect(rangeText(field('sync.batchMaxBytes'), t('en'))).toBe('Range: 1 to 8192 KiB');
    expect(rangeText(field('mqtt.rate.perSecond'), t('en'))).toBe('More than 0, at most 10000 messages/s');
  });

  it('speaks English on the switch', () => {
    expect(checkField(field('sync.intervalMs'), '1.0005', t('en'))).toBe(
      'Use at most 3 decimals (whole milliseconds)',
    );
    // A unit after one (or one part of one) in the singular.
    expect(checkField(field('retention.rawDays'), '0', t('en'))).toBe('Enter at least 1/24 day');
    expect(checkField(field('retention.hourlyDays'), '0.5', t('en'))).toBe('Enter at least 1 day');
    expect(rangeText(field('health.offlineAfterIntervals'), t('en'))).toBe('At least 1 interval');
    expect(rangeText(field('sync.batchMaxItems'), t('en'))).toBe('Range: 1 to 5000 items');
    expect(field('retention.rawDays').unit(t('en'), '1')).toBe('day');
    expect(field('retention.rawDays').unit(t('en'), '30')).toBe('days');
    expect(field('retention.rawDays').unit(t('en'), '1.5')).toBe('days');
    expect(field('mqtt.rate.burst').unit(t('en'), '1')).toBe('message');
    expect(field('mqtt.rate.perSecond').unit(t('en'), '1')).toBe('message/s');
    expect(field('retention.deadLetters').unit(t('en'), '100')).toBe('items');
    expect(field('retention.rawDays').unit(t('ja'), '1')).toBe('日');
    expect(checkField(field('storage.maxDbMB'), 'x', t('en'))).toBe('Enter a number');
  });
});

describe('the body', () => {
  it('holds exactly the filled keys, converted; empty fields are the gateway’s own value', () => {
    const { body, errors } = buildBody(
      {
        'retention.rawDays': '30',
        'retention.hourlyDays': '',
        'sync.intervalMs': '5',
        'sync.batchDelayMs': '  ',
        'sync.batchMaxBytes': '512',
        'mqtt.rate.perSecond': '2',
        'mqtt.rate.burst': '20',
      },
      ja,
    );
    expect(errors).toEqual({});
    expect(body).toEqual({
      retention: { rawDays: 30 },
      sync: { intervalMs: 5000, batchMaxBytes: 512 * 1024 },
      mqtt: { rate: { perSecond: 2, burst: 20 } },
    });
    expect(schema.check(body)).toBe(true);
  });

  it('takes the publish rate as a pair: both or neither', () => {
    expect(buildBody({ 'mqtt.rate.perSecond': '2', 'storage.maxDbMB': '100' }, ja)).toEqual({
      body: undefined,
      errors: {
        'mqtt.rate.burst': '「1秒あたりの送信数」と「バースト」は両方入れるか、両方空欄にしてください',
      },
    });
    expect(buildBody({ 'mqtt.rate.burst': '20' }, ja).errors).toHaveProperty(['mqtt.rate.perSecond']);
    expect(buildBody({ 'storage.maxDbMB': '100' }, ja)).toEqual({
      body: { storage: { maxDbMB: 100 } },
      errors: {},
    });
  });

  it('sends nothing when nothing is filled, and says to withdraw instead', () => {
    for (const values of [{}, valuesOf(undefined), { 'retention.rawDays': ' ' }])
      expect(buildBody(values, ja)).toEqual({
        body: undefined,
        errors: {
          form: '値を1つ以上入れてください。すべてをゲートウェイ自身の値に戻すには「設定を取り下げる」を使います。',
        },
      });
  });

  it('sends nothing while one field has a problem, naming every problem', () => {
    const r = buildBody(
      { 'retention.rawDays': '30', 'sync.intervalMs': 'fast', 'sync.batchMaxItems': '0' },
      ja,
    );
    expect(r.body).toBeUndefined();
    expect(r.errors).toEqual({
      'sync.intervalMs': '数値を入れてください',
      'sync.batchMaxItems': '1〜5000 の整数で入れてください',
    });
  });

  it('fills the form from a configuration sent before, and back to the same body', () => {
    const sent = {
      storage: { maxDbMB: 1024, minFreeMB: 50 },
      retention: { rawDays: 1 / 24, hourlyDays: 365, deadLetters: 500 },
      health: { offlineAfterIntervals: 3 },
      sync: {
        intervalMs: 1005,
        batchMaxItems: 200,
        batchMaxBytes: 1025,
        batchDelayMs: 0,
        backoffCapMs: 60_000,
        maxOutboxMB: 256,
        aggregateAfterMinutes: 90,
        downlinkIntervalMs: 600_000,
      },
      mqtt: { rate: { perSecond: 0.5, burst: 5 } },
    };
    expect(schema.check(sent)).toBe(true);
    const values = valuesOf(sent);
    expect(values['sync.intervalMs']).toBe('1.005');
    expect(values['retention.rawDays']).toBe('0.041666666666666664');
    expect(buildBody(values, ja)).toEqual({ body: sent, errors: {} });
    expect(summary(sent).map((r) => `${r.field.key}=${r.value}`)).toContain('sync.downlinkIntervalMs=600');
    expect(summary({ retention: { rawDays: 30 } })).toHaveLength(1);
    expect(summary({})).toEqual([]);
  });
});

describe('hostile input', () => {
  const f = field('sync.intervalMs');

  it('gets the check’s error, never a value', () => {
    for (const s of [
      'abc',
      '0x10',
      'Infinity',
      '-Infinity',
      'NaN',
      '1,000',
      '1.2.3',
      '--1',
      '5 s',
      '.',
      'e5',
      '1e',
      '①',
      '²',
      '1e400',
      '1e-400',
      '<script>alert(1)</script>',
      '1'.repeat(MAX_INPUT + 1),
      '9'.repeat(100_000),
      `1${'0'.repeat(50)}.5`,
    ]) {
      expect(checkField(f, s, ja), JSON.stringify(s.slice(0, 40))).toBe('数値を入れてください');
      expect(buildBody({ 'sync.intervalMs': s }, ja).body).toBeUndefined();
    }
  });

  it('answers a long string at once', () => {
    const start = performance.now();
    for (let i = 0; i < 20; i++) checkField(f, `${'1'.repeat(200_000)}x`, ja);
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('takes only the form’s own keys, as strings', () => {
    const inherited = Object.create({ 'retention.rawDays': '30' }) as Record<string, string>;
    expect(buildBody(inherited, ja).errors).toHaveProperty('form');
    const polluted = JSON.parse(
      '{"__proto__": {"x": "1"}, "constructor.prototype.x": "1", "retention.rawDays": "2"}',
    ) as Record<string, string>;
    expect(buildBody(polluted, ja)).toEqual({ body: { retention: { rawDays: 2 } }, errors: {} });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(buildBody({ 'retention.rawDays': 30 as unknown as string }, ja).errors).toEqual({
      'retention.rawDays': '数値を入れてください',
    });
    expect(checkField(f, 5000 as unknown as string, ja)).toBe('数値を入れてください');
  });

  it('maps a refusal’s pointer to its field only when it is one', () => {
    expect(fieldOfPointer('/retention/rawDays')).toBe('retention.rawDays');
    expect(fieldOfPointer('/mqtt/rate/burst')).toBe('mqtt.rate.burst');
    for (const p of [undefined, '', '/', '/server/url', '/retention', '/__proto__', '/sync/requestTimeoutMs'])
      expect(fieldOfPointer(p), String(p)).toBe('');
  });

  it('reads a malformed configuration as empty fields', () => {
    const odd = {
      retention: { rawDays: 'thirty', hourlyDays: null },
      sync: { intervalMs: Number.NaN },
      mqtt: 5,
    } as unknown as Parameters<typeof valuesOf>[0];
    expect(Object.values(valuesOf(odd)).every((v) => v === '')).toBe(true);
    expect(summary(odd)).toEqual([]);
  });
});

describe('what each gateway did with it', () => {
  // As the health view gives it: the gateway's newest report about the configuration document.
  const report = (outcome: 'applied' | 'refused', version: number, message: string): ConfigReport => {
    const time = new Date(Date.UTC(2025, 0, 1, 12, 0)).toISOString();
    return {
      outcome,
      version,
      time,
      message,
      event: {
        id: `ev-${outcome}-${version}`,
        type: `downlink_${outcome}`,
        severity: outcome === 'applied' ? 'info' : 'critical',
        time,
        device: null,
        message,
        detail: { kind: 'config', id: 'gateway', version },
        downlink: { kind: 'config', id: 'gateway', version },
      },
    };
  };
  const applied7 = report(
    'applied',
    7,
    'applied config gateway v7: configuration v7: retention.rawMs 7776000000 → 2592000000',
  );
  const refused7 = report(
    'refused',
    7,
    'refused config gateway v7: downlink config gateway: /retention/rawDays must be >= 0.041',
  );
  const applied5 = report('applied', 5, 'applied config gateway v5: configuration v5: nothing changed');
  const gw = (downlinkVersion: number | null, revoked: string | null = null) => ({
    downlinkVersion,
    revoked,
  });

  it('is applied or refused by its report when that is about the version', () => {
    expect(outcomeOf(7, gw(8), applied7)).toEqual({ outcome: 'applied', report: applied7 });
    expect(outcomeOf(7, gw(7), refused7)).toEqual({ outcome: 'refused', report: refused7 });
  });

  it('is received when the gateway read past the version but its report is not here', () => {
    const r = outcomeOf(7, gw(7), applied5);
    expect(r.outcome).toBe('reached');
    expect(r.report?.version).toBe(5); // the latest report about its settings is still shown
    expect(outcomeOf(7, gw(9), null)).toEqual({ outcome: 'reached', report: undefined });
  });

  it('is waiting while the gateway has not read that far, or never synced', () => {
    expect(outcomeOf(7, gw(6), applied5).outcome).toBe('waiting');
    expect(outcomeOf(7, gw(null), undefined)).toEqual({ outcome: 'waiting', report: undefined });
    expect(outcomeOf(7, gw(null), null).outcome).toBe('waiting');
  });

  it('is revoked for a revoked gateway, whatever it reported', () => {
    expect(outcomeOf(7, gw(3, '2025-01-01T00:00:00.000Z'), null).outcome).toBe('revoked');
    expect(outcomeOf(7, gw(7, '2025-01-01T00:00:00.000Z'), refused7).outcome).toBe('revoked');
  });

  it('settles on applied, refused and revoked only', () => {
    expect(
      ['applied', 'refused', 'reached', 'waiting', 'revoked'].filter((o) => settled(o as never)),
    ).toEqual(['applied', 'refused', 'revoked']);
  });
});

describe('the settings in effect, as the gateways told them', () => {
  const field = (key: string) => FIELDS.find((f) => f.key === key)!;
  const gw = (id: string, values: Record<string, number> | null, revoked: string | null = null) => ({
    id,
    revoked,
    settings: values ? { time: '2026-12-02T00:00:00.000Z', values } : null,
  });

  it('says each value in the partner’s unit with the gateways that run on it', () => {
    const gateways = [
      gw('gw-1', { 'sync.intervalMs': 5000, 'sync.batchMaxBytes': 1024 * 1024 }),
      gw('gw-2', { 'sync.intervalMs': 5000 }),
      gw('gw-3', { 'sync.intervalMs': 250 }),
    ];
    expect(inEffect(field('sync.intervalMs'), gateways)).toEqual([
      { value: '5', gateways: ['gw-1', 'gw-2'] },
      { value: '0.25', gateways: ['gw-3'] },
    ]);
    expect(inEffect(field('sync.batchMaxBytes'), gateways)).toEqual([{ value: '1024', gateways: ['gw-1'] }]);
  });

  it('leaves out revoked gateways, gateways that told nothing, and keys they did not tell', () => {
    const gateways = [
      gw('gone', { 'retention.rawDays': 30 }, '2026-12-01T00:00:00.000Z'),
      gw('quiet', null),
      gw('gw-1', { 'sync.intervalMs': 1000 }),
    ];
    expect(inEffect(field('retention.rawDays'), gateways)).toEqual([]);
    expect(inEffect(field('sync.intervalMs'), undefined)).toEqual([]);
  });
});
