// Reads the zones a recommendation is made from: the imagery part's zones.geojson (or any
// FeatureCollection with the same per-zone properties), checked and normalised — one
// MultiPolygon per zone, its index statistics, valid fraction, area and scene.
import { HatakeError } from '../../protocol/errors.ts';
import { validator } from '../../protocol/validate.ts';
import { ZoneInputCollection, type MultiPolygonGeometry } from '../../protocol/recommendation.ts';
import type { ZoneData } from '../inference/inputs.ts';

const zonesValidator = validator(ZoneInputCollection);

export interface Zones {
  fieldId: string | null;
  sceneId: string | null;
  /** Acquisition time, UTC epoch ms. */
  acquired: number | null;
  zones: ZoneData[];
  geometry: MultiPolygonGeometry[];
}

const finite = (ring: number[][]) => ring.every((p) => p.length === 2 && p.every(Number.isFinite));

/** Validates a zones FeatureCollection (parsed JSON) and normalises it. */
export function readZones(json: unknown, what = 'zones'): Zones {
  const fc = zonesValidator.parse(json, what, 'HATAKE_E_PAYLOAD_SCHEMA');
  const bad = (pointer: string, message: string, expected?: string) =>
    new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `${what}: ${message}`, { place: { pointer }, expected });
  const ids = new Set<string>();
  const fields = new Set<string>();
  const scenes = new Set<string>();
  const zones: ZoneData[] = [];
  const geometry: MultiPolygonGeometry[] = [];
  fc.features.forEach((f, k) => {
    const p = f.properties;
    const id = String(f.id ?? p.zone);
    if (ids.has(id)) throw bad(`/features/${k}/id`, `zone id "${id}" appears twice`);
    ids.add(id);
    const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
    for (const poly of polys) {
      for (const ring of poly) {
        if (!finite(ring))
          throw bad(`/features/${k}/geometry`, 'a coordinate is not a finite [lon, lat] pair');
        if (ring.some(([x, y]) => Math.abs(x!) > 180 || Math.abs(y!) > 90))
          throw bad(
            `/features/${k}/geometry`,
            'coordinates are not WGS84 longitude/latitude',
            'RFC 7946 GeoJSON in EPSG:4326',
          );
        const [a, b] = [ring[0]!, ring[ring.length - 1]!];
        if (a[0] !== b[0] || a[1] !== b[1]) throw bad(`/features/${k}/geometry`, 'a ring is not closed');
      }
    }
    if (p.fieldId) fields.add(p.fieldId);
    if (p.sceneId) scenes.add(p.sceneId);
    const acquired = p.acquired ? Date.parse(p.acquired) : null;
    zones.push({
      id,
      zone: p.zone,
      areaHa: p.areaHa,
      validFraction: p.validFraction,
      indices: p.indices,
      attributes: p.attributes ?? {},
      acquired,
      sceneId: p.sceneId ?? null,
    });
    geometry.push({ type: 'MultiPolygon', coordinates: polys });
  });
  if (fields.size > 1)
    throw bad('/features', `zones of ${fields.size} fields in one file`, 'the zones of one field');
  if (scenes.size > 1)
    throw bad('/features', `zones from ${scenes.size} scenes in one file`, 'zones of one scene');
  const acq = zones.map((z) => z.acquired).find((t) => t !== null) ?? null;
  return { fieldId: [...fields][0] ?? null, sceneId: [...scenes][0] ?? null, acquired: acq, zones, geometry };
}
