// `hatake model list | verify | run | build | train` — for officers and partners to inspect a
// model, check its artifact against its card, try it by hand, rebuild the published models and
// train a yield-response model on their own N-rate trials.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import { modelRef } from '../protocol/model-card.ts';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import { feedsFromValues } from '../edge/inference/inputs.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';
import { checkArtifacts, writeArtifacts, cardFileOf } from '../models/build.ts';
import { readTrials } from '../models/train/trials.ts';
import { trainYieldModel } from '../models/train/forest.ts';
import { options } from './main.ts';

const USAGE = `hatake model list [--json] [--models DIR]
hatake model verify [MODEL] [--models DIR]
hatake model run MODEL --input JSON|@FILE [--models DIR]
hatake model build [--check] [--out DIR]
hatake model train --csv TRIALS.csv --target COLUMN --features A,B,C --rate-feature COLUMN
                   [--holdout COLUMN=VALUE | --test-fraction 0.2] [--id ID] [--version 1.0.0]
                   [--crop CROP] [--profiles A,B] [--units COL=UNIT,...] [--trees 30] [--max-depth 8]
                   [--min-samples 20] [--seed 42] [--where TEXT] [--out DIR]`;

/** The registry over the built-in artifacts plus any --models folders. */
export function registryFor(dirs: string[] = []): ModelRegistry {
  return new ModelRegistry({
    modelDirs: [ARTIFACTS_DIR, TRAINED_DIR, ...dirs],
    profileDirs: [PROFILES_DIR, ...dirs],
  });
}

const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];

