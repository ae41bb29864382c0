// No script injection through names or notes shown in any HTML hatake renders: the gateway's status
// page (device ids, kits, dead-letter reasons, events, sync errors — from outside), the printable
// provisioning sheet (farm, field and device names a partner typed), both as files and as the
// server returns it, and the web app in a real browser (field and device names drawn on the map;
// the free text people type or gateways sync: an officer's edit and reject reasons on the review
// page, a synced tip's title and text on the farmer's tips page, automation names on the
// automations page, a growth-stage note on the field page). Every hostile string must come out as
// text: the page holds none of the markup it carried, and none of it runs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { renderStatusPage, type GatewayStatus } from '../../gateway/http.ts';
import { provisionFiles } from '../../firmware-config/firmware-files.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { AutomationView, ReviewDetail, TipView } from '../../protocol/review.ts';
import {
  DEMO_MANIFEST_FILE,
  demoManifest,
  eventually,
  signIn,
  startServer,
  startStack,
} from '../helpers/stack.ts';
import { fcParams } from '../helpers/hostile-values.ts';
import { farmWithGates, irrigationTip, SeedGateway } from '../e2e/seed.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { launch, phonePage, signInAs } from '../e2e/browser.ts';

/** Markup that must never survive into a page as markup; `i` makes each one findable. */
const PAYLOADS = [
  (i: number) => `<x-evil${i}>`,
  (i: number) => `"><x-evil${i} onload=alert(${i})>`,
  (i: number) => `'><x-evil${i}>`,
  (i: number) => `</title><x-evil${i}>`,
  (i: number) => `<!--<x-evil${i}>-->`,
  (i: number) => `<img src=x onerror=alert(${i})><x-evil${i}>`,
];
const evil = () => fc.tuple(fc.constantFrom(...PAYLOADS), fc.nat(999)).map(([p, i]) => p(i));

/**
 * Markup of the payloads that came through unescaped: their tags. (An attribute such as
 * onerror=alert inside escaped text is harmless; breaking out of a tag needs a raw `<` or quote.)
 */
const injected = (html: string) => html.match(/<x-evil\d+|<img src=x/g) ?? [];

