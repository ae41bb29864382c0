// GatewayStore.dailyTemperatures keeps the whole days before yesterday between calls, so the rules
// do not read months of raw readings at every evaluation. Whatever the store does in between —
// readings committed for any day (late ones too), roll-ups, aggregates deleted — each answer is the
// plain query's, in any zone (also half- and quarter-hour offsets, whose days split an hour).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GatewayStore, dailyTemperatureSql } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-store-daily-memo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newStore = () => new GatewayStore(join(dir, `g${n++}.db`));

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.parse('2026-06-20T00:00:00Z');
const OFFSETS = [9 * HOUR, 0, 5.5 * HOUR, 5.75 * HOUR, -3.5 * HOUR, -10 * HOUR];

/** The definition: the statement over everything, no memo. */
const plain = (store: GatewayStore, devices: readonly string[], from: number, offsetMs: number) =>
  devices.length === 0
    ? []
    : store.db
        .prepare(dailyTemperatureSql(devices.length))
        .all(offsetMs, ...devices, from, ...devices, Math.ceil(from / HOUR) * HOUR);

const reading = (device: string, metric: string, time: number, value: number): Reading =>
  ({ device, metric, time, value, unit: '°C', flags: [] }) as Reading;

/** ws-1's air temperature, 10 °C every hour from `from` until `now`, committed at `now`. */
function commitHourly(store: GatewayStore, from: number, now: number): void {
  const rs: Reading[] = [];
  for (let t = from; t < now; t += HOUR) rs.push(reading('ws-1', 'air_temperature', t, 10));
  store.commit(rs, [], now);
}

// Quarter hours, so readings fall on both sides of the midnights of every zone.
const time = fc.integer({ min: -16 * 96, max: 2 * 96 }).map((k) => BASE + k * 15 * 60_000);
const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('commit' as const),
      rows: fc.array(
        fc.record({
          device: fc.constantFrom('ws-1', 'ws-2', 'soil-1'),
          metric: fc.constantFrom('air_temperature', 'air_temperature', 'soil_vwc'),
          time,
          value: fc.double({ min: -20, max: 40, noNaN: true }),
        }),
        { maxLength: 40 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('rollUp' as const), before: time }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('dropHourly' as const), before: time }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('ask' as const),
      // A few of each, so later questions find what earlier ones kept.
      from: fc.constantFrom(BASE - 16 * DAY, BASE - 7 * DAY, BASE - 4 * DAY - 7 * HOUR, BASE - 2 * DAY + 1),
      now: fc.constantFrom(BASE + 13 * HOUR, BASE + 2 * DAY),
      // The kept days read beforehand, a week a turn, with the next changes made between turns.
      keep: fc.boolean(),
    }),
  },
);

