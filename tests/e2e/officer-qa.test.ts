// The extension officer's review as a demanding officer uses it at a desk, in a real browser against
// a real server: what the page lets an officer send is what the API takes (an approval note of
// "OK" is stopped and said before sending, a tab pasted from a spreadsheet goes as a space; a rate
// the API would refuse is said beside its box, and a rate that comes to the one applied now is said
// to change nothing rather than shown as a refused request), and the evidence reads as it was when
// the advice was made (an input is stale by its age then, as the banner and the queue count it, not
// by its age on the day the officer opens it; the queue says when a recommendation was made, and
// when it arrived late).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { ReviewDetail, ReviewQueueItem } from '../../protocol/review.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { translate } from '../../dashboard/ui/i18n.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import {
  accessibilityProblems,
  launch,
  phonePage,
  screenshots,
  untranslatedWords,
  signInAs,
} from './browser.ts';
import { POLL } from './poll.ts';
import { seedImagery, SeedGateway, wheatRecommendation } from './seed.ts';

const DAY = 86_400_000;
const ja = (k: string) => translate('ja', k);
/** Latin words a Japanese review page may show outside translate="no": units and the index. */
const JAPANESE_PAGE = ['kg', 'ha', 'NDVI'];
const isoSeconds = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

let stack: Stack;
let browser: Browser;
let page: Page;
let gw: SeedGateway;
let officer: Awaited<ReturnType<typeof signIn>>;
let scene: { sceneId: string; acquired: string };

const detailOf = async (id: string) =>
  (await (await officer(`/api/v1/reviews/${id}`)).json()) as ReviewDetail;
const approveButton = () => page.getByRole('button', { name: '承認する', exact: true });
const saveButton = () => page.getByRole('button', { name: '修正を保存', exact: true });
/** A fresh recommendation for the wheat field from the seeded scene, synced as the gateway would. */
const arrive = async () => {
  const rec = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired, scene.sceneId);
  await gw.send([{ kind: 'recommendation', body: rec }]);
  return rec;
};
const openReview = async (id: string) => {
  await page.goto(`/#/review/${id}`);
  await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
};

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  const farmer = await signIn(stack.httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  officer = await signIn(stack.httpUrl, 'demo-officer');
  gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm', 'gw-qa');
  // A scene two days old: the recommendations made from it now are not stale.
  scene = await seedImagery(gw, demoManifest());
  page = await phonePage(browser, stack.httpUrl);
  await signInAs(page, 'demo-officer');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the officer review, as the API takes it', () => {
  it('stops an approval note the API refuses ("OK") before sending, and sends a pasted tab as a space', async () => {
    const rec = await arrive();
    await openReview(rec.id);
    const reason = page.getByLabel('理由（記録されます）');
    // Two characters: the API refuses it as an approval's note (Reason: at least 3), so the page
    // does not offer to approve with it and says why beside the box.
    await reason.fill('OK');
    await expect.poll(() => approveButton().isDisabled(), POLL).toBe(true);
    await expect(page.getByTestId('reason-hint').textContent()).resolves.toBe(ja('reviewReasonShortHint'));
    await expect(approveButton().getAttribute('aria-describedby')).resolves.toBe('reason-hint');
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'officer-qa-short-note');
    // Empty again: approving without a note is offered.
    await reason.fill('');
    await expect.poll(() => approveButton().isDisabled(), POLL).toBe(false);
    // A note pasted from a spreadsheet cell pair (a tab between): the API refuses control
    // characters, so the tab goes as a space.
    await reason.fill('OK\t確認済み');
    await approveButton().click();
    await page.getByTestId('review-status').filter({ hasText: '承認済み' }).waitFor();
    await expect(page.locator('.error').count()).resolves.toBe(0);
    const after = await detailOf(rec.id);
    expect(after.status).toBe('approved');
    expect(after.audit.find((a) => a.action === 'approved')?.reason).toBe('OK 確認済み');
  });

  it('says a rate the API refuses beside its box, in the reader’s unit, and sends nothing until it is corrected', async () => {
    const rec = await arrive();
    await openReview(rec.id);
    const [z1] = rec.zones;
    const box = page.getByTestId(`edit-${z1!.id}`);
    // 300 kg/10a (meant: 3.00) is 3000 kg N/ha, beyond what the API takes (1000): said beside the
    // box in the officer's unit, and nothing can be sent until it is corrected.
    await box.fill('300');
    const error = page.locator('#rate-err-0');
    await expect.poll(() => error.textContent(), POLL).toBe('0〜100 kg/10a の範囲で入れてください');
    await expect(box.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(box.getAttribute('aria-describedby')).resolves.toBe('rate-err-0');
    await page.getByLabel('理由（記録されます）').fill('桁を間違えた入力');
    await expect(approveButton().isDisabled()).resolves.toBe(true);
    await expect(saveButton().isDisabled()).resolves.toBe(true);
    await expect(page.getByTestId('approve-hint').textContent()).resolves.toBe(ja('reviewRatesToFix'));
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
    await screenshots(page, 'officer-qa-rate-range');
    // Text the browser cannot read as a number leaves the box's value empty: never taken for an
    // empty box (which would approve the recommended rate instead).
    await box.fill('');
    await box.click();
    await page.keyboard.type('1e');
    await expect.poll(() => error.textContent(), POLL).toBe('数値を入れてください');
    await expect(approveButton().isDisabled()).resolves.toBe(true);
    // Negative.
    await box.fill('-1');
    await expect.poll(() => error.textContent(), POLL).toBe('0〜100 kg/10a の範囲で入れてください');
    // Corrected: the error goes, and the edit is offered.
    await box.fill('');
    await expect.poll(() => error.count(), POLL).toBe(0);
    await expect(box.getAttribute('aria-invalid')).resolves.toBeNull();

    // In English the bound reads in kg/ha.
    await page.getByRole('button', { name: 'English' }).click();
    await box.fill('2000');
    await expect.poll(() => error.textContent(), POLL).toBe('Enter 0 to 1,000 kg/ha');
    await box.fill('');
    await page.getByRole('button', { name: '日本語' }).click();
  });

  it('says that a rate equal to the one applied changes nothing, rather than showing a refused request', async () => {
    const rec = await arrive();
    await openReview(rec.id);
    const z2 = rec.zones[1];
    await page.getByLabel('理由（記録されます）').fill('量はこのままでよい');
    // The rate applied now, typed again: no edit. 修正を保存 says so in words, never as a refused request.
    const applied = (await detailOf(rec.id)).zones.find((z) => z.id === z2!.id)!.applied.kgNHa;
    await page.getByTestId(`edit-${z2!.id}`).fill(String(applied / 10));
    await expect.poll(() => saveButton().isDisabled(), POLL).toBe(false);
    await saveButton().click();
    await expect
      .poll(() => page.getByTestId('review-done').textContent(), POLL)
      .toBe(ja('reviewEditUnchanged'));
    await expect(page.locator('.error').count()).resolves.toBe(0);
    const after = await detailOf(rec.id);
    expect(after.status).toBe('pending_review');
    expect(after.audit.map((a) => a.action)).toEqual(['received']);
    await expect(page.getByTestId(`edit-${z2!.id}`).inputValue()).resolves.toBe('');
  });
});

