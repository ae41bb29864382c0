// The automation form's logic, with no Preact or Leaflet in it so it can be tested on its own:
// what a farm offers to automate (its sensors with the range each metric can read, its actuators
// with each command's parameters — all from the kit catalogue, GET /api/v1/kits), values in the
// units farmers use (soil moisture in %, water level in cm) and back to storage units, checks
// that mirror the schema and the server's kit checks so most mistakes show before saving, and the
// request body a checked draft becomes. The server stays the authority.
import type { DeviceView } from '../../protocol/api.ts';
import type { KitCommandParamSummary, KitSummary } from '../../protocol/views.ts';
import type { AutomationCreate, AutomationView } from '../../protocol/review.ts';
import type { ActuatorCommand, AutomationLimits } from '../../protocol/automation.ts';
import { METRICS, isMetricName } from '../../protocol/metrics.ts';
import { displayUnit } from './format.ts';

export type Op = '<' | '<=' | '>' | '>=';
export type Kind = 'threshold' | 'band';
export type Slot = 'action' | 'below' | 'above';
type Trigger = AutomationView['trigger'];
/** Problems by form field: `name`, `value`, `maxOpenMinutes`, `action.device`, `below.params.minutes` … */
export type Errors = Record<string, string>;
export type Translate = (key: string) => string;

/** A metric a sensor can trigger on, as the farmer enters it. */
export interface MetricChoice {
  id: string;
  /** The display unit ('%' for soil moisture stored in m³/m³). */
  unit: string;
  /** display = stored × factor. */
  factor: number;
  /** What the sensor can read, in storage units: its kit's range, else what is physically possible. */
  stored?: { min: number; max: number };
  /** The same range in display units. */
  min?: number;
  max?: number;
  /** The kit file's name for a metric of its own (outside the protocol's registry). */
  name?: { ja: string; en: string };
}
export interface SensorChoice {
  id: string;
  name: string;
  field: string | null;
  metrics: MetricChoice[];
}
export type ParamChoice = KitCommandParamSummary;
export interface CommandChoice {
  id: string;
  /** Every parameter is required; the server refuses one outside min…max. */
  params: ParamChoice[];
}
export interface ActuatorChoice {
  id: string;
  name: string;
  /** The commands of its kit, with their parameters. */
  commands: CommandChoice[];
}
export interface FarmChoices {
  sensors: SensorChoice[];
  actuators: ActuatorChoice[];
}

export interface CommandDraft {
  device: string;
  command: string;
  /** Parameter values as typed, by parameter name (kept across a change of command). */
  params: Record<string, string>;
}

export interface Draft {
  kind: Kind;
  name: { ja: string; en: string };
  enabled: boolean;
  sensor: string;
  metric: string;
  op: Op;
  /** Threshold and band in display units, as typed. */
  value: string;
  low: string;
  high: string;
  action: CommandDraft;
  below: CommandDraft;
  above: CommandDraft;
  maxRunsPerDay: string;
  maxOpenMinutes: string;
  cooldownMinutes: string;
  quiet: boolean;
  quietFrom: string;
  quietTo: string;
  /** Limits the form does not show (set by a tip's automation), kept on an edit. */
  extraLimits: Pick<AutomationLimits, 'confirmSeconds' | 'retries'>;
}

/** The bounds of the limits the form shows, as AutomationLimits has them (a unit test holds them equal). */
export const LIMIT_BOUNDS = {
  maxRunsPerDay: { min: 1, max: 96 },
  maxOpenMinutes: { min: 1, max: 720 },
  cooldownMinutes: { min: 0, max: 1440 },
} as const;
/** The longest a name may be, as PlainName has it. */
export const MAX_NAME = 200;
/** The parameter the server compares with maxOpenMinutes (a timed opening). */
export const MINUTES_PARAM = 'minutes';
/** Radio signal readings: nothing to act on. */
const SIGNAL_METRICS = new Set(['rssi', 'snr']);
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** What PlainName refuses: < >, control characters and bidi overrides. */
export const notPlain = (s: string): boolean =>
  [...s].some((ch) => {
    const c = ch.codePointAt(0)!;
    return (
      ch === '<' ||
      ch === '>' ||
      c < 0x20 ||
      c === 0x7f ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069)
    );
  });

