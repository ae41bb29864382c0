// Automations on the server: a farmer writes one (or makes one from a tip), the server checks it
// against the farm's devices and their kits — the sensor must measure the metric in a range the
// kit can report, the actuator's kit must have the command with parameters inside its limits,
// nothing may point at another farm's device — and publishes every change down to the farm's
// gateways, which run it offline within its safety limits. Also: manual overrides of an actuator
// (published down too) and the automations' logs that come back by sync. Each automation says
// what the farm's gateways did with its current version (applied, refused and why, or not yet),
// from the downlink reports they sync: the server's check passing does not mean a gateway whose
// devices or kits differ can run it. A synced log saying the gateway gave up closing a valve that
// never reported closed raises the server's own critical tip (`valve_not_closed`), pushed like any
// new tip, and the valve's report that it closed again clears it.
import { randomBytes } from 'node:crypto';
import { HatakeError, isHatakeError, type ErrorCode } from '../../protocol/errors.ts';
import {
  Automation,
  type ActuatorCommand,
  type AutomationLog,
  type AutomationWithdrawn,
  type ManualOverride,
} from '../../protocol/automation.ts';
import {
  OverrideBody,
  type AutomationCreate,
  type AutomationLogView,
  type AutomationOnGateway,
  type AutomationUpdate,
  type AutomationView,
  type OverrideView,
} from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { isId } from '../../protocol/ids.ts';
import type { Kit } from '../../protocol/kit.ts';
import type { Tip } from '../../protocol/tip.ts';
import { tipId } from '../../edge/rules/lifecycle.ts';
import type { Db } from '../../runtime/sqlite.ts';
import type { Catalogue } from '../../firmware-config/catalogue.ts';
import { encodeCommand } from '../../firmware-config/commands.ts';
import type { User } from '../auth.ts';
import type { Downlink } from '../downlink.ts';
import type { ApplyContext } from '../sync-appliers.ts';
import { inList, type Access } from './access.ts';
import type { Effects } from './effects.ts';

export const MAX_AUTOMATIONS_PER_FARM = 200;
/** Logs kept per automation; older ones go first. */
export const MAX_LOGS_PER_AUTOMATION = 10_000;
const automationValidator = validator(Automation);
/** The longest override (OverrideBody, and the gateway page's limit): 7 days. */
const MAX_OVERRIDE_MS = (OverrideBody.properties.minutes.maximum ?? 10_080) * 60_000;
const DAY_MS = 86_400_000;
/** The automation the gateway logs an actuator's events under when none commands it (OVERRIDE_OWNER). */
const MANUAL_OWNER = 'manual';

interface AutomationRow {
  id: string;
  farm: string;
  version: number;
  enabled: number;
  doc: string;
  created_by: string;
  created_at: number;
  updated_by: string;
  updated_at: number;
  deleted: number;
}

interface Problem {
  pointer: string;
  message: string;
  expected?: string;
  code?: ErrorCode;
}

/** The fields of an automation a person writes (everything but ids, versions and authorship). */
export type AutomationDraft = Omit<AutomationCreate, 'farm'> & { fromTip?: string };

