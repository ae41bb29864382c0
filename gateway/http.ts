// The gateway's own web face, for a phone in the barn with no internet: a status page (devices
// with their latest values and freshness, dead letters, sync backlog, disk), /healthz,
// Prometheus /metrics and the same status as JSON. Rendered on the server, no scripts needed.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { listenError, type Logger } from '../runtime/log.ts';
import { HatakeError } from '../protocol/errors.ts';
import { METRICS, isMetricName } from '../protocol/metrics.ts';
import type { AutomationsStatus } from './automations/engine.ts';
import { renderAutomationsSection } from './automations/page.ts';
import type { RetentionStatus } from './maintenance.ts';

export interface GatewayStatus {
  gateway: string;
  farm: string;
  time: number;
  health: { ok: boolean; problems: string[] };
  devices: {
    id: string;
    kit: string;
    lastSeen: number | null;
    online: boolean | null;
    silent: boolean;
    battery: number | null;
    rssi: number | null;
    snr: number | null;
    /** LoRaWAN: the network-server gateway that heard the last uplink best, and how many heard it. */
    loraGateway?: string | null;
    loraGateways?: number | null;
    latest: { metric: string; value: number; unit: string; time: number; flags: string[] }[];
  }[];
  deadLetters: { time: number; device: string | null; topic: string; code: string; reason: string }[];
  sync: {
    configured: boolean;
    backlog: number;
    oldestAgeMs: number | null;
    lastSuccess: number | null;
    lastError: string | null;
    stopped: string | null;
    sentItems: number;
    backlogBytes: number;
    throughput: number | null;
    clockOffsetMs: number | null;
    downlinkVersion: number;
    downlinkError: string | null;
    /** The version of the configuration the server sent down and that is in force, or null: the file's. */
    configVersion: number | null;
  };
  disk: {
    dbBytes: number;
    walBytes: number;
    budgetBytes: number;
    fsFreeBytes: number;
    full: boolean;
    /** Raw-reading retention in force: shortened (down to a floor) when the database nears its budget. */
    retention?: RetentionStatus;
  };
  events: { time: number; type: string; severity: string; message: string; device?: string }[];
  tips: {
    id: string;
    kind: string;
    severity: string;
    field?: string;
    title: { ja: string; en: string };
    text: { ja: string; en: string };
    created: number;
  }[];
  /** Recommendation decisions the server sent down (approved ones are what the farmer may apply). */
  recommendations: { id: string; field: string; status: string; totalNKg: number | null }[];
  /** Fields whose recommendation the gateway refused at the last scene, with the model and why. */
  notRecommended?: { field: string; model: string; code: string; reason: string; time: number }[];
  automations?: AutomationsStatus;
}

