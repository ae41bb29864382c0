// Gateways: registration (a token, shown once), the list with each gateway's sync backlog, clock
// and version, revocation — and the downlink a gateway polls or listens to: versioned documents
// for its farm, signed by the server, plus the model artifacts they name.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { Id, isId } from '../../protocol/ids.ts';
import { ModelCard } from '../../protocol/model-card.ts';
import { RemoteGatewayConfig } from '../../protocol/gateway-config.ts';
import { QueryInt } from '../../protocol/review.ts';
import { writeFileAtomic } from '../../firmware-config/provision.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';
import type { App, ServerContext } from '../server.ts';
import { requireGateway, requireSession } from '../server.ts';
import type { User } from '../auth.ts';
import { wireDocument } from '../downlink.ts';
import { syncAcked } from '../sync-acked.ts';

const GatewayView = Type.Object({
  id: Type.String(),
  farm: Type.String(),
  created: Type.String({ format: 'date-time' }),
  revoked: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastSync: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  ackedSeq: Type.Integer({
    description:
      "The highest sequence number of any batch acknowledged from the gateway's current outbox epoch " +
      '(its database): it starts again when a new database syncs or the gateway is registered again. ' +
      'Batches follow priority, so readings numbered below it may still be waiting at the gateway.',
  }),
  version: Type.Union([Type.String(), Type.Null()]),
  backlog: Type.Union([Type.Integer(), Type.Null()]),
  backlogBytes: Type.Union([Type.Integer(), Type.Null()]),
  oldestAgeMs: Type.Union([Type.Integer(), Type.Null()]),
  clockOffsetMs: Type.Union([Type.Number(), Type.Null()]),
  downlinkVersion: Type.Union([Type.Integer(), Type.Null()]),
  farmDownlinkVersion: Type.Integer(),
  throughput: Type.Number({
    minimum: 0,
    description:
      'Items per minute the server took from this gateway, averaged over the last 5 minutes: every item of ' +
      'each batch it acknowledged in that time, less the readings it already held (a resent batch does not ' +
      'count twice), divided by 5. 0 when nothing arrived in the last 5 minutes. Measured by the server, so ' +
      'it survives a server restart; the backlog is counted in the same items.',
  }),
});

/** The window the server's throughput figure averages over. */
export const THROUGHPUT_WINDOW_MS = 5 * 60_000;

/**
 * What the sync endpoint took from each gateway and when: one row per acknowledged batch (per
 * millisecond), kept for THROUGHPUT_WINDOW_MS, in server.db so a restart does not forget it. The
 * sync protocol stays as it is: the figure comes from what the server received, not from the gateway.
 */
export type SyncThroughput = ReturnType<typeof syncThroughput>;

export function syncThroughput(db: Db) {
  migrate(db, 'gateway-throughput', [
    `CREATE TABLE gateway_throughput (
       gateway TEXT NOT NULL, at INTEGER NOT NULL, items INTEGER NOT NULL, PRIMARY KEY (gateway, at)
     ) WITHOUT ROWID;`,
  ]);
  const add = db.prepare(
    `INSERT INTO gateway_throughput (gateway, at, items) VALUES (?, ?, ?)
     ON CONFLICT(gateway, at) DO UPDATE SET items = items + excluded.items`,
  );
  // Rows older than the window, and rows stamped ahead of `now` beyond it (a server clock set back
  // after running ahead: they would count again once the clock caught up with them).
  const prune = db.prepare('DELETE FROM gateway_throughput WHERE gateway = ? AND (at <= ? OR at > ?)');
  const sums = db.prepare(
    'SELECT gateway, SUM(items) AS items FROM gateway_throughput WHERE at > ? AND at <= ? GROUP BY gateway',
  );
  return {
    /** Counts `items` taken from `gateway` at `now`; call it in the transaction that acknowledges them. */
    record(gateway: string, items: number, now: number): void {
      prune.run(gateway, now - THROUGHPUT_WINDOW_MS, now + THROUGHPUT_WINDOW_MS);
      if (items > 0) add.run(gateway, now, items);
    },
    /** Items per minute over the window ending at `now`, by gateway (absent: 0). A clock set back
     * does not count batches stamped after `now`. */
    perMinute(now: number): Map<string, number> {
      const rows = sums.all(now - THROUGHPUT_WINDOW_MS, now) as { gateway: string; items: number }[];
      return new Map(rows.map((r) => [r.gateway, r.items / (THROUGHPUT_WINDOW_MS / 60_000)]));
    },
  };
}

