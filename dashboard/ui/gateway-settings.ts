// The gateway settings an IT partner sends to a farm's gateways (PUT /api/v1/farms/:farm/
// gateway-config, body RemoteGatewayConfig in protocol/gateway-config.ts), with no Preact in it so
// it can be tested on its own: each tunable in the unit a partner thinks in (days, MB, minutes,
// seconds where the API takes milliseconds, KiB where it takes bytes), converted exactly in both
// directions (decimal digits, never binary floating point); checks that mirror the schema's bounds;
// the request body with only the keys the partner filled; and, per gateway, whether it applied what
// was sent — from its downlink version and its newest report about the configuration (the health
// view's configReport: its downlink_applied / downlink_refused event, however many alerts followed
// it). The server stays the authority.
import type { RemoteGatewayConfig } from '../../protocol/gateway-config.ts';
import type { GatewayConfigReport, GatewayHealth } from '../../protocol/views.ts';

export type Translate = (key: string) => string;
/** Problems by field key ('retention.rawDays', 'mqtt.rate.burst'), and `form` for the whole form. */
export type Errors = Record<string, string>;
/** What the partner typed, by field key. */
export type Values = Record<string, string>;

export type Group = 'storage' | 'retention' | 'health' | 'sync' | 'mqtt';

/** The schema's bounds of a key, in the API's units. */
export interface ApiBounds {
  min?: number;
  exclusiveMin?: number;
  max?: number;
  integer: boolean;
}

export interface SettingField {
  /** The path in RemoteGatewayConfig joined by dots; also the form's field key. */
  key: string;
  group: Group;
  /** The API's value = the partner's value × scale, computed on decimal digits. */
  scale: 1 | 1000 | 1024;
  api: ApiBounds;
  label: (t: Translate) => string;
  /**
   * The partner's unit, shown beside the field and in its errors; given the value it follows, in
   * the number it takes in English ("1 day", "30 days").
   */
  unit: (t: Translate, value?: string) => string;
  hint?: (t: Translate) => string;
  /** How the lower bound reads when its decimal form would not be exact (1/24 of a day). */
  minText?: string;
}

const MB = () => 'MB';
const KIB = () => 'KiB';
/** Whether a value takes a unit in the singular in English: one, or one part of one (1/24 day). */
const isOne = (value: string | undefined): boolean => value !== undefined && /^1(\/\d+)?$/.test(value);
const days = (t: Translate, value?: string) => {
  const one = isOne(value);
  return t(one ? 'unitDay' : 'unitDays');
};
const seconds = (t: Translate) => t('unitSeconds');
const items = (t: Translate, value?: string) => {
  const one = isOne(value);
  return t(one ? 'unitItem' : 'unitItems');
};
const intervals = (t: Translate, value?: string) => {
  const one = isOne(value);
  return t(one ? 'unitInterval' : 'unitIntervals');
};
const perSecond = (t: Translate, value?: string) => {
  const one = isOne(value);
  return t(one ? 'unitPerSecondOne' : 'unitPerSecond');
};
const messages = (t: Translate, value?: string) => {
  const one = isOne(value);
  return t(one ? 'unitMessage' : 'unitMessages');
};

