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
import { DEAD_LETTER_HEAD_BYTES, type DeadLetter, type GatewayStore } from './store.ts';
import type { DeviceRegistry } from './registry.ts';

export interface IngestOptions {
  maxPayloadBytes: number;
  /** Most messages in one transaction. */
  maxGroup: number;
}

export type IngestOutcome = { accepted: number } | { rejected: HatakeError };

interface Pending {
  readings: Reading[];
  dead: DeadLetter | undefined;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface IngestEvents {
  committed: [fresh: number];
  rejected: [dead: DeadLetter];
}

export class Ingest extends EventEmitter<IngestEvents> {
  private queue: Pending[] = [];
  private scheduled = false;
  readonly counters = { messages: 0, readings: 0, rejected: new Map<string, number>(), commits: 0 };
  private readonly store: GatewayStore;
  private readonly registry: DeviceRegistry;
  private readonly catalogue: Catalogue;
  private readonly opts: IngestOptions;

  constructor(store: GatewayStore, registry: DeviceRegistry, catalogue: Catalogue, opts: IngestOptions) {
    super();
    this.store = store;
    this.registry = registry;
    this.catalogue = catalogue;
    this.opts = opts;
  }

  /**
   * Ingests one telemetry payload from an authenticated device. Resolves once the outcome is
   * durable: the readings are stored (and queued for the server), or the payload is in the dead
   * letters with its reason. Rejects only when the store itself failed (e.g. disk full).
   */
  async submit(device: string, topic: string, payload: Uint8Array, now = Date.now()): Promise<IngestOutcome> {
    this.counters.messages++;
    let readings: Reading[] = [];
    let dead: DeadLetter | undefined;
    let error: HatakeError | undefined;
    try {
      const entry = this.registry.get(device);
      if (!entry) throw new HatakeError('HATAKE_E_UNKNOWN_DEVICE', `device "${device}" is not registered`);
      const kit = this.catalogue.require(entry.kit);
      readings = decodePayload(payload, {
        device,
        kit,
        receivedAt: now,
        maxBytes: this.opts.maxPayloadBytes,
      });
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
        head: Buffer.from(payload.subarray(0, DEAD_LETTER_HEAD_BYTES)),
      };
      this.counters.rejected.set(error.code, (this.counters.rejected.get(error.code) ?? 0) + 1);
    }
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ readings, dead, resolve, reject });
      this.schedule();
    });
    if (error) {
      this.emit('rejected', dead!);
      return { rejected: error };
    }
    return { accepted: readings.length };
  }

  private schedule(): void {
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
      const err = new HatakeError(
        /SQLITE_FULL|disk/i.test(String((e as Error).message)) ? 'HATAKE_E_DISK_FULL' : 'HATAKE_E_STORAGE',
        `store refused the write: ${(e as Error).message}`,
        { cause: e },
      );
      for (const p of group) p.reject(err);
      return;
    }
    this.counters.commits++;
    this.counters.readings += readings.length;
    for (const p of group) p.resolve();
    if (fresh > 0) this.emit('committed', fresh);
  }

  /** Waits until nothing is queued (for a graceful stop). */
  drain(): void {
    this.flush();
  }
}
