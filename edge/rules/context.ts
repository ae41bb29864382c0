// What rules read: the RuleContext (farm, fields, devices, kits, readings and optional extra
// inputs, with the time injected), and its prepared form — validated, with readings cleaned,
// sorted and indexed by device and metric. Structure problems are coded errors; individual
// bad readings are dropped and reported as notes, so one NaN never hides a frost warning.
import { Type } from '@sinclair/typebox';
import { HatakeError } from '../../protocol/errors.ts';
import { DeviceEntry, Farm, Field } from '../../protocol/manifest.ts';
import { Kit } from '../../protocol/kit.ts';
import { isId } from '../../protocol/ids.ts';
import { QualityFlag, type Reading } from '../../protocol/telemetry.ts';
import { validator } from '../../protocol/validate.ts';
import { DEFAULT_TIMEZONE, checkTimezone, dateToDay } from './local-time.ts';

/** A forecast air temperature (e.g. from JMA via the server) at 1.5 m, °C. */
export interface ForecastPoint {
  time: number;
  airTemperature: number;
}

/** A day's minimum and maximum air temperature supplied from elsewhere (e.g. AMeDAS), local date. */
export interface DailyTemperature {
  date: string;
  tmin: number;
  tmax: number;
}

/**
 * One zonal statistic of one vegetation index for one scene — the narrow input of the imagery
 * anomaly rule. `zone` must name the same ground in every scene (a fixed management zone or
 * grid cell), not a per-scene cluster number. `time` is the acquisition time, UTC epoch ms;
 * `mean` the zone's mean index value; `validFraction` the share of the zone's pixels that were
 * valid (not cloud, shadow or no-data).
 */
export interface ZoneIndexPoint {
  field: string;
  zone: string;
  index: string;
  time: number;
  mean: number;
  validFraction: number;
  centroid?: [number, number];
  scene?: string;
}

/** Everything a rule may read. Treat it as immutable once handed to a rule (it is cached by identity). */
export interface RuleContext {
  /** The time of evaluation, UTC epoch ms (injected: no rule reads a clock). */
  now: number;
  farm: Farm;
  fields: readonly Field[];
  devices: readonly DeviceEntry[];
  kits: readonly Kit[];
  /** Time series of readings, any order, any devices; storage units (protocol/metrics.ts). */
  readings: readonly Reading[];
  /**
   * The same data in columns, one entry per device and metric, times ascending — the compact
   * form a database read gives (the gateway's store). Clean series are used as given, not
   * copied; a series that repeats or reverses a time, or also comes in `readings`, is sorted with
   * the readings (the readings win a tie).
   */
  series?: readonly SeriesInput[];
  /** Last time each device was heard (the gateway's record), when older than the readings given. */
  lastSeen?: Readonly<Record<string, number>>;
  /** Forecast air temperatures for the frost rule. */
  forecast?: readonly ForecastPoint[];
  /** Daily extremes filling days the sensors do not cover (growth stage, paddy stage). */
  dailyTemperatures?: readonly DailyTemperature[];
  /** Growth stage a person declared per field id (overrides the GDD estimate). */
  stages?: Readonly<Record<string, string>>;
  /** Zonal index statistics for the imagery anomaly rule. */
  zoneIndex?: readonly ZoneIndexPoint[];
  /** Frost area id (else the farm's region, else the default area). */
  frostArea?: string;
}

export const NOTE_CODES = [
  'no_data', // nothing to judge from
  'stale_data', // the latest data is too old
  'insufficient_data', // some, but not enough (hours in a day, points for a trend, history)
  'dropped_input', // malformed or non-finite inputs were ignored
  'future_readings', // readings stamped after `now` were ignored
  'missing_attribute', // the field lacks crop, soil texture or planting date
  'unknown_crop',
  'unknown_texture',
  'unknown_stage',
  'not_applicable', // the rule does not apply to this crop or time
  'out_of_season',
  'missing_parameter', // e.g. no battery thresholds for this kit
  'rule_failed', // a rule threw (a bug); the runner kept going
] as const;
export type NoteCode = (typeof NOTE_CODES)[number];

/** Why a rule did not (fully) judge something: a clear, coded result instead of silence. */
export interface RuleNote {
  code: NoteCode;
  rule?: string;
  field?: string;
  device?: string;
  count?: number;
  message: string;
}

