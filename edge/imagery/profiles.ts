// Sensor profiles as data: which band plays which role (never band positions in code), the
// radiometry (reflectance = (DN + offset) · scale), no-data, and the scene-classification
// classes to keep. A new sensor is a new entry here (or a user profile validated by the schema).
// One profile is not a sensor: `index`, a raster of an index already derived elsewhere (NDVI from
// a provider's own pipeline), whose single band is the index, read as given and range-checked.
import { BAND_ROLES, SensorProfile, type BandRole } from '../../protocol/imagery.ts';
import { validator } from '../../protocol/validate.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { placedError, placeOf, readYaml, toData, type YamlSource } from '../../protocol/yaml.ts';
import { INDICES, indexById, type IndexDef } from './indices.ts';

// Sentinel-2 band file names: "B04.tif", "…_B04.tif", "T54SUE_20260701T012345_B04_10m.jp2.tif".
const s2 = (b: string) => `(^|[_./-])${b}([_.]|$)`;

/** Scene classification classes kept by default: vegetation (4) and not vegetated (5). */
export const SCL_KEEP_DEFAULT = [4, 5];
/** For paddies under water at the time of the scene, water (6) is kept too. */
export const SCL_KEEP_PADDY = [4, 5, 6];

/** The Sentinel-2 MSI bands hatake reads, shared by the L2A and L1C profiles. */
const S2_BANDS = {
  blue: { name: 'B02', resolutionM: 10, filePattern: s2('B02') },
  green: { name: 'B03', resolutionM: 10, filePattern: s2('B03') },
  red: { name: 'B04', resolutionM: 10, filePattern: s2('B04') },
  rededge: { name: 'B05', resolutionM: 20, filePattern: s2('B05') },
  nir: { name: 'B08', resolutionM: 10, filePattern: s2('B08') },
  nir08: { name: 'B8A', resolutionM: 20, filePattern: s2('B8A') },
};

export const PROFILES: readonly SensorProfile[] = [
  {
    id: 's2-l2a',
    name: 'Sentinel-2 MSI Level-2A (surface reflectance)',
    bands: { ...S2_BANDS, scl: { name: 'SCL', resolutionM: 20, filePattern: s2('SCL') } },
    scale: 1 / 10000,
    offsetRule: 's2-l2a-baseline',
    nodata: 0,
    sclKeep: SCL_KEEP_DEFAULT,
    level: 'L2A',
  },
  {
    id: 's2-l2a-paddy',
    name: 'Sentinel-2 MSI Level-2A, keeping water (flooded paddies)',
    bands: { ...S2_BANDS, scl: { name: 'SCL', resolutionM: 20, filePattern: s2('SCL') } },
    scale: 1 / 10000,
    offsetRule: 's2-l2a-baseline',
    nodata: 0,
    sclKeep: SCL_KEEP_PADDY,
    level: 'L2A',
  },
  {
    id: 's2-l1c',
    name: 'Sentinel-2 MSI Level-1C (top-of-atmosphere reflectance)',
    bands: S2_BANDS,
    scale: 1 / 10000,
    // L1C has RADIO_ADD_OFFSET −1000 from baseline 04.00 on, like L2A's BOA_ADD_OFFSET.
    offsetRule: 's2-l2a-baseline',
    nodata: 0,
    level: 'L1C',
  },
  {
    id: 'planetscope-4b',
    name: 'PlanetScope 4-band analytic surface reflectance (blue, green, red, NIR)',
    bands: {
      blue: { name: 'blue', resolutionM: 3, index: 1 },
      green: { name: 'green', resolutionM: 3, index: 2 },
      red: { name: 'red', resolutionM: 3, index: 3 },
      nir: { name: 'nir', resolutionM: 3, index: 4 },
    },
    scale: 1 / 10000,
    offset: 0,
    offsetRule: 'fixed',
    nodata: 0,
  },
  {
    id: 'generic',
    name: 'Generic reflectance bands (the user maps roles with --bands and sets --offset/--scale)',
    bands: {
      blue: { name: 'blue' },
      green: { name: 'green' },
      red: { name: 'red' },
      rededge: { name: 'rededge' },
      nir: { name: 'nir' },
    },
    scale: 1 / 10000,
    offset: 0,
    offsetRule: 'fixed',
    nodata: 0,
  },
  {
    id: 'index',
    name: 'An already derived index raster: one band holding the index the scene names (NDVI, NDRE, …), no formula applied',
    // No band roles: the file's one band is the index. value = (DN + offset) · scale, so an index
    // stored as integers (NDVI × 10000) is read with scale 0.0001; no no-data value unless the
    // file has one (NaN is always no data).
    bands: {},
    scale: 1,
    offset: 0,
    offsetRule: 'fixed',
    nodata: null,
  },
];

/** The id of the profile of an already derived index raster. */
export const INDEX_PROFILE = 'index';

const check = validator(SensorProfile);
for (const p of PROFILES) check.parse(p, `sensor profile ${p.id}`, 'HATAKE_E_CONFIG');

/** The profile with this id; throws HATAKE_E_CONFIG listing the known ones. */
export function profileById(id: string, extra: readonly SensorProfile[] = []): SensorProfile {
  const p = [...extra, ...PROFILES].find((x) => x.id === id);
  if (!p) {
    throw new HatakeError('HATAKE_E_CONFIG', `unknown sensor profile "${id.slice(0, 64)}"`, {
      expected: [...extra, ...PROFILES].map((x) => x.id).join(' | '),
    });
  }
  return p;
}

