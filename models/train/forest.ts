// Trains a random-forest yield-response model (ml-random-forest, CART trees) on N-rate trials and
// exports it as an ONNX `ai.onnx.ml` TreeEnsembleRegressor with a generated card and a held-out
// error report, beside a plain quadratic-plateau N-response fit on the same split. With a season
// (spec.season), the target is first adjusted to the trial's average season (season.ts) and the
// model is also scored season by season, each season held out in turn.
//
// ONNX layout: one [N, 1] float64 input per feature (named on the card) → Concat → the ensemble.
// Thresholds are stored as float64 tensors (ml opset 3), so a split compares exactly as ml-cart
// does (`x < splitValue` goes left); the output is float32, as the operator defines it.
import { RandomForestRegression } from 'ml-random-forest';
import { GraphBuilder, onnxInfo } from '../onnx/graph.ts';
import { finish, type BuiltModel, type CardDraft } from '../published/card-parts.ts';
import type { HeldOutReport, ModelInput } from '../../protocol/model-card.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { fitQuadraticPlateau } from './quadratic-plateau.ts';
import type { Trials } from './trials.ts';
import {
  adjustTarget,
  describeSeasonEffect,
  describeSeasonLines,
  fitSeasonEffect,
  seasonsOf,
  type SeasonEffect,
  type SeasonSpec,
} from './season.ts';

export interface ForestOptions {
  trees: number;
  maxDepth: number;
  minSamples: number;
  seed: number;
}

export interface TrainSpec {
  id: string;
  version: string;
  crops: string[];
  profiles: string[];
  /** The feature that is the N rate (the decision variable a recommendation sweeps). */
  rateFeature: string;
  /** Units of features and of the target, by column name; a column not here is "unspecified". */
  units: Record<string, string>;
  /** Hold out rows whose column equals a value (e.g. rep=R3), or a seeded random fraction. */
  holdout: { column: string; value: string } | { fraction: number };
  /** Remove this season (block) effect from the target before fitting; see season.ts. */
  season?: SeasonSpec;
  where: string;
  data: string;
  forest: ForestOptions;
}

interface TreeNodeLike {
  splitColumn?: number;
  splitValue?: number;
  left?: TreeNodeLike;
  right?: TreeNodeLike;
  distribution?: number;
}

/** The card's unit for a column the trainer was given no unit for. */
export const UNSPECIFIED_UNIT = 'unspecified';

/** Lower snake case name for a column (an ONNX input name on the card). */
export const tensorName = (column: string) =>
  column
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^[^a-z]+/, '')
    .slice(0, 64) || 'x';

/** Deterministic uniform [0, 1) numbers (mulberry32) for the hold-out shuffle. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits row indices into train and held-out sets. */
export function splitRows(
  trials: Trials,
  holdout: TrainSpec['holdout'],
  seed: number,
): { train: number[]; test: number[]; how: string } {
  const all = trials.y.map((_, i) => i);
  if ('column' in holdout) {
    if (!Object.hasOwn(trials.raw[0] ?? {}, holdout.column))
      throw new HatakeError('HATAKE_E_TRIALS', `hold-out column "${holdout.column}" is not in the file`, {
        place: { file: trials.file },
      });
    const test = all.filter((i) => trials.raw[i]![holdout.column] === holdout.value);
    const train = all.filter((i) => trials.raw[i]![holdout.column] !== holdout.value);
    if (test.length === 0 || train.length < 10)
      throw new HatakeError(
        'HATAKE_E_TRIALS',
        `hold-out ${holdout.column}=${holdout.value} leaves ${train.length} training and ${test.length} held-out rows`,
        {
          place: { file: trials.file },
        },
      );
    return { train, test, how: `rows with ${holdout.column} = ${holdout.value} held out` };
  }
  const rnd = random(seed);
  const test = all.filter(() => rnd() < holdout.fraction);
  const set = new Set(test);
  const train = all.filter((i) => !set.has(i));
  if (test.length === 0 || train.length < 10)
    throw new HatakeError('HATAKE_E_TRIALS', `hold-out fraction ${holdout.fraction} leaves too few rows`, {
      place: { file: trials.file },
    });
  return {
    train,
    test,
    how: `${Math.round(holdout.fraction * 100)} % of rows held out at random (seed ${seed})`,
  };
}

