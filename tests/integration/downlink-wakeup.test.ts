// A "new version" notice that arrives while the gateway is still applying an earlier document is
// not lost: the poll in progress asks the server once more when it ends, so the newer document
// is applied at once instead of at the next poll interval (minutes). Found by a clean-clone CI
// run in which a second scene sent down right after a first waited past the test's 30 s.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownlinkClient } from '../../gateway/downlink-client.ts';
import { registerGateway } from '../../gateway/register.ts';
import { DEMO_PASSWORD } from '../../dashboard/demo.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { quietLog, startServer, startStack, type Stack } from '../helpers/stack.ts';

let dir: string;
let server: HatakeServer;
let url: string;
let stack: Stack;
let token: string;
let publicKey: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-dl-wakeup-'));
  ({ server, url } = await startServer(dir));
  const reg = await registerGateway({
    server: url,
    farm: 'demo-farm',
    id: 'gw-wakeup',
    user: 'admin',
    password: DEMO_PASSWORD,
    outDir: join(dir, 'reg'),
  });
  token = readFileSync(reg.tokenFile, 'utf8').trim();
  publicKey = readFileSync(reg.publicKeyFile, 'utf8');
  stack = await startStack({ server: false, gateway: { id: 'gw-wakeup' } });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the downlink client', () => {
  it('applies a document published while an earlier one is being applied, in the same poll', async () => {
    const client = new DownlinkClient(
      stack.gateway.store,
      // The interval is far longer than the test: only the poll in progress can fetch the second.
      { url, token, publicKey, intervalMs: 600_000 },
      stack.gateway.events,
      quietLog(),
    );
    const applied: string[] = [];
    let entered: (() => void) | undefined;
    const inFirst = new Promise<void>((r) => (entered = r));
    let release: (() => void) | undefined;
    const gate = new Promise<void>((r) => (release = r));
    client.on('automation', async (doc) => {
      if (doc.id === 'first') {
        entered!();
        await gate;
      }
      applied.push(doc.id);
      return 'noted';
    });
    const before = client.version;
    server.ctx.downlink.publish('demo-farm', 'automation', 'first', { n: 1 });
    const polling = client.poll();
    await inFirst;
    // While the first is applied: the second is published and its notice calls poll() again.
    server.ctx.downlink.publish('demo-farm', 'automation', 'second', { n: 2 });
    const notice = client.poll();
    release!();
    await Promise.all([polling, notice]);
    expect(applied).toEqual(['first', 'second']);
    expect(client.version).toBe(before + 2);
    // And a poll with nothing new does not spin.
    await client.poll();
    expect(applied).toEqual(['first', 'second']);
    await client.stop();
  });
});
