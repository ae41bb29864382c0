// The codec sandbox: runs a vendor `decodeUplink(input)` file (The Things Network Device
// Repository format) with no access to the process, the file system or the network, within a
// time and a memory limit — and returns synchronously, so decoding stays one plain function call.
//
// Isolation is QuickJS compiled to WebAssembly (quickjs-emscripten): the codec's code runs in an
// interpreter that has only ECMAScript built-ins. node:vm would not do: it is not a security
// boundary. QuickJS enforces the memory limit, a stack limit and an interrupt deadline itself; it
// runs in a worker thread so that a codec stuck where QuickJS does not check its deadline (deep in
// a built-in, or allocating right at the memory limit) is ended by terminating the thread. The
// caller blocks on a shared flag (Atomics.wait) for at most the hard limit.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { HatakeError } from '../../protocol/errors.ts';

export interface SandboxLimits {
  /** QuickJS interrupt deadline per call. */
  timeMs: number;
  /** Extra time before the worker thread is terminated (a codec QuickJS could not interrupt). */
  graceMs: number;
  memoryBytes: number;
  stackBytes: number;
  maxOutputBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  timeMs: 250,
  graceMs: 750,
  memoryBytes: 16 * 1024 * 1024,
  stackBytes: 256 * 1024,
  maxOutputBytes: 64 * 1024,
};

const START_TIMEOUT_MS = 15_000;

/**
 * A codec that runs past its limits this many times in a row for one device is not run for that
 * device for a while: each such call blocks the gateway's event loop for up to the hard limit
 * (1 s by default), so a device whose payloads make its codec loop — at the 5 messages a second a
 * device may send — would otherwise hold the whole gateway (every other device's PUBACKs, the
 * status page). Its uplinks go to the dead letters meanwhile, each with the reason.
 */
export const SUSPEND_AFTER_LIMIT_HITS = 3;
/** The first suspension; each further one in a row doubles it, up to SUSPEND_MAX_MS. */
export const SUSPEND_FIRST_MS = 60_000;
export const SUSPEND_MAX_MS = 30 * 60_000;
/** At most this many (codec, device) pairs are remembered (the oldest is forgotten first). */
const MAX_TRACKED = 10_000;

interface Strikes {
  /** The codec's source these strikes are for: a new version of the file starts afresh. */
  source: string;
  /** Limit hits in a row (a decode that finishes resets them). */
  hits: number;
  /** Suspensions in a row (doubling the next one). */
  suspensions: number;
  until: number;
}
const MAX_SOURCE_BYTES = 512 * 1024;
const WORKER_URL = new URL('./sandbox-worker.mjs', import.meta.url);

/** What a TTN `decodeUplink` returns. */
export interface TtnUplinkOutput {
  data?: Record<string, unknown>;
  errors?: string[];
  warnings?: string[];
}

export interface TtnUplinkInput {
  bytes: number[];
  fPort: number;
  /** Receive time, epoch ms (given to the codec as a Date). */
  recvTime: number;
}

type WorkerReply =
  | { seq: number; ok: true; output: string }
  | {
      seq: number;
      ok: false;
      kind: 'time' | 'memory' | 'output' | 'exception' | 'internal';
      message: string;
    };

interface Live {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
}

export class CodecSandbox {
  readonly limits: SandboxLimits;
  /** `suspended`: calls refused because the codec is suspended for that device. */
  readonly counters = { calls: 0, failures: 0, limitHits: 0, restarts: 0, suspended: 0 };
  private live: Live | undefined;
  private seq = 0;
  private readonly now: () => number;
  /** (device, codec file) → its limit hits in a row and any suspension. */
  private readonly strikes = new Map<string, Strikes>();

  constructor(limits: Partial<SandboxLimits> = {}, opts: { now?: () => number } = {}) {
    this.limits = { ...DEFAULT_SANDBOX_LIMITS, ...limits };
    this.now = opts.now ?? Date.now;
  }

  /**
   * Runs `decodeUplink(input)` of a codec source; returns its output or throws a coded error.
   * `device` names whose payload it is: a codec that keeps running past its limits for one device
   * is suspended for that device alone (SUSPEND_AFTER_LIMIT_HITS), the others keep decoding.
   */
  decodeUplink(source: string, filename: string, input: TtnUplinkInput, device = ''): TtnUplinkOutput {
    this.counters.calls++;
    if (source.length > MAX_SOURCE_BYTES) {
      throw this.fail('HATAKE_E_CODEC', `codec ${filename} is larger than ${MAX_SOURCE_BYTES} bytes`);
    }
    const key = `${device}\0${filename}`;
    let strikes = this.strikes.get(key);
    if (strikes && strikes.source !== source) {
      this.strikes.delete(key);
      strikes = undefined;
    }
    const now = this.now();
    if (strikes && strikes.until > now) {
      this.counters.suspended++;
      throw this.fail(
        'HATAKE_E_CODEC_LIMIT',
        `codec ${filename} is suspended${device ? ` for device ${device}` : ''} for ${Math.ceil((strikes.until - now) / 1000)} s more: its last ${SUSPEND_AFTER_LIMIT_HITS} decodes ran past their limits`,
        `a payload the codec decodes within ${this.limits.timeMs} ms`,
      );
    }
    try {
      const out = this.run(source, filename, input);
      if (strikes) this.strikes.delete(key);
      return out;
    } catch (e) {
      if (e instanceof HatakeError && e.code === 'HATAKE_E_CODEC_LIMIT') this.strike(key, source, now);
      else if (strikes) this.strikes.delete(key);
      throw e;
    }
  }

