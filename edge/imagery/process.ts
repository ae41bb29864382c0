// Processing a scene for a set of fields, in bounded memory: the grid is walked in horizontal
// strips; each strip reads just the window of each field it crosses (each tile or strip of the
// file decoded once), computes reflectances and indices for the pixels whose centres lie in a
// field, and a field is finished — statistics, management zones, polygons, heatmaps — as soon as
// the walk has passed its last row, so memory holds one strip plus the fields that cross it.
// Writes stats.json, zones.geojson and maps/ under the output directory. A raster of an index
// derived elsewhere (profile `index`) takes the same path with its one band as the index, read as
// given: a value outside the index's valid range is no data, and a scene whose every in-field value
// is outside it (an index stored as integers, read without its scale) is refused. A field only
// partly inside the raster is measured against all its pixels: those off the raster count as
// pixels without data (its `validFraction` says how much of the field the scene saw; the result's
// `coverage`, how much of it lies inside the raster). A field wholly outside is refused, or, with
// `skipUncovered`, left out and named in the result's `uncovered`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  STATS_SCHEMA,
  ZONES_SCHEMA,
  type BandRole,
  type FieldStats,
  type IndexStats,
  type MapImage,
  type SceneStats,
  type ZoneCollection,
  type ZoneFeature,
} from '../../protocol/imagery.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { Scene, BandSource } from './scene.ts';
import { BlockCache, type Samples, type Window } from './raster-file.ts';
import { INDICES, resolveInputs, type IndexDef } from './indices.ts';
import {
  locateFields,
  pixelAreaM2,
  rowSpans,
  uncoveredError,
  type FieldInput,
  type PlacedField,
} from './fields.ts';
import { indexStats, round7 } from './zonal-stats.ts';
import { DEFAULT_ZONING, sieve, zoneBreaks, zoneOf, type ZoningOptions } from './zones.ts';
import { polygonize } from './polygonize.ts';
import { heatmapPng, legendPng } from './heatmap.ts';
import { transformer } from './crs.ts';

