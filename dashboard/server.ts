// The hatake server: a Fastify app with the sync endpoint for gateways, the REST API and live
// stream for browsers, OpenAPI at /docs, and the web UI. "Everything is a plugin except the
// root": each route family is a plugin registered here.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyRateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HatakeError } from '../protocol/errors.ts';
import { createLogger, listenError, type Logger } from '../runtime/log.ts';
import type { Db } from '../runtime/sqlite.ts';
import { openServerDb } from './db.ts';
import { Auth, type Session, type GatewayIdentity } from './auth.ts';
import { LiveHub } from './live.ts';
import { SyncAppliers } from './sync-appliers.ts';
import { Downlink } from './downlink.ts';
import { clientProblem, problemHandler } from './problem.ts';
import { createReadingStore } from './storage/index.ts';
import type { MapConfig, StorageConfig } from '../protocol/server-config.ts';
import type { ReadingStore } from './storage/types.ts';
import { syncRoutes } from './routes/sync.ts';
import { authRoutes } from './routes/auth.ts';
import { userRoutes } from './routes/users.ts';
import { deviceRoutes } from './routes/devices.ts';
import { liveRoutes } from './routes/live.ts';
import { gatewayRoutes, syncThroughput, type SyncThroughput } from './routes/gateways.ts';
import { sceneRoutes } from './routes/scenes.ts';
import { mapRoutes } from './routes/map.ts';
import { loadOrCreateSigningKey } from './signing.ts';
import { reviewFeature } from './features/review.ts';
import { fieldViewsFeature } from './features/field-views.ts';
import { partnerFeature } from './features/partner.ts';

export const SESSION_COOKIE = 'hatake_session';
interface ServerRoute {
  method: string;
  url: string;
  hidden: boolean;
}

/** What /healthz answers: 200 when the server and its reading store work, 503 when the store does not. */
const HealthBody = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    storage: Type.Object({
      ok: Type.Boolean(),
      detail: Type.Optional(Type.String()),
      kind: Type.Optional(Type.Union([Type.Literal('sqlite'), Type.Literal('influx')])),
      queuedPoints: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
    /** Whether the dashboard's web app is built (false: `/` says how to build it). */
    webApp: Type.Boolean(),
  },
  { additionalProperties: false },
);

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * What `/` answers when the web app was never built — a production install (`npm ci --omit=dev`)
 * has no Vite — instead of a bare 404: what is missing and the command that makes it, in both
 * languages. The API, /docs and /healthz work meanwhile.
 */
const NOT_BUILT_PAGE = `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hatake: ダッシュボード未ビルド / dashboard not built</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>ダッシュボードの画面がビルドされていません</h1>
<p>サーバーは動いていますが、画面（dashboard/public）がありません。開発用の依存関係を含めてインストールし、ビルドしてください：</p>
<pre>npm ci            # 画面もビルドされます
npm prune --omit=dev   # 必要なら、そのあと開発用の依存関係を削除</pre>
<p>または <code>npm run build:ui</code>。API（<a href="/docs">/docs</a>）と <a href="/healthz">/healthz</a> は使えます。</p>
<h2 lang="en">The dashboard web app is not built</h2>
<p lang="en">The server runs, but the web app (dashboard/public) is missing: a production install
(<code>npm ci --omit=dev</code>) has no Vite to build it. Install with the dev dependencies, then
prune them if you like: <code>npm ci &amp;&amp; npm prune --omit=dev</code> (or <code>npm run build:ui</code>).
The API (<a href="/docs">/docs</a>) and <a href="/healthz">/healthz</a> work.</p>
</body></html>
`;

export interface ServerOptions {
  dataDir: string;
  host?: string;
  port?: number;
  secureCookies?: boolean;
  /** Reverse proxies whose X-Forwarded-For / -Proto are believed (see TrustProxy in server-config). */
  trustProxy?: string[];
  /** The largest scene upload (`imagery.maxSceneMB` in server.yaml; default 512 MiB). */
  maxSceneBytes?: number;
  /** Live streams one account may hold open at once (`live.maxStreamsPerUser`; default 8). */
  maxStreamsPerUser?: number;
  storage?: StorageConfig;
  /** The maps' settings (`map` in server.yaml): the base layer every browser shows by default. */
  map?: MapConfig;
  logger?: Logger | false;
  /** Where the built web app is (default: dashboard/public, which `npm run build:ui` fills). */
  publicDir?: string;
}

