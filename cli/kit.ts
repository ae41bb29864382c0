// `hatake kit …` — for IT partners: list the kit catalogue, check a manifest before driving out,
// provision devices (secrets, firmware configs, QR codes, a printable sheet), decode a payload
// from a device in the field, and build an actuator command. Thin: the work is in firmware-config/.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HatakeError } from '../protocol/errors.ts';
import type { Reading } from '../protocol/telemetry.ts';
import { codecDirsFromEnv, loadCatalogue, type Catalogue } from '../firmware-config/catalogue.ts';
import { checkManifest, installedModels, loadManifest } from '../firmware-config/manifest-check.ts';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';
import { provisionFiles } from '../firmware-config/firmware-files.ts';
import { decodePayload, readingsFromObject } from '../firmware-config/decode.ts';
import { decodeNetworkUplink, isNetworkUplinkTopic } from '../firmware-config/network-uplink.ts';
import { encodeCommand } from '../firmware-config/commands.ts';
import { options } from './main.ts';

const USAGE = `hatake kit — sensor kits for IT partners / センサーキット

  hatake kit list [--kits DIR]…
      The kit catalogue: built-in kits and those in DIR.
  hatake kit validate MANIFEST.yaml [--kits DIR]… [--models DIR]… [--today YYYY-MM-DD]
      Check a farm manifest; every problem with file:line:column. Exit 0 only when valid.
      A field's model and crop profile must be shipped ones or in --models DIR (a gateway's data/models).
  hatake kit provision MANIFEST.yaml --out DIR [--device ID] [--host HOST] [--port N] [--tls]
      Write registry.json (hashed secrets), per-device JSON config, ESPHome snippet and QR code,
      and sheet.html. Existing secrets are kept; --device ID rotates that device's secret only.
  hatake kit decode --kit KIT [--fport N] [--topic TOPIC] [--json] HEX|BASE64|JSON
      Decode a payload (or, with --topic, a network server's uplink event) and print the readings.
  hatake kit command --kit KIT NAME [param=value]…
      Print the JSON command payload for an actuator.

  Vendor codec files are looked up beside each kit file, then in --codecs DIR and HATAKE_CODEC_PATH.
`;

const common = {
  kits: { type: 'string', multiple: true },
  codecs: { type: 'string', multiple: true },
} as const;

function catalogueFrom(values: { kits?: string[]; codecs?: string[] }): Catalogue {
  return loadCatalogue(
    (values.kits ?? []).map((d) => resolve(d)),
    {
      codecDirs: [...(values.codecs ?? []).map((d) => resolve(d)), ...codecDirsFromEnv()],
    },
  );
}

export async function kit(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list':
      return list(rest);
    case 'validate':
      return validate(rest);
    case 'provision':
      return provision(rest);
    case 'decode':
      return decode(rest);
    case 'command':
      return command(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`hatake kit: unknown subcommand "${sub}"\n\n${USAGE}`);
      return 2;
  }
}

function list(args: string[]): number {
  const { values } = options(args, common);
  const catalogue = catalogueFrom(values);
  for (const k of catalogue.kits.values()) {
    const metrics = Object.entries(k.metrics)
      .map(([m, d]) => `${m} (${d.unit})`)
      .join(', ');
    const cmds = Object.keys(k.commands ?? {});
    process.stdout.write(
      `${k.id}\t${k.name.ja} / ${k.name.en}\n  codec ${k.codec}${k.codecFile ? ` (${k.codecFile})` : ''}, every ${k.interval} s, ${k.transport ?? 'mqtt'}\n  ${metrics}\n${cmds.length ? `  commands: ${cmds.join(', ')}\n` : ''}`,
    );
  }
  for (const p of catalogue.problems) process.stdout.write(`warning: ${p.describe()}\n`);
  return 0;
}

