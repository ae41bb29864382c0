// Webhooks and their durable delivery queue in SQLite. A webhook belongs to a farm (its farmer's
// co-op system) or a region (the extension office); an event is queued once per subscribed webhook
// (UNIQUE webhook + event id, so a resent sync batch queues nothing new). Bounded: at most
// `maxPendingPerHook` undelivered events per webhook — when full, the oldest pending ones are
// dropped (state "dropped", counted), because the newest advice is the one worth delivering.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../runtime/sqlite.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { DeliveryView, WebhookEvent, WebhookPayload, WebhookView } from '../../protocol/review.ts';
import { newWebhookSecret } from './webhook-signature.ts';
import { displayUrl } from './webhook-target.ts';

/** Events a farm's webhook may take: never review requests (pending recommendations are the officers'). */
export const FARM_EVENTS: readonly WebhookEvent[] = ['tip.created', 'recommendation.approved', 'ping'];
export const REGION_EVENTS: readonly WebhookEvent[] = [
  'tip.created',
  'review.requested',
  'recommendation.approved',
  'ping',
];
export const MAX_WEBHOOKS_PER_SCOPE = 20;

interface HookRow {
  id: string;
  scope: 'farm' | 'region';
  farm: string | null;
  region: string | null;
  url: string;
  secret: string;
  events: string;
  created_by: string;
  created_at: number;
}

export interface StoredHook {
  id: string;
  url: string;
  secret: string;
}

export class WebhookStore {
  private readonly db: Db;
  maxPendingPerHook: number;
  /** Events dropped because a webhook's queue was full, since start. */
  droppedTotal = 0;

  constructor(db: Db, maxPendingPerHook = 1000) {
    this.db = db;
    this.maxPendingPerHook = maxPendingPerHook;
  }