export interface AutomationDeps {
  db: Db;
  access: Access;
  catalogue: Catalogue;
  downlink: Downlink;
  effects: Effects;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * Where the server's own tips go: the farm's tips (dashboard/review/tips.ts), which register
 * themselves here when they are made (they are made after the automations, which they use).
 */
export interface ServerTips {
  /** Stores a tip (inside the caller's transaction): de-duplicated by key, announced when it is news. */
  store(farm: string, tip: Tip, source: string, now: number): void;
  /** Marks the farm's live tips of `dedupKey` raised at or before `at` as cleared: their condition ended. */
  clearKey(farm: string, dedupKey: string, at: number): void;
}

/** How long the tip about a valve that never reported closed stays listed, unless it reports closed sooner. */
export const VALVE_TIP_DAYS = 7;

/** One tip per stuck valve: a fault is one condition, however many runs or automations ran into it. */
export const valveTipKey = (farm: string, device: string) => `valve_not_closed:${farm}:${device}`;

/**
 * The gateway gave up closing the actuator: it never reported closed after the close and its retries
 * (gateway/automations/run.ts — the only critical log; its fault stays until the valve reports
 * closed), so water may still be flowing. Not a give-up on an opening (severity warning: the gateway
 * then closes, and only that close failing is this) nor a safety stop at the maximum open time (a
 * close that is sent, and ends here only if it is never confirmed).
 */
export function valveNeverClosed(l: AutomationLog): boolean {
  return (
    l.event === 'gave_up' &&
    l.device !== undefined &&
    (l.detail?.severity === 'critical' || l.detail?.reason === 'never_reported_closed')
  );
}

/** The valve reported closed again after a give-up: the gateway cleared its fault. */
const faultCleared = (l: AutomationLog) =>
  l.event === 'closed' && l.device !== undefined && l.detail?.reason === 'fault_cleared';

interface StuckValve {
  farm: string;
  device: string;
  deviceName: string | null;
  field: string | null;
  fieldName: string | null;
  /** The automation the log is under; null for `manual` (a manual hold) or one the server does not know. */
  automation: { id: string; name: { ja: string; en: string }; maxOpenMinutes: number } | null;
  log: AutomationLog;
  now: number;
}

/** The farmer's tip for a valve the gateway could not confirm closed: check it on site. */
export function valveNotClosedTip(v: StuckValve): Tip {
  const key = valveTipKey(v.farm, v.device);
  const created = Math.min(v.log.time, v.now);
  const attempts = typeof v.log.detail?.attempts === 'number' ? v.log.detail.attempts : null;
  const safety = v.log.detail?.closeReason === 'safety' && v.automation ? v.automation.maxOpenMinutes : null;
  const name = v.deviceName ?? v.device;
  const label = {
    ja: v.fieldName ? `${v.fieldName}の${name}` : name,
    en: v.fieldName ? `${name} (${v.fieldName})` : name,
  };
  const a = v.automation && {
    ja: v.automation.name.ja.trim() || v.automation.name.en,
    en: v.automation.name.en.trim() || v.automation.name.ja,
  };
  const times = {
    ja: attempts === null ? '' : `${attempts}回`,
    en: attempts === null ? '' : ` ${attempts} times`,
  };
  return {
    id: tipId(key, created, 'new', 'severe'),
    kind: 'valve_not_closed',
    severity: 'severe',
    farm: v.farm,
    ...(v.field && isId(v.field) ? { field: v.field } : {}),
    devices: [v.device],
    title: {
      ja: `${label.ja}が閉まったことを確認できません`.slice(0, 200),
      en: `Cannot confirm that ${label.en} closed`.slice(0, 200),
    },
    text: {
      ja: (
        `${a ? `自動制御「${a.ja}」` : 'ゲートウェイ'}が${safety === null ? '' : `最大開放時間の${safety}分に達したため、`}` +
        `${label.ja}に閉じる指示を${times.ja}送りましたが、閉まったという報告が届きません。` +
        '水が出続けているかもしれません。現地で確認し、開いていれば手で閉めてください。' +
        '閉まったと報告されれば、この通知は消えます。'
      ).slice(0, 2000),
      en: (
        `${a ? `The automation "${a.en}"` : 'The gateway'} sent ${label.en} the close command${times.en}` +
        `${safety === null ? '' : ` when it reached its maximum open time of ${safety} min`}, but no report says it closed. ` +
        'Water may still be flowing: check it on site and close it by hand if it is open. ' +
        'This tip clears when the valve reports closed.'
      ).slice(0, 2000),
    },
    evidence: {
      rule: {
        id: 'automation-valve',
        version: '1.0.0',
        params: v.automation?.id ?? (v.log.automation || 'manual'),
      },
      sources: [
        {
          citation:
            'hatake gateway automation engine: a close not confirmed after its retries ends the run with a critical log and a fault on the actuator (docs/automations.md, "A run")',
        },
      ],
      points: [],
      thresholds: [],
      quantities: [
        ...(attempts === null ? [] : [{ name: 'close_attempts', value: attempts, unit: '' }]),
        ...(safety === null ? [] : [{ name: 'max_open_minutes', value: safety, unit: 'min' }]),
      ],
    },
    action: { type: 'valve', device: v.device, command: 'close' },
    created,
    expires: Math.max(created, v.now) + VALVE_TIP_DAYS * DAY_MS,
    dedupKey: key,
    reason: 'new',
  };
}

/** A gateway's downlink_applied / downlink_refused event about an automation. */
interface Report {
  gateway: string;
  type: 'downlink_applied' | 'downlink_refused';
  time: number;
  message: string;
  detail: string | null;
}

/** The longest refusal reason shown (a gateway's message is longer only when something is wrong). */
const REASON_MAX = 500;

/**
 * A gateway's refusal in its words: the detail's `reason` if it gave one, else its message without
 * the "refused automation <id> v<n>: " it starts with (gateway/downlink-client.ts).
 */
function reasonOf(message: string, detail: string | null): string {
  let reason: string | undefined;
  try {
    const r = (JSON.parse(detail ?? 'null') as { reason?: unknown } | null)?.reason;
    if (typeof r === 'string' && r.trim()) reason = r;
  } catch {
    // the message below says it
  }
  reason ??= message.replace(/^refused \S+ \S+ v\d+: /, '');
  return reason.length > REASON_MAX ? `${reason.slice(0, REASON_MAX - 1)}…` : reason;
}

export class Automations {
  private readonly d: AutomationDeps;
  private tips: ServerTips | undefined;
  /** The farm-wide downlink version the automation's current document went down as. */
  private readonly sentAs: (farm: string, id: string) => { version: number } | undefined;
  /** The reports of the farm's gateways (not revoked) about one downlink version of it, newest first. */
  private readonly reportsOf: (farm: string, id: string, version: number) => Report[];