/** A device's readings of one metric in columns of equal length, sorted by time, one value per time. */
export interface Series {
  device: string;
  metric: string;
  unit: string;
  /** Read-only: a clean `RuleContext.series` entry is used as given, the caller's own arrays. */
  time: readonly number[];
  value: readonly number[];
  /** True where the reading carried a quality flag (agronomic rules skip those). */
  flagged: readonly boolean[];
}

/** A `RuleContext.series` entry: a series as a database read gives it (checked, not trusted). */
export type SeriesInput = Series;

export interface Prepared {
  ctx: RuleContext;
  now: number;
  tz: string;
  farm: Farm;
  fields: Field[];
  fieldById: Map<string, Field>;
  deviceById: Map<string, DeviceEntry>;
  kitById: Map<string, Kit>;
  series: Map<string, Map<string, Series>>;
  lastSeen: Map<string, number>;
  forecast: ForecastPoint[];
  daily: Map<number, { tmin: number; tmax: number }>;
  zoneIndex: ZoneIndexPoint[];
  /** Notes about the input itself (dropped readings, …). */
  notes: RuleNote[];
}

/** Readings (in `readings` and `series` together) beyond this many are refused as a whole (the caller should window its query). */
export const MAX_READINGS = 2_000_000;
/** Readings stamped more than this after `now` are ignored (device clock ahead). */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;
const MAX_EXTRA_ITEMS = 200_000;

const checkFarm = validator(Farm);
const checkFields = validator(Type.Array(Field, { maxItems: 10_000 }));
const checkDevices = validator(Type.Array(DeviceEntry, { maxItems: 10_000 }));
const checkKits = validator(Type.Array(Kit, { maxItems: 1_000 }));
const FLAGS = new Set<string>(QualityFlag.anyOf.map((s) => s.const as string));

const cache = new WeakMap<RuleContext, Prepared>();

function inputError(pointer: string, message: string, expected: string): HatakeError {
  return new HatakeError('HATAKE_E_RULE_INPUT', message, { place: { pointer }, expected });
}

function optionalArray(v: unknown, pointer: string): readonly unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw inputError(pointer, `${pointer} is not an array`, 'an array');
  if (v.length > MAX_EXTRA_ITEMS)
    throw inputError(pointer, `${pointer} has ${v.length} items`, `at most ${MAX_EXTRA_ITEMS}`);
  return v;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

type Rows = { unit: string; rows: [number, number, boolean][] };
type RawRows = Map<string, Map<string, Rows>>;
type Counts = { malformed: number; nonFinite: number; future: number };
const METRIC_RE = /^[a-z][a-z0-9_]{0,63}$/;

/** Whether a reading or a column series names its device, metric and unit usably. */
const named = (x: unknown): x is { device: string; metric: string; unit: string } & Record<string, unknown> =>
  isObj(x) &&
  isId(x.device) &&
  typeof x.metric === 'string' &&
  METRIC_RE.test(x.metric) &&
  typeof x.unit === 'string';

/**
 * Whether a reading's numbers can be used: a non-finite value or a time that is not a
 * non-negative integer, or a time past `now`'s tolerance, is counted and refused.
 */
function usable(time: number, value: number, now: number, counts: Counts): boolean {
  if (!Number.isFinite(value) || !Number.isFinite(time) || time < 0 || !Number.isInteger(time)) {
    counts.nonFinite++;
    return false;
  }
  if (time > now + FUTURE_TOLERANCE_MS) {
    counts.future++;
    return false;
  }
  return true;
}

/**
 * The rows to sort for a device's metric. A clean series already taken for it joins them (first,
 * so the readings win a tie): one series per device and metric reaches the rules.
 */
function rowsOf(
  raw: RawRows,
  clean: Map<string, Map<string, Series>>,
  device: string,
  metric: string,
  unit: string,
): [number, number, boolean][] {
  let byMetric = raw.get(device);
  if (!byMetric) raw.set(device, (byMetric = new Map()));
  let s = byMetric.get(metric);
  if (!s) {
    byMetric.set(metric, (s = { unit, rows: [] }));
    const taken = clean.get(device)?.get(metric);
    if (taken) {
      clean.get(device)!.delete(metric);
      for (let i = 0; i < taken.time.length; i++)
        s.rows.push([taken.time[i]!, taken.value[i]!, taken.flagged[i]!]);
    }
  }
  return s.rows;
}

