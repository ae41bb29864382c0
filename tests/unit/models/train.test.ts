// Training a yield-response model from N-rate trials: the exported TreeEnsembleRegressor equals
// ml-random-forest's own predictions on held-out rows (live, and for the shipped Las Rosas
// model), the card reports the held-out error beside a quadratic-plateau baseline, and bad trial
// files are refused with the file, line and what was expected.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { HatakeError } from '../../../protocol/errors.ts';
import { readTrials } from '../../../models/train/trials.ts';
import { trainYieldModel } from '../../../models/train/forest.ts';
import { fitQuadraticPlateau } from '../../../models/train/quadratic-plateau.ts';
import { TRAINED_DIR } from '../../../models/paths.ts';
import { parseCard, sha256Hex } from '../../../edge/inference/registry.ts';

const LASROSAS = join(import.meta.dirname, '../../../../shared/data/agronomy/agridat/lasrosas.corn.csv');

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
    const card = parseCard(
      readFileSync(join(TRAINED_DIR, 'lasrosas-corn-rf@1.0.0.card.json'), 'utf8'),
      'card',
    );
    const bytes = new Uint8Array(readFileSync(join(TRAINED_DIR, card.file)));
    expect(sha256Hex(bytes)).toBe(card.sha256);
    const held = JSON.parse(
      readFileSync(join(TRAINED_DIR, 'lasrosas-corn-rf@1.0.0.holdout.json'), 'utf8'),
    ) as {
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
    expect(card.heldOut!.baseline!.name).toMatch(/quadratic-plateau/);
    expect(card.heldOut!.rmse).toBeLessThan(card.heldOut!.baseline!.rmse);
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
