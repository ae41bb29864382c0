// Metric values → stored readings: calibrate, range-check, attach units. Every codec ends here, so
// a value means the same whichever way it arrived.
import { HatakeError } from '../protocol/errors.ts';
import type { Kit } from '../protocol/kit.ts';
import { MAX_TIME_MS, type Reading } from '../protocol/telemetry.ts';
import { applyCalibration } from './calibration.ts';
import { checkValue } from './quality.ts';
import { pointerOf } from '../protocol/pointer.ts';

/**
 * Float noise from unit conversion (19.57 × 0.01) is not a measurement: keep 12 significant digits.
 * A value whose shortest form (`String(v)`) has at most 12 significant digits is already that
 * (rounding it to 12 digits gives the same decimal, which reads back as the same double), so it is
 * returned as it is; only the others are rounded. Most readings are short values from the device.
 */
export const tidy = (v: number): number =>
  !Number.isFinite(v) || v === 0 || significantDigits(String(v)) <= 12 ? v : Number(v.toPrecision(12));

/** Significant digits of a number as JavaScript prints it ("0.025" → 2, "1.5e-7" → 2, "1200" → 2). */
export function significantDigits(s: string): number {
  let digits = 0; // digits since the first non-zero one
  let significant = 0; // … up to the last non-zero one
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 101 || c === 69) break; // the exponent
    if (c < 48 || c > 57) continue; // sign, decimal point
    if (c !== 48) {
      digits++;
      significant = digits;
    } else if (digits > 0) digits++;
  }
  return significant;
}

/** Builds the readings of one message; throws a coded error for an impossible value. */
export function buildReadings(
  device: string,
  kit: Kit,
  time: number,
  values: Iterable<readonly [string, number]>,
  calibration?: Readonly<Record<string, readonly number[]>>,
): Reading[] {
  if (!Number.isSafeInteger(time) || time < 0 || time > MAX_TIME_MS) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'time is not a valid instant', {
      place: { pointer: '/time' },
      expected: 'an instant between 1970 and 2200',
    });
  }
  const map = new Map<string, number>();
  for (const [metric, value] of values) {
    if (map.has(metric)) {
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `metric "${metric}" appears twice in one message`, {
        place: { pointer: pointerOf('values', metric) },
      });
    }
    map.set(metric, value);
  }
  applyCalibration(map, kit, calibration);
  const readings: Reading[] = [];
  for (const [metric, raw] of map) {
    const value = tidy(raw);
    const flags = checkValue(kit, metric, value);
    readings.push({ device, metric, value, unit: kit.metrics[metric]!.unit, time, flags });
  }
  return readings;
}
