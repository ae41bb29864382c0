// Numbers, units and times as farmers read them: rates in kg/10a (Japanese) beside kg/ha, soil
// moisture in %, temperatures in °C, times in the farm's zone, freshness as "3分前" / "3 min ago".
// Also a model input's source read into its parts, for the officer's page to word.
import { METRICS, isMetricName } from '../../protocol/metrics.ts';
import type { Automation } from '../../protocol/automation.ts';
import type { KitSummary } from '../../protocol/views.ts';
import type { ComparisonOp } from '../../protocol/comparison.ts';
import type { Lang } from './i18n.ts';

/** Units of time as a Japanese reader writes them after a number: 15 分, 30 秒, 2 時間, 3 日. */
const JA_TIME_UNITS: Record<string, string> = { s: '秒', min: '分', h: '時間', d: '日' };

/**
 * How a stored unit is shown, and the factor from storage to display. Units of time read in the
 * reader's language (a kit's `min` is 分 in Japanese); without `lang`, as the kit names them.
 */
export function displayUnit(metric: string, unit: string, lang?: Lang): { unit: string; factor: number } {
  if (metric === 'soil_vwc' || unit === 'm3/m3') return { unit: '%', factor: 100 };
  const pretty: Record<string, string> = { degC: '°C', 'W/m2': 'W/m²', '1': '' };
  return { unit: lang ? localUnit(pretty[unit] ?? unit, lang) : (pretty[unit] ?? unit), factor: 1 };
}

/** A display unit in the reader's language: units of time in Japanese (min → 分), others as they are. */
export function localUnit(unit: string, lang: Lang): string {
  return lang === 'ja' && Object.hasOwn(JA_TIME_UNITS, unit) ? JA_TIME_UNITS[unit]! : unit;
}

/** The names a device's kit file gives metrics of its own (those outside the protocol's registry). */
export type KitMetricNames = ReadonlyMap<string, { ja: string; en: string }>;

/** The names a kit gives among `metrics` (its metricDetails, or a sensor's choices in a form). */
export function metricNamesOf(
  metrics: readonly { id: string; name?: { ja: string; en: string } | null }[],
): KitMetricNames {
  return new Map(metrics.flatMap((m) => (m.name ? [[m.id, m.name] as const] : [])));
}

/** The metric names of kit `kit` in the catalogue (none for an unknown kit). */
export function kitMetricNames(kits: readonly KitSummary[], kit: string | null | undefined): KitMetricNames {
  return metricNamesOf((kit ? kits.find((k) => k.id === kit) : undefined)?.metricDetails ?? []);
}

/** A metric's name: the protocol's, else the one its kit file gives, else its id. */
export function metricName(metric: string, lang: Lang, kitNames?: KitMetricNames): string {
  if (isMetricName(metric)) return METRICS[metric][lang];
  return kitNames?.get(metric)?.[lang] ?? metric;
}

/** A number with at most `digits` decimals (and at least `minDigits`) as the reader's language writes it. */
export function fmtNumber(v: number | null | undefined, lang: Lang, digits = 1, minDigits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    maximumFractionDigits: digits,
    minimumFractionDigits: Math.min(minDigits, digits),
  }).format(v);
}

/** A valve's or gate's state as the gateway's page writes it: 閉 / 開 (closed / open) for 0 / 1. */
const VALVE_STATES: Record<Lang, readonly [string, string]> = { ja: ['閉', '開'], en: ['closed', 'open'] };

/**
 * A metric value with its display unit, e.g. "23.4 %"; a valve's state as 開 / 閉. A battery's
 * charge is a whole percent ("87 %", the kits report it in steps of 1 %) and a battery's voltage
 * two decimals ("3.62 V", the kits report it to 0.01 V or finer): one decimal would hide the tenths
 * of a volt between a full cell and a flat one.
 */
