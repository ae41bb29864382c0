// From an automation document to what the engine can run: the document is checked against the
// contract and against the kits of the devices it names (the sensor measures the metric; each
// actuator takes the command with parameters inside its limits, reports the state it should
// reach, and has a plain close command so the maximum open time can always be enforced), and
// each command is resolved to its MQTT payload once. Pure: the kit lookup is passed in.
import { HatakeError, isHatakeError } from '../../protocol/errors.ts';
import { Automation, type ActuatorCommand } from '../../protocol/automation.ts';
import type { Kit } from '../../protocol/kit.ts';
import { validator } from '../../protocol/validate.ts';
import { encodeCommand } from '../../firmware-config/commands.ts';

export type Role = 'action' | 'below' | 'above';

/** A kit command ready to publish, with the state it should produce. */
export interface ResolvedCommand {
  device: string;
  name: string;
  params: Record<string, number>;
  /** JSON for the device's `down` topic. */
  payload: string;
  /** The state the device reports once it obeyed. */
  expect: { metric: string; value: number };
  /** Moves the actuator away from its rest state (expect value not 0): limited, counted, logged. */
  opening: boolean;
  /** A timed opening (a `minutes` parameter): the device closes itself after this long. */
  selfCloseMinutes: number | null;
}

export interface PlannedCommand {
  role: Role;
  command: ResolvedCommand;
  /** The actuator's plain close command (same state metric, expect 0, no parameters). */
  close: ResolvedCommand;
}

/** An automation the engine can run. */
export interface Plan {
  automation: Automation;
  id: string;
  sensor: { device: string; metric: string };
  commands: PlannedCommand[];
  /** Band triggers: how far back inside the band a value must come before the side changes. */
  margin: number;
}

const automationValidator = validator(Automation);

/** Share of the band width used as hysteresis (3–5 cm → 0.2 cm), never below the sensor's resolution. */
export const BAND_HYSTERESIS_SHARE = 0.1;

const problem = (pointer: string, message: string, expected?: string) =>
  new HatakeError('HATAKE_E_AUTOMATION', message, {
    place: { pointer },
    ...(expected ? { expected } : {}),
  });

/** Resolves one command against its kit; throws a HatakeError naming what does not fit. */
export function resolveCommand(
  kit: Kit,
  device: string,
  name: string,
  params: Readonly<Record<string, number>> = {},
): ResolvedCommand {
  const encoded = encodeCommand(kit, name, params);
  if (!encoded.expect)
    throw problem(
      '/command',
      `command "${name}" of kit "${kit.id}" names no state to expect, so it cannot be confirmed`,
      'a kit command with `expect`',
    );
  const minutes = Object.hasOwn(params, 'minutes') ? params.minutes : undefined;
  const opening = encoded.expect.value !== 0;
  return {
    device,
    name,
    params: { ...params },
    payload: encoded.payload,
    expect: encoded.expect,
    opening,
    selfCloseMinutes: opening && typeof minutes === 'number' ? minutes : null,
  };
}

/** The kit's plain command that brings `metric` to 0 (e.g. the water gate's `close`), if any. */
export function closeCommandOf(kit: Kit, device: string, metric: string): ResolvedCommand | undefined {
  for (const [name, c] of Object.entries(kit.commands ?? {})) {
    if (c.expect?.metric === metric && c.expect.value === 0 && Object.keys(c.params ?? {}).length === 0)
      return resolveCommand(kit, device, name);
  }
  return undefined;
}

/** The kit's plain command that opens (`metric` to a non-zero value with no parameters), if any. */
export function openCommandOf(kit: Kit, device: string, metric: string): ResolvedCommand | undefined {
  for (const [name, c] of Object.entries(kit.commands ?? {})) {
    if (c.expect?.metric === metric && c.expect.value !== 0 && Object.keys(c.params ?? {}).length === 0)
      return resolveCommand(kit, device, name);
  }
  return undefined;
}

