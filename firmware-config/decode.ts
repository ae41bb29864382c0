// Decoding a device's payload with its kit's codec: the one entry point the gateway calls. Every
// codec is a function from bytes (+ fPort, + receive time) to readings in the catalogue's units,
// or a coded HatakeError — never another exception.
import { basename } from 'node:path';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import type { Reading } from '../protocol/telemetry.ts';
import { codecSourceOf } from './catalogue.ts';
import { decodeCayenneLpp } from './codecs/cayenne-lpp.ts';
import { checkSize, decodeJsonTelemetry } from './codecs/json.ts';
import type { DecodeContext } from './codecs/context.ts';
import { defaultSandbox } from './codecs/sandbox.ts';
import { buildReadings } from './readings.ts';
import { mapUplinkFields } from './uplink-fields.ts';

export type { DecodeContext };

/** Refuses an fPort the kit does not use. */
function checkFPort(ctx: DecodeContext): void {
  const ports = ctx.kit.fPorts;
  if (ports && ctx.fPort !== undefined && !ports.includes(ctx.fPort)) {
    throw new HatakeError('HATAKE_E_CODEC', `fPort ${ctx.fPort} is not used by kit "${ctx.kit.id}"`, {
      expected: `fPort ${ports.join(' | ')}`,
    });
  }
}

/** What a kit's binary codec makes of the bytes: an object its `uplink` list maps to metrics. */
export function decodeToObject(bytes: Uint8Array, ctx: DecodeContext): unknown {
  checkSize(bytes, ctx);
  checkFPort(ctx);
  const kit = ctx.kit;
  switch (kit.codec) {
    case 'cayenne-lpp':
      return decodeCayenneLpp(bytes);
    case 'ttn-js': {
      const codec = codecSourceOf(kit);
      if (!codec) {
        throw new HatakeError(
          'HATAKE_E_CODEC',
          `vendor codec "${kit.codecFile ?? '?'}" of kit "${kit.id}" is not installed`,
          {
            expected:
              "the codec file beside the kit file or in a codec folder (the gateway config's `codecs:`, or HATAKE_CODEC_PATH)",
          },
        );
      }
      const out = (ctx.sandbox ?? defaultSandbox()).decodeUplink(
        codec.source,
        basename(codec.file),
        { bytes: [...bytes], fPort: ctx.fPort ?? 1, recvTime: ctx.receivedAt },
        ctx.device,
      );
      if (out.errors?.length) {
        throw new HatakeError(
          'HATAKE_E_CODEC',
          `codec ${basename(codec.file)}: ${out.errors.join('; ').slice(0, 300)}`,
        );
      }
      return out.data ?? {};
    }
    case 'network-server':
      throw new HatakeError(
        'HATAKE_E_CODEC',
        `kit "${kit.id}" is decoded by the LoRaWAN network server, not from raw bytes`,
        {
          expected: "an uplink event with the network server's decoded object",
        },
      );
    case 'json':
      throw new HatakeError(
        'HATAKE_E_CODEC',
        `kit "${kit.id}" uses the json codec, which makes readings directly`,
      );
  }
}

/** Readings from an already decoded object (a vendor codec's or a network server's output). */
export function readingsFromObject(decoded: unknown, ctx: DecodeContext, time = ctx.receivedAt): Reading[] {
  const values = mapUplinkFields(ctx.kit, decoded);
  const readings = buildReadings(ctx.device, ctx.kit, time, values, ctx.calibration);
  return ctx.tracker ? ctx.tracker.assess(readings, ctx.kit, ctx.receivedAt) : readings;
}

/** Decodes bytes from a device into readings with the codec its kit names, or throws a coded error. */
export function decodePayload(bytes: Uint8Array, ctx: DecodeContext): Reading[] {
  try {
    if (ctx.kit.codec === 'json') {
      const readings = decodeJsonTelemetry(bytes, ctx);
      return ctx.tracker ? ctx.tracker.assess(readings, ctx.kit, ctx.receivedAt) : readings;
    }
    return readingsFromObject(decodeToObject(bytes, ctx), ctx);
  } catch (e) {
    if (isHatakeError(e)) throw e;
    // A codec must answer with a coded error; anything else is our bug, reported as such.
    throw new HatakeError(
      'HATAKE_E_INTERNAL',
      `decoder failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`,
      { cause: e },
    );
  }
}
