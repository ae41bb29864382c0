// The gateway store's scouting-cell index history (the imagery-anomaly rule's input): the same
// scene kept twice is kept once, only each field's current cell layout is read back, and the
// table is bounded by age and by a row cap (oldest first). Also the cells themselves: fixed
// ground from the field's boundary, and per-cell means estimated from a scene's zones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayStore, ZONE_INDEX_RETENTION_MS, type ZoneIndexRow } from '../../gateway/store.ts';
import { cellGridId, scoutCellRows, scoutCells } from '../../edge/imagery/scout-cells.ts';
import type { Field } from '../../protocol/manifest.ts';
import { ZONES_SCHEMA, type ZoneCollection, type ZoneFeature } from '../../protocol/imagery.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-store-zone-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newStore = () => new GatewayStore(join(dir, `z${n++}.db`));
const DAY = 86_400_000;
const T0 = Date.parse('2026-07-01T01:30:00Z');

const row = (time: number, zone: string, mean: number, over: Partial<ZoneIndexRow> = {}): ZoneIndexRow => ({
  field: 'upland-1',
  grid: 'g1',
  zone,
  index: 'ndvi',
  time,
  mean,
  validFraction: 0.95,
  centroid: [138.9025, 37.8005],
  scene: `S2_${time}`,
  ...over,
});
const count = (s: GatewayStore) =>
  (s.db.prepare('SELECT COUNT(*) AS n FROM zone_index').get() as { n: number }).n;

describe('GatewayStore zone index history', () => {
  it('keeps a scene processed again once, with its latest values', () => {
    const store = newStore();
    const scene = [row(T0, 'A1', 0.7), row(T0, 'A2', 0.72), row(T0, 'A3', 0.74)];
    store.putZoneIndex(scene, T0);
    store.putZoneIndex(
      scene.map((r) => ({ ...r, mean: r.mean + 0.01 })),
      T0 + 60_000,
    );
    expect(count(store)).toBe(3);
    const back = store.zoneIndex(new Map([['upland-1', 'g1']]), T0 - DAY, T0 + DAY);
    expect(back.map((r) => [r.zone, r.mean])).toEqual([
      ['A1', 0.71],
      ['A2', 0.73],
      ['A3', 0.75],
    ]);
    expect(back[0]).toEqual({ ...scene[0], mean: 0.71 });
    store.close();
  });

  it('reads back the time range asked for, of the named fields’ current grid only', () => {
    const store = newStore();
    store.putZoneIndex(
      [
        row(T0 - 30 * DAY, 'A1', 0.6),
        row(T0 - 10 * DAY, 'A1', 0.7),
        row(T0, 'A1', 0.8, { centroid: undefined, scene: undefined }),
        row(T0, 'A1', 0.1, { grid: 'old-boundary' }),
        row(T0, 'A1', 0.2, { field: 'paddy-1' }),
      ],
      T0,
    );
    const back = store.zoneIndex(new Map([['upland-1', 'g1']]), T0 - 20 * DAY, T0);
    expect(back.map((r) => r.mean)).toEqual([0.7, 0.8]);
    expect(back[1]).not.toHaveProperty('centroid');
    expect(back[1]).not.toHaveProperty('scene');
    expect(store.zoneIndex(new Map(), 0, T0 + DAY)).toEqual([]);
    store.close();
  });

  it('drops points older than the retention and, beyond the row cap, the oldest', () => {
    const store = newStore();
    const old = T0 - ZONE_INDEX_RETENTION_MS - DAY;
    store.putZoneIndex([row(old, 'A1', 0.5)], old);
    expect(count(store)).toBe(1);
    expect(store.putZoneIndex([row(T0, 'A1', 0.7)], T0)).toBe(1); // the old one went
    expect(store.zoneIndex(new Map([['upland-1', 'g1']]), 0, T0).map((r) => r.time)).toEqual([T0]);

    const capped = newStore();
    for (let d = 0; d < 5; d++)
      capped.putZoneIndex(
        ['A1', 'A2', 'A3'].map((z) => row(T0 + d * DAY, z, 0.7)),
        T0 + d * DAY,
        { maxRows: 7 },
      );
    expect(count(capped)).toBe(7);
    const times = capped.zoneIndex(new Map([['upland-1', 'g1']]), 0, T0 + 10 * DAY).map((r) => r.time);
    expect(Math.min(...times)).toBe(T0 + 2 * DAY); // days 0 and 1 (six rows) went, less one kept
    expect(times.filter((t) => t === T0 + 4 * DAY)).toHaveLength(3);
    capped.close();
    store.close();
  });
});

