// The extension officer's journey in a real browser: a recommendation made by the real model
// arrives through a sync batch; the officer opens it from the queue, edits one zone's rate (typed
// in kg/10a, as Japanese officers read it) with a reason, approves it, and the farmer's API then
// serves the edited rate. The inputs read with their names, zones and sources; the heatmap of the
// scene the recommendation was computed from (not the field's latest) lies under its zones; the
// farm's auto-approval is offered beside the decision. The region overview and the CSV export of
// decisions are checked too. Then the review page itself: rates typed in and approved in one click
// (saved with the reason first, the server's adjustments said, each change in the audit), a newer
// recommendation arriving while the page is open (said live, with a link, nothing typed lost), an
// action refused because a colleague decided first, and stale inputs marked and confirmed. The
// prescription map colours and names each zone by the rate it gets, with a legend; the heatmap's
// legend is in the reader's language; a rice recommendation whose zones a cloud left short of the
// field says so above its rates (the default rate of the rest), and reads its guideline table and
// its model card's English as such; an inverted date range exports nothing and says why. Every
// rate reads the same in the zone table as on the map and in the audit (3.91 kg/10a, not 3.9), the
// spreader step in kg/10a beside kg/ha in both languages; the inputs' sources read in the page's
// language; the economics count the field's N as the farmer's page does (the uncovered rest too).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import type { ReviewDetail, ReviewQueueItem } from '../../protocol/review.ts';
import type { ImageryResult } from '../../protocol/sync.ts';
import type { RegionOverview } from '../../protocol/views.ts';
import { spreadTotals, type PolygonGeometry, type Recommendation } from '../../protocol/recommendation.ts';
import { MASKED_RGBA, rampColour } from '../../edge/imagery/heatmap.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { defaultRow } from '../../edge/prescriptions/rows.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import {
  accessibilityProblems,
  launch,
  phonePage,
  screenshots,
  signInAs,
  signInByKeyboard,
  untranslatedWords,
} from './browser.ts';
import { POLL } from './poll.ts';
import { seedImagery, SeedGateway, wheatRecommendation } from './seed.ts';

let stack: Stack;
let browser: Browser;
let page: Page;
let recId: string;
/** The scene the recommendation was computed from, and a newer one that is the field's latest. */
let recScene: string;
let recImagery: ImageryResult;
let latestScene: string;
let gw: SeedGateway;

/**
 * A rate as the page writes it in Japanese: kg/10a with one to three decimals (to 0.01 kg/ha, as the
 * decisions CSV writes it: 19.95 kg N/ha is 1.995).
 */
const per10a = (kgHa: number) =>
  new Intl.NumberFormat('ja-JP', { minimumFractionDigits: 1, maximumFractionDigits: 3 }).format(kgHa / 10);

/** A total as the farmer's page writes it (farmer.tsx SpreadTotals): "12.3 kg". */
const kgText = (v: number, lang: 'ja' | 'en', digits: number) =>
  `${new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', { maximumFractionDigits: digits }).format(v)} kg`;

/**
 * What the prescription map writes over each zone: "ゾーン1 5.1 kg/10a", in the map's order, once
 * the map has settled (a tag the map drew again fades out for 200 ms before it leaves the page).
 */
async function mapTags(map: Locator): Promise<string[]> {
  const read = () =>
    map
      .locator('.map-tag')
      .evaluateAll((els) =>
        els
          .filter((e) => (e as HTMLElement).style.opacity !== '0')
          .map((e) => Array.from(e.querySelectorAll('span span'), (s) => s.textContent).join(' ')),
      );
  let last = await read();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await read();
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  return last;
}

/** Relative luminance of an "rgb(r, g, b)" or "#rrggbb" colour (WCAG 2). */
function luminance(colour: string): number {
  const rgb = colour.startsWith('#')
    ? [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16))
    : colour.match(/\d+/g)!.slice(0, 3).map(Number);
  const lin = rgb.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
  return 0.2126 * lin[0]! + 0.7152 * lin[1]! + 0.0722 * lin[2]!;
}