describe('the gateway status page', () => {
  it('escapes every string of the status, in both languages', () => {
    // A status with every part filled; each of its strings is then replaced by hostile markup.
    const sample: GatewayStatus = {
      gateway: 'gw',
      farm: 'farm',
      time: 1_780_000_000_000,
      health: {
        ok: false,
        problems: ['p', 'q', 'r'],
        issues: [
          { code: 'devices_silent', devices: ['d', 'e'] },
          { code: 'valve_not_closed', device: 'v' },
          { code: 'server_unreachable' },
        ],
      },
      devices: [
        {
          id: 'd',
          kit: 'k',
          lastSeen: 1_779_999_000_000,
          online: true,
          silent: true,
          battery: 3.3,
          rssi: -80,
          snr: 5,
          loraGateway: 'lg',
          loraGateways: 2,
          latest: [
            { metric: 'm', value: 1.5, unit: 'u', time: 1_780_000_000_000, flags: ['f'] },
            {
              metric: 'k',
              value: 2,
              unit: 'u',
              time: 1_780_000_000_000,
              flags: [],
              name: { ja: 'n', en: 'n' },
            },
          ],
        },
      ],
      deadLetters: [{ time: 1_780_000_000_000, device: 'd', topic: 't', code: 'c', reason: 'r' }],
      sync: {
        configured: true,
        backlog: 1,
        oldestAgeMs: 5,
        lastSuccess: null,
        lastError: 'e',
        stopped: 's',
        sentItems: 0,
        backlogBytes: 10,
        throughput: 1,
        clockOffsetMs: 0,
        downlinkVersion: 0,
        downlinkError: 'de',
        configVersion: 7,
      },
      disk: {
        dbBytes: 1,
        walBytes: 1,
        budgetBytes: 1e9,
        fsFreeBytes: 1e9,
        full: true,
        retention: {
          rawMs: 90 * 86_400_000,
          minRawMs: 14 * 86_400_000,
          shortenedBefore: 1_779_000_000_000,
          keptMs: 20 * 86_400_000,
          pressure: true,
          atFloor: false,
        },
      },
      events: [
        { time: 1_780_000_000_000, type: 'x', severity: 'warning', message: 'm', device: 'd' },
        {
          time: 1_780_000_000_000,
          type: 'device_silent',
          severity: 'warning',
          message: 'm',
          device: 'd',
          detail: { lastSeen: 1_779_999_000_000, intervalS: 60, silentMin: 10 },
        },
        {
          time: 1_780_000_000_000,
          type: 'downlink_refused',
          severity: 'critical',
          message: 'm',
          detail: { kind: 'k', id: 'i', version: 2, code: 'c', reason: 'r' },
        },
        {
          time: 1_780_000_000_000,
          type: 'disk_full',
          severity: 'critical',
          message: 'm',
          detail: { fsFreeBytes: 1, fsLow: true, atRetentionFloor: false, floorDays: 't' },
        },
      ],
      tips: [
        {
          id: 'tip',
          kind: 'irrigation',
          severity: 'warning',
          field: 'f',
          title: { ja: 't', en: 't' },
          text: { ja: 't', en: 't' },
          created: 1_780_000_000_000,
        },
      ],
      recommendations: [{ id: 'rec', field: 'f', status: 'approved', totalNKg: 12 }],
      automations: {
        timezone: 'Asia/Tokyo',
        automations: [
          {
            id: 'a',
            name: { ja: 'n', en: 'n' },
            enabled: true,
            kind: 'threshold',
            problem: 'p',
            sensor: 's',
            trigger: { device: 'd', metric: 'm', unit: 'u', name: { ja: 'n', en: 'n' } },
            lastValue: { value: 0.2, time: 1_780_000_000_000 },
            side: 'low',
            runsToday: 1,
            maxRunsPerDay: 2,
            lastRunAt: 1_780_000_000_000,
            cooldownUntil: 1_780_000_600_000,
            quietHours: { from: '22:00', to: '05:00' },
            quietNow: false,
          },
        ],
        actuators: [
          {
            device: 'v',
            metric: 'valve_state',
            reported: { value: 1, time: 1_780_000_000_000 },
            run: {
              owner: 'a',
              role: 'r',
              phase: 'opening',
              command: 'open',
              startedAt: 1_780_000_000_000,
              openedAt: null,
              closesItselfAt: null,
              closeAt: 1_780_001_800_000,
              maxOpenAt: 1_780_002_400_000,
              attempts: 1,
            },
            override: { mode: 'hold_closed', until: 1_780_003_600_000, by: 'b', source: 'local' },
            fault: 'f',
          },
        ],
        logs: [
          {
            id: 'log-00001',
            automation: 'a',
            time: 1_780_000_000_000,
            event: 'command_sent',
            device: 'v',
            message: 'm',
            text: { ja: 'm', en: 'm' },
            detail: { k: 'v' },
          },
        ],
      },
    };
    // The farm's time zone is checked when the manifest is loaded (an IANA name or refused);
    // problem codes and event types are the gateway's own, kept so their sentences are rendered
    // with the hostile ids and details in them.
    const KEPT = new Set(['timezone', 'code', 'type']);
    const withStrings = (v: unknown, next: () => string): unknown =>
      typeof v === 'string'
        ? next()
        : Array.isArray(v)
          ? v.map((x) => withStrings(x, next))
          : v !== null && typeof v === 'object'
            ? Object.fromEntries(
                Object.entries(v).map(([k, x]) => [k, KEPT.has(k) ? x : withStrings(x, next)]),
              )
            : v;
    fc.assert(
      fc.property(
        fc.array(evil(), { minLength: 1, maxLength: 40 }),
        fc.constantFrom<'ja' | 'en'>('ja', 'en'),
        (names, lang) => {
          let k = 0;
          const status = withStrings(sample, () => names[k++ % names.length]!) as GatewayStatus;
          const html = renderStatusPage(status, lang);
          expect(injected(html)).toEqual([]);
          expect(html).not.toMatch(/<script/i);
        },
      ),
      fcParams(200),
    );
  });

  it('shows a device’s hostile payload as text on the live page', async () => {
    const stack = await startStack({ server: false });
    try {
      const client = await mqtt.connectAsync(stack.mqttUrl, {
        username: 'soil-1',
        password: stack.secrets['soil-1'],
        reconnectPeriod: 0,
      });
      const planted = PAYLOADS.map((p, i) => p(i));
      for (const s of planted) {
        // An unknown metric named with markup, and a value that is markup: both end in dead-letter reasons.
        await client.publishAsync(
          deviceTopic('demo-farm', 'soil-1', 'up'),
          JSON.stringify({ values: { [s]: 1 } }),
          { qos: 1 },
        );
        await client.publishAsync(
          deviceTopic('demo-farm', 'soil-1', 'up'),
          JSON.stringify({ values: { soil_vwc: s } }),
          { qos: 1 },
        );
      }
      await client.endAsync();
      for (const lang of ['ja', 'en']) {
        const res = await fetch(`http://127.0.0.1:${stack.gateway.httpPort}/?lang=${lang}`);
        const html = await res.text();
        expect(res.headers.get('content-type')).toMatch(/text\/html/);
        expect(html).toContain('x-evil0'); // the reasons are on the page …
        expect(injected(html)).toEqual([]); // … as text
      }
    } finally {
      await stack.close();
    }
  });
});

