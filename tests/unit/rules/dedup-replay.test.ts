// De-duplication per rule, replayed the way the gateway runs it: readings arrive in the
// gateway's store as time goes on, and the gateway's own tip engine (gateway/tips.ts — all rules,
// then the lifecycle with its state kept as JSON in the store) evaluates every 10 minutes while a
// condition persists. At most one tip per condition is live at any moment; a tip is raised once,
// then only escalated, renewed on expiry when the rule says so, or raised anew after the
// condition cleared (past the hysteresis) and came back after the cool-down.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fires } from '../../../edge/rules/assessment.ts';
import { irrigationRule } from '../../../edge/rules/irrigation.ts';
import { Catalogue } from '../../../firmware-config/catalogue.ts';
import { GatewayStore } from '../../../gateway/store.ts';
import { TipEngine } from '../../../gateway/tips.ts';
import type { DeviceEntry, Field, Manifest } from '../../../protocol/manifest.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import type { Tip, TipKind } from '../../../protocol/tip.ts';
import type { Logger } from '../../../runtime/log.ts';
import { FARM, HOUR, KITS, MIN, checkTip, context, device, field, jst, series } from './fixtures.ts';

/**
 * The gateway's tip-engine options (gateway/gateway.ts, where the Gateway builds its TipEngine):
 * a 48 h window of every reading, and 14 days of the weather devices' weather metrics (the
 * default `weatherHours`), which BLASTAM needs — 7 days judged, each with the 5 before it.
 */
const GATEWAY_TIPS = { windowHours: 48, minIntervalMs: 60_000, everyMs: 5 * MIN, timeZone: 'Asia/Tokyo' };

interface Replayed {
  /** Every tip of the kind raised, in order. */
  raised: Tip[];
  /** Evaluation times at which a tip of the kind was live. */
  liveAt: number[];
}

/** A gateway's store and tip engine in a temp dir, driven by hand on a simulated clock. */
class GatewayReplay {
  readonly store: GatewayStore;
  readonly engine: TipEngine;
  private readonly dir = mkdtempSync(join(tmpdir(), 'hatake-dedup-'));
  private readonly errors: string[] = [];
  private readonly pending: Reading[];
  private received = -Infinity;

  constructor(
    manifest: { fields: Field[]; devices: DeviceEntry[] },
    readings: readonly Reading[],
    windowHours = GATEWAY_TIPS.windowHours,
  ) {
    this.store = new GatewayStore(join(this.dir, 'gateway.db'));
    // Thousands of simulated minutes: no need to wait for the disk on each (semantics unchanged).
    this.store.db.pragma('synchronous = OFF');
    const catalogue = new Catalogue();
    for (const k of KITS) catalogue.kits.set(k.id, k);
    const m: Manifest = { farm: FARM, ...manifest };
    const log = {
      error: (o: unknown, msg?: string) => this.errors.push(`${msg ?? ''} ${JSON.stringify(o)}`),
      warn: () => {},
      info: () => {},
      debug: () => {},
      child: () => log,
    };
    this.engine = new TipEngine(
      this.store,
      catalogue,
      () => m,
      { ...GATEWAY_TIPS, windowHours },
      log as unknown as Logger,
    );
    this.pending = [...readings].sort((a, b) => a.time - b.time);
  }

