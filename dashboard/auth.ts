// Accounts, sessions and gateway tokens, and the one question every route asks: which farms may
// this caller see? Passwords are hashed with scrypt (memory-hard); session, device and gateway
// tokens are random 256-bit values stored only as sha256 hashes, so a copy of the database opens
// nothing.
//
// Accounts are managed here too (dashboard/routes/users.ts, `hatake server user`): a password reset,
// a disabled account and a deleted one end the account's sessions in the same transaction; the
// last enabled admin can be neither disabled, deleted nor demoted; every change is written to the
// append-only `account_audit` table.
//
// Failed sign-ins are throttled per account (LoginThrottle), besides the per-address limit of the
// login route: an account's first `free` failures cost nothing, each one after that locks the
// account for a while (doubling, at most `maxLockMs`) during which its sign-ins are refused with 429
// without the password being checked. So that an attacker guessing at an account cannot keep its real user
// out, a browser that signed in to the account before carries a device token (an http-only cookie)
// and is held to its own failures only, not the account's lock.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { migrate, type Db } from '../runtime/sqlite.ts';
import { HatakeError } from '../protocol/errors.ts';

const scryptAsync = promisify(scrypt) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
/**
 * How long a browser that signed in stays trusted (counted from its last sign-in) to sign in while
 * its account is locked.
 */
export const DEVICE_TTL_MS = 180 * 24 * 3600 * 1000;
/** Trusted browsers kept per account (the newest; older ones are forgotten). */
const DEVICES_PER_USER = 10;
/** The shortest password an account may be given (the CLI has asked for 10 since the start). */
export const MIN_PASSWORD_LENGTH = 10;
/** Account names made from now on (older ones, made by the CLI, may be anything it took). */
export const USER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$';
const USER_NAME_RE = new RegExp(USER_NAME_PATTERN);

export type Role = 'farmer' | 'officer' | 'partner' | 'admin';
export const ROLES: readonly Role[] = ['farmer', 'officer', 'partner', 'admin'];

export interface User {
  name: string;
  role: Role;
  /** Farms a farmer owns or a partner serves. */
  farms: string[];
  /** Regions an extension officer covers. */
  regions: string[];
}

export interface Session {
  user: User;
  csrf: string;
}

export interface GatewayIdentity {
  id: string;
  farm: string;
}

/** An account as an admin sees it. */
export interface Account extends User {
  /** When the account was disabled (epoch ms), or null. */
  disabled: number | null;
  created: number;
  /** The last successful sign-in (epoch ms), or null: never, or before the server recorded it. */
  lastLogin: number | null;
  /** Sessions open now. */
  sessions: number;
  /** Seconds the account's sign-ins are refused for (0: not locked). */
  lockedForS: number;
}

export const ACCOUNT_ACTIONS = [
  'created',
  'updated',
  'password_reset',
  'password_changed',
  'disabled',
  'enabled',
  'unlocked',
  'deleted',
] as const;
export type AccountAction = (typeof ACCOUNT_ACTIONS)[number];

