// The storage section of server.yaml: a good InfluxDB config loads with its paths resolved; every
// mistake an IT partner can make is refused with the file, line and column and what to fix. A
// config built in code (not from YAML) is checked by the store factory the same way.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import type { StorageConfig } from '../../protocol/server-config.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { openServerDb } from '../../dashboard/db.ts';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import { SqliteReadingStore } from '../../dashboard/storage/sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Writes server.yaml with the given storage section (YAML text) and loads it. */
function load(storage: string): ReturnType<typeof loadServerConfig> {
  const file = join(dir, `server-${++n}.yaml`);
  writeFileSync(file, `dataDir: ./data\nhttp:\n  port: 8080\n${storage}`);
  return loadServerConfig(file);
}
function refusal(storage: string): HatakeError {
  try {
    load(storage);
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('the config was accepted');
}

describe('storage config in server.yaml', () => {
  it('loads an InfluxDB config with every setting, and resolves passwordFile against the file', () => {
    const c = load(`storage:
  kind: influx
  url: http://influx.coop.example.jp:8086
  database: hatake
  username: hatake
  passwordFile: secrets/influx-password
  retention: { raw: 90d, longterm: 520w }
  batch: { maxPoints: 5000, maxDelayMs: 1000, maxInFlight: 2, maxQueuedPoints: 100000 }
  timeouts: { requestMs: 5000, writeMs: 10000, pingMs: 1000 }
  rollupIntervalMs: 60000
`);
    expect(c.storage).toMatchObject({
      kind: 'influx',
      url: 'http://influx.coop.example.jp:8086',
      passwordFile: join(dir, 'secrets/influx-password'),
      retention: { raw: '90d', longterm: '520w' },
    });
  });

  it('keeps SQLite the default, and accepts it named', () => {
    expect(load('').storage).toBeUndefined();
    expect(load('storage: { kind: sqlite }\n').storage).toEqual({ kind: 'sqlite' });
  });

  it.each([
    ['an unknown kind', 'storage: { kind: postgres }\n', '/storage/kind', 4, 'sqlite or influx'],
    ['a missing kind', 'storage: { url: http://x }\n', '/storage/kind', 4, 'sqlite or influx'],
    ['no url', 'storage:\n  kind: influx\n  database: h\n', '/storage/url', 5, 'Expected required property'],
    [
      'a url that is not http',
      'storage:\n  kind: influx\n  url: ftp://x\n  database: h\n',
      '/storage/url',
      6,
      'credentials go in username/password',
    ],
    [
      'credentials in the url',
      'storage:\n  kind: influx\n  url: http://admin:secret@x:8086\n  database: h\n',
      '/storage/url',
      6,
      'credentials go in username/password',
    ],
    [
      'a database name with a quote',
      'storage:\n  kind: influx\n  url: http://x\n  database: "h\\"x"\n',
      '/storage/database',
      7,
      'letters, digits, _ and -',
    ],
    [
      'a raw period in minutes',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  retention: { raw: 30m }\n',
      '/storage/retention/raw',
      8,
      'such as 36h, 90d, 52w, or INF',
    ],
    [
      'a raw period of 0 days',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  retention: { raw: 0d }\n',
      '/storage/retention/raw',
      8,
      'such as 36h, 90d, 52w, or INF',
    ],
    [
      'a batch of 0 points',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  batch: { maxPoints: 0 }\n',
      '/storage/batch/maxPoints',
      8,
      'greater or equal to 1',
    ],
    [
      'an oversized batch',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  batch: { maxPoints: 1000001 }\n',
      '/storage/batch/maxPoints',
      8,
      'less or equal to 100000',
    ],
    [
      'a 10 ms request timeout',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  timeouts: { requestMs: 10 }\n',
      '/storage/timeouts/requestMs',
      8,
      'greater or equal to 100',
    ],
    [
      'a misspelt setting',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  batchSize: 5000\n',
      '/storage/batchSize',
      8,
      'Unexpected property',
    ],
    [
      'a sqlite store with settings',
      'storage: { kind: sqlite, url: http://x }\n',
      '/storage/url',
      4,
      'Unexpected property',
    ],
    [
      'password and passwordFile both',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  username: u\n  password: p\n  passwordFile: f\n',
      '/storage/passwordFile',
      10,
      'not both',
    ],
    [
      'a password without a user',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  password: p\n',
      '/storage/username',
      5,
      'needs a username',
    ],
    [
      'aggregates kept shorter than raw readings',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  retention: { raw: 52w, longterm: 30d }\n',
      '/storage/retention/longterm',
      8,
      'at least as long',
    ],
    [
      'a queue smaller than one batch',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  batch: { maxPoints: 5000, maxQueuedPoints: 100 }\n',
      '/storage/batch/maxQueuedPoints',
      8,
      'at least batch.maxPoints',
    ],
    [
      'a write timeout shorter than one request',
      'storage:\n  kind: influx\n  url: http://x\n  database: h\n  timeouts: { requestMs: 5000, writeMs: 1000 }\n',
      '/storage/timeouts/writeMs',
      8,
      'at least timeouts.requestMs',
    ],
  ])('refuses %s, at its line', (_what, yaml, pointer, line, message) => {
    const e = refusal(yaml);
    expect(e.code).toBe('HATAKE_E_CONFIG');
    expect(e.place?.pointer).toBe(pointer);
    expect(e.place?.line).toBe(line);
    expect(e.place?.file).toContain('server-');
    expect(`${e.message} ${e.expected ?? ''}`).toContain(message);
  });
});

describe('storage config built in code', () => {
  const db = openServerDb(join(dir, 'factory.db'));
  afterAll(() => db.close());
  const create = (c: unknown) => createReadingStore(c as StorageConfig, db, undefined);

  it('gives the SQLite store by default and when named', async () => {
    expect(await create(undefined)).toBeInstanceOf(SqliteReadingStore);
    expect(await create({ kind: 'sqlite' })).toBeInstanceOf(SqliteReadingStore);
  });

  it.each([
    [{ kind: 'influx', url: 'http://x' }, 'database'],
    [{ kind: 'influx', url: 'http://x', database: 'h', batch: { maxPoints: -1 } }, 'maxPoints'],
    [{ kind: 'influx', url: 'http://x', database: 'h', password: 'p' }, 'needs a username'],
    [{ kind: 'mongo' }, 'unknown kind "mongo"'],
    [null, 'unknown kind'],
  ])('refuses %j with HATAKE_E_CONFIG', async (c, message) => {
    const e = await create(c).then(
      () => undefined,
      (x: unknown) => x as HatakeError,
    );
    expect(e).toBeInstanceOf(HatakeError);
    expect(e!.code).toBe('HATAKE_E_CONFIG');
    expect(e!.message).toContain(message);
  });

  it('names a password file it cannot read', async () => {
    const missing = join(dir, 'no-such-password');
    const e = await create({
      kind: 'influx',
      url: 'http://127.0.0.1:1',
      database: 'h',
      username: 'u',
      passwordFile: missing,
    }).then(
      () => undefined,
      (x: unknown) => x as HatakeError,
    );
    expect(e?.code).toBe('HATAKE_E_CONFIG');
    expect(e?.message).toContain(missing);
    expect(e?.message).toContain('ENOENT');
  });
});
