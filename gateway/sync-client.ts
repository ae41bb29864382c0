// Store-and-forward uplink: drains the outbox to the server in gzip'd batches (by count and bytes,
// after a short delay so a batch can fill) and forgets a row only after the server has
// acknowledged the batch that carried it. Network errors and 5xx back off exponentially with
// jitter (capped); a 4xx that can never succeed moves the batch to the dead letters instead of
// blocking the queue; a 401 stops the uplink (the gateway's token was revoked). Each exchange
// also measures the gateway's clock against the server's.
import { gzipSync } from 'node:zlib';
import { EventEmitter } from 'node:events';
import { SyncAck, type GatewaySyncStatus, type SyncBatch } from '../protocol/sync.ts';
import { validator } from '../protocol/validate.ts';
import type { Logger } from '../runtime/log.ts';
import { syncBatchJson, type GatewayStore } from './store.ts';
import { describeFetchError, type ServerFetch } from './server-fetch.ts';

const ackValidator = validator(SyncAck);

export interface SyncClientOptions {
  gatewayId: string;
  url: string;
  token: string;
  intervalMs: number;
  batchMaxItems: number;
  batchMaxBytes?: number;
  batchDelayMs?: number;
  backoffCapMs?: number;
  requestTimeoutMs?: number;
  /** Extra status sent with every batch (version, downlink version…). */
  status?: () => Omit<GatewaySyncStatus, 'backlog' | 'backlogBytes' | 'oldestAgeMs' | 'clockOffsetMs'>;
  /** The fetch to the server (the gateway's, from serverFetch: its CA); global fetch by default. */
  fetch?: ServerFetch;
}

export interface SyncStatus {
  lastSuccess: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  sentItems: number;
  sentBytes: number;
  stopped: string | null;
  /** Server clock minus gateway clock, ms, from the last exchange (null until measured). */
  clockOffsetMs: number | null;
  /** Items per second over the last drain that moved anything. */
  throughput: number | null;
  /** Items the server refused for good, moved to the dead letters one by one. */
  deadLettered: number;
}

export interface SyncEvents {
  synced: [ack: SyncAck, items: number];
  clock: [offsetMs: number];
}

/**
 * The wait before the next try after `consecutiveFailures` failed sends: 500 ms doubling per
 * failure up to `capMs`, with "equal jitter" (between half of that and all of it).
 */
