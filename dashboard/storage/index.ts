// Picks the time-series store from the server's config. The rest of the server only ever sees
// the ReadingStore interface.
import {
  InfluxStorageConfig,
  SqliteStorageConfig,
  storageConfigProblems,
  type StorageConfig,
} from '../../protocol/server-config.ts';
import { validator } from '../../protocol/validate.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { Db } from '../../runtime/sqlite.ts';
import type { Logger } from '../../runtime/log.ts';
import { SqliteReadingStore } from './sqlite.ts';
import { InfluxReadingStore } from './influx.ts';
import type { ReadingStore } from './types.ts';

const validators = { sqlite: validator(SqliteStorageConfig), influx: validator(InfluxStorageConfig) };

/** Creates (and, where needed, prepares) the configured store; a bad config is HATAKE_E_CONFIG. */
export async function createReadingStore(
  config: StorageConfig | undefined,
  db: Db,
  log: Logger | undefined,
): Promise<ReadingStore> {
  if (config === undefined) return SqliteReadingStore.open(undefined, db, log);
  // Configs built in code (tests, embedding) skip the YAML loader; check them here too.
  const kind = (config as { kind?: unknown } | null)?.kind;
  if (kind !== 'sqlite' && kind !== 'influx') {
    throw new HatakeError('HATAKE_E_CONFIG', `storage config: unknown kind ${JSON.stringify(kind)}`, {
      place: { pointer: '/storage/kind' },
      expected: 'sqlite or influx',
    });
  }
  const c: StorageConfig = validators[kind].parse(config, 'storage config', 'HATAKE_E_CONFIG');
  const problem = storageConfigProblems(c)[0];
  if (problem) {
    throw new HatakeError('HATAKE_E_CONFIG', `storage config ${problem.pointer}: ${problem.message}`, {
      place: { pointer: `/storage${problem.pointer}` },
    });
  }
  if (c.kind === 'sqlite') return SqliteReadingStore.open(c, db, log);
  return InfluxReadingStore.open(c, db, log?.child({ part: 'influx' }));
}
