// A week without uplink: 7 simulated days of readings from 200 devices (one a minute) pile up in
// a gateway whose server is unreachable, with a few recommendations, tips and events among them.
// The uplink tries, finds nothing listening on the server's port, backs off and keeps everything.
// When the server comes back on that port, the uplink's own retry delivers every reading exactly
// once, in order per device, and the recommendations before any reading. The test reports the
// drain rate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Reading } from '../../protocol/telemetry.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import type { BodyOf } from '../../dashboard/sync-appliers.ts';
import { eventually } from '../helpers/stack.ts';
import { freePort } from '../helpers/ports.ts';

const DEVICES = 200;
const DAYS = 7;
const PER_DEVICE = DAYS * 24 * 60;
const dir = mkdtempSync(join(tmpdir(), 'hatake-week-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a week offline', () => {
  it('delivers 2,016,000 readings exactly once, in order per device, recommendations first', async () => {
    const store = new GatewayStore(join(dir, 'gateway.db'));
    const rec = await demoRecommendation();
    const t0 = Date.now() - (PER_DEVICE + 10) * 60_000;
    // The week, minute by minute: each device's readings in time order, as the ingest commits them.
    const fillStart = performance.now();
    for (let minute = 0; minute < PER_DEVICE; minute += 60) {
      const chunk: Reading[] = [];
      for (let m = minute; m < minute + 60; m++) {
        for (let d = 0; d < DEVICES; d++) {
          chunk.push({
            device: `dev-${d}`,
            metric: 'soil_vwc',
            value: Math.round((0.2 + ((m + d) % 150) / 1000) * 1000) / 1000,
            unit: 'm3/m3',
            time: t0 + m * 60_000,
            flags: [],
          });
        }
      }
      store.commit(chunk, [], t0 + minute * 60_000);
      if (minute % (24 * 60) === 12 * 60) {
        // Midday each day: a recommendation and an event join the queue, behind a day of readings.
        store.enqueue(
          'recommendation',
          { ...rec, id: `rec-${minute}`, createdAt: t0 + minute * 60_000 },
          Date.now(),
        );
        store.enqueue(
          'event',
          {
            id: `evt-${minute}-xxxxxx`,
            type: 'device_silent',
            severity: 'warning',
            time: t0 + minute * 60_000,
            device: 'dev-1',
            message: 'silent',
          },
          Date.now(),
        );
      }
    }
    const fillS = (performance.now() - fillStart) / 1000;
    expect(store.outboxDepth()).toBe(DEVICES * PER_DEVICE + 2 * DAYS);

    // The server, on a port where nothing listens until it comes back below.
    const port = await freePort();
    const server = await HatakeServer.create({
      dataDir: join(dir, 'server'),
      host: '127.0.0.1',
      port,
      logger: pino({ level: 'silent' }),
    });
    let sync: SyncClient | undefined;
    try {
      const token = server.ctx.auth.issueGatewayToken('gw-week', 'demo-farm');
      server.ctx.db
        .prepare("INSERT INTO farms (id, name, region) VALUES ('demo-farm', 'Demo', 'niigata')")
        .run();
      // What the server holds when each recommendation arrives (no reviewer plugin needed here).
      const readingsWhenRecommendationArrived: number[] = [];
      const existing = server.ctx.appliers.get('recommendation');
      const record = (
        ctx: Parameters<NonNullable<typeof existing>>[0],
        bodies: BodyOf<'recommendation'>[],
      ) => {
        const n = (
          ctx.db.prepare("SELECT COUNT(*) AS n FROM readings WHERE farm = 'demo-farm'").get() as { n: number }
        ).n;
        for (let i = 0; i < bodies.length; i++) readingsWhenRecommendationArrived.push(n);
        existing?.(ctx, bodies);
      };
      if (existing)
        (server.ctx.appliers as unknown as { appliers: Map<string, unknown> }).appliers.set(
          'recommendation',
          record,
        );
      else server.ctx.appliers.register('recommendation', record);

      // Arrival order per device, as the server's store sees the readings.
      const lastTime = new Map<string, number>();
      let outOfOrder = 0;
      const write = server.ctx.readings.writeReadings.bind(server.ctx.readings);
      server.ctx.readings.writeReadings = async (rs) => {
        for (const r of rs) {
          if ((lastTime.get(r.device) ?? -Infinity) > r.time) outOfOrder++;
          lastTime.set(r.device, r.time);
        }
        return write(rs);
      };
      sync = new SyncClient(
        store,
        {
          gatewayId: 'gw-week',
          url: `http://127.0.0.1:${port}`,
          token,
          intervalMs: 60_000,
          batchMaxItems: 5000,
          batchMaxBytes: 4 * 1024 * 1024,
          backoffCapMs: 500,
        },
        pino({ level: 'silent' }),
      );
      // The server is unreachable: the uplink tries, fails, backs off and tries again, and the
      // outbox keeps every row.
      const queued = store.outboxDepth();
      const head = store.peekOutbox(1, 1024 * 1024)[0]!.seq;
      sync.start();
      await eventually(() => sync!.status.consecutiveFailures >= 3, 60_000, 20);
      expect(sync.status.lastError).toMatch(/^network: /);
      expect(sync.status.lastSuccess).toBeNull();
      expect(sync.status.sentItems).toBe(0);
      expect(sync.status.deadLettered).toBe(0);
      expect(sync.status.stopped).toBeNull();
      expect(store.outboxDepth()).toBe(queued);
      expect(store.peekOutbox(1, 1024 * 1024)[0]!.seq).toBe(head);

      // The server comes back on the same port; the uplink's next retry drains the week.
      await server.listen();
      const start = performance.now();
      await eventually(() => store.outboxDepth() === 0, 450_000, 50);
      const seconds = (performance.now() - start) / 1000;
      await sync.stop();
      expect(sync.status.consecutiveFailures).toBe(0);
      expect(sync.status.lastError).toBeNull();
      expect(sync.status.deadLettered).toBe(0);
      const total = DEVICES * PER_DEVICE;
      expect(sync.status.sentItems).toBe(total + 2 * DAYS);
      console.log(
        `week offline: filled ${total} readings in ${fillS.toFixed(1)} s; drained in ${seconds.toFixed(1)} s = ${Math.round(total / seconds)} readings/s, ${(sync.status.sentBytes / total).toFixed(1)} bytes/reading on the wire`,
      );

      expect(store.outboxDepth()).toBe(0);
      expect(await server.ctx.readings.count('demo-farm')).toBe(total);
      // Exactly once: every device has exactly its week, no more.
      const perDevice = server.ctx.db
        .prepare(
          "SELECT device, COUNT(*) AS n, COUNT(DISTINCT time) AS t FROM readings WHERE farm = 'demo-farm' GROUP BY device",
        )
        .all() as { n: number; t: number }[];
      expect(perDevice).toHaveLength(DEVICES);
      expect(perDevice.every((d) => d.n === PER_DEVICE && d.t === PER_DEVICE)).toBe(true);
      // In order per device.
      expect(outOfOrder).toBe(0);
      expect(lastTime.size).toBe(DEVICES);
      // Recommendations first: all seven arrived before a single reading.
      expect(readingsWhenRecommendationArrived).toEqual(Array(DAYS).fill(0));
      expect(
        (
          server.ctx.db.prepare("SELECT COUNT(*) AS n FROM events WHERE farm = 'demo-farm'").get() as {
            n: number;
          }
        ).n,
      ).toBe(DAYS);
    } finally {
      await sync?.stop();
      await server.close();
      store.close();
    }
  }, 600_000);
});
