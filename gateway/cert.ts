// `hatake gateway cert`: a self-signed certificate and key for a farm without a CA, so devices
// can use MQTT over TLS (8883). Devices trust the certificate itself (it is its own CA).
import { mkdirSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { writeFileAtomic } from '../firmware-config/provision.ts';

export interface CertFiles {
  cert: string;
  key: string;
  fingerprint: string;
}

/** The names a device may use to reach this gateway: its host name, localhost and its IPs. */
export function localNames(): { dns: string[]; ips: string[] } {
  const ips = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined)
    .map((a) => a.address);
  return { dns: [...new Set([hostname(), 'localhost'])], ips: [...new Set(['127.0.0.1', ...ips])] };
}

/** Writes cert.pem (shareable) and key.pem (0600) into `dir`. */
export async function makeSelfSignedCert(
  dir: string,
  opts: { name?: string; days?: number; dns?: string[]; ips?: string[] } = {},
): Promise<CertFiles> {
  const names = localNames();
  const dns = opts.dns ?? names.dns;
  const ips = opts.ips ?? names.ips;
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: opts.name ?? dns[0] ?? 'hatake-gateway' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + (opts.days ?? 3650) * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dns.map((value) => ({ type: 2 as const, value })),
          ...ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeFileAtomic(cert, pems.cert, 0o644);
  writeFileAtomic(key, pems.private, 0o600);
  return { cert, key, fingerprint: pems.fingerprint };
}
