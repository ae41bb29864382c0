// Writing automations in the farmer's dashboard, in a real browser against a real server: the
// farmer writes a threshold automation ("when soil-1's moisture < 22 %, open valve-1 for 30 min,
// at most twice a day, never 22:00–05:00") and a paddy band ("keep the water level between 3 and
// 5 cm") with pickers for the farm's devices; both show in the list and are stored in storage
// units (22 % → 0.22 m³/m³). A band with low ≥ high is stopped in the browser (no request leaves);
// so is a value the sensor's kit cannot read (VWC 70 % on a 0–60 % probe), with the kit's range
// beside the field — the server still refuses it when the browser is bypassed, and its refusal is
// shown beside the form; nothing is stored any time. An edit bumps the version; an edit of a stale
// version shows the conflict and, after loading the latest, saves. A live reload of the list that
// lands while the farmer presses 編集 leaves the card where it is, and the press opens the form. In
// English the form reads in English. A tip that points at an approved recommendation links to its
// page.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Request } from 'playwright-core';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { AutomationView } from '../../protocol/review.ts';
import type { Tip } from '../../protocol/tip.ts';
import type { KitSummary } from '../../protocol/views.ts';
import { signIn, startServer } from '../helpers/stack.ts';
import {
  ALLOWED_UNITS,
  accessibilityProblems,
  launch,
  phonePage,
  screenshots,
  signInAs,
  untranslatedWords,
} from './browser.ts';
import { POLL } from './poll.ts';
import { SeedGateway, irrigationTip, farmWithGates } from './seed.ts';

let dir: string;
let server: HatakeServer;
let url: string;
let browser: Browser;
let page: Page;
let gw: SeedGateway;
let farmer: Awaited<ReturnType<typeof signIn>>;
/** Every automation write the page sent (POST or PUT under /api/v1/automations). */
const writes: string[] = [];