const DownlinkDoc = Type.Object({
  kind: Type.String(),
  id: Type.String(),
  version: Type.Integer(),
  bodyJson: Type.String({
    description: 'The body as JSON text, byte for byte as signed (inside the envelope, protocol/downlink.ts)',
  }),
  signature: Type.Union([Type.String(), Type.Null()], {
    description: 'ed25519 (base64) over downlinkSigningText of {farm, kind, id, version, deleted, body}',
  }),
  deleted: Type.Boolean(),
});

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** May this person register or revoke a gateway of this farm? Admins, and partners serving it. */
function mayManage(user: User, farm: string): boolean {
  return user.role === 'admin' || (user.role === 'partner' && user.farms.includes(farm));
}

/**
 * Issues a gateway's sync token, the route's and the CLI's way alike. Registered again (a replaced
 * SD card, a re-flash, a lost token), whatever database the gateway runs now numbers its outbox on
 * its own, so what the server acknowledged from the old one — the ranges that make a resend a
 * no-op, the acked sequence on the gateway list — goes with the old token.
 */
export function registerGateway(ctx: Pick<ServerContext, 'db' | 'auth'>, id: string, farm: string): string {
  return ctx.db.transaction(() => {
    const token = ctx.auth.issueGatewayToken(id, farm);
    syncAcked(ctx.db).forget(id);
    ctx.db.prepare('UPDATE gateways SET acked_seq = 0 WHERE id = ?').run(id);
    return token;
  })();
}