/**
 * Takes one column series: used as given when every point is usable and its times strictly
 * ascend; otherwise its usable points join the rows that are sorted like readings. Malformed,
 * non-finite and future points are counted as for readings.
 */
function takeSeries(
  c: unknown,
  now: number,
  clean: Map<string, Map<string, Series>>,
  raw: RawRows,
  counts: Counts,
): void {
  if (
    !named(c) ||
    !Array.isArray(c.time) ||
    !Array.isArray(c.value) ||
    !Array.isArray(c.flagged) ||
    c.value.length !== c.time.length ||
    c.flagged.length !== c.time.length
  ) {
    counts.malformed += isObj(c) && Array.isArray(c.time) ? Math.max(1, c.time.length) : 1;
    return;
  }
  const { device, metric, unit } = c;
  const time = c.time as unknown[];
  const value = c.value as unknown[];
  const flagged = c.flagged as unknown[];
  let ok = !raw.get(device)?.has(metric) && !clean.get(device)?.has(metric);
  let last = -Infinity;
  for (let i = 0; ok && i < time.length; i++) {
    const t = time[i];
    const v = value[i];
    if (
      typeof t !== 'number' ||
      !Number.isInteger(t) ||
      t < 0 ||
      t <= last ||
      t > now + FUTURE_TOLERANCE_MS ||
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      typeof flagged[i] !== 'boolean'
    )
      ok = false;
    else last = t;
  }
  if (ok) {
    if (time.length === 0) return;
    let byMetric = clean.get(device);
    if (!byMetric) clean.set(device, (byMetric = new Map()));
    byMetric.set(metric, {
      device,
      metric,
      unit,
      time: time as readonly number[],
      value: value as readonly number[],
      flagged: flagged as readonly boolean[],
    });
    return;
  }
  // The slow path, point by point, with the readings' checks.
  let rows: [number, number, boolean][] | undefined;
  for (let i = 0; i < time.length; i++) {
    const t = time[i];
    const v = value[i];
    if (typeof t !== 'number' || typeof v !== 'number' || typeof flagged[i] !== 'boolean') {
      counts.malformed++;
      continue;
    }
    if (!usable(t, v, now, counts)) continue;
    (rows ??= rowsOf(raw, clean, device, metric, unit)).push([t, v, flagged[i] as boolean]);
  }
}

