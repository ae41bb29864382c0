// Checks both stores apply to what they are handed, so they agree on what is storable and on what
// a query means: rows that no store could hold are set aside (and counted), queries with
// nonsense bounds get a coded error.
import { HatakeError } from '../../protocol/errors.ts';
import type { QualityFlag } from '../../protocol/telemetry.ts';
import {
  HOUR_MS,
  MAX_QUERY_ROWS,
  MAX_TIME_MS,
  NEWEST_MAX_PER_DEVICE,
  type FarmAggregate,
  type FarmReading,
  type IndexStat,
  type RangeQuery,
  type RecommendationOutput,
} from './types.ts';

const isTime = (t: unknown): t is number =>
  Number.isInteger(t) && (t as number) >= 0 && (t as number) < MAX_TIME_MS;
const isFiniteNumber = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
// Control characters and backslashes cannot be carried by InfluxDB's line protocol in a tag (a
// newline ends the point, a trailing backslash escapes the separator); ids never hold them.
export function isName(s: unknown): s is string {
  if (typeof s !== 'string' || s.length === 0 || s.length > 256) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x5c) return false;
  }
  return true;
}

/** readingProblem's answer for a farm, device or metric that is not a name. */
export const READING_NAMES_PROBLEM = 'farm, device and metric must be names';

/** Why a reading cannot be stored, or undefined when it can. (Runs per reading: kept lean.) */
export function readingProblem(r: FarmReading): string | undefined {
  if (!isName(r.farm) || !isName(r.device) || !isName(r.metric)) return READING_NAMES_PROBLEM;
  return readingValueProblem(r);
}

/**
 * readingProblem without the checks of farm, device and metric, for a caller that checks each
 * distinct name once rather than once per reading.
 */
export function readingValueProblem(r: FarmReading): string | undefined {
  if (!isTime(r.time)) return `time ${String(r.time)} is outside 1970…2261 (epoch ms)`;
  if (!isFiniteNumber(r.value)) return `value ${String(r.value)} is not a finite number`;
  if (typeof r.unit !== 'string' || r.unit.length > 16)
    return 'unit must be a string of at most 16 characters';
  if (!Array.isArray(r.flags)) return 'flags must be a list';
  for (let i = 0; i < r.flags.length; i++)
    if (!Object.hasOwn(FLAG_BITS, r.flags[i]!)) return 'unknown quality flag';
  return undefined;
}

/** Why a gateway's hourly aggregate cannot be stored, or undefined when it can. */
export function aggregateProblem(a: FarmAggregate): string | undefined {
  if (!isName(a.farm) || !isName(a.device) || !isName(a.metric)) return READING_NAMES_PROBLEM;
  if (!isTime(a.hour) || a.hour % HOUR_MS !== 0)
    return `hour ${String(a.hour)} is not the start of a UTC hour in 1970…2261 (epoch ms)`;
  if (typeof a.part !== 'string' || !/^[0-9]{1,20}$/.test(a.part)) return 'part must be 1–20 decimal digits';
  for (const k of ['min', 'max', 'mean'] as const)
    if (!isFiniteNumber(a[k])) return `${k} is not a finite number`;
  if (a.min > a.max) return 'min is above max';
  if (!Number.isSafeInteger(a.count) || a.count < 1) return 'count must be a positive integer';
  if (typeof a.unit !== 'string' || a.unit.length > 16)
    return 'unit must be a string of at most 16 characters';
  return undefined;
}

/** An aggregate's part as the stores key it: a decimal number without leading zeros. */
export const canonicalPart = (part: string): string => part.replace(/^0+(?=[0-9])/, '');

/** Why an index statistic cannot be stored, or undefined when it can. */
export function indexStatProblem(s: IndexStat): string | undefined {
  if (!isName(s.farm) || !isName(s.field) || !isName(s.index) || !isName(s.scene))
    return 'farm, field, index and scene must be names';
  if (s.zone !== undefined && !isName(s.zone)) return 'zone must be a name when given';
  if (!isTime(s.time)) return `time ${String(s.time)} is outside 1970…2261 (epoch ms)`;
  for (const k of ['mean', 'median', 'p10', 'p90', 'std', 'validFraction'] as const)
    if (!isFiniteNumber(s[k])) return `${k} is not a finite number`;
  if (!Number.isInteger(s.pixels) || s.pixels < 0) return 'pixels must be a count';
  return undefined;
}

