// When the uplink last worked survives a restart: a gateway restarted while its link is down
// still says how long it has been without one (status page, /metrics), instead of "never".
// A real server over HTTP, a real store file closed and opened again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { SyncClient, type SyncClientOptions } from '../../gateway/sync-client.ts';
import { GatewayStore } from '../../gateway/store.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { startServer } from '../helpers/stack.ts';

let dir: string;
let server: HatakeServer;
let url: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-last-success-'));
  ({ server, url } = await startServer(dir));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (store: GatewayStore, o: Partial<SyncClientOptions>) =>
  new SyncClient(
    store,
    { gatewayId: 'gw-ls', url, token: '', intervalMs: 60_000, batchMaxItems: 100, backoffCapMs: 500, ...o },
    pino({ level: 'silent' }),
  );

describe('the last successful sync', () => {
  it('is kept across a restart of the gateway', async () => {
    const token = server.ctx.auth.issueGatewayToken('gw-ls', 'demo-farm');
    const file = join(dir, 'gateway.db');
    let store = new GatewayStore(file);
    const fresh = client(store, { token });
    expect(fresh.status.lastSuccess).toBeNull(); // never synced: "not yet"
    const now = Date.now();
    store.commit(
      [{ device: 'soil-1', metric: 'soil_vwc', value: 0.25, unit: 'm3/m3', time: now - 60_000, flags: [] }],
      [],
      now,
    );
    await fresh.drain();
    await fresh.stop();
    const at = fresh.status.lastSuccess;
    expect(at).not.toBeNull();
    expect(store.outboxDepth()).toBe(0);
    store.close();

    // Restarted, and the server cannot be reached now.
    store = new GatewayStore(file);
    const restarted = client(store, { url: 'http://127.0.0.1:9', token });
    expect(restarted.status.lastSuccess).toBe(at);
    store.close();
  });
});
