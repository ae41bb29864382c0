// Recommendations and prescriptions: per-zone rates clamped to the profile and rounded to the
// spreader step, economics and provenance; a yield-response model picks the economic optimum;
// exported ISOXML is read back by the `isoxml` package and the shapefile by shpjs with the same
// zones and rates; GeoJSON and CSV carry the same numbers; bad documents are refused. Without an
// N-rich strip the reference is the field's 95th percentile, held to GDAL's on a real scene.
// With the field's boundary (a field partly masked): zones cut to the field, the rest of the field
// in `coverage`, and every export covering the whole field — the masked part at the default rate,
// nothing outside the field.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import isoxml from 'isoxml';
// @ts-expect-error shpjs ships no type declarations
import shp from 'shpjs';
import JSZip from 'jszip';
import { HatakeError } from '../../protocol/errors.ts';
import { validator } from '../../protocol/validate.ts';
import {
  effectiveRate,
  Recommendation,
  spreadTotals,
  type PolygonGeometry,
} from '../../protocol/recommendation.ts';
import { prescriptionTip } from '../../dashboard/review/prescription-tip.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { toIsoxmlZip, MG_M2_PER_KG_HA } from '../../edge/prescriptions/isoxml.ts';
import { toShapefileZip } from '../../edge/prescriptions/shapefile.ts';
import { toGeoJson } from '../../edge/prescriptions/geojson.ts';
import { toCsv } from '../../edge/prescriptions/csv.ts';
import { readRecommendation } from '../../edge/prescriptions/rows.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { readZones } from '../../edge/recommend/zones.ts';
import { virtualP95 } from '../../edge/recommend/reference.ts';
import { Scene } from '../../edge/imagery/scene.ts';
import { profileById } from '../../edge/imagery/profiles.ts';
import { processScene } from '../../edge/imagery/process.ts';
import { parseFields } from '../../edge/imagery/fields.ts';
import type { ZoneCollection } from '../../protocol/imagery.ts';
import { benTwoFields, gdalReference, requireGdal, type GdalStats } from '../helpers/gdal-reference.ts';
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon';

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
let pool: InferencePool;
const NOW = Date.parse('2026-05-02T00:00:00Z');
const ACQUIRED = '2026-05-01T01:23:00Z';

// Three 100 m × 80 m strips near Sapporo (≈ 0.8 ha each), the middle one with a hole.
const X0 = 141.35;
const Y0 = 43.06;
const DX = 100 / (111_320 * Math.cos((Y0 * Math.PI) / 180));
const DY = 80 / 110_950;
const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];
const hole = ring(X0 + DX * 1.4, Y0 + DY * 0.4, X0 + DX * 1.6, Y0 + DY * 0.6).reverse();
function zones(indices: Record<string, number>[], attributes: Record<string, number | string>[] = []) {
  return {
    type: 'FeatureCollection',
    schema: 'hatake.imagery.zones/1',
    features: indices.map((idx, k) => ({
      type: 'Feature',
      id: `f1-z${k + 1}`,
      geometry: {
        type: 'MultiPolygon',
        coordinates: [
          k === 1
            ? [ring(X0 + k * DX, Y0, X0 + (k + 1) * DX, Y0 + DY), hole]
            : [ring(X0 + k * DX, Y0, X0 + (k + 1) * DX, Y0 + DY)],
        ],
      },
      properties: {
        fieldId: 'f1',
        sceneId: 'S2A_20260501',
        acquired: ACQUIRED,
        zone: k + 1,
        k: indices.length,
        zoningIndex: 'ndvi',
        pixels: 80,
        areaHa: 0.8,
        validFraction: 1,
        fieldValidFraction: 0.97,
        indices: Object.fromEntries(
          Object.entries(idx).map(([name, mean]) => [
            name,
            {
              mean,
              median: mean,
              p10: mean - 0.03,
              p90: mean + 0.03,
              std: 0.02,
              min: mean - 0.06,
              max: mean + 0.06,
              count: 80,
              validFraction: 1,
            },
          ]),
        ),
        ...(attributes[k] ? { attributes: attributes[k] } : {}),
      },
    })),
  };
}

async function sbnrcRec(profile = 'winter-wheat-osu-2007', boundary?: PolygonGeometry) {
  return recommend(pool, {
    farm: 'demo-farm',
    card: reg.entry('osu-sbnrc@1.0.0').card,
    profile: reg.profile(profile),
    zones: zones([{ ndvi: 0.45 }, { ndvi: 0.55 }, { ndvi: 0.68 }]),
    ...(boundary ? { boundary } : {}),
    fieldAttributes: {
      days_gdd_positive: { value: 85, time: NOW - 3600_000, source: 'planting record + weather station' },
    },
    reference: {
      kind: 'n_rich_strip',
      values: { ndvi: 0.7 },
      time: NOW - 86_400_000,
      source: 'N-rich strip, west headland',
    },
    now: NOW,
    by: 'gateway gw-1',
  });
}

beforeAll(async () => {
  pool = await InferencePool.start({ size: 2 });
  for (const ref of [
    'osu-sbnrc@1.0.0',
    'holland-schepers-si@1.0.0',
    'rice-pi-topdress-ndvi@1.1.0',
    'lasrosas-corn-rf@1.1.0',
  ])
    await pool.load(reg.load(ref));
});
afterAll(async () => {
  await pool.close();
});

