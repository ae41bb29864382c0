// Extension point of the sync endpoint: the server's feature plugins (review, tips, automations,
// imagery) register how the items of their kind are stored. The endpoint calls every applier
// inside the SQLite transaction that stores the batch's documents (manifests, events, plugged
// kinds), before the readings go to the reading store and a second transaction records the ack
// (dashboard/routes/sync.ts). A failure after the first transaction leaves the batch
// unacknowledged and the gateway sends it again, so each applier must be idempotent: a resent
// batch changes nothing twice.
import type { Static } from '@sinclair/typebox';
import type { SyncItem } from '../protocol/sync.ts';
import type { Db } from '../runtime/sqlite.ts';
import type { GatewayIdentity } from './auth.ts';
import type { IndexStat, RecommendationOutput } from './storage/types.ts';

/** Item kinds stored by feature plugins rather than by the sync endpoint itself. */
export type PluggableKind =
  'recommendation' | 'tip' | 'tip_cleared' | 'automation_log' | 'imagery' | 'registry';
export type BodyOf<K extends SyncItem['kind']> = Extract<SyncItem, { kind: K }>['body'];

export interface ApplyContext {
  db: Db;
  gateway: GatewayIdentity;
  now: number;
  /**
   * Time series an applier wants stored beside the readings (index statistics, recommendation
   * outputs). The endpoint writes them to the reading store after the transaction and before it
   * acknowledges, so a store failure refuses the batch and the resend writes them again (the
   * store is idempotent on their keys). Push them even for a document already held.
   */
  series: SeriesWrites;
}

export interface SeriesWrites {
  indexStats: IndexStat[];
  outputs: RecommendationOutput[];
}

/** Stores items of one kind; runs inside the batch's transaction; must be idempotent. */
export type Applier<K extends PluggableKind> = (ctx: ApplyContext, bodies: BodyOf<K>[]) => void;

export class SyncAppliers {
  private readonly appliers = new Map<PluggableKind, Applier<any>>();

  register<K extends PluggableKind>(kind: K, applier: Applier<K>): void {
    if (this.appliers.has(kind)) throw new Error(`an applier for ${kind} is already registered`);
    this.appliers.set(kind, applier);
  }

  get<K extends PluggableKind>(kind: K): Applier<K> | undefined {
    return this.appliers.get(kind);
  }
}

export type { Static };
