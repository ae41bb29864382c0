// What an IT partner looks at before driving out: each device's last contact against its kit's
// reporting interval, battery (judged as the battery-low tip judges it) and radio signal, and how much of the last day's data carried a
// quality flag; each gateway's last sync, what it still has to send and which version it runs
// (from the status it sends with each sync batch, or its backlog_report events), its recent
// alerts with what they carry, and its newest report about the configuration sent down to it (of
// any age: read on its own, not from the alerts later ones push out). A device's readings reach
// the server only through the farm's gateways: while none of them has synced since the device was
// due, its state is 'unknown' (the gateway not syncing is the news), not late or silent.
import type { DeviceHealth, GatewayAlert, GatewayConfigReport, GatewayHealth } from '../../protocol/views.ts';
import type { Catalogue } from '../../firmware-config/catalogue.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { HOUR_MS, type LatestRow, type ReadingStore } from '../storage/types.ts';
import { intervalMs, SILENT_INTERVALS } from '../views/overview.ts';
import { storedRegistry } from './manifests.ts';
import { BATTERY_DEFAULTS, batteryVerdict } from '../../edge/rules/battery-low.ts';

const LATE_INTERVALS = 12;
const ALERT_WINDOW_MS = 7 * 24 * HOUR_MS;

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

export async function deviceHealth(
  db: Db,
  store: ReadingStore,
  catalogue: Catalogue,
  farm: string,
  now: number,
): Promise<DeviceHealth[]> {
  const rows = db
    .prepare('SELECT id, name, field, kit, last_seen, online FROM devices WHERE farm = ? ORDER BY id')
    .all(farm) as {
    id: string;
    name: string | null;
    field: string | null;
    kit: string | null;
    last_seen: number | null;
    online: number | null;
  }[];
  const registry = storedRegistry(db, farm);
  const provisioned = new Set(registry?.devices.map((d) => d.id) ?? []);
  // Provisioned devices that never reported are the ones a partner most needs to see.
  for (const d of registry?.devices ?? [])
    if (!rows.some((r) => r.id === d.id))
      rows.push({ id: d.id, name: null, field: null, kit: d.kit, last_seen: null, online: null });
  const gateways = farmGatewaySyncs(db, farm);
  // The last day's readings [now − 24 h, now], for the whole farm in a few queries: each device's
  // quality figure counted by the store, and the newest battery voltages the battery-low rule
  // judges by (its median of the last `samples` readings of the day).
  const day = { farm, from: now - 24 * HOUR_MS, to: now + 1 };
  const [latest, qualityRows, batteryRows] = await Promise.all([
    store.latest([farm]),
    store.quality(day),
    store.newest({ ...day, metric: 'battery', unit: 'V', perDevice: BATTERY_DEFAULTS.samples }),
  ]);
  const qualityOf = new Map(qualityRows.map((q) => [q.device, q]));
  const batteryOf = new Map<string, { time: number; value: number }[]>();
  for (const r of batteryRows) {
    let points = batteryOf.get(r.device);
    if (!points) batteryOf.set(r.device, (points = []));
    points.push({ time: r.time, value: r.value });
  }
  const pick = (device: string, metric: string) => {
    const l: LatestRow | undefined = latest.find((x) => x.device === device && x.metric === metric);
    return l ? { value: l.value, unit: l.unit, time: new Date(l.time).toISOString() } : null;
  };
  const out: DeviceHealth[] = [];
  for (const d of rows) {
    const kit = d.kit ? catalogue.get(d.kit) : undefined;
    const every = intervalMs(catalogue, d.kit);
    const age = d.last_seen === null ? null : now - d.last_seen;
    const byAge =
      age === null
        ? 'never'
        : age <= SILENT_INTERVALS * every
          ? 'ok'
          : age <= LATE_INTERVALS * every
            ? 'late'
            : 'silent';
    // Late or silent by the server's clock — but if no gateway has synced since the device's next
    // reading was due, the server cannot have heard it whatever it did: unknown, because of them.
    const gatewayNotSyncing =
      (byAge === 'late' || byAge === 'silent') &&
      d.last_seen !== null &&
      gateways.ids.length > 0 &&
      (gateways.newestSync === null || gateways.newestSync < d.last_seen + SILENT_INTERVALS * every)
        ? { gateways: gateways.ids, since: iso(gateways.newestSync) }
        : null;
    const state = gatewayNotSyncing ? 'unknown' : byAge;
    const q = qualityOf.get(d.id);
    const quality = q
      ? { readings: q.readings, flagged: q.flagged, flags: q.flags }
      : { readings: 0, flagged: 0, flags: {} };
    out.push({
      id: d.id,
      name: d.name,
      kit: d.kit,
      kitName: kit ? { ja: kit.name.ja, en: kit.name.en } : null,
      field: d.field,
      transport: kit ? (kit.transport ?? 'mqtt') : null,
      lastSeen: iso(d.last_seen),
      online: d.online === null ? null : d.online === 1,
      state,
      gatewayNotSyncing,
      intervalS: kit?.interval ?? null,
      battery: pick(d.id, 'battery'),
      batteryLevel: pick(d.id, 'battery_level'),
      batteryState: batteryStateOf(d.kit, batteryOf.get(d.id) ?? [], now),
      rssi: pick(d.id, 'rssi'),
      snr: pick(d.id, 'snr'),
      quality,
      provisioned: provisioned.has(d.id),
    });
  }
  return out;
}

