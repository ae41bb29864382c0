// The server's configuration file, validated, with defaults and absolute paths. A mistake is
// reported at its file, line and column — for the storage section too, where the schema is a
// union and a generic "expected union value" would not tell an IT partner what to fix, and for
// the map's base layer with what its setting expects (a tile template, checked beyond its schema).
import { isIP } from 'node:net';
import type { TSchema } from '@sinclair/typebox';
import {
  InfluxStorageConfig,
  MapConfig,
  ServerConfig,
  SqliteStorageConfig,
  storageConfigProblems,
  tileTemplateProblem,
  type StorageConfig,
} from '../protocol/server-config.ts';
import { validator } from '../protocol/validate.ts';
import { placedError, readYaml, schemaProblems, toData } from '../protocol/yaml.ts';
import { readConfigText, resolveFrom } from '../runtime/config-file.ts';
import type { ServerOptions } from './server.ts';

const configValidator = validator(ServerConfig);
const storageValidators = {
  sqlite: validator(SqliteStorageConfig),
  influx: validator(InfluxStorageConfig),
} as const;
const mapValidator = validator(MapConfig);

/** Loads and checks `server.yaml`; throws a placed HATAKE_E_CONFIG on the first problem. */
export function loadServerConfig(file: string): ServerOptions & { demo: boolean } {
  const { source, errors } = readYaml(readConfigText(file), file);
  if (errors[0]) throw errors[0];
  const doc: unknown = toData(source);
  const storage = (doc as { storage?: unknown } | null)?.storage;
  if (storage !== undefined) {
    const kind = (storage as { kind?: unknown } | null)?.kind;
    if (kind !== 'sqlite' && kind !== 'influx') {
      throw placedError(source, '/storage/kind', '/storage/kind: unknown storage kind', 'sqlite or influx');
    }
    const p = storageValidators[kind].problems(storage, 1)[0];
    if (p) {
      const pointer = `/storage${p.pointer === '/' ? '' : p.pointer}`;
      throw placedError(
        source,
        pointer,
        `${pointer}: ${p.message}`,
        describeSetting(kind === 'influx' ? InfluxStorageConfig : SqliteStorageConfig, p.pointer),
      );
    }
  }
  const map = (doc as { map?: unknown } | null)?.map;
  if (map !== undefined) {
    const p = mapValidator.problems(map, 1)[0];
    if (p) {
      const pointer = `/map${p.pointer === '/' ? '' : p.pointer}`;
      throw placedError(source, pointer, `${pointer}: ${p.message}`, describeSetting(MapConfig, p.pointer));
    }
    const url = (map as MapConfig).baseLayer?.url;
    const q = url === undefined ? undefined : tileTemplateProblem(url);
    if (q) throw placedError(source, '/map/baseLayer/url', `/map/baseLayer/url: ${q.message}`, q.expected);
  }
  const problem = schemaProblems(source, configValidator, 1, doc)[0];
  if (problem) throw problem;
  const c = doc as ServerConfig;
  if (c.storage) {
    const p = storageConfigProblems(c.storage)[0];
    if (p) throw placedError(source, `/storage${p.pointer}`, `/storage${p.pointer}: ${p.message}`);
  }
  const trust = c.http?.trustProxy;
  if (trust) {
    const bad = trust.findIndex((t) => !isProxyAddress(t));
    if (bad >= 0)
      throw placedError(
        source,
        `/http/trustProxy/${bad}`,
        `/http/trustProxy/${bad}: "${trust[bad]}" is not an address or CIDR range`,
        'an IPv4 or IPv6 address, a CIDR range such as 10.0.0.0/8, or loopback, linklocal, uniquelocal',
      );
  }
  return {
    dataDir: resolveFrom(file, c.dataDir),
    host: c.http?.host ?? '0.0.0.0',
    port: c.http?.port ?? 8080,
    trustProxy: trust,
    maxSceneBytes:
      c.imagery?.maxSceneMB === undefined ? undefined : Math.floor(c.imagery.maxSceneMB * 1024 * 1024),
    secureCookies: c.secureCookies ?? false,
    maxStreamsPerUser: c.live?.maxStreamsPerUser,
    storage: c.storage ? resolveStoragePaths(file, c.storage) : undefined,
    map: c.map,
    demo: c.demo ?? false,
  };
}

/** An address, a CIDR range or one of proxy-addr's named ranges. */
function isProxyAddress(s: string): boolean {
  if (s === 'loopback' || s === 'linklocal' || s === 'uniquelocal') return true;
  const [addr, bits, ...rest] = s.split('/');
  const v = isIP(addr ?? '');
  if (v === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128);
}

/** The schema's description of the setting a JSON pointer names, as a hint of what is expected. */
function describeSetting(schema: TSchema, pointer: string): string | undefined {
  let s: TSchema | undefined = schema;
  for (const key of pointer.split('/').slice(1))
    s = (s?.properties as Record<string, TSchema> | undefined)?.[key];
  return typeof s?.description === 'string' ? s.description : undefined;
}

/** Makes the storage section's file paths absolute against the config file's folder. */
function resolveStoragePaths(file: string, s: StorageConfig): StorageConfig {
  if (s.kind === 'influx' && s.passwordFile !== undefined)
    return { ...s, passwordFile: resolveFrom(file, s.passwordFile) };
  return s;
}