export interface ProcessOptions {
  outDir: string;
  /** Index ids to compute (default: every index the scene's bands allow). */
  indices?: readonly string[];
  /** Zoning: the index to cluster on (default ndvi) and k. */
  zoning?: Partial<ZoningOptions> & { index?: string };
  /** Write heatmap PNGs and legends (default true). */
  maps?: boolean;
  /** Rows per strip (default 256). */
  stripRows?: number;
  /** The file the fields came from, for error messages. */
  fieldsFile?: string;
  /**
   * Fields that cover no pixel centre of the raster are left out and named in the result's
   * `uncovered` (a scene that shows part of the farm) instead of refusing the scene. A scene that
   * covers none of the fields is refused either way. Default false: refused.
   */
  skipUncovered?: boolean;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface ProcessResult {
  stats: SceneStats;
  zones: ZoneCollection;
  /** Files written, relative to outDir. */
  files: string[];
  /** Ids of the fields given that cover no pixel centre of the raster (only with skipUncovered). */
  uncovered: string[];
  /**
   * Per processed field, the share of its pixels (centre in the field) that lie inside the raster:
   * 1 for a field wholly inside, less for one the scene shows only part of.
   */
  coverage: Record<string, number>;
}

interface ActiveIndex {
  def: IndexDef;
  /** The formula over the variables' reflectances (the value itself for a derived index). */
  compute: IndexDef['compute'];
  vars: string[];
  /** Position of each variable's band in the strip's band list. */
  pos: number[];
}

interface FieldAcc {
  field: PlacedField;
  order: number;
  w: number;
  h: number;
  inField: Uint8Array;
  /** Mask passed and all bands valid (0/1). */
  valid: Uint8Array;
  values: Float32Array[];
  /** Pixels whose centre is in the field, off the raster included. */
  pixels: number;
  validPixels: number;
  /** Area of those pixels, m². */
  areaM2: number;
}

/**
 * Processes a scene for fields and writes stats.json, zones.geojson and maps/ to outDir. A run that
 * fails part-way (a block that cannot be decoded, a full disk) takes back what it wrote: no maps
 * without a stats.json, no out directory for a scene that was not processed.
 */
export async function processScene(
  scene: Scene,
  fields: readonly FieldInput[],
  opts: ProcessOptions,
): Promise<ProcessResult> {
  const out = new Output(opts.outDir);
  try {
    return await processInto(scene, fields, opts, out);
  } catch (e) {
    out.undo();
    throw e;
  }
}

/** Strips read (and inflated) ahead of the one being computed. */
const READ_AHEAD = 2;

async function processInto(
  scene: Scene,
  fields: readonly FieldInput[],
  opts: ProcessOptions,
  out: Output,
): Promise<ProcessResult> {
  const grid = scene.grid;
  // No fields is refused, not answered with an empty stats.json: the farm has no boundaries yet
  // (a gateway before its fields are registered), and a scene "processed" into nothing would
  // move to done/ silently. A coded error says why — on a gateway the scene goes to failed/ with
  // the reason, and one sent down is reported to the server — as a fields file without fields
  // (parseFields) and a scene that covers none of the fields (below) are refused.
  if (fields.length === 0) {
    throw new HatakeError('HATAKE_E_FIELDS', `no fields to process scene ${scene.id} for`, {
      place: opts.fieldsFile ? { file: opts.fieldsFile } : undefined,
      expected: "at least one field boundary (the farm's fields, registered before its scenes are processed)",
    });
  }
  const { placed, uncovered } = locateFields(fields, grid, opts.fieldsFile ?? 'fields');
  if (uncovered.length > 0 && (!opts.skipUncovered || placed.length === 0)) {
    throw uncoveredError(uncovered, grid, opts.fieldsFile ?? 'fields');
  }
  const { active, sources } = scene.derived
    ? derivedIndex(scene, opts.indices)
    : chooseIndices(scene, opts.indices);
  const zoning: ZoningOptions = { ...DEFAULT_ZONING, ...opts.zoning };
  const zoningIndex =
    opts.zoning?.index ?? (active.some((a) => a.def.id === 'ndvi') ? 'ndvi' : active[0]!.def.id);
  const zi = active.findIndex((a) => a.def.id === zoningIndex);
  if (zi < 0) {
    throw new HatakeError(
      'HATAKE_E_IMAGERY_BANDS',
      `cannot zone on ${zoningIndex}: it is not computed for this scene`,
      {
        expected: active.map((a) => a.def.id).join(' | '),
      },
    );
  }
  const { offset, scale } = scene.radiometry;
  const mask = scene.mask;
  const sclKeep = new Uint8Array(256);
  if (mask.kind === 'scl') for (const k of mask.keep) sclKeep[k] = 1;

  const writeMaps = opts.maps !== false;
  if (writeMaps) out.mkdir('maps');
  else out.mkdir('.');
  const files: string[] = [];
  if (writeMaps) {
    for (const a of active) {
      const rel = `maps/legend-${a.def.id}.png`;
      out.write(rel, await legendPng(`${a.def.name} — ${a.def.formula}`, a.def.display));
      files.push(rel);
    }
  }

  const byStart = placed.map((f, i) => ({ f, i })).sort((a, b) => a.f.win[1] - b.f.win[1] || a.i - b.i);
  const rowStart = byStart[0]!.f.win[1];
  const rowEnd = Math.max(...placed.map((f) => f.win[3]));
  // Strips aligned to the blocks of the full-resolution bands decode each block once.
  const blockRows = Math.max(...sources.filter((x) => x.factor === 1).map((x) => x.file.blockHeight), 1);
  const S = Math.max(1, opts.stripRows ?? (blockRows >= 64 && blockRows <= 1024 ? blockRows : 256));
  const fieldStats = new Map<number, FieldStats>();
  const zonesByOrder = new Map<number, ZoneFeature[]>();
  const toWgs = transformer(grid.crs);
  let next = 0;
  let open: FieldAcc[] = [];
  const px: PixelContext = {
    grid,
    active,
    offset,
    scale,
    nodata: sources.map((s) => s.nodata ?? NaN),
    mask: mask.kind,
    sclKeep,
    valid: scene.derived?.def.valid,
    outside: { count: 0, min: Infinity, max: -Infinity },
    refl: new Float64Array(sources.length),
    args: active.map((a) => Object.fromEntries(a.vars.map((v) => [v, 0]))),
    spans: [],
  };

  // The strips, planned up front so the next strip's blocks can be read and inflated (thread
  // pool) while this one is computed. A strip reads one window per field it crosses — the
  // field's columns, the strip's rows of the field — so only pixels a field can hold are copied
  // out of the blocks; a block that several fields share is decoded once (the strip's cache).
  type Read = { win: Window; data: Samples[]; maskData: Samples | undefined };
  type Plan = { rs: number; re: number; hit: PlacedField[] };
  const plans: Plan[] = [];
  for (let rs = Math.floor(rowStart / S) * S; rs < rowEnd; rs += S) {
    const re = Math.min(rowEnd, rs + S);
    plans.push({ rs, re, hit: placed.filter((f) => f.win[1] < re && f.win[3] > rs) });
  }
  const readPlan = async (p: Plan | undefined): Promise<Map<PlacedField, Read>> => {
    const cache = new BlockCache();
    const reads = await Promise.all(
      (p?.hit ?? []).map(async (f): Promise<Read> => {
        const win: Window = [f.win[0], Math.max(p!.rs, f.win[1]), f.win[2], Math.min(p!.re, f.win[3])];
        const [maskData, ...data] = await Promise.all([
          mask.kind === 'none' ? undefined : scene.read(mask.source as BandSource, win, cache),
          ...sources.map((src) => scene.read(src, win, cache)),
        ]);
        return { win, data: data as Samples[], maskData };
      }),
    );
    return new Map(reads.map((r, i) => [p!.hit[i]!, r]));
  };
  // Two strips read ahead: the blocks of one strip vary in how fast they inflate and the fields
  // finished in a strip vary in how long their zones take, so with one strip ahead the loop and
  // the thread pool took turns waiting for each other (about 2 s of 4 on a 10980² tile with 1,000
  // fields; 1 s with two ahead). Each strip ahead holds its blocks' windows (~20 MB on that tile).
  const ahead: Promise<Map<PlacedField, Read>>[] = [];
  const readAhead = (pi: number): void => {
    const r = readPlan(plans[pi]);
    r.catch(() => undefined); // awaited below; never an unhandled rejection if we stop early
    ahead.push(r);
  };
  for (let pi = 0; pi < READ_AHEAD; pi++) readAhead(pi);
  for (let pi = 0; pi < plans.length; pi++) {
    const { rs, re } = plans[pi]!;
    const got = await ahead.shift()!;
    readAhead(pi + READ_AHEAD);
    while (next < byStart.length && byStart[next]!.f.win[1] < re) {
      const { f, i } = byStart[next++]!;
      const w = f.win[2] - f.win[0];
      const h = f.win[3] - f.win[1];
      open.push({
        field: f,
        order: i,
        w,
        h,
        inField: new Uint8Array(w * h),
        valid: new Uint8Array(w * h),
        values: active.map(() => new Float32Array(w * h).fill(NaN)),
        // The field's pixels off the raster count as pixels without data; accumulate adds the rest.
        pixels: f.offRaster.pixels,
        validPixels: 0,
        areaM2: f.offRaster.areaM2,
      });
    }
    const inStrip = open.filter((a) => a.field.win[1] < re && a.field.win[3] > rs);
    for (const acc of inStrip) {
      const { win, data, maskData } = got.get(acc.field)!;
      accumulate(acc, win, data, maskData, px);
    }
    // Finish the fields the walk has passed.
    const done = open.filter((a) => a.field.win[3] <= re);
    open = open.filter((a) => a.field.win[3] > re);
    for (const acc of done) {
      const { stats, zones, maps } = await finishField(
        acc,
        scene,
        active,
        zi,
        zoning,
        zoningIndex,
        toWgs,
        out,
        writeMaps,
      );
      fieldStats.set(acc.order, stats);
      zonesByOrder.set(acc.order, zones);
      files.push(...maps);
    }
    opts.onProgress?.(Math.max(0, re - rowStart), rowEnd - rowStart);
  }

  const order = [...fieldStats.keys()].sort((a, b) => a - b);
  if (scene.derived && px.outside.count > 0 && order.every((o) => fieldStats.get(o)!.validPixels === 0)) {
    const { def, source } = scene.derived;
    const { count, min, max } = px.outside;
    throw new HatakeError(
      'HATAKE_E_IMAGERY_RADIOMETRY',
      `every value of the ${def.name} raster in the fields is outside ${def.name}'s valid range ${def.valid[0]} to ${def.valid[1]} (${count} pixels, ${round7(min)} to ${round7(max)} after scale ${scale} and offset ${offset})`,
      {
        place: { file: source.file.path },
        expected: `${def.name} values in ${def.valid[0]} to ${def.valid[1]}, or the scale they are stored with (e.g. 0.0001 for ${def.name} × 10000)`,
      },
    );
  }
  const stats: SceneStats = {
    schema: STATS_SCHEMA,
    scene: scene.info(),
    indices: active.map((a) => ({
      id: a.def.id,
      name: a.def.name,
      formula: scene.derived ? `${a.def.formula}, derived elsewhere and read as given` : a.def.formula,
      bands: a.pos.map((p) => sources[p]!.name),
    })),
    zoning: {
      index: zoningIndex,
      k: zoning.k === 'auto' ? `auto(3-5, gvf>=${zoning.gvf})` : String(zoning.k),
      minRegionPixels: zoning.minRegionPixels,
    },
    fields: Object.fromEntries(order.map((o) => [fieldStats.get(o)!.fieldId, fieldStats.get(o)!])),
  };
  const zones: ZoneCollection = {
    type: 'FeatureCollection',
    schema: ZONES_SCHEMA,
    features: order.flatMap((o) => zonesByOrder.get(o)!),
  };
  out.writeAtomic('stats.json', JSON.stringify(stats, null, 1));
  out.writeAtomic('zones.geojson', JSON.stringify(zones));
  files.push('stats.json', 'zones.geojson');
  const coverage: Record<string, number> = {};
  for (const o of order) {
    const f = placed[o]!;
    const total = fieldStats.get(o)!.pixels;
    coverage[f.id] = total > 0 ? round7((total - f.offRaster.pixels) / total) : 0;
  }
  return { stats, zones, files, uncovered, coverage };
}

/**
 * The output directory of one run, keeping what the run created — directories and files that were
 * not there before — so that a run that fails can remove them again. Files it overwrote stay
 * overwritten: their old contents are gone either way.
 */
class Output {
  private readonly root: string;
  private readonly createdDirs: string[] = [];
  private readonly createdFiles: string[] = [];

