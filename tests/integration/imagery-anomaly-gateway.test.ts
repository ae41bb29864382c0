// The imagery anomaly on a running gateway: scenes dropped into its imagery folder (NDVI rasters
// over the demo farm, as a provider derives them) are processed, each field's scouting cells keep
// their index statistics in the gateway's store, and its tip engine judges them — a corner of the
// upland field whose NDVI collapses in the latest scene, against its own history and the rest of
// the field, gets an "imagery anomaly" tip on the status API; a farm whose scenes change only as a
// whole does not. The same scene processed again is kept once.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import proj4 from 'proj4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStatus } from '../../gateway/http.ts';
import { cellGridId } from '../../edge/imagery/scout-cells.ts';
import { writeGeoTiff } from '../../sim/scene.ts';
import { demoManifest, startStack, type Stack } from '../helpers/stack.ts';

const DAY = 86_400_000;
// The demo fields: paddy-1 138.9000–138.9012 E × 37.8000–37.8003 N, upland-1 138.9020–138.9035 E ×
// 37.8000–37.8010 N. The upland field's north-west scouting cell (A1): west of 138.9025 E, north
// of 37.801 − 0.001 / 3.
const inUpland = (lon: number, lat: number) => lon > 138.902 && lon < 138.9035 && lat > 37.8 && lat < 37.801;
const inA1 = (lon: number, lat: number) => inUpland(lon, lat) && lon < 138.9025 && lat > 37.801 - 0.001 / 3;

const UTM54 = '+proj=utm +zone=54 +datum=WGS84 +units=m +no_defs';
const toUtm = proj4('WGS84', UTM54);

/**
 * A one-band float32 NDVI raster on the 10 m UTM grid over both demo fields: a west-to-east vigour
 * gradient in each field (so the scene has management zones), bare soil around, `shift` added
 * everywhere in the fields, and the upland field's A1 cell at `a1` when given.
 */
function ndviScene(opts: { shift?: number; a1?: number }): Buffer {
  const px = 10;
  const [xw, ys] = toUtm.forward([138.8995, 37.7995]) as [number, number];
  const [xe, yn] = toUtm.forward([138.904, 37.8015]) as [number, number];
  const x0 = Math.floor(xw / px) * px;
  const y0 = Math.ceil(yn / px) * px;
  const width = Math.ceil((xe - x0) / px);
  const height = Math.ceil((y0 - ys) / px);
  const ndvi = new Float32Array(width * height);
  for (let row = 0; row < height; row++)
    for (let col = 0; col < width; col++) {
      const [lon, lat] = toUtm.inverse([x0 + (col + 0.5) * px, y0 - (row + 0.5) * px]) as [number, number];
      let v = 0.15; // bare soil
      if (inUpland(lon, lat)) v = 0.55 + (0.25 * (lon - 138.902)) / 0.0015 + (opts.shift ?? 0);
      else if (lon > 138.9 && lon < 138.9012 && lat > 37.8 && lat < 37.8003)
        v = 0.6 + (0.2 * (lon - 138.9)) / 0.0012 + (opts.shift ?? 0);
      if (opts.a1 !== undefined && inA1(lon, lat)) v = opts.a1;
      ndvi[row * width + col] = v;
    }
  return Buffer.from(writeGeoTiff({ bands: [ndvi], width, height, epsg: 32654, x0, y0, pixelSize: px }));
}

/** Drops a scene (raster + sidecar) into the gateway's imagery inbox and processes it. */
async function dropScene(stack: Stack, sceneId: string, acquired: number, tiff: Buffer): Promise<void> {
  const inbox = stack.gateway.imagery.inbox;
  writeFileSync(join(inbox, `${sceneId}.tif`), tiff);
  writeFileSync(
    join(inbox, `${sceneId}.hatake.json`),
    JSON.stringify({ profile: 'index', index: 'ndvi', sceneId, acquired: new Date(acquired).toISOString() }),
  );
  await stack.gateway.imagery.scan();
}

const status = async (stack: Stack) =>
  (await (await fetch(`http://127.0.0.1:${stack.gateway.httpPort}/api/status`)).json()) as GatewayStatus;
