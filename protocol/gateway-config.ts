// The gateway's configuration file, declared once: `hatake gateway --config gateway.yaml`.
// Relative paths are resolved against the file's folder.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const GatewayConfig = Type.Object(
  {
    id: Id('Gateway id'),
    dataDir: Type.String({ minLength: 1, description: 'Where the gateway keeps its SQLite database' }),
    manifest: Type.String({ minLength: 1, description: 'Farm manifest (YAML)' }),
    registry: Type.String({
      minLength: 1,
      description: 'Provisioned device registry (JSON, hashed secrets)',
    }),
    kits: Type.Optional(
      Type.Array(Type.String(), { description: 'Extra kit folders, read after the built-in kits' }),
    ),
    mqtt: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ description: 'Listen address; 0.0.0.0 when absent' })),
          port: Type.Optional(Port),
          maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 64, maximum: 1024 * 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    server: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://' }),
          token: Type.Optional(Type.String({ minLength: 16 })),
          tokenFile: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    sync: Type.Optional(
      Type.Object(
        {
          intervalMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
          batchMaxItems: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;