  constructor(root: string) {
    this.root = root;
  }

  mkdir(rel: string): void {
    const target = resolve(this.root, rel);
    const first = mkdirSync(target, { recursive: true });
    if (first === undefined) return;
    // mkdirSync made `first` and every directory below it on the way to `target`.
    const top = resolve(first);
    const made: string[] = [];
    for (let d = target; d.length >= top.length; d = dirname(d)) {
      made.push(d);
      if (d === top || dirname(d) === d) break;
    }
    this.createdDirs.push(...made.reverse());
  }

  write(rel: string, data: string | Uint8Array): void {
    const path = resolve(this.root, rel);
    if (!existsSync(path)) this.createdFiles.push(path);
    writeFileSync(path, data);
  }

  /** Written whole or not at all: a reader never sees half a file. */
  writeAtomic(rel: string, text: string): void {
    const path = resolve(this.root, rel);
    const fresh = !existsSync(path);
    this.createdFiles.push(`${path}.tmp`);
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
    if (fresh) this.createdFiles.push(path);
  }

  /** Removes what this run created (best effort: a directory that holds other files stays). */
  undo(): void {
    for (const f of this.createdFiles) {
      try {
        rmSync(f, { force: true });
      } catch {
        // left behind; the error that made us undo is the one to report
      }
    }
    for (const d of [...this.createdDirs].reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty (something else is in it) or gone already
      }
    }
  }
}

