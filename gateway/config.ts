// The gateway's configuration file, validated, with defaults filled and paths made absolute.
import { readFileSync } from 'node:fs';
import { GatewayConfig } from '../protocol/gateway-config.ts';
import { HatakeError } from '../protocol/errors.ts';
import { validator } from '../protocol/validate.ts';
import { loadYamlFile, resolveFrom } from '../runtime/config-file.ts';

export interface ResolvedGatewayConfig {
  id: string;
  dataDir: string;
  manifest: string;
  registry: string;
  kits: string[];
  mqtt: { host: string; port: number; maxPayloadBytes: number };
  server: { url: string; token: string } | undefined;
  sync: { intervalMs: number; batchMaxItems: number };
}

const configValidator = validator(GatewayConfig);

/** Fills defaults and resolves relative paths against `baseFile`'s folder. */
export function resolveGatewayConfig(c: GatewayConfig, baseFile: string): ResolvedGatewayConfig {
  let server: ResolvedGatewayConfig['server'];
  if (c.server) {
    const token =
      c.server.token ??
      (c.server.tokenFile
        ? readFileSync(resolveFrom(baseFile, c.server.tokenFile), 'utf8').trim()
        : undefined);
    if (!token) {
      throw new HatakeError('HATAKE_E_CONFIG', 'server needs a token or a tokenFile', {
        place: { file: baseFile, pointer: '/server' },
        expected: 'server.token or server.tokenFile (see `hatake gateway register`)',
      });
    }
    server = { url: c.server.url, token };
  }
  return {
    id: c.id,
    dataDir: resolveFrom(baseFile, c.dataDir),
    manifest: resolveFrom(baseFile, c.manifest),
    registry: resolveFrom(baseFile, c.registry),
    kits: (c.kits ?? []).map((k) => resolveFrom(baseFile, k)),
    mqtt: {
      host: c.mqtt?.host ?? '0.0.0.0',
      port: c.mqtt?.port ?? 1883,
      maxPayloadBytes: c.mqtt?.maxPayloadBytes ?? 16 * 1024,
    },
    server,
    sync: { intervalMs: c.sync?.intervalMs ?? 1000, batchMaxItems: c.sync?.batchMaxItems ?? 1000 },
  };
}

export function loadGatewayConfig(file: string): ResolvedGatewayConfig {
  return resolveGatewayConfig(loadYamlFile(file, configValidator), file);
}
