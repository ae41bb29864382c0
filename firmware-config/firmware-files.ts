// The files `hatake kit provision` writes: for each device a JSON configuration (broker, TLS,
// topic, username, secret, interval), an ESPHome `mqtt:` + sensor snippet and a QR code of the
// JSON for installing in the field; a printable HTML sheet of all devices with their QR codes; and
// the gateway's registry (hashed secrets only), which a running gateway picks up by itself.
// Re-provisioning keeps secrets and writes a device's files again only when what they say has
// changed (e.g. a new --host or --port). Files holding a secret are written 0600; secrets are
// never printed or logged.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { Document, type Scalar, type YAMLMap } from 'yaml';
import { HatakeError } from '../protocol/errors.ts';
import type { Kit } from '../protocol/kit.ts';
import type { BrokerAddress, DeviceEntry, Manifest } from '../protocol/manifest.ts';
import { isMetricName, METRICS } from '../protocol/metrics.ts';
import { DEVICE_CONFIG_FORMAT, DeviceConfig, Registry, verifySecret } from '../protocol/registry.ts';
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

/** An ESPHome id: [a-z0-9_], never starting with a digit (ESPHome refuses that). */
const cIdent = (s: string) => {
  const id = s.replace(/[^a-z0-9_]/g, '_');
  return /^[0-9]/.test(id) ? `d_${id}` : id;
};

