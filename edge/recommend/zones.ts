// Reads the zones a recommendation is made from: the imagery part's zones.geojson (or any
// FeatureCollection with the same per-zone properties), checked and normalised — one field's
// zones (a scene's zones.geojson holds every field's: the caller names one), one MultiPolygon per
// zone, its index statistics, valid fraction, area and scene, and the field's 95th percentiles.
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
  /**
   * The field's exact 95th percentile of each index (the zones' `fieldP95`), for the indices the
   * zones carry it for; empty for zones written before it existed.
   */
  fieldP95: Record<string, number>;
}

const finite = (ring: number[][]) => ring.every((p) => p.length === 2 && p.every(Number.isFinite));

/** Up to 10 field ids, quoted and cut short, for a message. */
function listFields(ids: string[]): string {
  const shown = ids.slice(0, 10).map((id) => JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id));
  return `${shown.join(', ')}${ids.length > 10 ? ` and ${ids.length - 10} more` : ''}`;
}

/**
 * Validates a zones FeatureCollection (parsed JSON) and normalises the zones of one field. A file
 * may hold the zones of several fields (the imagery part writes one zones.geojson per scene):
 * `field` picks that field's features; without it, a file of several fields is refused with the
 * fields it holds. Features that name no field belong to the file's only field (or to `field`
 * when no feature names one).
 */
export function readZones(json: unknown, what = 'zones', field?: string): Zones {
  const fc = zonesValidator.parse(json, what, 'HATAKE_E_PAYLOAD_SCHEMA');
  const bad = (pointer: string, message: string, expected?: string) =>
    new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `${what}: ${message}`, { place: { pointer }, expected });
  const named = [
    ...new Set(fc.features.flatMap((f) => (f.properties.fieldId ? [f.properties.fieldId] : []))),
  ];
  if (named.length > 1) {
    if (field === undefined)
      throw bad(
        '/features',
        `zones of ${named.length} fields in one file (${listFields(named)}): name the field (--field)`,
        `--field and one of ${listFields(named)}`,
      );
    const unnamed = fc.features.findIndex((f) => !f.properties.fieldId);
    if (unnamed >= 0)
      throw bad(
        `/features/${unnamed}/properties`,
        `feature ${unnamed} names no field while the file holds zones of ${named.length} fields`,
        'a fieldId on every zone',
      );
  }
  if (field !== undefined && named.length > 0 && !named.includes(field))
    throw bad(
      '/features',
      `no zones of field ${JSON.stringify(field.slice(0, 200))}: the file holds zones of ${listFields(named)}`,
      `--field and one of ${listFields(named)}`,
    );
  const selected = fc.features
    .map((f, k) => ({ f, k }))
    .filter(({ f }) => named.length <= 1 || f.properties.fieldId === field);

  const ids = new Set<string>();
  const scenes = new Set<string>();
  const zones: ZoneData[] = [];
  const geometry: MultiPolygonGeometry[] = [];
  const fieldP95: Record<string, number> = {};
  const p95From = new Map<string, number>(); // index → the feature its fieldP95 came from
  for (const { f, k } of selected) {
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
    // The field's p95 is one value per index: every zone that carries it must agree.
    for (const [idx, v] of Object.entries(p.fieldP95 ?? {})) {
      if (typeof v !== 'number') continue;
      if (!Number.isFinite(v)) throw bad(`/features/${k}/properties/fieldP95/${idx}`, 'not a finite number');
      const was = fieldP95[idx];
      if (was !== undefined && was !== v)
        throw bad(
          `/features/${k}/properties/fieldP95/${idx}`,
          `the field's 95th percentile of ${idx} is ${v} here but ${was} in feature ${p95From.get(idx)}`,
          'the same fieldP95 on every zone of a field',
        );
      fieldP95[idx] = v;
      p95From.set(idx, k);
    }
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
  }
  if (scenes.size > 1)
    throw bad('/features', `zones from ${scenes.size} scenes in one file`, 'zones of one scene');
  const acq = zones.map((z) => z.acquired).find((t) => t !== null) ?? null;
  return {
    fieldId: named.length > 1 ? field! : (named[0] ?? null),
    sceneId: [...scenes][0] ?? null,
    acquired: acq,
    zones,
    geometry,
    fieldP95,
  };
}
