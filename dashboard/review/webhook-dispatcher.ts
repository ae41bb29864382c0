// Delivers queued webhook events: due deliveries are POSTed (signed, with a timeout) by a small
// pool; a 2xx marks one delivered; a network error, timeout, 408, 429 or 5xx schedules a retry
// with exponential backoff and jitter until `maxAttempts`; any other status gives up at once (a
// receiver that refuses the request will not change its mind). Redirects are not followed. The
// queue lives in SQLite, so deliveries pending at a shutdown resume at the next start (at least
// once: receivers de-duplicate by x-hatake-delivery). Logs name the webhook and host only —
// never the secret, the URL's query (it may hold a token) or the body.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../runtime/sqlite.ts';
import type { WebhookStore } from './webhook-store.ts';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhook,
} from './webhook-signature.ts';
import { blockedAddress, guardedLookup } from './webhook-target.ts';

export interface DispatcherOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
  concurrency: number;
  allowPrivateTargets: boolean;
  /** Delivered, failed and dropped rows older than this are deleted. */
  keepMs: number;
}

export const DISPATCHER_DEFAULTS: DispatcherOptions = {
  maxAttempts: 8,
  baseDelayMs: 5_000,
  maxDelayMs: 3_600_000,
  timeoutMs: 10_000,
  concurrency: 4,
  allowPrivateTargets: false,
  keepMs: 30 * 86_400_000,
};

interface DueRow {
  id: number;
  webhook: string;
  event: string;
  event_id: string;
  body: string;
  attempts: number;
}

type Outcome = { status: number; retryAfterMs?: number } | { error: string; retryable: boolean };

/** The wait before attempt n+1 after n failed attempts: base·2^(n−1), capped, with jitter (½–1×). */
export function backoffMs(
  attempts: number,
  o: Pick<DispatcherOptions, 'baseDelayMs' | 'maxDelayMs'>,
): number {
  const d = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(d / 2 + Math.random() * (d / 2));
}

export class WebhookDispatcher {
  private readonly db: Db;
  private readonly store: WebhookStore;
  private readonly log: FastifyBaseLogger | undefined;
  opts: DispatcherOptions;
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Map<number, Promise<void>>();
  private readonly aborts = new Set<AbortController>();
  private closed = false;
  private lastPrune = 0;
  /** Counters since start. */
  readonly stats = { delivered: 0, retried: 0, failed: 0 };

  constructor(
    db: Db,
    store: WebhookStore,
    log: FastifyBaseLogger | undefined,
    opts: Partial<DispatcherOptions> = {},
  ) {
    this.db = db;
    this.store = store;
    this.log = log;
    this.opts = {
      ...DISPATCHER_DEFAULTS,
      allowPrivateTargets: process.env.HATAKE_WEBHOOK_ALLOW_PRIVATE === '1',
      ...opts,
    };
  }

