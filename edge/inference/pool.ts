// A pool of inference worker threads. The gateway's event loop (MQTT, HTTP) only posts messages;
// every session.run happens on a worker. A model is loaded into every worker (verified bytes in,
// checked against its card and warmed up there) and a run goes to the least busy worker. The
// number of runs in flight is bounded; a worker that dies takes only its own runs with it and is
// replaced with the same models.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { HatakeError, type ErrorCode, ERROR_CODES } from '../../protocol/errors.ts';
import { modelRef, type ModelCard } from '../../protocol/model-card.ts';
import { feedsFromValues, type Feeds } from './inputs.ts';
import type { OutTensor, WorkerReply, WorkerRequest } from './worker.ts';
import type { VerifiedModel } from './registry.ts';

export interface PoolOptions {
  /** Worker threads (default: cores − 1, at least 1, at most 4). */
  size?: number;
  /** Runs in flight across the pool before new ones are refused (default 64). */
  maxInFlight?: number;
}

type WorkerCall = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;
type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

interface Slot {
  worker: Worker;
  busy: number;
  pending: Map<number, Pending>;
  ready: Promise<void>;
}

const BOOT = new URL('./worker-boot.js', import.meta.url);
// From sources worker-boot.js loads worker.ts through tsx; in the compiled tree (scripts/build.js)
// the worker is an entry of its own beside the bundle, and needs no loader.
const ENTRY = import.meta.hatakeDist
  ? new URL('inference-worker.mjs', import.meta.hatakeDist).href
  : new URL('./worker.ts', import.meta.url).href;

/** Warm-up feeds from the card's worked example; the worker reports an example that does not fit. */
function warmupFeeds(card: ModelCard): { feeds: Feeds | null; problem: string | null } {
  if (!card.example) return { feeds: null, problem: null };
  try {
    return { feeds: feedsFromValues(card, card.example.inputs), problem: null };
  } catch (e) {
    return { feeds: null, problem: e instanceof Error ? e.message : String(e) };
  }
}

function warmupArgs(card: ModelCard): { warmup: Feeds | null; exampleProblem: string | null } {
  const w = warmupFeeds(card);
  return { warmup: w.feeds, exampleProblem: w.problem };
}

function toError(r: Extract<WorkerReply, { ok: false }>): HatakeError {
  const code = (Object.hasOwn(ERROR_CODES, r.code) ? r.code : 'HATAKE_E_INFERENCE') as ErrorCode;
  return new HatakeError(code, r.message, { expected: r.expected });
}

export class InferencePool {
  private readonly slots: Slot[] = [];
  private readonly models = new Map<string, VerifiedModel>();
  private readonly maxInFlight: number;
  private readonly size: number;
  private nextId = 1;
  private inFlight = 0;
  private closed = false;

  private constructor(size: number, maxInFlight: number) {
    this.size = size;
    this.maxInFlight = maxInFlight;
  }

  /** Starts the workers and waits until each is ready. */
  static async start(opts: PoolOptions = {}): Promise<InferencePool> {
    const size = Math.max(1, Math.min(opts.size ?? Math.min(4, availableParallelism() - 1), 16));
    const pool = new InferencePool(size, opts.maxInFlight ?? 64);
    for (let i = 0; i < size; i++) pool.slots.push(pool.spawn());
    await Promise.all(pool.slots.map((s) => s.ready));
    return pool;
  }

  private spawn(): Slot {
    const worker = new Worker(BOOT, { workerData: { entry: ENTRY } });
    const pending = new Map<number, Pending>();
    let onReady: () => void = () => {};
    let onFail: (e: Error) => void = () => {};
    const ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    const slot: Slot = { worker, busy: 0, pending, ready };
    worker.on('message', (r: WorkerReply) => {
      if (r.id === 0) return onReady();
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      p.resolve(r);
    });
    const died = (why: string) => {
      onFail(new HatakeError('HATAKE_E_INFERENCE', `inference worker failed to start: ${why}`));
      const err = new HatakeError('HATAKE_E_INFERENCE', `inference worker stopped: ${why}`);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      const k = this.slots.indexOf(slot);
      if (k >= 0 && !this.closed) this.replace(k);
    };
    worker.on('error', (e) => died(String(e.message).slice(0, 200)));
    worker.on('exit', (code) => died(`exit code ${code}`));
    return slot;
  }

