// Mosquitto on a free port for tests of the gateway's external-broker mode: in memory only,
// anonymous on loopback, logging everything to stderr so a test can wait for its events.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { eventually } from './stack.ts';

/** Mosquitto on a free port, in-memory only, logging to stderr so a test can wait for its events. */
export class Mosquitto {
  log = '';
  readonly port: number;
  private readonly proc: ChildProcess;

  private constructor(port: number, proc: ChildProcess) {
    this.port = port;
    this.proc = proc;
    proc.stdout!.on('data', (b: Buffer) => (this.log += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (this.log += b.toString()));
  }

  static async start(dir: string): Promise<Mosquitto> {
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr', // unbuffered, so each line arrives as it is logged
        'log_type all',
        '',
      ].join('\n'),
    );
    const m = new Mosquitto(port, spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await m.waitFor(new RegExp(`listen socket on port ${port}`));
    } catch (e) {
      await m.stop(); // not left running when it never came up
      throw e;
    }
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Waits until Mosquitto's log has a line matching `re` (after `from`, an offset into the log). */
  waitFor(re: RegExp, from = 0): Promise<boolean> {
    return eventually(() => re.test(this.log.slice(from)), 10_000).catch((e: Error) => {
      throw new Error(`${e.message}; mosquitto log:\n${this.log.slice(-2000)}`);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
}
