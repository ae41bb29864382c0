// Types of commit-sql.js (plain JavaScript: it also runs in the commit writer thread).
import type { Db } from '../runtime/sqlite.ts';
import type { Reading } from '../protocol/telemetry.ts';
import type { DeadLetter, HeardBy } from './store.ts';

export declare const READING_PRIORITY: number;
export declare const TRIM_DEAD_SQL: string;
export declare const OUTBOX_TOTAL_ADD_SQL: string;

/** What a commit did: new readings, each with its outbox row (their bytes went into outbox_total). */
export interface CommitResult {
  fresh: number;
}

export type Commit = (
  readings: readonly Reading[],
  dead: readonly DeadLetter[],
  now: number,
  heardBy: Iterable<readonly [string, HeardBy]>,
  deadLimit: number,
) => CommitResult;

export declare function prepareCommit(db: Db): Commit;