/** The values of the pixels in the field that have one (not NaN), in raster order. */
function valuesIn(inField: Uint8Array, vals: Float32Array): Float32Array {
  const n = vals.length;
  let cnt = 0;
  for (let i = 0; i < n; i++) if (inField[i] && !Number.isNaN(vals[i]!)) cnt++;
  const out = new Float32Array(cnt);
  for (let i = 0, j = 0; i < n; i++) if (inField[i] && !Number.isNaN(vals[i]!)) out[j++] = vals[i]!;
  return out;
}

/** A field's management zones: clusters of the zoning index, sieved, as polygons with statistics. */
function zoneFeatures(
  acc: FieldAcc,
  sortedZoneValues: Float32Array,
  scene: Scene,
  active: ActiveIndex[],
  zi: number,
  zoning: ZoningOptions,
  zoningIndex: string,
  toWgs: ReturnType<typeof transformer>,
  fieldP95: Record<string, number | null>,
): ZoneFeature[] {
  const { field: f, w, h } = acc;
  const grid = scene.grid;
  const n = w * h;
  const breaks = zoneBreaks(sortedZoneValues, zoning);
  const k = breaks.length + 1;
  const labels = new Uint8Array(n);
  const zv = acc.values[zi]!;
  for (let i = 0; i < n; i++) if (acc.inField[i] && !Number.isNaN(zv[i]!)) labels[i] = zoneOf(zv[i]!, breaks);
  sieve(labels, w, h, zoning.minRegionPixels);
  const polys = polygonize(labels, w, h);
  const totals = zoneTotals(acc, labels, k, grid);
  const byZone = active.map((_, kk) => valuesByZone(labels, acc.values[kk]!, k));
  const toLonLat = lonLatOfCorners(f, w, grid, toWgs);
  const features: ZoneFeature[] = [];
  for (let z = 1; z <= k; z++) {
    const pp = polys.get(z);
    if (!pp) continue;
    const pixels = totals.pixels[z]!;
    const zIdx: Record<string, IndexStats> = {};
    active.forEach((a, kk) => {
      zIdx[a.def.id] = indexStats(byZone[kk]![z]!, pixels);
    });
    features.push({
      type: 'Feature',
      id: `${f.id}/${z}`,
      geometry: {
        type: 'MultiPolygon',
        coordinates: pp.map((poly) => poly.map((ring) => ring.map(([x, y]) => toLonLat(x, y)))),
      },
      properties: {
        fieldId: f.id,
        sceneId: scene.id,
        acquired: scene.acquired,
        zone: z,
        k,
        zoningIndex,
        pixels,
        areaHa: round7(totals.areaM2[z]! / 1e4),
        validFraction: pixels > 0 ? round7(totals.valid[z]! / pixels) : 0,
        fieldValidFraction: acc.pixels > 0 ? round7(acc.validPixels / acc.pixels) : 0,
        fieldP95: { ...fieldP95 },
        indices: zIdx,
      },
    });
  }
  return features;
}

