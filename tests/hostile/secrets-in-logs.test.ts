// Secrets never reach a log: the real `hatake server` and `hatake gateway` processes, at log level
// trace, through a whole installation — a partner account made with `hatake server user`, the
// gateway registered with `hatake gateway register`, sign-in (and a wrong password), provisioning
// of the farm's devices over the API, devices logging in over MQTT (one with a wrong secret) and
// their readings synced to the server. Everything both processes wrote, on stdout and stderr, must
// hold no password, device secret, session or CSRF token, or gateway token.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { hashSecret, type DeviceConfig, type Registry } from '../../protocol/registry.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import type { ProvisionResult } from '../../protocol/views.ts';
import { DEMO_MANIFEST_FILE, demoManifest, eventually } from '../helpers/stack.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'hatake-secrets-'));
const children: ChildProcess[] = [];
const output: Record<string, string[]> = {};

/** Runs `hatake …` as a child process, keeping everything it writes. */
function hatake(name: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['bin/hatake.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, HATAKE_LOG_LEVEL: 'trace', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = (output[name] ??= []);
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => out.push(d.toString('utf8')));
  children.push(child);
  return child;
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null
    ? Promise.resolve(c.exitCode)
    : new Promise<number | null>((r) => c.once('exit', (code) => r(code)));

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill('SIGTERM');
  const done = await Promise.race([
    exited(c).then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
  ]);
  if (!done) {
    c.kill('SIGKILL');
    await exited(c);
  }
}

