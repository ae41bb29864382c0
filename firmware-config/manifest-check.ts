// Checking a farm manifest before anyone drives out to the field: its schema, and everything the
// schema cannot say — kits that are not in the catalogue, ids used twice, devices outside their
// field, planting dates in the future, broken boundaries (unclosed rings, rings crossing
// themselves, files that are missing or hold no polygon). Every problem is reported, each at its
// file, line and column with what was expected, and with a code of its own kind
// (MANIFEST_PROBLEM_CODES) so the partner page can say it in Japanese.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { kinks } from '@turf/kinks';
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { HatakeError, isHatakeError, type ManifestProblemCode } from '../protocol/errors.ts';
import { ManifestFile, PolygonGeometry, type Manifest } from '../protocol/manifest.ts';
import { validator } from '../protocol/validate.ts';
import { MAX_YAML_BYTES, placeOf, readYaml, toData, type YamlSource } from '../protocol/yaml.ts';
import type { Catalogue } from './catalogue.ts';
import { calibratedMetrics } from './calibration.ts';

const polygonValidator = validator(PolygonGeometry);
const MAX_BOUNDARY_FILE_BYTES = 4 * 1024 * 1024;

export interface ManifestCheckOptions {
  catalogue: Catalogue;
  /** Today as YYYY-MM-DD in the farm's zone; from `now` when absent. */
  today?: string;
  now?: number;
}

export { MANIFEST_PROBLEM_CODES, type ManifestProblemCode } from '../protocol/errors.ts';

type Position = [number, number];
type Rings = Position[][];

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isPos = (p: unknown): p is Position =>
  Array.isArray(p) && p.length >= 2 && typeof p[0] === 'number' && typeof p[1] === 'number';

/**
 * Whether a string names an IANA time zone. Only plausible names reach Intl: its check takes time
 * growing with the square of the length (a 300 kB "zone" blocked the event loop for 8 s).
 */
