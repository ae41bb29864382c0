// The IT partner sends settings to a farm's gateways in a real browser: typed in days, seconds and
// KiB, stored by the server in the API's units exactly, applied live by a real gateway that
// verifies the server's signature, and reported back per gateway (applied by the real one, refused
// by a second that says so in a real sync batch, still shown as refused after many later alerts); a
// value out of bounds never leaves the browser; a refusal by the server is shown with its reason
// and code (the field it names marked); withdrawal returns the gateway to its own file; and a
// farmer never sees the section.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../dashboard/demo.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { eventually, signIn, startServer, startStack, type Stack } from '../helpers/stack.ts';
import { accessibilityProblems, launch, phonePage, screenshots, signInAs } from './browser.ts';
import { POLL } from './poll.ts';
import { SeedGateway } from './seed.ts';

/** How long focus may take to move (an effect after the render). */
const FOCUS_POLL = { timeout: 5_000, interval: 50 };
const DAY = 86_400_000;
const CONFIG = '/api/v1/farms/demo-farm/gateway-config';
const dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-gws-'));
let server: HatakeServer;
let url: string;
let stack: Stack;
let browser: Browser;
let page: Page;
let partner: Awaited<ReturnType<typeof signIn>>;
let other: SeedGateway;
/** The bodies of the PUTs the browser sent. */
const puts: unknown[] = [];
let version = 0;