describe('the daily temperatures kept between calls', () => {
  it('are the plain query’s answer after any commits, roll-ups and deletions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 25 }),
        fc.constantFrom(...OFFSETS),
        fc.constantFrom(['ws-1'], ['ws-1', 'ws-2'], ['ws-2', 'soil-1']),
        async (ops, offset, devices) => {
          const store = newStore();
          let i = 0;
          /** Makes the next change, if the next op is one (false for a question). */
          const change = (): boolean => {
            const o = ops[i];
            if (!o || o.op === 'ask') return false;
            i++;
            if (o.op === 'commit')
              store.commit(
                o.rows.map((r) => reading(r.device, r.metric, r.time, r.value)),
                [],
                BASE,
              );
            else if (o.op === 'rollUp') store.rollUp(o.before, 0);
            else store.dropHourlyBefore(o.before);
            return true;
          };
          try {
            while (i < ops.length) {
              if (change()) continue;
              const o = ops[i++]!;
              if (o.op !== 'ask') continue;
              if (o.keep)
                await store.keepDailyTemperatures(devices, o.from, offset, o.now, async () => {
                  change();
                });
              const got = store.dailyTemperatures(devices, o.from, offset, o.now);
              expect(got).toEqual(plain(store, devices, o.from, offset));
              // Asked again a little later (the memo now in use): the same.
              expect(store.dailyTemperatures(devices, o.from + HOUR, offset, o.now)).toEqual(
                plain(store, devices, o.from + HOUR, offset),
              );
            }
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('are read beforehand a week per turn, and not again while kept', async () => {
    const store = newStore();
    const now = BASE + 12 * HOUR;
    const JST = 9 * HOUR;
    const from = BASE - 40 * DAY;
    commitHourly(store, from, now);
    let turns = 0;
    const turn = async () => {
      turns++;
    };
    await store.keepDailyTemperatures(['ws-1'], from, JST, now, turn);
    // The kept days: from's next day up to the day before yesterday, 38 days: 6 reads, 5 turns between.
    expect(turns).toBe(5);
    // Behind the store's back: a kept day changes, unseen, so the days were read beforehand.
    store.db
      .prepare("UPDATE readings SET value = 30 WHERE device = 'ws-1' AND time = ?")
      .run(BASE - 20 * DAY);
    const answer = store.dailyTemperatures(['ws-1'], from, JST, now);
    expect(answer.map((d) => d.tmax)).not.toContain(30);
    expect(answer).toHaveLength(41);
    // Kept: asked again beforehand, nothing is read.
    await store.keepDailyTemperatures(['ws-1'], from, JST, now, turn);
    expect(turns).toBe(5);
    store.close();
  });

  it('are read once: a kept day is not read again until the store changes it', () => {
    const store = newStore();
    const now = BASE + 12 * HOUR;
    const JST = 9 * HOUR;
    commitHourly(store, BASE - 10 * DAY, now);
    const first = store.dailyTemperatures(['ws-1'], BASE - 10 * DAY, JST, now);
    expect(first).toHaveLength(11);
    // Behind the store's back (nothing the gateway does): a day before yesterday is not re-read…
    const old = BASE - 5 * DAY;
    store.db.prepare("UPDATE readings SET value = 99 WHERE device = 'ws-1' AND time = ?").run(old);
    expect(store.dailyTemperatures(['ws-1'], BASE - 10 * DAY, JST, now)).toEqual(first);
    // …nor is it by a reading of another station or metric…
    store.commit([reading('ws-2', 'air_temperature', old + 60_000, 0)], [], now);
    store.commit([reading('ws-1', 'soil_vwc', old + 60_000, 0)], [], now);
    expect(store.dailyTemperatures(['ws-1'], BASE - 10 * DAY, JST, now)).toEqual(first);
    // …while yesterday and today are read every time,
    store.db.prepare("UPDATE readings SET value = -5 WHERE device = 'ws-1' AND time = ?").run(now - 2 * HOUR);
    const fresh = store.dailyTemperatures(['ws-1'], BASE - 10 * DAY, JST, now);
    expect(fresh.at(-1)!.tmin).toBe(-5);
    // and a late reading of the station for a kept day is seen, with everything else there.
    store.commit([reading('ws-1', 'air_temperature', old + 60_000, 11)], [], now);
    const late = store.dailyTemperatures(['ws-1'], BASE - 10 * DAY, JST, now);
    expect(late).toEqual(plain(store, ['ws-1'], BASE - 10 * DAY, JST));
    expect(late.some((d) => d.tmax === 99)).toBe(true);
    store.close();
  });

  it('follow a roll-up that moves a reading to another day, and aggregates deleted', () => {
    // At +5:30 local midnight is half past an hour in UTC: a reading at 18:45 UTC belongs to the
    // next local day, its hour (from 18:00 UTC), once rolled up, to the day before.
    const store = newStore();
    const IST = 5.5 * HOUR;
    const now = BASE + 13 * HOUR;
    const from = BASE - 7 * DAY;
    store.commit([reading('ws-1', 'air_temperature', BASE - 3 * DAY + 18.75 * HOUR, 5)], [], now);
    const ask = () => store.dailyTemperatures(['ws-1'], from, IST, now);
    expect(ask().map((d) => d.date)).toEqual(['2026-06-18']);
    expect(store.rollUp(BASE - 2 * DAY, 0)).toBe(1);
    expect(ask().map((d) => d.date)).toEqual(['2026-06-17']);
    expect(ask()).toEqual(plain(store, ['ws-1'], from, IST));
    store.dropHourlyBefore(BASE);
    expect(ask()).toEqual([]);
    store.close();
  });

  it('read again only the days a change touched: an hourly roll-up or a late reading is one day, not months', () => {
    const store = newStore();
    const now = BASE + 12 * HOUR;
    const JST = 9 * HOUR;
    const from = BASE - 30 * DAY;
    commitHourly(store, from + HOUR, now);
    const dayA = BASE - 20 * DAY; // 09:00 JST
    const dayB = BASE - 10 * DAY;
    // The raw retention has reached dayA's hour: everything before it is rolled up already.
    store.rollUp(dayA, 0);
    const ask = () => store.dailyTemperatures(['ws-1'], from, JST, now);
    const first = ask();
    expect(first).toHaveLength(31);
    // Behind the store's back, two kept days change (nothing the gateway does, so unseen)…
    store.db
      .prepare("UPDATE readings SET value = 30 WHERE device = 'ws-1' AND time IN (?, ?)")
      .run(dayA, dayB);
    expect(ask()).toEqual(first);
    // …then the hour holding the first is rolled up (raw retention reached it, as every hour on a
    // farm): that day is read again, the other kept days are not.
    expect(store.rollUpOldest(dayA + HOUR, { budgetMs: Infinity }).rolled).toBe(1);
    const after = ask();
    const on = (rows: typeof first, t: number) =>
      rows.find((d) => d.date === new Date(t + JST).toISOString().slice(0, 10))!;
    expect(on(after, dayA).tmax).toBe(30);
    expect(on(after, dayB).tmax).toBe(10);
    // A late reading of the second day: that day, again alone.
    store.commit([reading('ws-1', 'air_temperature', dayB + 60_000, 12)], [], now);
    expect(on(ask(), dayB).tmax).toBe(30);
    expect(ask()).toEqual(plain(store, ['ws-1'], from, JST));
    store.close();
  });

  it('are not read again when aggregates older than every kept day are deleted', () => {
    const store = newStore();
    const now = BASE + 12 * HOUR;
    const JST = 9 * HOUR;
    commitHourly(store, BASE - 60 * DAY, now);
    store.rollUp(BASE - 20 * DAY, 0);
    const from = BASE - 30 * DAY;
    const ask = () => store.dailyTemperatures(['ws-1'], from, JST, now);
    const first = ask();
    const kept = BASE - 10 * DAY;
    store.db.prepare("UPDATE readings SET value = 30 WHERE device = 'ws-1' AND time = ?").run(kept);
    // The hourly retention deletes aggregates from before the kept days: nothing kept is read again.
    expect(store.dropHourlyBefore(from - DAY)).toBeGreaterThan(0);
    expect(ask()).toEqual(first);
    // A deletion that reaches the kept days drops them: all read again.
    expect(store.dropHourlyBefore(from + 3 * DAY)).toBeGreaterThan(0);
    const again = ask();
    expect(again).toEqual(plain(store, ['ws-1'], from, JST));
    expect(again.some((d) => d.tmax === 30)).toBe(true);
    store.close();
  });

  it('are read a week at a time even when two callers fill them at once (the rules, the recommender)', async () => {
    const now = BASE + 12 * HOUR;
    const JST = 9 * HOUR;
    const turn = () => new Promise<void>((r) => setImmediate(r));
    for (const [first, second] of [
      [BASE - 366 * DAY, BASE - 200 * DAY],
      [BASE - 200 * DAY, BASE - 366 * DAY],
    ] as const) {
      const store = newStore();
      commitHourly(store, BASE - 400 * DAY, now);
      store.rollUp(BASE - 90 * DAY, 0);
      // How many days each read of kept days spans (the block it holds the event loop for).
      const spans: number[] = [];
      const inner = store as unknown as {
        readDailyTemperatures: (d: string[], o: number, raw: number, hour: number, end?: number) => unknown;
      };
      const read = inner.readDailyTemperatures.bind(store);
      inner.readDailyTemperatures = (d, o, raw, hour, end) => {
        if (end !== undefined) spans.push(Math.round((end - hour) / DAY));
        return read(d, o, raw, hour, end);
      };
      const ask = (from: number) => store.dailyTemperaturesInTurns(['ws-1'], from, JST, now, turn);
      // The second asks a turn after the first began reading.
      const [a, b] = await Promise.all([
        ask(first),
        (async () => {
          await turn();
          return ask(second);
        })(),
      ]);
      expect(a).toEqual(plain(store, ['ws-1'], first, JST));
      expect(b).toEqual(plain(store, ['ws-1'], second, JST));
      expect(spans.length).toBeGreaterThan(20);
      expect(Math.max(...spans)).toBeLessThanOrEqual(7);
      store.close();
    }
  });

  it('read the kept days along the primary keys too', () => {
    const store = newStore();
    const plan = (
      store.db
        .prepare(`EXPLAIN QUERY PLAN ${dailyTemperatureSql(2, true)}`)
        .all(0, 'a', 'b', 0, 1, 'a', 'b', 0, 1) as { detail: string }[]
    ).map((r) => r.detail);
    expect(plan.filter((d) => /^SCAN (readings|readings_hourly)\b/.test(d))).toEqual([]);
    expect(
      plan.filter((d) => /^SEARCH (readings|readings_hourly) USING PRIMARY KEY .*<\?\)$/.test(d)),
    ).toHaveLength(2);
    store.close();
  });
});
