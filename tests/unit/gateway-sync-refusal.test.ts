// How the uplink reads a 4xx answer, and what it keeps. Only the server's own problem+json of the
// validation kind, pointing into the items (or at no place, as a size refusal does), condemns the
// content; every other 4xx — the server's 403/404/409, an error in the batch's envelope, a reverse
// proxy's page — refuses the batch, which is kept and retried with a longer backoff, one item at a
// time. A document dead-lettered keeps its whole body and outlives the dead-letter bound.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { HatakeError, type ErrorCode } from '../../protocol/errors.ts';
import { problemOf } from '../../dashboard/problem.ts';
import { GatewayStore, DEAD_LETTER_HEAD_BYTES } from '../../gateway/store.ts';
import { SyncClient, judgeRefusal, refusedBackoffCapMs } from '../../gateway/sync-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-sync-refusal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const PROBLEM = 'application/problem+json; charset=utf-8';
/** The body the server sends for `code` (dashboard/problem.ts), optionally at `pointer`. */
const problem = (code: ErrorCode, pointer?: string, status?: number) =>
  JSON.stringify(problemOf(new HatakeError(code, 'x', pointer ? { place: { pointer } } : {}), status));

describe('judgeRefusal', () => {
  it('condemns the content only for the server’s validation problems about the items', () => {
    const invalid: [number, string][] = [
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/items/3/body/value')],
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/items/0/kind')],
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/items')], // too many items: halving helps
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA')], // a body that is not JSON
      [413, problem('HATAKE_E_PAYLOAD_SIZE', undefined, 413)],
      [400, problem('HATAKE_E_SYNC_BATCH')], // an item outside the batch's sequence range
    ];
    for (const [status, body] of invalid)
      expect(judgeRefusal(status, PROBLEM, body), body).toMatchObject({ kind: 'invalid' });
  });

  it('refuses the batch for every other 4xx of the server’s', () => {
    const refused: [number, string, string][] = [
      [403, problem('HATAKE_E_FORBIDDEN'), 'HATAKE_E_FORBIDDEN'], // a token of another gateway or farm
      [404, problem('HATAKE_E_NOT_FOUND'), 'HATAKE_E_NOT_FOUND'],
      [409, problem('HATAKE_E_STATE_CONFLICT'), 'HATAKE_E_STATE_CONFLICT'],
      // The envelope, not an item: the same for every batch.
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/status'), 'HATAKE_E_PAYLOAD_SCHEMA'],
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/gateway'), 'HATAKE_E_PAYLOAD_SCHEMA'],
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/'), 'HATAKE_E_PAYLOAD_SCHEMA'],
      [400, problem('HATAKE_E_PAYLOAD_SCHEMA', '/itemsX'), 'HATAKE_E_PAYLOAD_SCHEMA'],
      // A validation code with a status that is not about the body (content type, headers).
      [415, problem('HATAKE_E_PAYLOAD_SCHEMA', undefined, 415), 'HATAKE_E_PAYLOAD_SCHEMA'],
      [431, problem('HATAKE_E_PAYLOAD_SIZE', undefined, 431), 'HATAKE_E_PAYLOAD_SIZE'],
    ];
    for (const [status, body, code] of refused)
      expect(judgeRefusal(status, PROBLEM, body), `${status} ${body}`).toEqual({ kind: 'refused', code });
  });

  it('refuses the batch for anything that is not the server’s problem+json', () => {
    const nginx404 = '<html><head><title>404 Not Found</title></head><body>nginx</body></html>';
    const cases: [number, string | null, string][] = [
      [404, 'text/html', nginx404],
      [403, 'text/html; charset=utf-8', '<h1>403 Forbidden</h1>'],
      [413, 'text/html', '<h1>413 Request Entity Too Large</h1>'], // a proxy's body limit
      [400, null, ''],
      [400, 'application/json', problem('HATAKE_E_PAYLOAD_SCHEMA', '/items/0/body')],
      [400, PROBLEM, 'not json'],
      [400, PROBLEM, '"HATAKE_E_PAYLOAD_SCHEMA"'],
      [400, PROBLEM, JSON.stringify({ type: 'about:blank', title: 'Bad Request', status: 400 })],
      [400, PROBLEM, JSON.stringify({ code: 'VALIDATION', pointer: '/items/0' })],
    ];
    for (const [status, type, body] of cases)
      expect(judgeRefusal(status, type, body), `${status} ${type} ${body}`).toEqual({
        kind: 'refused',
        code: null,
      });
  });
});

describe('refusedBackoffCapMs', () => {
  it('is five times the configured cap, at most an hour, never below the cap', () => {
    expect(refusedBackoffCapMs()).toBe(300_000);
    expect(refusedBackoffCapMs(200)).toBe(1_000);
    expect(refusedBackoffCapMs(1_000_000)).toBe(3_600_000);
    expect(refusedBackoffCapMs(3_600_000)).toBe(3_600_000);
  });
});