/** Trains the forest (deterministic for a seed). */
export function trainForest(X: number[][], y: number[], o: ForestOptions): RandomForestRegression {
  const rf = new RandomForestRegression({
    seed: o.seed,
    maxFeatures: 1.0,
    replacement: false,
    nEstimators: o.trees,
    noOOB: true,
    useSampleBagging: true,
    selectionMethod: 'mean',
    treeOptions: { maxDepth: o.maxDepth, minNumSamples: o.minSamples },
  } as never);
  rf.train(X, y);
  return rf;
}

/** The forest as TreeEnsembleRegressor attributes (node ids in pre-order per tree). */
function ensembleAttributes(rf: RandomForestRegression) {
  const a = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    modes: [] as string[],
    values: [] as number[],
    trueIds: [] as number[],
    falseIds: [] as number[],
    targetTree: [] as number[],
    targetNode: [] as number[],
    weights: [] as number[],
  };
  const estimators = (rf as unknown as { estimators: { root: TreeNodeLike }[]; indexes: number[][] })
    .estimators;
  const indexes = (rf as unknown as { indexes: number[][] }).indexes;
  estimators.forEach((est, t) => {
    let next = 0;
    const visit = (node: TreeNodeLike): number => {
      const id = next++;
      const at = a.nodeIds.length;
      a.treeIds.push(t);
      a.nodeIds.push(id);
      if (node.left && node.right && node.splitColumn !== undefined && node.splitValue !== undefined) {
        a.featureIds.push(indexes[t]![node.splitColumn]!);
        a.modes.push('BRANCH_LT');
        a.values.push(node.splitValue);
        a.trueIds.push(0);
        a.falseIds.push(0);
        a.trueIds[at] = visit(node.left);
        a.falseIds[at] = visit(node.right);
      } else {
        a.featureIds.push(0);
        a.modes.push('LEAF');
        a.values.push(0);
        a.trueIds.push(0);
        a.falseIds.push(0);
        a.targetTree.push(t);
        a.targetNode.push(id);
        a.weights.push(Number(node.distribution));
      }
      return id;
    };
    visit(est.root);
  });
  return a;
}

/** Exports a trained forest as ONNX with one float64 [N, 1] input per feature. */
export function exportForest(
  rf: RandomForestRegression,
  inputs: ModelInput[],
  output: string,
  ref: string,
): Uint8Array {
  const b = new GraphBuilder(ref.replace(/[^a-z0-9]+/g, '_'));
  const names = inputs.map((i) => b.input(i.name, 'float64', ['N', 1]));
  const X = b.op('Concat', names, { axis: { int: 1 } });
  const e = ensembleAttributes(rf);
  const y = b.op(
    'TreeEnsembleRegressor',
    [X],
    {
      n_targets: { int: 1 },
      aggregate_function: { string: 'AVERAGE' },
      post_transform: { string: 'NONE' },
      nodes_treeids: { ints: e.treeIds },
      nodes_nodeids: { ints: e.nodeIds },
      nodes_featureids: { ints: e.featureIds },
      nodes_modes: { strings: e.modes },
      nodes_values_as_tensor: { doubles: e.values },
      nodes_truenodeids: { ints: e.trueIds },
      nodes_falsenodeids: { ints: e.falseIds },
      target_treeids: { ints: e.targetTree },
      target_nodeids: { ints: e.targetNode },
      target_ids: { ints: e.targetTree.map(() => 0) },
      target_weights_as_tensor: { doubles: e.weights },
    },
    'ai.onnx.ml',
  );
  b.output(output, y, 'float32', ['N', 1]);
  return b.encode({
    doc: `Random-forest yield response (${inputs.map((i) => i.name).join(', ')})`,
    ref,
    ml: true,
  });
}

