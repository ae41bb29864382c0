// A revoked gateway stops asking the server for documents: the first 401 on the downlink — on a
// poll or on reopening its stream — stops the polls and the stream for good, and the status page
// says why. Counted at a front the gateway talks through: nothing after the 401.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registerGateway } from '../../gateway/register.ts';
import { DownlinkClient } from '../../gateway/downlink-client.ts';
import { DEMO_PASSWORD } from '../../dashboard/demo.ts';
import { eventually, quietLog, startServer, startStack } from '../helpers/stack.ts';
import { ServerFront, type SeenRequest } from '../helpers/server-front.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server behind a counting front, and gateway `id` registered with it. */
async function setUp(id: string) {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-revoked-'));
  const { server, url } = await startServer(dir);
  const front = new ServerFront(url);
  await front.start();
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => server.close(),
    () => front.stop(),
  );
  const reg = await registerGateway({
    server: url,
    farm: 'demo-farm',
    id,
    user: 'admin',
    password: DEMO_PASSWORD,
    outDir: join(dir, 'reg'),
  });
  // What DELETE /api/v1/gateways/:id does (the route answers only for farms the server has heard of).
  const revoke = () => server.ctx.auth.revokeGateway(id);
  return {
    front,
    token: readFileSync(reg.tokenFile, 'utf8').trim(),
    publicKey: readFileSync(reg.publicKeyFile, 'utf8'),
    revoke,
  };
}

const downlinkRequests = (front: ServerFront) =>
  front.seen.filter((r) => r.path.startsWith('/api/v1/downlink'));
const first401 = (front: ServerFront): SeenRequest | undefined =>
  downlinkRequests(front).find((r) => r.status === 401);

describe('a revoked gateway', () => {
  it('stops polling the downlink after its first 401 and shows why', async () => {
    const { front, token, publicKey, revoke } = await setUp('gw-revoked');
    const intervalMs = 250;
    const stack = await startStack({
      server: false,
      gateway: {
        id: 'gw-revoked',
        server: { url: front.url, token, publicKey },
        sync: { intervalMs: 200, batchDelayMs: 20, downlinkIntervalMs: intervalMs },
      },
    });
    cleanups.push(() => stack.close());
    // Running: polls every interval, and the stream is open.
    await eventually(
      () =>
        front.count('/api/v1/downlink?') >= 3 &&
        downlinkRequests(front).some((r) => r.path === '/api/v1/downlink/stream' && r.status === 200),
      10_000,
    );
    expect(stack.gateway.downlink!.stopped).toBeNull();
    revoke();
    await eventually(() => stack.gateway.downlink!.stopped, 10_000);
    const refused = first401(front)!;
    expect(refused.path).toMatch(/^\/api\/v1\/downlink\?after=/);
    // Six intervals later: not one more poll, and the stream was not reopened.
    await sleep(6 * intervalMs);
    expect(downlinkRequests(front).filter((r) => r.at > refused.at)).toEqual([]);
    expect(stack.gateway.downlink!.stopped).toMatch(/^HTTP 401: .*unknown or revoked gateway token/);
    const shown = stack.gateway.status().sync.downlinkError;
    expect(shown).toMatch(/^stopped, token refused: HTTP 401/);
    expect(stack.gateway.downlink!.lastError).toBe(shown);
    expect(stack.gateway.status().health.problems).toContain('downlink stopped: token refused');
  });

  it('stops reopening the stream when reopening it is refused', async () => {
    const { front, token, publicKey, revoke } = await setUp('gw-revoked-stream');
    const stack = await startStack({ server: false, gateway: { id: 'gw-revoked-stream' } });
    cleanups.push(() => stack.close());
    // Only the stream can meet the 401 here: the poll interval is far longer than the test.
    const client = new DownlinkClient(
      stack.gateway.store,
      { url: front.url, token, publicKey, intervalMs: 600_000, reconnectMs: 100 },
      stack.gateway.events,
      quietLog(),
    );
    cleanups.push(() => client.stop());
    client.start();
    await eventually(
      () => downlinkRequests(front).some((r) => r.path === '/api/v1/downlink/stream' && r.status === 200),
      10_000,
    );
    revoke();
    // The uplink drops: the open stream ends and the client reopens it, to a 401.
    front.dropConnections();
    await eventually(() => client.stopped, 10_000);
    const refused = first401(front)!;
    expect(refused.path).toBe('/api/v1/downlink/stream');
    // Ten reconnect pauses later, nothing more.
    await sleep(1000);
    expect(downlinkRequests(front).filter((r) => r.at > refused.at)).toEqual([]);
    expect(client.lastError).toMatch(/^stopped, token refused: HTTP 401/);
  });
});