export function fmtValue(
  metric: string,
  value: number,
  unit: string,
  lang: Lang,
): { value: string; unit: string } {
  if (metric === 'valve_state' && (value === 0 || value === 1))
    return { value: VALVE_STATES[lang][value], unit: '' };
  const d = displayUnit(metric, unit, lang);
  const v = value * d.factor;
  if (metric === 'battery_level') return { value: fmtNumber(v, lang, 0), unit: d.unit };
  if (d.unit === 'V') return { value: fmtNumber(v, lang, 2, 2), unit: d.unit };
  const digits = d.unit === '%' ? 1 : Math.abs(v) >= 100 ? 0 : 1;
  return { value: fmtNumber(v, lang, digits), unit: d.unit };
}

/** Comparisons as each language writes them: full-width signs in Japanese text. */
const COMPARISONS: Record<Lang, Record<ComparisonOp, string>> = {
  ja: { '<': '＜', '<=': '≦', '>': '＞', '>=': '≧' },
  en: { '<': '<', '<=': '≤', '>': '>', '>=': '≥' },
};

/** A comparison as a sign a reader of the language expects (≦ in Japanese, ≤ in English). */
export function comparisonSign(op: ComparisonOp, lang: Lang): string {
  return COMPARISONS[lang][op];
}

/**
 * An automation's trigger as a farmer reads it, without the sensor: the metric's name, the
 * comparison as a sign (empty for a band) and the threshold or band in the metric's display unit,
 * e.g. 土壌水分 ＜ 22 % or 水位 3–5 cm. A kit's own metric goes by the name its kit file gives it
 * (its id when there is none) and keeps its stored value.
 */
export function triggerParts(
  trigger: Automation['trigger'],
  lang: Lang,
  kitNames?: KitMetricNames,
): { metric: string; comparison: string; value: string; unit: string } {
  const unit = isMetricName(trigger.metric) ? METRICS[trigger.metric].unit : '';
  const show = (v: number) => fmtValue(trigger.metric, v, unit, lang);
  const metric = metricName(trigger.metric, lang, kitNames);
  if (trigger.kind === 'threshold') {
    const v = show(trigger.value);
    return { metric, comparison: comparisonSign(trigger.op, lang), value: v.value, unit: v.unit };
  }
  const low = show(trigger.low);
  return { metric, comparison: '', value: `${low.value}–${show(trigger.high).value}`, unit: low.unit };
}

/** The units a rate is read in: kg/10a (what Japanese farmers use; 1 kg/10a = 10 kg/ha) and kg/ha. */
export type RateUnit = 'kg/10a' | 'kg/ha';

/**
 * A rate (kg N/ha, or kg of product/ha) as a number in `unit`, to 0.01 kg/ha in either unit: up to
 * two decimals in kg/ha and three in kg/10a, at least `minDigits` ("2.99", "30", "1.995" kg/10a).
 * The one rounding of every rate the pages show — the zone tables, the prescription map and its
 * legend, the audit — and the one the decisions CSV writes (dashboard/review/decisions-csv.ts), so
 * that a rate reads the same wherever it appears: the spreader step puts rates on 0.01 kg N/ha
 * (urea on a 5 kg step: 29.9 kg N/ha = 2.99 kg/10a; ammonium sulfate: 19.95 kg N/ha = 1.995
 * kg/10a), which coarser rounding would show as 3 or 2.0 beside the map's 2.99 or 1.995.
 */
export function fmtRate(kgHa: number, unit: RateUnit, lang: Lang, minDigits = 0): string {
  // Rounded once to 0.01 kg/ha, then written in either unit: the two units never disagree.
  const v = Math.round(kgHa * 100) / 100;
  return unit === 'kg/10a' ? fmtNumber(v / 10, lang, 3, minDigits) : fmtNumber(v, lang, 2, minDigits);
}

