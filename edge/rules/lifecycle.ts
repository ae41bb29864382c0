// The tip lifecycle: de-duplication with hysteresis and cool-down, escalation, expiry and
// renewal — pure functions over an explicit, JSON-serialisable state and an injected `now`, so
// the gateway can run them on every reading and on a schedule (and the server can too).
//
// Per dedup key there is at most one live tip. A condition that holds raises a tip once; while
// it keeps holding nothing more is raised (unless its severity rises: an escalated tip
// supersedes the live one). It clears only when its value is past the threshold by the
// hysteresis margin; after a clear, the same key may raise again only once the cool-down has
// passed. A tip expires at its `expires`; if its condition still holds then, a renewed tip
// replaces it when the rule's policy says so (state-like conditions), never otherwise
// (event-like ones, which wait for the condition to clear).
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { HatakeError } from '../../protocol/errors.ts';
import { Id } from '../../protocol/ids.ts';
import {
  TipKindSchema,
  TipSeveritySchema,
  severityRank,
  type Tip,
  type TipKind,
} from '../../protocol/tip.ts';
import { validator } from '../../protocol/validate.ts';
import { clears, fires, type Assessment } from './assessment.ts';

const Time = Type.Integer({ minimum: 0 });

export const TipStateEntrySchema = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 300 }),
    kind: TipKindSchema,
    /** Whether the condition currently holds (by the hysteresis rules). */
    active: Type.Boolean(),
    /** The rule's renew-on-expiry policy, as last seen. */
    renew: Type.Boolean(),
    /** Last time an assessment of this key was stepped. */
    lastSeen: Time,
    /** The live tip, if any. */
    tip: Type.Optional(
      Type.Object(
        { id: Id('Tip id'), severity: TipSeveritySchema, raisedAt: Time, expiresAt: Time },
        { additionalProperties: false },
      ),
    ),
    lastTipId: Type.Optional(Id('Last tip raised for the key')),
    /** Set when the live tip expired while the condition held and the rule renews. */
    expiredTipId: Type.Optional(Id('Tip that expired awaiting renewal')),
    clearedAt: Type.Optional(Time),
    /** The condition holds but its tip expired without renewal: wait for a clear. */
    spent: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type TipStateEntry = Static<typeof TipStateEntrySchema>;

export const TipStateSchema = Type.Object(
  {
    version: Type.Literal(1),
    entries: Type.Record(Type.String(), TipStateEntrySchema, { maxProperties: 100_000 }),
  },
  { additionalProperties: false },
);
export type TipState = Static<typeof TipStateSchema>;

/** A fresh lifecycle state. */
export function emptyTipState(): TipState {
  return { version: 1, entries: {} };
}

const checkState = validator(TipStateSchema);

/** Loads a stored state (e.g. JSON from the gateway's database); throws HATAKE_E_TIP_STATE. */
export function parseTipState(value: unknown): TipState {
  const state = checkState.parse(value, 'tip state', 'HATAKE_E_TIP_STATE');
  for (const [k, e] of Object.entries(state.entries)) {
    if (e.key !== k)
      throw new HatakeError('HATAKE_E_TIP_STATE', `tip state entry "${k}" names key "${e.key}"`, {
        place: { pointer: `/entries/${k}/key` },
        expected: 'the entry key',
      });
  }
  return state;
}

/** A tip that stopped being live: cleared (condition gone), expired, or superseded. */
export interface TipEnded {
  key: string;
  kind: TipKind;
  tipId: string;
  at: number;
}

export interface StepResult {
  state: TipState;
  /** New tips to store, show and sync. */
  raised: Tip[];
  /** Live tips whose condition cleared (past the hysteresis). */
  cleared: TipEnded[];
  /** Live tips that reached their expiry. */
  expired: TipEnded[];
  /** Live tips replaced by an escalated one. */
  superseded: TipEnded[];
}

export interface LifecycleOptions {
  /** Forget a key with no live tip after this long without an assessment (or since its clear). */
  forgetAfterMs: number;
  /** At most this many keys are remembered; the oldest without a live tip go first. */
  maxEntries: number;
}

export const LIFECYCLE_DEFAULTS: LifecycleOptions = {
  forgetAfterMs: 31 * 86_400_000,
  maxEntries: 10_000,
};

/** A tip id, deterministic from what raised it (so a replayed step yields the same document). */
export function tipId(key: string, created: number, reason: string, severity: string): string {
  return `tip-${createHash('sha256').update(`${key}\n${created}\n${reason}\n${severity}`).digest('hex').slice(0, 40)}`;
}

function checkAssessment(a: Assessment, i: number): void {
  const bad = (what: string) =>
    new HatakeError('HATAKE_E_RULE_INPUT', `assessment ${i}: ${what}`, {
      place: { pointer: `/assessments/${i}` },
      expected: 'an assessment from a rule',
    });
  if (typeof a !== 'object' || a === null) throw bad('not an object');
  if (typeof a.key !== 'string' || a.key.length === 0 || a.key.length > 300)
    throw bad('key must be 1–300 characters');
  const t = a.trigger;
  if (
    typeof t !== 'object' ||
    t === null ||
    typeof t.value !== 'number' ||
    Number.isNaN(t.value) ||
    !Number.isFinite(t.threshold) ||
    !Number.isFinite(t.hysteresis) ||
    t.hysteresis < 0 ||
    !['<', '<=', '>', '>='].includes(t.comparison)
  )
    throw bad('trigger must have a value, a comparison, a finite threshold and a hysteresis ≥ 0');
  const p = a.policy;
  if (
    typeof p !== 'object' ||
    p === null ||
    !Number.isFinite(p.ttlMs) ||
    p.ttlMs <= 0 ||
    !Number.isFinite(p.coolDownMs) ||
    p.coolDownMs < 0 ||
    typeof p.renewOnExpiry !== 'boolean'
  )
    throw bad('policy must have ttlMs > 0, coolDownMs ≥ 0 and renewOnExpiry');
  if (typeof a.draft !== 'object' || a.draft === null) throw bad('draft missing');
}

