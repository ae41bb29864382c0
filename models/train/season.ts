// Removes the season (block) effect from the target of an N-rate trial before a model is fitted,
// so that the yield the model learns is the yield in the trial's average season.
//
// Why: in many trials each N rate is applied in one season only (Las Rosas: 29, 53, 66, 106 and
// 131.5 kg N/ha in 1999; 39, 50.6, 75.4, 99.8 and 124.6 in 2001). If the season is not removed, a
// model fitted on the N rate takes the rate for the season, and its "N response" jumps by the
// difference between the seasons from one rate to the next.
//
// The season effect is estimated per season s and stratum g (one level of each categorical
// `by` feature, e.g. topo: a wet year raises the low ground more than the hilltop) as a least-
// squares line in the numeric `by` features (e.g. brightness), fitted on the training rows:
//   line_{s,g}(x) = a_{s,g} + b_{s,g}·x.
// The trial's average season is the unweighted mean of those lines over the seasons,
// avg_g(x), and the adjusted target is
//   y' = y − line_{s,g}(x) + avg_g(x).
// With no `by` features this is y − mean(y | season) + the mean of the season means. The N rate
// is never a `by` feature: within a season and stratum the rates are the treatment, spread over
// the zones by the trial's design, so the lines hold the season's level and slope and leave the
// differences between rates in y'. Two assumptions, both the trial design's:
// - the rates are spread evenly over the numeric `by` features within a season and stratum
//   (Las Rosas: |r(N, bv)| ≤ 0.1 in every year and topo), so a slope is not a rate effect;
// - the rates of each season have the same mean effect (Las Rosas: 0 N and five levels over a
//   similar range each year, averaging 64 and 65 kg N/ha): that mean is inside each season's line
//   and cannot be told from the season itself.
import { HatakeError } from '../../protocol/errors.ts';
import type { Trials } from './trials.ts';

/** What the season is and which features its effect depends on. */
export interface SeasonSpec {
  /** The column naming the season (or block), e.g. year; not a feature of the model. */
  column: string;
  /** Features whose effect differs by season: categorical ones give strata, numeric ones slopes. */
  by: string[];
}

/** One fitted season line: intercept and slopes (on the numeric `by` features, uncentred). */
interface Line {
  a: number;
  b: number[];
}

/** The season lines fitted on some rows, and how to adjust any row of those seasons. */
export interface SeasonEffect {
  spec: SeasonSpec;
  /** Seasons the lines were fitted on, sorted. */
  seasons: string[];
  /** Stratum keys (categorical `by` levels joined by "/", or "" without any), sorted. */
  strata: string[];
  /** Line per season and stratum (see `key`). */
  lines: Map<string, Line>;
  /** The average season's line per stratum. */
  average: Map<string, Line>;
  /** Mean of the numeric `by` features per stratum over the fitted rows (where offsets are read). */
  centre: Map<string, number[]>;
  /** Feature indices of the numeric `by` features. */
  slopes: number[];
  /** The stratum of a kept row. */
  stratumOf: (i: number) => string;
  /** The season of every kept row. */
  season: string[];
}

/** Fewest rows of one season and stratum a line is fitted on. */
export const MIN_CELL_ROWS = 10;

const fail = (trials: Trials, message: string, expected?: string) =>
  new HatakeError('HATAKE_E_TRIALS', message, { place: { file: trials.file }, expected });

/** Feature indices of the `by` columns: categorical ones (strata) and numeric ones (slopes). */
function byColumns(trials: Trials, spec: SeasonSpec, rateFeature: string) {
  const strata: number[] = [];
  const slopes: number[] = [];
  for (const c of spec.by) {
    const k = trials.features.findIndex((f) => f.column === c);
    if (k < 0)
      throw fail(
        trials,
        `--season-by "${c}" is not a feature`,
        trials.features.map((f) => f.column).join(', '),
      );
    if (c === rateFeature)
      throw fail(
        trials,
        `--season-by may not name the rate feature "${c}": its effect is what the model is for`,
      );
    (trials.features[k]!.levels ? strata : slopes).push(k);
  }
  return { strata, slopes };
}