/** A battery against the battery-low rule's marks for its kit, as the farmer's tip judges it. */
function batteryStateOf(
  kit: string | null,
  points: readonly { time: number; value: number }[],
  now: number,
): DeviceHealth['batteryState'] {
  const v = batteryVerdict(kit, points, now);
  return v
    ? { state: v.state, volts: v.volts, samples: v.recent.length, lowV: v.lowV, criticalV: v.criticalV }
    : null;
}

/**
 * The gateways a farm's readings come through — every one not revoked (the server does not know
 * which gateway hears which device) — and the newest of their last syncs (null: none synced yet).
 */
function farmGatewaySyncs(db: Db, farm: string): { ids: string[]; newestSync: number | null } {
  const rows = db
    .prepare('SELECT id, last_sync FROM gateways WHERE farm = ? AND revoked IS NULL ORDER BY id')
    .all(farm) as { id: string; last_sync: number | null }[];
  const synced = rows.map((r) => r.last_sync).filter((t): t is number => t !== null);
  return { ids: rows.map((r) => r.id), newestSync: synced.length ? Math.max(...synced) : null };
}

/** An event's detail as stored (the gateway sent it through the sync schema): an object of plain values. */
function parseDetail(text: string | null): NonNullable<GatewayAlert['detail']> | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const out: NonNullable<GatewayAlert['detail']> = {};
    for (const [k, x] of Object.entries(v))
      if (x === null || ['string', 'number', 'boolean'].includes(typeof x))
        out[k] = x as string | number | boolean | null;
    return out;
  } catch {
    return undefined;
  }
}

interface EventRow {
  id: string;
  type: string;
  severity: string;
  time: number;
  device: string | null;
  message: string;
  detail: string | null;
}

/** An event as the health view lists it: its detail parsed, and the document a downlink event is about. */
function alertOf({ detail: text, ...a }: EventRow): GatewayAlert {
  const detail = parseDetail(text);
  const d = detail ?? {};
  const downlink =
    a.type.startsWith('downlink_') &&
    typeof d.kind === 'string' &&
    typeof d.id === 'string' &&
    Number.isInteger(d.version) &&
    (d.version as number) >= 0
      ? { kind: d.kind, id: d.id, version: d.version as number }
      : undefined;
  return {
    ...a,
    time: new Date(a.time).toISOString(),
    ...(detail ? { detail } : {}),
    ...(downlink ? { downlink } : {}),
  };
}

/** The id of the configuration document sent down to a farm's gateways (dashboard/routes/gateways.ts). */
const CONFIG_DOC = { kind: 'config', id: 'gateway' } as const;

/**
 * A gateway's newest downlink_applied / downlink_refused event about the configuration document,
 * of any age: read on its own (the partial index events_downlink_reports, dashboard/db.ts), since
 * every other document sent down and every device going silent or coming back adds an alert and
 * would push it out of the alerts' window.
 */