/** Pixels, area (summed in raster order) and valid pixels of each zone 1 … k. */
function zoneTotals(
  acc: FieldAcc,
  labels: Uint8Array,
  k: number,
  grid: Scene['grid'],
): { pixels: Int32Array; areaM2: Float64Array; valid: Int32Array } {
  const pixels = new Int32Array(k + 1);
  const valid = new Int32Array(k + 1);
  const areaM2 = new Float64Array(k + 1);
  for (let r = 0, i = 0; r < acc.h; r++) {
    const rowArea = pixelAreaM2(grid, r + acc.field.win[1]);
    for (let c = 0; c < acc.w; c++, i++) {
      const z = labels[i]!;
      if (z === 0) continue;
      pixels[z]++;
      areaM2[z] += rowArea;
      if (acc.valid[i]) valid[z]++;
    }
  }
  return { pixels, areaM2, valid };
}

/** For each zone 0 … k, the values (not NaN) of its pixels in raster order. */
function valuesByZone(labels: Uint8Array, vals: Float32Array, k: number): Float32Array[] {
  const n = labels.length;
  const cnt = new Int32Array(k + 1);
  for (let i = 0; i < n; i++) if (labels[i] !== 0 && !Number.isNaN(vals[i]!)) cnt[labels[i]!]++;
  const lists = Array.from(cnt, (c) => new Float32Array(c));
  const at = new Int32Array(k + 1);
  for (let i = 0; i < n; i++) {
    const z = labels[i]!;
    if (z !== 0 && !Number.isNaN(vals[i]!)) lists[z]![at[z]++] = vals[i]!;
  }
  return lists;
}

