// The server as a child process (`hatake server --config`) for the chaos tests that need what
// ServerProcess (server-process.ts) does not take: more of server.yaml (a storage section: the
// InfluxDB store), more environment (libfaketime's), and the child's output, kept for the test to
// read and to show when the server does not come up. Started again on the same port and data.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface ServerChildOptions {
  /** More lines of server.yaml, after dataDir, http and `demo: true` (the demo accounts). */
  config?: string[];
  /** More environment for the child. */
  env?: Record<string, string>;
  /** HATAKE_LOG_LEVEL (default warn). */
  logLevel?: string;
}

export class ServerChild {
  child: ChildProcess | undefined;
  readonly dir: string;
  port = 0;
  /** The child's stdout and stderr, every start (the last 256 kB). */
  output = '';
  private readonly opts: ServerChildOptions;
  private configFile = '';

  constructor(dir: string, opts: ServerChildOptions = {}) {
    this.dir = dir;
    this.opts = opts;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts, on the same port and data) and waits until /healthz answers 200. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      this.configFile = join(this.dir, 'server.yaml');
      writeFileSync(
        this.configFile,
        [
          `dataDir: ${join(this.dir, 'server')}`,
          `http: { host: 127.0.0.1, port: ${this.port} }`,
          'demo: true',
          ...(this.opts.config ?? []),
          '',
        ].join('\n'),
      );
    }
    const child = spawn(process.execPath, ['bin/hatake.js', 'server', '--config', this.configFile], {
      cwd: ROOT,
      env: { ...process.env, HATAKE_LOG_LEVEL: this.opts.logLevel ?? 'warn', ...this.opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (b: Buffer) => (this.output = (this.output + b.toString()).slice(-256_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `server exited (${child.exitCode ?? child.signalCode}):\n${this.output.slice(-2000)}`,
        );
      const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(
        () => undefined,
      );
      if (res?.status === 200) return;
      if (Date.now() > end)
        throw new Error(
          `server did not answer /healthz 200 within ${timeoutMs} ms:\n${this.output.slice(-2000)}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Kills it (SIGKILL unless told) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  }
}
