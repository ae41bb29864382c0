// The downlink: what the server sends the gateway — device manifest and registry, configuration,
// model artifacts, satellite scenes, approved recommendations, automations, overrides. The gateway
// polls on a schedule and also listens on a long-lived SSE stream for "there is something new"; it
// verifies every document's ed25519 signature against the server key it was registered with —
// over the whole envelope: farm, kind, id, version, withdrawal and body (protocol/downlink.ts) —
// refuses one for another farm or not newer than the last it took, applies each atomically
// through the handler of its kind (the previous version stays when one is refused), and reports
// what it applied or refused to the server as events. A 401 on any request (the gateway's token
// was revoked) stops it: no more polls, no more reconnects.
import { verify, createPublicKey, type KeyObject } from 'node:crypto';
import { DownlinkPage, downlinkSigningText, type DownlinkWireDocument } from '../protocol/downlink.ts';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import { validator } from '../protocol/validate.ts';
import type { Logger } from '../runtime/log.ts';
import type { GatewayStore } from './store.ts';
import type { EventLog } from './events.ts';
import { describeFetchError, type ServerFetch } from './server-fetch.ts';

export interface DownlinkDoc {
  kind: string;
  id: string;
  version: number;
  body: unknown;
  deleted: boolean;
}

/** Applies one kind of document; throws a HatakeError to refuse it (the previous one stays). */
export type DownlinkHandler = (doc: DownlinkDoc, client: DownlinkClient) => Promise<string>;

export interface DownlinkOptions {
  url: string;
  token: string;
  /** The server's public key (PEM). Without it, only unsigned-safe kinds are accepted; never models. */
  publicKey?: string;
  intervalMs: number;
  /** The fetch to the server (the gateway's, from serverFetch: its CA); global fetch by default. */
  fetch?: ServerFetch;
  /** The wait before the stream is reopened after it drops (default 5 s). */
  reconnectMs?: number;
  /**
   * The farm this gateway serves (its manifest's): a document signed for another farm is refused.
   * Without it, the farm the server's first answer names is kept (meta `downlink_farm`) and held to.
   */
  farm?: string;
}

const pageValidator = validator(DownlinkPage);

/** How many refusals of documents that do not move the version are remembered, so one sent again
 * (the next poll asks for it again) is not reported again. */
const REPORTED_MAX = 1000;

/** Kinds that may change what runs on the farm: accepted only when signed by the server. */
const MUST_BE_SIGNED = new Set([
  'model',
  'scene',
  'automation',
  'override',
  'registry',
  'manifest',
  'config',
  'stage',
]);

export class DownlinkClient {
  private timer: NodeJS.Timeout | undefined;
  private stream: AbortController | undefined;
  private polling: Promise<void> | undefined;
  /** poll() was called while a poll ran: poll once more when it ends. */
  private pollAgain = false;
  private stopping = false;
  /** Aborts every request in flight when the gateway stops. */
  private readonly stopSignal = new AbortController();
  private readonly key: KeyObject | undefined;
  private readonly handlers = new Map<string, DownlinkHandler>();
  private readonly store: GatewayStore;
  private readonly opts: DownlinkOptions;
  private readonly events: EventLog;
  private readonly log: Logger;
  private error: string | null = null;
  /** Refusals already reported of documents that left the version where it was (what, how, signature). */
  private readonly reported = new Set<string>();
  /** Why the downlink stopped for good (the server refused the token), or null while it runs. */
  stopped: string | null = null;

  constructor(store: GatewayStore, opts: DownlinkOptions, events: EventLog, log: Logger) {
    this.store = store;
    this.opts = opts;
    this.events = events;
    this.log = log;
    this.key = opts.publicKey ? createPublicKey(opts.publicKey) : undefined;
  }

  /** The last failure, for the status page; once stopped, why it stopped. */
  get lastError(): string | null {
    return this.stopped ? `stopped, token refused: ${this.stopped}` : this.error;
  }

  /** The version of the last document applied or refused (documents are taken in order). */
  get version(): number {
    return Number(this.store.getMeta('downlink_version') ?? 0);
  }

  on(kind: string, handler: DownlinkHandler): void {
    this.handlers.set(kind, handler);
  }

  start(): void {
    void this.poll();
    this.schedulePolls();
    void this.listen();
  }

