// JSON Pointer (RFC 6901): a path of tokens, each written after a `/`, where a `~` inside a token
// is written `~0` and a `/` is written `~1`. Keys and ids that come from outside (a device's
// metric names, a zone id from a gateway) may hold either, and a pointer built by pasting them in
// would name another place — or, read back, another zone.

/** The pointer naming `tokens` in order: `pointerOf('zones', 'a/b', 'kgNHa')` → `/zones/a~1b/kgNHa`. */
export function pointerOf(...tokens: readonly (string | number)[]): string {
  let out = '';
  for (const t of tokens) out += `/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`;
  return out;
}

/** The tokens of a pointer (`''` names the whole document: no tokens). */
export function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  // Lenient with a pointer missing its leading `/` (not RFC 6901): its first token is what precedes
  // the first `/`.
  const parts = pointer.startsWith('/') ? pointer.slice(1).split('/') : pointer.split('/');
  // `~1` before `~0` (RFC 6901 §4): the other way, `~01` (a literal "~1") would read as "/".
  return parts.map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

// The review audit names a zone's rate by the zone's id (stable across edits), not its index.

/** The audit path of a zone's rate (`/zones/{id}/kgNHa`), its id escaped as RFC 6901 says. */
export function zoneRatePath(zone: string, rate: 'kgNHa' | 'productKgHa'): string {
  return pointerOf('zones', zone, rate);
}

/** The zone and rate an audit path names, or undefined when it names something else. */
export function zoneRateOfPath(path: string): { zone: string; rate: 'kgNHa' | 'productKgHa' } | undefined {
  const t = pointerTokens(path);
  const rate = t.at(-1);
  if (t.length < 3 || t[0] !== 'zones' || (rate !== 'kgNHa' && rate !== 'productKgHa')) return undefined;
  // More than three tokens: an entry written before ids were escaped, whose id held a `/`.
  return { zone: t.slice(1, -1).join('/'), rate };
}
