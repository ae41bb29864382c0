// The contract between rules and the tip lifecycle. A rule does not raise tips: it returns
// assessments — for each subject it judged (a field, a device, a zone), the measured value
// against its threshold (the trigger), the tip it would raise now (the draft) and the
// lifecycle policy. stepTips() in lifecycle.ts decides what is raised, kept, cleared or expired.
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { HatakeError } from '../../protocol/errors.ts';
import { compares } from '../../protocol/comparison.ts';
import type {
  Comparison,
  EvidencePoint,
  EvidenceQuantity,
  EvidenceThreshold,
  SourceCitation,
  Tip,
  TipKind,
} from '../../protocol/tip.ts';
import type { RuleContext, RuleNote } from './context.ts';

/**
 * The condition holds when `value comparison threshold`. Once it holds, it clears only when the
 * value is more than `hysteresis` past the threshold on the other side.
 */
export interface Trigger {
  value: number;
  comparison: Comparison;
  threshold: number;
  hysteresis: number;
}

/** Whether a trigger's condition holds (for a subject with no active condition). */
export function fires(t: Trigger): boolean {
  return compares(t.value, t.comparison, t.threshold);
}

/** Whether an active condition has cleared: past the threshold by more than the hysteresis. */
export function clears(t: Trigger): boolean {
  const h = Math.max(0, t.hysteresis);
  return t.comparison === '<' || t.comparison === '<='
    ? t.value > t.threshold + h
    : t.value < t.threshold - h;
}

/** A yes/no condition as a trigger (1 holds, 0 does not; no hysteresis). */
export function eventTrigger(holds: boolean): Trigger {
  return { value: holds ? 1 : 0, comparison: '>=', threshold: 1, hysteresis: 0 };
}

/**
 * The lifecycle trigger of a tip that asks to scout within a window after a day it was judged
 * on: 1 (raise, or renew at expiry) while that day was judged less than `fireMs` ago — the tip's
 * lifetime, so a later such day renews an expired tip but the same day never does; 0 (hold,
 * raise nothing) for the rest of the scouting window; −1 (clear) after it or without such a day.
 */
export function scoutingTrigger(sinceJudgedMs: number, fireMs: number, windowMs: number): Trigger {
  const value = sinceJudgedMs < Math.min(fireMs, windowMs) ? 1 : sinceJudgedMs < windowMs ? 0 : -1;
  return { value, comparison: '>=', threshold: 1, hysteresis: 1 };
}

export interface LifecyclePolicy {
  /** How long a raised tip stays live. */
  ttlMs: number;
  /** After a condition clears, how long before the same key may raise again. */
  coolDownMs: number;
  /** Whether a condition still holding when its tip expires raises a renewed tip. */
  renewOnExpiry: boolean;
}

/** The tip a rule would raise now; the lifecycle adds id, times, key and reason. */
export type TipDraft = Omit<Tip, 'id' | 'created' | 'expires' | 'dedupKey' | 'reason' | 'supersedes'>;

export interface Assessment {
  /** De-duplication key: one live tip per key. */
  key: string;
  trigger: Trigger;
  draft: TipDraft;
  policy: LifecyclePolicy;
}

export interface RuleResult {
  rule: { id: string; version: string };
  assessments: Assessment[];
  notes: RuleNote[];
}

/** Every rule's parameters carry a label naming the set (defaults or a profile) for provenance. */
export interface LabelledParams {
  label: string;
}

export interface Rule<P extends LabelledParams> {
  id: string;
  version: string;
  kinds: readonly TipKind[];
  name: { ja: string; en: string };
  sources: readonly SourceCitation[];
  /** The default parameters: data, versioned with the rule. */
  defaults: P;
  /** Schema the parameters must satisfy (structure and ranges). */
  schema: TSchema;
  /** What a schema cannot check (order, cross-field bounds): a message, or undefined when consistent. */
  problem?: (params: P) => string | undefined;
  /** Judges the context with the given (or default) parameters. Never throws on data; throws HATAKE_E_RULE_INPUT / _PARAMS on a malformed context or parameters. */
  evaluate(ctx: RuleContext, params?: P): RuleResult;
}