  /** Delivers the readings measured up to `now` (each batch received when it was measured). */
  private deliver(now: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.time <= now) n++;
    const due = this.pending.splice(0, n);
    for (let i = 0; i < due.length;) {
      let j = i;
      while (j < due.length && due[j]!.time === due[i]!.time) j++;
      const at = Math.max(due[i]!.time, this.received);
      this.store.commit(due.slice(i, j), [], at);
      this.received = at;
      i = j;
    }
  }

  /** Evaluates every `step` from `from` to `to` (inclusive), as the gateway's timer would. */
  async replay(kind: TipKind, from: number, to: number, step = 10 * MIN): Promise<Replayed> {
    const out: Replayed = { raised: [], liveAt: [] };
    for (let now = from; now <= to; now += step) {
      this.deliver(now);
      const raised = await this.engine.run(now);
      expect(this.errors).toEqual([]);
      for (const t of raised) {
        if (!checkTip.check(t)) throw new Error(JSON.stringify(checkTip.problems(t)));
        expect(JSON.parse(JSON.stringify(t))).toEqual(t);
      }
      out.raised.push(...raised.filter((t) => t.kind === kind));
      const live = this.engine.live().filter((t) => t.kind === kind);
      // One live tip per condition, whatever else happens.
      expect(new Set(live.map((t) => t.dedupKey)).size).toBe(live.length);
      if (live.length > 0) out.liveAt.push(now);
    }
    return out;
  }

  /** The ids of the tips of a kind whose clear was queued for the server (gateway/tips.ts `tipClearedItem`). */
  clearedIds(kind: TipKind): string[] {
    return this.store
      .peekOutbox(100_000)
      .filter((r) => r.kind === 'tip_cleared')
      .map((r) => JSON.parse(r.body) as { id: string; dedupKey: string })
      .filter((c) => c.dedupKey.startsWith(`${kind}:`))
      .map((c) => c.id);
  }

  /** The tips queued for the server, of a kind (each raised tip once). */
  outboxed(kind: TipKind): Tip[] {
    return this.store
      .peekOutbox(100_000)
      .filter((r) => r.kind === 'tip')
      .map((r) => JSON.parse(r.body) as Tip)
      .filter((t) => t.kind === kind);
  }

  close(): void {
    this.engine.stop();
    this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let open: GatewayReplay[] = [];
afterEach(() => {
  for (const g of open) g.close();
  open = [];
});
function gateway(...args: ConstructorParameters<typeof GatewayReplay>): GatewayReplay {
  const g = new GatewayReplay(...args);
  open.push(g);
  return g;
}

/** [reason, hours after `t0`, severity] of each tip, for readable expectations. */
const story = (tips: readonly Tip[], t0: number) =>
  tips.map((t) => [t.reason, (t.created - t0) / HOUR, t.severity] as const);

describe('device offline', () => {
  const T0 = jst('2026-08-01T12:00'); // soil-1 (reports every minute) is last heard
  const heard = series('soil-1', 'soil_vwc', T0 - HOUR, T0, MIN, () => 0.3);
  const devices = [device('soil-1', 'hatake-soil-probe', 'up-1')];
  const fields = [field({ id: 'up-1' })];

  it('raises one tip while the device stays silent, escalates it once after a day, renews it at expiry', async () => {
    const g = gateway({ fields, devices }, heard);
    // Two days of silence, evaluated every 10 minutes; its readings leave the 48 h window on
    // the way, and the gateway's last-seen record keeps the silence measured.
    const r = await g.replay('device_offline', T0, T0 + 50 * HOUR);
    expect(story(r.raised, T0)).toEqual([
      ['new', 20 / 60, 'warning'], // silent for more than 10 min
      ['escalated', 24, 'severe'], // silent for a day
      ['renewed', 48, 'severe'], // the severe tip expired (24 h) with the device still silent
    ]);
    expect(r.raised[1]!.supersedes).toBe(r.raised[0]!.id);
    expect(r.raised[2]!.supersedes).toBe(r.raised[1]!.id);
    expect(new Set(r.raised.map((t) => t.dedupKey))).toEqual(new Set(['device_offline:farm-1:soil-1']));
    // Live from the first tip on, without a gap.
    expect(r.liveAt).toEqual(Array.from({ length: 50 * 6 - 1 }, (_, i) => T0 + 20 * MIN + i * 10 * MIN));
    expect(g.outboxed('device_offline').map((t) => t.id)).toEqual(r.raised.map((t) => t.id));
  });

  it('clears when the device is heard again, and a new silence raises only after the 1 h cool-down', async () => {
    const T1 = T0 + 3 * HOUR; // heard once more, then silent again
    const g = gateway({ fields, devices }, [...heard, { ...heard[0]!, time: T1 }]);
    const before = await g.replay('device_offline', T0, T1 - 10 * MIN);
    expect(story(before.raised, T0)).toEqual([['new', 20 / 60, 'warning']]);
    const after = await g.replay('device_offline', T1, T1 + 4 * HOUR);
    expect(after.liveAt[0]).toBe(T1 + HOUR); // silent again from T1 + 10 min; held back by the cool-down
    expect(story(after.raised, T1)).toEqual([['new', 1, 'warning']]);
    expect(after.raised[0]!.id).not.toBe(before.raised[0]!.id);
    expect(g.clearedIds('device_offline')).toEqual([before.raised[0]!.id]); // heard again at T1
  });
});

describe('stuck sensor', () => {
  const S0 = jst('2026-08-01T00:00'); // the thermometer sticks at 12.3 °C
  const devices = [device('wx-1', 'hatake-weather-station')];
  const temps = (until: number, f: (t: number) => number) =>
    series('wx-1', 'air_temperature', S0 - 12 * HOUR, until, 10 * MIN, f);
  const moving = (t: number) => 20 + 5 * Math.sin((2 * Math.PI * (t - S0)) / (24 * HOUR)) + 0.3;

  it('raises one tip while the value stays stuck, renewing it only when it expires', async () => {
    const g = gateway(
      { fields: [], devices },
      temps(S0 + 36 * HOUR, (t) => (t < S0 ? moving(t) : 12.3)),
    );
    const r = await g.replay('sensor_stuck', S0, S0 + 36 * HOUR);
    expect(story(r.raised, S0)).toEqual([
      ['new', 6, 'warning'], // unchanged for 6 h
      ['renewed', 30, 'warning'], // expired after 24 h, still stuck
    ]);
    expect(r.raised[1]!.supersedes).toBe(r.raised[0]!.id);
    expect(r.liveAt).toHaveLength(30 * 6 + 1); // from 6 h to 36 h, every evaluation
  });

  it('clears as soon as the value moves, and raises again only after a new 6 h run', async () => {
    const M = S0 + 10 * HOUR; // one reading of 12.6 °C, then stuck at 12.3 °C again
    const g = gateway(
      { fields: [], devices },
      temps(S0 + 24 * HOUR, (t) => (t < S0 ? moving(t) : t === M ? 12.6 : 12.3)),
    );
    const r = await g.replay('sensor_stuck', S0, S0 + 24 * HOUR);
    expect(story(r.raised, S0)).toEqual([
      ['new', 6, 'warning'],
      ['new', 16 + 1 / 6, 'warning'], // the new run starts at M + 10 min
    ]);
    expect(r.liveAt.filter((t) => t >= M && t < M + 6 * HOUR + 10 * MIN)).toEqual([]);
  });
});

describe('irrigation', () => {
  const S = jst('2026-07-20T00:00');
  const fields = [field({ id: 'up-1', name: '大豆畑', crop: 'soybean', soilTexture: 'loam' })];
  const devices = [device('soil-1', 'hatake-soil-probe', 'up-1')];
  // The soil dries by 0.0005 m³/m³ an hour (0.3 mm/h over the 0.6 m root zone), and the probe's
  // readings scatter ±0.001 around the trend: its latest value swings hours-to-RAW by about ±2 h.
  const readings = series('soil-1', 'soil_vwc', S - 24 * HOUR, S + 44 * HOUR, 10 * MIN, (t) => {
    const k = Math.round((t - S) / (10 * MIN));
    return 0.2235 - (0.0005 * (t - S)) / HOUR + (k % 2 === 0 ? 0.001 : -0.001);
  });
  /** The rule's own trigger at `now`, on what the gateway's window holds. */
  const trigger = (now: number) =>
    irrigationRule.evaluate(
      context({
        now,
        fields,
        devices,
        readings: readings.filter((r) => r.time > now - 48 * HOUR && r.time <= now),
      }),
    ).assessments[0]!.trigger;

  it('raises one tip while the soil stays dry and keeps drying, though hours-to-RAW jitters across the horizon', async () => {
    const g = gateway({ fields, devices }, readings);
    const r = await g.replay('irrigation', S, S + 44 * HOUR);
    const steps = Array.from({ length: 44 * 6 + 1 }, (_, i) => S + i * 10 * MIN);
    const firing = steps.filter((t) => fires(trigger(t)));
    expect(firing.length).toBeGreaterThan(0);
    const first = firing[0]!;
    expect(first).toBeGreaterThan(S); // not raised at once: the soil dries into the 48 h horizon
    // The scatter takes the value back above the threshold after the first tip (inside the
    // 12 h hysteresis band), repeatedly: none of that raises or clears anything.
    const backAbove = steps.filter((t) => t > first && t < first + 24 * HOUR && !fires(trigger(t)));
    expect(backAbove.length).toBeGreaterThan(3);
    const renewedAt = firing.find((t) => t >= first + 24 * HOUR)!;
    expect(r.raised.map((t) => [t.reason, t.created, t.severity])).toEqual([
      ['new', first, 'advisory'],
      ['renewed', renewedAt, 'advisory'], // the 24 h tip expired with the soil still drying
    ]);
    expect(r.raised[1]!.supersedes).toBe(r.raised[0]!.id);
    expect(r.liveAt).toEqual(steps.filter((t) => t >= first && (t < first + 24 * HOUR || t >= renewedAt)));
  });
});

describe('BLASTAM', () => {
  const PADDY = field({ id: 'paddy-1', name: '田んぼ1号', crop: '水稲', plantingDate: '2026-05-10' });
  const devices = [device('wx-1', 'hatake-weather-station', 'paddy-1')];
  /**
   * The weather station hourly at 21 °C, calm and dry, with the leaves wet (95 %) from 21:00 for
   * 11 h on each of the given nights: each makes the day it ends on favourable (●).
   */
  function station(wetNights: readonly string[]): Reading[] {
    const wet = wetNights.map((n) => jst(`${n}T21:00`));
    const out: Reading[] = [];
    for (let t = jst('2026-06-24T00:00'); t <= jst('2026-07-25T00:00'); t += HOUR) {
      const w = wet.some((s) => t >= s && t < s + 11 * HOUR) ? 95 : 5;
      out.push(
        { device: 'wx-1', metric: 'air_temperature', value: 21, unit: 'degC', time: t, flags: [] },
        { device: 'wx-1', metric: 'leaf_wetness', value: w, unit: '%', time: t, flags: [] },
        { device: 'wx-1', metric: 'wind_speed', value: 1, unit: 'm/s', time: t, flags: [] },
        { device: 'wx-1', metric: 'rain', value: 0, unit: 'mm', time: t, flags: [] },
      );
    }
    return out;
  }

  it('raises one tip for a favourable day, live to its expiry, held through the scouting week, not raised again', async () => {
    // 07-09 ● (wet night 07-08), then dry until the night of 07-17 (07-18 ●).
    const g = gateway({ fields: [PADDY], devices }, station(['2026-07-08', '2026-07-17']));
    const D = jst('2026-07-10T00:00'); // 07-09 (wet until 08:00) is judged from the next midnight
    const first = await g.replay('rice_blast', D - HOUR, D + 24 * HOUR + 30 * MIN);
    expect(story(first.raised, D)).toEqual([['new', 0, 'warning']]);
    expect(first.raised[0]!.title.ja).toBe('田んぼ1号：葉いもち感染好適日（BLASTAM ●）');
    expect(first.raised[0]!.action).toMatchObject({ type: 'scout', withinHours: 168 });
    // Live all day and past the next midnight: 07-10 ('-') does not clear it. (Before, the
    // condition was "the latest judged day is ●" and 07-11 00:00 cleared a tip that asked to scout
    // within 7 days and would expire only at 07-13 00:00.)
    expect(first.liveAt).toEqual(Array.from({ length: 24 * 6 + 4 }, (_, i) => D + i * 10 * MIN));
    const rest = await g.replay('rice_blast', D + 27 * HOUR, D + 10 * 24 * HOUR, 3 * HOUR);
    // Live to its 72 h expiry; not renewed for the same day, nothing raised while 07-09's week
    // (to 07-17 00:00) holds the condition; 07-18 ●, after the week and the 24 h cool-down since
    // the condition cleared: a new tip.
    expect(story(rest.raised, D)).toEqual([['new', 9 * 24, 'warning']]);
    expect(rest.liveAt.filter((t) => t < D + 9 * 24 * HOUR)).toEqual(
      Array.from({ length: (72 - 27) / 3 }, (_, i) => D + (27 + 3 * i) * HOUR),
    );
    // Never cleared while live: it ended by expiring, so the server was sent no clear for it.
    expect(g.clearedIds('rice_blast')).toEqual([]);
    expect(g.outboxed('rice_blast').map((t) => t.id)).toEqual(
      [...first.raised, ...rest.raised].map((t) => t.id),
    );
  });

  it('through a wet spell: one tip at a time, escalated once, renewed at expiry for the newer favourable days', async () => {
    // Wet nights 07-05 … 07-10 (favourable days 07-06 … 07-11), a dry night, then one more.
    const nights = ['05', '06', '07', '08', '09', '10', '12'].map((d) => `2026-07-${d}`);
    const g = gateway({ fields: [PADDY], devices }, station(nights));
    const T = jst('2026-07-07T00:00');
    const r = await g.replay('rice_blast', T - 3 * HOUR, jst('2026-07-14T03:00'), HOUR);
    expect(story(r.raised, T)).toEqual([
      ['new', 0, 'warning'], // 07-06 ●
      ['escalated', 24, 'severe'], // 07-07 ● again
      // 07-11 00:00: the 72 h tip expires while the spell goes on; 07-10 ●, judged this midnight,
      // is a newer favourable day than the tip's: renewed (07-09 and 07-10 ●: severe).
      ['renewed', 4 * 24, 'severe'],
      // 07-12 '-' does not clear it (07-11 ●'s week runs on). 07-14 00:00: it expires and 07-13 ●
      // renews it (07-12 was '-': a warning).
      ['renewed', 7 * 24, 'warning'],
    ]);
    expect(r.raised[1]!.supersedes).toBe(r.raised[0]!.id);
    expect(r.raised[2]!.supersedes).toBe(r.raised[1]!.id);
    expect(r.raised[3]!.supersedes).toBe(r.raised[2]!.id);
    expect(r.raised[3]!.text.ja).toContain('2026-07-13は感染好適条件でした');
    expect(new Set(r.raised.map((t) => t.dedupKey))).toEqual(new Set(['rice_blast:farm-1:paddy-1']));
    // Live every hour from the first tip on, one at a time (replay() checks the one).
    expect(r.liveAt).toEqual(Array.from({ length: 7 * 24 + 4 }, (_, i) => T + i * HOUR));
    expect(g.clearedIds('rice_blast')).toEqual([]);
    expect(g.outboxed('rice_blast').map((t) => t.id)).toEqual(r.raised.map((t) => t.id));
  });
});
