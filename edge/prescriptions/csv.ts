// A prescription as CSV: one row per zone, rates in kg/ha and kg/10a, product amounts per zone;
// when the recommendation knows its field, a last row (zone 0, id "default") for the part of the
// field no zone covers, at the default rate (rows.ts, defaultRow).
import type { Recommendation } from '../../protocol/recommendation.ts';
import { allRows, per10a, round } from './rows.ts';

const cell = (v: string | number) => (typeof v === 'number' ? String(v) : `"${v.replaceAll('"', '""')}"`);

/** The recommendation's zones and applied rates as CSV text (header row, then one row per zone, then the default row). */
export function toCsv(rec: Recommendation): string {
  const header = [
    'zone',
    'id',
    'area_ha',
    'kg_n_ha',
    'kg_n_10a',
    'product',
    'product_kg_ha',
    'product_kg_10a',
    'product_kg',
  ];
  const lines = allRows(rec).map((r) =>
    [
      r.zone,
      r.id,
      r.areaHa,
      r.kgNHa,
      per10a(r.kgNHa),
      rec.product.id,
      r.productKgHa,
      per10a(r.productKgHa),
      round(r.productKgHa * r.areaHa, 2),
    ]
      .map(cell)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}