/** The season of each kept row; refuses a season column that is missing, empty or a model column. */
export function seasonsOf(trials: Trials, spec: SeasonSpec): string[] {
  if (spec.column === trials.target || trials.features.some((f) => f.column === spec.column))
    throw fail(trials, `the season column "${spec.column}" is the target or a feature; it must be neither`);
  if (!Object.hasOwn(trials.raw[0] ?? {}, spec.column))
    throw fail(trials, `season column "${spec.column}" is not in the file`);
  return trials.raw.map((r, i) => {
    const s = r[spec.column]!;
    if (s === '' || s === 'NA')
      throw fail(trials, `row ${i + 1} of the kept rows has no value in the season column "${spec.column}"`);
    return s;
  });
}

/** Least squares of y on [1, x] (x already centred); returns [a, b…] or undefined when singular. */
function leastSquares(X: number[][], y: number[]): number[] | undefined {
  const p = X[0]!.length + 1;
  const A = Array.from({ length: p }, () => new Array<number>(p + 1).fill(0));
  X.forEach((row, i) => {
    const v = [1, ...row];
    for (let r = 0; r < p; r++) {
      for (let c = 0; c < p; c++) A[r]![c]! += v[r]! * v[c]!;
      A[r]![p]! += v[r]! * y[i]!;
    }
  });
  // Gauss–Jordan with partial pivoting; p is 1 + the number of numeric `by` features
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[piv]![c]!)) piv = r;
    if (Math.abs(A[piv]![c]!) < 1e-9 * Math.max(1, Math.abs(A[0]![0]!))) return undefined;
    [A[c], A[piv]] = [A[piv]!, A[c]!];
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = A[r]![c]! / A[c]![c]!;
      for (let k = c; k <= p; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  return A.map((row, r) => row[p]! / row[r]!);
}

const key = (season: string, stratum: string) => `${season}\u0000${stratum}`;

/**
 * Fits the season lines on `rows` (indices into the trials). Every stratum must appear in every
 * season with at least MIN_CELL_ROWS rows, or the average season would not be defined for it.
 */
export function fitSeasonEffect(
  trials: Trials,
  rows: number[],
  spec: SeasonSpec,
  rateFeature: string,
  minSeasons = 2,
): SeasonEffect {
  const season = seasonsOf(trials, spec);
  const { strata: sIdx, slopes } = byColumns(trials, spec, rateFeature);
  const stratumOf = (i: number) => sIdx.map((k) => trials.features[k]!.levels![trials.X[i]![k]!]).join('/');
  const seasons = [...new Set(rows.map((i) => season[i]!))].sort();
  if (seasons.length < minSeasons)
    throw fail(
      trials,
      `the training rows hold ${seasons.length} season(s) of "${spec.column}"; removing a season effect needs at least ${minSeasons}`,
    );
  const strata = [...new Set(rows.map(stratumOf))].sort();
  const cells = new Map<string, number[]>();
  for (const i of rows) {
    const k = key(season[i]!, stratumOf(i));
    const c = cells.get(k);
    if (c) c.push(i);
    else cells.set(k, [i]);
  }
  const lines = new Map<string, Line>();
  const average = new Map<string, Line>();
  const centres = new Map<string, number[]>();
  const label = (s: string, g: string) =>
    `${spec.column} = ${s}${g ? ` and ${sIdx.map((k) => trials.features[k]!.column).join('/')} = ${g}` : ''}`;
  for (const g of strata) {
    // centre the slopes' features on the stratum's rows (all seasons) for a well-conditioned fit
    const inG = rows.filter((i) => stratumOf(i) === g);
    const centre = slopes.map((k) => inG.reduce((s, i) => s + trials.X[i]![k]!, 0) / inG.length);
    centres.set(g, centre);
    const fitted: Line[] = [];
    for (const s of seasons) {
      const c = cells.get(key(s, g)) ?? [];
      if (c.length < Math.max(MIN_CELL_ROWS, slopes.length + 2))
        throw fail(
          trials,
          `${label(s, g)}: ${c.length} rows; the season effect needs every stratum in every season`,
          `at least ${Math.max(MIN_CELL_ROWS, slopes.length + 2)} rows per season and stratum`,
        );
      const coef = leastSquares(
        c.map((i) => slopes.map((k, j) => trials.X[i]![k]! - centre[j]!)),
        c.map((i) => trials.y[i]!),
      );
      if (!coef)
        throw fail(
          trials,
          `${label(s, g)}: ${slopes.map((k) => trials.features[k]!.column).join(', ')} does not vary, so its season slope cannot be fitted`,
        );
      const b = coef.slice(1);
      const line = { a: coef[0]! - b.reduce((t, bj, j) => t + bj * centre[j]!, 0), b };
      lines.set(key(s, g), line);
      fitted.push(line);
    }
    average.set(g, {
      a: fitted.reduce((t, l) => t + l.a, 0) / fitted.length,
      b: slopes.map((_, j) => fitted.reduce((t, l) => t + l.b[j]!, 0) / fitted.length),
    });
  }
  return { spec, seasons, strata, lines, average, centre: centres, slopes, stratumOf, season };
}

