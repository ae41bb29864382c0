// A server behind HTTPS with a certificate from a private CA (as a cooperative's own server often
// is): registration and a gateway configured with that CA (`server.ca`) reach it — readings sync,
// the downlink polls; without the CA, nothing gets through and the error says why (the
// certificate), not just "fetch failed".
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerGateway } from '../../gateway/register.ts';
import { DEMO_PASSWORD } from '../../dashboard/demo.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { isHatakeError } from '../../protocol/errors.ts';
import { eventually, startServer, startStack, type Stack } from '../helpers/stack.ts';
import { makeTestCa, ServerFront } from '../helpers/server-front.ts';

const run = promisify(execFile);
const CERT_PROBLEM = /^network: fetch failed: self-signed certificate in certificate chain/;

let dir: string;
let server: HatakeServer;
let front: ServerFront;
let caFile: string;
const stacks: Stack[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-ca-'));
  let url: string;
  ({ server, url } = await startServer(dir));
  const pki = await makeTestCa();
  caFile = join(dir, 'farm-ca.pem');
  writeFileSync(caFile, pki.ca.cert);
  // Servers send their certificate with the chain up to the CA.
  front = new ServerFront(url, {
    cert: `${pki.server.cert.trim()}\n${pki.ca.cert.trim()}\n`,
    key: pki.server.key,
  });
  await front.start();
});
afterAll(async () => {
  for (const s of stacks) await s.close();
  await front.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a server with a private CA', () => {
  it('registers, syncs a reading and polls the downlink with server.ca', async () => {
    const reg = await registerGateway({
      server: front.url,
      farm: 'demo-farm',
      id: 'gw-ca',
      user: 'admin',
      password: DEMO_PASSWORD,
      outDir: join(dir, 'reg'),
      ca: caFile,
    });
    expect(reg.snippet).toContain(`ca: ${caFile}`);
    const stack = await startStack({
      server: false,
      gateway: {
        id: 'gw-ca',
        server: {
          url: front.url,
          token: readFileSync(reg.tokenFile, 'utf8').trim(),
          ca: caFile,
          publicKey: readFileSync(reg.publicKeyFile, 'utf8'),
        },
        sync: { intervalMs: 200, batchDelayMs: 20, downlinkIntervalMs: 600_000 },
      },
    });
    stacks.push(stack);
    const client = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'soil-1',
      password: stack.secrets['soil-1'],
      reconnectPeriod: 0,
    });
    await client.publishAsync(
      deviceTopic('demo-farm', 'soil-1', 'up'),
      JSON.stringify({ time: Date.now() - 60_000, values: { soil_vwc: 0.27 } }),
      { qos: 1 },
    );
    await client.endAsync();
    await eventually(async () => (await server.ctx.readings.count('demo-farm', 'soil-1')) === 1, 20_000);
    await eventually(() => stack.gateway.store.outboxDepth() === 0, 20_000);
    const sync = stack.gateway.sync!.status;
    expect(sync.lastError).toBeNull();
    expect(sync.lastSuccess).not.toBeNull();
    // Everything went through the HTTPS front: the uplink, the downlink poll and its stream.
    const ok = (prefix: string) => front.seen.filter((r) => r.path.startsWith(prefix) && r.status === 200);
    expect(ok('/api/v1/sync').length).toBeGreaterThanOrEqual(1);
    await eventually(() => ok('/api/v1/downlink?').length >= 1 && ok('/api/v1/downlink/stream').length >= 1);
    expect(stack.gateway.downlink!.lastError).toBeNull();
    expect(stack.gateway.status().health.problems).not.toContain('server unreachable');
  });

  it('without the CA reaches nothing and names the certificate problem', async () => {
    const before = front.seen.length;
    await expect(
      registerGateway({
        server: front.url,
        farm: 'demo-farm',
        id: 'gw-no-ca',
        user: 'admin',
        password: DEMO_PASSWORD,
        outDir: join(dir, 'reg-no-ca'),
      }),
    ).rejects.toSatisfy(
      (e) =>
        isHatakeError(e) &&
        e.code === 'HATAKE_E_CONFIG' &&
        /cannot reach https:\/\/127\.0\.0\.1:\d+: fetch failed: self-signed certificate in certificate chain/.test(
          e.message,
        ),
    );
    const stack = await startStack({
      server: false,
      gateway: {
        id: 'gw-no-ca',
        server: { url: front.url, token: server.ctx.auth.issueGatewayToken('gw-no-ca', 'demo-farm') },
        sync: { intervalMs: 200, batchDelayMs: 20, backoffCapMs: 500, downlinkIntervalMs: 600_000 },
      },
    });
    stacks.push(stack);
    // The manifest queued at start is what it tries to send.
    await eventually(() => (stack.gateway.sync!.status.consecutiveFailures >= 2 ? true : undefined), 20_000);
    const sync = stack.gateway.sync!.status;
    expect(sync.lastError).toMatch(CERT_PROBLEM);
    expect(sync.lastError).toContain('SELF_SIGNED_CERT_IN_CHAIN');
    expect(stack.gateway.status().sync.lastError).toBe(sync.lastError);
    expect(stack.gateway.status().health.problems).toContain('server unreachable');
    await eventually(() =>
      stack.gateway.downlink!.lastError?.includes('self-signed certificate in certificate chain'),
    );
    expect(stack.gateway.downlink!.lastError).toMatch(/^downlink: fetch failed: self-signed certificate/);
    expect(stack.gateway.store.outboxDepth()).toBeGreaterThan(0);
    // Refused at the handshake: not one HTTP request reached the front.
    expect(front.seen.length).toBe(before);
  });

  it('registers from the command line with --ca (and without it names the certificate problem)', async () => {
    const cli = (extra: string[]) =>
      run(
        process.execPath,
        [
          join(import.meta.dirname, '../../bin/hatake.js'),
          'gateway',
          'register',
          '--server',
          front.url,
          '--farm',
          'demo-farm',
          '--id',
          'gw-cli',
          '--user',
          'admin',
          '--out',
          join(dir, 'reg-cli'),
          ...extra,
        ],
        { env: { ...process.env, HATAKE_PASSWORD: DEMO_PASSWORD } },
      );
    const refused = await cli([]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(/HATAKE_E_CONFIG.*self-signed certificate in certificate chain/);
    const ok = await cli(['--ca', caFile]);
    expect(ok.stdout).toContain('registered.');
    expect(ok.stdout).toContain(`ca: ${caFile}`);
    expect(readFileSync(join(dir, 'reg-cli', 'token'), 'utf8').trim().length).toBeGreaterThan(20);
  }, 60_000);
});
