// `hatake kit` as a partner runs it: a real child process, its output and its exit code.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const env = { ...process.env, HATAKE_CODEC_PATH: join(ROOT, '../shared/data/lorawan') };

async function hatake(...args: string[]) {
  try {
    const r = await run('node', [join(ROOT, 'bin/hatake.js'), 'kit', ...args], { env, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('hatake kit (command line)', () => {
  it('validate: exit 1 and ten file:line:column lines for the ten-mistake manifest; exit 0 for the demo', async () => {
    const file = join(ROOT, 'tests/unit/firmware-config/fixtures/ten-mistakes.yaml');
    const bad = await hatake('validate', file, '--today', '2026-11-28');
    expect(bad.code).toBe(1);
    const lines = bad.stdout.split('\n').filter((l) => /ten-mistakes\.yaml:\d+:\d+: /.test(l));
    expect(lines).toHaveLength(10);
    // Each line: the code of its kind of mistake, file:line:column, what is wrong, what was expected.
    expect(lines.map((l) => l.split(' ')[0])).toEqual([
      'HATAKE_E_MANIFEST_FORMAT',
      'HATAKE_E_MANIFEST_TIMEZONE',
      'HATAKE_E_MANIFEST_FUTURE_DATE',
      'HATAKE_E_MANIFEST_RING_OPEN',
      'HATAKE_E_MANIFEST_RING_CROSSING',
      'HATAKE_E_MANIFEST_BOUNDARY_FILE',
      'HATAKE_E_UNKNOWN_KIT',
      'HATAKE_E_MANIFEST_DUPLICATE_ID',
      'HATAKE_E_MANIFEST_OUTSIDE_FIELD',
      'HATAKE_E_MANIFEST_UNKNOWN_FIELD',
    ]);
    expect(lines[7]).toBe(
      `HATAKE_E_MANIFEST_DUPLICATE_ID ${file}:28:9: device id "soil-1" is used twice (expected an id not already used by /devices/0)`,
    );
    expect(bad.stdout).toContain('10 problems');
    const good = await hatake('validate', join(ROOT, 'sim/demo-farm.yaml'));
    expect(good).toMatchObject({ code: 0 });
    expect(good.stdout).toContain('valid manifest');
  });

  it('decode: prints readings from hex, base64 and JSON, and a coded error for junk', async () => {
    const hex = await hatake('decode', '--kit', 'dragino-lse01', '--fport', '2', 'CE2900F107A5099B6E2890');
    expect(hex.code).toBe(0);
    expect(hex.stdout).toMatch(/soil_vwc\s+0\.1957 m3\/m3/);
    const b64 = await hatake('decode', '--kit', 'hatake-lpp-node', 'AWcBEAJoZA==');
    expect(b64.stdout).toMatch(/air_temperature\s+27\.2 degC/);
    const json = await hatake(
      'decode',
      '--kit',
      'hatake-soil-probe',
      '--json',
      '{"values":{"soil_vwc":0.31}}',
    );
    expect(JSON.parse(json.stdout)).toMatchObject([{ metric: 'soil_vwc', value: 0.31, unit: 'm3/m3' }]);
    const junk = await hatake('decode', '--kit', 'hatake-lpp-node', 'zz!!');
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/HATAKE_E_PAYLOAD_SCHEMA/);
    const unknown = await hatake('decode', '--kit', 'no-such-kit', '00');
    expect(unknown.stderr).toMatch(/HATAKE_E_UNKNOWN_KIT/);
  });
});
