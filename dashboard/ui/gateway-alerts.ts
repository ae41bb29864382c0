// A gateway's alert as the partner reads it: the gateway writes each event in English for its log
// (gateway/maintenance.ts, gateway/downlink-client.ts, …) and sends what the sentence is made of as
// the event's `detail`; the page says the event in the reader's language by its type, from that
// detail, with numbers in the reader's units (minutes or hours, days, MB) — the way the manifest
// problems are said by their code (manifest-problems.ts). An event of a type the page has no
// sentence for, or whose detail lacks what the sentence needs (an older gateway), keeps the
// gateway's English words, marked as such. No Preact here; tests/unit/ui-gateway-alerts.test.ts.
import type { GatewayEvent } from '../../protocol/sync.ts';
import type { GatewayAlert } from '../../protocol/views.ts';
import { statusLabel } from '../../protocol/review-labels.ts';
import type { DownlinkKind } from '../downlink.ts';
import { isErrorCode } from './api.ts';
import type { Lang } from './i18n.ts';

export type Translate = (key: string) => string;

/**
 * The event types the health view lists as alerts: all but backlog_report (its counts are the
 * backlog) and config_effective (the settings form shows what it says).
 */
type AlertType = Exclude<GatewayEvent['type'], 'backlog_report' | 'config_effective'>;

/** Every alert type, each with a `gatewayEvent_${type}` sentence in the catalogue. */
export const GATEWAY_ALERT_TYPES = [
  'device_silent',
  'device_back',
  'battery_low',
  'clock_skew',
  'disk_full',
  'disk_ok',
  'retention_shortened',
  'retention_restored',
  'downlink_applied',
  'downlink_refused',
] as const satisfies readonly AlertType[];
// A type added to the protocol must get its sentence here (and in the catalogue).
const allTypes: Exclude<AlertType, (typeof GATEWAY_ALERT_TYPES)[number]> extends never ? true : false = true;
void allTypes;

/** The kinds of document sent down (dashboard/downlink.ts), each with a `downlinkKind_${kind}` name. */
export const DOWNLINK_KINDS = [
  'manifest',
  'registry',
  'config',
  'model',
  'scene',
  'recommendation',
  'automation',
  'override',
  'stage',
] as const satisfies readonly DownlinkKind[];
const allKinds: Exclude<DownlinkKind, (typeof DOWNLINK_KINDS)[number]> extends never ? true : false = true;
void allKinds;

export const isAlertType = (type: string): type is AlertType =>
  (GATEWAY_ALERT_TYPES as readonly string[]).includes(type);

/**
 * A piece of a sentence: text in the reader's language, or a name (a device, gateway or document
 * id, a version) that stays as it is — shown marked translate="no".
 */
export type Part = string | { name: string };

export interface AlertText {
  /** The sentence. */
  parts: Part[];
  /** For a refusal: what is wrong, in the reader's language by its error code (when the page knows it). */
  why?: string;
  /** For a refusal: the gateway's error code. */
  code?: string;
  /** For a refusal: the gateway's own English words, which name exactly what it refused and why. */
  reason?: string;
}

/**
 * Fills a catalogue sentence's {placeholders}: a value given as a string is text, one given as
 * parts is spliced in as they are (names stay names). A placeholder with no value stays visible.
 */
export function fill(template: string, values: Record<string, string | Part[]>): Part[] {
  const out: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{([a-z]+)\}/gi)) {
    if (m.index > last) out.push(template.slice(last, m.index));
    const v = values[m[1]!];
    if (v === undefined) out.push(m[0]);
    else if (typeof v === 'string') out.push(v);
    else out.push(...v);
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push(template.slice(last));
  // Adjacent text joined, so a sentence reads as one string where it has no names.
  return out.reduce<Part[]>((acc, p) => {
    const prev = acc[acc.length - 1];
    if (typeof p === 'string' && typeof prev === 'string') acc[acc.length - 1] = prev + p;
    else acc.push(p);
    return acc;
  }, []);
}

/** A sentence as plain text (for tests and titles): names as they are. */
export const partsText = (parts: readonly Part[]): string =>
  parts.map((p) => (typeof p === 'string' ? p : p.name)).join('');

const LOCALE: Record<Lang, string> = { ja: 'ja-JP', en: 'en-GB' };
const JA_UNITS = { second: '秒', minute: '分', hour: '時間', day: '日' } as const;

