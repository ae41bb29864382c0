// The farmer's base map (背景地図 on the field page), in a real browser against a real server (the
// demo manifest synced to it as a gateway does) and a tile server of the test's own on this
// machine serving a real PNG for every tile. With no address set — in the browser or in the
// server's config — the field map needs nothing from anywhere: the field is drawn and no tile is
// asked for. An address typed into the page's own control is kept for this browser: after the
// page reloads, the map asks the tile server for the tiles over the field, with {z}/{x}/{y} filled
// in, and shows them; cleared, the map asks for no tile again. An address that is not a tile
// template — a relative one, javascript:, another scheme, a template without {z} — is refused with
// a message beside the field, kept nowhere and asked for nothing. The attribution typed beside it
// is shown on the map as text.
// Then the administrator sets a base layer for everyone (`map.baseLayer` in server.yaml) and
// restarts the server: a phone that never set one shows it — its tiles, no deeper than its
// maxZoom, and its credit — without the farmer typing anything; a farmer's own address replaces it
// on that phone only, and one button goes back to the shared layer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { loadServerConfig } from '../../dashboard/config.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { demoManifest, eventually, quietLog, signIn, startServer } from '../helpers/stack.ts';
import {
  ALLOWED_UNITS,
  accessibilityProblems,
  launch,
  phonePage,
  screenshots,
  signInAs,
  untranslatedWords,
  watchTraffic,
  type Traffic,
} from './browser.ts';
import { POLL } from './poll.ts';
import { SeedGateway } from './seed.ts';

/** The centre of upland-1 (138.9020–138.9035 E, 37.8000–37.8010 N). */
const CENTRE = { lon: 138.90275, lat: 37.8005 };

/** The slippy-map tile (x, y) that holds a point at zoom z. */
function tileOf(lon: number, lat: number, z: number): { x: number; y: number } {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return {
    x: Math.floor(((lon + 180) / 360) * n),
    y: Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n),
  };
}

let dir: string;
let server: HatakeServer;
/** The server under test (a new port after the restart with the shared layer). */
let httpUrl: string;
let browser: Browser;
let page: Page;
let tileServer: Server;
let tileOrigin: string;
/** Paths the tile server was asked for, in order. */
const tileHits: string[] = [];
/** Every request the farmer's browser made (or tried to), and the dialogs it opened. */
let requests: string[];
let dialogs: string[];
let traffic: Traffic;

