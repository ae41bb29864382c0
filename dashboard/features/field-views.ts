// Server feature plugin for issue 9's farmer and officer views: fields with their boundaries and
// latest imagery, a field's scenes with heatmaps and management zones, chart series, and the
// region overview. It registers the sync applier of the 'imagery' kind and the gateway's upload
// route for heatmap PNGs. Every route is scoped to the caller's farms (dashboard/views/access.ts).
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { ProblemBody } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { Field } from '../../protocol/manifest.ts';
import {
  FarmFields,
  FarmParams,
  FieldDetail,
  FieldParams,
  FieldScene,
  FieldSceneParams,
  RegionOverview,
  SceneId,
  Series,
  SeriesQuery,
  ZoneFeatureCollection,
  type FieldSummary,
} from '../../protocol/views.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import type { App, ServerContext } from '../server.ts';
import { requireGateway, requireSession } from '../server.ts';
import { knownFarm } from '../views/access.ts';
import {
  applyImagery,
  fieldScene,
  fieldScenes,
  fieldZones,
  getMapFile,
  latestByField,
  MAP_PATH_PATTERN,
  MAX_MAP_PNG_BYTES,
  migrateImagery,
  putMapFile,
} from '../views/imagery.ts';
import { seriesOf } from '../views/series.ts';
import { regionOverview } from '../views/overview.ts';
import { devicePositions } from '../partner/manifests.ts';
import {
  fieldStageView,
  migrateFieldStages,
  recordFieldStage,
  withdrawFieldStage,
} from '../views/field-stage.ts';
import { FieldStageInput, FieldStageView } from '../../protocol/field-stage.ts';
import type { Role } from '../auth.ts';

/** Who records the growth stage seen in a field: the people who walk it. */
const STAGE_RECORDERS: readonly Role[] = ['farmer', 'officer', 'admin'];

const session = [{ session: [] }];
const errors = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };

/** The fields of a farm as the gateway synced them (the manifest's field documents). */
function farmFields(ctx: ServerContext, farm: string): Field[] {
  return (
    ctx.db.prepare('SELECT doc FROM fields WHERE farm = ? ORDER BY id').all(farm) as { doc: string }[]
  ).map((r) => JSON.parse(r.doc) as Field);
}

const summaryOf = (f: Field, latest: FieldSummary['latest']): FieldSummary => ({
  id: f.id,
  name: f.name,
  crop: f.crop ?? null,
  variety: f.variety ?? null,
  plantingDate: f.plantingDate ?? null,
  soilTexture: f.soilTexture ?? null,
  boundary: f.boundary ?? null,
  latest,
});

