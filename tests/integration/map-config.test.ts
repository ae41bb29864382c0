// The maps' base layer in server.yaml (`map.baseLayer`): a good one loads with its settings, and
// each mistake an administrator can make — not a tile template, a template without {z}/{x}/{y}, a
// placeholder Leaflet does not fill, a user name and password in the URL, a zoom out of range, a
// misspelt setting — is refused at its file, line and column with what the setting expects. The
// server gives the layer, its defaults filled in, to every signed-in user (GET /api/v1/map) and
// null when there is none; nobody signed in gets a 401.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import type { MapConfig } from '../../protocol/server-config.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { seedDemoUsers } from '../../dashboard/demo.ts';
import { signIn } from '../helpers/stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-map-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GSI = 'https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png';

let n = 0;
/** Writes server.yaml with the given map section (YAML text, from line 4) and loads it. */
function load(map: string): ReturnType<typeof loadServerConfig> {
  const file = join(dir, `server-${++n}.yaml`);
  writeFileSync(file, `dataDir: ./data\nhttp:\n  port: 8080\n${map}`);
  return loadServerConfig(file);
}
function refusal(map: string): HatakeError {
  try {
    load(map);
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('the config was accepted');
}
/** A map section with one base-layer URL (on line 6). */
const withUrl = (url: string) => `map:\n  baseLayer:\n    url: "${url}"\n`;

describe('map.baseLayer in server.yaml', () => {
  it('loads a base layer with its attribution and deepest zoom', () => {
    const c = load(`map:
  baseLayer:
    url: ${GSI}
    attribution: 地理院タイル
    maxZoom: 18
`);
    expect(c.map).toEqual({ baseLayer: { url: GSI, attribution: '地理院タイル', maxZoom: 18 } });
  });

  it('has none by default, and accepts an empty map section', () => {
    expect(load('').map).toBeUndefined();
    expect(load('map: {}\n').map).toEqual({});
  });

  it.each([
    ['plain http', 'http://tiles.coop.example.jp/{z}/{x}/{y}.png'],
    ['subdomains and a retina suffix', 'https://{s}.tile.example.org/{z}/{x}/{y}{r}.png'],
    ['an API key in the query', 'https://tiles.example.jp/v1/{z}/{x}/{y}.png?key=pk_public_123'],
    ['a port and a path before the tile', 'https://10.0.0.5:8443/styles/basic/{z}/{y}/{x}.webp'],
  ])('accepts %s', (_what, url) => {
    expect(load(withUrl(url)).map?.baseLayer?.url).toBe(url);
  });

  it.each([
    [
      'a relative address',
      withUrl('tiles/{z}/{x}/{y}.png'),
      '/map/baseLayer/url',
      6,
      'http(s) tile template',
    ],
    [
      'javascript:',
      withUrl('javascript:alert(1)//{z}/{x}/{y}'),
      '/map/baseLayer/url',
      6,
      'http(s) tile template',
    ],
    ['another scheme', withUrl('ftp://tiles.example.jp/{z}/{x}/{y}.png'), '/map/baseLayer/url', 6, 'http(s)'],
    [
      'a space in the URL',
      withUrl('https://tiles.example.jp/my tiles/{z}/{x}/{y}.png'),
      '/map/baseLayer/url',
      6,
      'http(s)',
    ],
    [
      'a template without {y}',
      withUrl('https://tiles.example.jp/{z}/{x}.png'),
      '/map/baseLayer/url',
      6,
      'has no {y}',
    ],
    [
      'one image for every tile',
      withUrl('https://tiles.example.jp/base.png'),
      '/map/baseLayer/url',
      6,
      'has no {z}, {x}, {y}',
    ],
    [
      'a placeholder Leaflet does not fill',
      withUrl('https://tiles.example.jp/{z}/{x}/{-y}.png'),
      '/map/baseLayer/url',
      6,
      'unknown placeholder {-y}',
    ],
    [
      'a user name and password in the URL',
      withUrl('https://coop:secret@tiles.example.jp/{z}/{x}/{y}.png'),
      '/map/baseLayer/url',
      6,
      'user name or password',
    ],
    [
      'a zoom past 22',
      `map:\n  baseLayer:\n    url: ${GSI}\n    maxZoom: 23\n`,
      '/map/baseLayer/maxZoom',
      7,
      'deepest zoom',
    ],
    [
      'a zoom of 12.5',
      `map:\n  baseLayer:\n    url: ${GSI}\n    maxZoom: 12.5\n`,
      '/map/baseLayer/maxZoom',
      7,
      'integer',
    ],
    [
      'an empty attribution',
      `map:\n  baseLayer:\n    url: ${GSI}\n    attribution: ""\n`,
      '/map/baseLayer/attribution',
      7,
      'plain text',
    ],
    [
      'a misspelt setting',
      `map:\n  baseLayer:\n    url: ${GSI}\n    attributon: GSI\n`,
      '/map/baseLayer/attributon',
      7,
      'Unexpected property',
    ],
    [
      'a base layer without its URL',
      'map:\n  baseLayer:\n    maxZoom: 17\n',
      '/map/baseLayer/url',
      6,
      'Expected required property',
    ],
    ['a setting map does not have', `map:\n  tiles: ${GSI}\n`, '/map/tiles', 5, 'Unexpected property'],
    [
      'a URL that is not a string',
      'map:\n  baseLayer:\n    url: 18\n',
      '/map/baseLayer/url',
      6,
      'Expected string',
    ],
  ])('refuses %s, at its line, with what is expected', (_what, yaml, pointer, line, words) => {
    const e = refusal(yaml);
    expect(e.code).toBe('HATAKE_E_CONFIG');
    expect(e.place?.pointer).toBe(pointer);
    expect(e.place?.line).toBe(line);
    expect(e.place?.column).toBeGreaterThan(0);
    expect(e.place?.file).toContain('server-');
    expect(e.message.startsWith(`${pointer}: `)).toBe(true);
    expect(`${e.message} ${e.expected ?? ''}`).toContain(words);
  });
});

describe('GET /api/v1/map', () => {
  /** A server with the given map setting and the demo users; its URL and a way to stop it. */
  async function serve(map: MapConfig | undefined) {
    const server = await HatakeServer.create({
      dataDir: join(dir, `srv-${++n}`),
      host: '127.0.0.1',
      port: 0,
      logger: false,
      map,
    });
    await seedDemoUsers(server.ctx.auth);
    const url = `http://127.0.0.1:${await server.listen()}`;
    return { url, close: () => server.close() };
  }

  it('gives every signed-in user the base layer of server.yaml, its default zoom filled in', async () => {
    const file = join(dir, 'served.yaml');
    writeFileSync(
      file,
      `dataDir: ./served\nmap:\n  baseLayer:\n    url: ${GSI}\n    attribution: 地理院タイル\n`,
    );
    const { url, close } = await serve(loadServerConfig(file).map);
    try {
      for (const user of ['demo-farmer', 'demo-officer', 'demo-partner', 'admin']) {
        const res = await (await signIn(url, user))('/api/v1/map');
        expect(res.status, user).toBe(200);
        expect(await res.json()).toEqual({
          baseLayer: { url: GSI, attribution: '地理院タイル', maxZoom: 18 },
        });
      }
      const anonymous = await fetch(`${url}/api/v1/map`);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { code: string }).code).toBe('HATAKE_E_AUTH');
    } finally {
      await close();
    }
  });

  it('says null when the server sets none, and an attribution not given as null', async () => {
    for (const [map, want] of [
      [undefined, { baseLayer: null }],
      [{}, { baseLayer: null }],
      [{ baseLayer: { url: GSI, maxZoom: 16 } }, { baseLayer: { url: GSI, attribution: null, maxZoom: 16 } }],
    ] as const) {
      const { url, close } = await serve(map as MapConfig | undefined);
      try {
        const res = await (await signIn(url, 'demo-farmer'))('/api/v1/map');
        expect(await res.json()).toEqual(want);
      } finally {
        await close();
      }
    }
  });
});
