// Training a yield-response model from N-rate trials: the exported TreeEnsembleRegressor equals
// ml-random-forest's own predictions on held-out rows (live, and for the shipped Las Rosas
// model), the card reports the held-out error beside a quadratic-plateau baseline, the season
// effect is removed so that the rate cannot stand in for the season (Las Rosas applied each N
// level in one year only), the shipped model's N response stays within what the trial observed,
// and bad trial files are refused with the file, line and what was expected.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { HatakeError } from '../../../protocol/errors.ts';
import { readTrials } from '../../../models/train/trials.ts';
import { nestingColumns, trainYieldModel } from '../../../models/train/forest.ts';
import { adjustTarget, fitSeasonEffect } from '../../../models/train/season.ts';
import { fitQuadraticPlateau } from '../../../models/train/quadratic-plateau.ts';
import { TRAINED_DIR } from '../../../models/paths.ts';
import { parseCard, sha256Hex } from '../../../edge/inference/registry.ts';

const LASROSAS = join(import.meta.dirname, '../../../../shared/data/agronomy/agridat/lasrosas.corn.csv');
/** The shipped example (docs/models.md): trained with --season year --season-by topo,bv. */
const SHIPPED = 'lasrosas-corn-rf@1.1.0';

async function onnxPredict(
  bytes: Uint8Array,
  names: string[],
  X: number[][],
  output: string,
): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = {};
  names.forEach(
    (n, k) => (feeds[n] = new ort.Tensor('float64', Float64Array.from(X.map((r) => r[k]!)), [X.length, 1])),
  );
  const out = await s.run(feeds);
  await s.release();
  return out[output]!.data as Float32Array;
}

const maxRelDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.abs(b[i]!));
  return m;
};

const thrown = (fn: () => unknown): HatakeError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('did not throw');
};

describe('training on the Las Rosas trial', () => {
  it('exports a forest whose ONNX output equals the library’s predictions on the held-out rows', async () => {
    // a quarter of the rows and a small forest keep the test quick; the shipped model is checked below
    const text = readFileSync(LASROSAS, 'utf8')
      .split('\n')
      .filter((_, i) => i === 0 || i % 4 === 1)
      .join('\n');
    const trials = readTrials(text, LASROSAS, 'yield', ['nitro', 'topo', 'bv']);
    expect(trials.features.map((f) => f.levels ?? null)).toEqual([null, ['E', 'HT', 'LO', 'W'], null]);
    const r = trainYieldModel(trials, {
      id: 'test-rf',
      version: '0.1.0',
      crops: ['corn'],
      profiles: [],
      rateFeature: 'nitro',
      units: { yield: 'q/ha', nitro: 'kg N/ha' },
      holdout: { column: 'rep', value: 'R3' },
      where: 'test',
      data: 'test',
      forest: { trees: 8, maxDepth: 6, minSamples: 10, seed: 5 },
    });
    expect(r.heldOut.X.length).toBeGreaterThan(200);
    const got = await onnxPredict(
      r.bytes,
      r.card.inputs.map((i) => i.name),
      r.heldOut.X,
      'yield',
    );
    expect(maxRelDiff(got, r.heldOut.predicted)).toBeLessThan(1e-4);
    expect(r.card.heldOut!.rmse).toBeGreaterThan(0);
    expect(r.card.heldOut!.testRows).toBe(r.heldOut.X.length);
    expect(r.card.inputs.find((i) => i.name === 'nitro')!.source).toEqual({ kind: 'n_rate' });
    expect(r.card.inputs.find((i) => i.name === 'topo')!.levels).toEqual(['E', 'HT', 'LO', 'W']);
    expect(r.card.sha256).toBe(sha256Hex(r.bytes));
  });

  it('ships a model whose ONNX output equals the recorded library predictions, with the held-out error on its card', async () => {
    const card = parseCard(readFileSync(join(TRAINED_DIR, `${SHIPPED}.card.json`), 'utf8'), 'card');
    const bytes = new Uint8Array(readFileSync(join(TRAINED_DIR, card.file)));
    expect(sha256Hex(bytes)).toBe(card.sha256);
    const held = JSON.parse(readFileSync(join(TRAINED_DIR, `${SHIPPED}.holdout.json`), 'utf8')) as {
      inputs: string[];
      X: number[][];
      predicted: number[];
      actual: number[];
    };
    expect(held.X.length).toBe(card.heldOut!.testRows);
    const got = await onnxPredict(bytes, held.inputs, held.X, 'yield');
    expect(maxRelDiff(got, held.predicted)).toBeLessThan(1e-4);
    // the card's error is the error of those predictions
    const rmse = Math.sqrt(
      held.predicted.reduce((s, p, i) => s + (p - held.actual[i]!) ** 2, 0) / held.actual.length,
    );
    expect(card.heldOut!.rmse).toBeCloseTo(rmse, 6);
    expect(card.heldOut!.baseline!.name).toBe('quadratic-plateau of yield (season-adjusted) on nitro alone');
    expect(card.heldOut!.rmse).toBeLessThan(card.heldOut!.baseline!.rmse);
    // what the output means is on the card, for whoever reads a recommendation made with it
    expect(card.outputs[0]!.description.en).toMatch(/average season/);
    expect(card.heldOut!.split).toMatch(/target adjusted to the average season of year \(by topo, bv\)/);
    expect(card.method.notes).toMatch(/Held out by year .*1999: forest RMSE .*2001: forest RMSE/);
  });
});

