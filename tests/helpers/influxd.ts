// A real InfluxDB 1.x (Debian's `influxdb` package) for tests and benchmarks: its own config,
// data folders in a temp dir and free ports, so it never touches a packaged service that may
// be running. It can be stopped and started again on the same port and data (to show a server
// riding out an outage), frozen with SIGSTOP (a store that accepts connections and never
// answers) and thawed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export const INFLUXD = process.env.HATAKE_INFLUXD ?? '/usr/bin/influxd';

export interface Influxd {
  url: string;
  port: number;
  dir: string;
  /** The running process id (for CPU and memory figures in benchmarks). */
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM, then SIGKILL); data stays for a later start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** SIGSTOP: connections are accepted by the kernel and never answered. */
  freeze(): void;
  thaw(): void;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

function config(dir: string, httpPort: number, rpcPort: number): string {
  return `
reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  index-version = "inmem"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[logging]
  level = "warn"
`;
}

async function waitForPing(
  url: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`influxd exited (${child.exitCode ?? child.signalCode}): ${log().slice(-2000)}`);
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(500) });
      if (res.status === 204) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end)
      throw new Error(`influxd did not answer /ping within ${timeoutMs} ms: ${log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const running = new Set<ChildProcess>();
const dirs = new Set<string>();
// A test file or benchmark that dies without destroy() leaves no influxd and no data behind.
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts influxd on free ports in a fresh temp dir and waits until it answers /ping. */
export async function startInfluxd(): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-influxd-'));
  dirs.add(dir);
  let port = 0;
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (): Promise<void> => {
    const rpcPort = await freePort();
    const confFile = join(dir, 'influxdb.conf');
    writeFileSync(confFile, config(dir, port, rpcPort));
    output = '';
    const c = spawn(INFLUXD, ['-config', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => (output = (output + b.toString()).slice(-8000));
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    running.add(c);
    c.once('exit', () => running.delete(c));
    child = c;
    await waitForPing(`http://127.0.0.1:${port}`, c, () => output);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGCONT');
    c.kill('SIGTERM');
    const killer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };

  // A port can be taken between freePort() and influxd binding it: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (e) {
      await stop();
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    stop,
    start: launch,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