/**
 * Longitude/latitude (rounded to 1e-8°) of a field window's pixel corners; each corner is
 * projected once, as neighbouring zones' rings share them.
 */
function lonLatOfCorners(
  f: PlacedField,
  w: number,
  grid: Scene['grid'],
  toWgs: ReturnType<typeof transformer>,
): (x: number, y: number) => [number, number] {
  const done = new Map<number, [number, number]>();
  return (x, y) => {
    const key = y * (w + 1) + x;
    let ll = done.get(key);
    if (!ll) {
      const [lon, lat] = toWgs.toWgs84([
        grid.x0 + (x + f.win[0]) * grid.dx,
        grid.y0 - (y + f.win[1]) * grid.dy,
      ]);
      done.set(key, (ll = [Math.round(lon * 1e8) / 1e8, Math.round(lat * 1e8) / 1e8]));
    }
    return [ll[0], ll[1]];
  };
}

/** What the pixel loop needs, fixed for a run (plus its scratch arrays). */
interface PixelContext {
  grid: Scene['grid'];
  active: ActiveIndex[];
  offset: number;
  scale: number;
  /** No-data value of each band read (NaN: none). */
  nodata: number[];
  mask: Scene['mask']['kind'];
  /** SCL classes kept (1) when the mask is SCL. */
  sclKeep: Uint8Array;
  /** A derived index raster: its valid range (a value outside is no data), and what fell outside. */
  valid: readonly [number, number] | undefined;
  outside: { count: number; min: number; max: number };
  refl: Float64Array;
  /** Each index's formula inputs, reused from pixel to pixel. */
  args: Record<string, number>[];
  spans: number[];
}

/**
 * The pixels of one field inside one read window: marks them in the field, adds their area, and
 * for the ones the mask keeps with every band valid computes reflectances and indices.
 */
