// Deleting automations in the farmer's dashboard, in a real browser against a real server: 削除 on
// a card first asks, naming the automation, with the focus on キャンセル (a mis-tap or a second
// Enter keeps it); キャンセル keeps it and sends nothing. 削除する deletes it: the card leaves the
// list, the status says which one went, the server answers 404 for it and tells the farm's
// gateways to drop it. A delete that does not reach the server shows the problem in the card, in
// Japanese, keeps the card and another automation's open edit with what was typed, and can be
// tried again; one deleted elsewhere meanwhile shows "not found" and leaves the list. Another
// farm's farmer and a partner cannot delete the farm's automations. In English the confirmation
// reads in English.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Request } from 'playwright-core';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { AutomationView } from '../../protocol/review.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';
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
import { SeedGateway } from './seed.ts';

let dir: string;
let server: HatakeServer;
let url: string;
let browser: Browser;
let page: Page;
let farmer: Awaited<ReturnType<typeof signIn>>;
let partner: Awaited<ReturnType<typeof signIn>>;
let otherFarmer: Awaited<ReturnType<typeof signIn>>;
/** Every automation deletion the page sent. */
const deletes: string[] = [];
const made: Record<string, AutomationView> = {};

function farmManifest() {
  const m = demoManifest();
  m.devices.push({ id: 'valve-1', kit: 'hatake-water-gate', field: 'upland-1', name: '水門 畑1号' });
  return m;
}

