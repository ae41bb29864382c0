// A manifest problem as the partner reads it: the server's checker (firmware-config/manifest-check.ts,
// shared with `hatake kit validate`) writes each problem in English with hatake's error code; the
// page says what is wrong in the reader's language by that code, where (line and column, or the
// whole file), and keeps the server's own text beside it as the detail (it names the exact value:
// the kit, the id used twice, the date). No Preact here; tests/unit/ui-manifest-problems.test.ts.
import type { ManifestProblem } from '../../protocol/views.ts';
import { MANIFEST_PROBLEM_CODES as CHECKER_CODES } from '../../protocol/errors.ts';

export type Translate = (key: string) => string;

/**
 * The codes the manifest checker gives its problems — one per kind of mistake (protocol/errors.ts)
 * — and the upload's own HATAKE_E_CONFIG (a boundary path split over lines), each with a
 * `manifestProblem_${code}` sentence in the catalogue. Any other code reads as a problem of the
 * manifest in general, with the code beside it.
 */
export const MANIFEST_PROBLEM_CODES = [...CHECKER_CODES, 'HATAKE_E_CONFIG'] as const;

export const isKnownProblemCode = (code: string): boolean =>
  (MANIFEST_PROBLEM_CODES as readonly string[]).includes(code);

/** What is wrong, in the reader's language, by the problem's code. */
export function problemText(p: Pick<ManifestProblem, 'code'>, t: Translate): string {
  return isKnownProblemCode(p.code) ? t(`manifestProblem_${p.code}`) : t('manifestProblemOther');
}

/** Where it is: "12行目 7列" / "line 12, column 7", or the whole file when the checker gives no line. */
export function problemPlace(p: Pick<ManifestProblem, 'line' | 'column'>, t: Translate): string {
  if (p.line === null) return t('wholeFile');
  return t('lineCol')
    .replace('{line}', String(p.line))
    .replace('{col}', String(p.column ?? 1));
}