/** Every key RemoteGatewayConfig takes, in the order the form shows them. */
export const FIELDS: readonly SettingField[] = [
  {
    key: 'storage.maxDbMB',
    group: 'storage',
    scale: 1,
    api: { min: 1, integer: false },
    label: (t) => t('gsMaxDbMB'),
    unit: MB,
  },
  {
    key: 'storage.minFreeMB',
    group: 'storage',
    scale: 1,
    api: { min: 0, integer: false },
    label: (t) => t('gsMinFreeMB'),
    unit: MB,
    hint: (t) => t('gsMinFreeMBHint'),
  },
  {
    key: 'retention.rawDays',
    group: 'retention',
    scale: 1,
    api: { min: 1 / 24, integer: false },
    label: (t) => t('gsRawDays'),
    unit: days,
    hint: (t) => t('gsRawDaysHint'),
    minText: '1/24',
  },
  {
    key: 'retention.hourlyDays',
    group: 'retention',
    scale: 1,
    api: { min: 1, integer: false },
    label: (t) => t('gsHourlyDays'),
    unit: days,
  },
  {
    key: 'retention.deadLetters',
    group: 'retention',
    scale: 1,
    api: { min: 100, integer: true },
    label: (t) => t('gsDeadLetters'),
    unit: items,
    hint: (t) => t('gsDeadLettersHint'),
  },
  {
    key: 'health.offlineAfterIntervals',
    group: 'health',
    scale: 1,
    api: { min: 1, integer: false },
    label: (t) => t('gsOfflineAfter'),
    unit: intervals,
    hint: (t) => t('gsOfflineAfterHint'),
  },
  {
    key: 'sync.intervalMs',
    group: 'sync',
    scale: 1000,
    api: { min: 50, max: 3_600_000, integer: true },
    label: (t) => t('gsSyncInterval'),
    unit: seconds,
  },
  {
    key: 'sync.batchMaxItems',
    group: 'sync',
    scale: 1,
    api: { min: 1, max: 5000, integer: true },
    label: (t) => t('gsBatchMaxItems'),
    unit: items,
  },
  {
    key: 'sync.batchMaxBytes',
    group: 'sync',
    scale: 1024,
    api: { min: 1024, max: 8 * 1024 * 1024, integer: true },
    label: (t) => t('gsBatchMaxBytes'),
    unit: KIB,
  },
  {
    key: 'sync.batchDelayMs',
    group: 'sync',
    scale: 1000,
    api: { min: 0, max: 60_000, integer: true },
    label: (t) => t('gsBatchDelay'),
    unit: seconds,
    hint: (t) => t('gsBatchDelayHint'),
  },
  {
    key: 'sync.backoffCapMs',
    group: 'sync',
    scale: 1000,
    api: { min: 100, max: 3_600_000, integer: true },
    label: (t) => t('gsBackoffCap'),
    unit: seconds,
  },
  {
    key: 'sync.maxOutboxMB',
    group: 'sync',
    scale: 1,
    api: { min: 1, integer: false },
    label: (t) => t('gsMaxOutboxMB'),
    unit: MB,
  },
  {
    key: 'sync.aggregateAfterMinutes',
    group: 'sync',
    scale: 1,
    api: { min: 0, integer: false },
    label: (t) => t('gsAggregateAfter'),
    unit: (t) => t('unitMinutes'),
    hint: (t) => t('gsAggregateAfterHint'),
  },
  {
    key: 'sync.downlinkIntervalMs',
    group: 'sync',
    scale: 1000,
    api: { min: 1000, max: 86_400_000, integer: true },
    label: (t) => t('gsDownlinkInterval'),
    unit: seconds,
  },
  {
    key: 'mqtt.rate.perSecond',
    group: 'mqtt',
    scale: 1,
    api: { exclusiveMin: 0, max: 10_000, integer: false },
    label: (t) => t('gsRatePerSecond'),
    unit: perSecond,
  },
  {
    key: 'mqtt.rate.burst',
    group: 'mqtt',
    scale: 1,
    api: { min: 1, max: 100_000, integer: true },
    label: (t) => t('gsRateBurst'),
    unit: messages,
    hint: (t) => t('gsRateBurstHint'),
  },
];

export const GROUPS: readonly Group[] = ['storage', 'retention', 'health', 'sync', 'mqtt'];

/** A group's heading. */
export function groupTitle(g: Group, t: Translate): string {
  if (g === 'storage') return t('gsStorage');
  if (g === 'retention') return t('gsRetention');
  if (g === 'health') return t('gsHealth');
  if (g === 'sync') return t('gsSync');
  return t('gsRate');
}

/** The publish rate is one object on the wire: both of its keys, or neither. */
const RATE_PAIR = ['mqtt.rate.perSecond', 'mqtt.rate.burst'] as const;

/** The longest text taken as a number: no real setting needs more, and it bounds the work. */
export const MAX_INPUT = 32;

// ---- exact decimal arithmetic ----------------------------------------------------------------

/** A decimal as sign × digits × 10^exp, digits without leading or trailing zeros ('' is zero). */
interface Decimal {
  negative: boolean;
  digits: string;
  exp: number;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,6}))?$/;

