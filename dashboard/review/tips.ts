// Tips on the server: stored per farm as gateways sync them, shown to the farm's people, and acted
// on (act / dismiss / automate). Idempotent by tip id (a resent batch stores nothing new) and
// de-duplicated by the rule's key: while a tip for a key is live, another one for the same key
// that is not more severe (a second gateway on the farm, a replay after a restore) is kept as a
// "duplicate" — hidden, not notified — so a farmer is not told the same thing twice.
//
// A tip that continues another one — a `renewed` tip raised when its predecessor expired while the
// condition held, or an `escalated` one — replaces it. It carries over the farmer's decision
// (dismissed, acted, automated: who, when, which automation) with its new evidence and text, and is
// not announced again, unless it is more severe than anything the chain has shown the farmer: that
// is news, so it opens again (the decision was about a milder tip) and is announced. The `severity`
// column holds that highest severity shown, the tip's own is in its document.
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
/** The farmer's decisions, which a renewal carries over. */
const DECIDED: TipState[] = ['acted', 'automated', 'dismissed'];

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
   * Marks the farm's live tips of a key raised at or before `at` as cleared (inside a transaction):
   * a server tip whose condition ended — a valve that reported closed again. Once; the farmer's
   * state is kept, as for a gateway's `tip_cleared`.
   */
  clearKey(farm: string, dedupKey: string, at: number): void {
    const done = this.db
      .prepare(
        'UPDATE tips SET cleared_at = ? WHERE farm = ? AND dedup_key = ? AND created <= ? AND cleared_at IS NULL RETURNING id',
      )
      .all(at, farm, dedupKey, at) as { id: string }[];
    for (const d of done) this.d.effects.change(farm, 'tip', d.id);
  }

  /**
   * Stores one tip of a farm (call inside a transaction; the caller flushes the effects): once by
   * id, de-duplicated by key; a tip continuing an earlier one keeps the farmer's decision on it;
   * announced to the farm's people and webhooks only when it is news (new, or more severe than the
   * farmer has been shown). `source` is the gateway that raised it, or `server` for the server's own.
   */
  store(farm: string, tip: Tip, source: string, now: number): void {
    if (this.db.prepare('SELECT 1 FROM tips WHERE farm = ? AND id = ?').get(farm, tip.id)) return;
    const live = this.db
      .prepare(
        `SELECT * FROM tips WHERE farm = ? AND dedup_key = ? AND state IN (${inList(LIVE.length)}) AND expires > ?
         AND (cleared_at IS NULL OR cleared_at > ?) ORDER BY created DESC`,
      )
      .all(farm, tip.dedupKey, ...LIVE, tip.created, tip.created) as TipRow[];
    const prev = this.predecessor(farm, tip, live);
    let state: TipState;
    /** The highest severity shown to the farmer for this condition, once this tip is stored. */
    let shown = tip.severity;
    /** The row whose decision the tip carries over. */
    let decided: TipRow | undefined;
    /** Whether the farm's people and webhooks are told: new, or an escalation past what they were shown. */
    let announce: boolean;
    if (prev && severityRank(tip.severity) <= severityRank(prev.severity)) {
      shown = prev.severity;
      if (DECIDED.includes(prev.state)) decided = prev;
      state = decided?.state ?? 'open';
      announce = false;
    } else if (prev) {
      state = 'open'; // more severe than the farmer was shown: news again, whatever they decided
      announce = true;
    } else {
      const replaces = live.every((l) => severityRank(tip.severity) > severityRank(l.severity));
      const duplicate = live.length > 0 && !replaces && live.some((l) => l.created <= tip.created);
      state = duplicate ? 'duplicate' : 'open';
      announce = !duplicate;
    }
    if (state !== 'duplicate') {
      // An older live tip for the key is replaced; a newer one (out-of-order sync) wins instead.
      if (live.some((l) => l.created > tip.created)) {
        state = 'superseded';
        decided = undefined;
        announce = false;
      } else
        for (const l of live)
          this.db
            .prepare(
              `UPDATE tips SET state = 'superseded', state_by = ?, state_at = ? WHERE farm = ? AND id = ?`,
            )
            .run(`tip ${tip.id}`, now, farm, l.id);
    }
    const kept = state !== 'duplicate' && state !== 'superseded';
    if (tip.supersedes && kept)
      this.db
        .prepare(
          `UPDATE tips SET state = 'superseded', state_by = ?, state_at = ? WHERE farm = ? AND id = ? AND state IN ('open', 'acted')`,
        )
        .run(`tip ${tip.id}`, now, farm, tip.supersedes);
    this.db
      .prepare(
        `INSERT INTO tips (farm, id, dedup_key, kind, severity, field, created, expires, state, state_by, state_at,
           automation, gateway, received, doc)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        farm,
        tip.id,
        tip.dedupKey,
        tip.kind,
        shown,
        tip.field ?? null,
        tip.created,
        tip.expires,
        state,
        decided?.state_by ?? null,
        decided?.state_at ?? null,
        decided?.automation ?? null,
        source,
        now,
        JSON.stringify({ ...tip, farm }),
      );
    if (!kept) return;
    this.d.effects.change(farm, 'tip', tip.id);
    if (!announce || tip.expires <= now) return; // a tip that expired on its way here is stored, not announced
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

  /**
   * The tip a renewed or escalated one continues: the one it names, live or expired (a renewal's
   * predecessor has always expired), unless the condition had cleared before; else — a predecessor
   * this server never stored, or one kept as a duplicate — the newest tip of the key that was still
   * live within one lifetime of this tip. Undefined for a `new` tip: it is de-duplicated instead.
   */
  private predecessor(farm: string, tip: Tip, live: TipRow[]): TipRow | undefined {
    if (tip.reason === 'new') return undefined;
    const notCleared = (r: TipRow) => r.cleared_at === null || r.cleared_at > tip.created;
    if (tip.supersedes !== undefined) {
      const named = this.db
        .prepare('SELECT * FROM tips WHERE farm = ? AND id = ? AND dedup_key = ?')
        .get(farm, tip.supersedes, tip.dedupKey) as TipRow | undefined;
      if (named && LIVE.includes(named.state) && notCleared(named) && named.created <= tip.created)
        return named;
    }
    const recent = live.find((l) => l.created <= tip.created);
    if (recent) return recent;
    const lifetime = Math.max(0, tip.expires - tip.created);
    return this.db
      .prepare(
        `SELECT * FROM tips WHERE farm = ? AND dedup_key = ? AND state IN (${inList(LIVE.length)})
           AND created <= ? AND expires > ? AND (cleared_at IS NULL OR cleared_at > ?) ORDER BY created DESC LIMIT 1`,
      )
      .get(farm, tip.dedupKey, ...LIVE, tip.created, tip.created - lifetime, tip.created) as
      TipRow | undefined;
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
