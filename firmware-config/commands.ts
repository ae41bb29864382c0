// Actuator commands as the kit defines them: `hatake-water-gate` opens, closes, or opens for a
// number of minutes. A command is checked against its parameters' types and limits (the safety
// limits of the device) and becomes the JSON payload for the device's `down` topic.
import { HatakeError } from '../protocol/errors.ts';
import type { Kit } from '../protocol/kit.ts';

export interface EncodedCommand {
  /** JSON for `hatake/v1/{farm}/{device}/down`. */
  payload: string;
  /** The state the device should report once it obeyed (metric and value), if the kit says. */
  expect: { metric: string; value: number } | undefined;
}

/** Builds a command's payload; throws HATAKE_E_UNKNOWN_COMMAND or HATAKE_E_PAYLOAD_SCHEMA. */
export function encodeCommand(
  kit: Kit,
  name: string,
  params: Readonly<Record<string, unknown>> = {},
): EncodedCommand {
  const cmd = kit.commands && Object.hasOwn(kit.commands, name) ? kit.commands[name] : undefined;
  if (!cmd) {
    throw new HatakeError(
      'HATAKE_E_UNKNOWN_COMMAND',
      `kit "${kit.id}" has no command "${name.slice(0, 40)}"`,
      {
        expected: Object.keys(kit.commands ?? {}).join(', ') || 'a kit with commands',
      },
    );
  }
  const specs = cmd.params ?? {};
  for (const k of Object.keys(params)) {
    if (!Object.hasOwn(specs, k)) {
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_SCHEMA',
        `command "${name}" takes no parameter "${k.slice(0, 40)}"`,
        {
          place: { pointer: `/${k}` },
          expected: Object.keys(specs).join(', ') || 'no parameters',
        },
      );
    }
  }
  const values: Record<string, number> = {};
  for (const [k, spec] of Object.entries(specs)) {
    const raw = params[k];
    const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (spec.type === 'number' || Number.isInteger(v)) &&
      v >= spec.min &&
      v <= spec.max;
    if (!ok) {
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_SCHEMA',
        `command "${name}": ${k} = ${String(raw).slice(0, 40)} is not allowed`,
        {
          place: { pointer: `/${k}` },
          expected: `${spec.type === 'integer' ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}${spec.unit ? ` ${spec.unit}` : ''}`,
        },
      );
    }
    values[k] = v;
  }
  const fill = (x: unknown): unknown => {
    if (typeof x === 'string') {
      const m = /^\$\{([a-z][a-z0-9_]*)\}$/.exec(x);
      return m && Object.hasOwn(values, m[1]!) ? values[m[1]!] : x;
    }
    if (Array.isArray(x)) return x.map(fill);
    if (typeof x === 'object' && x !== null)
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, fill(v)]));
    return x;
  };
  return { payload: JSON.stringify(fill(cmd.payload)), expect: cmd.expect };
}
