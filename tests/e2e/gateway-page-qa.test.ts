// The gateway's status page on a phone in the barn (360 px, Chromium, no internet), fed by real
// devices over MQTT: refused data whose reason quotes a long unbroken key, and a sensor whose clock
// once ran a year ahead. The page must still fit the phone's width, and a value the device dated
// in the future must not hide the current one (the store passes over it; a metric with nothing
// else is shown marked as dated in the future: tests/unit/gateway-page-qa.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { deviceTopic } from '../../protocol/topics.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { launch, phonePage, screenshots, watchTraffic, type Traffic } from './browser.ts';

const YEAR = 365 * 86_400_000;
let stack: Stack;
let browser: Browser;
let page: Page;
let traffic: Traffic;

beforeAll(async () => {
  stack = await startStack({ server: false });
  const c = await mqtt.connectAsync(stack.mqttUrl, {
    username: 'soil-1',
    password: stack.secrets['soil-1'],
    reconnectPeriod: 0,
  });
  const up = deviceTopic('demo-farm', 'soil-1', 'up');
  // A payload with a key no kit has: the reason quotes it twice, 120 letters without a space.
  await c.publishAsync(up, JSON.stringify({ values: { soil_vwc: 0.2 }, [`x_${'z'.repeat(118)}`]: 1 }), {
    qos: 1,
  });
  // The device's clock a year ahead once (flagged clock_skew, kept), then right again.
  await c.publishAsync(up, JSON.stringify({ time: Date.now() + YEAR, values: { soil_vwc: 0.41 } }), {
    qos: 1,
  });
  await c.publishAsync(up, JSON.stringify({ time: Date.now(), values: { soil_vwc: 0.246 } }), { qos: 1 });
  await c.endAsync();
  browser = await launch();
  page = await phonePage(browser, `http://127.0.0.1:${stack.gateway.httpPort}`);
  traffic = watchTraffic(page);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the gateway status page on a phone', () => {
  for (const lang of ['ja', 'en'] as const) {
    it(`fits 360 px with a long refused key, in ${lang}, asking for nothing beyond the gateway`, async () => {
      await page.goto(`/?lang=${lang}`);
      expect(await page.getAttribute('html', 'lang')).toBe(lang);
      expect(await page.textContent('body')).toContain('z'.repeat(40)); // the refused data is listed
      // screenshots() fails when the page is wider than the window.
      await screenshots(page, `gateway-page-qa-${lang}`);
      const origin = `http://127.0.0.1:${stack.gateway.httpPort}/`;
      expect(traffic.requests.filter((u) => !u.startsWith(origin))).toEqual([]);
    });
  }

  it('shows the current value, not one the device dated a year ahead', async () => {
    await page.goto('/');
    const row = page.locator('tr', { has: page.locator('th.dev', { hasText: 'soil-1' }) });
    const text = (await row.innerText()).replace(/\s+/g, ' ');
    expect(text).toContain('土壌水分: 24.6 %');
    expect(text).not.toContain('41.0');
    expect(text).not.toContain('clock_skew');
  });
});
