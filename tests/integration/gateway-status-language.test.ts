// The gateway's status page in the farmer's language when it matters: a registry the server sent
// down (with a LoRaWAN soil sensor whose kit names its own metric), then the server gone — a
// real refused connection — read in Japanese, with the raw error kept beside it for support;
// the English switch reads English, and /api/status keeps its English lines.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type { GatewayStatus } from '../../gateway/http.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { englishOutsideLangEn } from '../helpers/page-language.ts';
import { eventually, startRegisteredStack, type Stack } from '../helpers/stack.ts';

let dir: string;
let server: HatakeServer | undefined;
let stack: Stack;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-status-lang-'));
  const r = await startRegisteredStack(dir, 'gw-lang');
  server = r.server;
  stack = r.stack;
  base = `http://127.0.0.1:${stack.gateway.httpPort}`;
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const page = async (lang: 'ja' | 'en') => (await fetch(`${base}/?lang=${lang}`)).text();

describe('the status page in the farmer’s language', () => {
  it('says a registry the server sent down, and a kit’s own metric, in Japanese', async () => {
    const gw = stack.gateway;
    const reg = JSON.parse(readFileSync(gw.config.registry, 'utf8')) as Registry;
    reg.devices.push({ id: 'lse-1', kit: 'dragino-lse01', secretHash: hashSecret('x'.repeat(32)) });
    server!.ctx.downlink.publish('demo-farm', 'registry', 'registry', reg);
    await eventually(() => gw.events.recent.find((e) => e.type === 'downlink_applied'), 20_000, 50);
    expect(gw.registry.get('lse-1')).toBeDefined();
    // A reading of the LoRaWAN sensor's own metric, as the network-server uplink stores it.
    const now = Date.now();
    gw.store.commit(
      [{ device: 'lse-1', metric: 'probe_temperature', value: 21.5, unit: 'degC', time: now, flags: [] }],
      [],
      now,
    );
    const version = gw.events.recent.find((e) => e.type === 'downlink_applied')!.detail!.version;

    const ja = await page('ja');
    expect(ja).toContain(`サーバーから届いた機器の登録を適用しました（registry、版 ${version}）`);
    expect(ja).toContain('外付け温度センサー (DS18B20): <b>21.5 °C</b>');
    expect(ja).not.toContain('applied registry');
    expect(englishOutsideLangEn(ja)).toEqual([]);

    const en = await page('en');
    expect(en).toContain(`Applied the device registry sent by the server (registry, version ${version})`);
    expect(en).toContain('External probe temperature (DS18B20): <b>21.5 °C</b>');

    const s = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
    expect(s.events.find((e) => e.type === 'downlink_applied')!.message).toMatch(
      /^applied registry registry v\d+: registry with \d+ devices$/,
    );
    expect(s.devices.find((d) => d.id === 'lse-1')!.latest[0]).toMatchObject({
      metric: 'probe_temperature',
      name: { ja: '外付け温度センサー (DS18B20)', en: 'External probe temperature (DS18B20)' },
    });
  });

  it('says a refused connection to the server in Japanese, with the raw error beside it', async () => {
    const gw = stack.gateway;
    await server!.close(); // nothing listens on the server's port any more
    server = undefined;
    gw.store.enqueue(
      'event',
      { id: 'status-lang-after-1', type: 'disk_ok', severity: 'info', time: Date.now(), message: 'x' },
      Date.now(),
    );
    gw.sync!.kick();
    await eventually(() => /ECONNREFUSED/.test(gw.sync!.status.lastError ?? ''), 20_000, 50);

    const ja = await page('ja');
    expect(ja).toContain(
      '<li>サーバーに接続できません。データはゲートウェイに保存し、つながり次第送ります</li>',
    );
    expect(ja).toMatch(
      /<dt>直近のエラー<\/dt><dd>サーバーに接続できません（[^<]+）<br><small lang="en">network: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+<\/small><\/dd>/,
    );
    expect(ja).not.toContain('server unreachable');
    expect(englishOutsideLangEn(ja)).toEqual([]);

    const en = await page('en');
    expect(en).toContain('<li>The server cannot be reached; data is kept on the gateway');
    expect(en).toContain('<dt>Last error</dt><dd>Cannot connect to the server');

    const s = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
    expect(s.health.problems).toContain('server unreachable');
    expect(s.health.issues).toContainEqual({ code: 'server_unreachable' });
    expect(s.sync.lastError).toMatch(/^network: fetch failed: connect ECONNREFUSED/);
  });
});
