// Durable ingest with group commit. Each published payload is decoded and checked as it arrives;
// everything that arrived in the same turn of the event loop is then written in one SQLite
// transaction, and only when that transaction has committed are the publishers' callbacks (and
// so their PUBACKs) released. Under load many messages share a commit; alone, a message waits for
// no one.
//
// It runs once per published message, so a message costs one promise and no intermediate
// arrays: `submit` is not an async function awaiting another promise, and a group's readings and
// dead letters are gathered with plain loops.
import { EventEmitter } from 'node:events';
import { isHatakeError, HatakeError } from '../protocol/errors.ts';
import type { Reading } from '../protocol/telemetry.ts';
import { decodePayload } from '../firmware-config/decode.ts';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import type { QualityTracker } from '../firmware-config/quality-tracker.ts';
import { DEAD_LETTER_HEAD_BYTES, type DeadLetter, type GatewayStore } from './store.ts';
import type { DeviceRegistry } from './registry.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface IngestOptions {
  maxPayloadBytes: number;
  /** A device's calibration overrides from the manifest. */
  calibration?: (device: string) => Record<string, number[]> | undefined;
  /** Spike / stuck / clock-skew / duplicate flags from recent history. */
  tracker?: QualityTracker;
  /** The gateway's corrected time (its clock plus the offset measured against the server). */
  clock?: () => number;
  /**
   * Queued messages that make the group go at once rather than at the end of the event loop's
   * turn. With the writer thread a group can be larger: all that arrived during the previous one.
   */
  maxGroup: number;
  /**
   * A group of at least this many messages starts the store's commit writer thread (it then
   * writes every group); undefined: commits stay on this thread.
   */
  threadFrom?: number;
  /**
   * How long a message may wait for others to share its commit, when its device reports slowly
   * (0 or unset: the group goes at the end of the event loop's turn). A commit rewrites whole
   * pages, so one per message wears an SD card several times faster than one per few messages.
   * A device sending again within the window (a burst, the replay of its backlog, a flood) gets
   * no wait: its publisher, holding back for the PUBACK, would otherwise go one message a window.
   */
  commitWindowMs?: number;
}

export type IngestOutcome = { accepted: number } | { rejected: HatakeError };

interface Pending {
  readings: Reading[];
  /** Why the payload was refused (it is dead-lettered with this reason). */
  error: HatakeError | undefined;
  dead: DeadLetter | undefined;
  arrived: number;
  resolve: (outcome: IngestOutcome) => void;
  reject: (e: Error) => void;
}

export interface IngestEvents {
  committed: [fresh: number];
  /** The readings of a group commit once durable (resends too: listeners de-duplicate). */
  readings: [readings: readonly Reading[]];
  /** `first`: the commit before it succeeded (the store has just started refusing). */
  storeFailed: [error: HatakeError, first: boolean];
  rejected: [dead: DeadLetter];
}

const NO_READINGS: Reading[] = [];
const NO_DEAD_LETTERS: DeadLetter[] = [];
const INGEST_QUEUE = { queue: 'ingest' };

export class Ingest extends EventEmitter<IngestEvents> {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly store: GatewayStore;
  private readonly metrics: GatewayMetrics;
  private readonly registry: DeviceRegistry;
  private readonly catalogue: Catalogue;
  private readonly opts: IngestOptions;
  private readonly flushLater = () => this.flush();
  /** The commit window's timer, while the queue waits on it. */
  private windowTimer: NodeJS.Timeout | undefined;
  /** When each device's previous message arrived (for the commit window). */
  private readonly lastArrival = new Map<string, number>();
  /** The group on the store's writer thread, until it is settled. */
  private writing: Promise<void> | undefined;
  /** Why the last commit failed, until one succeeds (the gateway's health says so). */
  storeFailure: HatakeError | undefined;

  constructor(
    store: GatewayStore,
    registry: DeviceRegistry,
    catalogue: Catalogue,
    metrics: GatewayMetrics,
    opts: IngestOptions,
  ) {
    super();
    this.store = store;
    this.metrics = metrics;
    this.registry = registry;
    this.catalogue = catalogue;
    this.opts = opts;
  }