export async function gatewayRoutes(
  app: App,
  { ctx, dataDir }: { ctx: ServerContext; dataDir: string },
): Promise<void> {
  const artifacts = join(dataDir, 'artifacts');
  mkdirSync(artifacts, { recursive: true });

  app.get(
    '/api/v1/server-key',
    {
      schema: {
        summary: "The server's ed25519 public key (PEM) that signs downlink documents",
        tags: ['gateway'],
        response: { 200: Type.Object({ publicKey: Type.String() }) },
      },
    },
    async () => ({ publicKey: ctx.signingPublicKey }),
  );

  app.post(
    '/api/v1/gateways',
    {
      schema: {
        summary: 'Register a gateway (or replace its token); the token is shown once',
        tags: ['gateway'],
        security: [{ session: [] }],
        body: Type.Object({ id: Id('Gateway id'), farm: Id('Farm id') }, { additionalProperties: false }),
        response: {
          201: Type.Object({
            id: Type.String(),
            farm: Type.String(),
            token: Type.String(),
            publicKey: Type.String(),
          }),
          401: ProblemBody,
          403: ProblemBody,
        },
      },
    },
    async (request, reply) => {
      const { user } = requireSession(request);
      const { id, farm } = request.body;
      if (!mayManage(user, farm))
        throw new HatakeError('HATAKE_E_FORBIDDEN', `you cannot register gateways for farm "${farm}"`);
      const existing = ctx.db.prepare('SELECT farm FROM gateways WHERE id = ?').get(id) as
        { farm: string } | undefined;
      if (existing && existing.farm !== farm)
        throw new HatakeError('HATAKE_E_FORBIDDEN', `gateway "${id}" belongs to another farm`);
      const token = registerGateway(ctx, id, farm);
      request.log.info({ gateway: id, farm, by: user.name }, 'gateway token issued');
      return reply.status(201).send({ id, farm, token, publicKey: ctx.signingPublicKey });
    },
  );

  app.get(
    '/api/v1/gateways',
    {
      schema: {
        summary: 'Gateways of the farms you may see, with their sync backlog, throughput, clock and version',
        tags: ['gateway'],
        security: [{ session: [] }],
        response: { 200: Type.Array(GatewayView), 401: ProblemBody },
      },
    },
    async (request) => {
      const farms = ctx.auth.visibleFarms(requireSession(request).user);
      if (farms.length === 0) return [];
      const rows = ctx.db
        .prepare(`SELECT * FROM gateways WHERE farm IN (${farms.map(() => '?').join(',')}) ORDER BY farm, id`)
        .all(...farms) as {
        id: string;
        farm: string;
        created: number;
        revoked: number | null;
        last_sync: number | null;
        acked_seq: number;
        version: string | null;
        backlog: number | null;
        backlog_bytes: number | null;
        oldest_age_ms: number | null;
        clock_offset_ms: number | null;
        downlink_version: number | null;
      }[];
      const perMinute = ctx.throughput.perMinute(Date.now());
      return rows.map((g) => ({
        id: g.id,
        farm: g.farm,
        created: iso(g.created)!,
        revoked: iso(g.revoked),
        lastSync: iso(g.last_sync),
        ackedSeq: g.acked_seq,
        version: g.version,
        backlog: g.backlog,
        backlogBytes: g.backlog_bytes,
        oldestAgeMs: g.oldest_age_ms,
        clockOffsetMs: g.clock_offset_ms,
        downlinkVersion: g.downlink_version,
        farmDownlinkVersion: ctx.downlink.latestVersion(g.farm),
        throughput: perMinute.get(g.id) ?? 0,
      }));
    },
  );

  app.delete(
    '/api/v1/gateways/:id',
    {
      schema: {
        summary: "Revoke a gateway's token: it gets 401 and stops sending",
        tags: ['gateway'],
        security: [{ session: [] }],
        params: Type.Object({ id: Id('Gateway id') }),
        response: { 204: Type.Null(), 401: ProblemBody, 403: ProblemBody, 404: ProblemBody },
      },
    },
    async (request, reply) => {
      const { user } = requireSession(request);
      const gw = ctx.db.prepare('SELECT farm FROM gateways WHERE id = ?').get(request.params.id) as
        { farm: string } | undefined;
      if (!gw || !ctx.auth.visibleFarms(user).includes(gw.farm))
        throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such gateway');
      if (!mayManage(user, gw.farm))
        throw new HatakeError('HATAKE_E_FORBIDDEN', 'you cannot revoke this gateway');
      ctx.auth.revokeGateway(request.params.id);
      request.log.warn({ gateway: request.params.id, by: user.name }, 'gateway revoked');
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/downlink',
    {
      schema: {
        summary: "Documents for the gateway's farm newer than `after`",
        tags: ['gateway'],
        security: [{ gateway: [] }],
        // Query strings are text (the server does not coerce types): digits, parsed below.
        querystring: Type.Object(
          { after: Type.Optional(QueryInt('Documents after this version', 15)) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            farm: Type.String(),
            latest: Type.Integer(),
            documents: Type.Array(DownlinkDoc),
          }),
          401: ProblemBody,
        },
      },
    },
    async (request) => {
      const gw = requireGateway(request, ctx.auth);
      const docs = ctx.downlink.since(gw.farm, Number(request.query.after ?? '0'), 200);
      return {
        farm: gw.farm,
        latest: ctx.downlink.latestVersion(gw.farm),
        documents: docs.map(wireDocument),
      };
    },
  );

  app.get(
    '/api/v1/downlink/stream',
    {
      schema: {
        summary: 'Server-Sent Events: a `version` event whenever the farm has a new document',
        tags: ['gateway'],
        security: [{ gateway: [] }],
      },
    },
    async (request, reply) => {
      const gw = requireGateway(request, ctx.auth);
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
      });
      raw.write(`event: version\ndata: ${ctx.downlink.latestVersion(gw.farm)}\n\n`);
      const on = (e: { farm: string; version: number }) => {
        if (e.farm === gw.farm && !raw.writableNeedDrain) raw.write(`event: version\ndata: ${e.version}\n\n`);
      };
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
      ctx.live.on('downlink', on);
      request.raw.on('close', () => {
        clearInterval(heartbeat);
        ctx.live.off('downlink', on);
      });
    },
  );

  app.get(
    '/api/v1/downlink/artifacts/:sha256',
    {
      schema: {
        summary: 'A model artifact named by a downlink document of the gateway’s farm',
        tags: ['gateway'],
        security: [{ gateway: [] }],
        params: Type.Object({ sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
      },
    },
    async (request, reply) => {
      const gw = requireGateway(request, ctx.auth);
      const named = ctx.downlink
        .since(gw.farm, 0, 100_000)
        .some(
          (d) =>
            d.kind === 'model' &&
            !d.deleted &&
            (d.body as { sha256?: string }).sha256 === request.params.sha256,
        );
      const file = join(artifacts, `${request.params.sha256}.onnx`);
      if (!named || !existsSync(file))
        throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such artifact for this farm');
      return reply.type('application/octet-stream').send(readFileSync(file));
    },
  );

  app.post(
    '/api/v1/farms/:farm/models',
    {
      bodyLimit: 64 * 1024 * 1024,
      schema: {
        summary: "Send a model (card + ONNX) down to a farm's gateways, signed",
        tags: ['gateway'],
        security: [{ session: [] }],
        params: Type.Object({ farm: Id('Farm id') }),
        body: Type.Object(
          {
            card: ModelCard,
            onnx: Type.String({ description: 'The ONNX file, base64', maxLength: 64 * 1024 * 1024 }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ version: Type.Integer(), sha256: Type.String() }),
          400: ProblemBody,
          401: ProblemBody,
          403: ProblemBody,
        },
      },
    },
    async (request, reply) => {
      const { user } = requireSession(request);
      if (user.role !== 'admin')
        throw new HatakeError('HATAKE_E_FORBIDDEN', 'only an admin sends models to gateways');
      if (!isId(request.params.farm)) throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such farm');
      const bytes = Buffer.from(request.body.onnx, 'base64');
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (sha256 !== request.body.card.sha256) {
        throw new HatakeError(
          'HATAKE_E_MODEL_INTEGRITY',
          `the ONNX file's sha256 ${sha256} is not the card's ${request.body.card.sha256}`,
        );
      }
      writeFileAtomic(join(artifacts, `${sha256}.onnx`), bytes, 0o644);
      const card = request.body.card;
      const version = ctx.downlink.publish(request.params.farm, 'model', `${card.id}@${card.version}`, {
        id: card.id,
        version: card.version,
        sha256,
        card,
      });
      return reply.status(201).send({ version, sha256 });
    },
  );

  // The configuration sent down to a farm's gateways: the tunables only (RemoteGatewayConfig),
  // merged on each gateway over its own file. Admins, and the IT partners serving the farm.
  const CONFIG_ID = 'gateway';
  const ConfigView = Type.Object({
    version: Type.Integer(),
    config: RemoteGatewayConfig,
    sent: Type.String({ format: 'date-time' }),
  });
  const configParams = Type.Object({ farm: Id('Farm id') });
  const mayConfigure = (user: User, farm: string) => {
    if (!mayManage(user, farm))
      throw new HatakeError(
        'HATAKE_E_FORBIDDEN',
        "only an admin or the farm's IT partner configures its gateways",
      );
  };

  app.get(
    '/api/v1/farms/:farm/gateway-config',
    {
      schema: {
        summary: "The configuration last sent down to the farm's gateways",
        tags: ['gateway'],
        security: [{ session: [] }],
        params: configParams,
        response: { 200: ConfigView, 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody },
      },
    },
    async (request) => {
      mayConfigure(requireSession(request).user, request.params.farm);
      const doc = ctx.downlink.get(request.params.farm, 'config', CONFIG_ID);
      if (!doc || doc.deleted)
        throw new HatakeError('HATAKE_E_NOT_FOUND', 'no configuration was sent to this farm’s gateways');
      return { version: doc.version, config: doc.body as RemoteGatewayConfig, sent: iso(doc.created)! };
    },
  );

  app.put(
    '/api/v1/farms/:farm/gateway-config',
    {
      bodyLimit: 16 * 1024,
      schema: {
        summary:
          "Send a configuration (budgets, retention, health, sync pacing, publish rate) down to the farm's gateways, signed",
        tags: ['gateway'],
        security: [{ session: [] }],
        params: configParams,
        body: RemoteGatewayConfig,
        response: { 200: ConfigView, 400: ProblemBody, 401: ProblemBody, 403: ProblemBody },
      },
    },
    async (request) => {
      mayConfigure(requireSession(request).user, request.params.farm);
      const version = ctx.downlink.publish(request.params.farm, 'config', CONFIG_ID, request.body);
      return { version, config: request.body, sent: new Date().toISOString() };
    },
  );

  app.delete(
    '/api/v1/farms/:farm/gateway-config',
    {
      schema: {
        summary: 'Withdraw the configuration sent down: the gateways return to their own files',
        tags: ['gateway'],
        security: [{ session: [] }],
        params: configParams,
        response: {
          204: Type.Null(),
          400: ProblemBody,
          401: ProblemBody,
          403: ProblemBody,
          404: ProblemBody,
        },
      },
    },
    async (request, reply) => {
      mayConfigure(requireSession(request).user, request.params.farm);
      const doc = ctx.downlink.get(request.params.farm, 'config', CONFIG_ID);
      if (!doc || doc.deleted)
        throw new HatakeError('HATAKE_E_NOT_FOUND', 'no configuration was sent to this farm’s gateways');
      ctx.downlink.publish(request.params.farm, 'config', CONFIG_ID, {}, { deleted: true });
      return reply.status(204).send(null);
    },
  );
}
