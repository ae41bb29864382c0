// A scene ready to process: its files opened, every band role tied to a file and band through
// the sensor profile (file-name patterns for one-file-per-band products, band numbers for a
// multi-band file), all grids checked to align (a coarser band — 20 m red edge or SCL — must sit
// on the same origin at an integer multiple of the finest pixel size), the mask chosen, the
// metadata read and the radiometry decided. A raster of an index derived elsewhere (profile
// `index`) is one file of one band, which is the index the scene names.
import { basename, dirname } from 'node:path';
import { BAND_ROLES, type BandRole, type SceneInfo, type SensorProfile } from '../../protocol/imagery.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { RasterFile, type BlockCache, type Grid, type Samples, type Window } from './raster-file.ts';
import { discoverMetadata, type SceneMetadata } from './scene-metadata.ts';
import { decideRadiometry, type Radiometry } from './radiometry.ts';
import { INDICES, resolveInputs, type IndexDef } from './indices.ts';
import { PROFILES, derivedIndex } from './profiles.ts';

export interface SceneInput {
  /** One multi-band file, or one file per band (and the SCL band), over the same grid. */
  files: readonly string[];
  profile: SensorProfile;
  /** Band role → 1-based band number in a multi-band file (overrides the profile). */
  bands?: Partial<Record<BandRole, number>>;
  /** For profile `index` (and only for it): the index the raster's one band holds, e.g. "ndvi". */
  index?: string;
  offset?: number;
  offsetFrom?: 'user' | 'manifest';
  scale?: number;
  /** A user cloud-mask raster on the same grid: non-zero = masked. Replaces SCL masking. */
  maskFile?: string;
  /** Use the SCL band for masking when the scene has one (default true). */
  useScl?: boolean;
  sceneId?: string;
  acquired?: string;
  /** Metadata known from elsewhere (e.g. a transfer manifest); files beside the scene fill the rest. */
  metadata?: SceneMetadata;
}

/** Where one role's pixels come from. */
export interface BandSource {
  role: BandRole | 'mask' | 'index';
  file: RasterFile;
  /** 0-based band in the file. */
  band: number;
  name: string;
  /** Pixel size of this band ÷ the scene grid's (1 for 10 m bands, 2 for 20 m). */
  factor: number;
  nodata: number | null;
}

export class Scene {
  readonly id: string;
  readonly acquired: string | null;
  readonly profile: SensorProfile;
  readonly grid: Grid;
  /** Reflectance bands by role; empty for an index raster. */
  readonly sources: ReadonlyMap<BandRole, BandSource>;
  /** An already derived index raster (profile `index`): the index and its band. */
  readonly derived: { def: IndexDef; source: BandSource } | undefined;
  readonly mask:
    | { kind: 'scl'; keep: Set<number>; source: BandSource }
    | { kind: 'raster'; source: BandSource }
    | { kind: 'none' };
  readonly radiometry: Radiometry;
  readonly files: readonly RasterFile[];

  private constructor(init: {
    id: string;
    acquired: string | null;
    profile: SensorProfile;
    grid: Grid;
    sources: Map<BandRole, BandSource>;
    derived: Scene['derived'];
    mask: Scene['mask'];
    radiometry: Radiometry;
    files: RasterFile[];
  }) {
    this.id = init.id;
    this.acquired = init.acquired;
    this.profile = init.profile;
    this.grid = init.grid;
    this.sources = init.sources;
    this.derived = init.derived;
    this.mask = init.mask;
    this.radiometry = init.radiometry;
    this.files = init.files;
  }

