// The translation catalogue of the web app covers every key the pages use — the literal ones and
// the families built from protocol values (`status_${status}` for every review status, …) — in
// both languages (and a name for every input of the model cards the repository ships, which the
// officer reads); the Japanese side is Japanese; every crop the rules know reads in both languages
// (from the rules' crop table, not a copy); and rates read kg/10a first in Japanese.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOGUE, cropName, translate } from '../../dashboard/ui/i18n.ts';
import { CROPS, type CropId } from '../../edge/rules/crops.ts';
import { rateParts, fmtValue } from '../../dashboard/ui/format.ts';
import { REVIEW_STATUSES } from '../../protocol/recommendation.ts';
import {
  AUDIT_ACTIONS,
  InputFreshness,
  PRESCRIPTION_FORMATS,
  ReviewDetail,
  OverrideSource,
  TIP_STATES,
} from '../../protocol/review.ts';
import { AUTOMATION_EVENTS, ManualOverride } from '../../protocol/automation.ts';
import { TIP_SEVERITIES } from '../../protocol/tip.ts';
import { DEVICE_STATES, DeviceKeyPlan, SERIES_RANGES } from '../../protocol/views.ts';
import { MANIFEST_PROBLEM_CODES } from '../../dashboard/ui/manifest-problems.ts';
import { DOWNLINK_KINDS, GATEWAY_ALERT_TYPES } from '../../dashboard/ui/gateway-alerts.ts';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { ModelCard } from '../../protocol/model-card.ts';

const UI = join(import.meta.dirname, '../../dashboard/ui');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.tsx?$/.test(n) && !n.endsWith('.config.ts') ? [p] : [];
  });
}

const literals = (u: { anyOf?: { const?: unknown }[] }) => (u.anyOf ?? []).map((s) => String(s.const));

/** The inputs of every model card this repository ships (published and trained): the officer reads their names. */
const MODEL_DIRS = ['../../models/artifacts', '../../models/trained'].map((d) =>
  join(import.meta.dirname, d),
);
const modelInputs = [
  ...new Set(
    MODEL_DIRS.flatMap((dir) =>
      readdirSync(dir)
        .filter((n) => n.endsWith('.card.json'))
        .flatMap((n) =>
          (JSON.parse(readFileSync(join(dir, n), 'utf8')) as { inputs: { name: string }[] }).inputs.map(
            (i) => i.name,
          ),
        ),
    ),
  ),
];

/** The values each family of keys is built from, straight from the protocol. */
const FAMILIES: Record<string, readonly string[]> = {
  status_: REVIEW_STATUSES,
  audit_: AUDIT_ACTIONS,
  tipState_: TIP_STATES,
  severity_: TIP_SEVERITIES,
  event_: AUTOMATION_EVENTS,
  format_: PRESCRIPTION_FORMATS,
  range_: SERIES_RANGES,
  state_: DEVICE_STATES,
  override_: literals(ManualOverride.properties.mode),
  overrideSource_: literals(OverrideSource),
  card_: literals(ReviewDetail.properties.model.properties.cardStatus),
  fittedStatus_: literals(ModelCard.properties.fitted.properties.status),
  clamped_: ['min', 'max'],
  inputCategory_: literals(InputFreshness.properties.category),
  modelInput_: modelInputs,
  manifestProblem_: MANIFEST_PROBLEM_CODES,
  error_: Object.keys(ERROR_CODES),
  gatewayEvent_: GATEWAY_ALERT_TYPES,
  downlinkKind_: DOWNLINK_KINDS,
  keyAction_: literals(DeviceKeyPlan.properties.key),
};

