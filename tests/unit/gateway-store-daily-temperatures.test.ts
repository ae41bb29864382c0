// The gateway store's daily air temperatures (the GDD and frost rules' and the wheat model's
// input): local days, only the weather stations asked for, and the early days of a season kept
// after their raw readings were rolled up into hourly aggregates. It reads along the primary keys.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayStore, dailyTemperatureSql } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-store-daily-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newStore = () => new GatewayStore(join(dir, `g${n++}.db`));
const JST = 9 * 3_600_000;
const HOUR = 3_600_000;

const reading = (device: string, time: number, value: number, metric = 'air_temperature'): Reading => ({
  device,
  metric,
  value,
  unit: metric === 'air_temperature' ? '°C' : 'm3/m3',
  time,
  flags: [],
});

describe('GatewayStore.dailyTemperatures', () => {
  it('groups by the farm’s local day, from the given stations only', () => {
    const store = newStore();
    const t = Date.parse('2026-06-01T15:30:00Z'); // 2026-06-02 00:30 JST
    store.commit(
      [
        reading('ws-1', Date.parse('2026-06-01T14:30:00Z'), 18), // 23:30 JST on the 1st
        reading('ws-1', t, 12), // 00:30 JST on the 2nd
        reading('ws-1', t + 6 * HOUR, 26),
        reading('ws-2', t + HOUR, 14),
        reading('other', t, -30), // not a station we asked for
        reading('ws-1', t, 0.3, 'soil_vwc'),
      ],
      [],
      t,
    );
    const days = store.dailyTemperatures(['ws-1', 'ws-2'], t - 48 * HOUR, JST);
    expect(days).toEqual([
      { date: '2026-06-01', tmin: 18, tmax: 18, mean: 18, count: 1 },
      { date: '2026-06-02', tmin: 12, tmax: 26, mean: (12 + 26 + 14) / 3, count: 3 },
    ]);
    expect(store.dailyTemperatures([], 0, JST)).toEqual([]);
    expect(store.dailyTemperatures(['ws-1'], t + 7 * HOUR, JST)).toEqual([]);
  });

  it('keeps the days whose raw readings were rolled up into hourly aggregates', () => {
    const store = newStore();
    const day0 = Date.parse('2026-03-01T00:00:00Z') - JST; // midnight JST, 1 March
    const rs: Reading[] = [];
    for (let d = 0; d < 4; d++)
      for (let h = 0; h < 24; h += 3)
        rs.push(reading('ws-1', day0 + d * 24 * HOUR + h * HOUR, d * 2 + h / 3));
    store.commit(rs, [], day0);
    const before = store.dailyTemperatures(['ws-1'], day0 - HOUR, JST);
    // Roll up the first two days (raw kept only from day 2 on).
    const rolled = store.rollUp(day0 + 2 * 24 * HOUR, 0);
    expect(rolled).toBe(16);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM readings_hourly').get()).toEqual({ n: 16 });
    const after = store.dailyTemperatures(['ws-1'], day0 - HOUR, JST);
    expect(after).toEqual(before);
    expect(after.map((d) => d.date)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04']);
    expect(after[1]).toEqual({ date: '2026-03-02', tmin: 2, tmax: 9, mean: 5.5, count: 8 });
  });

  it('reads along the primary keys, not by scanning the readings', () => {
    const store = newStore();
    const plan = (
      store.db.prepare(`EXPLAIN QUERY PLAN ${dailyTemperatureSql(2)}`).all(0, 'a', 'b', 0, 'a', 'b', 0) as {
        detail: string;
      }[]
    ).map((r) => r.detail);
    expect(plan.filter((d) => /^SCAN (readings|readings_hourly)\b/.test(d))).toEqual([]);
    expect(plan.filter((d) => /^SEARCH (readings|readings_hourly) USING PRIMARY KEY/.test(d))).toHaveLength(
      2,
    );
  });
});
