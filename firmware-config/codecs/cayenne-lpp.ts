// CayenneLPP (Cayenne Low Power Payload): the binary format many LoRa and Arduino sensors send —
// a sequence of [channel, type, value…] records. All standard types and the extended ones of the
// widely used Arduino library. Output keys follow The Things Stack's formatter (`temperature_3`,
// `barometric_pressure_1`, …) so a kit maps a device's payload the same way whether hatake or the
// network server decoded it. Written here rather than taken from npm: the packages there cover
// only the 13 original types, throw RangeErrors on truncated input and are unmaintained.
import { HatakeError } from '../../protocol/errors.ts';

interface LppType {
  name: string;
  size: number;
  read: (v: DataView, at: number) => number | Record<string, number>;
}

const u8 = (v: DataView, at: number) => v.getUint8(at);
const i16 = (d: number) => (v: DataView, at: number) => v.getInt16(at) / d;
const u16 = (d: number) => (v: DataView, at: number) => v.getUint16(at) / d;
const u32 = (d: number) => (v: DataView, at: number) => v.getUint32(at) / d;
const i24 = (v: DataView, at: number) => {
  const x = (v.getUint8(at) << 16) | (v.getUint8(at + 1) << 8) | v.getUint8(at + 2);
  return x & 0x800000 ? x - 0x1000000 : x;
};
const axes = (d: number) => (v: DataView, at: number) => ({
  x: v.getInt16(at) / d,
  y: v.getInt16(at + 2) / d,
  z: v.getInt16(at + 4) / d,
});

/** LPP type id → name, data size and reader (resolutions from the LPP specification). */
export const LPP_TYPES: ReadonlyMap<number, LppType> = new Map<number, LppType>([
  [0, { name: 'digital_in', size: 1, read: u8 }],
  [1, { name: 'digital_out', size: 1, read: u8 }],
  [2, { name: 'analog_in', size: 2, read: i16(100) }],
  [3, { name: 'analog_out', size: 2, read: i16(100) }],
  [100, { name: 'generic_sensor', size: 4, read: u32(1) }],
  [101, { name: 'luminosity', size: 2, read: u16(1) }],
  [102, { name: 'presence', size: 1, read: u8 }],
  [103, { name: 'temperature', size: 2, read: i16(10) }],
  [104, { name: 'relative_humidity', size: 1, read: (v, at) => v.getUint8(at) / 2 }],
  [113, { name: 'accelerometer', size: 6, read: axes(1000) }],
  [115, { name: 'barometric_pressure', size: 2, read: u16(10) }],
  [116, { name: 'voltage', size: 2, read: u16(100) }],
  [117, { name: 'current', size: 2, read: u16(1000) }],
  [118, { name: 'frequency', size: 4, read: u32(1) }],
  [120, { name: 'percentage', size: 1, read: u8 }],
  [121, { name: 'altitude', size: 2, read: i16(1) }],
  [125, { name: 'concentration', size: 2, read: u16(1) }],
  [128, { name: 'power', size: 2, read: u16(1) }],
  [130, { name: 'distance', size: 4, read: u32(1000) }],
  [131, { name: 'energy', size: 4, read: u32(1000) }],
  [132, { name: 'direction', size: 2, read: u16(1) }],
  [133, { name: 'unixtime', size: 4, read: u32(1) }],
  [134, { name: 'gyrometer', size: 6, read: axes(100) }],
  [
    135,
    {
      name: 'colour',
      size: 3,
      read: (v, at) => ({ r: v.getUint8(at), g: v.getUint8(at + 1), b: v.getUint8(at + 2) }),
    },
  ],
  [
    136,
    {
      name: 'gps',
      size: 9,
      read: (v, at) => ({
        latitude: i24(v, at) / 10000,
        longitude: i24(v, at + 3) / 10000,
        altitude: i24(v, at + 6) / 100,
      }),
    },
  ],
  [142, { name: 'switch', size: 1, read: u8 }],
]);

/** Decodes a CayenneLPP payload into `{ <type>_<channel>: value }`; throws HATAKE_E_PAYLOAD_BINARY. */
export function decodeCayenneLpp(bytes: Uint8Array): Record<string, number | Record<string, number>> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, number | Record<string, number>> = {};
  if (bytes.byteLength === 0) {
    throw new HatakeError('HATAKE_E_PAYLOAD_BINARY', 'empty CayenneLPP payload', {
      expected: 'one or more [channel, type, data] records',
    });
  }
  let at = 0;
  while (at < bytes.byteLength) {
    if (at + 2 > bytes.byteLength) {
      throw new HatakeError('HATAKE_E_PAYLOAD_BINARY', `CayenneLPP record at byte ${at} is truncated`, {
        place: { pointer: `/${at}` },
        expected: 'a channel and a type byte',
      });
    }
    const channel = bytes[at]!;
    const typeId = bytes[at + 1]!;
    const type = LPP_TYPES.get(typeId);
    if (!type) {
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_BINARY',
        `CayenneLPP type ${typeId} at byte ${at + 1} is not known`,
        {
          place: { pointer: `/${at + 1}` },
          expected: [...LPP_TYPES.keys()].join(', '),
        },
      );
    }
    if (at + 2 + type.size > bytes.byteLength) {
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_BINARY',
        `CayenneLPP ${type.name} on channel ${channel} needs ${type.size} bytes, ${bytes.byteLength - at - 2} left`,
        { place: { pointer: `/${at}` }, expected: `${type.size} data bytes` },
      );
    }
    const key = `${type.name}_${channel}`;
    if (Object.hasOwn(out, key)) {
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_BINARY',
        `CayenneLPP ${type.name} on channel ${channel} appears twice`,
        {
          place: { pointer: `/${at}` },
        },
      );
    }
    out[key] = type.read(view, at + 2);
    at += 2 + type.size;
  }
  return out;
}
