// The zones of a field cut to its boundary (edge/recommend/coverage.ts): areas on the imagery's
// sphere (a lon/lat cell measures exactly what pixelAreaM2 gives it), and for random fields and
// random pixel zones with masked pixels — the clipped zones and the rest of the field add up to
// the field, no zone vertex lies outside it, and every point of the field is in exactly one piece.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import polygonClipping from 'polygon-clipping';
import type { Polygon as ClipPolygon } from 'polygon-clipping';
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon';
import { areaM2, clipZonesToField } from '../../edge/recommend/coverage.ts';
import { pixelAreaM2 } from '../../edge/imagery/fields.ts';
import type { Grid } from '../../edge/imagery/raster-file.ts';
import type { MultiPolygonGeometry, PolygonGeometry } from '../../protocol/recommendation.ts';
import { HatakeError } from '../../protocol/errors.ts';

const rad = Math.PI / 180;
type Pt = [number, number];
const square = (x0: number, y0: number, x1: number, y1: number): Pt[] => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

describe('areaM2', () => {
  it('gives a lon/lat cell the imagery’s pixel area, at any latitude', () => {
    for (const lat of [-60, -12.5, 0, 37.8, 43.06, 70]) {
      const grid = { x0: 138.9, y0: lat, dx: 0.0001, dy: 0.0001, crs: { geographic: true } } as Grid;
      const cell: PolygonGeometry = {
        type: 'Polygon',
        coordinates: [square(138.9, lat - 0.0001, 138.9001, lat)],
      };
      expect(areaM2(cell) / pixelAreaM2(grid, 0)).toBeCloseTo(1, 9);
    }
  });

  it('takes holes off, whatever the winding', () => {
    const outer = square(139, 37.8, 139.001, 37.801);
    const hole = square(139.0004, 37.8004, 139.0006, 37.8006);
    const a = areaM2({ type: 'Polygon', coordinates: [outer] });
    const h = areaM2({ type: 'Polygon', coordinates: [hole] });
    expect(areaM2({ type: 'Polygon', coordinates: [outer, hole] })).toBeCloseTo(a - h, 6);
    expect(areaM2({ type: 'Polygon', coordinates: [[...outer].reverse(), hole] })).toBeCloseTo(a - h, 6);
    // ≈ 87.9 m × 111.2 m at 37.8° N
    expect(a / (0.001 * 111_195 * Math.cos(37.8005 * rad) * 0.001 * 111_195)).toBeCloseTo(1, 5);
  });
});

