// Issue 9, checked against a real server: login is rate-limited per client address (10 a minute,
// then 429 problem+json with Retry-After, even for the right password, until the window passes);
// the session cookie is HttpOnly, SameSite=Strict, Path=/ and Secure whenever the browser came over
// HTTPS or the server is told to force it; state-changing requests need the CSRF token; and the
// database holds scrypt hashes with the documented parameters, never a password or a session token.
import { createHash, scryptSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { HatakeServer, SESSION_COOKIE } from '../../dashboard/server.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { DEMO_PASSWORD, seedDemoUsers } from '../../dashboard/demo.ts';
import { quietLog, signIn, startServer } from '../helpers/stack.ts';

interface Running {
  dir: string;
  server: HatakeServer;
  url: string;
}

const running: Running[] = [];

async function start(opts: { secureCookies?: boolean; trustProxy?: string[] } = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-auth-'));
  let r: Running;
  if (opts.secureCookies === undefined && opts.trustProxy === undefined) {
    r = { dir, ...(await startServer(dir)) };
  } else {
    // The stack helper has no such switches; this is what it does, with them.
    const server = await HatakeServer.create({
      dataDir: join(dir, 'server'),
      host: '127.0.0.1',
      port: 0,
      logger: quietLog(),
      ...opts,
    });
    await seedDemoUsers(server.ctx.auth);
    r = { dir, server, url: `http://127.0.0.1:${await server.listen()}` };
  }
  running.push(r);
  return r;
}

afterAll(async () => {
  for (const r of running) {
    await r.server.close();
    rmSync(r.dir, { recursive: true, force: true });
  }
});

const login = (url: string, username: string, password: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ username, password }),
  });

/** The session cookie's Set-Cookie line: its value and its attributes (names lower-cased). */
function sessionCookie(res: Response): { value: string; attrs: Map<string, string> } {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (!line) throw new Error(`no ${SESSION_COOKIE} cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  const [pair, ...rest] = line.split(';').map((s) => s.trim());
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const eq = a.indexOf('=');
    attrs.set((eq < 0 ? a : a.slice(0, eq)).toLowerCase(), eq < 0 ? '' : a.slice(eq + 1));
  }
  return { value: pair!.slice(SESSION_COOKIE.length + 1), attrs };
}

describe('login rate limit', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers the 11th login in a minute from one address with 429 problem+json, whoever it names', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await login(r.url, 'demo-farmer', `wrong-${i}`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe('HATAKE_E_AUTH');
    }

    const limited = await login(r.url, 'demo-farmer', 'wrong-10');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await limited.json()) as { code: string; status: number };
    expect(body).toMatchObject({ code: 'HATAKE_E_RATE_LIMIT', status: 429 });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The right password is refused too while the window lasts, and no session is handed out.
    const right = await login(r.url, 'demo-farmer', DEMO_PASSWORD);
    expect(right.status).toBe(429);
    expect(right.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`))).toBe(false);

    // The limiter keys on the client address (as documented), not on the user name: another
    // account signing in from the same address waits as well...
    const other = await login(r.url, 'demo-officer', DEMO_PASSWORD);
    expect(other.status).toBe(429);
    expect(((await other.json()) as { code: string }).code).toBe('HATAKE_E_RATE_LIMIT');

    // ...while a client at another address is not held up by this one.
    const elsewhere = await r.server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress: '192.0.2.10',
      payload: { username: 'demo-farmer', password: DEMO_PASSWORD },
    });
    expect(elsewhere.statusCode).toBe(200);

    // Once the minute has passed, the right password opens a session again.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 61_000);
    const later = await login(r.url, 'demo-farmer', DEMO_PASSWORD);
    expect(later.status).toBe(200);
    expect(sessionCookie(later).value).not.toBe('');
  });
});