beforeAll(async () => {
  // A 256-px tile, the same for every z/x/y.
  const png = await sharp({
    create: { width: 256, height: 256, channels: 3, background: { r: 214, g: 232, b: 196 } },
  })
    .png()
    .toBuffer();
  tileServer = createServer((req, res) => {
    tileHits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
  });
  await new Promise<void>((resolve) => tileServer.listen(0, '127.0.0.1', resolve));
  tileOrigin = `http://127.0.0.1:${(tileServer.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-base-layer-'));
  ({ server, url: httpUrl } = await startServer(dir));
  await new SeedGateway(server, httpUrl, 'demo-farm').send([{ kind: 'manifest', body: demoManifest() }]);
  browser = await launch();
  const farmer = await signIn(httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  page = await phonePage(browser, httpUrl);
  traffic = watchTraffic(page);
  ({ requests, dialogs } = traffic);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await new Promise<void>((resolve) => (tileServer ? tileServer.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const setting = () => page.locator('details', { has: page.locator('summary', { hasText: '背景地図' }) });
/** The address field's label: with a shared layer set on the server, empty means that layer. */
let urlLabel = 'タイル画像のアドレス（空欄で背景なし）';
const urlField = () => setting().getByLabel(urlLabel, { exact: true });
const stored = () => page.evaluate(() => localStorage.getItem('hatake.baseLayerUrl'));
const tiles = () => page.locator('.leaflet-tile-pane img.leaflet-tile');

/** The field page with its map drawn (the field's outline and its devices). */
async function fieldMapReady(): Promise<void> {
  await page.getByRole('heading', { level: 1, name: '畑1号（小麦）' }).waitFor();
  await page.locator('.leaflet-overlay-pane path').first().waitFor();
}

/** Types `value` into the base-map field and presses 保存, as the farmer does. */
async function typeAndSave(value: string): Promise<void> {
  const details = setting();
  if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
  await urlField().fill(value);
  await page.evaluate(() => {
    (window as unknown as { hatakeMark?: boolean }).hatakeMark = true;
  });
  await details.getByRole('button', { name: '保存' }).click();
}

/** Whether the document marked by typeAndSave is still the one shown (it was not reloaded). */
const sameDocument = () =>
  page.evaluate(() => (window as unknown as { hatakeMark?: boolean }).hatakeMark === true).catch(() => false);

/** Saves `value` and waits for the page to load again with its map. */
async function saveAndReload(value: string): Promise<void> {
  await typeAndSave(value);
  await eventually(async () => !(await sameDocument()), 10_000);
  await fieldMapReady();
}

/** Requests to anywhere but the server under test (the tile server counted separately). */
const elsewhere = (from: number) =>
  requests
    .slice(from)
    .filter(
      (u) => !u.startsWith(`${httpUrl}/`) && !u.startsWith(`${tileOrigin}/`) && !/^(data|blob):/.test(u),
    );

/** Lets the map settle: anything it was going to ask for, it has asked for. */
const settle = () => page.waitForTimeout(1_000);

describe('the base map of the field page', () => {
  it('with no address set, draws the field with no tile asked for from anywhere', async () => {
    await signInAs(page, 'demo-farmer');
    await page.getByTestId('field-upland-1').click();
    await fieldMapReady();
    await settle();
    expect(await stored()).toBeNull();
    await expect(tiles().count()).resolves.toBe(0);
    expect(tileHits).toEqual([]);
    expect(elsewhere(0)).toEqual([]);
    expect(requests.every((u) => u.startsWith(`${httpUrl}/`) || /^(data|blob):/.test(u))).toBe(true);
  });

  it('set in the page, loads the tiles over the field from that server with z/x/y filled in; cleared, none', async () => {
    const template = `${tileOrigin}/tiles/{z}/{x}/{y}.png`;
    const from = requests.length;
    await saveAndReload(template);
    // Kept for this browser, and shown in the field after the reload.
    expect(await stored()).toBe(template);
    await setting().locator('summary').click();
    await expect.poll(() => urlField().inputValue(), POLL).toBe(template);

    // The tile server is asked for tiles, every one with numbers in place of {z}/{x}/{y}, at one
    // zoom, among them the one under the field's centre.
    await eventually(() => tileHits.length > 0, 10_000);
    await expect.poll(() => tiles().count(), POLL).toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('.leaflet-tile-pane img.leaflet-tile-loaded').count(), POLL)
      .toBe(await tiles().count());
    await settle();
    const asked = tileHits.map((p) => /^\/tiles\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(p));
    expect(asked.every((m) => m !== null)).toBe(true);
    const zooms = new Set(asked.map((m) => Number(m![1])));
    expect(zooms.size).toBe(1);
    const z = [...zooms][0]!;
    expect(z).toBeGreaterThanOrEqual(15);
    expect(z).toBeLessThanOrEqual(20);
    const centre = tileOf(CENTRE.lon, CENTRE.lat, z);
    expect(asked.map((m) => `${m![2]}/${m![3]}`)).toContain(`${centre.x}/${centre.y}`);

    // On the page: the tiles as images from that server, decoded, under the field's outline.
    const shown = await tiles().evaluateAll((els) =>
      els.map((el) => {
        const img = el as HTMLImageElement;
        const r = img.getBoundingClientRect();
        return { src: img.src, width: img.naturalWidth, onScreen: r.width > 0 && r.height > 0 };
      }),
    );
    for (const t of shown) {
      expect(t.src.startsWith(`${tileOrigin}/tiles/${z}/`)).toBe(true);
      expect(tileHits).toContain(t.src.slice(tileOrigin.length));
      expect(t.width).toBe(256);
      expect(t.onScreen).toBe(true);
    }
    await expect(page.locator('.leaflet-overlay-pane path').count()).resolves.toBeGreaterThan(0);
    // Nothing else left the machine: the server and the tile server named in the field only.
    expect(elsewhere(from)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-base-layer');

    // Cleared: back to no base map, and no tile asked for.
    await saveAndReload('');
    expect(await stored()).toBeNull();
    const hits = tileHits.length;
    await settle();
    await expect(tiles().count()).resolves.toBe(0);
    expect(tileHits.length).toBe(hits);
    expect(elsewhere(from)).toEqual([]);
  });

  // An address that cannot be a tile template: refused where it is typed (a message beside the
  // field, the field marked), nothing kept, the page not reloaded, nothing asked for, nothing run.
  const refused = async (value: string) => {
    const hits = tileHits.length;
    await typeAndSave(value);
    const message = setting().locator('[role="alert"], .error, .field-error').filter({ hasText: /\S/ });
    await expect.poll(() => message.first().isVisible(), { timeout: 3_000, interval: 100 }).toBe(true);
    await expect(urlField().getAttribute('aria-invalid')).resolves.toBe('true');
    expect(await sameDocument()).toBe(true);
    expect(await stored()).toBeNull();
    await settle();
    expect(tileHits.length).toBe(hits);
    expect(dialogs).toEqual([]);
  };
  // Each case starts from a page with no base map, whatever the case before left.
  const fresh = async () => {
    if ((await stored()) !== null) await saveAndReload('');
  };

  it('refuses a relative address, javascript:, another scheme and a template without {z}/{x}/{y}, with a message', async () => {
    const from = requests.length;
    for (const value of [
      'tiles/{z}/{x}/{y}.png',
      'javascript:alert(1)',
      `ftp://127.0.0.1:${new URL(tileOrigin).port}/{z}/{x}/{y}.png`,
      `${tileOrigin}/tiles/base.png`,
    ]) {
      await fresh();
      await refused(value);
      await expect(tiles().count()).resolves.toBe(0);
    }
    expect(elsewhere(from)).toEqual([]);
    // Typing again clears the message.
    await urlField().fill(`${tileOrigin}/tiles/{z}/{x}/{y}.png`);
    await expect(urlField().getAttribute('aria-invalid')).resolves.toBeNull();
    await fresh();
  });

  it('shows the attribution typed beside the address on the map, as text', async () => {
    const words = '<b>国土地理院</b> & co';
    const details = setting();
    if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
    await details.getByLabel('地図の出典（例：国土地理院）').fill(words);
    await saveAndReload(`${tileOrigin}/tiles/{z}/{x}/{y}.png`);
    const control = page.locator('.leaflet-control-attribution');
    await expect.poll(() => control.textContent(), POLL).toContain(words);
    await expect(control.locator('b').count()).resolves.toBe(0);
    await saveAndReload('');
    // With no base map, no attribution of one: the setting went with the address.
    expect(await page.evaluate(() => localStorage.getItem('hatake.baseLayerAttribution'))).toBeNull();
  });
});

