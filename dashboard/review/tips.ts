// Tips on the server: stored per farm as gateways sync them, shown to the farm's people, and acted
// on (act / dismiss / automate). Idempotent by tip id (a resent batch stores nothing new) and
// de-duplicated by the rule's key: while a tip for a key is live, another one for the same key
// that is not more severe (a second gateway on the farm, a replay after a restore) is kept as a
// "duplicate" — hidden, not notified — so a farmer is not told the same thing twice. An escalated
// or renewed tip, or one that names the tip it supersedes, replaces the live one.
import { HatakeError } from '../../protocol/errors.ts';
import { severityRank, type Tip, type TipCleared } from '../../protocol/tip.ts';
import type { AutomateBody, TipState, TipView } from '../../protocol/review.ts';
import type { Db } from '../../runtime/sqlite.ts';
import type { User } from '../auth.ts';
import type { ApplyContext } from '../sync-appliers.ts';
import { inList, type Access } from './access.ts';
import type { Automations } from './automations.ts';
import type { Effects } from './effects.ts';
import { automateChoices, automationFromTip } from './tip-automation.ts';
import type { WebhookStore } from './webhook-store.ts';
import type { AutomationView } from '../../protocol/review.ts';

interface TipRow {
  farm: string;
  id: string;
  dedup_key: string;
  severity: Tip['severity'];
  created: number;
  expires: number;
  state: TipState;
  state_by: string | null;
  state_at: number | null;
  automation: string | null;
  cleared_at: number | null;
  doc: string;
}

const LIVE: TipState[] = ['open', 'acted', 'automated', 'dismissed'];

type Actuators = ReturnType<Automations['actuatorsOf']>;

export interface TipDeps {
  db: Db;
  access: Access;
  automations: Automations;
  webhooks: WebhookStore;
  effects: Effects;
}

export class Tips {
  private readonly d: TipDeps;

  constructor(deps: TipDeps) {
    this.d = deps;
  }

  private get db(): Db {
    return this.d.db;
  }

  /** Stores synced tips (inside the sync batch's transaction). */
  applySynced(actx: ApplyContext, tips: Tip[]): void {
    // Oldest first, so a batch holding a tip and its successor applies them in order.
    const sorted = [...tips].sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
    for (const tip of sorted) this.store(actx.gateway.farm, tip, actx.gateway.id, actx.now);
    this.d.effects.flushLater();
  }

  /**
   * Marks the live tips of these keys superseded by `by` (call inside a transaction): a prescription
   * replaced by a newer approved one for the same field. Announced as a change of each.
   */
  supersedeKeys(farm: string, keys: readonly string[], by: string, now: number): void {
    if (keys.length === 0) return;
    const done = this.db
      .prepare(
        `UPDATE tips SET state = 'superseded', state_by = ?, state_at = ?
         WHERE farm = ? AND dedup_key IN (${inList(keys.length)}) AND state IN ('open', 'acted') RETURNING id`,
      )
      .all(`tip ${by}`, now, farm, ...keys) as { id: string }[];
    for (const d of done) this.d.effects.change(farm, 'tip', d.id);
  }

  /**
   * Marks tips whose condition ended (inside the sync batch's transaction). Only the farm's own
   * tips and only once: a resend, or a clear for a tip this server never stored, changes nothing.
   * The farmer's state (acted, automated, dismissed) is kept; the tip just stops being live.
   */
  applyCleared(actx: ApplyContext, cleared: TipCleared[]): void {
    const farm = actx.gateway.farm;
    const mark = this.db.prepare(
      'UPDATE tips SET cleared_at = ? WHERE farm = ? AND id = ? AND dedup_key = ? AND cleared_at IS NULL',
    );
    for (const c of cleared)
      if (mark.run(c.at, farm, c.id, c.dedupKey).changes > 0) this.d.effects.change(farm, 'tip', c.id);
    this.d.effects.flushLater();
  }

