// Provisioning: a random secret per device, shown once to whoever installs the device and kept
// only as a hash in the gateway's registry. Re-provisioning keeps every device's secret except the
// ones asked to rotate. LoRaWAN devices get no secret (they never log in themselves; their
// network server does) but are registered with their DevEUI.
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { hashSecret, type Registry, type RegistryDevice } from '../protocol/registry.ts';
import type { Manifest } from '../protocol/manifest.ts';
import type { Catalogue } from './catalogue.ts';

/** A new device secret: 256 random bits, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface ProvisionOptions {
  /** With a catalogue, devices of LoRaWAN kits are registered without a secret. */
  catalogue?: Catalogue;
  /** Devices whose secret is replaced even though the kept registry has one. */
  rotate?: readonly string[];
  now?: number;
}

/**
 * What provisioning does with a device's key: `keep` the hash the kept registry has for it, a
 * `new` secret for a device it has none for, `rotate` one asked to, `none` for a LoRaWAN device
 * (it has no secret of its own).
 */
export type KeyAction = 'keep' | 'new' | 'rotate' | 'none';

/** The key action for each device of the manifest, in its order: what provisionRegistry will do. */
export function keyPlan(
  manifest: Manifest,
  keep?: Registry,
  opts: Omit<ProvisionOptions, 'now'> = {},
): Array<{ id: string; kit: string; key: KeyAction }> {
  const old = keptDevices(manifest, keep);
  const rotate = new Set(opts.rotate ?? []);
  return manifest.devices.map((d) => {
    const key: KeyAction =
      opts.catalogue?.get(d.kit)?.transport === 'lorawan'
        ? 'none'
        : !old.get(d.id)?.secretHash
          ? 'new'
          : rotate.has(d.id)
            ? 'rotate'
            : 'keep';
    return { id: d.id, kit: d.kit, key };
  });
}

/** The kept registry's devices by id, if it is the manifest's farm's. */
const keptDevices = (manifest: Manifest, keep: Registry | undefined) =>
  new Map((keep?.farm === manifest.farm.id ? keep.devices : []).map((d) => [d.id, d]));

/**
 * A registry for the manifest's devices. Devices in `keep` keep their stored hash unless listed in
 * `rotate`; every other device gets a new secret, returned in `secrets` (the only time it exists
 * in clear). keyPlan says beforehand which is which.
 */
export function provisionRegistry(
  manifest: Manifest,
  keep?: Registry,
  opts: ProvisionOptions = {},
): { registry: Registry; secrets: Record<string, string> } {
  const old = keptDevices(manifest, keep);
  const plan = keyPlan(manifest, keep, opts);
  const secrets: Record<string, string> = {};
  const at = new Date(opts.now ?? Date.now()).toISOString();
  const devices = manifest.devices.map((d, i): RegistryDevice => {
    const devEui = d.devEui?.toLowerCase();
    const key = plan[i]!.key;
    if (key === 'none') return { id: d.id, kit: d.kit, ...(devEui ? { devEui } : {}) };
    if (key === 'keep') {
      const { devEui: _drop, ...rest } = old.get(d.id)!;
      return { ...rest, kit: d.kit, ...(devEui ? { devEui } : {}) };
    }
    const secret = newSecret();
    secrets[d.id] = secret;
    return {
      id: d.id,
      kit: d.kit,
      secretHash: hashSecret(secret),
      rotatedAt: at,
      ...(devEui ? { devEui } : {}),
    };
  });
  const providers = keep?.farm === manifest.farm.id ? keep.providers : undefined;
  return { registry: { farm: manifest.farm.id, devices, ...(providers ? { providers } : {}) }, secrets };
}

/** Writes a file atomically (temp file + rename), so a reader never sees half of it. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}
