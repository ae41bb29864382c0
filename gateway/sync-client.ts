// Store-and-forward uplink: drains the outbox to the server in gzip'd batches (by count and bytes,
// after a short delay so a batch can fill) and forgets a row only after the server has
// acknowledged the batch that carried it. Network errors and 5xx back off exponentially with
// jitter (capped). A 4xx is read for what it says is wrong:
// - the server's problem+json saying the content is invalid (a schema failure under /items, a
//   body too large, an item outside the batch): the batch is halved until the item it refuses is
//   alone, and only that item moves to the dead letters — one bad item does not block the queue;
// - anything else (403 for a token of another gateway or farm, 404/409, a reverse proxy's page
//   during maintenance, an error in the batch's envelope): the whole batch is refused, not an
//   item. Nothing is dead-lettered; the outbox is kept, retried with a longer backoff, one item
//   at a time until the server takes it again (a probe, not the whole batch, on a metered link),
//   and the refusal is shown in `status.refused` (the gateway's health) and logged once per change;
// - 401 stops the uplink (the gateway's token was revoked).
// Each exchange also measures the gateway's clock against the server's. Every batch names the
// database's outbox epoch (`outboxEpoch`), so a database put in the gateway's place (an SD card
// swapped, a re-flash) and numbering from 1 again is not taken for resends of the old one.
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { EventEmitter } from 'node:events';
import {
  OUTBOX_EPOCH_PATTERN,
  SyncAckAsRead,
  type GatewaySyncStatus,
  type SyncAck,
  type SyncBatch,
} from '../protocol/sync.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import { validator } from '../protocol/validate.ts';
import type { Logger } from '../runtime/log.ts';
import { syncBatchJson, type GatewayStore } from './store.ts';
import { describeFetchError, type ServerFetch } from './server-fetch.ts';

const ackValidator = validator(SyncAckAsRead);

/** The meta key holding the database's outbox epoch. */
export const OUTBOX_EPOCH_META = 'outbox_epoch';
const EPOCH_RE = new RegExp(OUTBOX_EPOCH_PATTERN);

/**
 * The store's outbox epoch (protocol/sync.ts): made once, at random, the first time the database
 * syncs — before its first batch — and kept in its meta table, so it lives and dies with the
 * database file and its outbox numbering. (A database that synced before epochs existed gets one
 * here too; the server then starts its record of that gateway afresh, see dashboard/sync-acked.ts.)
 */
export function outboxEpoch(store: Pick<GatewayStore, 'getMeta' | 'setMeta'>): string {
  const kept = store.getMeta(OUTBOX_EPOCH_META);
  if (kept !== undefined && EPOCH_RE.test(kept)) return kept;
  const made = randomUUID();
  store.setMeta(OUTBOX_EPOCH_META, made);
  return made;
}

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
  /**
   * Set while the server refuses whole batches (a 4xx that is not about an item, see
   * `judgeRefusal`): since when, the last answer's HTTP status and hatake code (null when it was
   * not the server's problem+json, e.g. a reverse proxy's page) and how many tries it refused.
   * The outbox is kept meanwhile; the reason is in `lastError`.
   */
  refused: SyncRefusal | null;
}

export interface SyncRefusal {
  since: number;
  status: number;
  code: string | null;
  attempts: number;
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

/**
 * The backoff cap while the server refuses whole batches: such a refusal waits for a person (a
 * token, a farm, the end of maintenance), so the retries thin out further than after a network
 * failure — five times the configured cap (5 min by default), at most an hour.
 */
export function refusedBackoffCapMs(capMs = 60_000): number {
  return Math.max(capMs, Math.min(3_600_000, 5 * capMs));
}

/**
 * Codes with which the server says the content of a batch is wrong (protocol/errors.ts, as
 * dashboard/problem.ts and dashboard/routes/sync.ts send them): a schema or JSON failure, a body
 * past the size limit, an item outside the batch's sequence range or of a kind it does not take.
 */
const BODY_FAULT_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'HATAKE_E_PAYLOAD_SCHEMA',
  'HATAKE_E_PAYLOAD_JSON',
  'HATAKE_E_PAYLOAD_SIZE',
  'HATAKE_E_SYNC_BATCH',
  'HATAKE_E_OUT_OF_RANGE',
  'HATAKE_E_UNKNOWN_METRIC',
]);
/** The statuses those codes come with on the sync endpoint (414 and 431 are about the URL and headers). */
const BODY_FAULT_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