  /**
   * Stores one tip of a farm (call inside a transaction; the caller flushes the effects): once by
   * id, de-duplicated by key, announced to the farm's people and webhooks when it is open.
   * `source` is the gateway that raised it, or `server` for the server's own.
   */
  store(farm: string, tip: Tip, source: string, now: number): void {
    if (this.db.prepare('SELECT 1 FROM tips WHERE farm = ? AND id = ?').get(farm, tip.id)) return;
    const live = this.db
      .prepare(
        `SELECT * FROM tips WHERE farm = ? AND dedup_key = ? AND state IN (${inList(LIVE.length)}) AND expires > ?
         AND (cleared_at IS NULL OR cleared_at > ?) ORDER BY created DESC`,
      )
      .all(farm, tip.dedupKey, ...LIVE, tip.created, tip.created) as TipRow[];
    const replaces =
      tip.reason !== 'new' ||
      (tip.supersedes !== undefined && live.some((l) => l.id === tip.supersedes)) ||
      live.every((l) => severityRank(tip.severity) > severityRank(l.severity));
    const duplicate = live.length > 0 && !replaces && live.some((l) => l.created <= tip.created);
    let state: TipState = duplicate ? 'duplicate' : 'open';
    if (!duplicate) {
      // An older live tip for the key is replaced; a newer one (out-of-order sync) wins instead.
      if (live.some((l) => l.created > tip.created)) state = 'superseded';
      else
        for (const l of live)
          this.db
            .prepare(
              `UPDATE tips SET state = 'superseded', state_by = ?, state_at = ? WHERE farm = ? AND id = ?`,
            )
            .run(`tip ${tip.id}`, now, farm, l.id);
    }
    if (tip.supersedes && state === 'open')
      this.db
        .prepare(
          `UPDATE tips SET state = 'superseded', state_by = ?, state_at = ? WHERE farm = ? AND id = ? AND state IN ('open', 'acted')`,
        )
        .run(`tip ${tip.id}`, now, farm, tip.supersedes);
    this.db
      .prepare(
        `INSERT INTO tips (farm, id, dedup_key, kind, severity, field, created, expires, state, gateway, received, doc)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        farm,
        tip.id,
        tip.dedupKey,
        tip.kind,
        tip.severity,
        tip.field ?? null,
        tip.created,
        tip.expires,
        state,
        source,
        now,
        JSON.stringify({ ...tip, farm }),
      );
    if (state !== 'open') return;
    this.d.effects.change(farm, 'tip', tip.id);
    if (tip.expires <= now) return; // a tip that expired on its way here is stored, not announced
    const region = this.d.access.farm(farm)?.region ?? null;
    const queued = this.d.webhooks.enqueue(
      'tip.created',
      { farm, region },
      `tip.created:${farm}:${tip.id}`,
      {
        tip: {
          id: tip.id,
          kind: tip.kind,
          severity: tip.severity,
          field: tip.field ?? null,
          title: tip.title,
          text: tip.text,
          created: new Date(tip.created).toISOString(),
          expires: new Date(tip.expires).toISOString(),
          action: tip.action ?? null,
        },
      },
      now,
    );
    if (queued > 0) this.d.effects.webhookQueued();
  }

  private view(r: TipRow, now: number, actuators = new Map<string, Actuators>()): TipView {
    const tip = JSON.parse(r.doc) as Tip;
    return {
      tip,
      state: r.state,
      stateBy: r.state_by,
      stateAt: r.state_at === null ? null : new Date(r.state_at).toISOString(),
      expired: r.expires <= now,
      cleared: r.cleared_at === null ? null : new Date(r.cleared_at).toISOString(),
      ...automateChoices(tip, this.actuatorsOf(r.farm, actuators)),
      automation: r.automation,
    };
  }

  /** A farm's actuators, looked up once per farm in `cache`. */
  private actuatorsOf(farm: string, cache: Map<string, Actuators>): Actuators {
    let a = cache.get(farm);
    if (!a) cache.set(farm, (a = this.d.automations.actuatorsOf(farm)));
    return a;
  }

  /** Tips of the caller's farms, most severe and newest first. */
  list(
    user: User,
    q: { farm?: string; field?: string; view?: 'active' | 'history'; limit?: number },
    now = Date.now(),
  ): TipView[] {
    let farms = this.d.access.visible(user);
    if (q.farm) farms = farms.filter((f) => f === q.farm);
    if (farms.length === 0) return [];
    const active = (q.view ?? 'active') === 'active';
    const rows = this.db
      .prepare(
        `SELECT * FROM tips WHERE farm IN (${inList(farms.length)})
         ${active ? `AND state IN ('open', 'acted', 'automated') AND expires > ? AND cleared_at IS NULL` : `AND state != 'duplicate'`}
         ${q.field ? 'AND field = ?' : ''}
         ORDER BY created DESC LIMIT ?`,
      )
      .all(...farms, ...(active ? [now] : []), ...(q.field ? [q.field] : []), q.limit ?? 100) as TipRow[];
    const actuators = new Map<string, Actuators>(); // one look at a farm's devices per list
    const views = rows.map((r) => this.view(r, now, actuators));
    if (active)
      views.sort(
        (a, b) =>
          severityRank(b.tip.severity) - severityRank(a.tip.severity) || b.tip.created - a.tip.created,
      );
    return views;
  }

  private visibleRow(user: User, id: string): TipRow {
    const farms = this.d.access.visible(user);
    const r =
      farms.length === 0
        ? undefined
        : (this.db
            .prepare(
              `SELECT * FROM tips WHERE id = ? AND farm IN (${inList(farms.length)}) AND state != 'duplicate' ORDER BY farm LIMIT 1`,
            )
            .get(id, ...farms) as TipRow | undefined);
    if (!r) throw new HatakeError('HATAKE_E_NOT_FOUND', `no tip "${id.slice(0, 64)}"`);
    return r;
  }

  get(user: User, id: string, now = Date.now()): TipView {
    return this.view(this.visibleRow(user, id), now);
  }

  private setState(user: User, r: TipRow, state: TipState, now: number, automation?: string): void {
    this.db
      .prepare(
        'UPDATE tips SET state = ?, state_by = ?, state_at = ?, automation = COALESCE(?, automation) WHERE farm = ? AND id = ?',
      )
      .run(state, user.name, now, automation ?? null, r.farm, r.id);
    this.d.effects.change(r.farm, 'tip', r.id);
  }

  private requireState(r: TipRow, allowed: TipState[], what: string): void {
    if (!allowed.includes(r.state))
      throw new HatakeError('HATAKE_E_STATE_CONFLICT', `tip ${r.id} is ${r.state}; it cannot be ${what}`, {
        expected: `a tip that is ${allowed.join(' or ')}`,
      });
  }

  /** The farmer did what the tip says. */
  act(user: User, id: string, now = Date.now()): TipView {
    const r = this.visibleRow(user, id);
    this.d.access.requireManage(user, r.farm);
    if (r.state !== 'acted') {
      this.requireState(r, ['open', 'automated'], 'marked as done');
      this.setState(user, r, 'acted', now);
      this.d.effects.flush();
    }
    return this.get(user, id, now);
  }

  /** The farmer does not want to see it again. */
  dismiss(user: User, id: string, now = Date.now()): TipView {
    const r = this.visibleRow(user, id);
    this.d.access.requireManage(user, r.farm);
    if (r.state !== 'dismissed') {
      this.requireState(r, ['open', 'acted', 'automated', 'superseded'], 'dismissed');
      this.setState(user, r, 'dismissed', now);
      this.d.effects.flush();
    }
    return this.get(user, id, now);
  }

  /** Makes an automation from the tip's suggested action; the tip becomes "automated". */
  automate(
    user: User,
    id: string,
    body: AutomateBody,
    now = Date.now(),
  ): { tip: TipView; automation: AutomationView } {
    const r = this.visibleRow(user, id);
    this.d.access.requireManage(user, r.farm);
    this.requireState(r, ['open', 'acted'], 'automated');
    const tip = JSON.parse(r.doc) as Tip;
    const draft = automationFromTip(tip, body, this.d.automations.actuatorsOf(r.farm));
    const automation = this.db.transaction(() => {
      const a = this.d.automations.create(user, { farm: r.farm, ...draft }, now);
      this.setState(user, r, 'automated', now, a.id);
      return a;
    })();
    this.d.effects.flush();
    return { tip: this.get(user, id, now), automation };
  }
}