function validate(args: string[]): number {
  const { values, positionals } = options(args, {
    ...common,
    today: { type: 'string' },
    models: { type: 'string', multiple: true },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    process.stderr.write(`hatake kit validate: give one manifest file\n\n${USAGE}`);
    return 2;
  }
  if (values.today !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(values.today)) {
    throw new HatakeError('HATAKE_E_CONFIG', `--today ${values.today} is not a date`, {
      expected: 'YYYY-MM-DD',
    });
  }
  const catalogue = catalogueFrom(values);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new HatakeError('HATAKE_E_CONFIG', `cannot read manifest: ${(e as Error).message}`, {
      place: { file },
    });
  }
  const dirs = (values.models ?? []).map((d) => resolve(d));
  const models = installedModels(
    new ModelRegistry({
      modelDirs: [ARTIFACTS_DIR, TRAINED_DIR, ...dirs],
      profileDirs: [PROFILES_DIR, ...dirs],
    }),
  );
  const { problems, manifest } = checkManifest(file, text, { catalogue, today: values.today, models });
  for (const p of problems) process.stdout.write(`${p.describe()}\n`);
  if (manifest) {
    process.stdout.write(
      `✓ 有効なマニフェストです / valid manifest: ${file} (${manifest.fields.length} fields, ${manifest.devices.length} devices)\n`,
    );
    return 0;
  }
  process.stdout.write(
    `✗ ${problems.length} 件の問題 / ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${file}\n`,
  );
  return 1;
}

async function provision(args: string[]): Promise<number> {
  const { values, positionals } = options(args, {
    ...common,
    out: { type: 'string' },
    device: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    tls: { type: 'boolean' },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1 || !values.out) {
    process.stderr.write(`hatake kit provision: give one manifest file and --out DIR\n\n${USAGE}`);
    return 2;
  }
  const catalogue = catalogueFrom(values);
  const manifest = loadManifest(resolve(file), { catalogue });
  const host = values.host ?? manifest.broker?.host;
  if (!host) {
    throw new HatakeError('HATAKE_E_CONFIG', "the gateway's broker address is not known", {
      expected: '--host HOST, or broker: { host: … } in the manifest',
    });
  }
  const tls = values.tls ?? manifest.broker?.tls ?? false;
  const port =
    values.port !== undefined ? Number(values.port) : (manifest.broker?.port ?? (tls ? 8883 : 1883));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new HatakeError('HATAKE_E_CONFIG', `--port ${values.port} is not a port`, { expected: '1…65535' });
  }
  const out = resolve(values.out);
  const r = await provisionFiles({
    manifest,
    catalogue,
    outDir: out,
    broker: { host, port, tls },
    device: values.device,
  });
  const rewritten = new Set(r.updated.map((u) => u.device));
  const unchanged = r.kept.filter((id) => !rewritten.has(id));
  process.stdout.write(
    [
      `registry (hashed secrets only): ${r.registryFile}`,
      r.issued.length
        ? `新しい秘密鍵 / new secrets for: ${r.issued.join(', ')} — in ${out}/devices/<id>.json, .esphome.yaml, .png (0600)`
        : '新しい秘密鍵なし / no new secrets',
      ...r.updated.map(
        (u) => `設定を更新（鍵はそのまま） / rewritten, secret kept: ${u.device} (${u.changes.join(', ')})`,
      ),
      unchanged.length ? `変更なし / unchanged: ${unchanged.join(', ')}` : '',
      `設置シート / sheet: ${r.sheetFile}`,
      '秘密鍵は表示しません。ファイルを安全に扱ってください。 Secrets are not printed: handle these files with care.',
    ]
      .filter(Boolean)
      .join('\n') + '\n',
  );
  return 0;
}

/** Bytes from a hex or base64 argument; undefined for JSON text. */
export function payloadBytes(input: string): Uint8Array | undefined {
  const t = input.trim();
  if (t.startsWith('{')) return undefined;
  const hex = t.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return new Uint8Array(Buffer.from(hex, 'hex'));
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(t) && t.length % 4 === 0) return new Uint8Array(Buffer.from(t, 'base64'));
  throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'payload is neither hex, base64 nor JSON', {
    expected: 'e.g. 0367011005670 0FF (hex), A2cBEAVnAP8= (base64) or {"values": …} (JSON)',
  });
}