const T = {
  ja: {
    title: 'ゲートウェイの状態',
    devices: 'センサー',
    device: '機器',
    values: '最新の値',
    seen: '最終受信',
    never: '受信なし',
    silent: '応答なし',
    battery: '電池',
    signal: '電波',
    dead: '受け付けなかったデータ',
    none: 'なし',
    sync: 'サーバーへの送信',
    backlog: '未送信',
    oldest: '最も古い未送信',
    last: '最後に送信できた時刻',
    error: '直近のエラー',
    notConfigured: 'サーバー未設定（この農場だけで動作中）',
    rate: '送信速度',
    clock: '時計のずれ',
    downlink: 'サーバーからの受信（版）',
    config: '設定',
    configFile: '設定ファイルのまま',
    configServer: 'サーバーから送られた設定 版',
    disk: 'ディスク',
    db: 'データベース',
    free: '空き',
    full: '満杯：新しいデータを受け付けていません',
    raw: '生データの保存期間',
    days: (d: string) => `${d}日`,
    shortened: (cfg: string, floor: string) =>
      `容量を保つため短縮中（設定は${cfg}日、下限${floor}日）。それより古いデータは1時間ごとの集計で残っています`,
    atFloor: '下限に達しました。これ以上いっぱいになると新しいデータを受け付けられません',
    heard: (id: string, n: number) => `受信: ${id}${n > 1 ? `（ほか${n - 1}台）` : ''}`,
    events: 'お知らせ',
    tips: 'アドバイス',
    recs: '施肥の推奨（審査済み）',
    notRecs: '施肥の推奨を出せなかった圃場',
    field: '圃場',
    model: 'モデル',
    reason: '理由',
    why: {
      HATAKE_E_MODEL_INPUT_MISSING: '必要なデータが足りません',
      HATAKE_E_MODEL_INPUT_RANGE: 'データがモデルの有効範囲外です',
      HATAKE_E_MODEL_NOT_FOUND: 'モデルまたは作物プロファイルがありません',
    } as Record<string, string>,
    ok: '正常',
    problem: '要確認',
    lang: 'English',
    ago: (s: number) =>
      s < 60
        ? `${s}秒前`
        : s < 3600
          ? `${Math.floor(s / 60)}分前`
          : s < 86400
            ? `${Math.floor(s / 3600)}時間前`
            : `${Math.floor(s / 86400)}日前`,
  },
  en: {
    title: 'Gateway status',
    devices: 'Sensors',
    device: 'Device',
    values: 'Latest values',
    seen: 'Last heard',
    never: 'never',
    silent: 'silent',
    battery: 'Battery',
    signal: 'Signal',
    dead: 'Refused data',
    none: 'none',
    sync: 'Sync to the server',
    backlog: 'Waiting to send',
    oldest: 'Oldest waiting',
    last: 'Last successful sync',
    error: 'Last error',
    notConfigured: 'No server configured (running on the farm only)',
    rate: 'Throughput',
    clock: 'Clock offset',
    downlink: 'From the server (version)',
    config: 'Settings',
    configFile: 'as in the configuration file',
    configServer: 'sent by the server, version',
    disk: 'Disk',
    db: 'Database',
    free: 'Free',
    full: 'FULL: new data is being refused',
    raw: 'Raw readings kept',
    days: (d: string) => `${d} days`,
    shortened: (cfg: string, floor: string) =>
      `shortened to fit the database budget (configured ${cfg} days, floor ${floor}); older readings are kept as hourly aggregates`,
    atFloor: 'at the floor: if the database fills up, new data will be refused',
    heard: (id: string, n: number) => `via ${id}${n > 1 ? ` (+${n - 1} more)` : ''}`,
    events: 'Events',
    tips: 'Tips',
    recs: 'Fertilization recommendations (reviewed)',
    notRecs: 'Recommendations not made',
    field: 'Field',
    model: 'Model',
    reason: 'Reason',
    why: {
      HATAKE_E_MODEL_INPUT_MISSING: 'an input the model needs is missing',
      HATAKE_E_MODEL_INPUT_RANGE: 'an input is outside the model’s valid range',
      HATAKE_E_MODEL_NOT_FOUND: 'the model or crop profile is not installed',
    } as Record<string, string>,
    ok: 'OK',
    problem: 'Needs attention',
    lang: '日本語',
    ago: (s: number) =>
      s < 60
        ? `${s} s ago`
        : s < 3600
          ? `${Math.floor(s / 60)} min ago`
          : s < 86400
            ? `${Math.floor(s / 3600)} h ago`
            : `${Math.floor(s / 86400)} d ago`,
  },
};

/** Escapes text for HTML: device ids, reasons and topics come from outside. */
export function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const mb = (b: number) => `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;

function fmtValue(metric: string, value: number, unit: string): string {
  if (metric === 'soil_vwc') return `${(value * 100).toFixed(1)} %`;
  const u = unit === 'degC' ? '°C' : unit;
  return `${Number.isInteger(value) ? value : value.toFixed(Math.abs(value) < 10 ? 2 : 1)} ${u}`;
}

const dayText = (ms: number) => String(Math.round((ms / 86_400_000) * 10) / 10);

/** The raw retention in force, and why it is shorter than configured when it is. */
function renderRetention(r: RetentionStatus, t: (typeof T)['en'] | (typeof T)['ja']): string {
  const cls = r.shortenedBefore === null ? '' : r.atFloor ? ' class="critical"' : ' class="warning"';
  const why =
    r.shortenedBefore === null
      ? ''
      : `<br><small>${esc(t.shortened(dayText(r.rawMs), dayText(r.minRawMs)))}${r.atFloor ? `<br>${esc(t.atFloor)}` : ''}</small>`;
  return `<dt>${t.raw}</dt><dd${cls}>${esc(t.days(dayText(r.keptMs)))}${why}</dd>`;
}

/** The status page in one language. */
export function renderStatusPage(s: GatewayStatus, lang: 'ja' | 'en'): string {
  const t = T[lang];
  const ago = (time: number | null) =>
    time === null ? t.never : t.ago(Math.max(0, Math.round((s.time - time) / 1000)));
  const label = (m: string) => (isMetricName(m) ? METRICS[m][lang] : m);
  const devices = s.devices
    .map(
      (
        d,
      ) => `<tr${d.silent ? ' class="bad"' : ''}><th scope="row">${esc(d.id)}<br><small>${esc(d.kit)}</small></th>
