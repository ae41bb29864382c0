// From a codec's decoded object to metric values, as the kit's `uplink` list says. Vendor codecs
// and network servers return objects of their own making — numbers, numeric strings with units
// ("23.50 %"), `{ value, unit }` objects, arrays of messages — and this is where each becomes a
// value of a catalogue metric in its storage unit.
import { HatakeError } from '../protocol/errors.ts';
import type { Kit, UplinkField } from '../protocol/kit.ts';
import { convertUnit } from './units.ts';

type Segment = { key: string | undefined; selectors: Array<number | { field: string; value: string }> };

const SEGMENT = /^([A-Za-z_$][\w$-]*)?((?:\[[^\]]+\])*)$/;
const SELECTOR = /\[([^\]]+)\]/g;
const NUMBER_WITH_UNIT = /^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*)?$/;

/** Parses a field path (`a.b`, `a[2]`, `messages[measurementId=4097].measurementValue`); throws on a bad one. */
export function parsePath(path: string): Segment[] {
  const segments: Segment[] = [];
  for (const part of path.split('.')) {
    const m = SEGMENT.exec(part);
    if (!m || (m[1] === undefined && !m[2])) {
      throw new HatakeError('HATAKE_E_CONFIG', `"${path}" is not a field path`, {
        expected: 'name, name.sub, name[0] or name[field=value]',
      });
    }
    const selectors: Segment['selectors'] = [];
    for (const s of (m[2] ?? '').matchAll(SELECTOR)) {
      const body = s[1]!;
      const eq = body.indexOf('=');
      if (eq < 0) {
        if (!/^\d+$/.test(body)) {
          throw new HatakeError(
            'HATAKE_E_CONFIG',
            `"[${body}]" in "${path}" is neither an index nor field=value`,
          );
        }
        selectors.push(Number(body));
      } else selectors.push({ field: body.slice(0, eq), value: body.slice(eq + 1) });
    }
    segments.push({ key: m[1], selectors });
  }
  return segments;
}

const own = (o: unknown, k: string): unknown =>
  typeof o === 'object' && o !== null && Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined;

/** The value a path names in an object, or undefined when any step is missing. */
export function select(root: unknown, segments: Segment[]): unknown {
  let cur: unknown = root;
  for (const seg of segments) {
    if (seg.key !== undefined) cur = own(cur, seg.key);
    for (const sel of seg.selectors) {
      if (!Array.isArray(cur)) return undefined;
      cur =
        typeof sel === 'number'
          ? cur[sel]
          : cur.find((e) => {
              const v = own(e, sel.field);
              return (
                (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') &&
                String(v) === sel.value
              );
            });
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** A source value as a number and the unit it came with (if it said one). */
export function sourceNumber(
  v: unknown,
  where: string,
): { value: number; unit: string | undefined } | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number') return { value: v, unit: undefined };
  if (typeof v === 'boolean') return { value: v ? 1 : 0, unit: undefined };
  if (typeof v === 'string') {
    const m = NUMBER_WITH_UNIT.exec(v.slice(0, 64));
    if (!m) {
      throw new HatakeError('HATAKE_E_CODEC', `${where}: "${v.slice(0, 40)}" is not a number`, {
        place: { pointer: where },
        expected: 'a number, optionally followed by its unit',
      });
    }
    return { value: Number(m[1]), unit: m[2]?.trim() };
  }
  if (typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, 'value')) {
    const inner = sourceNumber((v as { value: unknown }).value, where);
    const unit = own(v, 'unit');
    if (inner && typeof unit === 'string') return { value: inner.value, unit: inner.unit ?? unit };
    return inner;
  }
  throw new HatakeError('HATAKE_E_CODEC', `${where} is ${Array.isArray(v) ? 'an array' : typeof v}`, {
    place: { pointer: where },
    expected: 'a number, a numeric string or { value, unit }',
  });
}

const compiled = new WeakMap<UplinkField, Segment[]>();
const compiledInfo = new Map<string, Segment[]>();
/** An `infoFrames` path parsed once (the catalogue checked it when the kit was loaded). */
function compiledPath(path: string): Segment[] {
  let segs = compiledInfo.get(path);
  if (!segs) {
    segs = parsePath(path);
    if (compiledInfo.size < 1024) compiledInfo.set(path, segs);
  }
  return segs;
}

/**
 * Values of the kit's metrics in a decoded object; fields that are absent give no value, and a
 * field holding one of its `skip` values (a sensor's "no measurement") gives none either. An object
 * with none of the kit's fields at all is refused: it is a codec or kit that does not fit the
 * device (or a frame the kit does not describe), and accepting it would store nothing while the
 * device looked silent — unless it is one of the kit's `infoFrames` (a frame of sensor ids or
 * versions the device sends at join), which gives no values and is not an error.
 */
export function mapUplinkFields(kit: Kit, decoded: unknown): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const fields = kit.uplink ?? [];
  let present = 0;
  for (const f of fields) {
    let segs = compiled.get(f);
    if (!segs) {
      segs = parsePath(f.path);
      compiled.set(f, segs);
    }
    const src = sourceNumber(select(decoded, segs), f.path);
    if (!src) continue;
    present++;
    if (!Number.isFinite(src.value)) {
      throw new HatakeError('HATAKE_E_CODEC', `${f.path} is not a finite number`, {
        place: { pointer: f.path },
      });
    }
    if (f.skip?.some((s) => Math.abs(s - src.value) <= 1e-9 * Math.max(1, Math.abs(s)))) continue;
    const metric = kit.metrics[f.metric];
    if (!metric) {
      throw new HatakeError(
        'HATAKE_E_UNKNOWN_METRIC',
        `kit "${kit.id}" maps ${f.path} to unknown metric "${f.metric}"`,
      );
    }
    const scaled = src.value * (f.scale ?? 1) + (f.offset ?? 0);
    const unit = src.unit ?? f.unit ?? metric.unit;
    out.push([f.metric, convertUnit(scaled, unit, metric.unit)]);
  }
  if (present === 0 && fields.length > 0) {
    if (kit.infoFrames?.some((path) => select(decoded, compiledPath(path)) !== undefined)) return out;
    throw new HatakeError(
      'HATAKE_E_CODEC',
      `the decoded payload has none of kit "${kit.id}"'s fields (it has ${describeKeys(decoded)})`,
      {
        expected: fields
          .map((f) => f.path)
          .join(', ')
          .slice(0, 200),
      },
    );
  }
  return out;
}

/** The top-level keys of a decoded object, for a message (bounded, printable). */
function describeKeys(decoded: unknown): string {
  if (typeof decoded !== 'object' || decoded === null) return decoded === null ? 'null' : typeof decoded;
  if (Array.isArray(decoded)) return `an array of ${decoded.length}`;
  const keys = Object.keys(decoded);
  if (keys.length === 0) return 'no fields';
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(k.slice(0, 32)));
  return `${shown.join(', ')}${keys.length > 8 ? `, … ${keys.length} in all` : ''}`;
}