function printReadings(readings: Reading[], asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${JSON.stringify(readings, null, 2)}\n`);
    return;
  }
  if (readings.length === 0) process.stdout.write('(読み取り値なし / no readings)\n');
  for (const r of readings) {
    process.stdout.write(
      `${r.metric.padEnd(24)} ${String(r.value).padStart(12)} ${r.unit.padEnd(6)} ${new Date(r.time).toISOString()}${r.flags.length ? `  [${r.flags.join(', ')}]` : ''}\n`,
    );
  }
}

function decode(args: string[]): number {
  const { values, positionals } = options(args, {
    ...common,
    kit: { type: 'string' },
    fport: { type: 'string' },
    topic: { type: 'string' },
    time: { type: 'string' },
    json: { type: 'boolean' },
  });
  const input = positionals.join(' ');
  if (!values.kit || !input) {
    process.stderr.write(`hatake kit decode: give --kit KIT and a payload\n\n${USAGE}`);
    return 2;
  }
  const catalogue = catalogueFrom(values);
  const kit = catalogue.require(values.kit);
  const receivedAt = values.time !== undefined ? Date.parse(values.time) : Date.now();
  if (!Number.isFinite(receivedAt))
    throw new HatakeError('HATAKE_E_CONFIG', `--time ${values.time} is not a time`, { expected: 'ISO 8601' });
  const fPort = values.fport !== undefined ? Number(values.fport) : undefined;
  if (fPort !== undefined && !(Number.isInteger(fPort) && fPort >= 0 && fPort <= 255)) {
    throw new HatakeError('HATAKE_E_CONFIG', `--fport ${values.fport} is not a LoRaWAN port`, {
      expected: '0…255',
    });
  }
  if (values.topic !== undefined) {
    if (!isNetworkUplinkTopic(values.topic)) {
      throw new HatakeError(
        'HATAKE_E_TOPIC',
        `--topic ${values.topic} is not a network-server uplink topic`,
        {
          expected: 'application/{app}/device/{devEui}/event/up or v3/{app}@{tenant}/devices/{id}/up',
        },
      );
    }
    const up = decodeNetworkUplink(values.topic, Buffer.from(input), {
      catalogue,
      lookup: ({ devEui, deviceId }) => ({
        device: (devEui ?? deviceId ?? 'device')
          .slice(0, 64)
          .toLowerCase()
          .replace(/[^a-z0-9_-]/g, '-'),
        kit: kit.id,
      }),
      receivedAt,
    });
    process.stdout.write(
      `${up.server} devEui ${up.devEui ?? '—'} fCnt ${up.fCnt} fPort ${up.fPort} RSSI ${up.radio.rssi ?? '—'} dBm SNR ${up.radio.snr ?? '—'} dB via ${up.radio.gateways.map((g) => g.id).join(', ') || '—'}\n`,
    );
    printReadings(up.readings, values.json ?? false);
    return 0;
  }
  const ctx = { device: 'device', kit, receivedAt, fPort };
  const bytes = payloadBytes(input);
  let readings: Reading[];
  if (bytes) readings = decodePayload(bytes, ctx);
  else if (kit.codec === 'json') readings = decodePayload(new Uint8Array(Buffer.from(input)), ctx);
  else {
    let obj: unknown;
    try {
      obj = JSON.parse(input);
    } catch (e) {
      throw new HatakeError('HATAKE_E_PAYLOAD_JSON', `payload is not JSON: ${(e as Error).message}`);
    }
    readings = readingsFromObject(obj, ctx);
  }
  printReadings(readings, values.json ?? false);
  return 0;
}

function command(args: string[]): number {
  const { values, positionals } = options(args, { ...common, kit: { type: 'string' } });
  const [name, ...pairs] = positionals;
  if (!values.kit || !name) {
    process.stderr.write(`hatake kit command: give --kit KIT and a command name\n\n${USAGE}`);
    return 2;
  }
  const params: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new HatakeError('HATAKE_E_CONFIG', `"${p}" is not param=value`);
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  const cmd = encodeCommand(catalogueFrom(values).require(values.kit), name, params);
  process.stdout.write(`${cmd.payload}\n`);
  return 0;
}
