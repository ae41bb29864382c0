// Users with more than one farm, in a real browser against a real server: an IT partner serving
// two farms and a farmer with two farms start at the list of their farms (not at the first one),
// reach either, and the header's links go on within the farm being looked at — the devices and
// provisioning of farm B while on farm B, its tips and automations while on farm B. A user with
// one farm still goes straight to it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { HatakeServer } from '../../dashboard/server.ts';
import { demoManifest, startServer } from '../helpers/stack.ts';
import { launch, phonePage, signInAs } from './browser.ts';
import { POLL } from './poll.ts';
import { SeedGateway } from './seed.ts';

const PASSWORD = 'two-farms-password-1';
let dir: string;
let server: HatakeServer;
let url: string;
let browser: Browser;
let page: Page;

/** The second farm: the demo farm's fields and devices under another id and name. */
function northFarm() {
  const m = demoManifest();
  m.farm = { ...m.farm, id: 'hok-farm', name: '北の農場' };
  return m;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-multi-farm-'));
  ({ server, url } = await startServer(dir));
  browser = await launch();
  await new SeedGateway(server, url, 'demo-farm').send([{ kind: 'manifest', body: demoManifest() }]);
  await new SeedGateway(server, url, 'hok-farm', 'gw-north').send([{ kind: 'manifest', body: northFarm() }]);
  await server.ctx.auth.createUser('two-farm-partner', PASSWORD, 'partner', {
    farms: ['demo-farm', 'hok-farm'],
  });
  await server.ctx.auth.createUser('two-farm-farmer', PASSWORD, 'farmer', {
    farms: ['demo-farm', 'hok-farm'],
  });
  page = await phonePage(browser, url);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The page's route: '#/' for the farm list (an empty hash on the first load). */
const route = () => page.evaluate(() => location.hash || '#/');
const nav = () => page.getByRole('navigation');

describe('a user with two farms', () => {
  it('a partner starts at the farm list, opens the second farm, and the header stays on it', async () => {
    await signInAs(page, 'two-farm-partner', PASSWORD);
    await page.getByRole('heading', { level: 1, name: '農場' }).waitFor();
    expect(await route()).toBe('#/');
    await page.getByRole('link', { name: '北の農場' }).click();
    await expect.poll(route, POLL).toBe('#/partner/hok-farm');
    await expect.poll(() => page.getByTestId('farm-name').first().textContent(), POLL).toBe('北の農場');
    // The header's links are the second farm's.
    const links = await nav()
      .getByRole('link')
      .evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    expect(links).toEqual(['#/', '#/partner/hok-farm', '#/partner/hok-farm/provision']);
    await nav().getByRole('link').nth(2).click();
    await expect.poll(route, POLL).toBe('#/partner/hok-farm/provision');
    // Back to the list from the header, then the first farm.
    await nav().getByRole('link', { name: '農場' }).click();
    await expect.poll(route, POLL).toBe('#/');
    await page
      .getByRole('link', { name: /デモ|demo/i })
      .first()
      .click();
    await expect.poll(route, POLL).toBe('#/partner/demo-farm');
    await expect
      .poll(() => nav().getByRole('link').nth(1).getAttribute('href'), POLL)
      .toBe('#/partner/demo-farm');
  });

  it('a farmer on the second farm gets that farm’s tips and automations from the header', async () => {
    await page.getByRole('button', { name: 'ログアウト' }).click();
    await signInAs(page, 'two-farm-farmer', PASSWORD);
    await page.getByRole('heading', { level: 1, name: '農場' }).waitFor();
    expect(await route()).toBe('#/');
    await page.getByRole('link', { name: '北の農場' }).click();
    await expect.poll(route, POLL).toBe('#/farm/hok-farm');
    await nav().getByRole('link', { name: 'アドバイス' }).click();
    await expect.poll(route, POLL).toBe('#/farm/hok-farm/tips');
    await nav().getByRole('link', { name: '自動制御' }).click();
    await expect.poll(route, POLL).toBe('#/farm/hok-farm/automations');
  });

  it('a partner with one farm still goes straight to it', async () => {
    await page.getByRole('button', { name: 'ログアウト' }).click();
    await signInAs(page, 'demo-partner');
    await expect.poll(route, POLL).toBe('#/partner/demo-farm');
    // No farm list link for one farm.
    await expect
      .poll(
        () =>
          nav()
            .getByRole('link')
            .evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
        POLL,
      )
      .toEqual(['#/partner/demo-farm', '#/partner/demo-farm/provision']);
  });
});
