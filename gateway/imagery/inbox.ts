// The gateway's imagery folder: a GeoTIFF/COG dropped into `inbox/` (with a STAC item or a
// `.hatake.json` sidecar naming its sensor profile and bands) is processed for the farm's fields,
// then moved to `done/` (or `failed/` with the reason beside it). Polled, because inotify does not
// work on every card or network share a farm may use. Scenes the server sends down are written
// here too (gateway/downlink-apply.ts), file and sidecar, and processed the same way; their
// sidecar names the signed document, so a failure to process one can be reported to the server.
// A sidecar of profile `index` (with `index`: the index its one band holds) describes a raster of
// an index derived elsewhere. A scene is processed for the farm's fields it covers: one that shows
// part of the farm (a provider's clip, a farm across two tiles) names the fields it does not cover
// (in the result and the log), and fails only when it covers none.
//
// A scene of one file per band (a Sentinel-2 download: B04, B08, SCL …) is dropped as a folder,
// `inbox/{scene}/`, and taken once the folder holds `hatake.json` (its description) or `.ready`:
// the marker is written last, so a folder still being copied is never taken — files arrive in no
// set order and a pause between two of them looks like the end, so a folder's appearance or its
// files' sizes cannot say it is complete. Band roles come from `hatake.json`'s `bands` (role →
// file) or from the file names through the profile (B04, B08, …, with or without `_10m`), its
// `mask` names a user cloud-mask raster; the folder moves whole to done/ or failed/.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { HatakeError, isHatakeError, type ErrorCode } from '../../protocol/errors.ts';
import { isId } from '../../protocol/ids.ts';
import {
  BAND_ROLES,
  type BandRole,
  type SceneStats,
  type SensorProfile,
  type ZoneCollection,
} from '../../protocol/imagery.ts';
import type { FieldInput } from '../../edge/imagery/fields.ts';
import type { Scene, SceneInput } from '../../edge/imagery/scene.ts';
import type { Logger } from '../../runtime/log.ts';

/** What a sidecar `<scene>.hatake.json` may say about a scene. */
export interface SceneSidecar {
  profile?: string;
  bands?: string;
  /** For profile `index` (and only it): the index the raster's one band holds, e.g. "ndvi". */
  index?: string;
  offset?: number;
  /** Radiometric scale, when not the profile's. */
  scale?: number;
  sceneId?: string;
  acquired?: string;
  /**
   * The signed downlink document the scene came with (written by gateway/downlink-apply.ts):
   * a failure to process it is reported to the server. Absent for scenes dropped in locally.
   */
  downlink?: SceneOrigin;
}

/** The downlink document a scene came with: its id and version. */
export interface SceneOrigin {
  id: string;
  version: number;
}

/** A scene the inbox could not process (moved to failed/ with its reason beside it). */
export interface FailedScene {
  /** The file's name, now in failed/ (a scene dropped as a folder: the folder's name). */
  file: string;
  code: ErrorCode;
  /** What was wrong, without the gateway's own paths (the reason file has them). */
  reason: string;
  /** Set when the scene came by downlink. */
  downlink?: SceneOrigin;
}

export interface ProcessedScene {
  sceneId: string;
  acquired: string;
  stats: SceneStats;
  zones: ZoneCollection;
  outDir: string;
  /** The farm's fields the scene does not cover (no pixel centre in the raster): not processed. */
  uncovered?: string[];
  /** Per processed field, the share of its pixels inside the raster (1: wholly inside). */
  coverage?: Record<string, number>;
}

/**
 * A scene's coverage of the farm in words — `not covered by this scene: "a", "b"; partly covered:
 * "c" 24 %` — or '' when it covers every field whole. At most `max` characters (a status reason).
 */