/** Full-width ASCII (what a Japanese input method types: ３０, １．５) as ASCII; nothing else. */
const halfWidth = (s: string) =>
  s.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));

/** Reads a decimal number as typed (full-width digits too); undefined for anything else. */
function readDecimal(text: string): Decimal | undefined {
  const s = halfWidth(text).trim();
  if (s.length === 0 || s.length > MAX_INPUT) return undefined;
  const m = DECIMAL.exec(s);
  if (!m) return undefined;
  const [, sign, int = '', frac = '', e] = m;
  if (int.length + frac.length === 0) return undefined;
  return normal(sign === '-', int + frac, Number(e ?? '0') - frac.length);
}

function normal(negative: boolean, raw: string, exp: number): Decimal {
  let digits = raw.replace(/^0+/, '');
  const zeros = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - zeros);
  return digits === '' ? { negative: false, digits: '', exp: 0 } : { negative, digits, exp: exp + zeros };
}

/** The decimal × an integer factor, exactly. */
function times(d: Decimal, factor: number): Decimal {
  if (d.digits === '') return d;
  return normal(d.negative, (BigInt(d.digits) * BigInt(factor)).toString(), d.exp);
}

/** The decimal ÷ 1000, exactly (a shift of the point). */
const thousandth = (d: Decimal): Decimal => ({ ...d, exp: d.exp - 3 });

/** The nearest double (exact for every value the schema's bounds let through). */
const toNumber = (d: Decimal): number =>
  d.digits === '' ? 0 : Number(`${d.negative ? '-' : ''}${d.digits}e${d.exp}`);

/** Plain decimal text: 2.5, 0.05, 3600 — or digits and an exponent when that would not fit the field. */
function toText(d: Decimal): string {
  if (d.digits === '') return '0';
  const sign = d.negative ? '-' : '';
  const point = d.digits.length + d.exp;
  const plain =
    d.exp >= 0
      ? sign + d.digits + '0'.repeat(Math.min(d.exp, MAX_INPUT))
      : point > 0
        ? `${sign}${d.digits.slice(0, point)}.${d.digits.slice(point)}`
        : `${sign}0.${'0'.repeat(Math.min(-point, MAX_INPUT))}${d.digits}`;
  return plain.length <= MAX_INPUT ? plain : `${sign}${d.digits}e${d.exp}`;
}

/** Divides a decimal by 1024 exactly (1/1024 = 0.0009765625 = 9765625 × 10^-10). */
const per1024 = (d: Decimal): Decimal => times({ ...d, exp: d.exp - 10 }, 9_765_625);

// ---- conversions -----------------------------------------------------------------------------

export type Converted =
  | { ok: true; value: number }
  | { ok: false; problem: 'number' }
  /** An integer key would get a fraction; `value` is what it would be. */
  | { ok: false; problem: 'fraction'; value: number };

/**
 * A value as the partner typed it, in the API's unit: "2.5" seconds → 2500 ms, "1.5" KiB → 1536
 * bytes, "30" days → 30. `fraction` when an integer key would get a fraction (2.0005 s).
 */
export function toApi(field: SettingField, text: string): Converted {
  const d = readDecimal(text);
  if (!d) return { ok: false, problem: 'number' };
  const scaled = field.scale === 1000 ? { ...d, exp: d.exp + 3 } : times(d, field.scale);
  const value = toNumber(scaled);
  // Too large or too small for a number the API can carry: not a number a setting can be.
  if (!Number.isFinite(value) || (value === 0 && scaled.digits !== ''))
    return { ok: false, problem: 'number' };
  if (field.api.integer && scaled.exp < 0) return { ok: false, problem: 'fraction', value };
  return { ok: true, value };
}

/** A value of the API in the partner's unit, as exact decimal text: 2500 ms → "2.5" (seconds). */
export function fromApi(field: SettingField, value: number): string {
  const d = readDecimal(String(value));
  if (!d) return '';
  return toText(field.scale === 1000 ? thousandth(d) : field.scale === 1024 ? per1024(d) : d);
}

/** A bound of the API in the partner's unit, as shown in hints and errors. */
export const boundText = (field: SettingField, apiValue: number): string => fromApi(field, apiValue);