/** The state metric and close command of an actuator, or undefined when it is not one the engine can drive. */
export function actuatorOf(
  kit: Kit | undefined,
  device: string,
): { metric: string; close: ResolvedCommand; open: ResolvedCommand | undefined } | undefined {
  if (!kit) return undefined;
  for (const c of Object.values(kit.commands ?? {})) {
    if (!c.expect) continue;
    const close = closeCommandOf(kit, device, c.expect.metric);
    if (close) return { metric: c.expect.metric, close, open: openCommandOf(kit, device, c.expect.metric) };
  }
  return undefined;
}

/**
 * Checks an automation document for this farm and resolves it; throws a HatakeError
 * (HATAKE_E_AUTOMATION, HATAKE_E_UNKNOWN_COMMAND or HATAKE_E_PAYLOAD_SCHEMA) naming the first
 * problem with its JSON pointer.
 */
export function planAutomation(doc: unknown, farm: string, kitOf: (device: string) => Kit | undefined): Plan {
  const a = automationValidator.parse(doc, 'automation', 'HATAKE_E_AUTOMATION');
  if (a.farm !== farm) throw problem('/farm', `automation is for farm "${a.farm}", not "${farm}"`, farm);
  const t = a.trigger;
  const sensorKit = kitOf(t.device);
  if (!sensorKit) throw problem('/trigger/device', `no device "${t.device}" on this gateway`);
  const metric = Object.hasOwn(sensorKit.metrics, t.metric) ? sensorKit.metrics[t.metric] : undefined;
  if (!metric)
    throw problem(
      '/trigger/metric',
      `kit "${sensorKit.id}" does not measure "${t.metric}"`,
      Object.keys(sensorKit.metrics).join(', '),
    );
  let margin = 0;
  const wanted: [Role, ActuatorCommand][] = [];
  if (t.kind === 'threshold') {
    if (!a.action) throw problem('/action', 'a threshold automation needs an action');
    if (a.below || a.above)
      throw problem(a.below ? '/below' : '/above', 'below/above are for band automations');
    wanted.push(['action', a.action]);
  } else {
    if (!(t.low < t.high))
      throw problem('/trigger/low', `low ${t.low} is not below high ${t.high}`, 'low < high');
    if (a.action) throw problem('/action', 'a band automation uses below/above, not action');
    if (!a.below && !a.above) throw problem('/below', 'a band automation needs below or above (or both)');
    if (a.below) wanted.push(['below', a.below]);
    if (a.above) wanted.push(['above', a.above]);
    margin = Math.max((t.high - t.low) * BAND_HYSTERESIS_SHARE, metric.resolution ?? 0);
  }
  const q = a.limits.quietHours;
  if (q && q.from === q.to)
    throw problem('/limits/quietHours', `quiet hours ${q.from}–${q.to} are empty or the whole day`);
  const commands: PlannedCommand[] = [];
  for (const [role, c] of wanted) {
    const at = `/${role}`;
    const kit = kitOf(c.device);
    if (!kit) throw problem(`${at}/device`, `no device "${c.device}" on this gateway`);
    let command: ResolvedCommand;
    try {
      command = resolveCommand(kit, c.device, c.command, c.params ?? {});
    } catch (e) {
      if (!isHatakeError(e)) throw e;
      const pointer =
        e.code === 'HATAKE_E_PAYLOAD_SCHEMA' ? `${at}/params${e.place?.pointer ?? ''}` : `${at}/command`;
      throw new HatakeError(e.code, `${at}: ${e.message}`, {
        place: { pointer },
        ...(e.expected ? { expected: e.expected } : {}),
      });
    }
    const close = closeCommandOf(kit, c.device, command.expect.metric);
    if (!close)
      throw problem(
        `${at}/device`,
        `kit "${kit.id}" has no plain command that closes (${command.expect.metric} = 0), so no safety stop is possible`,
      );
    if (command.selfCloseMinutes !== null && command.selfCloseMinutes > a.limits.maxOpenMinutes)
      throw problem(
        `${at}/params/minutes`,
        `opening for ${command.selfCloseMinutes} min exceeds maxOpenMinutes ${a.limits.maxOpenMinutes}`,
        `at most ${a.limits.maxOpenMinutes}`,
      );
    commands.push({ role, command, close });
  }
  return { automation: a, id: a.id, sensor: { device: t.device, metric: t.metric }, commands, margin };
}
