// The throughput on the server's gateway list: measured by the server from the sync batches it
// acknowledged (the sync protocol carries no such field), items per minute over the last 5
// minutes. Real batches over HTTP; the clock is moved with a fake Date rather than waited for.
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { THROUGHPUT_WINDOW_MS } from '../../dashboard/routes/gateways.ts';
import { syncAcked } from '../../dashboard/sync-acked.ts';
import type { SyncBatch } from '../../protocol/sync.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const batch = (items: SyncBatch['items']): SyncBatch => ({
  gateway: 'gw-tp',
  seqFrom: Math.min(...items.map((i) => i.seq)),
  seqTo: Math.max(...items.map((i) => i.seq)),
  sentAt: Date.now(),
  items,
});
const readings = (from: number, n: number, t0: number): SyncBatch['items'] =>
  Array.from({ length: n }, (_, i) => ({
    seq: from + i,
    kind: 'reading' as const,
    body: {
      device: 'soil-1',
      metric: 'soil_vwc',
      value: 0.2 + i / 1000,
      unit: 'm3/m3',
      time: t0 - 3_600_000 + (from + i) * 1000,
      flags: [],
    },
  }));

async function sync(url: string, token: string, body: SyncBatch): Promise<Response> {
  return fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    },
    body: new Uint8Array(gzipSync(JSON.stringify(body))),
  });
}

type Row = { id: string; throughput: number };

describe('throughput on the gateway list', () => {
  it('is the items of acknowledged batches per minute over 5 minutes, kept across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-throughput-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let { server, url } = await startServer(dir);
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await server.close();
    });
    const token = server.ctx.auth.issueGatewayToken('gw-tp', 'demo-farm');
    server.ctx.auth.issueGatewayToken('gw-idle', 'demo-farm');

    const t0 = Date.now();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(t0);
    const windowMin = THROUGHPUT_WINDOW_MS / 60_000;
    expect(windowMin).toBe(5);

    let partner = await signIn(url, 'demo-partner');
    const list = async () => {
      const res = await partner('/api/v1/gateways');
      expect(res.status).toBe(200);
      const rows = (await res.json()) as Row[];
      return Object.fromEntries(rows.map((r) => [r.id, r.throughput]));
    };

    // Before any batch: nothing delivered, for either gateway.
    expect(await list()).toMatchObject({ 'gw-tp': 0, 'gw-idle': 0 });

    // Batch A: a manifest and 30 readings, at t0.
    const a = batch([{ seq: 1, kind: 'manifest', body: demoManifest() }, ...readings(2, 30, t0)]);
    const resA = await sync(url, token, a);
    expect(resA.status).toBe(200);
    expect(await resA.json()).toMatchObject({ applied: 30, duplicates: 0 });
    expect((await list())['gw-tp']).toBeCloseTo(a.items.length / windowMin, 10);

    // Batch B: 20 readings a minute later; both are in the window.
    vi.setSystemTime(t0 + 60_000);
    const b = batch(readings(32, 20, t0));
    expect((await sync(url, token, b)).status).toBe(200);
    const both = (a.items.length + b.items.length) / windowMin;
    expect((await list())['gw-tp']).toBeCloseTo(both, 10);

    // A resent batch A (its ack lost): acknowledged before, it counts for nothing — its manifest
    // included, which the store takes again as a replacement.
    vi.setSystemTime(t0 + 90_000);
    const resent = await sync(url, token, a);
    expect(await resent.json()).toMatchObject({ applied: 0, duplicates: 30 });
    // Resent with one new reading in the same batch (the gateway's next batch holds the unacked
    // rows and what came since): only that one counts.
    const mixed = batch([...a.items, ...readings(52, 1, t0)]);
    expect(await (await sync(url, token, mixed)).json()).toMatchObject({ applied: 1, duplicates: 30 });
    const withResend = both + 1 / windowMin;
    expect((await list())['gw-tp']).toBeCloseTo(withResend, 10);

    // A refused batch (a manifest for another farm) is not acknowledged and does not count.
    const other = { ...demoManifest(), farm: { ...demoManifest().farm, id: 'other-farm' } };
    const refused = await sync(
      url,
      token,
      batch([{ seq: 60, kind: 'manifest', body: other }, ...readings(61, 5, t0)]),
    );
    expect(refused.status).toBe(403);
    expect((await list())['gw-tp']).toBeCloseTo(withResend, 10);

    // A restart keeps the figure: it lives in server.db.
    await server.close();
    closed = true;
    ({ server, url } = await startServer(dir));
    closed = false;
    partner = await signIn(url, 'demo-partner');
    expect((await list())['gw-tp']).toBeCloseTo(withResend, 10);

    // Five and a half minutes after A: A has left the window, B and the resend have not.
    vi.setSystemTime(t0 + THROUGHPUT_WINDOW_MS + 30_000);
    expect((await list())['gw-tp']).toBeCloseTo((b.items.length + 1) / windowMin, 10);

    // Five minutes after the last batch: nothing in the window.
    vi.setSystemTime(t0 + 90_000 + THROUGHPUT_WINDOW_MS);
    expect(await list()).toMatchObject({ 'gw-tp': 0, 'gw-idle': 0 });
  });

  it('announces each reading to the browsers once, however often its batch is delivered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-resend-live-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { server, url } = await startServer(dir);
    cleanups.push(() => server.close());
    const token = server.ctx.auth.issueGatewayToken('gw-tp', 'demo-farm');
    const heard: number[] = [];
    server.ctx.live.on('reading', (e: { value: number }) => heard.push(e.value));
    const t0 = Date.now();

    const a = batch([{ seq: 1, kind: 'manifest', body: demoManifest() }, ...readings(2, 3, t0)]);
    expect((await sync(url, token, a)).status).toBe(200);
    expect(heard).toEqual([0.2, 0.201, 0.202]);
    // The ack was lost: the same rows again, with a newer one.
    const again = batch([...a.items, ...readings(5, 1, t0)]);
    expect(await (await sync(url, token, again)).json()).toMatchObject({ applied: 1, duplicates: 3 });
    expect(heard).toEqual([0.2, 0.201, 0.202, 0.2]);
    // And what the server holds of the gateway's sequence: one range, 1…5.
    expect(syncAcked(server.ctx.db).ranges('gw-tp')).toEqual([{ lo: 1, hi: 5 }]);
  });
});
