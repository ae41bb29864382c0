// `hatake imagery …` — satellite imagery to per-field, per-zone vegetation indices and maps.
// Thin: parses arguments, calls edge/imagery, prints a summary (and a progress bar on a terminal).
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { HatakeError } from '../protocol/errors.ts';
import {
  PROFILES,
  derivedIndex,
  parseBandMap,
  parseProfileText,
  profileById,
} from '../edge/imagery/profiles.ts';
import type { SensorProfile } from '../protocol/imagery.ts';
import { MAX_YAML_BYTES } from '../protocol/yaml.ts';
import { INDICES } from '../edge/imagery/indices.ts';
import { parseFields } from '../edge/imagery/fields.ts';
import { Scene } from '../edge/imagery/scene.ts';
import { processScene } from '../edge/imagery/process.ts';
import { parseZoneCount } from '../edge/imagery/zones.ts';
import { options } from './main.ts';

const USAGE = `hatake imagery — 衛星画像から圃場ごとの植生指数・管理ゾーン・地図 / satellite imagery to per-field indices, zones and maps

Usage:
  hatake imagery process SCENE... --fields FIELDS.geojson --out DIR
        [--profile s2-l2a | --profile-file PROFILE.yaml] [--bands red=1,green=2,blue=3,nir=4]
        [--profile index --index ndvi] [--offset N] [--scale X]
        [--mask CLOUDMASK.tif] [--no-scl] [--indices ndvi,ndre] [--zones auto|3|4|5]
        [--zone-index ndvi] [--min-region PIXELS] [--id-property id] [--scene-id ID]
        [--date ISO8601] [--no-maps] [--progress] [--skip-uncovered]
      SCENE is one multi-band GeoTIFF/COG (band roles from --bands or the profile) or one file
      per band (B02, B03, B04, B05, B08, B8A, SCL … recognised by name). Writes DIR/stats.json,
      DIR/zones.geojson and DIR/maps/.
      --offset is added to DNs before scaling (Sentinel-2 L2A baseline ≥ 04.00: -1000); without
      it the scene's metadata (STAC item, product name) decides, or the command refuses.
      --profile-file loads a sensor profile you write (YAML or JSON: id, name, bands by role,
      scale, offset, offsetRule, nodata, sclKeep); see docs/imagery.md.
      --profile index reads a raster of an index derived elsewhere: one single-band GeoTIFF
      holding the index --index names (${INDICES.map((d) => d.id).join(', ')}), read as given
      (--scale 0.0001 for one stored × 10000); values outside the index's range are no data.
      A field that covers no pixel of the scene is refused; --skip-uncovered leaves such fields
      out and names them (a scene that shows part of the farm). A field partly outside the scene
      is processed: its pixels outside count as pixels without data (validFraction).
  hatake imagery profiles [--profile-file PROFILE.yaml]
                              list the sensor profiles (and check yours)
  hatake imagery indices      list the vegetation indices
`;

export { parseBandMap };

const MAX_FIELDS_BYTES = 64 * 1024 * 1024;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) {
    throw new HatakeError('HATAKE_E_CONFIG', `--${name} "${v.slice(0, 40)}" is not a number`, {
      expected: 'a number',
    });
  }
  return n;
}

