// hatake's own JSON telemetry codec: `{"time": …, "values": {"soil_vwc": 0.23, …}}`.
import { HatakeError } from '../../protocol/errors.ts';
import { TelemetryPayload, type Reading } from '../../protocol/telemetry.ts';
import { validator } from '../../protocol/validate.ts';
import { buildReadings } from '../readings.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type DecodeContext } from './context.ts';

export { DEFAULT_MAX_PAYLOAD_BYTES, type DecodeContext };
const payloadValidator = validator(TelemetryPayload);

/** Refuses a payload over the context's byte limit. */
export function checkSize(bytes: Uint8Array, ctx: DecodeContext): void {
  const max = ctx.maxBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (bytes.byteLength > max) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SIZE', `payload of ${bytes.byteLength} bytes`, {
      expected: `at most ${max} bytes`,
    });
  }
}

/** Decodes a JSON telemetry payload into readings, or throws a coded error. */
export function decodeJsonTelemetry(bytes: Uint8Array, ctx: DecodeContext): Reading[] {
  checkSize(bytes, ctx);
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
  return buildReadings(ctx.device, ctx.kit, time, Object.entries(payload.values), ctx.calibration);
}
