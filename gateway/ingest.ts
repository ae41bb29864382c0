// Durable ingest with group commit. Each published payload is decoded and checked as it arrives;
// everything that arrived in the same turn of the event loop is then written in one SQLite
// transaction, and only when that transaction has committed are the publishers' callbacks (and
// so their PUBACKs) released. Under load many messages share a commit; alone, a message waits for
// no one.
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
  /** Most messages in one transaction. */
  maxGroup: number;
}

export type IngestOutcome = { accepted: number } | { rejected: HatakeError };

interface Pending {
  readings: Reading[];
  dead: DeadLetter | undefined;
  arrived: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface IngestEvents {
  committed: [fresh: number];
  /** The readings of a group commit once durable (resends too: listeners de-duplicate). */
  readings: [readings: readonly Reading[]];
  storeFailed: [error: HatakeError];
  rejected: [dead: DeadLetter];
}

export class Ingest extends EventEmitter<IngestEvents> {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly store: GatewayStore;
  private readonly metrics: GatewayMetrics;
  private readonly registry: DeviceRegistry;
  private readonly catalogue: Catalogue;
  private readonly opts: IngestOptions;

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
  async submit(
    device: string,
    topic: string,
    payload: Uint8Array,
    now = this.opts.clock?.() ?? Date.now(),
  ): Promise<IngestOutcome> {
    return this.submitWith(device, topic, payload, now, () => {
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
    });
  }

  /**
   * Like `submit`, with the decoding supplied by the caller (e.g. a LoRaWAN network-server
   * envelope already unwrapped). `raw` is what gets kept in a dead letter.
   */
  async submitWith(
    device: string | null,
    topic: string,
    raw: Uint8Array,
    now: number,
    decode: () => Reading[],
  ): Promise<IngestOutcome> {
    this.metrics.messages.inc();
    const arrived = performance.now();
    let readings: Reading[] = [];
    let dead: DeadLetter | undefined;
    let error: HatakeError | undefined;
    try {
      readings = decode();
    } catch (e) {
      error = isHatakeError(e)
        ? e
        : new HatakeError('HATAKE_E_INTERNAL', `decoder failed: ${(e as Error).message}`);
      dead = {
        time: now,
        device,
        topic,
        code: error.code,
        reason: error.describe(),
        head: Buffer.from(raw.subarray(0, DEAD_LETTER_HEAD_BYTES)),
      };
      this.metrics.rejected.inc({ code: error.code });
    }
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ readings, dead, arrived, resolve, reject });
      this.schedule();
    });
    if (error) {
      this.emit('rejected', dead!);
      return { rejected: error };
    }
    return { accepted: readings.length };
  }

  private schedule(): void {
    this.metrics.queueDepth.set({ queue: 'ingest' }, this.queue.length);
    if (this.queue.length >= this.opts.maxGroup) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Commits everything queued in one transaction and releases the waiting publishers. */
  flush(): void {
    this.scheduled = false;
    const group = this.queue;
    if (group.length === 0) return;
    this.queue = [];
    const readings = group.flatMap((p) => p.readings);
    const dead = group.flatMap((p) => (p.dead ? [p.dead] : []));
    let fresh: number;
    try {
      fresh = this.store.commit(readings, dead, Date.now());
    } catch (e) {
      const full =
        (e as { code?: string }).code === 'SQLITE_FULL' ||
        (isHatakeError(e) && e.code === 'HATAKE_E_DISK_FULL');
      const err = new HatakeError(
        full ? 'HATAKE_E_DISK_FULL' : 'HATAKE_E_STORAGE',
        `store refused the write: ${(e as Error).message}`,
        { cause: e },
      );
      for (const p of group) p.reject(err);
      this.emit('storeFailed', err);
      return;
    }
    this.metrics.commits.inc();
    this.metrics.readings.inc(readings.length);
    this.metrics.queueDepth.set({ queue: 'ingest' }, this.queue.length);
    const end = performance.now();
    for (const p of group) {
      this.metrics.ingestLatency.observe((end - p.arrived) / 1000);
      p.resolve();
    }
    if (readings.length > 0) this.emit('readings', readings);
    if (fresh > 0) this.emit('committed', fresh);
  }

  /** Waits until nothing is queued (for a graceful stop). */
  drain(): void {
    this.flush();
  }
}
