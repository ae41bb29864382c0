// The review workflow on the server. A recommendation synced from a gateway enters as
// pending_review — whatever status the gateway claimed, so no gateway can approve its own
// advice — and a newer one for the same field supersedes the older undecided ones. Officers of
// the farm's region see a queue (oldest and largest first) and a detail view, then edit rates per
// zone (held to the crop profile's limits and the spreader step by edge/recommend's applyRate),
// approve or reject, each with an entry in the append-only audit log. An approval (by a person,
// or by the farm's auto-approval policy for a named model under a rate ceiling) is published
// down to the farm's gateways; only approved recommendations are shown to farmers.
import { zoneRatePath } from '../../protocol/pointer.ts';
import { HatakeError } from '../../protocol/errors.ts';
import {
  effectiveRate,
  OPEN_REVIEW_STATUSES,
  type Recommendation,
  type ReviewStatus,
} from '../../protocol/recommendation.ts';
import type {
  ApproveBody,
  ApprovedRecommendation,
  AuditChange,
  AutoApprovalBody,
  AutoApprovalPolicy,
  EditBody,
  RateView,
  RejectBody,
  ReviewDetail,
  ReviewQueueItem,
  ReviewZone,
} from '../../protocol/review.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { applyRate } from '../../edge/recommend/rates.ts';
import type { User } from '../auth.ts';
import type { Downlink } from '../downlink.ts';
import type { ApplyContext } from '../sync-appliers.ts';
import { inList, type Access } from './access.ts';
import { appendAudit, auditOf } from './audit.ts';
import type { Effects } from './effects.ts';
import { imageryFreshness, inputFreshness } from './freshness.ts';
import type { ModelInfo } from './model-info.ts';
import type { WebhookStore } from './webhook-store.ts';
import { prescriptionKey, prescriptionTip } from './prescription-tip.ts';
import type { Tips } from './tips.ts';
import { appliedEconomics, fieldTotals, recommendedEconomics, withAppliedTotals } from './totals.ts';

interface RecRow {
  farm: string;
  id: string;
  field: string;
  crop: string;
  status: ReviewStatus;
  model: string;
  created_at: number;
  received_at: number;
  gateway: string;
  area_ha: number;
  revision: number;
  decided_by: string | null;
  decided_at: number | null;
  auto_approved: number;
  /** The newer recommendation that superseded this one (schema migration 4); null otherwise. */
  superseded_by: string | null;
  doc: string;
}

interface PolicyRow {
  farm: string;
  model: string;
  max_kg_n_ha: number;
  set_by: string;
  set_at: number;
}

interface Actor {
  name: string;
  role: string;
}

const OPEN = OPEN_REVIEW_STATUSES;
const SYSTEM: Actor = { name: 'system', role: 'system' };
const AUTO: Actor = { name: 'auto-approval', role: 'system' };
const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
const iso = (t: number) => new Date(t).toISOString();

/** kg/ha with kg/10a beside it. */
export function rateView(kgNHa: number, productKgHa: number): RateView {
  return {
    kgNHa,
    kgN10a: round(kgNHa / 10, 4),
    productKgHa,
    productKg10a: round(productKgHa / 10, 4),
  };
}

/** Whether a policy's model ("id" or "id@version") names the recommendation's model. */
export function policyModelMatches(policyModel: string, rec: Recommendation): boolean {
  return policyModel === rec.model.id || policyModel === `${rec.model.id}@${rec.model.version}`;
}

const localDay = (() => {
  const formats = new Map<string, Intl.DateTimeFormat>();
  return (t: number, timeZone: string): string => {
    let f = formats.get(timeZone);
    if (!f) {
      try {
        f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
      } catch {
        f = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' });
      }
      formats.set(timeZone, f);
    }
    return f.format(t);
  };
})();

export interface ReviewDeps {
  db: Db;
  access: Access;
  models: ModelInfo;
  downlink: Downlink;
  webhooks: WebhookStore;
  effects: Effects;
  /** Where an approval becomes the farmer's `prescription` tip. */
  tips: Pick<Tips, 'store' | 'supersedeKeys'>;
}

export class Reviews {
  private readonly d: ReviewDeps;

  constructor(deps: ReviewDeps) {
    this.d = deps;
  }

