// Range checks at decode time. A value the sensor cannot report but that is physically possible
// is stored with the `out_of_range` flag; a value that cannot be true is refused.
import { METRICS, isMetricName } from '../protocol/metrics.ts';
import { HatakeError } from '../protocol/errors.ts';
import type { Kit } from '../protocol/kit.ts';
import type { QualityFlag } from '../protocol/telemetry.ts';
import { pointerOf } from '../protocol/pointer.ts';

/** The bounds beyond which a value is refused: the physical range, or the kit's range widened by its span. */
export function physicalBounds(kit: Kit, metric: string): { min: number; max: number } {
  if (isMetricName(metric)) return { min: METRICS[metric].min, max: METRICS[metric].max };
  const m = kit.metrics[metric];
  if (!m) return { min: -Infinity, max: Infinity };
  const span = m.max - m.min;
  return { min: m.min - span, max: m.max + span };
}

/** Checks one value against its kit; returns its flags or throws a coded error. */
export function checkValue(kit: Kit, metric: string, value: number): QualityFlag[] {
  const m = kit.metrics[metric];
  if (!m) {
    throw new HatakeError('HATAKE_E_UNKNOWN_METRIC', `kit "${kit.id}" has no metric "${metric}"`, {
      place: { pointer: pointerOf('values', metric) },
      expected: Object.keys(kit.metrics).join(', '),
    });
  }
  if (!Number.isFinite(value)) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `${metric} is not a finite number`, {
      place: { pointer: pointerOf('values', metric) },
      expected: 'a finite number',
    });
  }
  const hard = physicalBounds(kit, metric);
  if (value < hard.min || value > hard.max) {
    throw new HatakeError('HATAKE_E_OUT_OF_RANGE', `${metric} = ${value} ${m.unit} cannot be right`, {
      place: { pointer: pointerOf('values', metric) },
      expected: `${hard.min}…${hard.max} ${m.unit}`,
    });
  }
  return value < m.min || value > m.max ? ['out_of_range'] : [];
}
