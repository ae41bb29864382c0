// Decoding a device's payload with its kit's codec: the one entry point the gateway calls.
import { HatakeError } from '../protocol/errors.ts';
import type { Reading } from '../protocol/telemetry.ts';
import { decodeJsonTelemetry, type DecodeContext } from './codecs/json.ts';

/** Decodes bytes from a device into readings with the codec its kit names, or throws a coded error. */
export function decodePayload(bytes: Uint8Array, ctx: DecodeContext): Reading[] {
  switch (ctx.kit.codec) {
    case 'json':
      return decodeJsonTelemetry(bytes, ctx);
    default:
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        `kit "${ctx.kit.id}" names codec "${ctx.kit.codec}", which this gateway does not have`,
        {
          expected: 'json',
        },
      );
  }
}
