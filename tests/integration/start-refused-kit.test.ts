// `hatake start` with simulated kits whose keys the gateway no longer holds (their demo secrets
// and the registry disagree, as after a kit was provisioned again elsewhere) — a sensor and the
// water gate: the process does not die on the refused logins — it logs one clear line for each
// (the device, the broker's reason, what to do), the other kits keep reporting, and Ctrl-C still
// stops it cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../protocol/api.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';
import { demoFarm, eventually, signIn } from '../helpers/stack.ts';

const ROOT = join(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'hatake-start-refused-'));
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('hatake start with a kit the gateway refuses', () => {
  it('logs the refusal once with what to do, keeps the other kits running, and stops cleanly', async () => {
    // The demo's files as a previous run left them, but water-1's and gate-1's secrets no longer match.
    const { registry, secrets } = provisionRegistry(demoFarm());
    mkdirSync(join(dataDir, 'gateway'), { recursive: true });
    writeFileAtomic(join(dataDir, 'gateway', 'registry.json'), JSON.stringify(registry));
    writeFileAtomic(
      join(dataDir, 'demo-secrets.json'),
      JSON.stringify({
        gatewayToken: 'from-a-server-long-gone',
        devices: {
          ...secrets,
          'water-1': 'a-secret-the-gateway-never-knew',
          'gate-1': 'another-secret-it-never-knew',
        },
      }),
    );
    child = spawn(
      process.execPath,
      [
        'bin/hatake.js',
        'start',
        '--data',
        dataDir,
        '--http-port',
        '0',
        '--mqtt-port',
        '0',
        '--gateway-port',
        '0',
        '--interval',
        '1',
      ],
      { cwd: ROOT, env: { ...process.env, HATAKE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await eventually(() => /dashboard: (http:\/\/localhost:\d+)\//.exec(out)?.[1], 60_000);
    await eventually(
      () =>
        out.includes('simulated device water-1 was refused') &&
        out.includes('simulated device gate-1 was refused'),
      15_000,
    );
    const farmer = await signIn(url, 'demo-farmer');
    const fresh = await eventually(async () => {
      const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      const ids = list
        .filter((d) => d.lastSeen && Date.now() - Date.parse(d.lastSeen) < 30_000)
        .map((d) => d.id)
        .sort();
      return ids.length === 2 ? ids : undefined;
    }, 30_000);
    expect(fresh).toEqual(['soil-1', 'wx-1']);
    expect(child.exitCode).toBeNull();
    const lines = out.split('\n').filter((l) => l.includes('was refused'));
    const refused = lines.map((l) => JSON.parse(l) as { device: string; reason: string; msg: string });
    expect(refused.map((r) => r.device).sort()).toEqual(['gate-1', 'water-1']);
    for (const line of refused) {
      expect(line.reason).toBe('Connection refused: Bad username or password');
      expect(line.msg).toContain(join(dataDir, 'demo-secrets.json'));
      expect(line.msg).toContain(`devices["${line.device}"]`);
      expect(line.msg).toMatch(/Put its new secret .* and restart, or stop hatake and delete both files/);
      expect(line.msg).toMatch(/The other devices keep running/);
    }
    expect(out).not.toMatch(/ErrorWithReasonCode|at .*node_modules\/mqtt/);
    const code = await new Promise<number | null>((resolve) => {
      child!.once('exit', (c) => resolve(c));
      child!.kill('SIGINT');
    });
    expect(code, out.slice(-4000)).toBe(0);
  }, 150_000);
});
