// fast-check arbitraries derived from the JSON Schemas in the server's OpenAPI document: values that
// follow a schema (so a request reaches the handler, not only the validator), and hostile variants
// of them (one node replaced by a hostile value, a polluting key added). Covers the keywords the
// TypeBox schemas of protocol/ produce; an unknown keyword fails loudly so coverage is not lost.
import fc from 'fast-check';
import { hostileJsonValue, mutateJson } from './hostile-values.ts';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema | JsonSchema[];
  additionalItems?: boolean;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  maxProperties?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  nullable?: boolean;
  description?: string;
  default?: unknown;
  [k: string]: unknown;
}

const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'additionalItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  'nullable',
  'description',
  'default',
  'title',
  'examples',
  'example',
  'summary',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$id',
  'patternProperties',
]);

/** Keeps generated values small: the schemas allow 5,000 sync items; one or two do to reach the handler. */
const MAX_ITEMS = 3;
const MAX_STRING = 24;
const MAX_DEPTH = 12;

function numberArb(s: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const lo =
    s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : 1e-9) : undefined);
  const hi =
    s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : 1e-9) : undefined);
  if (integer) {
    const min = Math.max(lo ?? -1e9, Number.MIN_SAFE_INTEGER);
    const max = Math.min(hi ?? 1e12, Number.MAX_SAFE_INTEGER);
    const edges = [min, max].filter((x) => Number.isSafeInteger(x));
    return fc.oneof(fc.integer({ min: Math.ceil(min), max: Math.floor(max) }), fc.constantFrom(...edges));
  }
  const min = lo ?? -1e9;
  const max = hi ?? 1e9;
  return fc.oneof(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(min, max));
}

function stringArb(s: JsonSchema): fc.Arbitrary<string> {
  if (s.format === 'date-time')
    return fc
      .date({
        min: new Date('2000-01-01T00:00:00Z'),
        max: new Date('2040-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());
  if (s.format === 'date')
    return fc
      .date({
        min: new Date('2000-01-01T00:00:00Z'),
        max: new Date('2040-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString().slice(0, 10));
  const minLength = s.minLength ?? 0;
  const maxLength = Math.max(minLength, Math.min(s.maxLength ?? MAX_STRING, MAX_STRING));
  const fits = (x: string) => x.length >= minLength && x.length <= (s.maxLength ?? Infinity);
  if (s.pattern) {
    // No .filter(): a pattern whose short matches miss minLength would make fast-check loop for
    // ever. Matches are joined until long enough; one that still misses is sent as it is (fuzz).
    const re = new RegExp(s.pattern);
    const one = fc.stringMatching(re, { size: 'xsmall' });
    return fc.tuple(one, fc.array(one, { minLength: 4, maxLength: 4 })).map(([first, more]) => {
      let x = first;
      for (const m of more) {
        if (x.length >= minLength) break;
        if (re.test(x + m)) x += m;
      }
      if (x.length < minLength && re.test(x.padEnd(minLength, 'a'))) x = x.padEnd(minLength, 'a');
      return x;
    });
  }
  return fc
    .string({ minLength, maxLength, unit: 'grapheme' })
    .map((x) => (fits(x) ? x : [...x].slice(0, minLength).join('').padEnd(minLength, 'x')));
}

/** Values that follow the schema (as far as fast-check can: patterns, ranges, required keys). */
export function validArb(s: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  for (const k of Object.keys(s))
    if (!KNOWN.has(k)) throw new Error(`hostile-schema: keyword "${k}" is not handled; teach validArb`);
  if (depth > MAX_DEPTH) return fc.constant(null);
  const plain = validArbNotNull(s, depth);
  return s.nullable ? fc.oneof(plain, fc.constant(null)) : plain;
}

function validArbNotNull(s: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((a) => validArb(a, depth + 1)));
  if (s.allOf) {
    // TypeBox intersections of objects: merge their properties.
    const merged: JsonSchema = { type: 'object', properties: {}, required: [] };
    for (const part of s.allOf) {
      Object.assign(merged.properties!, part.properties ?? {});
      merged.required!.push(...(part.required ?? []));
    }
    return validArb(merged, depth + 1);
  }
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return stringArb(s);
    case 'integer':
      return numberArb(s, true);
    case 'number':
      return numberArb(s, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      if (Array.isArray(s.items)) return fc.tuple(...s.items.map((i) => validArb(i, depth + 1)));
      const minLength = s.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(s.maxItems ?? MAX_ITEMS, MAX_ITEMS));
      const item = s.items ? validArb(s.items, depth + 1) : fc.jsonValue({ maxDepth: 2 });
      if (s.uniqueItems)
        return fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) });
      return fc.array(item, { minLength, maxLength });
    }
    case 'object':
    case undefined: {
      if (!s.properties && type === undefined) return fc.jsonValue({ maxDepth: 3 }); // unknown / any
      const props = s.properties ?? {};
      const required = new Set(s.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = validArb(v, depth + 1);
      const obj = fc.record(record, { requiredKeys: [...required].filter((k) => k in props) });
      if (s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) {
        return fc.dictionary(
          fc.string({ minLength: 1, maxLength: 12 }),
          validArb(s.additionalProperties, depth + 1),
          { maxKeys: 3 },
        );
      }
      return obj;
    }
    default:
      throw new Error(`hostile-schema: type "${String(type)}" is not handled`);
  }
}

/** A value for the schema: mostly following it, often with one hostile node, sometimes pure garbage. */
export function fuzzArb(s: JsonSchema): fc.Arbitrary<unknown> {
  const valid = validArb(s);
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 4, arbitrary: valid.chain((v) => mutateJson(v)) },
    { weight: 1, arbitrary: hostileJsonValue() },
  );
}
