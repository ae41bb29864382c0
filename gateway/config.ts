// The gateway's configuration file, validated, with defaults filled and paths made absolute.
// Defaults suit a Raspberry Pi with an SD card and a few hundred devices.
import { statSync } from 'node:fs';
import { GatewayConfig, type ExternalTopicFormat } from '../protocol/gateway-config.ts';
import { HatakeError } from '../protocol/errors.ts';
import { validator } from '../protocol/validate.ts';
import { loadYamlFile, readConfigText, resolveFrom } from '../runtime/config-file.ts';

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
}

const configValidator = validator(GatewayConfig);
const DAY = 86_400_000;
const MB = 1024 * 1024;

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
      rate: m.rate ?? { perSecond: 5, burst: 50 },
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
    storage: {
      maxDbBytes: (c.storage?.maxDbMB ?? 2048) * MB,
      minFreeBytes: (c.storage?.minFreeMB ?? 100) * MB,
    },
    retention: {
      rawMs: (c.retention?.rawDays ?? 90) * DAY,
      hourlyMs: (c.retention?.hourlyDays ?? 5 * 365) * DAY,
      deadLetters: c.retention?.deadLetters ?? 10_000,
    },
    health: { offlineAfterIntervals: c.health?.offlineAfterIntervals ?? 3 },
    server,
    sync: {
      intervalMs: c.sync?.intervalMs ?? 1000,
      batchMaxItems: c.sync?.batchMaxItems ?? 1000,
      batchMaxBytes: c.sync?.batchMaxBytes ?? 1024 * 1024,
      batchDelayMs: c.sync?.batchDelayMs ?? 100,
      backoffCapMs: c.sync?.backoffCapMs ?? 60_000,
      requestTimeoutMs: c.sync?.requestTimeoutMs ?? 30_000,
      maxOutboxBytes: (c.sync?.maxOutboxMB ?? 512) * MB,
      aggregateAfterMs: (c.sync?.aggregateAfterMinutes ?? 60) * 60_000,
      downlinkIntervalMs: c.sync?.downlinkIntervalMs ?? 60_000,
    },
  };
}

export function loadGatewayConfig(file: string): ResolvedGatewayConfig {
  return resolveGatewayConfig(loadYamlFile(file, configValidator), file);
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
