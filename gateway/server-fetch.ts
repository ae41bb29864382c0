// The gateway's HTTP client to its server: one connection pool (undici) for the uplink, the
// downlink, map uploads and registration. With `server.ca` it trusts that CA — and only that CA —
// so a server with a private CA works without touching the system's trust store. Also turns a
// failed fetch into text that names its cause ("fetch failed" alone tells a farm nothing).
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { HatakeError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';

/** What the gateway's server clients need of fetch: a URL and a plain RequestInit. */
export type ServerFetch = (url: URL, init: RequestInit) => Promise<Response>;
type UndiciInit = NonNullable<Parameters<typeof undiciFetch>[1]>;

/** Reads a PEM file of one or more CA certificates; a coded error when it is missing or not PEM. */
export function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new HatakeError('HATAKE_E_CONFIG', `cannot read the server CA file: ${(e as Error).message}`, {
      place: { file, pointer: '/server/ca' },
      expected: 'a PEM file with the CA certificate that signed the server certificate',
    });
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new HatakeError('HATAKE_E_CONFIG', 'the server CA file holds no PEM certificate', {
      place: { file, pointer: '/server/ca' },
      expected: '-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----',
    });
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (e) {
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        `certificate ${i + 1} in the server CA file is not valid: ${(e as Error).message}`,
        { place: { file, pointer: '/server/ca' } },
      );
    }
  }
  return pem;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for localhost, 127.0.0.0/8 and ::1 (also IPv4-mapped): plain http there never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The fetch for the gateway's server at `server.url`. `server.ca` is a CA file (already resolved
 * against the config's folder): when set, the server's certificate must chain to it. Warns, once,
 * when the URL is plain http:// to a host other than this one (the token travels in clear).
 */
export function serverFetch(server: { url: string; ca?: string }, log?: Logger): ServerFetch {
  const url = new URL(server.url);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    log?.warn(
      { server: url.origin },
      'the server URL is plain http:// to another host: the gateway token and farm data travel unencrypted; use https:// (with server.ca for a private CA)',
    );
  if (server.ca && url.protocol === 'http:')
    log?.warn(
      { server: url.origin, ca: server.ca },
      'server.ca is set but the server URL is http://; not used',
    );
  const agent = new Agent(server.ca ? { connect: { ca: readCaFile(server.ca) } } : {});
  // undici's Request/Response are the classes Node's own fetch is built from; only their
  // TypeScript declarations differ from the DOM ones.
  return (u, init) =>
    undiciFetch(u, { ...init, dispatcher: agent } as UndiciInit) as unknown as Promise<Response>;
}

/**
 * A failed fetch as text with its causes: "fetch failed: self-signed certificate in certificate
 * chain (SELF_SIGNED_CERT_IN_CHAIN)", "fetch failed: connect ECONNREFUSED 10.0.0.5:443", ….
 */
export function describeFetchError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const err = cur as Partial<NodeJS.ErrnoException> & { errors?: unknown[] };
    let text = typeof err.message === 'string' && err.message ? err.message : '';
    // Several addresses tried (happy eyeballs): an AggregateError whose message may be empty.
    if (Array.isArray(err.errors) && err.errors.length && !text)
      text = [...new Set(err.errors.map((x) => (x as Error).message))].join('; ');
    if (!text) text = typeof cur === 'string' ? cur : (err.code ?? '');
    if (err.code && !text.includes(err.code)) text += ` (${err.code})`;
    if (text && !parts.includes(text)) parts.push(text);
    cur = err.cause;
  }
  return parts.join(': ') || String(e);
}