/** A rate stored in kg/ha as the two units a farmer reads: kg/10a first in Japanese (see fmtRate). */
export function rateParts(kgHa: number, lang: Lang): [string, string] {
  const per10a = `${fmtRate(kgHa, 'kg/10a', lang)} kg/10a`;
  const perHa = `${fmtRate(kgHa, 'kg/ha', lang)} kg/ha`;
  return lang === 'ja' ? [per10a, perHa] : [perHa, per10a];
}

/** A zone's label on a prescription map, in both units as the zone table reads them: "ゾーン1: 2.99 kg/10a (29.9 kg/ha)". */
export function zoneRateLabel(zoneName: string, kgHa: number, lang: Lang): string {
  const [main, alt] = rateParts(kgHa, lang);
  return `${zoneName}: ${main} (${alt})`;
}

/** A date and time in the farm's zone. */
export function fmtTime(iso: string | number | null | undefined, lang: Lang, zone = 'Asia/Tokyo'): string {
  if (iso === null || iso === undefined) return '—';
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  return new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    timeZone: zone,
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(t);
}

export function fmtDate(iso: string | number | null | undefined, lang: Lang, zone = 'Asia/Tokyo'): string {
  if (iso === null || iso === undefined) return '—';
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  return new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    timeZone: zone,
    year: 'numeric',
    month: 'short',
    day: 'numeric',
  }).format(t);
}

const DAY_MS = 86_400_000;

/**
 * Tick labels for a chart's time axis in the reader's language and the farm's zone (uPlot's own
 * are US English in the browser's zone): hours for a day or two ("18時" / "18:00"), the date
 * instead at midnight ("12/2" / "2 Dec") so short labels never crowd a phone; days beyond that.
 */
export function timeTicks(lang: Lang, zone: string, span: number): (t: number) => string {
  const locale = lang === 'ja' ? 'ja-JP' : 'en-GB';
  const hour = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: 'numeric', hourCycle: 'h23' });
  const hm = new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const day =
    lang === 'ja'
      ? new Intl.DateTimeFormat(locale, { timeZone: zone, month: 'numeric', day: 'numeric' })
      : new Intl.DateTimeFormat(locale, { timeZone: zone, month: 'short', day: 'numeric' });
  if (span > 2 * DAY_MS) return (t) => day.format(t);
  return (t) => {
    if (hm.format(t) === '00:00') return day.format(t); // midnight in the farm's zone
    return lang === 'ja' ? hour.format(t) : hm.format(t);
  };
}

/**
 * How far ahead of the page's clock a time may be and still read as "just now": a reading that
 * arrives over the live stream is stamped by the device or gateway, whose clock may run a little
 * ahead of the browser's (NTP on a gateway, a phone's own clock), and the page's clock is only
 * read when it renders. Within this, a time in the future is "今" / "now"; beyond it the device's
 * clock is wrong, and the time keeps its future wording ("10 分後") so it stays recognisable —
 * Freshness marks it as clock skew beside it (see isClockAhead).
 */
export const FUTURE_TOLERANCE_MS = 2 * 60_000;

const timeOf = (iso: string | number): number => (typeof iso === 'number' ? iso : Date.parse(iso));

/** Whether a time is further ahead of `now` than clock skew explains (the device's clock is wrong). */
export function isClockAhead(iso: string | number | null | undefined, now = Date.now()): boolean {
  if (iso === null || iso === undefined) return false;
  const t = timeOf(iso);
  return Number.isFinite(t) && t - now > FUTURE_TOLERANCE_MS;
}

/**
 * "3分前" / "3 minutes ago": Intl does the words in both languages. A time up to
 * FUTURE_TOLERANCE_MS ahead of `now` reads "今" / "now"; one further ahead "10 分後" / "in 10 minutes".
 */
