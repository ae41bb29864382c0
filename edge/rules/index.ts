// The agronomic and device-health rules as one library: the registry, a runner that evaluates
// every enabled rule on one context, and the lifecycle that turns assessments into tips.
//
//   const ev = evaluateRules(ctx, config);                 // pure: ctx.now is the clock
//   const step = stepTips(state, ev.assessments, ctx.now);  // raised / cleared / expired tips
//   save(step.state); publish(step.raised);
//
// The gateway runs this on each reading and on a schedule (a sweep with no new readings still
// expires tips); the server can run the same on its own data.
import { HatakeError, isHatakeError } from '../../protocol/errors.ts';
import type { Assessment, LabelledParams, Rule, RuleResult } from './assessment.ts';
import { configure } from './assessment.ts';
import { batteryLowRule } from './battery-low.ts';
import { blastamRule } from './blastam.ts';
import { prepare, type RuleContext, type RuleNote } from './context.ts';
import { deviceOfflineRule } from './device-offline.ts';
import { frostRule } from './frost.ts';
import { growthStageRule } from './growth-stage.ts';
import { imageryAnomalyRule } from './imagery-anomaly.ts';
import { irrigationRule } from './irrigation.ts';
import { lateBlightRule } from './late-blight.ts';
import { paddyWaterRule } from './paddy-water.ts';
import { sensorStuckRule } from './sensor-stuck.ts';

export const RULES: readonly Rule<LabelledParams>[] = [
  irrigationRule,
  frostRule,
  blastamRule,
  lateBlightRule,
  paddyWaterRule,
  growthStageRule,
  imageryAnomalyRule,
  batteryLowRule,
  deviceOfflineRule,
  sensorStuckRule,
] as unknown as readonly Rule<LabelledParams>[];

/** Which rules run and with which parameters (top-level keys override the rule's defaults). */
export interface RulesConfig {
  /** Rules switched off by id (all run by default). */
  disabled?: readonly string[];
  /** Parameter overrides by rule id. */
  params?: Readonly<Record<string, Record<string, unknown>>>;
}

export interface Evaluation {
  assessments: Assessment[];
  notes: RuleNote[];
  results: RuleResult[];
}

/**
 * Checks a rules configuration once (e.g. at start-up); throws HATAKE_E_RULE_PARAMS placed in
 * the configuration (`/disabled/1`, `/params/frost/severeC`).
 */
export function resolveRulesConfig(config: RulesConfig = {}): Map<string, LabelledParams> {
  const byId = new Map(RULES.map((r) => [r.id, r]));
  const unknown = (id: string, pointer: string) =>
    new HatakeError('HATAKE_E_RULE_PARAMS', `no rule "${id}"`, {
      place: { pointer },
      expected: [...byId.keys()].join(', '),
    });
  (config.disabled ?? []).forEach((id, i) => {
    if (!byId.has(id)) throw unknown(id, `/disabled/${i}`);
  });
  for (const id of Object.keys(config.params ?? {})) if (!byId.has(id)) throw unknown(id, `/params/${id}`);
  const out = new Map<string, LabelledParams>();
  for (const r of RULES) {
    if (config.disabled?.includes(r.id)) continue;
    const o = config.params?.[r.id];
    if (!o) {
      out.set(r.id, r.defaults);
      continue;
    }
    try {
      out.set(r.id, configure(r, o as Partial<LabelledParams>));
    } catch (e) {
      if (!(e instanceof HatakeError)) throw e;
      const inner = e.place?.pointer ?? '/';
      throw new HatakeError(e.code, e.message, {
        place: { pointer: `/params/${r.id}${inner === '/' ? '' : inner}` },
        expected: e.expected,
      });
    }
  }
  return out;
}

/**
 * Evaluates every enabled rule. A malformed context or configuration is a coded error; a rule
 * that throws anyway (a bug) becomes a `rule_failed` note so the others still run.
 */
export function evaluateRules(
  ctx: RuleContext,
  config: RulesConfig | Map<string, LabelledParams> = {},
): Evaluation {
  const resolved = config instanceof Map ? config : resolveRulesConfig(config);
  const p = prepare(ctx);
  const out: Evaluation = { assessments: [], notes: [...p.notes], results: [] };
  for (const r of RULES) {
    const params = resolved.get(r.id);
    if (!params) continue;
    try {
      const res = r.evaluate(ctx, params);
      out.results.push(res);
      out.assessments.push(...res.assessments);
      out.notes.push(...res.notes);
    } catch (e) {
      if (isHatakeError(e) && (e.code === 'HATAKE_E_RULE_INPUT' || e.code === 'HATAKE_E_RULE_PARAMS'))
        throw e;
      out.notes.push({
        rule: r.id,
        code: 'rule_failed',
        message: `rule ${r.id} failed: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
  }
  return out;
}

export {
  stepTips,
  emptyTipState,
  parseTipState,
  isExpired,
  liveTipIds,
  tipId,
  TipStateSchema,
  LIFECYCLE_DEFAULTS,
} from './lifecycle.ts';
export type { TipState, StepResult, TipEnded, LifecycleOptions } from './lifecycle.ts';
export type { Assessment, Rule, RuleResult, Trigger, LifecyclePolicy, TipDraft } from './assessment.ts';
export type { RuleContext, RuleNote, ForecastPoint, DailyTemperature, ZoneIndexPoint } from './context.ts';
export {
  irrigationRule,
  frostRule,
  blastamRule,
  lateBlightRule,
  paddyWaterRule,
  growthStageRule,
  imageryAnomalyRule,
  batteryLowRule,
  deviceOfflineRule,
  sensorStuckRule,
};
