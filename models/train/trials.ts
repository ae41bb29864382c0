// Reads an N-rate trial table (CSV with a header row) into a feature matrix and a target for
// training. Numeric columns stay numbers; a column with text values becomes categorical, coded
// by its sorted levels. Rows with a missing value (empty or NA) in a used column are dropped and
// counted; any other bad value is an error naming the file, line and column.
import { parse } from 'csv-parse/sync';
import { HatakeError } from '../../protocol/errors.ts';

export const MAX_TRIALS_BYTES = 64 * 1024 * 1024;
const MAX_LEVELS = 64;
const MISSING = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'null']);

export interface FeatureColumn {
  /** Column name in the CSV. */
  column: string;
  /** Levels of a categorical column (its values are coded 0..levels-1). */
  levels?: string[];
  min: number;
  max: number;
}

export interface Trials {
  file: string;
  target: string;
  features: FeatureColumn[];
  X: number[][];
  y: number[];
  /** The raw row (by column name) of each kept row, for hold-out rules like rep=R3. */
  raw: Record<string, string>[];
  dropped: number;
}

const isNumber = (s: string) => /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s.trim());

/** Parses trial CSV text; throws a placed HATAKE_E_TRIALS error on anything unusable. */
export function readTrials(text: string, file: string, target: string, features: string[]): Trials {
  const fail = (message: string, line?: number, expected?: string) =>
    new HatakeError('HATAKE_E_TRIALS', message, { place: { file, line }, expected });
  if (text.length > MAX_TRIALS_BYTES) throw fail(`file is larger than ${MAX_TRIALS_BYTES} bytes`);
  if (features.length === 0) throw fail('no features given', undefined, '--features a,b,c');
  if (features.includes(target)) throw fail(`target "${target}" is also a feature`);
  let records: string[][];
  try {
    records = parse(text, { relax_column_count: false, skip_empty_lines: true, bom: true, trim: true });
  } catch (e) {
    const err = e as { message: string; lines?: number };
    throw fail(`not valid CSV: ${err.message}`, err.lines);
  }
  const header = records[0];
  if (!header || records.length < 2) throw fail('no data rows', 1, 'a header row and data rows');
  const index = new Map(header.map((h, i) => [h, i]));
  if (index.size !== header.length) throw fail('duplicate column names in the header', 1);
  for (const c of [target, ...features]) {
    if (!index.has(c)) throw fail(`column "${c}" is not in the header`, 1, header.join(', '));
  }
  const used = [target, ...features];
  const kept: string[][] = [];
  const raw: Record<string, string>[] = [];
  let dropped = 0;
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    if (used.some((c) => MISSING.has(rec[index.get(c)!]!))) {
      dropped++;
      continue;
    }
    kept.push(rec);
    raw.push(Object.fromEntries(header.map((h, i) => [h, rec[i]!])));
  }
  if (kept.length < 10)
    throw fail(`only ${kept.length} complete rows`, undefined, 'at least 10 rows with every used column');
  const columnValues = (c: string) => kept.map((rec) => rec[index.get(c)!]!);
  const targetValues = columnValues(target);
  const y = targetValues.map((v, k) => {
    if (!isNumber(v))
      throw fail(`target "${target}" is not a number: "${v.slice(0, 20)}"`, lineOf(records, kept[k]!));
    return Number(v);
  });
  const cols: FeatureColumn[] = [];
  const coded: number[][] = [];
  for (const c of features) {
    const vals = columnValues(c);
    if (vals.every(isNumber)) {
      const nums = vals.map(Number);
      if (nums.some((n) => !Number.isFinite(n))) throw fail(`column "${c}" has a value that is not finite`);
      cols.push({ column: c, min: Math.min(...nums), max: Math.max(...nums) });
      coded.push(nums);
    } else {
      const levels = [...new Set(vals)].sort();
      if (levels.length > MAX_LEVELS)
        throw fail(
          `column "${c}" has ${levels.length} distinct text values`,
          undefined,
          `a number or at most ${MAX_LEVELS} levels`,
        );
      cols.push({ column: c, levels, min: 0, max: levels.length - 1 });
      coded.push(vals.map((v) => levels.indexOf(v)));
    }
  }
  const X = kept.map((_, r) => coded.map((col) => col[r]!));
  return { file, target, features: cols, X, y, raw, dropped };
}

function lineOf(records: string[][], rec: string[]): number {
  return records.indexOf(rec) + 1;
}
