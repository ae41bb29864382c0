// hatake's own JSON telemetry codec: `{"time": …, "values": {"soil_vwc": 0.23, …}}`.
import { HatakeError } from '../../protocol/errors.ts';
import { TelemetryPayload, type Reading } from '../../protocol/telemetry.ts';
import { validator } from '../../protocol/validate.ts';
import type { Kit } from '../../protocol/kit.ts';
import { checkValue } from '../quality.ts';

export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024;
const payloadValidator = validator(TelemetryPayload);

export interface DecodeContext {
  device: string;
  kit: Kit;
  /** Gateway receive time, epoch ms; used when the payload carries no time. */
  receivedAt: number;
  maxBytes?: number;
}

/** Decodes a JSON telemetry payload into readings, or throws a coded error. */
export function decodeJsonTelemetry(bytes: Uint8Array, ctx: DecodeContext): Reading[] {
  const max = ctx.maxBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (bytes.byteLength > max) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SIZE', `payload of ${bytes.byteLength} bytes`, {
      expected: `at most ${max} bytes`,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    throw new HatakeError('HATAKE_E_PAYLOAD_JSON', `payload is not JSON: ${(e as Error).message}`, {
      expected: '{"time": ISO-8601 | epoch ms, "values": {metric: number}}',
    });
  }
  const payload = payloadValidator.parse(parsed, 'telemetry payload');
  const time =
    payload.time === undefined
      ? ctx.receivedAt
      : typeof payload.time === 'number'
        ? payload.time
        : Date.parse(payload.time);
  if (!Number.isSafeInteger(time) || time < 0) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'time is not a valid instant', {
      place: { pointer: '/time' },
    });
  }
  const readings: Reading[] = [];
  for (const [metric, value] of Object.entries(payload.values)) {
    const flags = checkValue(ctx.kit, metric, value);
    readings.push({ device: ctx.device, metric, value, unit: ctx.kit.metrics[metric]!.unit, time, flags });
  }
  return readings;
}
