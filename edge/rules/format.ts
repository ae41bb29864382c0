// Numbers and names as they appear in tip texts: fixed decimals without "-0", and names cut
// to a length that keeps a title on one line.

/** Formats a number with `digits` decimals ("-0.0" becomes "0.0"). */
export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '—';
  const s = n.toFixed(digits);
  return /^-0(\.0+)?$/.test(s) ? s.slice(1) : s;
}

/** A name cut to `max` characters with an ellipsis. */
export function short(name: string, max = 40): string {
  return name.length <= max ? name : `${name.slice(0, max - 1)}…`;
}

/** Clamps a number into [lo, hi]. */
export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
