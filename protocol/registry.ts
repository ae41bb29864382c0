// The gateway's device registry: who may connect to its broker. Written by provisioning, read
// (and re-read on change) by the gateway. Secrets are never stored, only their hashes. Also the
// device configuration file provisioning writes for each device's firmware.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

export const RegistryDevice = Type.Object(
  {
    id: Id('Device id; also the MQTT username'),
    kit: Id('Kit model id'),
    secretHash: Type.Optional(
      Type.String({
        pattern: '^sha256:[0-9a-f]{64}$',
        description: 'sha256 of the device secret; absent for LoRaWAN devices, which never log in themselves',
      }),
    ),
    rotatedAt: Type.Optional(Type.String({ format: 'date-time' })),
    devEui: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{16}$', description: 'LoRaWAN DevEUI, lower-case hex' }),
    ),
  },
  { additionalProperties: false },
);
export type RegistryDevice = Static<typeof RegistryDevice>;

/** A client that is not a sensor: e.g. a satellite-data provider publishing scenes to the gateway. */
export const RegistryProvider = Type.Object(
  {
    id: Id('Client id; also the MQTT username'),
    secretHash: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
    scopes: Type.Array(Type.Literal('imagery'), { minItems: 1, maxItems: 4 }),
  },
  { additionalProperties: false },
);
export type RegistryProvider = Static<typeof RegistryProvider>;

export const Registry = Type.Object(
  {
    farm: Id('Farm id'),
    devices: Type.Array(RegistryDevice, { maxItems: 100000 }),
    providers: Type.Optional(Type.Array(RegistryProvider, { maxItems: 100 })),
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

export const DEVICE_CONFIG_FORMAT = 'hatake-device-config/1';

/**
 * What a device's firmware needs to reach its gateway, written by `hatake kit provision` as JSON
 * (and as a QR code of that JSON). It holds the device's secret: files are written 0600.
 */
export const DeviceConfig = Type.Object(
  {
    format: Type.Literal(DEVICE_CONFIG_FORMAT),
    farm: Id('Farm id'),
    device: Id('Device id'),
    kit: Id('Kit model id'),
    mqtt: Type.Object(
      {
        host: Type.String({ minLength: 1 }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        tls: Type.Boolean(),
        username: Id('MQTT username: the device id'),
        secret: Type.String({ minLength: 16, description: 'MQTT password' }),
        clientId: Type.String({ minLength: 1 }),
        topic: Type.String({ description: 'Telemetry topic' }),
        statusTopic: Type.String(),
        commandTopic: Type.String(),
        qos: Type.Literal(1),
      },
      { additionalProperties: false },
    ),
    interval: Type.Integer({ minimum: 1, description: 'Reporting interval in seconds' }),
    issuedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type DeviceConfig = Static<typeof DeviceConfig>;
