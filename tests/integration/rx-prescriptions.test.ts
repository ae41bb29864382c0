// Recommendations and prescriptions: per-zone rates clamped to the profile and rounded to the
// spreader step, economics and provenance; a yield-response model picks the economic optimum;
// exported ISOXML is read back by the `isoxml` package and the shapefile by shpjs with the same
// zones and rates; GeoJSON and CSV carry the same numbers; bad documents are refused. Without an
// N-rich strip the reference is the field's 95th percentile, held to GDAL's on a real scene.
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
import { Recommendation } from '../../protocol/recommendation.ts';
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

async function sbnrcRec(profile = 'winter-wheat-osu-2007') {
  return recommend(pool, {
    farm: 'demo-farm',
    card: reg.entry('osu-sbnrc@1.0.0').card,
    profile: reg.profile(profile),
    zones: zones([{ ndvi: 0.45 }, { ndvi: 0.55 }, { ndvi: 0.68 }]),
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
    'rice-pi-topdress-ndvi@1.0.0',
    'lasrosas-corn-rf@1.0.0',
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