  /** Opens and checks a scene; every problem is a HatakeError naming the file. */
  static async open(input: SceneInput): Promise<Scene> {
    if (input.files.length === 0) {
      throw new HatakeError('HATAKE_E_IMAGERY_BANDS', 'no scene files given', {
        expected: 'one or more GeoTIFF files',
      });
    }
    const opened: RasterFile[] = [];
    try {
      for (const f of input.files) opened.push(await RasterFile.open(f));
      const maskFile = input.maskFile ? await RasterFile.open(input.maskFile) : undefined;
      if (maskFile) opened.push(maskFile);
      // Which of several bands would be the mask is anyone's guess (an RGB picture of the
      // clouds? a mask with its quality band?): one band, or refused.
      if (maskFile && maskFile.bandCount !== 1) {
        throw new HatakeError(
          'HATAKE_E_IMAGERY_BANDS',
          `a cloud mask has one band, this file has ${maskFile.bandCount}`,
          {
            place: { file: maskFile.path },
            expected: 'a single-band GeoTIFF on the scene grid: 0 = clear, non-zero = masked',
          },
        );
      }
      const profile = input.profile;
      const scene = opened.slice(0, input.files.length);
      const def = derivedIndex(profile, input.index);
      const derived = def ? { def, source: derivedSource(scene, def, input) } : undefined;
      const sources = derived ? new Map<BandRole, BandSource>() : bandSources(scene, input);

      // The grid: the finest band; everything else must align to it.
      const all = derived ? [derived.source] : [...sources.values()];
      const ref = all.reduce((a, b) => (b.file.grid.dx < a.file.grid.dx ? b : a)).file;
      const grid = ref.grid;
      for (const s of all) s.factor = alignFactor(ref, s.file);
      let mask: Scene['mask'] = { kind: 'none' };
      if (maskFile) {
        const src: BandSource = {
          role: 'mask',
          file: maskFile,
          band: 0,
          name: basename(maskFile.path),
          factor: alignFactor(ref, maskFile),
          nodata: null,
        };
        mask = { kind: 'raster', source: src };
      } else if (sources.has('scl') && input.useScl !== false && profile.sclKeep) {
        mask = { kind: 'scl', keep: new Set(profile.sclKeep), source: sources.get('scl')! };
      }
      if (input.useScl === false || maskFile) sources.delete('scl');

      const meta = { ...discoverMetadata(input.files), ...stripUndefined(input.metadata ?? {}) };
      if (profile.level && meta.level && meta.level !== profile.level) {
        const fits = PROFILES.filter((p) => p.level === meta.level).map((p) => p.id);
        throw new HatakeError(
          'HATAKE_E_IMAGERY_RADIOMETRY',
          `the scene is Sentinel-2 ${meta.level} (${meta.source ?? 'its metadata'}) but profile ${profile.id} reads ${profile.level}`,
          { place: { file: input.files[0] }, expected: `a profile for ${meta.level}: ${fits.join(', ')}` },
        );
      }
      const radiometry = decideRadiometry(profile, meta, {
        offset: input.offset,
        offsetFrom: input.offsetFrom,
        scale: input.scale,
        file: scene[0]!.path,
      });
      const id =
        input.sceneId ??
        meta.id ??
        sceneIdFrom(input.files.length > 1 ? dirname(input.files[0]!) : input.files[0]!);
      // The id names folders and files downstream: it must be a plain name, never a path.
      if (!SCENE_ID.test(id) || id.includes('..')) {
        throw new HatakeError('HATAKE_E_IMAGERY_FILE', `scene id "${id.slice(0, 80)}" is not a plain name`, {
          place: { file: input.files[0] },
          expected:
            'letters, digits, ".", "_" and "-", up to 200 characters, starting with a letter or digit',
        });
      }
      const acquired = input.acquired ?? meta.acquired ?? null;
      return new Scene({
        id,
        acquired,
        profile,
        grid,
        sources,
        derived,
        mask,
        radiometry,
        files: opened,
      });
    } catch (e) {
      await Promise.all(opened.map((f) => f.close().catch(() => undefined)));
      throw e;
    }
  }

  /**
   * Reads a source over a window of the scene grid, upsampling coarser bands (nearest). Reads that
   * share `cache` decode each block once.
   */
  async read(src: BandSource, win: Window, cache?: BlockCache): Promise<Samples> {
    const f = src.factor;
    if (f === 1) return src.file.readWindow(src.band, win, cache);
    const [c0, r0, c1, r1] = win;
    const cc0 = Math.floor(c0 / f);
    const cr0 = Math.floor(r0 / f);
    const cc1 = Math.floor((c1 - 1) / f) + 1;
    const cr1 = Math.floor((r1 - 1) / f) + 1;
    const coarse = await src.file.readWindow(src.band, [cc0, cr0, cc1, cr1], cache);
    const cw = cc1 - cc0;
    const w = c1 - c0;
    const out = new (coarse.constructor as new (n: number) => Samples)(w * (r1 - r0));
    const colIdx = new Int32Array(w);
    for (let c = 0; c < w; c++) colIdx[c] = Math.floor((c + c0) / f) - cc0;
    for (let r = r0; r < r1; r++) {
      const base = (Math.floor(r / f) - cr0) * cw;
      const o = (r - r0) * w;
      for (let c = 0; c < w; c++) out[o + c] = coarse[base + colIdx[c]!]!;
    }
    return out;
  }

