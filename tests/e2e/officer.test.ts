// The extension officer's journey in a real browser: a recommendation made by the real model
// arrives through a sync batch; the officer opens it from the queue, edits one zone's rate (typed
// in kg/10a, as Japanese officers read it) with a reason, approves it, and the farmer's API then
// serves the edited rate. The inputs read with their names, zones and sources; the heatmap of the
// scene the recommendation was computed from (not the field's latest) lies under its zones; the
// farm's auto-approval is offered beside the decision. The region overview and the CSV export of
// decisions are checked too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { ReviewDetail } from '../../protocol/review.ts';
import type { ImageryResult } from '../../protocol/sync.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { accessibilityProblems, launch, phonePage, screenshots, signInByKeyboard } from './browser.ts';
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
  it('approves a recommendation with an edited rate', async () => {
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
    await expect(heatmap.getAttribute('alt')).resolves.toBe('NDVI ヒートマップ');
    await expect(evidence.locator('.leaflet-overlay-pane path').count()).resolves.toBe(1 + 3); // field + zones
    const legend = evidence.getByTestId('heatmap-legend').locator('img');
    await eventually(
      () => legend.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0),
      10_000,
    );
    await expect(legend.getAttribute('src')).resolves.toContain(`/scenes/${encodeURIComponent(recScene)}/`);
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
    await expect(slopeRow.locator('th').textContent()).resolves.toBe('反応指数補正の傾きri_slope');
    await expect(slopeRow.locator('th [title]').getAttribute('title')).resolves.toBe('ri_slope');
    await expect(slopeRow.getByTestId('input-value').textContent()).resolves.toBe(num(slope.value));
    await expect(slopeRow.getByTestId('input-zones').textContent()).resolves.toBe('圃場全体');
    await expect(slopeRow.getByTestId('input-source').textContent()).resolves.toBe(`定数${slope.source}`);
    await expect(inputs.locator('tr[data-input="adjust_ri"] th').textContent()).resolves.toMatch(
      /^反応指数の補正/,
    );
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
    await expect(ndviRows.first().getByTestId('input-source').textContent()).resolves.toBe(
      `衛星画像${ndvi[0]!.source}`,
    );
    const days = before.inputs.find((i) => i.name === 'days')!;
    await expect(
      inputs.locator('tr[data-input="days"]').getByTestId('input-value').textContent(),
    ).resolves.toBe(`${num(days.value)} 日`);
    const values = await inputs.getByTestId('input-value').allTextContents();
    expect(values.length).toBe(before.inputs.length);
    expect(values.filter((v) => / 1$/.test(v))).toEqual([]);
    // Every input of the model has a Japanese name: no row shows the model's name alone.
    await expect(inputs.locator('tbody th > code').count()).resolves.toBe(0);

    // Auto-approval of the farm, where the officer decides on its recommendations: none yet, the
    // recommendation's model suggested, the ceiling checked in kg/10a before anything is sent.
    const auto = page.getByTestId('auto-approval');
    await auto.getByText('自動承認は設定されていません').waitFor();
    await expect(auto.getByLabel('対象のモデル').inputValue()).resolves.toBe('osu-sbnrc');
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

  it('shows the region overview and exports the decisions as CSV', async () => {
    await page.getByRole('link', { name: '地域の概要' }).click();
    await page.getByTestId('farm-demo-farm').waitFor();
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
    await expect(legend.textContent()).resolves.toContain(
      `NDVI ${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 2 }).format(mean)}`,
    );
    await expect(evidence.locator('img').count()).resolves.toBe(0);
    await expect(evidence.locator('.leaflet-overlay-pane path').count()).resolves.toBe(1 + 3);
    await expect(page.getByText('この推奨の元になった衛星画像はサーバーにありません').count()).resolves.toBe(
      0,
    );
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-review-scene-pruned');
  });
});