describe('behind a reverse proxy', () => {
  const from = (client: string) => ({ 'x-forwarded-for': client });

  it('counts each client the trusted proxy names as its own, for the login limit', async () => {
    const r = await start({ trustProxy: ['127.0.0.1'] });
    for (let i = 0; i < 10; i++)
      expect((await login(r.url, 'demo-farmer', `wrong-${i}`, from('203.0.113.5'))).status).toBe(401);
    expect((await login(r.url, 'demo-farmer', 'wrong-10', from('203.0.113.5'))).status).toBe(429);
    // another farmer behind the same proxy is not held up by the first
    expect((await login(r.url, 'demo-farmer', DEMO_PASSWORD, from('203.0.113.6'))).status).toBe(200);
  });

  it('ignores X-Forwarded-For from anyone it was not told to trust, so the header cannot dodge the limit', async () => {
    const r = await start({ trustProxy: ['10.0.0.0/8'] });
    for (let i = 0; i < 10; i++)
      expect((await login(r.url, 'demo-farmer', `wrong-${i}`, from(`198.51.100.${i}`))).status).toBe(401);
    const res = await login(r.url, 'demo-farmer', DEMO_PASSWORD, from('198.51.100.99'));
    expect(res.status).toBe(429);
  });
});

describe('session cookie', () => {
  let plain: Running;
  let forced: Running;
  beforeAll(async () => {
    [plain, forced] = await Promise.all([start(), start({ secureCookies: true })]);
  });

  it('is HttpOnly, SameSite=Strict, Path=/, a week long, and not Secure over plain HTTP', async () => {
    const res = await login(plain.url, 'demo-farmer', DEMO_PASSWORD);
    expect(res.status).toBe(200);
    const { value, attrs } = sessionCookie(res);
    expect(value.length).toBeGreaterThanOrEqual(43);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Strict');
    expect(attrs.get('path')).toBe('/');
    expect(attrs.get('max-age')).toBe(String(7 * 24 * 3600));
    // Plain-HTTP localhost (the demo) has to keep working: a browser drops a Secure cookie there.
    expect(attrs.has('secure')).toBe(false);
  });

  it('is Secure when the browser came over HTTPS through a reverse proxy', async () => {
    for (const proto of ['https', 'HTTPS', 'http, https']) {
      const res = await login(plain.url, 'demo-partner', DEMO_PASSWORD, { 'x-forwarded-proto': proto });
      expect(res.status).toBe(200);
      const { attrs } = sessionCookie(res);
      expect(attrs.has('secure'), proto).toBe(true);
      expect(attrs.has('httponly')).toBe(true);
      expect(attrs.get('samesite')).toBe('Strict');
    }
    const viaHttp = await login(plain.url, 'demo-partner', DEMO_PASSWORD, { 'x-forwarded-proto': 'http' });
    expect(sessionCookie(viaHttp).attrs.has('secure')).toBe(false);
  });

  it('is always Secure when secureCookies is set, and sign-out clears it with the same attributes', async () => {
    const res = await login(forced.url, 'demo-farmer', DEMO_PASSWORD);
    expect(res.status).toBe(200);
    const { value, attrs } = sessionCookie(res);
    expect(attrs.has('secure')).toBe(true);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Strict');
    expect(attrs.get('path')).toBe('/');

    const { csrf } = (await res.json()) as { csrf: string };
    const out = await fetch(`${forced.url}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { cookie: `${SESSION_COOKIE}=${value}`, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(204);
    const cleared = sessionCookie(out);
    expect(cleared.value).toBe('');
    expect(cleared.attrs.has('secure')).toBe(true);
    expect(cleared.attrs.get('path')).toBe('/');
  });
});

describe('CSRF token and stored secrets', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start();
  });

  it('refuses a state-changing request without the session’s CSRF token, and allows it with', async () => {
    const res = await login(r.url, 'demo-farmer', DEMO_PASSWORD);
    const { value } = sessionCookie(res);
    const { csrf } = (await res.json()) as { csrf: string };
    const cookie = `${SESSION_COOKIE}=${value}`;
    // Another session's token is as good as none.
    const otherFetch = await signIn(r.url, 'demo-partner');
    const otherCsrf = ((await (await otherFetch('/api/v1/auth/me')).json()) as { csrf: string }).csrf;
    expect(otherCsrf).not.toBe(csrf);

    const attempts: Record<string, string>[] = [
      { cookie },
      { cookie, 'x-csrf-token': otherCsrf },
      { cookie, 'x-csrf-token': '' },
    ];
    for (const headers of attempts) {
      const refused = await fetch(`${r.url}/api/v1/auth/logout`, { method: 'POST', headers });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await refused.json()) as { code: string }).code).toBe('HATAKE_E_FORBIDDEN');
    }
    // The refused requests changed nothing: the session is still open.
    expect((await fetch(`${r.url}/api/v1/auth/me`, { headers: { cookie } })).status).toBe(200);

    const ok = await fetch(`${r.url}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    expect(ok.status).toBe(204);
    expect((await fetch(`${r.url}/api/v1/auth/me`, { headers: { cookie } })).status).toBe(401);
  });

  it('stores scrypt hashes (N=16384, r=8, p=1, 16-byte salt, 32-byte key), never a password or token', async () => {
    const res = await login(r.url, 'admin', DEMO_PASSWORD);
    const token = sessionCookie(res).value;

    const users = r.server.ctx.db.prepare('SELECT name, password_hash FROM users').all() as {
      name: string;
      password_hash: string;
    }[];
    expect(users.length).toBe(4);
    const salts = new Set<string>();
    for (const u of users) {
      expect(u.password_hash).not.toContain(DEMO_PASSWORD);
      expect(u.password_hash).not.toContain(Buffer.from(DEMO_PASSWORD).toString('base64'));
      const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(u.password_hash);
      expect(m, u.name).not.toBeNull();
      const [, n, rr, p, salt, hash] = m!;
      expect([Number(n), Number(rr), Number(p)]).toEqual([16384, 8, 1]);
      expect(Buffer.from(salt!, 'base64').length).toBe(16);
      expect(Buffer.from(hash!, 'base64').length).toBe(32);
      salts.add(salt!);
      // It really is scrypt with those parameters: recomputing it from the password gives the hash.
      const again = scryptSync(DEMO_PASSWORD, Buffer.from(salt!, 'base64'), 32, {
        N: 16384,
        r: 8,
        p: 1,
        maxmem: 64 * 1024 * 1024,
      });
      expect(again.toString('base64')).toBe(hash);
    }
    // Same password, four accounts, four salts.
    expect(salts.size).toBe(users.length);

    // Sessions are kept as sha256 of the token only.
    const sessions = r.server.ctx.db.prepare('SELECT * FROM sessions').all() as Record<string, unknown>[];
    const dump = JSON.stringify(sessions);
    expect(dump).not.toContain(token);
    expect(sessions.map((s) => s.token_hash)).toContain(createHash('sha256').update(token).digest('hex'));
  });
});

describe('trustProxy in server.yaml', () => {
  const load = (trust: string) => {
    const d = mkdtempSync(join(tmpdir(), 'hatake-trust-'));
    const file = join(d, 'server.yaml');
    writeFileSync(file, `dataDir: ./data\nhttp:\n  port: 8080\n  trustProxy: ${trust}\n`);
    try {
      return loadServerConfig(file);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  };

  it('takes addresses, CIDR ranges and the named ranges', () => {
    expect(load('[127.0.0.1, 10.0.0.0/8, "fd00::/8", loopback]').trustProxy).toEqual([
      '127.0.0.1',
      '10.0.0.0/8',
      'fd00::/8',
      'loopback',
    ]);
  });

  it('refuses what is not an address, at its line, with what to write instead', () => {
    for (const [trust, message] of [
      ['[10.0.0.0/33]', /trustProxy\/0: "10.0.0.0\/33" is not an address or CIDR range/],
      ['[127.0.0.1, 999.1.1.1]', /trustProxy\/1: "999.1.1.1" is not an address/],
      ['[everyone]', /trustProxy\/0/],
      ['true', /trustProxy/],
      ['[]', /trustProxy/],
      ['["1.2.3.4/8/8"]', /trustProxy\/0/],
    ] as const) {
      expect(() => load(trust), trust).toThrow(message);
      try {
        load(trust);
      } catch (e) {
        expect(e).toMatchObject({ code: 'HATAKE_E_CONFIG', place: { line: 4 } });
        expect((e as { place: { file: string } }).place.file).toMatch(/server\.yaml$/);
      }
    }
  });
});
