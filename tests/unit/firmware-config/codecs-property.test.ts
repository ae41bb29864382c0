// Property-based: every codec, fed random and truncated bytes, returns readings or a coded
// HatakeError — never another exception, never a hang, never a reading outside its metric's
// hard bounds.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CodecSandbox } from '../../../firmware-config/codecs/sandbox.ts';
import { decodePayload } from '../../../firmware-config/decode.ts';
import { decodeCayenneLpp } from '../../../firmware-config/codecs/cayenne-lpp.ts';
import { decodeNetworkUplink } from '../../../firmware-config/network-uplink.ts';
import { physicalBounds } from '../../../firmware-config/quality.ts';
import { HatakeError } from '../../../protocol/errors.ts';
import type { Kit } from '../../../protocol/kit.ts';
import { catalogue } from './helpers.ts';

const sandbox = new CodecSandbox();
afterAll(() => sandbox.close());
const cat = catalogue();

/** Runs fn; passes when it returns or throws a coded (non-internal) HatakeError. */
function readingsOrCoded(kit: Kit, fn: () => ReturnType<typeof decodePayload>): void {
  let readings;
  try {
    readings = fn();
  } catch (e) {
    if (!(e instanceof HatakeError)) throw e;
    expect(e.code).not.toBe('HATAKE_E_INTERNAL');
    return;
  }
  expect(Array.isArray(readings)).toBe(true);
  for (const r of readings) {
    const b = physicalBounds(kit, r.metric);
    expect(Number.isFinite(r.value)).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(b.min);
    expect(r.value).toBeLessThanOrEqual(b.max);
    expect(r.unit).toBe(kit.metrics[r.metric]!.unit);
  }
}

const bytes = fc.uint8Array({ maxLength: 64 });
const port = fc.integer({ min: 0, max: 255 });

describe('every kit codec on random bytes', () => {
  const kits = [...cat.kits.values()];
  it.each(kits.map((k) => [k.id, k] as const))('%s: readings or a coded error', (_id, kit) => {
    const runs = kit.codec === 'ttn-js' ? 60 : 300;
    fc.assert(
      fc.property(bytes, port, (b, fPort) => {
        readingsOrCoded(kit, () =>
          decodePayload(b, { device: 'd', kit, receivedAt: 1_800_000_000_000, fPort, sandbox }),
        );
      }),
      { numRuns: runs },
    );
  });

  it.each(kits.filter((k) => k.codec === 'ttn-js').map((k) => [k.id, k] as const))(
    '%s: every truncation of a real payload is readings or a coded error',
    (_id, kit) => {
      const real: Record<string, [number[], number]> = {
        'dragino-lse01': [[0xce, 0x29, 0x00, 0xf1, 0x07, 0xa5, 0x09, 0x9b, 0x6e, 0x28, 0x90], 2],
        'decentlab-dl-atm41': [
          [
            2, 3, 90, 0, 3, 128, 10, 128, 0, 128, 0, 128, 0, 128, 9, 129, 43, 128, 20, 129, 8, 128, 180, 165,
            124, 130, 12, 129, 9, 128, 2, 127, 232, 128, 86, 128, 8, 128, 4, 11, 245,
          ],
          1,
        ],
        'decentlab-dl-smtp': [
          [
            2, 11, 80, 0, 3, 9, 1, 138, 140, 9, 67, 138, 152, 9, 39, 138, 146, 11, 60, 138, 165, 12, 156, 138,
            140, 17, 224, 138, 165, 0, 0, 0, 0, 0, 0, 0, 0, 11, 59,
          ],
          1,
        ],
        'sensecap-s2101': [[1, 1, 16, 152, 83, 0, 0, 1, 2, 16, 168, 122, 0, 0, 175, 81], 1],
        'sensecap-s2105': [[1, 6, 16, 152, 83, 0, 0, 1, 7, 16, 168, 122, 0, 0, 0, 0], 1],
      };
      const [full, fPort] = real[kit.id]!;
      for (let n = 0; n <= full.length; n++) {
        readingsOrCoded(kit, () =>
          decodePayload(new Uint8Array(full.slice(0, n)), {
            device: 'd',
            kit,
            receivedAt: 1_800_000_000_000,
            fPort,
            sandbox,
          }),
        );
      }
    },
  );
});

describe('CayenneLPP on arbitrary bytes', () => {
  it('decodes or throws HATAKE_E_PAYLOAD_BINARY, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (b) => {
        try {
          const out = decodeCayenneLpp(b);
          expect(typeof out).toBe('object');
        } catch (e) {
          expect(e).toBeInstanceOf(HatakeError);
          expect((e as HatakeError).code).toBe('HATAKE_E_PAYLOAD_BINARY');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('network-server uplink events', () => {
  const lookup = () => ({ device: 'lse-1', kit: 'dragino-lse01' });
  const jsonish = fc.jsonValue({ maxDepth: 4 });
  it('random JSON on a ChirpStack or TTS topic: a result or a coded error', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          'application/app/device/a840414a71835f9d/event/up',
          'v3/app@ttn/devices/lse-1/up',
          'v3/bad',
        ),
        jsonish,
        (topic, v) => {
          try {
            decodeNetworkUplink(topic, Buffer.from(JSON.stringify(v)), {
              catalogue: cat,
              lookup,
              receivedAt: 1_800_000_000_000,
              sandbox,
            });
          } catch (e) {
            expect(e).toBeInstanceOf(HatakeError);
            expect((e as HatakeError).code).not.toBe('HATAKE_E_INTERNAL');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('well-formed events with random frame payloads: readings or a coded error', () => {
    fc.assert(
      fc.property(bytes, fc.integer({ min: 0, max: 2 ** 32 - 1 }), port, (b, fCnt, fPort) => {
        const ev = {
          deviceInfo: { devEui: 'a840414a71835f9d' },
          fCnt,
          fPort,
          data: Buffer.from(b).toString('base64'),
          rxInfo: [{ gatewayId: 'gw1', rssi: -80, snr: 7.5 }],
        };
        try {
          const up = decodeNetworkUplink(
            'application/app/device/a840414a71835f9d/event/up',
            Buffer.from(JSON.stringify(ev)),
            {
              catalogue: cat,
              lookup,
              receivedAt: 1_800_000_000_000,
              sandbox,
            },
          );
          expect(up.fCnt).toBe(fCnt);
        } catch (e) {
          expect(e).toBeInstanceOf(HatakeError);
          expect((e as HatakeError).code).not.toBe('HATAKE_E_INTERNAL');
        }
      }),
      { numRuns: 60 },
    );
  });
});