export interface AccountAuditEntry {
  seq: number;
  at: number;
  /** Who did it: an admin's name, the account itself, CLI_ACTOR or SYSTEM_ACTOR. */
  actor: string;
  action: AccountAction;
  /** The account it was done to. */
  target: string;
  detail: Record<string, unknown>;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(actual, expected);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const newToken = () => randomBytes(32).toString('base64url');

interface UserRow {
  name: string;
  password_hash: string;
  role: Role;
  farms: string;
  regions: string;
  created: number;
  disabled: number | null;
  last_login: number | null;
}

const toUser = (r: UserRow): User => ({
  name: r.name,
  role: r.role,
  farms: JSON.parse(r.farms),
  regions: JSON.parse(r.regions),
});

// A fixed hash to compare against when the user does not exist, so that the response time does
// not reveal which user names are taken.
let dummyHash: Promise<string> | undefined;

/** The account's own tables and columns, beside the server's first migration (dashboard/db.ts). */
const ACCOUNT_MIGRATIONS = [
  `
  ALTER TABLE users ADD COLUMN disabled INTEGER;
  ALTER TABLE users ADD COLUMN last_login INTEGER;
  CREATE TABLE login_devices (
    token_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created INTEGER NOT NULL, used INTEGER NOT NULL
  );
  CREATE INDEX login_devices_by_user ON login_devices (user, used);
  CREATE INDEX sessions_by_user ON sessions (user);
  CREATE TABLE account_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
  );
  CREATE TRIGGER account_audit_no_update BEFORE UPDATE ON account_audit
    BEGIN SELECT RAISE(ABORT, 'account_audit is append-only'); END;
  CREATE TRIGGER account_audit_no_delete BEFORE DELETE ON account_audit
    BEGIN SELECT RAISE(ABORT, 'account_audit is append-only'); END;
  `,
];

/** The per-account sign-in throttle's settings (see LoginThrottle). */
export interface ThrottlePolicy {
  /** Failures an account (or a trusted browser) may have before it is locked. */
  free: number;
  /** The first lock; each further failure doubles it. */
  baseLockMs: number;
  /** The longest lock. */
  maxLockMs: number;
  /** Failures are forgotten this long after the last one (and a success forgets them at once). */
  forgetMs: number;
  /** Names no account has that are followed at once (the oldest is dropped beyond). */
  maxUnknown: number;
}

export const LOGIN_THROTTLE: Readonly<ThrottlePolicy> = {
  free: 10,
  baseLockMs: 60_000,
  maxLockMs: 15 * 60_000,
  forgetMs: 24 * 3600_000,
  maxUnknown: 10_000,
};

interface Failures {
  failures: number;
  last: number;
  until: number;
}

/**
 * Failed sign-ins per account and per trusted browser, in memory, on the monotonic clock (a clock
 * set back must not lock anyone out; docs/architecture.md). Keys: `u:<name>`, `d:<device hash>`.
 * Bounded: accounts that exist and trusted browsers are as many as the database has; names no
 * account has are followed too (so a 429 does not tell which names exist), at most
 * `maxUnknown` of them, the oldest dropped first (`evicted` counts them).
 */
export class LoginThrottle {
  policy: ThrottlePolicy = { ...LOGIN_THROTTLE };
  /** The monotonic clock in ms; a test may replace it. */
  now: () => number = () => performance.now();
  /** Sign-ins refused because their account or browser was locked. */
  refused = 0;
  /** Names no account has, dropped to stay within maxUnknown. */
  evicted = 0;
  private readonly known = new Map<string, Failures>();
  private readonly unknown = new Map<string, Failures>();

  private current(key: string): Failures | undefined {
    const map = this.known.has(key) ? this.known : this.unknown;
    const f = map.get(key);
    if (!f) return undefined;
    const now = this.now();
    if (now >= f.until && now - f.last > this.policy.forgetMs) {
      map.delete(key);
      return undefined;
    }
    return f;
  }

  /** Milliseconds until `key` may try again (0: now). */
  waitMs(key: string): number {
    const f = this.current(key);
    return f ? Math.max(0, Math.ceil(f.until - this.now())) : 0;
  }

  /** Failures counted for `key` (0 once forgotten). */
  failures(key: string): number {
    return this.current(key)?.failures ?? 0;
  }

  /** Counts a failure; past the free ones, locks `key`. `exists`: an account or a trusted browser. */
  fail(key: string, exists: boolean): void {
    const now = this.now();
    const f = this.current(key) ?? { failures: 0, last: now, until: 0 };
    f.failures++;
    f.last = now;
    const over = f.failures - this.policy.free;
    if (over > 0)
      f.until = now + Math.min(this.policy.maxLockMs, this.policy.baseLockMs * 2 ** Math.min(over - 1, 30));
    if (exists) {
      this.unknown.delete(key);
      this.known.set(key, f);
      // Accounts and trusted browsers with recent failures; those forgotten are dropped now and
      // then (a browser pruned from the database leaves its entry here until then).
      if (this.known.size > this.policy.maxUnknown) this.sweep(this.known);
      return;
    }
    // Oldest first: a name tried again moves to the end.
    this.unknown.delete(key);
    this.unknown.set(key, f);
    if (this.unknown.size > this.policy.maxUnknown) this.sweep(this.unknown);
    while (this.unknown.size > this.policy.maxUnknown) {
      this.unknown.delete(this.unknown.keys().next().value!);
      this.evicted++;
    }
  }

  /** Drops the entries whose lock is over and whose failures are forgotten. */
  private sweep(map: Map<string, Failures>): void {
    const now = this.now();
    for (const [k, f] of map) if (now >= f.until && now - f.last > this.policy.forgetMs) map.delete(k);
  }

  clear(key: string): void {
    this.known.delete(key);
    this.unknown.delete(key);
  }

