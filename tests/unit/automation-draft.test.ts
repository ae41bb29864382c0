// The automation form's logic (dashboard/ui/automation-draft.ts) on its own: what a farm offers
// (from the real kit catalogue, as GET /api/v1/kits summarises it), soil moisture in % and back to
// m³/m³ without binary noise, each check at and around its boundary and in agreement with what the
// schema and the server's kit checks refuse, the bodies a threshold and a band become, an edit that
// keeps what the form does not show, and malformed or hostile input answered by the check's error.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { encodeCommand } from '../../firmware-config/commands.ts';
import type { DeviceView } from '../../protocol/api.ts';
import { AutomationLimits } from '../../protocol/automation.ts';
import { AutomationCreate, PlainName, type AutomationView } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { kitSummary } from '../../protocol/views.ts';
import { translate, type Lang } from '../../dashboard/ui/i18n.ts';
import {
  LIMIT_BOUNDS,
  MAX_NAME,
  checkDraft,
  commandName,
  draftBody,
  draftOf,
  farmChoices,
  fieldOfPointer,
  knownCommand,
  notPlain,
  parseNum,
  toDisplay,
  toStored,
  type CommandDraft,
  type Draft,
  type FarmChoices,
} from '../../dashboard/ui/automation-draft.ts';

const SOURCE = resolve(import.meta.dirname, '../../dashboard/ui/automation-draft.ts');

// A partner's kit with parameters hatake has no names for — one of them called `constructor`,
// which a plain object already "has" — loaded through the real catalogue like any other kit.
const kitDir = mkdtempSync(join(tmpdir(), 'hatake-automation-draft-'));
writeFileSync(
  join(kitDir, 'test-dosing-pump.yaml'),
  `id: test-dosing-pump
name: { ja: 液肥ポンプ, en: Dosing pump }
codec: json
interval: 300
metrics:
  pump_state: { unit: '1', min: 0, max: 1, resolution: 1, name: { ja: ポンプの状態, en: Pump state } }
commands:
  stop:
    name: { ja: 止める, en: Stop }
    payload: { command: stop }
    expect: { metric: pump_state, value: 0 }
  dose:
    name: { ja: 施用する, en: Dose }
    params:
      litres: { type: number, min: 0.5, max: 20, unit: L }
      constructor: { type: integer, min: 1, max: 3 }
      minutes: { type: integer, min: 1, max: 60, unit: min }
    payload: { command: dose, litres: '\${litres}', pumps: '\${constructor}', minutes: '\${minutes}' }
    expect: { metric: pump_state, value: 1 }
`,
);
afterAll(() => rmSync(kitDir, { recursive: true, force: true }));
const catalogue = loadCatalogue([kitDir]);
const KITS = [...catalogue.kits.values()].map(kitSummary);

const T0 = '2025-06-01T00:00:00.000Z';
const device = (
  id: string,
  kit: string | null,
  field: string | null,
  name: string,
  latest: DeviceView['latest'] = [],
): DeviceView => ({ id, farm: 'demo-farm', field, kit, name, lastSeen: T0, online: true, latest });
const reading = (metric: string, value: number, unit: string) => ({
  metric,
  value,
  unit,
  time: T0,
  flags: [],
});

const DEVICES: DeviceView[] = [
  device('soil-1', 'hatake-soil-probe', 'upland-1', '土壌センサー 畑1号', [reading('rssi', -80, 'dBm')]),
  device('water-1', 'hatake-paddy-water', 'paddy-1', '水位センサー 田んぼ1号'),
  device('valve-1', 'hatake-water-gate', 'upland-1', '水門 畑1号'),
  device('gate-1', 'hatake-water-gate', 'paddy-1', '水門 田んぼ1号'),
  device('pump-1', 'test-dosing-pump', null, 'ポンプ'),
  // No kit, or one the server does not know: the server refuses automations on it.
  device('diy-1', null, null, '自作センサー', [reading('soil_vwc', 0.3, 'm3/m3'), reading('snr', 7, 'dB')]),
  device('diy-2', 'a-kit-only-the-gateway-has', null, '自作センサー2', [reading('soil_vwc', 0.3, 'm3/m3')]),
];
const C: FarmChoices = farmChoices(DEVICES, KITS);
const tja = (k: string) => translate('ja', k);
const ten = (k: string) => translate('en', k);
const createValidator = validator(AutomationCreate);