/** Reads and checks a user's sensor profile file; errors name the file, line and column. */
function loadProfileFile(path: string): SensorProfile {
  const file = resolve(path);
  let text: string;
  try {
    if (statSync(file).size > MAX_YAML_BYTES) {
      throw new HatakeError('HATAKE_E_CONFIG', `the profile file is larger than ${MAX_YAML_BYTES} bytes`, {
        place: { file },
        expected: 'a small YAML or JSON file',
      });
    }
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof HatakeError) throw e;
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `cannot read the profile file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { place: { file } },
    );
  }
  return parseProfileText(text, file);
}

/** The sensor profile of --profile or --profile-file (not both); s2-l2a when neither. */
function chooseProfile(id: string | undefined, file: string | undefined): SensorProfile {
  if (id !== undefined && file !== undefined) {
    throw new HatakeError('HATAKE_E_CONFIG', '--profile and --profile-file both given', {
      expected: 'one of them',
    });
  }
  return file !== undefined ? loadProfileFile(file) : profileById(id ?? 's2-l2a');
}

/** A one-line progress bar on stderr. */
function progressBar(): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    process.stderr.write(`\r  処理中 processing [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}%`);
    if (done >= total) process.stderr.write('\n');
  };
}

async function processCommand(args: string[]): Promise<number> {
  const { values, positionals } = options(args, {
    fields: { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'string' },
    'profile-file': { type: 'string' },
    bands: { type: 'string' },
    index: { type: 'string' },
    offset: { type: 'string' },
    scale: { type: 'string' },
    mask: { type: 'string' },
    'no-scl': { type: 'boolean', default: false },
    indices: { type: 'string' },
    zones: { type: 'string', default: 'auto' },
    'zone-index': { type: 'string' },
    'min-region': { type: 'string' },
    'id-property': { type: 'string', default: 'id' },
    'scene-id': { type: 'string' },
    date: { type: 'string' },
    'no-maps': { type: 'boolean', default: false },
    progress: { type: 'boolean', default: false },
    'skip-uncovered': { type: 'boolean', default: false },
  });
  if (positionals.length === 0)
    throw new HatakeError('HATAKE_E_CONFIG', 'no SCENE file given', { expected: USAGE.split('\n')[3] });
  if (!values.fields) throw new HatakeError('HATAKE_E_CONFIG', '--fields FIELDS.geojson is required');
  if (!values.out) throw new HatakeError('HATAKE_E_CONFIG', '--out DIR is required');
  const zonesK = parseZoneCount(values.zones, '--zones');
  const profile = chooseProfile(values.profile, values['profile-file']);
  // --index goes with --profile index, and only with it: said before the scene is read.
  try {
    derivedIndex(profile, values.index);
  } catch (e) {
    if (!(e instanceof HatakeError)) throw e;
    throw new HatakeError(e.code, `--index: ${e.message}`, { expected: e.expected });
  }
  if (values.date !== undefined && Number.isNaN(Date.parse(values.date))) {
    throw new HatakeError('HATAKE_E_CONFIG', `--date "${values.date.slice(0, 40)}" is not a date`, {
      expected: 'ISO 8601',
    });
  }
  const fieldsFile = resolve(values.fields);
  let text: string;
  try {
    if (statSync(fieldsFile).size > MAX_FIELDS_BYTES) {
      throw new HatakeError('HATAKE_E_FIELDS', `the file is larger than ${MAX_FIELDS_BYTES} bytes`, {
        place: { file: fieldsFile },
      });
    }
    text = readFileSync(fieldsFile, 'utf8');
  } catch (e) {
    if (e instanceof HatakeError) throw e;
    throw new HatakeError('HATAKE_E_FIELDS', `cannot read the fields file: ${(e as Error).message}`, {
      place: { file: fieldsFile },
    });
  }
  const fields = parseFields(text, fieldsFile, values['id-property']);
  const scene = await Scene.open({
    files: positionals.map((p) => resolve(p)),
    profile,
    bands: values.bands ? parseBandMap(values.bands) : undefined,
    index: values.index,
    offset: num('offset', values.offset),
    scale: num('scale', values.scale),
    maskFile: values.mask ? resolve(values.mask) : undefined,
    useScl: !values['no-scl'],
    sceneId: values['scene-id'],
    acquired: values.date ? new Date(values.date).toISOString() : undefined,
  });
  try {
    const show = values.progress || process.stderr.isTTY === true;
    const res = await processScene(scene, fields, {
      outDir: resolve(values.out),
      indices: values.indices
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      zoning: {
        k: zonesK,
        index: values['zone-index'],
        ...(values['min-region'] !== undefined
          ? { minRegionPixels: num('min-region', values['min-region']) }
          : {}),
      },
      maps: !values['no-maps'],
      fieldsFile,
      skipUncovered: values['skip-uncovered'],
      onProgress: show ? progressBar() : undefined,
    });
    const r = res.stats.scene.radiometry;
    const partly = Object.entries(res.coverage).filter(([, c]) => c < 1);
    const ids = (list: string[]) =>
      list
        .slice(0, 10)
        .map((id) => JSON.stringify(id))
        .join(', ') + (list.length > 10 ? ` and ${list.length - 10} more` : '');
    process.stdout.write(
      [
        `シーン scene ${res.stats.scene.sceneId} (${res.stats.scene.acquired ?? 'date unknown'}) ${res.stats.scene.width}×${res.stats.scene.height} ${res.stats.scene.crs}`,
        `  offset ${r.offset} (${r.offsetReason}), scale ${r.scale}; mask ${res.stats.scene.mask.kind}`,
        `  圃場 fields ${Object.keys(res.stats.fields).length}, 指数 indices ${res.stats.indices.map((i) => i.id).join(', ')}, ゾーン zones ${res.zones.features.length}`,
        ...(res.uncovered.length > 0
          ? [`  範囲外 not covered by this scene (skipped): ${ids(res.uncovered)}`]
          : []),
        ...(partly.length > 0
          ? [
              `  一部のみ partly covered (share inside the scene): ${partly
                .slice(0, 10)
                .map(([id, c]) => `${JSON.stringify(id)} ${Math.floor(c * 100 + 1e-9)} %`)
                .join(', ')}${partly.length > 10 ? ` and ${partly.length - 10} more` : ''}`,
            ]
          : []),
        `  → ${resolve(values.out)}/stats.json, zones.geojson` +
          (values['no-maps'] ? ' (地図なし no maps)' : `, maps/ (${res.files.length - 2} files)`),
      ].join('\n') + '\n',
    );
    return 0;
  } finally {
    await scene.close();
  }
}

export async function imagery(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'process':
      return processCommand(rest);
    case 'profiles': {
      const { values } = options(rest, { 'profile-file': { type: 'string' } });
      const mine = values['profile-file'] ? [loadProfileFile(values['profile-file'])] : [];
      for (const p of [...mine, ...PROFILES]) {
        const bands = Object.entries(p.bands)
          .map(([r, b]) => `${r}=${b.name}`)
          .join(' ');
        process.stdout.write(`${p.id.padEnd(16)} ${p.name}\n${' '.repeat(17)}${bands}\n`);
      }
      return 0;
    }
    case 'indices':
      for (const d of INDICES) process.stdout.write(`${d.id.padEnd(6)} ${d.name.padEnd(6)} ${d.formula}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`hatake imagery: unknown subcommand "${sub}"\n\n${USAGE}`);
      return 2;
  }
}
