// The kit catalogue: every *.yaml kit definition in the built-in folder plus any folders a
// partner adds. Later files override earlier ones with the same id, so a partner can patch a kit.
// A kit file is checked beyond its schema — units of well-known metrics, field paths, calibration
// inputs, command parameters — and every problem is placed at its line and column. A vendor codec
// file (`codecFile`) is looked up beside the kit file, then in the codec folders.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kit } from '../protocol/kit.ts';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import { METRICS, isMetricName } from '../protocol/metrics.ts';
import { validator } from '../protocol/validate.ts';
import { placedError, readYaml, schemaProblems, toData, type YamlSource } from '../protocol/yaml.ts';
import { parsePath } from './uplink-fields.ts';
import { canonicalUnit, unitsCompatible } from './units.ts';

export const BUILTIN_KITS_DIR = fileURLToPath(new URL('./kits/', import.meta.url));
const MAX_KIT_FILE_BYTES = 256 * 1024;
const MAX_CODEC_FILE_BYTES = 512 * 1024;
const CODEC_FILE = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9_][A-Za-z0-9_./-]*\.js$/;
const kitValidator = validator(Kit);

/** A vendor codec's source, found when the catalogue was loaded. */
export interface CodecSource {
  file: string;
  source: string;
}

const codecSources = new WeakMap<Kit, CodecSource>();

/** The vendor codec source of a `ttn-js` kit, if its file was found. */
export function codecSourceOf(kit: Kit): CodecSource | undefined {
  return codecSources.get(kit);
}

export class Catalogue {
  readonly kits = new Map<string, Kit>();
  /** Problems that do not stop the catalogue loading (a vendor codec file not found). */
  readonly problems: HatakeError[] = [];

  get(id: string): Kit | undefined {
    return this.kits.get(id);
  }

  require(id: string): Kit {
    const kit = this.kits.get(id);
    if (!kit) {
      throw new HatakeError('HATAKE_E_UNKNOWN_KIT', `kit "${id}" is not in the catalogue`, {
        expected: [...this.kits.keys()].join(', '),
      });
    }
    return kit;
  }
}

/** Checks what the schema cannot: units, ranges, paths and cross-references. */
function kitProblems(source: YamlSource, kit: Kit): HatakeError[] {
  const out: HatakeError[] = [];
  const at = (pointer: string, message: string, expected?: string) =>
    out.push(placedError(source, pointer, message, expected));
  for (const [name, m] of Object.entries(kit.metrics)) {
    if (!(m.min < m.max))
      at(`/metrics/${name}/min`, `metric "${name}" has min ${m.min} not below max ${m.max}`);
    if (isMetricName(name)) {
      const def = METRICS[name];
      if (m.unit !== def.unit)
        at(`/metrics/${name}/unit`, `metric "${name}" is stored in ${def.unit}, not ${m.unit}`, def.unit);
      if (m.min < def.min || m.max > def.max)
        at(
          `/metrics/${name}`,
          `metric "${name}" range ${m.min}…${m.max} exceeds what is physically possible`,
          `within ${def.min}…${def.max} ${def.unit}`,
        );
    } else if (canonicalUnit(m.unit) === undefined) {
      at(
        `/metrics/${name}/unit`,
        `unit "${m.unit}" is not known`,
        'an SI or SI-prefixed unit hatake knows (degC, %, m3/m3, dS/m, kPa, m/s, …)',
      );
    } else if (!m.name) {
      at(
        `/metrics/${name}`,
        `metric "${name}" is not a well-known metric and has no name`,
        'name: { ja: …, en: … }',
      );
    }
  }
  const binary = kit.codec !== 'json';
  if (kit.codec === 'ttn-js' && !kit.codecFile)
    at('/codec', 'codec ttn-js needs a codecFile', 'codecFile: vendor/device.js');
  if (kit.codecFile && kit.codec !== 'ttn-js')
    at('/codecFile', `codecFile is only used by codec ttn-js, not ${kit.codec}`);
  if (kit.codecFile && !CODEC_FILE.test(kit.codecFile))
    at(
      '/codecFile',
      `codecFile "${kit.codecFile}" is not a relative path to a .js file`,
      'e.g. dragino/lse01.js (no "..")',
    );
  if (binary && !kit.uplink?.length)
    at('/uplink', `codec ${kit.codec} needs an uplink list mapping its output to metrics`);
  if (!binary && kit.uplink?.length)
    at('/uplink', 'the json codec takes metric names as they are; uplink is for the other codecs');
  if (kit.infoFrames?.length && !binary)
    at('/infoFrames', 'infoFrames name frames of a vendor or network-server codec; the json codec has none');
  (kit.infoFrames ?? []).forEach((path, i) => {
    try {
      parsePath(path);
    } catch (e) {
      at(`/infoFrames/${i}`, (e as HatakeError).message, (e as HatakeError).expected);
    }
  });
  (kit.uplink ?? []).forEach((f, i) => {
    try {
      parsePath(f.path);
    } catch (e) {
      at(`/uplink/${i}/path`, (e as HatakeError).message, (e as HatakeError).expected);
    }
    const m = kit.metrics[f.metric];
    if (!m)
      at(
        `/uplink/${i}/metric`,
        `metric "${f.metric}" is not among the kit's metrics`,
        Object.keys(kit.metrics).join(', '),
      );
    else if (f.unit !== undefined && !unitsCompatible(f.unit, m.unit))
      at(
        `/uplink/${i}/unit`,
        `unit "${f.unit}" cannot be converted to ${m.unit}`,
        `a unit convertible to ${m.unit}`,
      );
  });
  (kit.calibration ?? []).forEach((c, i) => {
    if (!kit.metrics[c.metric])
      at(`/calibration/${i}/metric`, `calibrated metric "${c.metric}" is not among the kit's metrics`);
    if (!kit.metrics[c.from])
      at(`/calibration/${i}/from`, `raw metric "${c.from}" is not among the kit's metrics`);
    if (c.method === 'polynomial' && !c.coefficients)
      at(`/calibration/${i}`, 'a polynomial calibration needs coefficients', 'coefficients: [c0, c1, …]');
    if (c.method === 'topp' && kit.metrics[c.metric] && kit.metrics[c.metric]!.unit !== 'm3/m3')
      at(`/calibration/${i}/metric`, 'the Topp equation gives volumetric water content', 'a metric in m3/m3');
  });
  for (const [name, cmd] of Object.entries(kit.commands ?? {})) {
    for (const [p, spec] of Object.entries(cmd.params ?? {})) {
      if (!(spec.min <= spec.max))
        at(`/commands/${name}/params/${p}`, `parameter "${p}" has min ${spec.min} above max ${spec.max}`);
    }
    const used = JSON.stringify(cmd.payload ?? null).match(/"\$\{([a-z][a-z0-9_]*)\}"/g) ?? [];
    for (const u of used) {
      const p = u.slice(3, -2);
      if (!cmd.params || !Object.hasOwn(cmd.params, p))
        at(`/commands/${name}/payload`, `payload uses \${${p}} but the command has no such parameter`);
    }
    if (cmd.expect && !kit.metrics[cmd.expect.metric])
      at(`/commands/${name}/expect/metric`, `metric "${cmd.expect.metric}" is not among the kit's metrics`);
  }
  return out;
}