/** The demo manifest with every name a partner types replaced by hostile markup. */
function hostileManifest(names: string[]): Manifest {
  const m = demoManifest();
  let k = 0;
  const next = () => names[k++ % names.length]!;
  m.farm.name = next();
  for (const f of m.fields) f.name = next();
  for (const d of m.devices) d.name = next();
  return m;
}

describe('the provisioning sheet', () => {
  const catalogue = loadCatalogue();

  it('escapes farm, field and device names in the sheet file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-sheet-'));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(evil(), { minLength: 3, maxLength: 8 }), async (names) => {
          const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
          const res = await provisionFiles({
            manifest: hostileManifest(names),
            catalogue,
            outDir: out,
            broker: { host: '127.0.0.1', port: 1883, tls: false },
          });
          const html = readFileSync(res.sheetFile, 'utf8');
          expect(html).toContain('x-evil');
          expect(injected(html)).toEqual([]);
          // The sheet forbids scripts outright (CSP), so a miss would still not run.
          expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/);
        }),
        fcParams(15),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('escapes them in the sheet the server returns to the partner', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-sheet-srv-'));
    const { server, url } = await startServer(dir);
    try {
      const partner = await signIn(url, 'demo-partner');
      const names = PAYLOADS.map((p, i) => p(i));
      const text = readFileSync(DEMO_MANIFEST_FILE, 'utf8')
        .replace('name: はたけデモ農場', `name: ${JSON.stringify(names[0])}`)
        .replace('name: 田んぼ1号（コシヒカリ）', `name: ${JSON.stringify(names[1])}`)
        .replace('name: 土壌センサー 畑1号', `name: ${JSON.stringify(names[5])}`);
      const res = await partner('/api/v1/farms/demo-farm/provision', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, broker: { host: '127.0.0.1' } }),
      });
      expect(res.status).toBe(200);
      const { sheetHtml } = (await res.json()) as { sheetHtml: string };
      expect(sheetHtml).toContain('x-evil5');
      expect(injected(sheetHtml)).toEqual([]);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the web app in a real browser', () => {
  let browser: Browser | undefined;
  let dir: string;
  let close: (() => Promise<void>) | undefined;
  let url = '';
  let gw: SeedGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hatake-xss-'));
    const started = await startServer(dir);
    url = started.url;
    close = () => started.server.close();
    // The farm's gateway syncs a manifest whose field and device names carry markup (with its
    // water gates, so a tip can become an automation below).
    const m = farmWithGates();
    m.fields[1]!.name = '<img src=x onerror="window.__xss=(window.__xss||0)+1">畑';
    for (const d of m.devices) d.name = '<img src=y onerror="window.__xss=(window.__xss||0)+1">機器';
    gw = new SeedGateway(started.server, url, 'demo-farm', 'gw-xss');
    await gw.send([{ kind: 'manifest', body: m }]);
    browser = await launch();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows a field’s and a device’s hostile names as text on the field map, hovered or not', async () => {
    const page = await phonePage(browser!, url);
    await signInAs(page, 'demo-farmer');
    await page.goto(`${url}/#/farm/demo-farm/field/upland-1`);
    await page.locator('.leaflet-overlay-pane path').first().waitFor();
    // Hover every shape drawn on the map: Leaflet opens its tooltip with the name in it.
    const shapes = page.locator('.leaflet-overlay-pane path');
    for (let i = 0; i < (await shapes.count()); i++) await shapes.nth(i).hover({ force: true });
    await eventually(async () => (await page.locator('.leaflet-tooltip').count()) > 0, 5_000);
    await page.waitForTimeout(300); // an injected <img> fails to load and runs its onerror
    const ran = await page.evaluate(() => (window as unknown as { __xss?: number }).__xss ?? 0);
    const injectedImgs = await page.locator('.leaflet-tooltip img, .leaflet-popup img').count();
    expect({ ran, injectedImgs }).toEqual({ ran: 0, injectedImgs: 0 });
    await expect(page.locator('.leaflet-tooltip').first().textContent()).resolves.toContain('<img');
  }, 60_000);

  describe('free text typed by people or synced by a gateway', () => {
    /**
     * A note that would run if it were parsed as HTML: an image whose onerror counts into
     * window.__xss and opens a dialog, a script doing the same, and an element named by `tag`.
     */
    const note = (tag: string) =>
      `<img src=x onerror="window.__xss=(window.__xss||0)+1;alert('${tag}')"><script>window.__xss=(window.__xss||0)+1</script><${tag}>${tag}</${tag}>`;
    const TAGS = ['x-edit-reason', 'x-reject-reason', 'x-tip-title', 'x-tip-text', 'x-stage-note'];
    const text = {
      editReason: note('x-edit-reason'),
      rejectReason: note('x-reject-reason'),
      tipTitle: note('x-tip-title'),
      tipText: note('x-tip-text'),
      stageNote: note('x-stage-note'),
      // Automation names refuse < and > (PlainName): what they may hold is quotes and entities,
      // which must neither close an attribute nor be decoded into markup.
      automation: `"' onfocus="window.__xss=1" autofocus x=' &lt;img src=x onerror=window.__xss=1&gt;`,
    };
    let recId: string;
    let tipId: string;
    /** The name the server gave the automation it made from the hostile tip. */
    let fromTip: string;
    /** Signed-in pages, each counting the dialogs it is shown. */
    let officerPage: SignedIn;
    let farmerPage: SignedIn;
    type SignedIn = { page: Page; dialogs: string[] };
    type Fetch = Awaited<ReturnType<typeof signIn>>;
    const post = (as: Fetch, path: string, body: unknown, method = 'POST') =>
      as(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const pageAs = async (user: string): Promise<SignedIn> => {
      const page = await phonePage(browser!, url);
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await signInAs(page, user);
      return { page, dialogs };
    };

    beforeAll(async () => {
      const pages = Promise.all([pageAs('demo-officer'), pageAs('demo-farmer')]);
      const [officer, farmer, rec] = await Promise.all([
        signIn(url, 'demo-officer'),
        signIn(url, 'demo-farmer'),
        demoRecommendation(Date.now() - 3_600_000),
      ]);
      // The gateway syncs a recommendation and an irrigation tip whose title and text carry markup.
      recId = rec.id;
      const tip = irrigationTip('demo-farm', 'upland-1', 'soil-1');
      tipId = tip.id;
      await gw.send([
        { kind: 'recommendation', body: rec },
        {
          kind: 'tip',
          body: {
            ...tip,
            title: { ja: text.tipTitle, en: text.tipTitle },
            text: { ja: text.tipText, en: text.tipText },
          },
        },
      ]);
      const review = async () => {
        // The officer edits a zone's rate with a reason, then rejects it with another.
        const detail = (await (await officer(`/api/v1/reviews/${recId}`)).json()) as ReviewDetail;
        const edit = await post(officer, `/api/v1/reviews/${recId}/edit`, {
          zones: [{ zone: rec.zones[0]!.id, kgNHa: 20 }],
          reason: text.editReason,
          revision: detail.revision,
        });
        expect(edit.status, await edit.clone().text()).toBe(200);
        const edited = ((await edit.json()) as { review: ReviewDetail }).review;
        const reject = await post(officer, `/api/v1/reviews/${recId}/reject`, {
          reason: text.rejectReason,
          revision: edited.revision,
        });
        expect(reject.status, await reject.clone().text()).toBe(200);
      };
      const automations = async () => {
        // Markup in an automation's name is refused outright, naming the field…
        const automation = {
          farm: 'demo-farm',
          field: 'upland-1',
          enabled: false,
          trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
          action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
          limits: { maxRunsPerDay: 2, maxOpenMinutes: 45 },
        };
        const refused = await post(farmer, '/api/v1/automations', {
          ...automation,
          name: { ja: note('x-automation'), en: 'markup' },
        });
        expect(refused.status).toBe(400);
        expect(await refused.json()).toMatchObject({ pointer: '/name/ja' });
        // …what a name may hold is kept as typed…
        const made = await post(farmer, '/api/v1/automations', {
          ...automation,
          name: { ja: text.automation, en: text.automation },
        });
        expect(made.status, await made.clone().text()).toBe(201);
        expect(((await made.json()) as AutomationView).name.ja).toBe(text.automation);
        // …and one made from the hostile tip is named after its title, markup removed.
        const automated = await post(farmer, `/api/v1/tips/${tipId}/automate`, {});
        expect(automated.status, await automated.clone().text()).toBe(200);
        fromTip = ((await automated.json()) as { automation: AutomationView }).automation.name.ja;
        expect(fromTip).toContain('x-tip-title');
        expect(fromTip).not.toMatch(/[<>]/);
        const tips = (await (await farmer('/api/v1/tips?farm=demo-farm')).json()) as TipView[];
        expect(tips.find((v) => v.tip.id === tipId)?.tip.title.ja).toBe(text.tipTitle);
      };
      const stage = async () => {
        // The farmer records the paddy's growth stage, today on the farm's clock, with a hostile note.
        const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date());
        const res = await post(
          farmer,
          '/api/v1/farms/demo-farm/fields/paddy-1/stage',
          { stage: 'tillering', date: today, note: text.stageNote },
          'PUT',
        );
        expect(res.status, await res.clone().text()).toBe(200);
      };
      await Promise.all([review(), automations(), stage()]);
      [officerPage, farmerPage] = await pages;
    }, 60_000);
    afterAll(async () => {
      await officerPage?.page.context().close();
      await farmerPage?.page.context().close();
    });

    /** Each string is on the page as visible text, and nothing of any payload is markup or ran. */
    async function expectText({ page, dialogs }: SignedIn, shown: string[]) {
      for (const s of shown) await page.getByText(s).first().waitFor({ state: 'visible' });
      await page.waitForTimeout(300); // an injected <img> fails to load and runs its onerror
      const found = await page.evaluate(
        (tags) => ({
          ran: (window as unknown as { __xss?: number }).__xss ?? 0,
          elements: document.querySelectorAll([...tags, 'img[src="x"]'].join(',')).length,
          scripts: Array.from(document.querySelectorAll('script')).filter((e) =>
            e.textContent?.includes('__xss'),
          ).length,
          // The app sets no inline handlers (Preact adds listeners): any is the payload's.
          handlers: document.querySelectorAll('[onerror],[onload],[onfocus]').length,
        }),
        TAGS,
      );
      expect({ ...found, dialogs }).toEqual({ ran: 0, elements: 0, scripts: 0, handlers: 0, dialogs: [] });
    }

    it('shows the officer’s edit and reject reasons as text on the review page', async () => {
      const { page } = officerPage;
      await page.goto(`${url}/#/review/${recId}`);
      const audit = page.getByTestId('audit-log');
      await audit.waitFor();
      await expectText(officerPage, [text.editReason, text.rejectReason]);
      await expect(audit.textContent()).resolves.toContain(text.editReason);
      await expect(audit.textContent()).resolves.toContain(text.rejectReason);
    }, 60_000);

    it('shows a synced tip’s title and text as text on the farmer’s tips page', async () => {
      const { page } = farmerPage;
      await page.goto(`${url}/#/farm/demo-farm/tips`);
      const card = page.getByTestId(`tip-${tipId}`);
      await card.waitFor();
      await expectText(farmerPage, [text.tipTitle, text.tipText]);
      await expect(card.locator('h2').textContent()).resolves.toContain(text.tipTitle);
      await expect(card.locator('p').first().textContent()).resolves.toBe(text.tipText);
    }, 60_000);

    it('shows automation names as text on the automations page', async () => {
      const { page } = farmerPage;
      await page.goto(`${url}/#/farm/demo-farm/automations`);
      await expectText(farmerPage, [text.automation, fromTip]);
      const names = await page.locator('h2').allTextContents();
      expect(names).toEqual(expect.arrayContaining([text.automation, fromTip]));
    }, 60_000);

    it('shows a growth-stage note as text on the field page', async () => {
      const { page } = farmerPage;
      await page.goto(`${url}/#/farm/demo-farm/field/paddy-1`);
      const history = page.getByTestId('field-stage').getByTestId('stage-history');
      await history.waitFor();
      await expectText(farmerPage, [text.stageNote]);
      await expect(history.locator('li').first().textContent()).resolves.toContain(text.stageNote);
    }, 60_000);
  });
});