/** A C++ string literal; control characters as octal escapes, `?` escaped (no trigraphs). */
function cString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\' || ch === '"' || ch === '?') out += `\\${ch}`;
    else if (c < 0x20 || c === 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A C++ literal for a constant of a command payload, or undefined when it is not a scalar. */
function cLiteral(v: unknown): string | undefined {
  if (typeof v === 'string') return cString(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

/** Units of a command parameter that make a timed command: the device undoes it itself after that long. */
const TIME_UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['s', 1000],
  ['min', 60_000],
  ['h', 3_600_000],
]);
/** A deadline is kept in millis(): differences must fit an int32. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A kit's actuator state (e.g. the water gate's valve_state) as an ESPHome template switch. */
interface StateSwitch {
  metric: string;
  id: string;
  /** Globals of a timed command's deadline (millis()) and whether one is running. */
  closeAt: string;
  timed: string;
  /** A kit metric in a timer's unit (e.g. open_minutes_left) reported from the deadline. */
  left?: { metric: string; unitMs: number };
  hasTimer: boolean;
}

/** One command of the kit, as a branch of the `down` handler. */
interface CommandBranch {
  name: string;
  conditions: string[];
  body: string[];
  example: string;
}

/** How a kit's commands map onto switches; empty for a kit that takes none. */
function actuatorPlan(kit: Kit, dev: string) {
  const switches = new Map<string, StateSwitch>();
  const commands = Object.entries(kit.commands ?? {});
  for (const [, c] of commands) {
    const e = c.expect;
    if (!e || (e.value !== 0 && e.value !== 1) || switches.has(e.metric)) continue;
    const id = `${dev}_${cIdent(e.metric)}`;
    switches.set(e.metric, {
      metric: e.metric,
      id,
      closeAt: `${id}_close_at`,
      timed: `${id}_timed`,
      hasTimer: false,
    });
  }
  const branches: CommandBranch[] = [];
  for (const [name, c] of commands) {
    const conditions: string[] = [];
    const body: string[] = [];
    // The payload as the gateway sends it, a parameter shown by its name: {"command":"open","minutes":<minutes>}.
    const example: string[] = [];
    const ranges: string[] = [];
    let unsupported = false;
    let timer: { param: string; unitMs: number } | undefined;
    for (const [key, v] of Object.entries(c.payload)) {
      const m = typeof v === 'string' ? /^\$\{([a-z][a-z0-9_]*)\}$/.exec(v) : null;
      const spec = m && c.params && Object.hasOwn(c.params, m[1]!) ? c.params[m[1]!]! : undefined;
      if (m && spec) {
        const param = m[1]!;
        const type = spec.type === 'integer' ? 'int' : 'float';
        const local = `p_${param}`;
        conditions.push(`x[${cString(key)}].is<${type}>()`);
        body.push(
          `const ${type} ${local} = x[${cString(key)}].as<${type}>();`,
          `if (${local} < ${spec.min} || ${local} > ${spec.max}) {`,
          `  ESP_LOGW("hatake", "%s", ${cString(`${name}: ${param} out of range`)});`,
          '  return;',
          '}',
        );
        example.push(`${JSON.stringify(key)}:<${param}>`);
        ranges.push(`${param} ${spec.min}–${spec.max}${spec.unit ? ` ${spec.unit}` : ''}`);
        const unitMs = spec.unit !== undefined ? TIME_UNIT_MS.get(spec.unit) : undefined;
        if (!timer && unitMs !== undefined && spec.max * unitMs <= MAX_TIMER_MS) timer = { param, unitMs };
        continue;
      }
      const literal = cLiteral(v);
      if (literal === undefined) unsupported = true;
      else conditions.push(`x[${cString(key)}] == ${literal}`);
      example.push(`${JSON.stringify(key)}:${JSON.stringify(v)}`);
    }
    const sw = c.expect ? switches.get(c.expect.metric) : undefined;
    if (unsupported || conditions.length === 0) {
      // A payload with nested values (or none) cannot be told apart here: the installer maps it.
      branches.push({ name, conditions: [], body: [], example: `{${example.join(',')}}` });
      continue;
    }
    if (sw && c.expect!.value === 1) {
      body.push(`id(${sw.id}).turn_on();`);
      if (timer) {
        sw.hasTimer = true;
        body.push(
          `id(${sw.closeAt}) = millis() + (uint32_t) p_${timer.param} * ${timer.unitMs}UL;`,
          `id(${sw.timed}) = true;`,
        );
      } else body.push(`id(${sw.timed}) = false;`);
    } else if (sw) {
      body.push(`id(${sw.timed}) = false;`, `id(${sw.id}).turn_off();`);
    } else {
      body.push(
        `// ${name}: ${c.expect ? `expects ${c.expect.metric} = ${c.expect.value}` : 'no state to report'} — act on it here.`,
        `ESP_LOGI("hatake", "%s", ${cString(`command ${name}`)});`,
      );
    }
    body.push('return;');
    const shown = `{${example.join(',')}}${ranges.length ? ` (${ranges.join(', ')})` : ''}`;
    branches.push({ name, conditions, body, example: shown });
  }
  // The most specific payload first: {"command":"open","minutes":N} before {"command":"open"}.
  branches.sort((a, b) => b.conditions.length - a.conditions.length);
  // A kit metric in a timer's unit is the time left of that switch's timed command.
  const stateMetrics = new Set(switches.keys());
  const timedSwitches = [...switches.values()].filter((s) => s.hasTimer);
  if (timedSwitches.length === 1) {
    const timeMetrics = Object.entries(kit.metrics).filter(
      ([m, def]) => !stateMetrics.has(m) && TIME_UNIT_MS.has(def.unit),
    );
    if (timeMetrics.length === 1) {
      const [metric, def] = timeMetrics[0]!;
      timedSwitches[0]!.left = { metric, unitMs: TIME_UNIT_MS.get(def.unit)! };
    }
  }
  return { switches: [...switches.values()], branches };
}

/**
 * An ESPHome configuration for the device: the `mqtt:` block, a template sensor per metric and the
 * publishing interval; for an actuator, a switch per state it reports and a handler for its
 * commands. It publishes only where the gateway lets this device publish — readings on its `up`
 * topic, online/offline on its `status` topic — and subscribes only to its `down` topic: the
 * gateway closes the connection on any other topic, so ESPHome's own topics are all turned off.
 */
export function esphomeSnippet(config: DeviceConfig, kit: Kit): string {
  const dev = cIdent(config.device);
  const { qos, topic: up, statusTopic: status, commandTopic: down } = config.mqtt;
  const { switches, branches } = actuatorPlan(kit, dev);
  const fromSwitch = new Set(switches.flatMap((s) => (s.left ? [s.metric, s.left.metric] : [s.metric])));
  const calibrated = new Map<string, string[]>();
  for (const c of kit.calibration ?? [])
    calibrated.set(c.metric, [...(calibrated.get(c.metric) ?? []), c.from]);
  const sensors = Object.entries(kit.metrics).filter(([m]) => !fromSwitch.has(m));
  const id = (m: string) => `${dev}_${cIdent(m)}`;
  const label = (m: string) => {
    const own = kit.metrics[m]?.name;
    if (own) return `${own.ja} ${own.en}`;
    return isMetricName(m) ? `${METRICS[m].ja} ${METRICS[m].en}` : m;
  };
  const key = (m: string) => `root["values"][${cString(m)}]`;
  const stateLines = switches.flatMap((s) => [
    `${key(s.metric)} = id(${s.id}).state ? 1 : 0;`,
    ...(s.left
      ? [
          `${key(s.left.metric)} = id(${s.timed}) && (int32_t) (id(${s.closeAt}) - millis()) > 0 ? (int) ((id(${s.closeAt}) - millis() + ${s.left.unitMs - 1}UL) / ${s.left.unitMs}UL) : 0;`,
        ]
      : []),
  ]);
  const sensorLines = sensors.map(
    ([m]) => `if (!std::isnan(id(${id(m)}).state)) ${key(m)} = id(${id(m)}).state;`,
  );
  const publish = (lines: string[]) => ({
    'mqtt.publish_json': { topic: up, qos, retain: false, payload: lines.join('\n') },
  });
  const timers = switches.filter((s) => s.hasTimer);
  const mqtt: Record<string, unknown> = {
    broker: config.mqtt.host,
    port: config.mqtt.port,
    username: config.mqtt.username,
    password: config.mqtt.secret,
    client_id: config.mqtt.clientId,
    topic_prefix: null,
    discovery: false,
    discover_ip: false,
    log_topic: null,
    birth_message: { topic: status, payload: 'online', qos, retain: true },
    will_message: { topic: status, payload: 'offline', qos, retain: true },
    shutdown_message: { topic: status, payload: 'offline', qos, retain: true },
  };
  if (branches.length > 0) {
    // An actuator starts each connection with a clean session: a command queued for it while it
    // was away (an `open` hours old, after the gateway's automation gave up on it) must not be
    // delivered late and open a gate no one is watching. The gateway resends what it still wants
    // and checks the reported state.
    mqtt.clean_session = true;
    const table = branches.map((b) => {
      const c = kit.commands![b.name]!;
      return `//   ${b.name}: ${b.example}${c.expect ? ` → ${c.expect.metric} = ${c.expect.value}` : ''}`;
    });
    const code = [
      `// The gateway's commands for ${config.device} (kit ${kit.id}), as JSON:`,
      ...table,
      ...branches.flatMap((b) =>
        b.conditions.length === 0
          ? [`// ${b.name}: map this payload yourself.`]
          : [`if (${b.conditions.join(' && ')}) {  // ${b.name}`, ...b.body.map((l) => `  ${l}`), '}'],
      ),
      'ESP_LOGW("hatake", "command not understood");',
    ];
    mqtt.on_json_message = [
      {
        topic: down,
        qos,
        // The state right after every command, so the gateway confirms it at once (also when it
        // was already in that state).
        then: [{ lambda: `${code.join('\n')}\n` }, publish(stateLines)],
      },
    ];
  }
  const doc: Record<string, unknown> = { mqtt };
  if (timers.length > 0) {
    doc.globals = timers.flatMap((s) => [
      { id: s.closeAt, type: 'uint32_t', restore_value: false, initial_value: '0' },
      { id: s.timed, type: 'bool', restore_value: false, initial_value: 'false' },
    ]);
  }
  if (sensors.length > 0) {
    doc.sensor = sensors.map(([m, def]) => ({
      platform: 'template',
      id: id(m),
      name: label(m),
      internal: true,
      unit_of_measurement: def.unit,
      accuracy_decimals:
        def.resolution !== undefined ? Math.max(0, Math.min(6, Math.ceil(-Math.log10(def.resolution)))) : 2,
      update_interval: 'never',
    }));
  }
  if (switches.length > 0) {
    doc.switch = switches.map((s) => ({
      platform: 'template',
      id: s.id,
      name: label(s.metric),
      internal: true,
      optimistic: true,
      restore_mode: 'ALWAYS_OFF',
      on_turn_off: [{ lambda: `id(${s.timed}) = false;` }],
    }));
  }
  const interval: unknown[] = [
    {
      interval: `${config.interval}s`,
      then:
        stateLines.length > 0
          ? [publish([...stateLines, ...sensorLines])]
          : [
              {
                if: {
                  // Nothing to send until a sensor has a value (the gateway needs at least one).
                  condition: {
                    lambda: `return ${sensors.map(([m]) => `!std::isnan(id(${id(m)}).state)`).join(' || ')};`,
                  },
                  then: [publish(sensorLines)],
                },
              },
            ],
    },
  ];
  for (const s of timers) {
    interval.push({
      interval: '1s',
      then: [
        {
          if: {
            condition: { lambda: `return id(${s.timed}) && (int32_t) (millis() - id(${s.closeAt})) >= 0;` },
            then: [{ 'switch.turn_off': s.id }, publish(stateLines)],
          },
        },
      ],
    });
  }
  doc.interval = interval;
  const yaml = new Document(doc);
  const mqttNode = yaml.get('mqtt', true) as YAMLMap<Scalar<string>>;
  const keyOf = (k: string) => mqttNode.items.find((p) => p.key.value === k)?.key;
  keyOf('topic_prefix')!.commentBefore = [
    ' The gateway lets this device publish only to',
    `   ${up} (readings) and`,
    `   ${status} (online / offline)`,
    ' and subscribe only to',
    `   ${down} (commands);`,
    ' it closes the connection on any other topic. So ESPHome’s own topics stay off: no',
    ' topic_prefix (entity state topics), discovery, discover_ip (esphome/discover) or log topic,',
    ' and every entity is internal.',
  ].join('\n');
  sensors.forEach(([m], i) => {
    const from = calibrated.get(m);
    if (!from) return;
    (yaml.getIn(['sensor', i], true) as YAMLMap).commentBefore = [
      ` ${m}: only if your probe measures it itself. Otherwise send ${from.join(' or ')}:`,
      ` the gateway computes ${m} with its calibration (the device's own in the manifest,`,
      ` else the kit's), which replaces a ${m} sent in the same message.`,
    ].join('\n');
  });
  switches.forEach((s, i) => {
    (yaml.getIn(['switch', i], true) as YAMLMap).commentBefore = [
      ` ${s.metric}: on = 1, off = 0, reported after every command and every ${config.interval} s.`,
      ' Drive your relay or motor from it: add turn_on_action: / turn_off_action: here (e.g.',
      ' - switch.turn_on: relay_open), or give your own switch this id and these lines.',
      ' It starts off after a reboot: a timed command’s deadline is not kept across one.',
    ].join('\n');
  });
  const header = [
    `# hatake: ESPHome configuration for device "${config.device}" (kit ${kit.id}), farm ${config.farm}.`,
    '# 秘密情報を含みます。取り扱いに注意してください。 Contains the device secret: keep it private.',
    '# Merge into your device YAML; replace each `platform: template` sensor with your real sensor',
    '# platform (adc, dallas_temp, sht3x, …) keeping its id and `internal: true`, or publish its',
    '# state from a lambda. Publish nowhere else: see the note under mqtt:.',
    ...(config.mqtt.tls
      ? ['# TLS: add `certificate_authority:` (esp-idf) with the gateway CA under mqtt:.']
      : []),
  ];
  return `${header.join('\n')}\n${yaml.toString({ lineWidth: 0 })}`;
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

/** A device's config file as provisioning wrote it, or undefined (missing, unreadable, another device's). */
function readConfig(file: string, farm: string, device: string): DeviceConfig | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  try {
    const config: unknown = JSON.parse(text);
    return configValidator.check(config) && config.farm === farm && config.device === device
      ? config
      : undefined;
  } catch {
    return undefined;
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * What differs between two configs of one device, as `host a → b` (mqtt.* without the prefix),
 * leaving out when each was issued and the secret (the same by construction, and never shown).
 */
function configChanges(old: DeviceConfig, next: DeviceConfig): string[] {
  const flat = (c: DeviceConfig) => {
    const { issuedAt: _i, mqtt, ...top } = c;
    const { secret: _s, ...conn } = mqtt;
    return new Map<string, unknown>([...Object.entries(conn), ...Object.entries(top)]);
  };
  const a = flat(old);
  const b = flat(next);
  const changes: string[] = [];
  for (const [k, v] of b) if (a.get(k) !== v) changes.push(`${k} ${String(a.get(k))} → ${String(v)}`);
  return changes;
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
  /**
   * Devices whose secret was kept but whose files were written again because what they say
   * changed (broker host, port or TLS, kit, interval, …, or the ESPHome snippet), with what
   * changed, e.g. `host 192.168.1.10 → 10.0.0.99`. Never a secret.
   */
  updated: Array<{ device: string; changes: string[] }>;
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
  const updated: ProvisionFilesResult['updated'] = [];
  const hashes = new Map(registry.devices.map((d) => [d.id, d.secretHash]));
  for (const d of manifest.devices) {
    const kit = catalogue.require(d.kit);
    const jsonFile = join(devicesDir, `${d.id}.json`);
    const yamlFile = join(devicesDir, `${d.id}.esphome.yaml`);
    const pngFile = join(devicesDir, `${d.id}.png`);
    const secret = secrets[d.id];
    const writes: Array<[string, string | Uint8Array]> = [];
    if (secret !== undefined) {
      const config = deviceConfig(manifest, d, kit, secret, opts.broker, now);
      writes.push(
        [jsonFile, `${JSON.stringify(config, null, 2)}\n`],
        [yamlFile, esphomeSnippet(config, kit)],
        [pngFile, await configQrPng(config)],
      );
    } else {
      // A kept secret: the files are written again when what they say has changed (a new broker
      // address, another kit, …), with the secret they hold — if the registry still has it.
      const hash = hashes.get(d.id);
      if (hash === undefined) continue; // LoRaWAN: no files
      const old = readConfig(jsonFile, manifest.farm.id, d.id);
      if (old === undefined || !verifySecret(old.mqtt.secret, hash)) continue;
      const next = deviceConfig(manifest, d, kit, old.mqtt.secret, opts.broker, now);
      const changes = configChanges(old, next);
      const config = changes.length > 0 ? next : old;
      if (changes.length > 0) {
        writes.push([jsonFile, `${JSON.stringify(config, null, 2)}\n`], [pngFile, await configQrPng(config)]);
      } else if (!existsSync(pngFile)) {
        writes.push([pngFile, await configQrPng(config)]);
        changes.push('QR code');
      }
      const snippet = esphomeSnippet(config, kit);
      if (changes.length > 0 || readText(yamlFile) !== snippet) {
        writes.push([yamlFile, snippet]);
        if (changes.length === 0) changes.push('ESPHome snippet');
      }
      if (changes.length > 0) updated.push({ device: d.id, changes });
    }
    for (const [file, data] of writes) {
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
    // A missing or unreadable file: the sheet says to rotate that device.
    const config = lorawan ? undefined : readConfig(join(devicesDir, `${d.id}.json`), manifest.farm.id, d.id);
    if (config) {
      qr = await QRCode.toDataURL(JSON.stringify(config), {
        errorCorrectionLevel: 'M',
        margin: 2,
        scale: 4,
      });
      topic = config.mqtt.topic;
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
    updated,
    secretFiles,
  };
}
