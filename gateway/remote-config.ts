// The gateway configuration the server sends down (downlink kind `config`, signed): the tunables an
// IT partner adjusts from afar (RemoteGatewayConfig) over the gateway's own (its file as it
// started), key by key. Applied live — every part reads its section of the one config object —
// and kept in the data folder, so a restart runs on the last good version; a document that does
// not validate is refused and the previous configuration stays. Withdrawing it returns the
// gateway to its file.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { RemoteGatewayConfig } from '../protocol/gateway-config.ts';
import { validator } from '../protocol/validate.ts';
import { writeFileAtomic } from '../firmware-config/provision.ts';
import type { Logger } from '../runtime/log.ts';
import { resolveTunables, type GatewayTunables, type ResolvedGatewayConfig } from './config.ts';
import type { DownlinkDoc } from './downlink-client.ts';

export const REMOTE_CONFIG_FILE = 'remote-config.json';

const remoteValidator = validator(RemoteGatewayConfig);
const keptValidator = validator(
  Type.Object(
    { version: Type.Integer({ minimum: 0 }), config: RemoteGatewayConfig },
    { additionalProperties: false },
  ),
);

/** The gateway's own tunables (its file, as it started) with a remote configuration over them. */
export function mergeRemote(own: GatewayTunables, remote: RemoteGatewayConfig | undefined): GatewayTunables {
  return resolveTunables(remote ?? {}, own);
}

/** The tunables as one flat record, `section.key` → value, for saying what changed. */
function flat(t: GatewayTunables): Map<string, number> {
  const out = new Map<string, number>();
  for (const [section, values] of Object.entries(t))
    for (const [k, v] of Object.entries(values as Record<string, number>)) out.set(`${section}.${k}`, v);
  return out;
}

/** What applying `next` over `live` changes, e.g. ["sync.intervalMs 1000 → 5000"]. */
export function describeChanges(live: ResolvedGatewayConfig, next: GatewayTunables): string[] {
  const before = flat(currentTunables(live));
  return [...flat(next)]
    .filter(([k, v]) => before.get(k) !== v)
    .map(([k, v]) => `${k} ${before.get(k)} → ${v}`);
}

/** A copy of the running tunables (the gateway keeps one from its start as its own). */
export function currentTunables(live: ResolvedGatewayConfig): GatewayTunables {
  return structuredClone({
    storage: live.storage,
    retention: live.retention,
    health: live.health,
    sync: live.sync,
    rate: live.mqtt.rate,
  });
}

/**
 * Writes the tunables into the live configuration in place: the maintenance timer, the broker's
 * rate limiter and the backlog budget read these very objects; the sync and downlink clients and
 * the store (its database budget and dead-letter limit) are told through `onApplied`.
 */
export function applyTunables(live: ResolvedGatewayConfig, t: GatewayTunables): void {
  Object.assign(live.storage, t.storage);
  Object.assign(live.retention, t.retention);
  Object.assign(live.health, t.health);
  Object.assign(live.sync, t.sync);
  Object.assign(live.mqtt.rate, t.rate);
}

/** The configuration last sent down, if one is kept and still valid (else the file alone rules). */
export function loadKeptRemoteConfig(
  dataDir: string,
  log: Logger,
): { version: number; config: RemoteGatewayConfig } | undefined {
  const file = join(dataDir, REMOTE_CONFIG_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return keptValidator.parse(JSON.parse(readFileSync(file, 'utf8')), file, 'HATAKE_E_CONFIG');
  } catch (e) {
    log.warn(
      { file, err: (e as Error).message },
      'kept remote configuration unreadable; running on the file alone',
    );
    return undefined;
  }
}

/** The downlink handler of `config` documents. */
export function configHandler(
  dataDir: string,
  live: ResolvedGatewayConfig,
  own: GatewayTunables,
  onApplied: (t: GatewayTunables) => void,
) {
  return async (doc: DownlinkDoc): Promise<string> => {
    const kept = join(dataDir, REMOTE_CONFIG_FILE);
    const remote = doc.deleted
      ? undefined
      : remoteValidator.parse(doc.body, `downlink config ${doc.id}`, 'HATAKE_E_CONFIG');
    const next = mergeRemote(own, remote);
    const changes = describeChanges(live, next);
    if (remote) writeFileAtomic(kept, JSON.stringify({ version: doc.version, config: remote }));
    else rmSync(kept, { force: true });
    applyTunables(live, next);
    onApplied(next);
    const what = changes.length > 0 ? changes.join(', ') : 'nothing changed';
    return remote
      ? `configuration v${doc.version}: ${what}`
      : `configuration withdrawn, back to the file: ${what}`;
  };
}