function errors(pred: number[], actual: number[]): Errors {
  const n = actual.length;
  const mean = actual.reduce((s, v) => s + v, 0) / n;
  let sse = 0,
    sae = 0,
    sst = 0;
  for (let i = 0; i < n; i++) {
    sse += (pred[i]! - actual[i]!) ** 2;
    sae += Math.abs(pred[i]! - actual[i]!);
    sst += (actual[i]! - mean) ** 2;
  }
  return { rmse: Math.sqrt(sse / n), mae: sae / n, r2: 1 - sse / sst };
}

type Errors = { rmse: number; mae: number; r2: number };

/** The model trained without one season, scored on that season (target moved to the others' average). */
export interface SeasonHeldOut extends Errors {
  season: string;
  trainRows: number;
  testRows: number;
  baseline: Errors;
}

export interface TrainResult extends BuiltModel {
  report: HeldOutReport;
  /** Held-out rows as the model sees them, the library's own predictions and the truth. */
  heldOut: { X: number[][]; predicted: number[]; actual: number[] };
  /** With a season: each season held out in turn (all rows, whatever the main hold-out). */
  bySeason?: SeasonHeldOut[];
}

/**
 * The columns (neither target nor feature, at most 64 values) in which the rate is nested: more
 * than half of its levels occur under a single value of the column, as Las Rosas' N levels do
 * under year. Such a column, if it is a season or block, lets the model take the rate for it.
 */
export function nestingColumns(trials: Trials, rateFeature: string): string[] {
  const k = trials.features.findIndex((f) => f.column === rateFeature);
  if (k < 0) return [];
  const used = new Set([trials.target, ...trials.features.map((f) => f.column)]);
  const out: string[] = [];
  for (const c of Object.keys(trials.raw[0] ?? {})) {
    if (used.has(c)) continue;
    const under = new Map<number, Set<string>>();
    const values = new Set<string>();
    trials.raw.forEach((r, i) => {
      const v = r[c]!;
      values.add(v);
      const rate = trials.X[i]![k]!;
      const set = under.get(rate);
      if (set) set.add(v);
      else under.set(rate, new Set([v]));
    });
    if (values.size < 2 || values.size > 64 || under.size < 3) continue;
    const single = [...under.values()].filter((v) => v.size === 1).length;
    if (single > under.size / 2) out.push(c);
  }
  return out;
}

/** Forest and quadratic-plateau baseline trained on `train`, with their predictions on `test`. */
function fitAndPredict(
  Xtr: number[][],
  ytr: number[],
  Xte: number[][],
  rateIdx: number,
  forest: ForestOptions,
) {
  const rf = trainForest(Xtr, ytr, forest);
  const qp = fitQuadraticPlateau(
    Xtr.map((r) => r[rateIdx]!),
    ytr,
  );
  return { rf, qp, predicted: rf.predict(Xte), qpPred: Xte.map((r) => qp.predict(r[rateIdx]!)) };
}

/** The target of `rows`, adjusted to `effect`'s average season when there is one. */
function targetOf(trials: Trials, rows: number[], effect: SeasonEffect | undefined, rateFeature: string) {
  if (!effect) return rows.map((i) => trials.y[i]!);
  const unseen = rows.filter((i) => !effect.seasons.includes(effect.season[i]!));
  // a season the lines were not fitted on (held out whole): its own lines, from its own rows
  const own = unseen.length ? fitSeasonEffect(trials, unseen, effect.spec, rateFeature, 1) : effect;
  return adjustTarget(trials, rows, effect, own);
}

