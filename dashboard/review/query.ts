// Whole numbers from query strings (the API keeps them as digit strings so the schema can say
// exactly what is accepted), range-checked with a coded error naming the parameter.
import { HatakeError } from '../../protocol/errors.ts';

/** The parameter's value, its default when absent, or HATAKE_E_PAYLOAD_SCHEMA when out of range. */
export function queryInt(
  raw: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min || v > max)
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `querystring/${name} must be from ${min} to ${max}`, {
      place: { pointer: `/${name}` },
      expected: `an integer from ${min} to ${max}`,
    });
  return v;
}