afterAll(async () => {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets in the logs of a whole installation', () => {
  it('never writes a password, device secret, session, CSRF or gateway token', async () => {
    const secrets: Record<string, string> = {};
    const password = `pw-${randomBytes(12).toString('base64url')}`;
    const wrongPassword = `wrong-${randomBytes(12).toString('base64url')}`;
    secrets.password = password;
    secrets['wrong password'] = wrongPassword;

    // The server, with a partner account made the way an operator makes one.
    const httpPort = await freePort();
    const serverYaml = join(dir, 'server.yaml');
    writeFileSync(
      serverYaml,
      `dataDir: ${join(dir, 'server')}\nhttp: { host: 127.0.0.1, port: ${httpPort} }\n`,
    );
    const user = hatake(
      'server user',
      [
        'server',
        'user',
        '--config',
        serverYaml,
        '--name',
        'sec-partner',
        '--role',
        'partner',
        '--farms',
        'demo-farm',
      ],
      {
        HATAKE_PASSWORD: password,
      },
    );
    expect(await exited(user)).toBe(0);
    const server = hatake('server', ['server', '--config', serverYaml]);
    const url = `http://127.0.0.1:${httpPort}`;
    await eventually(
      async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200,
      30_000,
      100,
    );

    // The gateway registered by its installer: the token lands in a file.
    const gwDir = join(dir, 'gw');
    const register = hatake(
      'gateway register',
      [
        'gateway',
        'register',
        '--server',
        url,
        '--farm',
        'demo-farm',
        '--id',
        'gw-sec',
        '--user',
        'sec-partner',
        '--out',
        gwDir,
      ],
      {
        HATAKE_PASSWORD: password,
      },
    );
    expect(await exited(register)).toBe(0);
    secrets['gateway token'] = readFileSync(join(gwDir, 'token'), 'utf8').trim();

    // The partner signs in (after one wrong password) and provisions the farm's devices.
    const bad = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'sec-partner', password: wrongPassword }),
    });
    expect(bad.status).toBe(401);
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'sec-partner', password }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const jar = Object.fromEntries(cookie.split('; ').map((c) => c.split('=') as [string, string]));
    secrets['session token'] = jar.hatake_session!;
    secrets['device token'] = jar.hatake_device!;
    expect(secrets['session token']).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const { csrf } = (await login.json()) as { csrf: string };
    secrets['csrf token'] = csrf;
    const prov = await fetch(`${url}/api/v1/farms/demo-farm/provision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf },
      body: JSON.stringify({ text: readFileSync(DEMO_MANIFEST_FILE, 'utf8'), broker: { host: '127.0.0.1' } }),
    });
    expect(prov.status).toBe(200);
    const result = (await prov.json()) as ProvisionResult;
    const deviceSecrets: Record<string, string> = {};
    for (const d of result.devices) {
      if (!d.files) continue;
      deviceSecrets[d.id] = (JSON.parse(d.files.config) as DeviceConfig).mqtt.secret;
      secrets[`secret of ${d.id}`] = deviceSecrets[d.id]!;
    }
    expect(Object.keys(deviceSecrets).length).toBeGreaterThanOrEqual(3);
    // A request that fails inside a route with the credentials attached (logged as a refusal).
    await fetch(`${url}/api/v1/gateways/gw-unknown`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    await fetch(`${url}/api/v1/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secrets['gateway token']}x`, 'content-type': 'application/json' },
      body: '{}',
    });

    // The gateway, with the registry of the provisioned devices (hashes only, as provisioning writes it).
    const m = demoManifest();
    const registry: Registry = {
      farm: 'demo-farm',
      devices: m.devices.map((d) => ({
        id: d.id,
        kit: d.kit,
        ...(deviceSecrets[d.id] ? { secretHash: hashSecret(deviceSecrets[d.id]!) } : {}),
      })),
    };
    writeFileSync(join(gwDir, 'registry.json'), JSON.stringify(registry));
    const mqttPort = await freePort();
    const gwHttp = await freePort();
    const gatewayYaml = join(gwDir, 'gateway.yaml');
    writeFileSync(
      gatewayYaml,
      [
        'id: gw-sec',
        `dataDir: ${join(gwDir, 'data')}`,
        `manifest: ${DEMO_MANIFEST_FILE}`,
        'registry: registry.json',
        `mqtt: { host: 127.0.0.1, port: ${mqttPort} }`,
        `http: { host: 127.0.0.1, port: ${gwHttp} }`,
        `server: { url: ${url}, tokenFile: token, publicKeyFile: server-key.pem }`,
        'sync: { intervalMs: 200 }',
        '',
      ].join('\n'),
    );
    const gateway = hatake('gateway', ['gateway', '--config', gatewayYaml]);
    await eventually(
      async () => (await fetch(`http://127.0.0.1:${gwHttp}/healthz`).catch(() => undefined)) !== undefined,
      30_000,
      100,
    );

    // Devices log in with their secrets (one with a wrong one) and report.
    const wrong = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        username: 'soil-1',
        password: `x${deviceSecrets['soil-1']}`,
        reconnectPeriod: 0,
      })
      .then(
        (c) => c.endAsync().then(() => 'connected'),
        () => 'refused',
      );
    expect(wrong).toBe('refused');
    const time = Date.now() - 1000;
    for (const [device, values] of [
      ['soil-1', { soil_vwc: 0.31 }],
      ['wx-1', { air_temperature: 17.5 }],
    ] as const) {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        username: device,
        password: deviceSecrets[device],
        reconnectPeriod: 0,
      });
      await c.publishAsync(deviceTopic('demo-farm', device, 'up'), JSON.stringify({ time, values }), {
        qos: 1,
      });
      await c.endAsync();
    }
    // Synced: the partner sees the readings on the server.
    await eventually(async () => {
      const res = await fetch(`${url}/api/v1/devices`, { headers: { cookie } });
      const text = await res.text();
      return text.includes('0.31') && text.includes('17.5');
    }, 20_000);
    await stop(gateway);
    await stop(server);

    const logs = Object.entries(output).map(([name, chunks]) => ({ name, text: chunks.join('') }));
    // The logs are real: both processes wrote, including the refusals.
    const all = logs.map((l) => l.text).join('\n');
    expect(all).toMatch(/gateway started/);
    expect(all).toMatch(/bad username or password/);
    expect(all).toMatch(/gateway token issued/);
    expect(all.split('\n').length).toBeGreaterThan(20);
    expect(all).toContain('sec-partner'); // names are logged and searchable; only secrets are not
    const leaks = logs.flatMap(({ name, text }) =>
      Object.entries(secrets)
        .filter(([, value]) => text.includes(value))
        .map(([what]) => `${what} in the output of ${name}`),
    );
    expect(leaks).toEqual([]);
  }, 120_000);
});
