// SD-card care: when the gateway's disk budget is exhausted it refuses new data (no PUBACK, so
// devices keep their messages) with a clear alert, corrupts nothing it already stored, and takes
// data again when space returns. Retention rolls raw readings into hourly aggregates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ server: false, mqtt: { rate: { perSecond: 10_000, burst: 10_000 } } });
});
afterAll(async () => {
  await stack.close();
});

const connect = (device: string): Promise<MqttClient> =>
  mqtt.connectAsync(stack.mqttUrl, { username: device, password: stack.secrets[device], reconnectPeriod: 0 });

describe('disk budget', () => {
  it('refuses data with an alert when the budget is full, keeps what it stored, and recovers when space returns', async () => {
    const gw = stack.gateway;
    const store = gw.store;
    // A budget just above what the database holds now: a few hundred readings fill it.
    const used = store.diskUse(0).dbBytes;
    store.setBudget(used + 48 * 1024);
    const c = await connect('soil-1');
    const acked: number[] = [];
    let refusedAt: number | undefined;
    const closed = new Promise<'closed'>((resolve) => c.once('close', () => resolve('closed')));
    for (let i = 0; i < 5000; i++) {
      const time = 1_780_000_000_000 + i * 1000;
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
    // The alert: an event, the status page, /healthz and the metric say so.
    await eventually(() => gw.maintenance.diskFull);
    expect(gw.events.recent.some((e) => e.type === 'disk_full' && e.severity === 'critical')).toBe(true);
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