// The audit that found the shipped 1.0.0 forest taking N for the year: at topo E, bv 170 it gave
// 85.7 q/ha at 0 N, 64.6 at 20, 99.2 at 40, 65.3 at 60, 97.6 at 80. Each zone's response must stay
// within what the trial itself shows within one season and one landscape position:
// - gain: the largest observed gain from the lowest to the highest N level of a year and topo
//   (12.2 q/ha, HT in 1999) plus a tolerance;
// - zig-zag: the largest observed fall between adjacent N levels of a year and topo (2.5 q/ha, HT
//   in 2001, noise) plus the same tolerance, between adjacent rates 0.5 kg N/ha apart;
// - tolerance: two standard errors of a difference between two N-level means of a year and
//   topo, the median over the eight (1.0 q/ha, so 2.0 q/ha).
// The 1.0.0 forest gained up to 26.9 q/ha and fell by up to 33.6 q/ha between adjacent rates.
describe('the shipped model’s N response (representative zones: each topo, bv at its quartiles)', () => {
  const trials = readTrials(readFileSync(LASROSAS, 'utf8'), LASROSAS, 'yield', ['nitro', 'topo', 'bv']);
  const [, topo, bvCol] = trials.features;
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const variance = (a: number[]) => a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1);
  const quantile = (a: number[], p: number) => {
    const s = [...a].sort((x, y) => x - y);
    const h = (s.length - 1) * p;
    const lo = Math.floor(h);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (h - lo);
  };
  /** Observed: per year and topo, the yields of each N level in increasing order of N. */
  const observed = [...new Set(trials.raw.map((r) => r.year!))].flatMap((year) =>
    topo!.levels!.map((level, code) => {
      const rows = trials.y.flatMap((_, i) =>
        trials.raw[i]!.year === year && trials.X[i]![1] === code ? [i] : [],
      );
      const rates = [...new Set(rows.map((i) => trials.X[i]![0]!))].sort((a, b) => a - b);
      return rates.map((n) => rows.filter((i) => trials.X[i]![0] === n).map((i) => trials.y[i]!));
    }),
  );
  const means = observed.map((levels) => levels.map(mean));
  const gainObserved = Math.max(...means.map((m) => m.at(-1)! - m[0]!));
  const fallObserved = Math.max(...means.map((m) => Math.max(...m.slice(1).map((v, k) => m[k]! - v))));
  const se = observed
    .map((l) => Math.sqrt(variance(l[0]!) / l[0]!.length + variance(l.at(-1)!) / l.at(-1)!.length))
    .sort((a, b) => a - b);
  const tolerance = 2 * ((se[3]! + se[4]!) / 2);

  it('takes its bounds from the trial', () => {
    expect(observed.length).toBe(8);
    expect(observed.every((l) => l.length === 6)).toBe(true); // 0 N and five levels of that year
    expect(gainObserved).toBeCloseTo(12.19, 1); // HT, 1999: 46.4 → 58.6 q/ha
    expect(fallObserved).toBeCloseTo(2.48, 1); // HT, 2001: 47.4 → 44.9 q/ha (99.8 → 124.6 N)
    expect(tolerance).toBeGreaterThan(1.5);
    expect(tolerance).toBeLessThan(2.5);
  });

  it('never gains more than the trial did within a season, and does not zig-zag', async () => {
    const card = parseCard(readFileSync(join(TRAINED_DIR, `${SHIPPED}.card.json`), 'utf8'), 'card');
    const nitro = card.inputs.find((i) => i.name === 'nitro')!;
    const rates: number[] = [];
    for (let r = nitro.min; r < nitro.max; r += 0.5) rates.push(r);
    rates.push(nitro.max);
    const bytes = new Uint8Array(readFileSync(join(TRAINED_DIR, card.file)));
    const curves: { zone: string; gain: number; fall: number }[] = [];
    for (const [code, level] of topo!.levels!.entries()) {
      const bvs = trials.X.filter((r) => r[1] === code).map((r) => r[2]!);
      for (const p of [0.25, 0.5, 0.75]) {
        const bv = quantile(bvs, p);
        expect(bv).toBeGreaterThanOrEqual(bvCol!.min);
        const y = await onnxPredict(
          bytes,
          ['nitro', 'topo', 'bv'],
          rates.map((r) => [r, code, bv]),
          'yield',
        );
        const fall = Math.max(...Array.from(y.subarray(1), (v, k) => y[k]! - v));
        curves.push({ zone: `${level} bv ${bv.toFixed(1)}`, gain: Math.max(...y) - y[0]!, fall });
      }
    }
    const tooMuch = curves.filter((c) => c.gain > gainObserved + tolerance);
    const zigzag = curves.filter((c) => c.fall > fallObserved + tolerance);
    expect(tooMuch, `gain above ${(gainObserved + tolerance).toFixed(1)} q/ha`).toEqual([]);
    expect(zigzag, `fall above ${(fallObserved + tolerance).toFixed(1)} q/ha`).toEqual([]);
    // and it does respond: every topo gains at some quartile of bv
    for (const level of topo!.levels!)
      expect(
        Math.max(...curves.filter((c) => c.zone.startsWith(`${level} `)).map((c) => c.gain)),
      ).toBeGreaterThan(3);
  });
});

