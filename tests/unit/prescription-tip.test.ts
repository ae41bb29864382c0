// The farmer's tip for an approved prescription (dashboard/review/prescription-tip.ts), on
// recommendations the real rice top-dressing model makes in ONNX: a paddy whose image shows no
// need (SPAD above the chart's last bin: 0 kg N/10a in every zone, as late in the season) says
// plainly that no top-dressing is needed, as information, and does not send the farmer to the
// spreader — nor does one an officer edited down to 0; one with a rate says so the way the pages
// do: kg/10a first in Japanese, kg/ha first in English, and the product total to 0.1 kg as the
// farmer's page writes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prescriptionTip, productTotalText } from '../../dashboard/review/prescription-tip.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { spreadTotals, type Recommendation } from '../../protocol/recommendation.ts';
import { Tip } from '../../protocol/tip.ts';
import { validator } from '../../protocol/validate.ts';

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
const MODEL = 'rice-pi-topdress-ndvi';
const NOW = Date.parse('2026-09-20T00:00:00Z');
let pool: InferencePool;

const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

/** Two zones of a paddy at the given NDVI, scouted at panicle initiation (64 cm, 430 stems/m²). */
async function paddy(ndvi: number[], acquired = '2026-09-18T01:30:00Z'): Promise<Recommendation> {
  const zones = {
    type: 'FeatureCollection',
    features: ndvi.map((mean, k) => ({
      type: 'Feature',
      id: `paddy-1-z${k + 1}`,
      geometry: {
        type: 'MultiPolygon',
        coordinates: [[ring(138.9 + k * 0.0006, 37.8, 138.9 + (k + 1) * 0.0006, 37.8003)]],
      },
      properties: {
        fieldId: 'paddy-1',
        sceneId: 'S2B_20260918',
        acquired,
        zone: k + 1,
        k: ndvi.length,
        pixels: 40,
        areaHa: 0.53,
        validFraction: 1,
        indices: { ndvi: { mean, median: mean, count: 40, validFraction: 1 } },
        attributes: { plant_height_cm: 64, stems_per_m2: 430 },
      },
    })),
  };
  return recommend(pool, {
    farm: 'demo-farm',
    card: reg.entry(MODEL).card,
    profile: reg.profile('rice-shinnosuke-niigata'),
    zones,
    now: NOW,
    by: 'test',
  });
}

const facts = { fieldName: '田んぼ1号', approvedBy: 'officer-1', now: NOW };

beforeAll(async () => {
  pool = await InferencePool.start({ size: 1 });
  await pool.load(reg.load(MODEL));
}, 60_000);
afterAll(async () => {
  await pool?.close();
});

describe('the prescription tip', () => {
  it('says plainly that no top-dressing is needed when every zone gets 0 kg N, and does not ask for the spreader', async () => {
    const rec = await paddy([0.9, 0.92]); // SPAD ≈ 40: the chart's last row, 0 kg N/10a
    expect(rec.zones.map((z) => z.rate.kgNHa)).toEqual([0, 0]);
    const tip = prescriptionTip(rec, facts);
    expect(validator(Tip).problems(tip)).toEqual([]);
    expect(tip.severity).toBe('info');
    expect(tip.title.ja).toBe('田んぼ1号は今回、追肥の必要はありません');
    expect(tip.title.en).toBe('No top-dressing needed for 田んぼ1号');
    expect(tip.text.ja).toBe(
      '普及指導員が承認しました。どのゾーンも 0 kg N/10a です。今回は追肥の必要はなく、散布機に処方を読み込む必要もありません。',
    );
    expect(tip.text.en).toMatch(/no top-dressing is needed this time, and there is nothing to load/);
    for (const text of [tip.title.ja, tip.text.ja])
      expect(text).not.toMatch(/読み込んでください|承認されました/);
    expect(tip.text.en).not.toMatch(/Download the prescription/);
    // Still the prescription's tip: it leads to the prescription (its map, its files for the record).
    expect(tip.action).toMatchObject({ type: 'fertilize', recommendation: rec.id });
  });

  it('says the same of a prescription an officer edited down to 0 kg N', async () => {
    const rec = await paddy([0.75, 0.8]);
    expect(rec.zones.some((z) => z.rate.kgNHa > 0)).toBe(true);
    expect(prescriptionTip(rec, facts).severity).toBe('advisory');
    for (const z of rec.zones)
      z.edited = {
        kgNHa: 0,
        productKgHa: 0,
        by: 'officer-1',
        at: NOW,
        reason: '出穂が近く、穂肥の時期を過ぎた',
      };
    const tip = prescriptionTip(rec, facts);
    expect(tip.severity).toBe('info');
    expect(tip.text.ja).toContain('今回は追肥の必要はなく');
  });

  it('with a rate, reads kg/10a first in Japanese and kg/ha first in English, and the product total as the page writes it', async () => {
    const rec = await paddy([0.75, 0.66]);
    const tip = prescriptionTip(rec, facts);
    expect(tip.severity).toBe('advisory');
    expect(tip.text.ja).toMatch(/平均 \d+\.\d kg N\/10a（\d+\.\d kg N\/ha、\d+\.\d〜\d+\.\d kg N\/10a）/);
    expect(tip.text.en).toMatch(/mean \d+\.\d kg N\/ha \(\d+\.\d kg N\/10a; \d+\.\d–\d+\.\d kg N\/ha\)/);
    expect(tip.text.ja).toContain('処方箋をダウンロードして散布機に読み込んでください。');
    // The product total: one decimal in both languages, as the farmer's page shows it.
    const kg = spreadTotals(rec).productKg;
    expect(tip.text.ja).toContain(`計 ${productTotalText(kg, 'ja')} kg`);
    expect(tip.text.en).toContain(`${productTotalText(kg, 'en')} kg of Ammonium sulfate (21% N) in all`);
    expect(productTotalText(kg, 'ja')).toMatch(/^\d+\.\d$/);
  });

  it('writes a product total to 0.1 kg with the thousands grouped, the same in both languages', () => {
    expect(productTotalText(42.66, 'ja')).toBe('42.7');
    expect(productTotalText(43, 'en')).toBe('43.0');
    expect(productTotalText(1234.56, 'ja')).toBe('1,234.6');
    expect(productTotalText(1234.56, 'en')).toBe('1,234.6');
  });
});