/** A number (to one decimal at most) with its unit of time. */
function fmtUnit(v: number, unit: keyof typeof JA_UNITS, lang: Lang): string {
  // Japanese writes the unit straight after the number (10分); English in words (10 minutes).
  if (lang === 'ja')
    return `${new Intl.NumberFormat(LOCALE.ja, { maximumFractionDigits: 1 }).format(v)}${JA_UNITS[unit]}`;
  return new Intl.NumberFormat(LOCALE.en, {
    style: 'unit',
    unit,
    unitDisplay: 'long',
    maximumFractionDigits: 1,
  }).format(v);
}

/** A length of time: in seconds up to 90 s, minutes up to 90 min, hours up to 2 days, then days. */
export function fmtDuration(ms: number, lang: Lang): string {
  const s = Math.abs(ms) / 1000;
  if (s < 90) return fmtUnit(Math.round(s), 'second', lang);
  if (s < 90 * 60) return fmtUnit(Math.round(s / 60), 'minute', lang);
  if (s < 48 * 3600) return fmtUnit(Math.round((s / 3600) * 10) / 10, 'hour', lang);
  return fmtUnit(Math.round((s / 86_400) * 10) / 10, 'day', lang);
}

/** A number of days as the gateway counts them (to 0.1 day). */
export const fmtDays = (days: number, lang: Lang): string => fmtUnit(Math.round(days * 10) / 10, 'day', lang);

const MIB = 1024 * 1024;

/** Bytes in MB as the gateway's settings count them (storage.maxDbMB: 1 MB = 1024 × 1024 bytes). */
export function fmtMegabytes(bytes: number, lang: Lang): string {
  const mb = bytes / MIB;
  return `${new Intl.NumberFormat(LOCALE[lang], { maximumFractionDigits: mb < 10 ? 1 : 0 }).format(mb)} MB`;
}