// ---- checks and the body ---------------------------------------------------------------------

/** The unit after a value, with its space: " days" after 30, " day" after 1. */
const unitOf = (field: SettingField, t: Translate, value: string) => ` ${field.unit(t, value)}`;

/** The range of a field in the partner's unit, for the hint beside it: "0.05〜3600 秒". */
export function rangeText(field: SettingField, t: Translate): string {
  const { min, exclusiveMin, max } = field.api;
  const lo = field.minText ?? (min !== undefined ? boundText(field, min) : undefined);
  if (exclusiveMin !== undefined && max !== undefined) {
    const hi = boundText(field, max);
    return fill(t('gsRangeOver'), {
      min: boundText(field, exclusiveMin),
      max: hi,
      unit: unitOf(field, t, hi),
    });
  }
  if (lo !== undefined && max !== undefined) {
    const hi = boundText(field, max);
    return fill(t('gsRangeBoth'), { min: lo, max: hi, unit: unitOf(field, t, hi) });
  }
  return fill(t('gsRangeMin'), { min: lo ?? '0', unit: unitOf(field, t, lo ?? '0') });
}

function fill(s: string, v: Record<string, string>): string {
  return s.replace(/\{(min|max|unit)\}/g, (_, k: string) => v[k] ?? '');
}

/** The error of a value outside the field's bounds, in the partner's unit. */
function boundsError(field: SettingField, t: Translate): string {
  const { min, exclusiveMin, max, integer } = field.api;
  if (integer && field.scale === 1) {
    if (max !== undefined) return fill(t('errInteger'), { min: String(min), max: String(max) });
    return fill(t('gsErrIntegerMin'), { min: String(min) });
  }
  const hi = max !== undefined ? boundText(field, max) : undefined;
  if (exclusiveMin !== undefined && hi !== undefined)
    return fill(t('gsErrOver'), { min: boundText(field, exclusiveMin), max: hi, unit: unitOf(field, t, hi) });
  const lo = field.minText ?? boundText(field, min ?? 0);
  if (hi !== undefined) return fill(t('errRange'), { min: lo, max: hi, unit: unitOf(field, t, hi) });
  return fill(t('gsErrMin'), { min: lo, unit: unitOf(field, t, lo) });
}

const inBounds = (v: number, b: ApiBounds) =>
  (b.min === undefined || v >= b.min) &&
  (b.exclusiveMin === undefined || v > b.exclusiveMin) &&
  (b.max === undefined || v <= b.max);

/** One field's problem, or undefined when its text is empty or a value the schema takes. */
export function checkField(field: SettingField, text: string, t: Translate): string | undefined {
  if (typeof text !== 'string') return t('errNumber');
  if (text.trim() === '') return undefined;
  const c = toApi(field, text);
  if (!c.ok && c.problem === 'number') return t('errNumber');
  // Out of bounds says more than "a fraction of a millisecond": the range is named first.
  if (!inBounds(c.value, field.api)) return boundsError(field, t);
  if (!c.ok)
    return field.scale === 1000
      ? t('gsErrMs')
      : field.scale === 1024
        ? t('gsErrBytes')
        : boundsError(field, t);
  return undefined;
}

/** What was typed for a key: '' when nothing; a non-string (never from the form) as itself. */
const raw = (values: Values, key: string): unknown => (Object.hasOwn(values, key) ? values[key] : '');
const blank = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

/** Sets a value at a dotted path of plain objects made here (the paths are FIELDS' own keys). */
function put(target: Record<string, unknown>, key: string, value: number): void {
  const parts = key.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts.at(-1)!] = value;
}

/**
 * The request body of what the partner filled, and every problem by field; the body is undefined
 * while there is a problem. Empty fields are left out: the gateway keeps its own value for them.
 */
