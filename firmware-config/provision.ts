// Provisioning: a random secret per device, shown once to whoever installs the device and kept
// only as a hash in the gateway's registry. Re-provisioning a device rotates only its secret.
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { hashSecret, type Registry } from '../protocol/registry.ts';
import type { Manifest } from '../protocol/manifest.ts';

/** A new device secret: 256 random bits, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A registry for the manifest's devices. Devices in `keep` keep their stored hash; every other
 * device gets a new secret, returned in `secrets` (the only time it exists in clear).
 */
export function provisionRegistry(
  manifest: Manifest,
  keep?: Registry,
): { registry: Registry; secrets: Record<string, string> } {
  const old = new Map((keep?.devices ?? []).map((d) => [d.id, d]));
  const secrets: Record<string, string> = {};
  const devices = manifest.devices.map((d) => {
    const prev = old.get(d.id);
    if (prev && keep?.farm === manifest.farm.id) return { ...prev, kit: d.kit };
    const secret = newSecret();
    secrets[d.id] = secret;
    return { id: d.id, kit: d.kit, secretHash: hashSecret(secret), rotatedAt: new Date().toISOString() };
  });
  return { registry: { farm: manifest.farm.id, devices }, secrets };
}

/** Writes a file atomically (temp file + rename), so a reader never sees half of it. */
export function writeFileAtomic(file: string, data: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}
