// A scene that shows part of the farm, on a real Sentinel-2 clip (FTW Austria, 578 × 379 px at
// 10 m, EPSG:32633). A field partly off the raster is measured against all of its pixels — a
// 200 × 100 px field of which 48 columns lie on the raster reports 20,000 pixels, coverage 0.24
// and a valid fraction of at most 0.24, not the 4,800 pixels and 1 of the part it shows — while
// its statistics over what it shows agree with GDAL's (which rasterizes only the raster's pixels)
// and a field wholly inside is unchanged. A field wholly off the raster no longer fails the scene
// on the gateway: the inbox and the MQTT receiver process the fields the scene covers and name the
// other ("not covered by this scene") in their result, log and status. The CLI still refuses such
// a scene by default, and takes it with --skip-uncovered. A scene that covers no field is refused.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Scene } from '../../edge/imagery/scene.ts';
import { profileById } from '../../edge/imagery/profiles.ts';
import { processScene } from '../../edge/imagery/process.ts';
import { parseFields, type FieldInput } from '../../edge/imagery/fields.ts';
import { ImageryInbox, type FailedScene, type ProcessedScene } from '../../gateway/imagery/inbox.ts';
import { ImageryReceiver, type ImageryResult } from '../../gateway/imagery/receiver.ts';
import { main } from '../../cli/main.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { SceneManifest, SceneStats, TransferStatus } from '../../protocol/imagery.ts';
import { fieldsGeoJson, gdalReference, requireGdal } from '../helpers/gdal-reference.ts';
import { sceneManifest } from '../helpers/scene-manifest.ts';

const FILE = join(import.meta.dirname, '../../../shared/data/sentinel2/ftw-austria/inference-img.tif');
const BANDS = { red: 1, green: 2, blue: 3, nir: 4 } as const;
const rect = (c0: number, r0: number, c1: number, r1: number): [number, number][][][] => [
  [
    [
      [c0, r0],
      [c1, r0],
      [c1, r1],
      [c0, r1],
      [c0, r0],
    ],
  ],
];
// Pixel space of the clip: x = column, y = row, pixel corners at integers (vertices off the
// pixel-centre lines, so which centres are in is never a matter of rounding).
const SHAPES = [
  {
    id: 'inside',
    rings: [
      [
        [
          [100.3, 50.2],
          [300.7, 60.1],
          [280.2, 250.4],
          [90.1, 200.3],
          [100.3, 50.2],
        ],
      ],
    ] as [number, number][][][],
  },
  // Columns 530–729 (200), rows 100–199 (100): 20,000 pixels, of which columns 530–577 (48 × 100
  // = 4,800) lie on the 578-column raster — 76 % off it, to the east.
  { id: 'partial', rings: rect(529.8, 99.8, 729.8, 199.8) },
  // Columns −50…49, rows −30…69: 10,000 pixels, 50 × 70 = 3,500 on the raster (off its top-left).
  { id: 'corner', rings: rect(-50.2, -30.2, 49.8, 69.8) },
  // Wholly east of the raster.
  { id: 'outside', rings: rect(700.3, 20.2, 760.7, 60.4) },
];

let dir: string;
let fieldsFile: string;
let fields: FieldInput[];

