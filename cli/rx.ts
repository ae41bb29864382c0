// `hatake rx recommend | export` — make a nitrogen recommendation for a field from its zones, and
// export a recommendation as a prescription a spreader can load (ISOXML, shapefile, GeoJSON, CSV).
// With the farm manifest (--manifest) the zones are cut to the field's boundary and the
// recommendation's `coverage` says what of the field no zone covers (it gets the default rate).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HatakeError } from '../protocol/errors.ts';
import { modelRef } from '../protocol/model-card.ts';
import type { Observed } from '../edge/inference/inputs.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import { recommend, type RecommendRequest } from '../edge/recommend/recommend.ts';
import { readZones } from '../edge/recommend/zones.ts';
import { codecDirsFromEnv, loadCatalogue } from '../firmware-config/catalogue.ts';
import { loadManifest } from '../firmware-config/manifest-check.ts';
import { readRecommendation } from '../edge/prescriptions/rows.ts';
import { toIsoxmlZip } from '../edge/prescriptions/isoxml.ts';
import { toShapefileZip } from '../edge/prescriptions/shapefile.ts';
import { toGeoJson } from '../edge/prescriptions/geojson.ts';
import { toCsv } from '../edge/prescriptions/csv.ts';
import { registryFor } from './model.ts';
import { options } from './main.ts';

const USAGE = `hatake rx recommend --model MODEL --profile PROFILE --zones zones.geojson
                    (--farm FARM | --manifest MANIFEST.yaml [--kits DIR ...])
                    [--field FIELD] [--attr NAME=VALUE ...] [--n-rich INDEX=VALUE ...] [--out REC.json]
    --manifest: the farm manifest; the field's boundary cuts the zones to the field, and the part
    of the field in no zone (cloud, shadow) gets the default rate in every prescription
hatake rx export REC.json --format isoxml|shp|geojson|csv --out FILE`;
const MAX_JSON_BYTES = 64 * 1024 * 1024;

function readJson(file: string): unknown {
  if (statSync(file).size > MAX_JSON_BYTES)
    throw new HatakeError('HATAKE_E_PAYLOAD_SIZE', `file is larger than ${MAX_JSON_BYTES} bytes`, {
      place: { file },
    });
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HatakeError('HATAKE_E_PAYLOAD_JSON', `not valid JSON: ${(e as Error).message}`, {
      place: { file },
    });
  }
}

function pairs(items: string[] | undefined, flag: string): [string, string][] {
  return (items ?? []).map((kv) => {
    const at = kv.indexOf('=');
    if (at < 1) throw new HatakeError('HATAKE_E_CONFIG', `--${flag} must be NAME=VALUE`, { expected: USAGE });
    return [kv.slice(0, at), kv.slice(at + 1)];
  });
}

