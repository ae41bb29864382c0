// Where a webhook may point. A farmer types the URL, so the server must not become a way to reach
// what only it can reach (server-side request forgery): http(s) only, no credentials in the URL,
// never link-local (cloud metadata), multicast or unspecified addresses, and — unless the server
// allows private targets (a co-op's system on its own LAN: HATAKE_WEBHOOK_ALLOW_PRIVATE=1) — no
// loopback or private ranges either. Names are checked again at connect time, on every address
// they resolve to, so DNS cannot swap a public name for a private address later.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { HatakeError } from '../../protocol/errors.ts';

const always = new BlockList();
always.addSubnet('0.0.0.0', 8, 'ipv4');
always.addSubnet('169.254.0.0', 16, 'ipv4');
always.addSubnet('224.0.0.0', 4, 'ipv4');
always.addSubnet('240.0.0.0', 4, 'ipv4');
always.addSubnet('::', 128, 'ipv6');
always.addSubnet('fe80::', 10, 'ipv6');
always.addSubnet('ff00::', 8, 'ipv6');

const privateRanges = new BlockList();
privateRanges.addSubnet('127.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('10.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('172.16.0.0', 12, 'ipv4');
privateRanges.addSubnet('192.168.0.0', 16, 'ipv4');
privateRanges.addSubnet('100.64.0.0', 10, 'ipv4');
privateRanges.addSubnet('::1', 128, 'ipv6');
privateRanges.addSubnet('fc00::', 7, 'ipv6');

/** Why an address may not be connected to, or undefined when it may. */
export function blockedAddress(address: string, allowPrivate: boolean): string | undefined {
  // An IPv4-mapped IPv6 address is the IPv4 address it maps.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1]! : address;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (isIP(ip) === 0) return 'not an IP address';
  if (always.check(ip, family)) return 'link-local, multicast or unspecified address';
  if (!allowPrivate && privateRanges.check(ip, family)) return 'loopback or private address';
  return undefined;
}

/** Checks a webhook URL's form and, for an IP literal, its address; returns the parsed URL. */
export function checkWebhookUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HatakeError('HATAKE_E_WEBHOOK', 'url is not a valid URL', {
      place: { pointer: '/url' },
      expected: 'https://host/path',
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new HatakeError('HATAKE_E_WEBHOOK', `url scheme ${url.protocol.slice(0, 20)} is not allowed`, {
      place: { pointer: '/url' },
      expected: 'http or https',
    });
  if (url.username || url.password)
    throw new HatakeError('HATAKE_E_WEBHOOK', 'url must not carry a user name or password', {
      place: { pointer: '/url' },
      expected: 'a token in the path or query instead',
    });
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    const why = blockedAddress(host, allowPrivate);
    if (why)
      throw new HatakeError('HATAKE_E_WEBHOOK', `url points at a ${why}`, {
        place: { pointer: '/url' },
        expected: 'a public address (or HATAKE_WEBHOOK_ALLOW_PRIVATE=1 on the server for LAN targets)',
      });
  }
  return url;
}

/** The URL as shown to people: no query, fragment or credentials (they may hold a token). */
export function displayUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid)';
  }
}

/** A DNS lookup for http.request that refuses names resolving to a blocked address. */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const bad = addresses.find((a) => blockedAddress(a.address, allowPrivate));
      if (bad || addresses.length === 0) {
        const e = Object.assign(new Error(`webhook host resolves to a blocked address`), {
          code: 'EHATAKE_BLOCKED',
        });
        return callback(e, '', 4);
      }
      if ((options as { all?: boolean }).all)
        return (callback as never as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
