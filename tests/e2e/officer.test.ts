// The extension officer's journey in a real browser: a recommendation made by the real model
// arrives through a sync batch; the officer opens it from the queue, edits one zone's rate (typed
// in kg/10a, as Japanese officers read it) with a reason, approves it, and the farmer's API then
// serves the edited rate. The region overview and the CSV export of decisions are checked too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { ReviewDetail } from '../../protocol/review.ts';
import { eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { accessibilityProblems, launch, phonePage, screenshots, signInByKeyboard } from './browser.ts';
import { SeedGateway, wheatRecommendation } from './seed.ts';

let stack: Stack;
let browser: Browser;
let page: Page;
let recId: string;

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  const farmer = await signIn(stack.httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  const rec = await wheatRecommendation(
    'demo-farm',
    'upland-1',
    new Date(Date.now() - 86_400_000).toISOString(),
  );
  recId = rec.id;
  await new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm').send([
    { kind: 'recommendation', body: rec },
  ]);
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
    await page.getByTestId(`queue-${recId}`).getByRole('link').click();
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    await page.locator('.leaflet-overlay-pane path').first().waitFor();
    await page.getByRole('heading', { name: '入力データと鮮度' }).waitFor();
    await page.getByRole('heading', { name: 'モデル情報' }).waitFor();
    await page.getByRole('heading', { name: '経済性' }).waitFor();

    const officer = await signIn(stack.httpUrl, 'demo-officer');
    const before = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as ReviewDetail;
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
});
