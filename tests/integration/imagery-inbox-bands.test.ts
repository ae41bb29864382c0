// A Sentinel-2 scene dropped into the gateway's imagery inbox as it is downloaded — one GeoTIFF
// per band (B02 … B8A, SCL), with its STAC item — goes in a folder of its own, `inbox/{scene}/`,
// taken once it holds `hatake.json` or `.ready` (written last). Band roles come from the file
// names through the profile (with or without `_10m`; of several resolutions of one band the finest
// is read) or from `hatake.json`'s `bands` (role → file), whose `mask` names a user cloud mask.
// The statistics are the very ones `hatake imagery process` (the real command, its own process)
// gives for the same files. Real data (../shared/data/README.md): a BigEarthNet L2A patch (12 band
// files) and a 240 × 240 px window of the 29RKH L2A tile cut by gdal_translate (B04, B08 at 100 m,
// SCL at 200 m; an SCL at 600 m and a cloud mask made by gdal_calc.py from SCL). A folder without
// its marker, or whose files are still growing, is left for later; one missing a band, or whose
// `hatake.json` names anything but a file in the folder (`../`, an absolute path, a link) or is
// huge, goes to failed/ whole with the reason beside it, and nothing outside is read or written.
import { execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageryInbox, type FailedScene, type ProcessedScene } from '../../gateway/imagery/inbox.ts';
import { parseFields, type FieldInput } from '../../edge/imagery/fields.ts';
import type { SceneStats } from '../../protocol/imagery.ts';
import { benTwoFields, fieldsGeoJson, requireGdal } from '../helpers/gdal-reference.ts';
import { demoManifest, quietLog } from '../helpers/stack.ts';
import { imageryFields } from '../helpers/inbox.ts';
import { demoScene } from '../../sim/scene.ts';

const ROOT = join(import.meta.dirname, '../..');
const DATA = join(ROOT, '../shared/data/sentinel2');
const BEN_ID = 'S2A_MSIL2A_20170617T113321_36_85';
const BEN = join(DATA, 'bigearthnet', BEN_ID);
const RKH = join(DATA, 's2-29RKH-20200219-l2a-100m');
const STAC = 'S2A_29RKH_20200219_0_L2A.json';
/** The window: columns 720–959, rows 40–279 of the 100 m bands; 360–479, 20–139 of the 200 m SCL. */
const X0 = 199980 + 720 * 100;
const Y0 = 2800020 - 40 * 100;
/** Band files named as a Copernicus L2A product names them (…_B04_10m), in the staging folder. */
const CP = 'T29RKH_20200219T112111';

let dir: string;
const stage = (name: string) => join(dir, 'stage', name);

/** A GDAL command-line tool (gdal_translate, gdal_calc.py), quiet. */
function gdal(tool: string, ...args: string[]): void {
  execFileSync(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The real command, `node bin/hatake.js imagery process …`, in its own process; its stats.json. */
async function cli(args: string[]): Promise<SceneStats> {
  const out = join(dir, 'cli', String(cliRuns++));
  try {
    await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'bin/hatake.js'), 'imagery', 'process', ...args, '--out', out],
      { cwd: ROOT, encoding: 'utf8' },
    );
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    throw new Error(`hatake imagery process failed: ${x.stderr ?? ''}${x.stdout ?? ''}`);
  }
  return JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as SceneStats;
}
let cliRuns = 0;

/** An imagery folder with its inbox (for `fields`), and what it reported. */
function newInbox(fields: FieldInput[]) {
  const root = mkdtempSync(join(dir, 'imagery-'));
  const results: ProcessedScene[] = [];
  const failures: FailedScene[] = [];
  const inbox = new ImageryInbox(
    root,
    () => fields,
    (r) => results.push(r),
    quietLog(),
    (f) => failures.push(f),
  );
  const scan = async () => {
    await inbox.scan();
    await inbox.stop();
  };
  const ls = (sub: string) => readdirSync(join(root, sub)).sort();
  return { root, inbox: inbox.inbox, results, failures, scan, ls, instance: inbox };
}

