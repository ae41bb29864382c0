// `hatake kit validate`'s checks: every problem of a manifest, each at its line and column.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkManifest, loadManifest } from '../../../firmware-config/manifest-check.ts';
import { catalogue } from './helpers.ts';

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
      [3, 7, 'HATAKE_E_CONFIG', /\/farm\/id: Expected string to match/],
      [5, 13, 'HATAKE_E_CONFIG', /time zone "Asia\/Tokio" is not known/],
      [9, 19, 'HATAKE_E_CONFIG', /planting date 2099-05-10 is in the future/],
      [12, 106, 'HATAKE_E_CONFIG', /ring 0 is not closed/],
      [17, 21, 'HATAKE_E_CONFIG', /the boundary crosses itself at \[138\.90275, 37\.8005\]/],
      [20, 15, 'HATAKE_E_CONFIG', /boundary file boundaries\/missing\.geojson was not found/],
      [26, 10, 'HATAKE_E_UNKNOWN_KIT', /kit "hatake-soil-prob" is not in the catalogue/],
      [28, 9, 'HATAKE_E_CONFIG', /device id "soil-1" is used twice/],
      [31, 15, 'HATAKE_E_CONFIG', /position \[138\.95, 37\.8\] is outside the boundary of field "upland-3"/],
      [34, 12, 'HATAKE_E_CONFIG', /field "orchard-9" is not among the manifest's fields/],
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
    expect(manifest?.devices).toHaveLength(3);
  });

  it('checks field observations: a future date and an attribute name outside the rule, each placed', () => {
    const text = `farm: { id: f1, name: F }\nfields:\n  - id: p1\n    name: P1\n    observations:\n      plant_height_cm: { value: 64, date: '2099-07-18' }\n      Stems: { value: 430, date: '2026-07-18' }\ndevices: []\n`;
    const { manifest, problems } = checkManifest('obs.yaml', text, { catalogue: cat, today: '2026-11-28' });
    expect(manifest).toBeUndefined();
    expect(problems.map((p) => [p.place?.line, p.message.slice(0, 60)])).toEqual(
      expect.arrayContaining([[7, expect.stringContaining('Stems') as string]]),
    );
    const ok = text.replace("      Stems: { value: 430, date: '2026-07-18' }\n", '');
    const again = checkManifest('obs.yaml', ok, { catalogue: cat, today: '2026-11-28' });
    expect(again.problems.map((p) => [p.place?.line, p.message])).toEqual([
      [6, 'observation plant_height_cm is dated 2099-07-18, in the future'],
    ]);
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
      /does not calibrate "rain"/,
    ],
    ['a LoRaWAN device without its DevEUI', `  - { id: l1, kit: dragino-lse01 }`, /has no devEui/],
    [
      'a DevEUI used twice',
      `  - { id: l1, kit: dragino-lse01, devEui: A840414A71835F9D }\n  - { id: l2, kit: dragino-lse01, devEui: a840414a71835f9d }`,
      /devEui .* used twice/,
    ],
    [
      'a boundary that is neither a polygon nor a path',
      `  - { id: s1, kit: hatake-soil-probe }\nx: 1`,
      /Unexpected property/,
    ],
  ])('reports %s', (_what, devices, message) => {
    const text = `farm: { id: f1, name: F }\nfields: []\ndevices:\n${devices}\n`;
    const { problems } = checkManifest('m.yaml', text, { catalogue: cat });
    expect(problems.map((p) => p.message).join(' | ')).toMatch(message);
    expect(
      problems.every((p) => typeof p.place?.line === 'number' && typeof p.place?.column === 'number'),
    ).toBe(true);
  });

  it.each([
    ['a YAML syntax error', 'farm: { id: f1\nfields: ['],
    [
      'an alias bomb',
      'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
    ],
    ['a document that is a list', '- 1\n- 2\n'],
    ['an oversized file', `farm: { id: f1, name: F }\n# ${'x'.repeat(5 * 1024 * 1024)}\n`],
    [
      'a hostile polygon (3 points, NaN-like strings)',
      "farm: { id: f1, name: F }\nfields:\n  - { id: a, name: A, boundary: { type: Polygon, coordinates: [[[0, 0], ['x', 1], [0, 0]]] } }\ndevices: []\n",
    ],
  ])('answers %s with placed errors and no exception', (_what, text) => {
    const { manifest, problems } = checkManifest('bad.yaml', text, { catalogue: cat });
    expect(manifest).toBeUndefined();
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.place?.file === 'bad.yaml')).toBe(true);
  });
});
