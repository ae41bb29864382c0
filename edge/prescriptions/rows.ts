// The per-zone rows every prescription format is written from: the applied rate (the officer's
// edit when there is one), the product and the zone's polygon.
import { HatakeError } from '../../protocol/errors.ts';
import { validator } from '../../protocol/validate.ts';
import { effectiveRate, Recommendation, type MultiPolygonGeometry } from '../../protocol/recommendation.ts';

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

/** The area-weighted mean product rate (kg/ha): the default where a terminal has no zone. */
export function meanProductRate(rows: PrescriptionRow[]): number {
  const area = rows.reduce((s, r) => s + r.areaHa, 0);
  return area > 0 ? rows.reduce((s, r) => s + r.productKgHa * r.areaHa, 0) / area : 0;
}