  constructor(deps: AutomationDeps) {
    this.d = deps;
    // The automation's current document went down as this farm-wide downlink version…
    const sentAs = deps.db.prepare(
      "SELECT version FROM downlink WHERE farm = ? AND kind = 'automation' AND id = ?",
    );
    this.sentAs = (farm, id) => sentAs.get(farm, id) as { version: number } | undefined;
    // …and the gateways (not revoked) say what they did with that version, newest first (two of a
    // gateway's in the same millisecond: the one stored last, as dashboard/partner/health.ts). The
    // type and json_valid terms are those of the index events_downlink_by_doc (dashboard/db.ts),
    // so it is used.
    const reportsOf = deps.db.prepare(
      `SELECT e.gateway, e.type, e.time, e.message, e.detail FROM events e
         JOIN gateways g ON g.id = e.gateway AND g.revoked IS NULL
       WHERE e.farm = ? AND e.type IN ('downlink_applied', 'downlink_refused') AND json_valid(e.detail)
         AND json_extract(e.detail, '$.kind') = 'automation' AND json_extract(e.detail, '$.id') = ?
         AND json_extract(e.detail, '$.version') = ?
       ORDER BY e.time DESC, e.rowid DESC`,
    );
    this.reportsOf = (farm, id, version) => reportsOf.all(farm, id, version) as Report[];
  }

  private get db(): Db {
    return this.d.db;
  }

  /** Where a synced log about a valve that never reported closed raises its tip (the farm's tips). */
  setTips(tips: ServerTips): void {
    this.tips = tips;
  }

  /** The farm's devices with their kits (null when the kit is not in the catalogue). */
  devicesOf(
    farm: string,
  ): Map<string, { id: string; field: string | null; kit: Kit | null; kitId: string | null }> {
    const rows = this.db.prepare('SELECT id, field, kit FROM devices WHERE farm = ?').all(farm) as {
      id: string;
      field: string | null;
      kit: string | null;
    }[];
    return new Map(
      rows.map((r) => [
        r.id,
        { id: r.id, field: r.field, kitId: r.kit, kit: r.kit ? (this.d.catalogue.get(r.kit) ?? null) : null },
      ]),
    );
  }

  /** Actuators of a farm: devices whose kit takes commands. */
  actuatorsOf(farm: string): { id: string; field: string | null; kit: Kit }[] {
    return [...this.devicesOf(farm).values()]
      .filter((d) => d.kit && Object.keys(d.kit.commands ?? {}).length > 0)
      .map((d) => ({ id: d.id, field: d.field, kit: d.kit! }));
  }