  /**
   * Replaces a dead worker and loads the pool's models into the new one. The slot is ready only
   * once they are loaded, so a run sent meanwhile waits instead of finding its model missing.
   */
  private replace(k: number): void {
    const slot = this.spawn();
    this.slots[k] = slot;
    slot.ready = slot.ready.then(async () => {
      // A model that no longer loads answers its runs on this worker with why (HATAKE_E_MODEL_…).
      await Promise.all([...this.models].map(([key, m]) => this.loadOn(slot, key, m)));
    });
    // Runs await `ready` and report a failed start; nothing else must see an unhandled rejection.
    slot.ready.catch(() => {});
  }

  /** Loads a model into one worker (a copy of its bytes, and its worked example as the warm-up). */
  private loadOn(slot: Slot, key: string, m: VerifiedModel): Promise<WorkerReply> {
    return this.send(slot, { op: 'load', key, bytes: m.bytes.slice(), card: m.card, ...warmupArgs(m.card) });
  }

  private send(slot: Slot, req: WorkerCall, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...req, id }, transfer);
    });
  }

  /** Loads a verified model into every worker; on any failure no worker keeps it. */
  async load(model: VerifiedModel): Promise<void> {
    if (this.closed) throw new HatakeError('HATAKE_E_INFERENCE', 'the inference pool is closed');
    const key = modelRef(model.card);
    const replies = await Promise.all(this.slots.map((s) => this.loadOn(s, key, model)));
    const failed = replies.find((r): r is Extract<WorkerReply, { ok: false }> => !r.ok);
    if (failed) {
      // a reload of a model the pool already had must not leave the workers disagreeing
      const previous = this.models.get(key);
      await Promise.all(
        this.slots.map((s) =>
          previous ? this.loadOn(s, key, previous) : this.send(s, { op: 'unload', key }),
        ),
      );
      throw toError(failed);
    }
    this.models.set(key, { card: model.card, bytes: model.bytes.slice() });
  }

  /** The card of a loaded model. */
  card(ref: string): ModelCard {
    const m = this.models.get(ref);
    if (!m)
      throw new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `${ref} is not loaded in the inference pool`, {
        expected: [...this.models.keys()].join(', '),
      });
    return m.card;
  }

  loaded(): string[] {
    return [...this.models.keys()];
  }

  /**
   * Runs one batch on the least busy worker. The feeds' buffers are transferred to the worker
   * (they are unusable afterwards) unless `copy` is set.
   */
  async run(
    ref: string,
    feeds: Feeds,
    opts: { outputs?: string[]; copy?: boolean } = {},
  ): Promise<Record<string, OutTensor>> {
    const card = this.card(ref);
    if (this.inFlight >= this.maxInFlight)
      throw new HatakeError(
        'HATAKE_E_INFERENCE',
        `the inference pool is busy (${this.inFlight} runs in flight)`,
        { expected: 'a retry later' },
      );
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const outputs = opts.outputs ?? card.outputs.map((o) => o.name);
    const sent: Feeds = {};
    const transfer = new Set<ArrayBuffer>();
    for (const [name, f] of Object.entries(feeds)) {
      const data = opts.copy ? f.data.slice() : f.data;
      sent[name] = { ...f, data };
      transfer.add(data.buffer as ArrayBuffer);
    }
    this.inFlight++;
    slot.busy++;
    try {
      await slot.ready;
      const r = await this.send(slot, { op: 'run', key: ref, feeds: sent, outputs }, [...transfer]);
      if (!r.ok) throw toError(r);
      return r.outputs!;
    } finally {
      this.inFlight--;
      slot.busy--;
    }
  }

  /** Unloads a model from every worker. */
  async unload(ref: string): Promise<void> {
    this.models.delete(ref);
    await Promise.all(this.slots.map((s) => this.send(s, { op: 'unload', key: ref })));
  }

  get workers(): number {
    return this.size;
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