/** Rounds away the binary noise of a unit conversion (0.57 × 100 = 56.99999999999999). */
export const clean = (x: number): number => Number(x.toPrecision(12));
/** A stored value as the farmer reads it: 0.22 m³/m³ → 22 (%). */
export const toDisplay = (stored: number, factor: number): number => clean(stored * factor);
/** A value as the farmer entered it, in storage units: 22 (%) → 0.22 m³/m³. */
export const toStored = (shown: number, factor: number): number => clean(shown / factor);

/** A decimal number as typed ("22", "-1.5", "1e2"); NaN for anything else (empty, "0x10", "Infinity"). */
export function parseNum(s: unknown): number {
  if (typeof s === 'number') return s;
  if (typeof s !== 'string') return NaN;
  const x = s.trim();
  return DECIMAL.test(x) ? Number(x) : NaN;
}

const own = <T>(o: Record<string, T>, k: string): T | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);

/** A metric of a sensor: display unit and factor, and the range it can read if known. */
export function metricChoiceOf(
  id: string,
  storedUnit: string,
  range?: { min: number; max: number },
): MetricChoice {
  const shown = displayUnit(id, storedUnit);
  const r = range ?? (isMetricName(id) ? { min: METRICS[id].min, max: METRICS[id].max } : undefined);
  return {
    id,
    unit: shown.unit,
    factor: shown.factor,
    ...(r
      ? { stored: { ...r }, min: toDisplay(r.min, shown.factor), max: toDisplay(r.max, shown.factor) }
      : {}),
  };
}

/** The sensors (with their metrics) and actuators (with their commands) of a farm's devices. */
export function farmChoices(devices: DeviceView[], kits: KitSummary[]): FarmChoices {
  const kitOf = new Map(kits.map((k) => [k.id, k]));
  const sensors: SensorChoice[] = [];
  const actuators: ActuatorChoice[] = [];
  for (const d of devices) {
    const kit = d.kit ? kitOf.get(d.kit) : undefined;
    // The server refuses a trigger on a device whose kit it does not know: only kits' devices are offered.
    if (!kit) continue;
    const name = d.name ?? d.id;
    const metrics = kit.metricDetails
      .map((m) => ({
        ...metricChoiceOf(m.id, m.unit, { min: m.min, max: m.max }),
        ...(m.name ? { name: m.name } : {}),
      }))
      .filter((m) => !SIGNAL_METRICS.has(m.id));
    if (metrics.length > 0) sensors.push({ id: d.id, name, field: d.field, metrics });
    if (kit.commandDetails.length > 0)
      actuators.push({
        id: d.id,
        name,
        commands: kit.commandDetails.map((c) => ({ id: c.id, params: c.params.map((p) => ({ ...p })) })),
      });
  }
  return { sensors, actuators };
}

/** The limits a new automation starts with, as the tips' automations have them. */
export function limitDefaults(kind: Kind) {
  return kind === 'threshold'
    ? { maxRunsPerDay: '2', maxOpenMinutes: '30', cooldownMinutes: '240', quiet: true }
    : { maxRunsPerDay: '12', maxOpenMinutes: '180', cooldownMinutes: '30', quiet: false };
}

export function actuatorOf(c: FarmChoices, device: string): ActuatorChoice | undefined {
  return c.actuators.find((a) => a.id === device);
}
export function commandOf(
  c: FarmChoices,
  x: Pick<CommandDraft, 'device' | 'command'>,
): CommandChoice | undefined {
  return actuatorOf(c, x.device)?.commands.find((k) => k.id === x.command);
}
/** A parameter's value as typed ('' when none was). */
export const paramValue = (x: CommandDraft, name: string): string => own(x.params, name) ?? '';