type Detail = NonNullable<GatewayAlert['detail']>;
const num = (d: Detail, k: string): number | undefined => {
  const v = d[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};
const str = (d: Detail, k: string): string | undefined => {
  const v = d[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
};
const bool = (d: Detail, k: string): boolean | undefined => {
  const v = d[k];
  return typeof v === 'boolean' ? v : undefined;
};

/** The document a downlink event is about: its kind in the reader's words, its id and version. */
function documentParts(d: Detail, t: Translate): Part[] | undefined {
  const kind = str(d, 'kind');
  const id = str(d, 'id');
  const version = num(d, 'version');
  if (!kind || !id || version === undefined) return undefined;
  const known = (DOWNLINK_KINDS as readonly string[]).includes(kind);
  return fill(t('downlinkDoc'), {
    kind: known ? t(`downlinkKind_${kind}`) : [{ name: kind }],
    id: [{ name: id }],
    version: [{ name: String(version) }],
  });
}

/**
 * The alert in the reader's language, from its type and detail; undefined when the page has no
 * sentence for its type or its detail lacks what the sentence needs — the page then shows the
 * gateway's English message, marked as English.
 */
export function alertText(
  a: Pick<GatewayAlert, 'type' | 'device' | 'time' | 'message' | 'detail'>,
  lang: Lang,
  t: Translate,
): AlertText | undefined {
  if (!isAlertType(a.type)) return undefined;
  const d: Detail = a.detail ?? {};
  const device = a.device ? [{ name: a.device }] : undefined;
  const mb = (k: string) => {
    const v = num(d, k);
    return v === undefined ? undefined : fmtMegabytes(v, lang);
  };
  const days = (k: string) => {
    const v = num(d, k);
    return v === undefined ? undefined : fmtDays(v, lang);
  };
  // A catalogue sentence filled in; none when the detail lacks a value it needs.
  const sentence = (template: string, values: Record<string, string | Part[] | undefined>) =>
    Object.values(values).every((v) => v !== undefined)
      ? { parts: fill(template, values as Record<string, string | Part[]>) }
      : undefined;
  switch (a.type) {
    case 'device_silent': {
      const lastSeen = num(d, 'lastSeen');
      const intervalS = num(d, 'intervalS');
      const at = Date.parse(a.time);
      return sentence(t(`gatewayEvent_${a.type}`), {
        device,
        duration:
          lastSeen === undefined || !Number.isFinite(at) ? undefined : fmtDuration(at - lastSeen, lang),
        interval: intervalS === undefined ? undefined : fmtDuration(intervalS * 1000, lang),
      });
    }
    case 'device_back': {
      // How long it was silent: from its last reading before the silence (lastSeen) to its return.
      // An event without it (an older gateway): the plain sentence.
      const lastSeen = num(d, 'lastSeen');
      const at = Date.parse(a.time);
      return lastSeen === undefined || !Number.isFinite(at)
        ? sentence(t('gatewayEventDeviceBack'), { device })
        : sentence(t(`gatewayEvent_${a.type}`), { device, duration: fmtDuration(at - lastSeen, lang) });
    }
    case 'battery_low':
      return sentence(t(`gatewayEvent_${a.type}`), { device });
    case 'clock_skew': {
      // The server's clock minus the gateway's: positive when the server's is ahead.
      const offset = num(d, 'offsetMs');
      if (offset === undefined) return undefined;
      return sentence(offset >= 0 ? t(`gatewayEvent_${a.type}`) : t('gatewayEventClockAhead'), {
        offset: fmtDuration(offset, lang),
      });
    }
    case 'disk_full': {
      // Which of the gateway's reasons, when it says (fsLow); an older gateway's numbers say it all.
      const fsLow = bool(d, 'fsLow');
      if (fsLow === true) return sentence(t('gatewayEventDiskFullFs'), { free: mb('fsFreeBytes') });
      const atFloor = bool(d, 'atRetentionFloor') === true;
      if (fsLow === false)
        return sentence(t(atFloor ? 'gatewayEventDiskFullFloor' : 'gatewayEventDiskFullBudget'), {
          budget: mb('budgetBytes'),
        });
      return sentence(t(`gatewayEvent_${a.type}`), {
        free: mb('fsFreeBytes'),
        db: mb('dbBytes'),
        budget: mb('budgetBytes'),
      });
    }
    case 'disk_ok':
      return sentence(t(`gatewayEvent_${a.type}`), { free: mb('fsFreeBytes') });
    case 'retention_shortened': {
      const atFloor = bool(d, 'atFloor') === true;
      return sentence(atFloor ? t('gatewayEventRetentionAtFloor') : t(`gatewayEvent_${a.type}`), {
        budget: mb('budgetBytes'),
        kept: days('rawRetentionDays'),
        configured: days('configuredRawDays'),
        ...(atFloor ? {} : { floor: days('floorDays') }),
      });
    }
    case 'retention_restored':
      return num(d, 'rawRetentionDays') === undefined
        ? sentence(t('gatewayEventRetentionRestored'), {})
        : sentence(t(`gatewayEvent_${a.type}`), { days: days('rawRetentionDays') });
    case 'downlink_applied': {
      // A recommendation comes down with each review decision: the sentence says which was
      // received, never that a rejected one was "applied" (gateway/downlink-client.ts adds `status`).
      const status = str(d, 'status');
      if (str(d, 'kind') === 'recommendation' && status !== undefined && d.deleted !== true)
        return sentence(t('gatewayEventRecommendationDecided'), {
          doc: documentParts(d, t),
          status: statusLabel(status, lang) ?? status,
        });
      return sentence(d.deleted === true ? t('gatewayEventDownlinkWithdrawn') : t(`gatewayEvent_${a.type}`), {
        doc: documentParts(d, t),
      });
    }
    case 'downlink_refused': {
      const doc = documentParts(d, t);
      if (!doc) return undefined;
      // A scene sent down that could not be processed says why in `reason`; any refusal in its message.
      const scene = str(d, 'kind') === 'scene' && str(d, 'reason') !== undefined;
      const code = str(d, 'code');
      return {
        parts: fill(scene ? t('gatewayEventSceneFailed') : t(`gatewayEvent_${a.type}`), { doc }),
        ...(code ? { code, ...(isErrorCode(code) ? { why: t(`error_${code}`) } : {}) } : {}),
        reason: a.message,
      };
    }
  }
}

/** The reason a device's state is unknown: the farm's gateways not syncing since a time, or never. */
export function gatewayNotSyncingText(
  g: { gateways: string[]; since: string | null },
  fmtSince: (iso: string) => string,
  t: Translate,
): Part[] {
  const gateway = [{ name: g.gateways.join(', ') }];
  return g.since === null
    ? fill(t('deviceUnknownGatewayNever'), { gateway })
    : fill(t('deviceUnknownGateway'), { gateway, since: fmtSince(g.since) });
}
