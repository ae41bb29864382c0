// Accounts once made, against a real server (real SQLite, real HTTP): a user changes their own
// password (the current one required; their other sessions end); an admin lists, creates, resets,
// disables, enables, unlocks and deletes accounts — a reset, a disable and a delete end the
// account's sessions at once (the old cookie gets 401 on its next request), never one's own account,
// never the last admin — and every change is in the append-only account audit log; nobody else gets
// past 403 (401 without a session), before their body is even read. `hatake server user` resets
// (ending the sessions on the running server), disables, enables and deletes, and refuses to
// remove or demote the last admin. Sign-ins are throttled per account besides per address: guesses
// at one account from many addresses are refused with 429 and Retry-After past the free ones —
// for names no account has too — while a browser that signed in to the account before still gets in.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HatakeServer, SESSION_COOKIE } from '../../dashboard/server.ts';
import { DEVICE_COOKIE } from '../../dashboard/routes/auth.ts';
import { DEMO_PASSWORD, seedDemoUsers } from '../../dashboard/demo.ts';
import { LOGIN_THROTTLE, LoginThrottle } from '../../dashboard/auth.ts';
import { main } from '../../cli/main.ts';
import { quietLog } from '../helpers/stack.ts';

let dir: string;
let server: HatakeServer;
let url: string;
let configFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-accounts-'));
  // Behind a "proxy" on localhost: each request may say which client address it comes from, so the
  // per-address login limit (10 a minute) stays out of the way and guesses come from many addresses.
  server = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port: 0,
    logger: quietLog(),
    trustProxy: ['127.0.0.1'],
  });
  await seedDemoUsers(server.ctx.auth);
  url = `http://127.0.0.1:${await server.listen()}`;
  configFile = join(dir, 'server.yaml');
  writeFileSync(configFile, `dataDir: ${join(dir, 'server')}\nhttp: { host: 127.0.0.1, port: 8099 }\n`);
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

let addresses = 0;
/** A client address not used before (TEST-NET-2 and -3). */
const nextAddress = () => {
  addresses++;
  return `${addresses < 250 ? '198.51.100' : '203.0.113'}.${(addresses % 250) + 1}`;
};

/** The value of a cookie the response sets, and its attributes (names lower-cased). */
function setCookie(res: Response, name: string): { value: string; attrs: Map<string, string> } | undefined {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  if (!line) return undefined;
  const [pair, ...rest] = line.split(';').map((s) => s.trim());
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const eq = a.indexOf('=');
    attrs.set((eq < 0 ? a : a.slice(0, eq)).toLowerCase(), eq < 0 ? '' : a.slice(eq + 1));
  }
  return { value: pair!.slice(name.length + 1), attrs };
}

function login(
  username: string,
  password: string,
  opts: { from?: string; device?: string } = {},
): Promise<Response> {
  return fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': opts.from ?? nextAddress(),
      ...(opts.device ? { cookie: `${DEVICE_COOKIE}=${opts.device}` } : {}),
    },
    body: JSON.stringify({ username, password }),
  });
}

/** A signed-in browser: its session and device cookies, its CSRF token, and requests with them. */
interface Browser {
  user: string;
  session: string;
  device: string;
  csrf: string;
  call(
    path: string,
    init?: { method?: string; body?: unknown; csrf?: boolean; from?: string },
  ): Promise<Response>;
}

