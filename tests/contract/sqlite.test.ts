// The ReadingStore contract against the embedded default: a real SQLite file in a temp dir.
import { SqliteReadingStore } from '../../dashboard/storage/sqlite.ts';
import { readingStoreContract } from './reading-store.contract.ts';

readingStoreContract('SQLite', async (db) => new SqliteReadingStore(db), {
  open: async (db, retention) => new SqliteReadingStore(db, undefined, { retention }),
  settle: async (store) => {
    await (store as SqliteReadingStore).runRetention();
  },
});