export async function model(args: string[]): Promise<number> {
  const { values: v, positionals } = options(args, {
    json: { type: 'boolean' },
    models: { type: 'string', multiple: true },
    input: { type: 'string' },
    check: { type: 'boolean' },
    out: { type: 'string' },
    csv: { type: 'string' },
    target: { type: 'string' },
    features: { type: 'string' },
    'rate-feature': { type: 'string' },
    holdout: { type: 'string' },
    'test-fraction': { type: 'string' },
    id: { type: 'string' },
    version: { type: 'string' },
    crop: { type: 'string' },
    profiles: { type: 'string' },
    units: { type: 'string' },
    trees: { type: 'string' },
    'max-depth': { type: 'string' },
    'min-samples': { type: 'string' },
    seed: { type: 'string' },
    where: { type: 'string' },
  });
  const [action, target] = positionals;
  const reg = () => registryFor(v.models ?? []);

  if (action === 'list') {
    const r = reg();
    const rows = r.list().map(({ card, onnxFile }) => ({
      ref: modelRef(card),
      kind: card.kind,
      crops: card.crops,
      title: card.title,
      sha256: card.sha256,
      fitted: card.fitted.status,
      file: onnxFile,
    }));
    if (v.json)
      process.stdout.write(
        `${JSON.stringify({ models: rows, profiles: r.profileIds(), problems: r.problems.map((p) => p.describe()) }, null, 2)}\n`,
      );
    else {
      for (const m of rows)
        process.stdout.write(
          `${m.ref.padEnd(34)} ${m.kind.padEnd(15)} ${m.crops.join(',').padEnd(18)} ${m.fitted.padEnd(11)} ${m.title.ja} / ${m.title.en}\n`,
        );
      process.stdout.write(`\nプロファイル / profiles: ${r.profileIds().join(', ')}\n`);
      for (const p of r.problems) process.stderr.write(`hatake: skipped ${p.describe()}\n`);
    }
    return 0;
  }

  if (action === 'verify') {
    const r = reg();
    const refs = target ? [r.entry(target).card] : r.list().map((e) => e.card);
    const pool = await InferencePool.start({ size: 1 });
    let failed = 0;
    try {
      for (const card of refs) {
        const ref = modelRef(card);
        try {
          await pool.load(r.load(ref));
          await pool.unload(ref);
          process.stdout.write(
            `OK    ${ref}  sha256 ${card.sha256.slice(0, 16)}…  inputs match the card${card.example ? ', worked example reproduces' : ''}\n`,
          );
        } catch (e) {
          if (!isHatakeError(e)) throw e;
          failed++;
          process.stdout.write(`FAIL  ${ref}  ${e.describe()}\n`);
        }
      }
    } finally {
      await pool.close();
    }
    for (const p of r.problems) {
      failed++;
      process.stdout.write(`FAIL  ${p.describe()}\n`);
    }
    return failed ? 1 : 0;
  }

  if (action === 'run') {
    if (!target || !v.input)
      throw new HatakeError('HATAKE_E_CONFIG', 'run needs MODEL and --input', { expected: USAGE });
    const text = v.input.startsWith('@') ? readFileSync(v.input.slice(1), 'utf8') : v.input;
    let values: unknown;
    try {
      values = JSON.parse(text);
    } catch (e) {
      throw new HatakeError('HATAKE_E_PAYLOAD_JSON', `--input is not valid JSON: ${(e as Error).message}`);
    }
    if (values === null || typeof values !== 'object' || Array.isArray(values))
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_SCHEMA',
        '--input must be a JSON object of input names to values',
      );
    const r = reg();
    const m = r.load(r.entry(target).card.id + '@' + r.entry(target).card.version);
    const feeds = feedsFromValues(m.card, values as Record<string, unknown>);
    const pool = await InferencePool.start({ size: 1 });
    try {
      await pool.load(m);
      const out = await pool.run(modelRef(m.card), feeds);
      const result = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data)]));
      process.stdout.write(`${JSON.stringify({ model: modelRef(m.card), outputs: result })}\n`);
    } finally {
      await pool.close();
    }
    return 0;
  }

  if (action === 'build') {
    const dir = v.out ?? ARTIFACTS_DIR;
    if (v.check) {
      const problems = checkArtifacts(dir);
      for (const p of problems) process.stdout.write(`DIFF  ${p}\n`);
      if (!problems.length)
        process.stdout.write(`OK    the published models rebuild byte-for-byte in ${dir}\n`);
      return problems.length ? 1 : 0;
    }
    for (const f of writeArtifacts(dir)) process.stdout.write(`wrote ${join(dir, f)}\n`);
    return 0;
  }

  if (action === 'train') {
    if (!v.csv || !v.target || !v.features || !v['rate-feature'])
      throw new HatakeError('HATAKE_E_CONFIG', 'train needs --csv, --target, --features and --rate-feature', {
        expected: USAGE,
      });
    if (!existsSync(v.csv))
      throw new HatakeError('HATAKE_E_TRIALS', 'file not found', { place: { file: v.csv } });
    const int = (s: string | undefined, d: number, name: string, lo: number, hi: number) => {
      const n = s === undefined ? d : Number(s);
      if (!Number.isInteger(n) || n < lo || n > hi)
        throw new HatakeError('HATAKE_E_CONFIG', `--${name} must be an integer ${lo}–${hi}`);
      return n;
    };
    let holdout: { column: string; value: string } | { fraction: number } = { fraction: 0.2 };
    if (v.holdout) {
      const [column, value] = v.holdout.split('=');
      if (!column || value === undefined)
        throw new HatakeError('HATAKE_E_CONFIG', '--holdout must be COLUMN=VALUE');
      holdout = { column, value };
    } else if (v['test-fraction']) {
      const f = Number(v['test-fraction']);
      if (!(f > 0 && f < 1))
        throw new HatakeError('HATAKE_E_CONFIG', '--test-fraction must be between 0 and 1');
      holdout = { fraction: f };
    }
    const units = Object.fromEntries(
      list(v.units).map((kv) => {
        const [k, u] = kv.split('=');
        if (!k || !u) throw new HatakeError('HATAKE_E_CONFIG', '--units must be COLUMN=UNIT,…');
        return [k, u];
      }),
    );
    const trials = readTrials(readFileSync(v.csv, 'utf8'), v.csv, v.target, list(v.features));
    const id = v.id ?? 'trained-yield-rf';
    const version = v.version ?? '1.0.0';
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id) || !/^\d+\.\d+\.\d+$/.test(version))
      throw new HatakeError('HATAKE_E_CONFIG', '--id must be a-z, 0-9, _ or - and --version like 1.0.0');
    const result = trainYieldModel(trials, {
      id,
      version,
      crops: [v.crop ?? 'corn'],
      profiles: list(v.profiles),
      rateFeature: v['rate-feature'],
      units,
      holdout,
      where: v.where ?? `trained by hatake on ${v.csv}`,
      data: `${v.csv}: ${trials.y.length} rows (${trials.dropped} incomplete dropped); target ${v.target}; features ${list(v.features).join(', ')}`,
      forest: {
        trees: int(v.trees, 30, 'trees', 1, 500),
        maxDepth: int(v['max-depth'], 8, 'max-depth', 1, 30),
        minSamples: int(v['min-samples'], 20, 'min-samples', 1, 10000),
        seed: int(v.seed, 42, 'seed', 0, 2 ** 31 - 1),
      },
    });
    const dir = v.out ?? '.';
    mkdirSync(dir, { recursive: true });
    writeArtifacts(dir, [result]);
    const holdoutFile = join(dir, cardFileOf(result.card.file).replace(/\.card\.json$/, '.holdout.json'));
    writeFileSync(
      holdoutFile,
      `${JSON.stringify({ inputs: result.card.inputs.map((i) => i.name), ...result.heldOut })}\n`,
    );
    const rep = result.report;
    const b = rep.baseline!;
    process.stdout.write(
      `wrote ${join(dir, result.card.file)}, its card and ${holdoutFile}\n` +
        `held out: ${rep.split}; train ${rep.trainRows} rows, test ${rep.testRows} rows\n` +
        `random forest      RMSE ${rep.rmse.toFixed(2)} ${rep.unit}  MAE ${rep.mae.toFixed(2)}  R² ${rep.r2.toFixed(3)}\n` +
        `${b.name.padEnd(18)} RMSE ${b.rmse.toFixed(2)} ${rep.unit}  MAE ${b.mae.toFixed(2)}  R² ${b.r2.toFixed(3)}\n`,
    );
    return 0;
  }

  throw new HatakeError(
    'HATAKE_E_CONFIG',
    action ? `unknown model action "${action}"` : 'missing model action',
    { expected: USAGE },
  );
}
