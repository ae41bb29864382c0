// The extension officer's journey in a real browser: a recommendation made by the real model
// arrives through a sync batch; the officer opens it from the queue, edits one zone's rate (typed
// in kg/10a, as Japanese officers read it) with a reason, approves it, and the farmer's API then
// serves the edited rate. The inputs read with their names, zones and sources; the heatmap of the
// scene the recommendation was computed from (not the field's latest) lies under its zones; the
// farm's auto-approval is offered beside the decision. The region overview and the CSV export of
// decisions are checked too. Then the review page itself: rates typed in and approved in one click
// (saved with the reason first, the server's adjustments said, each change in the audit), a newer
// recommendation arriving while the page is open (said live, with a link, nothing typed lost), an
// action refused because a colleague decided first, and stale inputs marked and confirmed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { ReviewDetail, ReviewQueueItem } from '../../protocol/review.ts';
import type { ImageryResult } from '../../protocol/sync.ts';
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
  /** A rate as the page writes it in Japanese: kg/10a with one or two decimals. */
  const per10a = (kgHa: number) =>
    new Intl.NumberFormat('ja-JP', { minimumFractionDigits: 1, maximumFractionDigits: 2 }).format(kgHa / 10);
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

    // The spreader's step beside the limits (urea, 5 kg/ha = 2.3 kg N/ha), and the boxes step by it.
    await expect(page.getByTestId('spreader-step').textContent()).resolves.toBe(
      '散布機の刻み: 尿素 (N 46%) 5 kg/ha ごと（窒素 約 0.23 kg/10a）',
    );
    await expect(page.getByTestId(`edit-${z1!.id}`).getAttribute('step')).resolves.toBe('0.23');

    // Without a reason nothing can be saved, and the page says why.
    await page.getByTestId('reason-hint').getByText('理由は3文字以上で入力してください').waitFor();
    await page.getByTestId(`edit-${z1!.id}`).fill('4');
    await page.getByTestId(`edit-${z2!.id}`).fill('99');
    await expect(approveButton().isDisabled()).resolves.toBe(true);
    await expect(page.getByTestId('approve-hint').textContent()).resolves.toMatch(
      /^新しい窒素量が入力されています。承認の前に理由を入力してください/,
    );
    await page.getByLabel('理由（記録されます）').fill('葉色が濃く、倒伏のおそれがある');
    await expect(page.getByTestId('approve-hint').textContent()).resolves.toBe(
      '承認すると、入力した窒素量を理由とともに保存してから承認します',
    );
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
    await expect(page.getByTestId(`edit-${z1!.id}`).inputValue()).resolves.toBe('');

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
    await expect(link.getAttribute('href')).resolves.toBe(`#/review/${newer.id}`);
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
    await expect(row.getByTestId('stale-badge').textContent()).resolves.toBe('古い入力 1 件');
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
});
