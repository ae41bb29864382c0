// The files `hatake kit provision` writes: for each device a JSON configuration (broker, TLS,
// topic, username, secret, interval), an ESPHome `mqtt:` + sensor snippet and a QR code of the
// JSON for installing in the field; a printable HTML sheet of all devices with their QR codes; and
// the gateway's registry (hashed secrets only), which a running gateway picks up by itself.
// Files holding a secret are written 0600; secrets are never printed or logged.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { stringify } from 'yaml';
import { HatakeError } from '../protocol/errors.ts';
import type { Kit } from '../protocol/kit.ts';
import type { BrokerAddress, DeviceEntry, Manifest } from '../protocol/manifest.ts';
import { isMetricName, METRICS } from '../protocol/metrics.ts';
import { DEVICE_CONFIG_FORMAT, DeviceConfig, Registry } from '../protocol/registry.ts';
import { deviceTopic } from '../protocol/topics.ts';
import { validator } from '../protocol/validate.ts';
import type { Catalogue } from './catalogue.ts';
import { provisionRegistry, writeFileAtomic } from './provision.ts';
import { escapeHtml } from '../protocol/html.ts';

const registryValidator = validator(Registry);
const configValidator = validator(DeviceConfig);

/** The JSON configuration a device's firmware reads. */
export function deviceConfig(
  manifest: Manifest,
  device: DeviceEntry,
  kit: Kit,
  secret: string,
  broker: Required<BrokerAddress>,
  now = Date.now(),
): DeviceConfig {
  const farm = manifest.farm.id;
  return {
    format: DEVICE_CONFIG_FORMAT,
    farm,
    device: device.id,
    kit: kit.id,
    mqtt: {
      host: broker.host,
      port: broker.port,
      tls: broker.tls,
      username: device.id,
      secret,
      clientId: device.id,
      topic: deviceTopic(farm, device.id, 'up'),
      statusTopic: deviceTopic(farm, device.id, 'status'),
      commandTopic: deviceTopic(farm, device.id, 'down'),
      qos: 1,
    },
    interval: kit.interval,
    issuedAt: new Date(now).toISOString(),
  };
}

const cIdent = (s: string) => s.replace(/[^a-z0-9_]/g, '_');