/**
 * The index an already derived index raster holds: for profile `index` the index named for the
 * scene (required, one of the index table's ids); for any other profile none may be named.
 * Throws HATAKE_E_CONFIG saying which.
 */
export function derivedIndex(profile: SensorProfile, index: string | undefined): IndexDef | undefined {
  const ids = INDICES.map((d) => d.id).join(' | ');
  if (profile.id !== INDEX_PROFILE) {
    if (index === undefined) return undefined;
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `an index ("${index.slice(0, 32)}") is named, but profile ${profile.id} reads reflectance bands`,
      { expected: `profile ${INDEX_PROFILE} for a raster of an already derived index, or no index` },
    );
  }
  if (index === undefined) {
    throw new HatakeError('HATAKE_E_CONFIG', `profile ${INDEX_PROFILE} needs the index the raster holds`, {
      expected: `an index: ${ids}`,
    });
  }
  const def = indexById(index);
  if (!def) {
    throw new HatakeError('HATAKE_E_CONFIG', `unknown index "${index.slice(0, 32)}"`, { expected: ids });
  }
  return def;
}

/**
 * Validates a user-written profile — "a generic profile the user fills in": band roles, scale and
 * offset, no-data and the scene-classification classes to keep. Beyond the schema it refuses what
 * would otherwise go wrong silently later: an id that shadows a built-in profile (stats.json names
 * the profile), no bands, a file pattern that is not a regular expression, two roles on one band,
 * an SCL band without classes to keep (the mask would be skipped), a fixed offset left unsaid (it
 * is never assumed). Errors name the file, and — given the parsed YAML — the line and column.
 */
export function parseProfile(value: unknown, file: string, source?: YamlSource): SensorProfile {
  const at = (pointer: string, message: string, expected?: string) =>
    source
      ? placedError(source, pointer, `sensor profile: ${message}`, expected)
      : new HatakeError('HATAKE_E_CONFIG', `sensor profile: ${message}`, {
          place: { file, pointer },
          expected,
        });
  let p: SensorProfile;
  try {
    p = check.parse(value, 'sensor profile', 'HATAKE_E_CONFIG');
  } catch (e) {
    if (e instanceof HatakeError) {
      const pointer = e.place?.pointer ?? '/';
      const pos = source ? placeOf(source, pointer) : undefined;
      // The message says what the schema expected; repeating it as `expected` adds nothing.
      throw new HatakeError('HATAKE_E_CONFIG', e.message, { place: { file, ...pos, pointer } });
    }
    throw e;
  }
  if (PROFILES.some((b) => b.id === p.id)) {
    throw at('/id', `id "${p.id}" is a built-in profile`, 'an id of your own, e.g. my-drone-4b');
  }
  const roles = Object.keys(p.bands) as BandRole[];
  if (roles.length === 0) {
    throw at(
      '/bands',
      'no bands',
      `band roles, e.g. red: { name: red, index: 3 } (${BAND_ROLES.join(', ')})`,
    );
  }
  const byIndex = new Map<number, BandRole>();
  for (const role of roles) {
    const b = p.bands[role]!;
    if (b.filePattern !== undefined) {
      try {
        new RegExp(b.filePattern, 'i');
      } catch (e) {
        throw at(
          `/bands/${role}/filePattern`,
          `bands.${role}.filePattern is not a regular expression: ${(e as Error).message.slice(0, 120)}`,
          'a regular expression matching the band file name, e.g. "_B04"',
        );
      }
    }
    if (b.index !== undefined) {
      const other = byIndex.get(b.index);
      if (other) {
        throw at(
          `/bands/${role}/index`,
          `${other} and ${role} are both band ${b.index}`,
          'one role per band',
        );
      }
      byIndex.set(b.index, role);
    }
  }
  if (p.bands.scl && p.sclKeep === undefined) {
    throw at('/bands/scl', 'an scl band without sclKeep', 'sclKeep: the classes to keep, e.g. [4, 5]');
  }
  if (p.offsetRule === 'fixed' && p.offset === undefined) {
    throw at(
      '/offsetRule',
      'offsetRule fixed without an offset',
      'offset: the number added to DNs before scaling (0 when there is none)',
    );
  }
  return p;
}

/** Parses a user profile file (YAML, or JSON, which is YAML too); errors are placed. */
export function parseProfileText(text: string, file: string): SensorProfile {
  const { source, errors } = readYaml(text, file);
  if (errors[0]) throw errors[0];
  return parseProfile(toData(source), file, source);
}

/** Parses "red=1,nir=4" into band roles → 1-based band numbers. */
export function parseBandMap(text: string): Partial<Record<BandRole, number>> {
  const out: Partial<Record<BandRole, number>> = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z0-9]+)=(\d{1,4})$/.exec(part);
    if (!m || !(BAND_ROLES as readonly string[]).includes(m[1]!) || Number(m[2]) < 1) {
      throw new HatakeError('HATAKE_E_CONFIG', `--bands: "${part.slice(0, 40)}" is not role=number`, {
        expected: `role=N with role one of ${BAND_ROLES.join(', ')} and N ≥ 1`,
      });
    }
    const role = m[1] as BandRole;
    if (out[role] !== undefined) {
      throw new HatakeError('HATAKE_E_CONFIG', `--bands: ${role} given twice`, {
        expected: 'each role once',
      });
    }
    out[role] = Number(m[2]);
  }
  return out;
}