beforeAll(async () => {
  ({ server, url } = await startServer(dir));
  // The stack's gateway, registered the way `hatake gateway register` leaves it: a token and the
  // server's public key, so it verifies (and accepts) the signed configuration documents.
  const token = server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm');
  stack = await startStack({
    server: false,
    gateway: {
      server: { url, token, publicKey: server.ctx.signingPublicKey },
      sync: { intervalMs: 200, batchMaxItems: 500, batchDelayMs: 20, downlinkIntervalMs: 600_000 },
    },
  });
  partner = await signIn(url, 'demo-partner');
  await eventually(async () => {
    const health = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as {
      gateways: { id: string; lastSync: string | null }[];
    };
    return health.gateways.some((g) => g.id === 'gw-test' && g.lastSync);
  }, 20_000);
  // A second gateway of the farm that has not read anything sent down yet.
  other = new SeedGateway(server, url, 'demo-farm', 'gw-other');
  await other.send(
    [
      {
        kind: 'event',
        body: {
          id: 'other-disk-ok-01',
          type: 'disk_ok',
          severity: 'info',
          time: Date.now(),
          message: 'disk ok',
        },
      },
    ],
    { version: '0.1.0', backlog: 0, backlogBytes: 0, oldestAgeMs: 0, clockOffsetMs: 0, downlinkVersion: 0 },
  );
  browser = await launch();
  page = await phonePage(browser, url);
  page.on('request', (r) => {
    if (r.method() === 'PUT' && r.url().endsWith(CONFIG)) puts.push(r.postDataJSON());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const section = () => page.locator('section[aria-labelledby="gws-h"]');
const stored = async () => {
  const res = await partner(CONFIG);
  return { status: res.status, body: (await res.json()) as { version: number; config: unknown } };
};

describe('gateway settings in the partner’s view', () => {
  it('sends what the partner typed, in the API’s units exactly, and shows each gateway applying or refusing it', async () => {
    await signInAs(page, 'demo-partner');
    await page.getByRole('heading', { level: 2, name: 'ゲートウェイの設定' }).waitFor();
    await expect
      .poll(() => section().getByTestId('gws-current').textContent(), POLL)
      .toMatch(/送信した設定はありません。ゲートウェイはそれぞれの設定ファイルで動いています/);
    // Each field says what the gateways run on now, as gw-test told the server at its start (its
    // placeholder too: an empty field keeps it) — the stack's sync interval, 200 ms.
    const interval = page.getByLabel('同期の間隔 (秒)');
    await expect.poll(() => interval.getAttribute('placeholder'), POLL).toBe('0.2');
    await expect
      .poll(() => section().locator('#gws-sync-intervalMs-hint').textContent(), POLL)
      .toMatch(/^現在の値: 0\.2 秒 \(gw-test\)/);
    await expect
      .poll(() => section().locator('#gws-retention-rawDays-hint').textContent(), POLL)
      .toMatch(/^現在の値: 90 日 \(gw-test\)/);
    // Each field says its unit beside it.
    await page.getByLabel('生データの保存期間 (日)').fill('30');
    await page.getByLabel('同期の間隔 (秒)').fill('5');
    await page.getByLabel('まとめて送るための待ち時間 (秒)').fill('0.25');
    await page.getByLabel('サーバーに配信を確認する間隔 (秒)').fill('600');
    await page.getByLabel('1回に送る最大サイズ (KiB)').fill('512');
    await page.getByLabel('1秒あたりの送信数 (件/秒)').fill('2');
    await page.getByLabel('バースト（続けて送れる数） (件)').fill('20');
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.getByRole('button', { name: '設定を送信' }).click();
    await section()
      .getByText(/版 v\d+ として送信しました/)
      .waitFor();

    // Only the filled keys, converted exactly: 30 days, 5 s → 5000 ms, 0.25 s → 250 ms, 512 KiB.
    const expected = {
      retention: { rawDays: 30 },
      sync: { intervalMs: 5000, batchDelayMs: 250, downlinkIntervalMs: 600_000, batchMaxBytes: 512 * 1024 },
      mqtt: { rate: { perSecond: 2, burst: 20 } },
    };
    expect(puts).toEqual([expected]);
    const s = await stored();
    expect(s.status).toBe(200);
    expect(s.body.config).toEqual(expected);
    version = s.body.version;
    await expect
      .poll(() => section().getByTestId('gws-current').textContent(), POLL)
      .toContain(`v${version}`);
    const shown = await section().getByTestId('gws-sent-values').textContent();
    for (const v of ['30 日', '5 秒', '0.25 秒', '600 秒', '512 KiB', '2 件/秒', '20 件'])
      expect(shown).toContain(v);

    // The real gateway applied it live…
    const gw = stack.gateway;
    await eventually(
      () => gw.config.retention.rawMs === 30 * DAY && gw.config.sync.intervalMs === 5000,
      20_000,
    );
    expect(gw.config.sync.batchDelayMs).toBe(250);
    expect(gw.config.mqtt.rate).toEqual({ perSecond: 2, burst: 20 });
    // …and the page shows its report, found by itself (it asks again while a gateway is pending).
    const mine = section().getByTestId('gws-gw-test');
    await mine.getByText('適用済み', { exact: true }).waitFor({ timeout: 40_000 });
    await expect.poll(() => mine.textContent(), POLL).toContain(`configuration v${version}`);
    const theirs = section().getByTestId('gws-gw-other');
    await expect.poll(() => theirs.textContent(), POLL).toMatch(/未受信.*v0 \/ v\d+/);

    // The other gateway refuses it, in a real sync batch; the partner refreshes and sees why.
    await other.send(
      [
        {
          kind: 'event',
          body: {
            id: 'other-refused-01',
            type: 'downlink_refused',
            severity: 'critical',
            time: Date.now(),
            message: `refused config gateway v${version}: this gateway does not take config documents`,
            detail: { kind: 'config', id: 'gateway', version, code: 'HATAKE_E_CONFIG' },
          },
        },
      ],
      {
        version: '0.1.0',
        backlog: 0,
        backlogBytes: 0,
        oldestAgeMs: 0,
        clockOffsetMs: 0,
        downlinkVersion: version,
      },
    );
    await section().getByRole('button', { name: '状況を更新' }).click();
    await theirs.getByText('拒否', { exact: true }).waitFor();
    await expect.poll(() => theirs.textContent(), POLL).toContain('does not take config documents');

    // Many alerts later — every other document it read since, devices silent and back again — the
    // refusal has left the gateway's 20 alerts but is still its answer about the settings: refused,
    // with why, not "received".
    const later = Array.from({ length: 25 }, (_, i) => ({
      kind: 'event' as const,
      body:
        i % 5 === 4
          ? {
              id: `other-later-${String(i).padStart(2, '0')}`,
              type: i % 2 ? 'device_silent' : 'device_back',
              severity: 'info',
              time: Date.now() + i,
              device: 'soil-1',
              message: 'soil-1 silent or back',
            }
          : {
              id: `other-later-${String(i).padStart(2, '0')}`,
              type: 'downlink_applied',
              severity: 'info',
              time: Date.now() + i,
              message: `applied automation auto-${i} v${version + 1 + i}: automation auto-${i}`,
              detail: { kind: 'automation', id: `auto-${i}`, version: version + 1 + i },
            },
    }));
    await other.send(later, {
      version: '0.1.0',
      backlog: 0,
      backlogBytes: 0,
      oldestAgeMs: 0,
      clockOffsetMs: 0,
      downlinkVersion: version + 25,
    });
    await section().getByRole('button', { name: '状況を更新' }).click();
    const otherAlerts = page.getByTestId('gateway-gw-other').locator('ul.log > li');
    await page.getByTestId('gateway-gw-other').locator('li[data-type="device_silent"]').first().waitFor();
    await expect(otherAlerts.count()).resolves.toBe(20);
    await expect(
      page.getByTestId('gateway-gw-other').locator('li[data-type="downlink_refused"]').count(),
    ).resolves.toBe(0);
    await expect(theirs.locator('.badge').textContent()).resolves.toBe('拒否');
    await expect(theirs.textContent()).resolves.toContain('does not take config documents');
    await expect(theirs.textContent()).resolves.not.toContain('受信済み');
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-gateway-settings');
  }, 90_000);

  it('stops a value out of bounds, or one that is not a number, in the browser', async () => {
    const raw = page.getByLabel('生データの保存期間 (日)');
    await raw.fill('0.01'); // under an hour: the schema's minimum is 1/24 day
    await page.getByLabel('同期の間隔 (秒)').fill('5 s');
    await page.getByRole('button', { name: '設定を送信' }).click();
    await section().getByText('1/24 日以上で入れてください').waitFor();
    await section().getByText('数値を入れてください').waitFor();
    await expect.poll(() => raw.getAttribute('aria-invalid'), POLL).toBe('true');
    // Focus moves in an effect after the render: poll for it.
    await expect.poll(() => raw.evaluate((el) => el === document.activeElement), FOCUS_POLL).toBe(true);
    expect(puts).toHaveLength(1);
    expect((await stored()).body.version).toBe(version);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-gateway-settings-error');
    // Fixed, the errors go as the partner types.
    await raw.fill('30');
    await page.getByLabel('同期の間隔 (秒)').fill('5');
    await expect(section().getByText('1/24 日以上で入れてください').count()).resolves.toBe(0);
  });

  it('reads in English on the switch', async () => {
    await page.getByRole('button', { name: /English/ }).click();
    await page.getByRole('heading', { level: 2, name: 'Gateway settings' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await page.getByLabel('Keep raw readings for (days)').waitFor();
    await page.getByLabel('Sync interval (s)').waitFor();
    await page.getByRole('button', { name: /日本語/ }).click();
    await page.getByRole('heading', { level: 2, name: 'ゲートウェイの設定' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('ja');
  });

  it('withdraws after a confirmation, and the gateway returns to its own file', async () => {
    await section().getByRole('button', { name: '設定を取り下げる' }).click();
    const yes = section().getByRole('button', { name: '取り下げる', exact: true });
    // Focus moves in an effect after the render: poll for it.
    await expect.poll(() => yes.evaluate((el) => el === document.activeElement), FOCUS_POLL).toBe(true);
    expect(await accessibilityProblems(page)).toEqual([]);
    // Cancel keeps it…
    await section().getByRole('button', { name: 'キャンセル' }).click();
    expect((await stored()).status).toBe(200);
    // …confirming withdraws it.
    await section().getByRole('button', { name: '設定を取り下げる' }).click();
    await yes.click();
    await section().getByText('設定を取り下げました').waitFor();
    expect((await stored()).status).toBe(404);
    await expect
      .poll(() => section().getByTestId('gws-current').textContent(), POLL)
      .toMatch(/送信した設定はありません/);
    await expect.poll(() => page.getByLabel('生データの保存期間 (日)').inputValue(), POLL).toBe('');
    const gw = stack.gateway;
    await eventually(
      () => gw.config.retention.rawMs === 90 * DAY && gw.config.sync.intervalMs === 200,
      20_000,
    );
    const mine = section().getByTestId('gws-gw-test');
    await mine.getByText('configuration withdrawn', { exact: false }).waitFor({ timeout: 40_000 });
    await expect.poll(() => mine.textContent(), POLL).toContain('適用済み');
  }, 90_000);

  it('shows the server’s refusal', async () => {
    // The partner no longer serves the farm (an admin changed it): the server refuses the send.
    await server.ctx.auth.createUser('demo-partner', DEMO_PASSWORD, 'partner', { farms: [] });
    try {
      await page.getByLabel('1時間集計の保存期間 (日)').fill('365');
      await page.getByRole('button', { name: '設定を送信' }).click();
      // Said in Japanese by its code, with the server's own reason beside it.
      const refused = section().getByRole('alert').filter({ hasText: 'HATAKE_E_FORBIDDEN' });
      await refused.waitFor();
      await expect
        .poll(() => refused.textContent(), POLL)
        .toMatch(/^この操作は許可されていません HATAKE_E_FORBIDDEN/);
      await expect
        .poll(() => refused.getByTestId('error-reason').textContent(), POLL)
        .toBe("サーバーの説明（英語）: only an admin or the farm's IT partner configures its gateways");
    } finally {
      await server.ctx.auth.createUser('demo-partner', DEMO_PASSWORD, 'partner', { farms: ['demo-farm'] });
    }
    expect(puts).toHaveLength(2);

    // A value the browser let through but the server's schema refuses (altered here on its way):
    // the field the problem names is marked, and the form says why, with the server's reason.
    await page.route(`**${CONFIG}`, async (route) => {
      if (route.request().method() !== 'PUT') return route.continue();
      const body = route.request().postDataJSON() as { retention?: Record<string, number> };
      await route.continue({
        postData: JSON.stringify({ ...body, retention: { ...body.retention, rawDays: 0.001 } }),
      });
    });
    try {
      const raw = page.getByLabel('生データの保存期間 (日)');
      await raw.fill('30');
      await page.getByRole('button', { name: '設定を送信' }).click();
      const problem = section().getByRole('alert').filter({ hasText: 'HATAKE_E_PAYLOAD_SCHEMA' });
      await problem.waitFor();
      await expect
        .poll(() => problem.textContent(), POLL)
        .toMatch(/^送信した内容が決められた形になっていません HATAKE_E_PAYLOAD_SCHEMA/);
      await expect
        .poll(() => problem.getByTestId('error-reason').textContent(), POLL)
        .toMatch(/^サーバーの説明（英語）: body\/retention\/rawDays must be >= 0\.04/);
      await section()
        .getByText('サーバーが受け付けませんでした。印の付いた項目を確認してください。')
        .waitFor();
      await expect.poll(() => raw.getAttribute('aria-invalid'), POLL).toBe('true');
      // Focus moves in an effect after the render: poll for it.
      await expect.poll(() => raw.evaluate((el) => el === document.activeElement), FOCUS_POLL).toBe(true);
      await expect
        .poll(
          async () =>
            page
              .locator(`[id="${(await raw.getAttribute('aria-describedby'))!.split(' ')[1]}"]`)
              .textContent(),
          POLL,
        )
        .toBe('サーバーがこの項目を受け付けませんでした');
      expect(await accessibilityProblems(page)).toEqual([]);
    } finally {
      await page.unroute(`**${CONFIG}`);
    }
    expect(puts).toHaveLength(3);
    expect((await stored()).status).toBe(404);
  });

  it('is not there for a farmer', async () => {
    const farmerPage = await phonePage(browser, url);
    try {
      await signInAs(farmerPage, 'demo-farmer');
      const refused = farmerPage.waitForResponse((r) => r.url().endsWith(CONFIG));
      await farmerPage.goto('/#/partner/demo-farm');
      expect((await refused).status()).toBe(403);
      await farmerPage.getByTestId('gateway-gw-test').waitFor();
      await expect(farmerPage.getByRole('heading', { name: 'ゲートウェイの設定' }).count()).resolves.toBe(0);
      await expect(farmerPage.locator('[data-testid^="gws-"]').count()).resolves.toBe(0);
      await expect(farmerPage.getByRole('button', { name: '設定を送信' }).count()).resolves.toBe(0);
    } finally {
      await farmerPage.context().close();
    }
  });
});
