// The farmer's journey in a real browser against a real stack (server + gateway with its broker,
// the demo manifest): sign in, see a live value change without reloading, open a field map with
// its heatmap (drawn as pixels, its zones inside the field) and its chart (the season as daily
// points), act on a tip and dismiss another, download an approved prescription — its map drawing
// each zone with its rate, in Japanese, with kg/10a, laid out for a 390 px phone — and opt the farm
// in to auto-approval and out again. What the page said (a sign-in refused, a tip acted on)
// re-words on a language switch; a prescription of 0 kg N says no top-dressing is needed, beside the date of
// the image it was computed from (in the list of prescriptions too); and when the live stream goes
// silent, the page says it is reconnecting and reconnects. The paddy's water gate (a simulated gate
// on a second real gateway of the farm) held open by hand or opened by an automation with no timer
// reports 0 minutes left: its tile says until when it is held, or that it has no timer; and a tip
// about the paddy's water level becomes, on 自動化する, a disabled automation of that gate.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { deviceTopic } from '../../protocol/topics.ts';
import { spreadTotals, type Recommendation } from '../../protocol/recommendation.ts';
import type { AutomationView, OverrideView, TipView } from '../../protocol/review.ts';
import type { DeviceView } from '../../protocol/api.ts';
import type { Series } from '../../protocol/views.ts';
import type { Tip } from '../../protocol/tip.ts';
import type { Registry } from '../../protocol/registry.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { DEFAULT_MQTT, gatewayConfigFor } from '../../gateway/config.ts';
import { SimulatedValve } from '../../sim/valve.ts';
import {
  demoFarm,
  demoManifest,
  eventually,
  quietLog,
  signIn,
  startStack,
  type Stack,
} from '../helpers/stack.ts';
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
import { irrigationTip, seedImagery, SeedGateway, wheatRecommendation } from './seed.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { SERVER_HEARTBEAT_MS, STALE_AFTER_MS } from '../../dashboard/ui/live.ts';
import { rangeStart } from '../../dashboard/views/series.ts';
import { fmtDate, fmtTime, rateParts } from '../../dashboard/ui/format.ts';

const ALLOWED = ALLOWED_UNITS;
const DAY = 86_400_000;

/** Relative luminance of an `rgb(r, g, b)` colour, 0 (black) to 1 (white). */
const luminance = (rgb: string) => {
  const [r, g, b] = rgb.match(/\d+/g)!.map(Number) as [number, number, number];
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
};

const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

/**
 * A top-dressing recommendation for the demo paddy by the rice model in ONNX from an image taken
 * `acquired`, late in the season: the paddy is green (NDVI 0.9, SPAD ≈ 40, the chart's last row),
 * so every zone gets 0 kg N/10a.
 */
async function latePaddyRecommendation(farm: string, acquired: string): Promise<Recommendation> {
  const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
  const pool = await InferencePool.start({ size: 1 });
  try {
    await pool.load(reg.load('rice-pi-topdress-ndvi'));
    // Two halves of paddy-1 (138.9000–138.9012 E, 37.8000–37.8003 N).
    const zones = {
      type: 'FeatureCollection',
      features: [0.9, 0.92].map((mean, k) => ({
        type: 'Feature',
        id: `paddy-1-z${k + 1}`,
        geometry: {
          type: 'MultiPolygon',
          coordinates: [[ring(138.9 + k * 0.0006, 37.8, 138.9 + (k + 1) * 0.0006, 37.8003)]],
        },
        properties: {
          fieldId: 'paddy-1',
          sceneId: 'demo-s2-late',
          acquired,
          zone: k + 1,
          k: 2,
          pixels: 20,
          areaHa: 0.18,
          validFraction: 1,
          indices: { ndvi: { mean, median: mean, count: 20, validFraction: 1 } },
          attributes: { plant_height_cm: 64, stems_per_m2: 430 },
        },
      })),
    };
    return await recommend(pool, {
      farm,
      card: reg.entry('rice-pi-topdress-ndvi').card,
      profile: reg.profile('rice-shinnosuke-niigata'),
      zones,
      now: Date.now(),
      by: 'gateway gw-seed',
    });
  } finally {
    await pool.close();
  }
}

/**
 * A TCP relay in front of the server whose live streams can be made to go silent: the connection
 * stays open and nothing more comes through it — a phone's dead mobile link, a proxy that stopped
 * forwarding. Other connections (and new ones) go through as before.
 */
async function relay(target: string) {
  const to = new URL(target);
  const pairs = new Set<{ client: Socket; upstream: Socket; live: boolean; silent: boolean }>();
  const server = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    const pair = { client, upstream, live: false, silent: false };
    pairs.add(pair);
    client.on('data', (b: Buffer) => {
      if (b.toString('latin1').startsWith('GET /api/v1/live ')) pair.live = true;
      if (!pair.silent) upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      if (!pair.silent) client.write(b);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const s of [client, upstream]) {
      s.on('close', end);
      s.on('error', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Silences the live streams open now; returns how many. */
    silence(): number {
      let n = 0;
      for (const p of pairs)
        if (p.live && !p.silent) {
          p.silent = true;
          n++;
        }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) p.client.destroy();
        server.close(() => resolve());
      }),
  };
}

let stack: Stack;
let browser: Browser;
let page: Page;
let recId: string;
let editedKgHa: number;
let gw: SeedGateway;
let sceneAcquired: string;
const tipId = { value: '' };
/**
 * The API sessions of the farmer and the officer, signed in once: the server lets one address
 * sign in 10 times a minute, and the journey's browsers sign in too.
 */
