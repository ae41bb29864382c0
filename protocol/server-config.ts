// The server's configuration file, declared once: `hatake server --config server.yaml`.
// Relative paths are resolved against the file's folder.
import { Type, type Static } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

/** An InfluxQL duration of whole hours, days or weeks (`12h`, `90d`, `2w`, `1d12h`), or `INF`. */
export const RETENTION_PATTERN = '^(INF|([1-9][0-9]{0,5}[hdw])+)$';
const Retention = (description: string) =>
  Type.String({
    pattern: RETENTION_PATTERN,
    maxLength: 32,
    description: `${description}; whole hours, days or weeks such as 36h, 90d, 52w, or INF`,
  });

const ms = (minimum: number, maximum: number, description: string) =>
  Type.Optional(Type.Integer({ minimum, maximum, description }));

/**
 * The SQLite store's retention once the config has a `retention` section (InfluxDB's defaults);
 * without one, everything is kept, as before retention existed (docs/storage.md says why).
 */
export const SQLITE_RETENTION_DEFAULTS = { raw: '90d', longterm: '520w' } as const;

/** The embedded default: readings in the server's own SQLite file. */
export const SqliteStorageConfig = Type.Object(
  {
    kind: Type.Literal('sqlite'),
    retention: Type.Optional(
      Type.Object(
        {
          raw: Type.Optional(
            Retention(
              'How long raw readings are kept before they become hourly aggregates (default 90d once retention is set; INF keeps them)',
            ),
          ),
          longterm: Type.Optional(
            Retention(
              "How long hourly aggregates (the roll-ups and the gateways' aggregates) are kept (default 520w)",
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SqliteStorageConfig = Static<typeof SqliteStorageConfig>;

/** InfluxDB 1.x: readings, index statistics and recommendation outputs as measurements. */
export const InfluxStorageConfig = Type.Object(
  {
    kind: Type.Literal('influx'),
    /** Base URL of the InfluxDB HTTP API, without credentials. */
    url: Type.String({
      pattern: '^https?://[A-Za-z0-9._\\-\\[\\]:]+(/[A-Za-z0-9._~\\-/]*)?$',
      maxLength: 2048,
      description: 'e.g. http://127.0.0.1:8086 (credentials go in username/password, not the URL)',
    }),
    database: Type.String({
      pattern: '^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$',
      description: 'Database name: up to 64 letters, digits, _ and -',
    }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Inline password; prefer passwordFile so the secret stays out of the config file. */
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** A file holding the password (trailing newline ignored); relative to the config file. */
    passwordFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    retention: Type.Optional(
      Type.Object(
        {
          raw: Type.Optional(Retention('How long raw readings are kept (default 90d)')),
          longterm: Type.Optional(
            Retention(
              'How long hourly aggregates, index statistics and recommendation outputs are kept (default 520w)',
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    batch: Type.Optional(
      Type.Object(
        {
          maxPoints: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 100_000, description: 'Points per write (default 5000)' }),
          ),
          maxDelayMs: ms(1, 60_000, 'Longest a point waits to join a fuller write (default 1000)'),
          maxInFlight: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 16, description: 'Concurrent writes (default 2)' }),
          ),
          maxQueuedPoints: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 10_000_000,
              description: 'Points waiting before new writes are refused with 503 (default 100000)',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    timeouts: Type.Optional(
      Type.Object(
        {
          requestMs: ms(100, 300_000, 'One HTTP request to InfluxDB (default 5000)'),
          writeMs: ms(
            100,
            600_000,
            'A write including its retries, before the sync is refused (default 10000)',
          ),
          pingMs: ms(50, 60_000, 'The health probe (default 1000)'),
        },
        { additionalProperties: false },
      ),
    ),
    rollupIntervalMs: ms(1000, 86_400_000, 'How often touched hours are rolled up (default 60000)'),
  },
  { additionalProperties: false },
);
export type InfluxStorageConfig = Static<typeof InfluxStorageConfig>;

/** Where the server keeps time series: the embedded SQLite default, or InfluxDB 1.x. */
export const StorageConfig = Type.Union([SqliteStorageConfig, InfluxStorageConfig]);
export type StorageConfig = Static<typeof StorageConfig>;

/** Hours in a retention duration (`INF` → Infinity). Assumes RETENTION_PATTERN holds. */
export function retentionHours(d: string): number {
  if (d === 'INF') return Infinity;
  let hours = 0;
  for (const m of d.matchAll(/(\d+)([hdw])/g)) {
    hours += Number(m[1]) * (m[2] === 'h' ? 1 : m[2] === 'd' ? 24 : 168);
  }
  return hours;
}

/**
 * What a schema cannot say about a storage config: each problem with the JSON pointer (relative
 * to the storage object) it concerns.
 */
export function storageConfigProblems(c: StorageConfig): { pointer: string; message: string }[] {
  if (c.kind === 'sqlite') {
    if (c.retention === undefined) return [];
    const raw = retentionHours(c.retention.raw ?? SQLITE_RETENTION_DEFAULTS.raw);
    const longterm = retentionHours(c.retention.longterm ?? SQLITE_RETENTION_DEFAULTS.longterm);
    return longterm < raw
      ? [
          {
            pointer: '/retention/longterm',
            message: 'hourly aggregates must be kept at least as long as raw readings',
          },
        ]
      : [];
  }
  if (c.kind !== 'influx') return [];
  const out: { pointer: string; message: string }[] = [];
  if (c.password !== undefined && c.passwordFile !== undefined)
    out.push({ pointer: '/passwordFile', message: 'give password or passwordFile, not both' });
  if ((c.password !== undefined || c.passwordFile !== undefined) && c.username === undefined)
    out.push({ pointer: '/username', message: 'a password needs a username' });
  const raw = retentionHours(c.retention?.raw ?? '90d');
  const longterm = retentionHours(c.retention?.longterm ?? '520w');
  if (longterm < raw)
    out.push({
      pointer: '/retention/longterm',
      message: 'hourly aggregates must be kept at least as long as raw readings',
    });
  const b = c.batch ?? {};
  if ((b.maxQueuedPoints ?? 100_000) < (b.maxPoints ?? 5000))
    out.push({ pointer: '/batch/maxQueuedPoints', message: 'must be at least batch.maxPoints' });
  const t = c.timeouts ?? {};
  if ((t.writeMs ?? 10_000) < (t.requestMs ?? 5000))
    out.push({ pointer: '/timeouts/writeMs', message: 'must be at least timeouts.requestMs' });
  return out;
}

/**
 * The reverse proxies (nginx, Caddy, a co-op's load balancer) whose X-Forwarded-For and
 * X-Forwarded-Proto the server believes: their addresses or CIDR ranges (or `loopback`,
 * `linklocal`, `uniquelocal`). Unset, the headers are
 * ignored and every client is the address it connected from — the login limit then counts the
 * proxy as one client, so set this when the server sits behind one.
 */
export const TrustProxy = Type.Array(
  Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^(loopback|linklocal|uniquelocal|[0-9a-fA-F:.]+(/\\d{1,3})?)$',
  }),
  { minItems: 1, maxItems: 32 },
);

/** The placeholders a tile template may hold: {z}/{x}/{y} (all three needed), {s} a subdomain, {r} "@2x". */
export const TILE_PLACEHOLDERS = ['{z}', '{x}', '{y}', '{s}', '{r}'] as const;

/**
 * The base layer every map of the dashboard shows under the fields (a co-op's own tile server, GSI
 * tiles), unless a browser chose its own. Unset, the maps draw the fields on a plain background and
 * need nothing from the internet. The URL goes to every signed-in browser: a key in it is no secret.
 */
export const BaseLayerConfig = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: '^https?://\\S+$',
      description:
        'An http(s) tile template with {z}, {x} and {y} (and optionally {s}, {r}), e.g. https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png; no user:password@ (an API key the tile service restricts to your site may go in the query)',
    }),
    attribution: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 300,
        description: "The credit the tiles' terms ask for, as plain text (e.g. 地理院タイル)",
      }),
    ),
    maxZoom: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 22,
        description: 'The deepest zoom the tile server has; closer in, its tiles are enlarged (default 18)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type BaseLayerConfig = Static<typeof BaseLayerConfig>;

export const MapConfig = Type.Object(
  { baseLayer: Type.Optional(BaseLayerConfig) },
  { additionalProperties: false },
);
export type MapConfig = Static<typeof MapConfig>;

/** The default of map.baseLayer.maxZoom: the deepest zoom most tile servers (GSI, OSM) have everywhere. */
export const BASE_LAYER_MAX_ZOOM = 18;

/**
 * What the server's API tells signed-in browsers about maps (GET /api/v1/map): the base layer of
 * server.yaml with its defaults filled in, or null when there is none.
 */
export const MapSettings = Type.Object(
  {
    baseLayer: Type.Union([
      Type.Object(
        {
          url: Type.String(),
          attribution: Type.Union([Type.String(), Type.Null()]),
          maxZoom: Type.Integer({ minimum: 0, maximum: 22 }),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);
export type MapSettings = Static<typeof MapSettings>;

/** The API's map settings for a server's map config. */
export function mapSettings(c: MapConfig | undefined): MapSettings {
  const b = c?.baseLayer;
  return {
    baseLayer: b
      ? { url: b.url, attribution: b.attribution ?? null, maxZoom: b.maxZoom ?? BASE_LAYER_MAX_ZOOM }
      : null,
  };
}

/**
 * What a schema cannot say about a tile template: each placeholder known, {z}, {x} and {y} all
 * there, an http(s) URL once they are filled in, and no user name or password in it (a browser
 * would not send them for an image, and every signed-in user would read them). Undefined when good.
 */
export function tileTemplateProblem(url: string): { message: string; expected: string } | undefined {
  const expected = 'an http(s) tile template such as https://tiles.example.jp/{z}/{x}/{y}.png';
  const unknown = (url.match(/\{[^}]*\}?/g) ?? []).find(
    (p) => !(TILE_PLACEHOLDERS as readonly string[]).includes(p),
  );
  if (unknown)
    return {
      message: `unknown placeholder ${unknown.slice(0, 40)}`,
      expected: `only ${TILE_PLACEHOLDERS.join(', ')} in ${expected}`,
    };
  const missing = ['{z}', '{x}', '{y}'].filter((p) => !url.includes(p));
  if (missing.length)
    return {
      message: `the template has no ${missing.join(', ')}: a tile is named by its {z}, {x} and {y}`,
      expected,
    };
  let parsed: URL;
  try {
    parsed = new URL(
      url
        .replace(/\{s\}/g, 'a')
        .replace(/\{r\}/g, '')
        .replace(/\{[zxy]\}/g, '0'),
    );
  } catch {
    return { message: 'not a URL', expected };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return { message: `${parsed.protocol} is not http or https`, expected };
  if (parsed.username || parsed.password)
    return {
      message:
        'a user name or password in the URL: every signed-in browser would get it, and none sends it for a tile',
      expected: 'no user:password@; an API key the tile service restricts to your site may go in the query',
    };
  return undefined;
}

export const ServerConfig = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    http: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String()),
          port: Type.Optional(Port),
          trustProxy: Type.Optional(TrustProxy),
        },
        { additionalProperties: false },
      ),
    ),
    /** Cookies get the Secure attribute; set when the server is reached over HTTPS. */
    secureCookies: Type.Optional(Type.Boolean()),
    storage: Type.Optional(StorageConfig),
    imagery: Type.Optional(
      Type.Object(
        {
          maxSceneMB: Type.Optional(
            Type.Number({
              exclusiveMinimum: 0,
              maximum: 64 * 1024,
              description:
                'The largest scene an admin or IT partner may upload for the gateways (MiB, default 512)',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    live: Type.Optional(
      Type.Object(
        {
          maxStreamsPerUser: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 1000,
              description:
                'Live streams (GET /api/v1/live, one per open page) one account may hold at once; more are refused with 429 (default 8)',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** The dashboard's maps: a base layer for every farmer's map (unset: none, no internet needed). */
    map: Type.Optional(MapConfig),
    /** Demo mode seeds the demo users with the published demo password. Never in production. */
    demo: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ServerConfig = Static<typeof ServerConfig>;