export async function rx(args: string[]): Promise<number> {
  const { values: v, positionals } = options(args, {
    model: { type: 'string' },
    profile: { type: 'string' },
    zones: { type: 'string' },
    farm: { type: 'string' },
    field: { type: 'string' },
    attr: { type: 'string', multiple: true },
    'n-rich': { type: 'string', multiple: true },
    models: { type: 'string', multiple: true },
    manifest: { type: 'string' },
    kits: { type: 'string', multiple: true },
    codecs: { type: 'string', multiple: true },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  const [action, file] = positionals;

  if (action === 'export') {
    if (!file || !v.format || !v.out)
      throw new HatakeError('HATAKE_E_CONFIG', 'export needs REC.json, --format and --out', {
        expected: USAGE,
      });
    const rec = readRecommendation(readJson(file), file);
    let bytes: Uint8Array | string;
    if (v.format === 'isoxml') bytes = await toIsoxmlZip(rec);
    else if (v.format === 'shp') bytes = await toShapefileZip(rec);
    else if (v.format === 'geojson') bytes = toGeoJson(rec);
    else if (v.format === 'csv') bytes = toCsv(rec);
    else
      throw new HatakeError('HATAKE_E_CONFIG', `unknown format "${v.format.slice(0, 20)}"`, {
        expected: 'isoxml, shp, geojson or csv',
      });
    writeFileSync(v.out, bytes);
    const rest = rec.coverage?.uncovered
      ? `, ${rec.coverage.uncoveredAreaHa} ha in no zone at the default rate`
      : '';
    process.stdout.write(
      `wrote ${v.out} (${v.format}, ${rec.zones.length} zones, ${rec.totals.productKg} kg ${rec.product.id}${rest})\n`,
    );
    return 0;
  }

  if (action === 'recommend') {
    if (!v.model || !v.profile || !v.zones || (!v.farm && !v.manifest))
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        'recommend needs --model, --profile, --zones and --farm (or --manifest)',
        { expected: USAGE },
      );
    const zones = readJson(v.zones);
    let farm = v.farm;
    let boundary: RecommendRequest['boundary'];
    if (v.manifest) {
      const manifest = loadManifest(resolve(v.manifest), {
        catalogue: loadCatalogue(
          (v.kits ?? []).map((d) => resolve(d)),
          { codecDirs: [...(v.codecs ?? []).map((d) => resolve(d)), ...codecDirsFromEnv()] },
        ),
      });
      if (farm !== undefined && farm !== manifest.farm.id)
        throw new HatakeError(
          'HATAKE_E_CONFIG',
          `--farm ${farm.slice(0, 100)} is not the manifest's farm ${manifest.farm.id}`,
          { expected: `--farm ${manifest.farm.id}, or no --farm`, place: { file: v.manifest } },
        );
      farm = manifest.farm.id;
      // the field as recommend() will take it: --field, else the zones' own
      const fieldId = v.field ?? readZones(zones, 'zones').fieldId;
      const field = manifest.fields.find((f) => f.id === fieldId);
      if (!fieldId || !field)
        throw new HatakeError(
          'HATAKE_E_CONFIG',
          fieldId
            ? `field ${JSON.stringify(fieldId.slice(0, 100))} is not in the manifest`
            : 'the zones name no field: name it (--field)',
          {
            expected: `--field and one of ${manifest.fields
              .slice(0, 10)
              .map((f) => f.id)
              .join(', ')}`,
            place: { file: v.manifest },
          },
        );
      boundary = field.boundary;
      if (!boundary)
        process.stderr.write(
          `field ${field.id} has no boundary in the manifest: the zones are taken as they are (no coverage)\n`,
        );
    }
    const reg = registryFor(v.models ?? []);
    const model = reg.load(modelRef(reg.entry(v.model).card));
    const profile = reg.profile(v.profile);
    const now = Date.now();
    const fieldAttributes: Record<string, Observed> = {};
    for (const [k, val] of pairs(v.attr, 'attr')) {
      const num = Number(val);
      fieldAttributes[k] = {
        value: val.trim() !== '' && Number.isFinite(num) ? num : val,
        time: now,
        source: 'command line',
      };
    }
    const nRich = pairs(v['n-rich'], 'n-rich');
    const reference = nRich.length
      ? {
          kind: 'n_rich_strip' as const,
          values: Object.fromEntries(nRich.map(([k, x]) => [k, Number(x)])),
          time: now,
          source: 'N-rich strip (command line)',
        }
      : { kind: 'virtual_p95' as const };
    const pool = await InferencePool.start({ size: 1 });
    try {
      await pool.load(model);
      const rec = await recommend(pool, {
        farm: farm!,
        field: v.field,
        card: model.card,
        profile,
        zones,
        ...(boundary ? { boundary } : {}),
        fieldAttributes,
        reference,
        now,
        by: 'hatake rx recommend',
      });
      const text = `${JSON.stringify(rec, null, 2)}\n`;
      if (v.out) writeFileSync(v.out, text);
      else process.stdout.write(text);
      const t = rec.totals;
      const c = rec.coverage;
      process.stderr.write(
        `${rec.id}: ${rec.zones.length} zones, ${t.areaHa} ha, N ${t.nKg} kg, ${rec.product.name.ja} ${t.productKg} kg, ` +
          `増収 ${t.yieldGainKg} kg, 費用 ¥${t.costYen}, 利益 ¥${t.marginYen} (審査待ち / pending review)\n` +
          (c
            ? `field ${c.fieldAreaHa} ha: ${c.uncoveredAreaHa} ha in no zone (既定の施肥量 / default rate in the prescriptions)\n`
            : ''),
      );
    } finally {
      await pool.close();
    }
    return 0;
  }

  throw new HatakeError('HATAKE_E_CONFIG', action ? `unknown rx action "${action}"` : 'missing rx action', {
    expected: USAGE,
  });
}