<td>${d.latest.map((l) => `${esc(label(l.metric))}: <b>${esc(fmtValue(l.metric, l.value, l.unit))}</b>${l.flags.length ? ` <small>(${esc(l.flags.join(','))})</small>` : ''}`).join('<br>') || '—'}</td>
<td>${esc(ago(d.lastSeen))}${d.silent ? `<br><b>${t.silent}</b>` : ''}</td>
<td>${d.battery === null ? '—' : `${esc(d.battery.toFixed(2))} V`}${d.rssi === null ? '' : `<br>${esc(d.rssi)} dBm`}${d.snr === null ? '' : ` / ${esc(d.snr)} dB`}${d.loraGateway === null || d.loraGateway === undefined ? '' : `<br><small>${esc(t.heard(d.loraGateway, d.loraGateways ?? 1))}</small>`}</td></tr>`,
    )
    .join('\n');
  const dead = s.deadLetters.length
    ? `<ul>${s.deadLetters.map((d) => `<li>${esc(ago(d.time))} <b>${esc(d.device ?? '—')}</b> ${esc(d.code)}: ${esc(d.reason)}</li>`).join('')}</ul>`
    : `<p>${t.none}</p>`;
  const sync = s.sync.configured
    ? `<dl><dt>${t.backlog}</dt><dd>${s.sync.backlog} (${mb(s.sync.backlogBytes)})</dd><dt>${t.oldest}</dt><dd>${s.sync.oldestAgeMs === null ? '—' : esc(t.ago(Math.round(s.sync.oldestAgeMs / 1000)))}</dd>
