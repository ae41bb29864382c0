// `hatake imagery` options beyond the basics, on the demo farm's generated scene: a sensor
// profile the user writes (--profile-file, YAML or JSON), --zones limited to 3–5, and a raster of
// an index derived elsewhere (--profile index --index ndvi).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { demoScene, fieldsGeoJson } from '../../sim/scene.ts';
import { demoManifest } from '../helpers/stack.ts';
import type { SceneStats } from '../../protocol/imagery.ts';
import { demoNdviRaster } from '../helpers/demo-ndvi.ts';

let dir: string;
let scene: string;
let fields: string;
/** The reference run: profile s2-l2a, roles from --bands, offset −1000 from the STAC item. */
let reference: SceneStats;

/** Runs the CLI, capturing stdout and stderr. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(args);
    const text = (s: typeof out) => s.mock.calls.map((c) => String(c[0])).join('');
    return { code, out: text(out), err: text(err) };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const processArgs = (outDir: string, ...more: string[]) => [
  'imagery',
  'process',
  scene,
  '--fields',
  fields,
  '--out',
  join(dir, outDir),
  '--no-maps',
  ...more,
];
const statsOf = (outDir: string) =>
  JSON.parse(readFileSync(join(dir, outDir, 'stats.json'), 'utf8')) as SceneStats;

/** The demo scene's layout (B02, B03, B04, B08, SCL) as a user would write it. */
const profileYaml = (keep: string, extra = '') => `# the demo clip: one GeoTIFF, five bands
id: demo-clip
name: Demo clip, Sentinel-2 L2A bands in one file
bands:
  blue: { name: B02, index: 1 }
  green: { name: B03, index: 2 }
  red: { name: B04, index: 3 }
  nir: { name: B08, index: 4 }
  scl: { name: SCL, index: 5 }
scale: 0.0001
offset: -1000
offsetRule: fixed
nodata: 0
sclKeep: ${keep}
${extra}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-imagery-options-'));
  const m = demoManifest();
  const s = demoScene(m);
  scene = join(dir, `${s.sceneId}.tif`);
  writeFileSync(scene, Buffer.from(s.tiff));
  writeFileSync(join(dir, 'item.json'), JSON.stringify(s.stac));
  fields = join(dir, 'fields.geojson');
  writeFileSync(fields, JSON.stringify(fieldsGeoJson(m)));
  const r = await run(processArgs('ref', '--bands', s.bands));
  expect(r.code, r.err).toBe(0);
  reference = statsOf('ref');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hatake imagery process --profile-file', () => {
  it('processes the scene with a YAML profile: bands by role, offset, no-data, SCL classes', async () => {
    const file = join(dir, 'demo-clip.yaml');
    writeFileSync(file, profileYaml('[4, 5]'));
    const r = await run(processArgs('yaml', '--profile-file', file));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf('yaml');
    expect(stats.scene.profile).toBe('demo-clip');
    expect(stats.scene.radiometry).toMatchObject({ offset: -1000, offsetSource: 'profile', scale: 0.0001 });
    expect(stats.scene.mask).toEqual({ kind: 'scl', keep: [4, 5] });
    expect(stats.scene.bands.red).toMatch(/#3 \(B04\)$/);
    expect(stats.indices.find((i) => i.id === 'ndvi')!.bands).toEqual(['B08', 'B04']);
    // The same bands, offset and mask as the reference run: the same numbers.
    for (const id of Object.keys(reference.fields)) {
      expect(stats.fields[id]!.indices, id).toEqual(reference.fields[id]!.indices);
      expect(stats.fields[id]!.validFraction).toBe(reference.fields[id]!.validFraction);
    }
  });

  it("keeps the SCL classes the profile lists (here the cloud's too)", async () => {
    const file = join(dir, 'keep-all.json');
    // The same profile as JSON, keeping every SCL class: nothing is masked any more.
    const json = {
      id: 'demo-clip-all',
      name: 'Demo clip, every SCL class kept',
      bands: {
        blue: { name: 'B02', index: 1 },
        green: { name: 'B03', index: 2 },
        red: { name: 'B04', index: 3 },
        nir: { name: 'B08', index: 4 },
        scl: { name: 'SCL', index: 5 },
      },
      scale: 0.0001,
      offset: -1000,
      offsetRule: 'fixed',
      nodata: 0,
      sclKeep: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    };
    writeFileSync(file, JSON.stringify(json, null, 2));
    const r = await run(processArgs('json', '--profile-file', file));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf('json');
    expect(reference.fields['paddy-1']!.validFraction).toBeLessThan(1); // the cloud, masked
    expect(stats.fields['paddy-1']!.validFraction).toBe(1); // … kept
    expect(stats.scene.mask).toMatchObject({ kind: 'scl', keep: json.sclKeep });
  });

  it('refuses a bad profile file with the file, line and column', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, profileYaml('[4, 5]').replace('scale: 0.0001', 'scale: -1'));
    const r = await run(processArgs('bad', '--profile-file', file));
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `HATAKE_E_CONFIG ${file}:10:8: sensor profile: /scale Expected number to be greater than 0`,
    );
  });

  it('refuses a profile file that is not YAML, placed', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'id: demo-clip\nbands:\n  red: { name: B04, index: 3\nscale: 1\n');
    const r = await run(processArgs('broken', '--profile-file', file));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`HATAKE_E_CONFIG ${file}:4:1: `);
    expect(r.err).toContain('(expected valid YAML)');
  });

  it('refuses a missing profile file and --profile with --profile-file', async () => {
    const missing = join(dir, 'nope.yaml');
    const a = await run(processArgs('x', '--profile-file', missing));
    expect(a.code).toBe(1);
    expect(a.err).toContain(`HATAKE_E_CONFIG ${missing}: cannot read the profile file: ENOENT`);
    const file = join(dir, 'demo-clip.yaml');
    const b = await run(processArgs('x', '--profile', 's2-l2a', '--profile-file', file));
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/HATAKE_E_CONFIG: --profile and --profile-file both given/);
  });

  it('checks and lists a profile file with `hatake imagery profiles`', async () => {
    const good = join(dir, 'list.yaml');
    writeFileSync(good, profileYaml('[4, 5]'));
    const r = await run(['imagery', 'profiles', '--profile-file', good]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^demo-clip\s+Demo clip/);
    expect(r.out).toContain('blue=B02 green=B03 red=B04 nir=B08 scl=SCL');
    expect(r.out).toMatch(/^s2-l2a\s/m); // the built-in ones follow
    const bad = join(dir, 'list-bad.yaml');
    writeFileSync(bad, profileYaml('[4, 5]', 'colour: blue\n'));
    const b = await run(['imagery', 'profiles', '--profile-file', bad]);
    expect(b.code).toBe(1);
    expect(b.err).toContain(`HATAKE_E_CONFIG ${bad}:15:9: sensor profile: /colour Unexpected property`);
  });
});

describe('hatake imagery process --zones', () => {
  it.each(['3', '4', '5'])('accepts a fixed k of %s', async (k) => {
    const r = await run(processArgs(`k${k}`, '--bands', 'blue=1,green=2,red=3,nir=4,scl=5', '--zones', k));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf(`k${k}`);
    expect(stats.zoning.k).toBe(k);
    expect(stats.fields['upland-1']!.zones).toBeGreaterThan(0);
    expect(stats.fields['upland-1']!.zones).toBeLessThanOrEqual(Number(k));
  });

  it.each(['2', '6', '9', '1', '3.5', 'three', ''])(
    'refuses --zones "%s", saying what it takes',
    async (k) => {
      const r = await run(processArgs('kbad', '--bands', 'red=3,nir=4', '--zones', k));
      expect(r.code).toBe(1);
      expect(r.err).toContain(`HATAKE_E_CONFIG: --zones "${k}" is not auto, 3, 4 or 5`);
      expect(r.err).toMatch(/expected auto .* or a number of zones 3, 4 or 5/);
    },
  );
});

describe('hatake imagery process --profile index --index', () => {
  it("processes an NDVI raster derived elsewhere into the band scene's NDVI statistics", async () => {
    // The demo scene's NDVI as one float32 band on its grid (NaN where the band scene has none).
    const sub = join(dir, 'derived');
    mkdirSync(sub);
    const raster = join(sub, 'ndvi.tif');
    writeFileSync(raster, await demoNdviRaster(demoScene(demoManifest())));
    const args = (out: string, ...more: string[]) => [
      'imagery',
      'process',
      raster,
      '--fields',
      fields,
      '--out',
      join(dir, out),
      '--no-maps',
      ...more,
    ];
    const r = await run(args('ndvi', '--profile', 'index', '--index', 'ndvi'));
    expect(r.code, r.err).toBe(0);
    const stats = statsOf('ndvi');
    expect(stats.scene).toMatchObject({ profile: 'index', bands: { index: 'ndvi.tif#1 (NDVI)' } });
    expect(stats.indices.map((i) => i.id)).toEqual(['ndvi']);
    expect(Object.keys(stats.fields).sort()).toEqual(Object.keys(reference.fields).sort());
    for (const id of Object.keys(reference.fields)) {
      expect(reference.fields[id]!.indices.ndvi!.count, id).toBeGreaterThan(10);
      expect(stats.fields[id]!.indices.ndvi, id).toEqual(reference.fields[id]!.indices.ndvi);
      expect(stats.fields[id]!.validFraction, id).toBe(reference.fields[id]!.validFraction);
    }

    // --index goes with --profile index, and only with it.
    const none = await run(args('x', '--profile', 'index'));
    expect(none.code).toBe(1);
    expect(none.err).toContain('HATAKE_E_CONFIG: --index: profile index needs the index the raster holds');
    expect(none.err).toContain('(expected an index: ndvi | ndre | gndvi | savi | evi | cire)');
    const unknown = await run(args('x', '--profile', 'index', '--index', 'lai'));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('HATAKE_E_CONFIG: --index: unknown index "lai"');
    const bands = await run(processArgs('x', '--index', 'ndvi', '--bands', 'red=3,nir=4'));
    expect(bands.code).toBe(1);
    expect(bands.err).toContain(
      'HATAKE_E_CONFIG: --index: an index ("ndvi") is named, but profile s2-l2a reads reflectance bands',
    );
  });

  it('is in the help', async () => {
    const r = await run(['imagery', 'help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('[--profile index --index ndvi]');
    expect(r.out).toMatch(/--profile index reads a raster of an index derived elsewhere/);
  });
});