/** The colour of an element's screenshot at (fx, fy), fractions of its width and height. */
async function colourAt(shot: Buffer, fx: number, fy: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const x = Math.min(info.width - 1, Math.round(fx * (info.width - 1)));
  const y = Math.min(info.height - 1, Math.round(fy * (info.height - 1)));
  const i = (y * info.width + x) * 3;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

/**
 * A rice top-dressing recommendation for paddy-1 made by the real ONNX model, with the field's
 * boundary: two zones over the west two thirds of the field (138.9000–138.9008 E), the east third
 * under a cloud, so the recommendation's coverage leaves it to the default rate.
 */
async function riceRecommendation(
  profile: string,
  boundary: PolygonGeometry,
  acquired: string,
  sceneId: string,
): Promise<Recommendation> {
  const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
  const pool = await InferencePool.start({ size: 1 });
  try {
    await pool.load(reg.load('rice-pi-topdress-ndvi@1.1.0'));
    const ndvi = [0.6, 0.75];
    const zones = {
      type: 'FeatureCollection',
      features: ndvi.map((mean, k) => ({
        type: 'Feature',
        id: `paddy-1-z${k + 1}`,
        geometry: {
          type: 'MultiPolygon',
          coordinates: [[ring(138.9 + k * 0.0004, 37.8, 138.9 + (k + 1) * 0.0004, 37.8003)]],
        },
        properties: {
          fieldId: 'paddy-1',
          sceneId,
          acquired,
          zone: k + 1,
          areaHa: 0.12,
          validFraction: 1,
          indices: { ndvi: { mean, count: 12, validFraction: 1 } },
          attributes: { plant_height_cm: 64, stems_per_m2: 430 },
        },
      })),
    };
    return await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('rice-pi-topdress-ndvi@1.1.0').card,
      profile: reg.profile(profile),
      zones,
      boundary,
      now: Date.now(),
      by: 'gateway gw-seed',
    });
  } finally {
    await pool.close();
  }
}

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  const farmer = await signIn(stack.httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  const manifest = demoManifest();
  gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm');
  // The recommendation's scene, five days old; then a newer one (two days old) becomes the latest.
  const acquired = new Date(Date.now() - 5 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  recImagery = await seedImagery(gw, manifest, acquired);
  recScene = recImagery.sceneId;
  latestScene = (await seedImagery(gw, manifest)).sceneId;
  expect(latestScene).not.toBe(recScene);
  const rec = await wheatRecommendation('demo-farm', 'upland-1', acquired, recScene);
  recId = rec.id;
  await gw.send([{ kind: 'recommendation', body: rec }]);
  page = await phonePage(browser, stack.httpUrl);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the officer journey', () => {
  it('approves a recommendation with an edited rate', { timeout: 90_000 }, async () => {
    await signInByKeyboard(page, 'demo-officer');
    await page.getByRole('heading', { level: 1, name: '審査待ち' }).waitFor();
    // The heatmap PNG of the recommendation's own scene, requested as the review opens.
    const heatmapPath = 'maps%2Fupland-1%2Fndvi.png';
    const heatmapResponse = page.waitForResponse(
      (res) => res.url().includes('/api/v1/farms/demo-farm/scenes/') && res.url().includes(heatmapPath),
    );
    await page.getByTestId(`queue-${recId}`).getByRole('link').click();
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    await page.locator('.leaflet-overlay-pane path').first().waitFor();

    // The imagery beside the rates: that scene's heatmap (not the field's latest) under the
    // recommendation's three zones and the field's boundary, with the legend.
    const png = await heatmapResponse;
    expect(png.status()).toBe(200);
    expect(png.headers()['content-type']).toBe('image/png');
    expect(png.url()).toContain(`/scenes/${encodeURIComponent(recScene)}/file?path=${heatmapPath}`);
    const evidence = page.getByTestId('review-heatmap');
    const heatmap = evidence.locator('img.heatmap');
    await heatmap.waitFor();
    await eventually(
      () => heatmap.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0),
      10_000,
    );
    const src = (await heatmap.getAttribute('src'))!;
    expect(src).toContain(`/scenes/${encodeURIComponent(recScene)}/`);
    expect(src).not.toContain(latestScene);
    await expect.poll(() => heatmap.getAttribute('alt'), POLL).toBe('NDVI ヒートマップ');
    await expect(evidence.locator('.leaflet-overlay-pane path').count()).resolves.toBe(1 + 3); // field + zones
    // The legend: the scene's own ramp and masked swatch (two crops of its legend PNG), the words
    // and values written by the page in Japanese.
    const legend = evidence.getByTestId('heatmap-legend');
    const legendImages = legend.locator('img');
    await expect(legendImages.count()).resolves.toBe(2);
    for (const img of await legendImages.all()) {
      await eventually(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0), 10_000);
      await expect
        .poll(() => img.getAttribute('src'), POLL)
        .toContain(`/scenes/${encodeURIComponent(recScene)}/`);
    }
    const ndviMean = recImagery.stats.fields['upland-1']!.indices.ndvi!.mean!;
    await expect
      .poll(() => legend.locator('.legend-title').textContent(), POLL)
      .toBe(
        `NDVI · 圃場平均 ${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 2 }).format(ndviMean)}`,
      );
    await expect(legend.getByTestId('heatmap-ticks').locator('span').allTextContents()).resolves.toEqual([
      '0',
      '0.25',
      '0.5',
      '0.75',
      '1',
    ]);
    await legend.getByText('灰色: 雲や影などで値のない画素').waitFor();
    await expect(legend.textContent()).resolves.not.toMatch(/masked|no data|NIR/);
    // The crop is the PNG's ramp, not its English title or a white margin: along the bar the colours
    // are the ramp's (edge/imagery/heatmap.ts) at the same place, and the swatch is grey.
    const bar = await legend.locator('.legend-crop.bar').screenshot();
    for (const x of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const seen = await colourAt(bar, x, 0.5);
      // The crop spans the PNG's x 15–305, the ramp x 16–304.
      const expected = rampColour((15 + x * 290 - 16) / 288, 0, 1);
      seen.forEach((c, i) => expect(Math.abs(c - expected[i]!), `ramp at ${x}`).toBeLessThanOrEqual(16));
    }
    const swatch = await colourAt(await legend.locator('.legend-crop.swatch').screenshot(), 0.5, 0.5);
    expect(Math.max(...swatch) - Math.min(...swatch)).toBeLessThanOrEqual(6);
    expect(swatch[0]).toBeGreaterThanOrEqual(MASKED_RGBA[0]);
    expect(swatch[0]).toBeLessThan(240);

    // The prescription map: each zone filled by its rate (darker for more), named on the map with
    // its rate, the field's outline over them, and a legend in kg/10a.
    const shown = (await (
      await (
        await signIn(stack.httpUrl, 'demo-officer')
      )(`/api/v1/reviews/${recId}`)
    ).json()) as ReviewDetail;
    const rx = page.locator('section[aria-labelledby="rmap-h"]');
    const zoneOrder = shown.recommendation.zones.map((z) => shown.zones.find((a) => a.id === z.id)!);
    await expect(mapTags(rx)).resolves.toEqual(
      zoneOrder.map((z) => `ゾーン${z.zone} ${per10a(z.applied.kgNHa)} kg/10a`),
    );
    const paths = rx.locator('.leaflet-overlay-pane path');
    await expect(paths.count()).resolves.toBe(3 + 1); // zones + the field
    const fills = await paths.evaluateAll((ps) => ps.map((p) => p.getAttribute('fill')!));
    const byRate = zoneOrder
      .map((z, k) => ({ kg: z.applied.kgNHa, lum: luminance(fills[k]!) }))
      .sort((a, b) => a.kg - b.kg);
    expect(new Set(byRate.map((z) => z.kg)).size).toBe(3);
    for (let k = 1; k < byRate.length; k++) expect(byRate[k]!.lum).toBeLessThan(byRate[k - 1]!.lum);
    const rxLegend = rx.getByTestId('rx-legend');
    await expect
      .poll(() => rxLegend.locator('.rx-legend-title').textContent(), POLL)
      .toBe('窒素量（kg/10a）');
    await expect(
      rxLegend.getByTestId('rx-legend-rate').locator('.rx-rate').allTextContents(),
    ).resolves.toEqual(
      [...zoneOrder].sort((a, b) => a.applied.kgNHa - b.applied.kgNHa).map((z) => per10a(z.applied.kgNHa)),
    );
    await rxLegend.getByText('圃場の境界').waitFor();
    await expect(rx.getByTestId('rx-legend-default').count()).resolves.toBe(0);
    for (const width of [360, 1280]) {
      await page.setViewportSize({ width, height: width === 360 ? 740 : 900 });
      await heatmap.scrollIntoViewIfNeeded();
      await expect(heatmap.isVisible()).resolves.toBe(true);
      const box = (await evidence.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(width);
    }
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-review-heatmap');
    await page.getByRole('heading', { name: '入力データと鮮度' }).waitFor();
    await page.getByRole('heading', { name: 'モデル情報' }).waitFor();
    await page.getByRole('heading', { name: '経済性' }).waitFor();

    const officer = await signIn(stack.httpUrl, 'demo-officer');
    const before = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as ReviewDetail;

    // The inputs: a readable name with the model's own beneath it (and as its tooltip), the zones
    // each was read for, its source, and its value without the dimensionless unit "1".
    const inputs = page.locator('table.inputs');
    const num = (v: number | string) =>
      typeof v === 'number' ? new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 3 }).format(v) : v;
    const slope = before.inputs.find((i) => i.name === 'ri_slope')!;
    expect(slope).toMatchObject({ unit: '1', zones: 'all', category: 'constant' });
    const slopeRow = inputs.locator('tr[data-input="ri_slope"]');
    await expect.poll(() => slopeRow.locator('th').textContent(), POLL).toBe('反応指数補正の傾きri_slope');
    await expect.poll(() => slopeRow.locator('th [title]').getAttribute('title'), POLL).toBe('ri_slope');
    await expect.poll(() => slopeRow.getByTestId('input-value').textContent(), POLL).toBe(num(slope.value));
    await expect.poll(() => slopeRow.getByTestId('input-zones').textContent(), POLL).toBe('圃場全体');
    // Its source in Japanese, the profile and the path in it as written; the gateway's own words as the tooltip.
    const [, profileRef, profilePath] = /^profile (\S+) (\S+)$/.exec(slope.source)!;
    await expect
      .poll(() => slopeRow.getByTestId('input-source').textContent(), POLL)
      .toBe(`定数作物プロファイル ${profileRef} の ${profilePath}`);
    await expect
      .poll(() => slopeRow.getByTestId('input-source-words').getAttribute('title'), POLL)
      .toBe(slope.source);
    await expect
      .poll(() => inputs.locator('tr[data-input="adjust_ri"] th').textContent(), POLL)
      .toMatch(/^反応指数の補正/);
    // One NDVI row for each zone, each naming its zone (by number) and the scene it came from.
    const ndvi = before.inputs.filter((i) => i.name === 'ndvi');
    expect(ndvi.length).toBe(before.zones.length);
    const ndviRows = inputs.locator('tr[data-input="ndvi"]');
    await expect(ndviRows.getByTestId('input-zones').allTextContents()).resolves.toEqual(
      ndvi.map((i) => String(before.zones.find((z) => z.id === (i.zones as string[])[0])!.zone)),
    );
    await expect(ndviRows.getByTestId('input-value').allTextContents()).resolves.toEqual(
      ndvi.map((i) => num(i.value)),
    );
    await expect
      .poll(() => ndviRows.first().getByTestId('input-source').textContent(), POLL)
      .toBe(`衛星画像ゾーンの NDVI の平均（シーン ${recScene}）`);
    expect(ndvi[0]!.source).toBe(`index_stat ndvi.mean scene ${recScene}`);
    // The reference: the N-rich strip, named in Japanese (the gateway wrote "n_rich_strip ndvi: N-rich strip").
    const ref = before.inputs.find((i) => i.name === 'ndvi_ref')!;
    expect(ref.source).toBe('n_rich_strip ndvi: N-rich strip');
    await expect
      .poll(
        () => inputs.locator('tr[data-input="ndvi_ref"]').getByTestId('input-source-words').textContent(),
        POLL,
      )
      .toBe('Nリッチストリップ');
    // No source reads as the gateway's English on the Japanese page, outside the names it holds.
    const words = await inputs.getByTestId('input-source-words').evaluateAll((els) =>
      els.map((e) => {
        const c = e.cloneNode(true) as HTMLElement;
        c.querySelectorAll('[translate="no"]').forEach((n) => n.remove());
        return c.textContent ?? '';
      }),
    );
    expect(words.length).toBeGreaterThan(before.inputs.length / 2);
    expect(words.filter((w) => /[A-Za-z]{2,}/.test(w))).toEqual([]);
    const days = before.inputs.find((i) => i.name === 'days')!;
    await expect
      .poll(() => inputs.locator('tr[data-input="days"]').getByTestId('input-value').textContent(), POLL)
      .toBe(`${num(days.value)} 日`);
    const values = await inputs.getByTestId('input-value').allTextContents();
    expect(values.length).toBe(before.inputs.length);
    expect(values.filter((v) => / 1$/.test(v))).toEqual([]);
    // Every input of the model has a Japanese name: no row shows the model's name alone.
    await expect(inputs.locator('tbody th > code').count()).resolves.toBe(0);

    // Auto-approval of the farm, where the officer decides on its recommendations: none yet, the
    // recommendation's model suggested, the ceiling checked in kg/10a before anything is sent.
    const auto = page.getByTestId('auto-approval');
    await auto.getByText('自動承認は設定されていません').waitFor();
    await expect.poll(() => auto.getByLabel('対象のモデル').inputValue(), POLL).toBe('osu-sbnrc');
    await auto.getByLabel('窒素量の上限').fill('51');
    await auto.getByRole('button', { name: '自動承認を設定' }).click();
    await auto.getByText('0〜50 kg/10a の範囲で入れてください').waitFor();
    await expect(auto.getByTestId('auto-approval-confirm').count()).resolves.toBe(0);
    await auto.getByLabel('窒素量の上限').fill('');
    const zone = before.zones[0]!;
    // A rate inside the profile's limits and on the spreader step, typed in kg/10a.
    const typedKg10a = Math.round(zone.recommended.kgNHa / 10) + 1;
    await page.getByTestId(`edit-${zone.id}`).fill(String(typedKg10a));
    await page.getByLabel('理由（記録されます）').fill('西側の区画は前作の残渣が多く、窒素を増やす');
    await page.getByRole('button', { name: '修正を保存' }).click();
    await page.getByText('修正を保存しました').waitFor();
    await page.getByTestId('review-status').filter({ hasText: '修正済み' }).waitFor();
    // The map shows the edited rate: the zone is named with it, and coloured by it.
    const edited = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as ReviewDetail;
    const editedZone = edited.zones.find((z) => z.id === zone.id)!;
    expect(editedZone.edited).not.toBeNull();
    await expect(mapTags(rx)).resolves.toContain(
      `ゾーン${editedZone.zone} ${per10a(editedZone.applied.kgNHa)} kg/10a`,
    );
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-review');
    // Approved from the keyboard.
    await page.getByRole('button', { name: '承認する' }).focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('review-status').filter({ hasText: '承認済み' }).waitFor();

    const after = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as ReviewDetail;
    expect(after.status).toBe('approved');
    const applied = after.zones.find((z) => z.id === zone.id)!.applied.kgNHa;
    // Held to the profile's spreader step, the applied rate is within one step of what was typed.
    expect(Math.abs(applied - typedKg10a * 10)).toBeLessThanOrEqual(after.limits?.stepKgProductHa ?? 10);
    expect(after.zones.find((z) => z.id === zone.id)!.edited?.reason).toMatch(/西側/);
    expect(after.audit.map((a) => a.action)).toEqual(expect.arrayContaining(['edited', 'approved']));

    // The farmer now sees it, with the edited rate.
    const farmer = await signIn(stack.httpUrl, 'demo-farmer');
    const res = await farmer(`/api/v1/recommendations/${recId}`);
    expect(res.status).toBe(200);
    const seen = (await res.json()) as { zones: { id: string; rate: { kgNHa: number }; edited: boolean }[] };
    expect(seen.zones.find((z) => z.id === zone.id)).toMatchObject({
      edited: true,
      rate: { kgNHa: applied },
    });
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-approved');
  });

  it('shows the region overview and exports the decisions as CSV', { timeout: 60_000 }, async () => {
    await page.getByRole('link', { name: '地域の概要' }).click();
    await page.getByTestId('farm-demo-farm').waitFor();
    // The farm's open reviews, as the server counts them.
    const officer = await signIn(stack.httpUrl, 'demo-officer');
    const overview = (await (await officer('/api/v1/overview')).json()) as RegionOverview;
    const demo = overview.farms.find((f) => f.id === 'demo-farm')!;
    expect(demo.pendingReviews).toEqual(expect.any(Number));
    await expect
      .poll(() => page.getByTestId('pending-demo-farm').textContent(), POLL)
      .toBe(String(demo.pendingReviews));
    // On a 360 px phone the tables fit, and no number, date or word breaks ("0 / ↵3", "ND↵VI"): a
    // value keeps to one line, a heading breaks only between Japanese phrases.
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForTimeout(150);
    const broken = await page.evaluate(() => {
      const lines = (range: Range) => {
        const tops = Array.from(range.getClientRects(), (r) => r.top);
        return tops.length > 0 && Math.max(...tops) - Math.min(...tops) > 12;
      };
      const out: string[] = [];
      for (const cell of Array.from(document.querySelectorAll('main table td'))) {
        const range = document.createRange();
        range.selectNodeContents(cell);
        if (lines(range)) out.push(`value ${cell.textContent}`);
      }
      for (const head of Array.from(document.querySelectorAll('main table th[scope="col"]'))) {
        const walk = document.createTreeWalker(head, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode())
          for (const m of (n.textContent ?? '').matchAll(/[A-Za-z0-9]+/g)) {
            const range = document.createRange();
            range.setStart(n, m.index);
            range.setEnd(n, m.index + m[0].length);
            if (lines(range)) out.push(`heading ${head.textContent}`);
          }
      }
      return out;
    });
    const overflowing = await page.evaluate(() =>
      Array.from(document.querySelectorAll('main .scroll'))
        .filter((box) => box.scrollWidth > box.clientWidth)
        .map((box) => box.querySelector('table')?.textContent?.slice(0, 40)),
    );
    expect(overflowing).toEqual([]);
    expect(broken).toEqual([]);

    // A start after the end would export nothing: said, and nothing to download until it is put right.
    const csvButton = page.getByTestId('decisions-csv');
    await page.getByLabel('開始日').fill('2026-12-31');
    await page.getByLabel('終了日').fill('2026-01-01');
    await page
      .getByRole('alert')
      .getByText('開始日が終了日より後になっています。開始日を終了日以前にしてください', { exact: false })
      .waitFor();
    await expect(csvButton.evaluate((e) => e.tagName)).resolves.toBe('BUTTON');
    await expect(csvButton.isDisabled()).resolves.toBe(true);
    await expect.poll(() => page.getByLabel('開始日').getAttribute('aria-invalid'), POLL).toBe('true');
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-region-csv-inverted');
    await page.getByLabel('終了日').fill('2027-01-31');
    await expect.poll(() => csvButton.getAttribute('href'), POLL).toMatch(/from=2026-12-30T15%3A00%3A00/);
    await expect(
      page.getByText('開始日が終了日より後になっています', { exact: false }).count(),
    ).resolves.toBe(0);
    await page.getByLabel('開始日').fill('');
    await page.getByLabel('終了日').fill('');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('decisions-csv').click(),
    ]);
    const { readFileSync } = await import('node:fs');
    const csv = readFileSync(await download.path(), 'utf8');
    expect(csv).toContain(recId);
    expect(csv).toMatch(/approved/);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-region');
  });

  it('still shows the scene, without a heatmap, once newer scenes pushed it out of the list and its PNGs off the server', async () => {
    // Sixty newer scenes with their heatmaps: the field's detail lists its newest 50 scenes and the
    // farm keeps the PNGs of its newest 60, so the recommendation's scene is in neither.
    const t0 = Date.parse(recImagery.acquired);
    const newer = Array.from({ length: 60 }, (_, i) => {
      const s = structuredClone(recImagery);
      s.sceneId = `${recScene}-later-${i}`;
      s.acquired = s.stats.scene.acquired = new Date(t0 + (i + 1) * 3_600_000).toISOString();
      return s;
    });
    for (let i = 0; i < newer.length; i += 20)
      await gw.send(newer.slice(i, i + 20).map((body) => ({ kind: 'imagery' as const, body })));
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(40).fill(3)]);
    for (const s of newer) await gw.upload(s.sceneId, 'maps/upland-1/ndvi.png', png);

    const sceneResponse = page.waitForResponse((res) =>
      res.url().includes(`/fields/upland-1/scenes/${encodeURIComponent(recScene)}`),
    );
    await page.goto(`/#/review/${recId}`);
    expect((await sceneResponse).status()).toBe(200);
    const evidence = page.getByTestId('review-heatmap');
    const legend = evidence.getByTestId('heatmap-legend');
    await legend.getByText('ヒートマップの画像はサーバーにありません').waitFor();
    // The scene's statistics, the zones over the field, and no image that cannot load.
    const mean = recImagery.stats.fields['upland-1']!.indices.ndvi!.mean!;
    await expect
      .poll(() => legend.textContent(), POLL)
      .toContain(
        `NDVI · 圃場平均 ${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 2 }).format(mean)}`,
      );
    await expect(evidence.locator('img').count()).resolves.toBe(0);
    // The map draws its layers once the field's boundary is in, which may be after the legend.
    await eventually(async () => (await evidence.locator('.leaflet-overlay-pane path').count()) === 1 + 3);
    await expect(page.getByText('この推奨の元になった衛星画像はサーバーにありません').count()).resolves.toBe(
      0,
    );
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-review-scene-pruned');
  });
});

