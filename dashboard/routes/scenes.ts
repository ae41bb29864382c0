// Satellite scenes sent down to a farm's gateways. An admin, or the farm's IT partner (who also
// registers its gateways), uploads a GeoTIFF with what it is — acquisition time, sensor profile,
// band numbers, radiometric offset — as the raw body of `POST /api/v1/farms/:farm/scenes`. The
// upload is streamed to disk within a size limit, refused unless it is a TIFF the gateway can
// read (the TIFF header guard, then the grid, CRS and bands opened the way the gateway will open
// them), stored under its sha256 and announced with a signed `scene` downlink document. The
// gateway fetches the file from `GET /api/v1/downlink/scenes/:sha256`, checks size and sha256
// against the signed document and processes it like any scene. A raster of an index derived
// elsewhere is sent with profile `index` and `index` naming the index its one band holds.
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { Id, isId } from '../../protocol/ids.ts';
import { BAND_ROLES, INDEX_IDS, SceneDownlink, type BandRole } from '../../protocol/imagery.ts';
import { validator } from '../../protocol/validate.ts';
import { checkTiffHeader } from '../../edge/imagery/tiff-header.ts';
import type { App, ServerContext } from '../server.ts';
import { requireGateway, requireSession } from '../server.ts';
import type { User } from '../auth.ts';

/** The largest scene taken by default, the same as a gateway takes over MQTT (512 MiB). */
export const DEFAULT_MAX_SCENE_BYTES = 512 * 1024 * 1024;

const TIFF_TYPES = ['image/tiff', 'image/geotiff', 'application/octet-stream'];

const SceneQuery = Type.Object(
  {
    acquired: Type.String({ format: 'date-time', maxLength: 40, description: 'Acquisition time (UTC)' }),
    profile: Id('Sensor profile id (s2-l2a, s2-l1c, planetscope-4b, generic, index, …)'),
    sceneId: Type.Optional(Id('Scene id, unique per farm (default: scene- and the sha256’s first 16)')),
    bands: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]{1,16}=[0-9]{1,4}(,[a-z0-9]{1,16}=[0-9]{1,4}){0,15}$',
        description: 'Band roles → 1-based band numbers, e.g. red=3,nir=4 (the profile’s when absent)',
      }),
    ),
    offset: Type.Optional(
      Type.String({
        pattern: '^-?[0-9]{1,6}(\\.[0-9]{1,6})?$',
        description: 'Radiometric offset added to DNs (Sentinel-2 L2A baseline ≥ 04.00: -1000)',
      }),
    ),
    scale: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}(\\.[0-9]{1,12})?$', description: 'Radiometric scale' }),
    ),
    index: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]{1,16}$',
        description: `With profile index (and only with it): the index the raster’s one band holds (${INDEX_IDS.join(', ')})`,
      }),
    ),
  },
  { additionalProperties: false },
);

const SceneCreated = Type.Object({
  sceneId: Type.String(),
  version: Type.Integer(),
  sha256: Type.String(),
  size: Type.Integer(),
});

const sceneDoc = validator(SceneDownlink);

/** Admins, and IT partners serving the farm — the people who register its gateways. */
function maySend(user: User, farm: string): boolean {
  return user.role === 'admin' || (user.role === 'partner' && user.farms.includes(farm));
}

/** "red=3,nir=4" → roles → band numbers; a role that is not one, or is given twice, is refused. */
function bandMap(text: string): Partial<Record<BandRole, number>> {
  const out: Partial<Record<BandRole, number>> = {};
  for (const part of text.split(',')) {
    const [role, n] = part.split('=') as [string, string];
    if (!(BAND_ROLES as readonly string[]).includes(role))
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `bands: unknown band role "${role}"`, {
        expected: BAND_ROLES.join(', '),
      });
    if (out[role as BandRole] !== undefined)
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `bands: ${role} given twice`, {
        expected: 'each role once',
      });
    if (Number(n) < 1)
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `bands: ${role}=${n}`, {
        expected: 'band numbers from 1',
      });
    out[role as BandRole] = Number(n);
  }
  return out;
}

/**
 * Streams a request body to `file`, hashing it; stops at `max` bytes. Never destroys the request
 * (that would take the socket and the 413 with it): past the limit the rest is read and dropped.
 */