describe('the base map the server sets for everyone (map.baseLayer in server.yaml)', () => {
  const CREDIT = '地理院タイル（共通の設定）';
  const MAX_ZOOM = 17;
  /** The tiles asked for since `from`, by the layer they belong to. */
  const hitsSince = (from: number, layer: string) =>
    tileHits.slice(from).filter((p) => p.startsWith(`/${layer}/`));
  const inUse = () => setting().getByTestId('base-layer-in-use');
  const backButton = () => setting().getByRole('button', { name: '共通の背景地図に戻す' });
  const openSetting = async () => {
    if ((await setting().getAttribute('open')) === null) await setting().locator('summary').click();
  };

  beforeAll(async () => {
    // The administrator names the layer in server.yaml and restarts the server: the same data,
    // one setting more. The farmer's phone has never set a base map (a new browser profile).
    await page.context().close();
    await server.close();
    const file = join(dir, 'server.yaml');
    writeFileSync(
      file,
      [
        'dataDir: ./server',
        'http: { host: 127.0.0.1, port: 0 }',
        'map:',
        '  baseLayer:',
        `    url: ${tileOrigin}/shared/{z}/{x}/{y}.png`,
        `    attribution: ${CREDIT}`,
        `    maxZoom: ${MAX_ZOOM}`,
        '',
      ].join('\n'),
    );
    server = await HatakeServer.create({ ...loadServerConfig(file), logger: quietLog() });
    httpUrl = `http://127.0.0.1:${await server.listen()}`;
    page = await phonePage(browser, httpUrl);
    traffic = watchTraffic(page);
    ({ requests, dialogs } = traffic);
    urlLabel = 'この端末だけで使うタイル画像のアドレス（空欄で共通の背景地図）';
  }, 60_000);

  it('shows it on a phone that never set one: its tiles, no deeper than its maxZoom, and its credit', async () => {
    const from = tileHits.length;
    await signInAs(page, 'demo-farmer');
    await page.getByTestId('field-upland-1').click();
    await fieldMapReady();
    // Nothing typed, nothing kept in this browser.
    expect(await stored()).toBeNull();
    await eventually(() => hitsSince(from, 'shared').length > 0, 10_000);
    await expect.poll(() => tiles().count(), POLL).toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('.leaflet-tile-pane img.leaflet-tile-loaded').count(), POLL)
      .toBe(await tiles().count());
    await settle();
    // Only the shared layer's tiles, all at its deepest zoom (the field is drawn closer in, the
    // tiles enlarged), among them the one under the field's centre.
    expect(tileHits.slice(from).length).toBe(hitsSince(from, 'shared').length);
    const asked = hitsSince(from, 'shared').map((p) => /^\/shared\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(p));
    expect(asked.every((m) => m !== null)).toBe(true);
    expect(new Set(asked.map((m) => Number(m![1])))).toEqual(new Set([MAX_ZOOM]));
    const centre = tileOf(CENTRE.lon, CENTRE.lat, MAX_ZOOM);
    expect(asked.map((m) => `${m![2]}/${m![3]}`)).toContain(`${centre.x}/${centre.y}`);
    const shown = await tiles().evaluateAll((els) =>
      els.map((el) => ({ src: (el as HTMLImageElement).src, width: (el as HTMLImageElement).naturalWidth })),
    );
    for (const t of shown) {
      expect(t.src.startsWith(`${tileOrigin}/shared/${MAX_ZOOM}/`)).toBe(true);
      expect(t.width).toBe(256);
    }
    await expect(page.locator('.leaflet-overlay-pane path').count()).resolves.toBeGreaterThan(0);
    // Its credit on the map, as text.
    await expect
      .poll(() => page.locator('.leaflet-control-attribution').textContent(), POLL)
      .toContain(CREDIT);
    // The setting says which map is shown; the address field is empty (meaning the shared one).
    await openSetting();
    await expect(inUse().textContent()).resolves.toBe('管理者が設定した共通の背景地図を表示しています');
    await expect(urlField().inputValue()).resolves.toBe('');
    await expect(backButton().count()).resolves.toBe(0);
    expect(elsewhere(0)).toEqual([]);
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-base-layer-shared');
  });

  it('gives way on this phone to the farmer’s own address; one button goes back to the shared one', async () => {
    const own = `${tileOrigin}/own/{z}/{x}/{y}.png`;
    const before = tileHits.length;
    await saveAndReload(own);
    expect(await stored()).toBe(own);
    await eventually(() => hitsSince(before, 'own').length > 0, 10_000);
    await expect
      .poll(() => page.locator('.leaflet-tile-pane img.leaflet-tile-loaded').count(), POLL)
      .toBeGreaterThan(0);
    await settle();
    // Its own tiles only, and not the shared layer's credit.
    expect(tileHits.slice(before)).toEqual(hitsSince(before, 'own'));
    expect(await page.locator('.leaflet-control-attribution').textContent()).not.toContain(CREDIT);
    await openSetting();
    await expect(inUse().textContent()).resolves.toBe(
      'この端末で設定した背景地図を表示しています（共通の背景地図の代わり）',
    );
    await expect(urlField().inputValue()).resolves.toBe(own);
    expect(await untranslatedWords(page, ALLOWED_UNITS)).toEqual([]);

    // Back to the shared layer: nothing kept in this browser, the shared tiles again.
    const back = tileHits.length;
    await page.evaluate(() => {
      (window as unknown as { hatakeMark?: boolean }).hatakeMark = true;
    });
    await backButton().click();
    await eventually(async () => !(await sameDocument()), 10_000);
    await fieldMapReady();
    expect(await stored()).toBeNull();
    expect(await page.evaluate(() => localStorage.getItem('hatake.baseLayerAttribution'))).toBeNull();
    await eventually(() => hitsSince(back, 'shared').length > 0, 10_000);
    await settle();
    expect(tileHits.slice(back)).toEqual(hitsSince(back, 'shared'));
    await expect
      .poll(() => page.locator('.leaflet-control-attribution').textContent(), POLL)
      .toContain(CREDIT);
    await openSetting();
    await expect(inUse().textContent()).resolves.toBe('管理者が設定した共通の背景地図を表示しています');
    await expect(backButton().count()).resolves.toBe(0);
    expect(elsewhere(0)).toEqual([]);
    expect(dialogs).toEqual([]);
  });
});
