// `hatake model list | verify | run | build | train` — for officers and partners to inspect a
// model, check its artifact against its card, try it by hand, rebuild the published models and
// train a yield-response model on their own N-rate trials.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import { modelRef } from '../protocol/model-card.ts';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import { feedsFromValues } from '../edge/inference/inputs.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';
import { checkArtifacts, writeArtifacts, cardFileOf } from '../models/build.ts';
import { MAX_TRIALS_BYTES, readTrials } from '../models/train/trials.ts';
import { nestingColumns, trainYieldModel, UNSPECIFIED_UNIT } from '../models/train/forest.ts';
import { YIELD_UNITS } from '../edge/recommend/rates.ts';
import { options } from './main.ts';

const USAGE = `hatake model list [--json] [--models DIR]
hatake model verify [MODEL] [--models DIR]
hatake model run MODEL --input JSON|@FILE [--models DIR]
hatake model build [--check] [--out DIR]
hatake model train --csv TRIALS.csv --target COLUMN --features A,B,C --rate-feature COLUMN
                   [--holdout COLUMN=VALUE | --test-fraction 0.2] [--season COLUMN [--season-by A,B]]
                   [--id ID] [--version 1.0.0] [--crop CROP] [--profiles A,B] [--units COL=UNIT,...]
                   [--trees 30] [--max-depth 8] [--min-samples 20] [--seed 42] [--where TEXT] [--out DIR]
hatake model help                                  the options of train in full`;