/** What every route plugin gets: the stores and the auth service. */
export interface ServerContext {
  db: Db;
  auth: Auth;
  readings: ReadingStore;
  live: LiveHub;
  secureCookies: boolean;
  /** How the sync endpoint stores the kinds that feature plugins own. */
  appliers: SyncAppliers;
  /** Documents sent down to the farms' gateways. */
  downlink: Downlink;
  /** The public half of the key that signs downlink documents (PEM). */
  signingPublicKey: string;
  /** What each gateway's batches delivered and when: the gateway list's throughput. */
  throughput: SyncThroughput;
}

export type App = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;

declare module 'fastify' {
  interface FastifyRequest {
    session: Session | undefined;
    sessionToken: string | undefined;
  }
}

/** The signed-in user's session, or a 401. State-changing requests must also carry the CSRF token. */
export function requireSession(request: FastifyRequest): Session {
  const s = request.session;
  if (!s) throw new HatakeError('HATAKE_E_AUTH', 'sign in first');
  if (request.method !== 'GET' && request.method !== 'HEAD' && request.headers['x-csrf-token'] !== s.csrf) {
    throw new HatakeError('HATAKE_E_FORBIDDEN', 'missing or wrong CSRF token', {
      expected: 'the x-csrf-token header from login',
    });
  }
  return s;
}

/** The gateway a bearer token belongs to, or a 401 (also for revoked tokens). */
export function requireGateway(request: FastifyRequest, auth: Auth): GatewayIdentity {
  const h = request.headers.authorization;
  const token = h?.startsWith('Bearer ') ? h.slice(7) : undefined;
  const gw = auth.gateway(token);
  if (!gw) throw new HatakeError('HATAKE_E_AUTH', 'unknown or revoked gateway token');
  return gw;
}

export class HatakeServer {
  readonly app: App;
  readonly ctx: ServerContext;
  readonly opts: ServerOptions;
  /** Every route registered (method and URL as written, e.g. /api/v1/tips/:id): what /docs must list. */
  readonly routes: readonly ServerRoute[];

  private constructor(app: App, ctx: ServerContext, opts: ServerOptions, routes: ServerRoute[]) {
    this.app = app;
    this.ctx = ctx;
    this.opts = opts;
    this.routes = routes;
  }

