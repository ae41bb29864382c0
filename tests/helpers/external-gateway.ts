// A gateway in external-broker mode for integration tests: its farm manifest, the provisioned
// registry and a gateway.yaml that reads `topics` from the broker at `url` as `clientId`, with
// the embedded broker off and the HTTP API on a free port. Returns the config file's path.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest } from '../../protocol/manifest.ts';
import { parseYaml } from '../../protocol/yaml.ts';
import { validator } from '../../protocol/validate.ts';
import { provisionRegistry, writeFileAtomic } from '../../firmware-config/provision.ts';

export interface ExternalGatewayFiles {
  id: string;
  /** The farm manifest (YAML text), written to farm.yaml. */
  manifest: string;
  url: string;
  clientId: string;
  topics: { filter: string; format: string }[];
  /** More top-level config lines (e.g. a `codecs:` list). */
  extra?: string[];
}

export function writeExternalGateway(dir: string, g: ExternalGatewayFiles): string {
  writeFileSync(join(dir, 'farm.yaml'), g.manifest);
  const manifest = parseYaml(g.manifest, 'farm.yaml', validator(Manifest));
  writeFileAtomic(join(dir, 'registry.json'), JSON.stringify(provisionRegistry(manifest).registry));
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(
    configFile,
    [
      `id: ${g.id}`,
      'dataDir: gateway',
      'manifest: farm.yaml',
      'registry: registry.json',
      ...(g.extra ?? []),
      'mqtt: { enabled: false }',
      'http: { host: 127.0.0.1, port: 0 }',
      'external:',
      `  url: ${g.url}`,
      `  clientId: ${g.clientId}`,
      '  topics:',
      ...g.topics.map((t) => `    - { filter: '${t.filter}', format: ${t.format} }`),
      '',
    ].join('\n'),
  );
  return configFile;
}
