// `hatake model …` and `hatake rx …` as an officer or partner runs them: through bin/hatake.js
// (tsx registered in the main thread and, by the bootstrap, in the inference worker).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'hatake-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function hatake(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [join(ROOT, 'bin/hatake.js'), ...args], { cwd: ROOT, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('hatake model', () => {
  it('verifies every installed model against its card, in a worker, under node', async () => {
    const r = await hatake('model', 'verify');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const ref of [
      'osu-sbnrc@1.0.0',
      'holland-schepers-si@1.0.0',
      'rice-pi-topdress-ndvi@1.1.0',
      'rice-pi-topdress-ndre@1.1.0',
      'lasrosas-corn-rf@1.1.0',
    ])
      expect(r.stdout).toMatch(new RegExp(`OK +${ref.replace('.', '\\.')}.*worked example reproduces`));
  });

  it('lists models and profiles as JSON', async () => {
    const r = await hatake('model', 'list', '--json');
    const j = JSON.parse(r.stdout) as { models: { ref: string; kind: string }[]; profiles: string[] };
    expect(j.models.map((m) => m.ref)).toContain('lasrosas-corn-rf@1.1.0');
    expect(j.profiles).toContain('winter-wheat-osu-2007');
  });

  it('runs a model by hand and prints its outputs as JSON', async () => {
    const input = JSON.stringify({
      ndvi: [0.54, 0.6],
      ndvi_ref: 0.7,
      days: 85,
      a: 590,
      b: 258.2,
      adjust_ri: 0,
      ri_slope: 1.69,
      ri_intercept: -0.7,
      grain_n: 0.024,
      nue: 0.6,
      yp_max: 6000,
    });
    const r = await hatake('model', 'run', 'osu-sbnrc', '--input', input);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { model: string; outputs: Record<string, number[]> };
    expect(out.model).toBe('osu-sbnrc@1.0.0');
    expect(out.outputs.n_rate![0]).toBeCloseTo(36.06, 2);
    expect(out.outputs.n_rate![1]).toBeLessThan(out.outputs.n_rate![0]!);
  });

  it('refuses an out-of-range input with a coded message and exit code 1', async () => {
    const r = await hatake('model', 'run', 'osu-sbnrc', '--input', '{"ndvi": 1.5}');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HATAKE_E_MODEL_INPUT_MISSING.*ndvi_ref is missing/);
    const r2 = await hatake('model', 'run', 'osu-sbnrc', '--input', 'not json');
    expect(r2.stderr).toMatch(/HATAKE_E_PAYLOAD_JSON/);
    const r3 = await hatake('model', 'run', 'no-such-model', '--input', '{}');
    expect(r3.stderr).toMatch(/HATAKE_E_MODEL_NOT_FOUND/);
  });

  it('checks that the published models rebuild byte-for-byte', async () => {
    const r = await hatake('model', 'build', '--check');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rebuild byte-for-byte/);
  });
});

