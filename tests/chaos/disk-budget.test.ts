// SD-card care: near its database budget the gateway rolls the oldest raw readings up into hourly
// aggregates ahead of the retention period, down to a floor, and says so; only when the budget is
// reached even so does it refuse new data (no PUBACK, so devices keep their messages) with a clear
// alert, corrupting nothing it already stored, and it takes data again when space returns. When
// its link to a real server returns, every reading it acknowledged arrives there exactly once, and
// none that it refused.
// Retention rolls raw readings into hourly aggregates. A real SQLite file, a small budget.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { PRESSURE_START, PRESSURE_STOP } from '../../gateway/maintenance.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { eventually, quietLog, startServer, startStack, type Stack } from '../helpers/stack.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let stack: Stack;
// The server the gateway syncs to once its link returns (started alongside, to save time).
let server: HatakeServer;
let serverUrl: string;
const serverDir = mkdtempSync(join(tmpdir(), 'hatake-disk-'));
beforeAll(async () => {
  [stack, { server, url: serverUrl }] = await Promise.all([
    startStack({ server: false, mqtt: { rate: { perSecond: 10_000, burst: 10_000 } } }),
    startServer(serverDir),
  ]);
});
afterAll(async () => {
  await stack?.close();
  await server?.close();
  rmSync(serverDir, { recursive: true, force: true });
});

const connect = (device: string): Promise<MqttClient> =>
  mqtt.connectAsync(stack.mqttUrl, { username: device, password: stack.secrets[device], reconnectPeriod: 0 });

