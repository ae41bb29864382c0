// The IT partner's journey in a real browser: devices with their health and the gateway with its
// sync backlog and version; then provisioning — upload a manifest with one mistake, see it at its
// line, said in Japanese by its code with the server's English as the detail, fix it in the
// editor (meeting a second kind of mistake, said in a sentence of its own), provision, and download
// the new device's QR code and config, with which the device then logs in to the gateway's broker.
// And when the server refuses — a manifest for another farm, a farm the partner does not serve, a
// farmer on the provisioning page — the page says why: the refusal in Japanese by its code
// (English on the switch), with the server's own reason beside it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import { writeFileAtomic } from '../../firmware-config/provision.ts';
import { eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { accessibilityProblems, launch, phonePage, screenshots, signInAs } from './browser.ts';
import { SeedGateway } from './seed.ts';

let stack: Stack;
let browser: Browser;
let page: Page;

const MANIFEST = (
  kit: string,
) => `farm: { id: demo-farm, name: はたけデモ農場, region: niigata, timezone: Asia/Tokyo }
fields:
  - id: upland-1
    name: 畑1号（小麦）
    crop: winter-wheat
    boundary:
      type: Polygon
      coordinates: [[[138.9020, 37.8000], [138.9035, 37.8000], [138.9035, 37.8010], [138.9020, 37.8010], [138.9020, 37.8000]]]
devices:
  - { id: wx-1, kit: hatake-weather-station, field: upland-1, name: 気象ステーション }
  - id: soil-2
    kit: ${kit}
    field: upland-1
    name: 土壌センサー 2号
    position: [138.9030, 37.8005]
`;

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  const farmer = await signIn(stack.httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  // What a gateway reports about itself with a batch: its version, backlog, and an alert.
  await new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm', 'gw-barn').send(
    [
      {
        kind: 'event',
        body: {
          id: 'disk-full-0001',
          type: 'disk_full',
          severity: 'critical',
          time: Date.now() - 60_000,
          message: 'ディスクの空きがありません / disk budget exhausted',
        },
      },
    ],
    {
      version: '0.1.0',
      backlog: 42,
      backlogBytes: 4200,
      oldestAgeMs: 90_000,
      clockOffsetMs: 12,
      downlinkVersion: 0,
    },
  );
  page = await phonePage(browser, stack.httpUrl);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the partner journey', () => {
  it('shows devices with their health and gateways with their backlog, throughput and version', async () => {
    await signInAs(page, 'demo-partner');
    await page.getByRole('heading', { level: 1, name: /機器とゲートウェイ/ }).waitFor();
    await page.getByTestId('health-wx-1').waitFor();
    const gw = page.getByTestId('gateway-gw-barn');
    await expect(gw.textContent()).resolves.toMatch(/未送信42/);
    await expect(gw.textContent()).resolves.toMatch(/0\.1\.0/);
    // Throughput, as the server measured it: the one item gw-barn sent, over 5 minutes.
    await gw.getByText('0.2 件/分').waitFor();
    await expect(gw.textContent()).resolves.toMatch(/同期速度（5分平均）0\.2 件\/分/);
    await expect(gw.textContent()).resolves.toMatch(/ディスクの空きがありません/);
    await page.getByTestId('gateway-gw-test').waitFor();
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-health');
  });

  it('provisions a device from a manifest with one error, fixed in the browser, and downloads its QR code', async () => {
    await page.getByRole('link', { name: '機器の登録' }).first().click();
    await page.getByRole('heading', { level: 1, name: '機器の登録' }).waitFor();
    await page.getByTestId('manifest-file').setInputFiles({
      name: 'farm.yaml',
      mimeType: 'text/yaml',
      buffer: Buffer.from(MANIFEST('hatake-soil-prob')),
    });
    await page.getByRole('button', { name: '検証' }).click();
    const problems = page.getByTestId('problems');
    await problems.waitFor();
    await expect(problems.locator('li').count()).resolves.toBe(1);
    // The unknown kit is on line 12 of the file; the gutter marks that line.
    await expect(problems.textContent()).resolves.toMatch(/12行目.*hatake-soil-prob/);
    // Said in Japanese by its code, at its line and column; the server's English is the detail.
    const problem = problems.locator('li').first();
    await expect(problem.getAttribute('data-code')).resolves.toBe('HATAKE_E_UNKNOWN_KIT');
    await expect(problem.getByTestId('problem-text').textContent()).resolves.toBe(
      'キット一覧にないキットです。キット名を確認してください',
    );
    await expect(problem.getByTestId('problem-detail').textContent()).resolves.toMatch(
      /^サーバーの説明（英語）: kit "hatake-soil-prob" is not in the catalogue — 期待される値: .*hatake-soil-probe/,
    );
    await expect(problem.locator('[lang="en"]').first().getAttribute('translate')).resolves.toBe('no');
    // Outside the server's own words (marked translate="no"), the problem reads in Japanese only.
    const own = await problem.evaluate((li) => {
      const copy = li.cloneNode(true) as HTMLElement;
      copy.querySelectorAll('[translate="no"]').forEach((e) => e.remove());
      return copy.textContent ?? '';
    });
    expect(own).toMatch(/^12行目 \d+列 キット一覧にないキットです。/);
    expect(own.match(/[A-Za-z]{2,}/g)).toBeNull();
    await expect(page.locator('.gutter span.bad').textContent()).resolves.toBe('12');
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-manifest-error');

    // Fix it in the editor: jump to the line, type the right kit name — and slip on the position
    // (a digit wrong in the longitude): a mistake of another kind, said in its own sentence.
    await problems.getByRole('button').click();
    const editor = page.locator('#manifest-text');
    const text = await editor.inputValue();
    const fixedKit = text.replace('kit: hatake-soil-prob\n', 'kit: hatake-soil-probe\n');
    await editor.fill(fixedKit.replace('[138.9030, 37.8005]', '[138.9930, 37.8005]'));
    await page.getByRole('button', { name: '検証' }).click();
    const outside = problems.locator('li[data-code="HATAKE_E_MANIFEST_OUTSIDE_FIELD"]');
    await outside.waitFor();
    await expect(problems.locator('li').count()).resolves.toBe(1);
    await expect(outside.getByTestId('problem-text').textContent()).resolves.toBe(
      '機器の位置が圃場の境界の外です。座標（経度、緯度の順）を確認してください',
    );
    await expect(outside.getByRole('button').textContent()).resolves.toMatch(/^15行目 \d+列$/);
    await expect(outside.getByTestId('problem-detail').textContent()).resolves.toMatch(
      /position \[138\.993, 37\.8005\] is outside the boundary of field "upland-1"/,
    );
    await editor.fill(fixedKit);
    await page.getByRole('button', { name: '検証' }).click();
    await page.getByTestId('manifest-ok').waitFor();
    await page.getByLabel('ゲートウェイのアドレス（マニフェストに無い場合）').fill('127.0.0.1');
    await page.getByRole('button', { name: '登録', exact: true }).click();
    const card = page.getByTestId('provisioned-soil-2');
    await card.waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      card.getByTestId('download-qr-soil-2').click(),
    ]);
    expect(download.suggestedFilename()).toBe('soil-2.png');
    const png = readFileSync(await download.path());
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(100);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-provisioned');

    // The config file holds the secret the registry published for the farm's gateways accepts
    // (as a hash): handed to the stack's gateway the way the registry downlink would, the device
    // logs in with what the partner downloaded and its reading reaches the server.
    const [cfgDownload] = await Promise.all([
      page.waitForEvent('download'),
      card.getByRole('button', { name: '設定ファイルを保存' }).click(),
    ]);
    const config = JSON.parse(readFileSync(await cfgDownload.path(), 'utf8')) as {
      device: string;
      mqtt: { host: string; secret: string; topic: string };
    };
    expect(config).toMatchObject({
      device: 'soil-2',
      mqtt: { host: '127.0.0.1', topic: 'hatake/v1/demo-farm/soil-2/up' },
    });
    const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    expect(registry.devices.find((d) => d.id === 'soil-2')!.secretHash).toBe(hashSecret(config.mqtt.secret));
    writeFileAtomic(join(stack.dir, 'registry.json'), JSON.stringify(registry));
    const client = await eventually(
      () =>
        mqtt
          .connectAsync(stack.mqttUrl, {
            username: 'soil-2',
            password: config.mqtt.secret,
            reconnectPeriod: 0,
          })
          .catch(() => undefined),
      10_000,
      200,
    );
    await client.publishAsync(config.mqtt.topic, JSON.stringify({ values: { soil_temperature: 12.5 } }), {
      qos: 1,
    });
    await client.endAsync();
    const partner = await signIn(stack.httpUrl, 'demo-partner');
    const soil2 = await eventually(async () => {
      const health = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as {
        devices: { id: string; provisioned: boolean; state: string }[];
      };
      return health.devices.find((d) => d.id === 'soil-2' && d.state === 'ok');
    }, 10_000);
    expect(soil2.provisioned).toBe(true);
  });

  it('says why the server refused, in Japanese and on the switch in English, with its code', async () => {
    const provisioned = () =>
      (stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry).devices.map(
        (d) => `${d.id} ${d.secretHash}`,
      );
    const before = provisioned();
    await page.goto('/#/partner/demo-farm/provision');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: '機器の登録' }).waitFor();
    // The manifest of another farm: it checks out, but the server will not provision it here.
    const editor = page.locator('#manifest-text');
    await editor.fill(MANIFEST('hatake-soil-probe').replace('id: demo-farm', 'id: other-farm'));
    await page.getByRole('button', { name: '検証' }).click();
    await page.getByTestId('manifest-ok').waitFor();
    await page.getByLabel('ゲートウェイのアドレス（マニフェストに無い場合）').fill('127.0.0.1');
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/farms/demo-farm/provision'));
    await page.getByRole('button', { name: '登録', exact: true }).click();
    expect((await answer).status()).toBe(403);
    const refused = page.getByRole('alert').filter({ hasText: 'HATAKE_E_FORBIDDEN' });
    await refused.waitFor();
    await expect(refused.textContent()).resolves.toMatch(/^この操作は許可されていません HATAKE_E_FORBIDDEN/);
    await expect(refused.getByTestId('error-reason').textContent()).resolves.toBe(
      'サーバーの説明（英語）: the manifest is for farm "other-farm", not "demo-farm" — 期待される値: demo-farm',
    );
    // The server's words are marked as English and left alone by page translators; the rest is Japanese.
    await expect(refused.locator('[lang="en"]').first().getAttribute('translate')).resolves.toBe('no');
    const own = await refused.evaluate((p) => {
      const copy = p.cloneNode(true) as HTMLElement;
      copy.querySelectorAll('[translate="no"]').forEach((e) => e.remove());
      return copy.textContent ?? '';
    });
    expect(own.match(/[A-Za-z]{2,}/g)).toBeNull();
    expect(provisioned()).toEqual(before);
    await expect(page.locator('[data-testid^="provisioned-"]').count()).resolves.toBe(0);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-provision-refused');

    // In English on the switch: the same refusal, the same reason, and the code.
    await page.getByRole('button', { name: /English/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Provisioning' }).waitFor();
    await expect(refused.textContent()).resolves.toBe(
      'You may not do this HATAKE_E_FORBIDDEN' +
        'Server: the manifest is for farm "other-farm", not "demo-farm" — expected: demo-farm',
    );
    await page.getByRole('button', { name: /日本語/ }).click();
    await page.getByRole('heading', { level: 1, name: '機器の登録' }).waitFor();

    // A farm the partner does not serve: for them it does not exist, and the page says which.
    await page.goto('/#/partner/other-farm/provision');
    const unknown = page.getByRole('alert').filter({ hasText: 'HATAKE_E_NOT_FOUND' });
    await unknown.waitFor();
    await expect(unknown.textContent()).resolves.toMatch(/^見つかりません（権限がないか、存在しません）/);
    await expect(unknown.getByTestId('error-reason').textContent()).resolves.toBe(
      'サーバーの説明（英語）: no farm "other-farm"',
    );
    // Another farm's page starts afresh: nothing of demo-farm's refusal is on it.
    await expect(page.getByRole('alert').filter({ hasText: 'HATAKE_E_FORBIDDEN' }).count()).resolves.toBe(0);

    // A farmer may see the farm but not provision it: the role is the reason.
    const farmerPage = await phonePage(browser, stack.httpUrl);
    try {
      await signInAs(farmerPage, 'demo-farmer');
      await farmerPage.goto('/#/partner/demo-farm/provision');
      const role = farmerPage.getByRole('alert').filter({ hasText: 'HATAKE_E_FORBIDDEN' });
      await role.waitFor();
      await expect(role.textContent()).resolves.toMatch(/^この操作は許可されていません/);
      await expect(role.getByTestId('error-reason').textContent()).resolves.toBe(
        'サーバーの説明（英語）: a farmer may not use this route — 期待される値: one of the roles partner, admin',
      );
    } finally {
      await farmerPage.context().close();
    }
  });
});