function accumulate(
  acc: FieldAcc,
  win: Window,
  data: readonly Samples[],
  maskData: Samples | undefined,
  px: PixelContext,
): void {
  const f = acc.field;
  const [cs, r0, ce, r1] = win;
  const ww = ce - cs;
  const { active, refl, spans, nodata, sclKeep, offset, scale, valid } = px;
  const scl = px.mask === 'scl';
  const bands = data.length;
  const fr0 = Math.max(r0, f.win[1]);
  const fr1 = Math.min(r1, f.win[3]);
  for (let row = fr0; row < fr1; row++) {
    if (rowSpans(f, row, spans) === 0) continue;
    const pxArea = pixelAreaM2(px.grid, row);
    for (let s = 0; s < spans.length; s += 2) {
      for (let c = spans[s]!; c < spans[s + 1]!; c++) {
        const di = (row - r0) * ww + (c - cs);
        const li = (row - f.win[1]) * acc.w + (c - f.win[0]);
        acc.inField[li] = 1;
        acc.pixels++;
        acc.areaM2 += pxArea;
        if (maskData) {
          const m = maskData[di]!;
          if (scl ? sclKeep[m] !== 1 : m !== 0) continue;
        }
        let ok = true;
        for (let b = 0; b < bands; b++) {
          const dn = data[b]![di]!;
          if (dn === nodata[b] || Number.isNaN(dn)) {
            ok = false;
            break;
          }
          refl[b] = (dn + offset) * scale;
        }
        if (!ok) continue;
        if (valid !== undefined) {
          const v = refl[0]!;
          // Beyond rounding (an integer-stored index read with its scale) only.
          if (!(v >= valid[0] - RANGE_SLACK && v <= valid[1] + RANGE_SLACK)) {
            const o = px.outside;
            o.count++;
            if (v < o.min) o.min = v;
            if (v > o.max) o.max = v;
            continue;
          }
        }
        acc.valid[li] = 1;
        acc.validPixels++;
        for (let k = 0; k < active.length; k++) {
          const a = active[k]!;
          const args = px.args[k]!;
          for (let v = 0; v < a.vars.length; v++) args[a.vars[v]!] = refl[a.pos[v]!]!;
          const x = a.compute(args);
          if (Number.isFinite(x)) acc.values[k]![li] = x;
        }
      }
    }
  }
}

/** The indices to compute from the scene's reflectance bands, and the bands they read. */
function chooseIndices(
  scene: Scene,
  wanted: readonly string[] | undefined,
): { active: ActiveIndex[]; sources: BandSource[] } {
  const has = (r: BandRole) => scene.sources.has(r) && r !== 'scl';
  const chosen: { def: IndexDef; vars: string[]; roleOf: BandRole[] }[] = [];
  const ids = wanted ?? INDICES.map((d) => d.id);
  for (const id of ids) {
    const def = knownIndex(id);
    const roles = resolveInputs(def, has);
    if (!roles) {
      if (wanted) {
        const need = Object.values(def.inputs)
          .map((rs) => rs.join(' or '))
          .join(', ');
        throw new HatakeError('HATAKE_E_IMAGERY_BANDS', `${def.name} needs ${need}; the scene lacks one`, {
          place: { file: scene.files[0]?.path },
          expected: `bands for ${need}`,
        });
      }
      continue;
    }
    const vars = Object.keys(def.inputs);
    chosen.push({ def, vars, roleOf: vars.map((v) => roles[v]!) });
  }
  const usedRoles = [...new Set(chosen.flatMap((c) => c.roleOf))];
  return {
    active: chosen.map(({ def, vars, roleOf }) => ({
      def,
      compute: def.compute,
      vars,
      pos: roleOf.map((r) => usedRoles.indexOf(r)),
    })),
    sources: usedRoles.map((r) => scene.sources.get(r)!),
  };
}

/** Values this close beyond an index's valid range still count as in it (rounding of a scale). */
const RANGE_SLACK = 1e-6;

/** A derived index raster: its one band is the index, read as given (no formula). */
function derivedIndex(
  scene: Scene,
  wanted: readonly string[] | undefined,
): { active: ActiveIndex[]; sources: BandSource[] } {
  const { def, source } = scene.derived!;
  for (const id of wanted ?? []) {
    if (knownIndex(id) !== def) {
      throw new HatakeError(
        'HATAKE_E_IMAGERY_BANDS',
        `the scene is a ${def.name} raster: ${knownIndex(id).name} cannot be computed from it`,
        { place: { file: source.file.path }, expected: def.id },
      );
    }
  }
  return {
    active: [{ def, compute: (v) => v.value!, vars: ['value'], pos: [0] }],
    sources: [source],
  };
}

