// The gateway's configuration file, declared once: `hatake gateway --config gateway.yaml`.
// Relative paths are resolved against the file's folder; every limit has a default that suits a
// Raspberry Pi with an SD card (see gateway/config.ts).
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const obj = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Optional(Type.Object(props, { additionalProperties: false, description }));

export const ExternalTopicFormat = Type.Union([
  Type.Literal('hatake'),
  Type.Literal('chirpstack'),
  Type.Literal('tts'),
]);
export type ExternalTopicFormat = Static<typeof ExternalTopicFormat>;

/** Sync pacing and the offline budget: in the file, and tunable from the server (RemoteGatewayConfig). */
const syncTunables = {
  intervalMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
  batchMaxItems: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
  batchMaxBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 8 * 1024 * 1024 })),
  batchDelayMs: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 60_000,
      description: 'Wait this long after new data so a batch can fill',
    }),
  ),
  backoffCapMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  maxOutboxMB: Type.Optional(Type.Number({ minimum: 1, description: 'Disk budget of the offline backlog' })),
  aggregateAfterMinutes: Type.Optional(
    Type.Number({
      minimum: 0,
      description: 'Raw readings older than this may become hourly aggregates when over budget',
    }),
  ),
  downlinkIntervalMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
};

/** The storage budget: in the file, and tunable from the server. (The file's commitThreadFrom is not.) */
const storageTunables = {
  maxDbMB: Type.Optional(Type.Number({ minimum: 1, description: 'Database size budget' })),
  minFreeMB: Type.Optional(
    Type.Number({ minimum: 0, description: 'Refuse data when the disk has less free space' }),
  ),
};
/** Retention: in the file, and tunable from the server. (The file's minRawDays is not.) */
const retentionTunables = {
  rawDays: Type.Optional(Type.Number({ minimum: 1 / 24 })),
  hourlyDays: Type.Optional(Type.Number({ minimum: 1 })),
  deadLetters: Type.Optional(Type.Integer({ minimum: 100 })),
};

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
    codecs: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 32,
        description:
          "Vendor codec folders (TTN Device Repository layout: vendor/file.js), searched after the kit file's own folder; HATAKE_CODEC_PATH folders come first",
      }),
    ),
    mqtt: obj(
      {
        enabled: Type.Optional(Type.Boolean({ description: 'Run the embedded broker (default true)' })),
        host: Type.Optional(Type.String({ description: 'Listen address; 0.0.0.0 when absent' })),
        port: Type.Optional(Port),
        maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 64, maximum: 1024 * 1024 })),
        maxPacketBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024 })),
        maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
        maxInflightPerDevice: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        rate: obj(
          {
            perSecond: Type.Number({ exclusiveMinimum: 0, maximum: 10_000 }),
            burst: Type.Integer({ minimum: 1, maximum: 100_000 }),
          },
          'Publish rate limit per device (token bucket)',
        ),
        providerRate: obj(
          {
            perSecond: Type.Number({ exclusiveMinimum: 0, maximum: 10_000 }),
            burst: Type.Integer({ minimum: 1, maximum: 100_000 }),
          },
          'Publish rate limit per imagery provider (token bucket; a scene comes in thousands of chunks). Default 50/s, burst 200',
        ),
        tls: obj({ port: Port, cert: Type.String(), key: Type.String() }, 'MQTT over TLS (8883)'),
        websocket: obj({ port: Port, path: Type.Optional(Type.String()) }, 'MQTT over WebSocket'),
      },
      'The embedded broker',
    ),
    external: obj(
      {
        url: Type.String({ pattern: '^(mqtts?|wss?|tcp)://' }),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String()),
        passwordFile: Type.Optional(Type.String()),
        clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        ca: Type.Optional(Type.String({ description: 'CA certificate file for mqtts://' })),
        topics: Type.Array(
          Type.Object(
            { filter: Type.String({ minLength: 1 }), format: ExternalTopicFormat },
            { additionalProperties: false },
          ),
          {
            minItems: 1,
            maxItems: 32,
          },
        ),
      },
      'Ingest from an existing broker (Mosquitto, a LoRaWAN network server) as a QoS 1 client with a persistent session',
    ),
    http: obj(
      { host: Type.Optional(Type.String()), port: Type.Optional(Port) },
      'Status page, /healthz, /metrics',
    ),
    storage: obj(
      {
        ...storageTunables,
        commitWindowMs: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 5000,
            description:
              'How long a message from a device that reports slowly may wait for others to share its commit (default 500; 0: commit at the end of the event loop turn). Each commit rewrites whole pages on the card: at 500 devices reporting once a minute the gateway writes about 33 KB a message with 0, 10 KB with 500 and 6 KB with 1000 (docs/storage.md); the PUBACK waits as long. A device sending faster than once a window (a burst, a replay) is never held',
          }),
        ),
        commitThreadFrom: Type.Optional(
          Type.Integer({
            minimum: 0,
            description:
              'A group commit of at least this many messages starts the commit writer thread, which then writes every group while the event loop goes on (0: from the first commit; unset: never). For a slow card on a board with cores to spare; it costs about 10 MB and, on a two-core test machine, 5–10 % more CPU a message for no gain in throughput (docs/storage.md)',
          }),
        ),
      },
      'SD-card budget',
    ),
    retention: obj(
      {
        ...retentionTunables,
        minRawDays: Type.Optional(
          Type.Number({
            minimum: 2,
            description:
              'Near the database budget the oldest raw readings become hourly aggregates before rawDays, but never those younger than this (default 14: the rules read 48 h of raw readings and 14 days of weather)',
          }),
        ),
      },
      'How long raw readings and hourly aggregates are kept',
    ),
    health: obj({ offlineAfterIntervals: Type.Optional(Type.Number({ minimum: 1 })) }, 'Device health'),
    server: obj({
      url: Type.String({ pattern: '^https?://' }),
      token: Type.Optional(Type.String({ minLength: 16 })),
      tokenFile: Type.Optional(Type.String()),
      ca: Type.Optional(
        Type.String({ description: 'CA certificate file for an https:// server with a private CA' }),
      ),
      publicKeyFile: Type.Optional(
        Type.String({
          description: "The server's ed25519 public key (PEM); downlink documents must carry its signature",
        }),
      ),
    }),
    rules: obj(
      {
        disabled: Type.Optional(
          Type.Array(Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }), {
            maxItems: 64,
            uniqueItems: true,
            description: 'Tip rules switched off, by id (e.g. frost)',
          }),
        ),
        params: Type.Optional(
          Type.Record(
            Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }),
            Type.Record(Type.String(), Type.Unknown()),
            {
              description:
                "Parameters by rule id; each key replaces the rule's default (docs/rules.md), checked against the rule's schema at start",
            },
          ),
        ),
      },
      "The tip rules' settings: frost areas, soil overrides per field, irrigation rate, thresholds",
    ),
    sync: obj({
      ...syncTunables,
      requestTimeoutMs: Type.Optional(
        Type.Integer({
          minimum: 100,
          maximum: 600_000,
          description: 'A sync request slower than this is abandoned and retried',
        }),
      ),
    }),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;

/**
 * The part of a gateway's configuration the server may send down (downlink kind `config`): the
 * tunables an IT partner adjusts from afar — budgets, retention, device health, sync pacing and the
 * per-device publish rate. Never addresses, ports, paths, the server or secrets: a wrong value there
 * would cut the gateway off from the one who could put it right. Each section replaces the same
 * section of the gateway's file, key by key; what it does not name keeps the file's value.
 */
export const RemoteGatewayConfig = Type.Object(
  {
    storage: obj(storageTunables, 'SD-card budget'),
    retention: obj(retentionTunables, 'How long raw readings and hourly aggregates are kept'),
    health: GatewayConfig.properties.health,
    sync: obj(syncTunables),
    mqtt: obj({ rate: GatewayConfig.properties.mqtt.properties.rate }),
  },
  { additionalProperties: false },
);
export type RemoteGatewayConfig = Static<typeof RemoteGatewayConfig>;