/** The command to preselect on an actuator: what the slot usually does, else its first. */
export function preferredCommand(a: ActuatorChoice | undefined, slot: Slot): string {
  if (!a) return '';
  const wish = slot === 'action' ? ['open_for', 'open'] : slot === 'below' ? ['open'] : ['close'];
  return wish.find((w) => a.commands.some((k) => k.id === w)) ?? a.commands[0]?.id ?? '';
}

/** A timed opening starts at 30 minutes, as the tips' automations do. */
const PARAM_DEFAULTS: Record<string, string> = { [MINUTES_PARAM]: '30' };

function commandDraft(c: ActuatorCommand | undefined): CommandDraft {
  if (!c) return { device: '', command: '', params: { ...PARAM_DEFAULTS } };
  return {
    device: c.device,
    command: c.command,
    params: {
      ...PARAM_DEFAULTS,
      ...Object.fromEntries(Object.entries(c.params ?? {}).map(([k, v]) => [k, String(v)])),
    },
  };
}

/** A metric as the form shows it, also when the sensor is no longer among the choices. */
export function metricChoice(c: FarmChoices, sensor: string, metric: string): MetricChoice {
  const m = c.sensors.find((s) => s.id === sensor)?.metrics.find((x) => x.id === metric);
  return m ?? metricChoiceOf(metric, isMetricName(metric) ? METRICS[metric].unit : '');
}

/** The form's starting point: an automation to edit, or a new one on the farm's first devices. */
export function draftOf(a: AutomationView | undefined, c: FarmChoices): Draft {
  if (a) {
    const m = metricChoice(c, a.trigger.device, a.trigger.metric);
    const show = (v: number) => String(toDisplay(v, m.factor));
    const { confirmSeconds, retries } = a.limits;
    return {
      kind: a.trigger.kind,
      name: { ja: a.name.ja, en: a.name.en },
      enabled: a.enabled,
      sensor: a.trigger.device,
      metric: a.trigger.metric,
      op: a.trigger.kind === 'threshold' ? a.trigger.op : '<',
      value: a.trigger.kind === 'threshold' ? show(a.trigger.value) : '',
      low: a.trigger.kind === 'band' ? show(a.trigger.low) : '',
      high: a.trigger.kind === 'band' ? show(a.trigger.high) : '',
      action: commandDraft(a.action),
      below: commandDraft(a.below),
      above: commandDraft(a.above),
      maxRunsPerDay: String(a.limits.maxRunsPerDay),
      maxOpenMinutes: String(a.limits.maxOpenMinutes),
      cooldownMinutes: a.limits.cooldownMinutes === undefined ? '' : String(a.limits.cooldownMinutes),
      quiet: !!a.limits.quietHours,
      quietFrom: a.limits.quietHours?.from ?? '22:00',
      quietTo: a.limits.quietHours?.to ?? '05:00',
      extraLimits: {
        ...(confirmSeconds !== undefined ? { confirmSeconds } : {}),
        ...(retries !== undefined ? { retries } : {}),
      },
    };
  }
  const sensor = c.sensors[0];
  const actuator = c.actuators[0];
  const slot = (s: Slot): CommandDraft => ({
    device: actuator?.id ?? '',
    command: preferredCommand(actuator, s),
    params: { ...PARAM_DEFAULTS },
  });
  return {
    kind: 'threshold',
    name: { ja: '', en: '' },
    enabled: true,
    sensor: sensor?.id ?? '',
    metric: sensor?.metrics[0]?.id ?? '',
    op: '<',
    value: '',
    low: '',
    high: '',
    action: slot('action'),
    below: slot('below'),
    above: slot('above'),
    ...limitDefaults('threshold'),
    quietFrom: '22:00',
    quietTo: '05:00',
    extraLimits: {},
  };
}