function knownIndex(id: string): IndexDef {
  const def = INDICES.find((d) => d.id === id);
  if (!def) {
    throw new HatakeError('HATAKE_E_CONFIG', `unknown index "${id.slice(0, 32)}"`, {
      expected: INDICES.map((d) => d.id).join(' | '),
    });
  }
  return def;
}

/** A file-system-safe name for a field id (ids may hold any printable character). */
export function fileSafeId(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80);
  return safe === id ? safe : `${safe}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

async function finishField(
  acc: FieldAcc,
  scene: Scene,
  active: ActiveIndex[],
  zi: number,
  zoning: ZoningOptions,
  zoningIndex: string,
  toWgs: ReturnType<typeof transformer>,
  out: Output,
  writeMaps: boolean,
): Promise<{ stats: FieldStats; zones: ZoneFeature[]; maps: string[] }> {
  const { field: f, w, h } = acc;
  const grid = scene.grid;
  // The field's valid values of each index; indexStats sorts them in place.
  const sortedValues: Float32Array[] = [];
  const indices: Record<string, IndexStats> = {};
  active.forEach((a, k) => {
    const vals = valuesIn(acc.inField, acc.values[k]!);
    indices[a.def.id] = indexStats(vals, acc.pixels);
    sortedValues.push(vals);
  });
  // The field's exact 95th percentile of each index, carried by every zone: the virtual N-rich
  // reference a recommendation made from zones.geojson alone needs (AGRONOMY.md).
  const fieldP95: Record<string, number | null> = {};
  for (const [id, s] of Object.entries(indices)) fieldP95[id] = s.p95 ?? null;
  // Zones need enough valid pixels, whatever kept the others from being valid — a cloud, no data,
  // or the field's part beyond the raster: like a clouded field, a field the scene shows only part
  // of gets zones over what it shows and says how much that is (validFraction; fieldValidFraction
  // on every zone). A recommendation cuts the zones to the field and names the rest of it, as it
  // does for a cloud (edge/recommend/coverage.ts).
  const features =
    sortedValues[zi]!.length >= Math.max(10, zoning.minRegionPixels * 3)
      ? zoneFeatures(acc, sortedValues[zi]!, scene, active, zi, zoning, zoningIndex, toWgs, fieldP95)
      : [];
  const zoneCount = features.length;

  // Heatmaps.
  const maps: Record<string, MapImage> = {};
  const written: string[] = [];
  if (writeMaps) {
    const ll = lonLatOfCorners(f, w, grid, toWgs);
    const corners = [ll(0, 0), ll(w, 0), ll(w, h), ll(0, h)];
    const lons = corners.map((c) => c[0]);
    const lats = corners.map((c) => c[1]);
    const bounds: [number, number, number, number] = [
      Math.min(...lons),
      Math.min(...lats),
      Math.max(...lons),
      Math.max(...lats),
    ];
    const dir = fileSafeId(f.id);
    out.mkdir(`maps/${dir}`);
    for (let k = 0; k < active.length; k++) {
      const a = active[k]!;
      const rel = `maps/${dir}/${a.def.id}.png`;
      out.write(rel, await heatmapPng(acc.values[k]!, acc.inField, w, h, a.def.display));
      written.push(rel);
      maps[a.def.id] = {
        file: rel,
        legend: `maps/legend-${a.def.id}.png`,
        bounds,
        corners,
        range: [a.def.display[0], a.def.display[1]],
        width: w,
        height: h,
      };
    }
  }
  return {
    stats: {
      fieldId: f.id,
      pixels: acc.pixels,
      validPixels: acc.validPixels,
      validFraction: acc.pixels > 0 ? round7(acc.validPixels / acc.pixels) : 0,
      areaHa: round7(acc.areaM2 / 1e4),
      indices,
      zones: zoneCount,
      maps,
    },
    zones: features,
    maps: written,
  };
}