  /** Every problem of a draft against the farm's devices and kits; throws the first three. */
  check(farm: string, a: AutomationDraft): void {
    const problems: Problem[] = [];
    const devices = this.devicesOf(farm);
    if (!a.name.ja.trim() && !a.name.en.trim())
      problems.push({
        pointer: '/name',
        message: 'name is empty',
        expected: 'a name in Japanese or English',
      });
    if (a.field && !this.db.prepare('SELECT 1 FROM fields WHERE farm = ? AND id = ?').get(farm, a.field))
      problems.push({ pointer: '/field', message: `no field "${a.field}" on this farm` });

    const t = a.trigger;
    const sensor = devices.get(t.device);
    if (!sensor) {
      problems.push({ pointer: '/trigger/device', message: `no device "${t.device}" on this farm` });
    } else if (!sensor.kit) {
      problems.push({
        pointer: '/trigger/device',
        message: `device "${t.device}" has no kit the server knows (${sensor.kitId ?? 'none'})`,
      });
    } else {
      const m = Object.hasOwn(sensor.kit.metrics, t.metric) ? sensor.kit.metrics[t.metric] : undefined;
      if (!m) {
        problems.push({
          pointer: '/trigger/metric',
          message: `kit "${sensor.kit.id}" does not measure "${t.metric}"`,
          expected: Object.keys(sensor.kit.metrics).join(', '),
        });
      } else {
        const range = `${m.min}…${m.max} ${m.unit}`;
        const inRange = (v: number) => v >= m.min && v <= m.max;
        if (t.kind === 'threshold' && !inRange(t.value))
          problems.push({
            pointer: '/trigger/value',
            message: `${t.value} is outside what ${t.metric} can read`,
            expected: range,
          });
        if (t.kind === 'band') {
          if (!inRange(t.low))
            problems.push({
              pointer: '/trigger/low',
              message: `${t.low} is outside ${t.metric}`,
              expected: range,
            });
          if (!inRange(t.high))
            problems.push({
              pointer: '/trigger/high',
              message: `${t.high} is outside ${t.metric}`,
              expected: range,
            });
          if (!(t.low < t.high))
            problems.push({
              pointer: '/trigger/low',
              message: 'low must be below high',
              expected: 'low < high',
            });
        }
      }
    }

    const commands: [string, ActuatorCommand][] = [];
    if (t.kind === 'threshold') {
      if (!a.action) problems.push({ pointer: '/action', message: 'a threshold automation needs an action' });
      else commands.push(['/action', a.action]);
      for (const k of ['below', 'above'] as const)
        if (a[k])
          problems.push({
            pointer: `/${k}`,
            message: `${k} is only for band automations`,
            expected: 'action',
          });
    } else {
      if (a.action)
        problems.push({ pointer: '/action', message: 'a band automation uses below/above, not action' });
      if (!a.below && !a.above)
        problems.push({ pointer: '/below', message: 'a band automation needs below or above (or both)' });
      if (a.below) commands.push(['/below', a.below]);
      if (a.above) commands.push(['/above', a.above]);
    }
    for (const [path, c] of commands) {
      const dev = devices.get(c.device);
      if (!dev) {
        problems.push({ pointer: `${path}/device`, message: `no device "${c.device}" on this farm` });
        continue;
      }
      if (!dev.kit || Object.keys(dev.kit.commands ?? {}).length === 0) {
        problems.push({
          pointer: `${path}/device`,
          message: `device "${c.device}" (${dev.kitId ?? 'no kit'}) takes no commands`,
          expected:
            this.actuatorsOf(farm)
              .map((x) => x.id)
              .join(', ') || 'an actuator such as a water gate',
        });
        continue;
      }
      try {
        encodeCommand(dev.kit, c.command, c.params ?? {});
      } catch (e) {
        if (!isHatakeError(e)) throw e;
        problems.push({
          pointer:
            e.code === 'HATAKE_E_UNKNOWN_COMMAND'
              ? `${path}/command`
              : `${path}/params${e.place?.pointer ?? ''}`,
          message: e.message,
          expected: e.expected,
          code: e.code,
        });
        continue;
      }
      const minutes = c.params?.minutes;
      if (minutes !== undefined && minutes > a.limits.maxOpenMinutes)
        problems.push({
          pointer: `${path}/params/minutes`,
          message: `opening for ${minutes} min exceeds the safety bound maxOpenMinutes ${a.limits.maxOpenMinutes}`,
          expected: `at most ${a.limits.maxOpenMinutes}`,
        });
    }
    const q = a.limits.quietHours;
    if (q && q.from === q.to)
      problems.push({
        pointer: '/limits/quietHours',
        message: `quiet hours from ${q.from} to ${q.to} are empty or the whole day`,
        expected: 'two different times, e.g. 22:00–05:00',
      });
    if (problems.length === 0) return;
    const first = problems[0]!;
    throw new HatakeError(
      first.code ?? 'HATAKE_E_AUTOMATION',
      problems
        .slice(0, 3)
        .map((p) => `${p.pointer}: ${p.message}`)
        .join('; '),
      { place: { pointer: first.pointer }, ...(first.expected ? { expected: first.expected } : {}) },
    );
  }

  private row(id: string): AutomationRow | undefined {
    return this.db.prepare('SELECT * FROM automations WHERE id = ? AND deleted = 0').get(id) as
      AutomationRow | undefined;
  }

  /** An automation the user may see, or a 404. */
  private visibleRow(user: User, id: string): AutomationRow {
    const r = this.row(id);
    if (!r || !this.d.access.visible(user).includes(r.farm))
      throw new HatakeError('HATAKE_E_NOT_FOUND', `no automation "${id.slice(0, 64)}"`);
    return r;
  }

  private view(r: AutomationRow): AutomationView {
    return {
      ...(JSON.parse(r.doc) as Automation),
      updatedAt: iso(r.updated_at),
      updatedBy: r.updated_by,
      onGateway: this.onGateway(r),
    };
  }

  /**
   * What the farm's gateways did with the automation's current version, each gateway by its newest
   * report (one that refused it applies it once its devices change, gateway/downlink-apply.ts
   * automationKeeper): refused if a gateway's newest refuses it (the newest such, with its reason),
   * else applied if one applied it, else pending.
   */
  onGateway(r: Pick<AutomationRow, 'id' | 'farm' | 'version'>): AutomationOnGateway {
    const pending: AutomationOnGateway = { state: 'pending', version: r.version };
    const sent = this.sentAs(r.farm, r.id);
    if (!sent) return pending;
    // Each gateway's newest report, newest first.
    const newest = new Map<string, Report>();
    for (const e of this.reportsOf(r.farm, r.id, sent.version))
      if (!newest.has(e.gateway)) newest.set(e.gateway, e);
    const reports = [...newest.values()];
    const refused = reports.find((e) => e.type === 'downlink_refused');
    if (refused)
      return {
        state: 'refused',
        version: r.version,
        reason: reasonOf(refused.message, refused.detail),
        gateway: refused.gateway,
        at: iso(refused.time),
      };
    const applied = reports[0];
    if (applied)
      return { state: 'applied', version: r.version, gateway: applied.gateway, at: iso(applied.time) };
    return pending;
  }

