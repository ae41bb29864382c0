// The server's configuration file, validated, with defaults and absolute paths.
import { ServerConfig } from '../protocol/server-config.ts';
import { validator } from '../protocol/validate.ts';
import { loadYamlFile, resolveFrom } from '../runtime/config-file.ts';
import type { ServerOptions } from './server.ts';

const configValidator = validator(ServerConfig);

export function loadServerConfig(file: string): ServerOptions & { demo: boolean } {
  const c = loadYamlFile(file, configValidator);
  return {
    dataDir: resolveFrom(file, c.dataDir),
    host: c.http?.host ?? '0.0.0.0',
    port: c.http?.port ?? 8080,
    secureCookies: c.secureCookies ?? false,
    storage: c.storage,
    demo: c.demo ?? false,
  };
}
