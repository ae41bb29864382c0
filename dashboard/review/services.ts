// The review feature's services, built once per server and shared by its routes, its sync
// appliers and (through `reviewServices`) tests and tools that need to reach them.
import type { Db } from '../../runtime/sqlite.ts';
import type { ServerContext } from '../server.ts';
import type { Access } from './access.ts';
import type { Automations } from './automations.ts';
import type { Effects } from './effects.ts';
import type { Reviews } from './recommendations.ts';
import type { Tips } from './tips.ts';
import type { WebhookDispatcher } from './webhook-dispatcher.ts';
import type { WebhookStore } from './webhook-store.ts';

export interface ReviewServices {
  db: Db;
  access: Access;
  reviews: Reviews;
  tips: Tips;
  automations: Automations;
  webhooks: WebhookStore;
  dispatcher: WebhookDispatcher;
  effects: Effects;
}

const byContext = new WeakMap<ServerContext, ReviewServices>();

/** The review feature's services of a server. */
export function reviewServices(ctx: ServerContext): ReviewServices {
  const s = byContext.get(ctx);
  if (!s) throw new Error('the review feature is not registered on this server');
  return s;
}

export function setReviewServices(ctx: ServerContext, s: ReviewServices): void {
  byContext.set(ctx, s);
}