function configReportQuery(db: Db) {
  const q = db.prepare(
    `SELECT id, type, severity, time, device, message, detail FROM events
     WHERE gateway = ? AND farm = ?
       AND type IN ('downlink_applied', 'downlink_refused') AND json_valid(detail)
       AND json_extract(detail, '$.kind') = ?
       AND json_extract(detail, '$.id') = ?
       AND json_type(detail, '$.version') = 'integer' AND json_extract(detail, '$.version') >= 0
     ORDER BY time DESC, rowid DESC LIMIT 1`,
  );
  return (gateway: string, farm: string): GatewayConfigReport | null => {
    const row = q.get(gateway, farm, CONFIG_DOC.kind, CONFIG_DOC.id) as EventRow | undefined;
    if (!row) return null;
    const event = alertOf(row);
    if (!event.downlink) return null; // not reached: the query asks what alertOf checks
    return {
      outcome: row.type === 'downlink_applied' ? 'applied' : 'refused',
      version: event.downlink.version,
      time: event.time,
      message: event.message,
      event,
    };
  };
}

export function gatewayHealth(db: Db, farm: string, now: number): GatewayHealth[] {
  const gws = db.prepare('SELECT * FROM gateways WHERE farm = ? ORDER BY id').all(farm) as {
    id: string;
    farm: string;
    created: number;
    revoked: number | null;
    last_sync: number | null;
    acked_seq: number;
    // Sent with every sync batch (protocol/sync.ts GatewaySyncStatus); absent on older servers.
    version?: string | null;
    backlog?: number | null;
    oldest_age_ms?: number | null;
    status_at?: number | null;
  }[];
  const reportOf = db.prepare(
    `SELECT time, detail FROM events WHERE gateway = ? AND farm = ? AND type = 'backlog_report' ORDER BY time DESC LIMIT 1`,
  );
  const alertsOf = db.prepare(
    `SELECT id, type, severity, time, device, message, detail FROM events
     WHERE gateway = ? AND farm = ? AND type NOT IN ('backlog_report', 'config_effective') AND time >= ?
     ORDER BY time DESC LIMIT 20`,
  );
  const settingsOf = db.prepare(
    `SELECT time, detail FROM events WHERE gateway = ? AND farm = ? AND type = 'config_effective'
     ORDER BY time DESC, rowid DESC LIMIT 1`,
  );
  /** The settings a gateway last told, its numbers only (what the form can show). */
  const settings = (gateway: string): GatewayHealth['settings'] => {
    const row = settingsOf.get(gateway, farm) as { time: number; detail: string | null } | undefined;
    const detail = row ? parseDetail(row.detail) : null;
    if (!row || !detail) return null;
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(detail))
      if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
    return { time: new Date(row.time).toISOString(), values };
  };
  const configReportOf = configReportQuery(db);
  return gws.map((g) => {
    const report = reportOf.get(g.id, farm) as { time: number; detail: string | null } | undefined;
    const detail = report?.detail ? (JSON.parse(report.detail) as Record<string, unknown>) : {};
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    // The status the gateway sends with each batch wins over an older backlog_report event.
    const fromBatch = g.status_at != null && (report === undefined || g.status_at >= report.time);
    const backlog = fromBatch ? (g.backlog ?? null) : num(detail.backlog);
    const alerts = (alertsOf.all(g.id, farm, now - ALERT_WINDOW_MS) as EventRow[]).map(alertOf);
    return {
      id: g.id,
      farm: g.farm,
      created: new Date(g.created).toISOString(),
      revoked: iso(g.revoked),
      lastSync: iso(g.last_sync),
      ackedSeq: g.acked_seq,
      backlog: backlog === null ? null : Math.max(0, Math.round(backlog)),
      oldestAgeMs: fromBatch ? (g.oldest_age_ms ?? null) : num(detail.oldestAgeMs),
      version: fromBatch
        ? (g.version ?? null)
        : typeof detail.version === 'string'
          ? detail.version.slice(0, 64)
          : null,
      reportedAt: iso(fromBatch ? g.status_at : report?.time),
      alerts,
      configReport: configReportOf(g.id, farm),
      settings: settings(g.id),
    };
  });
}
