// Hostile input for the property-based tests (tests/hostile/): strings an attacker or a broken
// device would send (huge, unicode, control characters, prototype-pollution keys, path traversal,
// script tags, NaN/Infinity look-alikes), JSON values and texts (deep nesting, odd numbers),
// mutations of real files, the fast-check run parameters, and the one verdict every loader must
// meet: a result, or a coded HatakeError — nothing else, and in bounded time.
import fc from 'fast-check';
import { ERROR_CODES, HatakeError } from '../../protocol/errors.ts';

/** Strings that have broken parsers, renderers, file systems and databases before. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  'javascript:alert(1)',
  '</title><script>alert(document.cookie)</script>',
  '{{7*7}}${7*7}<%= 7*7 %>',
  '../../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '....//....//etc/passwd',
  '/etc/passwd',
  'C:\\Windows\\System32',
  'file:///etc/passwd',
  'a/../../b',
  '.',
  '..',
  '~',
  '\u0000',
  'a\u0000b',
  '\r\nX-Injected: 1',
  '\u001b[31mred',
  '\u202eevil\u202c',
  '\ufeffbom',
  '\u200b\u200c\u200d',
  '\ud800',
  '\udfff\ud800',
  '畑🌾🚜',
  'ｐａｔｈ／．．／',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  '-1e999',
  '-0',
  '0x10',
  '9007199254740993',
  'null',
  'undefined',
  'true',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  "' OR '1'='1' --",
  '"; DROP TABLE readings; --',
  '$where',
  'a'.repeat(65),
  'x'.repeat(10_000),
];

/** Keys that pollute prototypes when a parser merges objects naively. */
export const POLLUTING_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

const controlChars = fc.string({
  unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
  maxLength: 20,
});
const loneSurrogates = fc.string({
  unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 4,
});

/** One hostile string: a known troublemaker, random unicode, control characters, or a huge one. */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: controlChars },
    { weight: 1, arbitrary: loneSurrogates },
    { weight: 1, arbitrary: fc.constantFrom('A', '畑', '<', '/', '\u0000').map((c) => c.repeat(300_000)) },
  );
}

/** Numbers at and beyond the edges: huge, tiny, negative zero, just past the safe integers. */
export function hostileNumber(): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(0, -0, -1, 1e308, -1e308, 5e-324, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 2 ** 64, 0.1 + 0.2),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
  );
}

/** A JSON value nested `depth` levels deep (arrays or objects), as text: built without recursion. */
export function deepJsonText(depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array'
    ? '['.repeat(depth) + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A JSON value nested `depth` levels deep, as a value. */
export function deepJsonValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** An object whose own enumerable keys are `__proto__` and friends (as JSON.parse makes them). */
export function pollutingObject(value: unknown = { polluted: true }): Record<string, unknown> {
  return JSON.parse(
    `{${POLLUTING_KEYS.map((k) => `${JSON.stringify(k)}:${JSON.stringify(value)}`).join(',')}}`,
  ) as Record<string, unknown>;
}

/** Any hostile JSON value: strings, numbers, deep nesting, polluting objects, wrong types. */
export function hostileJsonValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: hostileString() },
    { weight: 2, arbitrary: hostileNumber() },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [[]], [null], { '': '' }) },
    { weight: 1, arbitrary: fc.integer({ min: 200, max: 1_000 }).map(deepJsonValue) },
    { weight: 1, arbitrary: fc.constant(null).map(() => pollutingObject()) },
    { weight: 1, arbitrary: fc.array(hostileString(), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

/** Raw request-body texts that are not what any schema wants. */
export function hostileBodyText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      '',
      '{',
      '}',
      'null',
      '[]',
      '"string"',
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":1e999}',
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"a":1,"a":2}',
      '\ufeff{}',
      '{"a":"\\ud800"}',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ),
    fc.integer({ min: 1_000, max: 100_000 }).map((d) => deepJsonText(d, 'array')),
    fc.integer({ min: 1_000, max: 50_000 }).map((d) => deepJsonText(d, 'object')),
    hostileString(),
    fc.json({ maxDepth: 4 }),
  );
}

/** Replaces the k-th node (pre-order, modulo the node count) of a JSON value by `replacement`. */
export function replaceNode(value: unknown, k: number, replacement: unknown): unknown {
  let count = 0;
  const countNodes = (v: unknown): void => {
    count++;
    if (Array.isArray(v)) v.forEach(countNodes);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(countNodes);
  };
  countNodes(value);
  let target = k % count;
  const walk = (v: unknown): unknown => {
    if (target-- === 0) return replacement;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, x] of Object.entries(v))
        Object.defineProperty(out, key, {
          value: walk(x),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return out;
    }
    return v;
  };
  return walk(value);
}

/** Adds a key to the k-th object node of a JSON value (an own property, even for `__proto__`). */
export function addKeyAt(value: unknown, k: number, key: string, extra: unknown): unknown {
  const objects: Record<string, unknown>[] = [];
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key2, x] of Object.entries(v))
        Object.defineProperty(out, key2, {
          value: walk(x),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      objects.push(out);
      return out;
    }
    return v;
  };
  const copy = walk(value);
  const target = objects[k % Math.max(1, objects.length)];
  if (target)
    Object.defineProperty(target, key, {
      value: extra,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return copy;
}

/** A hostile variant of a JSON value: one node replaced, or a polluting/unknown key added. */
export function mutateJson(base: unknown): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.nat(), hostileJsonValue()).map(([k, r]) => replaceNode(base, k, r)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.nat(), fc.constantFrom(...POLLUTING_KEYS, 'unexpected', ''), hostileJsonValue())
        .map(([k, key, x]) => addKeyAt(base, k, key, x)),
    },
  );
}