export function fmtAgo(iso: string | number | null | undefined, lang: Lang, now = Date.now()): string {
  if (iso === null || iso === undefined) return '—';
  const t = timeOf(iso);
  if (!Number.isFinite(t)) return '—';
  const ahead = t - now;
  const s = ahead > 0 && ahead <= FUTURE_TOLERANCE_MS ? 0 : Math.round(ahead / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', { numeric: 'auto' });
  const a = Math.abs(s);
  if (a < 60) return rtf.format(s, 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

/**
 * A model input's unit as the officer reads it: a dimensionless "1" is not shown, square metres
 * are m², days are 日 in Japanese; any other unit (kg/ha, kg N/10a, cm, SPAD) as the model names it.
 */
export function inputUnit(unit: string, lang: Lang): string {
  if (unit === '1' || unit === '') return '';
  if (unit === 'd') return lang === 'ja' ? '日' : 'd';
  return unit.replace(/\bm2\b/g, 'm²');
}

/**
 * A model input's source read into its parts. The gateway and the model's input assembly write it
 * in English (edge/inference/inputs.ts, edge/recommend/recommend.ts, gateway/recommender.ts):
 * "profile wheat@1.0.0 sbnrc.a", "index_stat ndvi.mean scene S2…", "zone attribute mz",
 * "card default for mz", "sensor soil-1 at 0.1 m, soil_vwc", "N-rich strip, scouted 2026-04-02
 * (east end)", "field observation 2026-07-01", "planting 2026-03-01; …", and a reference index as
 * "n_rich_strip ndvi: N-rich strip, …" or "virtual_p95 ndvi: no N-rich strip: 95th percentile …".
 * The officer's page words each in the reader's language.
 */
export type InputSource =
  | { kind: 'profile'; profile: string; path: string }
  | { kind: 'index'; index: string; stat: string; scene: string | null }
  | { kind: 'zoneRecord'; name: string }
  | { kind: 'cardDefault'; name: string }
  | { kind: 'sensor'; device: string; depthM: number | null; metric: string }
  | { kind: 'strip'; date: string | null; note: string | null }
  | { kind: 'observation'; date: string; note: string | null }
  /** Growing days since planting: every day by the weather station's mean, or `measured` of `total`. */
  | { kind: 'planting'; date: string; measured: number | null; total: number | null }
  | { kind: 'p95'; index: string; estimated: boolean };

const ISO_DAY = String.raw`(\d{4}-\d{2}-\d{2})`;
const STRIP = new RegExp(String.raw`^N-rich strip(?:, scouted ${ISO_DAY}(?: \(([\s\S]*)\))?)?$`);
const STATS = new Set(['mean', 'median', 'p10', 'p90', 'min', 'max']);

function readStrip(text: string): InputSource | null {
  const m = STRIP.exec(text);
  return m ? { kind: 'strip', date: m[1] ?? null, note: m[2] ?? null } : null;
}

/** A model input's source in its parts (see InputSource); null for a source of another form. */
export function readInputSource(source: string): InputSource | null {
  let m: RegExpExecArray | null;
  if ((m = /^profile (\S+) (\S+)$/.exec(source))) return { kind: 'profile', profile: m[1]!, path: m[2]! };
  if ((m = /^index_stat ([a-z0-9_]+)\.([a-z0-9]+)(?: scene (\S+))?$/.exec(source)) && STATS.has(m[2]!))
    return { kind: 'index', index: m[1]!, stat: m[2]!, scene: m[3] ?? null };
  if ((m = /^zone attribute (\S+)$/.exec(source))) return { kind: 'zoneRecord', name: m[1]! };
  if ((m = /^card default for (\S+)$/.exec(source))) return { kind: 'cardDefault', name: m[1]! };
  if ((m = /^sensor (\S+?)(?: at (-?\d+(?:\.\d+)?) m)?, (\S+)$/.exec(source)))
    return { kind: 'sensor', device: m[1]!, depthM: m[2] === undefined ? null : Number(m[2]), metric: m[3]! };
  if ((m = new RegExp(String.raw`^field observation ${ISO_DAY}(?: \(([\s\S]*)\))?$`).exec(source)))
    return { kind: 'observation', date: m[1]!, note: m[2] ?? null };
  if ((m = new RegExp(String.raw`^planting ${ISO_DAY}; (.*)$`).exec(source))) {
    if (m[2] === "daily mean air temperature from the field's weather station")
      return { kind: 'planting', date: m[1]!, measured: null, total: null };
    const part = /^(\d+) of (\d+) days from the weather station, the rest counted as growing days$/.exec(
      m[2]!,
    );
    return part ? { kind: 'planting', date: m[1]!, measured: Number(part[1]), total: Number(part[2]) } : null;
  }
  if ((m = /^(n_rich_strip|virtual_p95) ([a-z0-9_]+): ([\s\S]*)$/.exec(source))) {
    const how = m[3]!;
    if (m[1] === 'n_rich_strip') return readStrip(how);
    if (how.startsWith('no N-rich strip: 95th percentile of the field, estimated from'))
      return { kind: 'p95', index: m[2]!, estimated: true };
    if (how.startsWith("no N-rich strip: 95th percentile of the field's valid pixels"))
      return { kind: 'p95', index: m[2]!, estimated: false };
    return null;
  }
  return readStrip(source);
}

export function fmtYen(v: number | null | undefined, lang: Lang): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    style: 'currency',
    currency: 'JPY',
    maximumFractionDigits: 0,
  }).format(v);
}

