// A sensor profile the user writes (YAML or JSON) through parseProfile: a good one comes back as
// written; a bad one is refused with HATAKE_E_CONFIG naming the file, line and column.
import { describe, expect, it } from 'vitest';
import { parseProfile, parseProfileText } from '../../../edge/imagery/profiles.ts';
import { HatakeError } from '../../../protocol/errors.ts';

const GOOD = `# a 4-band drone camera
id: my-drone-4b
name: My drone, 4 bands
bands:
  green: { name: G, index: 1 }
  red: { name: R, index: 2 }
  rededge: { name: RE, index: 3 }
  nir: { name: NIR, index: 4 }
scale: 0.0001
offset: 0
offsetRule: fixed
nodata: 65535
`;

function refusal(text: string, file = 'mine.yaml'): HatakeError {
  let err: unknown;
  try {
    parseProfileText(text, file);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HatakeError);
  expect((err as HatakeError).code).toBe('HATAKE_E_CONFIG');
  expect((err as HatakeError).place?.file).toBe(file);
  return err as HatakeError;
}

describe('user sensor profiles', () => {
  it('reads a YAML profile: bands by role, scale, offset, no-data', () => {
    const p = parseProfileText(GOOD, 'mine.yaml');
    expect(p).toEqual({
      id: 'my-drone-4b',
      name: 'My drone, 4 bands',
      bands: {
        green: { name: 'G', index: 1 },
        red: { name: 'R', index: 2 },
        rededge: { name: 'RE', index: 3 },
        nir: { name: 'NIR', index: 4 },
      },
      scale: 0.0001,
      offset: 0,
      offsetRule: 'fixed',
      nodata: 65535,
    });
  });

  it('reads the same profile written as JSON, with an SCL band and the classes to keep', () => {
    const json = JSON.stringify(
      {
        id: 'my-s2-clip',
        name: 'Sentinel-2 clip from my provider',
        bands: {
          red: { name: 'B04', index: 1 },
          nir: { name: 'B08', index: 2 },
          scl: { name: 'SCL', index: 3 },
        },
        scale: 0.0001,
        offsetRule: 's2-l2a-baseline',
        nodata: null,
        sclKeep: [4, 5, 6],
      },
      null,
      2,
    );
    const p = parseProfileText(json, 'mine.json');
    expect(p.sclKeep).toEqual([4, 5, 6]);
    expect(p.bands.scl).toEqual({ name: 'SCL', index: 3 });
    expect(p.nodata).toBeNull();
  });

  it('places a YAML syntax error', () => {
    const e = refusal('id: x\nbands:\n  red: { name: R, index: 3\nscale: 1\n');
    expect(e.place).toMatchObject({ line: 4, column: 1 });
    expect(e.describe()).toMatch(/^HATAKE_E_CONFIG mine\.yaml:4:1: /);
  });

  it('places a value of the wrong type at its line and column', () => {
    const e = refusal(GOOD.replace('{ name: NIR, index: 4 }', '{ name: NIR, index: four }'));
    expect(e.message).toMatch(/\/bands\/nir\/index Expected integer/);
    expect(e.place).toMatchObject({ line: 8, column: 28, pointer: '/bands/nir/index' });
  });

  it('places an unknown key and an unknown band role', () => {
    const extra = refusal(`${GOOD}colour: blue\n`);
    expect(extra.message).toMatch(/\/colour Unexpected property/);
    expect(extra.place).toMatchObject({ line: 13 });
    const role = refusal(GOOD.replace('  green:', '  swir:'));
    expect(role.message).toMatch(/\/bands\/swir/);
    expect(role.place).toMatchObject({ line: 5 });
  });

  it('names a missing required key', () => {
    const e = refusal(GOOD.replace('scale: 0.0001\n', ''));
    expect(e.message).toMatch(/\/scale Expected required property/);
  });

  it('refuses an id that shadows a built-in profile', () => {
    const e = refusal(GOOD.replace('id: my-drone-4b', 'id: s2-l2a'));
    expect(e.message).toMatch(/id "s2-l2a" is a built-in profile/);
    expect(e.place).toMatchObject({ line: 2, column: 5 });
  });

  it('refuses two roles on one band, placed at the second', () => {
    const e = refusal(GOOD.replace('{ name: NIR, index: 4 }', '{ name: NIR, index: 2 }'));
    expect(e.message).toMatch(/red and nir are both band 2/);
    expect(e.place).toMatchObject({ line: 8, pointer: '/bands/nir/index' });
  });

  it('refuses a file pattern that is not a regular expression', () => {
    const e = refusal(GOOD.replace('{ name: R, index: 2 }', '{ name: R, filePattern: "B(04" }'));
    expect(e.message).toMatch(/bands\.red\.filePattern is not a regular expression/);
    expect(e.place).toMatchObject({ line: 6 });
  });

  it('refuses no bands, an SCL band without classes to keep, and a fixed offset left unsaid', () => {
    expect(refusal(GOOD.replace(/bands:\n(\s{2}.*\n)+/, 'bands: {}\n')).message).toMatch(/no bands/);
    const scl = refusal(
      GOOD.replace(
        'nir: { name: NIR, index: 4 }',
        'nir: { name: NIR, index: 4 }\n  scl: { name: SCL, index: 5 }',
      ),
    );
    expect(scl.message).toMatch(/an scl band without sclKeep/);
    expect(scl.expected).toMatch(/sclKeep/);
    const off = refusal(GOOD.replace('offset: 0\n', ''));
    expect(off.message).toMatch(/offsetRule fixed without an offset/);
    expect(off.place).toMatchObject({ line: 10 });
  });

  it('refuses an empty file and a list', () => {
    expect(refusal('').message).toMatch(/sensor profile: \/ Expected object/);
    expect(refusal('- a\n- b\n').message).toMatch(/Expected object/);
  });

  it('names the file and pointer without YAML positions when given plain data', () => {
    let err: unknown;
    try {
      parseProfile({ id: 'x', name: 'x', bands: {}, scale: -1, offsetRule: 'fixed', nodata: 0 }, 'api');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HatakeError);
    expect((err as HatakeError).place).toEqual({ file: 'api', pointer: '/scale' });
  });
});