  list(user: User, farm?: string): AutomationView[] {
    let farms = this.d.access.visible(user);
    if (farm) farms = farms.filter((f) => f === farm);
    if (farms.length === 0) return [];
    return (
      this.db
        .prepare(
          `SELECT * FROM automations WHERE deleted = 0 AND farm IN (${inList(farms.length)}) ORDER BY created_at`,
        )
        .all(...farms) as AutomationRow[]
    ).map((r) => this.view(r));
  }

  get(user: User, id: string): AutomationView {
    return this.view(this.visibleRow(user, id));
  }

  /** Creates an automation (call inside a transaction when combined with other changes). */
  create(user: User, input: AutomationCreate & { fromTip?: string }, now = Date.now()): AutomationView {
    const { farm, ...draft } = input;
    this.d.access.requireManage(user, farm);
    this.check(farm, draft);
    const count = (
      this.db.prepare('SELECT COUNT(*) AS n FROM automations WHERE farm = ? AND deleted = 0').get(farm) as {
        n: number;
      }
    ).n;
    if (count >= MAX_AUTOMATIONS_PER_FARM)
      throw new HatakeError(
        'HATAKE_E_AUTOMATION',
        `a farm has at most ${MAX_AUTOMATIONS_PER_FARM} automations`,
      );
    const id = `aut-${randomBytes(8).toString('hex')}`;
    const doc = this.document(id, farm, 1, draft, user.name, now);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO automations (id, farm, version, enabled, doc, created_by, created_at, updated_by, updated_at)
           VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, farm, doc.enabled ? 1 : 0, JSON.stringify(doc), user.name, now, user.name, now);
      this.d.downlink.publish(farm, 'automation', id, doc);
    })();
    this.d.effects.change(farm, 'automation', id);
    this.d.effects.flush();
    return this.view(this.row(id)!);
  }

  private document(
    id: string,
    farm: string,
    version: number,
    a: AutomationDraft,
    createdBy: string,
    createdAt: number,
  ): Automation {
    const doc: Automation = {
      id,
      farm,
      ...(a.field ? { field: a.field } : {}),
      name: { ja: a.name.ja.trim(), en: a.name.en.trim() },
      enabled: a.enabled,
      version,
      trigger: a.trigger,
      ...(a.action ? { action: a.action } : {}),
      ...(a.below ? { below: a.below } : {}),
      ...(a.above ? { above: a.above } : {}),
      limits: a.limits,
      ...(a.fromTip ? { fromTip: a.fromTip } : {}),
      createdBy: createdBy.slice(0, 64),
      createdAt,
    };
    // The document the gateway gets must satisfy the contract exactly.
    return automationValidator.parse(doc, 'automation', 'HATAKE_E_AUTOMATION');
  }

  /** Replaces an automation; `version` must be the current one. */
  update(user: User, id: string, input: AutomationUpdate, now = Date.now()): AutomationView {
    const r = this.visibleRow(user, id);
    this.d.access.requireManage(user, r.farm);
    if (input.version !== r.version)
      throw new HatakeError(
        'HATAKE_E_STATE_CONFLICT',
        `automation ${id} is at version ${r.version}, not ${input.version}`,
        { expected: 'the current version: reload and edit again' },
      );
    const { version: _v, ...draft } = input;
    const old = JSON.parse(r.doc) as Automation;
    this.check(r.farm, draft);
    const doc = this.document(
      id,
      r.farm,
      r.version + 1,
      { ...draft, ...(old.fromTip ? { fromTip: old.fromTip } : {}) },
      old.createdBy,
      old.createdAt,
    );
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE automations SET version = ?, enabled = ?, doc = ?, updated_by = ?, updated_at = ? WHERE id = ? AND version = ?`,
        )
        .run(doc.version, doc.enabled ? 1 : 0, JSON.stringify(doc), user.name, now, id, r.version);
      this.d.downlink.publish(r.farm, 'automation', id, doc);
    })();
    this.d.effects.change(r.farm, 'automation', id);
    this.d.effects.flush();
    return this.view(this.row(id)!);
  }

  /** Deletes an automation and tells the gateways to drop it. */
  delete(user: User, id: string, now = Date.now()): void {
    const r = this.visibleRow(user, id);
    this.d.access.requireManage(user, r.farm);
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE automations SET deleted = 1, updated_by = ?, updated_at = ? WHERE id = ?')
        .run(user.name, now, id);
      const withdrawn: AutomationWithdrawn = { id, farm: r.farm, deleted: true };
      this.d.downlink.publish(r.farm, 'automation', id, withdrawn, { deleted: true });
    })();
    this.d.effects.change(r.farm, 'automation', id);
    this.d.effects.flush();
  }

  // -------------------------------------------------------------------------------------------
  // Logs
  // -------------------------------------------------------------------------------------------

  /** Stores synced automation logs (inside the sync transaction); a resend is a no-op. */
  applyLogs(actx: ApplyContext, logs: AutomationLog[]): void {
    const farm = actx.gateway.farm;
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO automation_logs (farm, id, automation, time, event, device, message, text, detail, gateway, received)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const touched = new Set<string>();
    const overrides = new Set<string>();
    /** Newly stored: gave up closing a valve, and a valve reporting closed again. */
    const stuck: AutomationLog[] = [];
    const unstuck: AutomationLog[] = [];
    for (const l of logs) {
      const r = insert.run(
        farm,
        l.id,
        l.automation,
        l.time,
        l.event,
        l.device ?? null,
        l.message,
        l.text ? JSON.stringify(l.text) : null,
        l.detail ? JSON.stringify(l.detail) : null,
        actx.gateway.id,
        actx.now,
      );
      if (r.changes === 0) continue;
      touched.add(l.automation);
      // The farm's overrides read these (overrides()): an override set or ended on the gateway
      // changes them as one set from the dashboard does.
      if (l.device && (l.event === 'override_set' || l.event === 'override_cleared')) overrides.add(l.device);
      if (valveNeverClosed(l)) stuck.push(l);
      else if (faultCleared(l)) unstuck.push(l);
    }
    this.valveTips(actx, stuck, unstuck);
    const prune = this.db.prepare(
      `DELETE FROM automation_logs WHERE farm = ? AND automation = ? AND id IN (
         SELECT id FROM automation_logs WHERE farm = ? AND automation = ? ORDER BY time DESC LIMIT -1 OFFSET ?)`,
    );
    for (const a of touched) {
      prune.run(farm, a, farm, a, MAX_LOGS_PER_AUTOMATION);
      this.d.effects.change(farm, 'automation_log', a);
    }
    for (const device of overrides) this.d.effects.change(farm, 'override', device);
    this.d.effects.flushLater();
  }

  /**
   * A valve the gateway gave up closing raises a critical tip for the farm (once per fault: a
   * resent log is not stored again, and the same give-up logged under each automation of the valve
   * is one tip), unless the valve has already reported closed since; its report that it closed
   * clears the tip. Inside the sync transaction.
   */
  private valveTips(actx: ApplyContext, stuck: AutomationLog[], unstuck: AutomationLog[]): void {
    const tips = this.tips;
    if (!tips || stuck.length + unstuck.length === 0) return;
    const farm = actx.gateway.farm;
    const closedSince = this.db.prepare(
      `SELECT 1 FROM automation_logs WHERE farm = ? AND device = ? AND event = 'closed' AND time >= ?
         AND json_extract(detail, '$.reason') = 'fault_cleared' LIMIT 1`,
    );
    for (const l of [...stuck].sort((a, b) => a.time - b.time || a.id.localeCompare(b.id))) {
      const device = l.device!;
      if (closedSince.get(farm, device, l.time)) continue; // closed again: no water is flowing now
      const d = this.db
        .prepare('SELECT name, field FROM devices WHERE farm = ? AND id = ?')
        .get(farm, device) as { name: string | null; field: string | null } | undefined;
      const r = this.db
        .prepare('SELECT doc FROM automations WHERE farm = ? AND id = ?')
        .get(farm, l.automation) as { doc: string } | undefined;
      const doc = r ? (JSON.parse(r.doc) as Automation) : undefined;
      const field = d?.field ?? doc?.field ?? null;
      const fieldName = field
        ? (this.db.prepare('SELECT name FROM fields WHERE farm = ? AND id = ?').get(farm, field) as
            { name: string | null } | undefined)
        : undefined;
      tips.store(
        farm,
        valveNotClosedTip({
          farm,
          device,
          deviceName: d?.name?.trim() || null,
          field,
          fieldName: fieldName?.name?.trim() || null,
          automation: doc ? { id: doc.id, name: doc.name, maxOpenMinutes: doc.limits.maxOpenMinutes } : null,
          log: l,
          now: actx.now,
        }),
        'server',
        actx.now,
      );
    }
    for (const l of unstuck) tips.clearKey(farm, valveTipKey(farm, l.device!), l.time);
  }

  /** An automation's logs, newest first. */
  logs(user: User, id: string, q: { limit: number; before: number }): AutomationLogView[] {
    // Logs of a deleted automation stay readable; the farm is still the tenancy check.
    const r = this.db.prepare('SELECT farm FROM automations WHERE id = ?').get(id) as
      { farm: string } | undefined;
    if (!r || !this.d.access.visible(user).includes(r.farm))
      throw new HatakeError('HATAKE_E_NOT_FOUND', `no automation "${id.slice(0, 64)}"`);
    const rows = this.db
      .prepare(
        `SELECT * FROM automation_logs WHERE farm = ? AND automation = ? AND time < ? ORDER BY time DESC, id LIMIT ?`,
      )
      .all(r.farm, id, q.before, q.limit) as {
      farm: string;
      id: string;
      automation: string;
      time: number;
      event: AutomationLog['event'];
      device: string | null;
      message: string;
      text: string | null;
      detail: string | null;
      gateway: string;
    }[];
    return rows.map((l) => ({
      id: l.id,
      automation: l.automation,
      time: l.time,
      event: l.event,
      ...(l.device ? { device: l.device } : {}),
      message: l.message,
      ...(l.text ? { text: JSON.parse(l.text) as NonNullable<AutomationLog['text']> } : {}),
      ...(l.detail ? { detail: JSON.parse(l.detail) as AutomationLog['detail'] } : {}),
      farm: l.farm,
      gateway: l.gateway,
      at: iso(l.time),
    }));
  }

  // -------------------------------------------------------------------------------------------
  // Manual overrides
  // -------------------------------------------------------------------------------------------

  private requireActuator(farm: string, device: string): void {
    const dev = this.devicesOf(farm).get(device);
    if (!dev)
      throw new HatakeError('HATAKE_E_UNKNOWN_DEVICE', `no device "${device.slice(0, 64)}" on farm ${farm}`);
    if (!dev.kit || Object.keys(dev.kit.commands ?? {}).length === 0)
      throw new HatakeError(
        'HATAKE_E_AUTOMATION',
        `device "${device}" takes no commands, so there is nothing to override`,
        {
          expected: 'an actuator such as a water gate',
        },
      );
  }

  /** The farm's dashboard overrides, one per device (the newest set or release). */
  private dashboardOverrides(farm: string): Map<string, DashboardOverride> {
    const rows = this.db
      .prepare('SELECT device, mode, until, by, set_at FROM device_overrides WHERE farm = ?')
      .all(farm) as DashboardOverride[];
    return new Map(rows.map((r) => [r.device, r]));
  }

  /**
   * Per device, the newest override set on a gateway's own page, read from the override logs the
   * gateways synced (gateway/automations/engine.ts logs `override_set` with `detail.source`
   * 'local' there, 'server' for a dashboard one it applied, and `override_cleared` when one ends),
   * with whether that gateway logged anything about the device's override since (a release on its
   * page, its end, or a dashboard override it applied after it).
   *
   * Only logs of the last MAX_OVERRIDE_MS (and a day for clocks) are read: an override set before
   * cannot still hold, nor have come after a dashboard override that still holds. The engine logs
   * the event under each automation that commands the device, or under 'manual': the query goes
   * through the index by automation, and the copies (same time) count once.
   */
  private gatewayOverrides(farm: string, now: number): Map<string, GatewayOverride> {
    const rows = this.db
      .prepare(
        `SELECT time, event, device, detail, gateway FROM automation_logs
         WHERE farm = ? AND automation IN (SELECT id FROM automations WHERE farm = ? UNION ALL SELECT ?)
           AND time > ? AND event IN ('override_set', 'override_cleared') AND device IS NOT NULL
         ORDER BY time DESC, rowid DESC`,
      )
      .all(farm, farm, MANUAL_OWNER, now - MAX_OVERRIDE_MS - DAY_MS) as {
      time: number;
      event: 'override_set' | 'override_cleared';
      device: string;
      detail: string | null;
      gateway: string;
    }[];
    const found = new Map<string, GatewayOverride>();
    for (const r of rows) {
      if (found.has(r.device) || r.event !== 'override_set') continue;
      const o = localOverrideOf(r.detail);
      if (!o) continue;
      // Newest first: every row of this gateway and device before this one came after it.
      const later = rows.filter((x) => x.device === r.device && x.gateway === r.gateway && x.time > r.time);
      found.set(r.device, {
        device: r.device,
        ...o,
        time: r.time,
        gateway: r.gateway,
        endedOnGateway: later.length > 0,
        dashboardAppliedAfter: later.some(
          (x) => x.event === 'override_set' && sourceOf(x.detail) === 'server',
        ),
      });
    }
    return found;
  }

  /**
   * The farm's overrides: the dashboard's (one per device, kept after they end) and, beside them,
   * the newest one set on a gateway's page in the last week. As the engine has it, the newest set
   * wins: a gateway override is active until its `until`, unless its gateway logged a release, its
   * end or a newer override since, or the dashboard set or released one after it (which the
   * gateway follows once it arrives); a dashboard override stops being active when a gateway
   * override was set after it — unless that gateway then applied it (it arrived late). So at most
   * one per device is active. Times compare the gateway's corrected clock with the server's.
   */
  overrides(user: User, farm: string, now = Date.now()): OverrideView[] {
    this.d.access.requireVisible(user, farm);
    const dashboard = this.dashboardOverrides(farm);
    const gateway = this.gatewayOverrides(farm, now);
    const views: OverrideView[] = [];
    for (const device of [...new Set([...dashboard.keys(), ...gateway.keys()])].sort()) {
      const d = dashboard.get(device);
      const g = gateway.get(device);
      if (d) {
        const superseded = !!g && g.time > d.set_at && !g.dashboardAppliedAfter;
        views.push(dashboardView(farm, d, d.until > now && !superseded));
      }
      if (g) {
        const active = g.until > now && !g.endedOnGateway && !(d && d.set_at >= g.time);
        views.push({
          device,
          mode: g.mode,
          until: g.until,
          by: g.by,
          farm,
          setAt: iso(g.time),
          active,
          source: 'gateway',
          gateway: g.gateway,
        });
      }
    }
    return views;
  }

  /** Holds an actuator (or pauses its automations) for some minutes; published to the gateways. */
  setOverride(user: User, farm: string, device: string, body: OverrideBody, now = Date.now()): OverrideView {
    this.d.access.requireManage(user, farm);
    this.requireActuator(farm, device);
    return this.writeOverride(
      farm,
      { device, mode: body.mode, until: now + body.minutes * 60_000, by: user.name.slice(0, 64) },
      now,
    );
  }

  /** Ends an override now (an override whose `until` has passed, as the contract has it). */
  clearOverride(user: User, farm: string, device: string, now = Date.now()): OverrideView {
    this.d.access.requireManage(user, farm);
    // The one in force, if any (one set on the gateway's page ends the same way: the gateway takes
    // the newer release), else the dashboard's last.
    const current =
      this.overrides(user, farm, now).find((o) => o.device === device && o.active) ??
      this.dashboardOverrides(farm).get(device);
    if (!current)
      throw new HatakeError('HATAKE_E_NOT_FOUND', `device "${device.slice(0, 64)}" has no override`);
    return this.writeOverride(
      farm,
      { device, mode: current.mode, until: now, by: user.name.slice(0, 64) },
      now,
    );
  }

  private writeOverride(farm: string, o: ManualOverride, now: number): OverrideView {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO device_overrides (farm, device, mode, until, by, set_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(farm, device) DO UPDATE SET mode = excluded.mode, until = excluded.until, by = excluded.by, set_at = excluded.set_at`,
        )
        .run(farm, o.device, o.mode, o.until, o.by, now);
      this.d.downlink.publish(farm, 'override', o.device, o);
    })();
    this.d.effects.change(farm, 'override', o.device);
    this.d.effects.flush();
    return dashboardView(farm, { ...o, set_at: now }, o.until > now);
  }
}