export function isTimeZone(zone: string): boolean {
  if (zone.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Today's date in a time zone (falls back to Asia/Tokyo for an unknown zone). */
export function todayIn(zone: string | undefined, now = Date.now()): string {
  const tz = zone !== undefined && isTimeZone(zone) ? zone : 'Asia/Tokyo';
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
}

/** The same problem under a manifest code (the YAML reader, shared with config files, says HATAKE_E_CONFIG). */
const recoded = (e: HatakeError, code: ManifestProblemCode): HatakeError =>
  new HatakeError(code, e.message, { place: e.place, expected: e.expected, cause: e.cause });

/**
 * Parses a manifest's YAML: syntax errors (and a file over the size limit) are returned placed,
 * with the manifest's codes. The partner upload reads the text with this before it checks it.
 */
export function readManifestYaml(text: string, file: string): { source: YamlSource; errors: HatakeError[] } {
  const { source, errors } = readYaml(text, file);
  const code = text.length > MAX_YAML_BYTES ? 'HATAKE_E_PAYLOAD_SIZE' : 'HATAKE_E_MANIFEST_YAML';
  return { source, errors: errors.map((e) => recoded(e, code)) };
}

/** The manifest as plain data; an alias bomb or an alias to nothing throws HATAKE_E_MANIFEST_YAML. */
export function manifestData(source: YamlSource): unknown {
  try {
    return toData(source);
  } catch (e) {
    throw isHatakeError(e) ? recoded(e, 'HATAKE_E_MANIFEST_YAML') : e;
  }
}

/** The manifest code of a schema problem, by the kind of rule it breaks. */
function schemaCode(type: ValueErrorType): ManifestProblemCode {
  switch (type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'HATAKE_E_MANIFEST_REQUIRED';
    case ValueErrorType.ObjectAdditionalProperties:
    case ValueErrorType.IntersectUnevaluatedProperties:
      return 'HATAKE_E_MANIFEST_UNKNOWN_KEY';
    case ValueErrorType.StringPattern:
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringFormatUnknown:
    case ValueErrorType.RegExp:
    case ValueErrorType.Literal:
      return 'HATAKE_E_MANIFEST_FORMAT';
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.NumberMultipleOf:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.IntegerExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMaximum:
    case ValueErrorType.IntegerMultipleOf:
    case ValueErrorType.StringMinLength:
    case ValueErrorType.StringMaxLength:
    case ValueErrorType.ArrayMinItems:
    case ValueErrorType.ArrayMaxItems:
    case ValueErrorType.ArrayUniqueItems:
    case ValueErrorType.ArrayContains:
    case ValueErrorType.ArrayMinContains:
    case ValueErrorType.ArrayMaxContains:
    case ValueErrorType.ObjectMinProperties:
    case ValueErrorType.ObjectMaxProperties:
      return 'HATAKE_E_MANIFEST_RANGE';
    default:
      // Expected string / number / object / array / tuple …: a value of the wrong kind.
      return 'HATAKE_E_MANIFEST_TYPE';
  }
}

// Compiled on first use, like protocol/validate.ts's checkers (a gateway compiles it once, at start).
let manifestSchema: TypeCheck<typeof ManifestFile> | undefined;

/** Every schema problem of the manifest data (up to `max`), each with its pointer and code. */
function schemaProblems(
  data: unknown,
  max: number,
): Array<{ pointer: string; message: string; code: ManifestProblemCode }> {
  manifestSchema ??= TypeCompiler.Compile(ManifestFile);
  const out: Array<{ pointer: string; message: string; code: ManifestProblemCode }> = [];
  for (const e of manifestSchema.Errors(data)) {
    // A pointer names keys from the input, which can be huge: keep messages short.
    const pointer = e.path || '/';
    out.push({
      pointer: pointer.length > 200 ? `${pointer.slice(0, 200)}…` : pointer,
      message: e.message,
      code: schemaCode(e.type),
    });
    if (out.length >= max) break;
  }
  return out;
}

class Problems {
  readonly list: HatakeError[] = [];
  readonly source: YamlSource;
  constructor(source: YamlSource) {
    this.source = source;
  }
  add(pointer: string, message: string, expected: string | undefined, code: ManifestProblemCode): void {
    const { line, column } = placeOf(this.source, pointer);
    this.list.push(
      new HatakeError(code, message, { place: { file: this.source.file, line, column, pointer }, expected }),
    );
  }
}

/** The polygon of a GeoJSON file: a Polygon geometry, or a Feature / one-feature FeatureCollection of one. */
function polygonFromGeoJson(value: unknown): { polygon?: unknown; problem?: string } {
  let v = value;
  if (isObj(v) && v.type === 'FeatureCollection') {
    const features = Array.isArray(v.features) ? v.features : [];
    if (features.length !== 1)
      return { problem: `the FeatureCollection has ${features.length} features, not one` };
    v = features[0];
  }
  if (isObj(v) && v.type === 'Feature') v = v.geometry;
  if (!isObj(v) || v.type !== 'Polygon') {
    return {
      problem: `the file holds ${isObj(v) && typeof v.type === 'string' ? `a ${v.type.slice(0, 40)}` : 'no GeoJSON geometry'}, not a Polygon`,
    };
  }
  return { polygon: v };
}

interface RingProblem {
  ring: number;
  index: number | undefined;
  message: string;
  expected: string;
  code: 'HATAKE_E_MANIFEST_RING_OPEN' | 'HATAKE_E_MANIFEST_RING_CROSSING';
}

/** Geometry problems of a schema-valid polygon: unclosed rings and self-intersections. */
function ringProblems(rings: Rings): RingProblem[] {
  const out: RingProblem[] = [];
  rings.forEach((ring, r) => {
    const a = ring[0]!;
    const b = ring[ring.length - 1]!;
    if (a[0] !== b[0] || a[1] !== b[1]) {
      out.push({
        ring: r,
        index: ring.length - 1,
        message: `ring ${r} is not closed: it ends at [${b.join(', ')}], not where it starts`,
        expected: `the last position to repeat the first, [${a.join(', ')}]`,
        code: 'HATAKE_E_MANIFEST_RING_OPEN',
      });
    }
  });
  if (out.length === 0) {
    const crossings = kinks({ type: 'Polygon', coordinates: rings }).features;
    if (crossings.length > 0) {
      const at = crossings[0]!.geometry.coordinates.map((c) => Number(c.toFixed(7)));
      out.push({
        ring: 0,
        index: undefined,
        message: `the boundary crosses itself at [${at.join(', ')}]${crossings.length > 1 ? ` and ${crossings.length - 1} more places` : ''}`,
        expected: 'a simple polygon whose edges do not cross',
        code: 'HATAKE_E_MANIFEST_RING_CROSSING',
      });
    }
  }
  return out;
}

export interface ManifestCheck {
  /** The manifest with every boundary given by path read and inlined; absent when there were problems. */
  manifest: Manifest | undefined;
  problems: HatakeError[];
}

/** Checks a manifest's text against the schema and the catalogue; every problem, sorted by place. */
export function checkManifest(file: string, text: string, opts: ManifestCheckOptions): ManifestCheck {
  const { source, errors } = readManifestYaml(text, file);
  if (errors.length) return { manifest: undefined, problems: errors };
  const p = new Problems(source);
  let raw: unknown;
  try {
    // The yaml library refuses alias bombs ("excessive alias count") by throwing.
    raw = manifestData(source);
  } catch (e) {
    return { manifest: undefined, problems: [e as HatakeError] };
  }
  // Schema problems, except that a boundary's union error is replaced by what is wrong inside it.
  for (const e of schemaProblems(raw, 500)) {
    const pointer = e.pointer;
    const m = /^\/fields\/(\d+)\/boundary$/.exec(pointer);
    const value = m
      ? (raw as { fields: Array<{ boundary?: unknown }> }).fields[Number(m[1])]?.boundary
      : undefined;
    if (m && isObj(value)) {
      for (const q of polygonValidator.problems(value, 20))
        p.add(
          `${pointer}${q.pointer === '/' ? '' : q.pointer}`,
          `${pointer}${q.pointer === '/' ? '' : q.pointer}: ${q.message}`,
          'a GeoJSON Polygon',
          'HATAKE_E_MANIFEST_GEOJSON',
        );
    } else if (m) {
      p.add(
        pointer,
        `${pointer}: boundary is neither a GeoJSON Polygon nor a path`,
        'a Polygon { type, coordinates } or a path to a .geojson / .json file',
        'HATAKE_E_MANIFEST_GEOJSON',
      );
    } else p.add(pointer, `${pointer === '/' ? '' : pointer + ': '}${e.message}`, undefined, e.code);
  }
  if (!isObj(raw)) return { manifest: undefined, problems: p.list };
  const farm = isObj(raw.farm) ? raw.farm : {};
  if (typeof farm.timezone === 'string') {
    if (!isTimeZone(farm.timezone)) {
      p.add(
        '/farm/timezone',
        `time zone "${farm.timezone.slice(0, 64)}" is not known`,
        'an IANA zone such as Asia/Tokyo',
        'HATAKE_E_MANIFEST_TIMEZONE',
      );
    }
  }
  const today =
    opts.today ?? todayIn(typeof farm.timezone === 'string' ? farm.timezone : undefined, opts.now);

  const fields = Array.isArray(raw.fields) ? raw.fields : [];
  const boundaries = new Map<string, Rings>();
  const fieldIds = new Map<string, number>();
  const inlined: unknown[] = [];
  fields.forEach((f: unknown, i: number) => {
    inlined.push(f);
    if (!isObj(f)) return;
    const at = `/fields/${i}`;
    if (typeof f.id === 'string') {
      const first = fieldIds.get(f.id);
      if (first !== undefined)
        p.add(
          `${at}/id`,
          `field id "${f.id}" is used twice`,
          `an id not already used by /fields/${first}`,
          'HATAKE_E_MANIFEST_DUPLICATE_ID',
        );
      else fieldIds.set(f.id, i);
    }
    /** A YYYY-MM-DD after today is a mistake (a schema problem reports any other shape). */
    const future = (date: unknown, pointer: string, what: (d: string) => string) => {
      if (typeof date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(date) && date > today)
        p.add(pointer, what(date), `a date on or before ${today}`, 'HATAKE_E_MANIFEST_FUTURE_DATE');
    };
    future(f.plantingDate, `${at}/plantingDate`, (d) => `planting date ${d} is in the future`);
    const stage = f.stage;
    if (isObj(stage))
      future(stage.date, `${at}/stage/date`, (d) => `stage ${String(stage.id)} is dated ${d}, in the future`);
    if (isObj(f.observations)) {
      for (const [name, o] of Object.entries(f.observations)) {
        if (isObj(o))
          future(
            o.date,
            `${at}/observations/${name}/date`,
            (d) => `observation ${name} is dated ${d}, in the future`,
          );
      }
    }
    let polygon: unknown = f.boundary;
    if (typeof f.boundary === 'string' && /\.(geo)?json$/.test(f.boundary)) {
      const path = resolve(dirname(file), f.boundary);
      let problem: string | undefined;
      // A file that is not there (or too large to read) is the file's problem; what it holds is the GeoJSON's.
      let code: ManifestProblemCode = 'HATAKE_E_MANIFEST_BOUNDARY_FILE';
      if (!existsSync(path) || !statSync(path).isFile())
        problem = `boundary file ${f.boundary} was not found`;
      else if (statSync(path).size > MAX_BOUNDARY_FILE_BYTES)
        problem = `boundary file ${f.boundary} is larger than ${MAX_BOUNDARY_FILE_BYTES} bytes`;
      else {
        code = 'HATAKE_E_MANIFEST_GEOJSON';
        try {
          const found = polygonFromGeoJson(JSON.parse(readFileSync(path, 'utf8')));
          polygon = found.polygon;
          if (found.problem) problem = `boundary file ${f.boundary}: ${found.problem}`;
          else {
            const qs = polygonValidator.problems(polygon, 5);
            if (qs.length)
              problem = `boundary file ${f.boundary}: ${qs.map((q) => `${q.pointer} ${q.message}`).join('; ')}`;
          }
        } catch (e) {
          problem = `boundary file ${f.boundary} is not JSON: ${(e as Error).message.slice(0, 100)}`;
        }
      }
      if (problem) {
        p.add(
          `${at}/boundary`,
          problem,
          'a GeoJSON Polygon, or a Feature / one-feature FeatureCollection of one',
          code,
        );
        polygon = undefined;
      } else inlined[i] = { ...f, boundary: polygon };
    }
    if (polygon !== undefined && polygonValidator.check(polygon)) {
      const rings = polygon.coordinates as Rings;
      const qs = ringProblems(rings);
      const inline = typeof f.boundary !== 'string';
      for (const q of qs) {
        const ptr = inline
          ? `${at}/boundary/coordinates/${q.ring}${q.index !== undefined ? `/${q.index}` : ''}`
          : `${at}/boundary`;
        p.add(ptr, q.message, q.expected, q.code);
      }
      if (qs.length === 0 && typeof f.id === 'string') boundaries.set(f.id, rings);
    }
  });

  const devices = Array.isArray(raw.devices) ? raw.devices : [];
  const deviceIds = new Map<string, number>();
  const euis = new Map<string, number>();
  devices.forEach((d: unknown, i: number) => {
    if (!isObj(d)) return;
    const at = `/devices/${i}`;
    if (typeof d.id === 'string') {
      const first = deviceIds.get(d.id);
      if (first !== undefined)
        p.add(
          `${at}/id`,
          `device id "${d.id}" is used twice`,
          `an id not already used by /devices/${first}`,
          'HATAKE_E_MANIFEST_DUPLICATE_ID',
        );
      else deviceIds.set(d.id, i);
    }
    const kit = typeof d.kit === 'string' ? opts.catalogue.get(d.kit) : undefined;
    if (typeof d.kit === 'string' && !kit) {
      p.add(
        `${at}/kit`,
        `kit "${d.kit}" is not in the catalogue`,
        [...opts.catalogue.kits.keys()].join(', '),
        'HATAKE_E_UNKNOWN_KIT',
      );
    }
    if (typeof d.field === 'string' && !fieldIds.has(d.field)) {
      p.add(
        `${at}/field`,
        `field "${d.field}" is not among the manifest's fields`,
        [...fieldIds.keys()].join(', ') || 'a field id',
        'HATAKE_E_MANIFEST_UNKNOWN_FIELD',
      );
    }
    const rings = typeof d.field === 'string' ? boundaries.get(d.field) : undefined;
    if (
      rings &&
      isPos(d.position) &&
      !booleanPointInPolygon(d.position, { type: 'Polygon', coordinates: rings })
    ) {
      p.add(
        `${at}/position`,
        `position [${d.position.join(', ')}] is outside the boundary of field "${String(d.field)}"`,
        'a position inside the field (or on its edge)',
        'HATAKE_E_MANIFEST_OUTSIDE_FIELD',
      );
    }
    if (kit && isObj(d.calibration)) {
      const allowed = calibratedMetrics(kit);
      for (const metric of Object.keys(d.calibration)) {
        if (!allowed.includes(metric)) {
          p.add(
            `${at}/calibration/${metric}`,
            `kit "${kit.id}" does not calibrate "${metric}"`,
            allowed.length ? allowed.join(', ') : 'no calibration for this kit',
            'HATAKE_E_MANIFEST_CALIBRATION',
          );
        }
      }
    }
    if (kit?.transport === 'lorawan' && typeof d.devEui !== 'string') {
      p.add(
        at,
        `LoRaWAN device "${String(d.id)}" has no devEui`,
        'devEui: 16 hex digits, as registered in the network server',
        'HATAKE_E_MANIFEST_DEVEUI',
      );
    }
    if (typeof d.devEui === 'string') {
      const eui = d.devEui.toLowerCase();
      const first = euis.get(eui);
      if (first !== undefined)
        p.add(
          `${at}/devEui`,
          `devEui ${d.devEui} is used twice`,
          `a DevEUI not already used by /devices/${first}`,
          'HATAKE_E_MANIFEST_DUPLICATE_ID',
        );
      else euis.set(eui, i);
    }
  });

  const problems = p.list.sort(
    (a, b) => (a.place?.line ?? 0) - (b.place?.line ?? 0) || (a.place?.column ?? 0) - (b.place?.column ?? 0),
  );
  return {
    manifest: problems.length ? undefined : ({ ...raw, fields: inlined } as Manifest),
    problems,
  };
}

/** Reads, checks and returns a manifest with boundaries inlined; throws the first problem. */
export function loadManifest(file: string, opts: ManifestCheckOptions): Manifest {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new HatakeError('HATAKE_E_CONFIG', `cannot read manifest: ${(e as Error).message}`, {
      place: { file },
    });
  }
  const { manifest, problems } = checkManifest(file, text, opts);
  if (!manifest)
    throw problems[0] ?? new HatakeError('HATAKE_E_CONFIG', 'invalid manifest', { place: { file } });
  return manifest;
}