/** Trains, evaluates on the held-out rows and exports the model with its card. */
export function trainYieldModel(trials: Trials, spec: TrainSpec): TrainResult {
  const rateIdx = trials.features.findIndex((f) => f.column === spec.rateFeature);
  if (rateIdx < 0 || trials.features[rateIdx]!.levels)
    throw new HatakeError('HATAKE_E_TRIALS', `rate feature "${spec.rateFeature}" must be a numeric feature`, {
      place: { file: trials.file },
      expected: trials.features
        .filter((f) => !f.levels)
        .map((f) => f.column)
        .join(', '),
    });
  const { train, test, how } = splitRows(trials, spec.holdout, spec.forest.seed);
  const effect = spec.season ? fitSeasonEffect(trials, train, spec.season, spec.rateFeature) : undefined;
  const Xtr = train.map((i) => trials.X[i]!);
  const ytr = targetOf(trials, train, effect, spec.rateFeature);
  const Xte = test.map((i) => trials.X[i]!);
  const yte = targetOf(trials, test, effect, spec.rateFeature);
  const { rf, qp, predicted, qpPred } = fitAndPredict(Xtr, ytr, Xte, rateIdx, spec.forest);
  const bySeason = spec.season ? seasonHoldOuts(trials, spec, rateIdx) : undefined;
  const adjusted = spec.season
    ? ` adjusted to the average season of ${spec.season.column}${spec.season.by.length ? ` (by ${spec.season.by.join(', ')})` : ''}`
    : '';
  // A column without a unit from --units is "unspecified" on the card (whose units may not be
  // empty) and has no unit in the held-out report; never "1", which would claim it dimensionless.
  const unitOf = (c: string) => spec.units[c] ?? UNSPECIFIED_UNIT;
  const report: HeldOutReport = {
    split: `${how}; ${trials.dropped} incomplete rows dropped${spec.season ? `; target${adjusted}` : ''}`,
    trainRows: train.length,
    testRows: test.length,
    unit: spec.units[trials.target] ?? '',
    ...errors(predicted, yte),
    baseline: {
      name: `quadratic-plateau of ${trials.target}${spec.season ? ` (season-adjusted)` : ''} on ${spec.rateFeature} alone`,
      ...errors(qpPred, yte),
      parameters: { a: qp.a, b: qp.b, c: qp.c, x0: qp.x0, plateau: qp.plateau },
    },
  };
  const inputs: ModelInput[] = trials.features.map((f) => ({
    name: tensorName(f.column),
    description: { ja: `試験データの列「${f.column}」`, en: `Trial column "${f.column}"` },
    unit: f.levels ? 'level' : unitOf(f.column),
    // the model is refused outside what it was trained on: trees do not extrapolate
    min: f.min,
    max: f.max,
    type: 'float64',
    shape: 'zone',
    source:
      f.column === spec.rateFeature
        ? { kind: 'n_rate' }
        : { kind: 'zone_attribute', name: tensorName(f.column) },
    ...(f.levels ? { levels: f.levels } : {}),
  }));
  const outName = tensorName(trials.target);
  const ref = `${spec.id}@${spec.version}`;
  const bytes = exportForest(rf, inputs, outName, ref);
  const o = spec.forest;
  const u = spec.units[trials.target] ? ` ${spec.units[trials.target]}` : '';
  const fig = (e: Errors) => `RMSE ${e.rmse.toFixed(2)}${u}, R² ${e.r2.toFixed(3)}`;
  const seasonNotes = spec.season
    ? [
        `The target is ${trials.target} in the trial's average season: y − line(season) + the mean of the seasons' lines, the lines fitted on the training rows ${describeSeasonLines(spec.season, trials)}, so the rate cannot stand in for the season. The output is the ${trials.target} of an average season of this trial, not a forecast of any one season; differences between rates are what a recommendation uses.`,
        `${describeSeasonEffect(effect!, trials)}.`,
        `Held out by ${spec.season.column} (trained on the other seasons, scored on that season's ${trials.target} moved to their average): ${bySeason!
          .map((b) => `${b.season}: forest ${fig(b)}; baseline ${fig(b.baseline)}`)
          .join('; ')}.`,
      ]
    : [];
  const holdoutOpt =
    'column' in spec.holdout
      ? ` --holdout ${spec.holdout.column}=${spec.holdout.value}`
      : ` --test-fraction ${spec.holdout.fraction}`;
  const seasonOpt = spec.season
    ? ` --season ${spec.season.column}${spec.season.by.length ? ` --season-by ${spec.season.by.join(',')}` : ''}`
    : '';
  const outputDescription = spec.season
    ? {
        ja: `試験の平均的な年での予測収量(列「${trials.target}」から ${spec.season.column} の年次効果を${spec.season.by.length ? ` ${spec.season.by.join('・')} ごとに` : ''}除去)。施肥量どうしの差を推奨に使い、特定の年の収量予測ではありません`,
        en: `Predicted ${trials.target} in the trial's average season (the ${spec.season.column} effect removed${spec.season.by.length ? `, per ${spec.season.by.join(' and ')}` : ''}): differences between rates are what a recommendation uses; not a forecast of any one season`,
      }
    : { ja: `予測収量(列「${trials.target}」)`, en: `Predicted ${trials.target}` };
  const draft: CardDraft = {
    schema: 'hatake.model-card/1',
    id: spec.id,
    version: spec.version,
    title: {
      ja: `収量応答ランダムフォレスト(${trials.features.map((f) => f.column).join('・')})`,
      en: `Random-forest yield response (${trials.features.map((f) => f.column).join(', ')})`,
    },
    file: `${ref}.onnx`,
    kind: 'yield_response',
    crops: spec.crops,
    profiles: spec.profiles,
    inputs,
    outputs: [
      {
        name: outName,
        description: outputDescription,
        unit: unitOf(trials.target),
        type: 'float32',
        role: 'yield',
      },
    ],
    method: {
      name: 'Random forest regression (CART trees, bagged), exported as ai.onnx.ml TreeEnsembleRegressor',
      source: `ml-random-forest 2.1.0 (mljs); ${o.trees} trees, max depth ${o.maxDepth}, min ${o.minSamples} samples per leaf, seed ${o.seed}`,
      notes: [
        'Inputs outside the training range are refused. Held-out error and a quadratic-plateau baseline are in heldOut.',
        ...seasonNotes,
        `Trained with: hatake model train --target ${trials.target} --features ${trials.features.map((f) => f.column).join(',')} --rate-feature ${spec.rateFeature}${holdoutOpt}${seasonOpt}`,
      ].join(' '),
    },
    fitted: { where: spec.where, data: spec.data, status: 'fitted' },
    onnx: onnxInfo(true),
    heldOut: report,
    example: {
      source: 'First held-out row; output is ml-random-forest’s own prediction',
      inputs: Object.fromEntries(inputs.map((inp, k) => [inp.name, Xte[0]![k]!])),
      outputs: { [outName]: predicted[0]! },
    },
  };
  return {
    ...finish(draft, bytes),
    report,
    heldOut: { X: Xte, predicted, actual: yte },
    ...(bySeason ? { bySeason } : {}),
  };
}