describe('disk budget', () => {
  it('refuses data with an alert when the budget is full, keeps what it stored, and recovers when space returns', async () => {
    const gw = stack.gateway;
    const store = gw.store;
    // A budget just above what the database holds now: a few hundred readings fill it. They are
    // all from the last hours, younger than the floor: nothing may be rolled up to make room.
    const used = store.diskUse(0).dbBytes;
    store.setBudget(used + 48 * 1024);
    const c = await connect('soil-1');
    const acked: number[] = [];
    let refusedAt: number | undefined;
    const closed = new Promise<'closed'>((resolve) => c.once('close', () => resolve('closed')));
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 2 * HOUR;
    for (let i = 0; i < 5000; i++) {
      const time = t0 + i * 1000;
      // No PUBACK comes for a refused publish: the broker closes the connection instead.
      const sent = c.publishAsync(
        deviceTopic('demo-farm', 'soil-1', 'up'),
        JSON.stringify({ time, values: { soil_vwc: 0.3, soil_temperature: 10, soil_ec: 0.5 } }),
        { qos: 1 },
      );
      const outcome = await Promise.race([
        sent.then(
          () => 'acked' as const,
          () => 'failed' as const,
        ),
        closed,
      ]);
      if (outcome !== 'acked') {
        refusedAt = time;
        break;
      }
      acked.push(time);
    }
    c.end(true);
    expect(refusedAt, 'the budget was never reached').toBeDefined();
    expect(acked.length).toBeGreaterThan(50);
    // While the budget is full a device on a new connection is refused too: its reading (other
    // values, a later time) was never acknowledged and must never reach the server.
    const late = await connect('soil-1');
    const lateAt = refusedAt! + 1000;
    const lateOutcome = await Promise.race([
      late
        .publishAsync(
          deviceTopic('demo-farm', 'soil-1', 'up'),
          JSON.stringify({ time: lateAt, values: { soil_vwc: 0.45, soil_temperature: 25, soil_ec: 1.5 } }),
          { qos: 1 },
        )
        .then(
          () => 'acked' as const,
          () => 'failed' as const,
        ),
      new Promise<'closed'>((resolve) => late.once('close', () => resolve('closed'))),
    ]);
    late.end(true);
    expect(lateOutcome, 'a publish while the budget is full').not.toBe('acked');
    // The alert: an event, the status page, /healthz and the metric say so.
    await eventually(() => gw.maintenance.diskFull);
    expect(gw.events.recent.some((e) => e.type === 'disk_full' && e.severity === 'critical')).toBe(true);
    expect(gw.events.recent.some((e) => e.type === 'retention_shortened')).toBe(false);
    expect(store.hourly('soil-1', 'soil_vwc')).toEqual([]);
    const status = await (await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`)).json();
    expect(status).toMatchObject({ status: 'degraded', problems: expect.arrayContaining(['disk full']) });
    expect(await gw.metrics.value('hatake_gateway_refused_total', { reason: 'store' })).toBeGreaterThan(0);
    // Nothing acknowledged was lost or damaged.
    const stored = store.db
      .prepare("SELECT time FROM readings WHERE device = 'soil-1' AND metric = 'soil_vwc'")
      .all() as { time: number }[];
    const have = new Set(stored.map((r) => r.time));
    expect(acked.filter((t) => !have.has(t))).toEqual([]);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');

    // Space returns (the operator raises the budget, or retention frees pages): data flows again.
    store.setBudget(used + 64 * 1024 * 1024);
    gw.maintenance.checkDisk();
    expect(gw.maintenance.diskFull).toBe(false);
    expect(gw.events.recent[0]).toMatchObject({ type: 'disk_ok' });
    const c2 = await connect('soil-1');
    await c2.publishAsync(
      deviceTopic('demo-farm', 'soil-1', 'up'),
      JSON.stringify({ time: refusedAt, values: { soil_vwc: 0.31 } }),
      { qos: 1 },
    );
    await c2.endAsync();
    expect(
      store.db
        .prepare("SELECT value FROM readings WHERE device = 'soil-1' AND metric = 'soil_vwc' AND time = ?")
        .get(refusedAt),
    ).toEqual({ value: 0.31 });

    // The link to the server returns: every acknowledged reading reaches it exactly once (none
    // missing, none sent twice), and not one reading the gateway refused while its budget was full.
    const sync = new SyncClient(
      store,
      {
        gatewayId: 'gw-test',
        url: serverUrl,
        token: server.ctx.auth.issueGatewayToken('gw-test', 'demo-farm'),
        intervalMs: 60_000,
        batchMaxItems: 500,
      },
      quietLog(),
    );
    let duplicates = 0;
    sync.on('synced', (ack) => (duplicates += ack.duplicates));
    await sync.drain();
    await sync.stop();
    expect(sync.status.lastError).toBeNull();
    expect(store.outboxDepth()).toBe(0);
    // The server's readings table keys (farm, device, metric, time), so a reading sent twice
    // would overwrite itself there; the server's acks count each one it already held.
    expect(duplicates, 'readings the server received more than once').toBe(0);
    const atServer = (metric: string) =>
      server.ctx.db
        .prepare(
          "SELECT time, value FROM readings WHERE farm = 'demo-farm' AND device = 'soil-1' AND metric = ? ORDER BY time",
        )
        .all(metric) as { time: number; value: number }[];
    // The refused publish at refusedAt was resent as 0.31 once space returned: that, not 0.3.
    expect(atServer('soil_vwc')).toEqual([
      ...acked.map((time) => ({ time, value: 0.3 })),
      { time: refusedAt, value: 0.31 },
    ]);
    expect(atServer('soil_temperature')).toEqual(acked.map((time) => ({ time, value: 10 })));
    expect(atServer('soil_ec')).toEqual(acked.map((time) => ({ time, value: 0.5 })));
    const all = server.ctx.db
      .prepare("SELECT metric, time FROM readings WHERE farm = 'demo-farm' AND device = 'soil-1'")
      .all() as { metric: string; time: number }[];
    expect(all).toHaveLength(3 * acked.length + 1);
    expect(all.filter((r) => r.time >= refusedAt!)).toEqual([{ metric: 'soil_vwc', time: refusedAt }]);
  });

  it('rolls raw readings older than the retention period into hourly aggregates', () => {
    const store = stack.gateway.store;
    const hour = 3_600_000;
    const base = Math.floor(1_700_000_000_000 / hour) * hour;
    const readings = [0, 1, 2, 3].map((i) => ({
      device: 'wx-1',
      metric: 'air_temperature',
      value: 10 + i,
      unit: 'degC',
      time: base + i * 15 * 60_000,
      flags: [],
    }));
    readings.push({
      device: 'wx-1',
      metric: 'air_temperature',
      value: 20,
      unit: 'degC',
      time: base + hour + 60_000,
      flags: [],
    });
    store.commit(readings, [], Date.now());
    const rolled = store.rollUp(base + 2 * hour, 0);
    expect(rolled).toBe(5);
    expect(store.hourly('wx-1', 'air_temperature')).toEqual([
      { hour: base, min: 10, max: 13, mean: 11.5, count: 4 },
      { hour: base + hour, min: 20, max: 20, mean: 20, count: 1 },
    ]);
    expect(
      store.db
        .prepare("SELECT COUNT(*) AS n FROM readings WHERE device = 'wx-1' AND time < ?")
        .get(base + 2 * hour),
    ).toEqual({ n: 0 });
    // Aggregates past their own retention go too.
    store.rollUp(base + 2 * hour, base + hour);
    expect(store.hourly('wx-1', 'air_temperature').map((h) => h.hour)).toEqual([base + hour]);
  });
});

describe('storage pressure', () => {
  const FLOOR = 2 * DAY;
  let pressured: Stack;
  beforeAll(async () => {
    pressured = await startStack({ server: false, gateway: { minRawMs: FLOOR } });
    // The test runs the housekeeping rounds itself, on a simulated clock.
    pressured.gateway.maintenance.stop();
  });
  afterAll(async () => {
    await pressured.close();
  });

  it('rolls the oldest raw readings up early instead of refusing, never newer than the floor, and refuses only at the floor', async () => {
    const gw = pressured.gateway;
    const store = gw.store;
    const m = gw.maintenance;
    const floorOf = (now: number) => Math.floor((now - FLOOR) / HOUR) * HOUR;
    const series = ['soil-1', 'soil-2', 'wx-1', 'water-1', 'gate-1'].flatMap((device) =>
      ['soil_vwc', 'soil_temperature'].map((metric) => ({ device, metric })),
    );
    let x = 1;
    const value = () => (x = (x * 48_271) % 2_147_483_647) / 2_147_483_647;
    // What each series-hour's aggregate must say, from every reading committed.
    const want = new Map<string, { min: number; max: number; sum: number; count: number }>();
    const committed: Reading[] = [];
    /** One reading a minute per series for `minutes` from `from`, committed `perCommit` minutes at a time. */
    const ingest = (from: number, minutes: number, perMinute: number, perCommit: number) => {
      for (let i = 0; i < minutes; i += perCommit) {
        const rs: Reading[] = [];
        for (let j = i; j < Math.min(minutes, i + perCommit); j++)
          for (let k = 0; k < perMinute; k++)
            for (const s of series)
              rs.push({
                ...s,
                time: from + j * 60_000 + k * Math.floor(60_000 / perMinute),
                value: Math.round(value() * 1e4) / 1e4,
                unit: 'x',
                flags: [],
              });
        // Received as measured (the devices' last-seen times); throws when the budget is reached.
        store.commit(rs, [], rs.at(-1)!.time);
        for (const r of rs) {
          committed.push(r);
          const key = `${r.device}/${r.metric}/${Math.floor(r.time / HOUR) * HOUR}`;
          const a = want.get(key) ?? { min: Infinity, max: -Infinity, sum: 0, count: 0 };
          want.set(key, {
            min: Math.min(a.min, r.value),
            max: Math.max(a.max, r.value),
            sum: a.sum + r.value,
            count: a.count + 1,
          });
        }
      }
      // Synced: the server acknowledged the readings (events stay queued for it).
      store.db.prepare("DELETE FROM outbox WHERE kind = 'reading'").run();
      store.recountOutbox();
    };
    const rawFrom = (t: number) =>
      (store.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE time >= ?').get(t) as { n: number }).n;
    const newestAggregate = () =>
      (store.db.prepare('SELECT MAX(hour) AS h FROM readings_hourly').get() as { h: number | null }).h;
    const expectFloorUntouched = (now: number) => {
      const floor = floorOf(now);
      expect(newestAggregate() ?? -Infinity).toBeLessThan(floor);
      expect(rawFrom(floor)).toBe(committed.filter((r) => r.time >= floor).length);
    };

    // A budget that holds about four days of these readings, raw.
    const base = store.diskUse(0).dbBytes;
    store.setBudget(base + 6 * 1024 * 1024);
    let now = Math.floor((Date.now() - 40 * DAY) / HOUR) * HOUR;
    let rawWhenFirstRolled: number | undefined;
    // Twenty days at one reading a minute per series, a housekeeping round each simulated hour.
    for (let h = 0; h < 20 * 24; h++) {
      ingest(now, 60, 1, 60);
      now += HOUR;
      const raw = store.readingCount();
      m.run(now);
      if (rawWhenFirstRolled === undefined && newestAggregate() !== null) rawWhenFirstRolled = raw;
      expect(m.usedShare()).toBeLessThan(PRESSURE_START + 0.05);
      expectFloorUntouched(now);
    }
    expect(rawWhenFirstRolled, 'the database never came under pressure').toBeDefined();
    // The old gateway refused data once the raw readings filled the budget (at most 1/0.9 of what
    // filled 90 % of it); this one took three times as many and is below the budget.
    expect(committed.length).toBeGreaterThan(3 * rawWhenFirstRolled!);
    expect(m.diskFull).toBe(false);
    expect(m.usedShare()).toBeGreaterThan(PRESSURE_STOP - 0.05);

    // Rolled up, not lost: every aggregate is its hour's min / max / mean / count.
    const aggregates = store.db
      .prepare('SELECT device, metric, hour, min, max, sum, count FROM readings_hourly')
      .all() as {
      device: string;
      metric: string;
      hour: number;
      min: number;
      max: number;
      sum: number;
      count: number;
    }[];
    expect(aggregates.length).toBeGreaterThan(series.length * 24 * 10);
    for (const a of aggregates) {
      const w = want.get(`${a.device}/${a.metric}/${a.hour}`)!;
      expect([a.min, a.max, a.count]).toEqual([w.min, w.max, w.count]);
      expect(a.sum / a.count).toBeCloseTo(w.sum / w.count, 9);
    }
    // Every committed reading is raw or counted in an aggregate, once.
    expect(store.readingCount() + aggregates.reduce((n, a) => n + a.count, 0)).toBe(committed.length);

    // Said so: an event on the status page, queued for the server, and the disk section.
    const shortened = gw.events.recent.filter((e) => e.type === 'retention_shortened');
    expect(shortened.length).toBeGreaterThan(0);
    const last = shortened[0]!;
    expect(last.severity).toBe('warning');
    expect(last.message).toMatch(
      /^the database reached 90 % of its \d+ MB budget: raw readings older than [\d.]+ days were rolled up into hourly aggregates ahead of the 90-day retention \(floor 2 days\)$/,
    );
    const kept = last.detail!.rawRetentionDays as number;
    expect(kept).toBeGreaterThanOrEqual(FLOOR / DAY);
    expect(kept).toBeLessThan(10);
    expect(last.detail).toMatchObject({ configuredRawDays: 90, floorDays: 2, atFloor: false });
    // Not one event a round: one when it first happened and one per further day lost.
    expect(shortened.length).toBeLessThanOrEqual(3);
    const queued = store
      .peekOutbox(1000)
      .filter((r) => r.kind === 'event' && r.body.includes('retention_shortened'));
    expect(queued).toHaveLength(shortened.length);
    const status = m.retentionStatus(now);
    expect(status.shortenedBefore).not.toBeNull();
    expect(status.keptMs).toBeLessThan(10 * DAY);
    expect(await gw.metrics.value('hatake_gateway_raw_retention_days')).toBeCloseTo(status.keptMs / DAY, 6);
    const page = await (await fetch(`http://127.0.0.1:${gw.httpPort}/?lang=en`)).text();
    expect(page).toContain('Raw readings kept');
    expect(page).toContain('shortened to fit the database budget (configured 90 days, floor 2)');

    // Ten times the readings: two days of them no longer fit. Roll-up goes down to the floor and
    // no further; then the budget is reached and data is refused.
    let refused: unknown;
    for (let step = 0; step < 48 * 12 && !refused; step++) {
      try {
        ingest(now, 5, 10, 1); // five minutes, a commit a minute
      } catch (e) {
        refused = e;
      }
      now += 5 * 60_000;
      m.run(now);
      if (step % 12 === 11 || refused) expectFloorUntouched(now);
    }
    expect(refused, 'the budget was never reached').toBeDefined();
    expect((refused as { code?: string }).code).toBe('SQLITE_FULL');
    expect(m.atFloor).toBe(true);
    // Nothing older than the floor is left raw: everything that could make room did.
    const oldestRaw = (store.db.prepare('SELECT MIN(time) AS t FROM readings').get() as { t: number }).t;
    expect(oldestRaw).toBeGreaterThanOrEqual(floorOf(now));
    expect(m.diskFull).toBe(true);
    const full = gw.events.recent.find((e) => e.type === 'disk_full')!;
    expect(full).toMatchObject({ severity: 'critical', detail: { atRetentionFloor: true } });
    expect(full.message).toContain('2-day floor');
    expect(gw.events.recent.find((e) => e.type === 'retention_shortened')).toMatchObject({
      detail: { atFloor: true, rawRetentionDays: 2 },
    });
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');

    // Space returns: data is taken again, and no more is rolled up early.
    store.setBudget(base + 256 * 1024 * 1024);
    m.run(now);
    expect([m.diskFull, m.pressure, m.atFloor]).toEqual([false, false, false]);
    const rawNow = store.readingCount();
    ingest(now, 60, 1, 60);
    now += HOUR;
    m.run(now);
    expect(store.readingCount()).toBe(rawNow + 60 * series.length);
    expect(m.retentionStatus(now).shortenedBefore).not.toBeNull();
    // Once the raw readings kept have grown back to the configured 90 days, it says so, once.
    m.run(now + 90 * DAY);
    m.run(now + 91 * DAY);
    expect(gw.events.recent.filter((e) => e.type === 'retention_restored')).toMatchObject([
      { severity: 'info', message: 'raw readings are kept for the configured 90 days again' },
    ]);
    expect(m.retentionStatus(now + 91 * DAY)).toMatchObject({ shortenedBefore: null, keptMs: 90 * DAY });
    expect(await gw.metrics.value('hatake_gateway_raw_retention_days')).toBe(90);
  }, 300_000); // a hang guard, not a speed check: ~14 s alone, 120 s seen beside two other test files on a 2-core machine
});
