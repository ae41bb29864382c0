// Readings keep 12 significant digits (float noise from unit conversion is not a measurement).
// `tidy` skips the rounding for values that already have at most 12 digits; property: it returns
// exactly what rounding every value would, for any double.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { significantDigits, tidy } from '../../../firmware-config/readings.ts';

const rounded = (v: number) => (Number.isFinite(v) && v !== 0 ? Number(v.toPrecision(12)) : v);

describe('tidy', () => {
  it('is rounding to 12 significant digits, for any double', () => {
    fc.assert(
      fc.property(fc.double(), (v) => {
        expect(Object.is(tidy(v), rounded(v))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('is rounding to 12 significant digits for decimals of 1 to 17 digits and what unit conversions make of them', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 17n }),
        fc.integer({ min: -30, max: 30 }),
        fc.boolean(),
        (digits, exponent, negative) => {
          const v = Number(`${negative ? '-' : ''}${digits}e${exponent}`);
          for (const x of [v, v * 0.01, v * 1.8 + 32, v / 3, v + 0.1]) {
            expect(Object.is(tidy(x), rounded(x))).toBe(true);
          }
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('removes float noise and leaves short values as they are', () => {
    expect(tidy(19.57 * 0.01)).toBe(0.1957);
    expect(tidy(0.1 + 0.2)).toBe(0.3);
    expect(tidy(0.215)).toBe(0.215);
    expect(tidy(-0)).toBe(-0);
    expect(tidy(Number.NaN)).toBeNaN();
    expect(tidy(5e-324)).toBe(5e-324);
  });

  it('counts significant digits as JavaScript prints a number', () => {
    expect(significantDigits('0.025')).toBe(2);
    expect(significantDigits('100.5')).toBe(4);
    expect(significantDigits('-0.000123')).toBe(3);
    expect(significantDigits('1200')).toBe(2);
    expect(significantDigits('1.5e-7')).toBe(2);
    expect(significantDigits('1.2345678901234567e+21')).toBe(17);
    expect(significantDigits('0')).toBe(0);
  });
});