describe('the review page', () => {
  type Officer = Awaited<ReturnType<typeof signIn>>;
  let officer: Officer;
  const detailOf = async (id: string) =>
    (await (await officer(`/api/v1/reviews/${id}`)).json()) as ReviewDetail;
  /** A fresh recommendation for a field, synced as the gateway would. */
  const arrive = async (field: string, acquired = recImagery.acquired, scene = recScene) => {
    const rec = await wheatRecommendation('demo-farm', field, acquired, scene);
    await gw.send([{ kind: 'recommendation', body: rec }]);
    return rec;
  };
  const approveButton = () => page.getByRole('button', { name: '承認する', exact: true });
  /** Latin words a Japanese review page may show outside translate="no": units and the index. */
  const JAPANESE_PAGE = ['kg', 'ha', 'NDVI'];

  beforeAll(async () => {
    officer = await signIn(stack.httpUrl, 'demo-officer');
    // Signed in by the journey above; on its own (vitest -t) the page signs in here.
    await page.goto('/');
    const button = page.getByRole('button', { name: /^(ログアウト|ログイン)$/ }).first();
    await button.waitFor();
    if ((await button.textContent()) === 'ログイン') await signInAs(page, 'demo-officer');
  });

  it('approves rates typed in with one click: saved with the reason first, adjustments said, each change in the audit', async () => {
    const rec = await arrive('upland-1');
    const [z1, z2] = rec.zones;
    await page.goto(`/#/review/${rec.id}`);
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();

    // The spreader's step beside the limits (urea, 5 kg/ha = 2.3 kg N/ha), in kg/10a beside kg/ha
    // like every rate, and the boxes step by it.
    await expect
      .poll(() => page.getByTestId('spreader-step').textContent(), POLL)
      .toBe('散布機の刻み: 尿素 (N 46%) 0.5 kg/10a (5 kg/ha) ごと（窒素で約 0.23 kg/10a (2.3 kg/ha)）');
    await expect.poll(() => page.getByTestId(`edit-${z1!.id}`).getAttribute('step'), POLL).toBe('0.23');

    // Without a reason nothing can be saved, and the page says why.
    await page.getByTestId('reason-hint').getByText('理由は3文字以上で入力してください').waitFor();
    await page.getByTestId(`edit-${z1!.id}`).fill('4');
    await page.getByTestId(`edit-${z2!.id}`).fill('99');
    await expect(approveButton().isDisabled()).resolves.toBe(true);
    await expect
      .poll(() => page.getByTestId('approve-hint').textContent(), POLL)
      .toMatch(/^新しい窒素量が入力されています。承認の前に理由を入力してください/);
    await page.getByLabel('理由（記録されます）').fill('葉色が濃く、倒伏のおそれがある');
    await expect
      .poll(() => page.getByTestId('approve-hint').textContent(), POLL)
      .toBe('承認すると、入力した窒素量を理由とともに保存してから承認します');
    expect(await accessibilityProblems(page)).toEqual([]);

    // 承認する straight away: the typed rates are saved, then approved.
    await approveButton().click();
    await page.getByTestId('review-status').filter({ hasText: '承認済み' }).waitFor();
    await page.getByText('修正を保存して承認しました。農家に表示されます').waitFor();
    const after = await detailOf(rec.id);
    expect(after.status).toBe('approved');
    const applied = (id: string) => after.zones.find((z) => z.id === id)!;
    // 4 kg/10a of N is 86.96 kg urea/ha, 85 on the 5 kg step: 39.1 kg N/ha; 99 is held to 12 kg/10a (119.6).
    expect(applied(z1!.id).applied.kgNHa).toBe(39.1);
    expect(applied(z2!.id).applied.kgNHa).toBe(119.6);
    expect(applied(z1!.id).edited?.reason).toBe('葉色が濃く、倒伏のおそれがある');
    expect(after.audit.map((a) => a.action)).toEqual(['received', 'edited', 'approved']);
    // The approval carries the officer's note too (the audit and the decisions CSV show it).
    expect(after.audit.find((a) => a.action === 'approved')?.reason).toBe('葉色が濃く、倒伏のおそれがある');
    await expect.poll(() => page.getByTestId(`edit-${z1!.id}`).inputValue(), POLL).toBe('');

    // What the server did with each typed rate.
    await expect(page.getByTestId('edit-report').locator('li').allTextContents()).resolves.toEqual([
      'ゾーン1: 4.0 → 3.91 kg/10a（散布機の刻みに合わせました）',
      'ゾーン2: 99.0 → 11.96 kg/10a（上限 12 kg/10a に制限）',
    ]);
    // The audit says what changed, zone by zone, with what was typed.
    await expect(page.getByTestId('audit-log').locator('.changes li').allTextContents()).resolves.toEqual([
      `ゾーン1 ${per10a(z1!.rate.kgNHa)}→3.91 kg/10a（入力 4.0）`,
      `ゾーン2 ${per10a(z2!.rate.kgNHa)}→11.96 kg/10a（入力 99.0）`,
    ]);
    // The zone table reads the same figures as the audit and the map: 3.91, not 3.9; 11.96, not 12.
    for (const [zone, main, alt] of [
      [z1!, '3.91 kg/10a', '(39.1 kg/ha)'],
      [z2!, '11.96 kg/10a', '(119.6 kg/ha)'],
    ] as const) {
      const cell = page.getByTestId(`applied-${zone.id}`);
      await expect.poll(() => cell.locator('.rate-main').textContent(), POLL).toBe(main);
      await expect.poll(() => cell.locator('.rate-alt').textContent(), POLL).toBe(alt);
    }
    await expect(mapTags(page.locator('section[aria-labelledby="rmap-h"]'))).resolves.toEqual(
      expect.arrayContaining(['ゾーン1 3.91 kg/10a', 'ゾーン2 11.96 kg/10a']),
    );

    // The economics with the economic optimum, and the recommendation's notes.
    const econ = page.getByTestId('economics');
    await expect(econ.locator('thead th').allTextContents()).resolves.toEqual([
      '',
      '提案',
      '適用',
      '経済的最適',
    ]);
    await expect(page.getByTestId('optimum-by-zone').locator('tbody tr').count()).resolves.toBe(
      rec.zones.length,
    );
    const notes = await page.getByTestId('review-notes').locator('li').allTextContents();
    expect(notes.length).toBeGreaterThan(0);
    expect(notes).toEqual(expect.arrayContaining(rec.notes.map((n) => n.text.ja)));

    // On a 390 px phone no rate breaks from its unit ("kg/10↵a").
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(150);
    const broken = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.rate-main, .rate-alt, .rate-unit'))
        // More than one line: its boxes (one for each run of one font) at different heights.
        .filter((e) => new Set(Array.from(e.getClientRects(), (r) => Math.round(r.top))).size > 1)
        .map((e) => e.textContent),
    );
    expect(broken).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
    await screenshots(page, 'officer-review-approved-in-one-click');
  });

  it('follows the server live: a newer recommendation replaces the one open, said with a link, typed values kept, no reload', async () => {
    const older = await arrive('upland-1');
    await page.goto(`/#/review/${older.id}`);
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    const box = page.getByTestId(`edit-${older.zones[0]!.id}`);
    await box.fill('5');
    await page.getByLabel('理由（記録されます）').fill('追肥の前に圃場を見て決める');
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

    const newer = await arrive('upland-1');
    const banner = page.getByTestId('review-changed');
    await banner.getByText('新しい提案が届き、この提案は置き換えられました', { exact: false }).waitFor();
    await page.getByTestId('review-status').filter({ hasText: '新しい提案に置換' }).waitFor();
    await banner.getByText('入力した窒素量は保存されていません').waitFor();
    // What was typed is still there (the boxes disabled), and the page was not loaded again.
    await expect(box.inputValue()).resolves.toBe('5');
    await expect(box.isDisabled()).resolves.toBe(true);
    await expect(page.getByLabel('理由（記録されます）').inputValue()).resolves.toBe(
      '追肥の前に圃場を見て決める',
    );
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );
    expect((await detailOf(older.id)).supersededBy).toBe(newer.id);
    const link = banner.getByRole('link', { name: '新しい提案を開く' });
    await expect.poll(() => link.getAttribute('href'), POLL).toBe(`#/review/${newer.id}`);
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
    await screenshots(page, 'officer-review-superseded-live');

    // The newer one opens afresh: nothing typed for the older one is carried over.
    await link.click();
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    await expect(page.getByTestId(`edit-${newer.zones[0]!.id}`).inputValue()).resolves.toBe('');
    await expect(page.getByTestId('review-superseded').count()).resolves.toBe(0);
  });

  it('says in Japanese why an action was refused (409) when someone decided first, and keeps what was typed', async () => {
    const rec = await arrive('upland-1');
    await page.goto(`/#/review/${rec.id}`);
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    await page.getByTestId(`edit-${rec.zones[0]!.id}`).fill('6');
    await page.getByLabel('理由（記録されます）').fill('生育が遅れているため増やす');
    // A colleague rejects it just as the officer's edit leaves the browser.
    const colleague = await signIn(stack.httpUrl, 'demo-officer');
    await page.route(`**/api/v1/reviews/${rec.id}/edit`, async (route) => {
      const res = await colleague(`/api/v1/reviews/${rec.id}/reject`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: '圃場の条件が合わない' }),
      });
      expect(res.status).toBe(200);
      await route.continue();
    });
    try {
      await approveButton().click();
      const banner = page.getByTestId('review-changed');
      await banner
        .getByText('ほかの方が先にこの提案を変更していたため、操作は行われませんでした', { exact: false })
        .waitFor();
      await expect(banner.locator('li').allTextContents()).resolves.toEqual([
        expect.stringMatching(/^demo-officer さんが .+ に差し戻しました$/),
      ]);
      await page.getByTestId('review-status').filter({ hasText: '差し戻し' }).waitFor();
      await expect(page.getByTestId(`edit-${rec.zones[0]!.id}`).inputValue()).resolves.toBe('6');
      await banner.getByText('入力した窒素量は保存されていません').waitFor();
      // The refusal is said by the banner, not as an unexplained error.
      await expect(page.locator('form .error').count()).resolves.toBe(0);
      expect((await detailOf(rec.id)).status).toBe('rejected');
      expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
      expect(await accessibilityProblems(page)).toEqual([]);
    } finally {
      await page.unroute(`**/api/v1/reviews/${rec.id}/edit`);
    }
  });

  it('marks stale inputs in the queue and above the actions, and asks before approving on them', async () => {
    // A recommendation computed from a scene twelve days old (imagery is stale after ten).
    const acquired = new Date(Date.now() - 12 * 86_400_000 - 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const rec = await arrive('paddy-1', acquired, 'demo-s2-old');
    const queued = (await (await officer('/api/v1/reviews')).json()) as ReviewQueueItem[];
    expect(queued.find((q) => q.id === rec.id)?.staleInputs).toBe(1);

    await page.goto('/#/review');
    const row = page.getByTestId(`queue-${rec.id}`);
    await expect.poll(() => row.getByTestId('stale-badge').textContent(), POLL).toBe('古い入力 1 件');
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-queue-stale');
    await row.getByRole('link').click();
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    await expect(page.getByTestId('stale-banner').locator('li').allTextContents()).resolves.toEqual([
      '衛星画像が提案作成時点で 12 日前のものです',
    ]);
    // Every word of the page in Japanese, but units, the index's name and data marked as such.
    expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);

    // 承認する asks first; the safe choice takes the focus and changes nothing.
    await approveButton().click();
    const confirm = page.getByTestId('stale-confirm');
    await confirm.getByText('古い入力データで計算された提案です。このまま承認しますか？').waitFor();
    await expect(
      confirm.getByRole('button', { name: 'キャンセル' }).evaluate((b) => b === document.activeElement),
    ).resolves.toBe(true);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-review-stale-confirm');
    await page.keyboard.press('Enter');
    await expect(confirm.count()).resolves.toBe(0);
    await expect(approveButton().evaluate((b) => b === document.activeElement)).resolves.toBe(true);
    expect((await detailOf(rec.id)).status).toBe('pending_review');

    await approveButton().click();
    await confirm.getByRole('button', { name: 'このまま承認する' }).click();
    await page.getByTestId('review-status').filter({ hasText: '承認済み' }).waitFor();
    expect((await detailOf(rec.id)).status).toBe('approved');
  });
  it(
    'says how much of the field the zones of a clouded scene cover, draws the rest hatched at the default rate, and reads a rice guideline table and its model card',
    { timeout: 90_000 },
    async () => {
      const boundary = demoManifest().fields.find((f) => f.id === 'paddy-1')!.boundary as PolygonGeometry;
      // A scene of its own, with its maps (the journey's first scene has had its maps pruned by now).
      const scene = await seedImagery(gw, demoManifest());
      const rec = await riceRecommendation('rice-koshihikari', boundary, scene.acquired, scene.sceneId);
      const coverage = rec.coverage!;
      expect(coverage.uncovered).not.toBeNull();
      await gw.send([{ kind: 'recommendation', body: rec }]);
      await page.goto(`/#/review/${rec.id}`);
      await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();

      // Above the rates: how much the zones cover, and the rest at the default rate every prescription
      // gives it (the exports' own default row, edge/prescriptions/rows.ts).
      const fallback = defaultRow(rec)!;
      const ha = (v: number) => new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 2 }).format(v);
      const rest = coverage.uncoveredAreaHa;
      const covered = coverage.fieldAreaHa - rest;
      const pct = Math.round((covered / coverage.fieldAreaHa) * 100);
      expect(pct).toBeGreaterThan(50);
      expect(pct).toBeLessThan(90);
      await expect
        .poll(() => page.getByTestId('coverage').textContent(), POLL)
        .toBe(
          `ゾーンは圃場の${pct} %（${ha(covered)} ha / ${ha(coverage.fieldAreaHa)} ha）を覆っています。` +
            `ゾーン外の${ha(rest)} ha（雲などで画像が使えない部分や、境界沿いの細い帯）は、` +
            `ゾーンの平均の量（窒素 ${per10a(fallback.kgNHa)} kg/10a、` +
            `${rec.product.name.ja} ${per10a(fallback.productKgHa)} kg/10a）で散布されます。`,
        );
      // On the map: the zones, the rest hatched, the field's outline from the recommendation.
      const rx = page.locator('section[aria-labelledby="rmap-h"]');
      await expect(mapTags(rx)).resolves.toEqual(
        rec.zones.map((z) => `ゾーン${z.zone} ${per10a(z.rate.kgNHa)} kg/10a`),
      );
      const paths = rx.locator('.leaflet-overlay-pane path');
      await expect(paths.count()).resolves.toBe(2 + 1 + 1); // zones, the uncovered part, the field
      const hatch = await paths.nth(2).getAttribute('fill');
      expect(hatch).toMatch(/^url\(#hatch-/);
      await expect(page.locator(`pattern${hatch!.slice(4, -1)}`).count()).resolves.toBe(1);
      const fallbackEntry = rx.getByTestId('rx-legend-default');
      await expect
        .poll(() => fallbackEntry.textContent(), POLL)
        .toBe(`${per10a(fallback.kgNHa)}既定の施用量（画像なし）`);
      await rx.getByTestId('rx-legend').getByText('圃場の境界').waitFor();

      // The guideline table and its bins as a small table, the bin edges as a list; no raw arrays.
      const inputs = page.locator('table.inputs');
      await expect
        .poll(
          () => inputs.locator('tr[data-input="spad_edges"]').getByTestId('input-value').textContent(),
          POLL,
        )
        .toBe('30 SPAD');
      await expect
        .poll(
          () => inputs.locator('tr[data-input="height_edges"]').getByTestId('input-value').textContent(),
          POLL,
        )
        .toBe('70 cm');
      const table = inputs.locator('tr[data-input="table"]').getByTestId('input-table');
      await expect(table.locator('thead th').allTextContents()).resolves.toEqual([
        '行: 指針表の葉色値の区分、列: 指針表の草丈の区分SPAD ＼ cm',
        '70以下',
        '70超',
      ]);
      await expect(table.locator('tbody th').allTextContents()).resolves.toEqual(['30以下', '30超']);
      await expect(table.locator('tbody td').allTextContents()).resolves.toEqual(['1', '1', '0', '0']);
      await expect(inputs.getByTestId('input-value').allTextContents()).resolves.not.toContainEqual(
        expect.stringContaining('['),
      );
      // Their sources in Japanese, the names in them as the gateway wrote them.
      const profileRef = /^profile (\S+) /.exec(rec.inputs.find((i) => i.name === 'spad_edges')!.source)![1]!;
      await expect
        .poll(
          () => inputs.locator('tr[data-input="spad_edges"]').getByTestId('input-source-words').textContent(),
          POLL,
        )
        .toBe(`作物プロファイル ${profileRef} の riceTopdress.spadEdges`);
      await expect(
        inputs
          .locator('tr[data-input="plant_height_cm"]')
          .getByTestId('input-source-words')
          .allTextContents(),
      ).resolves.toEqual(['ゾーンごとの記録（plant_height_cm）']);

      // The economics count the field's N and product as the farmer's page does (spreadTotals): the
      // zones and the uncovered rest at their mean — not the zones alone, which the money counts.
      const spread = spreadTotals(rec);
      expect(spread.nKg).toBeGreaterThan(rec.totals.nKg + 0.5);
      const econN = page.getByTestId('econ-total-n').locator('td');
      const econProduct = page.getByTestId('econ-total-product').locator('td');
      const columns = await page.getByTestId('economics').locator('thead th').count();
      expect(columns).toBeGreaterThanOrEqual(3);
      // As recommended and as applied (no edits): the figure the farmer's page shows.
      for (const k of [0, 1]) {
        await expect.poll(() => econN.nth(k).textContent(), POLL).toBe(kgText(spread.nKg, 'ja', 1));
        await expect
          .poll(() => econProduct.nth(k).textContent(), POLL)
          .toBe(kgText(spread.productKg, 'ja', 0));
      }
      await expect
        .poll(() => page.getByTestId('econ-whole-field').textContent(), POLL)
        .toBe(
          `窒素と肥料の合計は圃場全体（${ha(spread.areaHa)} ha）の量で、ゾーン外の ${ha(rest)} ha はゾーンの平均の量で数えています。` +
            '費用・増収額・差引はゾーンの分だけです',
        );

      // The model card: its Japanese title and status, its English words apart, marked and labelled.
      const card = page.getByTestId('model-card');
      await card.getByText('水稲 穂肥(幼穂形成期)— NDVI→SPAD→指針表').waitFor();
      await expect
        .poll(() => card.getByTestId('fitted-status').textContent(), POLL)
        .toBe('暫定（実測データでの較正はまだ）');
      await card.getByRole('heading', { name: 'モデルカードの記載（英語）' }).waitFor();
      const where = card.getByTestId('fitted-where');
      await expect.poll(() => where.getAttribute('lang'), POLL).toBe('en');
      await expect.poll(() => where.getAttribute('translate'), POLL).toBe('no');
      await expect.poll(() => where.textContent(), POLL).toMatch(/^Not fitted: a provisional line/);
      // The note quoting the card: its Japanese lead, then the card's words apart, marked English.
      const note = page.getByTestId('review-notes').locator('li').filter({ hasText: '暫定の較正を使用' });
      await expect.poll(() => note.locator('span[lang="en"]').textContent(), POLL).toMatch(/^Not fitted: /);
      await expect
        .poll(() => note.textContent(), POLL)
        .toMatch(/^暫定の較正を使用モデルカードの記載（英語）Not fitted: /);
      await expect(page.getByText('適合: Not fitted', { exact: false }).count()).resolves.toBe(0);

      expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshots(page, 'officer-review-rice-coverage');

      // In English: rates in kg/ha, the same sentence and legends in English.
      await page.getByRole('button', { name: 'English' }).click();
      try {
        const perHa = (v: number) =>
          new Intl.NumberFormat('en-GB', { minimumFractionDigits: 1, maximumFractionDigits: 2 }).format(v);
        await expect
          .poll(() => page.getByTestId('coverage').textContent(), POLL)
          .toBe(
            `The zones cover ${pct} % of the field (${ha(covered)} ha of ${ha(coverage.fieldAreaHa)} ha). ` +
              `The ${ha(rest)} ha outside them (where the imagery is unusable, e.g. under cloud, and the strip ` +
              `along the boundary) gets the zones’ mean rate ` +
              `(${perHa(fallback.kgNHa)} kg/ha of N; ${perHa(fallback.productKgHa)} kg/ha of ${rec.product.name.en}).`,
          );
        await expect.poll(() => rx.locator('.rx-legend-title').textContent(), POLL).toBe('N rate (kg/ha)');
        // The spreader step in kg/ha beside kg/10a (ammonium sulfate, 5 kg/ha = 1.05 kg N/ha).
        await expect
          .poll(() => page.getByTestId('spreader-step').textContent(), POLL)
          .toBe(
            `Spreader step: 5 kg/ha (0.5 kg/10a) of ${rec.product.name.en}, about 1.05 kg/ha (0.105 kg/10a) of N`,
          );
        await expect(
          inputs
            .locator('tr[data-input="plant_height_cm"]')
            .getByTestId('input-source-words')
            .allTextContents(),
        ).resolves.toEqual(['the zone’s own record (plant_height_cm)']);
        await expect
          .poll(() => page.getByTestId('econ-total-n').locator('td').first().textContent(), POLL)
          .toBe(kgText(spread.nKg, 'en', 1));
        await expect(mapTags(rx)).resolves.toEqual(
          rec.zones.map((z) => `Zone ${z.zone} ${perHa(z.rate.kgNHa)} kg/ha`),
        );
        await page.getByTestId('heatmap-legend').getByText('Grey: no value (cloud, shadow)').waitFor();
        await expect(table.locator('tbody th').allTextContents()).resolves.toEqual(['≤ 30', '> 30']);
        expect(await accessibilityProblems(page)).toEqual([]);
        await screenshots(page, 'officer-review-rice-coverage-en');
      } finally {
        await page.getByRole('button', { name: '日本語' }).click();
        await page.getByTestId('coverage').getByText('ゾーンは圃場の', { exact: false }).waitFor();
      }

      // A longer table is recorded cut short (32 characters): its whole rows, and said to be cut.
      const longer = await riceRecommendation(
        'rice-shinnosuke-niigata',
        boundary,
        scene.acquired,
        scene.sceneId,
      );
      expect(longer.inputs.find((i) => i.name === 'table')!.value).not.toMatch(/\]\]$/);
      await gw.send([{ kind: 'recommendation', body: longer }]);
      await page.goto(`/#/review/${longer.id}`);
      await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
      const cut = page.locator('tr[data-input="table"]').getByTestId('input-table');
      await expect(cut.locator('tbody th').allTextContents()).resolves.toEqual(['30以下', '30超33以下']);
      await expect(cut.locator('tbody td').allTextContents()).resolves.toEqual([
        '2',
        '1.5',
        '1',
        '1.5',
        '1.5',
        '1',
      ]);
      await cut.getByText('（記録は途中まで）').waitFor();
      expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
    },
  );
});