  /** Followed keys now (both kinds). */
  get size(): number {
    return this.known.size + this.unknown.size;
  }
}

/** A sign-in refused by the per-account throttle: 429 with Retry-After. */
export class LoginThrottled extends HatakeError {
  readonly retryAfterS: number;
  constructor(waitMs: number) {
    const s = Math.max(1, Math.ceil(waitMs / 1000));
    super('HATAKE_E_RATE_LIMIT', `too many failed sign-ins for this account; try again in ${s} s`, {
      expected: `a retry after ${s} s, or a sign-in from a browser that signed in to this account before`,
    });
    this.retryAfterS = s;
  }
}

const userKey = (name: string) => `u:${name}`;
const deviceKey = (hash: string) => `d:${hash}`;

/** What a successful sign-in gives: the session, and the browser's device token (to set or keep). */
export interface LoginResult {
  token: string;
  session: Session;
  device: string;
}

/**
 * Whom an account change is done by, for the audit log: an admin's name (the API), or one of these
 * (which no account name can be, USER_NAME_PATTERN).
 */
export const CLI_ACTOR = '(cli)';
export const SYSTEM_ACTOR = '(system)';

export class Auth {
  private readonly db: Db;
  readonly throttle = new LoginThrottle();

  constructor(db: Db) {
    this.db = db;
    migrate(db, 'accounts', ACCOUNT_MIGRATIONS);
  }

  private row(name: string): UserRow | undefined {
    return this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
  }

  private audit(actor: string, action: AccountAction, target: string, detail: Record<string, unknown> = {}) {
    this.db
      .prepare('INSERT INTO account_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)')
      .run(Date.now(), actor, action, target, JSON.stringify(detail));
  }

  /** Ends an account's sessions (but `keepToken`'s); returns how many. */
  private endSessions(name: string, keepToken?: string): number {
    return keepToken
      ? this.db
          .prepare('DELETE FROM sessions WHERE user = ? AND token_hash <> ?')
          .run(name, sha256(keepToken)).changes
      : this.db.prepare('DELETE FROM sessions WHERE user = ?').run(name).changes;
  }

  /** Forgets the browsers trusted for an account (but `keepDevice`). */
  private forgetDevices(name: string, keepDevice?: string): void {
    const keep = keepDevice ? sha256(keepDevice) : '';
    const gone = this.db
      .prepare('SELECT token_hash FROM login_devices WHERE user = ? AND token_hash <> ?')
      .all(name, keep) as { token_hash: string }[];
    for (const d of gone) this.throttle.clear(deviceKey(d.token_hash));
    this.db.prepare('DELETE FROM login_devices WHERE user = ? AND token_hash <> ?').run(name, keep);
  }

  /** Admins that can sign in. */
  private enabledAdmins(): number {
    return (
      this.db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled IS NULL").get() as {
        n: number;
      }
    ).n;
  }

  /** Refuses a change that would leave no admin able to sign in (when there was one). */
  private keepAnAdmin(row: UserRow, what: string): void {
    if (row.role === 'admin' && row.disabled === null && this.enabledAdmins() <= 1)
      throw new HatakeError('HATAKE_E_STATE_CONFLICT', `${row.name} is the last admin: cannot ${what} it`, {
        expected: 'another enabled admin first',
      });
  }

  private mustExist(name: string): UserRow {
    const row = this.row(name);
    if (!row) throw new HatakeError('HATAKE_E_NOT_FOUND', `no account ${name}`);
    return row;
  }

  /**
   * Creates an account, or — `hatake server user` on a name that exists — sets its password, role
   * and scope. A new password ends the account's sessions and forgets its trusted browsers (a reset
   * must lock out whoever had the old one); the same password keeps them (a role or scope change
   * reaches the sessions at their next request anyway). Returns which it did: `created`, `reset`
   * (a new password) or `updated`. A disabled account stays disabled.
   */
  async createUser(
    name: string,
    password: string,
    role: Role,
    scope: { farms?: string[]; regions?: string[] } = {},
    actor: string = SYSTEM_ACTOR,
  ): Promise<'created' | 'reset' | 'updated'> {
    const old = this.row(name);
    const samePassword = old ? await verifyPassword(password, old.password_hash) : false;
    const hash = samePassword ? old!.password_hash : await hashPassword(password);
    const farms = scope.farms ?? [];
    const regions = scope.regions ?? [];
    return this.db.transaction(() => {
      const before = this.row(name);
      if (before && role !== 'admin') this.keepAnAdmin(before, 'demote');
      // Changed meanwhile (while hashing): judged by the hash read then.
      const reset = before !== undefined && before.password_hash !== hash;
      this.db
        .prepare(
          `INSERT INTO users (name, password_hash, role, farms, regions, created) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role,
             farms = excluded.farms, regions = excluded.regions`,
        )
        .run(name, hash, role, JSON.stringify(farms), JSON.stringify(regions), Date.now());
      if (!before) {
        this.audit(actor, 'created', name, { role, farms, regions });
        return 'created' as const;
      }
      if (!reset) {
        this.audit(actor, 'updated', name, { role, farms, regions, passwordReset: false });
        return 'updated' as const;
      }
      const sessionsEnded = this.endSessions(name);
      this.forgetDevices(name);
      this.throttle.clear(userKey(name));
      this.audit(actor, 'updated', name, { role, farms, regions, passwordReset: true, sessionsEnded });
      return 'reset' as const;
    })();
  }