beforeAll(() => {
  requireGdal();
  dir = mkdtempSync(join(tmpdir(), 'hatake-partial-'));
  fieldsFile = join(dir, 'fields.geojson');
  writeFileSync(fieldsFile, fieldsGeoJson(32633, 359130, 5352340, 10, SHAPES));
  fields = parseFields(readFileSync(fieldsFile, 'utf8'), fieldsFile);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const openScene = () =>
  Scene.open({
    files: [FILE],
    profile: profileById('s2-l2a'),
    bands: { ...BANDS },
    offset: 0,
    sceneId: 'ftw-partial',
    acquired: '2021-05-20T10:06:31.000Z',
  });

/** What every gateway path must show of the scene: the covered fields, measured against their whole. */
function expectPartialStats(stats: SceneStats, coverage: Record<string, number>): void {
  expect(Object.keys(stats.fields)).toEqual(['inside', 'partial', 'corner']);
  expect(coverage).toEqual({ inside: 1, partial: 0.24, corner: 0.35 });
  const p = stats.fields['partial']!;
  expect(p.pixels).toBe(20_000);
  expect(p.areaHa).toBeCloseTo(200, 6); // 20,000 px × 100 m²
  expect(p.validPixels).toBeGreaterThan(4000);
  expect(p.validPixels).toBeLessThanOrEqual(4800);
  expect(p.validFraction).toBe(Math.round((p.validPixels / 20_000) * 1e7) / 1e7);
  expect(p.validFraction).toBeLessThanOrEqual(0.24);
  expect(p.indices['ndvi']!.validFraction).toBeLessThanOrEqual(0.24);
  expect(stats.fields['corner']!.pixels).toBe(10_000);
  expect(stats.fields['corner']!.validFraction).toBeLessThanOrEqual(0.35);
}

describe('a scene that shows part of the farm', () => {
  it('measures a field partly off the raster against all its pixels, agreeing with GDAL on the part it shows', async () => {
    const scene = await openScene();
    // By default (the CLI's) a field wholly outside still refuses the scene, writing nothing.
    const refused = await processScene(scene, fields, {
      outDir: join(dir, 'refused'),
      maps: false,
      fieldsFile,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HatakeError);
    expect((refused as HatakeError).code).toBe('HATAKE_E_FIELDS');
    expect((refused as HatakeError).message).toBe(
      'field "outside" does not cover any pixel centre of the raster (578×379 px, EPSG:32633)',
    );
    expect(existsSync(join(dir, 'refused'))).toBe(false);

    const res = await processScene(scene, fields, {
      outDir: join(dir, 'edge'),
      maps: false,
      fieldsFile,
      skipUncovered: true,
    });
    await scene.close();
    expect(res.uncovered).toEqual(['outside']);
    expectPartialStats(res.stats, res.coverage);

    // GDAL rasterizes the fields on the raster only: its pixels are the part each field shows.
    const ref = gdalReference({
      red: FILE,
      redBand: 1,
      nir: FILE,
      nirBand: 4,
      offset: 0,
      scale: 1e-4,
      fields: fieldsFile,
    });
    expect(ref['outside']!.pixels).toBe(0);
    for (const id of ['inside', 'partial', 'corner']) {
      const f = res.stats.fields[id]!;
      const s = f.indices['ndvi']!;
      const r = ref[id]!;
      expect(Math.round(f.pixels * res.coverage[id]!), `${id} pixels on the raster`).toBe(r.pixels);
      expect(s.count, `${id} count`).toBe(r.count);
      // Statistics over the valid pixels it shows are GDAL's; the valid fraction is over the whole field.
      for (const k of ['mean', 'median', 'p10', 'p90', 'p95', 'std', 'min', 'max'] as const)
        expect(Math.abs(s[k]! - r[k]!), `${id} ${k}`).toBeLessThan(1e-4);
      expect(Math.abs(s.validFraction - (r.count / r.pixels) * res.coverage[id]!), `${id} vf`).toBeLessThan(
        1e-6,
      );
    }
    // A field wholly inside is as before: every pixel on the raster, the valid fraction GDAL's.
    expect(res.stats.fields['inside']!.pixels).toBe(ref['inside']!.pixels);
    expect(res.stats.fields['inside']!.validFraction).toBeCloseTo(ref['inside']!.validFraction!, 6);

    // The part a field shows gets zones (as a clouded field does), each saying how little of the
    // field the scene saw.
    const p = res.stats.fields['partial']!;
    const zones = res.zones.features.filter((z) => z.properties.fieldId === 'partial');
    expect(p.zones).toBeGreaterThanOrEqual(3);
    expect(zones).toHaveLength(p.zones);
    for (const z of zones) expect(z.properties.fieldValidFraction).toBe(p.validFraction);
    expect(zones.reduce((a, z) => a + z.properties.pixels, 0)).toBeLessThanOrEqual(p.validPixels);
  });

  it('the inbox processes the fields the scene covers and names the other in its result and log', async () => {
    const imagery = join(dir, 'imagery');
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n'))
          if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const results: ProcessedScene[] = [];
    const failures: FailedScene[] = [];
    const inbox = new ImageryInbox(
      imagery,
      () => fields,
      (r) => results.push(r),
      pino({ level: 'info' }, sink),
      (f) => failures.push(f),
    );
    writeFileSync(join(inbox.inbox, 'clip.tif'), readFileSync(FILE));
    writeFileSync(
      join(inbox.inbox, 'clip.hatake.json'),
      JSON.stringify({
        profile: 's2-l2a',
        bands: 'red=1,green=2,blue=3,nir=4',
        offset: 0,
        sceneId: 'ftw-inbox',
      }),
    );
    await inbox.scan();
    await inbox.stop();
    expect(failures).toEqual([]);
    expect(readdirSync(join(imagery, 'failed'))).toEqual([]);
    expect(readdirSync(join(imagery, 'done')).sort()).toEqual(['clip.hatake.json', 'clip.tif']);
    expect(results).toHaveLength(1);
    const r = results[0]!;
    expect(r.uncovered).toEqual(['outside']);
    expectPartialStats(r.stats, r.coverage!);
    const line = lines.find((l) => l['scene'] === 'ftw-inbox');
    expect(line).toMatchObject({
      level: 30, // info: a scene that shows part of the farm is not an error
      msg: 'scene processed; 1 field not covered by this scene',
      fields: 3,
      notCovered: ['outside'],
      notCoveredCount: 1,
      partlyCovered: { partial: 0.24, corner: 0.35 },
    });
  });

  it('the MQTT receiver processes the fields the scene covers and names the other in its status', async () => {
    const bytes = readFileSync(FILE);
    const chunkSize = 256 * 1024;
    const receiver = new ImageryReceiver({ dir: join(dir, 'mqtt'), fields: () => fields, maps: false });
    const statuses: TransferStatus[] = [];
    const results: ImageryResult[] = [];
    receiver.on('status', (s) => statuses.push(s));
    receiver.on('result', (r) => results.push(r));
    const m: SceneManifest = sceneManifest('ftw-mqtt', bytes, chunkSize);
    await receiver.handle('ftw-mqtt/manifest', Buffer.from(JSON.stringify(m)));
    for (let n = 0; n < m.chunkCount; n++)
      await receiver.handle(`ftw-mqtt/chunk/${n}`, bytes.subarray(n * chunkSize, (n + 1) * chunkSize));
    await receiver.idle();
    receiver.close();
    const final = statuses.filter((s) => s.state !== 'receiving');
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({
      state: 'processed',
      reason:
        'processed for 3 of 4 fields; not covered by this scene: "outside"; partly covered (share of the field inside the scene): "partial" 24 %, "corner" 35 %',
    });
    expect(results).toHaveLength(1);
    expect(results[0]!.uncovered).toEqual(['outside']);
    expectPartialStats(results[0]!.stats, results[0]!.coverage);
  });

  it('still refuses a scene that covers none of the fields, on the gateway too', async () => {
    const far = fields.filter((f) => f.id === 'outside');
    const imagery = join(dir, 'imagery-none');
    const failures: FailedScene[] = [];
    const inbox = new ImageryInbox(
      imagery,
      () => far,
      () => undefined,
      pino({ level: 'silent' }),
      (f) => failures.push(f),
    );
    writeFileSync(join(inbox.inbox, 'clip.tif'), readFileSync(FILE));
    writeFileSync(
      join(inbox.inbox, 'clip.hatake.json'),
      JSON.stringify({ profile: 's2-l2a', bands: 'red=1,green=2,blue=3,nir=4', offset: 0 }),
    );
    await inbox.scan();
    await inbox.stop();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      code: 'HATAKE_E_FIELDS',
      reason:
        'field "outside" does not cover any pixel centre of the raster (578×379 px, EPSG:32633) (expected field boundaries inside the scene)',
    });
  });

  it('hatake imagery process refuses by default and takes the scene with --skip-uncovered', async () => {
    const args = (out: string, ...more: string[]) => [
      'imagery',
      'process',
      FILE,
      '--bands',
      'red=1,green=2,blue=3,nir=4',
      '--offset',
      '0',
      '--fields',
      fieldsFile,
      '--out',
      join(dir, out),
      '--no-maps',
      ...more,
    ];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(args('cli-refused'))).toBe(1);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain(
        'field "outside" does not cover any pixel centre of the raster',
      );
      expect(existsSync(join(dir, 'cli-refused', 'stats.json'))).toBe(false);
      expect(await main(args('cli-skip', '--skip-uncovered'))).toBe(0);
      const said = stdout.mock.calls.map((c) => String(c[0])).join('');
      expect(said).toContain('not covered by this scene (skipped): "outside"');
      expect(said).toContain('partly covered (share inside the scene): "partial" 24 %, "corner" 35 %');
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
    }
    const stats = JSON.parse(readFileSync(join(dir, 'cli-skip', 'stats.json'), 'utf8')) as SceneStats;
    expect(Object.keys(stats.fields)).toEqual(['inside', 'partial', 'corner']);
    expect(stats.fields['partial']!.pixels).toBe(20_000);
  });
});
