// `hatake gateway register`: signs in to the server as an admin or the farm's IT partner, has it
// issue this gateway's sync token, and writes the token and the server's signing key next to the
// gateway's config — the two things `server:` in gateway.yaml needs.
import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { HatakeError } from '../protocol/errors.ts';
import { writeFileAtomic } from '../firmware-config/provision.ts';
import { describeFetchError, serverFetch, type ServerFetch } from './server-fetch.ts';

export interface Registration {
  tokenFile: string;
  publicKeyFile: string;
  snippet: string;
}

async function call(send: ServerFetch, url: URL, init: RequestInit): Promise<Response> {
  try {
    return await send(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new HatakeError('HATAKE_E_CONFIG', `cannot reach ${url.origin}: ${describeFetchError(e)}`, {
      expected:
        url.protocol === 'https:'
          ? 'a reachable server whose certificate chains to a trusted CA (a private CA: its CA file as `ca`)'
          : undefined,
    });
  }
}

/**
 * Registers gateway `id` for `farm` on the server at `server`; writes token and key into `outDir`.
 * `ca` is the CA file of a server with a private CA (the same file as `server.ca` in gateway.yaml).
 */
export async function registerGateway(opts: {
  server: string;
  farm: string;
  id: string;
  user: string;
  password: string;
  outDir: string;
  ca?: string;
}): Promise<Registration> {
  const send = serverFetch({ url: opts.server, ca: opts.ca });
  const login = await call(send, new URL('/api/v1/auth/login', opts.server), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: opts.user, password: opts.password }),
  });
  if (login.status !== 200)
    throw new HatakeError('HATAKE_E_AUTH', `sign-in as ${opts.user} refused (HTTP ${login.status})`);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const { csrf } = (await login.json()) as { csrf: string };
  const res = await call(send, new URL('/api/v1/gateways', opts.server), {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf },
    body: JSON.stringify({ id: opts.id, farm: opts.farm }),
  });
  if (res.status !== 201) {
    const problem = (await res.json().catch(() => ({}))) as { detail?: string };
    throw new HatakeError(
      res.status === 403 ? 'HATAKE_E_FORBIDDEN' : 'HATAKE_E_CONFIG',
      `registration refused (HTTP ${res.status}): ${problem.detail ?? ''}`,
    );
  }
  const { token, publicKey } = (await res.json()) as { token: string; publicKey: string };
  mkdirSync(opts.outDir, { recursive: true });
  const tokenFile = join(opts.outDir, 'token');
  const publicKeyFile = join(opts.outDir, 'server-key.pem');
  writeFileAtomic(tokenFile, `${token}\n`, 0o600);
  writeFileAtomic(publicKeyFile, publicKey, 0o644);
  const snippet = `id: ${opts.id}\nserver:\n  url: ${opts.server}\n  tokenFile: ${tokenFile}\n${opts.ca ? `  ca: ${resolve(opts.ca)}\n` : ''}  publicKeyFile: ${publicKeyFile}\n`;
  return { tokenFile, publicKeyFile, snippet };
}
