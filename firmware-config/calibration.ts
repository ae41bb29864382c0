// Calibration: raw sensor values to SI at decode time. A kit says how a metric is computed from a
// raw one — a polynomial in the raw value, or the Topp (1980) equation from apparent dielectric
// permittivity to volumetric water content — and a device's manifest entry may replace that with
// coefficients fitted for its own soil.
import type { Kit } from '../protocol/kit.ts';

/** Topp, Davis & Annan (1980): volumetric water content (m³/m³) from apparent permittivity ε. */
export function topp(epsilon: number): number {
  return -5.3e-2 + 2.92e-2 * epsilon - 5.5e-4 * epsilon ** 2 + 4.3e-6 * epsilon ** 3;
}

/** c0 + c1·x + c2·x² + … (Horner). */
export function polynomial(coefficients: readonly number[], x: number): number {
  let y = 0;
  for (let i = coefficients.length - 1; i >= 0; i--) y = y * x + coefficients[i]!;
  return y;
}

/** The metrics a kit calibrates (those a device may override in its manifest entry). */
export function calibratedMetrics(kit: Kit): string[] {
  return [...new Set((kit.calibration ?? []).map((c) => c.metric))];
}

/**
 * Adds (or replaces) each calibrated metric whose raw input is present. The first calibration of
 * a metric whose input is present wins; a device override applies to that same input.
 */
export function applyCalibration(
  values: Map<string, number>,
  kit: Kit,
  overrides: Readonly<Record<string, readonly number[]>> | undefined,
): void {
  const calibrations = kit.calibration;
  if (!calibrations) return;
  let done: Set<string> | undefined; // made when a first metric is calibrated
  for (const c of calibrations) {
    if (done?.has(c.metric)) continue;
    const raw = values.get(c.from);
    if (raw === undefined) continue;
    const own = overrides && Object.hasOwn(overrides, c.metric) ? overrides[c.metric] : undefined;
    const value = own
      ? polynomial(own, raw)
      : c.method === 'topp'
        ? topp(raw)
        : polynomial(c.coefficients ?? [0, 1], raw);
    values.set(c.metric, value);
    (done ??= new Set<string>()).add(c.metric);
  }
}