/** "0〜60 %": a range in a message (its bounds as numbers or already formatted), with its unit when it has one. */
export const rangeError = (
  t: Translate,
  min: number | string,
  max: number | string,
  unit: string | null | undefined,
) =>
  t('errRange')
    .replace('{min}', () => String(min))
    .replace('{max}', () => String(max))
    .replace('{unit}', () => (unit ? ` ${unit}` : ''));
const intError = (t: Translate, min: number, max: number) =>
  t('errInteger').replace('{min}', String(min)).replace('{max}', String(max));

/** Every problem the form can see before asking the server, by field; empty when it looks right. */
export function checkDraft(d: Draft, c: FarmChoices, t: Translate): Errors {
  const e: Errors = {};
  const text = (s: unknown) => (typeof s === 'string' ? s.trim() : '');
  const ja = text(d.name?.ja);
  const en = text(d.name?.en);
  if ((!ja && !en) || notPlain(ja + en) || ja.length > MAX_NAME || en.length > MAX_NAME)
    e.name = t('errName');

  const sensor = c.sensors.find((s) => s.id === d.sensor);
  const metric = sensor?.metrics.find((m) => m.id === d.metric);
  if (!sensor) e.sensor = t('choose');
  else if (!metric) e.metric = t('choose');
  /** A trigger value, checked in storage units as the server checks it; NaN when it has a problem. */
  const trigger = (key: 'value' | 'low' | 'high', s: string): number => {
    const v = parseNum(s);
    if (!Number.isFinite(v)) {
      e[key] = t('errNumber');
      return NaN;
    }
    if (!metric) return NaN;
    const stored = toStored(v, metric.factor);
    if (metric.stored && (stored < metric.stored.min || stored > metric.stored.max)) {
      e[key] = rangeError(t, metric.min!, metric.max!, metric.unit);
      return NaN;
    }
    return stored;
  };
  const int = (key: string, s: string, min: number, max: number): number => {
    const v = parseNum(s);
    if (!Number.isInteger(v) || v < min || v > max) {
      e[key] = intError(t, min, max);
      return NaN;
    }
    return v;
  };
  if (d.kind === 'threshold') trigger('value', d.value);
  else {
    const low = trigger('low', d.low);
    const high = trigger('high', d.high);
    if (!e.low && !e.high && metric && !(low < high)) e.high = t('errLowHigh');
  }

  const b = LIMIT_BOUNDS;
  const maxOpen = int('maxOpenMinutes', d.maxOpenMinutes, b.maxOpenMinutes.min, b.maxOpenMinutes.max);
  int('maxRunsPerDay', d.maxRunsPerDay, b.maxRunsPerDay.min, b.maxRunsPerDay.max);
  if (text(d.cooldownMinutes) !== '')
    int('cooldownMinutes', d.cooldownMinutes, b.cooldownMinutes.min, b.cooldownMinutes.max);
  if (d.quiet) {
    if (!HHMM.test(d.quietFrom) || !HHMM.test(d.quietTo)) e.quiet = t('errTime');
    else if (d.quietFrom === d.quietTo) e.quiet = t('errQuiet');
  }

  const command = (slot: Slot, x: CommandDraft) => {
    if (!x.device) return;
    const a = actuatorOf(c, x.device);
    const k = a?.commands.find((y) => y.id === x.command);
    if (!a) e[`${slot}.device`] = t('choose');
    else if (!k) e[`${slot}.command`] = t('choose');
    else
      for (const p of k.params) {
        const key = `${slot}.params.${p.name}`;
        const v = parseNum(paramValue(x, p.name));
        if (
          p.type === 'integer' ? !Number.isInteger(v) || v < p.min || v > p.max : !(v >= p.min && v <= p.max)
        )
          e[key] = p.type === 'integer' ? intError(t, p.min, p.max) : rangeError(t, p.min, p.max, p.unit);
        else if (p.name === MINUTES_PARAM && !e.maxOpenMinutes && v > maxOpen)
          e[key] = t('errMinutesOverMax').replace('{max}', String(maxOpen));
      }
  };
  if (d.kind === 'threshold') {
    if (!d.action.device) e['action.device'] = t('choose');
    command('action', d.action);
  } else {
    if (!d.below.device && !d.above.device) e['below.device'] = t('errBandAction');
    command('below', d.below);
    command('above', d.above);
  }
  return e;
}