  private get db(): Db {
    return this.d.db;
  }

  // -------------------------------------------------------------------------------------------
  // Sync: recommendations from gateways
  // -------------------------------------------------------------------------------------------

  /** Stores synced recommendations (inside the sync batch's transaction); a resend is a no-op. */
  applySynced(actx: ApplyContext, bodies: Recommendation[]): void {
    const farm = actx.gateway.farm;
    for (const incoming of bodies) {
      // The model's output per zone as a time series beside the readings (for Grafana and the
      // region's history); pushed on a resend too, since the store may have missed it then.
      for (const z of incoming.zones) {
        actx.series.outputs.push({
          farm,
          field: incoming.field,
          zone: z.id,
          recommendation: incoming.id,
          model: incoming.model.id,
          modelVersion: incoming.model.version,
          time: incoming.createdAt,
          nitrogenKgHa: z.rate.kgNHa,
          product: incoming.product.id,
          productKgHa: z.rate.productKgHa,
        });
      }
      if (
        this.db
          .prepare('SELECT 1 FROM review_recommendations WHERE farm = ? AND id = ?')
          .get(farm, incoming.id)
      )
        continue;
      const claimedEdits = incoming.zones.some((z) => z.edited !== undefined);
      const doc: Recommendation = {
        ...incoming,
        farm,
        status: 'pending_review',
        history: [
          {
            status: 'pending_review',
            at: incoming.createdAt,
            by: incoming.history[0]?.by ?? `gateway ${actx.gateway.id}`,
          },
        ],
        zones: incoming.zones.map(({ edited: _edited, ...z }) => z),
      };
      const area = doc.zones.reduce((s, z) => s + z.areaHa, 0);
      this.db
        .prepare(
          `INSERT INTO review_recommendations (farm, id, field, crop, status, model, created_at, received_at, gateway, area_ha, revision, doc, original)
           VALUES (?, ?, ?, ?, 'pending_review', ?, ?, ?, ?, ?, 0, ?, ?)`,
        )
        .run(
          farm,
          doc.id,
          doc.field,
          doc.crop,
          `${doc.model.id}@${doc.model.version}`,
          doc.createdAt,
          actx.now,
          actx.gateway.id,
          area,
          JSON.stringify(doc),
          JSON.stringify(incoming),
        );
      const policy = this.policyRow(farm);
      const over =
        policy && policyModelMatches(policy.model, doc)
          ? doc.zones.find((z) => effectiveRate(z).kgNHa > policy.max_kg_n_ha + 1e-9)
          : undefined;
      const notes = [
        incoming.status !== 'pending_review' || claimedEdits
          ? `the gateway sent status "${incoming.status}"${claimedEdits ? ' with zone edits' : ''}; set to pending_review`
          : undefined,
        over
          ? `auto-approval not applied: zone ${over.id} is ${effectiveRate(over).kgNHa} kg N/ha, above the ceiling ${policy!.max_kg_n_ha}`
          : undefined,
      ].filter((x) => x !== undefined);
      appendAudit(this.db, {
        at: actx.now,
        farm,
        recommendation: doc.id,
        actor: `gateway ${actx.gateway.id}`,
        role: 'gateway',
        action: 'received',
        fromStatus: null,
        toStatus: 'pending_review',
        changes: [{ path: '/status', from: null, to: 'pending_review' }],
        reason: notes.length ? notes.join('; ') : null,
      });
      this.d.effects.change(farm, 'review', doc.id);

      // The newest undecided recommendation of a field is the one to review.
      const open = this.db
        .prepare(
          `SELECT id, created_at FROM review_recommendations WHERE farm = ? AND field = ? AND id != ?
           AND status IN ('pending_review', 'edited')`,
        )
        .all(farm, doc.field, doc.id) as { id: string; created_at: number }[];
      const newer = (a: { id: string; created_at: number }, b: { id: string; created_at: number }) =>
        a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id);
      const self = { id: doc.id, created_at: doc.createdAt };
      const newest = open.filter((o) => newer(o, self)).sort((a, b) => (newer(a, b) ? -1 : 1))[0];
      if (newest) {
        this.supersede(farm, doc.id, newest.id, actx.now);
        continue;
      }
      for (const o of open) this.supersede(farm, o.id, doc.id, actx.now);

      if (policy && policyModelMatches(policy.model, doc) && !over) {
        this.decide(this.row(farm, doc.id)!, AUTO, 'auto_approved', actx.now, {
          note: `auto-approved by the farm's policy: model ${policy.model}, every zone ≤ ${policy.max_kg_n_ha} kg N/ha (set by ${policy.set_by})`,
          extraChanges: [
            { path: '/policy/model', from: null, to: policy.model },
            { path: '/policy/maxKgNHa', from: null, to: policy.max_kg_n_ha },
          ],
        });
      } else {
        const region = this.d.access.farm(farm)?.region ?? null;
        if (
          this.d.webhooks.enqueue(
            'review.requested',
            { farm, region },
            `review.requested:${farm}:${doc.id}`,
            {
              recommendation: doc.id,
              field: doc.field,
              crop: doc.crop,
              model: `${doc.model.id}@${doc.model.version}`,
              createdAt: iso(doc.createdAt),
              areaHa: round(area, 4),
              zones: doc.zones.length,
              nKg: fieldTotals(doc).totals.nKg,
            },
            actx.now,
          ) > 0
        )
          this.d.effects.webhookQueued();
      }
    }
    this.d.effects.flushLater();
  }

  private supersede(farm: string, id: string, by: string, now: number): void {
    const row = this.row(farm, id)!;
    const doc = JSON.parse(row.doc) as Recommendation;
    doc.status = 'superseded';
    doc.history.push({ status: 'superseded', at: now, by: SYSTEM.name, note: `superseded by ${by}` });
    this.db
      .prepare(
        `UPDATE review_recommendations SET status = 'superseded', superseded_by = ?, doc = ?, revision = revision + 1
         WHERE farm = ? AND id = ?`,
      )
      .run(by, JSON.stringify(doc), farm, id);
    appendAudit(this.db, {
      at: now,
      farm,
      recommendation: id,
      actor: SYSTEM.name,
      role: SYSTEM.role,
      action: 'superseded',
      fromStatus: row.status,
      toStatus: 'superseded',
      changes: [{ path: '/status', from: row.status, to: 'superseded' }],
      reason: `a newer recommendation for field ${row.field} arrived: ${by}`,
    });
    this.d.effects.change(farm, 'review', id);
  }

  // -------------------------------------------------------------------------------------------
  // Officers
  // -------------------------------------------------------------------------------------------

  private row(farm: string, id: string): RecRow | undefined {
    return this.db.prepare('SELECT * FROM review_recommendations WHERE farm = ? AND id = ?').get(farm, id) as
      RecRow | undefined;
  }

  private findIn(farms: string[], id: string, status?: ReviewStatus): RecRow {
    const row =
      farms.length === 0
        ? undefined
        : (this.db
            .prepare(
              `SELECT * FROM review_recommendations WHERE id = ? AND farm IN (${inList(farms.length)})
               ${status ? 'AND status = ?' : ''} ORDER BY farm LIMIT 1`,
            )
            .get(id, ...farms, ...(status ? [status] : [])) as RecRow | undefined);
    if (!row) throw new HatakeError('HATAKE_E_NOT_FOUND', `no recommendation "${id.slice(0, 100)}"`);
    return row;
  }

  /** The officer's queue: open recommendations of their farms, oldest day first, larger fields first within a day. */
  queue(
    user: User,
    q: { status?: ReviewStatus | 'open'; farm?: string; limit?: number },
    now = Date.now(),
  ): ReviewQueueItem[] {
    let farms = this.d.access.reviewFarms(user);
    if (q.farm) farms = farms.filter((f) => f === q.farm);
    if (farms.length === 0) return [];
    const statuses = !q.status || q.status === 'open' ? OPEN : [q.status];
    const rows = this.db
      .prepare(
        `SELECT r.*, f.name AS farm_name, f.region AS region, f.timezone AS timezone, fl.name AS field_name
         FROM review_recommendations r
         LEFT JOIN farms f ON f.id = r.farm
         LEFT JOIN fields fl ON fl.farm = r.farm AND fl.id = r.field
         WHERE r.farm IN (${inList(farms.length)}) AND r.status IN (${inList(statuses.length)})
         ORDER BY r.created_at LIMIT 5000`,
      )
      .all(...farms, ...statuses) as (RecRow & {
      farm_name: string | null;
      region: string | null;
      timezone: string | null;
      field_name: string | null;
    })[];
    const items = rows.map((r) => {
      const doc = JSON.parse(r.doc) as Recommendation;
      const rates = doc.zones.map((z) => effectiveRate(z).kgNHa);
      return {
        day: localDay(r.created_at, r.timezone ?? 'Asia/Tokyo'),
        item: {
          id: r.id,
          farm: r.farm,
          farmName: r.farm_name ?? r.farm,
          region: r.region,
          field: r.field,
          fieldName: r.field_name,
          crop: r.crop,
          status: r.status,
          createdAt: iso(r.created_at),
          receivedAt: iso(r.received_at),
          ageHours: round((now - r.created_at) / 3_600_000, 1),
          areaHa: round(r.area_ha, 4),
          zones: doc.zones.length,
          nKg: fieldTotals(doc).totals.nKg,
          maxKgNHa: rates.length ? Math.max(...rates) : 0,
          model: { id: doc.model.id, version: doc.model.version },
          revision: r.revision,
          staleInputs: staleCount(doc, now),
        } satisfies ReviewQueueItem,
      };
    });
    items.sort(
      (a, b) =>
        a.day.localeCompare(b.day) ||
        b.item.areaHa - a.item.areaHa ||
        a.item.createdAt.localeCompare(b.item.createdAt),
    );
    return items.slice(0, q.limit ?? 200).map((x) => x.item);
  }

  /** Everything an officer needs to decide. */
  detail(user: User, id: string, now = Date.now()): ReviewDetail {
    return this.detailOf(this.findIn(this.d.access.reviewFarms(user), id), now);
  }

  /**
   * The stored document, with totals at the rates it applies (a document edited before the
   * totals were kept up to date is read as it is now stored).
   */
  private docOf(row: RecRow): Recommendation {
    return withAppliedTotals(JSON.parse(row.doc) as Recommendation);
  }

  private detailOf(row: RecRow, now: number): ReviewDetail {
    const rec = this.docOf(row);
    const farm = this.d.access.farm(row.farm);
    const field = this.db
      .prepare('SELECT name, crop FROM fields WHERE farm = ? AND id = ?')
      .get(row.farm, row.field) as { name: string; crop: string | null } | undefined;
    const profile = this.d.models.profile(rec);
    const card = this.d.models.card(rec);
    const zones: ReviewZone[] = rec.zones.map((z) => {
      const eff = effectiveRate(z);
      return {
        id: z.id,
        zone: z.zone,
        areaHa: z.areaHa,
        recommended: rateView(z.rate.kgNHa, z.rate.productKgHa),
        applied: rateView(eff.kgNHa, eff.productKgHa),
        clamped: z.rate.clamped,
        edited: z.edited ? { by: z.edited.by, at: iso(z.edited.at), reason: z.edited.reason } : null,
      };
    });
    const policy = this.policyRow(row.farm);
    return {
      id: row.id,
      status: row.status,
      revision: row.revision,
      farm: { id: row.farm, name: farm?.name ?? row.farm, region: farm?.region ?? null },
      field: { id: row.field, name: field?.name ?? null, crop: field?.crop ?? null },
      receivedAt: iso(row.received_at),
      recommendation: rec,
      zones,
      inputs: inputFreshness(rec, now),
      imagery: imageryFreshness(rec),
      model: card,
      limits: profile
        ? {
            profile: `${profile.id}@${profile.version}`,
            minKgNHa: profile.limits.minKgNHa,
            maxKgNHa: profile.limits.maxKgNHa,
            stepKgProductHa: profile.spreader.stepKgProductHa,
            nFraction: profile.fertilizer.nFraction,
          }
        : null,
      economics: {
        recommended: recommendedEconomics(rec),
        applied: appliedEconomics(rec),
        basis: rec.economics.basis,
        cropPriceYenPerKg: rec.economics.cropPriceYenPerKg,
        productPriceYenPerKg: rec.economics.productPriceYenPerKg,
        applicationYenPerHa: rec.economics.applicationYenPerHa,
      },
      audit: auditOf(this.db, row.farm, row.id),
      autoApproval: policy ? policyView(policy) : null,
      supersededBy: row.status === 'superseded' ? row.superseded_by : null,
    };
  }

  private requireOpen(row: RecRow, revision: number | undefined): void {
    if (!OPEN.includes(row.status))
      throw new HatakeError('HATAKE_E_STATE_CONFLICT', `recommendation ${row.id} is already ${row.status}`, {
        expected: 'a recommendation pending review',
      });
    if (revision !== undefined && revision !== row.revision)
      throw new HatakeError(
        'HATAKE_E_STATE_CONFLICT',
        `recommendation ${row.id} changed meanwhile (revision ${row.revision}, not ${revision})`,
        { expected: 'the current revision: reload and decide again' },
      );
  }

  /** Sets zone rates (clamped to the profile, rounded to the spreader step) with a reason. */
  edit(
    user: User,
    id: string,
    body: EditBody,
    now = Date.now(),
  ): {
    review: ReviewDetail;
    zones: {
      zone: string;
      requestedKgNHa: number;
      kgNHa: number;
      productKgHa: number;
      clamped: 'min' | 'max' | null;
    }[];
  } {
    const row = this.findIn(this.d.access.reviewFarms(user), id);
    this.requireOpen(row, body.revision);
    const rec = JSON.parse(row.doc) as Recommendation;
    const profile = this.d.models.requireProfile(rec);
    const byId = new Map(rec.zones.map((z) => [z.id, z]));
    const seen = new Set<string>();
    const changes: AuditChange[] = [];
    const results: {
      zone: string;
      requestedKgNHa: number;
      kgNHa: number;
      productKgHa: number;
      clamped: 'min' | 'max' | null;
    }[] = [];
    body.zones.forEach((e, i) => {
      const z = byId.get(e.zone);
      if (!z)
        throw new HatakeError(
          'HATAKE_E_PAYLOAD_SCHEMA',
          `recommendation has no zone "${e.zone.slice(0, 100)}"`,
          {
            place: { pointer: `/zones/${i}/zone` },
            expected: [...byId.keys()].slice(0, 20).join(', '),
          },
        );
      if (seen.has(e.zone))
        throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `zone "${e.zone}" is edited twice`, {
          place: { pointer: `/zones/${i}/zone` },
        });
      seen.add(e.zone);
      const r = applyRate(e.kgNHa, profile);
      const before = effectiveRate(z);
      results.push({
        zone: z.id,
        requestedKgNHa: e.kgNHa,
        kgNHa: r.kgNHa,
        productKgHa: r.productKgHa,
        clamped: r.clamped,
      });
      if (before.kgNHa === r.kgNHa && before.productKgHa === r.productKgHa) return;
      z.edited = { kgNHa: r.kgNHa, productKgHa: r.productKgHa, by: user.name, at: now, reason: body.reason };
      changes.push(
        { path: zoneRatePath(z.id, 'kgNHa'), from: before.kgNHa, to: r.kgNHa, requested: e.kgNHa },
        { path: zoneRatePath(z.id, 'productKgHa'), from: before.productKgHa, to: r.productKgHa },
      );
    });
    if (changes.length === 0)
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'the edit changes no rate', {
        place: { pointer: '/zones' },
        expected: 'a rate different from the current one',
      });
    rec.status = 'edited';
    rec.history.push({ status: 'edited', at: now, by: user.name, note: body.reason });
    const stored = withAppliedTotals(rec);
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE review_recommendations SET status = 'edited', doc = ?, revision = revision + 1 WHERE farm = ? AND id = ?`,
        )
        .run(JSON.stringify(stored), row.farm, row.id);
      appendAudit(this.db, {
        at: now,
        farm: row.farm,
        recommendation: row.id,
        actor: user.name,
        role: user.role,
        action: 'edited',
        fromStatus: row.status,
        toStatus: 'edited',
        changes: [
          ...(row.status !== 'edited' ? [{ path: '/status', from: row.status, to: 'edited' }] : []),
          ...changes,
        ],
        reason: body.reason,
      });
    })();
    this.d.effects.change(row.farm, 'review', row.id);
    this.d.effects.flush();
    return { review: this.detailOf(this.row(row.farm, row.id)!, now), zones: results };
  }

  /** Approves: farmers see it, the gateways get it. */
  approve(user: User, id: string, body: ApproveBody, now = Date.now()): ReviewDetail {
    const row = this.findIn(this.d.access.reviewFarms(user), id);
    this.requireOpen(row, body.revision);
    this.db.transaction(() =>
      this.decide(row, { name: user.name, role: user.role }, 'approved', now, { note: body.note }),
    )();
    this.d.effects.flush();
    return this.detailOf(this.row(row.farm, row.id)!, now);
  }

  /** Rejects with a reason: farmers never see it; the gateways learn the decision. */
  reject(user: User, id: string, body: RejectBody, now = Date.now()): ReviewDetail {
    const row = this.findIn(this.d.access.reviewFarms(user), id);
    this.requireOpen(row, body.revision);
    this.db.transaction(() =>
      this.decide(row, { name: user.name, role: user.role }, 'rejected', now, { note: body.reason }),
    )();
    this.d.effects.flush();
    return this.detailOf(this.row(row.farm, row.id)!, now);
  }

  /** Records a decision (call inside a transaction) and publishes it down to the farm's gateways. */
  private decide(
    row: RecRow,
    actor: Actor,
    action: 'approved' | 'rejected' | 'auto_approved',
    now: number,
    opts: { note?: string; extraChanges?: AuditChange[] },
  ): void {
    const status: ReviewStatus = action === 'rejected' ? 'rejected' : 'approved';
    // What goes down is what is stored: the totals at the applied (edited) rates.
    const rec = this.docOf(row);
    rec.status = status;
    rec.history.push({ status, at: now, by: actor.name, ...(opts.note ? { note: opts.note } : {}) });
    this.db
      .prepare(
        `UPDATE review_recommendations SET status = ?, doc = ?, revision = revision + 1, decided_by = ?, decided_at = ?, auto_approved = ?
         WHERE farm = ? AND id = ?`,
      )
      .run(
        status,
        JSON.stringify(rec),
        actor.name,
        now,
        action === 'auto_approved' ? 1 : 0,
        row.farm,
        row.id,
      );
    appendAudit(this.db, {
      at: now,
      farm: row.farm,
      recommendation: row.id,
      actor: actor.name,
      role: actor.role,
      action,
      fromStatus: row.status,
      toStatus: status,
      changes: [{ path: '/status', from: row.status, to: status }, ...(opts.extraChanges ?? [])],
      reason: opts.note ?? null,
    });
    this.d.downlink.publish(row.farm, 'recommendation', row.id, rec);
    if (status === 'approved') {
      const region = this.d.access.farm(row.farm)?.region ?? null;
      const applied = fieldTotals(rec).totals;
      const queued = this.d.webhooks.enqueue(
        'recommendation.approved',
        { farm: row.farm, region },
        `recommendation.approved:${row.farm}:${row.id}`,
        {
          recommendation: row.id,
          field: rec.field,
          crop: rec.crop,
          approvedBy: actor.name,
          autoApproved: action === 'auto_approved',
          nKg: applied.nKg,
          areaHa: applied.areaHa,
        },
        now,
      );
      if (queued > 0) this.d.effects.webhookQueued();
      this.d.effects.change(row.farm, 'recommendation', row.id);
      const field = this.db
        .prepare('SELECT name FROM fields WHERE farm = ? AND id = ?')
        .get(row.farm, rec.field) as { name: string } | undefined;
      const tip = prescriptionTip(rec, {
        fieldName: field?.name ?? null,
        approvedBy: action === 'auto_approved' ? null : actor.name,
        now,
      });
      this.d.tips.store(row.farm, tip, 'server', now);
      // The field's earlier approved prescriptions are replaced by this one: their tips stop
      // telling the farmer to spread them.
      const older = this.db
        .prepare(
          `SELECT id FROM review_recommendations WHERE farm = ? AND field = ? AND status = 'approved' AND created_at < ? AND id != ?`,
        )
        .all(row.farm, row.field, row.created_at, row.id) as { id: string }[];
      this.d.tips.supersedeKeys(
        row.farm,
        older.map((o) => prescriptionKey(row.farm, o.id)),
        tip.id,
        now,
      );
    }
    this.d.effects.change(row.farm, 'review', row.id);
  }

  // -------------------------------------------------------------------------------------------
  // Farmers: approved recommendations only
  // -------------------------------------------------------------------------------------------

  /** Approved recommendations of the caller's farms, newest decision first. */
  approvedList(user: User, q: { farm?: string; field?: string }): ApprovedRecommendation[] {
    let farms = this.d.access.approvedFarms(user);
    if (q.farm) farms = farms.filter((f) => f === q.farm);
    if (farms.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT * FROM review_recommendations WHERE status = 'approved' AND farm IN (${inList(farms.length)})
         ${q.field ? 'AND field = ?' : ''} ORDER BY decided_at DESC LIMIT 500`,
      )
      .all(...farms, ...(q.field ? [q.field] : [])) as RecRow[];
    return rows.map((r) => approvedView(r, this.replacedBy(r)));
  }

  /** The newest approved recommendation of the same field made after this one, if any. */
  private replacedBy(r: RecRow): string | null {
    const newer = this.db
      .prepare(
        `SELECT id FROM review_recommendations WHERE farm = ? AND field = ? AND status = 'approved' AND created_at > ?
         ORDER BY created_at DESC LIMIT 1`,
      )
      .get(r.farm, r.field, r.created_at) as { id: string } | undefined;
    return newer?.id ?? null;
  }

  /** One approved recommendation with its full document (zones with geometry). */
  approvedDetail(user: User, id: string): ApprovedRecommendation & { recommendation: Recommendation } {
    const row = this.findIn(this.d.access.approvedFarms(user), id, 'approved');
    return { ...approvedView(row, this.replacedBy(row)), recommendation: this.docOf(row) };
  }

  /** The approved document a prescription is made from. */
  approvedDoc(user: User, id: string): Recommendation {
    return this.docOf(this.findIn(this.d.access.approvedFarms(user), id, 'approved'));
  }

  // -------------------------------------------------------------------------------------------
  // Auto-approval policy
  // -------------------------------------------------------------------------------------------

  private policyRow(farm: string): PolicyRow | undefined {
    return this.db.prepare('SELECT * FROM review_auto_approval WHERE farm = ?').get(farm) as
      PolicyRow | undefined;
  }

  /** Who may see and change a farm's policy: its farmer, the officers of its region, admins. */
  private requirePolicyAccess(user: User, farm: string): void {
    this.d.access.requireVisible(user, farm);
    if (user.role === 'partner')
      throw new HatakeError('HATAKE_E_FORBIDDEN', 'IT partners do not manage fertilization reviews');
  }

  policy(user: User, farm: string): AutoApprovalPolicy | null {
    this.requirePolicyAccess(user, farm);
    const p = this.policyRow(farm);
    return p ? policyView(p) : null;
  }

  /** Opts a farm in to auto-approval for a model under a rate ceiling (logged in the audit). */
  setPolicy(user: User, farm: string, body: AutoApprovalBody, now = Date.now()): AutoApprovalPolicy {
    this.requirePolicyAccess(user, farm);
    const old = this.policyRow(farm);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO review_auto_approval (farm, model, max_kg_n_ha, set_by, set_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(farm) DO UPDATE SET model = excluded.model, max_kg_n_ha = excluded.max_kg_n_ha,
             set_by = excluded.set_by, set_at = excluded.set_at`,
        )
        .run(farm, body.model, body.maxKgNHa, user.name, now);
      appendAudit(this.db, {
        at: now,
        farm,
        recommendation: null,
        actor: user.name,
        role: user.role,
        action: 'policy_set',
        fromStatus: null,
        toStatus: null,
        changes: [
          { path: '/policy/model', from: old?.model ?? null, to: body.model },
          { path: '/policy/maxKgNHa', from: old?.max_kg_n_ha ?? null, to: body.maxKgNHa },
        ],
        reason: body.reason ?? null,
      });
    })();
    this.d.effects.change(farm, 'auto_approval', farm);
    this.d.effects.flush();
    return policyView(this.policyRow(farm)!);
  }

  /** Opts a farm out of auto-approval (logged in the audit). */
  removePolicy(user: User, farm: string, now = Date.now()): void {
    this.requirePolicyAccess(user, farm);
    const old = this.policyRow(farm);
    if (!old) throw new HatakeError('HATAKE_E_NOT_FOUND', `farm ${farm} has no auto-approval policy`);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM review_auto_approval WHERE farm = ?').run(farm);
      appendAudit(this.db, {
        at: now,
        farm,
        recommendation: null,
        actor: user.name,
        role: user.role,
        action: 'policy_removed',
        fromStatus: null,
        toStatus: null,
        changes: [
          { path: '/policy/model', from: old.model, to: null },
          { path: '/policy/maxKgNHa', from: old.max_kg_n_ha, to: null },
        ],
        reason: null,
      });
    })();
    this.d.effects.change(farm, 'auto_approval', farm);
    this.d.effects.flush();
  }

  /**
   * What the CSV export names of a recommendation in the audit: its field (id and the name the
   * farm's manifest gives it), crop, model and each zone's number.
   */
  describe(
    farm: string,
    id: string,
  ):
    | { field: string; fieldName: string | null; crop: string; model: string; zones: Record<string, number> }
    | undefined {
    const r = this.db
      .prepare(
        `SELECT r.field, r.crop, r.model, fl.name AS field_name,
           (SELECT json_group_object(json_extract(z.value, '$.id'), json_extract(z.value, '$.zone'))
            FROM json_each(r.doc, '$.zones') AS z) AS zones
         FROM review_recommendations r LEFT JOIN fields fl ON fl.farm = r.farm AND fl.id = r.field
         WHERE r.farm = ? AND r.id = ?`,
      )
      .get(farm, id) as
      { field: string; crop: string; model: string; field_name: string | null; zones: string } | undefined;
    return r
      ? {
          field: r.field,
          fieldName: r.field_name,
          crop: r.crop,
          model: r.model,
          zones: JSON.parse(r.zones) as Record<string, number>,
        }
      : undefined;
  }
}

/**
 * How many of what a recommendation was computed from were stale when it was made, with the
 * detail's own freshness (inputFreshness, imageryFreshness): the scene once — however many of its
 * indices the model read, zone by zone — and every other stale input once by name.
 */
export function staleCount(rec: Recommendation, now: number): number {
  const stale = inputFreshness(rec, now).filter((i) => i.stale);
  const names = new Set(stale.filter((i) => i.category !== 'imagery').map((i) => i.name));
  const scene = imageryFreshness(rec).stale || stale.some((i) => i.category === 'imagery');
  return names.size + (scene ? 1 : 0);
}

function policyView(p: PolicyRow): AutoApprovalPolicy {
  return { farm: p.farm, model: p.model, maxKgNHa: p.max_kg_n_ha, setBy: p.set_by, setAt: iso(p.set_at) };
}

function approvedView(r: RecRow, replacedBy: string | null): ApprovedRecommendation {
  const rec = JSON.parse(r.doc) as Recommendation;
  const totals = fieldTotals(rec).totals;
  const zones = rec.zones.map((z) => {
    const eff = effectiveRate(z);
    return {
      id: z.id,
      zone: z.zone,
      areaHa: z.areaHa,
      rate: rateView(eff.kgNHa, eff.productKgHa),
      edited: z.edited !== undefined,
      reason: z.edited?.reason ?? null,
    };
  });
  const base = `/api/v1/recommendations/${encodeURIComponent(r.id)}/prescription`;
  return {
    id: r.id,
    farm: r.farm,
    field: r.field,
    crop: r.crop,
    createdAt: iso(r.created_at),
    imageAcquired: rec.imagery.acquired === null ? null : iso(rec.imagery.acquired),
    approvedAt: iso(r.decided_at ?? r.created_at),
    approvedBy: r.decided_by ?? '',
    autoApproved: r.auto_approved === 1,
    model: `${rec.model.id}@${rec.model.version}`,
    profile: `${rec.profile.id}@${rec.profile.version}`,
    replacedBy,
    product: { id: rec.product.id, name: rec.product.name },
    totals: { areaHa: totals.areaHa, nKg: totals.nKg, productKg: totals.productKg },
    zones,
    downloads: {
      isoxml: `${base}/isoxml`,
      shp: `${base}/shp`,
      geojson: `${base}/geojson`,
      csv: `${base}/csv`,
    },
  };
}
