// "Automate" on a tip: its suggested action (protocol/tip.ts) becomes an automation
// (protocol/automation.ts) with safe defaults the farmer can adjust before enabling it — it is
// created disabled unless asked otherwise, opens a valve at most twice a day, never at night
// (22:00–05:00), and never longer than the planned minutes. Irrigation steers by the soil probe
// that raised the tip, at the water content where the readily available water is used up
// (θ = θFC − RAW / root depth, from the tip's own evidence); a paddy water-level tip keeps the
// level in its band with the field's water gate.
import { HatakeError } from '../../protocol/errors.ts';
import type { Tip } from '../../protocol/tip.ts';
import type { ActuatorCommand, AutomationLimits } from '../../protocol/automation.ts';
import type { AutomateBody } from '../../protocol/review.ts';
import type { Kit } from '../../protocol/kit.ts';
import type { AutomationDraft } from './automations.ts';

export const AUTOMATABLE_ACTIONS = ['irrigate', 'valve', 'water_level'] as const;

/** Whether "automate" can make an automation from this tip. */
export function isAutomatable(tip: Tip): boolean {
  return tip.action !== undefined && (AUTOMATABLE_ACTIONS as readonly string[]).includes(tip.action.type);
}

interface Actuator {
  id: string;
  field: string | null;
  kit: Kit;
}

const IRRIGATION_LIMITS: AutomationLimits = {
  maxRunsPerDay: 2,
  quietHours: { from: '22:00', to: '05:00' },
  maxOpenMinutes: 30,
  cooldownMinutes: 240,
  confirmSeconds: 120,
  retries: 2,
};

const WATER_LEVEL_LIMITS: AutomationLimits = {
  maxRunsPerDay: 12,
  maxOpenMinutes: 180,
  cooldownMinutes: 30,
  confirmSeconds: 120,
  retries: 2,
};

/** Tip text as a plain automation name (no markup or control characters, ≤ 200). */
function plain(s: string, suffix: string): string {
  const cleaned = [...s]
    .filter((c) => {
      const n = c.codePointAt(0)!;
      return !(
        c === '<' ||
        c === '>' ||
        n < 0x20 ||
        n === 0x7f ||
        (n >= 0x202a && n <= 0x202e) ||
        (n >= 0x2066 && n <= 0x2069)
      );
    })
    .join('')
    .trim();
  return `${cleaned.slice(0, 200 - suffix.length)}${suffix}`;
}

const has = (kit: Kit, command: string) => Object.hasOwn(kit.commands ?? {}, command);

/** The farm's actuators on the field (any field when none) that take one of the commands. */
function fitting(field: string | undefined, actuators: Actuator[], needs: string[]): Actuator[] {
  return actuators.filter((a) => needs.some((c) => has(a.kit, c)) && (!field || a.field === field));
}

/** What "automate" needs of the farm for a tip: the commands its actuator takes, on which field. */
function actuatorNeeds(tip: Tip): { named?: string; field?: string; needs: string[] } | undefined {
  const a = tip.action;
  if (!a) return undefined;
  switch (a.type) {
    case 'irrigate':
      return { named: a.valve, field: a.field, needs: ['open_for', 'open'] };
    case 'water_level':
      return { field: a.field, needs: ['open'] };
    default:
      return undefined; // a valve tip says what, not when: it needs a trigger the farmer writes
  }
}

/**
 * Whether "automate" can make an automation from the tip as it stands, and with which actuators:
 * the one the tip names, else those on its field that take the commands (the farmer picks when
 * there are several). A tip whose field has none cannot be automated here.
 */
export function automateChoices(
  tip: Tip,
  actuators: Actuator[],
): { automatable: boolean; actuators: string[] } {
  const n = isAutomatable(tip) ? actuatorNeeds(tip) : undefined;
  if (!n) return { automatable: false, actuators: [] };
  if (n.named) {
    const named = actuators.some((a) => a.id === n.named);
    return { automatable: named, actuators: named ? [n.named] : [] };
  }
  const ids = fitting(n.field, actuators, n.needs).map((a) => a.id);
  return { automatable: ids.length > 0, actuators: ids };
}

function chooseActuator(
  wanted: string | undefined,
  field: string | undefined,
  actuators: Actuator[],
  needs: string[],
): Actuator {
  if (wanted) {
    const a = actuators.find((x) => x.id === wanted);
    if (!a)
      throw new HatakeError('HATAKE_E_AUTOMATION', `no actuator "${wanted}" on this farm`, {
        place: { pointer: '/actuator' },
        expected: actuators.map((x) => x.id).join(', ') || 'an actuator in the manifest',
      });
    return a;
  }
  const fit = fitting(field, actuators, needs);
  if (fit.length === 1) return fit[0]!;
  throw new HatakeError(
    'HATAKE_E_AUTOMATION',
    fit.length === 0
      ? `the tip names no valve and field ${field ?? '(none)'} has no actuator`
      : `field ${field ?? '(none)'} has ${fit.length} actuators; choose one`,
    {
      place: { pointer: '/actuator' },
      expected: actuators.map((x) => x.id).join(', ') || 'an actuator in the manifest',
    },
  );
}

