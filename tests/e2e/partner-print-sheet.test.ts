// The IT partner's printable installation sheet, in a real browser against a real stack (server +
// gateway with its broker, the demo manifest): the partner uploads a manifest of the demo's three
// sensors (whose keys the gateway already holds), a new soil probe (its name carrying markup) and
// a LoRaWAN probe, checks it, gives the gateway's address, provisions, and saves the sheet — the
// `sheetHtml` of `POST /api/v1/farms/{farm}/provision`, saved by the page as `{farm}-sheet.html`.
// Opened from disk in the same browser as it is printed (print media), the sheet holds every
// device of the answer by its id, in order; the new probe's QR code, read from the printed
// rendering as a phone's camera would, is exactly the config the API issued (its secret the one
// the published registry holds the hash of) and its topic is printed beside it; the LoRaWAN probe
// has its DevEUI and no code; a kept device has no code and none of its secret. The sheet is a
// document to print: no navigation, no buttons or links, no scripts, each device kept on one page.
// Nothing the browser asks for leaves this machine, and the markup in a name stays text.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jsQRModule from 'jsqr';
import sharp from 'sharp';
import { stringify } from 'yaml';
import type { Browser, Page } from 'playwright-core';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type { KeyPreview, ProvisionResult } from '../../protocol/views.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { launch, phonePage, SCREENSHOT_DIR, signInAs, watchTraffic, type Traffic } from './browser.ts';
import { POLL } from './poll.ts';

// jsqr is CommonJS whose exports object is the function, with itself as `default`.
const jsQR = jsQRModule.default;

/** What a QR code in a PNG says, decoded by jsQR as a phone's camera would (undefined: none found). */
async function qrText(png: Buffer): Promise<string | undefined> {
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return jsQR(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), info.width, info.height)
    ?.data;
}

/** A device name with markup in it: the app and the sheet must show it as text, never load it. */
const HOSTILE_NAME = '土壌センサー 7号 <img src="http://203.0.113.7/x.png" onerror="alert(1)">';
const DEV_EUI = 'A84041000181C0DE';

/** The demo's sensors (their keys on the gateway), a new soil probe and a LoRaWAN probe. */
function manifestText(): string {
  const m = demoManifest();
  m.devices.push(
    {
      id: 'soil-7',
      kit: 'hatake-soil-probe',
      field: 'upland-1',
      name: HOSTILE_NAME,
      position: [138.903, 37.8005],
    },
    { id: 'lse-1', kit: 'dragino-lse01', field: 'upland-1', name: 'LoRa 土壌センサー', devEui: DEV_EUI },
  );
  return stringify(m);
}