  /** Looks for due deliveries now (after an enqueue, or at start). */
  kick(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), Math.max(0, Math.min(delayMs, 60_000)));
    this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = Date.now();
    if (now - this.lastPrune > 3_600_000) {
      this.lastPrune = now;
      this.db
        .prepare(`DELETE FROM webhook_deliveries WHERE state != 'pending' AND created < ?`)
        .run(now - this.opts.keepMs);
    }
    const free = this.opts.concurrency - this.inflight.size;
    if (free > 0) {
      const busy = [...this.inflight.keys()];
      const due = this.db
        .prepare(
          `SELECT id, webhook, event, event_id, body, attempts FROM webhook_deliveries
           WHERE state = 'pending' AND next_at <= ? ${busy.length ? `AND id NOT IN (${busy.map(() => '?').join(',')})` : ''}
           ORDER BY next_at, id LIMIT ?`,
        )
        .all(now, ...busy, free) as DueRow[];
      for (const row of due) {
        const p = this.deliver(row)
          .catch((e: unknown) =>
            this.log?.error({ err: e, webhook: row.webhook }, 'webhook dispatcher failed'),
          )
          .finally(() => {
            this.inflight.delete(row.id);
            this.kick();
          });
        this.inflight.set(row.id, p);
      }
    }
    if (this.inflight.size >= this.opts.concurrency) return; // a finishing delivery kicks again
    const busy = [...this.inflight.keys()];
    const next = this.db
      .prepare(
        `SELECT MIN(next_at) AS t FROM webhook_deliveries WHERE state = 'pending' ${busy.length ? `AND id NOT IN (${busy.map(() => '?').join(',')})` : ''}`,
      )
      .get(...busy) as { t: number | null };
    if (next.t !== null) this.schedule(next.t - Date.now());
  }

  private async deliver(row: DueRow): Promise<void> {
    const hook = this.store.target(row.webhook);
    const attempts = row.attempts + 1;
    if (!hook) {
      this.finish(row.id, attempts, 'failed', null, 'webhook deleted');
      return;
    }
    const url = new URL(hook.url);
    const outcome = await this.post(url, hook.secret, row);
    if (this.closed && 'error' in outcome && outcome.error === 'aborted') return; // resumes at next start
    const where = {
      webhook: row.webhook,
      delivery: row.id,
      host: url.host,
      event: row.event,
      attempt: attempts,
    };
    if ('status' in outcome && outcome.status >= 200 && outcome.status < 300) {
      this.stats.delivered++;
      this.finish(row.id, attempts, 'delivered', outcome.status, null);
      return;
    }
    const status = 'status' in outcome ? outcome.status : null;
    const error = 'error' in outcome ? outcome.error : `HTTP ${outcome.status}`;
    const retryable =
      'error' in outcome
        ? outcome.retryable
        : outcome.status >= 500 || outcome.status === 408 || outcome.status === 429;
    if (!retryable || attempts >= this.opts.maxAttempts) {
      this.stats.failed++;
      this.log?.warn({ ...where, status, error }, 'webhook delivery gave up');
      this.finish(row.id, attempts, 'failed', status, error);
      return;
    }
    this.stats.retried++;
    let wait = backoffMs(attempts, this.opts);
    if ('retryAfterMs' in outcome && outcome.retryAfterMs !== undefined)
      wait = Math.min(this.opts.maxDelayMs, Math.max(wait, outcome.retryAfterMs));
    this.log?.info({ ...where, status, error, retryInMs: wait }, 'webhook delivery failed; will retry');
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = ?, next_at = ?, last_status = ?, last_error = ? WHERE id = ? AND state = 'pending'`,
      )
      .run(attempts, Date.now() + wait, status, error.slice(0, 300), row.id);
  }

  private finish(
    id: number,
    attempts: number,
    state: 'delivered' | 'failed',
    status: number | null,
    error: string | null,
  ): void {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_at = NULL, last_status = ?, last_error = ?, delivered_at = ?
         WHERE id = ? AND state = 'pending'`,
      )
      .run(
        state,
        attempts,
        status,
        error?.slice(0, 300) ?? null,
        state === 'delivered' ? Date.now() : null,
        id,
      );
  }

  private post(url: URL, secret: string, row: DueRow): Promise<Outcome> {
    const allowPrivate = this.opts.allowPrivateTargets;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const why = blockedAddress(host, allowPrivate);
      if (why) return Promise.resolve({ error: `target is a ${why}`, retryable: false });
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const body = Buffer.from(row.body);
    const abort = new AbortController();
    this.aborts.add(abort);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const done = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.aborts.delete(abort);
        resolve(o);
      };
      const timer = setTimeout(() => {
        abort.abort();
        done({ error: `no answer within ${this.opts.timeoutMs} ms`, retryable: true });
      }, this.opts.timeoutMs);
      const req = send(
        url,
        {
          method: 'POST',
          signal: abort.signal,
          lookup: guardedLookup(allowPrivate),
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            'user-agent': 'hatake-webhook/1',
            [EVENT_HEADER]: row.event,
            [DELIVERY_HEADER]: row.event_id,
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signWebhook(secret, timestamp, row.body),
          },
        },
        (res: IncomingMessage) => {
          // Read (and forget) at most 64 KiB of the answer so the socket can be reused.
          let seen = 0;
          res.on('data', (c: Buffer) => {
            seen += c.length;
            if (seen > 65_536) res.destroy();
          });
          const status = res.statusCode ?? 0;
          const ra = Number(res.headers['retry-after']);
          const outcome: Outcome = {
            status,
            ...(Number.isFinite(ra) && ra >= 0 ? { retryAfterMs: ra * 1000 } : {}),
          };
          res.on('end', () => done(outcome));
          res.on('close', () => done(outcome));
          res.on('error', () => done(outcome));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (abort.signal.aborted && this.closed) return done({ error: 'aborted', retryable: true });
        done({
          error:
            e.code === 'EHATAKE_BLOCKED'
              ? 'target resolves to a blocked address'
              : (e.code ?? 'network error'),
          retryable: e.code !== 'EHATAKE_BLOCKED',
        });
      });
      req.end(body);
    });
  }

  /** Stops scheduling, aborts deliveries in flight (they stay pending) and waits for them. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const a of this.aborts) a.abort();
    await Promise.allSettled([...this.inflight.values()]);
  }
}
