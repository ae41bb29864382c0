// Processed imagery on the server: the sync applier for the 'imagery' kind (one row per scene and
// one per field of the scene, with the field's statistics and its management zones), the heatmap
// PNGs a gateway uploads beside them, and the queries the field map reads.
import { createHash } from 'node:crypto';
import type { ImageryResult } from '../../protocol/sync.ts';
import type { FieldStats, ZoneFeature } from '../../protocol/imagery.ts';
import type { FieldImagerySummary, FieldScene, MapLayer } from '../../protocol/views.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';
import type { ApplyContext } from '../sync-appliers.ts';
import type { IndexStat } from '../storage/types.ts';

export const MAX_MAP_PNG_BYTES = 4 * 1024 * 1024;
/** Map files are kept for a farm's newest scenes only; older scenes keep statistics and zones. */
export const MAX_MAP_SCENES_PER_FARM = 60;
/** Map files as edge/imagery writes them: maps/{field}/{index}.png and maps/legend-{index}.png. */
export const MAP_PATH_PATTERN = '^maps/(?:[a-z0-9_-]{1,100}/)?[a-z0-9_-]{1,64}\\.png$';
const MAP_PATH_RE = new RegExp(MAP_PATH_PATTERN);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function migrateImagery(db: Db): void {
  migrate(db, 'views', [
    `
    CREATE TABLE view_scenes (
      farm TEXT NOT NULL, scene TEXT NOT NULL, acquired INTEGER, received INTEGER NOT NULL,
      gateway TEXT NOT NULL, info TEXT NOT NULL, PRIMARY KEY (farm, scene)
    );
    CREATE TABLE view_field_scenes (
      farm TEXT NOT NULL, scene TEXT NOT NULL, field TEXT NOT NULL, acquired INTEGER, received INTEGER NOT NULL,
      stats TEXT NOT NULL, zones TEXT NOT NULL, PRIMARY KEY (farm, scene, field)
    );
    CREATE INDEX view_field_scenes_latest ON view_field_scenes (farm, field, acquired);
    CREATE TABLE view_map_files (
      farm TEXT NOT NULL, scene TEXT NOT NULL, path TEXT NOT NULL, png BLOB NOT NULL, sha256 TEXT NOT NULL,
      received INTEGER NOT NULL, PRIMARY KEY (farm, scene, path)
    );
    `,
  ]);
}

const timeOf = (iso: string | null | undefined): number | null => {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
};

/** Stores processed scenes; a resent result replaces the rows it wrote before (idempotent). */
export function applyImagery(ctx: ApplyContext, bodies: ImageryResult[]): void {
  const farm = ctx.gateway.farm;
  const scene = ctx.db.prepare(
    `INSERT INTO view_scenes (farm, scene, acquired, received, gateway, info) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (farm, scene) DO UPDATE SET acquired = excluded.acquired, received = excluded.received,
       gateway = excluded.gateway, info = excluded.info`,
  );
  const field = ctx.db.prepare(
    `INSERT INTO view_field_scenes (farm, scene, field, acquired, received, stats, zones) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (farm, scene, field) DO UPDATE SET acquired = excluded.acquired, received = excluded.received,
       stats = excluded.stats, zones = excluded.zones`,
  );
  for (const b of bodies) {
    const acquired = timeOf(b.acquired) ?? timeOf(b.stats.scene.acquired);
    const { fields, ...info } = b.stats;
    scene.run(farm, b.sceneId, acquired, ctx.now, ctx.gateway.id, JSON.stringify(info));
    for (const [fieldId, stats] of Object.entries(fields)) {
      const zones = b.zones.features.filter((z) => z.properties.fieldId === fieldId);
      field.run(farm, b.sceneId, fieldId, acquired, ctx.now, JSON.stringify(stats), JSON.stringify(zones));
      // The statistics as time series beside the readings — only with a known acquisition time,
      // which is their key (the receive time would make a resend a second point).
      if (acquired === null) continue;
      const at = { farm, field: fieldId, time: acquired, scene: b.sceneId };
      ctx.series.indexStats.push(...indexStatsOf(at, undefined, stats.indices));
      for (const z of zones) ctx.series.indexStats.push(...indexStatsOf(at, z.id, z.properties.indices));
    }
  }
}

/** One series row per index with statistics (an index no pixel was valid for has none). */
function indexStatsOf(
  at: { farm: string; field: string; time: number; scene: string },
  zone: string | undefined,
  indices: FieldStats['indices'],
): IndexStat[] {
  const out: IndexStat[] = [];
  for (const [index, s] of Object.entries(indices)) {
    if (s.mean === null || s.median === null || s.p10 === null || s.p90 === null || s.std === null) continue;
    out.push({
      ...at,
      ...(zone === undefined ? {} : { zone }),
      index,
      mean: s.mean,
      median: s.median,
      p10: s.p10,
      p90: s.p90,
      std: s.std,
      pixels: s.count,
      validFraction: s.validFraction,
    });
  }
  return out;
}

/**
 * Stores a heatmap or legend PNG a gateway uploaded for one of its farm's scenes. Bounded: the
 * files of all but the farm's `keepScenes` most recently uploaded scenes are deleted (their maps
 * then show the zones without a heatmap).
 */
