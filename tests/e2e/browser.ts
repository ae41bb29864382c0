// Debian's Chromium driven by playwright-core for the end-to-end journeys: one browser per test
// file, headless, no network but the server under test, a fresh profile (playwright makes a new
// temporary user-data-dir for every launch), and screenshots at 360 px and 1280 px wide saved as
// test artifacts under artifacts/screenshots/ (gitignored).
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureUiBuilt } from './ui-build.ts';

export const SCREENSHOT_DIR = join(import.meta.dirname, '../../artifacts/screenshots');
export const CHROMIUM = process.env.HATAKE_CHROMIUM ?? '/usr/bin/chromium';

export async function launch(): Promise<Browser> {
  await ensureUiBuilt();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page at phone width with downloads allowed, Japanese locale, Tokyo time. */
export async function phonePage(browser: Browser, baseURL: string): Promise<Page> {
  const context = await browser.newContext({
    baseURL,
    viewport: { width: 360, height: 740 },
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
    acceptDownloads: true,
  });
  // Nothing but the server under test: any other request fails the journey.
  await context.route(/^(?!https?:\/\/127\.0\.0\.1[:/]|data:|blob:)/, (route) => route.abort());
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

/** What a page's browser context asked for and the dialogs its pages opened (each dismissed). */
export interface Traffic {
  /** Every URL requested (or tried) from the context, in order: pages, fetches, images, files. */
  requests: string[];
  dialogs: string[];
  /** Records (and dismisses) the dialogs of another page of the context too. */
  watchDialogs(page: Page): void;
}

/** Starts recording a page's context's requests and its dialogs. */
export function watchTraffic(page: Page): Traffic {
  const traffic: Traffic = {
    requests: [],
    dialogs: [],
    watchDialogs(p) {
      p.on('dialog', (d) => {
        traffic.dialogs.push(d.message());
        void d.dismiss();
      });
    },
  };
  page.context().on('request', (r) => traffic.requests.push(r.url()));
  traffic.watchDialogs(page);
  return traffic;
}

/** Saves the page as it looks at 360 px and at 1280 px wide (failing if it overflows); returns the files. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const files: string[] = [];
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: width === 360 ? 740 : 900 });
    await page.waitForTimeout(150); // Leaflet and uPlot resize on the next frame
    // The page fits the width: wide tables scroll inside their own box, the page does not.
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    if (scrollWidth > width)
      throw new Error(`${name}: the page is ${scrollWidth} px wide in a ${width} px window`);
    const file = join(SCREENSHOT_DIR, `${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  await page.setViewportSize({ width: 360, height: 740 });
  return files;
}

/** Signs in through the login form. */
export async function signInAs(page: Page, user: string, password = 'hatake-demo'): Promise<void> {
  await page.goto('/');
  await page.getByLabel('ユーザー名').fill(user);
  await page.getByLabel('パスワード').fill(password);
  await page.getByRole('button', { name: 'ログイン' }).click();
  await page.getByRole('button', { name: 'ログアウト' }).waitFor();
}

/**
 * Latin-letter words visible on the page outside elements marked translate="no" (ids, units,
 * codes, data the farmer typed). In Japanese, farmer pages must show none but the allowed ones.
 */
export async function untranslatedWords(page: Page, allowed: readonly string[]): Promise<string[]> {
  const words = await page.evaluate(() => {
    const out: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('[translate="no"], script, style, noscript, .leaflet-control-attribution'))
        continue;
      if (el.closest('[hidden]') || el.getClientRects().length === 0) continue;
      for (const m of (n.textContent ?? '').matchAll(/[A-Za-z]{2,}/g)) out.push(m[0]);
    }
    return out;
  });
  return [...new Set(words)].filter((w) => !allowed.includes(w));
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * WCAG 2 A/AA problems axe-core finds on the page as it is now (labels, names, contrast, roles,
 * keyboard focusability), as "rule: selector" lines; serious and critical ones only.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (
            ctx: unknown,
            opts: unknown,
          ) => Promise<{
            violations: { id: string; impact: string | null; nodes: { target: unknown[] }[] }[];
          }>;
        };
      }
    ).axe;
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => String(n.target[0])),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.targets.map((t) => `${v.id}: ${t}`));
}

/** Signs in with the keyboard only: Tab to the user name, type, Tab, type, Enter. */
export async function signInByKeyboard(page: Page, user: string, password = 'hatake-demo'): Promise<void> {
  await page.goto('/');
  await page.getByLabel('ユーザー名').waitFor();
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name === 'username'))
      break;
  }
  await page.keyboard.type(user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'ログアウト' }).waitFor();
}

/**
 * Latin letters allowed on Japanese farmer pages outside translate="no": units inside the texts
 * the rules and the engine write (e.g. "約 20 mm の灌水").
 */
export const ALLOWED_UNITS = ['mm', 'cm', 'kg', 'ha'];
