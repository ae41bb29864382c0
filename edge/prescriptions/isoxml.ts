// A prescription as ISO 11783-10 TaskData (ISOXML v4, zipped TASKDATA folder) via the `isoxml`
// package: customer, farm, a partfield with the field's boundary (the zones' outline when the
// recommendation does not know the field), the product, and a task with a grid of type 2 — each
// 10 m cell holds the product rate of the zone its centre lies in, as DDI 6 (setpoint mass per
// area, mg/m²; 1 kg/ha = 100 mg/m²). The package's grid (addGridFromGeoJSON, cell-centre based)
// spans the features' bounding box and gives a cell the property of the first feature its centre
// lies in, 0 when none: so with `coverage` the part of the field no zone covers goes in as one more
// feature at the default rate, and only cells outside the field are 0. Treatment zones: default
// and position lost at the field's area-weighted mean rate, out of field at 0.
import isoxml from 'isoxml';
import type { ExtendedPartfield, ExtendedTask, ProcessDataVariable } from 'isoxml';
import { HatakeError } from '../../protocol/errors.ts';
import { defaultRate, type Recommendation } from '../../protocol/recommendation.ts';
import { defaultRow, prescriptionRows } from './rows.ts';

const { ISOXMLManager, TAGS, TaskTaskStatusEnum } = isoxml;

/** DDI 0006: Setpoint Mass Per Area Application Rate, mg/m². */
export const DDI_SETPOINT_MASS_PER_AREA = '0006';
/** kg/ha → mg/m². */
export const MG_M2_PER_KG_HA = 100;
const GRID_PROPERTY = 'rate';

/** The recommendation as a zipped ISOXML TaskData. */
export async function toIsoxmlZip(rec: Recommendation): Promise<Uint8Array> {
  const rows = prescriptionRows(rec);
  const rest = defaultRow(rec);
  const coverage = rec.coverage;
  const m = new ISOXMLManager({ fmisTitle: 'hatake', fmisVersion: '1' });
  const customer = m.createEntityFromAttributes(TAGS.Customer, { CustomerLastName: rec.farm });
  const customerRef = m.registerEntity(customer);
  const farm = m.createEntityFromAttributes(TAGS.Farm, {
    FarmDesignator: rec.farm,
    CustomerIdRef: customerRef,
  });
  const farmRef = m.registerEntity(farm);
  const areaM2 = Math.round(rows.reduce((s, r) => s + r.areaHa, 0) * 10000);
  const partfield = m.createEntityFromAttributes<ExtendedPartfield>(TAGS.Partfield, {
    PartfieldDesignator: rec.field.slice(0, 32),
    PartfieldArea: areaM2,
    CustomerIdRef: customerRef,
    FarmIdRef: farmRef,
  });
  if (coverage) {
    partfield.boundaryFromGeoJSON(coverage.field, m);
    // boundaryFromGeoJSON puts turf's area of it; the recommendation's is on the imagery's sphere
    partfield.attributes.PartfieldArea = Math.round(coverage.fieldAreaHa * 10000);
  } else
    partfield.boundaryFromGeoJSON(
      { type: 'MultiPolygon', coordinates: rows.flatMap((r) => r.geometry.coordinates) },
      m,
    );
  const partfieldRef = m.registerEntity(partfield);
  const vpn = m.createEntityFromAttributes(TAGS.ValuePresentation, {
    Offset: 0,
    Scale: 1 / MG_M2_PER_KG_HA,
    NumberOfDecimals: 1,
    UnitDesignator: 'kg/ha',
  });
  const vpnRef = m.registerEntity(vpn);
  const product = m.createEntityFromAttributes(TAGS.Product, {
    ProductDesignator: `${rec.product.name.en} / ${rec.product.name.ja}`.slice(0, 32),
    ProductType: '1',
  });
  const productRef = m.registerEntity(product);
  const task = m.createEntityFromAttributes<ExtendedTask>(TAGS.Task, {
    TaskDesignator: `${rec.field} ${rec.id}`.slice(0, 32),
    TaskStatus: TaskTaskStatusEnum.Planned,
    CustomerIdRef: customerRef,
    FarmIdRef: farmRef,
    PartfieldIdRef: partfieldRef,
  });
  const pdv = m.createEntityFromAttributes<ProcessDataVariable>(TAGS.ProcessDataVariable, {
    ProcessDataDDI: DDI_SETPOINT_MASS_PER_AREA,
    ProcessDataValue: 0,
    ProductIdRef: productRef,
    ValuePresentationIdRef: vpnRef,
  });
  const toMg = (kgHa: number) => Math.round(kgHa * MG_M2_PER_KG_HA);
  const mean = toMg(defaultRate(rec.zones).productKgHa);
  const zones = {
    type: 'FeatureCollection' as const,
    features: (rest ? [...rows, rest] : rows).map((r) => ({
      type: 'Feature' as const,
      properties: { [GRID_PROPERTY]: toMg(r.productKgHa), zone: r.zone },
      geometry: r.geometry,
    })),
  };
  try {
    task.addGridFromGeoJSON(zones as never, [pdv], [GRID_PROPERTY], [mean], [mean], [0]);
  } catch (e) {
    throw new HatakeError(
      'HATAKE_E_PRESCRIPTION',
      `cannot make an ISOXML grid: ${String((e as Error).message).slice(0, 200)}`,
    );
  }
  const grid = task.attributes.Grid?.[0];
  if (!grid || grid.attributes.GridMaximumColumn < 1 || grid.attributes.GridMaximumRow < 1)
    throw new HatakeError('HATAKE_E_PRESCRIPTION', 'the zones are too small for a 10 m ISOXML grid', {
      expected: 'zones at least 10 m across',
    });
  m.registerEntity(task);
  m.rootElement.attributes.Customer = [customer as never];
  m.rootElement.attributes.Farm = [farm as never];
  m.rootElement.attributes.Partfield = [partfield];
  m.rootElement.attributes.ValuePresentation = [vpn as never];
  m.rootElement.attributes.Product = [product as never];
  m.rootElement.attributes.Task = [task];
  return m.saveISOXML();
}