/** Copies files into a (new) folder; `marker` last, as the convention asks. */
function drop(folder: string, files: Record<string, string>, marker?: [string, string | object]): void {
  mkdirSync(folder, { recursive: true });
  for (const [name, from] of Object.entries(files)) copyFileSync(from, join(folder, name));
  if (marker) {
    const [name, content] = marker;
    writeFileSync(join(folder, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
}

let benFields: FieldInput[];
let rkhFields: FieldInput[];
const rkhFieldsFile = () => join(dir, 'rkh-fields.geojson');
const benFieldsFile = () => join(dir, 'ben-fields.geojson');

beforeAll(() => {
  requireGdal();
  dir = mkdtempSync(join(tmpdir(), 'hatake-inbox-bands-'));
  mkdirSync(join(dir, 'stage'));
  // The 29RKH window as a Copernicus product names its bands: B04, B08 at "10 m" (100 m here), SCL
  // at "20 m" (200 m) and a coarser SCL at "60 m" (600 m, made from the 200 m one).
  for (const b of ['B04', 'B08'])
    gdal(
      'gdal_translate',
      '-q',
      '-srcwin',
      '720',
      '40',
      '240',
      '240',
      join(RKH, `${b}.tif`),
      stage(`${CP}_${b}_10m.tif`),
    );
  gdal(
    'gdal_translate',
    '-q',
    '-srcwin',
    '360',
    '20',
    '120',
    '120',
    join(RKH, 'SCL.tif'),
    stage(`${CP}_SCL_20m.tif`),
  );
  gdal(
    'gdal_translate',
    '-q',
    '-tr',
    '600',
    '600',
    '-r',
    'nearest',
    stage(`${CP}_SCL_20m.tif`),
    stage(`${CP}_SCL_60m.tif`),
  );
  copyFileSync(join(RKH, STAC), stage(STAC));
  // A user's cloud mask, as gdal_calc.py makes one from SCL: cloud shadow and clouds → 1.
  gdal(
    'gdal_calc.py',
    '--quiet',
    '--hideNoData',
    '-A',
    stage(`${CP}_SCL_20m.tif`),
    `--outfile=${stage('clouds.tif')}`,
    '--type=Byte',
    '--calc=(A==3)|(A==8)|(A==9)|(A==10)',
  );
  // Fields spread over the window, some through the clouds.
  const shapes = [];
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      const [c, r] = [10.3 + i * 78, 8.2 + j * 78];
      shapes.push({
        id: `f${i}${j}`,
        rings: [
          [
            [
              [c, r],
              [c + 66.4, r + 3.3],
              [c + 61.6, r + 68.1],
              [c + 2.2, r + 64.7],
              [c, r],
            ] as [number, number][],
          ],
        ],
      });
    }
  writeFileSync(rkhFieldsFile(), fieldsGeoJson(32629, X0, Y0, 100, shapes));
  writeFileSync(benFieldsFile(), benTwoFields());
  rkhFields = parseFields(readFileSync(rkhFieldsFile(), 'utf8'), rkhFieldsFile());
  benFields = parseFields(readFileSync(benFieldsFile(), 'utf8'), benFieldsFile());
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The staged 29RKH files under the names they have in the scene folder. */
const rkhFiles = (names: Record<string, string>) =>
  Object.fromEntries(Object.entries(names).map(([to, from]) => [to, stage(from)]));

describe('a scene of one file per band, dropped as a folder', () => {
  it('BigEarthNet patch (12 band files) with hatake.json: the statistics the CLI gives for the same band files', async () => {
    const box = newInbox(benFields);
    const folder = join(box.inbox, BEN_ID);
    const all = readdirSync(BEN);
    // BigEarthNet v1: 2017 products, processing baseline before 04.00 (../shared/data/README.md).
    drop(folder, Object.fromEntries(all.map((n) => [n, join(BEN, n)])), ['hatake.json', { offset: 0 }]);
    await box.scan();
    expect(box.failures).toEqual([]);
    expect(box.results).toHaveLength(1);
    const got = box.results[0]!;
    // The bands the profile reads, found by name; B01, B06, B07, B09, B11, B12 are not read.
    const bands = ['B02', 'B03', 'B04', 'B05', 'B08', 'B8A'].map((b) => `${BEN_ID}_${b}.tif`);
    expect(got.stats.scene.files).toEqual(bands);
    expect(got.stats.indices.map((i) => i.id)).toEqual(['ndvi', 'ndre', 'gndvi', 'savi', 'evi', 'cire']);
    const ref = await cli([...bands.map((b) => join(BEN, b)), '--fields', benFieldsFile(), '--offset', '0']);
    expect(got.stats).toEqual(ref);
    expect(ref.fields['a']!.indices.ndvi!.count).toBeGreaterThan(1000);
    expect(JSON.parse(readFileSync(join(got.outDir, 'stats.json'), 'utf8'))).toEqual(ref);
    // The folder went to done/ whole, its marker with it.
    expect(box.ls('inbox')).toEqual([]);
    expect(box.ls('done')).toEqual([BEN_ID]);
    expect(readdirSync(join(box.root, 'done', BEN_ID)).sort()).toEqual([...all, 'hatake.json'].sort());
  }, 180_000);

  it('29RKH with Copernicus names (…_B04_10m, …_SCL_20m and …_SCL_60m), its STAC item and a .ready marker: SCL at 20 m masks, as the CLI does', async () => {
    const box = newInbox(rkhFields);
    const files = {
      [`${CP}_B04_10m.tif`]: `${CP}_B04_10m.tif`,
      [`${CP}_B08_10m.tif`]: `${CP}_B08_10m.tif`,
      [`${CP}_SCL_20m.tif`]: `${CP}_SCL_20m.tif`,
      [`${CP}_SCL_60m.tif`]: `${CP}_SCL_60m.tif`,
      [STAC]: STAC,
    };
    drop(join(box.inbox, 'rkh'), rkhFiles(files), ['.ready', '']);
    await box.scan();
    expect(box.failures).toEqual([]);
    const got = box.results[0]!;
    const read = [`${CP}_B04_10m.tif`, `${CP}_B08_10m.tif`, `${CP}_SCL_20m.tif`];
    expect(got.stats.scene.files).toEqual(read);
    expect(got.stats.scene).toMatchObject({
      sceneId: 'S2A_29RKH_20200219_0_L2A', // the STAC item's
      acquired: '2020-02-19T11:34:25.405Z',
      mask: { kind: 'scl', keep: [4, 5] },
      radiometry: { offset: 0, offsetSource: 'metadata' },
    });
    const ref = await cli([...read.map(stage), '--fields', rkhFieldsFile()]);
    expect(got.stats).toEqual(ref);
    // The mask did mask.
    expect(Math.min(...Object.values(got.stats.fields).map((f) => f.validFraction))).toBeLessThan(0.99);
    expect(box.ls('done')).toEqual(['rkh']);
  }, 180_000);

  it('hatake.json naming each band file (as a STAC client names them: red.tif, nir.tif) and a user cloud mask: the statistics of the CLI with --mask', async () => {
    const box = newInbox(rkhFields);
    drop(
      join(box.inbox, 'masked'),
      rkhFiles({
        'red.tif': `${CP}_B04_10m.tif`,
        'nir.tif': `${CP}_B08_10m.tif`,
        'scl.tif': `${CP}_SCL_20m.tif`,
        'clouds.tif': 'clouds.tif',
        [STAC]: STAC,
      }),
      ['hatake.json', { profile: 's2-l2a', bands: { red: 'red.tif', nir: 'nir.tif' }, mask: 'clouds.tif' }],
    );
    await box.scan();
    expect(box.failures).toEqual([]);
    const got = box.results[0]!.stats;
    expect(got.scene.files).toEqual(['nir.tif', 'red.tif', 'clouds.tif']);
    expect(got.scene.bands).toEqual({ red: 'red.tif#1 (B04)', nir: 'nir.tif#1 (B08)' });
    expect(got.scene.mask).toEqual({ kind: 'raster', file: 'clouds.tif' });
    const ref = await cli([
      stage(`${CP}_B04_10m.tif`),
      stage(`${CP}_B08_10m.tif`),
      '--mask',
      stage('clouds.tif'),
      '--fields',
      rkhFieldsFile(),
    ]);
    expect(ref.scene.mask).toEqual({ kind: 'raster', file: 'clouds.tif' });
    expect(got.indices).toEqual(ref.indices);
    expect(got.fields).toEqual(ref.fields);
    expect(Math.min(...Object.values(got.fields).map((f) => f.validFraction))).toBeLessThan(0.99);
  }, 180_000);

  it('band files dropped loose are refused each with where such a scene goes', async () => {
    const box = newInbox(rkhFields);
    copyFileSync(stage(`${CP}_B04_10m.tif`), join(box.inbox, 'B04.tif'));
    copyFileSync(stage(`${CP}_B08_10m.tif`), join(box.inbox, 'B08.tif'));
    await box.scan();
    expect(box.results).toEqual([]);
    expect(box.failures.map((f) => [f.file, f.code, f.reason])).toEqual(
      ['B04.tif', 'B08.tif'].map((f) => [
        f,
        'HATAKE_E_IMAGERY_BANDS',
        "cannot tell which of the file's 1 band is which (expected a scene of one file per band in a folder of its own: inbox/<scene>/ with the band files and a hatake.json or .ready written last (docs/imagery.md))",
      ]),
    );
  }, 60_000);
  it('one multi-band file in a folder, with its band numbers in hatake.json: as the same file dropped alone', async () => {
    const manifest = demoManifest();
    const box = newInbox(imageryFields(manifest));
    const tiff = Buffer.from(demoScene(manifest, { acquired: '2026-07-20T01:30:00Z' }).tiff);
    const description = { bands: 'blue=1,green=2,red=3,nir=4,scl=5', offset: -1000 };
    mkdirSync(join(box.inbox, 'demo-folder'));
    writeFileSync(join(box.inbox, 'demo-folder', 'demo.tif'), tiff);
    writeFileSync(
      join(box.inbox, 'demo-folder', 'hatake.json'),
      JSON.stringify({ ...description, sceneId: 'demo' }),
    );
    writeFileSync(join(box.inbox, 'demo.tif'), tiff);
    writeFileSync(join(box.inbox, 'demo.hatake.json'), JSON.stringify({ ...description, sceneId: 'demo' }));
    await box.scan();
    expect(box.failures).toEqual([]);
    const [alone, folder] = box.results; // "demo-folder" sorts after "demo.tif"
    expect(folder!.stats).toEqual(alone!.stats);
    expect(Object.keys(folder!.stats.fields).length).toBeGreaterThan(1);
    expect(box.ls('done')).toEqual(['demo-folder', 'demo.hatake.json', 'demo.tif']);
  }, 60_000);
});

describe('a scene folder not yet complete', () => {
  it('is not taken without its marker, nor while its files still grow; then it is', async () => {
    const box = newInbox(rkhFields);
    const folder = join(box.inbox, 'copying');
    drop(folder, rkhFiles({ 'B04.tif': `${CP}_B04_10m.tif` }));
    await box.scan();
    expect([box.results, box.failures]).toEqual([[], []]);
    expect(readdirSync(folder)).toEqual(['B04.tif']);
    expect([box.ls('done'), box.ls('failed'), box.ls('results')]).toEqual([[], [], []]);
    // The marker copied in before the last file has finished: the folder changes during the scan.
    drop(folder, rkhFiles({ 'B08.tif': `${CP}_B08_10m.tif`, [STAC]: STAC }), ['.ready', '']);
    const half = readFileSync(stage(`${CP}_SCL_20m.tif`));
    writeFileSync(join(folder, 'SCL.tif'), half.subarray(0, 4096));
    const scanning = box.instance.scan(); // looks at the folder now, then waits for it to hold still
    appendFileSync(join(folder, 'SCL.tif'), half.subarray(4096));
    await scanning;
    expect([box.results, box.failures]).toEqual([[], []]);
    expect(box.ls('inbox')).toEqual(['copying']);
    // Next round it holds still: taken, with the SCL mask.
    await box.scan();
    expect(box.failures).toEqual([]);
    expect(box.results.map((r) => r.stats.scene.mask.kind)).toEqual(['scl']);
    expect(box.ls('done')).toEqual(['copying']);
  }, 60_000);

  it('a folder whose name starts with "." is being prepared and is not taken, marker or not', async () => {
    const box = newInbox(rkhFields);
    drop(join(box.inbox, '.rkh'), rkhFiles({ 'B04.tif': `${CP}_B04_10m.tif` }), ['.ready', '']);
    await box.scan();
    expect([box.results, box.failures, box.ls('inbox')]).toEqual([[], [], ['.rkh']]);
  }, 60_000);
});

describe('a scene folder that cannot be processed', () => {
  it.each([
    [
      'no nir band (by file names)',
      { 'B04.tif': `${CP}_B04_10m.tif`, 'SCL.tif': `${CP}_SCL_20m.tif`, [STAC]: STAC },
      {},
      'the folder has no nir (B08) band, so no vegetation index can be computed (bands: red: B04.tif, scl: SCL.tif; NDVI needs red and nir) (expected band files named like B02, B03, B04, B05, B08, B8A, SCL, or each role → file in hatake.json "bands", e.g. {"red": "red.tif", "nir": "nir.tif"})',
    ],
    [
      'no nir band (hatake.json names red and a mask)',
      { 'clouds.tif': 'clouds.tif', 'red.tif': `${CP}_B04_10m.tif`, [STAC]: STAC },
      { bands: { red: 'red.tif' }, mask: 'clouds.tif' },
      'hatake.json names no nir (B08) band, so no vegetation index can be computed (bands: red: red.tif; NDVI needs red and nir) (expected band files named like B02, B03, B04, B05, B08, B8A, SCL, or each role → file in hatake.json "bands", e.g. {"red": "red.tif", "nir": "nir.tif"})',
    ],
    [
      'two files of one band, one without its resolution in the name',
      {
        'B04.tif': `${CP}_B04_10m.tif`,
        'B04_20m.tif': `${CP}_B04_10m.tif`,
        'B08.tif': `${CP}_B08_10m.tif`,
        [STAC]: STAC,
      },
      {},
      '2 files give the red band (B04.tif, B04_20m.tif) (expected one file per band (of several resolutions named …_10m, …_20m, the finest is read), or the red file named in hatake.json "bands")',
    ],
    [
      'a band hatake.json names that is not there',
      { 'B04.tif': `${CP}_B04_10m.tif`, [STAC]: STAC },
      { bands: { red: 'B04.tif', nir: 'B08.tif' } },
      'hatake.json: bands.nir names "B08.tif", which is not in the folder (expected one of the folder\'s GeoTIFFs)',
    ],
  ])(
    '%s: refused with the reason, the folder in failed/',
    async (_name, files, sidecar, reason) => {
      const box = newInbox(rkhFields);
      drop(join(box.inbox, 'scene'), rkhFiles(files), ['hatake.json', sidecar]);
      await box.scan();
      expect(box.results).toEqual([]);
      expect(box.failures).toEqual([{ file: 'scene', code: 'HATAKE_E_IMAGERY_BANDS', reason }]);
      expect([box.ls('inbox'), box.ls('done'), box.ls('results')]).toEqual([[], [], []]);
      expect(box.ls('failed')).toEqual(['scene', 'scene.reason.txt']);
      expect(readdirSync(join(box.root, 'failed', 'scene')).sort()).toEqual(
        [...Object.keys(files), 'hatake.json'].sort(),
      );
      expect(readFileSync(join(box.root, 'failed', 'scene.reason.txt'), 'utf8')).toMatch(
        /^HATAKE_E_IMAGERY_BANDS( \S+)?: /,
      );
    },
    60_000,
  );
});

describe('a hostile hatake.json', () => {
  /** A real band file outside the imagery folder: a sidecar naming it must not get it read. */
  let outside: string;
  beforeAll(() => {
    outside = join(dir, 'outside');
    mkdirSync(outside);
    copyFileSync(stage(`${CP}_B08_10m.tif`), join(outside, 'B08.tif'));
    writeFileSync(join(outside, 'secret.json'), '{"secret": "not for the gateway"}');
  });
  const FILE_REFUSED = (key: string) =>
    `hatake.json: ${key} must be the name of a file in the scene folder, not a path (expected a file name such as "B04.tif")`;

  it.each<[string, (folder: string) => object | string, string]>([
    [
      'a band up the tree (../)',
      () => ({ bands: { red: 'B04.tif', nir: '../../../outside/B08.tif' } }),
      FILE_REFUSED('bands.nir'),
    ],
    [
      'a band by absolute path',
      () => ({ bands: { red: 'B04.tif', nir: join(outside, 'B08.tif') } }),
      FILE_REFUSED('bands.nir'),
    ],
    [
      'a band by a Windows path',
      () => ({ bands: { red: 'B04.tif', nir: '..\\outside\\B08.tif' } }),
      FILE_REFUSED('bands.nir'),
    ],
    ['a mask up the tree', () => ({ mask: '../../outside/B08.tif' }), FILE_REFUSED('mask')],
    ['a mask that is the parent folder', () => ({ mask: '..' }), FILE_REFUSED('mask')],
    [
      'a band role nobody knows',
      () => ({ bands: { red: 'B04.tif', swir: 'B08.tif' } }),
      'hatake.json: "swir" is not a band role (expected blue, green, red, rededge, nir, nir08, scl)',
    ],
    [
      'a key nobody knows (a misspelt mask)',
      () => ({ maskFile: 'clouds.tif' }),
      'hatake.json: unknown key "maskFile" (expected profile, bands, mask, index, offset, scale, sceneId, acquired)',
    ],
    [
      'a band that is not a string',
      () => ({ bands: { red: 'B04.tif', nir: { path: '/' } } }),
      FILE_REFUSED('bands.nir'),
    ],
    [
      'bands that are a list',
      () => ({ bands: ['B04.tif', 'B08.tif'] }),
      'hatake.json: bands must name a file for each band role (expected {"red": "B04.tif", "nir": "B08.tif"}, or "red=3,nir=4" for one multi-band file)',
    ],
    [
      'a huge sidecar',
      () => `{"offset": 0, "pad": "${'x'.repeat(1 << 20)}"}`,
      'hatake.json is larger than 65536 bytes (expected a few lines of JSON describing the scene)',
    ],
    [
      'a sidecar that is a link to a file outside',
      (folder) => {
        symlinkSync(join(outside, 'secret.json'), join(folder, 'hatake.json'));
        return '';
      },
      'hatake.json is not a regular file (expected a JSON file describing the scene)',
    ],
    [
      'a band file that is a link to one outside',
      (folder) => {
        symlinkSync(join(outside, 'B08.tif'), join(folder, 'B08.tif'));
        return {};
      },
      'B08.tif is not a regular file (a link or a folder) (expected the scene folder holding its files themselves)',
    ],
  ])(
    'refuses %s, reads and writes nothing outside',
    async (_name, make, reason) => {
      const box = newInbox(rkhFields);
      const folder = join(box.inbox, 'hostile');
      drop(folder, rkhFiles({ 'B04.tif': `${CP}_B04_10m.tif`, [STAC]: STAC }));
      const sidecar = make(folder);
      if (sidecar !== '')
        writeFileSync(
          join(folder, 'hatake.json'),
          typeof sidecar === 'string' ? sidecar : JSON.stringify(sidecar),
        );
      const before = readdirSync(dir).sort();
      await box.scan();
      expect(box.results).toEqual([]);
      expect(box.failures).toEqual([{ file: 'hostile', code: 'HATAKE_E_IMAGERY_FILE', reason }]);
      expect(box.ls('failed')).toEqual(['hostile', 'hostile.reason.txt']);
      expect([box.ls('inbox'), box.ls('done'), box.ls('results')]).toEqual([[], [], []]);
      // Nothing outside the imagery folder moved or appeared.
      expect(readdirSync(dir).sort()).toEqual(before);
      expect(readdirSync(outside).sort()).toEqual(['B08.tif', 'secret.json']);
      expect(existsSync(join(box.root, 'failed', 'hostile', 'B04.tif'))).toBe(true);
    },
    60_000,
  );

  it("refuses a single file's huge .hatake.json too", async () => {
    const box = newInbox(rkhFields);
    copyFileSync(stage(`${CP}_B04_10m.tif`), join(box.inbox, 'x.tif'));
    writeFileSync(join(box.inbox, 'x.hatake.json'), `{"pad": "${'x'.repeat(1 << 20)}"}`);
    await box.scan();
    expect(box.failures).toEqual([
      {
        file: 'x.tif',
        code: 'HATAKE_E_IMAGERY_FILE',
        reason:
          'x.hatake.json is larger than 65536 bytes (expected a few lines of JSON describing the scene)',
      },
    ]);
  }, 60_000);
});
