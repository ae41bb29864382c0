// The gateway's own web face, for a phone in the barn with no internet: a status page (devices
// with their latest values and freshness, dead letters, sync backlog, disk), /healthz,
// Prometheus /metrics and the same status as JSON. Rendered on the server, no scripts needed.
// Japanese by default, English on request: health problems and events are worded here from their
// codes and details (one dictionary, T); raw English kept for support is marked lang="en".
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { listenError, type Logger } from '../runtime/log.ts';
import { HatakeError } from '../protocol/errors.ts';
import { METRICS, isMetricName } from '../protocol/metrics.ts';
import type { LocalizedText } from '../protocol/kit.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { spreadTotals, type Recommendation } from '../protocol/recommendation.ts';
import { statusLabel } from '../protocol/review-labels.ts';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import { defaultRow, prescriptionRows, type PrescriptionRow } from '../edge/prescriptions/rows.ts';
import type { AutomationProblem, AutomationsStatus } from './automations/engine.ts';
import { renderAutomationsSection } from './automations/page.ts';
import type { RetentionStatus } from './maintenance.ts';
import { escapeHtml } from '../protocol/html.ts';

type Lang = 'ja' | 'en';

/**
 * A health problem as data: the status page words it in its language (`T.*.health`); the English
 * line in `health.problems` stays beside it for /healthz, logs and older readers.
 */
export type HealthProblem =
  | { code: 'disk_full' }
  | { code: 'store_failing'; message: string }
  | { code: 'sync_stopped' }
  | { code: 'sync_refused'; status: number }
  | { code: 'server_unreachable' }
  | { code: 'downlink_stopped' }
  | { code: 'external_unreachable'; url: string; error: string; downSince: number | null }
  | { code: 'devices_silent'; devices: string[] }
  | AutomationProblem;

export interface GatewayStatus {
  gateway: string;
  farm: string;
  time: number;
  health: {
    ok: boolean;
    /** One English line per problem ("server unreachable", "silent: soil-1"). */
    problems: string[];
    /** The same problems as data, in the same order. */
    issues?: HealthProblem[];
  };
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
    latest: {
      metric: string;
      value: number;
      unit: string;
      time: number;
      flags: string[];
      /** The kit's own name for the metric, when its kit file gives one. */
      name?: LocalizedText;
    }[];
  }[];
  deadLetters: { time: number; device: string | null; topic: string; code: string; reason: string }[];
  /** How many dead letters the gateway keeps (the page lists the newest of them). */
  deadLetterTotal?: number;
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
  events: {
    time: number;
    type: string;
    severity: string;
    /** English, as synced to the server; the page words known types from `type` and `detail`. */
    message: string;
    device?: string;
    detail?: Record<string, string | number | boolean | null>;
  }[];
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

/** "soil-1 から", "水位センサー（water-1）から": a space only after a Latin id. */
const kara = (device: string) => `${device}${device.endsWith('）') ? '' : ' '}から`;

