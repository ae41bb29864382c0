// The farmer's automations page in a real browser against a real server, with logs the real
// automation engine wrote: the farmer makes two automations (a threshold and a paddy band) over
// the API; the gateway's engine runs them on readings and its logs come up through the sync API,
// as a farm gateway sends them. In Japanese every log line reads in Japanese — worded from what the
// engine recorded: devices by name, metrics by name, values in display units, commands as words,
// a valve's state as 開 — and the trigger reads 土壌水分 ＜ 22 %; on the switch, both read in English. A log of an older gateway (one "ja / en"
// line, no text per language) is still shown. Each card says what the gateway did with it: not
// there yet, then (its reports synced, the page looks again by itself) running, or refused with
// the gateway's reason in English, marked as such. What the page says after a save reads in the
// language chosen after it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { pino } from 'pino';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { Automation, AutomationLog } from '../../protocol/automation.ts';
import type { AutomationView, OverrideView } from '../../protocol/review.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import type { Tip } from '../../protocol/tip.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { AutomationEngine } from '../../gateway/automations/engine.ts';
import { ManualClock } from '../unit/automations/manual-clock.ts';
import { signIn, startServer } from '../helpers/stack.ts';
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
import { SeedGateway, farmWithGates, irrigationTip } from './seed.ts';

const ALLOWED = ALLOWED_UNITS;
/** Why the gateway refused the band automation, in its words (gateway/downlink-apply.ts). */
const REFUSAL = 'no device "gate-1" on this gateway; the previous version (v1) keeps running';
const MIN = 60_000;

let dir: string;
let server: HatakeServer;
let url: string;
let browser: Browser;
let page: Page;
let irrigation: AutomationView;
let band: AutomationView;
/** The farm's gateway, as the sync API sees it. */
let gw: SeedGateway;
/** The farmer's API session (another phone of the farm's). */
let farmerApi: Awaited<ReturnType<typeof signIn>>;
/** What the engine logged, per automation, oldest first. */
const logged: Record<string, AutomationLog[]> = {};
const oldLog: AutomationLog = {
  id: 'log-old-gateway-1',
  automation: '',
  time: 0,
  event: 'skipped_daily_limit',
  device: 'gate-1',
  message: '本日の上限 4 回に達しています / daily limit of 4 runs reached',
};

/**
 * English words in a text: runs of Latin letters standing alone between spaces, Japanese or
 * brackets. Identifiers (soil-1, soil_vwc, open_for: a digit, "-" or "_" inside) are names, not words.
 */