describe('clipZonesToField', () => {
  /** A star-shaped field (simple polygon) of n vertices, 30–120 m from its centre. */
  const fieldArb = fc.record({
    lon: fc.double({ min: 130, max: 145, noNaN: true }),
    lat: fc.double({ min: 30, max: 45, noNaN: true }),
    radii: fc.array(fc.double({ min: 30, max: 120, noNaN: true }), { minLength: 3, maxLength: 9 }),
    turn: fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
    // the pixel grid's offset (fractions of a pixel) and each pixel's zone (0 = masked)
    ox: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    oy: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    labels: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 600, maxLength: 600 }),
  });

  it('the clipped zones and the rest add up to the field; no zone reaches outside it', () => {
    fc.assert(
      fc.property(fieldArb, ({ lon, lat, radii, turn, ox, oy, labels }) => {
        const mLon = 111_195 * Math.cos(lat * rad);
        const mLat = 111_195;
        const ring = radii.map((r, i) => {
          const t = turn + (2 * Math.PI * i) / radii.length;
          return [lon + (r * Math.cos(t)) / mLon, lat + (r * Math.sin(t)) / mLat] as Pt;
        });
        ring.push(ring[0]!);
        const field: PolygonGeometry = { type: 'Polygon', coordinates: [ring] };
        // 10 m pixels over the field's box; a pixel whose centre is in the field is in a zone
        const px = 10 / mLon;
        const py = 10 / mLat;
        const x0 = lon - 130 / mLon - ox * px;
        const y0 = lat - 130 / mLat - oy * py;
        const byZone = new Map<number, ClipPolygon[]>();
        const masked: ClipPolygon[] = [];
        for (let i = 0; i < 27; i++)
          for (let j = 0; j < 27; j++) {
            const cx = x0 + (i + 0.5) * px;
            const cy = y0 + (j + 0.5) * py;
            if (!booleanPointInPolygon([cx, cy], field)) continue;
            const z = labels[(i * 27 + j) % labels.length]!;
            const sq = square(x0 + i * px, y0 + j * py, x0 + (i + 1) * px, y0 + (j + 1) * py);
            if (z === 0) masked.push([sq] as ClipPolygon);
            else byZone.set(z, [...(byZone.get(z) ?? []), [sq] as ClipPolygon]);
          }
        const zones = [...byZone.entries()].map(([z, squares]) => ({
          id: `z${z}`,
          geometry: {
            type: 'MultiPolygon',
            coordinates: polygonClipping.union(squares[0]!, ...squares.slice(1)),
          } as MultiPolygonGeometry,
        }));
        if (zones.length === 0) return;
        const out = clipZonesToField('f', field, zones);
        const c = out.coverage;
        const fieldHa = areaM2(field) / 1e4;
        // each area is rounded to 1e-7 ha; unrounded the pieces add up to the field to ~1e-12
        expect(Math.abs(c.fieldAreaHa - fieldHa)).toBeLessThan(1e-7);
        const sum = out.areaHa.reduce((s, a) => s + a, 0) + c.uncoveredAreaHa;
        expect(Math.abs(sum - c.fieldAreaHa)).toBeLessThan((zones.length + 2) * 0.5e-7 + 1e-12);
        out.areaHa.forEach((a, k) => expect(a).toBeLessThanOrEqual(areaM2(zones[k]!.geometry) / 1e4 + 1e-7));
        // the masked pixels' part inside the field is in the rest (the rest also holds the strip
        // along the boundary whose pixel centres lie outside the field)
        if (masked.length) {
          const maskedIn = polygonClipping.intersection(
            [ring] as ClipPolygon,
            polygonClipping.union(masked[0]!, ...masked.slice(1)),
          );
          const a = maskedIn.length ? areaM2({ type: 'MultiPolygon', coordinates: maskedIn }) : 0;
          expect(c.uncoveredAreaHa * 1e4).toBeGreaterThanOrEqual(a - 1e-3);
        }
        for (const g of out.geometry) {
          for (const p of g.coordinates.flat(2)) {
            const on = ring.some((a, i) => {
              const b = ring[(i + 1) % ring.length]!;
              const [dx, dy] = [b[0]! - a[0]!, b[1]! - a[1]!];
              const t = Math.max(
                0,
                Math.min(1, ((p[0]! - a[0]!) * dx + (p[1]! - a[1]!) * dy) / (dx * dx + dy * dy)),
              );
              return Math.hypot(p[0]! - (a[0]! + t * dx), p[1]! - (a[1]! + t * dy)) <= 1e-9;
            });
            expect(on || booleanPointInPolygon(p, field)).toBe(true);
          }
        }
        // every point of the field (clear of the pieces' edges) is in exactly one piece: one zone
        // or the rest — checked on a 5 m lattice with turf's point test
        const pieces = [...out.geometry, ...(c.uncovered ? [c.uncovered] : [])];
        const edges = pieces.flatMap((g) => g.coordinates.flat(1));
        const near = (p: number[]) =>
          edges.some((r) =>
            r.some((a, i) => {
              const b = r[(i + 1) % r.length]!;
              const [ax, ay, bx, by] = [a[0]! * mLon, a[1]! * mLat, b[0]! * mLon, b[1]! * mLat];
              const [qx, qy] = [p[0]! * mLon, p[1]! * mLat];
              const [dx, dy] = [bx - ax, by - ay];
              const t = Math.max(
                0,
                Math.min(1, ((qx - ax) * dx + (qy - ay) * dy) / (dx * dx + dy * dy || 1)),
              );
              return Math.hypot(qx - (ax + t * dx), qy - (ay + t * dy)) < 0.01;
            }),
          );
        let checked = 0;
        for (let i = -25; i <= 25; i++)
          for (let j = -25; j <= 25; j++) {
            const p = [lon + (5 * i + 0.37) / mLon, lat + (5 * j + 0.71) / mLat];
            if (!booleanPointInPolygon(p, field) || near(p)) continue;
            checked++;
            expect(pieces.filter((g) => booleanPointInPolygon(p, g)).length, `${p.join(',')}`).toBe(1);
          }
        expect(checked).toBeGreaterThan(100);
      }),
      { numRuns: 15, seed: 20261120 },
    );
  });

  it('cuts what polygon-clipping alone fails on (mfogel/polygon-clipping#139), on coordinates snapped to 1e-9°', () => {
    // A field with a hole and a zone whose corners are a float's width apart: the package's
    // difference() and intersection() throw "Unable to complete output ring" on them as they are.
    const field: PolygonGeometry = {
      type: 'Polygon',
      coordinates: [square(0, 56, 4, 60), square(0.5, 56.4, 1.5, 56.6).reverse()],
    };
    const zone: MultiPolygonGeometry = {
      type: 'MultiPolygon',
      coordinates: [
        [
          [
            [2.3000000000000003, 55.6],
            [0.7000000000000001, 55.6],
            [0.6999999999999998, 56.4],
            [2.3, 56.4],
            [2.3000000000000003, 55.6],
          ],
        ],
      ],
    };
    expect(() =>
      polygonClipping.difference(field.coordinates as ClipPolygon, zone.coordinates as ClipPolygon[]),
    ).toThrow(/Unable to complete output ring/);
    const out = clipZonesToField('f', field, [{ id: 'z1', geometry: zone }]);
    // the zone's part in the field: 0.7–2.3° E, 56–56.4° N, less nothing (the hole starts at 56.4)
    const want: PolygonGeometry = { type: 'Polygon', coordinates: [square(0.7, 56, 2.3, 56.4)] };
    expect(out.areaHa[0]! / (areaM2(want) / 1e4)).toBeCloseTo(1, 9);
    expect(out.coverage.fieldAreaHa - out.areaHa[0]! - out.coverage.uncoveredAreaHa).toBeCloseTo(0, 5);
  });

  it('refuses a zone wholly outside the field and a boundary that is not a closed ring', () => {
    const field: PolygonGeometry = { type: 'Polygon', coordinates: [square(139, 37.8, 139.001, 37.801)] };
    const far: MultiPolygonGeometry = {
      type: 'MultiPolygon',
      coordinates: [[square(139.01, 37.8, 139.011, 37.801)]],
    };
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(HatakeError);
        return `${(e as HatakeError).code} ${(e as HatakeError).message}`;
      }
      throw new Error('not refused');
    };
    expect(err(() => clipZonesToField('f', field, [{ id: 'z1', geometry: far }]))).toBe(
      'HATAKE_E_FIELDS zone z1 lies outside the boundary of field f',
    );
    const open: PolygonGeometry = {
      type: 'Polygon',
      coordinates: [square(139, 37.8, 139.001, 37.801).slice(0, 4)],
    };
    expect(err(() => clipZonesToField('f', open, []))).toMatch(
      /HATAKE_E_FIELDS .*not a closed WGS84 polygon/,
    );
  });
});
