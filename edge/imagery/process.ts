// Processing a scene for a set of fields, in bounded memory: the grid is walked in horizontal
// strips; each strip reads only the columns its fields span (windowed reads of tiles/strips),
// computes reflectances and indices for the pixels whose centres lie in a field, and a field is
// finished — statistics, management zones, polygons, heatmaps — as soon as the walk has passed
// its last row, so memory holds one strip plus the fields that cross it. Writes stats.json,
// zones.geojson and maps/ under the output directory.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
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
import { INDICES, resolveInputs, type IndexDef } from './indices.ts';
import { placeFields, rowSpans, pixelAreaM2, type FieldInput, type PlacedField } from './fields.ts';
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
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface ProcessResult {
  stats: SceneStats;
  zones: ZoneCollection;
  /** Files written, relative to outDir. */
  files: string[];
}

interface ActiveIndex {
  def: IndexDef;
  /** Formula variable → band role. */
  roles: Record<string, BandRole>;
  vars: string[];
  roleOf: BandRole[];
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
  pixels: number;
  validPixels: number;
  areaM2: number;
}

/** Processes a scene for fields and writes stats.json, zones.geojson and maps/ to outDir. */
export async function processScene(
  scene: Scene,
  fields: readonly FieldInput[],
  opts: ProcessOptions,
): Promise<ProcessResult> {
  const grid = scene.grid;
  const placed = placeFields(fields, grid, opts.fieldsFile ?? 'fields');
  const active = chooseIndices(scene, opts.indices);
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
  const usedRoles = [...new Set(active.flatMap((a) => a.roleOf))];
  for (const a of active) a.pos = a.roleOf.map((r) => usedRoles.indexOf(r));
  const sources = usedRoles.map((r) => scene.sources.get(r)!);
  const { offset, scale } = scene.radiometry;
  const mask = scene.mask;
  const sclKeep = new Uint8Array(256);
  if (mask.kind === 'scl') for (const k of mask.keep) sclKeep[k] = 1;

  mkdirSync(join(opts.outDir, 'maps'), { recursive: true });
  const writeMaps = opts.maps !== false;
  const files: string[] = [];
  if (writeMaps) {
    for (const a of active) {
      const rel = `maps/legend-${a.def.id}.png`;
      writeFileSync(
        join(opts.outDir, rel),
        await legendPng(`${a.def.name} — ${a.def.formula}`, a.def.display),
      );
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
  const zoneFeatures = new Map<number, ZoneFeature[]>();
  const toWgs = transformer(grid.crs);
  let next = 0;
  let open: FieldAcc[] = [];
  const spans: number[] = [];
  const tmp: Record<string, number> = {};
  const refl = new Float64Array(usedRoles.length);
  const nod = sources.map((s) => s.nodata);

  // The strips and the window each reads, planned up front so the next strip's blocks can be
  // read and inflated (thread pool) while this one is computed.
  type Plan = { rs: number; re: number; win?: readonly [number, number, number, number] };
  const plans: Plan[] = [];
  for (let rs = Math.floor(rowStart / S) * S; rs < rowEnd; rs += S) {
    const re = Math.min(rowEnd, rs + S);
    const hit = placed.filter((f) => f.win[1] < re && f.win[3] > rs);
    if (hit.length === 0) {
      plans.push({ rs, re });
      continue;
    }
    const cs = Math.min(...hit.map((f) => f.win[0]));
    const ce = Math.max(...hit.map((f) => f.win[2]));
    const r0 = Math.max(rs, Math.min(...hit.map((f) => f.win[1])));
    const r1 = Math.min(re, Math.max(...hit.map((f) => f.win[3])));
    plans.push({ rs, re, win: [cs, r0, ce, r1] });
  }
  const readPlan = async (p: Plan | undefined) =>
    p?.win
      ? {
          data: await Promise.all(sources.map((src) => scene.read(src, p.win!))),
          maskData: mask.kind === 'none' ? undefined : await scene.read(mask.source as BandSource, p.win),
        }
      : undefined;
  let pending = readPlan(plans[0]);
  pending.catch(() => undefined); // awaited below; never an unhandled rejection if we stop early
  for (let pi = 0; pi < plans.length; pi++) {
    const { rs, re, win: planned } = plans[pi]!;
    const got = await pending;
    pending = readPlan(plans[pi + 1]);
    pending.catch(() => undefined);
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
        pixels: 0,
        validPixels: 0,
        areaM2: 0,
      });
    }
    const inStrip = open.filter((a) => a.field.win[1] < re && a.field.win[3] > rs);
    if (inStrip.length > 0 && planned && got) {
      const [cs, r0, , r1] = planned;
      const ww = planned[2] - cs;
      const { data, maskData } = got;
      for (const acc of inStrip) {
        const f = acc.field;
        const fr0 = Math.max(r0, f.win[1]);
        const fr1 = Math.min(r1, f.win[3]);
        for (let row = fr0; row < fr1; row++) {
          if (rowSpans(f, row, spans) === 0) continue;
          const pxArea = pixelAreaM2(grid, row);
          for (let s = 0; s < spans.length; s += 2) {
            for (let c = spans[s]!; c < spans[s + 1]!; c++) {
              const di = (row - r0) * ww + (c - cs);
              const li = (row - f.win[1]) * acc.w + (c - f.win[0]);
              acc.inField[li] = 1;
              acc.pixels++;
              acc.areaM2 += pxArea;
              if (maskData) {
                const m = maskData[di]!;
                if (mask.kind === 'scl' ? sclKeep[m] !== 1 : m !== 0) continue;
              }
              let ok = true;
              for (let b = 0; b < data.length; b++) {
                const dn = data[b]![di]!;
                if (dn === nod[b] || Number.isNaN(dn)) {
                  ok = false;
                  break;
                }
                refl[b] = (dn + offset) * scale;
              }
              if (!ok) continue;
              acc.valid[li] = 1;
              acc.validPixels++;
              for (let k = 0; k < active.length; k++) {
                const a = active[k]!;
                for (let v = 0; v < a.vars.length; v++) tmp[a.vars[v]!] = refl[a.pos[v]!]!;
                const x = a.def.compute(tmp);
                if (Number.isFinite(x)) acc.values[k]![li] = x;
              }
            }
          }
        }
      }
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
        opts.outDir,
        writeMaps,
      );
      fieldStats.set(acc.order, stats);
      zoneFeatures.set(acc.order, zones);
      files.push(...maps);
    }
    opts.onProgress?.(Math.max(0, re - rowStart), rowEnd - rowStart);
  }

  const order = [...fieldStats.keys()].sort((a, b) => a - b);
  const stats: SceneStats = {
    schema: STATS_SCHEMA,
    scene: scene.info(),
    indices: active.map((a) => ({
      id: a.def.id,
      name: a.def.name,
      formula: a.def.formula,
      bands: a.vars.map((v) => scene.sources.get(a.roles[v]!)!.name),
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
    features: order.flatMap((o) => zoneFeatures.get(o)!),
  };
  writeAtomic(join(opts.outDir, 'stats.json'), JSON.stringify(stats, null, 1));
  writeAtomic(join(opts.outDir, 'zones.geojson'), JSON.stringify(zones));
  files.push('stats.json', 'zones.geojson');
  return { stats, zones, files };
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function chooseIndices(scene: Scene, wanted: readonly string[] | undefined): ActiveIndex[] {
  const has = (r: BandRole) => scene.sources.has(r) && r !== 'scl';
  const out: ActiveIndex[] = [];
  const ids = wanted ?? INDICES.map((d) => d.id);
  for (const id of ids) {
    const def = INDICES.find((d) => d.id === id);
    if (!def) {
      throw new HatakeError('HATAKE_E_CONFIG', `unknown index "${id.slice(0, 32)}"`, {
        expected: INDICES.map((d) => d.id).join(' | '),
      });
    }
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
    out.push({ def, roles, vars, roleOf: vars.map((v) => roles[v]!), pos: [] });
  }
  return out;
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
  outDir: string,
  writeMaps: boolean,
): Promise<{ stats: FieldStats; zones: ZoneFeature[]; maps: string[] }> {
  const { field: f, w, h } = acc;
  const grid = scene.grid;
  const n = w * h;
  const collect = (k: number, keep: (i: number) => boolean): Float32Array => {
    const vals = acc.values[k]!;
    let cnt = 0;
    for (let i = 0; i < n; i++) if (acc.inField[i] && !Number.isNaN(vals[i]!) && keep(i)) cnt++;
    const out = new Float32Array(cnt);
    let j = 0;
    for (let i = 0; i < n; i++) if (acc.inField[i] && !Number.isNaN(vals[i]!) && keep(i)) out[j++] = vals[i]!;
    return out;
  };
  const indices: Record<string, IndexStats> = {};
  active.forEach((a, k) => {
    indices[a.def.id] = indexStats(
      collect(k, () => true),
      acc.pixels,
    );
  });

  // Zones on the zoning index.
  const labels = new Uint8Array(n);
  const zoneVals = collect(zi, () => true);
  let features: ZoneFeature[] = [];
  let zoneCount = 0;
  if (zoneVals.length >= Math.max(10, zoning.minRegionPixels * 3)) {
    zoneVals.sort();
    const breaks = zoneBreaks(zoneVals, zoning);
    const k = breaks.length + 1;
    const zv = acc.values[zi]!;
    for (let i = 0; i < n; i++)
      if (acc.inField[i] && !Number.isNaN(zv[i]!)) labels[i] = zoneOf(zv[i]!, breaks);
    sieve(labels, w, h, zoning.minRegionPixels);
    const polys = polygonize(labels, w, h);
    const rowArea = (r: number) => pixelAreaM2(grid, r + f.win[1]);
    for (let z = 1; z <= k; z++) {
      const pp = polys.get(z);
      if (!pp) continue;
      let pixels = 0;
      let area = 0;
      let valid = 0;
      for (let i = 0; i < n; i++) {
        if (labels[i] !== z) continue;
        pixels++;
        area += rowArea(Math.floor(i / w));
        if (acc.valid[i]) valid++;
      }
      const zIdx: Record<string, IndexStats> = {};
      active.forEach((a, kk) => {
        zIdx[a.def.id] = indexStats(
          collect(kk, (i) => labels[i] === z),
          pixels,
        );
      });
      const toLonLat = (x: number, y: number): [number, number] => {
        const [lon, lat] = toWgs.toWgs84([
          grid.x0 + (x + f.win[0]) * grid.dx,
          grid.y0 - (y + f.win[1]) * grid.dy,
        ]);
        return [Math.round(lon * 1e8) / 1e8, Math.round(lat * 1e8) / 1e8];
      };
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
          areaHa: round7(area / 1e4),
          validFraction: pixels > 0 ? round7(valid / pixels) : 0,
          fieldValidFraction: acc.pixels > 0 ? round7(acc.validPixels / acc.pixels) : 0,
          indices: zIdx,
        },
      });
    }
    zoneCount = features.length;
  } else {
    features = [];
  }

  // Heatmaps.
  const maps: Record<string, MapImage> = {};
  const written: string[] = [];
  if (writeMaps) {
    const corner = (c: number, r: number) => toWgs.toWgs84([grid.x0 + c * grid.dx, grid.y0 - r * grid.dy]);
    const corners = [
      corner(f.win[0], f.win[1]),
      corner(f.win[2], f.win[1]),
      corner(f.win[2], f.win[3]),
      corner(f.win[0], f.win[3]),
    ].map(([lon, lat]) => [Math.round(lon * 1e8) / 1e8, Math.round(lat * 1e8) / 1e8] as [number, number]);
    const lons = corners.map((c) => c[0]);
    const lats = corners.map((c) => c[1]);
    const bounds: [number, number, number, number] = [
      Math.min(...lons),
      Math.min(...lats),
      Math.max(...lons),
      Math.max(...lats),
    ];
    const dir = fileSafeId(f.id);
    mkdirSync(join(outDir, 'maps', dir), { recursive: true });
    for (let k = 0; k < active.length; k++) {
      const a = active[k]!;
      const rel = `maps/${dir}/${a.def.id}.png`;
      writeFileSync(join(outDir, rel), await heatmapPng(acc.values[k]!, acc.inField, w, h, a.def.display));
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