  /** Creates an account that does not exist yet (the admin API); 409 when the name is taken. */
  async addUser(
    name: string,
    password: string,
    role: Role,
    scope: { farms?: string[]; regions?: string[] },
    actor: string,
  ): Promise<Account> {
    if (!USER_NAME_RE.test(name))
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `account name "${name.slice(0, 64)}" is not allowed`, {
        place: { pointer: '/name' },
        expected: `a name matching ${USER_NAME_PATTERN}`,
      });
    if (this.hasUser(name))
      throw new HatakeError('HATAKE_E_STATE_CONFLICT', `an account ${name} exists already`, {
        expected: 'a new name (reset the password of an existing account instead)',
      });
    const hash = await hashPassword(password);
    const farms = scope.farms ?? [];
    const regions = scope.regions ?? [];
    this.db.transaction(() => {
      // Taken meanwhile (while the password was hashed): the primary key refuses it.
      if (this.hasUser(name))
        throw new HatakeError('HATAKE_E_STATE_CONFLICT', `an account ${name} exists already`);
      this.db
        .prepare(
          'INSERT INTO users (name, password_hash, role, farms, regions, created) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(name, hash, role, JSON.stringify(farms), JSON.stringify(regions), Date.now());
      this.audit(actor, 'created', name, { role, farms, regions });
    })();
    return this.account(name)!;
  }

  hasUser(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM users WHERE name = ?').get(name) !== undefined;
  }

  /** Every account, by name. */
  listUsers(): Account[] {
    const rows = this.db
      .prepare(
        `SELECT u.*, (SELECT COUNT(*) FROM sessions s WHERE s.user = u.name AND s.expires >= ?) AS open
         FROM users u ORDER BY u.name`,
      )
      .all(Date.now()) as (UserRow & { open: number })[];
    return rows.map((r) => this.toAccount(r, r.open));
  }

  account(name: string): Account | undefined {
    const r = this.row(name);
    if (!r) return undefined;
    const open = (
      this.db
        .prepare('SELECT COUNT(*) AS n FROM sessions WHERE user = ? AND expires >= ?')
        .get(name, Date.now()) as { n: number }
    ).n;
    return this.toAccount(r, open);
  }

  private toAccount(r: UserRow, sessions: number): Account {
    return {
      ...toUser(r),
      disabled: r.disabled,
      created: r.created,
      lastLogin: r.last_login,
      sessions,
      lockedForS: Math.ceil(this.throttle.waitMs(userKey(r.name)) / 1000),
    };
  }

  /** Sets an account's password (an admin's reset): its sessions end, its trusted browsers are forgotten. */
  async resetPassword(name: string, password: string, actor: string): Promise<number> {
    this.mustExist(name);
    const hash = await hashPassword(password);
    return this.db.transaction(() => {
      this.mustExist(name);
      this.db.prepare('UPDATE users SET password_hash = ? WHERE name = ?').run(hash, name);
      const sessionsEnded = this.endSessions(name);
      this.forgetDevices(name);
      this.throttle.clear(userKey(name));
      this.audit(actor, 'password_reset', name, { sessionsEnded });
      return sessionsEnded;
    })();
  }