async function signIn(user: string, password = DEMO_PASSWORD, device?: string): Promise<Browser> {
  const res = await login(user, password, { device });
  expect(res.status, `sign-in of ${user}: ${await res.clone().text()}`).toBe(200);
  const session = setCookie(res, SESSION_COOKIE)!.value;
  const dev = setCookie(res, DEVICE_COOKIE)!.value;
  const { csrf } = (await res.json()) as { csrf: string };
  const from = nextAddress();
  return {
    user,
    session,
    device: dev,
    csrf,
    call: (path, init = {}) =>
      fetch(`${url}${path}`, {
        method: init.method ?? 'GET',
        headers: {
          cookie: `${SESSION_COOKIE}=${session}; ${DEVICE_COOKIE}=${dev}`,
          'x-forwarded-for': init.from ?? from,
          ...(init.csrf === false ? {} : { 'x-csrf-token': csrf }),
          ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      }),
  };
}

const me = (b: Browser) => b.call('/api/v1/auth/me').then((r) => r.status);

interface AccountView {
  name: string;
  role: string;
  farms: string[];
  regions: string[];
  disabled: string | null;
  created: string;
  lastLogin: string | null;
  sessions: number;
  lockedForS: number;
}
interface AuditView {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

async function accounts(admin: Browser): Promise<AccountView[]> {
  const res = await admin.call('/api/v1/admin/users');
  expect(res.status).toBe(200);
  return (await res.json()) as AccountView[];
}
const account = async (admin: Browser, name: string) => (await accounts(admin)).find((a) => a.name === name);

async function auditLog(admin: Browser): Promise<AuditView[]> {
  const res = await admin.call('/api/v1/admin/account-audit?limit=1000');
  expect(res.status).toBe(200);
  return (await res.json()) as AuditView[];
}

/** Runs `hatake …` in this process; returns its exit code and what it wrote. */
async function hatake(args: string[], password?: string) {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const before = process.env.HATAKE_PASSWORD;
  if (password === undefined) delete process.env.HATAKE_PASSWORD;
  else process.env.HATAKE_PASSWORD = password;
  try {
    const code = await main(['server', ...args, '--config', configFile]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    if (before === undefined) delete process.env.HATAKE_PASSWORD;
    else process.env.HATAKE_PASSWORD = before;
  }
}

describe('a signed-in user’s own password', () => {
  it('changes with the current password; their other sessions end, this one stays', async () => {
    await server.ctx.auth.createUser('pw-farmer', 'first-password-1', 'farmer', { farms: ['demo-farm'] });
    const phone = await signIn('pw-farmer', 'first-password-1');
    const desk = await signIn('pw-farmer', 'first-password-1');
    const change = (b: Browser, current: string, password: string, csrf = true) =>
      b.call('/api/v1/auth/password', { method: 'POST', body: { current, password }, csrf });

    // A wrong current password: 403, nothing changes (both sessions live, the old password works).
    const wrong = await change(phone, 'not-the-password', 'second-password-2');
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await wrong.json()).toMatchObject({ code: 'HATAKE_E_FORBIDDEN', pointer: '/current' });
    // Without the CSRF token, or with a password too short: refused too.
    expect((await change(phone, 'first-password-1', 'second-password-2', false)).status).toBe(403);
    const short = await change(phone, 'first-password-1', 'short');
    expect(short.status).toBe(400);
    expect(await short.json()).toMatchObject({ code: 'HATAKE_E_PAYLOAD_SCHEMA', pointer: '/password' });
    expect([await me(phone), await me(desk)]).toEqual([200, 200]);

    expect((await change(phone, 'first-password-1', 'second-password-2')).status).toBe(204);
    expect(await me(phone)).toBe(200);
    expect(await me(desk)).toBe(401);
    expect((await login('pw-farmer', 'first-password-1')).status).toBe(401);
    expect((await login('pw-farmer', 'second-password-2')).status).toBe(200);
    // Nobody without a session changes a password.
    const anonymous = await fetch(`${url}/api/v1/auth/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ current: 'second-password-2', password: 'third-password-3' }),
    });
    expect(anonymous.status).toBe(401);

    const admin = await signIn('admin');
    expect((await auditLog(admin))[0]).toMatchObject({
      actor: 'pw-farmer',
      action: 'password_changed',
      target: 'pw-farmer',
      detail: { sessionsEnded: 1 },
    });
  });
});

describe('the admin’s accounts', () => {
  let admin: Browser;
  beforeAll(async () => {
    admin = await signIn('admin');
  });

  it('lists every account with role, scope, state, last sign-in and open sessions', async () => {
    const farmer = await signIn('demo-farmer');
    const list = await accounts(admin);
    expect(list.map((a) => a.name)).toEqual(expect.arrayContaining(['admin', 'demo-farmer', 'demo-officer']));
    const f = list.find((a) => a.name === 'demo-farmer')!;
    expect(f).toMatchObject({
      role: 'farmer',
      farms: ['demo-farm'],
      regions: [],
      disabled: null,
      lockedForS: 0,
    });
    expect(f.sessions).toBeGreaterThanOrEqual(1);
    expect(Date.now() - Date.parse(f.lastLogin!)).toBeLessThan(60_000);
    expect(list.find((a) => a.name === 'demo-officer')).toMatchObject({
      role: 'officer',
      regions: ['niigata'],
    });
    expect(await me(farmer)).toBe(200);
  });

  it('creates an account that then signs in; a name taken or a bad body is refused', async () => {
    const res = await admin.call('/api/v1/admin/users', {
      method: 'POST',
      body: { name: 'new-partner', password: 'partner-password-1', role: 'partner', farms: ['demo-farm'] },
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      name: 'new-partner',
      role: 'partner',
      farms: ['demo-farm'],
      disabled: null,
      lastLogin: null,
      sessions: 0,
    });
    const partner = await signIn('new-partner', 'partner-password-1');
    expect(await me(partner)).toBe(200);

    const again = await admin.call('/api/v1/admin/users', {
      method: 'POST',
      body: { name: 'new-partner', password: 'another-password-1', role: 'admin' },
    });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'HATAKE_E_STATE_CONFLICT' });
    // The existing account is untouched: still a partner, with its password.
    expect((await account(admin, 'new-partner'))?.role).toBe('partner');
    for (const body of [
      { name: 'x', password: 'short', role: 'farmer' },
      { name: '../etc', password: 'long-enough-pw', role: 'farmer' },
      { name: 'y', password: 'long-enough-pw', role: 'root' },
      { name: 'z', password: 'long-enough-pw', role: 'farmer', farms: ['Not An Id'] },
    ])
      expect((await admin.call('/api/v1/admin/users', { method: 'POST', body })).status).toBe(400);
    expect((await auditLog(admin))[0]).toMatchObject({
      actor: 'admin',
      action: 'created',
      target: 'new-partner',
    });
  });

  it('resets a password: the account’s sessions end at once, the old password stops working', async () => {
    await server.ctx.auth.createUser('reset-me', 'old-password-11', 'farmer', { farms: ['demo-farm'] });
    const a = await signIn('reset-me', 'old-password-11');
    const b = await signIn('reset-me', 'old-password-11');
    expect((await account(admin, 'reset-me'))?.sessions).toBe(2);
    const res = await admin.call('/api/v1/admin/users/reset-me/password', {
      method: 'PUT',
      body: { password: 'new-password-22' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'reset-me', sessions: 0 });
    expect([await me(a), await me(b)]).toEqual([401, 401]);
    expect((await login('reset-me', 'old-password-11')).status).toBe(401);
    expect((await login('reset-me', 'new-password-22')).status).toBe(200);
    expect((await auditLog(admin))[0]).toMatchObject({
      actor: 'admin',
      action: 'password_reset',
      target: 'reset-me',
      detail: { sessionsEnded: 2 },
    });
    const missing = await admin.call('/api/v1/admin/users/nobody-here/password', {
      method: 'PUT',
      body: { password: 'new-password-22' },
    });
    expect(missing.status).toBe(404);
  });

  it('disables an account (its sessions end, its sign-in fails as a wrong password would) and enables it', async () => {
    await server.ctx.auth.createUser('disable-me', 'disable-password-1', 'officer', { regions: ['niigata'] });
    const b = await signIn('disable-me', 'disable-password-1');
    const off = await admin.call('/api/v1/admin/users/disable-me/disabled', {
      method: 'PUT',
      body: { disabled: true },
    });
    expect(off.status).toBe(200);
    const view = (await off.json()) as AccountView;
    expect(view.disabled).not.toBeNull();
    expect(view.sessions).toBe(0);
    expect(await me(b)).toBe(401);
    const refused = await login('disable-me', 'disable-password-1');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({
      code: 'HATAKE_E_AUTH',
      detail: 'user name or password is wrong',
    });
    expect(setCookie(refused, SESSION_COOKIE)).toBeUndefined();
    // Disabling it again changes nothing and logs nothing.
    const seq = (await auditLog(admin))[0]!.seq;
    expect(
      (
        await admin.call('/api/v1/admin/users/disable-me/disabled', {
          method: 'PUT',
          body: { disabled: true },
        })
      ).status,
    ).toBe(200);
    expect((await auditLog(admin))[0]!.seq).toBe(seq);

    const on = await admin.call('/api/v1/admin/users/disable-me/disabled', {
      method: 'PUT',
      body: { disabled: false },
    });
    expect(on.status).toBe(200);
    expect(((await on.json()) as AccountView).disabled).toBeNull();
    expect((await login('disable-me', 'disable-password-1')).status).toBe(200);
    expect((await auditLog(admin)).slice(0, 2).map((e) => [e.action, e.target])).toEqual([
      ['enabled', 'disable-me'],
      ['disabled', 'disable-me'],
    ]);
  });

  it('deletes an account: its sessions end at once and it is gone', async () => {
    await server.ctx.auth.createUser('delete-me', 'delete-password-1', 'partner', { farms: ['demo-farm'] });
    const b = await signIn('delete-me', 'delete-password-1');
    expect((await admin.call('/api/v1/admin/users/delete-me', { method: 'DELETE' })).status).toBe(204);
    expect(await me(b)).toBe(401);
    expect((await login('delete-me', 'delete-password-1')).status).toBe(401);
    expect(await account(admin, 'delete-me')).toBeUndefined();
    expect(
      server.ctx.db.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user = 'delete-me'").get(),
    ).toEqual({
      n: 0,
    });
    expect((await admin.call('/api/v1/admin/users/delete-me', { method: 'DELETE' })).status).toBe(404);
    expect((await auditLog(admin))[0]).toMatchObject({
      actor: 'admin',
      action: 'deleted',
      target: 'delete-me',
    });
  });

  it('never disables or deletes the admin’s own account, nor the last admin', async () => {
    for (const [method, path, body] of [
      ['PUT', '/api/v1/admin/users/admin/disabled', { disabled: true }],
      ['DELETE', '/api/v1/admin/users/admin', undefined],
    ] as const) {
      const res = await admin.call(path, { method, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toMatchObject({ code: 'HATAKE_E_FORBIDDEN' });
    }
    expect(await me(admin)).toBe(200);
    // A second admin may remove the first; then the second is the last, and may not be removed —
    // which the API cannot even ask (it is the caller's own account), so the CLI asks.
    await server.ctx.auth.createUser('admin-2', 'admin-2-password', 'admin');
    const admin2 = await signIn('admin-2', 'admin-2-password');
    await server.ctx.auth.createUser('admin-3', 'admin-3-password', 'admin');
    const admin3 = await signIn('admin-3', 'admin-3-password');
    expect((await admin2.call('/api/v1/admin/users/admin-3', { method: 'DELETE' })).status).toBe(204);
    expect(await me(admin3)).toBe(401);
    // With admin and admin-2 left: admin-2 disables admin, so admin-2 is the last enabled admin.
    expect(
      (await admin2.call('/api/v1/admin/users/admin/disabled', { method: 'PUT', body: { disabled: true } }))
        .status,
    ).toBe(200);
    expect(await me(admin)).toBe(401);
    for (const args of [['--delete'], ['--disable']]) {
      const r = await hatake(['user', '--name', 'admin-2', ...args]);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toContain('HATAKE_E_STATE_CONFLICT');
      expect(r.err).toContain('last admin');
    }
    const demote = await hatake(['user', '--name', 'admin-2', '--role', 'farmer'], 'admin-2-new-password');
    expect(demote.code).toBe(1);
    expect(demote.err).toContain('last admin');
    expect(await me(admin2)).toBe(200);
    expect((await login('admin-2', 'admin-2-password')).status).toBe(200);
    // admin comes back (a disabled admin can always be enabled), for the tests after this one.
    expect(
      (await admin2.call('/api/v1/admin/users/admin/disabled', { method: 'PUT', body: { disabled: false } }))
        .status,
    ).toBe(200);
    admin = await signIn('admin');
  });

  it('lets nobody but an admin in: 401 without a session, 403 for every other role, before the body is read', async () => {
    const others = await Promise.all(['demo-farmer', 'demo-officer', 'demo-partner'].map((u) => signIn(u)));
    const routes: [string, string, unknown][] = [
      ['GET', '/api/v1/admin/users', undefined],
      ['POST', '/api/v1/admin/users', { name: 'sneaky', password: 'sneaky-password', role: 'admin' }],
      ['PUT', '/api/v1/admin/users/demo-farmer/password', { password: 'sneaky-password' }],
      ['PUT', '/api/v1/admin/users/admin/disabled', { disabled: true }],
      ['DELETE', '/api/v1/admin/users/demo-officer/lock', undefined],
      ['DELETE', '/api/v1/admin/users/demo-officer', undefined],
      ['GET', '/api/v1/admin/account-audit', undefined],
      // A body that would not pass validation: still 403, the route says nothing of what it takes.
      ['POST', '/api/v1/admin/users', { nonsense: true }],
    ];
    for (const [method, path, body] of routes) {
      for (const who of others) {
        const res = await who.call(path, { method, body });
        expect(res.status, `${who.user}: ${method} ${path}`).toBe(403);
        expect(await res.json()).toMatchObject({ code: 'HATAKE_E_FORBIDDEN' });
      }
      const anonymous = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(anonymous.status, `anonymous: ${method} ${path}`).toBe(401);
    }
    expect(await account(admin, 'sneaky')).toBeUndefined();
    expect((await account(admin, 'admin'))?.disabled).toBeNull();
    for (const who of others) expect(await me(who), who.user).toBe(200);
  });

  it('documents every account route in the OpenAPI document, with the session scheme', async () => {
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
    };
    const want = [
      ['get', '/api/v1/admin/users'],
      ['post', '/api/v1/admin/users'],
      ['put', '/api/v1/admin/users/{name}/password'],
      ['put', '/api/v1/admin/users/{name}/disabled'],
      ['delete', '/api/v1/admin/users/{name}/lock'],
      ['delete', '/api/v1/admin/users/{name}'],
      ['get', '/api/v1/admin/account-audit'],
      ['post', '/api/v1/auth/password'],
    ];
    for (const [method, path] of want) {
      const op = doc.paths[path!]?.[method!];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op!.security).toEqual([{ session: [] }]);
      expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
  });

  it('keeps the account audit log append-only', () => {
    expect(() => server.ctx.db.prepare('DELETE FROM account_audit').run()).toThrow(/append-only/);
    expect(() => server.ctx.db.prepare("UPDATE account_audit SET actor = 'x'").run()).toThrow(/append-only/);
  });
});

describe('hatake server user', () => {
  it('resets a password and ends the account’s sessions on the running server', async () => {
    const created = await hatake(
      ['user', '--name', 'cli-farmer', '--role', 'farmer', '--farms', 'demo-farm'],
      'cli-password-01',
    );
    expect(created.code, created.err).toBe(0);
    expect(created.out).toContain('created account cli-farmer');
    const b = await signIn('cli-farmer', 'cli-password-01');
    // Without --role, the role and farms stay; the password is new and the session is over.
    const reset = await hatake(['user', '--name', 'cli-farmer'], 'cli-password-02');
    expect(reset.code, reset.err).toBe(0);
    expect(reset.out).toContain('password reset, 1 sessions ended');
    expect(await me(b)).toBe(401);
    expect((await login('cli-farmer', 'cli-password-01')).status).toBe(401);
    const again = await signIn('cli-farmer', 'cli-password-02');
    const admin = await signIn('admin');
    expect(await account(admin, 'cli-farmer')).toMatchObject({ role: 'farmer', farms: ['demo-farm'] });
    expect(
      (await auditLog(admin)).find((e) => e.target === 'cli-farmer' && e.action === 'updated'),
    ).toMatchObject({
      actor: '(cli)',
      detail: { passwordReset: true, sessionsEnded: 1 },
    });

    // The same password again with new farms: nobody lost access, so the sessions stay.
    const scope = await hatake(
      ['user', '--name', 'cli-farmer', '--farms', 'demo-farm,hok-farm'],
      'cli-password-02',
    );
    expect(scope.out).toContain('same password');
    expect(await me(again)).toBe(200);
    expect((await account(admin, 'cli-farmer'))?.farms).toEqual(['demo-farm', 'hok-farm']);

    const disabled = await hatake(['user', '--name', 'cli-farmer', '--disable']);
    expect(disabled.code, disabled.err).toBe(0);
    expect(await me(again)).toBe(401);
    expect((await login('cli-farmer', 'cli-password-02')).status).toBe(401);
    expect((await hatake(['user', '--name', 'cli-farmer', '--enable'])).code).toBe(0);
    const back = await signIn('cli-farmer', 'cli-password-02');

    const list = await hatake(['users', '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.out) as { name: string; disabled: string | null; sessions: number }[];
    expect(rows.find((r) => r.name === 'cli-farmer')).toMatchObject({ disabled: null, sessions: 1 });
    const table = await hatake(['users']);
    expect(table.out).toMatch(/^NAME +ROLE +FARMS\/REGIONS +STATE +LAST SIGN-IN +SESSIONS$/m);
    expect(table.out).toMatch(/^cli-farmer +farmer +demo-farm,hok-farm +enabled +\d{4}-/m);

    const deleted = await hatake(['user', '--name', 'cli-farmer', '--delete']);
    expect(deleted.code, deleted.err).toBe(0);
    expect(await me(back)).toBe(401);
    expect(await account(admin, 'cli-farmer')).toBeUndefined();
  });

  it('says what it needs', async () => {
    const none = await hatake(['user', '--name', 'nobody-yet'], 'some-password-1');
    expect(none.code).toBe(1);
    expect(none.err).toContain('needs --role');
    const both = await hatake(['user', '--name', 'demo-farmer', '--disable', '--delete']);
    expect(both.code).toBe(1);
    expect(both.err).toContain('do not go together');
    const shortPw = await hatake(['user', '--name', 'demo-farmer'], 'short');
    expect(shortPw.code).toBe(1);
    expect(shortPw.err).toContain('HATAKE_PASSWORD');
    const missing = await hatake(['user', '--name', 'nobody-here', '--delete']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('HATAKE_E_NOT_FOUND');
  });
});

describe('sign-in throttled per account', () => {
  const FREE = LOGIN_THROTTLE.free;
  let clockShift = 0;
  beforeAll(() => {
    // The throttle runs on the monotonic clock; the test moves it on instead of waiting minutes.
    const real = server.ctx.auth.throttle.now;
    server.ctx.auth.throttle.now = () => real() + clockShift;
  });

  it('refuses guesses at one account from many addresses with 429 and Retry-After, even the right password', async () => {
    await server.ctx.auth.createUser('target', 'target-password-1', 'farmer', { farms: ['demo-farm'] });
    // The real user's own phone signed in last week: it carries the device cookie.
    const phone = await signIn('target', 'target-password-1');
    expect(setCookie(await login('target', 'target-password-1'), DEVICE_COOKIE)?.attrs).toEqual(
      new Map([
        ['max-age', String(180 * 24 * 3600)],
        ['path', '/api/v1/auth'],
        ['httponly', ''],
        ['samesite', 'Strict'],
      ]),
    );
    // FREE wrong guesses, each from another address (so the per-address limit never sees more
    // than one), are answered as usual; the next one locks the account.
    for (let i = 0; i <= FREE; i++) {
      const res = await login('target', `guess-${i}`);
      expect(res.status, `guess ${i}`).toBe(401);
    }
    const right = await login('target', 'target-password-1');
    expect(right.status).toBe(429);
    expect(right.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await right.json()).toMatchObject({ code: 'HATAKE_E_RATE_LIMIT', status: 429 });
    const retry = Number(right.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(55);
    expect(retry).toBeLessThanOrEqual(60);
    expect(setCookie(right, SESSION_COOKIE)).toBeUndefined();
    // Refused attempts are not counted: they do not lengthen the lock.
    const more = await login('target', 'guess-x');
    expect(Number(more.headers.get('retry-after'))).toBeLessThanOrEqual(retry);

    // The admin sees the lock.
    const admin = await signIn('admin');
    expect((await account(admin, 'target'))?.lockedForS).toBeGreaterThan(55);

    // The real user's phone, which signed in to the account before, is not locked out...
    const fromPhone = await login('target', 'target-password-1', { device: phone.device });
    expect(fromPhone.status).toBe(200);
    // ...a device token of another account does not help...
    const other = await signIn('demo-officer');
    expect((await login('target', 'target-password-1', { device: other.device })).status).toBe(429);
    // ...and the phone's sign-in does not lift the account's lock for everyone else.
    expect((await login('target', 'target-password-1')).status).toBe(429);

    // A minute later the account may try again; another wrong guess locks it twice as long.
    clockShift += 61_000;
    const wrongAgain = await login('target', 'guess-after');
    expect(wrongAgain.status).toBe(401);
    const longer = await login('target', 'target-password-1');
    expect(longer.status).toBe(429);
    expect(Number(longer.headers.get('retry-after'))).toBeGreaterThan(115);
    expect(Number(longer.headers.get('retry-after'))).toBeLessThanOrEqual(120);

    // The lock is bounded: it never exceeds 15 minutes, however many guesses.
    for (let i = 0; i < 8; i++) {
      clockShift += LOGIN_THROTTLE.maxLockMs + 1_000;
      expect((await login('target', `guess-late-${i}`)).status).toBe(401);
    }
    const capped = Number((await login('target', 'target-password-1')).headers.get('retry-after'));
    expect(capped).toBeLessThanOrEqual(LOGIN_THROTTLE.maxLockMs / 1000);
    expect(capped).toBeGreaterThan(LOGIN_THROTTLE.maxLockMs / 1000 - 5);

    // An admin lifts it; the right password then opens a session from anywhere.
    expect((await admin.call('/api/v1/admin/users/target/lock', { method: 'DELETE' })).status).toBe(204);
    expect((await auditLog(admin))[0]).toMatchObject({
      action: 'unlocked',
      target: 'target',
      actor: 'admin',
    });
    expect((await login('target', 'target-password-1')).status).toBe(200);
  });

  it('ends a lock on its own once its time is over, and a success forgets the failures', async () => {
    await server.ctx.auth.createUser('waiter', 'waiter-password-1', 'farmer', { farms: ['demo-farm'] });
    for (let i = 0; i <= FREE; i++) expect((await login('waiter', `guess-${i}`)).status).toBe(401);
    expect((await login('waiter', 'waiter-password-1')).status).toBe(429);
    clockShift += 61_000;
    expect((await login('waiter', 'waiter-password-1')).status).toBe(200);
    // Forgotten: FREE more wrong guesses are answered as usual.
    for (let i = 0; i < FREE; i++) expect((await login('waiter', `again-${i}`)).status).toBe(401);
  });

  it('treats a name no account has the same way, so a 429 does not tell which names exist', async () => {
    for (let i = 0; i <= FREE; i++) expect((await login('no-such-account', `guess-${i}`)).status).toBe(401);
    const res = await login('no-such-account', 'anything-at-all');
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(55);
  });

  it('throttles guesses at the current password through the password change too', async () => {
    await server.ctx.auth.createUser('stolen', 'stolen-password-1', 'farmer', { farms: ['demo-farm'] });
    const thief = await signIn('stolen', 'stolen-password-1');
    // The thief's browser signed in, so it is held to its own failures (each guess from another
    // address: the route's per-address limit is not what this tests).
    for (let i = 0; i <= FREE; i++) {
      const res = await thief.call('/api/v1/auth/password', {
        method: 'POST',
        body: { current: `guess-${i}`, password: 'thief-password-1' },
        from: nextAddress(),
      });
      expect(res.status, `guess ${i}`).toBe(403);
    }
    const locked = await thief.call('/api/v1/auth/password', {
      method: 'POST',
      body: { current: 'stolen-password-1', password: 'thief-password-1' },
      from: nextAddress(),
    });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await login('stolen', 'stolen-password-1')).status).toBe(200);
  });

  it('follows a bounded number of names no account has, never dropping an account’s lock for them', () => {
    const t = new LoginThrottle();
    t.policy = { ...t.policy, maxUnknown: 3 };
    for (let i = 0; i <= FREE; i++) t.fail('u:real', true);
    expect(t.waitMs('u:real')).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) t.fail(`u:nobody-${i}`, false);
    expect(t.evicted).toBe(7);
    expect(t.size).toBe(4);
    expect(t.failures('u:nobody-0')).toBe(0);
    expect(t.failures('u:nobody-9')).toBe(1);
    expect(t.waitMs('u:real')).toBeGreaterThan(0);
  });
});
