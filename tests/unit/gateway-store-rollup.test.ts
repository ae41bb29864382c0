// Rolling raw readings up into hourly aggregates in the gateway's store (a real SQLite file):
// oldest hour first and a series-hour at a time, bounded per call and picked up where the last
// call stopped, never touching the hour of the cutoff or later, with the aggregates equal to their
// readings' min / max / mean / count however the calls split the work — and room made even when
// the database is at its budget, where nothing else can be written.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayStore } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';

const HOUR = 3_600_000;
const BASE = Math.floor((Date.now() - 30 * 24 * HOUR) / HOUR) * HOUR;
const DEVICES = ['d1', 'd2', 'd3'];
const METRICS = ['air_temperature', 'soil_vwc'];

let dir: string;
let store: GatewayStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-rollup-'));
  store = new GatewayStore(join(dir, 'gateway.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Deterministic values (a linear congruential generator), so a failure can be replayed. */
function values(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return Math.round((x / 2 ** 31) * 4000 - 1000) / 100;
  };
}

/** Every 5 minutes for `hours` hours from BASE, for each device and metric. */
function readings(hours: number, devices = DEVICES): Reading[] {
  const next = values(7);
  const out: Reading[] = [];
  for (let t = BASE; t < BASE + hours * HOUR; t += 5 * 60_000)
    for (const device of devices)
      for (const metric of METRICS)
        out.push({ device, metric, time: t, value: next(), unit: 'x', flags: [] });
  return out;
}

/** The aggregate each series-hour should have, computed here from the readings. */
function expected(rs: readonly Reading[], before: number) {
  const m = new Map<string, { hour: number; min: number; max: number; sum: number; count: number }>();
  for (const r of rs) {
    if (r.time >= before) continue;
    const hour = Math.floor(r.time / HOUR) * HOUR;
    const k = `${r.device}/${r.metric}/${hour}`;
    const a = m.get(k) ?? { hour, min: Infinity, max: -Infinity, sum: 0, count: 0 };
    a.min = Math.min(a.min, r.value);
    a.max = Math.max(a.max, r.value);
    a.sum += r.value;
    a.count++;
    m.set(k, a);
  }
  return m;
}

const rawCount = (from = -Infinity, to = Infinity) =>
  (
    store.db.prepare('SELECT COUNT(*) AS n FROM readings WHERE time >= ? AND time < ?').get(from, to) as {
      n: number;
    }
  ).n;

function expectAggregates(rs: readonly Reading[], before: number): void {
  const want = expected(rs, before);
  let seen = 0;
  for (const device of DEVICES)
    for (const metric of METRICS)
      for (const h of store.hourly(device, metric)) {
        const w = want.get(`${device}/${metric}/${h.hour}`);
        expect(w, `${device}/${metric}/${h.hour}`).toBeDefined();
        expect(h.min).toBe(w!.min);
        expect(h.max).toBe(w!.max);
        expect(h.count).toBe(w!.count);
        expect(h.mean).toBeCloseTo(w!.sum / w!.count, 9);
        seen++;
      }
  expect(seen).toBe(want.size);
}

describe('rollUpOldest', () => {
  it('rolls the oldest hour first, one series-hour a step, and leaves the hour of the cutoff raw', () => {
    const rs = readings(4);
    store.commit(rs, [], Date.now());
    const cutoff = BASE + 2 * HOUR + 30 * 60_000;
    // The smallest step: one series-hour (12 readings) a call.
    const first = store.rollUpOldest(cutoff, { budgetMs: Infinity, maxReadings: 1 });
    expect(first).toEqual({ rolled: 12, before: BASE + HOUR, more: true });
    expect(store.hourly('d1', 'air_temperature').map((h) => h.hour)).toEqual([BASE]);
    expect(store.hourly('d1', 'soil_vwc')).toEqual([]);
    expect(rawCount(BASE, BASE + HOUR)).toBe(DEVICES.length * METRICS.length * 12 - 12);

    let calls = 1;
    while (store.rollUpOldest(cutoff, { budgetMs: Infinity, maxReadings: 1 }).more) calls++;
    // 6 series x 2 hours, one a call (the last call finds nothing left and says so).
    expect(calls).toBe(12 - 1);
    expect(rawCount(-Infinity, BASE + 2 * HOUR)).toBe(0);
    // The cutoff's hour and later: every reading still raw.
    expect(rawCount(BASE + 2 * HOUR)).toBe(rs.filter((r) => r.time >= BASE + 2 * HOUR).length);
    expectAggregates(rs, BASE + 2 * HOUR);
    expect(store.rollUpOldest(cutoff, { budgetMs: Infinity })).toEqual({
      rolled: 0,
      before: null,
      more: false,
    });
  });

  it('gives the same aggregates however the work is split, and merges a late reading into its hour', () => {
    const rs = readings(3);
    store.commit(rs, [], Date.now());
    for (const maxReadings of [1, 13, 40])
      store.rollUpOldest(BASE + HOUR, { budgetMs: Infinity, maxReadings });
    store.rollUp(BASE + 3 * HOUR, 0);
    expect(store.readingCount()).toBe(0);
    expectAggregates(rs, Infinity);

    // A device's late backlog: a reading for an hour already rolled up (and a new extreme).
    const late: Reading = {
      device: 'd2',
      metric: 'soil_vwc',
      time: BASE + 61_000,
      value: 99,
      unit: 'x',
      flags: [],
    };
    store.commit([late], [], Date.now());
    expect(store.rollUpOldest(BASE + 10 * HOUR, { budgetMs: Infinity })).toMatchObject({
      rolled: 1,
      more: false,
    });
    expectAggregates([...rs, late], Infinity);
    expect(store.hourly('d2', 'soil_vwc')[0]).toMatchObject({ hour: BASE, max: 99, count: 13 });
  });

  it('stops when told it has done enough, and after its time budget (one series-hour at least)', () => {
    store.commit(readings(2), [], Date.now());
    expect(store.rollUpOldest(BASE + 2 * HOUR, { budgetMs: Infinity, enough: () => true })).toEqual({
      rolled: 0,
      before: null,
      more: true,
    });
    expect(store.rollUpOldest(BASE + 2 * HOUR, { budgetMs: 0 }).rolled).toBe(12);
    let asked = 0;
    const r = store.rollUpOldest(BASE + 2 * HOUR, { budgetMs: Infinity, enough: () => ++asked > 1 });
    // Asked before the first series and again once 1000 readings are rolled: all 132 left.
    expect(asked).toBe(1);
    expect(r).toMatchObject({ rolled: 2 * 6 * 12 - 12, more: false });
  });

  it('drops the aggregates of hours before a cutoff, of every series, and keeps the rest', () => {
    store.commit(readings(4), [], Date.now());
    store.rollUp(BASE + 4 * HOUR, 0);
    expect(store.dropHourlyBefore(BASE + 2 * HOUR)).toBe(DEVICES.length * METRICS.length * 2);
    for (const device of DEVICES)
      for (const metric of METRICS)
        expect(store.hourly(device, metric).map((h) => h.hour)).toEqual([BASE + 2 * HOUR, BASE + 3 * HOUR]);
    expect(store.dropHourlyBefore(BASE + 2 * HOUR)).toBe(0);
  });

  it('makes room at the database budget, where nothing else can be written', () => {
    // Many series, so the aggregates need pages of their own.
    const devices = Array.from({ length: 40 }, (_, i) => `dev-${i}`);
    const old = readings(6, devices);
    store.commit(old, [], Date.now());
    // Outbox rows gone (synced) and no free pages left: then a budget of exactly this file.
    store.deleteOutbox(store.peekOutbox(1_000_000).map((r) => r.seq));
    store.db.exec('VACUUM');
    store.setBudget(0);
    const use = () => store.diskUse(0);
    expect(use().freePagesBytes).toBe(0);
    const recent: Reading[] = [
      { device: 'dev-0', metric: 'soil_vwc', time: Date.now(), value: 0.3, unit: 'x', flags: [] },
    ];
    expect(() => store.commit(recent, [], Date.now())).toThrow(/full/i);

    const r = store.rollUpOldest(BASE + 6 * HOUR, { budgetMs: Infinity });
    expect(r).toMatchObject({ rolled: old.length, more: false });
    expect(use().dbBytes).toBe(use().budgetBytes); // the file did not grow
    expect(use().freePagesBytes).toBeGreaterThan(0);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(store.commit(recent, [], Date.now())).toBe(1);
    for (const device of devices.slice(0, 3))
      for (const metric of METRICS) expect(store.hourly(device, metric)).toHaveLength(6);
  });
});