export function syncBackoffMs(consecutiveFailures: number, capMs = 60_000): number {
  const base = Math.min(capMs, 500 * 2 ** Math.min(consecutiveFailures, 16));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

export class SyncClient extends EventEmitter<SyncEvents> {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopping = false;
  readonly status: SyncStatus = {
    lastSuccess: null,
    lastError: null,
    consecutiveFailures: 0,
    sentItems: 0,
    sentBytes: 0,
    stopped: null,
    clockOffsetMs: null,
    throughput: null,
    deadLettered: 0,
  };
  /** After a refused batch: the size of the next ones, halving until the refused item is alone. */
  private splitTo: number | undefined;
  private readonly store: GatewayStore;
  private readonly opts: SyncClientOptions;
  private readonly log: Logger;

  constructor(store: GatewayStore, opts: SyncClientOptions, log: Logger) {
    super();
    this.store = store;
    this.opts = opts;
    this.log = log;
  }

  start(): void {
    this.schedule(0);
  }

  /** New pacing (a configuration sent down from the server); the next batch and wait use it. */
  configure(
    p: Pick<
      SyncClientOptions,
      'intervalMs' | 'batchMaxItems' | 'batchMaxBytes' | 'batchDelayMs' | 'backoffCapMs'
    >,
  ): void {
    this.opts.intervalMs = p.intervalMs;
    this.opts.batchMaxItems = p.batchMaxItems;
    this.opts.batchMaxBytes = p.batchMaxBytes;
    this.opts.batchDelayMs = p.batchDelayMs;
    this.opts.backoffCapMs = p.backoffCapMs;
  }

  /** Asks for a drain soon (new data arrived); coalesces with one already under way or waiting. */
  kick(): void {
    if (this.stopping || this.status.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.status.consecutiveFailures === 0 && this.timer === undefined)
      this.schedule(this.opts.batchDelayMs ?? 100);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopping || this.status.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, ms);
  }

  private backoffMs(): number {
    return syncBackoffMs(this.status.consecutiveFailures, this.opts.backoffCapMs);
  }

  /** Sends batches until the outbox is empty or a send fails. */
  async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const t0 = performance.now();
    let moved = 0;
    try {
      for (;;) {
        this.again = false;
        const rows = this.store.peekOutbox(
          Math.min(this.opts.batchMaxItems, this.splitTo ?? Infinity),
          this.opts.batchMaxBytes ?? 1024 * 1024,
        );
        if (rows.length === 0) this.splitTo = undefined; // whatever was refused has left the outbox
        if (rows.length === 0 || this.stopping) break;
        const seqs = rows.map((r) => r.seq);
        const oldest = this.store.oldestOutbox();
        const now = Date.now();
        const batch: Omit<SyncBatch, 'items'> = {
          gateway: this.opts.gatewayId,
          seqFrom: Math.min(...seqs),
          seqTo: Math.max(...seqs),
          sentAt: now,
          status: {
            version: this.opts.status?.().version ?? '0',
            downlinkVersion: this.opts.status?.().downlinkVersion ?? 0,
            backlog: this.store.outboxDepth(),
            backlogBytes: this.store.outboxBytes,
            oldestAgeMs: oldest === null ? null : Math.max(0, now - oldest),
            clockOffsetMs: this.status.clockOffsetMs,
          },
        };
        // While the batch is on its way, the backlog budget must not touch its rows.
        this.store.inFlightSeqs = seqs;
        let result: Awaited<ReturnType<SyncClient['send']>>;
        try {
          result = await this.send(batch, syncBatchJson(batch, rows));
        } finally {
          this.store.inFlightSeqs = [];
        }
        if (result.kind === 'ok') {
          this.store.deleteOutbox(seqs);
          this.status.lastSuccess = Date.now();
          this.status.lastError = null;
          this.status.consecutiveFailures = 0;
          this.status.sentItems += rows.length;
          this.status.sentBytes += result.bytes;
          moved += rows.length;
          this.emit('synced', result.ack, rows.length);
          continue;
        }
        this.status.lastError = result.reason;
        if (result.kind === 'revoked') {
          this.status.stopped = result.reason;
          this.log.error({ reason: result.reason }, 'server refused the gateway token; uplink stopped');
          return;
        }
        if (result.kind === 'rejected') {
          // A refusal that will never succeed. One bad item must not take the good ones with it:
          // halve the batch until the refused item is alone, and dead-letter only that one.
          if (rows.length > 1) {
            this.splitTo = Math.ceil(rows.length / 2);
            this.log.warn(
              { reason: result.reason, items: rows.length, next: this.splitTo },
              'server rejected a batch; sending it in halves to find the item it refuses',
            );
            continue;
          }
          this.log.error(
            { reason: result.reason, kind: rows[0]!.kind, seq: rows[0]!.seq },
            'server rejected an item; moved to dead letters',
          );
          this.store.deadLetterOutbox(rows, 'HATAKE_E_SYNC_BATCH', result.reason, Date.now());
          this.status.deadLettered += 1;
          this.splitTo = undefined;
          continue;
        }
        this.status.consecutiveFailures++;
        const wait = this.backoffMs();
        this.log.warn({ reason: result.reason, retryInMs: wait }, 'sync failed; will retry');
        this.schedule(wait);
        return;
      }
      this.schedule(this.again ? (this.opts.batchDelayMs ?? 100) : this.opts.intervalMs);
    } finally {
      if (moved > 0) this.status.throughput = moved / Math.max(0.001, (performance.now() - t0) / 1000);
      this.running = false;
    }
  }

  private async send(
    batch: Omit<SyncBatch, 'items'>,
    json: string,
  ): Promise<
    { kind: 'ok'; ack: SyncAck; bytes: number } | { kind: 'retry' | 'rejected' | 'revoked'; reason: string }
  > {
    // Level 1: most of gzip's saving on repetitive JSON at a fraction of its CPU.
    const body = gzipSync(json, { level: 1 });
    const started = Date.now();
    let res: Response;
    try {
      res = await (this.opts.fetch ?? fetch)(new URL('/api/v1/sync', this.opts.url), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        body,
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000),
      });
    } catch (e) {
      return { kind: 'retry', reason: `network: ${describeFetchError(e)}` };
    }
    let text = '';
    try {
      text = await res.text();
    } catch (e) {
      return { kind: 'retry', reason: `response cut: ${describeFetchError(e)}` };
    }
    if (res.status === 200) {
      let ack: unknown;
      try {
        ack = JSON.parse(text);
      } catch {
        return { kind: 'retry', reason: 'ack is not JSON' };
      }
      if (!ackValidator.check(ack) || ack.gateway !== batch.gateway)
        return { kind: 'retry', reason: 'ack does not match the batch' };
      // The server stamped its time somewhere inside the round trip: assume the middle.
      const ended = Date.now();
      this.status.clockOffsetMs = ack.serverTime - (started + ended) / 2;
      this.emit('clock', this.status.clockOffsetMs);
      return { kind: 'ok', ack, bytes: body.length };
    }
    const reason = `HTTP ${res.status}: ${text.slice(0, 500)}`;
    if (res.status === 401) return { kind: 'revoked', reason };
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
      return { kind: 'rejected', reason };
    return { kind: 'retry', reason };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    while (this.running) await new Promise((r) => setTimeout(r, 10));
  }
}
