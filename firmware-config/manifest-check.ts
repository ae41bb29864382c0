// Checking a farm manifest before anyone drives out to the field: its schema, and everything the
// schema cannot say — kits that are not in the catalogue, ids used twice, devices outside their
// field, planting dates in the future, broken boundaries (unclosed rings, rings crossing
// themselves, files that are missing or hold no polygon), and, when the caller says which models
// and crop profiles are installed, a field's choice of model and profile. Every problem is
// reported, each at its file, line and column with what was expected, and with a code of its own
// kind (MANIFEST_PROBLEM_CODES) so the partner page can say it in Japanese. Which model and
// profile serve a field (chooseModel) is decided here too, so the check and the gateway's
// recommender cannot disagree.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { kinks } from '@turf/kinks';
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { HatakeError, isHatakeError, type ManifestProblemCode } from '../protocol/errors.ts';
import { FieldModel, ManifestFile, PolygonGeometry, type Manifest } from '../protocol/manifest.ts';
import { isId } from '../protocol/ids.ts';
import type { ModelCard } from '../protocol/model-card.ts';
import type { CropProfile } from '../protocol/crop-profile.ts';
import { validator } from '../protocol/validate.ts';
import { MAX_YAML_BYTES, placeOf, readYaml, toData, type YamlSource } from '../protocol/yaml.ts';
import type { Catalogue } from './catalogue.ts';
import { calibratedMetrics } from './calibration.ts';

const polygonValidator = validator(PolygonGeometry);
const MAX_BOUNDARY_FILE_BYTES = 4 * 1024 * 1024;