/** An ESPHome `mqtt:` block plus a template sensor per metric and the publishing interval. */
export function esphomeSnippet(config: DeviceConfig, kit: Kit): string {
  const calibrated = new Set((kit.calibration ?? []).map((c) => c.metric));
  const metrics = Object.entries(kit.metrics).filter(([m]) => !calibrated.has(m));
  const id = (m: string) => `${cIdent(config.device)}_${m}`;
  const label = (m: string) => {
    const own = kit.metrics[m]?.name;
    if (own) return `${own.ja} ${own.en}`;
    return isMetricName(m) ? `${METRICS[m].ja} ${METRICS[m].en}` : m;
  };
  const status = config.mqtt.statusTopic;
  const doc = {
    mqtt: {
      broker: config.mqtt.host,
      port: config.mqtt.port,
      username: config.mqtt.username,
      password: config.mqtt.secret,
      client_id: config.mqtt.clientId,
      discovery: false,
      topic_prefix: config.mqtt.topic.replace(/\/up$/, ''),
      log_topic: null,
      birth_message: { topic: status, payload: 'online', qos: 1, retain: true },
      will_message: { topic: status, payload: 'offline', qos: 1, retain: true },
      shutdown_message: { topic: status, payload: 'offline', qos: 1, retain: true },
    },
    sensor: metrics.map(([m, def]) => ({
      platform: 'template',
      id: id(m),
      name: label(m),
      unit_of_measurement: def.unit,
      accuracy_decimals:
        def.resolution !== undefined ? Math.max(0, Math.min(6, Math.ceil(-Math.log10(def.resolution)))) : 2,
      update_interval: 'never',
    })),
    interval: [
      {
        interval: `${config.interval}s`,
        then: [
          {
            'mqtt.publish_json': {
              topic: config.mqtt.topic,
              qos: 1,
              payload: metrics
                .map(
                  ([m]) =>
                    `if (!std::isnan(id(${id(m)}).state)) root["values"]["${m}"] = id(${id(m)}).state;`,
                )
                .join('\n'),
            },
          },
        ],
      },
    ],
  };
  const header = [
    `# hatake: ESPHome configuration for device "${config.device}" (kit ${kit.id}), farm ${config.farm}.`,
    '# 秘密情報を含みます。取り扱いに注意してください。 Contains the device secret: keep it private.',
    '# Merge into your device YAML; replace each `platform: template` sensor with your real sensor',
    '# platform (adc, dallas_temp, sht3x, …) keeping its id, or publish its state from a lambda.',
    ...(config.mqtt.tls
      ? ['# TLS: add `certificate_authority:` (esp-idf) with the gateway CA under mqtt:.']
      : []),
  ];
  return `${header.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}

/** A PNG QR code of the device configuration (compact JSON). */
export async function configQrPng(config: DeviceConfig): Promise<Buffer> {
  return QRCode.toBuffer(JSON.stringify(config), {
    type: 'png',
    errorCorrectionLevel: 'M',
    margin: 2,
    scale: 4,
  });
}

const esc = escapeHtml;

export interface SheetRow {
  device: DeviceEntry;
  kit: Kit | undefined;
  fieldName: string | undefined;
  /** data: URL of the QR code, when the device's configuration is at hand. */
  qr: string | undefined;
  topic: string | undefined;
  lorawan: boolean;
}

/** The day `now` falls on in the farm's zone (Asia/Tokyo when absent; UTC for a zone not known here). */
function farmDate(now: number, timeZone = 'Asia/Tokyo'): string {
  const at = new Date(now);
  try {
    // en-CA writes dates as YYYY-MM-DD.
    return new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).format(at);
  } catch {
    return at.toISOString().slice(0, 10);
  }
}

/** The printable installation sheet: every device, its place and its QR code. All text escaped. */
export function sheetHtml(manifest: Manifest, rows: readonly SheetRow[], now = Date.now()): string {
  const body = rows
    .map((r) => {
      const qr = r.lorawan
        ? `<p class="note">LoRaWAN: ネットワークサーバーに DevEUI を登録 / register the DevEUI in your network server<br><code>${esc(r.device.devEui ?? '—')}</code></p>`
        : r.qr
          ? `<img alt="QR ${esc(r.device.id)}" src="${esc(r.qr)}">`
          : `<p class="note">設定ファイルがありません（鍵はそのまま）。ダッシュボードの「鍵を更新」か <code>hatake kit provision … --device ${esc(r.device.id)}</code> で再発行 / configuration not here (key kept): rotate the key in the dashboard (“Rotate key”) or with <code>--device ${esc(r.device.id)}</code></p>`;
      return `<section class="device">
  <div class="qr">${qr}</div>
  <div class="info">
    <h2>${esc(r.device.name ?? r.device.id)}</h2>
    <dl>
      <dt>ID</dt><dd><code>${esc(r.device.id)}</code></dd>
      <dt>キット / Kit</dt><dd>${esc(r.kit ? `${r.kit.name.ja} / ${r.kit.name.en}` : r.device.kit)}</dd>
      <dt>圃場 / Field</dt><dd>${esc(r.fieldName ?? r.device.field ?? '—')}</dd>
      <dt>位置 / Position</dt><dd>${esc(r.device.position ? r.device.position.join(', ') : '—')}${r.device.depth !== undefined ? ` · 深さ depth ${esc(r.device.depth)} m` : ''}</dd>
      ${r.topic ? `<dt>トピック / Topic</dt><dd><code>${esc(r.topic)}</code></dd>` : ''}
    </dl>
  </div>
</section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(manifest.farm.name)} — 機器設置シート / Device installation sheet</title>
<style>
  body { font-family: system-ui, 'Hiragino Sans', 'Noto Sans JP', sans-serif; margin: 1.5rem; color: #111; }
  header p { margin: 0.2rem 0; }
  .warn { color: #8a1c1c; font-weight: 600; }
  .device { display: flex; gap: 1.2rem; border: 1px solid #999; border-radius: 6px; padding: 0.8rem; margin: 0.8rem 0; page-break-inside: avoid; }
  .qr img { width: 220px; height: 220px; image-rendering: pixelated; }
  .qr .note { width: 220px; font-size: 0.85rem; }
  h2 { margin: 0 0 0.4rem; font-size: 1.1rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 0.8rem; margin: 0; }
  dt { color: #555; }
  code { font-size: 0.85rem; word-break: break-all; }
</style>
</head>
<body>
<header>
  <h1>${esc(manifest.farm.name)} <small>(${esc(manifest.farm.id)})</small></h1>
  <p>機器設置シート / Device installation sheet · ${esc(farmDate(now, manifest.farm.timezone))} · ${rows.length} 台 / devices</p>
  <p class="warn">QR コードには機器の秘密鍵が含まれます。設置後は安全に保管または破棄してください。 The QR codes contain device secrets: keep this sheet safe, shred it after installing.</p>
</header>
${body}
</body>
</html>
`;
}

export interface ProvisionFilesOptions {
  manifest: Manifest;
  catalogue: Catalogue;
  outDir: string;
  broker: Required<BrokerAddress>;
  /** Rotate only this device's secret (others keep theirs). */
  device?: string;
  now?: number;
}

export interface ProvisionFilesResult {
  registryFile: string;
  sheetFile: string;
  /** Devices that got a new secret now (new, or rotated). */
  issued: string[];
  /** Devices whose secret was kept. */
  kept: string[];
  /** Files written that hold a secret. */
  secretFiles: string[];
}

/** Provisions a manifest's devices into a folder; re-running keeps secrets unless `device` rotates one. */
export async function provisionFiles(opts: ProvisionFilesOptions): Promise<ProvisionFilesResult> {
  const { manifest, catalogue, outDir } = opts;
  const now = opts.now ?? Date.now();
  if (opts.device !== undefined && !manifest.devices.some((d) => d.id === opts.device)) {
    throw new HatakeError('HATAKE_E_UNKNOWN_DEVICE', `device "${opts.device}" is not in the manifest`, {
      expected: manifest.devices.map((d) => d.id).join(', '),
    });
  }
  for (const d of manifest.devices) catalogue.require(d.kit);
  const devicesDir = join(outDir, 'devices');
  mkdirSync(devicesDir, { recursive: true, mode: 0o700 });
  const registryFile = join(outDir, 'registry.json');
  let keep: Registry | undefined;
  if (existsSync(registryFile)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(registryFile, 'utf8'));
    } catch (e) {
      throw new HatakeError('HATAKE_E_CONFIG', `existing registry cannot be read: ${(e as Error).message}`, {
        place: { file: registryFile },
        expected: 'a registry written by hatake kit provision (move it away to start afresh)',
      });
    }
    keep = registryValidator.parse(raw, `registry ${registryFile}`, 'HATAKE_E_CONFIG');
  }
  const { registry, secrets } = provisionRegistry(manifest, keep, {
    catalogue,
    rotate: opts.device !== undefined ? [opts.device] : [],
    now,
  });
  const secretFiles: string[] = [];
  for (const d of manifest.devices) {
    const secret = secrets[d.id];
    if (secret === undefined) continue;
    const kit = catalogue.require(d.kit);
    const config = deviceConfig(manifest, d, kit, secret, opts.broker, now);
    const files: Array<[string, string | Uint8Array]> = [
      [join(devicesDir, `${d.id}.json`), `${JSON.stringify(config, null, 2)}\n`],
      [join(devicesDir, `${d.id}.esphome.yaml`), esphomeSnippet(config, kit)],
      [join(devicesDir, `${d.id}.png`), await configQrPng(config)],
    ];
    for (const [file, data] of files) {
      writeFileAtomic(file, data);
      secretFiles.push(file);
    }
  }
  // The registry last: the gateway starts accepting a new secret only once its files exist.
  writeFileAtomic(registryFile, `${JSON.stringify(registry, null, 2)}\n`);
  const fieldNames = new Map(manifest.fields.map((f) => [f.id, f.name]));
  const rows: SheetRow[] = [];
  for (const d of manifest.devices) {
    const kit = catalogue.get(d.kit);
    const lorawan = kit?.transport === 'lorawan';
    let qr: string | undefined;
    let topic: string | undefined;
    const file = join(devicesDir, `${d.id}.json`);
    if (!lorawan && existsSync(file)) {
      try {
        const config: unknown = JSON.parse(readFileSync(file, 'utf8'));
        if (configValidator.check(config) && config.farm === manifest.farm.id && config.device === d.id) {
          qr = await QRCode.toDataURL(JSON.stringify(config), {
            errorCorrectionLevel: 'M',
            margin: 2,
            scale: 4,
          });
          topic = config.mqtt.topic;
        }
      } catch {
        // An unreadable old file: the sheet says to rotate that device.
      }
    }
    rows.push({
      device: d,
      kit,
      fieldName: d.field ? fieldNames.get(d.field) : undefined,
      qr,
      topic,
      lorawan,
    });
  }
  const sheetFile = join(outDir, 'sheet.html');
  writeFileAtomic(sheetFile, sheetHtml(manifest, rows, now));
  secretFiles.push(sheetFile);
  return {
    registryFile,
    sheetFile,
    issued: Object.keys(secrets),
    kept: registry.devices.filter((d) => d.secretHash && secrets[d.id] === undefined).map((d) => d.id),
    secretFiles,
  };
}