/** Validates and indexes a context (memoised per context object). Throws HATAKE_E_RULE_INPUT. */
export function prepare(ctx: RuleContext): Prepared {
  if (!isObj(ctx)) throw inputError('/', 'rule context is not an object', 'a RuleContext');
  const hit = cache.get(ctx);
  if (hit) return hit;
  const now = ctx.now;
  if (!finite(now) || now < 0 || !Number.isInteger(now))
    throw inputError(
      '/now',
      `now = ${String(now)} is not a time`,
      'UTC epoch milliseconds (a non-negative integer)',
    );
  const farm = checkFarm.parse(ctx.farm, 'rule context farm', 'HATAKE_E_RULE_INPUT');
  const fields = checkFields.parse(ctx.fields, 'rule context fields', 'HATAKE_E_RULE_INPUT');
  const devices = checkDevices.parse(ctx.devices, 'rule context devices', 'HATAKE_E_RULE_INPUT');
  const kits = checkKits.parse(ctx.kits, 'rule context kits', 'HATAKE_E_RULE_INPUT');
  const tz = farm.timezone ?? DEFAULT_TIMEZONE;
  checkTimezone(tz);
  if (!Array.isArray(ctx.readings))
    throw inputError('/readings', 'readings is not an array', 'an array of readings');
  const columns = optionalArray(ctx.series, '/series');
  let total = ctx.readings.length;
  for (const c of columns) if (isObj(c) && Array.isArray(c.time)) total += c.time.length;
  if (total > MAX_READINGS)
    throw inputError(
      ctx.series === undefined ? '/readings' : '/series',
      `${total} readings given`,
      `at most ${MAX_READINGS}; query a shorter window`,
    );

  const notes: RuleNote[] = [];
  const raw: RawRows = new Map();
  const counts: Counts = { malformed: 0, nonFinite: 0, future: 0 };
  const clean = new Map<string, Map<string, Series>>();
  for (const c of columns) takeSeries(c, now, clean, raw, counts);
  for (let i = 0; i < ctx.readings.length; i++) {
    const r: unknown = ctx.readings[i];
    if (
      !named(r) ||
      typeof r.value !== 'number' ||
      typeof r.time !== 'number' ||
      (r.flags !== undefined && (!Array.isArray(r.flags) || r.flags.some((f) => !FLAGS.has(f as string))))
    ) {
      counts.malformed++;
      continue;
    }
    if (!usable(r.time, r.value, now, counts)) continue;
    rowsOf(raw, clean, r.device, r.metric, r.unit).push([
      r.time,
      r.value,
      Array.isArray(r.flags) && r.flags.length > 0,
    ]);
  }
  const { malformed, nonFinite, future } = counts;
  if (malformed + nonFinite > 0)
    notes.push({
      code: 'dropped_input',
      count: malformed + nonFinite,
      message: `${malformed + nonFinite} readings ignored (${malformed} malformed, ${nonFinite} with a non-finite value or time)`,
    });
  if (future > 0)
    notes.push({
      code: 'future_readings',
      count: future,
      message: `${future} readings stamped after now ignored`,
    });

  // Sorted by device and metric, so every rule's output is in the same order whatever the input order.
  const series = new Map<string, Map<string, Series>>();
  for (const device of [...new Set([...raw.keys(), ...clean.keys()])].sort()) {
    const out = new Map<string, Series>();
    const given = clean.get(device);
    const sorted = [...(raw.get(device) ?? []), ...(given ?? [])].sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    for (const [metric, entry] of sorted) {
      if (!('rows' in entry)) {
        out.set(metric, entry);
        continue;
      }
      const { unit, rows } = entry;
      // Stable sort keeps input order among equal times; the last one given wins.
      rows.sort((a, b) => a[0] - b[0]);
      const time: number[] = [];
      const value: number[] = [];
      const flagged: boolean[] = [];
      for (const [t, v, f] of rows) {
        const n = time.length;
        if (n > 0 && time[n - 1] === t) {
          value[n - 1] = v;
          flagged[n - 1] = f;
        } else {
          time.push(t);
          value.push(v);
          flagged.push(f);
        }
      }
      out.set(metric, { device, metric, unit, time, value, flagged });
    }
    series.set(device, out);
  }

  const lastSeen = new Map<string, number>();
  if (ctx.lastSeen !== undefined) {
    if (!isObj(ctx.lastSeen) || Array.isArray(ctx.lastSeen))
      throw inputError('/lastSeen', 'lastSeen is not an object', 'a map of device id to epoch ms');
    let bad = 0;
    for (const [d, t] of Object.entries(ctx.lastSeen)) {
      if (finite(t) && t >= 0) lastSeen.set(d, Math.min(t, now));
      else bad++;
    }
    if (bad) notes.push({ code: 'dropped_input', count: bad, message: `${bad} lastSeen entries ignored` });
  }

  const forecast: ForecastPoint[] = [];
  let badForecast = 0;
  for (const f of optionalArray(ctx.forecast, '/forecast')) {
    if (
      isObj(f) &&
      finite(f.time) &&
      f.time >= 0 &&
      finite(f.airTemperature) &&
      Math.abs(f.airTemperature) <= 100
    )
      forecast.push({ time: f.time, airTemperature: f.airTemperature });
    else badForecast++;
  }
  forecast.sort((a, b) => a.time - b.time);
  if (badForecast)
    notes.push({
      code: 'dropped_input',
      count: badForecast,
      message: `${badForecast} forecast points ignored`,
    });

  const daily = new Map<number, { tmin: number; tmax: number }>();
  let badDaily = 0;
  for (const d of optionalArray(ctx.dailyTemperatures, '/dailyTemperatures')) {
    const day = isObj(d) && typeof d.date === 'string' ? dateToDay(d.date) : undefined;
    if (
      day !== undefined &&
      isObj(d) &&
      finite(d.tmin) &&
      finite(d.tmax) &&
      d.tmin <= d.tmax &&
      d.tmin >= -90 &&
      d.tmax <= 70
    )
      daily.set(day, { tmin: d.tmin, tmax: d.tmax });
    else badDaily++;
  }
  if (badDaily)
    notes.push({ code: 'dropped_input', count: badDaily, message: `${badDaily} daily temperatures ignored` });

  const zoneIndex: ZoneIndexPoint[] = [];
  let badZone = 0;
  for (const z of optionalArray(ctx.zoneIndex, '/zoneIndex')) {
    if (
      isObj(z) &&
      isId(z.field) &&
      typeof z.zone === 'string' &&
      z.zone.length >= 1 &&
      z.zone.length <= 64 &&
      typeof z.index === 'string' &&
      /^[a-z][a-z0-9_]{0,15}$/.test(z.index) &&
      finite(z.time) &&
      z.time >= 0 &&
      z.time <= now + FUTURE_TOLERANCE_MS &&
      finite(z.mean) &&
      Math.abs(z.mean) <= 100 &&
      finite(z.validFraction) &&
      z.validFraction >= 0 &&
      z.validFraction <= 1
    ) {
      const c = z.centroid;
      const centroid =
        Array.isArray(c) &&
        c.length === 2 &&
        finite(c[0]) &&
        finite(c[1]) &&
        Math.abs(c[0]) <= 180 &&
        Math.abs(c[1]) <= 90
          ? ([c[0], c[1]] as [number, number])
          : undefined;
      zoneIndex.push({
        field: z.field,
        zone: z.zone,
        index: z.index,
        time: z.time,
        mean: z.mean,
        validFraction: z.validFraction,
        ...(centroid ? { centroid } : {}),
        ...(typeof z.scene === 'string' ? { scene: z.scene.slice(0, 200) } : {}),
      });
    } else badZone++;
  }
  if (badZone)
    notes.push({ code: 'dropped_input', count: badZone, message: `${badZone} zone index points ignored` });

  if (ctx.stages !== undefined && (!isObj(ctx.stages) || Array.isArray(ctx.stages)))
    throw inputError('/stages', 'stages is not an object', 'a map of field id to stage id');
  if (ctx.frostArea !== undefined && typeof ctx.frostArea !== 'string')
    throw inputError('/frostArea', 'frostArea is not a string', 'an area id');

  const prepared: Prepared = {
    ctx,
    now,
    tz,
    farm,
    fields: [...fields],
    fieldById: new Map(fields.map((f) => [f.id, f])),
    deviceById: new Map(devices.map((d) => [d.id, d])),
    kitById: new Map(kits.map((k) => [k.id, k])),
    series,
    lastSeen,
    forecast,
    daily,
    zoneIndex,
    notes,
  };
  cache.set(ctx, prepared);
  return prepared;
}