// The demo's upland field: 0.0015° × 0.001° (about 132 m × 111 m) at 37.8° N.
const upland: Field = {
  id: 'upland-1',
  name: '畑1号',
  boundary: {
    type: 'Polygon',
    coordinates: [
      [
        [138.902, 37.8],
        [138.9035, 37.8],
        [138.9035, 37.801],
        [138.902, 37.801],
        [138.902, 37.8],
      ],
    ],
  },
} as Field;

/** A zone over the lon/lat rectangle [w, s, e, n] with a mean NDVI. */
function zone(k: number, rect: [number, number, number, number], ndvi: number, valid = 1): ZoneFeature {
  const [w, s, e, n] = rect;
  return {
    type: 'Feature',
    id: `upland-1/${k}`,
    geometry: {
      type: 'MultiPolygon',
      coordinates: [
        [
          [
            [w, s],
            [e, s],
            [e, n],
            [w, n],
            [w, s],
          ],
        ],
      ],
    },
    properties: {
      fieldId: 'upland-1',
      sceneId: 's',
      acquired: null,
      zone: k,
      k: 2,
      zoningIndex: 'ndvi',
      pixels: 100,
      areaHa: 1,
      validFraction: valid,
      fieldValidFraction: 1,
      indices: {
        ndvi: {
          mean: ndvi,
          median: ndvi,
          p10: ndvi,
          p90: ndvi,
          std: 0,
          min: ndvi,
          max: ndvi,
          count: 100,
          validFraction: valid,
        },
      },
    },
  };
}
const collection = (...features: ZoneFeature[]): ZoneCollection => ({
  type: 'FeatureCollection',
  schema: ZONES_SCHEMA,
  features,
});

describe('scouting cells', () => {
  it('lays a fixed 3 × 3 grid labelled from the north-west, and none over a field too small', () => {
    const cells = scoutCells(upland);
    expect(cells.map((c) => c.zone)).toEqual(['A1', 'A2', 'A3', 'B1', 'B2', 'B3', 'C1', 'C2', 'C3']);
    expect(cells[0]!.centroid[0]).toBeCloseTo(138.90225, 6);
    expect(cells[0]!.centroid[1]).toBeCloseTo(37.801 - 0.001 / 6, 6);
    const total = cells.reduce((a, c) => a + c.areaM2, 0);
    expect(total).toBeGreaterThan(14_000);
    expect(total).toBeLessThan(15_500);
    const tiny = {
      ...upland,
      boundary: {
        type: 'Polygon',
        coordinates: [
          [
            [138.902, 37.8],
            [138.9022, 37.8],
            [138.9022, 37.8002],
            [138.902, 37.8002],
            [138.902, 37.8],
          ],
        ],
      },
    } as Field;
    expect(scoutCells(tiny)).toEqual([]);
    expect(cellGridId(tiny)).not.toBe(cellGridId(upland));
  });

  it('estimates each cell’s mean from the zones over it, weighted by area, and its valid fraction', () => {
    // Zone 1 (0.3) over the western third, zone 2 (0.8) over the rest except the south-east
    // ninth, which no zone covers (a cloud).
    const rows = scoutCellRows(
      [upland],
      collection(
        zone(1, [138.902, 37.8, 138.9025, 37.801], 0.3),
        zone(2, [138.9025, 37.8 + 0.001 / 3, 138.9035, 37.801], 0.8),
        zone(3, [138.9025, 37.8, 138.903, 37.8 + 0.001 / 3], 0.8),
      ),
      'S2_test',
      T0,
    );
    const by = Object.fromEntries(rows.map((r) => [r.zone, r]));
    expect(Object.keys(by).sort()).toEqual(['A1', 'A2', 'A3', 'B1', 'B2', 'B3', 'C1', 'C2']);
    expect(by.A1!.mean).toBeCloseTo(0.3, 9);
    expect(by.B2!.mean).toBeCloseTo(0.8, 9);
    expect(by.A1!.validFraction).toBeCloseTo(1, 6);
    expect(by.A1).toMatchObject({
      field: 'upland-1',
      grid: cellGridId(upland),
      index: 'ndvi',
      time: T0,
      scene: 'S2_test',
    });
    // Half of a cell over each of two zones: the mean of their means.
    const half = scoutCellRows(
      [upland],
      collection(
        zone(1, [138.902, 37.8, 138.90225, 37.801], 0.4),
        zone(2, [138.90225, 37.8, 138.9035, 37.801], 0.8),
      ),
      's',
      T0,
    );
    expect(half.find((r) => r.zone === 'B1')!.mean).toBeCloseTo(0.6, 6);
  });
});