/** What a 4xx answer to a batch (other than 401, 408, 429) says is at fault. */
export type RefusalJudgement =
  /** The content: an item in it is invalid (or the batch is too large) — halve, dead-letter the item alone. */
  | { kind: 'invalid'; code: string }
  /** The batch as a whole (who sends it, where it goes): keep it, back off. `code` is the server's, if any. */
  | { kind: 'refused'; code: string | null };

/**
 * Reads a 4xx answer to a sync batch. Only the server's own problem+json of the validation kind
 * condemns the content — and of a schema failure only one that points into `/items` (an error in
 * the envelope, e.g. a status field an older server does not know, would refuse every batch).
 * Anything else — another code (403 HATAKE_E_FORBIDDEN for a token of another gateway or farm,
 * 404, 409…) or an answer that is not our problem+json (a reverse proxy's 403/404/413 page) —
 * refuses the batch, not an item in it.
 */
export function judgeRefusal(status: number, contentType: string | null, text: string): RefusalJudgement {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/problem+json') return { kind: 'refused', code: null };
  let problem: unknown;
  try {
    problem = JSON.parse(text);
  } catch {
    return { kind: 'refused', code: null };
  }
  if (typeof problem !== 'object' || problem === null) return { kind: 'refused', code: null };
  const { code, pointer } = problem as { code?: unknown; pointer?: unknown };
  if (typeof code !== 'string' || !/^HATAKE_E_[A-Z0-9_]+$/.test(code)) return { kind: 'refused', code: null };
  const inItems = pointer === undefined || (typeof pointer === 'string' && /^\/items(?:\/|$)/.test(pointer));
  return BODY_FAULT_STATUSES.has(status) && BODY_FAULT_CODES.has(code) && inItems
    ? { kind: 'invalid', code }
    : { kind: 'refused', code };
}