  /** Disables (its sessions end at once) or enables an account. Not one's own; never the last admin. */
  setDisabled(name: string, disabled: boolean, actor: string): Account {
    this.db.transaction(() => {
      const row = this.mustExist(name);
      if (disabled === (row.disabled !== null)) return; // already so: nothing to log
      if (disabled) {
        if (actor === name)
          throw new HatakeError('HATAKE_E_FORBIDDEN', 'you cannot disable your own account', {
            expected: 'another admin to do it',
          });
        this.keepAnAdmin(row, 'disable');
        this.db.prepare('UPDATE users SET disabled = ? WHERE name = ?').run(Date.now(), name);
        const sessionsEnded = this.endSessions(name);
        this.audit(actor, 'disabled', name, { sessionsEnded });
      } else {
        this.db.prepare('UPDATE users SET disabled = NULL WHERE name = ?').run(name);
        this.audit(actor, 'enabled', name);
      }
    })();
    return this.account(name)!;
  }

  /** Deletes an account (sessions and trusted browsers go with it). Not one's own; never the last admin. */
  deleteUser(name: string, actor: string): void {
    this.db.transaction(() => {
      const row = this.mustExist(name);
      if (actor === name)
        throw new HatakeError('HATAKE_E_FORBIDDEN', 'you cannot delete your own account', {
          expected: 'another admin to do it',
        });
      this.keepAnAdmin(row, 'delete');
      const sessionsEnded = this.endSessions(name);
      this.forgetDevices(name);
      this.db.prepare('DELETE FROM users WHERE name = ?').run(name);
      this.throttle.clear(userKey(name));
      this.audit(actor, 'deleted', name, { role: row.role, sessionsEnded });
    })();
  }

  /** Lifts the per-account sign-in lock (the failures are forgotten). */
  unlock(name: string, actor: string): void {
    this.mustExist(name);
    const failures = this.throttle.failures(userKey(name));
    this.throttle.clear(userKey(name));
    if (failures > 0) this.audit(actor, 'unlocked', name, { failures });
  }

  /** The newest account changes, newest first. */
  accountAudit(limit = 100): AccountAuditEntry[] {
    return (
      this.db.prepare('SELECT * FROM account_audit ORDER BY seq DESC LIMIT ?').all(limit) as {
        seq: number;
        at: number;
        actor: string;
        action: AccountAction;
        target: string;
        detail: string;
      }[]
    ).map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  }

  /** The sha256 of `device` when it is a browser trusted for `name`, else undefined. */
  private trustedDevice(device: string | undefined, name: string): string | undefined {
    if (!device) return undefined;
    const hash = sha256(device);
    const row = this.db.prepare('SELECT user, used FROM login_devices WHERE token_hash = ?').get(hash) as
      { user: string; used: number } | undefined;
    return row && row.user === name && row.used > Date.now() - DEVICE_TTL_MS ? hash : undefined;
  }

