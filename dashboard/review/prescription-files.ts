// Prescription downloads of an approved recommendation, in the four formats edge/prescriptions
// writes (with the officer's edited rates, which `effectiveRate` gives every format): the bytes,
// the content type and a file name safe in a Content-Disposition header on any OS.
import type { Recommendation } from '../../protocol/recommendation.ts';
import type { PrescriptionFormat } from '../../protocol/review.ts';
import { toIsoxmlZip } from '../../edge/prescriptions/isoxml.ts';
import { toShapefileZip } from '../../edge/prescriptions/shapefile.ts';
import { toGeoJson } from '../../edge/prescriptions/geojson.ts';
import { toCsv } from '../../edge/prescriptions/csv.ts';

export interface PrescriptionFile {
  body: Buffer;
  contentType: string;
  fileName: string;
}

/** A name made only of [A-Za-z0-9._-], without leading dots, at most 120 characters. */
export function safeFileName(s: string): string {
  const cleaned = s
    .normalize('NFKC')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 120);
  return cleaned || 'prescription';
}

/** The prescription file of a recommendation in one format. */
export async function prescriptionFile(
  rec: Recommendation,
  format: PrescriptionFormat,
): Promise<PrescriptionFile> {
  const base = safeFileName(`${rec.field}-${rec.id}`);
  switch (format) {
    case 'isoxml':
      return {
        body: Buffer.from(await toIsoxmlZip(rec)),
        contentType: 'application/zip',
        fileName: `${base}-isoxml.zip`,
      };
    case 'shp':
      return {
        body: Buffer.from(await toShapefileZip(rec)),
        contentType: 'application/zip',
        fileName: `${base}-shp.zip`,
      };
    case 'geojson':
      return {
        body: Buffer.from(toGeoJson(rec)),
        contentType: 'application/geo+json; charset=utf-8',
        fileName: `${base}.geojson`,
      };
    case 'csv':
      return {
        body: Buffer.from(toCsv(rec)),
        contentType: 'text/csv; charset=utf-8',
        fileName: `${base}.csv`,
      };
  }
}
