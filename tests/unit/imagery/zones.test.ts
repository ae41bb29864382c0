// Management-zone breaks: edge/imagery's typed-array Ckmeans against simple-statistics' `ckmeans`
// (the reference implementation of Ckmeans.1d.dp in JavaScript) on random sorted data — the same
// clusters for every k — and the sieve that removes regions smaller than the minimum.
import fc from 'fast-check';
import { ckmeans } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { Ckmeans, DEFAULT_ZONING, parseZoneCount, sieve, zoneBreaks } from '../../../edge/imagery/zones.ts';

/** Sorted values the way fields give them: continuous, quantised to a few levels, or two clumps. */
const sortedValues = fc
  .oneof(
    fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 400 }),
    fc.array(
      fc.integer({ min: 0, max: 5 }).map((i) => i / 5),
      { minLength: 1, maxLength: 400 },
    ),
    fc.array(
      fc
        .tuple(fc.boolean(), fc.double({ min: 0, max: 0.01, noNaN: true }))
        .map(([a, d]) => (a ? 0.2 : 0.8) + d),
      { minLength: 1, maxLength: 400 },
    ),
  )
  .map((xs) => Float64Array.from(xs).sort());

describe('Ckmeans', () => {
  it('gives the clusters simple-statistics gives, for every k up to the distinct values', () => {
    fc.assert(
      fc.property(sortedValues, fc.integer({ min: 1, max: 6 }), (sorted, kMax) => {
        const distinct = new Set(sorted).size;
        const dp = new Ckmeans(sorted);
        for (let k = 1; k <= Math.min(kMax, distinct); k++) {
          const reference = ckmeans([...sorted], k);
          const starts = [...dp.clusters(k)];
          let at = 0;
          const expected = reference.map((c) => ((at += c.length), at - c.length));
          expect(starts, `k=${k}`).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses more clusters than values', () => {
    expect(() => new Ckmeans(Float64Array.of(1, 2)).clusters(3)).toThrow(RangeError);
  });
});

describe('zoneBreaks', () => {
  it('picks the fixed k, or the smallest of 3–5 reaching the goodness of variance fit', () => {
    const two = Float32Array.from(
      { length: 90 },
      (_, i) => (i < 30 ? 0.3 : i < 60 ? 0.5 : 0.7) + (i % 3) * 1e-3,
    );
    expect(zoneBreaks(two, { k: 3, gvf: 0.85, minRegionPixels: 4 })).toHaveLength(2);
    expect(zoneBreaks(two, { k: 'auto', gvf: 0.85, minRegionPixels: 4 })).toHaveLength(2);
  });
});

describe('zone counts', () => {
  it('takes auto and 3–5, written or as numbers, and refuses anything else with a coded error', () => {
    expect(['auto', '3', '4', '5', 3, 5].map((v) => parseZoneCount(v))).toEqual(['auto', 3, 4, 5, 3, 5]);
    for (const bad of ['2', '6', '10', '3.5', ' 3', '', 'three', 2, 6, 3.5, Number.NaN, -3]) {
      expect(() => parseZoneCount(bad, '--zones'), String(bad)).toThrow(
        expect.objectContaining({
          code: 'HATAKE_E_CONFIG',
          message: expect.stringMatching(/^--zones ".*" is not auto, 3, 4 or 5$/),
        }),
      );
    }
  });

  it('is enforced by the zoning itself, not only by the CLI', () => {
    const sorted = new Float64Array(100).map((_, i) => i / 100);
    expect(() => zoneBreaks(sorted, { ...DEFAULT_ZONING, k: 2 })).toThrow(/"2" is not auto, 3, 4 or 5/);
    expect(zoneBreaks(sorted, { ...DEFAULT_ZONING, k: 4 })).toHaveLength(3);
  });
});

describe('sieve', () => {
  it('merges a region smaller than the minimum into its neighbour and leaves large ones', () => {
    // 5 × 5 of zone 1 with a single pixel of zone 2 in the middle and a 3 × 5 band of zone 3.
    const w = 5;
    const labels = Uint8Array.from({ length: 40 }, (_, i) => (i >= 25 ? 3 : i === 12 ? 2 : 1));
    sieve(labels, w, 8, 4);
    expect(labels[12]).toBe(1);
    expect(labels.filter((l) => l === 3)).toHaveLength(15);
    expect(labels.filter((l) => l === 1)).toHaveLength(25);
  });
});
