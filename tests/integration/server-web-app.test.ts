// A server whose web app was never built (a production install, `npm ci --omit=dev`, has no Vite)
// says so at `/` — what is missing and the command that builds it — logs it, and reports it on
// /healthz, while the API keeps working; with the web app built, `/` serves it.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { HatakeServer } from '../../dashboard/server.ts';
import { startServer } from '../helpers/stack.ts';
import { ensureUiBuilt } from '../e2e/ui-build.ts';

const PUBLIC = join(import.meta.dirname, '../../dashboard/public');

/** A GET with exactly these headers, the body as it came over the wire (not decompressed). */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: Buffer;
  }>((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const dirs: string[] = [];
const servers: HatakeServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the dashboard web app', () => {
  it('says at / how to build it when it is missing, logs it, and the API still answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-webapp-'));
    dirs.push(dir);
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n'))
          if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const server = await HatakeServer.create({
      dataDir: join(dir, 'server'),
      host: '127.0.0.1',
      port: 0,
      logger: pino({ level: 'info' }, sink),
      publicDir: join(dir, 'no-web-app'),
    });
    servers.push(server);
    const url = `http://127.0.0.1:${await server.listen()}`;

    const root = await fetch(`${url}/`);
    expect(root.status).toBe(503);
    expect(root.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await root.text();
    expect(page).toContain('ダッシュボードの画面がビルドされていません');
    expect(page).toContain('npm run build:ui');
    expect(page).toContain('npm prune --omit=dev');

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', webApp: false });
    expect((await fetch(`${url}/docs/json`)).status).toBe(200);
    expect((await fetch(`${url}/api/v1/farms`)).status).toBe(401);
    expect(lines.find((l) => l.code === 'HATAKE_E_WEB_APP')).toMatchObject({ level: 50 });
  });

  it('serves the built web app at / and says so on /healthz', async () => {
    await ensureUiBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'hatake-webapp-'));
    dirs.push(dir);
    const { server, url } = await startServer(dir);
    servers.push(server);
    const root = await fetch(`${url}/`);
    expect(root.status).toBe(200);
    expect(await root.text()).toContain('<div id="app"');
    expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ webApp: true });
  });

  it('sends the build compressed as the browser accepts it, the hashed bundles cached for a year', async () => {
    await ensureUiBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'hatake-webapp-'));
    dirs.push(dir);
    const { server, url } = await startServer(dir);
    servers.push(server);
    const js = readdirSync(join(PUBLIC, 'assets')).find((f) => f.endsWith('.js'))!;
    const raw = readFileSync(join(PUBLIC, 'assets', js));

    const br = await rawGet(`${url}/assets/${js}`, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(br.body.length).toBeLessThan(raw.length / 3);
    expect(brotliDecompressSync(br.body).equals(raw)).toBe(true);

    const gz = await rawGet(`${url}/assets/${js}`, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(raw)).toBe(true);

    const plain = await rawGet(`${url}/assets/${js}`, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(raw)).toBe(true);

    // The page that names the bundles is checked on every load, so a new build is picked up.
    const index = await rawGet(`${url}/`, { 'accept-encoding': 'gzip' });
    expect(index.status).toBe(200);
    expect(index.headers['content-encoding']).toBe('gzip');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(gunzipSync(index.body).toString()).toContain(`/assets/${js}`);
  });
});