export function coverageText(
  uncovered: readonly string[],
  coverage: Record<string, number>,
  max = 1000,
): string {
  const partly = Object.entries(coverage).filter(([, c]) => c < 1);
  const parts: string[] = [];
  if (uncovered.length > 0)
    parts.push(`not covered by this scene: ${uncovered.map((id) => JSON.stringify(id)).join(', ')}`);
  if (partly.length > 0) {
    const list = partly.map(([id, c]) => `${JSON.stringify(id)} ${Math.floor(c * 100 + 1e-9)} %`).join(', ');
    parts.push(`partly covered (share of the field inside the scene): ${list}`);
  }
  const text = parts.join('; ');
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Up to this many field ids are listed in a log line (the count is always given). */
const LOGGED_FIELDS = 20;

/**
 * What a log line says of a scene's coverage of the farm: the fields it does not cover and those
 * it covers only in part (with their coverage), each list cut short with its count. Empty when the
 * scene covers every field whole.
 */
export function coverageLog(uncovered: readonly string[], coverage: Record<string, number>): object {
  const partly = Object.entries(coverage).filter(([, c]) => c < 1);
  return {
    ...(uncovered.length > 0
      ? { notCovered: uncovered.slice(0, LOGGED_FIELDS), notCoveredCount: uncovered.length }
      : {}),
    ...(partly.length > 0
      ? {
          partlyCovered: Object.fromEntries(partly.slice(0, LOGGED_FIELDS)),
          partlyCoveredCount: partly.length,
        }
      : {}),
  };
}

export class ImageryInbox {
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  /** The imagery folder: inbox/, done/, failed/ and results/. */
  readonly dir: string;
  private readonly fields: () => readonly FieldInput[];
  private readonly onResult: (r: ProcessedScene) => void;
  private readonly log: Logger;
  private readonly onFailure: ((f: FailedScene) => void) | undefined;

  constructor(
    dir: string,
    fields: () => readonly FieldInput[],
    onResult: (r: ProcessedScene) => void,
    log: Logger,
    onFailure?: (f: FailedScene) => void,
  ) {
    this.dir = dir;
    this.fields = fields;
    this.onResult = onResult;
    this.log = log;
    this.onFailure = onFailure;
    for (const d of ['inbox', 'done', 'failed', 'results']) mkdirSync(join(dir, d), { recursive: true });
  }

  get inbox(): string {
    return join(this.dir, 'inbox');
  }

  start(everyMs = 10_000): void {
    void this.scan();
    this.timer = setInterval(() => void this.scan(), everyMs);
    this.timer.unref();
  }

  /**
   * Processes every scene waiting in the inbox, one at a time. Asked during a scan, it scans once
   * more after it, so a scene written meanwhile does not wait for the next round.
   */
  scan(): Promise<void> {
    if (this.busy) {
      this.again ??= this.busy.then(() => {
        this.again = undefined;
        return this.scan();
      });
      return this.again;
    }
    this.busy = this.scanOnce().finally(() => (this.busy = undefined));
    return this.busy;
  }

  private async scanOnce(): Promise<void> {
    try {
      await this.scanFiles();
    } catch (e) {
      // Never let one odd file take the gateway down (an unhandled rejection ends Node).
      this.log.error({ err: (e as Error).message }, 'imagery inbox scan failed');
    }
  }

  private async scanFiles(): Promise<void> {
    const entries = readdirSync(this.inbox, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      const path = join(this.inbox, entry.name);
      try {
        if (entry.isDirectory()) {
          // A folder named with a leading "." is being prepared: copied in under that name, it
          // is renamed when complete (and taken by its marker then, as any other).
          if (!entry.name.startsWith('.')) await this.maybeFolder(path);
          continue;
        }
        if (!/\.tiff?$/i.test(entry.name)) continue;
        // A file still being copied in grows; wait until its size holds still for a scan.
        const size = statSync(path).size;
        await sleep(STILL_MS);
        if (!existsSync(path) || statSync(path).size !== size) continue;
        await this.processOne(path);
      } catch (e) {
        // One entry that cannot be looked at (a folder without read permission, a dangling link)
        // does not hold up the scenes after it; it is tried again next round.
        this.log.error({ entry: path, err: (e as Error).message }, 'imagery inbox entry skipped');
      }
    }
  }

  /**
   * A scene folder is taken once it holds its marker (`hatake.json` or `.ready`) and its files
   * hold still for a moment (a marker copied in with the files, before the last of them).
   */
  private async maybeFolder(folder: string): Promise<void> {
    if (!existsSync(join(folder, FOLDER_SIDECAR)) && !existsSync(join(folder, READY_MARKER))) return;
    const before = folderState(folder);
    await sleep(STILL_MS);
    if (!existsSync(folder) || folderState(folder) !== before) return;
    await this.processFolder(folder);
  }

  private async processOne(file: string): Promise<void> {
    const stem = basename(file).replace(/\.tiff?$/i, '');
    const sidecarFile = join(this.inbox, `${stem}.hatake.json`);
    const companions = [sidecarFile, join(this.inbox, `${stem}.json`)].filter((f) => existsSync(f));
    // A band file dropped loose without band numbers: the reason says where such a scene goes.
    let loose = false;
    await this.process({
      name: basename(file),
      where: { file },
      reasonFile: `${stem}.reason.txt`,
      describe: (imaging, origin) => {
        const sidecar = existsSync(sidecarFile) ? readSidecar(sidecarFile) : {};
        origin.of = sidecar.downlink;
        loose = sidecar.bands === undefined && isBandFileName(basename(file), imaging);
        return {
          files: [file],
          profile: imaging.profileById(sidecar.profile ?? 's2-l2a'),
          bands: sidecar.bands ? imaging.parseBandMap(sidecar.bands) : undefined,
          index: sidecar.index,
          offset: sidecar.offset,
          scale: sidecar.scale,
          sceneId: sidecar.sceneId,
          // stats.json says it in UTC, as a scene's own metadata would (readSidecar checked it parses).
          acquired: sidecar.acquired !== undefined ? new Date(sidecar.acquired).toISOString() : undefined,
        };
      },
      move: (to) => {
        for (const f of [file, ...companions]) renameSync(f, join(this.dir, to, basename(f)));
      },
      explain: (e) =>
        loose && e.code === 'HATAKE_E_IMAGERY_BANDS'
          ? new HatakeError(e.code, e.message, { place: e.place, expected: LOOSE_BAND_HINT })
          : e,
    });
  }

  private async processFolder(folder: string): Promise<void> {
    const name = basename(folder);
    await this.process({
      name,
      where: { folder },
      reasonFile: `${name}.reason.txt`,
      describe: (imaging) => folderInput(folder, imaging),
      move: (to) => moveReplacing(folder, join(this.dir, to, name)),
    });
  }

  /** Opens, processes and moves one scene (a file with its companions, or a folder). */
  private async process(job: SceneJob): Promise<void> {
    let scene: Scene | undefined;
    const origin: { of?: SceneOrigin } = {};
    try {
      const imaging = await imagingStack();
      scene = await imaging.Scene.open(job.describe(imaging, origin));
      const outDir = join(this.dir, 'results', scene.id);
      // The fields the scene does not cover are named, not an error: a scene may show part of the farm.
      const { stats, zones, uncovered, coverage } = await imaging.processScene(scene, this.fields(), {
        outDir,
        skipUncovered: true,
      });
      job.move('done');
      this.log.info(
        {
          scene: scene.id,
          fields: Object.keys(stats.fields ?? {}).length,
          ...coverageLog(uncovered, coverage),
        },
        uncovered.length > 0
          ? `scene processed; ${uncovered.length === 1 ? '1 field' : `${uncovered.length} fields`} not covered by this scene`
          : 'scene processed',
      );
      this.onResult({
        sceneId: scene.id,
        acquired: scene.acquired ?? new Date().toISOString(),
        stats,
        zones,
        outDir,
        uncovered,
        coverage,
      });
    } catch (caught) {
      const e = isHatakeError(caught) && job.explain ? job.explain(caught) : caught;
      const reason = isHatakeError(e) ? e.describe() : (e as Error).message;
      this.log.error({ ...job.where, reason }, 'scene not processed');
      job.move('failed');
      writeFileSync(join(this.dir, 'failed', job.reasonFile), `${reason}\n`);
      const failed: FailedScene = {
        file: job.name,
        code: isHatakeError(e) ? e.code : 'HATAKE_E_INTERNAL',
        reason: isHatakeError(e)
          ? `${e.message}${e.expected ? ` (expected ${e.expected})` : ''}`
          : (e as Error).message,
        ...(origin.of ? { downlink: origin.of } : {}),
      };
      try {
        this.onFailure?.(failed);
      } catch (err) {
        this.log.error({ ...job.where, err: (err as Error).message }, 'scene failure not reported');
      }
    } finally {
      await scene?.close();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    await this.again;
  }
}

/** How long a scene's files must hold still before it is taken. */
const STILL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the imagery pipeline needs here; loaded when a scene arrives, not with the gateway. */
async function imagingStack() {
  const [scene, process, profiles, indices] = await Promise.all([
    import('../../edge/imagery/scene.ts'),
    import('../../edge/imagery/process.ts'),
    import('../../edge/imagery/profiles.ts'),
    import('../../edge/imagery/indices.ts'),
  ]);
  return {
    Scene: scene.Scene,
    processScene: process.processScene,
    profileById: profiles.profileById,
    parseBandMap: profiles.parseBandMap,
    PROFILES: profiles.PROFILES,
    INDICES: indices.INDICES,
    resolveInputs: indices.resolveInputs,
  };
}
type Imaging = Awaited<ReturnType<typeof imagingStack>>;

/** One scene for `ImageryInbox.process`. */
interface SceneJob {
  /** The file's or folder's name (in failed/ when it fails). */
  name: string;
  /** Where it is, for the log. */
  where: Record<string, string>;
  /** The reason file's name in failed/. */
  reasonFile: string;
  /** What to open; sets `origin.of` when the scene came by downlink. */
  describe(imaging: Imaging, origin: { of?: SceneOrigin }): SceneInput;
  /** Moves the scene's files to done/ or failed/. */
  move(to: 'done' | 'failed'): void;
  /** A clearer error for the one the scene failed with, or the same one. */
  explain?(e: HatakeError): HatakeError;
}

const LOOSE_BAND_HINT =
  'a scene of one file per band in a folder of its own: inbox/<scene>/ with the band files and a hatake.json or .ready written last (docs/imagery.md)';

/** A file named like one band of a built-in profile (B04.tif, …_B08_10m.tif, SCL.tif). */
function isBandFileName(name: string, imaging: Imaging): boolean {
  return imaging.PROFILES.some((p) =>
    Object.values(p.bands).some(
      (b) => b.filePattern !== undefined && new RegExp(b.filePattern, 'i').test(name),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Scene folders
// ---------------------------------------------------------------------------------------------

/** A scene folder's description; when it is there, the folder is complete. */
export const FOLDER_SIDECAR = 'hatake.json';
/** A scene folder's marker when it needs no description (band roles from the file names). */
export const READY_MARKER = '.ready';
/** Entries a scene folder may hold (band files, metadata, the sidecar); a folder of more is refused unread. */
const MAX_FOLDER_ENTRIES = 500;
/** The most a sidecar may weigh: it describes a scene in a few lines. */
const MAX_SIDECAR_BYTES = 64 * 1024;

/** What a scene folder's `hatake.json` may say. */
export interface FolderSidecar {
  profile?: string;
  /**
   * Band role → the file in the folder holding it (every band file read is named), or, for a
   * folder of one multi-band file, its band numbers ("red=3,nir=4") as a single file's sidecar.
   */
  bands?: Partial<Record<BandRole, string>> | string;
  /** A user cloud-mask raster in the folder (one band on the scene grid; non-zero = masked). */
  mask?: string;
  index?: string;
  offset?: number;
  scale?: number;
  sceneId?: string;
  acquired?: string;
}

const FOLDER_KEYS = [
  'profile',
  'bands',
  'mask',
  'index',
  'offset',
  'scale',
  'sceneId',
  'acquired',
] as const satisfies readonly (keyof FolderSidecar)[];

/** Names, sizes and times of a folder's entries: the same twice, nothing was being written. */
function folderState(folder: string): string {
  const names = readdirSync(folder).sort();
  if (names.length > MAX_FOLDER_ENTRIES) return `${names.length} entries`;
  return names
    .map((n) => {
      try {
        const st = lstatSync(join(folder, n));
        return `${n}\0${st.size}\0${st.mtimeMs}`;
      } catch {
        return `${n}\0gone`;
      }
    })
    .join('\n');
}

/** Moves a scene folder; one there before it (the same scene dropped again) is replaced, as a file would be. */
function moveReplacing(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  renameSync(from, to);
}

/**
 * What to open for a scene folder: its description (`hatake.json`, optional), the band files —
 * named by the description, or found by the profile's file-name patterns (of several resolutions
 * of one band, the finest) — and the mask. Refused with a coded reason: a description that names
 * anything but a file in the folder, a band missing, a file that is a link.
 */
function folderInput(folder: string, imaging: Imaging): SceneInput {
  const entries = readdirSync(folder, { withFileTypes: true });
  if (entries.length > MAX_FOLDER_ENTRIES) {
    throw new HatakeError(
      'HATAKE_E_IMAGERY_FILE',
      `the scene folder holds ${entries.length} entries, more than ${MAX_FOLDER_ENTRIES}`,
      { place: { file: folder }, expected: "a scene's band files, its STAC item and hatake.json" },
    );
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  const sidecarFile = join(folder, FOLDER_SIDECAR);
  const sidecar = byName.has(FOLDER_SIDECAR) ? readFolderSidecar(sidecarFile) : {};
  const profile = imaging.profileById(sidecar.profile ?? 's2-l2a');
  const notRegular = (name: string, pointer?: string) =>
    new HatakeError('HATAKE_E_IMAGERY_FILE', `${name} is not a regular file (a link or a folder)`, {
      place: pointer ? { file: sidecarFile, pointer } : { file: join(folder, name) },
      expected: 'the scene folder holding its files themselves',
    });
  /** A file the description names: one in the folder (the name's form was checked on reading). */
  const named = (pointer: string, name: string): string => {
    const entry = byName.get(name);
    if (!entry) {
      throw new HatakeError(
        'HATAKE_E_IMAGERY_BANDS',
        `${FOLDER_SIDECAR}: ${pointer.slice(1).replace('/', '.')} names "${name}", which is not in the folder`,
        { place: { file: sidecarFile, pointer }, expected: `one of the folder's GeoTIFFs` },
      );
    }
    if (!entry.isFile()) throw notRegular(name, pointer);
    return name;
  };
  const mask = sidecar.mask !== undefined ? named('/mask', sidecar.mask) : undefined;
  // Every GeoTIFF is read as it is: one under a link (or a folder so named) is refused, not followed.
  const rasters = entries
    .filter((e) => /\.tiff?$/i.test(e.name) && e.name !== mask)
    .map((e) => {
      if (!e.isFile()) throw notRegular(e.name);
      return e.name;
    })
    .sort();
  const at = (names: readonly string[]) => names.map((n) => join(folder, n));
  const common = {
    profile,
    index: sidecar.index,
    offset: sidecar.offset,
    scale: sidecar.scale,
    sceneId: sidecar.sceneId,
    acquired: sidecar.acquired !== undefined ? new Date(sidecar.acquired).toISOString() : undefined,
    maskFile: mask !== undefined ? join(folder, mask) : undefined,
  };
  const noRaster = () =>
    new HatakeError(
      'HATAKE_E_IMAGERY_BANDS',
      entries.some((e) => /\.jp2$/i.test(e.name))
        ? 'the scene folder holds JPEG 2000 (.jp2) band files, which are not read'
        : 'the scene folder holds no GeoTIFF',
      { place: { file: folder }, expected: 'GeoTIFF/COG band files (gdal_translate converts a .jp2)' },
    );

  // One file: a multi-band raster (band numbers from the description) or an index raster.
  if (typeof sidecar.bands === 'string' || profile.id === 'index') {
    if (rasters.length !== 1) {
      if (rasters.length === 0) throw noRaster();
      throw new HatakeError(
        'HATAKE_E_IMAGERY_BANDS',
        `the scene folder holds ${rasters.length} GeoTIFFs; ${typeof sidecar.bands === 'string' ? 'band numbers' : 'profile index'} read${typeof sidecar.bands === 'string' ? '' : 's'} one`,
        {
          place: { file: sidecarFile, pointer: typeof sidecar.bands === 'string' ? '/bands' : '/profile' },
          expected: 'one GeoTIFF in the folder, or "bands" naming a file for each role',
        },
      );
    }
    return {
      ...common,
      files: at(rasters),
      bands: typeof sidecar.bands === 'string' ? imaging.parseBandMap(sidecar.bands) : undefined,
    };
  }

  // Band files the description names, role by role: only they are read.
  if (sidecar.bands !== undefined) {
    const roleOf = new Map<string, BandRole>();
    for (const role of BAND_ROLES) {
      const name = sidecar.bands[role];
      if (name === undefined) continue;
      const pointer = `/bands/${role}`;
      named(pointer, name);
      const other = name === mask ? 'mask' : roleOf.has(name) ? `bands.${roleOf.get(name)}` : undefined;
      if (other) {
        throw new HatakeError(
          'HATAKE_E_IMAGERY_BANDS',
          `${FOLDER_SIDECAR}: ${other} and bands.${role} name the same file`,
          {
            place: { file: sidecarFile, pointer },
            expected: 'one file per band; for one multi-band file, "bands": "red=3,nir=4"',
          },
        );
      }
      roleOf.set(name, role);
    }
    const roles = new Map([...roleOf].map(([f, r]) => [r, f]));
    needAnIndex(roles, profile, imaging, `${FOLDER_SIDECAR} names`);
    // The profile as the description ties it: each role's file by its exact name.
    const bands = Object.fromEntries(
      [...roles].map(([role, f]) => [
        role,
        { ...(profile.bands[role] ?? { name: role }), filePattern: `^${escapeRegExp(f)}$` },
      ]),
    );
    return { ...common, profile: { ...profile, bands }, files: at([...roleOf.keys()].sort()) };
  }

  // Band files found by the profile's file-name patterns; other GeoTIFFs (B01, B11 …) are not read.
  const patterns = BAND_ROLES.flatMap((r) => {
    const p = profile.bands[r]?.filePattern;
    return p !== undefined ? [[r, new RegExp(p, 'i')] as const] : [];
  });
  const byRole = new Map<BandRole, string[]>();
  for (const f of rasters) {
    const roles = patterns.filter(([, re]) => re.test(f)).map(([r]) => r);
    if (roles.length > 1) {
      throw new HatakeError(
        'HATAKE_E_IMAGERY_BANDS',
        `${f} is named like several bands (${roles.join(', ')})`,
        {
          place: { file: join(folder, f) },
          expected: `each band file named in ${FOLDER_SIDECAR} "bands"`,
        },
      );
    }
    if (roles[0]) byRole.set(roles[0], [...(byRole.get(roles[0]) ?? []), f]);
  }
  if (byRole.size === 0) {
    // One multi-band file: its band numbers come from the profile, as for a file dropped alone.
    if (rasters.length === 1) return { ...common, files: at(rasters) };
    if (rasters.length === 0) throw noRaster();
    throw new HatakeError(
      'HATAKE_E_IMAGERY_BANDS',
      `cannot tell which band each of the folder's ${rasters.length} GeoTIFFs is for profile ${profile.id}`,
      { place: { file: folder }, expected: bandNamesExpected(profile) },
    );
  }
  const chosen = new Map([...byRole].map(([role, files]) => [role, finest(role, files, folder)]));
  needAnIndex(chosen, profile, imaging, 'the folder has');
  return { ...common, files: at([...chosen.values()].sort()) };
}

/** Refuses band files from which no index can be computed, naming the bands NDVI lacks. */
function needAnIndex(
  roles: ReadonlyMap<BandRole, string>,
  profile: SensorProfile,
  imaging: Imaging,
  source: string,
): void {
  const has = (r: BandRole) => r !== 'scl' && roles.has(r);
  if (imaging.INDICES.some((d) => imaging.resolveInputs(d, has))) return;
  const missing = (['red', 'nir'] as const)
    .filter((r) => !roles.has(r))
    .map((r) => `${r} (${profile.bands[r]?.name ?? r})`);
  const given = [...roles].map(([r, f]) => `${r}: ${f}`).join(', ') || 'none';
  throw new HatakeError(
    'HATAKE_E_IMAGERY_BANDS',
    `${source} no ${missing.join(' and no ')} band, so no vegetation index can be computed (bands: ${given}; NDVI needs red and nir)`,
    { expected: bandNamesExpected(profile) },
  );
}

const bandNamesExpected = (profile: SensorProfile) => {
  const names = BAND_ROLES.filter((r) => profile.bands[r]?.filePattern !== undefined).map(
    (r) => profile.bands[r]!.name,
  );
  return `${names.length > 0 ? `band files named like ${names.join(', ')}, or ` : ''}each role → file in ${FOLDER_SIDECAR} "bands", e.g. {"red": "red.tif", "nir": "nir.tif"}`;
};

/** The pixel size a file name gives (`…_B04_10m.tif` → 10), if any. */
function resolutionOf(name: string): number | undefined {
  const m = /(?:^|[_.-])(\d{1,5})m(?=[_.-]|$)/i.exec(name.replace(/\.tiff?$/i, ''));
  return m ? Number(m[1]) : undefined;
}

/** Of several files of one band, the one at the finest resolution its name gives; refused if unclear. */
function finest(role: BandRole, files: readonly string[], folder: string): string {
  if (files.length === 1) return files[0]!;
  const res = files.map(resolutionOf);
  if (res.every((r) => r !== undefined)) {
    const min = Math.min(...(res as number[]));
    const best = files.filter((_, i) => res[i] === min);
    if (best.length === 1) return best[0]!;
  }
  throw new HatakeError(
    'HATAKE_E_IMAGERY_BANDS',
    `${files.length} files give the ${role} band (${files.join(', ')})`,
    {
      place: { file: folder },
      expected: `one file per band (of several resolutions named …_10m, …_20m, the finest is read), or the ${role} file named in ${FOLDER_SIDECAR} "bands"`,
    },
  );
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A file name in the folder: no path, no "." or "..", at most 255 characters. */
function isPlainName(v: unknown): v is string {
  return (
    typeof v === 'string' && v.length > 0 && v.length <= 255 && !/[/\\\0]/.test(v) && v !== '.' && v !== '..'
  );
}

/**
 * The JSON object in a sidecar: a regular file (a link is followed only for a single file's
 * sidecar, as before) of at most MAX_SIDECAR_BYTES, or a coded error naming it.
 */
function readJsonObject(file: string, followLinks: boolean): Record<string, unknown> {
  const name = basename(file);
  const fail = (message: string, expected?: string) =>
    new HatakeError('HATAKE_E_IMAGERY_FILE', `${name} ${message}`, { place: { file }, expected });
  const st = followLinks ? statSync(file) : lstatSync(file);
  if (!st.isFile()) throw fail('is not a regular file', 'a JSON file describing the scene');
  if (st.size > MAX_SIDECAR_BYTES) {
    throw fail(`is larger than ${MAX_SIDECAR_BYTES} bytes`, 'a few lines of JSON describing the scene');
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw fail(`is not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail('must hold a JSON object');
  return value as Record<string, unknown>;
}

/** A coded error for one key of a sidecar. */
function sidecarError(file: string, key: string, message: string, expected?: string): HatakeError {
  return new HatakeError('HATAKE_E_IMAGERY_FILE', `${basename(file)}: ${message}`, {
    place: { file, pointer: `/${key}` },
    expected,
  });
}

/**
 * The type of each description a sidecar may give (its content is checked where it is used —
 * the profile, index and scene id by the scene's opening — each with a coded error).
 */
function checkDescriptions(
  file: string,
  sidecar: Record<string, unknown>,
  checkBands: (bands: unknown) => void,
): void {
  const bad = (key: string, message: string, expected?: string) => sidecarError(file, key, message, expected);
  for (const key of ['profile', 'bands', 'index', 'sceneId'] as const) {
    const v = sidecar[key];
    if (key === 'bands') checkBands(v);
    else if (v !== undefined && !(typeof v === 'string' && v.length <= 200))
      throw bad(key, `${key} must be a string`, SIDECAR_EXAMPLES[key]);
  }
  const { scale, offset, acquired } = sidecar;
  if (scale !== undefined && !(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) {
    throw bad('scale', 'scale must be a positive number');
  }
  if (offset !== undefined && !(typeof offset === 'number' && Number.isFinite(offset))) {
    throw bad('offset', 'offset must be a number', 'e.g. -1000');
  }
  if (
    acquired !== undefined &&
    !(typeof acquired === 'string' && acquired.length <= 40 && !Number.isNaN(Date.parse(acquired)))
  ) {
    throw bad('acquired', 'acquired must be a date and time', 'ISO 8601, e.g. "2026-07-20T01:30:00Z"');
  }
}

/** The scene's sidecar: a JSON object, or a coded error naming the file. */
function readSidecar(file: string): SceneSidecar {
  const sidecar = readJsonObject(file, true);
  const { downlink } = sidecar as SceneSidecar;
  if (
    downlink !== undefined &&
    !(
      typeof downlink === 'object' &&
      downlink !== null &&
      isId(downlink.id) &&
      Number.isSafeInteger(downlink.version) &&
      downlink.version >= 0
    )
  ) {
    throw sidecarError(
      file,
      'downlink',
      "downlink must name the document's id and version",
      '{"id": "…", "version": 12}',
    );
  }
  // Keys this gateway does not know are left alone, as before.
  checkDescriptions(file, sidecar, (bands) => {
    if (bands !== undefined && !(typeof bands === 'string' && bands.length <= 200))
      throw sidecarError(file, 'bands', 'bands must be a string', SIDECAR_EXAMPLES.bands);
  });
  return sidecar as SceneSidecar;
}

/**
 * A scene folder's `hatake.json`: every key one it knows (a misspelt `mask` would otherwise
 * leave clouds in), every file it names a plain name — never a path, so nothing outside the
 * folder is read — or a coded error naming the key.
 */
function readFolderSidecar(file: string): FolderSidecar {
  const sidecar = readJsonObject(file, false);
  const unknown = Object.keys(sidecar).filter((k) => !(FOLDER_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw sidecarError(
      file,
      unknown[0]!.slice(0, 40),
      `unknown key${unknown.length > 1 ? 's' : ''} ${unknown
        .slice(0, 5)
        .map((k) => JSON.stringify(k.slice(0, 40)))
        .join(', ')}`,
      FOLDER_KEYS.join(', '),
    );
  }
  const fileName = (key: string, v: unknown) => {
    if (!isPlainName(v)) {
      throw sidecarError(
        file,
        key,
        `${key.replace('/', '.')} must be the name of a file in the scene folder, not a path`,
        'a file name such as "B04.tif"',
      );
    }
  };
  if (sidecar.mask !== undefined) fileName('mask', sidecar.mask);
  checkDescriptions(file, sidecar, (bands) => {
    if (typeof bands === 'string') {
      if (bands.length > 200) throw sidecarError(file, 'bands', 'bands is longer than 200 characters');
      return;
    }
    if (bands === undefined) return;
    if (typeof bands !== 'object' || bands === null || Array.isArray(bands)) {
      throw sidecarError(file, 'bands', 'bands must name a file for each band role', FOLDER_BANDS_EXAMPLE);
    }
    for (const [role, name] of Object.entries(bands)) {
      if (!(BAND_ROLES as readonly string[]).includes(role)) {
        throw sidecarError(
          file,
          `bands/${role.slice(0, 40)}`,
          `"${role.slice(0, 40)}" is not a band role`,
          BAND_ROLES.join(', '),
        );
      }
      fileName(`bands/${role}`, name);
    }
  });
  return sidecar as FolderSidecar;
}

const FOLDER_BANDS_EXAMPLE = '{"red": "B04.tif", "nir": "B08.tif"}, or "red=3,nir=4" for one multi-band file';

const SIDECAR_EXAMPLES = {
  profile: 'a sensor profile id, e.g. "s2-l2a" or "index"',
  bands: 'band roles → numbers, e.g. "red=3,nir=4"',
  index: 'for profile index: the index the raster holds, e.g. "ndvi"',
  sceneId: 'a scene id, e.g. "S2A_29RKH_20200219_0_L2A"',
};