  /**
   * Ingests one telemetry payload from an authenticated device. Resolves once the outcome is
   * durable: the readings are stored (and queued for the server), or the payload is in the dead
   * letters with its reason. Rejects only when the store itself failed (e.g. disk full).
   */
  submit(device: string, topic: string, payload: Uint8Array, at?: number): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      const now = at ?? this.opts.clock?.() ?? Date.now();
      this.metrics.messages.inc();
      const arrived = performance.now();
      let readings: Reading[];
      try {
        readings = this.decode(device, payload, now);
      } catch (e) {
        this.enqueueRefused(e, device, topic, payload, now, arrived, resolve, reject);
        return;
      }
      this.enqueue({ readings, error: undefined, dead: undefined, arrived, resolve, reject }, device);
    });
  }

  private decode(device: string, payload: Uint8Array, now: number): Reading[] {
    const entry = this.registry.get(device);
    if (!entry) throw new HatakeError('HATAKE_E_UNKNOWN_DEVICE', `device "${device}" is not registered`);
    const kit = this.catalogue.require(entry.kit);
    return decodePayload(payload, {
      device,
      kit,
      receivedAt: now,
      maxBytes: this.opts.maxPayloadBytes,
      calibration: this.opts.calibration?.(device),
      tracker: this.opts.tracker,
    });
  }

  /**
   * Like `submit`, with the decoding supplied by the caller (e.g. a LoRaWAN network-server
   * envelope already unwrapped). `raw` is what gets kept in a dead letter.
   */
  submitWith(
    device: string | null,
    topic: string,
    raw: Uint8Array,
    now: number,
    decode: () => Reading[],
  ): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      this.metrics.messages.inc();
      const arrived = performance.now();
      let readings: Reading[];
      try {
        readings = decode();
      } catch (e) {
        this.enqueueRefused(e, device, topic, raw, now, arrived, resolve, reject);
        return;
      }
      this.enqueue({ readings, error: undefined, dead: undefined, arrived, resolve, reject }, device);
    });
  }

  /** Queues a payload the decoding refused: its dead letter is written with the group. */
  private enqueueRefused(
    e: unknown,
    device: string | null,
    topic: string,
    raw: Uint8Array,
    now: number,
    arrived: number,
    resolve: Pending['resolve'],
    reject: Pending['reject'],
  ): void {
    const error = isHatakeError(e)
      ? e
      : new HatakeError('HATAKE_E_INTERNAL', `decoder failed: ${(e as Error).message}`);
    const dead: DeadLetter = {
      time: now,
      device,
      topic,
      code: error.code,
      reason: error.describe(),
      head: Buffer.from(raw.subarray(0, DEAD_LETTER_HEAD_BYTES)),
    };
    this.metrics.rejected.inc({ code: error.code });
    // (No device for the commit window: a refused id may be anything a sender made up.)
    this.enqueue({ readings: NO_READINGS, error, dead, arrived, resolve, reject }, null);
  }

  private enqueue(p: Pending, device: string | null): void {
    this.queue.push(p);
    this.metrics.queueDepth.set(INGEST_QUEUE, this.queue.length);
    const window = this.opts.commitWindowMs ?? 0;
    let slow = false;
    if (window > 0 && device !== null) {
      const before = this.lastArrival.get(device);
      this.lastArrival.set(device, p.arrived);
      // A device heard for the first time, or not for two windows, is a slow reporter. (Two: a
      // device replaying its backlog sends each message on the PUBACK of the one before, which
      // the window itself held back — its next message must not be held again.)
      slow = before === undefined || p.arrived - before >= 2 * window;
    }
    if (this.queue.length >= this.opts.maxGroup) {
      this.flush();
      return;
    }
    if (this.scheduled) return;
    if (slow) {
      // It may wait for company: the group goes when the window ends, or sooner with a message
      // that may not wait.
      this.windowTimer ??= setTimeout(this.flushLater, window);
      return;
    }
    this.scheduled = true;
    setImmediate(this.flushLater);
  }

  /**
   * Commits everything queued in one transaction and releases the waiting publishers. With the
   * store's writer thread, one group is on that thread at a time: what arrives meanwhile waits
   * for it and then goes as the next group.
   */
  flush(): void {
    this.scheduled = false;
    if (this.windowTimer) {
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
    }
    if (this.writing) return; // the next group goes when the one on the writer thread is done
    const group = this.queue;
    if (group.length === 0) return;
    this.queue = [];
    let readings: Reading[];
    let dead = NO_DEAD_LETTERS;
    if (group.length === 1) {
      readings = group[0]!.readings;
      if (group[0]!.dead) dead = [group[0]!.dead];
    } else {
      readings = [];
      for (const p of group) {
        for (const r of p.readings) readings.push(r);
        if (p.dead) (dead === NO_DEAD_LETTERS ? (dead = []) : dead).push(p.dead);
      }
    }
    if (!this.store.hasWriter && this.opts.threadFrom !== undefined && group.length >= this.opts.threadFrom)
      this.store.startWriter();
    if (this.store.hasWriter) {
      this.writing = this.store.commitAsync(readings, dead, Date.now()).then(
        (fresh) => this.committed(group, readings, fresh),
        (e) => this.failed(group, e),
      );
      void this.writing.then(() => {
        this.writing = undefined;
        if (this.queue.length > 0) this.flush();
      });
      return;
    }
    let fresh: number;
    try {
      fresh = this.store.commit(readings, dead, Date.now());
    } catch (e) {
      this.failed(group, e);
      return;
    }
    this.committed(group, readings, fresh);
  }

  /** A group's commit failed: every publisher in it is told (no PUBACK), nothing was stored. */
  private failed(group: readonly Pending[], e: unknown): void {
    const full =
      (e as { code?: string }).code === 'SQLITE_FULL' ||
      (isHatakeError(e) && e.code === 'HATAKE_E_DISK_FULL');
    const err = new HatakeError(
      full ? 'HATAKE_E_DISK_FULL' : 'HATAKE_E_STORAGE',
      `store refused the write: ${(e as Error).message}`,
      { cause: e },
    );
    for (const p of group) p.reject(err);
    const first = this.storeFailure === undefined;
    this.storeFailure = err;
    this.emit('storeFailed', err, first);
  }

  /** A group is durable: its publishers are released, and listeners hear of its readings. */
  private committed(group: readonly Pending[], readings: readonly Reading[], fresh: number): void {
    let refused = false;
    this.storeFailure = undefined;
    this.metrics.commits.inc();
    this.metrics.readings.inc(readings.length);
    this.metrics.queueDepth.set(INGEST_QUEUE, this.queue.length);
    const end = performance.now();
    for (const p of group) {
      this.metrics.ingestLatency.observe((end - p.arrived) / 1000);
      if (p.error) {
        refused = true;
        p.resolve({ rejected: p.error });
      } else {
        p.resolve({ accepted: p.readings.length });
      }
    }
    if (readings.length > 0) this.emit('readings', readings);
    if (fresh > 0) this.emit('committed', fresh);
    if (refused) for (const p of group) if (p.dead) this.emit('rejected', p.dead);
  }

  /** Commits what is queued and waits until nothing is queued or being written (a graceful stop). */
  async drain(): Promise<void> {
    for (;;) {
      this.flush();
      if (!this.writing) return;
      await this.writing;
    }
  }
}