  /** What stats.json says about the scene. */
  info(): SceneInfo {
    const bands: Record<string, string> = {};
    const all = this.derived ? ([['index', this.derived.source]] as const) : this.sources;
    for (const [role, s] of all) {
      bands[role] = `${basename(s.file.path)}#${s.band + 1} (${s.name})`;
    }
    const m = this.mask;
    return {
      sceneId: this.id,
      acquired: this.acquired,
      profile: this.profile.id,
      files: this.files.map((f) => basename(f.path)),
      bands,
      crs: `EPSG:${this.grid.crs.epsg}`,
      width: this.grid.width,
      height: this.grid.height,
      pixelSize: [this.grid.dx, this.grid.dy],
      radiometry: { ...this.radiometry },
      mask:
        m.kind === 'scl'
          ? { kind: 'scl', keep: [...m.keep].sort((a, b) => a - b) }
          : m.kind === 'raster'
            ? { kind: 'raster', file: basename(m.source.file.path) }
            : { kind: 'none' },
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close().catch(() => undefined)));
  }
}

/** The band of an already derived index raster: one file, one band, no band roles. */
function derivedSource(scene: readonly RasterFile[], def: IndexDef, input: SceneInput): BandSource {
  if (scene.length !== 1) {
    throw new HatakeError(
      'HATAKE_E_IMAGERY_BANDS',
      `an index raster is one file, ${scene.length} were given`,
      { place: { file: scene[1]!.path }, expected: `one single-band GeoTIFF holding ${def.name}` },
    );
  }
  const file = scene[0]!;
  if (file.bandCount !== 1) {
    throw new HatakeError(
      'HATAKE_E_IMAGERY_BANDS',
      `an index raster has one band, this file has ${file.bandCount}`,
      { place: { file: file.path }, expected: `a single-band GeoTIFF holding ${def.name}` },
    );
  }
  if (input.bands && Object.keys(input.bands).length > 0) {
    throw new HatakeError('HATAKE_E_CONFIG', 'band roles were given for an index raster', {
      place: { file: file.path },
      expected: `no band roles: the file's one band is ${def.name}`,
    });
  }
  return {
    role: 'index',
    file,
    band: 0,
    name: def.name,
    factor: 1,
    nodata: file.nodata ?? input.profile.nodata,
  };
}