// The virtual reference on a real scene: the imagery part's zones.geojson of a BigEarthNet patch
// with two fields, the field's NDRE 95th percentile held to GDAL/numpy's over the same pixels
// (tests/helpers/gdal-reference.ts; numpy percentile method 'linear', hatake's definition).
describe('the field’s virtual 95th percentile when there is no N-rich strip (real scene, two fields)', () => {
  const BEN =
    '../../../shared/data/sentinel2/bigearthnet/S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85';
  const band = (b: string) => join(import.meta.dirname, `${BEN}_${b}.tif`);
  let dir: string;
  let sceneZones: ZoneCollection;
  let ndre: Record<string, GdalStats>;

  beforeAll(async () => {
    requireGdal();
    dir = mkdtempSync(join(tmpdir(), 'hatake-rx-p95-'));
    const fields = join(dir, 'fields.geojson');
    writeFileSync(fields, benTwoFields());
    const scene = await Scene.open({
      files: ['B04', 'B05', 'B08', 'B8A'].map(band),
      profile: profileById('s2-l2a'),
      offset: 0, // BigEarthNet v1: 2017 products, baseline before 04.00
    });
    sceneZones = (
      await processScene(scene, parseFields(readFileSync(fields, 'utf8'), fields), {
        outDir: join(dir, 'out'),
        maps: false,
      })
    ).zones;
    await scene.close();
    // NDRE as hatake computes it with B8A present: (B8A − B05) / (B8A + B05), 20 m bands read
    // nearest onto the 10 m grid of B04
    ndre = gdalReference({
      red: band('B05'),
      nir: band('B8A'),
      grid: band('B04'),
      offset: 0,
      scale: 1e-4,
      fields,
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cornRec = (zonesDoc: unknown, field: string) =>
    recommend(pool, {
      farm: 'demo-farm',
      field,
      card: reg.entry('holland-schepers-si').card,
      profile: reg.profile('corn-holland-schepers'),
      zones: zonesDoc,
      fieldAttributes: {
        n_preplant_kg_ha: { value: 40, time: NOW, source: 'farm diary' },
        n_credit_kg_ha: { value: 10, time: NOW, source: 'soybean credit' },
      },
      now: NOW,
      by: 'test',
    });

  it.each(['a', 'b'])(
    'field %s: the reference is the pixels’ p95 (GDAL), and the named field’s zones are used',
    async (field) => {
      const rec = await cornRec(sceneZones, field);
      expect(validator(Recommendation).problems(rec)).toEqual([]);
      expect(rec.field).toBe(field);
      const own = sceneZones.features.filter((f) => f.properties.fieldId === field);
      expect(rec.zones.map((z) => z.id)).toEqual(own.map((f) => f.id));
      expect(rec.imagery.index).toBe('ndre'); // preferred over NDVI when every zone has it
      expect(rec.reference!.kind).toBe('virtual_p95');
      const g = ndre[field]!;
      expect(g.count).toBeGreaterThan(1000);
      expect(
        Math.abs(rec.reference!.value - g.p95!),
        `hatake ${rec.reference!.value} GDAL ${g.p95}`,
      ).toBeLessThan(1e-4);
      expect(rec.reference!.value).toBeLessThanOrEqual(g.max!);
      expect(rec.reference!.how).toMatch(/valid pixels/);
      const codes = rec.notes.map((n) => n.code);
      expect(codes).toContain('virtual_reference');
      expect(codes).not.toContain('virtual_reference_estimated');
      // SI = zone NDRE / the field's p95; below 1 − ΔSI it is flagged as likely not N stress
      const deltaSi = reg.profile('corn-holland-schepers').hollandSchepers!.deltaSi;
      rec.zones.forEach((z, k) => {
        const si = own[k]!.properties.indices.ndre!.mean! / rec.reference!.value;
        expect(z.outputs.si).toBeCloseTo(si, 6);
        expect(z.notes.some((n) => n.code === 'si_clamped')).toBe(si < 1 - deltaSi);
        expect(z.rate.productKgHa % 10).toBe(0);
      });
      expect(rec.zones.some((z) => z.notes.some((n) => n.code === 'si_clamped'))).toBe(true);
      expect(rec.product.nFraction).toBe(0.21);
      expect(rec.economics.basis).toBe('agronomic_efficiency');
    },
  );

  it('falls back to an estimate from the zones for zones without fieldP95, and says it is one', async () => {
    const old = {
      ...sceneZones,
      features: sceneZones.features.map((f) => {
        const { fieldP95: _gone, ...properties } = f.properties;
        return { ...f, properties };
      }),
    };
    for (const field of ['a', 'b']) {
      const rec = await cornRec(old, field);
      const estimate = virtualP95(readZones(old, 'zones', field).zones, 'ndre')!;
      expect(rec.reference!.value).toBeCloseTo(estimate, 6);
      expect(rec.reference!.how).toMatch(/estimated/);
      const n = rec.notes.find((x) => x.code === 'virtual_reference_estimated')!;
      expect(n.text.en).toContain('estimated');
      expect(n.text.ja).toContain('推定');
      // on these fields the estimate misses the pixels' p95 by about 0.02 NDRE
      expect(Math.abs(rec.reference!.value - ndre[field]!.p95!)).toBeGreaterThan(0.01);
    }
  });
});

describe('recommendations', () => {
  it('gives each zone a rate in kg N/ha and kg/10a, clamped and rounded to the spreader step, with full provenance', async () => {
    const rec = await sbnrcRec();
    expect(validator(Recommendation).problems(rec)).toEqual([]);
    expect(rec.status).toBe('pending_review');
    expect(rec.model).toMatchObject({
      id: 'osu-sbnrc',
      version: '1.0.0',
      sha256: reg.entry('osu-sbnrc').card.sha256,
    });
    expect(rec.profile).toEqual({ id: 'winter-wheat-osu-2007', version: '1.0.0' });
    expect(rec.imagery).toEqual({ sceneId: 'S2A_20260501', acquired: Date.parse(ACQUIRED), index: 'ndvi' });
    expect(rec.reference).toMatchObject({ kind: 'n_rich_strip', index: 'ndvi', value: 0.7 });
    const days = rec.inputs.find((i) => i.name === 'days')!;
    expect(days).toMatchObject({
      value: 85,
      source: 'planting record + weather station',
      time: NOW - 3600_000,
    });
    expect(rec.inputs.find((i) => i.name === 'a')).toMatchObject({
      value: 590,
      source: 'profile winter-wheat-osu-2007@1.0.0 sbnrc.a',
      time: null,
    });
    for (const z of rec.zones) {
      expect(z.inputs.find((i) => i.name === 'ndvi')).toMatchObject({
        source: 'index_stat ndvi.mean scene S2A_20260501',
        time: Date.parse(ACQUIRED),
      });
      expect(z.rate.productKgHa % 5).toBe(0); // the spreader's 5 kg step
      expect(z.rate.kgNHa).toBeCloseTo(z.rate.productKgHa * 0.46, 6);
      expect(z.rate.kgN10a).toBeCloseTo(z.rate.kgNHa / 10, 6);
      expect(Math.abs(z.rate.kgNHa - Math.min(120, z.rate.modelKgNHa))).toBeLessThanOrEqual(
        2.5 * 0.46 + 1e-9,
      );
    }
    // greener zones need less N
    expect(rec.zones[0]!.rate.kgNHa).toBeGreaterThan(rec.zones[1]!.rate.kgNHa);
    expect(rec.zones[1]!.rate.kgNHa).toBeGreaterThan(rec.zones[2]!.rate.kgNHa);
    // totals and money add up
    const nKg = rec.zones.reduce((s, z) => s + z.rate.kgNHa * z.areaHa, 0);
    expect(rec.totals.nKg).toBeCloseTo(nKg, 1);
    const z0 = rec.zones[0]!;
    expect(z0.economics.costYenHa).toBe(Math.round(z0.rate.productKgHa * 130 + 3000));
    expect(z0.economics.marginYenHa).toBe(
      Math.round(z0.economics.yieldGainKgHa * 60 - z0.rate.productKgHa * 130 - 3000),
    );
    expect(rec.economics.basis).toBe('model_yield_gain');
  });

  it('clamps to the profile maximum and says so', async () => {
    const rec = await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('osu-sbnrc').card,
      profile: reg.profile('winter-wheat-osu-2007'),
      zones: zones([{ ndvi: 0.2 }, { ndvi: 0.6 }]),
      fieldAttributes: { days_gdd_positive: { value: 40, time: NOW, source: 'test' } },
      reference: { kind: 'n_rich_strip', values: { ndvi: 0.9 }, time: NOW, source: 'strip' },
      now: NOW,
      by: 'test',
    });
    const z = rec.zones[0]!;
    expect(z.rate.modelKgNHa).toBeGreaterThan(120);
    expect(z.rate.clamped).toBe('max');
    expect(z.rate.kgNHa).toBeLessThanOrEqual(120);
    expect(z.notes.map((n) => n.code)).toContain('clamped_max');
  });

  it('top-dresses rice by the guideline table and cuts it where lodging is likely', async () => {
    const rec = await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('rice-pi-topdress-ndvi').card,
      profile: reg.profile('rice-shinnosuke-niigata'),
      zones: zones(
        [{ ndvi: 0.75 }, { ndvi: 0.75 }],
        [
          { plant_height_cm: 64, stems_per_m2: 400 },
          { plant_height_cm: 80, stems_per_m2: 500 },
        ],
      ),
      now: NOW,
      by: 'test',
    });
    expect(rec.zones[0]!.outputs.n_rate_10a).toBe(1); // Niigata chart: 64 cm, SPAD 35 → 1 kg N/10a
    expect(rec.zones[0]!.rate.kgN10a).toBeCloseTo(1.05, 6); // 50 kg ammonium sulfate/ha on a 5 kg step
    expect(rec.zones[1]!.outputs.lodging_risk).toBe(1);
    expect(rec.zones[1]!.rate.kgNHa).toBe(0);
    expect(rec.zones[1]!.notes.map((n) => n.code)).toContain('lodging_risk');
    expect(rec.notes.map((n) => n.code)).toContain('provisional_calibration');
  });

  it('with a yield-response model, gives each zone the rate with the best margin inside the trained N range', async () => {
    const rec = await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('lasrosas-corn-rf').card,
      profile: reg.profile('corn-lasrosas-trial'),
      zones: zones(
        [{ ndvi: 0.6 }, { ndvi: 0.6 }],
        [
          { topo: 'HT', bv: 175 },
          { topo: 'LO', bv: 160 },
        ],
      ),
      now: NOW,
      by: 'test',
    });
    expect(rec.model.kind).toBe('yield_response');
    expect(rec.economics.basis).toBe('model_yield');
    for (const z of rec.zones) {
      expect(z.rate.kgNHa).toBeLessThanOrEqual(131.5);
      expect(z.economicOptimum.kgNHa).toBeCloseTo(z.rate.kgNHa, 6);
      expect(z.economics.marginYenHa).toBeGreaterThanOrEqual(0); // zero N is always a candidate
      expect(z.inputs.map((i) => i.name).sort()).toEqual(['bv', 'topo']);
    }
    const bad = await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('lasrosas-corn-rf').card,
      profile: reg.profile('corn-lasrosas-trial'),
      zones: zones([{ ndvi: 0.6 }], [{ topo: 'RIDGE', bv: 175 }]),
      now: NOW,
      by: 'test',
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(HatakeError);
    expect((bad as HatakeError).message).toMatch(/"RIDGE" is not a level of topo \(E, HT, LO, W\)/);
  });

  it('refuses a profile for another crop and zones that are not WGS84 or not closed', async () => {
    const base = {
      farm: 'demo-farm',
      now: NOW,
      by: 'test',
      fieldAttributes: { days_gdd_positive: { value: 85, time: NOW, source: 't' } },
    };
    const crop = await recommend(pool, {
      ...base,
      card: reg.entry('osu-sbnrc').card,
      profile: reg.profile('rice-koshihikari'),
      zones: zones([{ ndvi: 0.5 }]),
    }).catch((e: unknown) => e);
    expect((crop as HatakeError).message).toMatch(/profile rice-koshihikari@1.0.0 is for rice/);
    const utm = zones([{ ndvi: 0.5 }]);
    utm.features[0]!.geometry.coordinates = [[ring(500000, 4760000, 500100, 4760080)]];
    const e = await recommend(pool, {
      ...base,
      card: reg.entry('osu-sbnrc').card,
      profile: reg.profile('winter-wheat-osu-2007'),
      zones: utm,
    }).catch((x: unknown) => x);
    expect((e as HatakeError).message).toMatch(/not WGS84/);
    const open = zones([{ ndvi: 0.5 }]);
    open.features[0]!.geometry.coordinates[0]![0]!.pop();
    open.features[0]!.geometry.coordinates[0]![0]!.push([X0, Y0 + 0.0001]);
    const e2 = await recommend(pool, {
      ...base,
      card: reg.entry('osu-sbnrc').card,
      profile: reg.profile('winter-wheat-osu-2007'),
      zones: open,
    }).catch((x: unknown) => x);
    expect((e2 as HatakeError).message).toMatch(/ring is not closed/);
  });

  it('reads one field of a file of several, and refuses zones it cannot attribute or that disagree', () => {
    // four zones: two of f1, two of f2, each field with its own p95
    const doc = zones([{ ndvi: 0.4 }, { ndvi: 0.6 }, { ndvi: 0.5 }, { ndvi: 0.7 }]);
    doc.features.forEach((f, k) => {
      const fieldId = k < 2 ? 'f1' : 'f2';
      Object.assign(f.properties, { fieldId, fieldP95: { ndvi: k < 2 ? 0.66 : 0.74 } });
    });
    const f2 = readZones(doc, 'zones', 'f2');
    expect(f2.fieldId).toBe('f2');
    expect(f2.zones.map((z) => z.id)).toEqual(['f1-z3', 'f1-z4']);
    expect(f2.fieldP95).toEqual({ ndvi: 0.74 });
    expect(readZones(doc, 'zones', 'f1').fieldP95).toEqual({ ndvi: 0.66 });
    const coded = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect((e as HatakeError).code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
        return (e as HatakeError).message;
      }
      throw new Error('not refused');
    };
    expect(coded(() => readZones(doc))).toBe(
      'zones: zones of 2 fields in one file ("f1", "f2"): name the field (--field)',
    );
    expect(coded(() => readZones(doc, 'zones', 'f3'))).toMatch(/no zones of field "f3".*"f1", "f2"/);
    // a zone that names no field, beside zones of two fields, belongs to neither
    const unnamed = structuredClone(doc);
    delete (unnamed.features[1]!.properties as { fieldId?: string }).fieldId;
    expect(coded(() => readZones(unnamed, 'zones', 'f1'))).toMatch(/feature 1 names no field/);
    // one field's zones must agree on its p95
    const split = structuredClone(doc);
    Object.assign(split.features[3]!.properties, { fieldP95: { ndvi: 0.75 } });
    expect(coded(() => readZones(split, 'zones', 'f2'))).toMatch(
      /95th percentile of ndvi is 0.75 here but 0.74 in feature 2/,
    );
    // a file of one field, named or not: --field still names it (as before)
    expect(readZones(zones([{ ndvi: 0.5 }]), 'zones', 'f1').zones).toHaveLength(1);
  });
});