<dt>${t.last}</dt><dd>${esc(ago(s.sync.lastSuccess))}</dd>${s.sync.throughput === null ? '' : `<dt>${t.rate}</dt><dd>${esc(Math.round(s.sync.throughput))} /s</dd>`}${s.sync.clockOffsetMs === null ? '' : `<dt>${t.clock}</dt><dd>${esc((s.sync.clockOffsetMs / 1000).toFixed(1))} s</dd>`}<dt>${t.downlink}</dt><dd>${s.sync.downlinkVersion}${s.sync.downlinkError ? ` — ${esc(s.sync.downlinkError)}` : ''}</dd><dt>${t.config}</dt><dd>${s.sync.configVersion === null ? t.configFile : `${t.configServer} ${s.sync.configVersion}`}</dd>${s.sync.lastError ? `<dt>${t.error}</dt><dd>${esc(s.sync.lastError)}</dd>` : ''}${s.sync.stopped ? `<dt>!</dt><dd><b>${esc(s.sync.stopped)}</b></dd>` : ''}</dl>`
    : `<p>${t.notConfigured}</p><dl><dt>${t.backlog}</dt><dd>${s.sync.backlog}</dd></dl>`;
  const tips = s.tips.length
    ? `<ul>${s.tips.map((x) => `<li class="${esc(x.severity)}"><b>${esc(x.title[lang])}</b>${x.field ? ` (${esc(x.field)})` : ''}<br>${esc(x.text[lang])}</li>`).join('')}</ul>`
    : `<p>${t.none}</p>`;
  const recs = s.recommendations.length
    ? `<h2>${t.recs}</h2><ul>${s.recommendations.map((r) => `<li>${esc(r.field)}: ${esc(r.status)}${r.totalNKg === null ? '' : ` — N ${esc(r.totalNKg)} kg`}</li>`).join('')}</ul>`
    : '';
  const notRecs = s.notRecommended?.length
    ? `<h2>${t.notRecs}</h2><table><thead><tr><th scope="col">${t.field}</th><th scope="col">${t.model}</th><th scope="col">${t.reason}</th></tr></thead><tbody>${s.notRecommended
        .map(
          (r) =>
            `<tr class="bad"><th scope="row">${esc(r.field)}<br><small>${esc(ago(r.time))}</small></th><td>${esc(r.model)}</td><td>${Object.hasOwn(t.why, r.code) ? `<b>${esc(t.why[r.code])}</b><br>` : ''}<small>${esc(r.reason)}</small></td></tr>`,
        )
        .join('')}</tbody></table>`
    : '';
  const events = s.events.length
    ? `<ul>${s.events.map((e) => `<li class="${esc(e.severity)}">${esc(ago(e.time))} ${esc(e.message)}</li>`).join('')}</ul>`
    : `<p>${t.none}</p>`;
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15"><title>${t.title} — ${esc(s.gateway)}</title>
<style>body{font:16px/1.45 system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;color:#1b1f1c;background:#f6f7f2}
header{background:#2f6b3b;color:#fff;padding:.5rem 1rem;display:flex;justify-content:space-between;align-items:center}header a{color:#fff}
main{padding:.75rem;max-width:60rem;margin:auto}table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.bad{background:#fff1e6}.critical{color:#a40000;font-weight:bold}.warning{color:#8a4b00}.state{font-weight:bold}dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem}dd{margin:0}</style></head>
<body><header><h1 style="font-size:1.1rem;margin:0">${t.title}: ${esc(s.gateway)} (${esc(s.farm)})</h1><a href="?lang=${lang === 'ja' ? 'en' : 'ja'}">${t.lang}</a></header><main>
<p class="state">${s.health.ok ? `✅ ${t.ok}` : `⚠️ ${t.problem}: ${esc(s.health.problems.join('; '))}`}</p>
<h2>${t.tips}</h2>${tips}
<h2>${t.events}</h2>${events}${recs}${notRecs}
${s.automations ? renderAutomationsSection(s.automations, lang) : ''}
<h2>${t.devices}</h2><table><thead><tr><th scope="col">${t.device}</th><th scope="col">${t.values}</th><th scope="col">${t.seen}</th><th scope="col">${t.battery} / ${t.signal}</th></tr></thead><tbody>${devices}</tbody></table>
<h2>${t.sync}</h2>${sync}
<h2>${t.disk}</h2>${s.disk.full ? `<p class="critical">${t.full}</p>` : ''}<dl><dt>${t.db}</dt><dd>${mb(s.disk.dbBytes)} / ${Number.isFinite(s.disk.budgetBytes) ? mb(s.disk.budgetBytes) : '∞'} (+WAL ${mb(s.disk.walBytes)})</dd><dt>${t.free}</dt><dd>${mb(s.disk.fsFreeBytes)}</dd>${s.disk.retention ? renderRetention(s.disk.retention, t) : ''}</dl>
<h2>${t.dead}</h2>${dead}
</main></body></html>`;
}

/** The gateway's HTTP server: status page, JSON status, health and metrics. */
export async function startGatewayHttp(opts: {
  host: string;
  port: number;
  log: Logger;
  status: () => GatewayStatus;
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** Registers more routes (the automations page) before the server listens. */
  register?: (app: FastifyInstance) => Promise<unknown>;
}): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({
    loggerInstance: opts.log,
    forceCloseConnections: true,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  app.get('/', async (request, reply) => {
    const q = request.query as { lang?: string };
    const accept = String(request.headers['accept-language'] ?? '');
    const lang = q.lang === 'en' || q.lang === 'ja' ? q.lang : accept.startsWith('en') ? 'en' : 'ja';
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(renderStatusPage(opts.status(), lang));
  });
  app.get('/api/status', async () => opts.status());
  app.get('/healthz', async (_req, reply) => {
    const h = opts.status().health;
    return reply.status(h.ok ? 200 : 503).send({ status: h.ok ? 'ok' : 'degraded', problems: h.problems });
  });
  app.get('/metrics', async (_req, reply) => {
    const m = await opts.metrics();
    return reply.type(m.contentType).send(m.body);
  });
  if (opts.register) await opts.register(app);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    throw new HatakeError('HATAKE_E_CONFIG', listenError(e, 'gateway status page', opts.port).message);
  }
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr ? addr.port : opts.port };
}
