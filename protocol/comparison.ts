// A threshold comparison as rules, automations and the pages test it: `value op threshold`.
// No imports, so the browser bundle can take it without the schemas.

export type ComparisonOp = '<' | '<=' | '>' | '>=';

/** Whether `value op threshold` holds. */
export function compares(value: number, op: ComparisonOp, threshold: number): boolean {
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
  }
}