const cmd = (device: string, command: string, params: Record<string, string> = {}): CommandDraft => ({
  device,
  command,
  params,
});
/** The e2e journey's threshold: soil-1's moisture < 22 % → open valve-1 for 30 minutes. */
function threshold(patch: Partial<Draft> = {}): Draft {
  return {
    ...draftOf(undefined, C),
    name: { ja: '畑1号の灌水', en: '' },
    sensor: 'soil-1',
    metric: 'soil_vwc',
    op: '<',
    value: '22',
    action: cmd('valve-1', 'open_for', { minutes: '30' }),
    maxRunsPerDay: '2',
    maxOpenMinutes: '45',
    cooldownMinutes: '240',
    quiet: true,
    quietFrom: '22:00',
    quietTo: '05:00',
    ...patch,
  };
}
/** The paddy band: keep water-1's level within 3–5 cm with gate-1. */
function band(patch: Partial<Draft> = {}): Draft {
  return {
    ...draftOf(undefined, C),
    kind: 'band',
    name: { ja: '田んぼ1号の水位', en: 'Paddy 1 level' },
    sensor: 'water-1',
    metric: 'water_level',
    low: '3',
    high: '5',
    action: cmd('', ''),
    below: cmd('gate-1', 'open'),
    above: cmd('gate-1', 'close'),
    maxRunsPerDay: '12',
    maxOpenMinutes: '180',
    cooldownMinutes: '30',
    quiet: false,
    ...patch,
  };
}
const errorsOf = (d: Draft, t = tja) => checkDraft(d, C, t);

/**
 * What the server's own checks say of a body (the schema, then the kit's metric range and
 * commands as dashboard/review/automations.ts checks them): the problem pointers, none if it passes.
 */
function serverProblems(body: ReturnType<typeof draftBody>): string[] {
  const doc = { farm: 'demo-farm', ...body };
  if (!createValidator.check(doc)) return createValidator.problems(doc).map((p) => p.pointer);
  const out: string[] = [];
  const kitOf = (id: string) => catalogue.get(DEVICES.find((d) => d.id === id)?.kit ?? '');
  const t = body.trigger;
  const metric = kitOf(t.device)?.metrics[t.metric];
  const outside = (v: number) => !metric || v < metric.min || v > metric.max;
  if (t.kind === 'threshold' && outside(t.value)) out.push('/trigger/value');
  if (t.kind === 'band') {
    if (outside(t.low)) out.push('/trigger/low');
    if (outside(t.high)) out.push('/trigger/high');
    if (!(t.low < t.high)) out.push('/trigger/low');
  }
  for (const slot of ['action', 'below', 'above'] as const) {
    const c = body[slot];
    if (!c) continue;
    try {
      encodeCommand(kitOf(c.device)!, c.command, c.params ?? {});
    } catch {
      out.push(`/${slot}/params`);
    }
    if (c.params?.minutes !== undefined && c.params.minutes > body.limits.maxOpenMinutes)
      out.push(`/${slot}/params/minutes`);
  }
  if (body.limits.quietHours && body.limits.quietHours.from === body.limits.quietHours.to)
    out.push('/limits/quietHours');
  return out;
}

