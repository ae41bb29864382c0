// The server's configuration file, declared once: `hatake server --config server.yaml`.
// Relative paths are resolved against the file's folder.
import { Type, type Static } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

/** Where the server keeps time series: the embedded SQLite default, or InfluxDB 1.x. */
export const StorageConfig = Type.Union([
  Type.Object({ kind: Type.Literal('sqlite') }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('influx') }, { additionalProperties: true }),
]);
export type StorageConfig = Static<typeof StorageConfig>;

export const ServerConfig = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    http: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String()),
          port: Type.Optional(Port),
        },
        { additionalProperties: false },
      ),
    ),
    /** Cookies get the Secure attribute; set when the server is reached over HTTPS. */
    secureCookies: Type.Optional(Type.Boolean()),
    storage: Type.Optional(StorageConfig),
    /** Demo mode seeds the demo users with the published demo password. Never in production. */
    demo: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ServerConfig = Static<typeof ServerConfig>;