const T = {
  ja: {
    title: 'ゲートウェイの状態',
    devices: 'センサー',
    device: '機器',
    values: '最新の値',
    seen: '最終受信',
    never: '受信なし',
    silent: '応答なし',
    /** A value whose own time is ahead of the gateway's clock (the device's clock runs fast). */
    future: '機器の時計が進んでいます：この値の時刻は未来です',
    /** Quality flags a stored reading carries (protocol QualityFlag). */
    flags: {
      out_of_range: 'センサーの測定範囲外',
      spike: '急な変化',
      stuck: '値が変わらない',
      clock_skew: '機器の時計のずれ',
      duplicate: '重複',
    } as Record<string, string>,
    /** Storage units read differently in Japanese. */
    units: { min: '分', s: '秒', h: '時間' } as Record<string, string>,
    battery: '電池',
    signal: '電波',
    dead: '受け付けなかったデータ',
    deadShown: (shown: number, total: number) => `新しい ${shown} 件を表示（保存は全 ${total} 件）`,
    none: 'なし',
    sync: 'サーバーへの送信',
    backlog: '未送信',
    oldest: '最も古い未送信',
    last: '最後に送信できた時刻',
    lastNever: 'まだ一度も送信できていません',
    items: (n: number) => `${n}件`,
    perSecond: (n: number) => `${n}件/秒`,
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
    zone: 'ゾーン',
    area: '面積',
    nitrogen: '窒素（N）',
    /** Rates per 10 a, as a Japanese farmer and spreader read them. */
    rateUnit: 'kg/10a',
    perArea: (perHa: number, digits: number) => fmtNum(perHa / 10, digits),
    nDigits: 2,
    productDigits: 1,
    edited: '修正',
    rest: 'ゾーン外',
    restNote:
      'ゾーン外（雲などで画像が使えない部分や、境界沿いの細い帯）は各ゾーンの平均の量。合計はそれも含めた圃場全体の分です',
    totals: (n: string, product: string, p: string) => `合計 N ${n} kg・${product} ${p} kg`,
    deviceLabel: (name: string, id: string) => `${name}（${id}）`,
    field: '圃場',
    model: 'モデル',
    reason: '理由',
    why: {
      HATAKE_E_MODEL_INPUT_MISSING: '必要なデータが足りません',
      HATAKE_E_MODEL_INPUT_RANGE: 'データがモデルの有効範囲外です',
      HATAKE_E_MODEL_NOT_FOUND: 'モデルまたは作物プロファイルがありません',
      HATAKE_E_PAYLOAD_JSON: 'JSONとして読めないデータです',
      HATAKE_E_PAYLOAD_SCHEMA: '決まった形式になっていないデータです',
      HATAKE_E_PAYLOAD_SIZE: '大きすぎるデータです',
      HATAKE_E_PAYLOAD_BINARY: '読めないバイナリデータです',
      HATAKE_E_UNKNOWN_METRIC: 'キットにない測定項目です',
      HATAKE_E_OUT_OF_RANGE: 'ありえない範囲の値です',
      HATAKE_E_UNKNOWN_DEVICE: '登録されていない機器です',
      HATAKE_E_TOPIC: '送り先（トピック）の形式が違います',
      HATAKE_E_CODEC: 'デコーダーが読めなかったデータです',
      HATAKE_E_CODEC_LIMIT: 'デコーダーが時間またはメモリの上限を超えました',
      HATAKE_E_SYNC_BATCH: 'サーバーが受け付けなかったデータです',
      HATAKE_E_DISK_FULL: 'ディスクが満杯で保存できませんでした',
    } as Record<string, string>,
    ok: '正常',
    problem: '要確認',
    lang: 'English',
    open: '開',
    closed: '閉',
    status: {
      pending_review: '審査待ち',
      edited: '修正済み',
      approved: '承認済み',
      rejected: '却下',
      superseded: '差し替え済み',
    } as Record<string, string>,
    list: (items: string[]) => items.join('、'),
    health: {
      disk_full: 'ディスクが満杯です。新しいデータを受け付けていません',
      store_failing:
        'データベースに書き込めません（SDカードの故障の可能性）。新しいデータを受け付けていません。ゲートウェイを再起動し、直らなければ設置した業者に連絡してください',
      sync_stopped: 'サーバーがこのゲートウェイのトークンを拒否したため、送信を止めています',
      sync_refused: (status: string) =>
        `サーバーが送信を受け付けません (HTTP ${status})。データはゲートウェイに保存し、間隔をあけて再送します。トークンとサーバーの設定を確認してください`,
      server_unreachable: 'サーバーに接続できません。データはゲートウェイに保存し、つながり次第送ります',
      downlink_stopped:
        'サーバーがこのゲートウェイのトークンを拒否したため、サーバーからの受信を止めています',
      external_unreachable: (url: string) =>
        `外部ブローカー (${url}) に接続できません。センサーのデータが届きません。2秒ごとに再接続を試みています`,
      devices_silent: (devices: string) => `応答のないセンサー: ${devices}`,
      valve_not_closed: (device: string) => `バルブ ${device} が閉じたと報告しません。現地で確認してください`,
    },
    /** Why the gateway cannot reach its server, by the kind of failure (serverErrorKind). */
    net: {
      refused: 'サーバーに接続できません（サーバーが止まっているか、アドレスが違います）',
      dns: 'サーバーの名前が見つかりません（インターネット接続とサーバーのアドレスを確認してください）',
      network: 'サーバーまでのネットワークがつながっていません',
      timeout: 'サーバーから時間内に応答がありません',
      reset: 'サーバーとの接続が途中で切れました',
      certificate: 'サーバーの証明書を確認できません（server.ca の設定を確認してください）',
      tls: 'サーバーと暗号化した接続ができません（サーバーのURLの https / http を確認してください）',
      token: 'サーバーがこのゲートウェイのトークンを拒否しました（登録し直してください）',
      server: 'サーバー側でエラーが起きています（自動で再試行します）',
      busy: 'サーバーが混み合っています（自動で再試行します）',
      request: 'サーバーが要求を受け付けませんでした',
      reply: 'サーバーからの応答が正しくありません（自動で再試行します）',
    } satisfies Record<ServerErrorKind, string>,
    doc: {
      registry: '機器の登録',
      manifest: '農場の設定（圃場と機器）',
      config: 'ゲートウェイの設定',
      model: 'モデル',
      scene: '衛星画像',
      recommendation: '施肥の推奨',
      automation: '自動化',
      override: '手動操作',
    } as Record<string, string>,
    silentFor: (m: number) =>
      m < 120 ? `${m}分間` : m < 2880 ? `${Math.round(m / 60)}時間` : `${Math.round(m / 1440)}日間`,
    /** "…ぶり" (after so long): 20分ぶり, 4時間ぶり, 3日ぶり. */
    after: (m: number) =>
      m < 120 ? `${m}分` : m < 2880 ? `${Math.round(m / 60)}時間` : `${Math.round(m / 1440)}日`,
    every: (s: number) => (s < 120 ? `${s}秒` : `${Math.round(s / 60)}分`),
    ev: {
      device_silent: (device: string, silent: string, every: string) =>
        `${kara(device)}${silent}データが届いていません（通常は${every}ごと）`,
      device_back: (device: string, after?: string) =>
        after ? `${kara(device)}${after}ぶりにデータが届きました` : `${kara(device)}再びデータが届いています`,
      clock_skew: (s: number, serverAhead: boolean) =>
        `サーバーの時計がゲートウェイより${s}秒${serverAhead ? '進んで' : '遅れて'}います。ゲートウェイはサーバーの時計で記録し、大きくずれたデータには印を付けています。両方の時計を確認してください`,
      disk_full_fs: (free: string) =>
        `ゲートウェイのディスクの空きが${free}しかありません。新しいデータを受け付けていません`,
      disk_full_floor: (floor: string) =>
        `データベースが容量の上限に達し、下限（${floor}日）より古い生データも残っていません。新しいデータを受け付けていません`,
      disk_full: 'データベースが容量の上限に達しました。新しいデータを受け付けていません',
      disk_ok: 'ディスクの空きが戻りました。データを再び受け付けています',
      retention_shortened: (kept: string, cfg: string, floor: string, atFloor: boolean) =>
        `データベースが容量の上限に近づいたため、${kept}日より古い生データを1時間ごとの集計にまとめました（設定は${cfg}日）。` +
        (atFloor
          ? `これが下限（${floor}日）です。さらにいっぱいになると新しいデータを受け付けられません`
          : `下限は${floor}日です`),
      retention_restored: (d: string) => `生データを再び設定どおり${d}日間保存しています`,
      config_effective: '動作中の設定（同期の間隔、保存期間など）をサーバーに知らせました',
      downlink_applied: (kind: string, id: string, v: number) =>
        `サーバーから届いた${kind}を適用しました（${id}、版 ${v}）`,
      recommendation_decided: (id: string, v: number, status: string) =>
        `施肥の推奨（${id}、版 ${v}）の審査結果「${statusLabel(status, 'ja')}」を受け取りました`,
      downlink_withdrawn: (kind: string, id: string, v: number) =>
        `サーバーが取り下げた${kind}を外しました（${id}、版 ${v}）`,
      downlink_refused: (kind: string, id: string, v: number) =>
        `サーバーから届いた${kind}を受け付けませんでした（${id}、版 ${v}）。前の版のまま動作しています`,
      scene_failed: (id: string, v: number) =>
        `サーバーから届いた衛星画像を処理できませんでした（${id}、版 ${v}）`,
    },
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
    future: 'dated in the future: check the device’s clock',
    flags: {
      out_of_range: 'outside the sensor’s range',
      spike: 'sudden jump',
      stuck: 'not changing',
      clock_skew: 'device clock off',
      duplicate: 'duplicate',
    } as Record<string, string>,
    units: {} as Record<string, string>,
    battery: 'Battery',
    signal: 'Signal',
    dead: 'Refused data',
    deadShown: (shown: number, total: number) => `The newest ${shown} of ${total} kept`,
    none: 'none',
    sync: 'Sync to the server',
    backlog: 'Waiting to send',
    oldest: 'Oldest waiting',
    last: 'Last successful sync',
    lastNever: 'not yet',
    items: (n: number) => `${n} items`,
    perSecond: (n: number) => `${n} items/s`,
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
    zone: 'Zone',
    area: 'Area',
    nitrogen: 'Nitrogen (N)',
    rateUnit: 'kg/ha',
    perArea: (perHa: number, digits: number) => fmtNum(perHa, digits),
    nDigits: 1,
    productDigits: 1,
    edited: 'edited',
    rest: 'Rest',
    restNote:
      'Rest of the field (where the image could not be used, e.g. under cloud, and the strip along the boundary): the zones’ mean rate. Totals are for the whole field, the rest included',
    totals: (n: string, product: string, p: string) => `total N ${n} kg, ${product} ${p} kg`,
    deviceLabel: (name: string, id: string) => `${name} (${id})`,
    field: 'Field',
    model: 'Model',
    reason: 'Reason',
    why: {
      HATAKE_E_MODEL_INPUT_MISSING: 'an input the model needs is missing',
      HATAKE_E_MODEL_INPUT_RANGE: 'an input is outside the model’s valid range',
      HATAKE_E_MODEL_NOT_FOUND: 'the model or crop profile is not installed',
      HATAKE_E_PAYLOAD_JSON: 'not readable as JSON',
      HATAKE_E_PAYLOAD_SCHEMA: 'not in the expected form',
      HATAKE_E_PAYLOAD_SIZE: 'too large',
      HATAKE_E_PAYLOAD_BINARY: 'unreadable binary data',
      HATAKE_E_UNKNOWN_METRIC: 'a metric the kit does not have',
      HATAKE_E_OUT_OF_RANGE: 'a value outside the possible range',
      HATAKE_E_UNKNOWN_DEVICE: 'a device that is not registered',
      HATAKE_E_TOPIC: 'sent to a malformed topic',
      HATAKE_E_CODEC: 'the decoder could not read it',
      HATAKE_E_CODEC_LIMIT: 'the decoder ran over its time or memory limit',
      HATAKE_E_SYNC_BATCH: 'refused by the server',
      HATAKE_E_DISK_FULL: 'not stored: the disk is full',
    } as Record<string, string>,
    ok: 'OK',
    problem: 'Needs attention',
    lang: '日本語',
    open: 'open',
    closed: 'closed',
    status: {
      pending_review: 'waiting for review',
      edited: 'edited',
      approved: 'approved',
      rejected: 'rejected',
      superseded: 'superseded',
    } as Record<string, string>,
    list: (items: string[]) => items.join(', '),
    health: {
      disk_full: 'The disk is full: new data is being refused',
      store_failing:
        'The database cannot be written (the SD card may be failing): new data is being refused. Restart the gateway; if this stays, call whoever installed it',
      sync_stopped: 'The server refused this gateway’s token: sending has stopped',
      sync_refused: (status: string) =>
        `The server refuses what this gateway sends (HTTP ${status}); data is kept on the gateway and sent again at longer intervals. Check the token and the server’s settings`,
      server_unreachable: 'The server cannot be reached; data is kept on the gateway and sent once it can be',
      downlink_stopped: 'The server refused this gateway’s token: nothing more is received from it',
      external_unreachable: (url: string) =>
        `The external broker (${url}) cannot be reached: no sensor data arrives through it. Trying again every 2 s`,
      devices_silent: (devices: string) => `Silent sensors: ${devices}`,
      valve_not_closed: (device: string) => `Valve ${device} never reported closed; check it on site`,
    },
    net: {
      refused: 'Cannot connect to the server (it is down, or the address is wrong)',
      dns: 'The server’s name is not found (check the internet connection and the server address)',
      network: 'No network path to the server',
      timeout: 'The server did not answer in time',
      reset: 'The connection to the server was cut',
      certificate: 'The server’s certificate cannot be verified (check server.ca)',
      tls: 'No encrypted connection to the server (check https / http in the server URL)',
      token: 'The server refused this gateway’s token (register it again)',
      server: 'An error on the server (retrying by itself)',
      busy: 'The server is busy (retrying by itself)',
      request: 'The server refused the request',
      reply: 'The server’s answer is not valid (retrying by itself)',
    } satisfies Record<ServerErrorKind, string>,
    doc: {
      registry: 'device registry',
      manifest: 'farm manifest (fields and devices)',
      config: 'gateway settings',
      model: 'model',
      scene: 'satellite scene',
      recommendation: 'fertilization recommendation',
      automation: 'automation',
      override: 'manual override',
    } as Record<string, string>,
    silentFor: (m: number) =>
      m < 120 ? `${m} min` : m < 2880 ? `${Math.round(m / 60)} h` : `${Math.round(m / 1440)} days`,
    after: (m: number) =>
      m < 120 ? `${m} min` : m < 2880 ? `${Math.round(m / 60)} h` : `${Math.round(m / 1440)} days`,
    every: (s: number) => (s < 120 ? `${s} s` : `${Math.round(s / 60)} min`),
    ev: {
      device_silent: (device: string, silent: string, every: string) =>
        `${device} has sent nothing for ${silent} (expected every ${every})`,
      device_back: (device: string, after?: string) =>
        after ? `${device} is sending again after ${after} of silence` : `${device} is sending again`,
      clock_skew: (s: number, serverAhead: boolean) =>
        `The server’s clock is ${s} s ${serverAhead ? 'ahead of' : 'behind'} the gateway’s; the gateway times readings by the server’s clock and flags far-off ones — check both clocks`,
      disk_full_fs: (free: string) => `Only ${free} free on the gateway’s disk: new readings are refused`,
      disk_full_floor: (floor: string) =>
        `The database budget is reached with no raw reading older than the ${floor}-day floor left to roll up: new readings are refused`,
      disk_full: 'The database budget is reached: new readings are refused',
      disk_ok: 'Disk space is back: readings are accepted again',
      retention_shortened: (kept: string, cfg: string, floor: string, atFloor: boolean) =>
        `The database is nearly full: raw readings older than ${kept} days were rolled up into hourly aggregates (configured: ${cfg} days). ` +
        (atFloor
          ? `That is the floor (${floor} days): if the database still fills, new readings will be refused`
          : `The floor is ${floor} days`),
      retention_restored: (d: string) => `Raw readings are kept for the configured ${d} days again`,
      config_effective: 'Told the server the settings in effect (sync pacing, retention, …)',
      downlink_applied: (kind: string, id: string, v: number) =>
        `Applied the ${kind} sent by the server (${id}, version ${v})`,
      recommendation_decided: (id: string, v: number, status: string) =>
        `Received the review of the fertilization recommendation (${id}, version ${v}): ${statusLabel(status, 'en')}`,
      downlink_withdrawn: (kind: string, id: string, v: number) =>
        `Removed the ${kind} the server withdrew (${id}, version ${v})`,
      downlink_refused: (kind: string, id: string, v: number) =>
        `Refused the ${kind} sent by the server (${id}, version ${v}); the previous version stays in use`,
      scene_failed: (id: string, v: number) =>
        `Could not process the satellite scene sent by the server (${id}, version ${v})`,
    },
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
export const esc = escapeHtml;

const mb = (b: number) => `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;

/** A number to at most `digits` decimals, without trailing zeros (3.04, 3, 66.1). */
function fmtNum(v: number, digits: number): string {
  return String(Math.round(v * 10 ** digits) / 10 ** digits);
}

/** Storage units as a farmer reads them; '1' (a ratio, a state) is shown without one. */
const UNIT_TEXT: Record<string, string> = {
  degC: '°C',
  '1': '',
  deg: '°',
  'W/m2': 'W/m²',
  'm3/m3': 'm³/m³',
  'uS/cm': 'µS/cm',
};
/** Units written without a space before them (270°). */
const UNIT_TIGHT = new Set(['°']);

/** A value in the farmer's unit: soil moisture in %, a valve's state as open/closed. */
export function fmtValue(metric: string, value: number, unit: string, lang: Lang): string {
  if (metric === 'soil_vwc') return `${(value * 100).toFixed(1)} %`;
  if (metric === 'valve_state' && (value === 0 || value === 1))
    return T[lang][value === 1 ? 'open' : 'closed'];
  const units = T[lang].units;
  const u = Object.hasOwn(units, unit)
    ? units[unit]!
    : Object.hasOwn(UNIT_TEXT, unit)
      ? UNIT_TEXT[unit]!
      : unit;
  const v = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1);
  return u ? (UNIT_TIGHT.has(u) ? `${v}${u}` : `${v} ${u}`) : v;
}

/** A metric's name: the protocol's, else the kit's own (`name:` in its kit file), else its id. */
export function metricLabel(metric: string, lang: Lang, kitName?: LocalizedText | null): string {
  if (isMetricName(metric)) return METRICS[metric][lang];
  return kitName?.[lang] || metric;
}

/**
 * What the page reads beside the status, to show names where the status has ids: the farm
 * manifest (device and field names), the catalogue (kit names in the page's language) and the
 * recommendation decisions the server sent down (their zones and rates). Each is optional: the
 * page shows the ids without them.
 */
export interface StatusPageContext {
  manifest?: Pick<Manifest, 'fields' | 'devices'> & { farm?: Pick<Manifest['farm'], 'name'> };
  catalogue?: Pick<Catalogue, 'get'>;
  /** The recommendation documents the gateway keeps (`documents('recommendation')` bodies). */
  recommendations?: readonly Partial<Recommendation>[];
}

/** Names for the ids the status carries, from the page's context. */
interface Names {
  /** The manifest's name of a field, or undefined. */
  field(id: string): string | undefined;
  /** The manifest's name of a device, or undefined. */
  device(id: string): string | undefined;
  /** The field the manifest puts a device in, or undefined. */
  deviceField(id: string): string | undefined;
  /** The device as a notice names it: "name（id）", or the id. */
  deviceText(id: string): string;
  /** The kit's name in the page's language, or its id. */
  kit(id: string): string;
  /** A recommendation decision by id. */
  recommendation(id: string): Partial<Recommendation> | undefined;
}

function namesOf(ctx: StatusPageContext, t: Dict, lang: Lang): Names {
  const fields = new Map((ctx.manifest?.fields ?? []).map((f) => [f.id, f.name]));
  const devices = new Map((ctx.manifest?.devices ?? []).map((d) => [d.id, d]));
  const recs = new Map(
    (ctx.recommendations ?? []).filter((r) => typeof r?.id === 'string').map((r) => [r.id!, r]),
  );
  const device = (id: string) => devices.get(id)?.name || undefined;
  return {
    field: (id) => fields.get(id) || undefined,
    device,
    deviceField: (id) => devices.get(id)?.field || undefined,
    deviceText: (id) => {
      const name = device(id);
      return name ? t.deviceLabel(name, id) : id;
    },
    kit: (id) => ctx.catalogue?.get(id)?.name?.[lang] || id,
    recommendation: (id) => recs.get(id),
  };
}

/** A field as the page shows it: its name with the id small beside it, or the id alone. */
function fieldHtml(id: string, names: Names): string {
  const name = names.field(id);
  return name ? `${esc(name)} <small>${esc(id)}</small>` : esc(id);
}

/** The kinds of failure between the gateway and its server that the page words in its language. */
export type ServerErrorKind =
  | 'refused'
  | 'dns'
  | 'network'
  | 'timeout'
  | 'reset'
  | 'certificate'
  | 'tls'
  | 'token'
  | 'server'
  | 'busy'
  | 'request'
  | 'reply';

/**
 * What kind of failure a sync or downlink error is, from its text (the uplink's "network: fetch
 * failed: connect ECONNREFUSED …", "HTTP 503: …", describeFetchError's codes), or null when unknown.
 */
export function serverErrorKind(raw: string): ServerErrorKind | null {
  // The status the server answered with comes first: its body may say anything.
  const http = /(?:^|: )HTTP (\d{3})\b/.exec(raw)?.[1];
  if (http !== undefined) {
    const code = Number(http);
    if (code === 401) return 'token';
    if (code === 429) return 'busy';
    if (code === 408) return 'timeout';
    if (code >= 500) return 'server';
    if (code >= 400) return 'request';
  }
  if (/certificate|CERT_|UNABLE_TO_(?:GET|VERIFY)|SELF_SIGNED/i.test(raw)) return 'certificate';
  if (/ERR_SSL|ERR_TLS|\b(?:TLS|SSL)\b/.test(raw)) return 'tls';
  if (/ECONNREFUSED/.test(raw)) return 'refused';
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(raw)) return 'dns';
  if (/ENETUNREACH|EHOSTUNREACH|ENETDOWN|EHOSTDOWN/.test(raw)) return 'network';
  if (/timeout|timed out|ETIMEDOUT/i.test(raw)) return 'timeout';
  if (/ECONNRESET|EPIPE|UND_ERR_SOCKET|other side closed|socket hang up|response cut/i.test(raw))
    return 'reset';
  if (/^ack (?:is not JSON|does not match)/.test(raw)) return 'reply';
  return null;
}

type Dict = (typeof T)['en'] | (typeof T)['ja'];

/** A sync or downlink error: a short sentence in the page's language, the raw text kept beside it. */
function serverErrorHtml(raw: string, t: Dict): string {
  const kind = serverErrorKind(raw);
  return kind
    ? `${esc(t.net[kind])}<br><small lang="en">${esc(raw)}</small>`
    : `<span lang="en">${esc(raw)}</span>`;
}

/** One health problem in the page's language, or null for a code this page does not know. */
function problemText(p: HealthProblem, t: Dict, names: Names): string | null {
  switch (p.code) {
    case 'disk_full':
    case 'store_failing':
    case 'sync_stopped':
    case 'server_unreachable':
    case 'downlink_stopped':
      return t.health[p.code];
    case 'sync_refused':
      return t.health.sync_refused(String(p.status));
    case 'external_unreachable':
      return t.health.external_unreachable(String(p.url));
    case 'devices_silent':
      return Array.isArray(p.devices)
        ? t.health.devices_silent(t.list(p.devices.map((d) => names.deviceText(String(d)))))
        : null;
    case 'valve_not_closed':
      return t.health.valve_not_closed(names.deviceText(String(p.device)));
    default:
      return null;
  }
}

/** The health line: OK, or each problem in the page's language (unknown ones as the English line). */
function healthHtml(h: GatewayStatus['health'], t: Dict, names: Names): string {
  if (h.ok) return `<p class="state">✅ ${t.ok}</p>`;
  const lines = h.issues
    ? h.issues.map((p, i) => {
        const text = problemText(p, t, names);
        return text === null ? `<span lang="en">${esc(h.problems[i] ?? p.code)}</span>` : esc(text);
      })
    : h.problems.map((p) => `<span lang="en">${esc(p)}</span>`);
  return `<div class="state"><p>⚠️ ${t.problem}</p><ul>${lines.map((l) => `<li>${l}</li>`).join('')}</ul></div>`;
}

type StatusEvent = GatewayStatus['events'][number];

/** A gateway event's notice from its type and detail, or null when it cannot be (the English message then). */
function eventText(e: StatusEvent, t: Dict, names: Names): { text: string; raw?: string } | null {
  const d = e.detail ?? {};
  const num = (k: string) => {
    const v = d[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  };
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
  const days = (k: string) => (num(k) === undefined ? undefined : String(num(k)));
  switch (e.type) {
    case 'device_silent': {
      const lastSeen = num('lastSeen');
      const interval = num('intervalS');
      if (e.device === undefined || lastSeen === undefined || interval === undefined) return null;
      // As the message says it (the round's clock); older events: from the event's time.
      const silentMin = num('silentMin') ?? Math.max(0, Math.round((e.time - lastSeen) / 60_000));
      return {
        text: t.ev.device_silent(names.deviceText(e.device), t.silentFor(silentMin), t.every(interval)),
      };
    }
    case 'device_back': {
      if (e.device === undefined) return null;
      const silentMin = num('silentMin');
      return {
        text: t.ev.device_back(
          names.deviceText(e.device),
          silentMin === undefined ? undefined : t.after(silentMin),
        ),
      };
    }
    case 'clock_skew': {
      const offset = num('offsetMs');
      if (offset === undefined) return null;
      // Server clock minus gateway clock: positive when the gateway is behind.
      return { text: t.ev.clock_skew(Math.round(Math.abs(offset) / 1000), offset > 0) };
    }
    case 'disk_full': {
      const free = num('fsFreeBytes');
      if (d.fsLow === true && free !== undefined) return { text: t.ev.disk_full_fs(mb(free)) };
      const floor = days('floorDays');
      if (d.atRetentionFloor === true && floor !== undefined) return { text: t.ev.disk_full_floor(floor) };
      return d.fsLow === false ? { text: t.ev.disk_full } : null;
    }
    case 'disk_ok':
      return { text: t.ev.disk_ok };
    case 'retention_shortened': {
      const [kept, cfg, floor] = [days('rawRetentionDays'), days('configuredRawDays'), days('floorDays')];
      if (kept === undefined || cfg === undefined || floor === undefined) return null;
      return { text: t.ev.retention_shortened(kept, cfg, floor, d.atFloor === true) };
    }
    case 'retention_restored': {
      const kept = days('rawRetentionDays');
      return kept === undefined ? null : { text: t.ev.retention_restored(kept) };
    }
    case 'config_effective':
      return { text: t.ev.config_effective, raw: e.message };
    case 'downlink_applied':
    case 'downlink_refused': {
      const [kind, docId, version] = [str('kind'), str('id'), num('version')];
      if (kind === undefined || docId === undefined || version === undefined) return null;
      const what = Object.hasOwn(t.doc, kind) ? t.doc[kind]! : kind;
      // A recommendation is named by its field, as the farmer knows it (the id when it is gone).
      const recField = kind === 'recommendation' ? names.recommendation(docId)?.field : undefined;
      const id = typeof recField === 'string' && recField ? (names.field(recField) ?? recField) : docId;
      // A recommendation comes down with each review decision: what was decided, not "applied"
      // (a rejected one is kept only to be known as rejected).
      const status = str('status');
      if (
        e.type === 'downlink_applied' &&
        kind === 'recommendation' &&
        status !== undefined &&
        d.deleted !== true
      )
        return { text: t.ev.recommendation_decided(id, version, status) };
      if (e.type === 'downlink_applied')
        return {
          text: t.ev[d.deleted === true ? 'downlink_withdrawn' : 'downlink_applied'](what, id, version),
        };
      // A scene sent down that could not be processed carries why (sceneFailureEvent).
      if (kind === 'scene' && str('reason') !== undefined)
        return { text: t.ev.scene_failed(id, version), raw: e.message };
      return { text: t.ev.downlink_refused(what, id, version), raw: e.message };
    }
    default:
      return null;
  }
}

/** An event's line: the notice in the page's language (with the raw text where it says why), else the English message. */
function eventHtml(e: StatusEvent, t: Dict, names: Names): string {
  const n = eventText(e, t, names);
  if (!n) return `<span lang="en">${esc(e.message)}</span>`;
  return `${esc(n.text)}${n.raw ? `<br><small lang="en">${esc(n.raw)}</small>` : ''}`;
}

const dayText = (ms: number) => String(Math.round((ms / 86_400_000) * 10) / 10);

/** The raw retention in force, and why it is shorter than configured when it is. */
function renderRetention(r: RetentionStatus, t: Dict): string {
  const cls = r.shortenedBefore === null ? '' : r.atFloor ? ' class="critical"' : ' class="warning"';
  const why =
    r.shortenedBefore === null
      ? ''
      : `<br><small>${esc(t.shortened(dayText(r.rawMs), dayText(r.minRawMs)))}${r.atFloor ? `<br>${esc(t.atFloor)}` : ''}</small>`;
  return `<dt>${t.raw}</dt><dd${cls}>${esc(t.days(dayText(r.keptMs)))}${why}</dd>`;
}

/**
 * An approved recommendation's rows as the farmer applies them: per zone the officer's edited
 * rate where there is one (prescriptionRows, as every prescription file), and the part of the
 * field no zone covers at the zones' mean, and the totals those spread; null when the document is
 * not one the page can read.
 */
function appliedRows(doc: Partial<Recommendation>): {
  rows: PrescriptionRow[];
  edited: boolean[];
  rest: PrescriptionRow | null;
  totals: ReturnType<typeof spreadTotals>;
} | null {
  if (!Array.isArray(doc.zones) || doc.zones.length === 0) return null;
  try {
    const rec = doc as Recommendation;
    const rows = prescriptionRows(rec);
    const rest = defaultRow(rec);
    const ok = (r: PrescriptionRow) =>
      [r.areaHa, r.kgNHa, r.productKgHa].every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!rows.every(ok) || (rest && !ok(rest))) return null;
    return { rows, edited: rec.zones.map((z) => z.edited !== undefined), rest, totals: spreadTotals(rec) };
  } catch {
    return null;
  }
}

/**
 * A recommendation decision: the field by name and the status; an approved one with its rate per
 * zone (kg/10a in Japanese, kg/ha in English), the rest of the field at the default rate, and the
 * whole field's totals worked out from those rates — the decision's own totals may predate an
 * officer's edit.
 */
function recommendationHtml(
  r: GatewayStatus['recommendations'][number],
  t: Dict,
  lang: Lang,
  names: Names,
): string {
  const status = Object.hasOwn(t.status, r.status)
    ? esc(t.status[r.status])
    : `<span lang="en">${esc(r.status)}</span>`;
  const head = `<b>${fieldHtml(r.field, names)}</b>: ${status}`;
  const doc = names.recommendation(r.id);
  const applied = r.status === 'approved' && doc ? appliedRows(doc) : null;
  if (!doc || !applied) return `<li>${head}${r.totalNKg === null ? '' : ` — N ${esc(r.totalNKg)} kg`}</li>`;
  const { rows, edited, rest, totals } = applied;
  const product = doc.product?.name?.[lang] || doc.product?.id || '';
  // What the files spread: the zones at their applied rates and the rest of the field at the
  // default rate (spreadTotals: the farmer's page and tip say the same figures).
  const { nKg, productKg } = totals;
  const row = (label: string, z: PrescriptionRow, isEdited: boolean) =>
    `<tr><th scope="row">${esc(label)}</th><td>${esc(fmtNum(z.areaHa, 2))} ha</td><td><b>${esc(t.perArea(z.kgNHa, t.nDigits))}</b>${isEdited ? ` <small>(${t.edited})</small>` : ''}</td><td><b>${esc(t.perArea(z.productKgHa, t.productDigits))}</b></td></tr>`;
  return `<li>${head}<br>${esc(t.totals(fmtNum(nKg, 2), product, fmtNum(productKg, 1)))}
<table class="zones"><thead><tr><th scope="col">${t.zone}</th><th scope="col">${t.area}</th><th scope="col">${t.nitrogen}<br><small>${t.rateUnit}</small></th><th scope="col">${esc(product)}<br><small>${t.rateUnit}</small></th></tr></thead><tbody>${rows
    .map((z, i) => row(String(z.zone), z, edited[i] === true))
    .join(
      '',
    )}${rest ? row(t.rest, rest, false) : ''}</tbody></table>${rest ? `<small>${t.restNote}</small>` : ''}</li>`;
}

/** A value this much older than its device's newest one shows its own age. */
const STALE_MS = 10 * 60_000;

type Latest = GatewayStatus['devices'][number]['latest'][number];

/**
 * One of a device's latest values with what the farmer must know of its freshness: the row's
 * "last heard" is the device's last message, but each value has its own time. A value the device
 * dated ahead (flagged clock_skew, judged by the gateway's corrected clock: its clock ran fast
 * once, and the value stays the newest by time until the clock catches up) says so instead of
 * passing for the current one; a value older than the device's newest (a metric no longer sent)
 * shows its own age. Both are judged against the device's own times, not the gateway's clock,
 * which may be off on a Pi that booted without internet. Quality flags in the page's language.
 */
function latestHtml(
  l: Latest,
  all: readonly Latest[],
  lastSeen: number | null,
  now: number,
  t: Dict,
  lang: Lang,
): string {
  const trusted = all.filter((x) => !x.flags.includes('clock_skew')).map((x) => x.time);
  const newest = trusted.length ? Math.max(...trusted) : null;
  const future = l.flags.includes('clock_skew') && l.time > (newest ?? lastSeen ?? now);
  const notes: string[] = [];
  if (future) notes.push(esc(t.future));
  else if (newest !== null && newest - l.time > STALE_MS)
    notes.push(esc(t.ago(Math.max(0, Math.round((now - l.time) / 1000)))));
  for (const f of l.flags) {
    if (future && f === 'clock_skew') continue; // said above, in words
    notes.push(Object.hasOwn(t.flags, f) ? esc(t.flags[f]) : `<span lang="en">${esc(f)}</span>`);
  }
  const value = `${esc(metricLabel(l.metric, lang, l.name))}: <b>${esc(fmtValue(l.metric, l.value, l.unit, lang))}</b>`;
  return notes.length
    ? `${value} <small${future ? ' class="warning"' : ''}>(${t.list(notes)})</small>`
    : value;
}

/** A device's header cell: its name and field first, its id and kit small beside them. */
function deviceHtml(d: GatewayStatus['devices'][number], names: Names): string {
  const name = names.device(d.id);
  const fieldId = names.deviceField(d.id);
  const field = fieldId === undefined ? undefined : (names.field(fieldId) ?? fieldId);
  const kit = names.kit(d.kit);
  const small = `<small>${esc(d.id)} · ${esc(kit)}</small>`;
  return name
    ? `${esc(name)}${field ? `<br><span class="sub">${esc(field)}</span>` : ''}<br>${small}`
    : `${esc(d.id)}${field ? `<br><span class="sub">${esc(field)}</span>` : ''}<br><small>${esc(kit)}</small>`;
}

/** The status page in one language; `ctx` gives names for the ids (see StatusPageContext). */
export function renderStatusPage(s: GatewayStatus, lang: Lang, ctx: StatusPageContext = {}): string {
  const t = T[lang];
  const names = namesOf(ctx, t, lang);
  const ago = (time: number | null) =>
    time === null ? t.never : t.ago(Math.max(0, Math.round((s.time - time) / 1000)));
  const devices = s.devices
    .map(
      (d) => `<tr${d.silent ? ' class="bad"' : ''}><th scope="row" class="dev">${deviceHtml(d, names)}</th>
<td class="vals">${d.latest.map((l) => latestHtml(l, d.latest, d.lastSeen, s.time, t, lang)).join('<br>') || '—'}</td>
<td class="nw">${esc(ago(d.lastSeen))}${d.silent ? `<br><b>${t.silent}</b>` : ''}</td>
<td>${d.battery === null ? '—' : `<span class="nw">${esc(d.battery.toFixed(2))} V</span>`}${d.rssi === null ? '' : `<br>${esc(d.rssi)} dBm`}${d.snr === null ? '' : ` / ${esc(d.snr)} dB`}${d.loraGateway === null || d.loraGateway === undefined ? '' : `<br><small>${esc(t.heard(d.loraGateway, d.loraGateways ?? 1))}</small>`}</td></tr>`,
    )
    .join('\n');
  const dead = s.deadLetters.length
    ? `<ul>${s.deadLetters.map((d) => `<li>${esc(ago(d.time))} <b>${esc(d.device === null ? '—' : names.deviceText(d.device))}</b> ${Object.hasOwn(t.why, d.code) ? `${esc(t.why[d.code])}<br>` : ''}<small lang="en">${esc(d.code)}: ${esc(d.reason)}</small></li>`).join('')}</ul>`
    : `<p>${t.none}</p>`;
  const sync = s.sync.configured
    ? `<dl><dt>${t.backlog}</dt><dd>${esc(t.items(s.sync.backlog))} (${mb(s.sync.backlogBytes)})</dd><dt>${t.oldest}</dt><dd>${s.sync.oldestAgeMs === null ? '—' : esc(t.ago(Math.round(s.sync.oldestAgeMs / 1000)))}</dd>
<dt>${t.last}</dt><dd>${s.sync.lastSuccess === null ? t.lastNever : esc(ago(s.sync.lastSuccess))}</dd>${s.sync.throughput === null ? '' : `<dt>${t.rate}</dt><dd>${esc(t.perSecond(Math.round(s.sync.throughput)))}</dd>`}${s.sync.clockOffsetMs === null ? '' : `<dt>${t.clock}</dt><dd>${esc((s.sync.clockOffsetMs / 1000).toFixed(1))} s</dd>`}<dt>${t.downlink}</dt><dd>${esc(s.sync.downlinkVersion)}${s.sync.downlinkError ? `<br>${serverErrorHtml(s.sync.downlinkError, t)}` : ''}</dd><dt>${t.config}</dt><dd>${s.sync.configVersion === null ? t.configFile : `${t.configServer} ${s.sync.configVersion}`}</dd>${s.sync.lastError ? `<dt>${t.error}</dt><dd>${serverErrorHtml(s.sync.lastError, t)}</dd>` : ''}${s.sync.stopped ? `<dt>!</dt><dd><b>${serverErrorHtml(s.sync.stopped, t)}</b></dd>` : ''}</dl>`
    : `<p>${t.notConfigured}</p><dl><dt>${t.backlog}</dt><dd>${esc(t.items(s.sync.backlog))}</dd></dl>`;
  const tips = s.tips.length
    ? `<ul>${s.tips.map((x) => `<li class="${esc(x.severity)}"><b>${esc(x.title[lang])}</b>${x.field ? ` (${esc(names.field(x.field) ?? x.field)})` : ''}<br>${esc(x.text[lang])}</li>`).join('')}</ul>`
    : `<p>${t.none}</p>`;
  const recs = s.recommendations.length
    ? `<h2>${t.recs}</h2><ul class="recs">${s.recommendations.map((r) => recommendationHtml(r, t, lang, names)).join('\n')}</ul>`
    : '';
  const notRecs = s.notRecommended?.length
    ? `<h2>${t.notRecs}</h2><table><thead><tr><th scope="col">${t.field}</th><th scope="col">${t.model}</th><th scope="col">${t.reason}</th></tr></thead><tbody>${s.notRecommended
        .map(
          (r) =>
            `<tr class="bad"><th scope="row">${fieldHtml(r.field, names)}<br><small>${esc(ago(r.time))}</small></th><td>${esc(r.model)}</td><td>${Object.hasOwn(t.why, r.code) ? `<b>${esc(t.why[r.code])}</b><br>` : ''}<small lang="en">${esc(r.reason)}</small></td></tr>`,
        )
        .join('')}</tbody></table>`
    : '';
  const events = s.events.length
    ? `<ul>${s.events.map((e) => `<li class="${esc(e.severity)}">${esc(ago(e.time))} ${eventHtml(e, t, names)}</li>`).join('')}</ul>`
    : `<p>${t.none}</p>`;
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15"><link rel="icon" href="data:,"><title>${t.title} — ${esc(s.gateway)}</title>
<style>body{font:16px/1.45 system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;color:#1b1f1c;background:#f6f7f2}
header{background:#2f6b3b;color:#fff;padding:.5rem 1rem;display:flex;justify-content:space-between;align-items:center}header a{color:#fff}
main{padding:.75rem;max-width:60rem;margin:auto;overflow-wrap:break-word}small[lang=en],span[lang=en]{overflow-wrap:anywhere}table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.bad{background:#fff1e6}.critical{color:#a40000;font-weight:bold}.warning{color:#8a4b00}.state{font-weight:bold}.state p,.state ul{margin:.3rem 0}dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem}dd{margin:0}th small,th .sub{font-weight:normal}.nw,.vals b{white-space:nowrap}.dev{overflow-wrap:anywhere}
.recs{padding:0;list-style:none}.recs li{margin-bottom:.8rem}.zones{margin:.3rem 0}.zones td,.zones th{padding:.25rem .4rem}.zones td{white-space:nowrap}</style></head>
<body><header><h1 style="font-size:1.1rem;margin:0">${t.title}: ${esc(s.gateway)} (${esc(ctx.manifest?.farm?.name || s.farm)})</h1><a href="?lang=${lang === 'ja' ? 'en' : 'ja'}" lang="${lang === 'ja' ? 'en' : 'ja'}">${t.lang}</a></header><main>
${healthHtml(s.health, t, names)}
<h2>${t.tips}</h2>${tips}
<h2>${t.events}</h2>${events}${recs}${notRecs}
${s.automations ? renderAutomationsSection(s.automations, lang) : ''}
<h2>${t.devices}</h2><table><thead><tr><th scope="col">${t.device}</th><th scope="col">${t.values}</th><th scope="col">${t.seen}</th><th scope="col">${t.battery} / ${t.signal}</th></tr></thead><tbody>${devices}</tbody></table>
<h2>${t.sync}</h2>${sync}
<h2>${t.disk}</h2>${s.disk.full ? `<p class="critical">${t.full}</p>` : ''}<dl><dt>${t.db}</dt><dd>${mb(s.disk.dbBytes)} / ${Number.isFinite(s.disk.budgetBytes) ? mb(s.disk.budgetBytes) : '∞'} (+WAL ${mb(s.disk.walBytes)})</dd><dt>${t.free}</dt><dd>${mb(s.disk.fsFreeBytes)}</dd>${s.disk.retention ? renderRetention(s.disk.retention, t) : ''}</dl>
<h2>${t.dead}</h2>${s.deadLetterTotal !== undefined && s.deadLetterTotal > s.deadLetters.length ? `<p>${esc(t.deadShown(s.deadLetters.length, s.deadLetterTotal))}</p>` : ''}${dead}
</main></body></html>`;
}

const UNAVAILABLE = {
  ja: {
    title: 'ゲートウェイの状態',
    text: 'ゲートウェイの状態を読み出せません。データベース（SDカード）が故障しているか、いっぱいの可能性があります。ゲートウェイを再起動し、直らなければ設置した業者に連絡してください。',
  },
  en: {
    title: 'Gateway status',
    text: 'The gateway cannot read its status: its database (the SD card) may be failing or full. Restart the gateway; if this stays, call whoever installed it.',
  },
};

/** The page shown when the status cannot be read: what it means, the raw error small for support. */
function renderUnavailablePage(lang: Lang, raw: string): string {
  const u = UNAVAILABLE[lang];
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15"><link rel="icon" href="data:,"><title>${u.title}</title>
<style>body{font:16px/1.45 system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;color:#1b1f1c;background:#f6f7f2}main{padding:.75rem;max-width:60rem;margin:auto;overflow-wrap:anywhere}.critical{color:#a40000;font-weight:bold}</style></head>
<body><main><h1 style="font-size:1.1rem">${u.title}</h1><p class="critical">⚠️ ${u.text}</p><p><small lang="en">${esc(raw)}</small></p>
<p><a href="?lang=${lang === 'ja' ? 'en' : 'ja'}" lang="${lang === 'ja' ? 'en' : 'ja'}">${T[lang].lang}</a></p></main></body></html>`;
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
  /** Names for the status page (device, field and kit names; the recommendations' zones). */
  page?: () => StatusPageContext;
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
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
    let html: string;
    try {
      html = renderStatusPage(opts.status(), lang, opts.page?.() ?? {});
    } catch (e) {
      // The status is read from the store: when that fails (a dying SD card), the farmer still
      // gets a page in their language saying so, not a JSON error.
      opts.log.error({ err: e }, 'status page: the status could not be read');
      return reply.status(503).send(renderUnavailablePage(lang, (e as Error).message));
    }
    return reply.send(html);
  });
  app.get('/api/status', async () => opts.status());
  app.get('/healthz', async (_req, reply) => {
    let h: GatewayStatus['health'];
    try {
      h = opts.status().health;
    } catch (e) {
      return reply
        .status(503)
        .send({ status: 'degraded', problems: [`status unreadable: ${(e as Error).message}`] });
    }
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