function openCommand(kit: Kit, device: string, minutes: number): ActuatorCommand {
  if (has(kit, 'open_for')) return { device, command: 'open_for', params: { minutes } };
  return { device, command: 'open' };
}

/** The automation draft for a tip (checked against the farm's devices by the caller). */
export function automationFromTip(tip: Tip, body: AutomateBody, actuators: Actuator[]): AutomationDraft {
  const action = tip.action;
  if (!action || !isAutomatable(tip))
    throw new HatakeError(
      'HATAKE_E_AUTOMATION',
      `a ${action?.type ?? 'tip without an action'} tip cannot become an automation`,
      { expected: `a tip whose action is ${AUTOMATABLE_ACTIONS.join(', ')}` },
    );
  const name = body.name ?? {
    ja: plain(tip.title.ja, '（自動）'),
    en: plain(tip.title.en, ' (automated)'),
  };
  const common = {
    name,
    enabled: body.enabled ?? false,
    fromTip: tip.id,
    ...(tip.field ? { field: tip.field } : {}),
  };
  switch (action.type) {
    case 'irrigate': {
      const valve = chooseActuator(body.actuator ?? action.valve, action.field, actuators, [
        'open_for',
        'open',
      ]);
      const minutes = body.durationMin ?? action.durationMin ?? 30;
      const trigger = body.trigger ?? irrigationTrigger(tip);
      if (!trigger)
        throw new HatakeError(
          'HATAKE_E_AUTOMATION',
          'the tip has no soil probe reading to steer by; give a trigger',
          {
            place: { pointer: '/trigger' },
          },
        );
      return {
        ...common,
        field: action.field,
        trigger,
        action: openCommand(valve.kit, valve.id, minutes),
        limits: { ...IRRIGATION_LIMITS, maxOpenMinutes: minutes, ...body.limits },
      };
    }
    case 'valve': {
      if (!body.trigger)
        throw new HatakeError(
          'HATAKE_E_AUTOMATION',
          'a valve tip says what to do, not when; give a trigger',
          {
            place: { pointer: '/trigger' },
          },
        );
      const valve = chooseActuator(body.actuator ?? action.device, tip.field, actuators, [action.command]);
      const minutes = body.durationMin ?? action.durationMin ?? 30;
      return {
        ...common,
        trigger: body.trigger,
        action:
          action.command === 'open'
            ? openCommand(valve.kit, valve.id, minutes)
            : { device: valve.id, command: action.command },
        limits: { ...IRRIGATION_LIMITS, maxOpenMinutes: minutes, ...body.limits },
      };
    }
    case 'water_level': {
      const gate = chooseActuator(body.actuator, action.field, actuators, ['open']);
      const sensor = action.device ?? tip.devices[0];
      const trigger =
        body.trigger ??
        (sensor
          ? {
              kind: 'band' as const,
              device: sensor,
              metric: 'water_level',
              low: action.minCm,
              high: action.maxCm,
            }
          : undefined);
      if (!trigger)
        throw new HatakeError('HATAKE_E_AUTOMATION', 'the tip names no level sensor; give a trigger', {
          place: { pointer: '/trigger' },
        });
      return {
        ...common,
        field: action.field,
        trigger,
        below: { device: gate.id, command: 'open' },
        above: { device: gate.id, command: 'close' },
        limits: { ...WATER_LEVEL_LIMITS, ...body.limits },
      };
    }
    default:
      throw new HatakeError('HATAKE_E_AUTOMATION', `a ${action.type} tip cannot become an automation`);
  }
}

/** VWC below which the root zone has used its readily available water, at the probe that raised the tip. */
function irrigationTrigger(tip: Tip): AutomationDraft['trigger'] | undefined {
  const probe =
    tip.evidence.points.find((p) => p.metric === 'soil_vwc' && p.device && p.role === 'latest') ??
    tip.evidence.points.find((p) => p.metric === 'soil_vwc' && p.device);
  if (!probe?.device) return undefined;
  const q = (name: string) => tip.evidence.quantities.find((x) => x.name === name)?.value;
  const fc = q('theta_fc');
  const raw = q('raw');
  const depth = q('root_depth');
  let threshold =
    fc !== undefined && raw !== undefined && depth !== undefined && depth > 0
      ? fc - raw / (1000 * depth)
      : (q('theta') ?? probe.value);
  threshold = Math.round(threshold * 1000) / 1000;
  return { kind: 'threshold', device: probe.device, metric: 'soil_vwc', op: '<', value: threshold };
}
