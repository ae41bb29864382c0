// Issue 9, checked against a real server: login is rate-limited per client address (10 a minute,
// then 429 problem+json with Retry-After, even for the right password, until the window passes);
// the session cookie is HttpOnly, SameSite=Strict, Path=/ and Secure whenever the browser came over
// HTTPS or the server is told to force it; state-changing requests need the CSRF token; and the
// database holds scrypt hashes with the documented parameters, never a password or a session token.
// The live stream (GET /api/v1/live) lives no longer than its session: sign-out, a session expired
// or removed on the server, or a deleted account ends it within one heartbeat (with a last `end`
// event), a user who loses a farm stops hearing about it, and one account may hold only so many
// streams (429 beyond) while other users still get theirs.
import { createHash, scryptSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { HatakeServer, SESSION_COOKIE } from '../../dashboard/server.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { DEMO_PASSWORD, seedDemoUsers } from '../../dashboard/demo.ts';
import { eventually, quietLog, signIn, startServer } from '../helpers/stack.ts';

interface Running {
  dir: string;
  server: HatakeServer;
  url: string;
}

const running: Running[] = [];

async function start(
  opts: { secureCookies?: boolean; trustProxy?: string[]; maxStreamsPerUser?: number } = {},
): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-auth-'));
  let r: Running;
  if (Object.keys(opts).length === 0) {
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

describe('live.maxStreamsPerUser in server.yaml', () => {
  it('is read from the file and holds the server to it', async () => {
    const d = mkdtempSync(join(tmpdir(), 'hatake-live-cap-'));
    const file = join(d, 'server.yaml');
    try {
      writeFileSync(file, 'dataDir: ./data\nlive:\n  maxStreamsPerUser: 3\n');
      const opts = loadServerConfig(file);
      expect(opts.maxStreamsPerUser).toBe(3);
      const r = await start({ maxStreamsPerUser: opts.maxStreamsPerUser });
      expect(r.server.ctx.live.maxStreamsPerUser).toBe(3);
      writeFileSync(file, 'dataDir: ./data\nlive:\n  maxStreamsPerUser: 0\n');
      expect(() => loadServerConfig(file)).toThrow(/maxStreamsPerUser/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('live stream and the session', () => {
  /** Short, so a test waits for a heartbeat rather than sleeping 15 s. */
  const HEARTBEAT_MS = 300;
  /** What may pass on a busy machine beyond the heartbeat before the stream is seen to end. */
  const SLACK_MS = 700;

  interface LiveStream {
    status: number;
    body: string;
    text: string;
    /** When the server ended the stream (Date.now()), or undefined while it is open. */
    endedAt: number | undefined;
    close(): void;
  }
  const streams: LiveStream[] = [];
  afterEach(() => {
    for (const s of streams.splice(0)) s.close();
  });

  async function openLive(url: string, cookie: string): Promise<LiveStream> {
    const ctrl = new AbortController();
    const res = await fetch(`${url}/api/v1/live`, {
      headers: { cookie, accept: 'text/event-stream' },
      signal: ctrl.signal,
    });
    const s: LiveStream = {
      status: res.status,
      body: '',
      text: '',
      endedAt: undefined,
      close: () => ctrl.abort(),
    };
    streams.push(s);
    if (res.status !== 200) {
      s.body = await res.text();
      return s;
    }
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          s.text += decoder.decode(value, { stream: true });
        }
        s.endedAt = Date.now();
      } catch {
        // aborted by the test
      }
    })();
    return s;
  }

  /** A signed-in user: the session cookie's value and the CSRF token. */
  async function session(url: string, username: string) {
    const res = await login(url, username, DEMO_PASSWORD);
    expect(res.status).toBe(200);
    const token = sessionCookie(res).value;
    const { csrf } = (await res.json()) as { csrf: string };
    return { token, csrf, cookie: `${SESSION_COOKIE}=${token}` };
  }

  const reading = (farm: string, value: number) => ({
    farm,
    device: 'wx-1',
    metric: 'air_temperature',
    value,
    unit: 'degC',
    time: new Date().toISOString(),
    flags: [],
  });
  const heartbeats = (s: LiveStream) => s.text.split(': keep-alive').length - 1;

  async function startLive(): Promise<Running> {
    const r = await start();
    r.server.ctx.live.heartbeatMs = HEARTBEAT_MS;
    return r;
  }

  it('ends the stream on sign-out, at once (not at its next heartbeat), with a last event, and the reconnect gets 401', async () => {
    const r = await startLive();
    const me = await session(r.url, 'demo-farmer');
    const other = await session(r.url, 'demo-partner');
    const live = await openLive(r.url, me.cookie);
    const stays = await openLive(r.url, other.cookie);
    expect([live.status, stays.status]).toEqual([200, 200]);
    await eventually(() => live.text.includes(': hatake live'));
    r.server.ctx.live.emit('reading', reading('demo-farm', 1));
    await eventually(() => live.text.includes('"value":1'));
    expect(r.server.ctx.live.streams).toBe(2);

    const out = await fetch(`${r.url}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { cookie: me.cookie, 'x-csrf-token': me.csrf },
    });
    expect(out.status).toBe(204);
    const signedOutAt = Date.now();
    await eventually(() => live.endedAt, HEARTBEAT_MS + SLACK_MS, 10);
    expect(live.endedAt! - signedOutAt).toBeLessThanOrEqual(HEARTBEAT_MS + SLACK_MS);
    // 'signed-out' comes only from the logout route ending the session's streams (endSession);
    // a heartbeat that found the session gone would say 'session-ended'.
    expect(live.text).toMatch(/event: end\ndata: \{"reason":"signed-out"\}\n\n$/);
    expect(r.server.ctx.live.streams).toBe(1);

    // The other user's stream goes on, with its heartbeats and its readings.
    r.server.ctx.live.emit('reading', reading('demo-farm', 2));
    await eventually(() => stays.text.includes('"value":2'));
    const beats = heartbeats(stays);
    await eventually(() => heartbeats(stays) > beats, HEARTBEAT_MS * 4);
    expect(stays.endedAt).toBeUndefined();
    expect(live.text).not.toContain('"value":2');

    // The page's reconnect is refused: the UI stops there (dashboard/ui/live.ts).
    const again = await openLive(r.url, me.cookie);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body)).toMatchObject({ code: 'HATAKE_E_AUTH' });
  });

  it('ends the stream when its session expires, is removed on the server, or its account is deleted', async () => {
    const r = await startLive();
    const db = r.server.ctx.db;
    const hash = (t: string) => createHash('sha256').update(t).digest('hex');
    const expired = await session(r.url, 'demo-farmer');
    const removed = await session(r.url, 'demo-farmer');
    const deleted = await session(r.url, 'demo-officer');
    const kept = await session(r.url, 'demo-farmer');
    const s = {
      expired: await openLive(r.url, expired.cookie),
      removed: await openLive(r.url, removed.cookie),
      deleted: await openLive(r.url, deleted.cookie),
      kept: await openLive(r.url, kept.cookie),
    };
    for (const x of Object.values(s)) expect(x.status).toBe(200);
    await eventually(() => Object.values(s).every((x) => heartbeats(x) >= 1), HEARTBEAT_MS * 4);

    const changedAt = Date.now();
    db.prepare('UPDATE sessions SET expires = ? WHERE token_hash = ?').run(
      changedAt - 1,
      hash(expired.token),
    );
    db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(hash(removed.token));
    db.prepare('DELETE FROM users WHERE name = ?').run('demo-officer');
    await eventually(
      () => s.expired.endedAt && s.removed.endedAt && s.deleted.endedAt,
      HEARTBEAT_MS + SLACK_MS,
      10,
    );
    for (const x of [s.expired, s.removed, s.deleted]) {
      expect(x.endedAt! - changedAt).toBeLessThanOrEqual(HEARTBEAT_MS + SLACK_MS);
      expect(x.text).toMatch(/event: end\ndata: \{"reason":"session-ended"\}\n\n$/);
    }
    // The same user's other session keeps its stream.
    const beats = heartbeats(s.kept);
    await eventually(() => heartbeats(s.kept) > beats + 1, HEARTBEAT_MS * 5);
    expect(s.kept.endedAt).toBeUndefined();
    expect(r.server.ctx.live.streams).toBe(1);
  });

  it('stops sending a farm’s readings once the user no longer may see the farm', async () => {
    const r = await startLive();
    const me = await session(r.url, 'demo-farmer');
    const live = await openLive(r.url, me.cookie);
    r.server.ctx.live.emit('reading', reading('demo-farm', 11));
    await eventually(() => live.text.includes('"value":11'));

    // The farmer now farms elsewhere: the next heartbeat reads the new scope.
    await r.server.ctx.auth.createUser('demo-farmer', DEMO_PASSWORD, 'farmer', { farms: ['other-farm'] });
    const beats = heartbeats(live);
    await eventually(() => heartbeats(live) > beats, HEARTBEAT_MS * 4);
    r.server.ctx.live.emit('reading', reading('demo-farm', 12));
    r.server.ctx.live.emit('reading', reading('other-farm', 13));
    await eventually(() => live.text.includes('"value":13'));
    expect(live.text).not.toContain('"value":12');
    expect(live.endedAt).toBeUndefined(); // the session itself is still good
  });

  it('holds one user to maxStreamsPerUser streams (429 problem+json beyond) while another user gets one', async () => {
    const r = await startLive();
    r.server.ctx.live.maxStreamsPerUser = 2;
    // Per user, not per session: two sessions of one account share its allowance.
    const a = await session(r.url, 'demo-farmer');
    const b = await session(r.url, 'demo-farmer');
    const first = await openLive(r.url, a.cookie);
    const second = await openLive(r.url, b.cookie);
    expect([first.status, second.status]).toEqual([200, 200]);

    const third = await openLive(r.url, a.cookie);
    expect(third.status).toBe(429);
    const problem = JSON.parse(third.body) as { code: string; status: number; detail: string };
    expect(problem).toMatchObject({ code: 'HATAKE_E_RATE_LIMIT', status: 429 });
    expect(problem.detail).toMatch(/2 live streams/);
    expect(r.server.ctx.live.refused).toBe(1);

    // Another account is not held up by this one.
    const partner = await session(r.url, 'demo-partner');
    const theirs = await openLive(r.url, partner.cookie);
    expect(theirs.status).toBe(200);
    r.server.ctx.live.emit('reading', reading('demo-farm', 21));
    await eventually(() => theirs.text.includes('"value":21'));
    expect(r.server.ctx.live.streamsOf('demo-farmer')).toBe(2);

    // A closed stream gives its place back.
    first.close();
    await eventually(() => r.server.ctx.live.streamsOf('demo-farmer') === 1);
    const fourth = await openLive(r.url, a.cookie);
    expect(fourth.status).toBe(200);
    expect(r.server.ctx.live.streams).toBe(3);
  });

  it('ends every stream of a session at once when told (LiveHub.endSession), and no other', async () => {
    const r = await startLive();
    r.server.ctx.live.heartbeatMs = 60_000; // so only endSession can end it within the test
    const me = await session(r.url, 'demo-farmer');
    const other = await session(r.url, 'demo-farmer');
    const mine = [await openLive(r.url, me.cookie), await openLive(r.url, me.cookie)];
    const theirs = await openLive(r.url, other.cookie);
    await eventually(() => [...mine, theirs].every((x) => x.text.includes(': hatake live')));
    expect(r.server.ctx.live.endSession(me.token)).toBe(2);
    await eventually(() => mine.every((x) => x.endedAt), 2000, 10);
    for (const x of mine) expect(x.text).toMatch(/event: end\ndata: \{"reason":"signed-out"\}\n\n$/);
    r.server.ctx.live.emit('reading', reading('demo-farm', 31));
    await eventually(() => theirs.text.includes('"value":31'));
    expect(r.server.ctx.live.streams).toBe(1);
  });
});