function englishWords(text: string): string[] {
  return text
    .split(/[\s\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]+/)
    .map((w) => w.replace(/^["'(]+|["'),.:;]+$/g, ''))
    .filter((w) => /^[A-Za-z]{2,}$/.test(w) && !ALLOWED.includes(w));
}

/** Runs the gateway's automation engine on readings and returns the logs it queued for the server. */
async function runEngine(docs: Automation[], t0: number): Promise<AutomationLog[]> {
  const catalogue = loadCatalogue();
  const manifest = farmWithGates();
  const kits = new Map(manifest.devices.map((d) => [d.id, catalogue.get(d.kit)]));
  const store = new GatewayStore(join(dir, 'gateway.db'));
  const clock = new ManualClock(t0);
  const engine = new AutomationEngine({
    store,
    publish: async () => undefined,
    kitOf: (d) => kits.get(d),
    devices: () => [...kits.keys()],
    farm: 'demo-farm',
    timezone: () => 'Asia/Tokyo',
    clock,
    log: pino({ level: 'silent' }),
  });
  engine.start();
  const reading = (device: string, metric: string, value: number, unit: string): Reading => ({
    device,
    metric,
    value,
    unit,
    time: clock.now(),
    flags: [],
  });
  try {
    docs.forEach((a, i) => {
      store.putDocument('automation', a.id, i + 1, a, Date.now());
      engine.document({ kind: 'automation', id: a.id, version: i + 1, body: a, deleted: false });
    });
    // Dry soil: valve-1 opens for 30 min, confirms, closes by itself.
    engine.observe([reading('soil-1', 'soil_vwc', 0.18, 'm3/m3')]);
    clock.advance(2000);
    engine.observe([reading('valve-1', 'valve_state', 1, '1')]);
    clock.advance(30 * MIN);
    engine.observe([reading('valve-1', 'valve_state', 0, '1')]);
    // Low paddy water: gate-1 opens, then the level is back inside the band and past it.
    clock.advance(MIN);
    engine.observe([reading('water-1', 'water_level', 2.1, 'cm')]);
    clock.advance(2000);
    engine.observe([reading('gate-1', 'valve_state', 1, '1')]);
    clock.advance(20 * MIN);
    engine.observe([reading('water-1', 'water_level', 5.6, 'cm')]);
    clock.advance(2000);
    engine.observe([reading('gate-1', 'valve_state', 0, '1')]);
    return store
      .peekOutbox(10_000)
      .filter((r) => r.kind === 'automation_log')
      .map((r) => JSON.parse(r.body) as AutomationLog);
  } finally {
    engine.stop();
    store.close();
  }
}

const asDoc = ({ updatedAt: _a, updatedBy: _b, onGateway: _g, ...a }: AutomationView): Automation => a;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-e2e-automations-'));
  ({ server, url } = await startServer(dir));
  browser = await launch();
  gw = new SeedGateway(server, url, 'demo-farm');
  await gw.send([{ kind: 'manifest', body: farmWithGates() }]);
  const farmer = await signIn(url, 'demo-farmer');
  farmerApi = farmer;
  const create = async (body: unknown) => {
    const res = await farmer('/api/v1/automations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as AutomationView;
  };
  irrigation = await create({
    farm: 'demo-farm',
    field: 'upland-1',
    name: { ja: '畑1号の灌水', en: 'Upland 1 irrigation' },
    enabled: true,
    trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
    action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
    limits: { maxRunsPerDay: 2, maxOpenMinutes: 45 },
  });
  band = await create({
    farm: 'demo-farm',
    field: 'paddy-1',
    name: { ja: '田んぼ1号の水位', en: 'Paddy 1 water level' },
    enabled: true,
    trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
    below: { device: 'gate-1', command: 'open' },
    above: { device: 'gate-1', command: 'close' },
    limits: { maxRunsPerDay: 4, maxOpenMinutes: 120 },
  });
  // Two days ago at 10:00 in Tokyo: in the past, by day.
  const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
  const logs = await runEngine([asDoc(irrigation), asDoc(band)], Date.parse(`${day}T10:00:00+09:00`));
  for (const l of logs) (logged[l.automation] ??= []).push(l);
  oldLog.automation = band.id;
  oldLog.time = Math.max(...logs.map((l) => l.time)) + MIN;
  await gw.send([...logs, oldLog].map((body) => ({ kind: 'automation_log' as const, body })));
  page = await phonePage(browser, url);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * The irrigation automation's log as the farmer reads it, by event: the devices by their names
 * (土壌センサー 畑1号, 水門 畑1号), the metric by its name, the reading and the threshold in % (the
 * engine logged 0.18 and the automation says 0.22), the command as words and the valve's state as 開.
 */
const IRRIGATION_WORDS: Record<string, { ja: string; en: string }> = {
  fired: {
    ja: '土壌センサー 畑1号の土壌水分 18 % ＜ 22 %：水門 畑1号を30分開く（本日 1/2 回目）',
    en: 'Soil moisture at 土壌センサー 畑1号 18 % < 22 %: open 水門 畑1号 for 30 min (run 1 of 2 today)',
  },
  command_sent: { ja: '指令を送信しました：水門 畑1号を30分開く', en: 'sent: open 水門 畑1号 for 30 min' },
  state_confirmed: { ja: '水門 畑1号が「開」と報告しました', en: '水門 畑1号 reported "open"' },
  closed: { ja: '水門 畑1号が閉じました（開いていた時間 30 分）', en: '水門 畑1号 closed after 30 min open' },
};

/** The irrigation log's lines in one language, in the server's order: newest first, then by id. */
const irrigationLog = (lang: 'ja' | 'en') =>
  [...logged[irrigation.id]!]
    .sort((a, b) => b.time - a.time || (a.id < b.id ? -1 : 1))
    .map((l) => IRRIGATION_WORDS[l.event]![lang]);

/** The text of a card's log lines without the names in them (marked translate="no"). */
const wordsOf = async (card: ReturnType<Page['getByTestId']>) =>
  card.getByTestId('log-text').evaluateAll((els) =>
    els.map((el) => {
      const copy = el.cloneNode(true) as HTMLElement;
      copy.querySelectorAll('[translate="no"]').forEach((n) => n.remove());
      return copy.textContent ?? '';
    }),
  );

const lines = async (card: ReturnType<Page['getByTestId']>) => card.getByTestId('log-text').allTextContents();

/**
 * An element's text without its marked secondary parts: the server's or gateway's own words
 * (`.sub`) and identifiers shown small beside their words.
 */
const withoutDetail = (el: Locator) =>
  el.evaluate((node) => {
    const copy = node.cloneNode(true) as HTMLElement;
    copy.querySelectorAll('.sub, small').forEach((n) => n.remove());
    return (copy.textContent ?? '').trim();
  });
/** Latin-letter words in a text, translate="no" or not, but the units allowed. */
const latinWords = (text: string) => (text.match(/[A-Za-z]{2,}/g) ?? []).filter((w) => !ALLOWED.includes(w));

describe('the farmer’s automations page', () => {
  it('the engine logged each step in both languages', () => {
    expect(logged[irrigation.id]?.map((l) => l.event)).toEqual([
      'fired',
      'command_sent',
      'state_confirmed',
      'closed',
    ]);
    expect(logged[band.id]?.length).toBeGreaterThanOrEqual(4);
    for (const l of Object.values(logged).flat()) {
      expect(l.text, l.message).toBeDefined();
      expect(l.message).toBe(`${l.text!.ja} / ${l.text!.en}`);
    }
  });

  it('shows triggers and log lines in Japanese', async () => {
    await signInAs(page, 'demo-farmer');
    await page.getByRole('link', { name: '自動制御' }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    const irr = page.getByTestId(`automation-${irrigation.id}`);
    const paddy = page.getByTestId(`automation-${band.id}`);
    await expect
      .poll(() => irr.getByTestId('trigger').textContent(), POLL)
      .toBe('有効 · 条件 土壌センサー 畑1号 土壌水分 ＜ 22 %');
    await expect
      .poll(() => paddy.getByTestId('trigger').textContent(), POLL)
      .toBe('有効 · 目標範囲 水位センサー 田んぼ1号 水位 3–5 cm');
    // No gateway has reported either yet.
    for (const card of [irr, paddy])
      await expect
        .poll(() => card.getByTestId('on-gateway').textContent(), POLL)
        .toBe('ゲートウェイに届いていません');
    // The gateway reports them as its downlink client does: one applied, one refused.
    const sentAs = (id: string) => server.ctx.downlink.get('demo-farm', 'automation', id)!.version;
    const report = (type: 'downlink_applied' | 'downlink_refused', a: AutomationView, what: string) => ({
      kind: 'event' as const,
      body: {
        id: `report-${a.id}`,
        type,
        severity: type === 'downlink_applied' ? 'info' : 'critical',
        time: Date.now(),
        message: `${type === 'downlink_applied' ? 'applied' : 'refused'} automation ${a.id} v${sentAs(a.id)}: ${what}`,
        detail: { kind: 'automation', id: a.id, version: sentAs(a.id) },
      },
    });
    await gw.send([
      report('downlink_applied', irrigation, `automation ${irrigation.id} kept`),
      report('downlink_refused', band, `/below/device: ${REFUSAL}`),
    ]);
    await expect
      .poll(() => irr.getByTestId('on-gateway').textContent(), { ...POLL, timeout: 20_000 })
      .toBe('ゲートウェイで実行中');
    await expect
      .poll(() => paddy.getByTestId('on-gateway').textContent(), { ...POLL, timeout: 20_000 })
      .toMatch(/^ゲートウェイが実行を拒否しました。/);
    const reason = paddy.getByTestId('on-gateway-reason');
    expect(await reason.getAttribute('lang')).toBe('en');
    expect(await reason.getAttribute('translate')).toBe('no');
    // Logs closed: not one Latin word outside names and units on the page.
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);

    await irr.getByRole('button', { name: '記録を見る' }).click();
    await irr.getByTestId('log-text').first().waitFor();
    // Each line in Japanese from what the engine recorded (once the log has loaded).
    await expect.poll(() => lines(irr), POLL).toEqual(irrigationLog('ja'));
    const ja = await lines(irr);
    expect(ja.flatMap(englishWords)).toEqual([]);
    const body = (await page.locator('body').textContent()) ?? '';
    for (const l of logged[irrigation.id]!) expect(body).not.toContain(l.text!.en);
    // No id the engine names (soil-1, soil_vwc, valve-1, valve_state, open_for) is left on the page.
    for (const id of ['soil-1', 'soil_vwc', 'valve-1', 'valve_state', 'open_for'])
      expect(body).not.toContain(id);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-automations');
  });

  it('says in Japanese what the gateway refused and an older gateway’s line; its own words only as a marked detail', async () => {
    const irr = page.getByTestId(`automation-${irrigation.id}`);
    const paddy = page.getByTestId(`automation-${band.id}`);
    const refusal = paddy.getByTestId('on-gateway');
    // Where in the automation the gateway found the problem (its pointer) and what runs meanwhile.
    expect(await withoutDetail(refusal)).toBe(
      'ゲートウェイが実行を拒否しました。問題の箇所：下限を下回ったら › 動かす機器（水門 田んぼ1号）。前の版（第1版）が引き続き動いています。',
    );
    expect(latinWords(await withoutDetail(refusal))).toEqual([]);
    // The gateway's words stay after the Japanese, marked as its English.
    expect(await refusal.locator('.sub').textContent()).toBe(
      `ゲートウェイの説明（英語）: /below/device: ${REFUSAL}`,
    );
    // An older gateway's one "ja / en" line: its Japanese half.
    await paddy.getByRole('button', { name: '記録を見る' }).click();
    await expect.poll(async () => (await lines(paddy)).length, POLL).toBe(logged[band.id]!.length + 1);
    expect((await lines(paddy))[0]).toBe('本日の上限 4 回に達しています');
    expect((await lines(paddy)).flatMap(latinWords)).toEqual([]);
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    // As the next test expects it: the irrigation log open.
    await irr.getByRole('button', { name: '記録を見る' }).click();
    await irr.getByTestId('log-text').first().waitFor();
  });

  it('switches to English: triggers and log lines in English, an older gateway’s log its English half', async () => {
    await page.getByRole('button', { name: /言語を切り替え/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Automations' }).waitFor();
    const irr = page.getByTestId(`automation-${irrigation.id}`);
    const paddy = page.getByTestId(`automation-${band.id}`);
    await expect
      .poll(() => irr.getByTestId('trigger').textContent(), POLL)
      .toBe('Enabled · When 土壌センサー 畑1号 Soil moisture < 22 %');
    await expect
      .poll(() => paddy.getByTestId('trigger').textContent(), POLL)
      .toBe('Enabled · Keep in band 水位センサー 田んぼ1号 Water level 3–5 cm');
    await expect.poll(() => lines(irr), POLL).toEqual(irrigationLog('en'));
    expect(await irr.getByTestId('on-gateway').textContent()).toBe('Running on the gateway');
    expect(await paddy.getByTestId('on-gateway').textContent()).toBe(
      `The gateway refused to run it. Where: Below the low › Device to drive (水門 田んぼ1号). The previous version (v1) keeps running. Gateway: /below/device: ${REFUSAL}`,
    );
    // Japanese only in the devices' names, which are marked as names.
    const en = await wordsOf(irr);
    expect(en.length).toBe(logged[irrigation.id]!.length);
    for (const line of en) expect(line).not.toMatch(/[\u3040-\u30ff\u3400-\u9fff]/);

    await paddy.getByRole('button', { name: 'Show log' }).click();
    await paddy.getByTestId('log-text').first().waitFor();
    await expect.poll(async () => (await lines(paddy)).length, POLL).toBe(logged[band.id]!.length + 1);
    // The older gateway's one "ja / en" line, its English half, first (newest); then the band's steps in words.
    const bandLines = await lines(paddy);
    expect(bandLines[0]).toBe('daily limit of 4 runs reached');
    expect([...bandLines.slice(1)].sort()).toEqual(
      [
        'Water level at 水位センサー 田んぼ1号 2.1 cm (band 3–5 cm): open 水門 田んぼ1号 (run 1 of 4 today)',
        'sent: open 水門 田んぼ1号',
        '水門 田んぼ1号 reported "open"',
        'sent: close 水門 田んぼ1号 (because: band crossed)',
        '水門 田んぼ1号 closed after 20 min open',
      ].sort(),
    );
    expect(await accessibilityProblems(page)).toEqual([]);
    await screenshots(page, 'farmer-automations-en');
  });

  it('says what was saved in the language chosen after it', async () => {
    const irr = page.getByTestId(`automation-${irrigation.id}`);
    await irr.getByRole('button', { name: 'Edit', exact: true }).click();
    const form = page.getByTestId('automation-form');
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    const status = page.getByRole('status').filter({ hasText: 'Automation saved' });
    await status.waitFor();
    // Kept as what happened, worded when shown: the switch re-words it.
    await page.getByRole('button', { name: /Switch language/ }).click();
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    await page.getByRole('status').filter({ hasText: '自動制御を保存しました' }).waitFor();
    expect(await page.getByText('Automation saved').count()).toBe(0);
  });
  it('starts the manual override form from the override in force, so pressing it again keeps it', async () => {
    // The page is in Japanese again (the test above switched back).
    await page.getByRole('heading', { level: 1, name: '自動制御' }).waitFor();
    const gate = page.getByTestId('override-gate-1');
    const valve = page.getByTestId('override-valve-1');
    const mode = (form: typeof gate) => form.getByRole('combobox', { name: /^操作/ }).inputValue();
    const minutes = (form: typeof gate) => form.getByRole('spinbutton', { name: '時間（分）' }).inputValue();
    /** The override in force on a device, as the server has it. */
    const active = async (device: string) =>
      ((await (await farmerApi('/api/v1/farms/demo-farm/overrides')).json()) as OverrideView[]).find(
        (o) => o.device === device && o.active,
      );
    const put = async (device: string, body: { mode: OverrideView['mode']; minutes: number }) => {
      const res = await farmerApi(`/api/v1/farms/demo-farm/devices/${device}/override`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as OverrideView;
    };
    // No override: the form offers to hold the gate closed for an hour.
    await gate.getByText('手動操作はありません').waitFor();
    expect(await mode(gate)).toBe('hold_closed');
    expect(await minutes(gate)).toBe('60');

    // Another phone holds gate-1 open for 90 minutes: the page hears of it, and its form starts
    // from it — held open, with the minutes it has left (rounded up) — not from 閉めたままにする.
    const held = await put('gate-1', { mode: 'hold_open', minutes: 90 });
    await gate.getByText(/^開けたままにする · 終了 /).waitFor();
    await expect.poll(() => mode(gate), POLL).toBe('hold_open');
    expect(await minutes(gate)).toBe('90');
    // The other actuator has no override: its form is as it was.
    expect(await mode(valve)).toBe('hold_closed');
    expect(await minutes(valve)).toBe('60');

    // Pressing 手動操作を設定 again keeps the gate held open (from now on), not closed.
    const refetched = page.waitForResponse(
      (res) => res.url().endsWith('/api/v1/farms/demo-farm/overrides') && res.request().method() === 'GET',
    );
    await gate.getByRole('button', { name: '手動操作を設定' }).click();
    await expect.poll(async () => (await active('gate-1'))?.until ?? 0, POLL).toBeGreaterThan(held.until);
    expect(await active('gate-1')).toMatchObject({
      mode: 'hold_open',
      by: 'demo-farmer',
      source: 'dashboard',
    });
    await expect.poll(() => mode(gate), POLL).toBe('hold_open');
    // The page has fetched the new override and started the form from it (an effect after the
    // next paint), before the farmer types: otherwise that start would land on the typing.
    await refetched;
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50))));

    // The farmer's own changes stay in the form until an override changes: 30 minutes typed.
    await gate.getByRole('spinbutton', { name: '時間（分）' }).fill('30');
    await gate.getByRole('combobox', { name: /^操作/ }).selectOption('pause');
    expect(await minutes(gate)).toBe('30');
    expect(await mode(gate)).toBe('pause');
    await gate.getByRole('button', { name: '手動操作を設定' }).click();
    await gate.getByText(/^自動制御を一時停止 · 終了 /).waitFor();
    expect(await active('gate-1')).toMatchObject({ mode: 'pause' });
    await expect.poll(() => minutes(gate), POLL).toBe('30');

    // Ended (here, as on another phone): the form offers the default again.
    await gate.getByRole('button', { name: '手動操作を解除' }).click();
    await gate.getByText('手動操作はありません').waitFor();
    await expect.poll(() => mode(gate), POLL).toBe('hold_closed');
    expect(await minutes(gate)).toBe('60');
    expect(await active('gate-1')).toBeUndefined();
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
    expect(await accessibilityProblems(page)).toEqual([]);
  });

  it('words a rule’s own terms in Japanese, with the identifier small beside them', async () => {
    const now = Date.now();
    const own: Tip = {
      ...irrigationTip('demo-farm', 'upland-1', 'soil-1', now),
      id: `tip-own-terms-${Math.floor(now / 1000)}`,
      evidence: {
        // A co-op's own rule: the labels (edge/rules/evidence-labels.ts) know neither it nor its terms.
        rule: { id: 'coop-leaf-wetness', version: '0.3.0', params: 'defaults' },
        sources: [{ citation: '組合の病害防除暦' }],
        points: [],
        thresholds: [
          { name: 'leaf_wetness_hours', comparison: '>=', threshold: 6, value: 7, unit: 'h', hysteresis: 0 },
        ],
        quantities: [
          { name: 'spray_window', value: 3, unit: 'h' },
          // A term named after a metric the protocol knows: that metric's name.
          { name: 'soil_vwc', value: 0.21, unit: 'm3/m3' },
        ],
      },
      dedupKey: 'coop-leaf-wetness:demo-farm:upland-1',
    };
    await gw.send([{ kind: 'tip', body: own }]);
    await page.getByRole('link', { name: 'アドバイス' }).first().click();
    const card = page.getByTestId(`tip-${own.id}`);
    await card.locator('summary').filter({ hasText: '根拠' }).click();
    const term = (name: string) => card.locator('.evidence li').filter({ hasText: name });
    expect(await withoutDetail(term('leaf_wetness_hours'))).toBe(
      'ルール独自の項目：7 h （目安 ≧ 6 h・該当）',
    );
    expect(await withoutDetail(term('spray_window'))).toBe('ルール独自の項目：3 h');
    expect(await withoutDetail(term('soil_vwc'))).toBe('土壌水分：21 %');
    for (const name of ['leaf_wetness_hours', 'spray_window', 'soil_vwc']) {
      expect(latinWords(await withoutDetail(term(name)))).toEqual([]);
      // The identifier stays for an officer, small and marked as a name.
      const id = term(name).locator('small');
      expect(await id.textContent()).toBe(`(${name})`);
      expect(await id.getAttribute('translate')).toBe('no');
    }
    expect(await untranslatedWords(page, ALLOWED)).toEqual([]);
  });
});