export interface ManifestCheckOptions {
  catalogue: Catalogue;
  /**
   * The models and crop profiles installed where the manifest will be used: each field's `model`
   * and `profile` are checked against them. Absent, they are not checked (the gateway's
   * recommender checks them when it recommends, and refuses the field with the same reason).
   */
  models?: InstalledModels;
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

// ---- Which model and crop profile serve a field ----

/**
 * The model and crop profile a crop gets when its field names none. A model is named by id
 * alone: the highest version installed serves — the shipped one, or a newer one the server sent
 * down (verified before it was installed). A field of another crop gets no recommendation unless
 * it names a model for its crop.
 */
export const DEFAULT_CROP_MODELS: Readonly<Record<string, { model: string; profile: string }>> = {
  'winter-wheat': { model: 'osu-sbnrc', profile: 'winter-wheat-osu-2007' },
  wheat: { model: 'osu-sbnrc', profile: 'winter-wheat-osu-2007' },
  rice: { model: 'rice-pi-topdress-ndvi', profile: 'rice-koshihikari' },
  corn: { model: 'holland-schepers-si', profile: 'corn-holland-schepers' },
};

/** A manifest crop the cards and profiles write otherwise. */
const CARD_CROP: Readonly<Record<string, string>> = { wheat: 'winter-wheat' };

/** The models (every installed version of each) and crop profiles installed. */
export interface InstalledModels {
  cards: readonly ModelCard[];
  profiles: readonly CropProfile[];
}

/** What a model registry holds (edge/inference/registry.ts's ModelRegistry), as chooseModel reads it. */
export function installedModels(reg: {
  list(): readonly { card: ModelCard }[];
  profileIds(): readonly string[];
  profile(id: string): CropProfile;
}): InstalledModels {
  return { cards: reg.list().map((e) => e.card), profiles: reg.profileIds().map((id) => reg.profile(id)) };
}

export type ModelChoiceCode = 'HATAKE_E_MANIFEST_MODEL' | 'HATAKE_E_MANIFEST_PROFILE';

/** What is wrong with a field's choice; `pointer` is inside the field (`/model/id`, `/profile`, …). */
export interface ModelChoiceProblem {
  pointer: string;
  code: ModelChoiceCode;
  message: string;
  expected: string;
}

/** What a field asks for: its crop and variety, and the model and profile it names, if any. */
export interface FieldModelChoice {
  id: string;
  crop?: string;
  variety?: string;
  model?: FieldModel;
  profile?: string;
}

export type ModelChoice =
  /** No crop, or a crop with no default model, and the field names neither a model nor a profile. */
  | { kind: 'none' }
  | {
      kind: 'chosen';
      card: ModelCard;
      profile: CropProfile;
      /**
       * Why this profile: the manifest names it; it is the profile of the field's variety; the
       * crop's default; the first profile of the crop the model's card lists (or, failing that,
       * that has the constants the model reads).
       */
      profileBy: 'manifest' | 'variety' | 'crop_default' | 'model';
    }
  | {
      kind: 'refused';
      /** The model asked: id@version or id as the field names it, else the crop's default id. */
      model: string;
      problems: ModelChoiceProblem[];
    };

/**
 * A variety as profile ids write it: `Shinnosuke` → `shinnosuke`, `Koshihikari BL` →
 * `koshihikari-bl` (empty for a name with no Latin letters or digits).
 */
export function varietySlug(variety: string): string {
  return variety
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Whether a profile is the variety's: its id `<crop>-<variety>[-…]`, or a word of its Japanese name. */
function isVarietyProfile(profile: CropProfile, crop: string, variety: string): boolean {
  const slug = varietySlug(variety);
  if (slug && (profile.id === `${crop}-${slug}` || profile.id.startsWith(`${crop}-${slug}-`))) return true;
  const v = variety.normalize('NFKC').trim();
  return (
    v.length > 0 &&
    profile.name.ja
      .normalize('NFKC')
      .split(/[\s()（）【】「」・,、]+/)
      .includes(v)
  );
}

/** The profile constants (dotted paths) a card reads that a profile does not have. */
function missingConstants(card: ModelCard, profile: CropProfile): string[] {
  const out: string[] = [];
  for (const i of card.inputs) {
    if (i.source.kind !== 'profile_constant') continue;
    let v: unknown = profile;
    for (const k of i.source.path.split('.')) v = isObj(v) && Object.hasOwn(v, k) ? v[k] : undefined;
    if (v === undefined) out.push(i.source.path);
  }
  return out;
}

const byVersionDesc = (a: ModelCard, b: ModelCard): number => {
  const pa = a.version.split('.').map(Number);
  const pb = b.version.split('.').map(Number);
  for (let k = 0; k < 3; k++) if (pa[k] !== pb[k]) return pb[k]! - pa[k]!;
  return 0;
};
const refOf = (c: ModelCard) => `${c.id}@${c.version}`;
const listOr = (ids: readonly string[], none: string) => (ids.length ? ids.join(', ') : none);

/**
 * The model and crop profile that serve a field. The model: the one the field names (its highest
 * installed version unless it names one), else its crop's default (DEFAULT_CROP_MODELS); its card
 * must cover the crop. The profile: the one the field names — installed, of the field's crop, with
 * every constant the model reads — else, among the installed profiles of the crop that have those
 * constants: the variety's (`rice-shinnosuke-niigata` for variety Shinnosuke or 新之助; those the
 * card lists first), else the crop's default when the card lists it, else the first the card
 * lists. With no model and no profile named, a field without a crop, or of a crop with no
 * default model, gets none.
 */
export function chooseModel(field: FieldModelChoice, installed: InstalledModels): ModelChoice {
  const problems: ModelChoiceProblem[] = [];
  const named = field.model;
  const asked = named ? (named.version !== undefined ? `${named.id}@${named.version}` : named.id) : undefined;
  const refused = (model: string): ModelChoice => ({ kind: 'refused', model, problems });
  const crop = field.crop;
  if (crop === undefined) {
    if (named)
      problems.push({
        pointer: '/model/id',
        code: 'HATAKE_E_MANIFEST_MODEL',
        message: `field ${field.id} names model ${asked} but no crop`,
        expected: 'crop: the crop the field grows, one the model is for',
      });
    if (field.profile !== undefined)
      problems.push({
        pointer: '/profile',
        code: 'HATAKE_E_MANIFEST_PROFILE',
        message: `field ${field.id} names crop profile ${field.profile} but no crop`,
        expected: "crop: the crop the field grows, the profile's crop",
      });
    return problems.length ? refused(asked ?? '') : { kind: 'none' };
  }
  const cardCrop = Object.hasOwn(CARD_CROP, crop) ? CARD_CROP[crop]! : crop;
  const dflt = Object.hasOwn(DEFAULT_CROP_MODELS, crop) ? DEFAULT_CROP_MODELS[crop] : undefined;
  const cropProfiles = installed.profiles.filter((p) => p.crop === cardCrop);
  const cropModels = [
    ...new Set(installed.cards.filter((c) => c.crops.includes(cardCrop)).map((c) => c.id)),
  ].sort();
  const modelsExpected = `a model for ${cardCrop}: ${listOr(cropModels, 'none is installed')}`;

  // The profile the field names: installed, and of its crop (whatever the model). What to write
  // instead is the crop's profiles, or, once the model is known, those it reads.
  let profile: CropProfile | undefined;
  let profileProblem: ModelChoiceProblem | undefined;
  if (field.profile !== undefined) {
    const expected = `a crop profile for ${cardCrop}: ${listOr(cropProfiles.map((p) => p.id).sort(), 'none is installed')}`;
    profile = installed.profiles.find((p) => p.id === field.profile);
    if (!profile)
      profileProblem = {
        pointer: '/profile',
        code: 'HATAKE_E_MANIFEST_PROFILE',
        message: `crop profile "${field.profile}" is not installed`,
        expected,
      };
    else if (profile.crop !== cardCrop) {
      profileProblem = {
        pointer: '/profile',
        code: 'HATAKE_E_MANIFEST_PROFILE',
        message: `crop profile ${profile.id} is for ${profile.crop}, and field ${field.id} grows ${crop}`,
        expected,
      };
      profile = undefined;
    }
    if (profileProblem) problems.push(profileProblem);
  }

  // The model: named, else the crop's default.
  const modelId = named?.id ?? dflt?.model;
  if (modelId === undefined) {
    if (field.profile !== undefined)
      problems.push({
        pointer: '/profile',
        code: 'HATAKE_E_MANIFEST_MODEL',
        message: `crop ${crop} has no default model to read crop profile ${field.profile}`,
        expected: `model: { id } of ${modelsExpected}`,
      });
    return problems.length ? refused('') : { kind: 'none' };
  }
  const modelPointer = named ? '/model/id' : '/crop';
  const versions = installed.cards.filter((c) => c.id === modelId).sort(byVersionDesc);
  let card: ModelCard | undefined;
  if (versions.length === 0)
    problems.push({
      pointer: modelPointer,
      code: 'HATAKE_E_MANIFEST_MODEL',
      message: named
        ? `model "${modelId}" is not installed`
        : `model ${modelId}, the default for crop ${crop}, is not installed`,
      expected: modelsExpected,
    });
  else if (named?.version !== undefined) {
    card = versions.find((c) => c.version === named.version);
    if (!card)
      problems.push({
        pointer: '/model/version',
        code: 'HATAKE_E_MANIFEST_MODEL',
        message: `model ${modelId} ${named.version} is not installed`,
        expected: `an installed version: ${versions.map((c) => c.version).join(', ')}; or no version, for the highest`,
      });
  } else card = versions[0];
  if (card && !card.crops.includes(cardCrop)) {
    problems.push({
      pointer: modelPointer,
      code: 'HATAKE_E_MANIFEST_MODEL',
      message: `model ${refOf(card)} is for ${card.crops.join(', ')}, and field ${field.id} grows ${crop}`,
      expected: modelsExpected,
    });
    card = undefined;
  }
  if (!card) return refused(asked ?? modelId);

  // The profiles this model can read for the crop; those its card lists first, in its order.
  const readable = cropProfiles.filter((p) => missingConstants(card, p).length === 0);
  const listed = card.profiles.flatMap((id) => readable.filter((p) => p.id === id));
  const rest = readable.filter((p) => !listed.includes(p)).sort((a, b) => a.id.localeCompare(b.id));
  const ranked = [...listed, ...rest];
  const readableExpected = `a crop profile ${refOf(card)} reads: ${listOr(
    ranked.map((p) => p.id),
    `none for ${cardCrop} is installed`,
  )}`;
  if (profileProblem) profileProblem.expected = readableExpected;
  if (profile) {
    const missing = missingConstants(card, profile);
    if (missing.length)
      problems.push({
        pointer: '/profile',
        code: 'HATAKE_E_MANIFEST_PROFILE',
        message: `model ${refOf(card)} reads ${missing.join(', ')}, which crop profile ${profile.id} does not have`,
        expected: readableExpected,
      });
  }
  if (problems.length) return refused(asked ?? modelId);
  if (profile) return { kind: 'chosen', card, profile, profileBy: 'manifest' };

  const variety = field.variety;
  if (variety !== undefined) {
    const exact = `${cardCrop}-${varietySlug(variety)}`;
    const mine = ranked.filter((p) => isVarietyProfile(p, cardCrop, variety));
    const pick = mine.find((p) => p.id === exact) ?? mine[0];
    if (pick) return { kind: 'chosen', card, profile: pick, profileBy: 'variety' };
  }
  const cropDefault = dflt ? ranked.find((p) => p.id === dflt.profile) : undefined;
  if (cropDefault && (listed.includes(cropDefault) || listed.length === 0))
    return { kind: 'chosen', card, profile: cropDefault, profileBy: 'crop_default' };
  if (ranked[0]) return { kind: 'chosen', card, profile: ranked[0], profileBy: 'model' };
  problems.push({
    pointer: modelPointer,
    code: 'HATAKE_E_MANIFEST_PROFILE',
    message: `no installed crop profile for ${cardCrop} has what model ${refOf(card)} reads`,
    expected: `profile: a crop profile for ${cardCrop} with ${listOr(
      card.inputs.flatMap((i) => (i.source.kind === 'profile_constant' ? [i.source.path] : [])),
      'no constants',
    )}`,
  });
  return refused(asked ?? modelId);
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

const fieldModelValidator = validator(FieldModel);

/** A field's choice as written, when every part of it has its schema's shape (else the schema says). */
function fieldChoiceOf(f: Record<string, unknown>): FieldModelChoice | undefined {
  const str = (v: unknown) => v === undefined || typeof v === 'string';
  if (!str(f.crop) || !str(f.variety) || !(f.profile === undefined || isId(f.profile))) return undefined;
  if (f.model !== undefined && !fieldModelValidator.check(f.model)) return undefined;
  return {
    id: typeof f.id === 'string' ? f.id.slice(0, 64) : '?',
    ...(typeof f.crop === 'string' ? { crop: f.crop } : {}),
    ...(typeof f.variety === 'string' ? { variety: f.variety } : {}),
    ...(f.model !== undefined ? { model: f.model } : {}),
    ...(typeof f.profile === 'string' ? { profile: f.profile } : {}),
  };
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
    // The model and profile the field names (with no models given, the gateway checks them).
    if (opts.models && (f.model !== undefined || f.profile !== undefined)) {
      const asked = fieldChoiceOf(f);
      const choice = asked ? chooseModel(asked, opts.models) : undefined;
      if (choice?.kind === 'refused')
        for (const q of choice.problems) p.add(`${at}${q.pointer}`, q.message, q.expected, q.code);
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
