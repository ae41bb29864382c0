// `hatake gateway override-code --config gateway.yaml` prints the code the gateway's automations
// page asks for before a valve is held by hand — the same code the gateway reads from its data
// folder (made on first use, 0600), so an installer can print it for the barn without SSH.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateOverrideToken, tokenMatches } from '../../gateway/automations/override-token.ts';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'hatake-override-code-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, 'gateway.yaml');
writeFileSync(
  config,
  'id: gw-barn\ndataDir: ./data\nmanifest: ./manifest.yaml\nregistry: ./registry.json\nhttp: { port: 8099 }\n',
);

const run = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'bin/hatake.js'), 'gateway', 'override-code', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('hatake gateway override-code', () => {
  it('prints the gateway’s code, making it as the gateway would when there is none yet', () => {
    const first = run('--config', config);
    expect(first.status, first.stderr).toBe(0);
    const code = /^ {4}([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})$/m.exec(first.stdout)?.[1];
    expect(code).toBeDefined();
    expect(first.stdout).toContain('手動操作コード');
    expect(first.stdout).toContain(':8099/automations');
    const file = join(dir, 'data', 'override-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The gateway, starting on that folder, uses the very same code.
    const gateway = loadOrCreateOverrideToken(join(dir, 'data'));
    expect(gateway.created).toBe(false);
    expect(tokenMatches(code, gateway.token)).toBe(true);
    // Asked again, the same code (never a new one behind the gateway's back).
    const again = run('--config', config);
    expect(again.stdout).toContain(code!);
    expect(readFileSync(file, 'utf8').trim()).toBe(gateway.token);
  });

  it('refuses without a config, or with a code file that holds no usable code, and says why', () => {
    const none = run();
    expect(none.status).not.toBe(0);
    expect(none.stderr).toContain('HATAKE_E_CONFIG');
    expect(none.stderr).toContain('--config gateway.yaml');
    const file = join(dir, 'data', 'override-token');
    chmodSync(file, 0o600);
    writeFileSync(file, 'short\n');
    const bad = run('--config', config);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('HATAKE_E_CONFIG');
    expect(bad.stderr).toContain('no usable code');
    expect(bad.stdout).toBe('');
    const missing = run('--config', join(dir, 'nope.yaml'));
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/HATAKE_E_/);
  });
});
