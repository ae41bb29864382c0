// Raster → polygons: rings follow pixel borders, outer rings counter-clockwise and holes clockwise
// (map orientation), diagonal neighbours stay separate (4-connected), and every label's area
// equals its pixel count.
import { describe, expect, it } from 'vitest';
import { polygonize, signedArea } from '../../../edge/imagery/polygonize.ts';

const grid = (rows: string[]) => ({
  labels: Uint8Array.from(rows.join('').split('').map(Number)),
  w: rows[0]!.length,
  h: rows.length,
});
const area = (polys: [number, number][][][]) =>
  polys.reduce((a, p) => a + p.reduce((b, r) => b + signedArea(r), 0), 0);

describe('polygonize', () => {
  it('makes a square with a hole: outer counter-clockwise, hole clockwise, area = pixels', () => {
    const g = grid(['1111', '1001', '1001', '1111']);
    const polys = polygonize(g.labels, g.w, g.h).get(1)!;
    expect(polys).toHaveLength(1);
    expect(polys[0]).toHaveLength(2);
    expect(signedArea(polys[0]![0]!)).toBe(16);
    expect(signedArea(polys[0]![1]!)).toBe(-4);
    expect(area(polys)).toBe(12);
    expect(polys[0]![0]).toEqual([
      [0, 0],
      [0, 4],
      [4, 4],
      [4, 0],
      [0, 0],
    ]);
  });

  it('keeps diagonal pixels as separate parts of a multipolygon', () => {
    const g = grid(['10', '01']);
    const polys = polygonize(g.labels, g.w, g.h).get(1)!;
    expect(polys).toHaveLength(2);
    expect(polys.map((p) => signedArea(p[0]!))).toEqual([1, 1]);
  });

  it('tiles a field with zones without gaps: areas add up to the labelled pixels', () => {
    const g = grid(['11223', '11223', '33221', '33011', '22011']);
    const out = polygonize(g.labels, g.w, g.h);
    const total = [...out.values()].reduce((a, p) => a + area(p), 0);
    expect(total).toBe([...g.labels].filter((l) => l !== 0).length);
    for (const [label, polys] of out) {
      expect(area(polys)).toBe([...g.labels].filter((l) => l === label).length);
      for (const p of polys) for (const r of p) expect(r[0]).toEqual(r[r.length - 1]);
    }
  });

  it('closes a C-shape that touches itself at a corner into one ring', () => {
    const g = grid(['111', '100', '101', '111']);
    // The pixel at (2,2) touches (1,... ) only by edges through the bottom row: one region.
    const polys = polygonize(g.labels, g.w, g.h).get(1)!;
    expect(area(polys)).toBe(9);
    expect(polys).toHaveLength(1);
  });

  it('puts a hole inside the island into the island, not the outer region', () => {
    const g = grid(['11111', '10001', '10201', '10001', '11111']);
    const out = polygonize(g.labels, g.w, g.h);
    expect(out.get(1)![0]).toHaveLength(2);
    expect(area(out.get(1)!)).toBe(16);
    expect(out.get(2)).toEqual([
      [
        [
          [2, 2],
          [2, 3],
          [3, 3],
          [3, 2],
          [2, 2],
        ],
      ],
    ]);
  });
});
