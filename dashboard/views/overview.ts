// The region overview an extension officer opens first: every field they can see by its latest
// NDVI (lowest first: where to look), and every farm with how fresh its data is, so a farm whose
// gateway or sensors went quiet stands out, and how many of its recommendations wait for review.
import type { RegionOverview } from '../../protocol/views.ts';
import { OPEN_REVIEW_STATUSES as OPEN } from '../../protocol/recommendation.ts';
import type { Catalogue } from '../../firmware-config/catalogue.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { HOUR_MS } from '../storage/types.ts';
import { latestByField } from './imagery.ts';
import { inList } from './access.ts';

/** A device is silent after this many missed reporting intervals. */
export const SILENT_INTERVALS = 3;
/** A farm is stale when nothing arrived for this long. */
export const STALE_FARM_MS = HOUR_MS;
const DEFAULT_INTERVAL_S = 300;

/** The reporting interval of a kit in ms (the catalogue's, 5 minutes when unknown). */
export function intervalMs(catalogue: Catalogue, kit: string | null): number {
  const k = kit ? catalogue.get(kit) : undefined;
  return (k?.interval ?? DEFAULT_INTERVAL_S) * 1000;
}

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

/**
 * The overview of `farms` (the caller's visible farms). `reviewFarms` are those whose
 * recommendations the caller reviews — the review queue's farms (`Access.reviewFarms`: an officer's
 * regions, every farm for an admin); the others get `pendingReviews: null`. Counted here in full:
 * the queue's answer is a page (200 items by default), too short to count from.
 */
export function regionOverview(
  db: Db,
  catalogue: Catalogue,
  farms: readonly string[],
  now: number,
  reviewFarms: readonly string[] = farms,
): RegionOverview {
  if (farms.length === 0) return { fields: [], farms: [] };
  const farmRows = db
    .prepare(`SELECT id, name, region FROM farms WHERE id IN (${inList(farms.length)}) ORDER BY id`)
    .all(...farms) as { id: string; name: string; region: string | null }[];
  const names = new Map(farmRows.map((f) => [f.id, f.name]));
  const fieldRows = db
    .prepare(
      `SELECT farm, id, name, crop FROM fields WHERE farm IN (${inList(farms.length)}) ORDER BY farm, id`,
    )
    .all(...farms) as { farm: string; id: string; name: string; crop: string | null }[];
  const latest = latestByField(db, farms);
  const fields = fieldRows
    .map((f) => {
      const l = latest.get(`${f.farm}/${f.id}`);
      return {
        farm: f.farm,
        farmName: names.get(f.farm) ?? f.farm,
        field: f.id,
        name: f.name,
        crop: f.crop,
        ndvi: l?.ndvi ?? null,
        acquired: l?.acquired ?? null,
        sceneId: l?.sceneId ?? null,
      };
    })
    .sort((a, b) => (a.ndvi ?? Infinity) - (b.ndvi ?? Infinity) || a.farm.localeCompare(b.farm));
  const devices = db
    .prepare(`SELECT farm, kit, last_seen FROM devices WHERE farm IN (${inList(farms.length)})`)
    .all(...farms) as { farm: string; kit: string | null; last_seen: number | null }[];
  const syncs = db
    .prepare(
      `SELECT farm, MAX(last_sync) AS last_sync FROM gateways WHERE farm IN (${inList(farms.length)}) AND revoked IS NULL GROUP BY farm`,
    )
    .all(...farms) as { farm: string; last_sync: number | null }[];
  const lastSync = new Map(syncs.map((s) => [s.farm, s.last_sync]));
  const reviewed = farms.filter((f) => reviewFarms.includes(f));
  const pending = new Map(
    reviewed.length === 0
      ? []
      : (
          db
            .prepare(
              `SELECT farm, COUNT(*) AS n FROM review_recommendations
               WHERE farm IN (${inList(reviewed.length)}) AND status IN (${inList(OPEN.length)}) GROUP BY farm`,
            )
            .all(...reviewed, ...OPEN) as { farm: string; n: number }[]
        ).map((r) => [r.farm, r.n]),
  );
  return {
    fields,
    farms: farmRows.map((f) => {
      const own = devices.filter((d) => d.farm === f.id);
      const lastData = Math.max(0, ...own.map((d) => d.last_seen ?? 0));
      const silent = own.filter(
        (d) => d.last_seen === null || now - d.last_seen > SILENT_INTERVALS * intervalMs(catalogue, d.kit),
      ).length;
      return {
        id: f.id,
        name: f.name,
        region: f.region,
        lastData: iso(lastData),
        lastSync: iso(lastSync.get(f.id)),
        devices: own.length,
        silentDevices: silent,
        stale: lastData === 0 || now - lastData > STALE_FARM_MS || silent > 0,
        pendingReviews: reviewed.includes(f.id) ? (pending.get(f.id) ?? 0) : null,
      };
    }),
  };
}
