// Local calendar arithmetic for rules: which local day (in the farm's IANA zone) an instant
// falls on, where a local day starts, and month-day comparisons for season windows. Offsets
// come from the platform's Intl time-zone data and are cached per UTC hour, so binning a
// million readings costs a map lookup each.
import { HatakeError } from '../../protocol/errors.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const DEFAULT_TIMEZONE = 'Asia/Tokyo';

interface Zone {
  format: Intl.DateTimeFormat;
  offsets: Map<number, number>;
}
const zones = new Map<string, Zone>();
const MAX_CACHED_HOURS = 200_000;

function zone(tz: string): Zone {
  let z = zones.get(tz);
  if (!z) {
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (cause) {
      throw new HatakeError('HATAKE_E_RULE_INPUT', `unknown time zone "${tz}"`, {
        place: { pointer: '/farm/timezone' },
        expected: 'an IANA time zone such as Asia/Tokyo',
        cause,
      });
    }
    z = { format, offsets: new Map() };
    zones.set(tz, z);
  }
  return z;
}

/** Throws a coded error when `tz` is not a time zone the platform knows. */
export function checkTimezone(tz: string): void {
  zone(tz);
}

/** The zone's offset from UTC at instant `t`, in ms (Asia/Tokyo: +9 h). */
export function offsetMs(tz: string, t: number): number {
  const z = zone(tz);
  const hour = Math.floor(t / HOUR_MS);
  const cached = z.offsets.get(hour);
  if (cached !== undefined) return cached;
  const parts: Record<string, number> = {};
  for (const p of z.format.formatToParts(new Date(hour * HOUR_MS))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  const off = asUtc - hour * HOUR_MS;
  if (z.offsets.size >= MAX_CACHED_HOURS) z.offsets.clear();
  z.offsets.set(hour, off);
  return off;
}

/** Local day number (days since 1970-01-01 in the local calendar) of instant `t`. */
export function localDay(tz: string, t: number): number {
  return Math.floor((t + offsetMs(tz, t)) / DAY_MS);
}

/** Local hour of day (0–23) of instant `t`. */
export function localHour(tz: string, t: number): number {
  const local = t + offsetMs(tz, t);
  return Math.floor((local - Math.floor(local / DAY_MS) * DAY_MS) / HOUR_MS);
}

/** The instant local day `day` starts (its local midnight). */
export function startOfLocalDay(tz: string, day: number): number {
  let t = day * DAY_MS - offsetMs(tz, day * DAY_MS);
  // Once more with the offset at the guess: right across a DST change near midnight.
  t = day * DAY_MS - offsetMs(tz, t);
  return t;
}

/** 'YYYY-MM-DD' of a local day number. */
export function dayToDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Local day number of a 'YYYY-MM-DD' date, or undefined when it is not a real date. */
export function dateToDay(date: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
  const t = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== date) return undefined;
  return t / DAY_MS;
}

/** Month-day number (month·100 + day, e.g. 1031) of a local day. */
export function monthDayOf(day: number): number {
  const d = new Date(day * DAY_MS);
  return (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

/** Parses 'MM-DD' to a month-day number, or undefined. */
export function parseMonthDay(s: string): number | undefined {
  const m = /^(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const month = Number(m[1]);
  const day = Number(m[2]);
  const max = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (max === undefined || day < 1 || day > max) return undefined;
  return month * 100 + day;
}

/** Whether month-day `md` is inside the window from..to (inclusive; wraps over the new year when from > to). */
export function inMonthDayWindow(md: number, from: number, to: number): boolean {
  return from <= to ? md >= from && md <= to : md >= from || md <= to;
}

/** Formats an instant as local 'M/D HH:MM' for texts. */
export function formatLocal(tz: string, t: number): string {
  const local = new Date(t + offsetMs(tz, t));
  const hh = String(local.getUTCHours()).padStart(2, '0');
  const mm = String(local.getUTCMinutes()).padStart(2, '0');
  return `${local.getUTCMonth() + 1}/${local.getUTCDate()} ${hh}:${mm}`;
}
