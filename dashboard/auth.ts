// Accounts, sessions and gateway tokens, and the one question every route asks: which farms may
// this caller see? Passwords are hashed with scrypt (memory-hard); session and gateway tokens are
// random 256-bit values stored only as sha256 hashes, so a copy of the database opens nothing.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db } from '../runtime/sqlite.ts';
import { HatakeError } from '../protocol/errors.ts';

const scryptAsync = promisify(scrypt) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;

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

export class Auth {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async createUser(
    name: string,
    password: string,
    role: Role,
    scope: { farms?: string[]; regions?: string[] } = {},
  ): Promise<void> {
    const hash = await hashPassword(password);
    this.db
      .prepare(
        `INSERT INTO users (name, password_hash, role, farms, regions, created) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role,
           farms = excluded.farms, regions = excluded.regions`,
      )
      .run(
        name,
        hash,
        role,
        JSON.stringify(scope.farms ?? []),
        JSON.stringify(scope.regions ?? []),
        Date.now(),
      );
  }

  hasUser(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM users WHERE name = ?').get(name) !== undefined;
  }

  /** Checks a login and opens a session; returns the session token (for the cookie) and CSRF token. */
  async login(name: string, password: string): Promise<{ token: string; session: Session }> {
    const row = this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
    dummyHash ??= hashPassword(newToken());
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash));
    if (!row || !ok) throw new HatakeError('HATAKE_E_AUTH', 'user name or password is wrong');
    const token = newToken();
    const csrf = newToken();
    const now = Date.now();
    this.db.prepare('DELETE FROM sessions WHERE expires < ?').run(now);
    this.db
      .prepare('INSERT INTO sessions (token_hash, user, csrf, created, expires) VALUES (?, ?, ?, ?, ?)')
      .run(sha256(token), row.name, csrf, now, now + SESSION_TTL_MS);
    return { token, session: { user: toUser(row), csrf } };
  }

  session(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const row = this.db
      .prepare(
        'SELECT u.*, s.csrf, s.expires FROM sessions s JOIN users u ON u.name = s.user WHERE s.token_hash = ?',
      )
      .get(sha256(token)) as (UserRow & { csrf: string; expires: number }) | undefined;
    if (!row || row.expires < Date.now()) return undefined;
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