/** Why a recommendation output cannot be stored, or undefined when it can. */
export function recommendationProblem(o: RecommendationOutput): string | undefined {
  for (const k of ['farm', 'field', 'zone', 'recommendation', 'model', 'modelVersion'] as const)
    if (!isName(o[k])) return `${k} must be a name`;
  if (!isTime(o.time)) return `time ${String(o.time)} is outside 1970…2261 (epoch ms)`;
  if (!isFiniteNumber(o.nitrogenKgHa)) return 'nitrogenKgHa is not a finite number';
  if (o.productKgHa !== undefined && !isFiniteNumber(o.productKgHa))
    return 'productKgHa is not a finite number';
  if (o.product !== undefined && !isName(o.product)) return 'product must be a name when given';
  return undefined;
}

/** Splits rows into storable ones and the reasons the others were set aside. */
export function partition<T>(
  rows: readonly T[],
  problem: (row: T) => string | undefined,
): { ok: T[]; rejected: string[] } {
  const ok: T[] = [];
  const rejected: string[] = [];
  for (const row of rows) {
    const p = problem(row);
    if (p === undefined) ok.push(row);
    else rejected.push(p);
  }
  return { ok, rejected };
}

/**
 * A range query's bounds, clamped to what can be stored; `empty` when nothing can match.
 * Throws HATAKE_E_PAYLOAD_SCHEMA for bounds that are not integers or a bad limit.
 */
export function checkRange(q: RangeQuery & { limit?: number }): {
  from: number;
  to: number;
  limit: number;
  empty: boolean;
} {
  if (!Number.isSafeInteger(q.from) || !Number.isSafeInteger(q.to))
    throw new HatakeError(
      'HATAKE_E_PAYLOAD_SCHEMA',
      'query: from and to must be integer epoch milliseconds',
      {
        expected: 'from < to, epoch ms',
      },
    );
  const limit = q.limit ?? MAX_QUERY_ROWS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_ROWS)
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `query: limit must be 1…${MAX_QUERY_ROWS}`);
  const from = Math.max(0, q.from);
  const to = Math.min(MAX_TIME_MS, q.to);
  return { from, to, limit, empty: from >= to || !isName(q.farm) };
}

/** Quality flags as bits, so InfluxDB keeps them as one small integer field (0 = clean). */
export const FLAG_BITS: Record<QualityFlag, number> = {
  out_of_range: 1,
  spike: 2,
  stuck: 4,
  clock_skew: 8,
  duplicate: 16,
};

/** Flags → bitmask. */
export function flagsToBits(flags: readonly string[]): number {
  let bits = 0;
  for (const f of flags) bits |= FLAG_BITS[f as QualityFlag] ?? 0;
  return bits;
}

/** Bitmask → flags, in the canonical order. */
export function bitsToFlags(bits: number): string[] {
  return (Object.keys(FLAG_BITS) as QualityFlag[]).filter((f) => (bits & FLAG_BITS[f]) !== 0);
}

/** Start of the UTC hour containing t. */
export const hourOf = (t: number): number => t - (t % 3_600_000);
/** The first hour start at or after t. */
export const hourCeil = (t: number): number => (t % 3_600_000 === 0 ? t : hourOf(t) + 3_600_000);

/** A newest() query's readings per device, checked: 1…NEWEST_MAX_PER_DEVICE. */
export function checkPerDevice(perDevice: unknown): number {
  if (
    !Number.isInteger(perDevice) ||
    (perDevice as number) < 1 ||
    (perDevice as number) > NEWEST_MAX_PER_DEVICE
  )
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `query: perDevice must be 1…${NEWEST_MAX_PER_DEVICE}`);
  return perDevice as number;
}