describe('prescriptions', () => {
  it('exports ISOXML TaskData that the isoxml package reads back with the same zones and rates', async () => {
    const rec = await sbnrcRec();
    const zip = await toIsoxmlZip(rec);
    const m = new isoxml.ISOXMLManager();
    await m.parseISOXMLFile(zip, 'application/zip');
    expect(m.getWarnings()).toEqual([]);
    const task = m.rootElement.attributes.Task![0]!;
    const grid = task.attributes.Grid![0]!;
    expect(grid.attributes.GridType).toBe('2');
    expect(
      (
        task as never as { getGridValuesDescription(): { DDIString: string; unit: string }[] }
      ).getGridValuesDescription()[0],
    ).toMatchObject({ DDIString: '0006', unit: 'kg/ha' });
    const cells = (
      task as never as {
        getGridAsGeoJSON(p: string[]): {
          features: { properties: { rate: number }; geometry: { coordinates: number[][][] } }[];
        };
      }
    ).getGridAsGeoJSON(['rate']).features;
    expect(cells.length).toBeGreaterThan(100);
    // every cell carries the rate of the zone its centre lies in
    const rateAt = (x: number, y: number) => {
      for (const z of rec.zones) {
        const [outer, ...holes] = z.geometry.coordinates[0]!;
        const inside = (r: number[][]) =>
          x > Math.min(...r.map((p) => p[0]!)) &&
          x < Math.max(...r.map((p) => p[0]!)) &&
          y > Math.min(...r.map((p) => p[1]!)) &&
          y < Math.max(...r.map((p) => p[1]!));
        if (inside(outer!) && !holes.some(inside)) return z.rate.productKgHa;
      }
      return 0;
    };
    for (const c of cells) {
      const [[x0, y0], , [x1, y1]] = c.geometry.coordinates[0]! as [number[], number[], number[]];
      expect(c.properties.rate).toBe(Math.round(rateAt((x0! + x1!) / 2, (y0! + y1!) / 2) * MG_M2_PER_KG_HA));
    }
    expect(new Set(cells.map((c) => c.properties.rate / MG_M2_PER_KG_HA))).toEqual(
      new Set(rec.zones.map((z) => z.rate.productKgHa)),
    );
    // default and position-lost zones apply the field's mean rate, out of field nothing
    const tzn = (code: number | undefined) =>
      task.attributes.TreatmentZone!.find((t) => t.attributes.TreatmentZoneCode === code)!;
    const mean = rec.zones.reduce((s, z) => s + z.rate.productKgHa * z.areaHa, 0) / rec.totals.areaHa;
    expect(
      tzn(task.attributes.DefaultTreatmentZoneCode).attributes.ProcessDataVariable![0]!.attributes
        .ProcessDataValue,
    ).toBe(Math.round(mean * 100));
    expect(
      tzn(task.attributes.OutOfFieldTreatmentZoneCode).attributes.ProcessDataVariable![0]!.attributes
        .ProcessDataValue,
    ).toBe(0);
    expect(m.rootElement.attributes.Product![0]!.attributes.ProductDesignator).toMatch(/Urea/);
    expect(m.rootElement.attributes.Partfield![0]!.attributes.PartfieldDesignator).toBe('f1');
  });

  it('exports a shapefile zip that shpjs reads back with the same geometry and numeric rates, WGS84 .prj and short names', async () => {
    const rec = await sbnrcRec();
    const zip = await toShapefileZip(rec);
    const names = Object.keys((await JSZip.loadAsync(zip)).files).sort();
    expect(names).toEqual(['RX.dbf', 'RX.prj', 'RX.shp', 'RX.shx']);
    expect(await (await JSZip.loadAsync(zip)).file('RX.prj')!.async('string')).toMatch(
      /^GEOGCS\["GCS_WGS_1984"/,
    );
    const back = (await shp(
      zip.buffer.slice(zip.byteOffset, zip.byteOffset + zip.byteLength) as ArrayBuffer,
    )) as {
      features: {
        properties: Record<string, unknown>;
        geometry: { type: string; coordinates: number[][][] };
      }[];
    };
    expect(back.features).toHaveLength(3);
    back.features.forEach((f, k) => {
      const z = rec.zones[k]!;
      expect(typeof f.properties.RATE).toBe('number');
      expect(f.properties.RATE).toBe(z.rate.productKgHa);
      expect(f.properties.N_KGHA).toBeCloseTo(z.rate.kgNHa, 6);
      expect(f.properties.ZONE).toBe(z.zone);
      // same rings (shpjs returns GeoJSON winding), same coordinates
      expect(f.geometry.type).toBe('Polygon');
      const want = z.geometry.coordinates[0]!;
      expect(f.geometry.coordinates).toHaveLength(want.length);
      f.geometry.coordinates.forEach((r, i) => {
        const sorted = (x: number[][]) => x.map((p) => `${p[0]!.toFixed(9)},${p[1]!.toFixed(9)}`).sort();
        expect(sorted(r)).toEqual(sorted(want[i]!));
      });
    });
  });

  it('exports GeoJSON and CSV with the same rates, and uses an officer’s edit when there is one', async () => {
    const rec = await sbnrcRec();
    rec.status = 'edited';
    rec.zones[1]!.edited = {
      kgNHa: 23,
      productKgHa: 50,
      by: 'officer-1',
      at: NOW,
      reason: '倒伏が心配 / worried about lodging',
    };
    rec.zones[2]!.edited = { ...rec.zones[1]!.edited, kgNHa: 119.6, productKgHa: 260 };
    const gj = JSON.parse(toGeoJson(rec)) as {
      features: { id: string; properties: { productKgHa: number; kgNHa: number; kgN10a: number } }[];
    };
    expect(gj.features.map((f) => f.properties.productKgHa)).toEqual([
      rec.zones[0]!.rate.productKgHa,
      50,
      260,
    ]);
    // Per 10 a as a person reads it: 119.6 / 10 is 11.959999999999999 in binary, written 11.96.
    expect(gj.features[2]!.properties.kgN10a).toBe(11.96);
    const csv = toCsv(rec).trim().split('\n');
    expect(csv[0]).toBe('zone,id,area_ha,kg_n_ha,kg_n_10a,product,product_kg_ha,product_kg_10a,product_kg');
    expect(csv[2]).toBe('2,"f1-z2",0.8,23,2.3,"urea",50,5,40');
  });

  it('refuses to export a rejected recommendation or a document that is not one', () => {
    expect(() => readRecommendation({ schema: 'hatake.recommendation/1', id: 'rec-x' })).toThrow(HatakeError);
    expect(() => readRecommendation([1, 2, 3])).toThrow(/HATAKE_E_PRESCRIPTION|recommendation/);
  });

  it('refuses a rejected recommendation', async () => {
    const rec = await sbnrcRec();
    rec.status = 'rejected';
    const e = await toIsoxmlZip(rec).catch((x: unknown) => x);
    expect((e as HatakeError).code).toBe('HATAKE_E_PRESCRIPTION');
    expect(() => toCsv(rec)).toThrow(/is rejected/);
  });
});

// A field partly masked: the three strips cover its lower half; above them the scene was cloudy
// (no zone), the middle strip's hole is in no zone either, and the field ends 20 m before the
// third strip does (pixels reaching past the boundary). The top edge slopes, so the grid's
// bounding box holds cells outside the field. In metres (DX ≈ 100 m, DY ≈ 80 m): the field is a
// trapezoid 280 m wide, 160 m high at the west and 120 m at the east = 39,200 m²; the zones inside
// it 8,000 + (8,000 − 20 × 16) + 80 × 80 = 22,080 m²; no zone covers 17,120 m².
describe('coverage: a field partly masked by cloud', () => {
  const FIELD: PolygonGeometry = {
    type: 'Polygon',
    coordinates: [
      [
        [X0, Y0],
        [X0 + 2.8 * DX, Y0],
        [X0 + 2.8 * DX, Y0 + 1.5 * DY],
        [X0, Y0 + 2 * DY],
        [X0, Y0],
      ],
    ],
  };
  /** Metres per degree on the authalic sphere; longitude scaled at the field's latitude. */
  const M = (6371007.2 * Math.PI) / 180;
  const toM = ([x, y]: number[]) => [(x! - X0) * M * Math.cos((Y0 * Math.PI) / 180), (y! - Y0) * M];
  /** Distance (m) from a point to the nearest edge of any of the polygons. */
  function edgeDistance(pt: number[], polys: number[][][][]): number {
    const [px, py] = toM(pt);
    let best = Infinity;
    for (const poly of polys)
      for (const ring of poly)
        for (let i = 0; i + 1 < ring.length; i++) {
          const [ax, ay] = toM(ring[i]!);
          const [bx, by] = toM(ring[i + 1]!);
          const dx = bx! - ax!;
          const dy = by! - ay!;
          const t = Math.max(
            0,
            Math.min(1, ((px! - ax!) * dx + (py! - ay!) * dy) / (dx * dx + dy * dy || 1)),
          );
          best = Math.min(best, Math.hypot(px! - (ax! + t * dx), py! - (ay! + t * dy)));
        }
    return best;
  }
  const inside = (pt: number[], polys: number[][][][]) =>
    booleanPointInPolygon(pt, { type: 'MultiPolygon', coordinates: polys });
  /** The default rate as an officer's prescription means it: the zones' area-weighted mean. */
  const meanRate = (rec: Recommendation) =>
    rec.zones.reduce((s, z) => s + effectiveRate(z).productKgHa * z.areaHa, 0) /
    rec.zones.reduce((s, z) => s + z.areaHa, 0);

  it('cuts every zone to the field and says what of the field no zone covers; the areas add up', async () => {
    const rec = await sbnrcRec(undefined, FIELD);
    expect(validator(Recommendation).problems(rec)).toEqual([]);
    const c = rec.coverage!;
    expect(c.field.coordinates[0]![0]!.map(toM)).toHaveLength(5);
    // the areas against the plan's metres (DX, DY are within 0.2 % of 100 m and 80 m on this sphere)
    expect(c.fieldAreaHa / 3.92).toBeCloseTo(1, 2);
    expect(c.uncoveredAreaHa / 1.712).toBeCloseTo(1, 2);
    expect(rec.zones.map((z) => z.areaHa / [0.8, 0.768, 0.64][z.zone - 1]!)).toEqual(
      rec.zones.map(() => expect.closeTo(1, 2)),
    );
    // the parts add up to the field: zones and the rest are each rounded to 1e-7 ha
    const zonesHa = rec.zones.reduce((s, z) => s + z.areaHa, 0);
    expect(Math.abs(zonesHa + c.uncoveredAreaHa - c.fieldAreaHa)).toBeLessThan(1e-6);
    expect(rec.totals.areaHa).toBeCloseTo(zonesHa, 4);
    // no zone reaches outside the field: every vertex inside it or on its boundary (1e-9°)
    const field = c.field.coordinates;
    for (const z of rec.zones)
      for (const poly of z.geometry.coordinates)
        for (const ring of poly)
          for (const p of ring)
            expect(
              inside(p, field) || edgeDistance(p, field) < 1e-9 * M,
              `zone ${z.zone} vertex ${p.join(',')}`,
            ).toBe(true);
    // the third strip lost its 20 m past the boundary, the second keeps its hole
    expect(Math.max(...rec.zones[2]!.geometry.coordinates.flat(2).map((p) => p[0]!))).toBeCloseTo(
      X0 + 2.8 * DX,
      12,
    );
    expect(rec.zones[1]!.geometry.coordinates[0]).toHaveLength(2);
    // the masked part and the hole are the rest of the field
    expect(inside([X0 + 0.5 * DX, Y0 + 1.5 * DY], c.uncovered!.coordinates)).toBe(true);
    expect(inside([X0 + 1.5 * DX, Y0 + 0.5 * DY], c.uncovered!.coordinates)).toBe(true);
    expect(inside([X0 + 0.5 * DX, Y0 + 0.5 * DY], c.uncovered!.coordinates)).toBe(false);
    const n = rec.notes.find((x) => x.code === 'uncovered_area')!;
    expect(n.text.en).toContain(`${Math.round((1000 * c.uncoveredAreaHa) / c.fieldAreaHa) / 10} %`);
    expect(n.text.ja).toContain(`${Math.round(c.uncoveredAreaHa * 1e4) / 1e4} ha`);
    // the rates are the model's, whatever the areas
    const plain = await sbnrcRec();
    expect(plain.coverage).toBeUndefined();
    expect(rec.zones.map((z) => z.rate)).toEqual(plain.zones.map((z) => z.rate));
  });

  it('tells the farmer what the files spread: the zones and the rest at their mean, not the zones alone', async () => {
    const rec = await sbnrcRec(undefined, FIELD);
    rec.status = 'edited';
    rec.zones[0]!.edited = { kgNHa: 46, productKgHa: 100, by: 'officer-1', at: NOW, reason: 'test' };
    const c = rec.coverage!;
    const spread = spreadTotals(rec);
    // What the CSV spreads, row by row (zones, then the default row), is what the farmer is told.
    const rows = toCsv(rec)
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(rows.at(-1)![1]).toBe('"default"');
    const csvKg = rows.reduce((s, r) => s + Number(r[8]), 0);
    expect(Math.abs(spread.productKg - csvKg)).toBeLessThan(0.01 * rows.length);
    const csvN = rows.reduce((s, r) => s + Number(r[3]) * Number(r[2]), 0);
    expect(spread.nKg).toBeCloseTo(csvN, 1);
    expect(spread.restHa).toBe(Math.round(c.uncoveredAreaHa * 1e4) / 1e4);
    expect(spread.areaHa).toBeCloseTo(c.fieldAreaHa, 4);
    // …which is more than the zones' own totals by the rest at the zones' mean rate.
    const zonesKg = rec.zones.reduce((s, z) => s + effectiveRate(z).productKgHa * z.areaHa, 0);
    expect(spread.productKg - zonesKg).toBeCloseTo(meanRate(rec) * c.uncoveredAreaHa, 0);
    expect(spread.productKg).toBeGreaterThan(zonesKg * 1.2);

    const tip = prescriptionTip(rec, { fieldName: '畑1号', approvedBy: 'officer-1', now: NOW });
    expect(tip.text.ja).toContain(
      `計 ${spread.productKg.toFixed(1)} kg（圃場全体 ${spread.areaHa.toFixed(2)} ha 分。`,
    );
    expect(tip.text.ja).toContain(`ゾーン外の ${spread.restHa.toFixed(2)} ha はゾーンの平均の量）`);
    expect(tip.text.en).toContain(
      `${spread.productKg.toFixed(1)} kg of ${rec.product.name.en} in all (the whole field, ${spread.areaHa.toFixed(2)} ha;`,
    );
    const q = Object.fromEntries(tip.evidence.quantities.map((x) => [x.name, x.value]));
    expect([q.total_product, q.total_n, q.area]).toEqual([
      Math.round(spread.productKg * 100) / 100,
      Math.round(spread.nKg * 100) / 100,
      spread.areaHa,
    ]);
    // Without coverage (no field boundary) the files spread the zones alone, and so says the tip.
    const plain = await sbnrcRec();
    expect(spreadTotals(plain)).toMatchObject({ restHa: 0, productKg: plain.totals.productKg });
    expect(prescriptionTip(plain, { fieldName: null, approvedBy: null, now: NOW }).text.ja).not.toContain(
      'ゾーン外',
    );
  });

  it('refuses zones that lie outside the field’s boundary', async () => {
    const far: PolygonGeometry = {
      type: 'Polygon',
      coordinates: [FIELD.coordinates[0]!.map(([x, y]) => [x! + 0.1, y!])],
    };
    const e = await sbnrcRec(undefined, far).catch((x: unknown) => x);
    expect((e as HatakeError).code).toBe('HATAKE_E_FIELDS');
    expect((e as HatakeError).message).toMatch(/zone f1-z1 lies outside the boundary of field f1/);
  });

  it('ISOXML: the partfield is the field; cells in the masked part get the default rate, cells outside the field 0', async () => {
    const rec = await sbnrcRec(undefined, FIELD);
    const c = rec.coverage!;
    const m = new isoxml.ISOXMLManager();
    await m.parseISOXMLFile(await toIsoxmlZip(rec), 'application/zip');
    expect(m.getWarnings()).toEqual([]);
    const pfd = m.rootElement.attributes.Partfield![0]!;
    expect(pfd.attributes.PartfieldArea).toBe(Math.round(c.fieldAreaHa * 1e4));
    const boundary = (pfd as never as { toGeoJSON(): { coordinates: number[][][][] } }).toGeoJSON();
    expect(
      boundary.coordinates
        .flat(2)
        .map((p) => p.map((v) => v.toFixed(9)).join(','))
        .sort(),
    ).toEqual(
      c.field.coordinates
        .flat(2)
        .map((p) => p.map((v) => v.toFixed(9)).join(','))
        .sort(),
    );
    const task = m.rootElement.attributes.Task![0]!;
    const tzn = (code: number | undefined) =>
      task.attributes.TreatmentZone!.find((t) => t.attributes.TreatmentZoneCode === code)!.attributes
        .ProcessDataVariable![0]!.attributes.ProcessDataValue;
    const mean = Math.round(meanRate(rec) * MG_M2_PER_KG_HA);
    expect(tzn(task.attributes.DefaultTreatmentZoneCode)).toBe(mean);
    expect(tzn(task.attributes.OutOfFieldTreatmentZoneCode)).toBe(0);
    // every cell, from the grid's own numbers and its binary file
    const grid = task.attributes.Grid![0]! as never as {
      attributes: Record<string, number>;
      binaryData: Uint8Array;
    };
    const g = grid.attributes;
    const values = new Int32Array(grid.binaryData.slice().buffer);
    expect(values).toHaveLength(g.GridMaximumColumn! * g.GridMaximumRow!);
    const cellAt = ([x, y]: number[]) => {
      const col = Math.floor((x! - g.GridMinimumEastPosition!) / g.GridCellEastSize!);
      const row = Math.floor((y! - g.GridMinimumNorthPosition!) / g.GridCellNorthSize!);
      return { col, row, value: values[row * g.GridMaximumColumn! + col] };
    };
    // the grid spans the field, not the zones
    expect(g.GridMinimumNorthPosition! + g.GridMaximumRow! * g.GridCellNorthSize!).toBeCloseTo(
      Y0 + 2 * DY,
      9,
    );
    expect(cellAt([X0 + 0.5 * DX, Y0 + 1.5 * DY]).value).toBe(mean); // masked by cloud
    expect(cellAt([X0 + 1.5 * DX, Y0 + 0.5 * DY]).value).toBe(mean); // the hole
    expect(cellAt([X0 + 2.7 * DX, Y0 + 1.9 * DY]).value).toBe(0); // outside the field
    expect(cellAt([X0 + 0.5 * DX, Y0 + 0.5 * DY]).value).toBe(
      Math.round(rec.zones[0]!.rate.productKgHa * MG_M2_PER_KG_HA),
    );
    // All cells whose centre is clear of every edge (the package's point test is float32: ~1 m).
    const seen = { zone: 0, default: 0, outside: 0 };
    const edges = [...c.field.coordinates, ...rec.zones.flatMap((z) => z.geometry.coordinates)];
    for (let row = 0; row < g.GridMaximumRow!; row++)
      for (let col = 0; col < g.GridMaximumColumn!; col++) {
        const centre = [
          g.GridMinimumEastPosition! + (col + 0.5) * g.GridCellEastSize!,
          g.GridMinimumNorthPosition! + (row + 0.5) * g.GridCellNorthSize!,
        ];
        if (edgeDistance(centre, edges) < 2) continue;
        const zone = rec.zones.find((z) => inside(centre, z.geometry.coordinates));
        const want = zone
          ? Math.round(zone.rate.productKgHa * MG_M2_PER_KG_HA)
          : inside(centre, c.field.coordinates)
            ? mean
            : 0;
        seen[zone ? 'zone' : want ? 'default' : 'outside']++;
        expect(values[row * g.GridMaximumColumn! + col], `cell ${col},${row}`).toBe(want);
      }
    expect(seen.zone).toBeGreaterThan(150);
    expect(seen.default).toBeGreaterThan(100);
    expect(seen.outside).toBeGreaterThan(10);
  });

  it('shapefile: the rest of the field is one more polygon, ZONE 0, at the default RATE', async () => {
    const rec = await sbnrcRec(undefined, FIELD);
    const c = rec.coverage!;
    const zip = await toShapefileZip(rec);
    const back = (await shp(
      zip.buffer.slice(zip.byteOffset, zip.byteOffset + zip.byteLength) as ArrayBuffer,
    )) as {
      features: {
        properties: Record<string, unknown>;
        geometry: { type: string; coordinates: number[][][] | number[][][][] };
      }[];
    };
    expect(back.features).toHaveLength(4);
    const rest = back.features[3]!;
    expect(rest.properties.ZONE).toBe(0);
    expect(rest.properties.RATE).toBe(Math.round(meanRate(rec) * 100) / 100);
    expect(rest.properties.AREA_HA).toBe(Math.round(c.uncoveredAreaHa * 1e4) / 1e4);
    // the cloud part and the hole: two polygons, the same rings as the recommendation's
    expect(rest.geometry.type).toBe('MultiPolygon');
    const key = (x: number[][]) => x.map((p) => `${p[0]!.toFixed(9)},${p[1]!.toFixed(9)}`).sort();
    expect((rest.geometry.coordinates as number[][][][]).flat(1).map(key).sort()).toEqual(
      c.uncovered!.coordinates.flat(1).map(key).sort(),
    );
    back.features.slice(0, 3).forEach((f, k) => {
      expect(f.properties.ZONE).toBe(rec.zones[k]!.zone);
      expect(f.properties.RATE).toBe(rec.zones[k]!.rate.productKgHa);
    });
    // the file covers the field: its areas add up to it
    const areas = back.features.reduce((s, f) => s + (f.properties.AREA_HA as number), 0);
    expect(Math.abs(areas - c.fieldAreaHa)).toBeLessThan(4 * 0.5e-4);
  });

  it('GeoJSON and CSV: a "default" row at the mean of the officer’s rates; without coverage, zones only', async () => {
    const rec = await sbnrcRec(undefined, FIELD);
    rec.status = 'edited';
    rec.zones[0]!.edited = { kgNHa: 46, productKgHa: 100, by: 'officer-1', at: NOW, reason: 'test' };
    const mean = meanRate(rec);
    expect(mean).not.toBeCloseTo(meanRate({ ...rec, zones: rec.zones.map(({ edited: _e, ...z }) => z) }), 1);
    const gj = JSON.parse(toGeoJson(rec)) as {
      features: {
        id: string;
        geometry: unknown;
        properties: { zone: number; areaHa: number; productKgHa: number };
      }[];
    };
    expect(gj.features.map((f) => f.id)).toEqual(['f1-z1', 'f1-z2', 'f1-z3', 'default']);
    const d = gj.features[3]!;
    expect(d.properties).toMatchObject({ zone: 0, areaHa: rec.coverage!.uncoveredAreaHa });
    expect(d.properties.productKgHa).toBe(Math.round(mean * 100) / 100);
    expect(d.geometry).toEqual(rec.coverage!.uncovered);
    expect(gj.features.reduce((s, f) => s + f.properties.areaHa, 0)).toBeCloseTo(
      rec.coverage!.fieldAreaHa,
      6,
    );
    const csv = toCsv(rec).trim().split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[1]).toMatch(/^1,"f1-z1",[\d.]+,46,4.6,"urea",100,10,/);
    expect(csv[4]).toMatch(new RegExp(`^0,"default",${rec.coverage!.uncoveredAreaHa},`));
    expect(Number(csv[4]!.split(',')[6])).toBe(Math.round(mean * 100) / 100);
    // a recommendation without coverage (made without the boundary, or before it existed): as before
    const old = await sbnrcRec();
    expect(toCsv(old).trim().split('\n')).toHaveLength(4);
    expect((JSON.parse(toGeoJson(old)) as { features: unknown[] }).features).toHaveLength(3);
    expect(readRecommendation(JSON.parse(JSON.stringify(old)))).toEqual(old);
  });
});