describe('removing the season effect', () => {
  // Two seasons, two landscape positions, N nested in season (both sets average 60 kg N/ha), the
  // season's level and its brightness slope different per position; yield = season line + 0.1·N.
  const rows: string[] = ['yield,nitro,topo,bv,year'];
  const line = (year: string, topo: string, bv: number) =>
    ({ '1999': { A: 50, B: 70 }, '2001': { A: 80, B: 60 } })[year as '1999']![topo as 'A'] +
    (year === '1999' ? -0.5 : -2) * (bv - 170);
  const rates = { '1999': [0, 40, 80, 120], '2001': [0, 30, 90, 120] };
  for (const year of ['1999', '2001'] as const)
    for (const topo of ['A', 'B'])
      for (const n of rates[year])
        for (const bv of [160, 165, 170, 175, 180])
          rows.push(`${line(year, topo, bv) + 0.1 * n},${n},${topo},${bv},${year}`);
  const trials = readTrials(rows.join('\n'), 'season.csv', 'yield', ['nitro', 'topo', 'bv']);
  const all = trials.y.map((_, i) => i);

  it('leaves the N response and the average season’s line, whatever the season', () => {
    const e = fitSeasonEffect(trials, all, { column: 'year', by: ['topo', 'bv'] }, 'nitro');
    const y = adjustTarget(trials, all, e);
    all.forEach((i) => {
      const [n, t, bv] = trials.X[i]!;
      const topo = t === 0 ? 'A' : 'B';
      const avg = (line('1999', topo, bv!) + line('2001', topo, bv!)) / 2;
      expect(y[i]!).toBeCloseTo(avg + 0.1 * n!, 9);
    });
    // the season column is found as the one the rate is nested in
    expect(nestingColumns(trials, 'nitro')).toEqual(['year']);
  });

  it('with the season mean alone (no --season-by), is y − mean(y | season) + the mean of the season means', () => {
    const e = fitSeasonEffect(trials, all, { column: 'year', by: [] }, 'nitro');
    const y = adjustTarget(trials, all, e);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const m = (s: string) => mean(all.filter((i) => trials.raw[i]!.year === s).map((i) => trials.y[i]!));
    const grand = (m('1999') + m('2001')) / 2;
    all.forEach((i) => expect(y[i]!).toBeCloseTo(trials.y[i]! - m(trials.raw[i]!.year!) + grand, 9));
  });

  const cases: [string, () => unknown, RegExp][] = [
    [
      'a season column that is a feature',
      () => fitSeasonEffect(trials, all, { column: 'topo', by: [] }, 'nitro'),
      /season column "topo" is the target or a feature/,
    ],
    [
      'a season column not in the file',
      () => fitSeasonEffect(trials, all, { column: 'harvest', by: [] }, 'nitro'),
      /season column "harvest" is not in the file/,
    ],
    [
      'the rate among --season-by',
      () => fitSeasonEffect(trials, all, { column: 'year', by: ['nitro'] }, 'nitro'),
      /may not name the rate feature "nitro"/,
    ],
    [
      'a --season-by column that is not a feature',
      () => fitSeasonEffect(trials, all, { column: 'year', by: ['depth'] }, 'nitro'),
      /--season-by "depth" is not a feature/,
    ],
    [
      'one season only',
      () =>
        fitSeasonEffect(
          trials,
          all.filter((i) => trials.raw[i]!.year === '1999'),
          { column: 'year', by: [] },
          'nitro',
        ),
      /1 season\(s\) of "year"; removing a season effect needs at least 2/,
    ],
    [
      'a stratum missing from a season',
      () =>
        fitSeasonEffect(
          trials,
          all.filter((i) => !(trials.raw[i]!.year === '2001' && trials.raw[i]!.topo === 'B')),
          { column: 'year', by: ['topo'] },
          'nitro',
        ),
      /year = 2001 and topo = B: 0 rows; the season effect needs every stratum in every season/,
    ],
  ];
  it.each(cases)('refuses %s', (_name, fn, message) => {
    const e = thrown(fn);
    expect(e.code).toBe('HATAKE_E_TRIALS');
    expect(e.place?.file).toBe('season.csv');
    expect(e.message).toMatch(message);
  });

  it('trains with the season removed and scores each season held out', () => {
    const text = readFileSync(LASROSAS, 'utf8')
      .split('\n')
      .filter((_, i) => i === 0 || i % 4 === 1)
      .join('\n');
    const t = readTrials(text, LASROSAS, 'yield', ['nitro', 'topo', 'bv']);
    const r = trainYieldModel(t, {
      id: 'test-rf',
      version: '0.1.0',
      crops: ['corn'],
      profiles: [],
      rateFeature: 'nitro',
      units: { yield: 'q/ha' },
      holdout: { column: 'rep', value: 'R3' },
      season: { column: 'year', by: ['topo', 'bv'] },
      where: 'test',
      data: 'test',
      forest: { trees: 6, maxDepth: 6, minSamples: 10, seed: 5 },
    });
    expect(r.bySeason!.map((s) => [s.season, s.testRows + s.trainRows])).toEqual([
      ['1999', t.y.length],
      ['2001', t.y.length],
    ]);
    for (const s of r.bySeason!) expect(s.rmse).toBeLessThan(s.baseline.rmse);
    expect(r.card.method.notes).toMatch(/--season year --season-by topo,bv$/);
    expect(r.card.method.notes).toMatch(
      /fitted on the training rows per year and topo level, with per-year slopes on bv/,
    );
    expect(r.card.outputs[0]!.description.en).toMatch(/^Predicted yield in the trial's average season/);
    // the held-out truth is the adjusted yield: R3's rows differ from the raw yields by their season
    const raw = t.y.filter((_, i) => t.raw[i]!.rep === 'R3');
    expect(r.heldOut.actual).not.toEqual(raw);
    expect(r.heldOut.actual.length).toBe(raw.length);
  });
});

describe('quadratic-plateau baseline', () => {
  it('recovers a known curve', () => {
    const x: number[] = [];
    const y: number[] = [];
    for (const n of [0, 30, 60, 90, 120, 150, 180])
      for (let r = 0; r < 5; r++) {
        x.push(n);
        y.push(n < 120 ? 50 + 0.5 * n - (0.5 / 240) * n * n : 80);
      }
    const f = fitQuadraticPlateau(x, y, 2000);
    expect(f.x0).toBeCloseTo(120, 0);
    expect(f.plateau).toBeCloseTo(80, 1);
    expect(f.predict(60)).toBeCloseTo(72.5, 1);
  });

  it('refuses a single N rate', () => {
    expect(() => fitQuadraticPlateau([50, 50, 50], [1, 2, 3])).toThrow(RangeError);
  });
});

describe('trial files that cannot be used', () => {
  const good =
    'yield,nitro,topo\n' + Array.from({ length: 12 }, (_, i) => `${60 + i},${i * 10},W`).join('\n');
  const cases: [string, string, string[], RegExp][] = [
    ['a column that is not there', good, ['nitro', 'depth'], /"depth" is not in the header/],
    ['a text target', good.replace('60,0,W', 'high,0,W'), ['nitro'], /not a number/],
    ['unbalanced quotes', 'yield,nitro\n"1,2\n', ['nitro'], /not valid CSV/],
    ['too few rows', 'yield,nitro\n1,2\n3,4\n', ['nitro'], /only 2 complete rows/],
    ['the target among the features', good, ['yield'], /also a feature/],
    ['a header only', 'yield,nitro\n', ['nitro'], /no data rows/],
    ['duplicate header names', 'yield,nitro,nitro\n' + '1,2,3\n'.repeat(12), ['nitro'], /duplicate column/],
  ];
  it.each(cases)('refuses %s', (_name, text, features, message) => {
    const e = thrown(() => readTrials(text, 'trials.csv', 'yield', features));
    expect(e.code).toBe('HATAKE_E_TRIALS');
    expect(e.place?.file).toBe('trials.csv');
    expect(e.message).toMatch(message);
  });

  it('drops incomplete rows (NA) and counts them', () => {
    const t = readTrials(good + '\nNA,5,W\n70,,W', 'trials.csv', 'yield', ['nitro', 'topo']);
    expect(t.dropped).toBe(2);
    expect(t.y.length).toBe(12);
  });

  it('refuses a file larger than the limit without parsing it', () => {
    const e = thrown(() => readTrials('x'.repeat(64 * 1024 * 1024 + 1), 'big.csv', 'yield', ['nitro']));
    expect(e.message).toMatch(/larger than/);
  });
});