/** The series of a device's metric, if any readings came. */
export function seriesOf(p: Prepared, device: string, metric: string): Series | undefined {
  return p.series.get(device)?.get(metric);
}

/** Whether a device measures a metric (its kit says so, or readings of it came). */
export function measures(p: Prepared, device: DeviceEntry, metric: string): boolean {
  const kit = p.kitById.get(device.kit);
  return (
    (kit !== undefined && Object.hasOwn(kit.metrics, metric)) || seriesOf(p, device.id, metric) !== undefined
  );
}

/** Devices in a field that measure a metric. */
export function fieldDevices(p: Prepared, field: string, metric: string): DeviceEntry[] {
  return [...p.deviceById.values()].filter((d) => d.field === field && measures(p, d, metric));
}

/**
 * Devices whose weather stands for a field: the field's own devices measuring the metric, or,
 * when it has none, the farm's devices that belong to no field.
 */
export function weatherDevices(p: Prepared, field: string | undefined, metric: string): DeviceEntry[] {
  if (field !== undefined) {
    const own = fieldDevices(p, field, metric);
    if (own.length > 0) return own;
  }
  return [...p.deviceById.values()].filter((d) => d.field === undefined && measures(p, d, metric));
}

/** The display name of a device (its name, else its id). */
export function deviceName(p: Prepared, id: string): string {
  return p.deviceById.get(id)?.name ?? id;
}
