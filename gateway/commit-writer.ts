// The commit writer thread's handle on the main thread (the thread itself: commit-worker.js).
// Group commits are posted in order and answered in order; the gateway's store uses it for the
// ingest's commits (GatewayStore.commitAsync) while everything else keeps its own connection.
import { Worker } from 'node:worker_threads';
import type { Reading } from '../protocol/telemetry.ts';
import type { CommitResult } from './commit-sql.js';
import type { DeadLetter, HeardBy } from './store.ts';

const ENTRY = new URL('./commit-worker.js', import.meta.url);

type Reply = CommitResult & { id: number; error?: { message: string; code?: string } };

interface Job {
  resolve: (r: CommitResult) => void;
  reject: (e: Error) => void;
}

export class CommitWriter {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private dead: Error | undefined;
  private closing = false;

  /** `onExit` is told when the thread ends for any reason but close (its commits were rejected). */
  constructor(file: string, onExit?: (why: string) => void) {
    // None of the parent's flags: the thread needs no loader and must not take flags meant for
    // the main script (profilers, --input-type).
    this.worker = new Worker(ENTRY, {
      execArgv: [],
      // HATAKE_TEST_COMMIT_DELAY_MS: a slow disk, for the chaos suite (tests/chaos/gateway-sigkill).
      workerData: { file, delayMs: Number(process.env.HATAKE_TEST_COMMIT_DELAY_MS) || 0 },
      // As the gateway's own --max-semi-space-size=1: a small young generation, little RSS.
      resourceLimits: { maxYoungGenerationSizeMb: 1 },
    });
    this.worker.on('message', (r: Reply) => {
      const job = this.jobs.get(r.id);
      if (!job) return;
      this.jobs.delete(r.id);
      if (this.jobs.size === 0) this.worker.unref();
      if (r.error) job.reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
      else job.resolve({ fresh: r.fresh });
    });
    const died = (why: string): void => {
      if (this.dead) return;
      this.dead = new Error(`commit writer stopped: ${why}`);
      if (!this.closing) onExit?.(why);
      for (const job of this.jobs.values()) job.reject(this.dead);
      this.jobs.clear();
    };
    this.worker.on('error', (e) => died(e.message));
    this.worker.on('exit', (code) => died(`exit code ${code}`));
    // Held (ref) only while a commit is in flight: an idle writer never keeps the process alive.
    this.worker.unref();
  }

  private post(message: object): Promise<CommitResult> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.jobs.size === 0) this.worker.ref();
      this.jobs.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  commit(
    readings: readonly Reading[],
    dead: readonly DeadLetter[],
    now: number,
    heardBy: readonly (readonly [string, HeardBy])[],
    deadLimit: number,
  ): Promise<CommitResult> {
    return this.post({ type: 'commit', readings, dead, now, heardBy, deadLimit });
  }

  /** The database budget in pages (SQLite's max_page_count, a setting of each connection). */
  setBudget(pages: number): void {
    if (!this.dead) this.worker.postMessage({ type: 'budget', pages });
  }

  /** Closes the thread's connection after the commits already posted, then ends the thread. */
  async close(): Promise<void> {
    if (this.dead) return;
    this.closing = true;
    await this.post({ type: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}