export function putMapFile(
  db: Db,
  farm: string,
  scene: string,
  path: string,
  png: Buffer,
  now: number,
  keepScenes = MAX_MAP_SCENES_PER_FARM,
): void {
  if (!MAP_PATH_RE.test(path))
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `map path "${path.slice(0, 120)}" is not a map file`, {
      place: { pointer: '/path' },
      expected: 'maps/{field}/{index}.png or maps/legend-{index}.png',
    });
  if (png.length > MAX_MAP_PNG_BYTES)
    throw new HatakeError('HATAKE_E_PAYLOAD_SIZE', `map PNG of ${png.length} bytes`, {
      expected: `at most ${MAX_MAP_PNG_BYTES} bytes`,
    });
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE))
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'the body is not a PNG image', {
      expected: 'image/png',
    });
  db.prepare(
    `INSERT INTO view_map_files (farm, scene, path, png, sha256, received) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (farm, scene, path) DO UPDATE SET png = excluded.png, sha256 = excluded.sha256, received = excluded.received`,
  ).run(farm, scene, path, png, createHash('sha256').update(png).digest('hex'), now);
  db.prepare(
    `DELETE FROM view_map_files WHERE farm = ? AND scene NOT IN (
       SELECT scene FROM view_map_files WHERE farm = ? GROUP BY scene ORDER BY MAX(received) DESC, scene DESC LIMIT ?)`,
  ).run(farm, farm, keepScenes);
}

export function getMapFile(
  db: Db,
  farm: string,
  scene: string,
  path: string,
): { png: Buffer; sha256: string } | undefined {
  if (!MAP_PATH_RE.test(path)) return undefined;
  return db
    .prepare('SELECT png, sha256 FROM view_map_files WHERE farm = ? AND scene = ? AND path = ?')
    .get(farm, scene, path) as { png: Buffer; sha256: string } | undefined;
}

/** A stored scene of one field, as the field views read it (without its zones). */
interface FieldSceneRow {
  scene: string;
  field: string;
  acquired: number | null;
  received: number;
  stats: string;
}
const FIELD_SCENE_COLUMNS = 'scene, field, acquired, received, stats';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const ORDER = 'ORDER BY COALESCE(acquired, received) DESC, scene DESC';

/** The latest scene of every field of the given farms, keyed "farm/field". */
export function latestByField(db: Db, farms: readonly string[]): Map<string, FieldImagerySummary> {
  const out = new Map<string, FieldImagerySummary>();
  if (farms.length === 0) return out;
  const rows = db
    .prepare(
      `SELECT farm, scene, field, acquired, received, stats FROM view_field_scenes
       WHERE farm IN (${farms.map(() => '?').join(',')}) ${ORDER}`,
    )
    .all(...farms) as (FieldSceneRow & { farm: string })[];
  for (const r of rows) {
    const key = `${r.farm}/${r.field}`;
    if (out.has(key)) continue;
    const s = JSON.parse(r.stats) as FieldStats;
    out.set(key, {
      sceneId: r.scene,
      acquired: iso(r.acquired),
      ndvi: s.indices.ndvi?.mean ?? null,
      validFraction: s.validFraction,
    });
  }
  return out;
}

/**
 * Stored scenes of a field as the views show them: their statistics and one map layer per index,
 * pointing at the file route, each `available` only while the server holds its PNG (not uploaded
 * yet, or deleted with the maps of the farm's older scenes by putMapFile: the view then shows the
 * statistics without a heatmap).
 */
function toFieldScenes(db: Db, farm: string, rows: readonly FieldSceneRow[]): FieldScene[] {
  const have = db.prepare('SELECT 1 FROM view_map_files WHERE farm = ? AND scene = ? AND path = ?');
  return rows.map((r) => {
    const s = JSON.parse(r.stats) as FieldStats;
    const fileUrl = (path: string) =>
      `/api/v1/farms/${farm}/scenes/${encodeURIComponent(r.scene)}/file?path=${encodeURIComponent(path)}`;
    const maps: MapLayer[] = Object.entries(s.maps).map(([index, m]) => ({
      index,
      url: fileUrl(m.file),
      legendUrl: fileUrl(m.legend),
      bounds: m.bounds,
      range: m.range,
      available: have.get(farm, r.scene, m.file) !== undefined,
    }));
    return {
      sceneId: r.scene,
      acquired: iso(r.acquired),
      received: new Date(r.received).toISOString(),
      areaHa: s.areaHa,
      validFraction: s.validFraction,
      zoneCount: s.zones,
      indices: s.indices,
      maps,
    };
  });
}

/** A field's scenes, newest first, with map layers pointing at the file route. */
export function fieldScenes(db: Db, farm: string, field: string, limit = 50): FieldScene[] {
  const rows = db
    .prepare(
      `SELECT ${FIELD_SCENE_COLUMNS} FROM view_field_scenes WHERE farm = ? AND field = ? ${ORDER} LIMIT ?`,
    )
    .all(farm, field, limit) as FieldSceneRow[];
  return toFieldScenes(db, farm, rows);
}

/**
 * One scene of a field as fieldScenes gives it — also one older than the newest 50 — or undefined
 * when the scene is not held for the field.
 */
export function fieldScene(db: Db, farm: string, field: string, scene: string): FieldScene | undefined {
  const row = db
    .prepare(
      `SELECT ${FIELD_SCENE_COLUMNS} FROM view_field_scenes WHERE farm = ? AND field = ? AND scene = ?`,
    )
    .get(farm, field, scene) as FieldSceneRow | undefined;
  return row ? toFieldScenes(db, farm, [row])[0] : undefined;
}

/** A field's management zones of one scene, or undefined when the scene is not held for it. */
export function fieldZones(db: Db, farm: string, field: string, scene: string): ZoneFeature[] | undefined {
  const row = db
    .prepare('SELECT zones FROM view_field_scenes WHERE farm = ? AND field = ? AND scene = ?')
    .get(farm, field, scene) as { zones: string } | undefined;
  return row ? (JSON.parse(row.zones) as ZoneFeature[]) : undefined;
}
