// The IT partner's journey in a real browser, on pages headed by the farm's name: devices with
// their health (a low battery flagged in words, by the battery-low rule's thresholds for the kit;
// the latest radio signal a gateway heard them with) and the gateway with its sync backlog,
// version and alerts — each said in Japanese from what the gateway sent (a device the real
// gateway found silent, a full disk), the gateway's English kept, marked, for one the page has no
// sentence for; each device's MQTT connection as the real gateway recorded it (connected, then
// cut off: its last will), nothing while unknown, shown as the gateway syncs it without reloading;
// during a gateway outage, devices read as unknown with the gateway named, not as silent; then
// provisioning — upload a manifest with one mistake, see it at its line, said in Japanese by its
// code with the server's English as the detail, fix it in the editor (meeting a second kind of
// mistake, said in a sentence of its own), be asked for the gateway's address the manifest lacks
// (at its field, before provisioning), provision, and download the new device's QR code and
// config (the QR code, decoded, is that config), with which the device then logs in to the
// gateway's broker, its first reading bringing its row on the farm's page (open on a second
// phone, never reloaded) from never heard to OK; then rotate that device's key from the key plan:
// the request asks for the rotation, the new config comes once, and the gateway refuses the old
// secret.
// And when the server refuses — a manifest for another farm, a farm the partner does not serve, a
// farmer on the provisioning page — the page says why: the refusal in Japanese by its code
// (English on the switch), with the server's own reason beside it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jsQRModule from 'jsqr';
import mqtt from 'mqtt';
import sharp from 'sharp';
import type { Browser, Page, Request } from 'playwright-core';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import type { FarmHealth } from '../../protocol/views.ts';
import { writeFileAtomic } from '../../firmware-config/provision.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
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

let stack: Stack;
let browser: Browser;
let page: Page;
/** The secret soil-2 was given when the partner provisioned it in the browser. */
let soil2Secret = '';

const MIB = 1024 * 1024;
// jsqr is CommonJS whose exports object is the function, with itself as `default`.
const jsQR = jsQRModule.default;

/** What a QR code PNG says, decoded by jsQR as a phone's camera would (undefined: no code found). */
async function qrText(png: Buffer): Promise<string | undefined> {
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return jsQR(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), info.width, info.height)
    ?.data;
}

/** Marks the page's document, so sameDocument can tell whether it was reloaded since. */
async function markDocument(p: Page): Promise<void> {
  await p.evaluate(() => {
    (window as unknown as { hatakeMark?: boolean }).hatakeMark = true;
  });
}
async function sameDocument(p: Page): Promise<boolean> {
  return p.evaluate(() => (window as unknown as { hatakeMark?: boolean }).hatakeMark === true);
}

/**
 * Latin words the Japanese page may show outside what is marked translate="no": units (the gateway
 * settings count some in KiB), and the makers' and products' names in the kits' Japanese names.
 */
