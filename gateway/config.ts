// The gateway's configuration file, validated, with defaults filled and paths made absolute.
// Defaults suit a Raspberry Pi with an SD card and a few hundred devices.
import { readFileSync, statSync } from 'node:fs';
import { GatewayConfig, RemoteGatewayConfig, type ExternalTopicFormat } from '../protocol/gateway-config.ts';
import { HatakeError } from '../protocol/errors.ts';
import { validator } from '../protocol/validate.ts';
import { placeOf, readYaml } from '../protocol/yaml.ts';
import { loadYamlFile, readConfigText, resolveFrom } from '../runtime/config-file.ts';
import { resolveRulesConfig, type RulesConfig } from '../edge/rules/index.ts';

export interface ResolvedGatewayConfig {
  id: string;
  dataDir: string;
  manifest: string;
  registry: string;
  kits: string[];
  /** Vendor codec folders, absolute, in the order they are searched (after each kit's own folder). */
  codecs: string[];
  mqtt: {
    enabled: boolean;
    host: string;
    port: number;
    maxPayloadBytes: number;
    maxPacketBytes: number;
    maxConnections: number;
    maxInflightPerDevice: number;
    rate: { perSecond: number; burst: number };
    /** The limit for imagery providers, whose scenes come in thousands of chunks. */
    providerRate: { perSecond: number; burst: number };
    tls: { port: number; cert: string; key: string } | undefined;
    websocket: { port: number; path: string } | undefined;
  };
  external:
    | {
        url: string;
        username?: string;
        password?: string;
        clientId: string;
        ca?: string;
        topics: { filter: string; format: ExternalTopicFormat }[];
      }
    | undefined;
  http: { host: string; port: number };
  storage: { maxDbBytes: number; minFreeBytes: number };
  retention: { rawMs: number; hourlyMs: number; deadLetters: number };
  /**
   * retention.minRawDays: under storage pressure raw readings younger than this are never rolled
   * up early. Set in the file only (not among the tunables the server may send down).
   */
  minRawMs: number;
  /** storage.commitThreadFrom: group size that starts the commit writer thread (file only; unset: never). */
  commitThreadFrom: number | undefined;
  /** storage.commitWindowMs: how long a slow reporter's message may wait to share a commit (file only). */
  commitWindowMs: number;
  health: { offlineAfterIntervals: number };
  server: { url: string; token: string; ca?: string; publicKey?: string } | undefined;
  sync: {
    intervalMs: number;
    batchMaxItems: number;
    batchMaxBytes: number;
    batchDelayMs: number;
    backoffCapMs: number;
    requestTimeoutMs: number;
    maxOutboxBytes: number;
    aggregateAfterMs: number;
    downlinkIntervalMs: number;
  };
  /** The tip rules' settings as the file gives them (checked against each rule's schema). */
  rules: RulesConfig;
}

const configValidator = validator(GatewayConfig);
/** Card wear against PUBACK latency: see commitWindowMs in protocol/gateway-config.ts. */
export const DEFAULT_COMMIT_WINDOW_MS = 500;
const DAY = 86_400_000;
/** The rules read 48 h of raw readings and 14 days of raw weather (gateway/tips.ts). */
const DEFAULT_MIN_RAW_DAYS = 14;
const MB = 1024 * 1024;
/**
 * Imagery providers' publish limit: 50 chunks a second (up to 12.8 MB/s at the 256 KiB packet
 * limit, more than a Pi's SD card writes) and a burst of 200, so a 512 MiB scene arrives in
 * minutes while a misbehaving provider is still cut off.
 */
const DEFAULT_PROVIDER_RATE = { perSecond: 50, burst: 200 };

/** Reads a file a config names (a token, a key); a missing one is a coded error at its setting. */
const readConfigFile = (baseFile: string, file: string, pointer: string): string =>
  readConfigText(
    resolveFrom(baseFile, file),
    { file: baseFile, pointer },
    'a readable file (paths are relative to the config file)',
  );