export async function fieldViewsFeature(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  migrateImagery(ctx.db);
  migrateFieldStages(ctx.db);
  ctx.appliers.register('imagery', applyImagery);
  const catalogue = loadCatalogue();

  app.get(
    '/api/v1/farms/:farm/fields',
    {
      schema: {
        summary: "A farm's fields with boundaries and latest imagery, and its devices",
        tags: ['fields'],
        security: session,
        params: FarmParams,
        response: { 200: FarmFields, ...errors },
      },
    },
    async (request) => {
      const { farm } = knownFarm(ctx, request, request.params.farm);
      const latest = latestByField(ctx.db, [farm.id]);
      const positions = devicePositions(ctx.db, farm.id);
      const devices = ctx.db
        .prepare('SELECT id, name, field, kit FROM devices WHERE farm = ? ORDER BY id')
        .all(farm.id) as { id: string; name: string | null; field: string | null; kit: string | null }[];
      return {
        farm: farm.id,
        name: farm.name,
        timezone: farm.timezone,
        fields: farmFields(ctx, farm.id).map((f) => summaryOf(f, latest.get(`${farm.id}/${f.id}`) ?? null)),
        devices: devices.map((d) => ({ ...d, position: positions.get(d.id) ?? null })),
      };
    },
  );

  /** The caller's farm (known to the server) and one of its fields, or 404. */
  const farmField = (
    request: FastifyRequest,
    params: { farm: string; field: string },
    roles?: readonly Role[],
  ) => {
    const { farm, session: s } = knownFarm(ctx, request, params.farm, roles);
    const row = ctx.db
      .prepare('SELECT doc FROM fields WHERE farm = ? AND id = ?')
      .get(farm.id, params.field) as { doc: string } | undefined;
    if (!row) throw new HatakeError('HATAKE_E_NOT_FOUND', `no field "${params.field}"`);
    return { farm, field: JSON.parse(row.doc) as Field, session: s };
  };

  app.get(
    '/api/v1/farms/:farm/fields/:field',
    {
      schema: {
        summary: 'One field with its processed scenes (statistics, heatmaps), newest first',
        tags: ['fields'],
        security: session,
        params: FieldParams,
        response: { 200: FieldDetail, ...errors },
      },
    },
    async (request) => {
      const { farm, field } = farmField(request, request.params);
      const latest = latestByField(ctx.db, [farm.id]).get(`${farm.id}/${field.id}`) ?? null;
      return {
        farm: farm.id,
        timezone: farm.timezone,
        field: summaryOf(field, latest),
        scenes: fieldScenes(ctx.db, farm.id, field.id),
      };
    },
  );

  const stageErrors = { ...errors, 409: ProblemBody, 429: ProblemBody };

  app.get(
    '/api/v1/farms/:farm/fields/:field/stage',
    {
      schema: {
        summary:
          "The growth stage the gateway's rules take for a field (recorded here, or the manifest's), the stages that can be recorded, and the field's record",
        tags: ['fields'],
        security: session,
        params: FieldParams,
        response: { 200: FieldStageView, ...errors },
      },
    },
    async (request) => {
      const { farm, field } = farmField(request, request.params);
      return fieldStageView(ctx.db, ctx.downlink, farm, field);
    },
  );

  app.put(
    '/api/v1/farms/:farm/fields/:field/stage',
    {
      config: { rateLimit: { max: 60, timeWindow: 60_000 } },
      schema: {
        summary:
          "Record the growth stage seen in a field (a farmer or an extension officer): sent down to the farm's gateways, whose rules take it over the GDD estimate for 21 days",
        tags: ['fields'],
        security: session,
        params: FieldParams,
        body: FieldStageInput,
        response: { 200: FieldStageView, ...stageErrors },
      },
    },
    async (request) => {
      const { farm, field, session: s } = farmField(request, request.params, STAGE_RECORDERS);
      recordFieldStage(ctx.db, ctx.downlink, farm, field, request.body, s.user);
      return fieldStageView(ctx.db, ctx.downlink, farm, field);
    },
  );

  app.delete(
    '/api/v1/farms/:farm/fields/:field/stage',
    {
      config: { rateLimit: { max: 60, timeWindow: 60_000 } },
      schema: {
        summary:
          "Withdraw the growth stage recorded for a field (the GDD estimate, or the manifest's stage, is used again)",
        tags: ['fields'],
        security: session,
        params: FieldParams,
        response: { 200: FieldStageView, ...stageErrors },
      },
    },
    async (request) => {
      const { farm, field } = farmField(request, request.params, STAGE_RECORDERS);
      withdrawFieldStage(ctx.db, ctx.downlink, farm.id, field.id);
      return fieldStageView(ctx.db, ctx.downlink, farm, field);
    },
  );

  // One scene by its id, as an element of the field's `scenes` — also a scene older than the newest
  // 50 the field detail lists (the officer's review shows the scene a recommendation was computed from).
  app.get(
    '/api/v1/farms/:farm/fields/:field/scenes/:scene',
    {
      schema: {
        summary: "One of a field's processed scenes (statistics, heatmaps), however old",
        tags: ['fields'],
        security: session,
        params: FieldSceneParams,
        response: { 200: FieldScene, ...errors },
      },
    },
    async (request) => {
      const { farm } = knownFarm(ctx, request, request.params.farm);
      const scene = fieldScene(ctx.db, farm.id, request.params.field, request.params.scene);
      if (!scene) throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such scene for this field');
      return scene;
    },
  );

  app.get(
    '/api/v1/farms/:farm/fields/:field/scenes/:scene/zones',
    {
      schema: {
        summary: "A field's management zones of one scene (GeoJSON, WGS84)",
        tags: ['fields'],
        security: session,
        params: FieldSceneParams,
        response: { 200: ZoneFeatureCollection, ...errors },
      },
    },
    async (request) => {
      const { farm } = knownFarm(ctx, request, request.params.farm);
      const zones = fieldZones(ctx.db, farm.id, request.params.field, request.params.scene);
      if (!zones) throw new HatakeError('HATAKE_E_NOT_FOUND', 'no such scene for this field');
      return { type: 'FeatureCollection' as const, features: zones };
    },
  );

  app.get(
    '/api/v1/farms/:farm/scenes/:scene/file',
    {
      schema: {
        summary: 'A heatmap or legend PNG of a scene',
        tags: ['fields'],
        security: session,
        params: Type.Object(
          { farm: FarmParams.properties.farm, scene: SceneId },
          { additionalProperties: false },
        ),
        querystring: Type.Object(
          { path: Type.String({ pattern: MAP_PATH_PATTERN }) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'image/png',
            content: { 'image/png': { schema: Type.String({ format: 'binary' }) } },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { farm } = knownFarm(ctx, request, request.params.farm);
      const file = getMapFile(ctx.db, farm.id, request.params.scene, request.query.path);
      if (!file) throw new HatakeError('HATAKE_E_NOT_FOUND', 'map file not uploaded (yet)');
      return reply
        .header('cache-control', 'private, max-age=3600')
        .header('etag', `"${file.sha256}"`)
        .type('image/png')
        .send(file.png as never);
    },
  );

  app.get(
    '/api/v1/farms/:farm/series',
    {
      schema: {
        summary: "A device's metric over 24 h (raw), 7 days (hourly) or the season (daily), as chart columns",
        tags: ['fields'],
        security: session,
        params: FarmParams,
        querystring: SeriesQuery,
        response: { 200: Series, ...errors },
      },
    },
    async (request) => {
      const { farm } = knownFarm(ctx, request, request.params.farm);
      const { device, metric, range } = request.query;
      const dev = ctx.db
        .prepare('SELECT field FROM devices WHERE farm = ? AND id = ?')
        .get(farm.id, device) as { field: string | null } | undefined;
      if (!dev) throw new HatakeError('HATAKE_E_NOT_FOUND', `no device "${device}"`);
      const field = dev.field ? farmFields(ctx, farm.id).find((f) => f.id === dev.field) : undefined;
      try {
        return await seriesOf(ctx.readings, {
          farm: farm.id,
          device,
          metric,
          range,
          plantingDate: field?.plantingDate ?? null,
          now: Date.now(),
          timeZone: farm.timezone,
        });
      } catch (e) {
        if (e instanceof HatakeError) throw e;
        request.log.error({ err: e }, 'series query failed');
        throw new HatakeError('HATAKE_E_STORAGE', 'time-series store unavailable; retry later');
      }
    },
  );

  app.get(
    '/api/v1/overview',
    {
      schema: {
        summary: 'Region overview: fields by latest NDVI, farms with stale data',
        tags: ['fields'],
        security: session,
        response: { 200: RegionOverview, 401: ProblemBody },
      },
    },
    async (request) => {
      const user = requireSession(request).user;
      const farms = ctx.auth.visibleFarms(user);
      // Pending reviews are counted for those who review (a partner does not see recommendations).
      const reviewers = user.role === 'officer' || user.role === 'admin';
      return regionOverview(ctx.db, catalogue, farms, Date.now(), reviewers ? farms : []);
    },
  );

  // Heatmap PNGs are binary and can be large; they travel beside the sync batch that carries the
  // scene's statistics, so a batch stays small JSON. Idempotent: a resend replaces.
  app.addContentTypeParser(
    'image/png',
    { parseAs: 'buffer', bodyLimit: MAX_MAP_PNG_BYTES },
    (_r, body, done) => done(null, body),
  );
  app.put(
    '/api/v1/sync/imagery/:scene/file',
    {
      schema: {
        summary: "Upload a heatmap or legend PNG of one of the gateway's scenes",
        tags: ['gateway'],
        security: [{ gateway: [] }],
        params: Type.Object({ scene: SceneId }, { additionalProperties: false }),
        querystring: Type.Object(
          { path: Type.String({ pattern: MAP_PATH_PATTERN }) },
          { additionalProperties: false },
        ),
        response: {
          204: Type.Null(),
          400: ProblemBody,
          401: ProblemBody,
          413: ProblemBody,
          415: ProblemBody,
        },
      },
      onRequest: async (request) => {
        requireGateway(request, ctx.auth);
      },
    },
    async (request, reply) => {
      const gw = requireGateway(request, ctx.auth);
      if (!Buffer.isBuffer(request.body))
        throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'send the PNG with content-type image/png', {
          expected: 'image/png',
        });
      putMapFile(ctx.db, gw.farm, request.params.scene, request.query.path, request.body, Date.now());
      return reply.status(204).send(null);
    },
  );
}