  private schedulePolls(): void {
    clearInterval(this.timer);
    if (this.stopped) return;
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** A new poll interval (a configuration sent down); the stream still says when to look sooner. */
  configure(p: { intervalMs: number }): void {
    if (p.intervalMs === this.opts.intervalMs) return;
    this.opts.intervalMs = p.intervalMs;
    if (this.timer !== undefined) this.schedulePolls();
  }

  /**
   * An authenticated GET against the server. The timeout covers reading the body too (default
   * one minute; a large download asks for more). Aborted when the gateway stops.
   */
  async get(path: string, opts: { timeoutMs?: number } = {}): Promise<Response> {
    return this.request(
      path,
      AbortSignal.any([AbortSignal.timeout(opts.timeoutMs ?? 60_000), this.stopSignal.signal]),
    );
  }

  /** Every request to the server goes through here: a 401 stops the downlink. */
  private async request(path: string, signal: AbortSignal): Promise<Response> {
    const res = await (this.opts.fetch ?? fetch)(new URL(path, this.opts.url), {
      headers: { authorization: `Bearer ${this.opts.token}` },
      signal,
    });
    if (res.status === 401) {
      const text = await res
        .clone()
        .text()
        .catch(() => '');
      this.revoked(`HTTP 401: ${text.slice(0, 500)}`);
    }
    return res;
  }

  /** The server refused the token: polling and the stream stop until the gateway restarts. */
  private revoked(reason: string): void {
    if (this.stopped) return;
    this.stopped = reason;
    clearInterval(this.timer);
    this.timer = undefined;
    this.stream?.abort();
    this.log.error({ reason }, 'server refused the gateway token; downlink stopped');
  }

  /**
   * Fetches and applies everything newer than what was applied; one poll at a time. A call while
   * a poll runs (a "new version" notice arriving while an earlier document is applied) makes that
   * poll ask once more when it ends: the page it fetched may predate the new document, and
   * otherwise the document would wait for the next interval.
   */
  poll(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = (async () => {
      do {
        this.pollAgain = false;
        await this.pollOnce();
      } while (this.pollAgain && !this.stopping && !this.stopped);
    })().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    for (let round = 0; round < 50 && !this.stopping && !this.stopped; round++) {
      let page: DownlinkPage;
      const before = this.version;
      try {
        const res = await this.get(`/api/v1/downlink?after=${before}`);
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        page = pageValidator.parse(await res.json(), 'downlink answer', 'HATAKE_E_PAYLOAD_SCHEMA');
      } catch (e) {
        this.error = `downlink: ${describeFetchError(e)}`;
        return;
      }
      this.error = null;
      const farm = this.farmOf(page.farm);
      for (const d of page.documents) {
        const ok = await this.applyOne(d, page.farm, farm);
        if (!ok) return; // a transient failure: try again at the next poll, in order
      }
      // No progress (every document refused without moving the version): asking again now would
      // get the same answer.
      if (page.documents.length === 0 || this.version >= page.latest || this.version === before) return;
    }
  }

  /** The farm this gateway's documents must be for: configured, or the first the server named. */
  private farmOf(named: string): string {
    if (this.opts.farm !== undefined) return this.opts.farm;
    const kept = this.store.getMeta('downlink_farm');
    if (kept !== undefined) return kept;
    this.store.setMeta('downlink_farm', named);
    this.log.info({ farm: named }, 'downlink: documents are taken for this farm from now on');
    return named;
  }

  /**
   * Verifies and applies one document; false when it should be retried later. `named` is the farm
   * the server's answer names (its signature must cover it), `farm` the one this gateway serves.
   * The version moves past a document only once its signature, its farm and its version are
   * known to be the server's for this farm: a version changed on the way never moves it (a
   * version raised by a forger would make the gateway skip the documents it then asks past).
   */
  private async applyOne(d: DownlinkWireDocument, named: string, farm: string): Promise<boolean> {
    const name = `${d.kind} ${d.id} v${d.version}`;
    let moves = false;
    try {
      if (this.key) {
        if (!d.signature) throw new HatakeError('HATAKE_E_MODEL_INTEGRITY', 'the document is not signed');
        const signature = Buffer.from(d.signature, 'base64');
        const envelope = { farm: named, kind: d.kind, id: d.id, version: d.version, deleted: d.deleted };
        if (
          !verify(
            null,
            Buffer.from(downlinkSigningText({ ...envelope, bodyJson: d.bodyJson })),
            this.key,
            signature,
          )
        ) {
          if (verify(null, Buffer.from(d.bodyJson), this.key, signature)) {
            // The server's, signed as servers did before the envelope (the body alone): a server
            // not yet upgraded. Not taken (those signatures leave the rest open to change), not
            // skipped either: asked again at the next poll, in order.
            this.error = `${name}: signed under the former scheme (the body alone); the server must be upgraded to sign the whole document`;
            this.log.warn(
              { doc: name },
              'downlink document signed under the former scheme; not applied, asked again later',
            );
            return false;
          }
          throw new HatakeError('HATAKE_E_MODEL_INTEGRITY', 'signature does not verify with the server key');
        }
      } else if (MUST_BE_SIGNED.has(d.kind)) {
        throw new HatakeError(
          'HATAKE_E_MODEL_INTEGRITY',
          `no server public key configured to verify a ${d.kind}`,
          {
            expected: 'server.publicKeyFile in the gateway config (from `hatake gateway register`)',
          },
        );
      }
      // From here on (with a key) the farm, kind, id, version and withdrawal are the server's.
      if (named !== farm)
        throw new HatakeError(
          'HATAKE_E_FORBIDDEN',
          `the document is for farm "${named}"; this gateway serves farm "${farm}"`,
        );
      if (d.version <= this.version)
        throw new HatakeError(
          'HATAKE_E_STATE_CONFLICT',
          `version ${d.version} is not newer than version ${this.version}, the last this gateway took (a document sent again or out of order)`,
        );
      moves = true;
      const handler = this.handlers.get(d.kind);
      if (!handler)
        throw new HatakeError('HATAKE_E_CONFIG', `this gateway does not take ${d.kind} documents`);
      let body: unknown;
      try {
        body = JSON.parse(d.bodyJson);
      } catch {
        throw new HatakeError('HATAKE_E_PAYLOAD_JSON', 'body is not JSON');
      }
      const what = await handler(
        { kind: d.kind, id: d.id, version: d.version, body, deleted: d.deleted },
        this,
      );
      this.store.setMeta('downlink_version', String(d.version));
      this.events.raise({
        type: 'downlink_applied',
        severity: 'info',
        message: `applied ${name}: ${what}`,
        detail: {
          kind: d.kind,
          id: d.id,
          version: d.version,
          ...(d.deleted ? { deleted: true } : {}),
          // A recommendation comes down with each review decision: the event says which.
          ...(d.kind === 'recommendation' && typeof (body as { status?: unknown })?.status === 'string'
            ? { status: (body as { status: string }).status }
            : {}),
        },
      });
      return true;
    } catch (e) {
      if (!isHatakeError(e)) {
        this.error = `${name}: ${describeFetchError(e)}`;
        this.log.warn(
          { doc: name, err: (e as Error).message },
          'downlink document not applied yet; will retry',
        );
        return false;
      }
      // Refused for good: the previous version stays in use, and the server is told (the event is
      // logged too). The version moves past a document of this farm the server signed; any other
      // is asked for again only while nothing newer comes, and reported once.
      if (moves) this.store.setMeta('downlink_version', String(d.version));
      else {
        const key = `${e.code} ${named} ${name} ${d.deleted} ${d.signature ?? ''}`;
        if (this.reported.has(key)) return true;
        this.reported.add(key);
        if (this.reported.size > REPORTED_MAX) this.reported.delete(this.reported.values().next().value!);
      }
      this.events.raise({
        type: 'downlink_refused',
        severity: 'critical',
        message: `refused ${name}: ${e.message}`,
        detail: { kind: d.kind, id: d.id, version: d.version, code: e.code },
      });
      return true;
    }
  }

  /** Listens for "new version" notifications; reconnects after a pause when the stream drops. */
  private async listen(): Promise<void> {
    while (!this.stopping && !this.stopped) {
      this.stream = new AbortController();
      try {
        const res = await this.request('/api/v1/downlink/stream', this.stream.signal);
        if (res.status === 200 && res.body) {
          const decoder = new TextDecoder();
          let buf = '';
          const reader = res.body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const event = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const v = /^data: (\d+)$/m.exec(event)?.[1];
              if (v !== undefined && Number(v) > this.version) void this.poll();
            }
          }
        } else await res.body?.cancel();
      } catch {
        // dropped or refused: fall through to the pause
      }
      if (this.stopping || this.stopped) return;
      await new Promise((r) => setTimeout(r, this.opts.reconnectMs ?? 5000).unref());
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.stream?.abort();
    this.stopSignal.abort();
    await this.polling;
  }
}
