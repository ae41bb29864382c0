// A gateway whose database was replaced — an SD card swapped, a re-flash — under the same id and
// token numbers its outbox from 1 again. Its items are new, not resends of the old database's: they
// reach the farmer's live stream, count in the partner's throughput, and the gateway list shows
// the new database's acknowledged sequence; a resend within the new database is still a no-op. The
// same holds for a gateway registered again (even one too old to name its outbox epoch). Real
// server over HTTP, real gateway store files, the real sync client and the browsers' SSE stream.
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncAck, SyncBatch } from '../../protocol/sync.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { THROUGHPUT_WINDOW_MS } from '../../dashboard/routes/gateways.ts';
import { syncAcked } from '../../dashboard/sync-acked.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { OUTBOX_EPOCH_META, SyncClient } from '../../gateway/sync-client.ts';
import { eventually, quietLog, signIn, startServer } from '../helpers/stack.ts';
import { readLive } from '../helpers/live-stream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const WINDOW_MIN = THROUGHPUT_WINDOW_MS / 60_000;

/** Soil moisture readings of soil-1, one a second from `t0`, with these values. */
const soil = (t0: number, values: number[]): Reading[] =>
  values.map((value, i) => ({
    device: 'soil-1',
    metric: 'soil_vwc',
    value,
    unit: 'm3/m3',
    time: t0 + i * 1000,
    flags: [],
  }));

/** A farmer's live stream (GET /api/v1/live), read as it comes: the values of its readings. */
async function liveValues(url: string): Promise<{ readonly values: number[]; close(): Promise<void> }> {
  const farmer = await signIn(url, 'demo-farmer');
  const res = await farmer('/api/v1/live');
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const live = readLive(res);
  return {
    get values() {
      return live.events.filter((e) => e.event === 'reading').map((e) => (e.data as { value: number }).value);
    },
    close: live.close,
  };
}

type Row = { id: string; ackedSeq: number; throughput: number };