  /**
   * Checks an account's password under the per-account throttle; returns the account's row and the
   * trusted browser's hash (if it is one). A locked account (or browser) is refused with
   * LoginThrottled before the password is checked; a wrong password counts a failure and throws
   * `wrong` — as does a disabled account, so that the answer says nothing a wrong password would not.
   */
  private async checkPassword(
    name: string,
    password: string,
    device: string | undefined,
    wrong: () => HatakeError,
  ): Promise<{ row: UserRow; trusted: string | undefined }> {
    const row = this.row(name);
    const trusted = row ? this.trustedDevice(device, name) : undefined;
    // A trusted browser answers for its own failures only; any other, for the account's.
    const key = trusted ? deviceKey(trusted) : userKey(name);
    const wait = this.throttle.waitMs(key);
    if (wait > 0) {
      this.throttle.refused++;
      throw new LoginThrottled(wait);
    }
    dummyHash ??= hashPassword(newToken());
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash));
    if (!row || !ok || row.disabled !== null) {
      this.throttle.fail(key, row !== undefined);
      throw wrong();
    }
    this.throttle.clear(key);
    return { row, trusted };
  }

  /**
   * Checks a login and opens a session; returns the session token (for the cookie), the CSRF token
   * and the browser's device token (the one it brought, if trusted for this account; else a new one).
   */
  async login(name: string, password: string, device?: string): Promise<LoginResult> {
    const { row, trusted } = await this.checkPassword(
      name,
      password,
      device,
      () => new HatakeError('HATAKE_E_AUTH', 'user name or password is wrong'),
    );
    const token = newToken();
    const csrf = newToken();
    const now = Date.now();
    const deviceToken = trusted ? device! : newToken();
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM sessions WHERE expires < ?').run(now);
      this.db
        .prepare('INSERT INTO sessions (token_hash, user, csrf, created, expires) VALUES (?, ?, ?, ?, ?)')
        .run(sha256(token), row.name, csrf, now, now + SESSION_TTL_MS);
      this.db.prepare('UPDATE users SET last_login = ? WHERE name = ?').run(now, row.name);
      if (trusted) {
        this.db.prepare('UPDATE login_devices SET used = ? WHERE token_hash = ?').run(now, trusted);
      } else {
        this.db
          .prepare('INSERT INTO login_devices (token_hash, user, created, used) VALUES (?, ?, ?, ?)')
          .run(sha256(deviceToken), row.name, now, now);
        this.db
          .prepare(
            `DELETE FROM login_devices WHERE user = ? AND (used <= ? OR token_hash NOT IN
               (SELECT token_hash FROM login_devices WHERE user = ? ORDER BY used DESC LIMIT ?))`,
          )
          .run(row.name, now - DEVICE_TTL_MS, row.name, DEVICES_PER_USER);
      }
    })();
    return { token, session: { user: toUser(row), csrf }, device: deviceToken };
  }

  /**
   * A signed-in user's own password change: the current password is checked (and throttled) as a
   * sign-in is; then every other session of the account ends and its other trusted browsers are
   * forgotten. The session `token` and the browser's `device` stay.
   */
  async changePassword(
    name: string,
    current: string,
    next: string,
    keep: { token: string | undefined; device: string | undefined },
  ): Promise<number> {
    const { trusted } = await this.checkPassword(
      name,
      current,
      keep.device,
      () =>
        new HatakeError('HATAKE_E_FORBIDDEN', 'the current password is wrong', {
          place: { pointer: '/current' },
          expected: 'the password this account signs in with now',
        }),
    );
    const hash = await hashPassword(next);
    return this.db.transaction(() => {
      this.mustExist(name);
      this.db.prepare('UPDATE users SET password_hash = ? WHERE name = ?').run(hash, name);
      const sessionsEnded = this.endSessions(name, keep.token);
      this.forgetDevices(name, trusted ? keep.device : undefined);
      this.audit(name, 'password_changed', name, { sessionsEnded });
      return sessionsEnded;
    })();
  }

  session(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const row = this.db
      .prepare(
        `SELECT u.*, s.csrf, s.expires FROM sessions s JOIN users u ON u.name = s.user
         WHERE s.token_hash = ? AND u.disabled IS NULL`,
      )
      .get(sha256(token)) as (UserRow & { csrf: string; expires: number }) | undefined;
    // Expired — or made on a clock that ran ahead (its expiry further off than a session lives):
    // such a session would otherwise outlive its week once the clock comes back.
    const now = Date.now();
    if (!row || row.expires < now || row.expires - now > SESSION_TTL_MS) return undefined;
    return { user: toUser(row), csrf: row.csrf };
  }

  logout(token: string | undefined): void {
    if (token) this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(sha256(token));
  }

  /** Issues a new token for a gateway (registering it, or replacing its old token). */
  issueGatewayToken(id: string, farm: string): string {
    const token = `hgw_${newToken()}`;
    this.db
      .prepare(
        `INSERT INTO gateways (id, farm, token_hash, created) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET farm = excluded.farm, token_hash = excluded.token_hash, revoked = NULL`,
      )
      .run(id, farm, sha256(token), Date.now());
    return token;
  }

  revokeGateway(id: string): void {
    this.db.prepare('UPDATE gateways SET revoked = ? WHERE id = ?').run(Date.now(), id);
  }

  gateway(token: string | undefined): GatewayIdentity | undefined {
    if (!token) return undefined;
    const row = this.db
      .prepare('SELECT id, farm, revoked FROM gateways WHERE token_hash = ?')
      .get(sha256(token)) as { id: string; farm: string; revoked: number | null } | undefined;
    if (!row || row.revoked !== null) return undefined;
    return { id: row.id, farm: row.farm };
  }

  /** The farms a user may see. Every query of the API is scoped by this list. */
  visibleFarms(user: User): string[] {
    switch (user.role) {
      case 'admin':
        return (this.db.prepare('SELECT id FROM farms ORDER BY id').all() as { id: string }[]).map(
          (r) => r.id,
        );
      case 'officer': {
        if (user.regions.length === 0) return [];
        const q = `SELECT id FROM farms WHERE region IN (${user.regions.map(() => '?').join(',')}) ORDER BY id`;
        return (this.db.prepare(q).all(...user.regions) as { id: string }[]).map((r) => r.id);
      }
      case 'farmer':
      case 'partner':
        return [...user.farms];
    }
  }
}
