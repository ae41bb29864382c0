// The server as a child process (`hatake server --config`), so tests can kill it with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { eventually } from './stack.ts';

const ROOT = join(import.meta.dirname, '../..');

export class ServerProcess {
  child: ChildProcess | undefined;
  readonly dir: string;
  port = 0;
  private configFile = '';

  constructor(dir: string) {
    this.dir = dir;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts, on the same port and data) and waits until /healthz answers. */
  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      this.configFile = join(this.dir, 'server.yaml');
      writeFileSync(
        this.configFile,
        `dataDir: ${join(this.dir, 'server')}\nhttp: { host: 127.0.0.1, port: ${this.port} }\ndemo: true\n`,
      );
    }
    this.child = spawn(process.execPath, ['bin/hatake.js', 'server', '--config', this.configFile], {
      cwd: ROOT,
      env: { ...process.env, HATAKE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await eventually(
      async () => (await fetch(`${this.url}/healthz`).catch(() => undefined))?.status === 200,
      30_000,
      100,
    );
  }

  /** Kills it without warning and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  }
}
