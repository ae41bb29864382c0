// The manual override on the gateway's own page, over real HTTP on port 0: the form and JSON set
// and end overrides only with the gateway's override code; another site's form, a wrong or
// missing code, brute force, oversized and malformed bodies, unknown devices and modes each get a
// coded error and change nothing; the page escapes what came from outside. Also the code file.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { isHatakeError } from '../../../protocol/errors.ts';
import { GatewayStore } from '../../../gateway/store.ts';
import { AutomationEngine } from '../../../gateway/automations/engine.ts';
import { automationRoutes } from '../../../gateway/automations/routes.ts';
import { renderAutomationsSection } from '../../../gateway/automations/page.ts';
import {
  loadOrCreateOverrideToken,
  newOverrideToken,
  tokenMatches,
} from '../../../gateway/automations/override-token.ts';
import { ManualClock } from './manual-clock.ts';
import { DEVICES, FARM, irrigation, jst, kitOf } from './fixtures.ts';

let dir: string;
let store: GatewayStore;
let engine: AutomationEngine;
let app: FastifyInstance;
let base: string;
const sent: string[] = [];
const TOKEN = 'K7QX-M2PD-9RTA';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-override-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
  engine = new AutomationEngine({
    store,
    publish: async (device, payload) => {
      sent.push(`${device}:${payload}`);
    },
    kitOf,
    devices: () => Object.keys(DEVICES),
    farm: FARM,
    clock: new ManualClock(jst('2026-11-28T10:00')),
    log: pino({ level: 'silent' }),
  });
  engine.start();
  const a = irrigation({ name: { ja: '<img src=x onerror=alert(1)>', en: 'x' } });
  store.putDocument('automation', a.id, 1, a, Date.now());
  engine.document({ kind: 'automation', id: a.id, version: 1, body: a, deleted: false });
  app = Fastify();
  // Many attempts from one address in this file; the limit itself is tested on its own app below.
  await app.register(automationRoutes, { engine, token: TOKEN, gateway: 'gw-test', attemptsPerMinute: 1000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await app.close();
  engine.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${base}/automations/override`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
const json = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/automations/override`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const overrideOf = (device: string) => engine.status().actuators.find((a) => a.device === device)?.override;

describe('override on the gateway page', () => {
  it('shows the page with the form and the automations, escaped, in Japanese or English', async () => {
    const res = await fetch(`${base}/automations`);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<html lang="ja">');
    expect(html).toContain('手動操作の設定');
    expect(html).toContain('<option value="gate-1">gate-1</option>');
    expect(html).not.toContain('<option value="soil-1">'); // a sensor is not an actuator
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toContain('<img');
    expect(await (await fetch(`${base}/automations?lang=en`)).text()).toContain('Set a manual override');
  });

  it('sets an override from the form with the right code (typed loosely) and redirects back', async () => {
    const res = await form({
      device: 'gate-1',
      mode: 'hold_closed',
      minutes: '90',
      by: 'Tanaka <b>',
      token: 'k7qx m2pd 9rta',
      lang: 'en',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/automations?lang=en&done=gate-1');
    expect(overrideOf('gate-1')).toMatchObject({ mode: 'hold_closed', by: 'Tanaka b', source: 'local' });
    expect(sent.at(-1)).toBe('gate-1:{"command":"close"}');
    expect(await (await fetch(`${base}/automations?lang=en&done=gate-1`)).text()).toContain('Done: gate-1');
  });

  it('takes JSON too, and ends an override with mode clear', async () => {
    const set = await json({ device: 'gate-2', mode: 'pause', minutes: 30, token: TOKEN });
    expect(set.status).toBe(200);
    expect(((await set.json()) as { override: { mode: string } }).override.mode).toBe('pause');
    const clear = await json({ device: 'gate-2', mode: 'clear', token: TOKEN });
    expect(clear.status).toBe(200);
    expect(overrideOf('gate-2')).toBeNull();
  });

  it.each([
    ['no code', { device: 'gate-2', mode: 'pause', minutes: 5 }, 401, 'HATAKE_E_AUTH'],
    [
      'a wrong code',
      { device: 'gate-2', mode: 'pause', minutes: 5, token: 'AAAA-BBBB-CCCC' },
      401,
      'HATAKE_E_AUTH',
    ],
    [
      'a code that is not a string',
      { device: 'gate-2', mode: 'pause', minutes: 5, token: [TOKEN] },
      401,
      'HATAKE_E_AUTH',
    ],
    [
      'an unknown device',
      { device: 'ghost', mode: 'pause', minutes: 5, token: TOKEN },
      404,
      'HATAKE_E_UNKNOWN_DEVICE',
    ],
    ['a sensor', { device: 'soil-1', mode: 'pause', minutes: 5, token: TOKEN }, 400, 'HATAKE_E_AUTOMATION'],
    [
      'an unknown mode',
      { device: 'gate-2', mode: 'flood', minutes: 5, token: TOKEN },
      400,
      'HATAKE_E_PAYLOAD_SCHEMA',
    ],
    [
      'minutes as words',
      { device: 'gate-2', mode: 'pause', minutes: 'ten', token: TOKEN },
      400,
      'HATAKE_E_PAYLOAD_SCHEMA',
    ],
    [
      'minutes past a week',
      { device: 'gate-2', mode: 'pause', minutes: 10_081, token: TOKEN },
      400,
      'HATAKE_E_PAYLOAD_SCHEMA',
    ],
    [
      'negative minutes',
      { device: 'gate-2', mode: 'pause', minutes: '-5', token: TOKEN },
      400,
      'HATAKE_E_PAYLOAD_SCHEMA',
    ],
    [
      'a device name of 10 000 characters',
      { device: 'g'.repeat(10_000), mode: 'pause', minutes: 5, token: TOKEN },
      413,
      'HATAKE_E_PAYLOAD_SIZE',
    ],
    ['an array', [{ device: 'gate-2' }], 400, 'HATAKE_E_PAYLOAD_SCHEMA'],
  ])('refuses %s with a coded problem and changes nothing', async (_w, body, status, code) => {
    const before = sent.length;
    const res = await json(body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await res.json()) as { code: string }).code).toBe(code);
    expect(sent.length).toBe(before);
    expect(overrideOf('gate-2')).toBeNull();
  });

  it('refuses malformed JSON with a problem', async () => {
    const res = await json('{"device": ');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
  });

  it('refuses a form another site made the browser send, even with the right code', async () => {
    const fields = { device: 'gate-2', mode: 'hold_open', minutes: '60', token: TOKEN };
    const a = await form(fields, { origin: 'http://evil.example' });
    expect(a.status).toBe(403);
    expect(await a.text()).toContain('HATAKE_E_FORBIDDEN');
    expect((await form(fields, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await form(fields, { origin: 'null' })).status).toBe(403);
    expect(overrideOf('gate-2')).toBeNull();
  });

  it('answers a wrong code in a form with the page and the error, escaped', async () => {
    const res = await form({ device: '<script>x</script>', mode: 'pause', minutes: '5', token: 'nope' });
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain('HATAKE_E_AUTH');
    expect(html).not.toContain('<script>');
  });

  it('allows at most 10 attempts a minute from one address', async () => {
    const app2 = Fastify();
    await app2.register(automationRoutes, { engine, token: TOKEN, gateway: 'gw-test' });
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await app2.inject({
        method: 'POST',
        url: '/automations/override',
        payload: { device: 'gate-2', mode: 'pause', minutes: 5, token: `WRONG-${i}` },
      });
      codes.push(r.statusCode);
    }
    expect(codes.slice(0, 10).every((c) => c === 401)).toBe(true);
    expect(codes.slice(10)).toEqual([429, 429]);
    await app2.close();
  });
});

describe('the automations section of the status page', () => {
  it('puts a critical log first, shows each valve and links the override page, escaped', () => {
    const t = jst('2026-11-28T10:20');
    const html = renderAutomationsSection(
      {
        timezone: 'Asia/Tokyo',
        automations: [
          {
            id: 'aut-1',
            name: { ja: '水', en: '<script>water</script>' },
            enabled: true,
            kind: 'band',
            problem: null,
            sensor: 'level-1 water_level',
            lastValue: { value: 2.5, time: t },
            side: 'low',
            runsToday: 1,
            maxRunsPerDay: 12,
            lastRunAt: t,
            cooldownUntil: null,
            quietHours: null,
            quietNow: false,
          },
        ],
        actuators: [
          {
            device: 'gate-2',
            metric: 'valve_state',
            reported: { value: 1, time: t },
            run: null,
            override: null,
            fault: 'never reported valve_state = 0 after 2 × "close"',
          },
        ],
        logs: [
          {
            id: 'log-00000001',
            automation: 'aut-1',
            time: t,
            event: 'gave_up',
            device: 'gate-2',
            message: 'CRITICAL: gate-2 never reported closed <b>',
            detail: { severity: 'critical' },
          },
        ],
      },
      'en',
    );
    expect(html).toContain(
      '<p class="critical">11/28 10:20 CRITICAL: gate-2 never reported closed &lt;b&gt;</p>',
    );
    expect(html).toContain('&lt;script&gt;water&lt;/script&gt;');
    expect(html).toContain('Runs today: 1/12');
    expect(html).toContain('below the band');
    // The fault in the page's language, the engine's own words kept beside it for support.
    expect(html).toContain(
      '<b class="critical">FAULT: never reported closed; check it on site</b><br><small lang="en">never reported valve_state = 0 after 2 × &quot;close&quot;</small>',
    );
    expect(html).toContain('<a href="/automations?lang=en">');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>');
  });
});

describe('the override code', () => {
  it('is made once, kept 0600, and read back on the next start', () => {
    const d = mkdtempSync(join(tmpdir(), 'hatake-token-'));
    try {
      const first = loadOrCreateOverrideToken(d);
      expect(first.created).toBe(true);
      expect(first.token).toMatch(/^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
      expect(statSync(first.file).mode & 0o777).toBe(0o600);
      const again = loadOrCreateOverrideToken(d);
      expect(again).toMatchObject({ token: first.token, created: false });
      expect(readFileSync(first.file, 'utf8').trim()).toBe(first.token);
      writeFileSync(first.file, 'short\n');
      let err: unknown;
      try {
        loadOrCreateOverrideToken(d);
      } catch (e) {
        err = e;
      }
      expect(isHatakeError(err) && err.code).toBe('HATAKE_E_CONFIG');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('matches as typed loosely, never a wrong or absurd value', () => {
    const t = newOverrideToken();
    expect(newOverrideToken()).not.toBe(t);
    expect(tokenMatches(t.toLowerCase().replace(/-/g, ' '), t)).toBe(true);
    expect(tokenMatches(`${t}X`, t)).toBe(false);
    expect(tokenMatches('', t)).toBe(false);
    expect(tokenMatches(undefined, t)).toBe(false);
    expect(tokenMatches('A'.repeat(10_000), t)).toBe(false);
  });
});
