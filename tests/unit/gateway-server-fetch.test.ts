// The gateway's client to its server: a CA file is checked when the gateway starts, plain http://
// to another machine is warned about once, and a failed fetch says what failed underneath.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { isHatakeError } from '../../protocol/errors.ts';
import { describeFetchError, isLoopbackHost, readCaFile, serverFetch } from '../../gateway/server-fetch.ts';
import { makeTestCa } from '../helpers/server-front.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-server-fetch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function captured() {
  const lines: { level: number; msg: string; server?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const configError = (file: string, message: RegExp) => (e: unknown) =>
  isHatakeError(e) && e.code === 'HATAKE_E_CONFIG' && e.place?.file === file && message.test(e.message);

describe('server.ca', () => {
  it('reads a PEM CA file', async () => {
    const { ca } = await makeTestCa();
    const file = join(dir, 'ca.pem');
    writeFileSync(file, ca.cert);
    expect(readCaFile(file)).toBe(ca.cert);
  });

  it('refuses a missing file, a file without a certificate and a broken certificate', () => {
    const missing = join(dir, 'nope.pem');
    expect(() => readCaFile(missing)).toThrow(
      expect.toSatisfy(configError(missing, /cannot read the server CA file: ENOENT/)),
    );
    const key = join(dir, 'key.pem');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n');
    expect(() => serverFetch({ url: 'https://server.example', ca: key })).toThrow(
      expect.toSatisfy(configError(key, /holds no PEM certificate/)),
    );
    const broken = join(dir, 'broken.pem');
    writeFileSync(
      broken,
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
    );
    expect(() => readCaFile(broken)).toThrow(
      expect.toSatisfy(configError(broken, /certificate 1 in the server CA file is not valid/)),
    );
  });
});

describe('plain http://', () => {
  it('is warned about once when it leaves the machine', () => {
    const { log, lines } = captured();
    serverFetch({ url: 'http://10.20.0.5:8080' }, log);
    serverFetch({ url: 'http://server.farm.example' }, log);
    expect(lines.map((l) => [l.level, l.server])).toEqual([
      [40, 'http://10.20.0.5:8080'],
      [40, 'http://server.farm.example'],
    ]);
    expect(lines[0]!.msg).toMatch(/plain http:\/\/.*unencrypted/);
  });

  it('is not warned about on this machine or over https://', () => {
    const { log, lines } = captured();
    for (const url of [
      'http://127.0.0.1:3000',
      'http://localhost:3000',
      'http://[::1]:3000',
      'https://10.20.0.5',
    ])
      serverFetch({ url }, log);
    expect(lines).toEqual([]);
  });

  it('knows which hosts are this machine', () => {
    const loopback = [
      'localhost',
      'api.localhost',
      '127.0.0.1',
      '127.8.9.10',
      '[::1]',
      '::ffff:127.0.0.1',
      new URL('http://[::ffff:127.0.0.1]').hostname,
    ];
    const elsewhere = [
      '10.0.0.1',
      '192.168.1.2',
      '[::2]',
      'example.com',
      'localhost.example.com',
      '128.0.0.1',
    ];
    expect(loopback.filter((h) => !isLoopbackHost(h))).toEqual([]);
    expect(elsewhere.filter((h) => isLoopbackHost(h))).toEqual([]);
  });
});

describe('a failed fetch', () => {
  it('names the refused connection', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const send = serverFetch({ url: `http://127.0.0.1:${port}` });
    const e = await send(new URL(`http://127.0.0.1:${port}/api/v1/sync`), { method: 'POST' }).catch((x) => x);
    expect(describeFetchError(e)).toBe(`fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('names a name that does not resolve', async () => {
    const send = serverFetch({ url: 'http://hatake-server.invalid' });
    const e = await send(new URL('http://hatake-server.invalid/api/v1/sync'), {}).catch((x) => x);
    expect(describeFetchError(e)).toMatch(
      /^fetch failed: getaddrinfo (ENOTFOUND|EAI_AGAIN) hatake-server\.invalid$/,
    );
  });

  it('lists every address tried when each one failed', () => {
    const a = Object.assign(new Error('connect ECONNREFUSED ::1:443'), { code: 'ECONNREFUSED' });
    const b = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' });
    const e = new TypeError('fetch failed', {
      cause: Object.assign(new AggregateError([a, b], ''), { code: 'ECONNREFUSED' }),
    });
    expect(describeFetchError(e)).toBe(
      'fetch failed: connect ECONNREFUSED ::1:443; connect ECONNREFUSED 127.0.0.1:443',
    );
  });
});