type SendResult =
  | { kind: 'ok'; ack: SyncAck; bytes: number }
  | { kind: 'retry' | 'revoked'; reason: string }
  | { kind: 'invalid'; reason: string; code: string }
  | { kind: 'refused'; reason: string; status: number; code: string | null };

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
    refused: null,
  };
  /** After a refused batch: the size of the next ones, halving until the refused item is alone. */
  private splitTo: number | undefined;
  private readonly store: GatewayStore;
  private readonly opts: SyncClientOptions;
  private readonly log: Logger;
  /** The store's outbox epoch, sent with every batch. */
  readonly epoch: string;

  constructor(store: GatewayStore, opts: SyncClientOptions, log: Logger) {
    super();
    this.store = store;
    this.opts = opts;
    this.log = log;
    // When the uplink last worked, as of before a restart: a gateway restarted while offline still
    // says how long it has been (the status page, /metrics).
    this.status.lastSuccess = store.lastSync();
    this.epoch = outboxEpoch(store);
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
        // While the server refuses whole batches, one item asks whether it takes them again: the
        // same answer, without sending the whole batch over a metered link at every try.
        const rows = this.store.peekOutbox(
          Math.min(this.opts.batchMaxItems, this.splitTo ?? Infinity, this.status.refused ? 1 : Infinity),
          this.opts.batchMaxBytes ?? 1024 * 1024,
        );
        if (rows.length === 0) this.splitTo = undefined; // whatever was refused has left the outbox
        if (rows.length === 0 || this.stopping) break;
        const seqs = rows.map((r) => r.seq);
        const head = this.store.outboxHead();
        const now = Date.now();
        const batch: Omit<SyncBatch, 'items'> = {
          gateway: this.opts.gatewayId,
          epoch: this.epoch,
          seqFrom: Math.min(...seqs),
          seqTo: Math.max(...seqs),
          sentAt: now,
          status: {
            version: this.opts.status?.().version ?? '0',
            downlinkVersion: this.opts.status?.().downlinkVersion ?? 0,
            backlog: this.store.outboxDepth(),
            backlogBytes: this.store.outboxBytes,
            oldestAgeMs: head === null ? null : Math.max(0, now - head.created),
            clockOffsetMs: this.status.clockOffsetMs,
            ...(head !== null ? { outboxMinSeq: head.seq } : {}),
          },
        };
        // While the batch is on its way, the backlog budget must not touch its rows.
        this.store.inFlightSeqs = seqs;
        let result: SendResult;
        try {
          result = await this.send(batch, syncBatchJson(batch, rows));
        } finally {
          this.store.inFlightSeqs = [];
        }
        // A refusal lasts until the server answers otherwise (a network failure says nothing).
        if (result.kind === 'ok' || result.kind === 'invalid' || result.kind === 'revoked')
          this.endRefusal(result.kind);
        if (result.kind === 'ok') {
          const now = Date.now();
          this.store.acknowledged(seqs, now);
          this.status.lastSuccess = now;
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
        if (result.kind === 'invalid') {
          // The server says the content is invalid. One bad item must not take the good ones with
          // it: halve the batch until the refused item is alone, and dead-letter only that one.
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
          this.store.deadLetterOutbox(rows, result.code, result.reason, Date.now());
          this.status.deadLettered += 1;
          this.splitTo = undefined;
          continue;
        }
        if (result.kind === 'refused') {
          // The whole batch is refused, not an item: keep every row and ask again later.
          this.status.consecutiveFailures++;
          const wait = syncBackoffMs(
            this.status.consecutiveFailures,
            refusedBackoffCapMs(this.opts.backoffCapMs),
          );
          this.noteRefusal(result, wait);
          this.schedule(wait);
          return;
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

  /** Logs a refusal of whole batches when it starts or its answer changes; repeats only count. */
  private noteRefusal(r: Extract<SendResult, { kind: 'refused' }>, retryInMs: number): void {
    const was = this.status.refused;
    if (was && was.status === r.status && was.code === r.code) {
      was.attempts++;
      this.log.debug({ status: r.status, code: r.code, attempts: was.attempts, retryInMs }, 'still refused');
      return;
    }
    this.status.refused = { since: Date.now(), status: r.status, code: r.code, attempts: 1 };
    this.log.error(
      {
        status: r.status,
        code: r.code,
        reason: r.reason,
        backlog: this.store.outboxDepth(),
        retryInMs,
        ...(was ? { before: { status: was.status, code: was.code } } : {}),
      },
      r.code === null
        ? 'uplink held: the server (or a proxy in front of it) refuses the batches, not an item in them; the outbox is kept and retried with backoff, nothing is dead-lettered'
        : 'uplink held: the server refuses the batches, not an item in them; the outbox is kept and retried with backoff, nothing is dead-lettered',
    );
  }

  /** Ends a refusal of whole batches: the server took a batch, judged an item or refused the token. */
  private endRefusal(answer: 'ok' | 'invalid' | 'revoked'): void {
    const was = this.status.refused;
    if (!was) return;
    this.status.refused = null;
    this.log.warn(
      { status: was.status, code: was.code, attempts: was.attempts, forMs: Date.now() - was.since, answer },
      answer === 'ok' ? 'the server takes the batches again' : 'the server no longer refuses the batches',
    );
  }

  private async send(batch: Omit<SyncBatch, 'items'>, json: string): Promise<SendResult> {
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
    if (res.status < 400 || res.status >= 500 || res.status === 408 || res.status === 429)
      return { kind: 'retry', reason };
    const judged = judgeRefusal(res.status, res.headers.get('content-type'), text);
    return judged.kind === 'invalid'
      ? { kind: 'invalid', reason, code: judged.code }
      : { kind: 'refused', reason, status: res.status, code: judged.code };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    while (this.running) await new Promise((r) => setTimeout(r, 10));
  }
}
