// The gateway configuration sent down from the server: its tunables resolve like the file's,
// merge key by key over the gateway's own, apply in place, are kept for the next start, and a bad
// document is refused with the previous configuration untouched.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewayConfigFor, resolveGatewayConfig, resolveTunables } from '../../gateway/config.ts';
import {
  REMOTE_CONFIG_FILE,
  configHandler,
  currentTunables,
  loadKeptRemoteConfig,
  mergeRemote,
} from '../../gateway/remote-config.ts';
import type { GatewayTunables } from '../../gateway/config.ts';

const DAY = 86_400_000;
const MB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'hatake-remote-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });

const liveConfig = () =>
  gatewayConfigFor(
    { id: 'gw', dataDir: dir, manifest: 'm.yaml', registry: 'r.json' },
    { sync: { ...resolveTunables({}).sync, intervalMs: 200, maxOutboxBytes: 64 * MB } },
  );
const doc = (version: number, body: unknown, deleted = false) => ({
  kind: 'config',
  id: 'gateway',
  version,
  body,
  deleted,
});

describe('tunables', () => {
  it('resolve a file with the documented defaults and units', () => {
    const t = resolveTunables({});
    expect(t.retention).toEqual({ rawMs: 90 * DAY, hourlyMs: 5 * 365 * DAY, deadLetters: 10_000 });
    expect(t.storage).toEqual({ maxDbBytes: 2048 * MB, minFreeBytes: 100 * MB });
    expect(t.sync.maxOutboxBytes).toBe(512 * MB);
    expect(t.sync.aggregateAfterMs).toBe(60 * 60_000);
    expect(t.rate).toEqual({ perSecond: 5, burst: 50 });
    const file = resolveGatewayConfig(
      {
        id: 'gw',
        dataDir: '.',
        manifest: 'm',
        registry: 'r',
        retention: { rawDays: 7 },
        sync: { maxOutboxMB: 32, aggregateAfterMinutes: 30 },
        mqtt: { rate: { perSecond: 2, burst: 4 } },
      },
      join(dir, 'gateway.yaml'),
    );
    expect(file.retention.rawMs).toBe(7 * DAY);
    expect(file.retention.hourlyMs).toBe(5 * 365 * DAY);
    expect(file.sync.maxOutboxBytes).toBe(32 * MB);
    expect(file.sync.aggregateAfterMs).toBe(30 * 60_000);
    expect(file.mqtt.rate).toEqual({ perSecond: 2, burst: 4 });
  });

  it('merge a remote configuration key by key over the gateway’s own', () => {
    const own = currentTunables(liveConfig());
    const t = mergeRemote(own, { retention: { rawDays: 30 }, sync: { batchDelayMs: 500 } });
    expect(t.retention.rawMs).toBe(30 * DAY);
    expect(t.retention.hourlyMs).toBe(own.retention.hourlyMs);
    expect(t.sync.batchDelayMs).toBe(500);
    // what the remote does not name keeps the gateway's own value, not the default
    expect(t.sync.intervalMs).toBe(200);
    expect(t.sync.maxOutboxBytes).toBe(64 * MB);
    expect(mergeRemote(own, undefined)).toEqual(own);
  });
});

describe('the config downlink handler', () => {
  it('applies in place, says what changed, keeps it for the next start, and returns to its own when withdrawn', async () => {
    const live = liveConfig();
    const own = currentTunables(live);
    const retention = live.retention; // the maintenance timer holds this very object
    const rate = live.mqtt.rate; // so does the broker's rate limiter
    const told: GatewayTunables[] = [];
    const handle = configHandler(dir, live, own, (t) => told.push(t));

    const what = await handle(
      doc(7, { retention: { rawDays: 14 }, mqtt: { rate: { perSecond: 1, burst: 10 } }, health: {} }),
    );
    expect(what).toBe(
      `configuration v7: retention.rawMs ${90 * DAY} → ${14 * DAY}, rate.perSecond 5 → 1, rate.burst 50 → 10`,
    );
    expect(retention.rawMs).toBe(14 * DAY);
    expect(rate).toEqual({ perSecond: 1, burst: 10 });
    expect(told.at(-1)!.sync.intervalMs).toBe(200);
    expect(loadKeptRemoteConfig(dir, log)).toEqual({
      version: 7,
      config: { retention: { rawDays: 14 }, mqtt: { rate: { perSecond: 1, burst: 10 } }, health: {} },
    });
    expect(await handle(doc(8, { retention: { rawDays: 14 } }))).toBe(
      'configuration v8: rate.perSecond 1 → 5, rate.burst 10 → 50',
    );

    expect(await handle(doc(9, {}, true))).toBe(
      `configuration withdrawn, back to the file: retention.rawMs ${14 * DAY} → ${90 * DAY}`,
    );
    expect(live.retention).toEqual(own.retention);
    expect(existsSync(join(dir, REMOTE_CONFIG_FILE))).toBe(false);
  });

  it('refuses a document that does not validate, with a coded error, and changes nothing', async () => {
    const live = liveConfig();
    const own = currentTunables(live);
    const handle = configHandler(dir, live, own, () => {
      throw new Error('must not be told');
    });
    for (const body of [
      null,
      'sync: fast',
      { sync: { intervalMs: 1 } }, // below the minimum
      { sync: { requestTimeoutMs: 100 } }, // not tunable from afar: could cut the gateway off
      { server: { url: 'http://evil.example' } }, // nor the server, paths, ports or secrets
      { dataDir: '/' },
      { mqtt: { port: 1 } },
      { retention: { rawDays: 'forever' } },
      { retention: { rawDays: Number.NaN } },
      { storage: { maxDbMB: -1 } },
      { ['__proto__']: { polluted: true } },
    ]) {
      await expect(handle(doc(3, body)), JSON.stringify(body)).rejects.toMatchObject({
        code: 'HATAKE_E_CONFIG',
      });
    }
    expect(currentTunables(live)).toEqual(own);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(existsSync(join(dir, REMOTE_CONFIG_FILE))).toBe(false);
  });

  it('ignores a kept file that is corrupt or tampered with, and runs on its own', () => {
    const file = join(dir, REMOTE_CONFIG_FILE);
    for (const text of ['{', '{"version":1,"config":{"dataDir":"/"}}', '[]', 'x'.repeat(10)]) {
      writeFileSync(file, text);
      expect(loadKeptRemoteConfig(dir, log)).toBeUndefined();
    }
    writeFileSync(file, JSON.stringify({ version: 2, config: { sync: { intervalMs: 5000 } } }));
    expect(loadKeptRemoteConfig(dir, log)).toEqual({ version: 2, config: { sync: { intervalMs: 5000 } } });
    expect(readFileSync(file, 'utf8')).toContain('5000');
    rmSync(file);
  });
});