  /** Creates a webhook; the secret is returned here and never again. */
  create(
    scope: { farm: string } | { region: string },
    url: string,
    events: WebhookEvent[],
    by: string,
    now: number,
  ): { view: WebhookView; secret: string } {
    const isFarm = 'farm' in scope;
    const allowed = isFarm ? FARM_EVENTS : REGION_EVENTS;
    const bad = events.find((e) => !allowed.includes(e));
    if (bad)
      throw new HatakeError(
        'HATAKE_E_WEBHOOK',
        `a ${isFarm ? 'farm' : 'region'} webhook cannot take "${bad}"`,
        {
          place: { pointer: `/events/${events.indexOf(bad)}` },
          expected: allowed.join(', '),
        },
      );
    const count = (
      this.db
        .prepare(`SELECT COUNT(*) AS n FROM webhooks WHERE deleted = 0 AND ${isFarm ? 'farm' : 'region'} = ?`)
        .get(isFarm ? scope.farm : scope.region) as { n: number }
    ).n;
    if (count >= MAX_WEBHOOKS_PER_SCOPE)
      throw new HatakeError(
        'HATAKE_E_WEBHOOK',
        `at most ${MAX_WEBHOOKS_PER_SCOPE} webhooks per farm or region`,
      );
    const id = `wh-${randomBytes(8).toString('hex')}`;
    const secret = newWebhookSecret();
    this.db
      .prepare(
        `INSERT INTO webhooks (id, scope, farm, region, url, secret, events, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        isFarm ? 'farm' : 'region',
        isFarm ? scope.farm : null,
        isFarm ? null : scope.region,
        url,
        secret,
        JSON.stringify(events),
        by,
        now,
      );
    return { view: this.view(this.row(id)!), secret };
  }

  private row(id: string): HookRow | undefined {
    return this.db.prepare('SELECT * FROM webhooks WHERE id = ? AND deleted = 0').get(id) as
      HookRow | undefined;
  }

  /** A live webhook's scope (for access checks). */
  scopeOf(id: string): { farm: string | null; region: string | null } | undefined {
    const r = this.row(id);
    return r ? { farm: r.farm, region: r.region } : undefined;
  }

  /** The URL and secret the dispatcher needs. */
  target(id: string): StoredHook | undefined {
    const r = this.row(id);
    return r ? { id: r.id, url: r.url, secret: r.secret } : undefined;
  }

  /** Webhooks of these farms and regions. */
  list(farms: string[], regions: string[]): WebhookView[] {
    const rows: HookRow[] = [];
    if (farms.length > 0)
      rows.push(
        ...(this.db
          .prepare(`SELECT * FROM webhooks WHERE deleted = 0 AND farm IN (${farms.map(() => '?').join(',')})`)
          .all(...farms) as HookRow[]),
      );
    if (regions.length > 0)
      rows.push(
        ...(this.db
          .prepare(
            `SELECT * FROM webhooks WHERE deleted = 0 AND region IN (${regions.map(() => '?').join(',')})`,
          )
          .all(...regions) as HookRow[]),
      );
    return rows.sort((a, b) => a.created_at - b.created_at).map((r) => this.view(r));
  }

  /** Deletes a webhook; its undelivered events are dropped. */
  delete(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE webhooks SET deleted = 1 WHERE id = ?').run(id);
      this.db
        .prepare(
          `UPDATE webhook_deliveries SET state = 'dropped', last_error = 'webhook deleted', next_at = NULL WHERE webhook = ? AND state = 'pending'`,
        )
        .run(id);
    })();
  }

  private view(r: HookRow): WebhookView {
    const counts = Object.fromEntries(
      (
        this.db
          .prepare('SELECT state, COUNT(*) AS n FROM webhook_deliveries WHERE webhook = ? GROUP BY state')
          .all(r.id) as { state: string; n: number }[]
      ).map((c) => [c.state, c.n]),
    ) as Record<string, number>;
    return {
      id: r.id,
      scope: r.scope,
      farm: r.farm,
      region: r.region,
      url: displayUrl(r.url),
      events: JSON.parse(r.events) as WebhookEvent[],
      createdBy: r.created_by,
      createdAt: new Date(r.created_at).toISOString(),
      pending: counts.pending ?? 0,
      delivered: counts.delivered ?? 0,
      failed: counts.failed ?? 0,
      dropped: counts.dropped ?? 0,
    };
  }

  /**
   * Queues an event for every webhook of the farm (and of its region) that takes it. Call inside
   * the transaction that made the event happen. Returns how many deliveries were queued.
   */
  enqueue(
    event: WebhookEvent,
    where: { farm: string; region: string | null },
    eventId: string,
    data: Record<string, unknown>,
    now: number,
    only?: string,
  ): number {
    const hooks = (
      only
        ? (this.db.prepare('SELECT * FROM webhooks WHERE deleted = 0 AND id = ?').all(only) as HookRow[])
        : (this.db
            .prepare(
              `SELECT * FROM webhooks WHERE deleted = 0 AND ((scope = 'farm' AND farm = ?) OR (scope = 'region' AND region = ?))`,
            )
            .all(where.farm, where.region ?? '\u0000') as HookRow[])
    ).filter(
      (h) => (only !== undefined && event === 'ping') || (JSON.parse(h.events) as string[]).includes(event),
    );
    if (hooks.length === 0) return 0;
    const payload: WebhookPayload = {
      id: eventId,
      event,
      time: new Date(now).toISOString(),
      farm: where.farm,
      region: where.region,
      data,
    };
    const body = JSON.stringify(payload);
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO webhook_deliveries (webhook, event, event_id, body, state, attempts, next_at, created)
       VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)`,
    );
    let queued = 0;
    for (const h of hooks) {
      if (insert.run(h.id, event, eventId, body, now, now).changes === 0) continue;
      queued++;
      this.bound(h.id);
    }
    return queued;
  }

  /** Drops the oldest pending deliveries of a webhook beyond its bound. */
  private bound(hook: string): void {
    const pending = (
      this.db
        .prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook = ? AND state = 'pending'`)
        .get(hook) as { n: number }
    ).n;
    const excess = pending - this.maxPendingPerHook;
    if (excess <= 0) return;
    const r = this.db
      .prepare(
        `UPDATE webhook_deliveries SET state = 'dropped', last_error = 'queue full', next_at = NULL
         WHERE id IN (SELECT id FROM webhook_deliveries WHERE webhook = ? AND state = 'pending' ORDER BY id LIMIT ?)`,
      )
      .run(hook, excess);
    this.droppedTotal += r.changes;
  }

  /** A webhook's most recent deliveries. */
  deliveries(hook: string, limit = 100): DeliveryView[] {
    return (
      this.db
        .prepare('SELECT * FROM webhook_deliveries WHERE webhook = ? ORDER BY id DESC LIMIT ?')
        .all(hook, limit) as {
        id: number;
        event: WebhookEvent;
        event_id: string;
        state: DeliveryView['state'];
        attempts: number;
        last_status: number | null;
        last_error: string | null;
        created: number;
        next_at: number | null;
        delivered_at: number | null;
      }[]
    ).map((d) => ({
      id: d.id,
      event: d.event,
      eventId: d.event_id,
      state: d.state,
      attempts: d.attempts,
      lastStatus: d.last_status,
      lastError: d.last_error,
      createdAt: new Date(d.created).toISOString(),
      nextAt: d.next_at === null ? null : new Date(d.next_at).toISOString(),
      deliveredAt: d.delivered_at === null ? null : new Date(d.delivered_at).toISOString(),
    }));
  }
}