/** The farm's automations as the API stores them. */
async function stored(): Promise<AutomationView[]> {
  const res = await farmer('/api/v1/automations?farm=demo-farm');
  expect(res.status).toBe(200);
  return (await res.json()) as AutomationView[];
}
const byName = async (ja: string) => (await stored()).find((a) => a.name.ja === ja);
/** What a PUT of an automation takes from its stored view: all but the server's own fields. */
function editable(a: AutomationView) {
  const {
    id: _i,
    farm: _f,
    version: _v,
    createdBy: _c,
    createdAt: _t,
    updatedAt: _u,
    updatedBy: _b,
    onGateway: _g,
    ...rest
  } = a;
  return rest;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-automation-form-'));
  ({ server, url } = await startServer(dir));
  browser = await launch();
  gw = new SeedGateway(server, url, 'demo-farm');
  await gw.send([{ kind: 'manifest', body: farmWithGates() }]);
  farmer = await signIn(url, 'demo-farmer');
  page = await phonePage(browser, url);
  page.on('request', (r: Request) => {
    if (/\/api\/v1\/automations/.test(r.url()) && (r.method() === 'POST' || r.method() === 'PUT'))
      writes.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const form = () => page.getByTestId('automation-form');
const group = (name: string) => form().getByRole('group', { name, exact: true });

describe('writing automations in the farmer’s dashboard', () => {
  it('is told by GET /api/v1/kits what each kit’s metrics read and what its commands take', async () => {
    const res = await farmer('/api/v1/kits');
    expect(res.status).toBe(200);
    const kits = (await res.json()) as KitSummary[];
    const probe = kits.find((k) => k.id === 'hatake-soil-probe')!;
    expect(probe.metricDetails.find((m) => m.id === 'soil_vwc')).toEqual({
      id: 'soil_vwc',
      unit: 'm3/m3',
      min: 0,
      max: 0.6,
      name: null,
    });
    expect(probe.metricDetails.find((m) => m.id === 'soil_raw')!.name).toMatchObject({
      ja: expect.stringMatching(/\S/),
      en: expect.stringMatching(/\S/),
    });
    expect(probe.metricDetails.map((m) => m.id)).toEqual(probe.metrics);
    expect(probe.commandDetails).toEqual([]);
    const gate = kits.find((k) => k.id === 'hatake-water-gate')!;
    expect(gate.commands).toEqual(['open', 'close', 'open_for']);
    expect(gate.commandDetails).toEqual([
      { id: 'open', params: [] },
      { id: 'close', params: [] },
      { id: 'open_for', params: [{ name: 'minutes', type: 'integer', min: 1, max: 720, unit: 'min' }] },
    ]);
  });

  it('writes a threshold automation: soil moisture entered in %, stored in m³/m³', async () => {
    await signInAs(page, 'demo-farmer');
    await page.getByRole('link', { name: '自動制御' }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    await page.getByRole('button', { name: '自動制御を作る' }).click();
    await form().waitFor();
    // The form starts as a threshold automation with the irrigation limits and quiet hours on.
    await expect.poll(() => form().getByLabel('値がしきい値を越えたら動かす').isChecked(), POLL).toBe(true);

    await form().getByLabel('名前', { exact: true }).fill('畑1号の灌水');
    const when = group('条件');
    await when.getByLabel('センサー').selectOption({ label: '土壌センサー 畑1号' });
    await when.getByLabel('項目').selectOption({ label: '土壌水分' });
    await when.getByLabel('比べ方').selectOption({ label: '＜（より低い）' });
    // The threshold is entered in %, the unit a farmer reads soil moisture in.
    await expect.poll(() => when.getByText('(%)').count(), POLL).toBe(1);
    await when.getByLabel('しきい値').fill('22');
    const then = group('条件が成り立ったら');
    await then.getByLabel('動かす機器').selectOption({ label: '水門 畑1号' });
    await then.getByLabel('動作').selectOption({ label: '指定時間だけ開く' });
    await then.getByLabel('開ける時間（分）').fill('30');
    const limits = group('安全のための制限');
    await limits.getByLabel('1日の上限回数').fill('2');
    await limits.getByLabel('最大開放時間（分）').fill('45');
    await limits.getByLabel('次に動かすまでの間隔（分・任意）').fill('240');
    await expect.poll(() => limits.getByLabel('停止時間帯を使う').isChecked(), POLL).toBe(true);
    await limits.getByLabel('停止の開始').fill('22:00');
    await limits.getByLabel('停止の終了').fill('05:00');
    // The whole form in Japanese, labelled, and no wider than a phone.
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'automation-form-threshold');

    await form().getByRole('button', { name: '保存', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '自動制御を保存しました' }).waitFor();
    await expect.poll(() => form().count(), POLL).toBe(0);

    const a = await byName('畑1号の灌水');
    expect(a, 'stored').toBeDefined();
    expect(a!.version).toBe(1);
    expect(a!.enabled).toBe(true);
    expect(a!.field).toBe('upland-1');
    expect(a!.name).toEqual({ ja: '畑1号の灌水', en: '畑1号の灌水' });
    expect(a!.trigger).toEqual({
      kind: 'threshold',
      device: 'soil-1',
      metric: 'soil_vwc',
      op: '<',
      value: 0.22,
    });
    expect(a!.action).toEqual({ device: 'valve-1', command: 'open_for', params: { minutes: 30 } });
    expect(a!.below).toBeUndefined();
    expect(a!.limits).toEqual({
      maxRunsPerDay: 2,
      maxOpenMinutes: 45,
      cooldownMinutes: 240,
      quietHours: { from: '22:00', to: '05:00' },
    });
    const card = page.getByTestId(`automation-${a!.id}`);
    await expect
      .poll(() => card.getByTestId('trigger').textContent(), POLL)
      .toBe('有効 · 条件 土壌センサー 畑1号 土壌水分 ＜ 22 %');
    await expect
      .poll(() => card.getByTestId('commands').textContent(), POLL)
      .toBe('→ 水門 畑1号 指定時間だけ開く (30 分)');
    expect(writes).toEqual(['POST /api/v1/automations']);
  });

  it('writes a band automation: keep the paddy water level between 3 and 5 cm', async () => {
    await page.getByRole('button', { name: '自動制御を作る' }).click();
    await form().getByLabel('値を範囲内に保つ').check();
    await form().getByLabel('名前', { exact: true }).fill('田んぼ1号の水位');
    const band = group('目標範囲');
    await band.getByLabel('センサー').selectOption({ label: '水位センサー 田んぼ1号' });
    await band.getByLabel('項目').selectOption({ label: '水位' });
    await expect.poll(() => band.getByText('(cm)').count(), POLL).toBe(2);
    await band.getByLabel('下限').fill('3');
    await band.getByLabel('上限').fill('5');
    await group('下限を下回ったら').getByLabel('動かす機器').selectOption({ label: '水門 田んぼ1号' });
    await group('下限を下回ったら').getByLabel('動作').selectOption({ label: '開く' });
    await group('上限を上回ったら').getByLabel('動かす機器').selectOption({ label: '水門 田んぼ1号' });
    await group('上限を上回ったら').getByLabel('動作').selectOption({ label: '閉じる' });
    // A band starts with the water-level limits: 12 runs a day, 180 min, 30 min apart, no quiet hours.
    const limits = group('安全のための制限');
    await expect.poll(() => limits.getByLabel('1日の上限回数').inputValue(), POLL).toBe('12');
    await expect.poll(() => limits.getByLabel('停止時間帯を使う').isChecked(), POLL).toBe(false);
    await screenshots(page, 'automation-form-band');
    await form().getByRole('button', { name: '保存', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '自動制御を保存しました' }).waitFor();

    const a = await byName('田んぼ1号の水位');
    expect(a, 'stored').toBeDefined();
    expect(a!.field).toBe('paddy-1');
    expect(a!.trigger).toEqual({ kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 });
    expect(a!.action).toBeUndefined();
    expect(a!.below).toEqual({ device: 'gate-1', command: 'open' });
    expect(a!.above).toEqual({ device: 'gate-1', command: 'close' });
    expect(a!.limits).toEqual({ maxRunsPerDay: 12, maxOpenMinutes: 180, cooldownMinutes: 30 });
    const card = page.getByTestId(`automation-${a!.id}`);
    await expect
      .poll(() => card.getByTestId('trigger').textContent(), POLL)
      .toBe('有効 · 目標範囲 水位センサー 田んぼ1号 水位 3–5 cm');
    await expect
      .poll(() => card.getByTestId('commands').textContent(), POLL)
      .toBe('下限を下回ったら: 水門 田んぼ1号 開く · 上限を上回ったら: 水門 田んぼ1号 閉じる');
    expect(await stored()).toHaveLength(2);
  });

  it('stops a band with low ≥ high and a moisture the probe cannot read in the browser; shows what the server refuses; stores none', async () => {
    const before = writes.length;
    await page.getByRole('button', { name: '自動制御を作る' }).click();
    await form().getByLabel('値を範囲内に保つ').check();
    await form().getByLabel('名前', { exact: true }).fill('逆さまの範囲');
    const band = group('目標範囲');
    await band.getByLabel('センサー').selectOption({ label: '水位センサー 田んぼ1号' });
    await band.getByLabel('項目').selectOption({ label: '水位' });
    await band.getByLabel('下限').fill('5');
    await band.getByLabel('上限').fill('3');
    await group('下限を下回ったら').getByLabel('動かす機器').selectOption({ label: '水門 田んぼ1号' });
    await form().getByRole('button', { name: '保存', exact: true }).click();

    await form().getByRole('alert').filter({ hasText: '入力を確認してください' }).waitFor();
    const high = band.getByLabel('上限');
    await expect.poll(() => high.getAttribute('aria-invalid'), POLL).toBe('true');
    // The problem is beside the field, named by it for screen readers, and the field has the focus.
    const describedBy = await high.getAttribute('aria-describedby');
    await expect
      .poll(() => page.locator(`[id="${describedBy}"]`).textContent(), POLL)
      .toBe('下限は上限より小さくしてください');
    await expect.poll(() => high.evaluate((el) => el === document.activeElement), POLL).toBe(true);
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'automation-form-invalid');
    expect(writes.length, 'no request left the browser').toBe(before);

    // A moisture the soil probe cannot read: the browser knows the probe's range from its kit
    // (0–60 %) and stops 70 % with that range beside the field; no request leaves.
    await form().getByLabel('値がしきい値を越えたら動かす').check();
    const when = group('条件');
    await when.getByLabel('センサー').selectOption({ label: '土壌センサー 畑1号' });
    await when.getByLabel('項目').selectOption({ label: '土壌水分' });
    const value = when.getByLabel('しきい値');
    await expect.poll(() => value.getAttribute('max'), POLL).toBe('60');
    await value.fill('70');
    await group('条件が成り立ったら').getByLabel('動かす機器').selectOption({ label: '水門 畑1号' });
    await form().getByRole('button', { name: '保存', exact: true }).click();
    await expect.poll(() => value.getAttribute('aria-invalid'), POLL).toBe('true');
    await expect
      .poll(
        async () => page.locator(`[id="${await value.getAttribute('aria-describedby')}"]`).textContent(),
        POLL,
      )
      .toBe('0〜60 % の範囲で入れてください');
    await expect.poll(() => value.evaluate((el) => el === document.activeElement), POLL).toBe(true);
    expect(writes.length, 'no request left the browser').toBe(before);

    // The server still refuses it when the browser's check is bypassed: straight through the API…
    const direct = await farmer('/api/v1/automations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        farm: 'demo-farm',
        name: { ja: '範囲外の水分', en: 'Out of range' },
        enabled: true,
        trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.7 },
        action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
        limits: { maxRunsPerDay: 2, maxOpenMinutes: 45 },
      }),
    });
    expect(direct.status).toBe(400);
    expect(await direct.json()).toMatchObject({
      code: 'HATAKE_E_AUTOMATION',
      pointer: '/trigger/value',
      expected: '0…0.6 m3/m3',
    });
    // …and from the form, as a page whose check was bypassed would send it (50 % passes the
    // browser, 0.7 arrives): the refusal shows beside the form, the field it names marked.
    let sent: number | undefined;
    await page.route('**/api/v1/automations', async (route) => {
      const body = JSON.parse(route.request().postData() ?? '{}') as { trigger: { value: number } };
      sent = body.trigger.value;
      await route.continue({
        postData: JSON.stringify({ ...body, trigger: { ...body.trigger, value: 0.7 } }),
      });
    });
    await value.fill('50');
    await form().getByRole('button', { name: '保存', exact: true }).click();
    const problem = form().getByRole('alert').filter({ hasText: 'HATAKE_E_AUTOMATION' });
    await problem.waitFor();
    await page.unroute('**/api/v1/automations');
    expect(sent, 'what the browser sent').toBe(0.5);
    await expect.poll(() => problem.textContent(), POLL).toMatch(/trigger\/value/);
    await form().getByText('保存できませんでした').waitFor();
    await expect.poll(() => value.getAttribute('aria-invalid'), POLL).toBe('true');
    await expect
      .poll(
        async () => page.locator(`[id="${await value.getAttribute('aria-describedby')}"]`).textContent(),
        POLL,
      )
      .toBe('サーバーがこの項目を受け付けませんでした');
    expect(writes.length).toBe(before + 1);
    expect(await accessibilityProblems(page)).toEqual([]);

    const all = await stored();
    expect(all).toHaveLength(2);
    expect(all.map((a) => a.name.ja)).not.toContain('逆さまの範囲');
    expect(all.map((a) => a.name.ja)).not.toContain('範囲外の水分');
    await form().getByRole('button', { name: 'キャンセル' }).click();
    await expect.poll(() => form().count(), POLL).toBe(0);
  });

  it('edits an automation: the version goes up; a stale version shows the conflict, the latest then saves', async () => {
    const a = (await byName('畑1号の灌水'))!;
    const card = page.getByTestId(`automation-${a.id}`);
    await card.getByRole('button', { name: '編集' }).click();
    // The stored 0.22 m³/m³ comes back as 22 %.
    const value = group('条件').getByLabel('しきい値');
    await expect.poll(() => value.inputValue(), POLL).toBe('22');
    await expect
      .poll(() => group('安全のための制限').getByLabel('停止の開始').inputValue(), POLL)
      .toBe('22:00');
    await value.fill('20');
    await form().getByRole('button', { name: '保存', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '自動制御を保存しました' }).waitFor();
    const v2 = (await byName('畑1号の灌水'))!;
    expect(v2.version).toBe(2);
    expect(v2.trigger).toEqual({ ...a.trigger, value: 0.2 });
    expect(v2.action).toEqual(a.action);
    expect(v2.limits).toEqual(a.limits);
    expect(v2.createdAt).toBe(a.createdAt);
    await expect
      .poll(() => card.getByTestId('trigger').textContent(), POLL)
      .toBe('有効 · 条件 土壌センサー 畑1号 土壌水分 ＜ 20 %');

    // The farmer presses 編集 while a live change reloads the list (here another phone saves the
    // band automation; on a loaded CI machine it was this save's own change, 250 ms after it). The
    // card stays where it is under the finger, and the press opens the form. (The list once showed
    // its loading line above the cards on every reload: the card moved down between press and
    // release, the release and so the click went to another element, no form opened, and the wait
    // for its field below ran out.) The reload is held until the finger is lifted, so this is the
    // same race on every machine, not a chance one.
    let releaseReload!: () => void;
    const reloadHeld = new Promise<void>((resolve) => (releaseReload = resolve));
    await page.route('**/api/v1/automations?farm=*', async (route) => {
      await reloadHeld;
      await route.continue();
    });
    const edit = card.getByRole('button', { name: '編集' });
    await edit.hover();
    const pressed = await edit.boundingBox();
    await page.mouse.down();
    const reloading = page.waitForRequest((r) => r.url().includes('/api/v1/automations?farm='));
    const band = (await byName('田んぼ1号の水位'))!;
    const elsewhere = await farmer(`/api/v1/automations/${band.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...editable(band), version: band.version }),
    });
    expect(elsewhere.status, await elsewhere.clone().text()).toBe(200);
    await reloading;
    expect(await edit.boundingBox(), 'the 編集 button under the finger while the list reloads').toEqual(
      pressed,
    );
    await page.mouse.up();
    releaseReload();
    await page.unrouteAll({ behavior: 'wait' });

    // The farmer edits; meanwhile the automation changes elsewhere (version 3).
    await expect.poll(() => group('条件').getByLabel('しきい値').inputValue(), POLL).toBe('20');
    const rest = editable(v2);
    const res = await farmer(`/api/v1/automations/${a.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...rest, limits: { ...rest.limits, maxRunsPerDay: 3 }, version: v2.version }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await group('条件').getByLabel('しきい値').fill('18');
    await form().getByRole('button', { name: '保存', exact: true }).click();
    const conflict = form().getByRole('alert').filter({ hasText: '編集中に別の画面で変更されました' });
    await conflict.waitFor();
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'automation-form-conflict');
    const v3 = (await byName('畑1号の灌水'))!;
    expect(v3.version).toBe(3);
    expect(v3.trigger).toEqual(v2.trigger);

    // Loading the latest brings the other change into the form; the edit then saves over it.
    await conflict.getByRole('button', { name: '最新の内容を読み込む' }).click();
    // (the form refills when the reload answers: wait for it rather than read it once)
    await expect
      .poll(() => group('安全のための制限').getByLabel('1日の上限回数').inputValue(), POLL)
      .toBe('3');
    await expect.poll(() => group('条件').getByLabel('しきい値').inputValue(), POLL).toBe('20');
    await group('条件').getByLabel('しきい値').fill('18');
    await form().getByRole('button', { name: '保存', exact: true }).click();
    await page.getByRole('status').filter({ hasText: '自動制御を保存しました' }).waitFor();
    const v4 = (await byName('畑1号の灌水'))!;
    expect(v4.version).toBe(4);
    expect(v4.trigger).toEqual({ ...a.trigger, value: 0.18 });
    expect(v4.limits.maxRunsPerDay).toBe(3);
    expect(writes.filter((w) => w.startsWith('PUT'))).toEqual([
      `PUT /api/v1/automations/${a.id}`,
      `PUT /api/v1/automations/${a.id}`,
      `PUT /api/v1/automations/${a.id}`,
    ]);
  });

  it('reads in English on the switch', async () => {
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Automations' }).waitFor();
    const a = (await byName('田んぼ1号の水位'))!;
    const card = page.getByTestId(`automation-${a.id}`);
    await expect
      .poll(() => card.getByTestId('commands').textContent(), POLL)
      .toBe('Below the low: 水門 田んぼ1号 Open · Above the high: 水門 田んぼ1号 Close');
    await card.getByRole('button', { name: 'Edit' }).click();
    await expect.poll(() => form().getByLabel('Keep a value within a band').isChecked(), POLL).toBe(true);
    const band = group('Keep in band');
    await expect.poll(() => band.getByLabel('Low').inputValue(), POLL).toBe('3');
    await expect.poll(() => band.getByLabel('High').inputValue(), POLL).toBe('5');
    await expect.poll(() => group('Below the low').getByLabel('Command').inputValue(), POLL).toBe('open');
    await expect
      .poll(() => group('Safety limits').getByLabel('Runs a day at most').inputValue(), POLL)
      .toBe('12');
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'automation-form-en');
    await form().getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: /Switch language/ }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
  });

  it('links a tip that carries an approved recommendation to that recommendation’s page', async () => {
    const now = Date.now();
    const plain: Tip = { ...irrigationTip('demo-farm', 'upland-1', 'soil-1', now), id: 'tip-irr-form-test' };
    const rec = 'rec-upland-1-form-test';
    const prescription: Tip = {
      ...plain,
      id: 'tip-rx-form-test',
      kind: 'fertilization_timing',
      severity: 'advisory',
      title: { ja: '追肥の処方箋が承認されました', en: 'Your top-dressing prescription is approved' },
      text: { ja: '処方箋に沿って追肥してください。', en: 'Top-dress as the prescription says.' },
      action: {
        type: 'fertilize',
        field: 'upland-1',
        nutrient: 'N',
        stage: 'top-dressing',
        recommendation: rec,
      },
      dedupKey: 'fertilization_timing:demo-farm:upland-1',
    };
    await gw.send([
      { kind: 'tip', body: prescription },
      { kind: 'tip', body: plain },
    ]);
    await page.getByRole('link', { name: 'アドバイス' }).click();
    const card = page.getByTestId(`tip-${prescription.id}`);
    await card.waitFor();
    await expect
      .poll(() => card.getByRole('link', { name: '処方箋を見る' }).getAttribute('href'), POLL)
      .toBe(`#/farm/demo-farm/recommendations/${rec}`);
    // A tip without a recommendation has no such link.
    await page.getByTestId(`tip-${plain.id}`).waitFor();
    await expect.poll(() => page.getByTestId(`tip-${plain.id}`).getByRole('link').count(), POLL).toBe(0);
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await card.getByRole('link', { name: 'View prescription' }).waitFor();
  });

  it('lets the farmer pick the gate a tip’s automation steers when the field has two, and offers no pick with one', async () => {
    // paddy-1 gets a drain gate beside its inlet (the page is in English after the test above).
    const m = farmWithGates();
    m.devices.push({ id: 'gate-2', kit: 'hatake-water-gate', field: 'paddy-1', name: '落水口 田んぼ1号' });
    const base = irrigationTip('demo-farm', 'paddy-1', 'water-1', Date.now());
    const level: Tip = {
      ...base,
      id: 'tip-level-pick-test',
      kind: 'paddy_water',
      title: { ja: '田んぼ1号の水位が低すぎます', en: 'Paddy 1 water level is too low' },
      action: { type: 'water_level', field: 'paddy-1', device: 'water-1', minCm: 3, maxCm: 5 },
      dedupKey: 'paddy_water:demo-farm:paddy-1',
    };
    await gw.send([
      { kind: 'manifest', body: m },
      { kind: 'tip', body: level },
    ]);
    const card = page.getByTestId(`tip-${level.id}`);
    await card.waitFor();
    const pick = card.getByRole('combobox', { name: 'Valve or gate to steer' });
    await expect
      .poll(() => pick.locator('option').allTextContents(), POLL)
      .toEqual(['水門 田んぼ1号 (gate-1)', '落水口 田んぼ1号 (gate-2)']);
    // upland-1 has one valve: nothing to pick.
    expect(await page.getByTestId('tip-tip-irr-form-test').getByRole('combobox').count()).toBe(0);
    await pick.selectOption('gate-2');
    await card.getByRole('button', { name: 'Automate' }).click();
    await page.getByText('Automation created (disabled)').waitFor();
    const made = (await (await farmer('/api/v1/automations?farm=demo-farm')).json()) as {
      fromTip?: string;
      enabled: boolean;
      below?: { device: string };
    }[];
    expect(made.find((a) => a.fromTip === level.id)).toMatchObject({
      enabled: false,
      below: { device: 'gate-2', command: 'open' },
    });
    expect(await accessibilityProblems(page)).toEqual([]);
  });
});
