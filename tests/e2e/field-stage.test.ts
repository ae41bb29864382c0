// The growth stage seen in the field, in a real browser against a real stack (server + gateway
// syncing the demo manifest): the farmer opens the paddy on a 390 px phone, records tillering for
// today, and sees it in effect (the day seen, the last day the rules use it, recorded here) and in
// the record; the server has it and a signed `stage` document is waiting for the farm's gateways.
// A day 30 days ago is refused by the server and the page says why in Japanese; withdrawn, the page
// is back to the estimate from accumulated temperature. English names the stages in English; an
// IT partner reads the card without a form.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { FieldStageDoc, FieldStageView } from '../../protocol/field-stage.ts';
import { eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
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
import { addDays } from '../../dashboard/ui/components/FieldStage.tsx';
import { fmtDate } from '../../dashboard/ui/format.ts';

const PATH = '/api/v1/farms/demo-farm/fields/paddy-1/stage';
const day = (d: string, lang: 'ja' | 'en') => fmtDate(`${d}T00:00:00Z`, lang, 'UTC');

let stack: Stack;
let browser: Browser;
let page: Page;
let farmer: Awaited<ReturnType<typeof signIn>>;
/** The farm's local day on the server's clock, as the card's form takes it. */
let today: string;

const view = async (): Promise<FieldStageView> => {
  const res = await farmer(PATH);
  expect(res.status).toBe(200);
  return (await res.json()) as FieldStageView;
};

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  farmer = await signIn(stack.httpUrl, 'demo-farmer');
  // The server knows the paddy once the gateway has synced the manifest.
  await eventually(async () => (await farmer(PATH)).status === 200, 20_000);
  today = (await view()).today;
  page = await phonePage(browser, stack.httpUrl);
  await page.setViewportSize({ width: 390, height: 844 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const card = () => page.getByTestId('field-stage');

describe('the growth stage seen in the field', () => {
  it('is recorded by the farmer on a phone, shown in effect and in the record, and sent down', async () => {
    const before = await view();
    expect(before.profile?.id).toBe('rice');
    expect(before.inEffect).toBeNull();
    expect(before.history).toEqual([]);

    await signInAs(page, 'demo-farmer');
    await page.getByTestId('field-paddy-1').click();
    await page.getByRole('heading', { level: 1, name: '田んぼ1号（コシヒカリ）' }).waitFor();
    await page.getByRole('heading', { level: 2, name: '生育ステージ' }).waitFor();
    await expect
      .poll(() => card().getByTestId('stage-in-effect').textContent(), POLL)
      .toBe('記録なし（積算温度による推定を使っています）');
    expect(await card().getByRole('button', { name: '取り消す' }).count()).toBe(0);

    // The crop's stages in Japanese; the day defaults to today, at most 21 days back, none ahead.
    const select = card().getByLabel('生育ステージ');
    const options = await select.locator('option').allTextContents();
    expect(options).toEqual(before.stages.map((s) => s.name.ja));
    expect(options).toEqual(expect.arrayContaining(['分げつ期', '幼穂形成期']));
    const date = card().getByLabel('見た日');
    await expect.poll(() => date.inputValue(), POLL).toBe(today);
    await expect.poll(() => date.getAttribute('min'), POLL).toBe(addDays(today, -21));
    await expect.poll(() => date.getAttribute('max'), POLL).toBe(today);
    await expect.poll(() => card().getByLabel('メモ（任意）').getAttribute('maxlength'), POLL).toBe('200');

    await select.selectOption({ label: '分げつ期' });
    await card().getByLabel('メモ（任意）').fill('茎数 20本/株');
    await card().getByRole('button', { name: '記録', exact: true }).click();
    await card().getByTestId('stage-done').filter({ hasText: '記録しました' }).waitFor();

    const shown = card().getByTestId('stage-in-effect');
    await expect
      .poll(() => shown.textContent(), POLL)
      .toBe(
        `今のステージ分げつ期見た日${day(today, 'ja')}この日まで使用${day(addDays(today, 21), 'ja')}記録元この画面で記録`,
      );
    const first = card().getByTestId('stage-history').locator('li').first();
    const line = await first.textContent();
    expect(line).toContain('分げつ期');
    expect(line).toContain(`見た日 ${day(today, 'ja')}`);
    expect(line).toContain('現在の記録');
    expect(line).toContain('記録した人 demo-farmer（農家）');
    expect(line).toContain('茎数 20本/株');
    await card().getByRole('button', { name: '取り消す' }).waitFor();

    // The server has it, and the farm's gateways have a signed document to take it from.
    const after = await view();
    expect(after.inEffect).toMatchObject({ stage: 'tillering', date: today, source: 'recorded' });
    expect(after.inEffect!.until).toBe(addDays(today, 21));
    expect(after.history).toHaveLength(1);
    expect(after.history[0]).toMatchObject({
      stage: 'tillering',
      date: today,
      by: 'demo-farmer',
      role: 'farmer',
      note: '茎数 20本/株',
      current: true,
    });
    const doc = stack.server!.ctx.downlink.get('demo-farm', 'stage', 'paddy-1');
    expect(doc).toBeDefined();
    expect(doc!.deleted).toBe(false);
    expect(doc!.version).toBe(after.downlinkVersion);
    expect(doc!.body as FieldStageDoc).toMatchObject({
      farm: 'demo-farm',
      field: 'paddy-1',
      stage: 'tillering',
      date: today,
      by: 'demo-farmer',
    });

    // In Japanese throughout, and it fits a 390 px phone.
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    const box = await card().boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await card().scrollIntoViewIfNeeded();
    await screenshots(page, 'field-stage');
    await page.setViewportSize({ width: 390, height: 844 });
  });

  it('shows the server’s refusal of a day 30 days ago in Japanese, and keeps the record', async () => {
    const date = card().getByLabel('見た日');
    const old = addDays(today, -30);
    // The input's min does not stop a value being typed; the form leaves the check to the server.
    await date.fill(old);
    await expect.poll(() => date.inputValue(), POLL).toBe(old);
    await card().getByRole('button', { name: '記録', exact: true }).click();
    const alert = card().getByRole('alert');
    await alert.waitFor();
    await expect
      .poll(() => alert.textContent(), POLL)
      .toContain('生育ステージが作物に合わないか、日付が記録できる範囲の外です');
    await expect.poll(() => alert.locator('code').textContent(), POLL).toBe('HATAKE_E_FIELD_STAGE');
    await expect.poll(() => alert.getByTestId('error-reason').textContent(), POLL).toContain('30 days ago');
    await expect.poll(() => date.getAttribute('aria-invalid'), POLL).toBe('true');
    // Nothing changed: the recorded stage is still the one in effect.
    await expect(card().getByTestId('stage-in-effect').textContent()).resolves.toContain('分げつ期');
    const v = await view();
    expect(v.inEffect?.stage).toBe('tillering');
    expect(v.history).toHaveLength(1);
  });

  it('is withdrawn, and the page is back to the estimate from accumulated temperature', async () => {
    await card().getByRole('button', { name: '取り消す' }).click();
    await card().getByTestId('stage-done').filter({ hasText: '記録を取り消しました' }).waitFor();
    await expect
      .poll(() => card().getByTestId('stage-in-effect').textContent(), POLL)
      .toBe('記録なし（積算温度による推定を使っています）');
    expect(await card().getByRole('alert').count()).toBe(0);
    expect(await card().getByRole('button', { name: '取り消す' }).count()).toBe(0);
    const first = await card().getByTestId('stage-history').locator('li').first().textContent();
    expect(first).toContain('分げつ期');
    expect(first).not.toContain('現在の記録');
    // The form starts again from today.
    await expect.poll(() => card().getByLabel('見た日').inputValue(), POLL).toBe(today);

    const v = await view();
    expect(v.inEffect).toBeNull();
    expect(v.history[0]!.current).toBe(false);
    expect(v.downlinkVersion).toBeNull();
    expect(stack.server!.ctx.downlink.get('demo-farm', 'stage', 'paddy-1')!.deleted).toBe(true);
  });

  it('names the stages in English on the switch', async () => {
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('heading', { level: 2, name: 'Growth stage' }).waitFor();
    await expect
      .poll(() => card().getByTestId('stage-in-effect').textContent(), POLL)
      .toBe('Not recorded (estimated from accumulated temperature)');
    const options = await card().getByLabel('Growth stage').locator('option').allTextContents();
    expect(options).toEqual(expect.arrayContaining(['Tillering', 'Panicle initiation', 'Heading']));
    expect(options.join(' ')).not.toMatch(/[\u3040-\u30ff\u3400-\u9fff]/);
    await card().getByLabel('Seen on').waitFor();
    await expect
      .poll(() => card().getByTestId('stage-history').locator('li').first().textContent(), POLL)
      .toContain('Tillering');
    await page.getByRole('button', { name: /Switch language/ }).click();
    await page.getByRole('heading', { level: 2, name: '生育ステージ' }).waitFor();
  });

  it('is read, not recorded, by an IT partner', async () => {
    const partner = await signIn(stack.httpUrl, 'demo-partner');
    const res = await partner(PATH, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stage: 'tillering', date: today }),
    });
    expect(res.status).toBe(403);
    const p = await phonePage(browser, stack.httpUrl);
    try {
      await signInAs(p, 'demo-partner');
      await p.goto('/#/farm/demo-farm/field/paddy-1');
      const c = p.getByTestId('field-stage');
      await c.getByTestId('stage-read-only').waitFor();
      await expect
        .poll(() => c.getByTestId('stage-in-effect').textContent(), POLL)
        .toBe('記録なし（積算温度による推定を使っています）');
      expect(await c.getByTestId('stage-form').count()).toBe(0);
      expect(await c.getByRole('button', { name: '記録', exact: true }).count()).toBe(0);
      await expect(c.getByTestId('stage-history').locator('li').count()).resolves.toBe(1);
    } finally {
      await p.context().close();
    }
  });
});
