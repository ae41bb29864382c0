// `hatake kit validate`'s checks: every problem of a manifest, each at its line and column, with
// the code of its kind.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MANIFEST_PROBLEM_CODES,
  checkManifest,
  loadManifest,
  manifestData,
  readManifestYaml,
} from '../../../firmware-config/manifest-check.ts';
import { ERROR_CODES } from '../../../protocol/errors.ts';
import { catalogue, coded } from './helpers.ts';

const cat = catalogue();
const FIXTURES = join(import.meta.dirname, 'fixtures');
const DEMO = join(import.meta.dirname, '../../../sim/demo-farm.yaml');

describe('manifest validation', () => {
  it('reports all ten mistakes of a manifest, each with its line, column and expectation', () => {
    const file = join(FIXTURES, 'ten-mistakes.yaml');
    const { manifest, problems } = checkManifest(file, readFileSync(file, 'utf8'), {
      catalogue: cat,
      today: '2026-11-28',
    });
    expect(manifest).toBeUndefined();
    const expected: Array<[number, number, string, RegExp]> = [
      [3, 7, 'HATAKE_E_MANIFEST_FORMAT', /\/farm\/id: Expected string to match/],
      [5, 13, 'HATAKE_E_MANIFEST_TIMEZONE', /time zone "Asia\/Tokio" is not known/],
      [9, 19, 'HATAKE_E_MANIFEST_FUTURE_DATE', /planting date 2099-05-10 is in the future/],
      [12, 106, 'HATAKE_E_MANIFEST_RING_OPEN', /ring 0 is not closed/],
      [17, 21, 'HATAKE_E_MANIFEST_RING_CROSSING', /the boundary crosses itself at \[138\.90275, 37\.8005\]/],
      [20, 15, 'HATAKE_E_MANIFEST_BOUNDARY_FILE', /boundary file boundaries\/missing\.geojson was not found/],
      [26, 10, 'HATAKE_E_UNKNOWN_KIT', /kit "hatake-soil-prob" is not in the catalogue/],
      [28, 9, 'HATAKE_E_MANIFEST_DUPLICATE_ID', /device id "soil-1" is used twice/],
      [
        31,
        15,
        'HATAKE_E_MANIFEST_OUTSIDE_FIELD',
        /position \[138\.95, 37\.8\] is outside the boundary of field "upland-3"/,
      ],
      [34, 12, 'HATAKE_E_MANIFEST_UNKNOWN_FIELD', /field "orchard-9" is not among the manifest's fields/],
    ];
    expect(problems.map((p) => [p.place?.line, p.place?.column, p.code])).toEqual(
      expected.map(([l, c, code]) => [l, c, code]),
    );
    problems.forEach((p, i) => expect(p.message).toMatch(expected[i]![3]));
    for (const p of problems) {
      expect(p.place?.file).toBe(file);
      expect(p.expected !== undefined || /Expected /.test(p.message)).toBe(true);
    }
  });

  it('accepts the demo manifest', () => {
    const { manifest, problems } = checkManifest(DEMO, readFileSync(DEMO, 'utf8'), {
      catalogue: cat,
      today: '2026-11-28',
    });
    expect(problems).toEqual([]);
    expect(manifest?.devices.map((d) => d.kit)).toEqual([
      'hatake-soil-probe',
      'hatake-weather-station',
      'hatake-paddy-water',
      'hatake-water-gate',
    ]);
  });

  it('checks field observations: a future date and an attribute name outside the rule, each placed', () => {
    const text = `farm: { id: f1, name: F }\nfields:\n  - id: p1\n    name: P1\n    observations:\n      plant_height_cm: { value: 64, date: '2099-07-18' }\n      Stems: { value: 430, date: '2026-07-18' }\ndevices: []\n`;
    const { manifest, problems } = checkManifest('obs.yaml', text, { catalogue: cat, today: '2026-11-28' });
    expect(manifest).toBeUndefined();
    expect(problems.map((p) => [p.place?.line, p.code, p.message.slice(0, 60)])).toEqual(
      expect.arrayContaining([
        [7, 'HATAKE_E_MANIFEST_UNKNOWN_KEY', expect.stringContaining('Stems') as string],
      ]),
    );
    const ok = text.replace("      Stems: { value: 430, date: '2026-07-18' }\n", '');
    const again = checkManifest('obs.yaml', ok, { catalogue: cat, today: '2026-11-28' });
    expect(again.problems.map((p) => [p.place?.line, p.code, p.message])).toEqual([
      [6, 'HATAKE_E_MANIFEST_FUTURE_DATE', 'observation plant_height_cm is dated 2099-07-18, in the future'],
    ]);
  });

  it('checks a stage seen in the field: dated in the future, or with no date, each placed', () => {
    const text = `farm: { id: f1, name: F }\nfields:\n  - id: p1\n    name: P1\n    crop: rice\n    stage: { id: tillering, date: '2099-06-01' }\ndevices: []\n`;
    expect(
      checkManifest('s.yaml', text, { catalogue: cat, today: '2026-11-28' }).problems.map((p) => [
        p.place?.line,
        p.code,
        p.message,
      ]),
    ).toEqual([[6, 'HATAKE_E_MANIFEST_FUTURE_DATE', 'stage tillering is dated 2099-06-01, in the future']]);
    const undated = checkManifest('s.yaml', text.replace(", date: '2099-06-01'", ''), {
      catalogue: cat,
      today: '2026-11-28',
    });
    expect(undated.manifest).toBeUndefined();
    expect(undated.problems[0]?.place?.line).toBe(6);
    const ok = checkManifest('s.yaml', text.replace('2099-06-01', '2026-06-01'), {
      catalogue: cat,
      today: '2026-11-28',
    });
    expect(ok.problems).toEqual([]);
    expect(ok.manifest?.fields[0]?.stage).toEqual({ id: 'tillering', date: '2026-06-01' });
  });

  it('inlines a boundary given by path when loading, so the server never sees a path', () => {
    const ok = `farm: { id: f1, name: F }\nfields:\n  - { id: upland-3, name: U3, boundary: boundaries/upland-3.geojson }\ndevices:\n  - { id: s1, kit: hatake-soil-probe, field: upland-3, position: [138.915, 37.805] }\n`;
    const { manifest, problems } = checkManifest(join(FIXTURES, 'ok.yaml'), ok, {
      catalogue: cat,
      today: '2026-11-28',
    });
    expect(problems).toEqual([]);
    expect(manifest?.fields[0]?.boundary).toMatchObject({
      type: 'Polygon',
      coordinates: [
        [[138.91, 37.8], expect.anything(), expect.anything(), expect.anything(), [138.91, 37.8]],
      ],
    });
    expect(() => loadManifest(join(FIXTURES, 'ten-mistakes.yaml'), { catalogue: cat })).toThrow(
      /Expected string to match/,
    );
  });

  it.each([
    [
      'calibration of a metric the kit does not calibrate',
      `  - { id: w1, kit: hatake-weather-station, calibration: { rain: [0, 1] } }`,
      'HATAKE_E_MANIFEST_CALIBRATION',
      /does not calibrate "rain"/,
    ],
    [
      'a LoRaWAN device without its DevEUI',
      `  - { id: l1, kit: dragino-lse01 }`,
      'HATAKE_E_MANIFEST_DEVEUI',
      /has no devEui/,
    ],
    [
      'a DevEUI used twice',
      `  - { id: l1, kit: dragino-lse01, devEui: A840414A71835F9D }\n  - { id: l2, kit: dragino-lse01, devEui: a840414a71835f9d }`,
      'HATAKE_E_MANIFEST_DUPLICATE_ID',
      /devEui .* used twice/,
    ],
    [
      'a key the schema does not know',
      `  - { id: s1, kit: hatake-soil-probe }\nx: 1`,
      'HATAKE_E_MANIFEST_UNKNOWN_KEY',
      /^\/x: Unexpected property$/,
    ],
  ])('reports %s', (_what, devices, code, message) => {
    const text = `farm: { id: f1, name: F }\nfields: []\ndevices:\n${devices}\n`;
    const { problems } = checkManifest('m.yaml', text, { catalogue: cat });
    expect(problems.map((p) => p.code)).toEqual([code]);
    expect(problems[0]!.message).toMatch(message);
    expect(
      problems.every((p) => typeof p.place?.line === 'number' && typeof p.place?.column === 'number'),
    ).toBe(true);
  });

  it('codes each schema problem by the rule it breaks, keeping its text and place', () => {
    const text = [
      'farm: { id: f1, name: F, timezone: 9 }',
      'fields:',
      '  - { id: p1, name: "" }',
      '  - { id: p2 }',
      'devices:',
      '  - { id: s1, kit: hatake-soil-probe, devEui: not-hex, depth: 9, colour: red }',
      '',
    ].join('\n');
    const { manifest, problems } = checkManifest('m.yaml', text, { catalogue: cat });
    expect(manifest).toBeUndefined();
    expect(problems.map((p) => [p.place?.line, p.place?.column, p.code, p.message])).toEqual([
      [1, 36, 'HATAKE_E_MANIFEST_TYPE', '/farm/timezone: Expected string'],
      [3, 21, 'HATAKE_E_MANIFEST_RANGE', '/fields/0/name: Expected string length greater or equal to 1'],
      [4, 5, 'HATAKE_E_MANIFEST_REQUIRED', '/fields/1/name: Expected required property'],
      [4, 5, 'HATAKE_E_MANIFEST_TYPE', '/fields/1/name: Expected string'],
      [6, 47, 'HATAKE_E_MANIFEST_FORMAT', "/devices/0/devEui: Expected string to match '^[0-9A-Fa-f]{16}$'"],
      [6, 63, 'HATAKE_E_MANIFEST_RANGE', '/devices/0/depth: Expected number to be less or equal to 5'],
      [6, 74, 'HATAKE_E_MANIFEST_UNKNOWN_KEY', '/devices/0/colour: Unexpected property'],
    ]);
    expect(problems.every((p) => p.place?.file === 'm.yaml' && p.place.pointer !== undefined)).toBe(true);
  });

  it('tells a boundary file that is not there from one that holds no polygon', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-boundary-'));
    try {
      writeFileSync(
        join(dir, 'point.geojson'),
        JSON.stringify({ type: 'Point', coordinates: [138.9, 37.8] }),
      );
      writeFileSync(join(dir, 'broken.json'), '{"type": "Polygon", ');
      const text = [
        'farm: { id: f1, name: F }',
        'fields:',
        '  - { id: a, name: A, boundary: point.geojson }',
        '  - { id: b, name: B, boundary: broken.json }',
        '  - { id: c, name: C, boundary: gone.geojson }',
        '  - { id: d, name: D, boundary: { type: Polygn, coordinates: [] } }',
        '  - { id: e, name: E, boundary: paddy.kml }',
        'devices: []',
        '',
      ].join('\n');
      const { problems } = checkManifest(join(dir, 'm.yaml'), text, { catalogue: cat });
      expect(problems.map((p) => [p.place?.line, p.code, p.message.slice(0, 48)])).toEqual([
        [3, 'HATAKE_E_MANIFEST_GEOJSON', 'boundary file point.geojson: the file holds a Po'],
        [4, 'HATAKE_E_MANIFEST_GEOJSON', 'boundary file broken.json is not JSON: Expected '],
        [5, 'HATAKE_E_MANIFEST_BOUNDARY_FILE', 'boundary file gone.geojson was not found'],
        [6, 'HATAKE_E_MANIFEST_GEOJSON', "/fields/3/boundary/type: Expected 'Polygon'"],
        [6, 'HATAKE_E_MANIFEST_GEOJSON', '/fields/3/boundary/coordinates: Expected array l'],
        [7, 'HATAKE_E_MANIFEST_GEOJSON', '/fields/4/boundary: boundary is neither a GeoJSO'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('registers every code it gives, and gives the YAML reader’s problems its own codes', () => {
    for (const code of MANIFEST_PROBLEM_CODES) expect(Object.hasOwn(ERROR_CODES, code), code).toBe(true);
    expect(MANIFEST_PROBLEM_CODES).not.toContain('HATAKE_E_CONFIG');
    const syntax = readManifestYaml('farm: { id: f1\nfields: [', 'm.yaml');
    expect(syntax.errors.map((e) => [e.code, e.place?.file, e.expected])).toEqual(
      syntax.errors.map(() => ['HATAKE_E_MANIFEST_YAML', 'm.yaml', 'valid YAML']),
    );
    expect(syntax.errors.length).toBeGreaterThan(0);
    const big = readManifestYaml(`# ${'x'.repeat(5 * 1024 * 1024)}\n`, 'm.yaml');
    expect(big.errors.map((e) => e.code)).toEqual(['HATAKE_E_PAYLOAD_SIZE']);
    const unresolved = coded(() => manifestData(readManifestYaml('<<: *missing\n', 'm.yaml').source));
    expect(unresolved).toMatchObject({ code: 'HATAKE_E_MANIFEST_YAML', place: { file: 'm.yaml' } });
    expect(unresolved.message).toMatch(/^YAML cannot be resolved: Unresolved alias/);
  });

  it.each([
    ['a YAML syntax error', 'farm: { id: f1\nfields: [', 'HATAKE_E_MANIFEST_YAML'],
    [
      'a key written twice',
      'farm: { id: f1, name: F }\nfarm: { id: f2, name: G }\n',
      'HATAKE_E_MANIFEST_YAML',
    ],
    [
      'an alias bomb',
      'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      'HATAKE_E_MANIFEST_YAML',
    ],
    ['a document that is a list', '- 1\n- 2\n', 'HATAKE_E_MANIFEST_TYPE'],
    [
      'an oversized file',
      `farm: { id: f1, name: F }\n# ${'x'.repeat(5 * 1024 * 1024)}\n`,
      'HATAKE_E_PAYLOAD_SIZE',
    ],
    [
      'a hostile polygon (3 points, NaN-like strings)',
      "farm: { id: f1, name: F }\nfields:\n  - { id: a, name: A, boundary: { type: Polygon, coordinates: [[[0, 0], ['x', 1], [0, 0]]] } }\ndevices: []\n",
      'HATAKE_E_MANIFEST_GEOJSON',
    ],
  ])('answers %s with placed errors and no exception', (_what, text, code) => {
    const { manifest, problems } = checkManifest('bad.yaml', text, { catalogue: cat });
    expect(manifest).toBeUndefined();
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.place?.file === 'bad.yaml')).toBe(true);
    expect(new Set(problems.map((p) => p.code))).toEqual(new Set([code]));
  });
});
