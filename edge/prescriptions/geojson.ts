// A prescription as GeoJSON (RFC 7946, WGS84): one feature per zone with the rate in kg N/ha,
// kg N/10a and the product amount; when the recommendation knows its field, one more feature (id
// "default", zone 0) for the part of the field no zone covers, at the default rate (rows.ts).
import type { Recommendation } from '../../protocol/recommendation.ts';
import { allRows, per10a } from './rows.ts';

/** The recommendation's zones and applied rates as a GeoJSON FeatureCollection (text). */
export function toGeoJson(rec: Recommendation): string {
  const features = allRows(rec).map((r) => ({
    type: 'Feature',
    id: r.id,
    geometry: r.geometry,
    properties: {
      zone: r.zone,
      areaHa: r.areaHa,
      kgNHa: r.kgNHa,
      kgN10a: per10a(r.kgNHa),
      product: rec.product.id,
      productKgHa: r.productKgHa,
      productKg10a: per10a(r.productKgHa),
    },
  }));
  return `${JSON.stringify({
    type: 'FeatureCollection',
    recommendation: rec.id,
    field: rec.field,
    model: `${rec.model.id}@${rec.model.version}`,
    profile: `${rec.profile.id}@${rec.profile.version}`,
    features,
  })}\n`;
}