describe('the evidence as it was when the advice was made', () => {
  /** Made three days ago by a gateway offline since, from a scene eight days old then. */
  let rec: Recommendation;

  beforeAll(async () => {
    // Imagery is stale after ten days: fresh evidence when the advice was made, eleven days old
    // when the officer opens it.
    const now = Date.now();
    const made = now - 3 * DAY;
    const acquired = isoSeconds(made - 8 * DAY);
    // (Another field than the tests above: a newer open recommendation would supersede it on arrival.)
    rec = await wheatRecommendation('demo-farm', 'paddy-1', acquired, scene.sceneId);
    const shift = rec.createdAt - made;
    rec.createdAt -= shift;
    for (const h of rec.history) h.at -= shift;
    for (const i of [...rec.inputs, ...rec.zones.flatMap((z) => z.inputs)])
      if (i.time !== null && i.time > Date.parse(acquired)) i.time -= shift;
    await gw.send([{ kind: 'recommendation', body: rec }]);
  });

  it('marks an input stale by its age when the recommendation was made, not by its age now', async () => {
    const d = await detailOf(rec.id);
    const ndvi = d.inputs.filter((i) => i.name === 'ndvi');
    expect(ndvi.length).toBe(3);
    expect(ndvi.every((i) => !i.stale && i.ageHoursNow! > 10 * 24)).toBe(true);
    const queued = (await (await officer('/api/v1/reviews')).json()) as ReviewQueueItem[];
    expect(queued.find((q) => q.id === rec.id)?.staleInputs).toBe(0);

    // No stale banner, and the inputs table agrees — each scene input eight days old when the
    // advice was made, not "stale · 11 days ago".
    await openReview(rec.id);
    await expect(page.getByTestId('stale-banner').count()).resolves.toBe(0);
    // (The cell as a whole first: the page before this read "古いデータ · 11 日前" there.)
    const cells = page.locator('tr[data-input="ndvi"] td:last-child');
    await expect.poll(() => cells.count(), POLL).toBe(3);
    for (const text of await cells.allTextContents()) expect(text).not.toContain(ja('stale'));
    const ages = page.locator('tr[data-input="ndvi"]').getByTestId('input-age');
    await expect.poll(() => ages.allTextContents(), POLL).toEqual(Array(3).fill('提案作成の 8 日前'));
    await expect(page.locator('tr.stale-row').count()).resolves.toBe(0);
    await expect(page.locator('section[aria-labelledby="inputs-h"] .stale').count()).resolves.toBe(0);
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
    await screenshots(page, 'officer-qa-input-age');
  });

  it('says in the queue when a recommendation was made (its order) and, beneath, when it arrived late', async () => {
    await page.goto('/#/review');
    const row = page.getByTestId(`queue-${rec.id}`);
    await row.waitFor();
    await expect(page.locator('thead th').nth(2).textContent()).resolves.toBe('作成');
    await expect(row.locator('td').nth(2).locator('time').first().textContent()).resolves.toBe('3 日前');
    await expect
      .poll(() => row.getByTestId('queue-received').textContent(), POLL)
      .toMatch(/^受信 (今|\d+ 秒前|\d+ 分前)$/);
    await expect(row.getByTestId('stale-badge').count()).resolves.toBe(0);
    expect(await untranslatedWords(page, JAPANESE_PAGE)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
  });
});

describe('the CSV of decisions', () => {
  it('exports the end day whole: up to the next day’s start in Japan, not 23:59:59', async () => {
    await page.goto('/#/region');
    await page.getByLabel('開始日').fill('2026-07-01');
    await page.getByLabel('終了日').fill('2026-07-22');
    const link = page.getByTestId('decisions-csv');
    await expect
      .poll(
        async () => new URL((await link.getAttribute('href'))!, stack.httpUrl).searchParams.get('to'),
        POLL,
      )
      .toBe('2026-07-22T15:00:00.000Z');
    const url = new URL((await link.getAttribute('href'))!, stack.httpUrl);
    expect(url.searchParams.get('from')).toBe('2026-06-30T15:00:00.000Z');
    // Today, as the officer picks it: the approvals made above are in it.
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(Date.now());
    await page.getByLabel('開始日').fill(today);
    await page.getByLabel('終了日').fill(today);
    const href = (await link.getAttribute('href'))!;
    const csv = await (await officer(href)).text();
    expect(csv.split('\r\n').filter((l) => l.includes(',approved,')).length).toBeGreaterThanOrEqual(1);
  });

  it('goes on to the next recommendation of the queue after a decision, the keyboard with it, until none is left', async () => {
    // A second farm of the officer's region with a wheat field: two recommendations wait.
    const other = new SeedGateway(stack.server!, stack.httpUrl, 'iwa-farm', 'gw-iwa');
    await other.send([
      {
        kind: 'manifest',
        body: {
          farm: { id: 'iwa-farm', name: '岩室の農場', region: 'niigata', timezone: 'Asia/Tokyo' },
          fields: [{ id: 'upland-7', name: '畑7号', crop: 'wheat' }],
          devices: [],
        },
      },
    ]);
    // Whatever earlier cases left undecided goes first (the queue's order): decide it by the API.
    for (const q of (await (await officer('/api/v1/reviews')).json()) as ReviewQueueItem[]) {
      const d = await detailOf(q.id);
      await officer(`/api/v1/reviews/${q.id}/reject`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'cleared for this case', revision: d.revision }),
      });
    }
    const first = await arrive();
    const second = await wheatRecommendation('iwa-farm', 'upland-7', scene.acquired, scene.sceneId);
    await other.send([{ kind: 'recommendation', body: second }]);
    const queue = ((await (await officer('/api/v1/reviews')).json()) as ReviewQueueItem[]).map((q) => q.id);
    expect(queue.sort()).toEqual([first.id, second.id].sort());
    const [a, b] = queue as [string, string];

    await openReview(a);
    await approveButton().click();
    const next = page.getByTestId('review-next');
    await expect.poll(() => next.textContent(), POLL).toBe('次の審査へ（残り 1 件）');
    // The approve button is disabled now: the focus is on the way on, not lost to the page's top.
    await expect.poll(() => next.evaluate((el) => el === document.activeElement), POLL).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByTestId('review-status').filter({ hasText: '審査待ち' }).waitFor();
    expect(page.url()).toContain(`#/review/${b}`);
    // The new page starts clean: nothing said of the previous decision.
    await expect(page.getByTestId('review-done').textContent()).resolves.toBe('');

    await page.getByLabel('理由（記録されます）').fill('圃場で確認した');
    await page.getByRole('button', { name: '差し戻す', exact: true }).click();
    await expect.poll(() => next.textContent(), POLL).toBe('審査待ちはもうありません');
    await expect.poll(() => next.evaluate((el) => el === document.activeElement), POLL).toBe(true);
  });
});