describe('hatake rx', () => {
  const ring = [
    [141.35, 43.06],
    [141.3512, 43.06],
    [141.3512, 43.0607],
    [141.35, 43.0607],
    [141.35, 43.06],
  ];
  const zones = {
    type: 'FeatureCollection',
    features: [0, 1].map((k) => ({
      type: 'Feature',
      id: `z${k + 1}`,
      geometry: { type: 'Polygon', coordinates: [ring.map(([x, y]) => [x! + k * 0.0012, y!])] },
      properties: {
        fieldId: 'kita-3',
        zone: k + 1,
        areaHa: 0.76,
        validFraction: 0.99,
        indices: { ndvi: { mean: 0.5 + 0.1 * k, std: 0.03, count: 76 } },
      },
    })),
  };
  it('makes a recommendation from a zones file and exports it in every format', async () => {
    writeFileSync(join(dir, 'zones.geojson'), JSON.stringify(zones));
    const rec = join(dir, 'rec.json');
    const r = await hatake(
      'rx',
      'recommend',
      '--model',
      'osu-sbnrc@1.0.0',
      '--profile',
      'winter-wheat-osu-2007',
      '--zones',
      join(dir, 'zones.geojson'),
      '--farm',
      'demo-farm',
      '--attr',
      'days_gdd_positive=85',
      '--n-rich',
      'ndvi=0.72',
      '--out',
      rec,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 zones.*pending review/);
    const doc = JSON.parse(readFileSync(rec, 'utf8')) as {
      field: string;
      zones: { rate: { kgNHa: number } }[];
    };
    expect(doc.field).toBe('kita-3');
    for (const [format, file] of [
      ['isoxml', 'TASKDATA.zip'],
      ['shp', 'rx.zip'],
      ['geojson', 'rx.geojson'],
      ['csv', 'rx.csv'],
    ] as const) {
      const e = await hatake('rx', 'export', rec, '--format', format, '--out', join(dir, file));
      expect(e.code).toBe(0);
      expect(readFileSync(join(dir, file)).length).toBeGreaterThan(100);
    }
    expect(readFileSync(join(dir, 'rx.csv'), 'utf8').split('\n')[1]).toMatch(
      new RegExp(`^1,"z1",0.76,${doc.zones[0]!.rate.kgNHa},`),
    );
  });

  it('with --manifest, cuts the zones to the field’s boundary and exports the rest of the field at the default rate', async () => {
    // The field reaches 0.0004° (≈ 44 m) north of the zones (a cloud) and ends 0.0002° before the
    // second zone's east edge.
    writeFileSync(
      join(dir, 'farm.yaml'),
      [
        'farm: { id: kita-farm, name: 北の農場 }',
        'fields:',
        '  - id: kita-3',
        '    name: 北3号',
        '    crop: winter-wheat',
        '    boundary:',
        '      type: Polygon',
        '      coordinates: [[[141.35, 43.06], [141.3522, 43.06], [141.3522, 43.0611], [141.35, 43.0611], [141.35, 43.06]]]',
        'devices: []',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'zones-kita.geojson'), JSON.stringify(zones));
    const rec = join(dir, 'rec-field.json');
    const args = [
      'rx',
      'recommend',
      '--model',
      'osu-sbnrc@1.0.0',
      '--profile',
      'winter-wheat-osu-2007',
      '--zones',
      join(dir, 'zones-kita.geojson'),
      '--manifest',
      join(dir, 'farm.yaml'),
      '--attr',
      'days_gdd_positive=85',
      '--n-rich',
      'ndvi=0.72',
    ];
    const r = await hatake(...args, '--out', rec);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(rec, 'utf8')) as {
      farm: string;
      zones: { areaHa: number; rate: { productKgHa: number } }[];
      coverage: { fieldAreaHa: number; uncoveredAreaHa: number };
    };
    expect(doc.farm).toBe('kita-farm');
    const c = doc.coverage;
    expect(r.stderr).toContain(`field ${c.fieldAreaHa} ha: ${c.uncoveredAreaHa} ha in no zone`);
    // 0.0022° × 0.0011° at 43.06° N ≈ 178.8 m × 122.3 m; the zones keep 0.0022° × 0.0007°
    expect(c.fieldAreaHa).toBeCloseTo(2.187, 2);
    expect(doc.zones.reduce((s, z) => s + z.areaHa, 0)).toBeCloseTo(1.392, 2);
    expect(c.uncoveredAreaHa).toBeCloseTo(2.187 - 1.392, 2);
    const e = await hatake('rx', 'export', rec, '--format', 'csv', '--out', join(dir, 'field.csv'));
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toContain(`${c.uncoveredAreaHa} ha in no zone at the default rate`);
    const last = readFileSync(join(dir, 'field.csv'), 'utf8').trim().split('\n').at(-1)!.split(',');
    expect(last.slice(0, 3)).toEqual(['0', '"default"', String(c.uncoveredAreaHa)]);
    const mean =
      doc.zones.reduce((s, z) => s + z.rate.productKgHa * z.areaHa, 0) /
      doc.zones.reduce((s, z) => s + z.areaHa, 0);
    expect(Number(last[6])).toBe(Math.round(mean * 100) / 100);
    // the manifest names the farm: another --farm is refused
    const bad = await hatake(...args, '--farm', 'demo-farm');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HATAKE_E_CONFIG.*--farm demo-farm is not the manifest's farm kita-farm/);
  });

  it('refuses a file that is not a recommendation and an unknown format', async () => {
    writeFileSync(join(dir, 'bad.json'), '{"schema":"hatake.recommendation/1","zones":"lots"}');
    const r = await hatake(
      'rx',
      'export',
      join(dir, 'bad.json'),
      '--format',
      'csv',
      '--out',
      join(dir, 'x.csv'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HATAKE_E_PRESCRIPTION/);
    writeFileSync(join(dir, 'trunc.json'), '{"schema":"hatake.rec');
    expect(
      (await hatake('rx', 'export', join(dir, 'trunc.json'), '--format', 'csv', '--out', join(dir, 'x.csv')))
        .stderr,
    ).toMatch(/HATAKE_E_PAYLOAD_JSON/);
    const rec = join(dir, 'rec.json');
    expect(
      (await hatake('rx', 'export', rec, '--format', 'kml', '--out', join(dir, 'x.kml'))).stderr,
    ).toMatch(/unknown format "kml"/);
  });
});