function receive(body: Readable, file: string, max: number): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const out = createWriteStream(file, { mode: 0o644 });
    let size = 0;
    let failed: Error | undefined;
    let finished = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = e;
      body.unpipe(out);
      body.resume(); // drain what is still coming; the reply says why
      // Settled once the file is closed, so the caller's clean-up finds it (and no write after).
      if (out.closed) reject(e);
      else {
        out.once('close', () => reject(e));
        out.destroy();
      }
    };
    body.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > max) {
        fail(new HatakeError('HATAKE_E_PAYLOAD_SIZE', `the scene is larger than the limit of ${max} bytes`));
        return;
      }
      hash.update(chunk);
    });
    body.on('error', (e) => fail(e));
    body.on('aborted', () => fail(new Error('the upload was aborted')));
    out.on('error', (e) => fail(e));
    out.on('finish', () => (finished = true));
    out.on('close', () => {
      if (!failed && finished) resolve({ size, sha256: hash.digest('hex') });
    });
    body.pipe(out);
  });
}

export async function sceneRoutes(
  app: App,
  {
    ctx,
    dataDir,
    maxSceneBytes = DEFAULT_MAX_SCENE_BYTES,
  }: { ctx: ServerContext; dataDir: string; maxSceneBytes?: number },
): Promise<void> {
  const scenes = join(dataDir, 'scenes');
  mkdirSync(scenes, { recursive: true });
  // Uploads cut short by a stop of the server.
  for (const f of readdirSync(scenes))
    if (f.startsWith('.upload-') && f.endsWith('.part')) rmSync(join(scenes, f), { force: true });

  // The body stays a stream: a scene can be hundreds of MB, never held in memory. (Scoped to this
  // plugin; the limit is enforced while streaming.)
  app.addContentTypeParser(TIFF_TYPES, (_request, payload, done) => done(null, payload));

  app.post(
    '/api/v1/farms/:farm/scenes',
    {
      schema: {
        summary: "Send a satellite scene (GeoTIFF, the raw body) down to a farm's gateways, signed",
        description:
          `The body is the GeoTIFF (content-type image/tiff), at most the server's limit ` +
          `(imagery.maxSceneMB in server.yaml, default ${DEFAULT_MAX_SCENE_BYTES / 1024 / 1024} MiB). ` +
          'Admins, and IT partners serving the farm.',
        tags: ['gateway'],
        security: [{ session: [] }],
        params: Type.Object({ farm: Id('Farm id') }),
        querystring: SceneQuery,
        response: {
          200: SceneCreated,
          201: SceneCreated,
          400: ProblemBody,
          401: ProblemBody,
          403: ProblemBody,
          409: ProblemBody,
          413: ProblemBody,
          415: ProblemBody,
        },
      },
      // Refused before a byte of the body is read.
      onRequest: async (request) => {
        const { user } = requireSession(request);
        const farm = (request.params as { farm?: string }).farm ?? '';
        if (!maySend(user, farm))
          throw new HatakeError('HATAKE_E_FORBIDDEN', 'only an admin or the farm’s IT partner sends scenes', {
            expected: 'an admin account, or a partner account serving the farm',
          });
        const length = Number(request.headers['content-length'] ?? NaN);
        if (length > maxSceneBytes)
          throw new HatakeError(
            'HATAKE_E_PAYLOAD_SIZE',
            `the scene is larger than the limit of ${maxSceneBytes} bytes`,
          );
      },
    },
    async (request, reply) => {
      const { user } = requireSession(request);
      const farm = request.params.farm;
      if (!isId(farm)) throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such farm');
      const body = request.body as unknown;
      if (!body || typeof (body as Readable).pipe !== 'function')
        throw new HatakeError(
          'HATAKE_E_PAYLOAD_SCHEMA',
          'send the GeoTIFF as the body, content-type image/tiff',
          {
            expected: TIFF_TYPES.join(' | '),
          },
        );
      const q = request.query;
      // What can be refused without the file is refused before it is read.
      const bands = q.bands ? bandMap(q.bands) : undefined;
      const { derivedIndex, profileById } = await import('../../edge/imagery/profiles.ts');
      const profile = profileById(q.profile);
      // An index with profile index only, and a known one (the rule the gateway applies); an index
      // raster's one band is the index, so band roles are refused as the gateway refuses them.
      const derived = derivedIndex(profile, q.index);
      if (derived && bands)
        throw new HatakeError('HATAKE_E_CONFIG', 'band roles were given for an index raster', {
          expected: `no bands: the file's one band is ${derived.name}`,
        });
      const tmp = join(scenes, `.upload-${randomBytes(8).toString('hex')}.part`);
      try {
        const { size, sha256 } = await receive(body as Readable, tmp, maxSceneBytes);
        if (size === 0) throw new HatakeError('HATAKE_E_IMAGERY_FILE', 'the upload is empty');
        const broken = size < 8 ? `${size} bytes, too short to be a TIFF` : checkTiffHeader(tmp, size);
        if (broken)
          throw new HatakeError('HATAKE_E_IMAGERY_FILE', `not a readable TIFF: ${broken}`, {
            expected: 'a GeoTIFF or Cloud-Optimized GeoTIFF',
          });
        // Opened as the gateway will open it: grid, CRS, bands and radiometry decided now, so a
        // scene no gateway could process is refused here, not on every farm's gateway.
        const { Scene } = await import('../../edge/imagery/scene.ts');
        const sceneId = q.sceneId ?? `scene-${sha256.slice(0, 16)}`;
        const offset = q.offset !== undefined ? Number(q.offset) : undefined;
        const scale = q.scale !== undefined ? Number(q.scale) : undefined;
        const scene = await Scene.open({
          files: [tmp],
          profile,
          bands,
          index: derived?.id,
          offset,
          offsetFrom: 'user',
          scale,
          sceneId,
          acquired: new Date(q.acquired).toISOString(),
        });
        await scene.close();

        const doc = sceneDoc.parse(
          {
            v: 1,
            sceneId,
            acquired: new Date(q.acquired).toISOString(),
            profile: q.profile,
            ...(bands ? { bands } : {}),
            ...(derived ? { index: derived.id } : {}),
            ...(offset !== undefined ? { offset } : {}),
            ...(scale !== undefined ? { scale } : {}),
            format: 'geotiff',
            size,
            sha256,
          },
          'scene',
        );
        const existing = ctx.downlink.get(farm, 'scene', sceneId);
        if (existing && !existing.deleted) {
          const prev = existing.body as { sha256?: string };
          if (prev.sha256 !== sha256)
            throw new HatakeError(
              'HATAKE_E_STATE_CONFLICT',
              `scene "${sceneId}" was already sent with another file`,
              {
                expected: 'a new scene id for a different file',
              },
            );
          if (existing.bodyJson === JSON.stringify(doc))
            return reply.status(200).send({ sceneId, version: existing.version, sha256, size });
        }
        const file = join(scenes, `${sha256}.tif`);
        if (existsSync(file) && statSync(file).size === size) rmSync(tmp, { force: true });
        else renameSync(tmp, file);
        const version = ctx.downlink.publish(farm, 'scene', sceneId, doc);
        request.log.info({ farm, scene: sceneId, sha256, size, by: user.name }, 'scene sent to gateways');
        return reply.status(201).send({ sceneId, version, sha256, size });
      } finally {
        rmSync(tmp, { force: true });
      }
    },
  );

  app.get(
    '/api/v1/downlink/scenes/:sha256',
    {
      schema: {
        summary: 'A scene file named by a downlink document of the gateway’s farm',
        tags: ['gateway'],
        security: [{ gateway: [] }],
        params: Type.Object({ sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
      },
    },
    async (request, reply) => {
      const gw = requireGateway(request, ctx.auth);
      const named = ctx.db
        .prepare(
          `SELECT 1 FROM downlink WHERE farm = ? AND kind = 'scene' AND deleted = 0 AND json_extract(body, '$.sha256') = ? LIMIT 1`,
        )
        .get(gw.farm, request.params.sha256);
      const file = join(scenes, `${request.params.sha256}.tif`);
      if (!named || !existsSync(file))
        throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such scene for this farm');
      return reply
        .type('image/tiff')
        .header('content-length', statSync(file).size)
        .send(createReadStream(file));
    },
  );
}
