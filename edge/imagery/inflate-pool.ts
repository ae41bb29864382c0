// DEFLATE blocks inflated on worker threads. Node's asynchronous zlib runs the inflate itself in
// libuv's pool, but builds a zlib stream on the event loop for every call — about half a
// millisecond of the loop per 512 × 512 block, a quarter of the loop's time on a Sentinel-2 tile.
// Here a block costs the loop one message each way (its bytes moved, not copied). The workers
// run while some open raster holds a lease (RasterFile.open takes one, close gives it back), so a
// gateway that is not reading imagery holds none; no timers.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

const ENTRY = new URL('./inflate-worker.js', import.meta.url);

type Reply = { id: number; buffer?: ArrayBuffer; error?: { message: string; code?: string } };
interface Job {
  resolve: (b: ArrayBuffer) => void;
  reject: (e: Error) => void;
}
interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

let slots: Slot[] = [];
let leases = 0;
let nextId = 1;

function spawn(): Slot {
  // None of the parent's flags: the worker needs no loader (--import tsx would cost it its quick
  // start) and must not take flags meant for the main script (--input-type, profilers).
  const worker = new Worker(ENTRY, { execArgv: [] });
  const slot: Slot = { worker, jobs: new Map() };
  worker.on('message', (r: Reply) => {
    const job = slot.jobs.get(r.id);
    if (!job) return;
    slot.jobs.delete(r.id);
    if (slot.jobs.size === 0) worker.unref();
    if (r.buffer) job.resolve(r.buffer);
    else job.reject(Object.assign(new Error(r.error?.message ?? 'inflate failed'), { code: r.error?.code }));
  });
  const died = (why: string): void => {
    slots = slots.filter((s) => s !== slot);
    for (const job of slot.jobs.values()) job.reject(new Error(`inflate worker stopped: ${why}`));
    slot.jobs.clear();
  };
  worker.on('error', (e) => died(e.message));
  worker.on('exit', (code) => died(`exit code ${code}`));
  // Held (ref) only while it has blocks in flight: a raster left open never keeps the process
  // alive. After the listeners: adding a 'message' listener refs a worker's port again.
  worker.unref();
  return slot;
}

function inflate(data: ArrayBuffer, expected: number): Promise<ArrayBuffer> {
  if (slots.length === 0) {
    const n = Math.max(1, Math.min(4, availableParallelism()));
    for (let i = 0; i < n; i++) slots.push(spawn());
  }
  const slot = slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    if (slot.jobs.size === 0) slot.worker.ref();
    slot.jobs.set(id, { resolve, reject });
    slot.worker.postMessage({ id, data, expected }, [data]);
  });
}

export interface InflateLease {
  /** Inflates one zlib-wrapped DEFLATE block of `expected` bytes; `data` is moved to a worker. */
  inflate(data: ArrayBuffer, expected: number): Promise<ArrayBuffer>;
  /** Gives the lease back; the workers stop when the last one is given back. Idempotent. */
  release(): void;
}

/** A lease on the inflate workers (started on the first block of any lease). */
export function leaseInflatePool(): InflateLease {
  leases++;
  let held = true;
  return {
    inflate: (data, expected) => {
      if (!held) return Promise.reject(new Error('the inflate lease was given back'));
      return inflate(data, expected);
    },
    release: () => {
      if (!held) return;
      held = false;
      if (--leases > 0) return;
      const stopping = slots;
      slots = [];
      for (const s of stopping) void s.worker.terminate();
    },
  };
}

/** Inflate workers running now (for tests). */
export function inflateWorkers(): number {
  return slots.length;
}
