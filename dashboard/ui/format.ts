// Numbers, units and times as farmers read them: rates in kg/10a (Japanese) beside kg/ha, soil
// moisture in %, temperatures in °C, times in the farm's zone, freshness as "3分前" / "3 min ago".
import { METRICS, isMetricName } from '../../protocol/metrics.ts';
import type { Automation } from '../../protocol/automation.ts';
import type { KitSummary } from '../../protocol/views.ts';
import type { ComparisonOp } from '../../protocol/comparison.ts';
import type { Lang } from './i18n.ts';

/** How a stored unit is shown, and the factor from storage to display. */
export function displayUnit(metric: string, unit: string): { unit: string; factor: number } {
  if (metric === 'soil_vwc' || unit === 'm3/m3') return { unit: '%', factor: 100 };
  const pretty: Record<string, string> = { degC: '°C', 'W/m2': 'W/m²', '1': '' };
  return { unit: pretty[unit] ?? unit, factor: 1 };
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

export function fmtNumber(v: number | null | undefined, lang: Lang, digits = 1): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    maximumFractionDigits: digits,
    minimumFractionDigits: 0,
  }).format(v);
}

/** A valve's or gate's state as the gateway's page writes it: 閉 / 開 (closed / open) for 0 / 1. */
const VALVE_STATES: Record<Lang, readonly [string, string]> = { ja: ['閉', '開'], en: ['closed', 'open'] };

/** A metric value with its display unit, e.g. "23.4 %"; a valve's state as 開 / 閉. */
export function fmtValue(
  metric: string,
  value: number,
  unit: string,
  lang: Lang,
): { value: string; unit: string } {
  if (metric === 'valve_state' && (value === 0 || value === 1))
    return { value: VALVE_STATES[lang][value], unit: '' };
  const d = displayUnit(metric, unit);
  const digits = d.unit === '%' ? 1 : Math.abs(value * d.factor) >= 100 ? 0 : 1;
  return { value: fmtNumber(value * d.factor, lang, digits), unit: d.unit };
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

/** A rate stored in kg/ha as the two units a farmer reads: kg/10a first in Japanese. */
export function rateParts(kgHa: number, lang: Lang): [string, string] {
  const per10a = `${fmtNumber(kgHa / 10, lang, 1)} kg/10a`;
  const perHa = `${fmtNumber(kgHa, lang, 0)} kg/ha`;
  return lang === 'ja' ? [per10a, perHa] : [perHa, per10a];
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