  /** One more limit hit of a codec for a device; the third in a row suspends it. */
  private strike(key: string, source: string, now: number): void {
    let s = this.strikes.get(key);
    if (!s) {
      if (this.strikes.size >= MAX_TRACKED) this.strikes.delete(this.strikes.keys().next().value!);
      s = { source, hits: 0, suspensions: 0, until: 0 };
      this.strikes.set(key, s);
    }
    s.hits++;
    if (s.hits >= SUSPEND_AFTER_LIMIT_HITS) {
      s.until = now + Math.min(SUSPEND_MAX_MS, SUSPEND_FIRST_MS * 2 ** s.suspensions);
      s.suspensions++;
      s.hits = 0;
    }
  }

  private run(source: string, filename: string, input: TtnUplinkInput): TtnUplinkOutput {
    const live = this.start();
    const seq = (this.seq = (this.seq % 0x7ffffffe) + 1);
    Atomics.store(live.flag, 0, 0);
    live.worker.postMessage({ seq, source, filename, input, limits: this.limits });
    const hardMs = this.limits.timeMs + this.limits.graceMs;
    Atomics.wait(live.flag, 0, 0, hardMs);
    let reply: WorkerReply | undefined;
    if (Atomics.load(live.flag, 0) === seq) {
      // The worker posts its reply before it raises the flag; allow a moment for it to arrive.
      for (let i = 0; i < 200 && reply === undefined; i++) {
        const got = receiveMessageOnPort(live.port);
        if (got) reply = got.message as WorkerReply;
        else Atomics.wait(live.flag, 0, seq, 1);
      }
    }
    if (reply === undefined) {
      this.kill();
      this.counters.limitHits++;
      throw this.fail(
        'HATAKE_E_CODEC_LIMIT',
        `codec ${filename} did not finish within ${hardMs} ms and was stopped`,
        `decodeUplink to return within ${this.limits.timeMs} ms`,
      );
    }
    if (!reply.ok) {
      if (reply.kind === 'internal') this.kill();
      if (reply.kind === 'time' || reply.kind === 'memory') {
        this.counters.limitHits++;
        throw this.fail(
          'HATAKE_E_CODEC_LIMIT',
          reply.kind === 'time'
            ? `codec ${filename} ran past its ${this.limits.timeMs} ms limit and was stopped`
            : `codec ${filename} exceeded its memory limit of ${this.limits.memoryBytes} bytes (${reply.message})`,
          reply.kind === 'time'
            ? `decodeUplink to return within ${this.limits.timeMs} ms`
            : `at most ${this.limits.memoryBytes} bytes`,
        );
      }
      if (reply.kind === 'output') {
        this.counters.limitHits++;
        throw this.fail(
          'HATAKE_E_CODEC_LIMIT',
          `codec ${filename} returned too much (${reply.message})`,
          `at most ${this.limits.maxOutputBytes} characters of output`,
        );
      }
      throw this.fail('HATAKE_E_CODEC', `codec ${filename} failed: ${reply.message}`);
    }
    let out: unknown;
    try {
      out = JSON.parse(reply.output);
    } catch {
      throw this.fail('HATAKE_E_CODEC', `codec ${filename} returned unreadable output`);
    }
    return this.checkOutput(out, filename);
  }

  private checkOutput(out: unknown, filename: string): TtnUplinkOutput {
    const expected = '{ data: object } or { errors: [string] }';
    if (typeof out !== 'object' || out === null || Array.isArray(out)) {
      throw this.fail(
        'HATAKE_E_CODEC',
        `codec ${filename} returned ${Array.isArray(out) ? 'an array' : typeof out}`,
        expected,
      );
    }
    const o = out as Record<string, unknown>;
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (o.errors !== undefined && !strings(o.errors))
      throw this.fail('HATAKE_E_CODEC', `codec ${filename}: errors is not a list of strings`, expected);
    if (o.warnings !== undefined && !strings(o.warnings))
      throw this.fail('HATAKE_E_CODEC', `codec ${filename}: warnings is not a list of strings`, expected);
    if (o.data !== undefined && (typeof o.data !== 'object' || o.data === null || Array.isArray(o.data))) {
      throw this.fail('HATAKE_E_CODEC', `codec ${filename}: data is not an object`, expected);
    }
    if (o.data === undefined && o.errors === undefined)
      throw this.fail('HATAKE_E_CODEC', `codec ${filename} returned neither data nor errors`, expected);
    return o as TtnUplinkOutput;
  }

  private fail(
    code: 'HATAKE_E_CODEC' | 'HATAKE_E_CODEC_LIMIT',
    message: string,
    expected?: string,
  ): HatakeError {
    this.counters.failures++;
    return new HatakeError(code, message, { expected });
  }

  private start(): Live {
    if (this.live) return this.live;
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_URL, {
      workerData: { flag: flag.buffer, port: port2 },
      transferList: [port2],
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    });
    worker.unref();
    // A worker that dies (terminated, or ended itself after an abort) is replaced on the next call.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (this.live?.worker === worker) this.live = undefined;
    });
    if (Atomics.wait(flag, 1, 0, START_TIMEOUT_MS) === 'timed-out' && Atomics.load(flag, 1) === 0) {
      void worker.terminate();
      throw new HatakeError('HATAKE_E_INTERNAL', `codec sandbox did not start within ${START_TIMEOUT_MS} ms`);
    }
    this.live = { worker, port: port1, flag };
    return this.live;
  }

  private kill(): void {
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    this.counters.restarts++;
    live.port.close();
    void live.worker.terminate();
  }

  /** Ends the worker thread (it is also unref'd, so it never holds a process open). */
  close(): void {
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    live.port.close();
    void live.worker.terminate();
  }
}

let shared: CodecSandbox | undefined;

/** The process-wide sandbox the decoders use unless given another. */
export function defaultSandbox(): CodecSandbox {
  shared ??= new CodecSandbox();
  return shared;
}
