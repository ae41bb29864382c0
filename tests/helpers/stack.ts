// A real hatake stack for integration tests: the server and the gateway's broker on port 0, real
// SQLite files in a temp dir, the demo manifest and freshly provisioned device secrets.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Manifest } from '../../protocol/manifest.ts';
import { validator } from '../../protocol/validate.ts';
import { parseYaml } from '../../protocol/yaml.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { seedDemoUsers, DEMO_PASSWORD } from '../../dashboard/demo.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { registerGateway } from '../../gateway/register.ts';
import {
  DEFAULT_MQTT,
  gatewayConfigFor,
  type GatewayConfigOverrides,
  type ResolvedGatewayConfig,
} from '../../gateway/config.ts';
import { pino } from 'pino';

/** The demo farm as `npm start` runs it: three sensor kits and the paddy's water gate gate-1. */
export const DEMO_FARM_FILE = join(import.meta.dirname, '../../sim/demo-farm.yaml');

/**
 * The demo farm's sensors alone — the file the test stacks run: the tests that drive valves add
 * the ones they drive (their own gate-1, gate-2 on the fields they need). The demo file's text up
 * to its gate, written once per content into the temp dir.
 */
function demoSensorsFile(): string {
  const text = readFileSync(DEMO_FARM_FILE, 'utf8');
  const cut = text.indexOf('\n  - id: gate-1\n');
  if (
    cut < 0 ||
    !text
      .slice(cut + 1)
      .trimEnd()
      .split('\n')
      .slice(1)
      .every((l) => /^ {4}\S/.test(l))
  )
    throw new Error(`${DEMO_FARM_FILE}: expected its water gate gate-1 as the last device`);
  const sensors = text.slice(0, cut + 1);
  const file = join(
    tmpdir(),
    `hatake-demo-sensors-${createHash('sha256').update(sensors).digest('hex').slice(0, 12)}.yaml`,
  );
  if (!existsSync(file)) writeFileAtomic(file, sensors);
  return file;
}
export const DEMO_MANIFEST_FILE = demoSensorsFile();
const manifestOf = (file: string) => parseYaml(readFileSync(file, 'utf8'), file, validator(Manifest));
/** The demo farm's sensors (what the test stacks run). */
export const demoManifest = () => manifestOf(DEMO_MANIFEST_FILE);
/** The demo farm as `npm start` runs it, gate included. */
export const demoFarm = () => manifestOf(DEMO_FARM_FILE);
export const quietLog = () => pino({ level: process.env.HATAKE_TEST_LOG ?? 'silent' });

export interface Stack {
  dir: string;
  server: HatakeServer | undefined;
  httpUrl: string;
  gateway: Gateway;
  mqttUrl: string;
  secrets: Record<string, string>;
  gatewayToken: string;
  close(): Promise<void>;
}

export async function startServer(dir: string): Promise<{ server: HatakeServer; url: string }> {
  const server = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port: 0,
    logger: quietLog(),
  });
  await seedDemoUsers(server.ctx.auth);
  const port = await server.listen();
  return { server, url: `http://127.0.0.1:${port}` };
}

/** Starts a server (unless `server: false`) and a gateway syncing to it. */
export interface StackOptions {
  server?: boolean;
  syncIntervalMs?: number;
  maxPayloadBytes?: number;
  mqtt?: Partial<ResolvedGatewayConfig['mqtt']>;
  gateway?: GatewayConfigOverrides;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-it-'));
  const manifest = demoManifest();
  const { registry, secrets } = provisionRegistry(manifest);
  const registryFile = join(dir, 'registry.json');
  writeFileAtomic(registryFile, JSON.stringify(registry));
  let server: HatakeServer | undefined;
  let httpUrl = '';
  let gatewayToken = '';
  if (opts.server !== false) {
    ({ server, url: httpUrl } = await startServer(dir));
    gatewayToken = server.ctx.auth.issueGatewayToken('gw-test', manifest.farm.id);
  }
  const gateway = new Gateway(
    gatewayConfigFor(
      { id: 'gw-test', dataDir: join(dir, 'gateway'), manifest: DEMO_MANIFEST_FILE, registry: registryFile },
      {
        mqtt: {
          ...DEFAULT_MQTT,
          host: '127.0.0.1',
          port: 0,
          maxPayloadBytes: opts.maxPayloadBytes ?? 16 * 1024,
          ...opts.mqtt,
        },
        http: { host: '127.0.0.1', port: 0 },
        server: server ? { url: httpUrl, token: gatewayToken } : undefined,
        sync: { intervalMs: opts.syncIntervalMs ?? 200, batchMaxItems: 500 },
        ...opts.gateway,
      },
    ),
    quietLog(),
  );
  await gateway.start();
  return {
    dir,
    server,
    httpUrl,
    gateway,
    mqttUrl: `mqtt://127.0.0.1:${gateway.mqttPort}`,
    secrets,
    gatewayToken,
    async close() {
      await gateway.stop();
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A server, and a gateway registered with it as `hatake gateway register` does (a token and the
 * server's signing key), whose downlink must be told over the SSE stream: it polls only every ten
 * minutes. `publicKey` replaces the key the gateway trusts (a forged-signature test).
 */
export async function startRegisteredStack(
  dir: string,
  id: string,
  opts: { publicKey?: string } = {},
): Promise<{ server: HatakeServer; url: string; stack: Stack; token: string; close(): Promise<void> }> {
  const { server, url } = await startServer(dir);
  const reg = await registerGateway({
    server: url,
    farm: 'demo-farm',
    id,
    user: 'admin',
    password: DEMO_PASSWORD,
    outDir: join(dir, 'reg'),
  });
  const token = readFileSync(reg.tokenFile, 'utf8').trim();
  const stack = await startStack({
    server: false,
    gateway: {
      id,
      server: { url, token, publicKey: opts.publicKey ?? readFileSync(reg.publicKeyFile, 'utf8') },
      sync: { intervalMs: 200, batchDelayMs: 20, downlinkIntervalMs: 600_000 },
    },
  });
  return {
    server,
    url,
    stack,
    token,
    async close() {
      await stack.close();
      await server.close();
    },
  };
}

/** Signs in and returns a fetch bound to the session cookie (and CSRF token). */
export async function signIn(baseUrl: string, username: string, password = DEMO_PASSWORD) {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const { csrf } = (await res.json()) as { csrf: string };
  return (path: string, init: RequestInit = {}) =>
    fetch(`${baseUrl}${path}`, {
      ...init,
      headers: { cookie, 'x-csrf-token': csrf, ...(init.headers ?? {}) },
    });
}

/** Polls until `fn` returns a truthy value or the deadline passes. */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