/** Every problem of one kit file (syntax, schema, consistency), each placed; and the kit if there were none. */
export function checkKitFile(file: string, text: string): { kit: Kit | undefined; problems: HatakeError[] } {
  if (text.length > MAX_KIT_FILE_BYTES) {
    return {
      kit: undefined,
      problems: [
        new HatakeError('HATAKE_E_CONFIG', `kit file is larger than ${MAX_KIT_FILE_BYTES} bytes`, {
          place: { file },
        }),
      ],
    };
  }
  const { source, errors } = readYaml(text, file);
  if (errors.length) return { kit: undefined, problems: errors };
  let kit: Kit;
  try {
    const data = toData(source);
    const schema = schemaProblems(source, kitValidator, 100, data);
    if (schema.length) return { kit: undefined, problems: schema };
    kit = data as Kit;
  } catch (e) {
    if (isHatakeError(e)) return { kit: undefined, problems: [e] };
    throw e;
  }
  const problems = kitProblems(source, kit);
  return { kit: problems.length ? undefined : kit, problems };
}

/** Parses one kit file; throws the first problem, naming the file, line and column. */
export function parseKitFile(file: string, text: string): Kit {
  const { kit, problems } = checkKitFile(file, text);
  if (problems[0] || !kit)
    throw problems[0] ?? new HatakeError('HATAKE_E_CONFIG', 'invalid kit', { place: { file } });
  return kit;
}

/** Finds and reads a kit's vendor codec: beside the kit file first, then in each codec folder. */
function findCodec(
  kitFile: string,
  codecFile: string,
  codecDirs: readonly string[],
): CodecSource | HatakeError {
  const candidates = [dirname(kitFile), ...codecDirs].map((d) => join(d, codecFile));
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const size = statSync(file).size;
    if (size > MAX_CODEC_FILE_BYTES) {
      return new HatakeError('HATAKE_E_CONFIG', `codec file is larger than ${MAX_CODEC_FILE_BYTES} bytes`, {
        place: { file },
      });
    }
    return { file, source: readFileSync(file, 'utf8') };
  }
  return new HatakeError('HATAKE_E_CONFIG', `codec file "${codecFile}" was not found`, {
    place: { file: kitFile, pointer: '/codecFile' },
    expected: `it beside the kit file or in a codec folder (${codecDirs.join(', ') || 'none given: `codecs` in the gateway config, `--codecs DIR` or HATAKE_CODEC_PATH'})`,
  });
}

export interface CatalogueOptions {
  /** Folders holding vendor codec files (TTN Device Repository layout: vendor/file.js). */
  codecDirs?: readonly string[];
}

/** Codec folders from HATAKE_CODEC_PATH (separated like PATH). */
export function codecDirsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.HATAKE_CODEC_PATH ?? '').split(':').filter((d) => d.length > 0);
}

/** Loads the built-in kits and then each extra folder, in order. */
export function loadCatalogue(extraDirs: readonly string[] = [], opts: CatalogueOptions = {}): Catalogue {
  const catalogue = new Catalogue();
  const codecDirs = opts.codecDirs ?? codecDirsFromEnv();
  for (const dir of [BUILTIN_KITS_DIR, ...extraDirs]) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'));
    } catch (e) {
      throw new HatakeError('HATAKE_E_CONFIG', `cannot read kit folder: ${(e as Error).message}`, {
        place: { file: dir },
      });
    }
    for (const name of names.sort()) {
      const file = join(dir, name);
      const kit = parseKitFile(file, readFileSync(file, 'utf8'));
      if (kit.codec === 'ttn-js' && kit.codecFile) {
        const found = findCodec(file, kit.codecFile, codecDirs);
        if (found instanceof HatakeError) catalogue.problems.push(found);
        else codecSources.set(kit, found);
      }
      catalogue.kits.set(kit.id, kit);
    }
  }
  return catalogue;
}