/** A codec folder the config names, made absolute; one that is not a readable folder is a coded error. */
function codecFolder(baseFile: string, dir: string, pointer: string): string {
  const path = resolveFrom(baseFile, dir);
  let problem: string | undefined;
  try {
    if (!statSync(path).isDirectory()) problem = 'is not a folder';
  } catch (e) {
    problem = `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (problem) {
    throw new HatakeError('HATAKE_E_CONFIG', `codec folder ${path} ${problem}`, {
      place: { file: baseFile, pointer },
      expected:
        'a folder of vendor codecs laid out as vendor/file.js (paths are relative to the config file)',
    });
  }
  return path;
}

const readSecret = (
  baseFile: string,
  inline: string | undefined,
  file: string | undefined,
  pointer: string,
) => inline ?? (file ? readConfigFile(baseFile, file, pointer).trim() : undefined);

/** The `rules:` section, checked now so a bad threshold stops the gateway at start, at its key. */
function rulesSection(c: GatewayConfig['rules'], baseFile: string): RulesConfig {
  const rules: RulesConfig = { disabled: c?.disabled, params: c?.params };
  try {
    resolveRulesConfig(rules);
  } catch (e) {
    if (!(e instanceof HatakeError)) throw e;
    throw new HatakeError('HATAKE_E_CONFIG', e.message, {
      place: { file: baseFile, pointer: `/rules${e.place?.pointer ?? ''}` },
      expected: e.expected,
      cause: e,
    });
  }
  return rules;
}

/** Fills defaults and resolves relative paths against `baseFile`'s folder. */
export function resolveGatewayConfig(c: GatewayConfig, baseFile: string): ResolvedGatewayConfig {
  let server: ResolvedGatewayConfig['server'];
  if (c.server) {
    const token = readSecret(baseFile, c.server.token, c.server.tokenFile, '/server/tokenFile');
    if (!token) {
      throw new HatakeError('HATAKE_E_CONFIG', 'server needs a token or a tokenFile', {
        place: { file: baseFile, pointer: '/server' },
        expected: 'server.token or server.tokenFile (see `hatake gateway register`)',
      });
    }
    server = {
      url: c.server.url,
      token,
      ca: c.server.ca ? resolveFrom(baseFile, c.server.ca) : undefined,
      publicKey: c.server.publicKeyFile
        ? readConfigFile(baseFile, c.server.publicKeyFile, '/server/publicKeyFile')
        : undefined,
    };
  }
  const m = c.mqtt ?? {};
  const e = c.external;
  const t = resolveTunables(c);
  return {
    id: c.id,
    dataDir: resolveFrom(baseFile, c.dataDir),
    manifest: resolveFrom(baseFile, c.manifest),
    registry: resolveFrom(baseFile, c.registry),
    kits: (c.kits ?? []).map((k) => resolveFrom(baseFile, k)),
    codecs: (c.codecs ?? []).map((d, i) => codecFolder(baseFile, d, `/codecs/${i}`)),
    mqtt: {
      enabled: m.enabled ?? true,
      host: m.host ?? '0.0.0.0',
      port: m.port ?? 1883,
      maxPayloadBytes: m.maxPayloadBytes ?? 16 * 1024,
      maxPacketBytes: m.maxPacketBytes ?? 256 * 1024,
      maxConnections: m.maxConnections ?? 2000,
      maxInflightPerDevice: m.maxInflightPerDevice ?? 100,
      rate: t.rate,
      providerRate: { ...(m.providerRate ?? DEFAULT_PROVIDER_RATE) },
      tls: m.tls
        ? { port: m.tls.port, cert: resolveFrom(baseFile, m.tls.cert), key: resolveFrom(baseFile, m.tls.key) }
        : undefined,
      websocket: m.websocket ? { port: m.websocket.port, path: m.websocket.path ?? '/mqtt' } : undefined,
    },
    external: e
      ? {
          url: e.url,
          username: e.username,
          password: readSecret(baseFile, e.password, e.passwordFile, '/external/passwordFile'),
          clientId: e.clientId ?? `hatake-${c.id}`,
          ca: e.ca ? resolveFrom(baseFile, e.ca) : undefined,
          topics: e.topics,
        }
      : undefined,
    http: { host: c.http?.host ?? '0.0.0.0', port: c.http?.port ?? 8081 },
    storage: t.storage,
    retention: t.retention,
    minRawMs: (c.retention?.minRawDays ?? DEFAULT_MIN_RAW_DAYS) * DAY,
    commitThreadFrom: c.storage?.commitThreadFrom,
    commitWindowMs: c.storage?.commitWindowMs ?? DEFAULT_COMMIT_WINDOW_MS,
    health: t.health,
    sync: t.sync,
    server,
    rules: rulesSection(c.rules, baseFile),
  };
}

/** The sections the server may also set (RemoteGatewayConfig), with their defaults filled. */
export type GatewayTunables = Pick<ResolvedGatewayConfig, 'storage' | 'retention' | 'health' | 'sync'> & {
  rate: ResolvedGatewayConfig['mqtt']['rate'];
};

type TunableFile = Pick<GatewayConfig, 'storage' | 'retention' | 'health' | 'sync' | 'mqtt'>;

/** Each tunable: its key in the file → its key once resolved, the factor between them, the default. */
const TUNABLES: Record<
  'storage' | 'retention' | 'health' | 'sync',
  Record<string, [resolved: string, factor: number, fallback: number]>
> = {
  storage: { maxDbMB: ['maxDbBytes', MB, 2048], minFreeMB: ['minFreeBytes', MB, 100] },
  retention: {
    rawDays: ['rawMs', DAY, 90],
    hourlyDays: ['hourlyMs', DAY, 5 * 365],
    deadLetters: ['deadLetters', 1, 10_000],
  },
  health: { offlineAfterIntervals: ['offlineAfterIntervals', 1, 3] },
  sync: {
    intervalMs: ['intervalMs', 1, 1000],
    batchMaxItems: ['batchMaxItems', 1, 1000],
    batchMaxBytes: ['batchMaxBytes', 1, 1024 * 1024],
    batchDelayMs: ['batchDelayMs', 1, 100],
    backoffCapMs: ['backoffCapMs', 1, 60_000],
    requestTimeoutMs: ['requestTimeoutMs', 1, 30_000],
    maxOutboxMB: ['maxOutboxBytes', MB, 512],
    aggregateAfterMinutes: ['aggregateAfterMs', 60_000, 60],
    downlinkIntervalMs: ['downlinkIntervalMs', 1, 60_000],
  },
};

/** The dotted keys a configuration sent down may set ('sync.intervalMs', 'mqtt.rate.burst', …). */
function remoteKeys(schema: unknown, prefix = ''): string[] {
  const props = (schema as { properties?: Record<string, unknown> }).properties;
  if (!props) return prefix ? [prefix] : [];
  return Object.entries(props).flatMap(([k, v]) => remoteKeys(v, prefix ? `${prefix}.${k}` : k));
}
const REMOTE_KEYS = new Set(remoteKeys(RemoteGatewayConfig));

/**
 * The running tunables as a configuration sent down would name them — dotted keys in the file's
 * units (`storage.maxDbMB`, `sync.intervalMs`, `mqtt.rate.perSecond`), only the keys one may set:
 * what the gateway reports as its settings in effect.
 */
export function settingsInEffect(t: GatewayTunables): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [section, keys] of Object.entries(TUNABLES)) {
    const values = t[section as keyof typeof TUNABLES] as unknown as Record<string, number>;
    for (const [key, [resolved, factor]] of Object.entries(keys)) {
      const name = `${section}.${key}`;
      if (REMOTE_KEYS.has(name)) out[name] = values[resolved]! / factor;
    }
  }
  for (const [k, v] of Object.entries(t.rate))
    if (REMOTE_KEYS.has(`mqtt.rate.${k}`)) out[`mqtt.rate.${k}`] = v;
  return out;
}

/**
 * Resolves the tunable sections of a file (or of a configuration sent down): each key it names,
 * in resolved units; each it does not, from `base` (the gateway's running values) or the default.
 */
export function resolveTunables(c: TunableFile, base?: GatewayTunables): GatewayTunables {
  const out: Record<string, Record<string, number>> = {};
  for (const [section, keys] of Object.entries(TUNABLES)) {
    const given = (c[section as keyof typeof TUNABLES] ?? {}) as Record<string, number | undefined>;
    const from = base?.[section as keyof typeof TUNABLES] as Record<string, number> | undefined;
    const o: Record<string, number> = (out[section] = {});
    for (const [key, [resolved, factor, fallback]] of Object.entries(keys)) {
      const v = given[key];
      o[resolved] = v !== undefined ? v * factor : (from?.[resolved] ?? fallback * factor);
    }
  }
  return {
    ...(out as unknown as Omit<GatewayTunables, 'rate'>),
    rate: { ...(c.mqtt?.rate ?? base?.rate ?? { perSecond: 5, burst: 50 }) },
  };
}

export function loadGatewayConfig(file: string): ResolvedGatewayConfig {
  const c = loadYamlFile(file, configValidator);
  try {
    return resolveGatewayConfig(c, file);
  } catch (e) {
    // A problem found after the schema check (a codec folder, a rule's parameter) names its
    // key; give it the line and column too, as the schema's problems have.
    if (!(e instanceof HatakeError) || e.place?.file !== file || !e.place.pointer || e.place.line) throw e;
    const { source } = readYaml(readFileSync(file, 'utf8'), file);
    throw new HatakeError(e.code, e.message, {
      place: { ...e.place, ...placeOf(source, e.place.pointer) },
      expected: e.expected,
      cause: e.cause,
    });
  }
}

/** A complete config for tests and the demo: defaults plus what the caller sets. */
export const DEFAULT_MQTT: ResolvedGatewayConfig['mqtt'] = resolveDefaults().mqtt;

function resolveDefaults(): ResolvedGatewayConfig {
  return resolveGatewayConfig({ id: 'defaults', dataDir: '.', manifest: '.', registry: '.' }, '/');
}

export type GatewayConfigOverrides = Partial<Omit<ResolvedGatewayConfig, 'mqtt' | 'sync'>> & {
  mqtt?: Partial<ResolvedGatewayConfig['mqtt']>;
  sync?: Partial<ResolvedGatewayConfig['sync']>;
};

export function gatewayConfigFor(
  base: { id: string; dataDir: string; manifest: string; registry: string },
  over: GatewayConfigOverrides = {},
): ResolvedGatewayConfig {
  const d = resolveDefaults();
  return { ...d, ...base, ...over, mqtt: { ...d.mqtt, ...over.mqtt }, sync: { ...d.sync, ...over.sync } };
}