const anomalies = (s: GatewayStatus) => s.tips.filter((t) => t.kind === 'imagery_anomaly');
const uplandGrid = () =>
  new Map([['upland-1', cellGridId(demoManifest().fields.find((f) => f.id === 'upland-1')!)]]);

/** Two scenes with the fields as usual (21 and 11 days ago), then the latest (2 days ago). */
async function history(stack: Stack, now: number, latest: Buffer): Promise<void> {
  await dropScene(stack, 'S2_T54_A', now - 21 * DAY, ndviScene({}));
  await dropScene(stack, 'S2_T54_B', now - 11 * DAY, ndviScene({ shift: 0.01 }));
  await dropScene(stack, 'S2_T54_C', now - 2 * DAY, latest);
}

describe('imagery anomaly on a gateway', () => {
  let stack: Stack;
  const now = Date.now();
  beforeAll(async () => {
    stack = await startStack({ server: false });
    await history(stack, now, ndviScene({ a1: 0.25 }));
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it('keeps each scene’s scouting-cell statistics of every field', () => {
    const rows = stack.gateway.store.zoneIndex(uplandGrid(), 0, now);
    expect([...new Set(rows.map((r) => r.zone))].sort()).toEqual([
      'A1',
      'A2',
      'A3',
      'B1',
      'B2',
      'B3',
      'C1',
      'C2',
      'C3',
    ]);
    expect(new Set(rows.map((r) => r.time))).toEqual(
      new Set([now - 21 * DAY, now - 11 * DAY, now - 2 * DAY]),
    );
    const a1 = rows.filter((r) => r.zone === 'A1');
    expect(a1.map((r) => r.scene)).toEqual(['S2_T54_A', 'S2_T54_B', 'S2_T54_C']);
    expect(a1[0]!.mean).toBeGreaterThan(0.55);
    expect(a1[2]!.mean).toBeLessThan(0.35);
    expect(a1.every((r) => r.validFraction > 0.8)).toBe(true);
  });

  it('raises the imagery-anomaly tip for the dropped cell, and only for it', async () => {
    await stack.gateway.tips.run(Date.now());
    const tips = anomalies(await status(stack));
    expect(tips).toHaveLength(1);
    expect(tips[0]).toMatchObject({ field: 'upland-1', severity: 'warning' });
    expect(tips[0]!.title.en).toMatch(/: scout zone A1 \(NDVI dropped\)$/);
    expect(tips[0]!.title.ja).toContain('ゾーンA1を見回ってください（NDVI低下）');
  });
});

describe('no imagery anomaly when nothing drops on its own', () => {
  let stack: Stack;
  const now = Date.now();
  beforeAll(async () => {
    stack = await startStack({ server: false });
    // The whole farm greener in the latest scene: no zone dropped.
    await history(stack, now, ndviScene({ shift: 0.05 }));
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it('judges the cells and raises nothing', async () => {
    expect(stack.gateway.store.zoneIndex(uplandGrid(), 0, now)).toHaveLength(27);
    await stack.gateway.tips.run(Date.now());
    const s = await status(stack);
    expect(anomalies(s)).toEqual([]);
    // Judged, not skipped for want of data.
    expect(stack.gateway.tips.lastNotes.filter((n) => n.startsWith('imagery-anomaly'))).toEqual([]);
  });

  it('keeps a scene processed again once', async () => {
    const before = stack.gateway.store.zoneIndex(uplandGrid(), 0, now);
    await dropScene(stack, 'S2_T54_C', now - 2 * DAY, ndviScene({ shift: 0.05 }));
    expect(stack.gateway.store.zoneIndex(uplandGrid(), 0, now)).toEqual(before);
  });

  it('does raise it on the same gateway once a cell drops on its own (the control could fail)', async () => {
    await dropScene(stack, 'S2_T54_D', now - DAY, ndviScene({ shift: 0.05, a1: 0.25 }));
    await stack.gateway.tips.run(Date.now());
    const tips = anomalies(await status(stack));
    expect(tips.map((t) => [t.field, t.title.en.replace(/^.*: /, '')])).toEqual([
      ['upland-1', 'scout zone A1 (NDVI dropped)'],
    ]);
  });
});
