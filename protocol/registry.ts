// The gateway's device registry: who may connect to its broker. Written by provisioning, read
// (and re-read on change) by the gateway. Secrets are never stored, only their hashes.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

export const RegistryDevice = Type.Object(
  {
    id: Id('Device id; also the MQTT username'),
    kit: Id('Kit model id'),
    secretHash: Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'sha256 of the device secret' }),
    rotatedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type RegistryDevice = Static<typeof RegistryDevice>;

export const Registry = Type.Object(
  {
    farm: Id('Farm id'),
    devices: Type.Array(RegistryDevice, { maxItems: 100000 }),
  },
  { additionalProperties: false },
);
export type Registry = Static<typeof Registry>;

/**
 * The registry's secret hash. Device secrets are 256-bit random values made at provisioning, so
 * a fast hash is enough (nothing to brute-force) and keeps 500 reconnecting devices cheap on a Pi;
 * user passwords, which people choose, use scrypt instead.
 */
export function hashSecret(secret: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`;
}

/** Constant-time check of a presented secret against a stored hash. */
export function verifySecret(secret: string | Uint8Array, stored: string): boolean {
  const a = Buffer.from(hashSecret(secret));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}
