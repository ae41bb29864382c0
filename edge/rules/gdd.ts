// Growing degree-days. The corn 30/10 method (Tmax and Tmin each held within 10–30 °C, mean
// minus 10 — the 86/50 °F method in °C), and the simple base method (mean of Tmin and Tmax
// minus the base, not below 0; wheat uses base 0 °C). Daily extremes come from the field's
// thermometer by local day, with supplied daily values (e.g. AMeDAS) filling days the sensors
// do not cover.
import type { Prepared } from './context.ts';
import { seriesOf, weatherDevices } from './context.ts';
import { clamp } from './format.ts';
import { HOUR_MS, localDay, startOfLocalDay } from './local-time.ts';
import { hourlyBins, primarySeries } from './series.ts';

export type GddMethod = { kind: 'corn_30_10' } | { kind: 'base'; baseC: number };

/** Corn GDD by the 30/10 °C method: both extremes held within [10, 30], mean − 10. */
export function gddCorn3010(tmin: number, tmax: number): number {
  const lo = clamp(tmin, 10, 30);
  const hi = clamp(tmax, 10, 30);
  return Math.max(0, (lo + hi) / 2 - 10);
}

/** GDD over a base temperature: max(0, (Tmin + Tmax)/2 − base). */
export function gddBase(tmin: number, tmax: number, baseC: number): number {
  return Math.max(0, (tmin + tmax) / 2 - baseC);
}

/** One day's GDD by a method. */
export function dailyGdd(method: GddMethod, tmin: number, tmax: number): number {
  return method.kind === 'corn_30_10' ? gddCorn3010(tmin, tmax) : gddBase(tmin, tmax, method.baseC);
}

/** Human description of a method, for texts and evidence. */
export function methodLabel(method: GddMethod): { ja: string; en: string } {
  return method.kind === 'corn_30_10'
    ? { ja: '30/10 ℃法', en: '30/10 °C method' }
    : { ja: `基準温度 ${method.baseC} ℃`, en: `base ${method.baseC} °C` };
}

export interface DayExtremes {
  day: number;
  tmin: number;
  tmax: number;
  source: 'sensor' | 'supplied';
}

/**
 * Daily extremes of air temperature for local days [fromDay, toDay): from the field's (or the
 * farm's) thermometer when it covered at least `minHours` hours of the day, else supplied.
 */
export function dailyExtremes(
  p: Prepared,
  field: string | undefined,
  fromDay: number,
  toDay: number,
  minHours: number,
): { days: Map<number, DayExtremes>; device: string | undefined } {
  const days = new Map<number, DayExtremes>();
  if (toDay <= fromDay) return { days, device: undefined };
  const from = startOfLocalDay(p.tz, fromDay);
  const to = startOfLocalDay(p.tz, toDay);
  const s = primarySeries(
    weatherDevices(p, field, 'air_temperature').map((d) => seriesOf(p, d.id, 'air_temperature')),
    from,
    to,
  );
  const acc = new Map<number, { n: number; lo: number; hi: number }>();
  for (const b of hourlyBins(s, from, to).values()) {
    const day = localDay(p.tz, b.hour * HOUR_MS);
    const a = acc.get(day);
    if (!a) acc.set(day, { n: 1, lo: b.min, hi: b.max });
    else {
      a.n++;
      if (b.min < a.lo) a.lo = b.min;
      if (b.max > a.hi) a.hi = b.max;
    }
  }
  for (let day = fromDay; day < toDay; day++) {
    const a = acc.get(day);
    if (a && a.n >= minHours) days.set(day, { day, tmin: a.lo, tmax: a.hi, source: 'sensor' });
    else {
      const d = p.daily.get(day);
      if (d) days.set(day, { day, tmin: d.tmin, tmax: d.tmax, source: 'supplied' });
    }
  }
  return { days, device: s?.device };
}

export interface Accumulation {
  gdd: number;
  /** Days with data. */
  counted: number;
  /** Days without data (the sum is a lower bound when any). */
  missing: number;
  /** Mean daily GDD over the last (up to) 7 counted days, for "about N days" estimates. */
  recentDaily: number | undefined;
}

/** Sums daily GDD over local days [fromDay, toDay). */
export function accumulate(
  method: GddMethod,
  days: ReadonlyMap<number, DayExtremes>,
  fromDay: number,
  toDay: number,
): Accumulation {
  let gdd = 0;
  let counted = 0;
  const recent: number[] = [];
  for (let day = fromDay; day < toDay; day++) {
    const d = days.get(day);
    if (!d) continue;
    const g = dailyGdd(method, d.tmin, d.tmax);
    gdd += g;
    counted++;
    recent.push(g);
    if (recent.length > 7) recent.shift();
  }
  return {
    gdd,
    counted,
    missing: Math.max(0, toDay - fromDay - counted),
    recentDaily: recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : undefined,
  };
}