describe('SyncClient when the server refuses the batches', () => {
  it('keeps the outbox, probes with one item at the longer backoff, and says when it ends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const store = new GatewayStore(join(dir, 'refused.db'));
    const lines: { level: number; msg: string; retryInMs?: number }[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const sent: number[] = []; // items per request
    let refuse = true;
    const fakeFetch = (async (_u: URL, init: RequestInit) => {
      const batch = JSON.parse(gunzipSync(init.body as Uint8Array).toString()) as { items: unknown[] };
      sent.push(batch.items.length);
      if (refuse)
        return new Response(problem('HATAKE_E_FORBIDDEN'), {
          status: 403,
          headers: { 'content-type': PROBLEM },
        });
      return new Response(
        JSON.stringify({ gateway: 'gw-r', ackedSeq: 1, applied: 0, duplicates: 0, serverTime: Date.now() }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    }) as unknown as typeof fetch;
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-r',
        url: 'http://127.0.0.1:9',
        token: 't',
        intervalMs: 60_000,
        batchMaxItems: 10,
        backoffCapMs: 1_000,
        fetch: fakeFetch,
      },
      log,
    );
    try {
      for (let i = 0; i < 5; i++) store.enqueue('tip', { id: `t${i}` }, Date.now());
      const before = store.db.prepare('SELECT seq, kind, body FROM outbox ORDER BY seq').all();
      sync.start();
      await vi.advanceTimersByTimeAsync(0);
      // With Math.random at 1: 1 s, 2 s, 4 s, then the refusal cap (5 × 1 s), not the 1 s cap.
      for (const wait of [1_000, 2_000, 4_000, 5_000, 5_000]) {
        const n = sent.length;
        await vi.advanceTimersByTimeAsync(wait - 1);
        expect(sent.length, `retry after ${wait} ms came early`).toBe(n);
        await vi.advanceTimersByTimeAsync(1);
        expect(sent.length, `retry after ${wait} ms did not come`).toBe(n + 1);
      }
      expect(sent).toEqual([5, 1, 1, 1, 1, 1]);
      expect(store.db.prepare('SELECT seq, kind, body FROM outbox ORDER BY seq').all()).toEqual(before);
      expect(store.deadLetters()).toEqual([]);
      expect(sync.status.refused).toMatchObject({ status: 403, code: 'HATAKE_E_FORBIDDEN', attempts: 6 });
      expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
        expect.stringMatching(/^uplink held: the server refuses the batches/),
      ]);
      expect(lines.filter((l) => l.msg === 'still refused')).toHaveLength(5);

      // The server takes the probe: the refusal ends (said once), the rest goes in full batches.
      refuse = false;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(sync.status.refused).toBeNull();
      expect(sync.status.consecutiveFailures).toBe(0);
      expect(store.outboxDepth()).toBe(0);
      expect(sent.slice(6)).toEqual([1, 4]);
      expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
        expect.stringMatching(/^uplink held/),
        'the server takes the batches again',
      ]);
    } finally {
      await sync.stop();
      store.close();
    }
  });
});

describe('dead letters of the outbox', () => {
  it('keep a document whole and past the bound, a reading by its head', () => {
    const store = new GatewayStore(join(dir, 'dead.db'));
    try {
      const now = Date.now();
      const recommendation = { id: 'rec-1', note: '追肥'.repeat(200) };
      store.enqueue('recommendation', recommendation, now);
      store.commit(
        [{ device: 'soil-1', metric: 'soil_vwc', value: 0.25, unit: 'm3/m3', time: now, flags: [] }],
        [],
        now,
      );
      const rows = store.peekOutbox(10);
      expect(rows.map((r) => r.kind)).toEqual(['recommendation', 'reading']);
      store.deadLetterOutbox(rows, 'HATAKE_E_PAYLOAD_SCHEMA', 'HTTP 400: …', now);
      expect(store.outboxDepth()).toBe(0);
      const docs = store.deadLetteredDocuments();
      expect(docs).toHaveLength(1);
      expect(docs[0]).toMatchObject({ kind: 'recommendation', code: 'HATAKE_E_PAYLOAD_SCHEMA' });
      expect(JSON.parse(docs[0]!.body)).toEqual(recommendation);
      const reading = store.deadLetters().find((d) => d.topic === 'outbox/reading')!;
      expect(Buffer.from(reading.head!).toString()).toBe(rows[1]!.body.slice(0, DEAD_LETTER_HEAD_BYTES));

      // Many payloads refused at ingest past a small bound: they are trimmed, the document stays.
      store.setDeadLetterLimit(3);
      const junk = Array.from({ length: 20 }, (_, i) => ({
        time: now + i,
        device: 'soil-1',
        topic: 'hatake/v1/demo-farm/soil-1/up',
        code: 'HATAKE_E_PAYLOAD_JSON',
        reason: 'not JSON',
        head: Buffer.from('{'),
      }));
      store.commit([], junk, now);
      expect(store.deadLetters(1000)).toHaveLength(3 + 1);
      expect(store.deadLetteredDocuments().map((d) => JSON.parse(d.body) as unknown)).toEqual([
        recommendation,
      ]);
    } finally {
      store.close();
    }
  });
});

describe('SyncClient reading the server’s ack', () => {
  const ackFor = (store: GatewayStore, ack: object) => {
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-a',
        url: 'http://127.0.0.1:9',
        token: 't',
        intervalMs: 60_000,
        batchMaxItems: 10,
        backoffCapMs: 60_000,
        fetch: (async () =>
          new Response(JSON.stringify(ack), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          })) as unknown as typeof fetch,
      },
      pino({ level: 'silent' }),
    );
    return sync;
  };

  it('takes an ack with fields a newer server added, and refuses one for another gateway', async () => {
    const base = { ackedSeq: 1, applied: 1, duplicates: 0, serverTime: Date.now() };
    const store = new GatewayStore(join(dir, 'acks.db'));
    try {
      store.enqueue('tip', { id: 't1' }, Date.now());
      const other = ackFor(store, { ...base, gateway: 'gw-other' });
      await other.drain();
      expect(store.outboxDepth()).toBe(1);
      expect(other.status.lastError).toMatch(/ack does not match/);
      await other.stop();

      const newer = ackFor(store, { ...base, gateway: 'gw-a', setAside: 2, region: { id: 'r1' } });
      await newer.drain();
      expect(newer.status.lastError).toBeNull();
      expect(store.outboxDepth()).toBe(0);
      await newer.stop();
    } finally {
      store.close();
    }
  });
});