/** Ties band roles to files and bands: by band number in one multi-band file, by name for one file per band. */
function bandSources(scene: readonly RasterFile[], input: SceneInput): Map<BandRole, BandSource> {
  const profile = input.profile;
  const sources = new Map<BandRole, BandSource>();
  if (scene.length === 1) {
    const file = scene[0]!;
    const given = input.bands && Object.keys(input.bands).length > 0;
    for (const role of BAND_ROLES) {
      const pb = profile.bands[role];
      const num = given ? input.bands![role] : pb?.index;
      if (num === undefined) continue;
      if (num > file.bandCount) {
        throw new HatakeError(
          'HATAKE_E_IMAGERY_BANDS',
          `band ${num} for ${role} does not exist: the file has ${file.bandCount} band${file.bandCount === 1 ? '' : 's'}`,
          { place: { file: file.path }, expected: `band numbers 1–${file.bandCount}` },
        );
      }
      sources.set(role, {
        role,
        file,
        band: num - 1,
        name: pb?.name ?? role,
        factor: 1,
        nodata: file.nodata ?? profile.nodata,
      });
    }
    if (sources.size === 0) {
      throw new HatakeError(
        'HATAKE_E_IMAGERY_BANDS',
        `cannot tell which of the file's ${file.bandCount} band${file.bandCount === 1 ? '' : 's'} is which`,
        { place: { file: file.path }, expected: '--bands red=N,nir=N,… (1-based band numbers)' },
      );
    }
  } else {
    for (const file of scene) {
      const name = basename(file.path);
      const roles = BAND_ROLES.filter((r) => {
        const pat = profile.bands[r]?.filePattern;
        return pat !== undefined && new RegExp(pat, 'i').test(name);
      });
      if (roles.length !== 1) {
        throw new HatakeError(
          'HATAKE_E_IMAGERY_BANDS',
          roles.length === 0
            ? `cannot tell which band this file is for profile ${profile.id}`
            : `the file name matches several bands (${roles.join(', ')})`,
          {
            place: { file: file.path },
            expected: `one band per file, named like ${BAND_ROLES.map((r) => profile.bands[r]?.name)
              .filter(Boolean)
              .join(', ')}`,
          },
        );
      }
      const role = roles[0]!;
      if (sources.has(role)) {
        throw new HatakeError(
          'HATAKE_E_IMAGERY_BANDS',
          `two files give the ${role} band (${basename(sources.get(role)!.file.path)} and ${name})`,
          {
            place: { file: file.path },
            expected: 'one file per band',
          },
        );
      }
      sources.set(role, {
        role,
        file,
        band: 0,
        name: profile.bands[role]!.name,
        factor: 1,
        nodata: file.nodata ?? profile.nodata,
      });
    }
  }

  // Indices we can compute; without one there is nothing to do.
  const has = (r: BandRole) => sources.has(r) && r !== 'scl';
  const computable = INDICES.filter((d) => resolveInputs(d, has));
  if (computable.length === 0) {
    const given = [...sources.keys()].sort().join(', ') || 'none';
    throw new HatakeError(
      'HATAKE_E_IMAGERY_BANDS',
      `no vegetation index can be computed from the bands given (${given}); NDVI needs red and nir`,
      { place: { file: scene[0]!.path }, expected: 'at least red and nir bands' },
    );
  }
  return sources;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A scene id from a file name: the file's base name in the id alphabet. */
/** What a scene id may look like (it becomes a folder and file name). */
export const SCENE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

export function sceneIdFrom(file: string): string {
  const b = basename(file).replace(/\.(tiff?|TIFF?)$/, '');
  return (
    b
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 64) || 'scene'
  );
}

/** The integer factor between a file's pixel size and the reference grid; throws when they do not align. */
function alignFactor(ref: RasterFile, file: RasterFile): number {
  const a = ref.grid;
  const b = file.grid;
  const problem = (what: string) =>
    new HatakeError('HATAKE_E_IMAGERY_GRID', `grids do not align: ${what}`, {
      place: { file: file.path },
      expected: `the grid of ${basename(ref.path)} (EPSG:${a.crs.epsg}, origin ${a.x0}, ${a.y0}, pixel ${a.dx}×${a.dy}, ${a.width}×${a.height}) or a multiple of its pixel size`,
    });
  if (a.crs.epsg !== b.crs.epsg) throw problem(`EPSG:${b.crs.epsg} vs EPSG:${a.crs.epsg}`);
  const fx = b.dx / a.dx;
  const fy = b.dy / a.dy;
  const f = Math.round(fx);
  if (f < 1 || Math.abs(fx - f) > 1e-6 || Math.abs(fy - f) > 1e-6) {
    throw problem(`pixel size ${b.dx}×${b.dy} is not an integer multiple of ${a.dx}×${a.dy}`);
  }
  const tol = a.dx * 1e-3;
  if (Math.abs(a.x0 - b.x0) > tol || Math.abs(a.y0 - b.y0) > tol) {
    throw problem(`origin ${b.x0}, ${b.y0} differs from ${a.x0}, ${a.y0}`);
  }
  if (b.width * f < a.width || b.height * f < a.height) {
    if (f === 1) throw problem(`size ${b.width}×${b.height} differs from ${a.width}×${a.height}`);
    throw problem(`${b.width}×${b.height} at ${b.dx} does not cover ${a.width}×${a.height} at ${a.dx}`);
  }
  if (f === 1 && (b.width !== a.width || b.height !== a.height)) {
    throw problem(`size ${b.width}×${b.height} differs from ${a.width}×${a.height}`);
  }
  return f;
}