const code = sources(UI).map((f) => ({ f, text: readFileSync(f, 'utf8') }));
const used = new Set<string>();
for (const { text } of code) {
  for (const m of text.matchAll(/\bt\(\s*'([A-Za-z0-9_]+)'\s*\)/g)) used.add(m[1]!);
  // t(cond ? 'a' : 'b'): the keys are the quoted strings after ? and :.
  for (const m of text.matchAll(/\bt\(([^()`]*\?[^()`]*)\)/g))
    for (const k of m[1]!.matchAll(/[?:]\s*'([A-Za-z0-9_]+)'/g)) used.add(k[1]!);
}
const families = new Set<string>();
for (const { text } of code) for (const m of text.matchAll(/\bt\(`([A-Za-z]+_)\$\{/g)) families.add(m[1]!);

describe('the translation catalogue', () => {
  it('finds the keys the pages use', () => {
    expect(used.size).toBeGreaterThan(150);
    expect(families.size).toBeGreaterThanOrEqual(14);
    expect(modelInputs).toEqual(expect.arrayContaining(['ndvi', 'adjust_ri', 'ri_slope', 'vi', 'nitro']));
  });

  it('has every literal key used, in Japanese and English, non-empty', () => {
    const missing = [...used].filter((k) => !CATALOGUE.ja[k as never] || !CATALOGUE.en[k as never]);
    expect(missing).toEqual([]);
  });

  it('has every key of every family the pages build from protocol values', () => {
    const unknown = [...families].filter((f) => !FAMILIES[f]);
    expect(unknown, 'a t(`prefix_${…}`) family the test does not know: add its values to FAMILIES').toEqual(
      [],
    );
    const missing = [...families].flatMap((f) =>
      FAMILIES[f]!.map((v) => `${f}${v.replace(/-/g, '_')}`).filter(
        (k) => !CATALOGUE.ja[k as never] || !CATALOGUE.en[k as never],
      ),
    );
    expect(missing).toEqual([]);
  });

  it('keeps no key that no page uses', () => {
    const familyKeys = new Set(
      [...families].flatMap((f) => FAMILIES[f]!.map((v) => `${f}${v.replace(/-/g, '_')}`)),
    );
    const unused = Object.keys(CATALOGUE.ja).filter((k) => !used.has(k) && !familyKeys.has(k));
    expect(unused).toEqual([]);
  });

  it('writes the Japanese side in Japanese: kana or kanji in every string, Latin only for names and units', () => {
    const ALLOWED = new Set([
      'NDVI',
      'QR',
      'ESPHome',
      'YAML',
      'GeoJSON',
      'DevEUI',
      'LoRaWAN',
      'CSV',
      'kg',
      'ha',
      'English',
      // URL schemes, in the base map's address check.
      'http',
      'https',
    ]);
    const problems: string[] = [];
    for (const [k, v] of Object.entries(CATALOGUE.ja)) {
      if (!/[\u3040-\u30ff\u3400-\u9fff]/.test(v)) problems.push(`${k}: no Japanese in "${v}"`);
      for (const w of v.replace(/\{[a-z]+\}/g, '').match(/[A-Za-z]{2,}/g) ?? [])
        if (!ALLOWED.has(w)) problems.push(`${k}: "${w}" in "${v}"`);
      if (v === CATALOGUE.en[k as keyof typeof CATALOGUE.en]) problems.push(`${k}: same as English`);
    }
    expect(problems).toEqual([]);
  });

  it('returns the key itself for a key it does not have, so a missing key is visible (and tested for)', () => {
    expect(translate('ja', 'no_such_key')).toBe('no_such_key');
    expect(translate('en', 'signIn')).toBe('Sign in');
  });
});

describe('crop names', () => {
  const ids = Object.keys(CROPS) as CropId[];
  const JAPANESE = /^[\u3040-\u30ff\u3400-\u9fff]+$/;

  it('names every crop of the rules’ crop table in Japanese and in English, each alias as its crop', () => {
    expect(ids.length).toBeGreaterThanOrEqual(6);
    const problems: string[] = [];
    for (const id of ids) {
      const ja = cropName(id, 'ja');
      const en = cropName(id, 'en');
      if (ja !== CROPS[id].ja || !JAPANESE.test(ja)) problems.push(`${id}: ja "${ja}"`);
      if (en.toLowerCase() !== CROPS[id].en || !/^[A-Z][a-z -]+$/.test(en))
        problems.push(`${id}: en "${en}"`);
      for (const alias of CROPS[id].aliases) {
        if (cropName(alias, 'ja') !== ja)
          problems.push(`${id}: alias "${alias}" reads "${cropName(alias, 'ja')}"`);
        if (cropName(alias, 'en') !== en)
          problems.push(`${id}: alias "${alias}" reads "${cropName(alias, 'en')}"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('reads the crop ids the gateway and manifests use, whatever their spelling', () => {
    expect(cropName('corn', 'ja')).toBe('トウモロコシ');
    expect(cropName('corn', 'en')).toBe('Maize');
    expect(cropName('winter_wheat', 'ja')).toBe('小麦');
    expect(cropName('Winter Wheat', 'en')).toBe('Wheat');
    expect(cropName('tomato', 'ja')).toBe('トマト');
    expect(cropName('ジャガイモ', 'en')).toBe('Potato');
  });

  it('shows a crop the table does not know as the farmer wrote it', () => {
    expect(cropName('アスパラガス', 'ja')).toBe('アスパラガス');
    expect(cropName('asparagus', 'en')).toBe('asparagus');
  });

  it('keeps no copy of the crop names in the catalogue, and no page names a crop another way', () => {
    expect(Object.keys(CATALOGUE.ja).filter((k) => k.startsWith('crop_'))).toEqual([]);
    // Every line of the UI that shows a crop (`x.crop`) shows it through cropName.
    const other = code.flatMap(({ f, text }) =>
      text
        .split('\n')
        .filter((l) => /crop_/.test(l) || (/\.crop\b/.test(l) && !/cropName\(/.test(l)))
        .map((l) => `${f}: ${l.trim()}`),
    );
    expect(other).toEqual([]);
  });
});

describe('units as farmers read them', () => {
  it('shows a rate in kg/10a first in Japanese and kg/ha first in English (1 kg/10a = 10 kg/ha)', () => {
    expect(rateParts(125, 'ja')).toEqual(['12.5 kg/10a', '125 kg/ha']);
    expect(rateParts(125, 'en')).toEqual(['125 kg/ha', '12.5 kg/10a']);
    expect(rateParts(0, 'ja')).toEqual(['0 kg/10a', '0 kg/ha']);
  });

  it('shows soil moisture in % and temperatures in °C', () => {
    expect(fmtValue('soil_vwc', 0.234, 'm3/m3', 'ja')).toEqual({ value: '23.4', unit: '%' });
    expect(fmtValue('air_temperature', 23.44, 'degC', 'en')).toEqual({ value: '23.4', unit: '°C' });
  });
});