/** The automation a checked draft describes, in storage units (22 % → 0.22 m³/m³). */
export function draftBody(
  d: Draft,
  c: FarmChoices,
  initial?: AutomationView,
): Omit<AutomationCreate, 'farm'> {
  const m = metricChoice(c, d.sensor, d.metric);
  const stored = (s: string) => toStored(parseNum(s), m.factor);
  const trigger: Trigger =
    d.kind === 'threshold'
      ? { kind: 'threshold', device: d.sensor, metric: d.metric, op: d.op, value: stored(d.value) }
      : { kind: 'band', device: d.sensor, metric: d.metric, low: stored(d.low), high: stored(d.high) };
  // A command carries exactly the parameters its kit defines (the server refuses others).
  const command = (x: CommandDraft): ActuatorCommand | undefined => {
    if (!x.device) return undefined;
    const params = Object.fromEntries(
      (commandOf(c, x)?.params ?? []).map((p) => [p.name, parseNum(paramValue(x, p.name))]),
    );
    return { device: x.device, command: x.command, ...(Object.keys(params).length ? { params } : {}) };
  };
  // The field is the sensor's, unless an edit keeps the sensor (and so the field it had).
  const field =
    initial && initial.trigger.device === d.sensor
      ? initial.field
      : (c.sensors.find((s) => s.id === d.sensor)?.field ?? undefined);
  const ja = d.name.ja.trim();
  const en = d.name.en.trim();
  const below = d.kind === 'band' ? command(d.below) : undefined;
  const above = d.kind === 'band' ? command(d.above) : undefined;
  const action = d.kind === 'threshold' ? command(d.action) : undefined;
  return {
    ...(field ? { field } : {}),
    name: { ja: ja || en, en: en || ja },
    enabled: d.enabled,
    trigger,
    ...(action ? { action } : {}),
    ...(below ? { below } : {}),
    ...(above ? { above } : {}),
    limits: {
      ...d.extraLimits,
      maxRunsPerDay: parseNum(d.maxRunsPerDay),
      maxOpenMinutes: parseNum(d.maxOpenMinutes),
      ...(d.cooldownMinutes.trim() !== '' ? { cooldownMinutes: parseNum(d.cooldownMinutes) } : {}),
      ...(d.quiet ? { quietHours: { from: d.quietFrom, to: d.quietTo } } : {}),
    },
  };
}

/** The form field a server problem's JSON pointer names (/trigger/low → low), or ''. */
export function fieldOfPointer(pointer: string | undefined): string {
  const [a, b, c] = (pointer ?? '').split('/').filter(Boolean);
  if (a === 'name') return 'name';
  if (a === 'trigger') return b === 'device' || !b ? 'sensor' : b;
  if (a === 'action' || a === 'below' || a === 'above') {
    if (b === 'params') return c ? `${a}.params.${c}` : `${a}.command`;
    return `${a}.${b === 'command' ? 'command' : 'device'}`;
  }
  if (a === 'limits') return b === 'quietHours' ? 'quiet' : (b ?? '');
  return '';
}

/** The commands hatake names in every language; a kit's own command keeps its id. */
const KNOWN_COMMANDS = ['open', 'close', 'open_for'] as const;
export const knownCommand = (command: string): boolean =>
  (KNOWN_COMMANDS as readonly string[]).includes(command);

/** A command in the reader's language, or its id for a kit's own command. */
export function commandName(command: string, t: Translate): string {
  if (command === 'open') return t('cmdOpen');
  if (command === 'close') return t('cmdClose');
  if (command === 'open_for') return t('cmdOpenFor');
  return command;
}