describe('the module', () => {
  it('imports neither Preact nor Leaflet, however deep its imports go', () => {
    const seen = new Set<string>();
    const bare: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      // Type-only imports are erased; every other import is followed.
      for (const m of text.matchAll(/^import\s+(type\s)?[^'"]*?from\s*'([^']+)';/gms)) {
        if (m[1]) continue;
        const spec = m[2]!;
        if (spec.startsWith('.')) walk(resolve(dirname(file), spec));
        else bare.push(spec);
      }
    };
    walk(SOURCE);
    expect(seen.size).toBeGreaterThan(2);
    expect(bare.filter((s) => /preact|leaflet/.test(s))).toEqual([]);
  });
});

describe('what a farm offers to automate, from the kit catalogue', () => {
  it('gives each sensor metric its display unit and the range its kit reads, in that unit', () => {
    const soil = C.sensors.find((s) => s.id === 'soil-1')!;
    expect(soil.field).toBe('upland-1');
    expect(soil.metrics.find((m) => m.id === 'soil_vwc')).toEqual({
      id: 'soil_vwc',
      unit: '%',
      factor: 100,
      stored: { min: 0, max: 0.6 },
      min: 0,
      max: 60,
    });
    expect(soil.metrics.find((m) => m.id === 'soil_temperature')).toMatchObject({
      unit: '°C',
      min: -20,
      max: 60,
    });
    // Radio signal is nothing to act on.
    expect(soil.metrics.map((m) => m.id)).not.toContain('rssi');
    // A kit's own metric carries the name its kit file gives it; the registry's need none.
    expect(soil.metrics.find((m) => m.id === 'soil_raw')!.name).toEqual(
      catalogue.kits.get('hatake-soil-probe')!.metrics.soil_raw!.name,
    );
    expect(soil.metrics.find((m) => m.id === 'soil_raw')!.name?.ja).toMatch(/\S/);
    expect(soil.metrics.find((m) => m.id === 'soil_vwc')!.name).toBeUndefined();
    expect(
      C.sensors.find((s) => s.id === 'gate-1')!.metrics.find((m) => m.id === 'open_minutes_left')!.name,
    ).toEqual({
      ja: '開放の残り時間',
      en: 'Minutes of opening left',
    });
    const level = C.sensors.find((s) => s.id === 'water-1')!.metrics.find((m) => m.id === 'water_level');
    expect(level).toEqual({
      id: 'water_level',
      unit: 'cm',
      factor: 1,
      stored: { min: -10, max: 40 },
      min: -10,
      max: 40,
    });
    // Devices without a kit the server knows are not offered: the server would refuse them.
    expect(C.sensors.map((s) => s.id)).toEqual(['soil-1', 'water-1', 'valve-1', 'gate-1', 'pump-1']);
  });

  it('gives each actuator its kit’s commands with their parameters; sensors take none', () => {
    expect(C.actuators.map((a) => a.id)).toEqual(['valve-1', 'gate-1', 'pump-1']);
    expect(C.actuators[0]!.commands).toEqual([
      { id: 'open', params: [] },
      { id: 'close', params: [] },
      { id: 'open_for', params: [{ name: 'minutes', type: 'integer', min: 1, max: 720, unit: 'min' }] },
    ]);
    expect(C.actuators[2]!.commands.find((k) => k.id === 'dose')!.params).toEqual([
      { name: 'litres', type: 'number', min: 0.5, max: 20, unit: 'L' },
      { name: 'constructor', type: 'integer', min: 1, max: 3, unit: null },
      { name: 'minutes', type: 'integer', min: 1, max: 60, unit: 'min' },
    ]);
  });

  it('names open, close and open_for in each language and leaves a kit’s own command as its id', () => {
    expect(commandName('open_for', tja)).toBe('指定時間だけ開く');
    expect(commandName('close', ten)).toBe('Close');
    expect(commandName('dose', tja)).toBe('dose');
    expect(['open', 'close', 'open_for', 'dose', 'constructor'].map(knownCommand)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('starts a new automation on the first sensor and actuator, with the irrigation limits', () => {
    const d = draftOf(undefined, C);
    expect(d).toMatchObject({ kind: 'threshold', sensor: 'soil-1', metric: 'soil_vwc', maxRunsPerDay: '2' });
    expect(d.action).toEqual(cmd('valve-1', 'open_for', { minutes: '30' }));
    expect(d.below.command).toBe('open');
    expect(d.above.command).toBe('close');
    // A farm with nothing yet: an empty draft, which the checks then name.
    const empty = draftOf(undefined, { sensors: [], actuators: [] });
    expect(checkDraft(empty, { sensors: [], actuators: [] }, tja)).toMatchObject({
      sensor: '選んでください',
      'action.device': '選んでください',
    });
  });
});

describe('units: soil moisture in %, stored in m³/m³; water level in cm', () => {
  it('turns 22 % into exactly 0.22 and back into exactly 22, without binary noise', () => {
    expect(toStored(22, 100)).toBe(0.22);
    expect(toDisplay(0.22, 100)).toBe(22);
    // The noise the conversion rounds away: 0.57 × 100 is 56.99999999999999 in binary.
    expect(0.57 * 100).not.toBe(57);
    expect(toDisplay(0.57, 100)).toBe(57);
    expect(0.07 * 100).not.toBe(7);
    expect(toDisplay(0.07, 100)).toBe(7);
    expect(draftBody(threshold(), C).trigger).toMatchObject({ value: 0.22 });
  });

  it('round-trips every 0.1 % from 0 to 100 and every 0.001 m³/m³, exactly', () => {
    for (let i = 0; i <= 1000; i++) {
      const shown = i / 10;
      expect(toDisplay(toStored(shown, 100), 100)).toBe(shown);
      const stored = i / 1000;
      expect(toStored(toDisplay(stored, 100), 100)).toBe(stored);
      expect(String(toDisplay(stored, 100))).toBe(String(i / 10));
    }
  });

  it('keeps centimetres as they are, negative ones too', () => {
    for (const v of [-10, -0.5, 0, 3, 4.2, 40]) {
      expect(toStored(v, 1)).toBe(v);
      expect(toDisplay(v, 1)).toBe(v);
    }
    const b = draftBody(band({ low: '-2.5', high: '4.2' }), C);
    expect(b.trigger).toEqual({
      kind: 'band',
      device: 'water-1',
      metric: 'water_level',
      low: -2.5,
      high: 4.2,
    });
  });

  it('shows a stored automation in display units (0.18 → 18 %, 3–5 cm)', () => {
    const a = stored({
      trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.18 },
    });
    expect(draftOf(a, C).value).toBe('18');
    const p = stored({
      trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
      action: undefined,
      below: { device: 'gate-1', command: 'open' },
    });
    expect([draftOf(p, C).low, draftOf(p, C).high]).toEqual(['3', '5']);
    // A sensor no longer on the farm still shows in its metric's display unit.
    const gone = stored({
      trigger: { kind: 'threshold', device: 'gone-1', metric: 'soil_vwc', op: '<', value: 0.57 },
    });
    expect(draftOf(gone, C).value).toBe('57');
  });
});

describe('the checks, at and around each boundary', () => {
  it('passes the e2e journey’s threshold and band', () => {
    expect(errorsOf(threshold())).toEqual({});
    expect(errorsOf(band())).toEqual({});
  });

  it('holds soil moisture to the probe’s 0–60 %, naming that range (70 % is stopped here now)', () => {
    for (const ok of ['0', '60', '59.99', '0.01', '22'])
      expect(errorsOf(threshold({ value: ok })), ok).toEqual({});
    for (const bad of ['-0.01', '60.01', '70', '100'])
      expect(errorsOf(threshold({ value: bad })), bad).toEqual({ value: '0〜60 % の範囲で入れてください' });
    expect(errorsOf(threshold({ value: '70' }), ten)).toEqual({ value: 'Enter 0 to 60 %' });
    // A sensor the server would refuse is not among the choices.
    expect(errorsOf(threshold({ sensor: 'diy-1' }))).toEqual({ sensor: '選んでください' });
    expect(errorsOf(threshold({ sensor: 'diy-2' }))).toEqual({ sensor: '選んでください' });
  });

  it('holds a band to the level sensor’s −10–40 cm, low below high', () => {
    expect(errorsOf(band({ low: '-10', high: '40' }))).toEqual({});
    expect(errorsOf(band({ low: '-10.1' }))).toEqual({ low: '-10〜40 cm の範囲で入れてください' });
    expect(errorsOf(band({ high: '40.1' }))).toEqual({ high: '-10〜40 cm の範囲で入れてください' });
    expect(errorsOf(band({ low: '5', high: '5' }))).toEqual({ high: '下限は上限より小さくしてください' });
    expect(errorsOf(band({ low: '5', high: '3' }))).toEqual({ high: '下限は上限より小さくしてください' });
    expect(errorsOf(band({ low: '4.99', high: '5' }))).toEqual({});
  });

  it('holds the limits to the schema’s bounds, whole numbers only', () => {
    const cases: [keyof typeof LIMIT_BOUNDS, string[], string[]][] = [
      ['maxRunsPerDay', ['1', '96'], ['0', '97', '1.5']],
      ['maxOpenMinutes', ['30', '720'], ['0', '721', '30.5']],
      ['cooldownMinutes', ['', '0', '1440'], ['-1', '1441', '0.5']],
    ];
    for (const [key, good, bad] of cases) {
      const { min, max } = LIMIT_BOUNDS[key];
      for (const v of good) expect(errorsOf(threshold({ [key]: v })), `${key}=${v}`).toEqual({});
      for (const v of bad)
        expect(errorsOf(threshold({ [key]: v })), `${key}=${v}`).toEqual({
          [key]: `${min}〜${max} の整数で入れてください`,
        });
    }
  });

  it('holds the open_for minutes to the kit’s 1–720 and to the maximum open time', () => {
    const at = (minutes: string, maxOpenMinutes = '720') =>
      errorsOf(threshold({ action: cmd('valve-1', 'open_for', { minutes }), maxOpenMinutes }));
    expect(at('1')).toEqual({});
    expect(at('720')).toEqual({});
    for (const bad of ['0', '721', '2.5', ''])
      expect(at(bad), bad).toEqual({ 'action.params.minutes': '1〜720 の整数で入れてください' });
    expect(at('45', '45')).toEqual({});
    expect(at('46', '45')).toEqual({ 'action.params.minutes': '最大開放時間（45 分）以下にしてください' });
    // With the maximum itself wrong, only the maximum is named.
    expect(at('46', '0')).toEqual({ maxOpenMinutes: '1〜720 の整数で入れてください' });
  });

  it('checks a kit’s own parameters by their type and range, with their unit', () => {
    const dose = (params: Record<string, string>) =>
      errorsOf(band({ below: cmd('pump-1', 'dose', params), above: cmd('pump-1', 'stop') }));
    const ok = { litres: '0.5', constructor: '3', minutes: '60' };
    expect(dose(ok)).toEqual({});
    expect(dose({ ...ok, litres: '20' })).toEqual({});
    expect(dose({ ...ok, litres: '0.49' })).toEqual({
      'below.params.litres': '0.5〜20 L の範囲で入れてください',
    });
    expect(dose({ ...ok, litres: '20.01' })).toEqual({
      'below.params.litres': '0.5〜20 L の範囲で入れてください',
    });
    expect(dose({ ...ok, constructor: '4' })).toEqual({
      'below.params.constructor': '1〜3 の整数で入れてください',
    });
    expect(dose({ ...ok, minutes: '61' })).toEqual({
      'below.params.minutes': '1〜60 の整数で入れてください',
    });
    // Not typed: a plain object's inherited `constructor` is not a value.
    const { constructor: _c, ...noPumps } = ok;
    expect(dose(noPumps)).toEqual({ 'below.params.constructor': '1〜3 の整数で入れてください' });
  });

  it('checks the name as PlainName does: one language is enough, 200 characters, no markup or bidi', () => {
    const named = (ja: string, en = '') => errorsOf(threshold({ name: { ja, en } }));
    expect(named('あ'.repeat(MAX_NAME))).toEqual({});
    expect(named('', 'Paddy')).toEqual({});
    const bad = [
      'あ'.repeat(MAX_NAME + 1),
      '',
      '   ',
      '<b>水</b>',
      'a\u202eb',
      'a\u2066b',
      'tab\tinside',
      'nul\u0000',
    ];
    for (const n of bad)
      expect(named(n), JSON.stringify(n)).toEqual({ name: '名前を入れてください（< と > は使えません）' });
    expect(named('ok', 'x'.repeat(MAX_NAME + 1))).toEqual({
      name: '名前を入れてください（< と > は使えません）',
    });
  });

  it('refuses exactly the characters PlainName refuses, over the whole Basic Multilingual Plane', () => {
    const plain = new RegExp(PlainName.pattern!);
    const disagree: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCharCode(c);
      if (notPlain(ch) === plain.test(ch)) disagree.push(c.toString(16));
    }
    expect(disagree).toEqual([]);
    expect(MAX_NAME).toBe(PlainName.maxLength);
  });

  it('keeps its limit bounds equal to the schema’s', () => {
    for (const key of Object.keys(LIMIT_BOUNDS) as (keyof typeof LIMIT_BOUNDS)[]) {
      const s = AutomationLimits.properties[key];
      expect({ key, min: s.minimum, max: s.maximum }).toEqual({ key, ...LIMIT_BOUNDS[key] });
    }
  });

  it('checks quiet hours only when used: HH:MM, two different times', () => {
    const q = (quietFrom: string, quietTo: string, quiet = true) =>
      errorsOf(threshold({ quiet, quietFrom, quietTo }));
    expect(q('00:00', '23:59')).toEqual({});
    for (const [a, b] of [
      ['24:00', '05:00'],
      ['7:00', '05:00'],
      ['22:00', '05:60'],
      ['', '05:00'],
    ])
      expect(q(a!, b!), `${a}–${b}`).toEqual({ quiet: '時刻を入れてください' });
    expect(q('05:00', '05:00')).toEqual({ quiet: '停止の開始と終了は別の時刻にしてください' });
    expect(q('nonsense', '05:00', false)).toEqual({});
  });

  it('asks to choose a sensor, metric, actuator and command that the farm has', () => {
    expect(errorsOf(threshold({ sensor: 'nope' }))).toEqual({ sensor: '選んでください' });
    expect(errorsOf(threshold({ metric: 'water_level' }))).toEqual({ metric: '選んでください' });
    expect(errorsOf(threshold({ action: cmd('', '') }))).toEqual({ 'action.device': '選んでください' });
    expect(errorsOf(threshold({ action: cmd('soil-1', 'open') }))).toEqual({
      'action.device': '選んでください',
    });
    expect(errorsOf(threshold({ action: cmd('valve-1', 'dose') }))).toEqual({
      'action.command': '選んでください',
    });
    expect(errorsOf(band({ below: cmd('', ''), above: cmd('', '') }))).toEqual({
      'below.device': '下回ったとき・上回ったときの少なくとも一方で機器を選んでください',
    });
    expect(errorsOf(band({ below: cmd('', '') }))).toEqual({});
  });
});

describe('malformed and hostile input gets the check’s error, not a crash', () => {
  const NOT_NUMBERS = [
    '',
    ' ',
    'NaN',
    'nan',
    'Infinity',
    '-Infinity',
    '1e400',
    '0x10',
    '22abc',
    '２２',
    '1,5',
    '--1',
    '.',
    'e5',
  ];

  it('reads only decimal numbers as numbers', () => {
    for (const s of NOT_NUMBERS) expect(parseNum(s), JSON.stringify(s)).not.toSatisfy(Number.isFinite);
    expect(['22', ' 22 ', '-1.5', '.5', '5.', '+3', '1e2'].map(parseNum)).toEqual([
      22, 22, -1.5, 0.5, 5, 3, 100,
    ]);
    for (const x of [undefined, null, {}, [], true]) expect(parseNum(x)).toBeNaN();
  });

  it('names each field typed with something that is not a number', () => {
    for (const s of NOT_NUMBERS) {
      expect(errorsOf(threshold({ value: s })).value, JSON.stringify(s)).toBe('数値を入れてください');
      const b = errorsOf(band({ low: s, high: s }));
      expect([b.low, b.high], JSON.stringify(s)).toEqual(['数値を入れてください', '数値を入れてください']);
      expect(errorsOf(threshold({ maxRunsPerDay: s })).maxRunsPerDay).toBe('1〜96 の整数で入れてください');
      expect(errorsOf(threshold({ action: cmd('valve-1', 'open_for', { minutes: s }) }))).toEqual({
        'action.params.minutes': '1〜720 の整数で入れてください',
      });
    }
    expect(errorsOf(threshold({ value: NaN as unknown as string })).value).toBe('数値を入れてください');
  });

  it('answers ids that name a plain object’s own properties with "choose", not with what the object inherits', () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(errorsOf(threshold({ sensor: id })), id).toEqual({ sensor: '選んでください' });
      expect(errorsOf(threshold({ metric: id })), id).toEqual({ metric: '選んでください' });
      expect(errorsOf(threshold({ action: cmd(id, 'open') })), id).toEqual({
        'action.device': '選んでください',
      });
      expect(errorsOf(threshold({ action: cmd('valve-1', id) })), id).toEqual({
        'action.command': '選んでください',
      });
    }
    // A parameter typed under a hostile name is not sent, and sets no prototype.
    const params = JSON.parse('{"__proto__": "5", "minutes": "30"}') as Record<string, string>;
    const body = draftBody(threshold({ action: cmd('valve-1', 'open_for', params) }), C);
    expect(body.action).toEqual({ device: 'valve-1', command: 'open_for', params: { minutes: 30 } });
    expect(Object.getPrototypeOf(body.action!.params)).toBe(Object.prototype);
  });

  it('never throws, and whatever it lets through the server’s checks accept too', () => {
    const value = fc.oneof(
      fc.constantFrom(
        ...NOT_NUMBERS,
        '0',
        '1',
        '3',
        '5',
        '22',
        '30',
        '45',
        '60',
        '60.01',
        '70',
        '720',
        '721',
        '-10',
      ),
      fc.double({ noNaN: false }).map(String),
      fc.integer({ min: -50, max: 1500 }).map(String),
      fc.string({ maxLength: 8 }),
    );
    const id = fc.constantFrom(
      'soil-1',
      'water-1',
      'valve-1',
      'gate-1',
      'pump-1',
      'diy-1',
      '',
      '__proto__',
      'constructor',
    );
    const command = fc.record({
      device: id,
      command: fc.constantFrom('open', 'close', 'open_for', 'dose', 'stop', '', 'toString'),
      params: fc.dictionary(fc.constantFrom('minutes', 'litres', 'constructor', '__proto__'), value),
    });
    const time = fc.oneof(fc.constantFrom('22:00', '05:00', '24:00', '00:00'), fc.string({ maxLength: 6 }));
    // A valid draft with up to three fields replaced by anything: many still pass, many do not.
    const fields: Partial<Record<keyof Draft, fc.Arbitrary<unknown>>> = {
      kind: fc.constantFrom('threshold', 'band'),
      name: fc.record({ ja: fc.string({ maxLength: 210 }), en: fc.string({ maxLength: 10 }) }),
      sensor: id,
      metric: fc.constantFrom('soil_vwc', 'water_level', 'soil_temperature', 'pump_state', 'constructor', ''),
      value,
      low: value,
      high: value,
      action: command,
      below: command,
      above: command,
      maxRunsPerDay: value,
      maxOpenMinutes: value,
      cooldownMinutes: value,
      quiet: fc.boolean(),
      quietFrom: time,
      quietTo: time,
    };
    const change = fc.oneof(...Object.entries(fields).map(([k, arb]) => arb.map((v) => [k, v] as const)));
    const bases = [
      threshold(),
      band(),
      band({
        below: cmd('pump-1', 'dose', { litres: '2', constructor: '1', minutes: '10' }),
        above: cmd('pump-1', 'stop'),
      }),
    ];
    const draft: fc.Arbitrary<Draft> = fc
      .tuple(fc.constantFrom(...bases), fc.array(change, { maxLength: 3 }))
      .map(([base, changes]) => ({ ...base, ...Object.fromEntries(changes) }) as Draft);
    let passed = 0;
    fc.assert(
      fc.property(draft, fc.constantFrom<Lang>('ja', 'en'), (d, lang) => {
        const e = checkDraft(d, C, (k) => translate(lang, k));
        for (const m of Object.values(e))
          expect(typeof m === 'string' && m.length > 0 && !m.includes('{')).toBe(true);
        if (Object.keys(e).length > 0) return;
        passed++;
        expect(serverProblems(draftBody(d, C))).toEqual([]);
      }),
      { numRuns: 3000 },
    );
    // Hand-made drafts that pass: the agreement is also checked where it matters most.
    for (const d of [threshold(), band(), threshold({ value: '60' }), band({ low: '-10', high: '40' })])
      expect(serverProblems(draftBody(d, C))).toEqual([]);
    // (the property has said something: a good share of the drafts passed the checks)
    expect(passed).toBeGreaterThan(300);
  });

  it('refuses in the browser every trigger value and parameter the server would refuse', () => {
    // Values around each boundary: the browser's verdict is the server's.
    const values = [
      '-10.01',
      '-10',
      '-0.01',
      '0',
      '0.49',
      '0.5',
      '1',
      '3',
      '20',
      '20.01',
      '40',
      '40.01',
      '59.999',
      '60',
      '60.001',
      '70',
      '100',
      '720',
      '721',
    ];
    for (const v of values) {
      const t = threshold({ value: v });
      expect(!!errorsOf(t).value, `soil ${v} %`).toBe(
        serverProblems(draftBody(t, C)).includes('/trigger/value'),
      );
      const b = band({ low: v, high: '40' });
      const server = serverProblems(draftBody(b, C));
      expect(!!errorsOf(b).low || !!errorsOf(b).high, `level ${v} cm`).toBe(server.length > 0);
      const dose = band({
        below: cmd('pump-1', 'dose', { litres: v, constructor: '2', minutes: '10' }),
        above: cmd('pump-1', 'stop'),
      });
      expect(!!errorsOf(dose)['below.params.litres'], `litres ${v}`).toBe(
        serverProblems(draftBody(dose, C)).length > 0,
      );
    }
  });
});

function stored(patch: Partial<AutomationView> = {}): AutomationView {
  return {
    id: 'aut-0123456789abcdef',
    farm: 'demo-farm',
    field: 'upland-1',
    name: { ja: '畑1号の灌水', en: 'Upland 1 irrigation' },
    enabled: true,
    version: 3,
    trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
    action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
    // confirmSeconds and retries are not in the form: a tip's automation sets them.
    limits: {
      maxRunsPerDay: 2,
      maxOpenMinutes: 45,
      cooldownMinutes: 240,
      quietHours: { from: '22:00', to: '05:00' },
      confirmSeconds: 90,
      retries: 2,
    },
    fromTip: 'tip-irr-1',
    createdBy: 'demo-farmer',
    createdAt: 1,
    updatedAt: T0,
    updatedBy: 'demo-farmer',
    onGateway: { state: 'applied', version: 3 },
    ...patch,
  };
}

describe('the body a draft becomes', () => {
  it('builds the threshold in storage units, the field from the sensor, the name in both languages', () => {
    expect(draftBody(threshold(), C)).toEqual({
      field: 'upland-1',
      name: { ja: '畑1号の灌水', en: '畑1号の灌水' },
      enabled: true,
      trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
      action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
      limits: {
        maxRunsPerDay: 2,
        maxOpenMinutes: 45,
        cooldownMinutes: 240,
        quietHours: { from: '22:00', to: '05:00' },
      },
    });
  });

  it('builds the band with below and above, commands without parameters carrying none', () => {
    expect(draftBody(band({ name: { ja: '  田んぼ1号の水位 ', en: '' } }), C)).toEqual({
      field: 'paddy-1',
      name: { ja: '田んぼ1号の水位', en: '田んぼ1号の水位' },
      enabled: true,
      trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
      below: { device: 'gate-1', command: 'open' },
      above: { device: 'gate-1', command: 'close' },
      limits: { maxRunsPerDay: 12, maxOpenMinutes: 180, cooldownMinutes: 30 },
    });
    // Only one side, and a kit's own command with every parameter it defines, as numbers.
    const b = draftBody(
      band({
        below: cmd('', ''),
        above: cmd('pump-1', 'dose', { litres: '2.5', constructor: '2', minutes: '10', extra: '1' }),
      }),
      C,
    );
    expect(b.below).toBeUndefined();
    expect(b.above).toEqual({
      device: 'pump-1',
      command: 'dose',
      params: { litres: 2.5, constructor: 2, minutes: 10 },
    });
  });

  it('leaves a field out for a sensor with none', () => {
    const d = threshold({ sensor: 'pump-1', metric: 'pump_state', op: '>=', value: '1' });
    expect(errorsOf(d)).toEqual({});
    expect(draftBody(d, C)).not.toHaveProperty('field');
    expect(draftBody(d, C).trigger).toEqual({
      kind: 'threshold',
      device: 'pump-1',
      metric: 'pump_state',
      op: '>=',
      value: 1,
    });
  });
});

describe('editing a stored automation', () => {
  it('keeps what the form does not show (confirmSeconds, retries) and gives back what it stored', () => {
    const a = stored();
    const d = draftOf(a, C);
    expect(d).toMatchObject({
      value: '22',
      maxOpenMinutes: '45',
      quietFrom: '22:00',
      extraLimits: { confirmSeconds: 90, retries: 2 },
    });
    expect(d.action).toEqual(cmd('valve-1', 'open_for', { minutes: '30' }));
    expect(checkDraft(d, C, tja)).toEqual({});
    const { field, name, enabled, trigger, action, limits } = a;
    expect(draftBody(d, C, a)).toEqual({ field, name, enabled, trigger, action, limits });
    // A change to one field changes that alone.
    expect(draftBody({ ...d, value: '18' }, C, a)).toEqual({
      field,
      name,
      enabled,
      trigger: { ...trigger, value: 0.18 },
      action,
      limits,
    });
  });

  it('keeps the automation’s own field while the sensor stays, and takes the new sensor’s when it changes', () => {
    const a = stored({ field: 'upland-2' });
    expect(draftBody(draftOf(a, C), C, a).field).toBe('upland-2');
    const moved = { ...draftOf(a, C), sensor: 'water-1', metric: 'water_level', value: '4' };
    expect(draftBody(moved, C, a).field).toBe('paddy-1');
  });

  it('gives back a band with only an above side, and no quiet hours or cooldown', () => {
    const a = stored({
      trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: -2, high: 4.5 },
      action: undefined,
      above: { device: 'gate-1', command: 'close' },
      limits: { maxRunsPerDay: 12, maxOpenMinutes: 180 },
    });
    const d = draftOf(a, C);
    expect(d).toMatchObject({ kind: 'band', low: '-2', high: '4.5', cooldownMinutes: '', quiet: false });
    expect(checkDraft(d, C, tja)).toEqual({});
    expect(draftBody(d, C, a)).toEqual({
      field: a.field,
      name: a.name,
      enabled: true,
      trigger: a.trigger,
      above: a.above,
      limits: a.limits,
    });
  });
});

describe('where a server problem shows', () => {
  it('maps its JSON pointer to the form field', () => {
    const cases: [string | undefined, string][] = [
      ['/name', 'name'],
      ['/name/ja', 'name'],
      ['/trigger/value', 'value'],
      ['/trigger/low', 'low'],
      ['/trigger/high', 'high'],
      ['/trigger/metric', 'metric'],
      ['/trigger/device', 'sensor'],
      ['/trigger', 'sensor'],
      ['/action', 'action.device'],
      ['/action/device', 'action.device'],
      ['/below/command', 'below.command'],
      ['/above/params/minutes', 'above.params.minutes'],
      ['/action/params', 'action.command'],
      ['/limits/maxOpenMinutes', 'maxOpenMinutes'],
      ['/limits/quietHours', 'quiet'],
      ['/limits/quietHours/from', 'quiet'],
      ['/farm', ''],
      ['', ''],
      [undefined, ''],
    ];
    for (const [pointer, field] of cases) expect(fieldOfPointer(pointer), String(pointer)).toBe(field);
  });
});