export function buildBody(
  values: Values,
  t: Translate,
): { body: RemoteGatewayConfig | undefined; errors: Errors } {
  const errors: Errors = {};
  const body: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const s = raw(values, f.key);
    if (blank(s)) continue;
    const problem = typeof s === 'string' ? checkField(f, s, t) : t('errNumber');
    if (problem) errors[f.key] = problem;
    else put(body, f.key, (toApi(f, s as string) as { value: number }).value);
  }
  const filled = RATE_PAIR.map((k) => !blank(raw(values, k)));
  if (filled[0] !== filled[1]) errors[RATE_PAIR[filled[0] ? 1 : 0]] = t('gsErrRatePair');
  if (Object.keys(errors).length === 0 && Object.keys(body).length === 0) errors.form = t('gsErrNothing');
  return Object.keys(errors).length
    ? { body: undefined, errors }
    : { body: body as RemoteGatewayConfig, errors };
}

/** The value at a dotted path of a configuration, when it is a finite number. */
function at(config: unknown, key: string): number | undefined {
  let o: unknown = config;
  for (const p of key.split('.')) {
    if (typeof o !== 'object' || o === null || !Object.hasOwn(o, p)) return undefined;
    o = (o as Record<string, unknown>)[p];
  }
  return typeof o === 'number' && Number.isFinite(o) ? o : undefined;
}

/** A configuration sent before, as the form's values in the partner's units (absent keys empty). */
export function valuesOf(config: RemoteGatewayConfig | undefined): Values {
  const out: Values = {};
  for (const f of FIELDS) {
    const v = at(config, f.key);
    out[f.key] = v === undefined ? '' : fromApi(f, v);
  }
  return out;
}

/**
 * What the farm's gateways (not revoked) last told of one setting in effect, in the partner's
 * unit: each distinct value with the gateways running on it (one entry when they agree; none when
 * no gateway has told it yet).
 */
export function inEffect(
  field: SettingField,
  gateways: readonly Pick<GatewayHealth, 'id' | 'revoked' | 'settings'>[] | undefined,
): { value: string; gateways: string[] }[] {
  const out: { value: string; gateways: string[] }[] = [];
  for (const g of gateways ?? []) {
    const v = g.revoked ? undefined : g.settings?.values[field.key];
    if (v === undefined) continue;
    const value = fromApi(field, v);
    const same = out.find((o) => o.value === value);
    if (same) same.gateways.push(g.id);
    else out.push({ value, gateways: [g.id] });
  }
  return out;
}

/** The keys a configuration sets, each with its value in the partner's unit, in the form's order. */
export function summary(config: RemoteGatewayConfig | undefined): { field: SettingField; value: string }[] {
  return FIELDS.flatMap((f) => {
    const v = at(config, f.key);
    return v === undefined ? [] : [{ field: f, value: fromApi(f, v) }];
  });
}

/** The field a problem's JSON pointer names ('/retention/rawDays' → 'retention.rawDays'), or ''. */
export function fieldOfPointer(pointer: string | undefined): string {
  const key = (pointer ?? '').split('/').filter(Boolean).join('.');
  return FIELDS.some((f) => f.key === key) ? key : '';
}

// ---- what each gateway did with it -----------------------------------------------------------

/**
 * A gateway's newest report about the configuration sent down (GET /api/v1/farms/:farm/health,
 * `configReport` of each gateway): applied or refused, the version, the gateway's words, the event.
 */
export type ConfigReport = GatewayConfigReport;

export type Outcome = 'applied' | 'refused' | 'reached' | 'waiting' | 'revoked';

/**
 * Where a gateway stands with the configuration sent as `version`: applied or refused (its newest
 * report is about that version), reached (its downlink version has passed it — applied or
 * refused, the report not here yet), waiting (not fetched yet), or revoked. The report is passed
 * on, whatever version it is about, to be shown.
 */
export function outcomeOf(
  version: number,
  gateway: { downlinkVersion: number | null; revoked: string | null },
  latest: ConfigReport | null | undefined,
): { outcome: Outcome; report: ConfigReport | undefined } {
  const report = latest ?? undefined;
  if (gateway.revoked) return { outcome: 'revoked', report };
  if (report && report.version === version) return { outcome: report.outcome, report };
  if (gateway.downlinkVersion !== null && gateway.downlinkVersion >= version)
    return { outcome: 'reached', report };
  return { outcome: 'waiting', report };
}

/** Settled: nothing more to wait for from this gateway about this version. */
export const settled = (o: Outcome): boolean => o === 'applied' || o === 'refused' || o === 'revoked';