let farmerApi: Awaited<ReturnType<typeof signIn>>;
let officerApi: Awaited<ReturnType<typeof signIn>>;

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
  const manifest = demoManifest();
  const farmer = await signIn(stack.httpUrl, 'demo-farmer');
  farmerApi = farmer;
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
  gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm');
  const scene = await seedImagery(gw, manifest);
  sceneAcquired = scene.acquired;
  const tip = irrigationTip('demo-farm', 'upland-1', 'soil-1');
  tipId.value = tip.id;
  const rec = await wheatRecommendation('demo-farm', 'upland-1', scene.acquired);
  recId = rec.id;
  await gw.send([
    { kind: 'tip', body: tip },
    { kind: 'recommendation', body: rec },
  ]);
  // The officer's part of the story happens through the API here (tests/e2e/officer.test.ts
  // drives it in the browser): zone 1 edited, then approved.
  const officer = await signIn(stack.httpUrl, 'demo-officer');
  officerApi = officer;
  const detail = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as {
    revision: number;
    zones: { id: string; recommended: { kgNHa: number } }[];
  };
  editedKgHa = Math.round(detail.zones[0]!.recommended.kgNHa + 20);
  const edit = await officer(`/api/v1/reviews/${recId}/edit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      zones: [{ zone: detail.zones[0]!.id, kgNHa: editedKgHa }],
      reason: '圃場の西側は前作の残渣が多い',
      revision: detail.revision,
    }),
  });
  expect(edit.status).toBe(200);
  const edited = (await edit.json()) as {
    review: { revision: number; zones: { applied: { kgNHa: number } }[] };
  };
  editedKgHa = edited.review.zones[0]!.applied.kgNHa;
  const approve = await officer(`/api/v1/reviews/${recId}/approve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ revision: edited.review.revision }),
  });
  expect(approve.status).toBe(200);
  page = await phonePage(browser, stack.httpUrl);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the farmer journey', () => {
  it('signs in and sees a live value change without reloading', async () => {
    await signInAs(page, 'demo-farmer');
    await page.getByRole('heading', { level: 1, name: 'はたけデモ農場' }).waitFor();
    await page.getByText('ライブ更新中').waitFor();
    const tile = page.getByTestId('tile-wx-1-air_temperature');
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'wx-1',
      password: stack.secrets['wx-1'],
    });
    try {
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { air_temperature: 23.4 } }),
        { qos: 1 },
      );
      await tile.getByTestId('value').filter({ hasText: '23.4' }).waitFor();
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { air_temperature: 24.1 } }),
        { qos: 1 },
      );
      await tile.getByTestId('value').filter({ hasText: '24.1' }).waitFor();
      // A station whose clock runs 30 s ahead of the phone's: its reading is new, not "in 30 s".
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now() + 30_000, values: { air_temperature: 24.6 } }),
        { qos: 1 },
      );
      await tile.getByTestId('value').filter({ hasText: '24.6' }).waitFor();
    } finally {
      await client.endAsync();
    }
    await expect.poll(() => tile.textContent(), POLL).toMatch(/°C/);
    await expect.poll(() => tile.locator('time.fresh').textContent(), POLL).toBe('今');
    await expect(tile.textContent()).resolves.not.toMatch(/後/);
    // The page was not reloaded: the navigation count stays at the first load.
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-home');
  });

  it('opens a field map with its heatmap laid over the field', async () => {
    // The station measures more than air temperature: its humidity, for a choice of chart.
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'wx-1',
      password: stack.secrets['wx-1'],
    });
    try {
      await client.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { air_humidity: 71.5, battery: 3.9 } }),
        { qos: 1 },
      );
    } finally {
      await client.endAsync();
    }
    await page.getByTestId('field-upland-1').click();
    await page.getByRole('heading', { level: 1, name: '畑1号（小麦）' }).waitFor();
    const heatmap = page.locator('img.heatmap');
    await heatmap.waitFor();
    await eventually(
      () => heatmap.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0),
      10_000,
    );
    const src = await heatmap.getAttribute('src');
    expect(src).toMatch(/\/api\/v1\/farms\/demo-farm\/scenes\/.+\/file\?path=maps%2Fupland-1%2Fndvi\.png/);
    await expect(page.locator('.leaflet-overlay-pane path').count()).resolves.toBeGreaterThan(1); // field + zones
    // The heatmap is drawn as the satellite's pixels, not blurred between them.
    await expect(heatmap.evaluate((img) => getComputedStyle(img).imageRendering)).resolves.toBe('pixelated');
    // The zones (whole pixels, reaching past the boundary) are drawn cut to the field's outline.
    const paths = await page.locator('.leaflet-overlay-pane path').evaluateAll((els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        return {
          stroke: el.getAttribute('stroke'),
          left: r.left,
          top: r.top,
          right: r.right,
          bottom: r.bottom,
        };
      }),
    );
    const outline = paths.find((x) => x.stroke === '#0b5394')!; // the field, selected
    const zonePaths = paths.filter((x) => x !== outline);
    expect(zonePaths.length).toBeGreaterThan(0);
    for (const z of zonePaths) {
      expect(z.left).toBeGreaterThanOrEqual(outline.left - 1);
      expect(z.top).toBeGreaterThanOrEqual(outline.top - 1);
      expect(z.right).toBeLessThanOrEqual(outline.right + 1);
      expect(z.bottom).toBeLessThanOrEqual(outline.bottom + 1);
    }
    await expect.poll(() => page.getByTestId('scene').textContent(), POLL).toMatch(/撮影日/);
    // The field's weather station is charted with uPlot: 24 h of raw readings, then 7 days hourly.
    const chart = page.locator('.chart');
    await chart.locator('canvas').waitFor();
    await expect.poll(() => chart.getAttribute('aria-label'), POLL).toMatch(/気温/);
    await page.getByRole('button', { name: '7日間' }).click();
    await page.getByRole('button', { name: '7日間', pressed: true }).waitFor();
    // Hourly rollups draw the min–max band, named in the legend.
    await chart.locator('.u-legend').filter({ hasText: '最小' }).waitFor();
    // The farmer's choice of metric is kept for the field: after a reload the chart opens on it.
    const metric = page.getByRole('combobox', { name: /^項目/ });
    await expect.poll(() => metric.locator('option').count(), POLL).toBeGreaterThan(1);
    const other = (await metric.locator('option').allTextContents()).find((o) => o !== '気温')!;
    await metric.selectOption({ label: other });
    await expect.poll(() => chart.getAttribute('aria-label'), POLL).toContain(other);
    await page.reload();
    await chart.locator('canvas').waitFor();
    await expect.poll(() => chart.getAttribute('aria-label'), POLL).toContain(other);
    expect(await metric.locator('option:checked').textContent()).toBe(other);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-field');

    // The season: daily means since planting. Three earlier days of the station's air temperature,
    // synced by a gateway (one reading a day, at noon in Tokyo, the farm's zone), are three points of the chart.
    const planting = demoManifest().fields.find((f) => f.id === 'upland-1')!.plantingDate ?? null;
    const from = rangeStart('season', planting, Date.now());
    const span = Date.now() - from;
    const days = [0.25, 0.5, 0.75].map((k, i) => ({
      t: Math.floor((from + k * span) / DAY) * DAY - 9 * 3_600_000, // a JST midnight (15:00 UTC)
      value: [6.5, 11.25, 14.75][i]!,
    }));
    expect(new Set(days.map((d) => d.t)).size).toBe(3);
    await gw.send(
      days.map((d) => ({
        kind: 'reading' as const,
        body: {
          device: 'wx-1',
          metric: 'air_temperature',
          value: d.value,
          unit: 'degC',
          time: d.t + 12 * 3_600_000,
          flags: [],
        },
      })),
    );
    await metric.selectOption({ label: '気温' });
    await expect.poll(() => chart.getAttribute('aria-label'), POLL).toMatch(/^気温/);
    const answer = page.waitForResponse(
      (r) => r.url().includes('/series?') && new URL(r.url()).searchParams.get('range') === 'season',
    );
    await page.getByRole('button', { name: '作期' }).click();
    await page.getByRole('button', { name: '作期', pressed: true }).waitFor();
    const season = (await (await answer).json()) as Series;
    expect(season).toMatchObject({ device: 'wx-1', metric: 'air_temperature', resolution: 'day' });
    expect(Math.abs(season.from - from)).toBeLessThan(60_000);
    expect(season.t.every((s) => (s * 1000 + 9 * 3_600_000) % DAY === 0)).toBe(true); // one point per farm (JST) day
    for (const d of days) expect(season.v[season.t.indexOf(d.t / 1000)]).toBe(d.value);
    // The chart draws them: the pointer over a day's place on the time axis shows that day and
    // its mean in the legend.
    const plot = chart.locator('.u-over');
    await plot.scrollIntoViewIfNeeded();
    const box = (await plot.boundingBox())!;
    const legend = chart.locator('.u-legend .u-series .u-value');
    for (const d of days) {
      await page.mouse.move(
        box.x + ((d.t - season.from) / (season.to - season.from)) * box.width,
        box.y + box.height / 2,
      );
      await expect
        .poll(async () => (await legend.allTextContents()).slice(0, 2), POLL)
        .toEqual([fmtTime(d.t, 'ja'), `${d.value.toFixed(2)} °C`]);
    }
  });

  it('acts on a tip', async () => {
    await page.getByRole('link', { name: 'アドバイス' }).first().click();
    const card = page.getByTestId(`tip-${tipId.value}`);
    await card.getByText('12時間以内に灌水してください').waitFor();
    // The evidence: the reading judged, as a tile shows it (%, the farm's time), and the source.
    await card.locator('summary').filter({ hasText: '根拠' }).click();
    await expect
      .poll(() => card.locator('.evidence li').first().textContent(), POLL)
      .toMatch(/^土壌水分 19 %\s*\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} · soil-1$/);
    await card.getByText('出典 Allen et al. (1998)', { exact: false }).waitFor();
    expect(await card.locator('.evidence').textContent()).not.toMatch(/ 1(?!\d)/); // no unit "1"
    // The rule's terms in words, each with the threshold it is tested against and whether it holds.
    const terms = card.locator('.evidence li');
    await expect
      .poll(() => terms.filter({ hasText: '根群域の水分消費量 対 易有効水分量' }).textContent(), POLL)
      .toMatch(/41 mm\s*（目安 ≧ 38 mm・該当）\s*\(depletion_reaches_raw\)/);
    await expect
      .poll(() => terms.filter({ hasText: '易有効水分を使い切るまでの時間' }).textContent(), POLL)
      .toMatch(/10,000 h\s*（目安 ≦ 48 h・該当せず）/);
    await expect
      .poll(() => terms.filter({ hasText: '易有効水分量（RAW）' }).textContent(), POLL)
      .toMatch(/：38 mm/);
    await card.getByText('灌水（FAO-56）', { exact: false }).waitFor();
    // The tab lists the tips still in their time, done or not: it says so.
    await page.getByRole('button', { name: '現在のアドバイス', pressed: true }).waitFor();
    await expect
      .poll(() => page.getByTestId('tips-view-hint').textContent(), POLL)
      .toMatch(/未対応.*対応済み/);
    await card.getByRole('button', { name: '対応した' }).click();
    await page.getByText('「対応した」を記録しました').waitFor();
    await card.getByText('対応済み').waitFor(); // still listed, as done
    // What the page said is re-worded on a language switch, and back.
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('status').filter({ hasText: 'Marked as done' }).waitFor();
    await page.getByRole('button', { name: 'Current tips', pressed: true }).waitFor();
    await page.getByRole('button', { name: /Switch language/ }).click();
    await page.getByRole('status').filter({ hasText: '「対応した」を記録しました' }).waitFor();
    const farmer = farmerApi;
    const tip = (await (await farmer(`/api/v1/tips/${tipId.value}`)).json()) as TipView;
    expect(tip.state).toBe('acted');
    expect(tip.stateBy).toBe('demo-farmer');
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-tips');
  });

  it('shows a tip the gateway raised without a reload, and takes it off when its condition ends', async () => {
    const fresh = irrigationTip('demo-farm', 'paddy-1', 'water-1');
    await gw.send([{ kind: 'tip', body: fresh }]);
    const card = page.getByTestId(`tip-${fresh.id}`);
    await card.waitFor(); // the live stream's change event, not a reload
    const at = Date.now();
    await gw.send([{ kind: 'tip_cleared', body: { id: fresh.id, dedupKey: fresh.dedupKey, at } }]);
    await card.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: '履歴' }).click();
    await card.getByText(/解消/).waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.getByRole('button', { name: '現在のアドバイス' }).click();

    // A tip the farmer does not want to see again (a sensor's battery running low, as the
    // battery-low rule says it): 閉じる takes it off the current tips, into the history as closed.
    const now = Date.now();
    const battery: Tip = {
      id: `tip-bat-water-1-${Math.floor(now / 1000)}`,
      kind: 'battery_low',
      severity: 'warning',
      farm: 'demo-farm',
      field: 'paddy-1',
      devices: ['water-1'],
      title: { ja: '電池残量低下：水位センサー 田んぼ1号（3.45 V）', en: 'Battery low: water-1 (3.45 V)' },
      text: {
        ja: '水位センサー 田んぼ1号の電池電圧 3.45 V が目安 3.50 V 以下です。電池を交換するか充電してください。',
        en: 'water-1 reports 3.45 V, at or below the low mark of 3.50 V. Replace or recharge the battery.',
      },
      evidence: {
        rule: { id: 'battery-low', version: '1.0.0', params: 'battery-low-defaults@1.0.0' },
        sources: [{ citation: 'Kit battery thresholds: hatake reference kits' }],
        points: [
          {
            device: 'water-1',
            metric: 'battery',
            value: 3.45,
            unit: 'V',
            time: now - 600_000,
            role: 'latest',
          },
        ],
        thresholds: [],
        quantities: [{ name: 'voltage', value: 3.45, unit: 'V' }],
      },
      action: { type: 'device_maintenance', device: 'water-1', task: 'replace_battery', metric: 'battery' },
      created: now - 60_000,
      expires: now + DAY,
      dedupKey: 'battery_low:demo-farm:water-1',
      reason: 'new',
    };
    await gw.send([{ kind: 'tip', body: battery }]);
    const low = page.getByTestId(`tip-${battery.id}`);
    await low.waitFor();
    await low.getByRole('button', { name: '閉じる' }).click();
    await page.getByRole('status').filter({ hasText: 'アドバイスを閉じました' }).waitFor();
    await low.waitFor({ state: 'detached' });
    const dismissed = (await (await farmerApi(`/api/v1/tips/${battery.id}`)).json()) as TipView;
    expect(dismissed).toMatchObject({ state: 'dismissed', stateBy: 'demo-farmer' });
    await page.getByRole('button', { name: '履歴' }).click();
    await expect.poll(() => low.locator('p.muted').first().textContent(), POLL).toMatch(/ · 閉じた$/);
    await expect(low.getByRole('button', { name: /対応した|閉じる/ }).count()).resolves.toBe(0);
    await page.getByRole('button', { name: '現在のアドバイス' }).click();
  });

  it('downloads the approved prescription with the officer-edited rate, shown in kg/10a', async () => {
    await page.getByRole('link', { name: '施肥提案' }).click();
    const rec = page.getByTestId(`recommendation-${recId}`);
    await rec.waitFor();
    const firstZone = rec.locator('tbody tr').first();
    // Japanese shows kg/10a first, kg/ha in brackets (written as every page writes a rate).
    expect(rateParts(editedKgHa, 'ja')[0]).toMatch(/ kg\/10a$/);
    await expect
      .poll(() => firstZone.locator('.rate-main').first().textContent(), POLL)
      .toBe(rateParts(editedKgHa, 'ja')[0]);
    await expect
      .poll(() => firstZone.locator('.rate-alt').first().textContent(), POLL)
      .toBe(`(${rateParts(editedKgHa, 'ja')[1]})`);
    await expect.poll(() => firstZone.textContent(), POLL).toMatch(/普及指導員が修正/);
    // Each zone's area in ares as the API gives it in hectares (1 ha = 100 a), on one line even
    // on a 360 px phone: nothing is broken mid-word ("4.9 a", "ゾーン", a rate and its unit).
    const farmer = farmerApi;
    const api = (await (await farmer(`/api/v1/recommendations/${recId}`)).json()) as {
      zones: { id: string; zone: number; areaHa: number; rate: { kgNHa: number } }[];
      recommendation: Recommendation;
    };
    // The totals are what the files spread (these zones make the whole prescription: no rest).
    const spread = spreadTotals(api.recommendation);
    expect(spread.restHa).toBe(0);
    const oneDecimal = new Intl.NumberFormat('ja-JP', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    await expect
      .poll(() => rec.getByTestId('rx-totals').textContent(), POLL)
      .toBe(
        `肥料の合計 ${oneDecimal.format(spread.productKg)} kg · ` +
          `窒素の合計 ${new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 1 }).format(spread.nKg)} kg`,
      );
    // The prescription's tip says the same amount of product as the page (not 43 beside 42.7).
    const tips = (await (await farmer('/api/v1/tips?farm=demo-farm')).json()) as TipView[];
    const rxTip = tips.find(
      (v) => v.tip.action?.type === 'fertilize' && v.tip.action.recommendation === recId,
    )!;
    const shown = /^肥料の合計 (\S+) kg/.exec((await rec.getByTestId('rx-totals').textContent())!)![1]!;
    expect(rxTip.tip.text.ja).toContain(`計 ${shown} kg`);
    expect(api.zones.length).toBeGreaterThan(1);
    const ares = new Intl.NumberFormat('ja-JP', { maximumFractionDigits: 1 });
    for (const z of api.zones)
      await expect
        .poll(() => rec.getByTestId(`zone-${z.id}`).getByTestId('zone-area').textContent(), POLL)
        .toBe(`${ares.format(z.areaHa * 100)} a`);
    // The prescription map: every zone drawn (cut to the field), darker for more nitrogen, under
    // the field's outline; the zone under the pointer names itself and its rate in kg/10a. (To
    // 0.1 kg/10a: the table writes 0.01 kg/ha, fmtRate, which the map's label does not use yet.)
    const map = rec.getByRole('region', { name: '施肥マップ' });
    const paths = map.locator('.leaflet-overlay-pane path');
    await expect(paths.count()).resolves.toBe(api.recommendation.zones.length + 1);
    const drawn = await paths.evaluateAll((ps) =>
      ps.map((p) => ({ fill: p.getAttribute('fill')!, stroke: p.getAttribute('stroke') })),
    );
    expect(drawn.at(-1)!.stroke).toBe('#1d6b2f'); // the field, drawn last, over the zones
    const zonesDrawn = api.recommendation.zones.map((z, k) => ({
      ...api.zones.find((a) => a.id === z.id)!,
      lum: luminance(drawn[k]!.fill),
    }));
    const byRate = [...zonesDrawn].sort((a, b) => a.rate.kgNHa - b.rate.kgNHa);
    expect(byRate[0]!.rate.kgNHa).toBeLessThan(byRate.at(-1)!.rate.kgNHa);
    for (let k = 1; k < byRate.length; k++)
      if (byRate[k]!.rate.kgNHa > byRate[k - 1]!.rate.kgNHa)
        expect(byRate[k]!.lum).toBeLessThan(byRate[k - 1]!.lum);
    const tooltip = map.locator('.leaflet-tooltip');
    for (const [k, z] of zonesDrawn.entries()) {
      await paths.nth(k).hover();
      // The zone table's rounding, both units: "ゾーン1: 2.99 kg/10a (29.9 kg/ha)".
      const [per10a, perHa] = rateParts(z.rate.kgNHa, 'ja');
      await expect
        .poll(() => tooltip.allTextContents(), POLL)
        .toEqual([`ゾーン${z.zone}: ${per10a} (${perHa})`]);
    }
    await page.mouse.move(0, 0);
    /** How many lines a cell's text takes on the page: its text's boxes that share no height. */
    const lines = (cell: ReturnType<Page['locator']>) =>
      cell.evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        const rows: { top: number; bottom: number }[] = [];
        const rects = range.getClientRects();
        for (let i = 0; i < rects.length; i++) {
          const r = rects[i]!;
          if (r.width === 0) continue;
          const row = rows.find((x) => r.top < x.bottom - 1 && r.bottom > x.top + 1);
          if (row) {
            row.top = Math.min(row.top, r.top);
            row.bottom = Math.max(row.bottom, r.bottom);
          } else rows.push({ top: r.top, bottom: r.bottom });
        }
        return rows.length;
      });
    /** No heading, area or rate is broken (a rate's other unit and the officer's mark may go under it). */
    const unbroken = async () => {
      for (const cell of await rec
        .locator('thead th, [data-testid="zone-area"], tbody th, .rate-main, .rate-alt')
        .all())
        expect(await lines(cell), (await cell.textContent()) ?? '').toBe(1);
    };
    await unbroken();
    // On a 390 px phone: the product's rate is in sight (the table fits its box, nothing scrolled
    // away), and the four files are buttons a thumb can hit, none drawn over another.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(150);
    await unbroken();
    const region = rec.getByRole('region', { name: 'ゾーンごとの施肥量' });
    await expect(region.evaluate((el) => el.scrollWidth - el.clientWidth)).resolves.toBeLessThanOrEqual(0);
    const box = (await region.boundingBox())!;
    await expect.poll(() => rec.locator('thead th').last().textContent(), POLL).toBe('肥料の量');
    for (const cell of await rec.locator('thead th:last-child, tbody td:last-child').all()) {
      const b = (await cell.boundingBox())!;
      expect(b.x).toBeGreaterThanOrEqual(box.x);
      expect(b.x + b.width).toBeLessThanOrEqual(box.x + box.width + 0.5);
    }
    const files = await rec.locator('.downloads li').evaluateAll((els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        const a = el.querySelector('a')!.getBoundingClientRect();
        return {
          left: r.left,
          top: r.top,
          right: r.right,
          bottom: r.bottom,
          // A list bullet is drawn outside its item's box, over whatever is beside it.
          marker: getComputedStyle(el).listStyleType,
          link: { left: a.left, top: a.top, right: a.right, bottom: a.bottom, height: a.height },
        };
      }),
    );
    expect(files).toHaveLength(4);
    for (const f of files) {
      expect(f.marker).toBe('none');
      expect(f.link.height).toBeGreaterThanOrEqual(44);
      // The link is the whole box: its text and its target are one.
      expect(f.link.left).toBeGreaterThanOrEqual(f.left);
      expect(f.link.right).toBeLessThanOrEqual(f.right);
      expect(f.right).toBeLessThanOrEqual(390);
    }
    const overlap = (a: (typeof files)[number], b: (typeof files)[number]) =>
      a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    for (let i = 0; i < files.length; i++)
      for (let j = i + 1; j < files.length; j++)
        expect(overlap(files[i]!, files[j]!), `${i} and ${j}`).toBe(false);
    await page.setViewportSize({ width: 360, height: 740 });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      rec.getByTestId('download-csv').click(),
    ]);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const csv = readFileSync(path, 'utf8');
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    expect(csv).toContain(String(editedKgHa));
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-prescription');
  });

  it('opts the farm in to auto-approval after a confirmation, and out again', async () => {
    const farmer = farmerApi;
    const policy = async () =>
      (await (await farmer('/api/v1/farms/demo-farm/auto-approval')).json()) as unknown;
    const section = page.getByTestId('auto-approval');
    await page.getByRole('heading', { level: 2, name: '自動承認', exact: true }).waitFor();
    await section.getByText('自動承認は設定されていません').waitFor();
    // The model of the farm's recommendations is suggested; the ceiling is typed in kg/10a.
    await expect.poll(() => section.getByLabel('対象のモデル').inputValue(), POLL).toBe('osu-sbnrc');
    // A list of the farm's models, not a bare text box: any version, this version, or type another.
    const choices = await section.getByLabel('対象のモデル').locator('option').allTextContents();
    expect(choices[0]).toBe('osu-sbnrc（どの版でも）');
    expect(choices.slice(1, -1).every((c) => /^osu-sbnrc@\S+（この版だけ）$/.test(c))).toBe(true);
    expect(choices.at(-1)).toBe('ほかのモデルを入力する');
    await section.getByLabel('窒素量の上限').fill('60');
    await section.getByRole('button', { name: '自動承認を設定' }).click();
    await section.getByText('0〜50 kg/10a の範囲で入れてください').waitFor();
    await expect(section.getByTestId('auto-approval-confirm').count()).resolves.toBe(0);
    await section.getByLabel('窒素量の上限').fill('14');
    await section.getByLabel('理由（任意・審査記録に残ります）').fill('組合の基準の範囲内なら任せる');
    await section.getByRole('button', { name: '自動承認を設定' }).click();
    // Nothing is sent before the farmer confirms; the confirmation says what will happen.
    const confirm = section.getByTestId('auto-approval-confirm');
    await expect
      .poll(() => confirm.textContent(), POLL)
      .toMatch(/モデル osu-sbnrc .*14 kg\/10a.*以下なら審査なしで承認/);
    expect(await policy()).toBeNull();
    // No connection on the first try: said in Japanese, and the confirmation stays to try again.
    await page.route('**/api/v1/farms/demo-farm/auto-approval', (route) =>
      route.request().method() === 'PUT' ? route.abort('internetdisconnected') : route.continue(),
    );
    await confirm.getByRole('button', { name: '設定する' }).click();
    await confirm.getByRole('alert').filter({ hasText: 'サーバーに接続できません' }).waitFor();
    await page.unroute('**/api/v1/farms/demo-farm/auto-approval');
    await confirm.getByRole('button', { name: '設定する' }).click();
    await section.getByText('自動承認を設定しました').waitFor();
    await section.getByText('自動承認を使っています').waitFor();
    await expect
      .poll(() => section.getByTestId('auto-approval-state').locator('.rate-main').textContent(), POLL)
      .toBe('14 kg/10a');
    expect(await policy()).toMatchObject({ model: 'osu-sbnrc', maxKgNHa: 140, setBy: 'demo-farmer' });
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-auto-approval');

    // Out again: a cancelled confirmation changes nothing.
    await section.getByRole('button', { name: '自動承認をやめる' }).click();
    await confirm.getByText('自動承認をやめますか？').waitFor();
    await confirm.getByRole('button', { name: 'キャンセル' }).click();
    await expect(confirm.count()).resolves.toBe(0);
    expect(await policy()).toMatchObject({ model: 'osu-sbnrc' });
    await section.getByRole('button', { name: '自動承認をやめる' }).click();
    await confirm.getByRole('button', { name: 'やめる', exact: true }).click();
    await section.getByText('自動承認をやめました').waitFor();
    await section.getByText('自動承認は設定されていません').waitFor();
    expect(await policy()).toBeNull();

    // Set again, then removed elsewhere (another phone, the officer): the server's 404 is shown
    // the way every page shows it, with its code, and the section shows the farm as it is.
    await section.getByLabel('窒素量の上限').fill('12');
    await section.getByRole('button', { name: '自動承認を設定' }).click();
    await confirm.getByRole('button', { name: '設定する' }).click();
    await section.getByText('自動承認を使っています').waitFor();
    const removed = await farmer('/api/v1/farms/demo-farm/auto-approval', { method: 'DELETE' });
    expect(removed.status).toBe(204);
    await section.getByRole('button', { name: '自動承認をやめる' }).click();
    await confirm.getByRole('button', { name: 'やめる', exact: true }).click();
    const alert = section.getByRole('alert').filter({ hasText: '見つかりません' });
    await alert.waitFor();
    await expect.poll(() => alert.locator('code').textContent(), POLL).toBe('HATAKE_E_NOT_FOUND');
    await section.getByText('自動承認は設定されていません').waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
  });

  it('shows the automations page in Japanese, and English on the switch', async () => {
    await page.getByRole('link', { name: '自動制御' }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    await page.getByRole('heading', { name: '手動操作' }).waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Automations' }).waitFor();
    await expect.poll(() => page.locator('html').getAttribute('lang'), POLL).toBe('en');
    await page.getByRole('link', { name: 'Recommendations' }).click();
    const rate = page
      .getByTestId(`recommendation-${recId}`)
      .locator('tbody tr')
      .first()
      .locator('.rate-main')
      .first();
    expect(rateParts(editedKgHa, 'en')[0]).toMatch(/ kg\/ha$/);
    await expect.poll(() => rate.textContent(), POLL).toBe(rateParts(editedKgHa, 'en')[0]);
  });

  it('shows the current prescription when a newer one for the field is approved, and says so on the replaced one', async () => {
    // The page (in English since the test above) shows the field's only prescription.
    await page.getByTestId(`recommendation-${recId}`).waitFor();
    // Every loading line the page shows from now on: the list's reload says none (only a first
    // load does), so nothing moves under a finger.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { loadingSeen: string[] }).loadingSeen = seen;
      new MutationObserver(() => {
        document.querySelectorAll('main [role="status"]').forEach((el) => {
          if (el.textContent === 'Loading…') seen.push(el.textContent);
        });
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const newer = await wheatRecommendation('demo-farm', 'upland-1', sceneAcquired);
    await gw.send([{ kind: 'recommendation', body: newer }]);
    const officer = officerApi;
    const approve = await officer(`/api/v1/reviews/${newer.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(approve.status).toBe(200);
    // Told by the live stream, with no reload: the current one is shown, the list marks both.
    await page.getByTestId(`recommendation-${newer.id}`).waitFor();
    const list = page.locator('ul.list');
    await list.getByText('Current', { exact: true }).waitFor();
    await list.getByText('Replaced by a newer one').waitFor();
    expect(await page.evaluate(() => (window as unknown as { loadingSeen: string[] }).loadingSeen)).toEqual(
      [],
    );
    // Each row says when its image was taken, before when it was computed.
    for (const id of [recId, newer.id])
      await expect
        .poll(() => list.locator(`a[href$="/recommendations/${id}"]`).textContent(), POLL)
        .toContain(`· Satellite image taken ${fmtDate(sceneAcquired, 'en')} · Computed `);
    // The replaced one, opened, says so and leads to the current one.
    await list.locator(`a[href$="/recommendations/${recId}"]`).click();
    await page.getByTestId(`recommendation-${recId}`).waitFor();
    const note = page.getByTestId('rx-replaced');
    await note.getByRole('link', { name: 'Open the current prescription' }).click();
    await page.getByTestId(`recommendation-${newer.id}`).waitFor();
    expect(await page.getByTestId('rx-replaced').count()).toBe(0);
    await page.getByRole('button', { name: /Switch language|言語/ }).click();
    await page.getByText('最新', { exact: true }).waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
  });

  it('says a prescription of 0 kg N needs no top-dressing, beside the date of the image it was computed from', async () => {
    // The paddy's image from late in the season: green, nothing to add in any zone.
    const acquired = new Date(Date.now() - 75 * DAY).toISOString().replace(/\.\d+Z$/, 'Z');
    const late = await latePaddyRecommendation('demo-farm', acquired);
    expect(late.zones.map((z) => z.rate.kgNHa)).toEqual([0, 0]);
    await gw.send([{ kind: 'recommendation', body: late }]);
    const officer = officerApi;
    const approve = await officer(`/api/v1/reviews/${late.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(approve.status).toBe(200);
    await page.getByRole('link', { name: '施肥提案' }).click();
    const entry = page
      .locator('ul.list li')
      .filter({ has: page.locator(`a[href$="/recommendations/${late.id}"]`) });
    await entry.waitFor(); // told by the live stream
    await expect(entry.locator('.badge').allTextContents()).resolves.toEqual(['最新', '追肥不要']);
    await entry.locator('a').click();
    const card = page.getByTestId(`recommendation-${late.id}`);
    await card.waitFor();
    // Plainly: nothing to spread, nothing to load; the files are folded away, not offered as the next step.
    await expect
      .poll(() => card.getByTestId('rx-none').textContent(), POLL)
      .toBe(
        '追肥不要 どのゾーンも 0 kg N/10a です。今回は追肥の必要はなく、散布機に処方を読み込む必要もありません。',
      );
    await expect(card.getByRole('heading', { name: '処方ファイルのダウンロード' }).count()).resolves.toBe(0);
    await card.locator('summary').filter({ hasText: '処方ファイル（散布の必要はありません）' }).waitFor();
    // The date of the image the rates come from, named as such, beside when they were computed.
    const farmer = farmerApi;
    const api = (await (await farmer(`/api/v1/recommendations/${late.id}`)).json()) as {
      createdAt: string;
      recommendation: Recommendation;
    };
    expect(api.recommendation.imagery.acquired).toBe(Date.parse(acquired));
    await expect
      .poll(() => card.getByTestId('rx-dates').textContent(), POLL)
      .toBe(`衛星画像の撮影日 ${fmtDate(acquired, 'ja')} · 計算日時 ${fmtTime(api.createdAt, 'ja')}`);
    expect(fmtDate(acquired, 'ja')).not.toBe(fmtDate(api.createdAt, 'ja'));
    // The list says the same of it: the image's date, not only when it was computed.
    await expect
      .poll(() => entry.locator('a').textContent(), POLL)
      .toMatch(
        new RegExp(
          ` · 衛星画像の撮影日 ${fmtDate(acquired, 'ja')} · 計算日時 ${fmtTime(api.createdAt, 'ja')}$`,
        ),
      );
    // Its tip says the same, as information, and does not send the farmer to the spreader.
    const tips = (await (await farmer('/api/v1/tips?farm=demo-farm')).json()) as TipView[];
    const tip = tips.find(
      (v) => v.tip.action?.type === 'fertilize' && v.tip.action.recommendation === late.id,
    )!;
    await page.getByRole('link', { name: 'アドバイス' }).first().click();
    const tipCard = page.getByTestId(`tip-${tip.tip.id}`);
    await tipCard
      .getByRole('heading', { name: '情報 田んぼ1号（コシヒカリ）は今回、追肥の必要はありません' })
      .waitFor();
    await tipCard
      .getByText('今回は追肥の必要はなく、散布機に処方を読み込む必要もありません。', { exact: false })
      .waitFor();
    await expect(tipCard.textContent()).resolves.not.toMatch(/読み込んでください/);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.getByRole('link', { name: '施肥提案' }).click();
    await card.waitFor();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-prescription-none');
  });

  it('says why a sign-in failed in the language chosen after it', async () => {
    const other = await phonePage(browser, stack.httpUrl);
    try {
      await other.goto('/');
      await other.getByLabel('ユーザー名').fill('demo-farmer');
      await other.getByLabel('パスワード').fill('not-the-password');
      await other.getByRole('button', { name: 'ログイン' }).click();
      const alert = other.getByRole('alert');
      await alert.filter({ hasText: 'ユーザー名またはパスワードが違います' }).waitFor();
      await other.getByRole('button', { name: /言語を切り替え/ }).click();
      await alert.filter({ hasText: 'User name or password is wrong' }).waitFor();
      await other.getByRole('button', { name: /Switch language/ }).click();
      await alert.filter({ hasText: 'ユーザー名またはパスワードが違います' }).waitFor();
    } finally {
      await other.context().close();
    }
  });

  it('says when the live stream went silent, reconnects, and is live again', async () => {
    const r = await relay(stack.httpUrl);
    const other = await phonePage(browser, r.url);
    try {
      const streams: number[] = [];
      other.on('request', (q) => {
        if (new URL(q.url()).pathname === '/api/v1/live') streams.push(Date.now());
      });
      await signInAs(other, 'demo-farmer');
      const state = other.locator('.live-state');
      await state.filter({ hasText: 'ライブ更新中' }).waitFor();
      // Every word the indicator shows from now on.
      await other.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        const look = () => {
          const text = document.querySelector('.live-state')?.textContent ?? '';
          if (text && seen.at(-1) !== text) seen.push(text);
        };
        look();
        new MutationObserver(look).observe(document.body, {
          subtree: true,
          childList: true,
          characterData: true,
        });
      });
      const seen = () => other.evaluate(() => (window as unknown as { seen: string[] }).seen);
      // Quiet but healthy: no reading for longer than the watchdog waits, only the server's
      // heartbeats — still live, on the one stream.
      await other.waitForTimeout(STALE_AFTER_MS + 3_000);
      expect(await seen()).toEqual(['ライブ更新中']);
      expect(streams).toHaveLength(1);
      // Then the link dies: the stream stays open and nothing more comes through it.
      expect(r.silence()).toBe(1);
      const silent = Date.now();
      await state
        .filter({ hasText: '接続が途切れました。再接続中…' })
        .waitFor({ timeout: STALE_AFTER_MS + 5_000 });
      // Not before the server's heartbeat and the margin past it (the last byte came at most one
      // heartbeat before the silence).
      expect(Date.now() - silent).toBeGreaterThan(STALE_AFTER_MS - SERVER_HEARTBEAT_MS - 1_000);
      await state.filter({ hasText: 'ライブ更新中' }).waitFor({ timeout: 15_000 });
      expect(streams).toHaveLength(2);
      expect(await seen()).toEqual(['ライブ更新中', '接続が途切れました。再接続中…', 'ライブ更新中']);
      // The new stream is the live one: a reading shows without a reload.
      const client = await mqtt.connectAsync(stack.mqttUrl, {
        username: 'wx-1',
        password: stack.secrets['wx-1'],
      });
      try {
        await client.publishAsync(
          deviceTopic('demo-farm', 'wx-1', 'up'),
          JSON.stringify({ time: Date.now(), values: { air_temperature: 17.3 } }),
          { qos: 1 },
        );
      } finally {
        await client.endAsync();
      }
      await other
        .getByTestId('tile-wx-1-air_temperature')
        .getByTestId('value')
        .filter({ hasText: '17.3' })
        .waitFor();
      expect(await other.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    } finally {
      await other.context().close();
      await r.close();
    }
  }, 120_000);
});

/**
 * The paddy's water gate, on a second real gateway of the farm (the stack's own runs the demo
 * sensors only, and takes no signed downlink): its manifest is the demo farm with the gate, its
 * registry the stack's keys with the gate's own; a simulated gate logs in to its broker. The
 * gateway's engine holds the gate open for a manual override, and opens it for a band automation,
 * with a plain `open` — so the gate reports open with 0 minutes of a timer left.
 */
describe('the paddy’s water gate on the farm page', () => {
  let dir: string;
  let gateway: Gateway;
  let valve: SimulatedValve;
  /** What the server has of the gate: its latest value of each metric. */
  const gateLatest = async () => {
    const devices = (await (await farmerApi('/api/v1/devices')).json()) as DeviceView[];
    const gate = devices.find((d) => d.id === 'gate-1');
    return Object.fromEntries((gate?.latest ?? []).map((l) => [l.metric, l.value]));
  };
  const activeOverride = async () =>
    ((await (await farmerApi('/api/v1/farms/demo-farm/overrides')).json()) as OverrideView[]).find(
      (o) => o.device === 'gate-1' && o.active,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-gate-'));
    const farm = demoFarm();
    expect(farm.devices.map((d) => d.id)).toContain('gate-1');
    const kept = JSON.parse(readFileSync(join(stack.dir, 'registry.json'), 'utf8')) as Registry;
    const { registry, secrets } = provisionRegistry(farm, kept);
    expect(Object.keys(secrets)).toEqual(['gate-1']); // the sensors keep the stack's keys
    writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(farm));
    writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(registry));
    const server = stack.server!;
    gateway = new Gateway(
      gatewayConfigFor(
        {
          id: 'gw-gate',
          dataDir: join(dir, 'gateway'),
          manifest: join(dir, 'manifest.json'),
          registry: join(dir, 'registry.json'),
        },
        {
          mqtt: { ...DEFAULT_MQTT, host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          server: {
            url: stack.httpUrl,
            token: server.ctx.auth.issueGatewayToken('gw-gate', 'demo-farm'),
            publicKey: server.ctx.signingPublicKey,
          },
          sync: {
            intervalMs: 200,
            batchDelayMs: 20,
            backoffCapMs: 500,
            batchMaxItems: 500,
            downlinkIntervalMs: 300,
          },
        },
      ),
      quietLog(),
    );
    await gateway.start();
    valve = new SimulatedValve({
      farm: 'demo-farm',
      device: 'gate-1',
      secret: secrets['gate-1']!,
      brokerUrl: `mqtt://127.0.0.1:${gateway.mqttPort}`,
    });
    expect(await valve.start()).toBe(true);
    // The server knows the gate and has its first report: closed.
    await eventually(async () => (await gateLatest()).valve_state === 0, 20_000);
  }, 60_000);

  afterAll(async () => {
    await valve?.stop();
    await gateway?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says until when a gate held open by hand stays open, not 「0 分」 left', async () => {
    await page.getByRole('link', { name: '自動制御' }).click();
    const form = page.getByTestId('override-gate-1');
    await form.getByRole('combobox', { name: /^操作/ }).selectOption('hold_open');
    await form.getByRole('spinbutton', { name: '時間（分）' }).fill('90');
    await form.getByRole('button', { name: '手動操作を設定' }).click();
    await form.getByText(/^開けたままにする · 終了 /).waitFor();
    const held = (await activeOverride())!;
    expect(held).toMatchObject({ mode: 'hold_open', source: 'dashboard' });
    // The gateway holds it open with a plain `open`: the gate has no timer, and says 0 minutes left.
    await eventually(() => valve.state === 1, 20_000);
    expect(valve.received.at(-1)).toMatchObject({ command: 'open', obeyed: true });
    expect(valve.received.at(-1)!.minutes).toBeUndefined();
    await eventually(async () => {
      const l = await gateLatest();
      return l.valve_state === 1 && l.open_minutes_left === 0;
    }, 20_000);

    await page.getByRole('link', { name: '農場', exact: true }).click();
    const state = page.getByTestId('tile-gate-1-valve_state').getByTestId('value');
    const left = page.getByTestId('tile-gate-1-open_minutes_left');
    await state.filter({ hasText: '開' }).waitFor();
    await expect
      .poll(() => left.getByTestId('value').textContent(), POLL)
      .toBe(`${fmtTime(held.until, 'ja')} まで（手動操作）`);
    await expect(left.textContent()).resolves.not.toMatch(/(^|\D)0\s*分/);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-gate-held-open');

    // Released from another phone: the gateway closes the gate, whose tiles read as a closed gate's.
    const release = await farmerApi('/api/v1/farms/demo-farm/devices/gate-1/override', { method: 'DELETE' });
    expect(release.status).toBe(200);
    await eventually(() => valve.state === 0, 20_000);
    await state.filter({ hasText: '閉' }).waitFor();
    await expect.poll(() => left.getByTestId('value').textContent(), POLL).toMatch(/^0$/);
  });

  it('says a gate opened with no timer has none, not 「0 分」 left', async () => {
    // A band automation opens the gate with a plain `open` when the paddy's water is low.
    const res = await farmerApi('/api/v1/automations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        farm: 'demo-farm',
        field: 'paddy-1',
        name: { ja: '田んぼ1号の水位', en: 'Paddy 1 water level' },
        enabled: true,
        trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
        below: { device: 'gate-1', command: 'open' },
        above: { device: 'gate-1', command: 'close' },
        limits: { maxRunsPerDay: 4, maxOpenMinutes: 120 },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const band = (await res.json()) as AutomationView;
    await eventually(
      () => gateway.automations!.status().automations.some((a) => a.id === band.id && a.problem === null),
      20_000,
    );
    const water = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttPort}`, {
      username: 'water-1',
      password: stack.secrets['water-1'],
    });
    try {
      await water.publishAsync(
        deviceTopic('demo-farm', 'water-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { water_level: 2.1 } }),
        { qos: 1 },
      );
    } finally {
      await water.endAsync();
    }
    await eventually(() => valve.state === 1, 20_000);
    expect(valve.received.at(-1)).toMatchObject({ command: 'open', obeyed: true });
    expect(valve.received.at(-1)!.minutes).toBeUndefined();
    expect(await activeOverride()).toBeUndefined();

    const state = page.getByTestId('tile-gate-1-valve_state').getByTestId('value');
    const left = page.getByTestId('tile-gate-1-open_minutes_left');
    await state.filter({ hasText: '開' }).waitFor(); // by the live stream
    await expect.poll(() => left.getByTestId('value').textContent(), POLL).toBe('時間指定なし');
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await expect.poll(() => left.getByTestId('value').textContent(), POLL).toBe('No timer');
    await page.getByRole('button', { name: /Switch language/ }).click();
    await left.getByText('時間指定なし').waitFor();
  });

  it('turns a paddy water tip into a disabled automation of the field’s gate on 自動化する', async () => {
    // The paddy's level below its band, as the paddy-water rule says it: a tip the field's one
    // gate (gate-1, on the farm since gw-gate synced its manifest) can act on.
    const now = Date.now();
    const level: Tip = {
      ...irrigationTip('demo-farm', 'paddy-1', 'water-1', now),
      id: `tip-level-paddy-1-${Math.floor(now / 1000)}`,
      kind: 'paddy_water',
      title: { ja: '田んぼ1号：水位が低すぎます（2.1 cm）', en: 'Paddy 1: water level too low (2.1 cm)' },
      text: {
        ja: '水位 2.1 cm は目安 3〜5 cm を0.9 cm外れています。入水して3〜5 cmに保ってください。',
        en: 'Water level 2.1 cm is 0.9 cm outside the 3–5 cm band. Let water in to keep it within the band.',
      },
      evidence: {
        rule: { id: 'paddy-water-level', version: '1.0.0', params: 'defaults' },
        sources: [{ citation: 'Niigata paddy water management guide' }],
        points: [
          {
            device: 'water-1',
            metric: 'water_level',
            value: 2.1,
            unit: 'cm',
            time: now - 60_000,
            role: 'latest',
          },
        ],
        thresholds: [],
        quantities: [
          { name: 'band_min', value: 3, unit: 'cm' },
          { name: 'band_max', value: 5, unit: 'cm' },
        ],
      },
      action: { type: 'water_level', field: 'paddy-1', device: 'water-1', minCm: 3, maxCm: 5 },
      dedupKey: 'paddy_water:demo-farm:paddy-1:water-1',
    };
    await gw.send([{ kind: 'tip', body: level }]);
    await page.getByRole('link', { name: 'アドバイス' }).first().click();
    const card = page.getByTestId(`tip-${level.id}`);
    const automate = card.getByRole('button', { name: '自動化する' });
    await automate.waitFor();
    // One gate on the field: nothing to pick.
    await expect(card.getByRole('combobox').count()).resolves.toBe(0);
    await automate.click();
    await page
      .getByRole('status')
      .filter({
        hasText: '自動制御を作成しました（無効の状態）。自動制御のページで確認して有効にしてください',
      })
      .waitFor();
    await expect.poll(() => card.locator('p.muted').first().textContent(), POLL).toMatch(/ · 自動化済み$/);
    await expect(card.getByRole('button', { name: /対応した|閉じる|自動化する/ }).count()).resolves.toBe(0);
    // The server: the tip is automated, by the farmer, into a draft that keeps the tip's band with
    // the gate, disabled until the farmer enables it.
    const tip = (await (await farmerApi(`/api/v1/tips/${level.id}`)).json()) as TipView;
    expect(tip).toMatchObject({ state: 'automated', stateBy: 'demo-farmer' });
    const made = (await (await farmerApi('/api/v1/automations?farm=demo-farm')).json()) as AutomationView[];
    const draft = made.find((a) => a.fromTip === level.id)!;
    expect(draft.id).toBe(tip.automation);
    expect(draft).toMatchObject({
      enabled: false,
      field: 'paddy-1',
      trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
      below: { device: 'gate-1', command: 'open' },
      above: { device: 'gate-1', command: 'close' },
    });
    // On the automations page, as the farmer will find it: named after the tip, disabled.
    await page.getByRole('link', { name: '自動制御' }).click();
    const entry = page.getByTestId(`automation-${draft.id}`);
    await expect
      .poll(() => entry.getByRole('heading', { level: 2 }).textContent(), POLL)
      .toBe('田んぼ1号：水位が低すぎます（2.1 cm）（自動）');
    await expect
      .poll(() => entry.getByTestId('trigger').textContent(), POLL)
      .toBe('無効 · 目標範囲 水位センサー 田んぼ1号 水位 3–5 cm');
    await expect
      .poll(() => entry.getByTestId('commands').textContent(), POLL)
      .toBe('下限を下回ったら: 水口 田んぼ1号 開く · 上限を上回ったら: 水口 田んぼ1号 閉じる');
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    // Sent down to the gate's gateway, which keeps it and does not run it.
    await eventually(
      () =>
        gateway
          .automations!.status()
          .automations.some((a) => a.id === draft.id && !a.enabled && a.problem === null),
      20_000,
    );
  });
});