const ALLOWED = [
  'MB',
  'KiB',
  'dBm',
  'dB',
  ...[...loadCatalogue().kits.values()].flatMap((k) => k.name.ja.match(/[A-Za-z]{2,}/g) ?? []),
];

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
          message: 'database budget reached; new readings are refused',
          detail: {
            fsFreeBytes: 20_480 * MIB,
            dbBytes: 512 * MIB,
            budgetBytes: 512 * MIB,
            atRetentionFloor: false,
          },
        },
      },
      // Batteries: soil-1 at the probe kit's critical level, wx-1 under the weather station's low
      // mark, water-1 fine (the thresholds are the battery-low rule's, per kit).
      ...(
        [
          ['soil-1', 3.25],
          ['wx-1', 11.8],
          ['water-1', 3.9],
        ] as const
      ).map(([device, value]) => ({
        kind: 'reading' as const,
        body: { device, metric: 'battery', value, unit: 'V', time: Date.now() - 5 * 60_000, flags: [] },
      })),
      // An event without what its sentence needs (no device named): the gateway's words stay.
      {
        kind: 'event',
        body: {
          id: 'battery-low-0001',
          type: 'battery_low',
          severity: 'warning',
          time: Date.now() - 120_000,
          message: 'a device battery is low',
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
  // A second gateway of the farm reports the radio signal it heard water-1 with, as readings
  // (rssi, snr), the way a gateway stores a LoRaWAN uplink's radio metadata: an older one, then
  // the latest, which the signal column shows (rounded to whole dBm and tenths of a dB). A
  // gateway of its own, so gw-barn's throughput stays its five items.
  const signalAt = Date.now() - 3 * 60_000;
  await new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm', 'gw-radio').send(
    (
      [
        ['rssi', -118, 'dBm', signalAt - 60 * 60_000],
        ['snr', -9.5, 'dB', signalAt - 60 * 60_000],
        ['rssi', -97.4, 'dBm', signalAt],
        ['snr', 7.25, 'dB', signalAt],
      ] as const
    ).map(([metric, value, unit, time]) => ({
      kind: 'reading' as const,
      body: { device: 'water-1', metric, value, unit, time, flags: [] },
    })),
  );
  // The stack's own gateway last heard soil-1 ten minutes ago and finds it silent: a real
  // device_silent event, synced to the server.
  stack.gateway.store.db
    .prepare(
      `INSERT INTO devices (id, last_seen, online) VALUES ('soil-1', ?, 1)
       ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen`,
    )
    .run(Date.now() - 10 * 60_000);
  stack.gateway.maintenance.checkDevices(Date.now());
  const partner = await signIn(stack.httpUrl, 'demo-partner');
  await eventually(async () => {
    const h = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth;
    return h.gateways.find((g) => g.id === 'gw-test')?.alerts.some((a) => a.type === 'device_silent');
  }, 15_000);
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
    // The farm by its name, its id beside it.
    await page.getByTestId('farm-name').waitFor();
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent(), POLL)
      .toBe('機器とゲートウェイ — はたけデモ農場 demo-farm');
    // A low battery says so in words (not by colour alone), with the threshold it is under.
    const battery = (id: string) => page.getByTestId(`health-${id}`).getByTestId('battery-flag');
    await battery('soil-1').waitFor();
    await expect
      .poll(() => battery('soil-1').textContent(), POLL)
      .toMatch(/^電池切れ間近 目安 3\.30? V 以下$/);
    await expect.poll(() => battery('soil-1').getAttribute('data-state'), POLL).toBe('critical');
    await expect
      .poll(() => battery('wx-1').textContent(), POLL)
      .toMatch(/^電池残量低下 目安 11\.90? V 以下$/);
    await expect(battery('water-1').count()).resolves.toBe(0);
    // The signal column: water-1's latest RSSI and SNR as gw-radio sent them; a device no gateway
    // reported a signal for shows a dash.
    const healthTable = page.locator('table', { has: page.getByTestId('health-water-1') });
    const signalColumn = (await healthTable.locator('thead th').allTextContents()).indexOf('電波');
    expect(signalColumn).toBeGreaterThan(0);
    const signal = (id: string) => page.getByTestId(`health-${id}`).locator('th, td').nth(signalColumn);
    await expect.poll(() => signal('water-1').textContent(), POLL).toBe('-97 dBm / 7.3 dB');
    await expect.poll(() => signal('soil-1').textContent(), POLL).toBe('—');
    // The kit catalogue says how often each kit reports in words, not "60s".
    const probe = page.locator('#kits-h').locator('..').locator('li', { hasText: 'hatake-soil-probe' });
    await expect
      .poll(() => probe.textContent(), POLL)
      .toMatch(/hatake-soil-probe · mqtt · 60\s?秒ごとに送信$/);
    const gw = page.getByTestId('gateway-gw-barn');
    await expect.poll(() => gw.textContent(), POLL).toMatch(/未送信42/);
    await expect.poll(() => gw.textContent(), POLL).toMatch(/0\.1\.0/);
    // Throughput, as the server measured it: the five items gw-barn sent, over 5 minutes.
    await gw.getByText('1 件/分').waitFor();
    await expect.poll(() => gw.textContent(), POLL).toMatch(/同期速度（5分平均）1 件\/分/);
    // The full disk in Japanese from its numbers; the event the page has no sentence for in the
    // gateway's English, marked as English and not for translation.
    await expect
      .poll(() => gw.locator('li[data-type="disk_full"]').getByTestId('alert-text').textContent(), POLL)
      .toBe(
        'ゲートウェイの保存領域がいっぱいです（ディスクの空き 20,480 MB、データベース 512 MB／上限 512 MB）。新しいデータを受け付けていません',
      );
    const fallback = gw.locator('li[data-type="battery_low"]').getByTestId('alert-text');
    await expect.poll(() => fallback.textContent(), POLL).toBe('a device battery is low');
    await expect.poll(() => fallback.getAttribute('lang'), POLL).toBe('en');
    await expect.poll(() => fallback.getAttribute('translate'), POLL).toBe('no');
    // The device the real gateway found silent, in Japanese: how long, how often it should report.
    const silent = page.getByTestId('gateway-gw-test').locator('li[data-type="device_silent"]');
    await expect
      .poll(() => silent.getByTestId('alert-text').textContent(), POLL)
      .toBe('soil-1 から10分データが届いていません（通常は60秒ごと）');
    await expect.poll(() => silent.locator('[translate="no"]').first().textContent(), POLL).toBe('soil-1');
    // Nowhere on the page an English word outside names, codes and the gateway's marked words.
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    // On a 360 px phone every device's health is on screen: no value scrolled out of sight to the
    // right of its box, each beside its heading.
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForTimeout(150);
    const offScreen = await page.evaluate(() =>
      Array.from(document.querySelectorAll('[data-testid^="health-"] td')).flatMap((cell) => {
        const box = cell.getBoundingClientRect();
        const scroller = cell.closest('.scroll');
        const over = scroller !== null && scroller.scrollWidth > scroller.clientWidth;
        return box.right > window.innerWidth || over ? [cell.getAttribute('data-label') ?? '?'] : [];
      }),
    );
    expect(offScreen).toEqual([]);
    // …and no value broken across lines ("3.25 ↵V").
    const value = page.getByTestId('health-soil-1').locator('td[data-label="電池"] > span').first();
    const lines = await value.evaluate((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      return new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size;
    });
    expect(lines).toBe(1);
    const lastSeenCell = page.getByTestId('health-water-1').locator('td[data-label="最終受信"]');
    await expect(lastSeenCell.evaluate((td) => getComputedStyle(td, '::before').content)).resolves.toBe(
      '"最終受信"',
    );
    await screenshots(page, 'partner-health');

    // On the switch, the same alerts in English.
    await page.getByRole('button', { name: /English/ }).click();
    await page.getByRole('heading', { level: 1, name: /Devices and gateways/ }).waitFor();
    await expect
      .poll(() => silent.getByTestId('alert-text').textContent(), POLL)
      .toBe('soil-1 has sent nothing for 10 minutes (expected every 60 seconds)');
    await expect
      .poll(() => battery('soil-1').textContent(), POLL)
      .toMatch(/^Battery critical at or below 3\.30? V$/);
    await expect.poll(() => probe.textContent(), POLL).toMatch(/· reports every 60 seconds$/);
    await expect.poll(() => signal('water-1').textContent(), POLL).toBe('-97 dBm / 7.3 dB');
    await expect.poll(() => gw.textContent(), POLL).toMatch(/Sync throughput \(5-min average\)1 item\/min/);
    await page.getByRole('button', { name: /日本語/ }).click();
    await page.getByRole('heading', { level: 1, name: /機器とゲートウェイ/ }).waitFor();
  });

  it('shows each device’s MQTT connection beside its state: connected, then cut off (its last will)', async () => {
    const partner = await signIn(stack.httpUrl, 'demo-partner');
    const health = async () =>
      ((await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth).devices;
    const onlineOf = async (id: string) => (await health()).find((d) => d.id === id)?.online;
    const row = page.getByTestId('health-water-1');
    const badge = row.getByTestId('device-online');
    // From here on the page is never reloaded: what the gateway records shows up by itself.
    await markDocument(page);
    // Not known (the gateway never said): nothing shown, on water-1 or any other such device.
    expect(await onlineOf('water-1')).toBeNull();
    await row.waitFor();
    const unknown = (await health()).filter((d) => d.online === null);
    expect(unknown.length).toBeGreaterThan(0);
    for (const d of unknown)
      await expect(page.getByTestId(`health-${d.id}`).getByTestId('device-online').count()).resolves.toBe(0);

    // water-1 connects to the real gateway's broker: the gateway records it and syncs it.
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'water-1',
      password: stack.secrets['water-1'],
      reconnectPeriod: 0,
    });
    await eventually(async () => (await onlineOf('water-1')) === true, 15_000);
    await badge.waitFor();
    await expect.poll(() => badge.textContent(), POLL).toBe('接続中');
    // Beside the state badge, in the device's row header.
    await expect(row.locator('th .badge').count()).resolves.toBe(2);

    // The connection is cut without a DISCONNECT (power gone, out of range): the broker gives up
    // on it, the gateway records it offline and syncs that.
    client.stream.destroy();
    await client.endAsync(true);
    await eventually(async () => (await onlineOf('water-1')) === false, 15_000);
    await row.getByText('切断（最後の遺言）', { exact: true }).waitFor();
    await expect.poll(() => badge.textContent(), POLL).toBe('切断（最後の遺言）');
    expect(await sameDocument(page)).toBe(true);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);

    await page.getByRole('button', { name: /English/ }).click();
    await page.getByRole('heading', { level: 1, name: /Devices and gateways/ }).waitFor();
    await expect.poll(() => badge.textContent(), POLL).toBe('Disconnected (last will)');
    await page.getByRole('button', { name: /日本語/ }).click();
    await page.getByRole('heading', { level: 1, name: /機器とゲートウェイ/ }).waitFor();
  });

  it('during a gateway outage shows the devices as unknown, naming the gateway, not as silent', async () => {
    // A farm whose only gateway last synced an hour ago, a minute after it last heard soil-a.
    const demo = demoManifest();
    const probe = demo.devices.find((d) => d.kit === 'hatake-soil-probe')!;
    const now = Date.now();
    await new SeedGateway(stack.server!, stack.httpUrl, 'hill-farm', 'gw-hill').send([
      {
        kind: 'manifest',
        body: {
          ...demo,
          farm: { ...demo.farm, id: 'hill-farm', name: '丘の農場' },
          devices: [{ ...probe, id: 'soil-a', name: '土壌センサー A' }],
        },
      },
      {
        kind: 'reading',
        body: {
          device: 'soil-a',
          metric: 'soil_temperature',
          value: 12,
          unit: 'degC',
          time: now - 61 * 60_000,
          flags: [],
        },
      },
    ]);
    // The server stamps last_sync with its clock when a batch arrives: gw-hill went quiet an hour ago.
    stack
      .server!.ctx.db.prepare("UPDATE gateways SET last_sync = ? WHERE id = 'gw-hill'")
      .run(now - 60 * 60_000);
    const admin = await phonePage(browser, stack.httpUrl);
    try {
      await signInAs(admin, 'admin');
      await admin.goto('/#/partner/hill-farm');
      const row = admin.getByTestId('health-soil-a');
      await row.waitFor();
      await expect.poll(() => row.locator('.badge').textContent(), POLL).toBe('不明');
      await expect
        .poll(() => row.getByTestId('state-reason').textContent(), POLL)
        .toMatch(/^ゲートウェイ gw-hill から\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}以降同期がありません$/);
      await expect
        .poll(() => admin.getByTestId('unknown-devices-gw-hill').textContent(), POLL)
        .toBe('同期が戻るまで状態が分からない機器: soil-a');
      expect(await untranslatedWords(admin, ALLOWED)).toEqual([]);
      expect(await accessibilityProblems(admin)).toEqual([]);
      await screenshots(admin, 'partner-gateway-outage');
    } finally {
      await admin.context().close();
    }
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
    await expect.poll(() => problems.textContent(), POLL).toMatch(/12行目.*hatake-soil-prob/);
    // Said in Japanese by its code, at its line and column; the server's English is the detail.
    const problem = problems.locator('li').first();
    await expect.poll(() => problem.getAttribute('data-code'), POLL).toBe('HATAKE_E_UNKNOWN_KIT');
    await expect
      .poll(() => problem.getByTestId('problem-text').textContent(), POLL)
      .toBe('キット一覧にないキットです。キット名を確認してください');
    await expect
      .poll(() => problem.getByTestId('problem-detail').textContent(), POLL)
      .toMatch(
        /^サーバーの説明（英語）: kit "hatake-soil-prob" is not in the catalogue — 期待される値: .*hatake-soil-probe/,
      );
    await expect
      .poll(() => problem.locator('[lang="en"]').first().getAttribute('translate'), POLL)
      .toBe('no');
    // Outside the server's own words (marked translate="no"), the problem reads in Japanese only.
    const own = await problem.evaluate((li) => {
      const copy = li.cloneNode(true) as HTMLElement;
      copy.querySelectorAll('[translate="no"]').forEach((e) => e.remove());
      return copy.textContent ?? '';
    });
    expect(own).toMatch(/^12行目 \d+列 キット一覧にないキットです。/);
    expect(own.match(/[A-Za-z]{2,}/g)).toBeNull();
    await expect.poll(() => page.locator('.gutter span.bad').textContent(), POLL).toBe('12');
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
    await expect
      .poll(() => outside.getByTestId('problem-text').textContent(), POLL)
      .toBe('機器の位置が圃場の境界の外です。座標（経度、緯度の順）を確認してください');
    await expect.poll(() => outside.getByRole('button').textContent(), POLL).toMatch(/^15行目 \d+列$/);
    await expect
      .poll(() => outside.getByTestId('problem-detail').textContent(), POLL)
      .toMatch(/position \[138\.993, 37\.8005\] is outside the boundary of field "upland-1"/);
    await editor.fill(fixedKit);
    const provisionButton = page.getByRole('button', { name: '登録', exact: true });
    // Not before a check of what is in the editor now: the check says what happens to the keys.
    await expect(provisionButton.isDisabled()).resolves.toBe(true);
    await expect
      .poll(() => page.getByTestId('provision-needs').textContent(), POLL)
      .toBe('登録の前に検証してください（鍵の扱いを確認できます）');
    await page.getByRole('button', { name: '検証' }).click();
    await page.getByTestId('manifest-ok').waitFor();
    // Before anything is done: wx-1 keeps the key it has on the farm (the stack's gateway synced
    // its registry), soil-2 gets a new one; and, loudly, the gateway's soil-1 and water-1, which
    // this manifest leaves out, would be dropped from its registry — to be confirmed first.
    const preview = page.getByTestId('key-preview');
    await preview.waitFor();
    await expect
      .poll(() => preview.getByTestId('key-summary').textContent(), POLL)
      .toBe('鍵を維持 1台、新しい鍵 1台');
    await expect.poll(() => preview.getByTestId('key-wx-1').getAttribute('data-key'), POLL).toBe('keep');
    await expect
      .poll(() => preview.getByTestId('key-wx-1').textContent(), POLL)
      .toMatch(/鍵を維持ゲートウェイの登録から/);
    await expect.poll(() => preview.getByTestId('key-soil-2').getAttribute('data-key'), POLL).toBe('new');
    const risk = preview.getByTestId('key-risk');
    await expect.poll(() => risk.getAttribute('role'), POLL).toBe('alert');
    await expect
      .poll(() => risk.textContent(), POLL)
      .toMatch(/^注意：稼働中の機器がゲートウェイに接続できなくなります/);
    await expect
      .poll(() => risk.getByTestId('key-risk-removed').textContent(), POLL)
      .toBe(
        'マニフェストにない機器です。登録するとゲートウェイの登録から外れ、接続できなくなります: soil-1, water-1',
      );
    // The manifest names no broker and soil-2 gets a new key, whose config needs the gateway's
    // address: the check asks for it at its field, and provisioning waits for it.
    const hostField = page.getByLabel('ゲートウェイのアドレス（マニフェストに無い場合）');
    await expect.poll(() => hostField.getAttribute('aria-invalid'), POLL).toBe('true');
    await expect
      .poll(() => page.locator('#broker-host-err').textContent(), POLL)
      .toBe(
        'マニフェストにゲートウェイのアドレスがありません。新しい鍵の設定ファイルに必要なので、ここに入れてください',
      );
    await expect.poll(() => hostField.getAttribute('aria-describedby'), POLL).toBe('broker-host-err');
    await expect
      .poll(() => page.getByTestId('provision-needs').textContent(), POLL)
      .toBe('登録するには、ゲートウェイのアドレスを入れてください');
    await risk.getByLabel('承知のうえで登録します（上の機器は接続できなくなります）').check();
    await expect(provisionButton.isDisabled()).resolves.toBe(true);
    await risk.getByLabel('承知のうえで登録します（上の機器は接続できなくなります）').uncheck();
    await hostField.fill('127.0.0.1');
    await expect(hostField.getAttribute('aria-invalid')).resolves.toBeNull();
    await expect(page.locator('#broker-host-err').count()).resolves.toBe(0);
    await expect(provisionButton.isDisabled()).resolves.toBe(true);
    // The provisioning page names formats (QR codes, YAML, GeoJSON) as Japanese writes them too.
    expect(await untranslatedWords(page, [...ALLOWED, 'QR', 'YAML', 'GeoJSON'])).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'partner-key-preview');
    await page.getByRole('button', { name: /English/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Provisioning' }).waitFor();
    await expect
      .poll(() => preview.getByTestId('key-summary').textContent(), POLL)
      .toBe('Keys kept: 1; new keys: 1');
    await expect
      .poll(() => risk.textContent(), POLL)
      .toMatch(/^Warning: devices now working will be cut off from the gateway/);
    await page.getByRole('button', { name: /日本語/ }).click();
    await page.getByRole('heading', { level: 1, name: '機器の登録' }).waitFor();
    await expect
      .poll(() => page.getByTestId('provision-needs').textContent(), POLL)
      .toBe('登録するには、下の注意を読んでチェックを入れてください');
    await risk.getByLabel('承知のうえで登録します（上の機器は接続できなくなります）').check();
    await provisionButton.click();
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
    // What a phone's camera reads from it (checked against the config file below).
    const qr = await qrText(png);
    expect(qr).toBeDefined();
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
    // The QR code says the same config: the device, its topic and its secret.
    expect(JSON.parse(qr!)).toEqual(config);
    const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    expect(registry.devices.find((d) => d.id === 'soil-2')!.secretHash).toBe(hashSecret(config.mqtt.secret));
    soil2Secret = config.mqtt.secret;
    // The partner, standing by the kit, watches it on the farm's page (a second phone): provisioned,
    // nothing heard from it yet.
    const watcher = await phonePage(browser, stack.httpUrl);
    try {
      await signInAs(watcher, 'demo-partner');
      await watcher.goto('/#/partner/demo-farm');
      const row = watcher.getByTestId('health-soil-2');
      await row.waitFor();
      const state = row.locator('th .badge').first();
      const lastSeen = row.locator('td').nth(1);
      const quality = row.locator('td').last();
      await expect.poll(() => state.textContent(), POLL).toBe('未受信');
      await expect.poll(() => lastSeen.textContent(), POLL).toBe('データなし');
      await expect.poll(() => quality.textContent(), POLL).toBe('—');
      await markDocument(watcher);

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
      // Its first reading reaches the gateway, the gateway syncs it, and the row says so by
      // itself: OK, heard just now (not stale), one reading counted in its data quality.
      await expect.poll(() => state.textContent(), { ...POLL, timeout: 20_000 }).toBe('正常');
      await expect.poll(async () => (await row.getAttribute('class')) ?? '', POLL).toBe('');
      await expect.poll(() => lastSeen.locator('time').getAttribute('class'), POLL).toBe('fresh');
      await expect.poll(() => lastSeen.textContent(), POLL).toMatch(/秒前|今/);
      await expect.poll(() => quality.textContent(), POLL).toMatch(/^\d+(\.\d)?% 正常/);
      expect(await sameDocument(watcher)).toBe(true);
      await screenshots(watcher, 'partner-device-online');
    } finally {
      await watcher.context().close();
    }
    const partner = await signIn(stack.httpUrl, 'demo-partner');
    const health = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth;
    expect(health.devices.find((d) => d.id === 'soil-2')).toMatchObject({ provisioned: true, state: 'ok' });
  });

  it('rotates one device’s key from the key plan: the request asks for it, the new config comes once, the old secret is refused', async () => {
    expect(soil2Secret).not.toBe('');
    const bodies: { rotate?: string }[] = [];
    const watch = (r: Request) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/farms/demo-farm/provision'))
        bodies.push(r.postDataJSON() as { rotate?: string });
    };
    page.on('request', watch);
    try {
      // The manifest just provisioned, checked again: soil-2 now keeps the key it was given.
      await page.getByRole('button', { name: '検証' }).click();
      const preview = page.getByTestId('key-preview');
      const row = preview.getByTestId('key-soil-2');
      await row.waitFor();
      await expect.poll(() => row.getAttribute('data-key'), POLL).toBe('keep');
      await expect(page.getByTestId('rotate-notice').count()).resolves.toBe(0);
      const rotate = row.getByRole('button', { name: '鍵を更新' });
      await expect.poll(() => rotate.getAttribute('aria-pressed'), POLL).toBe('false');
      await rotate.click();
      await expect.poll(() => rotate.getAttribute('aria-pressed'), POLL).toBe('true');
      await expect.poll(() => row.getAttribute('data-key'), POLL).toBe('rotate');
      await expect.poll(() => row.textContent(), POLL).toMatch(/新しい鍵（更新）/);
      await expect
        .poll(() => preview.getByTestId('key-summary').textContent(), POLL)
        .toBe('鍵を維持 1台、新しい鍵 1台');
      // Said before anything is done: the new key is shown once, the old one stops working; and,
      // soil-2 having reported, loudly that it is cut off until given its new config.
      await expect
        .poll(() => page.getByTestId('rotate-notice').textContent(), POLL)
        .toBe(
          '鍵を更新する機器: soil-2新しい鍵は登録の結果に一度だけ表示され、サーバーには残りません。古い鍵は、ゲートウェイが新しい登録を読み込むと使えなくなります。',
        );
      const risk = preview.getByTestId('key-risk');
      await expect
        .poll(() => risk.getByTestId('key-risk-rotate').textContent(), POLL)
        .toBe(
          'データを送ってきた機器の鍵を更新します。新しい設定ファイルを書き込むまで接続できません: soil-2',
        );
      const provisionButton = page.getByRole('button', { name: '登録', exact: true });
      await expect(provisionButton.isDisabled()).resolves.toBe(true);
      expect(await untranslatedWords(page, [...ALLOWED, 'QR', 'YAML', 'GeoJSON'])).toEqual([]);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshots(page, 'partner-rotate-plan');
      await risk.getByLabel('承知のうえで登録します（上の機器は接続できなくなります）').check();
      await provisionButton.click();

      const card = page.getByTestId('provisioned-soil-2');
      await card.getByTestId('rotated-notice').waitFor();
      expect(bodies.at(-1)).toMatchObject({ rotate: 'soil-2' });
      await expect
        .poll(() => card.getByTestId('rotated-notice').textContent(), POLL)
        .toBe('鍵を更新しました。古い鍵は、ゲートウェイが新しい登録を読み込むと使えなくなります。');
      // wx-1 kept its key: no file, and the way to a new one said.
      await expect
        .poll(() => page.getByTestId('provisioned-wx-1').textContent(), POLL)
        .toMatch(/「鍵を更新」/);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        card.getByRole('button', { name: '設定ファイルを保存' }).click(),
      ]);
      const config = JSON.parse(readFileSync(await download.path(), 'utf8')) as {
        device: string;
        mqtt: { secret: string };
      };
      expect(config.device).toBe('soil-2');
      expect(config.mqtt.secret).not.toBe(soil2Secret);
      // The card's QR code is the new config too, not the one with the old secret.
      const [qrDownload] = await Promise.all([
        page.waitForEvent('download'),
        card.getByTestId('download-qr-soil-2').click(),
      ]);
      expect(JSON.parse((await qrText(readFileSync(await qrDownload.path())))!)).toEqual(config);
      const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
      expect(registry.devices.find((d) => d.id === 'soil-2')!.secretHash).toBe(
        hashSecret(config.mqtt.secret),
      );
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshots(page, 'partner-rotated');

      // Handed to the gateway as the registry downlink would: the old secret is refused, the new
      // one logs in.
      writeFileAtomic(join(stack.dir, 'registry.json'), JSON.stringify(registry));
      await eventually(
        () => stack.gateway.registry.get('soil-2')?.secretHash === hashSecret(config.mqtt.secret),
      );
      const login = (password: string) =>
        mqtt
          .connectAsync(stack.mqttUrl, { username: 'soil-2', password, reconnectPeriod: 0 })
          .catch((e: Error) => e);
      const old = await login(soil2Secret);
      expect(old).toBeInstanceOf(Error);
      const fresh = await login(config.mqtt.secret);
      expect(fresh).not.toBeInstanceOf(Error);
      await (fresh as mqtt.MqttClient).endAsync();
    } finally {
      page.off('request', watch);
    }
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
    await expect
      .poll(() => refused.textContent(), POLL)
      .toMatch(/^この操作は許可されていません HATAKE_E_FORBIDDEN/);
    await expect
      .poll(() => refused.getByTestId('error-reason').textContent(), POLL)
      .toBe(
        'サーバーの説明（英語）: the manifest is for farm "other-farm", not "demo-farm" — 期待される値: demo-farm',
      );
    // The server's words are marked as English and left alone by page translators; the rest is Japanese.
    await expect
      .poll(() => refused.locator('[lang="en"]').first().getAttribute('translate'), POLL)
      .toBe('no');
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
    await expect
      .poll(() => refused.textContent(), POLL)
      .toBe(
        'You may not do this HATAKE_E_FORBIDDEN' +
          'Server: the manifest is for farm "other-farm", not "demo-farm" — expected: demo-farm',
      );
    await page.getByRole('button', { name: /日本語/ }).click();
    await page.getByRole('heading', { level: 1, name: '機器の登録' }).waitFor();

    // A farm the partner does not serve: for them it does not exist, and the page says which.
    await page.goto('/#/partner/other-farm/provision');
    const unknown = page.getByRole('alert').filter({ hasText: 'HATAKE_E_NOT_FOUND' });
    await unknown.waitFor();
    await expect
      .poll(() => unknown.textContent(), POLL)
      .toMatch(/^見つかりません（権限がないか、存在しません）/);
    await expect
      .poll(() => unknown.getByTestId('error-reason').textContent(), POLL)
      .toBe('サーバーの説明（英語）: no farm "other-farm"');
    // Another farm's page starts afresh: nothing of demo-farm's refusal is on it.
    await expect(page.getByRole('alert').filter({ hasText: 'HATAKE_E_FORBIDDEN' }).count()).resolves.toBe(0);

    // A farmer may see the farm but not provision it: the role is the reason.
    const farmerPage = await phonePage(browser, stack.httpUrl);
    try {
      await signInAs(farmerPage, 'demo-farmer');
      await farmerPage.goto('/#/partner/demo-farm/provision');
      const role = farmerPage.getByRole('alert').filter({ hasText: 'HATAKE_E_FORBIDDEN' });
      await role.waitFor();
      await expect.poll(() => role.textContent(), POLL).toMatch(/^この操作は許可されていません/);
      await expect
        .poll(() => role.getByTestId('error-reason').textContent(), POLL)
        .toBe(
          'サーバーの説明（英語）: a farmer may not use this route — 期待される値: one of the roles partner, admin',
        );
    } finally {
      await farmerPage.context().close();
    }
  });
});
