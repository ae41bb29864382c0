// Accounts in a real browser against a real server, in Japanese: the admin opens アカウント管理 from
// the header, creates a farmer's account, resets its password (the farmer's open page is sent back
// to sign-in), disables and enables it, and deletes it after confirming — never their own account,
// which has no such buttons; the farmer changes their own password on the アカウント page (a wrong
// current password is said so). No untranslated words, no serious accessibility problems, and both
// pages fit a phone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { HatakeServer } from '../../dashboard/server.ts';
import { demoManifest, startServer } from '../helpers/stack.ts';
import {
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
let admin: Page;
let farmer: Page;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-accounts-'));
  ({ server, url } = await startServer(dir));
  await new SeedGateway(server, url, 'demo-farm').send([{ kind: 'manifest', body: demoManifest() }]);
  browser = await launch();
  admin = await phonePage(browser, url);
  farmer = await phonePage(browser, url);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const row = (name: string) => admin.getByTestId(`user-${name}`);
const said = () => admin.getByTestId('users-said').textContent();

/** Signs the farmer's page in and waits for the app behind the form. */
async function farmerSignsIn(password: string) {
  await signInAs(farmer, 'e2e-farmer', password);
}

/** Whether the farmer's page, reloaded, is back at the sign-in form (its session is over). */
async function farmerSignedOut(): Promise<boolean> {
  await farmer.reload();
  await farmer.getByRole('heading', { level: 1 }).first().waitFor();
  return farmer.getByRole('button', { name: 'ログイン' }).isVisible();
}

describe('the admin’s accounts page', () => {
  it('lists the accounts, the admin’s own without disable or delete', async () => {
    await signInAs(admin, 'admin');
    await admin.getByRole('navigation').getByRole('link', { name: 'アカウント管理' }).click();
    await admin.getByRole('heading', { level: 1, name: 'アカウント管理' }).waitFor();
    await row('demo-farmer').waitFor();
    expect(await row('demo-farmer').locator('td').nth(0).textContent()).toBe('農家');
    expect(await row('demo-officer').locator('td').nth(1).textContent()).toBe('niigata');
    expect(await row('admin').textContent()).toContain('（あなた）');
    expect(await row('admin').getByRole('button', { name: '削除' }).count()).toBe(0);
    expect(await row('admin').getByRole('button', { name: '無効にする' }).count()).toBe(0);
    expect(await row('demo-farmer').getByRole('button', { name: '削除' }).count()).toBe(1);
    expect(await untranslatedWords(admin, [])).toEqual([]);
    expect(await accessibilityProblems(admin)).toEqual([]);
    await screenshots(admin, 'admin-users');
  });

  it('creates an account that then signs in', async () => {
    const form = admin.getByTestId('user-create');
    await form.getByLabel('ユーザー名').fill('e2e-farmer');
    await form.getByLabel('役割').selectOption('farmer');
    await form.getByLabel('農場（複数はカンマ区切り）').fill('demo-farm');
    await form.getByLabel('初期パスワード（10文字以上）').fill('e2e-first-pass');
    await form.getByRole('button', { name: '作成する' }).click();
    await expect.poll(said, POLL).toBe('アカウント e2e-farmer を作成しました');
    await row('e2e-farmer').waitFor();
    expect(await row('e2e-farmer').locator('td').nth(1).textContent()).toBe('demo-farm');
    expect(await row('e2e-farmer').locator('td').nth(3).textContent()).toBe('まだありません');
    await farmerSignsIn('e2e-first-pass');
    await expect.poll(() => farmerSignedOut(), POLL).toBe(false);
  });

  it('resets the password: the farmer’s page goes back to sign-in, the new password opens it', async () => {
    await admin.reload();
    await row('e2e-farmer').getByRole('button', { name: 'パスワードを再設定' }).click();
    const reset = admin.getByTestId('user-reset');
    await reset.getByLabel('新しいパスワード（10文字以上）').fill('e2e-second-pass');
    await reset.getByRole('button', { name: 'パスワードを再設定' }).click();
    await expect
      .poll(said, POLL)
      .toBe('e2e-farmer のパスワードを再設定しました。ログイン中の端末はすべてログアウトしました');
    expect(await farmerSignedOut()).toBe(true);
    await farmerSignsIn('e2e-second-pass');
  });

  it('disables the account (the farmer is signed out) and enables it again', async () => {
    await row('e2e-farmer').getByRole('button', { name: '無効にする' }).click();
    await expect.poll(() => row('e2e-farmer').getByTestId('user-state').textContent(), POLL).toBe('無効');
    expect(await farmerSignedOut()).toBe(true);
    await row('e2e-farmer').getByRole('button', { name: '有効にする' }).click();
    await expect.poll(() => row('e2e-farmer').getByTestId('user-state').textContent(), POLL).toBe('有効');
    await farmerSignsIn('e2e-second-pass');
  });
});

describe('a user’s own account page', () => {
  it('changes the password with the current one; a wrong current password is said so', async () => {
    await farmer.locator('header').getByRole('link', { name: 'アカウント' }).click();
    await farmer.getByRole('heading', { level: 1, name: 'アカウント' }).waitFor();
    expect(await farmer.locator('main p').first().textContent()).toBe(
      'e2e-farmer（農家）としてログインしています',
    );
    const form = farmer.getByTestId('password-form');
    const fill = async (current: string, next: string, again = next) => {
      await form.getByLabel('現在のパスワード').fill(current);
      await form.getByLabel('新しいパスワード（10文字以上）').fill(next);
      await form.getByLabel('新しいパスワード（確認のためもう一度）').fill(again);
      await form.getByRole('button', { name: '変更する' }).click();
    };
    await fill('e2e-second-pass', 'e2e-third-pass', 'e2e-third-typo');
    await farmer.getByText('新しいパスワードが一致しません').waitFor();
    await fill('not-my-password', 'e2e-third-pass');
    await farmer.getByText('現在のパスワードが違います').waitFor();
    expect(await untranslatedWords(farmer, [])).toEqual([]);
    expect(await accessibilityProblems(farmer)).toEqual([]);
    await screenshots(farmer, 'account-password');
    await fill('e2e-second-pass', 'e2e-third-pass');
    await farmer.getByText('パスワードを変更しました。ほかの端末ではログアウトしました').waitFor();
    // This page stays signed in; the new password is the one that signs in now.
    expect(await farmerSignedOut()).toBe(false);
    await farmer.getByRole('button', { name: 'ログアウト' }).click();
    await farmerSignsIn('e2e-third-pass');
  });

  it('shows the change in the admin’s audit log, and deletes the account after confirming', async () => {
    await admin.reload();
    const audit = admin.getByTestId('account-audit');
    await expect
      .poll(() => audit.locator('tbody tr').first().textContent(), POLL)
      .toContain('本人がパスワードを変更');
    await row('e2e-farmer').getByRole('button', { name: '削除' }).click();
    const confirm = admin.getByTestId('user-delete-confirm');
    expect(await confirm.textContent()).toContain('アカウント e2e-farmer を削除しますか？');
    // The safe choice has the focus.
    await expect
      .poll(() => admin.evaluate(() => document.activeElement?.textContent), POLL)
      .toBe('キャンセル');
    await confirm.getByRole('button', { name: '削除する' }).click();
    await expect.poll(said, POLL).toBe('アカウント e2e-farmer を削除しました');
    await expect.poll(() => row('e2e-farmer').count(), POLL).toBe(0);
    expect(await farmerSignedOut()).toBe(true);
    // In English too.
    await admin.getByRole('button', { name: /English/ }).click();
    await admin.getByRole('heading', { level: 1, name: 'Accounts' }).waitFor();
  });
});