const DEEP_MARK = '\u0000deep\u0000';

/** JSON text of `base` with its k-th node replaced by a value nested `depth` levels deep. */
export function spliceDeepText(base: unknown, k: number, depth: number): string {
  const text = JSON.stringify(replaceNode(base, k, DEEP_MARK));
  return text.replace(JSON.stringify(DEEP_MARK), deepJsonText(depth, depth % 2 ? 'array' : 'object'));
}

/** A hostile variant of a text file: bytes cut, flipped, duplicated, or hostile text spliced in. */
export function mutateText(base: string): fc.Arbitrary<string> {
  const at = fc.nat({ max: Math.max(0, base.length) });
  return fc.oneof(
    fc.tuple(at, hostileString()).map(([i, s]) => base.slice(0, i) + s + base.slice(i)),
    fc.tuple(at, at).map(([a, b]) => base.slice(0, Math.min(a, b)) + base.slice(Math.max(a, b))),
    at.map((i) => base.slice(0, i)),
    fc
      .tuple(at, fc.integer({ min: 0, max: 0xffff }))
      .map(([i, c]) => base.slice(0, i) + String.fromCharCode(c) + base.slice(i + 1)),
    fc.tuple(at, at).map(([a, b]) => base.slice(0, Math.max(a, b)) + base.slice(Math.min(a, b))),
  );
}

/** YAML texts that attack the parser itself: alias bombs, deep nesting, odd tags, duplicate keys. */
export function hostileYamlText(): fc.Arbitrary<string> {
  const bomb = (levels: number) => {
    const names = 'abcdefghijklmnop';
    const lines = [`a: &a [${Array(9).fill('"lol"').join(',')}]`];
    for (let i = 1; i < levels; i++)
      lines.push(
        `${names[i]}: &${names[i]} [${Array(9)
          .fill(`*${names[i - 1]}`)
          .join(',')}]`,
      );
    return lines.join('\n') + '\n';
  };
  return fc.oneof(
    fc.integer({ min: 3, max: 9 }).map(bomb),
    fc.integer({ min: 500, max: 5_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
    fc
      .integer({ min: 100, max: 2_000 })
      .map((d) => Array.from({ length: d }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n'),
    fc.constantFrom(
      'a: 1\na: 2\n',
      '!!js/function "function(){return 1}"\n',
      'x: !!binary AAAA\n',
      'x: !<tag:yaml.org,2002:python/object/apply:os.system> ["id"]\n',
      '%YAML 9.9\n---\na: 1\n',
      '---\na: 1\n---\nb: 2\n',
      '<<: *missing\n',
      'a: &x 1\nb: *x\n<<: {c: 1}\n',
      '\t\ta: 1\n',
      '? [a, b]\n: c\n',
      'a: "\\x00\\ud800"\n',
    ),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
}

/** fast-check run parameters: the default random seed (printed on failure), or HATAKE_FC_SEED. */
export function fcParams<T>(numRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  const seed = process.env.HATAKE_FC_SEED;
  const scale = Number(process.env.HATAKE_FC_RUNS_SCALE ?? '1');
  return {
    numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1))),
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
    ...(process.env.HATAKE_FC_PATH ? { path: process.env.HATAKE_FC_PATH } : {}),
    ...extra,
  };
}

/** How long one hostile input may take before it counts as a hang. */
export const HANG_MS = 10_000;

/** What a loader did with one input. */
export type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: HatakeError; ms: number };

/** Describes a thrown value for a failure message. */
export function describeThrown(e: unknown): string {
  if (e instanceof Error)
    return `${e.constructor.name}: ${e.message.slice(0, 300)}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return `non-error ${typeof e}: ${String(e).slice(0, 200)}`;
}

/**
 * The verdict on one hostile input: the loader returned, or threw a HatakeError with a code of the
 * registry and a message — within `maxMs`, a hang guard rather than a speed check (speed is the
 * benchmarks' business; the bound is loose enough for a busy 2-core CI machine). Anything else
 * (a TypeError, a RangeError from a blown stack, a plain Error) fails with what was thrown.
 */
export function expectCodedOrOk<T>(run: () => T, what: string, maxMs = HANG_MS): Outcome<T> {
  const t0 = performance.now();
  let out: Outcome<T>;
  try {
    const value = run();
    out = { ok: true, value, ms: performance.now() - t0 };
  } catch (e) {
    out = { ok: false, error: checkCoded(e, what), ms: performance.now() - t0 };
  }
  if (out.ms > maxMs) throw new Error(`${what}: took ${Math.round(out.ms)} ms (bound ${maxMs} ms)`);
  return out;
}

/** The same verdict for an async loader. */
export async function expectCodedOrOkAsync<T>(
  run: () => Promise<T>,
  what: string,
  maxMs = HANG_MS,
): Promise<Outcome<T>> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${maxMs} ms (hang)`)), maxMs);
  });
  try {
    const value = await Promise.race([run(), deadline]);
    return { ok: true, value, ms: performance.now() - t0 };
  } catch (e) {
    if (e instanceof Error && e.message.endsWith('(hang)')) throw e;
    return { ok: false, error: checkCoded(e, what), ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

/** Throws unless `e` is a HatakeError with a registered code and a non-empty message. */
export function checkCoded(e: unknown, what: string): HatakeError {
  if (!(e instanceof HatakeError))
    throw new Error(`${what}: threw something other than a HatakeError — ${describeThrown(e)}`);
  if (!(e.code in ERROR_CODES)) throw new Error(`${what}: unregistered code ${String(e.code)}`);
  if (typeof e.message !== 'string' || e.message.length === 0)
    throw new Error(`${what}: ${e.code} without a message`);
  e.describe(); // must not throw either
  return e;
}