  static async create(opts: ServerOptions): Promise<HatakeServer> {
    mkdirSync(opts.dataDir, { recursive: true });
    const db = openServerDb(join(opts.dataDir, 'server.db'));
    const logger = opts.logger === false ? false : (opts.logger ?? createLogger('server'));
    const publicDir = opts.publicDir ?? PUBLIC_DIR;
    const webApp = existsSync(join(publicDir, 'index.html'));
    if (!webApp && logger)
      logger.error(
        { code: 'HATAKE_E_WEB_APP', dir: publicDir },
        'the dashboard web app is not built (no Vite: installed with --omit=dev?): run `npm ci` with the dev dependencies (then `npm prune --omit=dev` if you like) or `npm run build:ui`; the API and /healthz work meanwhile',
      );
    const live = new LiveHub({ maxStreamsPerUser: opts.maxStreamsPerUser });
    const signing = loadOrCreateSigningKey(opts.dataDir);
    const downlink = new Downlink(db, live);
    downlink.sign = signing.sign;
    const ctx: ServerContext = {
      signingPublicKey: signing.publicKeyPem,
      db,
      auth: new Auth(db),
      appliers: new SyncAppliers(),
      downlink,
      readings: await createReadingStore(opts.storage, db, logger === false ? undefined : logger),
      live,
      secureCookies: opts.secureCookies ?? false,
      throughput: syncThroughput(db),
    };
    const app = Fastify({
      loggerInstance: logger === false ? undefined : logger,
      logger: logger === false ? false : undefined,
      bodyLimit: 8 * 1024 * 1024,
      // Scene ids run to 200 characters (protocol/ids.ts); the router's default of 100 answered a
      // longer one with "no route" instead of checking it.
      routerOptions: { maxParamLength: 256 },
      // Behind a reverse proxy: the client's address (the login limit's key) and protocol from its
      // X-Forwarded-* headers — only from the proxies named; unset, from the socket.
      trustProxy: opts.trustProxy ?? false,
      // SSE streams never end on their own; close them when the server stops.
      forceCloseConnections: true,
      // Refusals by the router itself (a bad %-encoding, an over-long parameter) as problem+json too.
      frameworkErrors: (error, request, reply) => problemHandler(error, request, reply),
      clientErrorHandler: clientProblem,
      // One line per request would bury the gateway's sync every second; errors are still logged.
      logController: new LogController({ disableRequestLogging: true }),
      ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
    }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

    const routes: ServerRoute[] = [];
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat())
        routes.push({ method, url: r.url, hidden: r.schema?.hide === true });
    });
    app.setErrorHandler(problemHandler);
    app.setNotFoundHandler((request, reply) => {
      problemHandler(
        new HatakeError('HATAKE_E_NOT_FOUND', `no route ${request.method} ${request.url.slice(0, 200)}`),
        request,
        reply,
      );
    });
    await app.register(fastifyCookie);
    await app.register(fastifyRateLimit, { global: false });
    await app.register(fastifySwagger, {
      openapi: {
        info: {
          title: 'hatake API',
          version: '1',
          description: 'Farm gateways sync here; browsers read and act here.',
        },
        components: {
          securitySchemes: {
            session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
            gateway: { type: 'http', scheme: 'bearer' },
          },
        },
      },
    });
    await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

    app.decorateRequest('session', undefined);
    app.decorateRequest('sessionToken', undefined);
    app.addHook('onRequest', async (request) => {
      const token = request.cookies[SESSION_COOKIE];
      request.sessionToken = token;
      request.session = ctx.auth.session(token);
    });

    app.get(
      '/healthz',
      {
        schema: {
          summary: 'Liveness and storage health (public; for load balancers and monitoring)',
          tags: ['health'],
          response: { 200: HealthBody, 503: HealthBody },
        },
      },
      async (_request, reply) => {
        ctx.db.prepare('SELECT 1').get();
        const store = await ctx.readings.health().catch((e: Error) => ({ ok: false, detail: e.message }));
        return reply
          .status(store.ok ? 200 : 503)
          .send({ status: store.ok ? 'ok' : 'degraded', storage: store, webApp });
      },
    );
    await app.register(syncRoutes, { ctx });
    await app.register(authRoutes, { ctx });
    await app.register(userRoutes, { ctx });
    await app.register(deviceRoutes, { ctx });
    await app.register(liveRoutes, { ctx });
    await app.register(gatewayRoutes, { ctx, dataDir: opts.dataDir });
    await app.register(sceneRoutes, { ctx, dataDir: opts.dataDir, maxSceneBytes: opts.maxSceneBytes });
    await app.register(mapRoutes, { map: opts.map });
    await app.register(reviewFeature, { ctx });
    await app.register(fieldViewsFeature, { ctx });
    await app.register(partnerFeature, { ctx });
    if (webApp) {
      // The build's Brotli / gzip copies when the browser takes them (dashboard/ui/vite.config.ts
      // writes them); the hashed bundles under /assets/ never change under their name, so a phone
      // keeps them for a year, while index.html (which names them) is checked on every load.
      await app.register(fastifyStatic, {
        root: publicDir,
        prefix: '/',
        index: ['index.html'],
        preCompressed: true,
        cacheControl: false,
        setHeaders: (reply, path) => {
          reply.header(
            'cache-control',
            /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
          );
        },
      });
    } else {
      app.get('/', { schema: { hide: true } }, (_request, reply) =>
        reply.status(503).type('text/html; charset=utf-8').send(NOT_BUILT_PAGE),
      );
    }
    return new HatakeServer(app, ctx, opts, routes);
  }

  /** Listens; returns the bound port (useful with port 0). */
  async listen(): Promise<number> {
    try {
      await this.app.listen({ host: this.opts.host ?? '0.0.0.0', port: this.opts.port ?? 8080 });
    } catch (e) {
      throw new HatakeError('HATAKE_E_CONFIG', listenError(e, 'server', this.opts.port ?? 8080).message);
    }
    const addr = this.app.server.address();
    return typeof addr === 'object' && addr ? addr.port : (this.opts.port ?? 8080);
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.ctx.readings.close();
    this.ctx.db.close();
  }
}
