// Units as vendors write them, converted to hatake's storage units. Vendor codecs say "°C",
// "m⋅s⁻¹", "W⋅m⁻²", "%RH" or "uS/cm"; the catalogue stores degC, m/s, W/m2, % and dS/m. A unit is
// first normalised to a canonical spelling, then converted by a factor (and offset) within its
// dimension. Unknown or incompatible units are an error, never a silent pass-through.
import { HatakeError } from '../protocol/errors.ts';

/** Canonical unit → [dimension, factor to the dimension's base, offset added after the factor]. */
const UNITS: Record<string, [string, number, number]> = {
  degC: ['temperature', 1, 0],
  degF: ['temperature', 5 / 9, -32 * (5 / 9)],
  K: ['temperature', 1, -273.15],
  '%': ['fraction', 0.01, 0],
  'm3/m3': ['fraction', 1, 0],
  '1': ['fraction', 1, 0],
  'dS/m': ['conductivity', 1, 0],
  'mS/cm': ['conductivity', 1, 0],
  'uS/cm': ['conductivity', 0.001, 0],
  'mS/m': ['conductivity', 0.01, 0],
  'S/m': ['conductivity', 10, 0],
  'm/s': ['speed', 1, 0],
  'km/h': ['speed', 1 / 3.6, 0],
  kn: ['speed', 0.514444, 0],
  'W/m2': ['irradiance', 1, 0],
  mm: ['length', 0.001, 0],
  cm: ['length', 0.01, 0],
  m: ['length', 1, 0],
  km: ['length', 1000, 0],
  V: ['voltage', 1, 0],
  mV: ['voltage', 0.001, 0],
  kPa: ['pressure', 1000, 0],
  hPa: ['pressure', 100, 0],
  Pa: ['pressure', 1, 0],
  deg: ['angle', 1, 0],
  dBm: ['power-level', 1, 0],
  dB: ['ratio-level', 1, 0],
  lx: ['illuminance', 1, 0],
  ppm: ['concentration', 1, 0],
  s: ['time', 1, 0],
  min: ['time', 60, 0],
  h: ['time', 3600, 0],
};

const ALIASES: Record<string, string> = {
  '°C': 'degC',
  '℃': 'degC',
  C: 'degC',
  celsius: 'degC',
  '°F': 'degF',
  '%RH': '%',
  '%rh': '%',
  RH: '%',
  'µS/cm': 'uS/cm',
  'μS/cm': 'uS/cm',
  'us/cm': 'uS/cm',
  'ms/cm': 'mS/cm',
  'ds/m': 'dS/m',
  'm⋅s⁻¹': 'm/s',
  'm·s⁻¹': 'm/s',
  'm s-1': 'm/s',
  'ms-1': 'm/s',
  'W⋅m⁻²': 'W/m2',
  'W·m⁻²': 'W/m2',
  'W/m²': 'W/m2',
  'W m-2': 'W/m2',
  'm³/m³': 'm3/m3',
  'm³⋅m⁻³': 'm3/m3',
  '°': 'deg',
  degree: 'deg',
  degrees: 'deg',
  lux: 'lx',
  Lux: 'lx',
  '': '1',
};

/** The canonical spelling of a unit, or undefined when hatake does not know it. */
export function canonicalUnit(unit: string): string | undefined {
  const u = unit.trim();
  if (Object.hasOwn(UNITS, u)) return u;
  const alias = ALIASES[u];
  return alias !== undefined && Object.hasOwn(ALIASES, u) ? alias : undefined;
}

/** Converts a value between two units of one dimension; throws a coded error otherwise. */
export function convertUnit(value: number, from: string, to: string): number {
  const f = canonicalUnit(from);
  const t = canonicalUnit(to);
  if (f === undefined || t === undefined) {
    throw new HatakeError(
      'HATAKE_E_CODEC',
      `unit "${(f === undefined ? from : to).slice(0, 20)}" is not known`,
      {
        expected: Object.keys(UNITS).join(', '),
      },
    );
  }
  if (f === t) return value;
  const [fd, ff, fo] = UNITS[f]!;
  const [td, tf, to_] = UNITS[t]!;
  if (fd !== td) {
    throw new HatakeError('HATAKE_E_CODEC', `cannot convert ${f} to ${t}`, {
      expected: `a unit of ${td}`,
    });
  }
  const base = value * ff + fo;
  return (base - to_) / tf;
}

/** True when a unit can be converted to another (same dimension). */
export function unitsCompatible(from: string, to: string): boolean {
  const f = canonicalUnit(from);
  const t = canonicalUnit(to);
  return f !== undefined && t !== undefined && UNITS[f]![0] === UNITS[t]![0];
}
