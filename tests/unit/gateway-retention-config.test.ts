// retention.minRawDays, the floor under storage pressure: 14 days unless the gateway's file says
// otherwise, at least 2 (the rules read 48 h of raw readings), refused with a coded error at its
// line — and not among the tunables the server may send down.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { RemoteGatewayConfig } from '../../protocol/gateway-config.ts';
import { validator } from '../../protocol/validate.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'hatake-retention-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (retention: string) => {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `id: gw-1\ndataDir: data\nmanifest: farm.yaml\nregistry: registry.json\n${retention}`);
  return { file, load: () => loadGatewayConfig(file) };
};

describe('retention.minRawDays', () => {
  it('is 14 days unless the file sets it', () => {
    expect(load('').load().minRawMs).toBe(14 * DAY);
    const c = load('retention: { rawDays: 30, minRawDays: 7 }\n').load();
    expect(c.minRawMs).toBe(7 * DAY);
    expect(c.retention.rawMs).toBe(30 * DAY);
  });

  it('is refused below 2 days, at its line', () => {
    const { file, load: bad } = load('retention:\n  minRawDays: 1\n');
    let err: unknown;
    try {
      bad();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'HATAKE_E_CONFIG',
      place: { file, pointer: '/retention/minRawDays', line: 6 },
    });
  });

  it('cannot be sent down by the server', () => {
    const remote = validator(RemoteGatewayConfig);
    expect(() => remote.parse({ retention: { rawDays: 30 } }, 'config')).not.toThrow();
    expect(() => remote.parse({ retention: { minRawDays: 3 } }, 'config')).toThrow(/minRawDays/);
  });
});