/**
 * After how many missed reporting intervals a device's data reads as old: the server's rule for a
 * silent device (SILENT_INTERVALS in dashboard/views/overview.ts, which the UI does not bundle).
 */
export const STALE_INTERVALS = 3;
/** When a device's reporting interval is not known: data older than this reads as old. */
export const STALE_DEFAULT_MS = 15 * 60_000;

/** How old a device's data may be before it reads as old: 3 of its kit's intervals, else 15 min. */
export function staleAfterMs(intervalS: number | null | undefined): number {
  return intervalS !== null && intervalS !== undefined && Number.isFinite(intervalS) && intervalS > 0
    ? STALE_INTERVALS * intervalS * 1000
    : STALE_DEFAULT_MS;
}

/**
 * The metrics a field's chart opens on, most telling first: a paddy's water level, a soil probe's
 * moisture, a weather station's air temperature, then what else the device measures; a device's
 * own health (battery, signal, valve state) only when it measures nothing else.
 */
const CHART_PRIORITY = [
  'water_level',
  'soil_vwc',
  'air_temperature',
  'rain',
  'soil_temperature',
  'water_temperature',
  'air_humidity',
  'solar_radiation',
  'wind_speed',
  'leaf_wetness',
  'soil_ec',
];
const CHART_LAST = ['valve_state', 'battery_level', 'battery', 'rssi', 'snr'];

/** A metric's place in CHART_PRIORITY: a kit's own metric after the listed ones, health last. */
function chartRank(m: string): number {
  const i = CHART_PRIORITY.indexOf(m);
  if (i >= 0) return i;
  const last = CHART_LAST.indexOf(m);
  return last >= 0 ? CHART_PRIORITY.length + 1 + last : CHART_PRIORITY.length;
}

/** The metric a chart of one device opens on among `metrics` (see CHART_PRIORITY); '' for none. */
export function chartMetric(metrics: readonly string[]): string {
  let best = '';
  for (const m of metrics) if (best === '' || chartRank(m) < chartRank(best)) best = m;
  return best;
}

/**
 * The device and metric a field's chart opens on: the most telling metric any of the field's
 * devices measures (the first such device in the list on a tie); '' for both when none measures
 * anything.
 */
export function chartDefault(devices: readonly { id: string; metrics: readonly string[] }[]): {
  device: string;
  metric: string;
} {
  let best = { device: '', metric: '' };
  for (const d of devices) {
    const m = chartMetric(d.metrics);
    if (m && (best.metric === '' || chartRank(m) < chartRank(best.metric)))
      best = { device: d.id, metric: m };
  }
  return best;
}