/**
 * Advances the lifecycle to `now` with this step's assessments (possibly none: a scheduled
 * sweep for expiry). Does not modify `state`; returns the next state and what changed.
 */
export function stepTips(
  state: TipState,
  assessments: readonly Assessment[],
  now: number,
  options: LifecycleOptions = LIFECYCLE_DEFAULTS,
): StepResult {
  if (!Number.isInteger(now) || now < 0)
    throw new HatakeError('HATAKE_E_RULE_INPUT', `now = ${String(now)} is not a time`, {
      place: { pointer: '/now' },
      expected: 'UTC epoch milliseconds',
    });
  if (typeof state !== 'object' || state === null || state.version !== 1 || typeof state.entries !== 'object')
    throw new HatakeError('HATAKE_E_TIP_STATE', 'tip state is not a lifecycle state', {
      place: { pointer: '/' },
      expected: '{ version: 1, entries }',
    });
  assessments.forEach(checkAssessment);

  const entries: Record<string, TipStateEntry> = { ...state.entries };
  const raised: Tip[] = [];
  const cleared: TipEnded[] = [];
  const expired: TipEnded[] = [];
  const superseded: TipEnded[] = [];

  // Expiry first, so a condition still holding can be renewed in this same step.
  for (const [k, e] of Object.entries(entries)) {
    if (e.tip && e.tip.expiresAt <= now) {
      expired.push({ key: k, kind: e.kind, tipId: e.tip.id, at: now });
      const next: TipStateEntry = { ...e };
      delete next.tip;
      if (e.active) {
        if (e.renew) next.expiredTipId = e.tip.id;
        else next.spent = true;
      }
      entries[k] = next;
    }
  }

  for (const a of assessments) {
    const prev = entries[a.key];
    if (!prev && !fires(a.trigger)) continue; // nothing to remember
    const e: TipStateEntry = prev
      ? { ...prev, renew: a.policy.renewOnExpiry, lastSeen: now }
      : { key: a.key, kind: a.draft.kind, active: false, renew: a.policy.renewOnExpiry, lastSeen: now };
    entries[a.key] = e;

    const raise = (reason: Tip['reason'], supersedes?: string) => {
      const id = tipId(a.key, now, reason, a.draft.severity);
      const expires = now + Math.max(1, Math.floor(a.policy.ttlMs));
      raised.push({
        ...a.draft,
        id,
        dedupKey: a.key,
        created: now,
        expires,
        reason,
        ...(supersedes ? { supersedes } : {}),
      });
      e.tip = { id, severity: a.draft.severity, raisedAt: now, expiresAt: expires };
      e.lastTipId = id;
      delete e.expiredTipId;
      delete e.spent;
    };
    const cooled = () => e.clearedAt === undefined || now - e.clearedAt >= a.policy.coolDownMs;

    if (e.active) {
      if (clears(a.trigger)) {
        e.active = false;
        e.clearedAt = now;
        delete e.spent;
        delete e.expiredTipId;
        if (e.tip) cleared.push({ key: a.key, kind: e.kind, tipId: e.tip.id, at: now });
        delete e.tip;
        continue;
      }
      if (e.tip) {
        if (severityRank(a.draft.severity) > severityRank(e.tip.severity)) {
          superseded.push({ key: a.key, kind: e.kind, tipId: e.tip.id, at: now });
          raise('escalated', e.tip.id);
        }
        continue;
      }
      // Inside the hysteresis band the condition is kept, but nothing new is raised for it.
      if (e.spent || !fires(a.trigger)) continue;
      if (e.expiredTipId) raise('renewed', e.expiredTipId);
      else if (cooled()) raise('new');
      continue;
    }
    if (fires(a.trigger)) {
      e.active = true;
      delete e.spent;
      if (cooled()) raise('new');
    }
  }

  // Forget what no longer matters, then bound the size.
  for (const [k, e] of Object.entries(entries)) {
    if (e.tip) continue;
    const since = Math.max(e.lastSeen, e.clearedAt ?? 0);
    if (now - since >= options.forgetAfterMs) delete entries[k];
  }
  const keys = Object.keys(entries);
  if (keys.length > options.maxEntries) {
    const order = keys
      .map((k) => entries[k]!)
      .sort((x, y) => Number(!!x.tip) - Number(!!y.tip) || x.lastSeen - y.lastSeen);
    for (const e of order.slice(0, keys.length - options.maxEntries)) delete entries[e.key];
  }

  return { state: { version: 1, entries }, raised, cleared, expired, superseded };
}

/** Whether a tip is past its expiry at `now`. */
export function isExpired(tip: Pick<Tip, 'expires'>, now: number): boolean {
  return tip.expires <= now;
}

/** The ids of the live tips in a state. */
export function liveTipIds(state: TipState): string[] {
  return Object.values(state.entries)
    .filter((e) => e.tip)
    .map((e) => e.tip!.id);
}
