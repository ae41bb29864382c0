// `hatake rx recommend` on what `hatake imagery process` writes for a real scene with two fields
// (BigEarthNet patch, fields a and b), through bin/hatake.js as docs/models.md shows it: --field
// picks the field's zones from the scene's one zones.geojson; without it the command says which
// fields the file holds. Without an N-rich strip the reference is the field's 95th percentile of
// NDVI over its pixels, held to GDAL/numpy's (tests/helpers/gdal-reference.ts), and every zone's
// SBNRC rate is the published method's at that reference.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SceneStats, ZoneCollection } from '../../protocol/imagery.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { sbnrcWithProfile } from '../unit/models/reference/sbnrc.ts';
import { benTwoFields, gdalReference, requireGdal, type GdalStats } from '../helpers/gdal-reference.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BEN = join(
  ROOT,
  '../shared/data/sentinel2/bigearthnet/S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85',
);
const run = promisify(execFile);
const DAYS = 85;

async function hatake(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [join(ROOT, 'bin/hatake.js'), ...args], { cwd: ROOT, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

let dir: string;
let zonesFile: string;
let stats: SceneStats;
let zones: ZoneCollection;
let ndvi: Record<string, GdalStats>;

beforeAll(async () => {
  requireGdal();
  dir = mkdtempSync(join(tmpdir(), 'hatake-rx-scene-'));
  const fields = join(dir, 'fields.geojson');
  writeFileSync(fields, benTwoFields());
  const out = join(dir, 'out');
  const p = await hatake(
    'imagery',
    'process',
    `${BEN}_B04.tif`,
    `${BEN}_B08.tif`,
    '--fields',
    fields,
    '--offset',
    '0', // BigEarthNet v1: 2017 products, baseline before 04.00
    '--no-maps',
    '--out',
    out,
  );
  expect(p.code, p.stderr).toBe(0);
  stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as SceneStats;
  zonesFile = join(out, 'zones.geojson');
  zones = JSON.parse(readFileSync(zonesFile, 'utf8')) as ZoneCollection;
  ndvi = gdalReference({ red: `${BEN}_B04.tif`, nir: `${BEN}_B08.tif`, offset: 0, scale: 1e-4, fields });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// docs/models.md's example, with the --field a scene of several fields needs
const recommendArgs = (...more: string[]) => [
  'rx',
  'recommend',
  '--model',
  'osu-sbnrc',
  '--profile',
  'winter-wheat-osu-2007',
  '--zones',
  zonesFile,
  '--farm',
  'demo-farm',
  '--attr',
  `days_gdd_positive=${DAYS}`,
  ...more,
];

describe('hatake rx recommend on a real two-field scene', () => {
  it('the scene’s zones.geojson holds both fields, each zone with its field’s p95', () => {
    expect(Object.keys(stats.fields).sort()).toEqual(['a', 'b']);
    expect(new Set(zones.features.map((f) => f.properties.fieldId))).toEqual(new Set(['a', 'b']));
    for (const f of zones.features)
      expect(f.properties.fieldP95!.ndvi).toBe(stats.fields[f.properties.fieldId]!.indices.ndvi!.p95);
  });

  it.each(['a', 'b'])(
    '--field %s: that field’s zones, the pixels’ p95 as reference, the published SBNRC rates',
    async (field) => {
      const out = join(dir, `rec-${field}.json`);
      const r = await hatake(...recommendArgs('--field', field, '--out', out));
      expect(r.code, r.stderr).toBe(0);
      const own = zones.features.filter((f) => f.properties.fieldId === field);
      expect(r.stderr).toMatch(new RegExp(`${own.length} zones.*pending review`));
      const rec = JSON.parse(readFileSync(out, 'utf8')) as Recommendation;
      expect(rec.field).toBe(field);
      expect(rec.zones.map((z) => z.id)).toEqual(own.map((f) => f.id));
      expect(rec.zones.reduce((a, z) => a + z.areaHa, 0)).toBeCloseTo(
        own.reduce((a, f) => a + f.properties.areaHa, 0),
        6,
      );
      const g = ndvi[field]!;
      expect(rec.reference).toMatchObject({ kind: 'virtual_p95', index: 'ndvi' });
      expect(
        Math.abs(rec.reference!.value - g.p95!),
        `hatake ${rec.reference!.value} GDAL ${g.p95}`,
      ).toBeLessThan(1e-4);
      expect(rec.reference!.value).toBeLessThanOrEqual(g.max!);
      expect(rec.notes.map((n) => n.code)).toEqual(
        expect.arrayContaining(['virtual_reference', 'economic_optimum']),
      );
      expect(rec.notes.map((n) => n.code)).not.toContain('virtual_reference_estimated');
      const c = new ModelRegistry({
        modelDirs: [ARTIFACTS_DIR, TRAINED_DIR],
        profileDirs: [PROFILES_DIR],
      }).profile('winter-wheat-osu-2007').sbnrc!;
      own.forEach((f, k) => {
        const want = sbnrcWithProfile(c, f.properties.indices.ndvi!.mean!, rec.reference!.value, DAYS);
        expect(rec.zones[k]!.rate.modelKgNHa).toBeCloseTo(want, 4);
      });
    },
  );

  it('without --field, refuses and names the fields the file holds', async () => {
    const r = await hatake(...recommendArgs());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HATAKE_E_PAYLOAD_SCHEMA/);
    expect(r.stderr).toContain('zones of 2 fields in one file ("a", "b")');
    expect(r.stderr).toContain('--field');
  });

  it('with a --field the file does not hold, refuses and names the ones it does', async () => {
    const r = await hatake(...recommendArgs('--field', 'c'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no zones of field "c": the file holds zones of "a", "b"');
  });
});