let stack: Stack;
let browser: Browser;
let page: Page;
/** Where the partner saves the sheet. */
let dir: string;
/** Every request the partner's browser made (or tried to), and the dialogs it opened. */
let requests: string[];
let dialogs: string[];
let traffic: Traffic;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-sheet-'));
  stack = await startStack();
  browser = await launch();
  // Provisioning starts from the keys the farm's devices have: wait until the gateway has synced
  // its registry, so the demo's sensors keep theirs.
  const partner = await signIn(stack.httpUrl, 'demo-partner');
  await eventually(async () => {
    const res = await partner('/api/v1/farms/demo-farm/manifest/check', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: manifestText() }),
    });
    const keys = ((await res.json()) as { keys?: KeyPreview | null }).keys;
    return keys?.devices.find((d) => d.id === 'soil-1')?.key === 'keep';
  }, 20_000);
  page = await phonePage(browser, stack.httpUrl);
  traffic = watchTraffic(page);
  ({ requests, dialogs } = traffic);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the printable installation sheet', () => {
  it('holds each provisioned device with the credentials the server issued, laid out for print, all offline', async () => {
    await signInAs(page, 'demo-partner');
    await page.goto('/#/partner/demo-farm/provision');
    await page.getByRole('heading', { level: 1, name: '機器の登録' }).waitFor();
    await page.getByTestId('manifest-file').setInputFiles({
      name: 'farm.yaml',
      mimeType: 'text/yaml',
      buffer: Buffer.from(manifestText()),
    });
    await page.getByRole('button', { name: '検証' }).click();
    await page.getByTestId('manifest-ok').waitFor();
    const preview = page.getByTestId('key-preview');
    for (const [id, key] of [
      ['soil-1', 'keep'],
      ['wx-1', 'keep'],
      ['water-1', 'keep'],
      ['soil-7', 'new'],
      ['lse-1', 'none'],
    ] as const)
      await expect.poll(() => preview.getByTestId(`key-${id}`).getAttribute('data-key'), POLL).toBe(key);
    await page.getByLabel('ゲートウェイのアドレス（マニフェストに無い場合）').fill('127.0.0.1');
    const answer = page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.url().endsWith('/api/v1/farms/demo-farm/provision'),
    );
    await page.getByRole('button', { name: '登録', exact: true }).click();
    const response = await answer;
    expect(response.status()).toBe(200);
    // The secrets exist only in this answer: never cached.
    expect(response.headers()['cache-control']).toMatch(/no-store/);
    const result = (await response.json()) as ProvisionResult;
    expect(result.issued).toEqual(['soil-7']);
    expect(result.devices.map((d) => d.id)).toEqual(['soil-1', 'wx-1', 'water-1', 'soil-7', 'lse-1']);
    // The app shows the name as text, not as an element.
    await page.getByTestId('provisioned-soil-7').waitFor();
    await expect
      .poll(() => page.getByTestId('provisioned-soil-7').locator('h3').textContent(), POLL)
      .toBe(`${HOSTILE_NAME} soil-7`);

    // Saved from the page: the file is the sheet the API returned, as it returned it.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download-sheet').click(),
    ]);
    expect(download.suggestedFilename()).toBe('demo-farm-sheet.html');
    // Kept under the name the page gave it: the browser reads a file by its extension.
    const file = join(dir, download.suggestedFilename());
    await download.saveAs(file);
    expect(readFileSync(file, 'utf8')).toBe(result.sheetHtml);

    // Opened from disk in the same browser (only this one file is let through the test's block of
    // everything but the server), at an A4 page's width, as printed.
    const sheetUrl = pathToFileURL(file).href;
    await page.context().route(sheetUrl, (route) => route.continue());
    const sheet = await page.context().newPage();
    traffic.watchDialogs(sheet);
    try {
      await sheet.setViewportSize({ width: 794, height: 1123 });
      await sheet.emulateMedia({ media: 'print' });
      await sheet.goto(sheetUrl);
      expect(await sheet.evaluate(() => matchMedia('print').matches)).toBe(true);
      await expect(sheet.title()).resolves.toMatch(/^はたけデモ農場 — 機器設置シート/);
      await expect
        .poll(() => sheet.locator('header').textContent(), POLL)
        .toContain(`${result.devices.length} 台 / devices`);
      await expect(sheet.locator('header .warn').isVisible()).resolves.toBe(true);

      // A document to print: nothing to click or navigate, nothing that runs.
      await expect(
        sheet.locator('nav, button, input, select, textarea, form, a, script, iframe, object').count(),
      ).resolves.toBe(0);

      // Every device of the answer, in its order, each on one page, seen on the printed page.
      const sections = sheet.locator('section.device');
      await expect(sections.count()).resolves.toBe(result.devices.length);
      const printed = await sections.evaluateAll((els) =>
        els.map((el) => {
          const dd = (label: string) =>
            Array.from(el.querySelectorAll('dt'))
              .find((dt) => dt.textContent?.startsWith(label))
              ?.nextElementSibling?.textContent?.trim();
          const img = el.querySelector<HTMLImageElement>('.qr img');
          const r = el.getBoundingClientRect();
          return {
            id: dd('ID'),
            name: el.querySelector('h2')?.textContent ?? '',
            topic: dd('トピック'),
            qr: img ? { src: img.src, loaded: img.complete && img.naturalWidth > 0, width: img.width } : null,
            note: el.querySelector('.qr .note')?.textContent ?? '',
            visible: r.width > 0 && r.height > 0 && getComputedStyle(el).visibility === 'visible',
            breakInside: getComputedStyle(el).breakInside,
          };
        }),
      );
      expect(printed.map((p) => p.id)).toEqual(result.devices.map((d) => d.id));
      for (const p of printed) {
        expect(p.visible).toBe(true);
        expect(p.breakInside).toBe('avoid');
      }
      // The markup in the name is text on the sheet too: no element came of it.
      expect(printed.find((p) => p.id === 'soil-7')?.name).toBe(HOSTILE_NAME);
      await expect(sheet.locator('img').count()).resolves.toBe(result.devices.filter((d) => d.files).length);

      const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
      for (const [i, d] of result.devices.entries()) {
        const p = printed[i]!;
        if (d.files) {
          // The new probe: its QR code, as the printer draws it, is the config the API issued.
          const config = JSON.parse(d.files.config) as {
            device: string;
            mqtt: { secret: string; topic: string };
          };
          expect(p.qr).toMatchObject({ loaded: true, width: 220 });
          const shot = await sections.nth(i).locator('.qr img').screenshot();
          expect(JSON.parse((await qrText(shot))!)).toEqual(config);
          // The same as the image the sheet carries.
          const embedded = Buffer.from(p.qr!.src.replace(/^data:image\/png;base64,/, ''), 'base64');
          expect(JSON.parse((await qrText(embedded))!)).toEqual(config);
          expect(config.device).toBe(d.id);
          expect(p.topic).toBe(config.mqtt.topic);
          // Its secret is the one the farm's gateways will accept.
          expect(registry.devices.find((r) => r.id === d.id)!.secretHash).toBe(
            hashSecret(config.mqtt.secret),
          );
        } else if (d.lorawan) {
          expect(p.qr).toBeNull();
          expect(p.note).toContain(DEV_EUI);
        } else {
          // A kept key: no code, and the secret the device has is nowhere on the sheet.
          expect(p.qr).toBeNull();
          expect(p.note).toMatch(/設定ファイルがありません/);
          expect(stack.secrets[d.id]).toBeTruthy();
          expect(result.sheetHtml).not.toContain(stack.secrets[d.id]!);
        }
      }
      // Printed for real: Chromium lays it out on paper.
      const pdf = await sheet.pdf({ format: 'A4' });
      expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      writeFileSync(join(SCREENSHOT_DIR, 'partner-print-sheet.pdf'), pdf);
      await sheet.screenshot({ path: join(SCREENSHOT_DIR, 'partner-print-sheet.png'), fullPage: true });
    } finally {
      await sheet.close();
    }

    // Nothing left this machine: the server, the sheet's own file, and data: or blob: URLs only;
    // nothing of the name's markup was fetched or run.
    const origin = new URL(stack.httpUrl).origin;
    const away = requests.filter(
      (u) => !u.startsWith(`${origin}/`) && u !== sheetUrl && !/^(data|blob):/.test(u),
    );
    expect(away).toEqual([]);
    expect(requests.some((u) => u === sheetUrl)).toBe(true);
    expect(dialogs).toEqual([]);
  });
});