async function create(ja: string, en: string): Promise<AutomationView> {
  const res = await farmer('/api/v1/automations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      farm: 'demo-farm',
      field: 'upland-1',
      name: { ja, en },
      enabled: true,
      trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
      action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
      limits: { maxRunsPerDay: 2, maxOpenMinutes: 45 },
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as AutomationView;
}

/** The farm's automations as the API stores them, by Japanese name. */
async function storedNames(): Promise<string[]> {
  const res = await farmer('/api/v1/automations?farm=demo-farm');
  expect(res.status).toBe(200);
  return ((await res.json()) as AutomationView[]).map((a) => a.name.ja).sort();
}

/** What GET /api/v1/automations/:id answers the farmer. */
const status = async (id: string) => (await farmer(`/api/v1/automations/${id}`)).status;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-automation-delete-'));
  ({ server, url } = await startServer(dir));
  browser = await launch();
  const gw = new SeedGateway(server, url, 'demo-farm');
  await gw.send([{ kind: 'manifest', body: farmManifest() }]);
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['hok-farm'] });
  farmer = await signIn(url, 'demo-farmer');
  partner = await signIn(url, 'demo-partner');
  otherFarmer = await signIn(url, 'other-farmer', 'other-password-1');
  made.morning = await create('朝の灌水', 'Morning irrigation');
  made.evening = await create('夕方の灌水', 'Evening irrigation');
  made.spare = await create('予備の灌水', 'Spare irrigation');
  made.kept = await create('残す灌水', 'Kept irrigation');
  page = await phonePage(browser, url);
  page.on('request', (r: Request) => {
    if (/\/api\/v1\/automations/.test(r.url()) && r.method() === 'DELETE')
      deletes.push(`DELETE ${new URL(r.url()).pathname}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const card = (a: AutomationView) => page.getByTestId(`automation-${a.id}`);
const confirmOf = (a: AutomationView) => card(a).getByRole('group', { name: /を削除しますか/ });

describe('deleting automations in the farmer’s dashboard', () => {
  it('asks first, naming the automation, with the focus on キャンセル; キャンセル keeps it and sends nothing', async () => {
    await signInAs(page, 'demo-farmer');
    await page.getByRole('link', { name: '自動制御' }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    const a = made.morning;
    await card(a).waitFor();
    const del = card(a).getByRole('button', { name: '削除', exact: true });
    await expect.poll(() => del.getAttribute('aria-expanded'), POLL).toBe('false');
    await del.click();

    const confirm = confirmOf(a);
    await confirm.waitFor();
    await expect
      .poll(() => confirm.locator('p').first().textContent(), POLL)
      .toBe('自動制御「朝の灌水」を削除しますか？ 農場のゲートウェイからも消え、元に戻せません。');
    await expect.poll(() => del.getAttribute('aria-expanded'), POLL).toBe('true');
    // Only the card asked on asks; the safe button has the focus.
    expect(await page.getByRole('group', { name: /を削除しますか/ }).count()).toBe(1);
    const keep = confirm.getByRole('button', { name: 'キャンセル' });
    await expect.poll(() => keep.evaluate((el) => el === document.activeElement), POLL).toBe(true);
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'automation-delete-confirm');
    expect(deletes, 'asking sends nothing').toEqual([]);

    await keep.click();
    await expect.poll(() => confirm.count(), POLL).toBe(0);
    await expect.poll(() => del.evaluate((el) => el === document.activeElement), POLL).toBe(true);
    await expect.poll(() => del.getAttribute('aria-expanded'), POLL).toBe('false');
    expect(await card(a).count()).toBe(1);
    expect(deletes).toEqual([]);
    expect(await status(a.id)).toBe(200);
    expect(await storedNames()).toEqual(['予備の灌水', '夕方の灌水', '朝の灌水', '残す灌水'].sort());
  });

  it('deletes on 削除する: the card leaves, the status names it, the server answers 404 and tells the gateways', async () => {
    const a = made.morning;
    await card(a).getByRole('button', { name: '削除', exact: true }).click();
    await confirmOf(a).getByRole('button', { name: '削除する' }).click();

    await page.getByRole('status').filter({ hasText: '自動制御「朝の灌水」を削除しました' }).waitFor();
    await expect.poll(() => card(a).count(), POLL).toBe(0);
    expect(await page.getByRole('alert').count(), 'no error on screen').toBe(0);
    // The focus does not fall off the page with the card.
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName), POLL).toBe('H1');
    expect(deletes).toEqual([`DELETE /api/v1/automations/${a.id}`]);

    expect(await status(a.id)).toBe(404);
    expect(await storedNames()).toEqual(['予備の灌水', '夕方の灌水', '残す灌水'].sort());
    const doc = server.ctx.downlink.get('demo-farm', 'automation', a.id);
    expect(doc?.deleted, 'the gateways are told to drop it').toBe(true);
    // The others stay on screen.
    for (const other of [made.evening, made.spare, made.kept])
      await expect.poll(() => card(other).count(), POLL).toBe(1);
    expect(await accessibilityProblems(page)).toEqual([]);
  });

  it('shows a delete that does not reach the server in the card, keeps the card and another open edit, and tries again', async () => {
    // The farmer is half-way through editing another automation.
    const editing = made.spare;
    await card(editing).getByRole('button', { name: '編集' }).click();
    const form = page.getByTestId('automation-form');
    await form.waitFor();
    await form.getByLabel('名前', { exact: true }).fill('予備の灌水（編集中）');

    const a = made.evening;
    await page.route(`**/api/v1/automations/${a.id}`, (route) =>
      route.request().method() === 'DELETE' ? route.abort('internetdisconnected') : route.continue(),
    );
    await card(a).getByRole('button', { name: '削除', exact: true }).click();
    const confirm = confirmOf(a);
    await confirm.getByRole('button', { name: '削除する' }).click();
    // In Japanese, not the browser's "Failed to fetch" (kept as the tooltip, for support).
    const alert = confirm.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('サーバーに接続できません。電波の良い所で再度お試しください。');
    expect(await alert.getAttribute('title')).toBe('Failed to fetch');
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);
    // Nothing is lost: the card, its confirmation, and the other edit with what was typed.
    expect(await card(a).count()).toBe(1);
    expect(await page.getByRole('status').filter({ hasText: '削除しました' }).count()).toBe(0);
    await expect
      .poll(() => form.getByLabel('名前', { exact: true }).inputValue(), POLL)
      .toBe('予備の灌水（編集中）');
    expect(await status(a.id)).toBe(200);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'automation-delete-failed');

    // Back on line, the same button deletes it; the other edit is still there as typed.
    await page.unroute(`**/api/v1/automations/${a.id}`);
    await confirm.getByRole('button', { name: '削除する' }).click();
    await page.getByRole('status').filter({ hasText: '自動制御「夕方の灌水」を削除しました' }).waitFor();
    await expect.poll(() => card(a).count(), POLL).toBe(0);
    expect(await status(a.id)).toBe(404);
    await expect
      .poll(() => form.getByLabel('名前', { exact: true }).inputValue(), POLL)
      .toBe('予備の灌水（編集中）');
    await form.getByRole('button', { name: 'キャンセル' }).click();
    await expect.poll(() => form.count(), POLL).toBe(0);
    expect(await storedNames()).toEqual(['予備の灌水', '残す灌水'].sort());
  });

  it('shows "not found" for one deleted elsewhere meanwhile, and takes it off the list', async () => {
    const a = made.spare;
    await card(a).getByRole('button', { name: '削除', exact: true }).click();
    const confirm = confirmOf(a);
    await confirm.waitFor();
    // Another phone deletes it first — between this phone's click and its request reaching the
    // server (held here), so the live update cannot take the card away before the click.
    const path = `/api/v1/automations/${a.id}`;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    await page.route(`**${path}`, async (route) => {
      if (route.request().method() !== 'DELETE') return route.continue();
      await held;
      await route.continue();
    });
    const before = deletes.length;
    await confirm.getByRole('button', { name: '削除する' }).click();
    expect((await farmer(path, { method: 'DELETE' })).status).toBe(204);
    release();
    const alert = page.getByRole('alert').filter({ hasText: '見つかりません' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain('HATAKE_E_');
    await expect.poll(() => card(a).count(), POLL).toBe(0);
    expect(await page.getByRole('status').filter({ hasText: '削除しました' }).count()).toBe(0);
    expect(deletes.length).toBe(before + 1);
    expect(await storedNames()).toEqual(['残す灌水']);
    await page.unroute(`**${path}`);
  });

  it('does not let another farm’s farmer or a partner delete the farm’s automation', async () => {
    const a = made.kept;
    const other = await otherFarmer(`/api/v1/automations/${a.id}`, { method: 'DELETE' });
    expect(other.status).toBe(404);
    const byPartner = await partner(`/api/v1/automations/${a.id}`, { method: 'DELETE' });
    expect(byPartner.status).toBe(403);
    expect(((await byPartner.json()) as { code: string }).code).toMatch(/^HATAKE_E_/);
    expect(await status(a.id)).toBe(200);
    expect(server.ctx.downlink.get('demo-farm', 'automation', a.id)?.deleted).toBe(false);
    await page.reload();
    await card(a).waitFor();
  });

  it('asks in English on the switch, with the English name', async () => {
    const a = made.kept;
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Automations' }).waitFor();
    await card(a).getByRole('button', { name: 'Delete', exact: true }).click();
    const confirm = card(a).getByRole('group', { name: /^Delete the automation/ });
    await expect
      .poll(() => confirm.locator('p').first().textContent(), POLL)
      .toBe(
        'Delete the automation “Kept irrigation”? The farm’s gateways drop it too, and it cannot be undone.',
      );
    await confirm.getByRole('button', { name: 'Delete it' }).waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => confirm.count(), POLL).toBe(0);
    expect(await status(a.id)).toBe(200);
    await page.getByRole('button', { name: /Switch language/ }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
  });

  it('keeps the water gate under 手動操作 when no automation drives it any more', async () => {
    const a = made.kept;
    expect((await farmer(`/api/v1/automations/${a.id}`, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(() => card(a).count(), POLL).toBe(0);
    expect(await storedNames()).toEqual([]);
    const manual = page.locator('form.override').filter({ hasText: '水門 畑1号' });
    await manual.getByRole('button', { name: '手動操作を設定' }).waitFor();
    expect(await page.getByText('操作できる機器はありません').count()).toBe(0);
  });
});
