// The code that protects the manual override on the gateway's page. Anyone on the farm network
// can read the status page, but holding a water gate open or closed needs this code: made on the
// first start, kept 0600 in the gateway's data folder (`override-token`), short enough to type on
// a phone (12 characters without look-alikes such as 0/O and 1/I/L).
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HatakeError } from '../../protocol/errors.ts';
import { writeFileAtomic } from '../../firmware-config/provision.ts';

const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const OVERRIDE_TOKEN_FILE = 'override-token';

/** A new code, e.g. `K7QX-M2PD-9RTA`. */
export function newOverrideToken(): string {
  const chars = Array.from({ length: 12 }, () => ALPHABET[randomInt(ALPHABET.length)]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4, 8).join('')}-${chars.slice(8).join('')}`;
}

/** Upper case without spaces and dashes, as a person may type it. */
export function normalizeToken(s: string): string {
  return s.replace(/[\s-]/g, '').toUpperCase();
}

/** Reads the gateway's override code from its data folder, making one on the first start. */
export function loadOrCreateOverrideToken(dataDir: string): {
  token: string;
  file: string;
  created: boolean;
} {
  const file = join(dataDir, OVERRIDE_TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (normalizeToken(token).length < 12)
      throw new HatakeError('HATAKE_E_CONFIG', 'the override code file holds no usable code', {
        place: { file },
        expected: 'a code of at least 12 characters (delete the file to make a new one)',
      });
    return { token, file, created: false };
  }
  mkdirSync(dirname(file), { recursive: true });
  const token = newOverrideToken();
  writeFileAtomic(file, `${token}\n`, 0o600);
  return { token, file, created: true };
}

/** Compares a typed code with the real one in constant time. */
export function tokenMatches(given: unknown, token: string): boolean {
  if (typeof given !== 'string' || given.length > 200) return false;
  const a = createHash('sha256').update(normalizeToken(given)).digest();
  const b = createHash('sha256').update(normalizeToken(token)).digest();
  return timingSafeEqual(a, b);
}