const at = (l: Line, x: number[]) => l.b.reduce((t, bj, j) => t + bj * x[j]!, l.a);

/**
 * The target of `rows` adjusted to the average season of `effect`. A row's own season line is
 * `effect`'s, or — for a season it was not fitted on (a season held out) — `own`'s.
 */
export function adjustTarget(
  trials: Trials,
  rows: number[],
  effect: SeasonEffect,
  own: SeasonEffect = effect,
): number[] {
  const e = effect;
  return rows.map((i) => {
    const g = e.stratumOf(i);
    const x = e.slopes.map((k) => trials.X[i]![k]!);
    const line = e.lines.get(key(e.season[i]!, g)) ?? own.lines.get(key(e.season[i]!, g));
    const avg = e.average.get(g);
    if (!line || !avg)
      throw fail(trials, `no season line for ${e.spec.column} = ${e.season[i]}${g ? `, stratum ${g}` : ''}`);
    return trials.y[i]! - at(line, x) + at(avg, x);
  });
}

/** How the season lines were fitted, e.g. "per year and topo level, with per-year slopes on bv". */
export function describeSeasonLines(spec: SeasonSpec, trials: Trials): string {
  const cat = spec.by.filter((c) => trials.features.find((f) => f.column === c)?.levels);
  const num = spec.by.filter((c) => !cat.includes(c));
  return (
    `per ${spec.column}${cat.length ? ` and ${cat.join('/')} level` : ''}` +
    (num.length ? `, with per-${spec.column} slopes on ${num.join(', ')}` : '')
  );
}

/**
 * What the adjustment removed, for the card's notes: per stratum, each season's offset from the
 * average season at the stratum's mean of the numeric `by` features, e.g. "E: 1999 −13.1, 2001 +13.1".
 */
export function describeSeasonEffect(effect: SeasonEffect, trials: Trials): string {
  const slopeNames = effect.slopes.map((k) => trials.features[k]!.column);
  const parts = effect.strata.map((g) => {
    const x = effect.centre.get(g)!;
    const avg = at(effect.average.get(g)!, x);
    const offs = effect.seasons.map((s) => {
      const off = at(effect.lines.get(key(s, g))!, x) - avg;
      return `${s} ${off >= 0 ? '+' : '−'}${Math.abs(off).toFixed(1)}`;
    });
    return `${g || 'all rows'}: ${offs.join(', ')}`;
  });
  return (
    `Each season's offset from the average season${slopeNames.length ? ` (at the mean ${slopeNames.join(', ')})` : ''}: ` +
    parts.join('; ')
  );
}