/**
 * Leave one season out: for each season, the forest and the baseline trained on every row of the
 * other seasons (their target adjusted to their average season) and scored on the season held
 * out, whose target is moved from its own season lines to the others' average. A season's level
 * cannot be known before it happens; what this checks is whether the pattern within a season —
 * the differences between rates and zones a recommendation uses — carries over to another one.
 */
function seasonHoldOuts(trials: Trials, spec: TrainSpec, rateIdx: number): SeasonHeldOut[] {
  const season = seasonsOf(trials, spec.season!);
  const all = trials.y.map((_, i) => i);
  return [...new Set(season)].sort().map((s) => {
    const train = all.filter((i) => season[i] !== s);
    const test = all.filter((i) => season[i] === s);
    const effect = fitSeasonEffect(trials, train, spec.season!, spec.rateFeature, 1);
    const ytr = targetOf(trials, train, effect, spec.rateFeature);
    const yte = targetOf(trials, test, effect, spec.rateFeature);
    const Xte = test.map((i) => trials.X[i]!);
    const r = fitAndPredict(
      train.map((i) => trials.X[i]!),
      ytr,
      Xte,
      rateIdx,
      spec.forest,
    );
    return {
      season: s,
      trainRows: train.length,
      testRows: test.length,
      ...errors(r.predicted, yte),
      baseline: errors(r.qpPred, yte),
    };
  });
}
