// `hatake model train` as an extension officer runs it: bin/hatake.js in a child process, on the
// real Las Rosas corn N trial (agridat). The model and its card are written, the card's held-out
// error is the one printed and the one the ONNX model gives on the held-out rows, the ONNX model
// reproduces the card's worked example in onnxruntime-node, --season removes the year (in which
// Las Rosas' N levels are nested) and prints each year held out, a run without it is told about
// the nesting, a target without --units prints no unit, the documented command rebuilds the
// shipped model byte-for-byte, and trial files that cannot be used exit 1 with a coded message.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseCard, sha256Hex } from '../../edge/inference/registry.ts';
import { MAX_TRIALS_BYTES } from '../../models/train/trials.ts';
import type { ModelCard } from '../../protocol/model-card.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LASROSAS = resolve(ROOT, '../shared/data/agronomy/agridat/lasrosas.corn.csv');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'hatake-train-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function hatake(...args: string[]): Promise<Ran> {
  try {
    const r = await run(process.execPath, [join(ROOT, 'bin/hatake.js'), ...args], {
      cwd: ROOT,
      timeout: 480_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

// A small forest keeps the test quick; the options are the CLI's own, on every row of the trial.
const FOREST = ['--trees', '6', '--max-depth', '6', '--min-samples', '20', '--seed', '7'];
const train = (csv: string, out: string, ...more: string[]) =>
  hatake(
    'model',
    'train',
    '--csv',
    csv,
    '--target',
    'yield',
    '--features',
    'nitro,topo,bv',
    '--rate-feature',
    'nitro',
    '--holdout',
    'rep=R3',
    '--id',
    'it-lasrosas-rf',
    ...FOREST,
    '--out',
    out,
    ...more,
  );

/** The figures the command printed for a row whose label starts with `label`. */
function printed(stdout: string, label: string): { rmse: string; mae: string; r2: string; units: string[] } {
  const line = stdout.split('\n').find((l) => l.startsWith(label));
  if (!line) throw new Error(`no line starting "${label}" in:\n${stdout}`);
  // label, "RMSE 9.96 q/ha", "MAE 7.34 q/ha", "R² 0.737": columns are two or more spaces apart
  const [, rmse, mae, r2] = line.split(/ {2,}/);
  const fig = /^(?:RMSE|MAE|R²) (\S+)(?: (.+))?$/;
  const [e, a, r] = [rmse, mae, r2].map((part) => fig.exec(part ?? ''));
  if (!e || !a || !r) throw new Error(`cannot read the figures of: ${line}`);
  return { rmse: e[1]!, mae: a[1]!, r2: r[1]!, units: [e[2] ?? '', a[2] ?? ''] };
}

const readCard = (out: string): ModelCard =>
  parseCard(readFileSync(join(out, 'it-lasrosas-rf@1.0.0.card.json'), 'utf8'), 'card');

async function onnxRun(bytes: Uint8Array, card: ModelCard, columns: number[][]): Promise<number[]> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const feeds: Record<string, ort.Tensor> = {};
    card.inputs.forEach(
      (inp, k) =>
        (feeds[inp.name] = new ort.Tensor('float64', Float64Array.from(columns.map((r) => r[k]!)), [
          columns.length,
          1,
        ])),
    );
    const out = await s.run(feeds);
    return Array.from(out[card.outputs[0]!.name]!.data as Float32Array);
  } finally {
    await s.release();
  }
}

describe('hatake model train on the Las Rosas trial', () => {
  const withUnits = join(dir, 'with-units');
  const noUnits = join(dir, 'no-units');
  let a: Ran;
  let b: Ran;
  beforeAll(async () => {
    [a, b] = await Promise.all([
      train(
        LASROSAS,
        withUnits,
        '--units',
        'yield=q/ha,nitro=kg N/ha,bv=1',
        '--season',
        'year',
        '--season-by',
        'topo,bv',
      ),
      train(LASROSAS, noUnits),
    ]);
  }, 240_000);

  it('exits 0 and writes the ONNX model, its card and the held-out rows', () => {
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    for (const f of ['.onnx', '.card.json', '.holdout.json'])
      expect(existsSync(join(withUnits, `it-lasrosas-rf@1.0.0${f}`))).toBe(true);
    const card = readCard(withUnits);
    expect(sha256Hex(new Uint8Array(readFileSync(join(withUnits, card.file))))).toBe(card.sha256);
    expect(card.heldOut!.testRows).toBe(1149); // replicate R3 of the 3,443 points
    expect(card.heldOut!.trainRows).toBe(2294);
    expect(a.stdout).toContain('train 2294 rows, test 1149 rows');
  });

  it('prints the held-out error that is on the card, with the unit given', () => {
    const h = readCard(withUnits).heldOut!;
    const rf = printed(a.stdout, 'random forest');
    expect(rf).toEqual({
      rmse: h.rmse.toFixed(2),
      mae: h.mae.toFixed(2),
      r2: h.r2.toFixed(3),
      units: ['q/ha', 'q/ha'],
    });
    expect(h.unit).toBe('q/ha');
    const base = printed(a.stdout, 'baseline:');
    expect(base).toEqual({
      rmse: h.baseline!.rmse.toFixed(2),
      mae: h.baseline!.mae.toFixed(2),
      r2: h.baseline!.r2.toFixed(3),
      units: ['q/ha', 'q/ha'],
    });
    // the baseline is plainly the N-rate-only curve, on the printout and on the card
    expect(a.stdout).toContain(
      'baseline: quadratic-plateau of yield (season-adjusted) on the N rate (nitro) alone',
    );
    expect(h.baseline!.name).toBe('quadratic-plateau of yield (season-adjusted) on nitro alone');
    expect(printed(b.stdout, 'baseline:').rmse).toBe(readCard(noUnits).heldOut!.baseline!.rmse.toFixed(2));
    expect(readCard(noUnits).heldOut!.baseline!.name).toBe('quadratic-plateau of yield on nitro alone');
  });

  it('with --season, fits on yield in the average year and prints each year held out, as on the card', () => {
    const card = readCard(withUnits);
    expect(card.heldOut!.split).toMatch(/target adjusted to the average season of year \(by topo, bv\)$/);
    expect(card.outputs[0]!.description.en).toMatch(/average season .*not a forecast of any one season/);
    const held = JSON.parse(readFileSync(join(withUnits, 'it-lasrosas-rf@1.0.0.holdout.json'), 'utf8')) as {
      bySeason: { season: string; rmse: number; mae: number; r2: number; baseline: { rmse: number } }[];
    };
    expect(held.bySeason.map((s) => s.season)).toEqual(['1999', '2001']);
    for (const s of held.bySeason) {
      const rf = printed(a.stdout, `year = ${s.season} held out: random forest`);
      expect(rf).toEqual({
        rmse: s.rmse.toFixed(2),
        mae: s.mae.toFixed(2),
        r2: s.r2.toFixed(3),
        units: ['q/ha', 'q/ha'],
      });
      expect(printed(a.stdout, `year = ${s.season} held out: baseline`).rmse).toBe(
        s.baseline.rmse.toFixed(2),
      );
      expect(card.method.notes).toContain(`${s.season}: forest RMSE ${s.rmse.toFixed(2)} q/ha`);
      expect(s.rmse).toBeLessThan(s.baseline.rmse);
    }
    // a run without --season is told that the N levels are nested in the year
    expect(b.stderr).toMatch(/most levels of "nitro" occur under one value of "year".* --season COLUMN/);
    expect(a.stderr).toBe('');
  });

  it('is an ONNX model that onnxruntime-node loads, reproducing the card’s example and held-out error', async () => {
    const card = readCard(withUnits);
    const bytes = new Uint8Array(readFileSync(join(withUnits, card.file)));
    const ex = card.example!;
    const [got] = await onnxRun(bytes, card, [card.inputs.map((i) => ex.inputs[i.name] as number)]);
    const want = ex.outputs[card.outputs[0]!.name] as number;
    expect(Math.abs(got! - want) / Math.abs(want)).toBeLessThan(1e-4);
    // the card's RMSE is the error of this model on the held-out rows it wrote beside it
    const held = JSON.parse(readFileSync(join(withUnits, 'it-lasrosas-rf@1.0.0.holdout.json'), 'utf8')) as {
      inputs: string[];
      X: number[][];
      actual: number[];
    };
    expect(held.inputs).toEqual(card.inputs.map((i) => i.name));
    const pred = await onnxRun(bytes, card, held.X);
    const rmse = Math.sqrt(pred.reduce((s, p, i) => s + (p - held.actual[i]!) ** 2, 0) / pred.length);
    expect(Math.abs(rmse - card.heldOut!.rmse) / card.heldOut!.rmse).toBeLessThan(1e-4);
  });

  it('prints no unit, never "1", when the target has none, and says so', () => {
    expect(b.code).toBe(0);
    const card = readCard(noUnits);
    expect(card.heldOut!.unit).toBe('');
    expect(card.outputs[0]!.unit).toBe('unspecified');
    expect(card.inputs.find((i) => i.name === 'bv')!.unit).toBe('unspecified');
    for (const label of ['random forest', 'baseline:']) {
      const p = printed(b.stdout, label);
      expect(p.units).toEqual(['', '']);
    }
    expect(printed(b.stdout, 'random forest').rmse).toBe(card.heldOut!.rmse.toFixed(2));
    expect(b.stdout).not.toMatch(/RMSE \S+ 1 /);
    expect(b.stderr).toMatch(/no unit for "yield" \(--units yield=UNIT\)/);
  });
});

describe('hatake model train refuses trial files it cannot use', () => {
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const lines = readFileSync(LASROSAS, 'utf8').trimEnd().split('\n');
  const header = lines[0]!; // year,lat,long,yield,nitro,topo,bv,rep,nf
  const rows = lines.slice(1, 400);
  const withColumn = (col: number, f: (v: string, i: number) => string) =>
    [
      header,
      ...rows.map((r, i) =>
        r
          .split(',')
          .map((v, k) => (k === col ? f(v, i) : v))
          .join(','),
      ),
    ].join('\n');

  let big: string;
  beforeAll(() => {
    big = join(dir, 'oversized.csv');
    writeFileSync(big, '');
    truncateSync(big, MAX_TRIALS_BYTES + 1); // sparse: no 64 MiB written
  });

  const cases: [string, () => [string, ...string[]], RegExp][] = [
    [
      'a target column that is not there',
      () => [LASROSAS, '--target', 'yeild'],
      /"yeild" is not in the header/,
    ],
    [
      'a non-numeric rate feature',
      () => [LASROSAS, '--rate-feature', 'topo'],
      /rate feature "topo" must be a numeric feature/,
    ],
    [
      'a feature column of free text (every value different)',
      () => [
        file(
          'text-bv.csv',
          withColumn(6, (v, i) => `${v} #${i}`),
        ),
      ],
      /column "bv" has 399 distinct text values/,
    ],
    [
      'a text value in the target',
      () => [
        file(
          'text-yield.csv',
          withColumn(3, (v, i) => (i === 41 ? 'high' : v)),
        ),
      ],
      /:43: target "yield" is not a number: "high"/,
    ],
    [
      'a number too large to be finite',
      () => [
        file(
          'huge-bv.csv',
          withColumn(6, (v, i) => (i === 5 ? '1e999' : v)),
        ),
      ],
      /column "bv" has a value that is not finite/,
    ],
    ['an empty file', () => [file('empty.csv', '')], /no data rows/],
    ['a header without rows', () => [file('header.csv', `${header}\n`)], /no data rows/],
    [
      'unbalanced quotes',
      () => [file('quotes.csv', `${header}\n${rows[0]}\n"${rows[1]}\n${rows[2]}\n`)],
      /not valid CSV/,
    ],
    ['a file over the size limit', () => [big], /file is larger than 67108864 bytes/],
    [
      'a season column that is not in the file',
      () => [LASROSAS, '--season', 'harvest'],
      /season column "harvest" is not in the file/,
    ],
    [
      'the rate among the --season-by features',
      () => [LASROSAS, '--season', 'year', '--season-by', 'topo,nitro'],
      /--season-by may not name the rate feature "nitro"/,
    ],
  ];

  it.each(cases)('exits 1 on %s with a coded HATAKE_E_TRIALS message', async (name, args, message) => {
    const [csv, ...more] = args();
    const out = join(dir, `out-${name.replace(/\W+/g, '-')}`);
    // the later --target / --rate-feature override the defaults (parseArgs keeps the last)
    const r = await train(csv, out, ...more);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      new RegExp(`^hatake: HATAKE_E_TRIALS ${csv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(existsSync(out)).toBe(false); // nothing written
  });

  it('exits 1 with HATAKE_E_CONFIG on --season-by without --season', async () => {
    const out = join(dir, 'out-season-by');
    const r = await train(LASROSAS, out, '--season-by', 'topo');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hatake: HATAKE_E_CONFIG: --season-by needs --season COLUMN/);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 1 with HATAKE_E_CONFIG when --units names a column that is not used', async () => {
    const out = join(dir, 'out-units');
    const r = await train(LASROSAS, out, '--units', 'yeild=q/ha');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^hatake: HATAKE_E_CONFIG: --units names "yeild", which is neither the target nor a feature/,
    );
    expect(existsSync(out)).toBe(false);
  });
});

// The shipped example is what the command in docs/models.md makes: same ONNX bytes, same card.
// Trained artifacts are not rebuilt by `hatake model build --check`, so this is their check.
describe('the shipped Las Rosas model', () => {
  it('is rebuilt byte-for-byte by the documented command', async () => {
    const out = join(dir, 'shipped');
    const r = await hatake(
      'model',
      'train',
      '--csv',
      '../shared/data/agronomy/agridat/lasrosas.corn.csv',
      '--target',
      'yield',
      '--features',
      'nitro,topo,bv',
      '--rate-feature',
      'nitro',
      '--holdout',
      'rep=R3',
      '--season',
      'year',
      '--season-by',
      'topo,bv',
      '--id',
      'lasrosas-corn-rf',
      '--version',
      '1.1.0',
      '--crop',
      'corn',
      '--profiles',
      'corn-lasrosas-trial',
      '--units',
      'yield=q/ha,nitro=kg N/ha,bv=1',
      '--trees',
      '30',
      '--max-depth',
      '8',
      '--min-samples',
      '40',
      '--seed',
      '42',
      '--where',
      'Las Rosas farm, Rio Cuarto, Córdoba, Argentina (1999, 2001 harvests)',
      '--out',
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const shipped = join(ROOT, 'models/trained');
    for (const f of ['lasrosas-corn-rf@1.1.0.onnx', 'lasrosas-corn-rf@1.1.0.card.json'])
      expect(existsSync(join(shipped, f)), f).toBe(true);
    expect(
      readFileSync(join(out, 'lasrosas-corn-rf@1.1.0.onnx')).equals(
        readFileSync(join(shipped, 'lasrosas-corn-rf@1.1.0.onnx')),
      ),
    ).toBe(true);
    const card = (d: string) =>
      JSON.parse(readFileSync(join(d, 'lasrosas-corn-rf@1.1.0.card.json'), 'utf8')) as unknown;
    expect(card(out)).toEqual(card(shipped));
    const held = (d: string) =>
      JSON.parse(readFileSync(join(d, 'lasrosas-corn-rf@1.1.0.holdout.json'), 'utf8')) as unknown;
    expect(held(out)).toEqual(held(shipped));
  }, 600_000);
});