const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Checks parameters against a rule's schema and its own consistency check; throws HATAKE_E_RULE_PARAMS. */
export function checkParams<P>(
  ruleId: string,
  schema: TSchema,
  params: unknown,
  consistent?: (p: P) => string | undefined,
): P {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, (c = TypeCompiler.Compile(schema)));
  if (!c.Check(params)) {
    const first = c.Errors(params).First();
    throw new HatakeError(
      'HATAKE_E_RULE_PARAMS',
      `parameters of rule ${ruleId}: ${first?.path || '/'} ${first?.message ?? 'invalid'}`,
      { place: { pointer: first?.path || '/' }, expected: first?.message },
    );
  }
  const problem = consistent?.(params as P);
  if (problem)
    throw new HatakeError('HATAKE_E_RULE_PARAMS', `parameters of rule ${ruleId}: ${problem}`, {
      place: { pointer: '/' },
    });
  return params as P;
}

/** Merges overrides over a rule's defaults (top-level keys replace) and checks the result. */
export function configure<P extends LabelledParams>(rule: Rule<P>, overrides: Partial<P>): P {
  return checkParams<P>(rule.id, rule.schema, { ...rule.defaults, ...overrides }, rule.problem);
}

const fin = (n: number) => Number.isFinite(n);
const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/**
 * Assembles a draft and makes it safe to serialise: non-finite numbers dropped, lists and
 * texts cut to the schema's limits, empty texts replaced. Every rule builds its drafts here.
 */
export function makeDraft(d: {
  kind: TipKind;
  severity: TipDraft['severity'];
  farm: string;
  field?: string;
  devices?: readonly string[];
  zone?: string;
  title: { ja: string; en: string };
  text: { ja: string; en: string };
  rule: { id: string; version: string; params: string };
  sources: readonly SourceCitation[];
  points?: readonly EvidencePoint[];
  thresholds?: readonly EvidenceThreshold[];
  quantities?: readonly EvidenceQuantity[];
  window?: { from: number; to: number };
  action?: TipDraft['action'];
}): TipDraft {
  const points = (d.points ?? [])
    .filter((p) => fin(p.value) && fin(p.time) && p.time >= 0)
    .slice(0, 100)
    .map((p) => ({ ...p, time: Math.floor(p.time) }));
  const thresholds = (d.thresholds ?? [])
    .filter((t) => fin(t.value) && fin(t.threshold) && fin(t.hysteresis) && t.hysteresis >= 0)
    .slice(0, 16);
  const quantities = (d.quantities ?? []).filter((q) => fin(q.value)).slice(0, 40);
  const or = (s: string, fallback: string) => (s.trim().length > 0 ? s : fallback);
  const draft: TipDraft = {
    kind: d.kind,
    severity: d.severity,
    farm: d.farm,
    ...(d.field !== undefined ? { field: d.field } : {}),
    devices: [...new Set(d.devices ?? [])].slice(0, 50),
    ...(d.zone !== undefined ? { zone: clip(d.zone, 64) } : {}),
    title: { ja: clip(or(d.title.ja, d.kind), 200), en: clip(or(d.title.en, d.kind), 200) },
    text: { ja: clip(or(d.text.ja, d.kind), 2000), en: clip(or(d.text.en, d.kind), 2000) },
    evidence: {
      rule: { id: d.rule.id, version: d.rule.version, params: clip(d.rule.params, 100) },
      sources: d.sources.slice(0, 8).map((s) => ({ ...s })),
      points,
      thresholds,
      quantities,
      ...(d.window && fin(d.window.from) && fin(d.window.to) && d.window.from >= 0 && d.window.to >= 0
        ? { window: { from: Math.floor(d.window.from), to: Math.floor(d.window.to) } }
        : {}),
    },
    ...(d.action !== undefined ? { action: d.action } : {}),
  };
  return withoutNegativeZero(draft);
}

/** -0 does not survive JSON (it comes back as 0): store 0. */
function withoutNegativeZero<T>(v: T): T {
  if (typeof v === 'number') return (Object.is(v, -0) ? 0 : v) as T;
  if (Array.isArray(v)) return v.map(withoutNegativeZero) as T;
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutNegativeZero(x)])) as T;
  return v;
}

/** The threshold of a trigger as evidence. */
export function thresholdEvidence(name: string, t: Trigger, unit: string): EvidenceThreshold {
  return {
    name,
    comparison: t.comparison,
    threshold: t.threshold,
    value: t.value,
    unit,
    hysteresis: Math.max(0, t.hysteresis),
  };
}

/** A dedup key from its parts ('-' for an absent part). */
export function dedupKey(kind: TipKind, farm: string, ...parts: (string | undefined)[]): string {
  return [kind, farm, ...parts.map((p) => p ?? '-')].join(':');
}
