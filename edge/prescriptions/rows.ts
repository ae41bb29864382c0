// The per-zone rows every prescription format is written from: the applied rate (the officer's
// edit when there is one), the product and the zone's polygon; and, when the recommendation knows
// its field (`coverage`), the row of the part of the field no zone covers — cloud or shadow over
// the scene, or the strip along the boundary no pixel centre falls in — at the default rate, so a
// prescription covers the whole field and nothing past it.
import { HatakeError } from '../../protocol/errors.ts';
import { validator } from '../../protocol/validate.ts';
import {
  defaultRate,
  effectiveRate,
  Recommendation,
  type MultiPolygonGeometry,
} from '../../protocol/recommendation.ts';

const recValidator = validator(Recommendation);

export interface PrescriptionRow {
  id: string;
  zone: number;
  areaHa: number;
  kgNHa: number;
  productKgHa: number;
  geometry: MultiPolygonGeometry;
}

/** Checks a parsed recommendation document; throws HATAKE_E_PRESCRIPTION naming the first problem. */
export function readRecommendation(json: unknown, what = 'recommendation'): Recommendation {
  return recValidator.parse(json, what, 'HATAKE_E_PRESCRIPTION');
}

/** Refuses to make a prescription from a rejected or superseded recommendation. */
export function prescriptionRows(rec: Recommendation): PrescriptionRow[] {
  if (rec.status === 'rejected' || rec.status === 'superseded')
    throw new HatakeError('HATAKE_E_PRESCRIPTION', `recommendation ${rec.id} is ${rec.status}`, {
      expected: 'a pending, edited or approved recommendation',
    });
  return rec.zones.map((z) => ({
    id: z.id,
    zone: z.zone,
    areaHa: z.areaHa,
    ...effectiveRate(z),
    geometry: z.geometry,
  }));
}

/** A value rounded to `d` decimals: what a file shows, without binary noise (11.959999999999999). */
export const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** A per-hectare amount per 10 a (1 ha = 10 × 10 a), as the files write it. */
export const per10a = (perHa: number) => round(perHa / 10, 4);

/**
 * The ZONE number and id of the default row: no imagery zone is numbered 0 (they start at 1), so
 * a terminal's rate table shows it apart from the zones; its id reads "default" where a file has
 * one (GeoJSON, CSV).
 */
export const DEFAULT_ZONE = 0;
export const DEFAULT_ID = 'default';

/**
 * The part of the field no zone covers, at the default rate (defaultRate: the zones' area-weighted
 * mean rates after the officer's edits, product to 0.01 kg/ha as ISOXML's mg/m² holds). Null for a recommendation without `coverage` (made without
 * the field's boundary, or before it existed) and when the zones cover the whole field.
 */
export function defaultRow(rec: Recommendation): PrescriptionRow | null {
  const c = rec.coverage;
  if (!c?.uncovered || c.uncoveredAreaHa <= 0) return null;
  // The zones' means at their effective rates, as the farmer's totals count them (spreadTotals).
  return {
    id: DEFAULT_ID,
    zone: DEFAULT_ZONE,
    areaHa: c.uncoveredAreaHa,
    ...defaultRate(rec.zones),
    geometry: c.uncovered,
  };
}

/** Every row a file holds: the zones, then the default row when there is one. */
export function allRows(rec: Recommendation): PrescriptionRow[] {
  const rows = prescriptionRows(rec);
  const d = defaultRow(rec);
  return d ? [...rows, d] : rows;
}