const HELP = `${USAGE}

hatake model train fits a random forest of yield on the trial columns, exports it as ONNX with
its card (and the held-out rows as .holdout.json) in --out, and prints its held-out error beside
a quadratic-plateau fit of the target on the N rate alone, on the same split.

  --csv TRIALS.csv      the trial table: CSV with a header row, at most ${MAX_TRIALS_BYTES / 1024 / 1024} MiB; rows with an
                        empty or NA value in a used column are dropped and counted
  --target COLUMN       the yield column (numbers)
  --features A,B,C      the model's inputs; a text column becomes categorical (at most 64 levels)
  --rate-feature COLUMN the feature that is the N rate (numeric); the baseline uses it alone
  --holdout COL=VALUE   hold out the rows where COL is VALUE (e.g. rep=R3); otherwise
  --test-fraction F     hold out this fraction of rows at random (default 0.2, seeded by --seed)
  --season COLUMN       the column naming the season (or block), e.g. year; not a feature. Its
                        effect is removed from the target before fitting, so the model predicts
                        the yield of the trial's average season: y − line(season) + the mean of the
                        seasons' lines, fitted on the training rows. Use it whenever the rates
                        differ from season to season (the command notes on stderr when the rate's
                        levels are nested in a column): otherwise the model takes the rate for the
                        season and its response jumps between rates. It also prints the model's
                        error with each season held out in turn.
  --season-by A,B       features whose season effect differs: a text feature gives a season
                        effect per level (e.g. topo), a numeric one a per-season slope (e.g. bv);
                        never the rate feature. Every level must occur in every season.
  --units COL=UNIT,...  units for the target and features, written on the card and printed with
                        the errors, e.g. "yield=q/ha,nitro=kg N/ha,bv=1" ("1" = dimensionless).
                        Each COL must be the target or a feature. A column left out is
                        "${UNSPECIFIED_UNIT}" on the card and its errors print without a unit; rx recommend
                        uses a trained model only if the target's unit is one of
                        ${Object.keys(YIELD_UNITS).join(', ')}.
  --id, --version       the model's id (default trained-yield-rf) and version (default 1.0.0)
  --crop, --profiles    the crop (default corn) and crop profiles the card names
  --trees, --max-depth, --min-samples, --seed
                        the forest (defaults 30, 8, 20, 42)
  --where TEXT          where the trials were run, for the card
  --out DIR             where to write the model (default .)`;

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
    season: { type: 'string' },
    'season-by': { type: 'string' },
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
    help: { type: 'boolean', short: 'h' },
  });
  const [action, target] = positionals;
  const reg = () => registryFor(v.models ?? []);

  if (v.help || action === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }

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
    const csvStat = statSync(v.csv);
    if (!csvStat.isFile()) throw new HatakeError('HATAKE_E_TRIALS', 'not a file', { place: { file: v.csv } });
    // refused before it is read: a huge file must not be pulled into memory first
    if (csvStat.size > MAX_TRIALS_BYTES)
      throw new HatakeError('HATAKE_E_TRIALS', `file is larger than ${MAX_TRIALS_BYTES} bytes`, {
        place: { file: v.csv },
      });
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
    const features = list(v.features);
    if (v['season-by'] && !v.season)
      throw new HatakeError('HATAKE_E_CONFIG', '--season-by needs --season COLUMN', { expected: USAGE });
    if (v.season !== undefined && !v.season.trim())
      throw new HatakeError('HATAKE_E_CONFIG', '--season must name a column', { expected: USAGE });
    const season = v.season ? { column: v.season.trim(), by: list(v['season-by']) } : undefined;
    const units: Record<string, string> = Object.fromEntries(
      list(v.units).map((kv) => {
        const [k, u, more] = kv.split('=').map((x) => x.trim());
        if (!k || !u || more !== undefined)
          throw new HatakeError('HATAKE_E_CONFIG', '--units must be COLUMN=UNIT,…', { expected: HELP });
        if (k !== v.target && !features.includes(k))
          throw new HatakeError(
            'HATAKE_E_CONFIG',
            `--units names "${k}", which is neither the target nor a feature`,
            { expected: [v.target, ...features].join(', ') },
          );
        if (u.length > 32)
          throw new HatakeError('HATAKE_E_CONFIG', `--units: "${u}" is longer than 32 characters`);
        return [k, u];
      }),
    );
    const trials = readTrials(readFileSync(v.csv, 'utf8'), v.csv, v.target, features);
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
      ...(season ? { season } : {}),
      where: v.where ?? `trained by hatake on ${v.csv}`,
      data: `${v.csv}: ${trials.y.length} rows (${trials.dropped} incomplete dropped); target ${v.target}${season ? ` adjusted to the average ${season.column}` : ''}; features ${features.join(', ')}`,
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
      `${JSON.stringify({ inputs: result.card.inputs.map((i) => i.name), ...result.heldOut, ...(result.bySeason ? { bySeason: result.bySeason } : {}) })}\n`,
    );
    const rep = result.report;
    const b = rep.baseline!;
    // no --units for the target: the figures print bare, never with a made-up unit
    const u = rep.unit ? ` ${rep.unit}` : '';
    const adj = season ? ' (season-adjusted)' : '';
    const rows: [string, { rmse: number; mae: number; r2: number }][] = [
      [`random forest on ${features.join(', ')}`, rep],
      [`baseline: quadratic-plateau of ${v.target}${adj} on the N rate (${v['rate-feature']}) alone`, b],
    ];
    for (const h of result.bySeason ?? [])
      rows.push(
        [`${season!.column} = ${h.season} held out: random forest`, h],
        [`${season!.column} = ${h.season} held out: baseline`, h.baseline],
      );
    const w = Math.max(...rows.map(([label]) => label.length));
    process.stdout.write(
      `wrote ${join(dir, result.card.file)}, its card and ${holdoutFile}\n` +
        `held out: ${rep.split}; train ${rep.trainRows} rows, test ${rep.testRows} rows\n` +
        rows
          .map(
            ([label, e]) =>
              `${label.padEnd(w)}  RMSE ${e.rmse.toFixed(2)}${u}  MAE ${e.mae.toFixed(2)}${u}  R² ${e.r2.toFixed(3)}\n`,
          )
          .join(''),
    );
    if (result.bySeason)
      process.stdout.write(
        `${season!.column} held out: trained on the other seasons, scored on that season's ${v.target} moved to their average season\n`,
      );
    const nested = season ? [] : nestingColumns(trials, v['rate-feature']);
    if (nested.length)
      process.stderr.write(
        `hatake: note: most levels of "${v['rate-feature']}" occur under one value of ${nested.map((c) => `"${c}"`).join(', ')} only; if that is a season or block, the model takes the rate for it — remove its effect with --season COLUMN\n`,
      );
    if (!rep.unit)
      process.stderr.write(
        `hatake: note: no unit for "${v.target}" (--units ${v.target}=UNIT); the card says "${UNSPECIFIED_UNIT}", and rx recommend needs one of ${Object.keys(YIELD_UNITS).join(', ')}\n`,
      );
    return 0;
  }

  throw new HatakeError(
    'HATAKE_E_CONFIG',
    action ? `unknown model action "${action}"` : 'missing model action',
    { expected: USAGE },
  );
}