describe('a gateway database replaced under the same id', () => {
  it('numbers from 1 again without its items being taken for resends of the old one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-replaced-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { server, url } = await startServer(dir);
    cleanups.push(() => server.close());
    const token = server.ctx.auth.issueGatewayToken('gw-swap', 'demo-farm');
    const live = await liveValues(url);
    cleanups.push(() => live.close());
    const partner = await signIn(url, 'demo-partner');
    const row = async () => {
      const res = await partner('/api/v1/gateways');
      expect(res.status).toBe(200);
      return ((await res.json()) as Row[]).find((r) => r.id === 'gw-swap')!;
    };
    const client = (store: GatewayStore, acks: SyncAck[]) => {
      const c = new SyncClient(
        store,
        { gatewayId: 'gw-swap', url, token, intervalMs: 60_000, batchMaxItems: 100 },
        quietLog(),
      );
      c.on('synced', (ack) => acks.push(ack));
      return c;
    };
    const t0 = Date.now() - 10 * 60_000;

    // The first database: ten readings, seq 1…10.
    const storeA = new GatewayStore(join(dir, 'gateway-a.db'));
    cleanups.push(() => storeA.close());
    const valuesA = Array.from({ length: 10 }, (_, i) => 0.3 + i / 100);
    storeA.commit(soil(t0, valuesA), [], Date.now());
    expect(storeA.peekOutbox(100).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const acksA: SyncAck[] = [];
    const a = client(storeA, acksA);
    await a.drain();
    await a.stop();
    expect(storeA.outboxDepth()).toBe(0);
    expect(acksA).toMatchObject([{ ackedSeq: 10, applied: 10, duplicates: 0 }]);
    await eventually(() => live.values.length === 10);
    expect(live.values).toEqual(valuesA);
    expect(await row()).toMatchObject({ ackedSeq: 10 });
    expect((await row()).throughput).toBeCloseTo(10 / WINDOW_MIN, 10);

    // The SD card is swapped: a new database, the same id and token, numbering from 1 again.
    const storeB = new GatewayStore(join(dir, 'gateway-b.db'));
    cleanups.push(() => storeB.close());
    const valuesB = [0.5, 0.51, 0.52];
    storeB.commit(soil(t0 + 60_000, valuesB), [], Date.now());
    const rowsB = storeB.peekOutbox(100);
    expect(rowsB.map((r) => r.seq)).toEqual([1, 2, 3]);
    const acksB: SyncAck[] = [];
    const b = client(storeB, acksB);
    // Each database has its own outbox epoch, kept in its meta table.
    expect(storeB.getMeta(OUTBOX_EPOCH_META)).toBe(b.epoch);
    expect(storeA.getMeta(OUTBOX_EPOCH_META)).toBe(a.epoch);
    expect(b.epoch).not.toBe(a.epoch);
    await b.drain();
    expect(storeB.outboxDepth()).toBe(0);
    expect(acksB).toMatchObject([{ ackedSeq: 3, applied: 3, duplicates: 0 }]);
    // New readings: on the farmer's live stream, in the partner's throughput, and the list shows
    // the new database's acknowledged sequence, not the old one's.
    await eventually(() => live.values.length >= 13);
    expect(live.values).toEqual([...valuesA, ...valuesB]);
    expect(await row()).toMatchObject({ ackedSeq: 3 });
    expect((await row()).throughput).toBeCloseTo(13 / WINDOW_MIN, 10);
    expect(syncAcked(server.ctx.db).ranges('gw-swap')).toEqual([{ lo: 1, hi: 3 }]);

    // The new database's ack was lost: it sends the same rows again — a no-op, as ever.
    for (const r of rowsB)
      storeB.db
        .prepare('INSERT INTO outbox (seq, kind, priority, body, created) VALUES (?, ?, 0, ?, 0)')
        .run(r.seq, r.kind, r.body);
    storeB.recountOutbox(); // rows put back by hand: their totals too
    await b.drain();
    expect(acksB.at(-1)).toMatchObject({ ackedSeq: 3, applied: 0, duplicates: 3 });
    expect((await row()).throughput).toBeCloseTo(13 / WINDOW_MIN, 10);
    // One more reading after it: the stream, in order, has it right after the first three (the
    // resend was not announced again).
    storeB.commit(soil(t0 + 120_000, [0.6]), [], Date.now());
    await b.drain();
    await b.stop();
    expect(acksB.at(-1)).toMatchObject({ ackedSeq: 4, applied: 1, duplicates: 0 });
    await eventually(() => live.values.length >= 14);
    expect(live.values).toEqual([...valuesA, ...valuesB, 0.6]);
    expect(await row()).toMatchObject({ ackedSeq: 4 });
    expect((await row()).throughput).toBeCloseTo(14 / WINDOW_MIN, 10);
    expect(await server.ctx.readings.count('demo-farm', 'soil-1')).toBe(14);
  });

  it('starts afresh when the gateway is registered again, even one that names no epoch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-reregistered-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { server, url } = await startServer(dir);
    cleanups.push(() => server.close());
    const heard: number[] = [];
    const onReading = (e: { value: number }) => heard.push(e.value);
    server.ctx.live.on('reading', onReading);
    cleanups.push(() => void server.ctx.live.off('reading', onReading));
    const partner = await signIn(url, 'demo-partner');
    const row = async () => {
      const res = await partner('/api/v1/gateways');
      return ((await res.json()) as Row[]).find((r) => r.id === 'gw-old')!;
    };
    // A gateway older than the epoch field: its batches name none.
    const send = async (token: string, seq0: number, readings: Reading[]) => {
      const batch: SyncBatch = {
        gateway: 'gw-old',
        seqFrom: seq0,
        seqTo: seq0 + readings.length - 1,
        sentAt: Date.now(),
        items: readings.map((body, i) => ({ seq: seq0 + i, kind: 'reading' as const, body })),
      };
      const res = await fetch(`${url}/api/v1/sync`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        body: new Uint8Array(gzipSync(JSON.stringify(batch))),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as SyncAck;
    };
    const t0 = Date.now() - 10 * 60_000;
    const first = server.ctx.auth.issueGatewayToken('gw-old', 'demo-farm');
    expect(await send(first, 1, soil(t0, [0.1, 0.11, 0.12, 0.13, 0.14]))).toMatchObject({
      ackedSeq: 5,
      applied: 5,
    });
    expect(await row()).toMatchObject({ ackedSeq: 5 });

    // Registered again through the API (its card was replaced): a new token, a clean record.
    const res = await partner('/api/v1/gateways', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'gw-old', farm: 'demo-farm' }),
    });
    expect(res.status).toBe(201);
    const { token } = (await res.json()) as { token: string };
    expect(await row()).toMatchObject({ ackedSeq: 0 });
    expect(syncAcked(server.ctx.db).ranges('gw-old')).toEqual([]);

    // The new database numbers from 1: new readings, announced and counted.
    expect(await send(token, 1, soil(t0 + 60_000, [0.2, 0.21]))).toMatchObject({
      ackedSeq: 2,
      applied: 2,
      duplicates: 0,
    });
    expect(heard).toEqual([0.1, 0.11, 0.12, 0.13, 0.14, 0.2, 0.21]);
    expect(await row()).toMatchObject({ ackedSeq: 2 });
    expect((await row()).throughput).toBeCloseTo(7 / WINDOW_MIN, 10);
    // And a resend of it is a no-op.
    expect(await send(token, 1, soil(t0 + 60_000, [0.2, 0.21]))).toMatchObject({
      ackedSeq: 2,
      applied: 0,
      duplicates: 2,
    });
    expect(heard).toHaveLength(7);
    expect((await row()).throughput).toBeCloseTo(7 / WINDOW_MIN, 10);
  });
});
