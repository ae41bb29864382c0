// The farmer's journey in a real browser against a real stack (server + gateway with its broker,
// the demo manifest): sign in, see a live value change without reloading, open a field map with
// its heatmap, act on a tip, download an approved prescription — in Japanese, with kg/10a — and
// opt the farm in to auto-approval and out again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { deviceTopic } from '../../protocol/topics.ts';
import { spreadTotals, type Recommendation } from '../../protocol/recommendation.ts';
import type { TipView } from '../../protocol/review.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import {
  ALLOWED_UNITS,
  accessibilityProblems,
  launch,
  phonePage,
  screenshots,
  signInAs,
  untranslatedWords,
} from './browser.ts';
import { irrigationTip, seedImagery, SeedGateway, wheatRecommendation } from './seed.ts';

const ALLOWED = ALLOWED_UNITS;
const POLL = { timeout: 10_000, interval: 100 };

let stack: Stack;
let browser: Browser;
let page: Page;
let recId: string;
let editedKgHa: number;
let gw: SeedGateway;
let sceneAcquired: string;
const tipId = { value: '' };

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  const manifest = demoManifest();
  const farmer = await signIn(stack.httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm');
  const scene = await seedImagery(gw, manifest);
  sceneAcquired = scene.acquired;
  const tip = irrigationTip('demo-farm', 'upland-1', 'soil-1');
  tipId.value = tip.id;
  const rec = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired);
  recId = rec.id;
  await gw.send([
    { kind: 'tip', body: tip },
    { kind: 'recommendation', body: rec },
  ]);
  // The officer's part of the story happens through the API here (tests/e2e/officer.test.ts
  // drives it in the browser): zone 1 edited, then approved.
  const officer = await signIn(stack.httpUrl, 'demo-officer');
  const detail = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as {
    revision: number;
    zones: { id: string; recommended: { kgNHa: number } }[];
  };
  editedKgHa = Math.round(detail.zones[0]!.recommended.kgNHa + 20);
  const edit = await officer(`/api/v1/reviews/${recId}/edit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      zones: [{ zone: detail.zones[0]!.id, kgNHa: editedKgHa }],
      reason: '圃場の西側は前作の残渣が多い',
      revision: detail.revision,
    }),
  });
  expect(edit.status).toBe(200);
  const edited = (await edit.json()) as {
    review: { revision: number; zones: { applied: { kgNHa: number } }[] };
  };
  editedKgHa = edited.review.zones[0]!.applied.kgNHa;
  const approve = await officer(`/api/v1/reviews/${recId}/approve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ revision: edited.review.revision }),
  });
  expect(approve.status).toBe(200);
  page = await phonePage(browser, stack.httpUrl);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the farmer journey', () => {
  it('signs in and sees a live value change without reloading', async () => {
    await signInAs(page, 'demo-farmer');
    await page.getByRole('heading', { level: 1, name: 'はたけデモ農場' }).waitFor();
    await page.getByText('ライブ更新中').waitFor();
    const tile = page.getByTestId('tile-wx-1-air_temperature');
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'wx-1',
      password: stack.secrets['wx-1'],
    });
    try {
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { air_temperature: 23.4 } }),
        { qos: 1 },
      );
      await tile.getByTestId('value').filter({ hasText: '23.4' }).waitFor();
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { air_temperature: 24.1 } }),
        { qos: 1 },
      );
      await tile.getByTestId('value').filter({ hasText: '24.1' }).waitFor();
      // A station whose clock runs 30 s ahead of the phone's: its reading is new, not "in 30 s".
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now() + 30_000, values: { air_temperature: 24.6 } }),
        { qos: 1 },
      );
      await tile.getByTestId('value').filter({ hasText: '24.6' }).waitFor();
    } finally {
      await client.endAsync();
    }
    await expect(tile.textContent()).resolves.toMatch(/°C/);
    await expect(tile.locator('time.fresh').textContent()).resolves.toBe('今');
    await expect(tile.textContent()).resolves.not.toMatch(/後/);
    // The page was not reloaded: the navigation count stays at the first load.
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-home');
  });

  it('opens a field map with its heatmap laid over the field', async () => {
    // The station measures more than air temperature: its humidity, for a choice of chart.
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'wx-1',
      password: stack.secrets['wx-1'],
    });
    try {
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { air_humidity: 71.5, battery: 3.9 } }),
        { qos: 1 },
      );
    } finally {
      await client.endAsync();
    }
    await page.getByTestId('field-upland-1').click();
    await page.getByRole('heading', { level: 1, name: '畑1号（小麦）' }).waitFor();
    const heatmap = page.locator('img.heatmap');
    await heatmap.waitFor();
    await eventually(
      () => heatmap.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0),
      10_000,
    );
    const src = await heatmap.getAttribute('src');
    expect(src).toMatch(/\/api\/v1\/farms\/demo-farm\/scenes\/.+\/file\?path=maps%2Fupland-1%2Fndvi\.png/);
    await expect(page.locator('.leaflet-overlay-pane path').count()).resolves.toBeGreaterThan(1); // field + zones
    await expect(page.getByTestId('scene').textContent()).resolves.toMatch(/撮影日/);
    // The field's weather station is charted with uPlot: 24 h of raw readings, then 7 days hourly.
    const chart = page.locator('.chart');
    await chart.locator('canvas').waitFor();
    await expect(chart.getAttribute('aria-label')).resolves.toMatch(/気温/);
    await page.getByRole('button', { name: '7日間' }).click();
    await page.getByRole('button', { name: '7日間', pressed: true }).waitFor();
    // Hourly rollups draw the min–max band, named in the legend.
    await chart.locator('.u-legend').filter({ hasText: '最小' }).waitFor();
    // The farmer's choice of metric is kept for the field: after a reload the chart opens on it.
    const metric = page.getByRole('combobox', { name: /^項目/ });
    await expect.poll(() => metric.locator('option').count(), POLL).toBeGreaterThan(1);
    const other = (await metric.locator('option').allTextContents()).find((o) => o !== '気温')!;
    await metric.selectOption({ label: other });
    await expect.poll(() => chart.getAttribute('aria-label'), POLL).toContain(other);
    await page.reload();
    await chart.locator('canvas').waitFor();
    await expect.poll(() => chart.getAttribute('aria-label'), POLL).toContain(other);
    expect(await metric.locator('option:checked').textContent()).toBe(other);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-field');
  });

  it('acts on a tip', async () => {
    await page.getByRole('link', { name: 'アドバイス' }).first().click();
    const card = page.getByTestId(`tip-${tipId.value}`);
    await card.getByText('12時間以内に灌水してください').waitFor();
    // The evidence: the reading judged, as a tile shows it (%, the farm's time), and the source.
    await card.locator('summary').filter({ hasText: '根拠' }).click();
    await expect
      .poll(() => card.locator('.evidence li').first().textContent(), POLL)
      .toMatch(/^土壌水分 19 %\s*\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} · soil-1$/);
    await card.getByText('出典 Allen et al. (1998)', { exact: false }).waitFor();
    expect(await card.locator('.evidence').textContent()).not.toMatch(/ 1(?!\d)/); // no unit "1"
    // The rule's terms in words, each with the threshold it is tested against and whether it holds.
    const terms = card.locator('.evidence li');
    await expect(
      terms.filter({ hasText: '根群域の水分消費量 対 易有効水分量' }).textContent(),
    ).resolves.toMatch(/41 mm\s*（目安 ≧ 38 mm・該当）\s*\(depletion_reaches_raw\)/);
    await expect(terms.filter({ hasText: '易有効水分を使い切るまでの時間' }).textContent()).resolves.toMatch(
      /10,000 h\s*（目安 ≦ 48 h・該当せず）/,
    );
    await expect(terms.filter({ hasText: '易有効水分量（RAW）' }).textContent()).resolves.toMatch(/：38 mm/);
    await card.getByText('灌水（FAO-56）', { exact: false }).waitFor();
    await card.getByRole('button', { name: '対応した' }).click();
    await page.getByText('「対応した」を記録しました').waitFor();
    const farmer = await signIn(stack.httpUrl, 'demo-farmer');
    const tip = (await (await farmer(`/api/v1/tips/${tipId.value}`)).json()) as TipView;
    expect(tip.state).toBe('acted');
    expect(tip.stateBy).toBe('demo-farmer');
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-tips');
  });

  it('shows a tip the gateway raised without a reload, and takes it off when its condition ends', async () => {
    const fresh = irrigationTip('demo-farm', 'paddy-1', 'water-1');
    await gw.send([{ kind: 'tip', body: fresh }]);
    const card = page.getByTestId(`tip-${fresh.id}`);
    await card.waitFor(); // the live stream's change event, not a reload
    const at = Date.now();
    await gw.send([{ kind: 'tip_cleared', body: { id: fresh.id, dedupKey: fresh.dedupKey, at } }]);
    await card.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: '履歴' }).click();
    await card.getByText(/解消/).waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.getByRole('button', { name: '対応中' }).click();
  });

  it('downloads the approved prescription with the officer-edited rate, shown in kg/10a', async () => {
    await page.getByRole('link', { name: '施肥提案' }).click();
    const rec = page.getByTestId(`recommendation-${recId}`);
    await rec.waitFor();
    const firstZone = rec.locator('tbody tr').first();
    // Japanese shows kg/10a first, kg/ha in brackets.
    await expect(firstZone.locator('.rate-main').first().textContent()).resolves.toBe(
      `${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 1 }).format(editedKgHa / 10)} kg/10a`,
    );
    await expect(firstZone.textContent()).resolves.toMatch(/普及指導員が修正/);
    // Each zone's area in ares as the API gives it in hectares (1 ha = 100 a), on one line even
    // on a 360 px phone: the table scrolls inside its card instead of breaking "4.9 a" or "ゾーン".
    const farmer = await signIn(stack.httpUrl, 'demo-farmer');
    const api = (await (await farmer(`/api/v1/recommendations/${recId}`)).json()) as {
      zones: { id: string; areaHa: number }[];
      recommendation: Recommendation;
    };
    // The totals are what the files spread (these zones make the whole prescription: no rest).
    const spread = spreadTotals(api.recommendation);
    expect(spread.restHa).toBe(0);
    await expect(rec.getByTestId('rx-totals').textContent()).resolves.toBe(
      `肥料の合計 ${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 0 }).format(spread.productKg)} kg · ` +
        `窒素の合計 ${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 1 }).format(spread.nKg)} kg`,
    );
    expect(api.zones.length).toBeGreaterThan(1);
    const ares = new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 1 });
    for (const z of api.zones)
      await expect(rec.getByTestId(`zone-${z.id}`).getByTestId('zone-area').textContent()).resolves.toBe(
        `${ares.format(z.areaHa * 100)} a`,
      );
    /** How many lines a cell's text takes on the page: its text's boxes that share no height. */
    const lines = (cell: ReturnType<Page['locator']>) =>
      cell.evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        const rows: { top: number; bottom: number }[] = [];
        const rects = range.getClientRects();
        for (let i = 0; i < rects.length; i++) {
          const r = rects[i]!;
          if (r.width === 0) continue;
          const row = rows.find((x) => r.top < x.bottom - 1 && r.bottom > x.top + 1);
          if (row) {
            row.top = Math.min(row.top, r.top);
            row.bottom = Math.max(row.bottom, r.bottom);
          } else rows.push({ top: r.top, bottom: r.bottom });
        }
        return rows.length;
      });
    for (const cell of await rec.locator('tbody td, thead th').all())
      expect(await lines(cell), (await cell.textContent()) ?? '').toBe(1);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      rec.getByTestId('download-csv').click(),
    ]);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const csv = readFileSync(path, 'utf8');
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    expect(csv).toContain(String(editedKgHa));
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-prescription');
  });

  it('opts the farm in to auto-approval after a confirmation, and out again', async () => {
    const farmer = await signIn(stack.httpUrl, 'demo-farmer');
    const policy = async () =>
      (await (await farmer('/api/v1/farms/demo-farm/auto-approval')).json()) as unknown;
    const section = page.getByTestId('auto-approval');
    await page.getByRole('heading', { level: 2, name: '自動承認', exact: true }).waitFor();
    await section.getByText('自動承認は設定されていません').waitFor();
    // The model of the farm's recommendations is suggested; the ceiling is typed in kg/10a.
    await expect(section.getByLabel('対象のモデル').inputValue()).resolves.toBe('osu-sbnrc');
    // A list of the farm's models, not a bare text box: any version, this version, or type another.
    const choices = await section.getByLabel('対象のモデル').locator('option').allTextContents();
    expect(choices[0]).toBe('osu-sbnrc（どの版でも）');
    expect(choices.slice(1, -1).every((c) => /^osu-sbnrc@\S+（この版だけ）$/.test(c))).toBe(true);
    expect(choices.at(-1)).toBe('ほかのモデルを入力する');
    await section.getByLabel('窒素量の上限').fill('60');
    await section.getByRole('button', { name: '自動承認を設定' }).click();
    await section.getByText('0〜50 kg/10a の範囲で入れてください').waitFor();
    await expect(section.getByTestId('auto-approval-confirm').count()).resolves.toBe(0);
    await section.getByLabel('窒素量の上限').fill('14');
    await section.getByLabel('理由（任意・審査記録に残ります）').fill('組合の基準の範囲内なら任せる');
    await section.getByRole('button', { name: '自動承認を設定' }).click();
    // Nothing is sent before the farmer confirms; the confirmation says what will happen.
    const confirm = section.getByTestId('auto-approval-confirm');
    await expect(confirm.textContent()).resolves.toMatch(
      /モデル osu-sbnrc .*14 kg\/10a.*以下なら審査なしで承認/,
    );
    expect(await policy()).toBeNull();
    // No connection on the first try: said in Japanese, and the confirmation stays to try again.
    await page.route('**/api/v1/farms/demo-farm/auto-approval', (route) =>
      route.request().method() === 'PUT' ? route.abort('internetdisconnected') : route.continue(),
    );
    await confirm.getByRole('button', { name: '設定する' }).click();
    await confirm.getByRole('alert').filter({ hasText: 'サーバーに接続できません' }).waitFor();
    await page.unroute('**/api/v1/farms/demo-farm/auto-approval');
    await confirm.getByRole('button', { name: '設定する' }).click();
    await section.getByText('自動承認を設定しました').waitFor();
    await section.getByText('自動承認を使っています').waitFor();
    await expect(
      section.getByTestId('auto-approval-state').locator('.rate-main').textContent(),
    ).resolves.toBe('14 kg/10a');
    expect(await policy()).toMatchObject({ model: 'osu-sbnrc', maxKgNHa: 140, setBy: 'demo-farmer' });
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-auto-approval');

    // Out again: a cancelled confirmation changes nothing.
    await section.getByRole('button', { name: '自動承認をやめる' }).click();
    await confirm.getByText('自動承認をやめますか？').waitFor();
    await confirm.getByRole('button', { name: 'キャンセル' }).click();
    await expect(confirm.count()).resolves.toBe(0);
    expect(await policy()).toMatchObject({ model: 'osu-sbnrc' });
    await section.getByRole('button', { name: '自動承認をやめる' }).click();
    await confirm.getByRole('button', { name: 'やめる', exact: true }).click();
    await section.getByText('自動承認をやめました').waitFor();
    await section.getByText('自動承認は設定されていません').waitFor();
    expect(await policy()).toBeNull();

    // Set again, then removed elsewhere (another phone, the officer): the server's 404 is shown
    // the way every page shows it, with its code, and the section shows the farm as it is.
    await section.getByLabel('窒素量の上限').fill('12');
    await section.getByRole('button', { name: '自動承認を設定' }).click();
    await confirm.getByRole('button', { name: '設定する' }).click();
    await section.getByText('自動承認を使っています').waitFor();
    const removed = await farmer('/api/v1/farms/demo-farm/auto-approval', { method: 'DELETE' });
    expect(removed.status).toBe(204);
    await section.getByRole('button', { name: '自動承認をやめる' }).click();
    await confirm.getByRole('button', { name: 'やめる', exact: true }).click();
    const alert = section.getByRole('alert').filter({ hasText: '見つかりません' });
    await alert.waitFor();
    await expect(alert.locator('code').textContent()).resolves.toBe('HATAKE_E_NOT_FOUND');
    await section.getByText('自動承認は設定されていません').waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
  });

  it('shows the automations page in Japanese, and English on the switch', async () => {
    await page.getByRole('link', { name: '自動制御' }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    await page.getByRole('heading', { name: '手動操作' }).waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Automations' }).waitFor();
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('en');
    await page.getByRole('link', { name: 'Recommendations' }).click();
    const rate = page
      .getByTestId(`recommendation-${recId}`)
      .locator('tbody tr')
      .first()
      .locator('.rate-main')
      .first();
    await expect(rate.textContent()).resolves.toBe(
      `${new Intl.NumberFormat('en-GB', { maximumFractionDigits: 0 }).format(editedKgHa)} kg/ha`,
    );
  });

  it('shows the current prescription when a newer one for the field is approved, and says so on the replaced one', async () => {
    // The page (in English since the test above) shows the field's only prescription.
    const newer = await wheatRecommendation('demo-farm', 'upland-1', sceneAcquired);
    await gw.send([{ kind: 'recommendation', body: newer }]);
    const officer = await signIn(stack.httpUrl, 'demo-officer');
    const approve = await officer(`/api/v1/reviews/${newer.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(approve.status).toBe(200);
    // Told by the live stream, with no reload: the current one is shown, the list marks both.
    await page.getByTestId(`recommendation-${newer.id}`).waitFor();
    const list = page.locator('ul.list');
    await list.getByText('Current', { exact: true }).waitFor();
    await list.getByText('Replaced by a newer one').waitFor();
    // The replaced one, opened, says so and leads to the current one.
    await list.locator(`a[href$="/recommendations/${recId}"]`).click();
    await page.getByTestId(`recommendation-${recId}`).waitFor();
    const note = page.getByTestId('rx-replaced');
    await note.getByRole('link', { name: 'Open the current prescription' }).click();
    await page.getByTestId(`recommendation-${newer.id}`).waitFor();
    expect(await page.getByTestId('rx-replaced').count()).toBe(0);
    await page.getByRole('button', { name: /Switch language|言語/ }).click();
    await page.getByText('最新', { exact: true }).waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
  });
});
