// Picks the time-series store from the server's config. The rest of the server only ever sees
// the ReadingStore interface.
import type { StorageConfig } from '../../protocol/server-config.ts';
import type { Db } from '../../runtime/sqlite.ts';
import type { Logger } from '../../runtime/log.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { SqliteReadingStore } from './sqlite.ts';
import type { ReadingStore } from './types.ts';

/** Creates (and, where needed, prepares) the configured store. */
export async function createReadingStore(
  config: StorageConfig | undefined,
  db: Db,
  _log: Logger | undefined,
): Promise<ReadingStore> {
  const kind = config?.kind ?? 'sqlite';
  if (kind === 'sqlite') return new SqliteReadingStore(db);
  throw new HatakeError('HATAKE_E_CONFIG', `storage kind "${kind}" is not available in this build`, {
    expected: 'sqlite',
  });
}