/** A dashboard override as the server keeps it (device_overrides). */
interface DashboardOverride {
  device: string;
  mode: ManualOverride['mode'];
  until: number;
  by: string;
  set_at: number;
}

/** The newest override set on a gateway's page for a device, from its synced logs. */
interface GatewayOverride extends ManualOverride {
  /** When the gateway set it (its clock). */
  time: number;
  gateway: string;
  /** Its gateway logged a release, its end or a newer override of the device after it. */
  endedOnGateway: boolean;
  /** …among them a dashboard override it applied (which therefore came after it). */
  dashboardAppliedAfter: boolean;
}

function dashboardView(farm: string, d: DashboardOverride, active: boolean): OverrideView {
  return {
    device: d.device,
    mode: d.mode,
    until: d.until,
    by: d.by,
    farm,
    setAt: iso(d.set_at),
    active,
    source: 'dashboard',
  };
}

const OVERRIDE_MODES: readonly string[] = ['hold_closed', 'hold_open', 'pause'];

function parseDetail(detail: string | null): Record<string, unknown> | null {
  try {
    const d = JSON.parse(detail ?? 'null') as unknown;
    return d && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** An override_set log's `detail.source`: 'local' (the gateway's page) or 'server'. */
function sourceOf(detail: string | null): unknown {
  return parseDetail(detail)?.source;
}

/** The override an override_set log of the gateway's page records, or null (another source, or malformed). */
function localOverrideOf(detail: string | null): Omit<ManualOverride, 'device'> | null {
  const d = parseDetail(detail);
  if (!d || d.source !== 'local') return null;
  const { mode, until, by } = d;
  if (typeof mode !== 'string' || !OVERRIDE_MODES.includes(mode)) return null;
  if (typeof until !== 'number' || !Number.isSafeInteger(until) || until < 0) return null;
  if (typeof by !== 'string') return null;
  return { mode: mode as ManualOverride['mode'], until, by: by.slice(0, 64) };
}
