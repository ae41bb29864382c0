// Server feature plugin for issue 9's IT-partner tools: the kit catalogue, device and gateway
// health per farm, and provisioning in the browser (check a manifest → provision → files).
// Reading health is open to every role that may see the farm; provisioning to partners and admins.
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import {
  FarmHealth,
  FarmParams,
  KitSummary,
  kitSummary,
  ManifestCheckResult,
  ManifestProblem,
  ManifestUpload,
  ProvisionRequest,
  ProvisionResult,
  StoredManifest,
} from '../../protocol/views.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import type { App, ServerContext } from '../server.ts';
import { requireSession } from '../server.ts';
import { farmAccess } from '../views/access.ts';
import { deviceHealth, gatewayHealth } from '../partner/health.ts';
import {
  applyGatewayRegistries,
  checkResult,
  keyPreview,
  migratePartner,
  provision,
  storedManifest,
} from '../partner/manifests.ts';

const session = [{ session: [] }];
const errors = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };
const PROVISIONERS = ['partner', 'admin'] as const;

export async function partnerFeature(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  migratePartner(ctx.db);
  const catalogue = loadCatalogue();
  // The registry a gateway holds (hashes only), synced when it starts and when it changes:
  // provisioning here starts from it.
  ctx.appliers.register('registry', (a, bodies) => applyGatewayRegistries(a.db, a.gateway, a.now, bodies));

  app.get(
    '/api/v1/kits',
    {
      schema: {
        summary: 'The kit catalogue',
        tags: ['partner'],
        security: session,
        response: { 200: Type.Array(KitSummary), 401: ProblemBody },
      },
    },
    async (request) => {
      requireSession(request);
      return [...catalogue.kits.values()].map(kitSummary);
    },
  );

  app.get(
    '/api/v1/farms/:farm/health',
    {
      schema: {
        summary:
          "A farm's devices (last seen, battery, signal, data quality) and gateways (sync, backlog, version)",
        tags: ['partner'],
        security: session,
        params: FarmParams,
        response: { 200: FarmHealth, ...errors },
      },
    },
    async (request) => {
      farmAccess(ctx, request, request.params.farm);
      const now = Date.now();
      return {
        farm: request.params.farm,
        devices: await deviceHealth(ctx.db, ctx.readings, catalogue, request.params.farm, now),
        gateways: gatewayHealth(ctx.db, request.params.farm, now),
      };
    },
  );

  app.get(
    '/api/v1/farms/:farm/manifest',
    {
      schema: {
        summary: 'The manifest last provisioned here (or rebuilt from what the gateway synced)',
        tags: ['partner'],
        security: session,
        params: FarmParams,
        response: { 200: StoredManifest, ...errors },
      },
    },
    async (request) => {
      farmAccess(ctx, request, request.params.farm, PROVISIONERS);
      return storedManifest(ctx.db, request.params.farm);
    },
  );

  app.post(
    '/api/v1/farms/:farm/manifest/check',
    {
      config: { rateLimit: { max: 120, timeWindow: 60_000 } },
      schema: {
        summary:
          'Check a manifest: every problem with its line and column; for a valid one, which devices keep their keys and which get new ones',
        tags: ['partner'],
        security: session,
        params: FarmParams,
        body: ManifestUpload,
        response: { 200: ManifestCheckResult, ...errors, 429: ProblemBody },
      },
    },
    async (request) => {
      const farm = request.params.farm;
      farmAccess(ctx, request, farm, PROVISIONERS);
      // With the keys provisioning would keep and issue, for a manifest of this farm.
      return checkResult(request.body.text, request.body.files, catalogue, (m) =>
        m.farm.id === farm ? keyPreview(ctx.db, farm, m, catalogue) : null,
      );
    },
  );

  app.post(
    '/api/v1/farms/:farm/provision',
    {
      config: { rateLimit: { max: 30, timeWindow: 60_000 } },
      schema: {
        summary:
          'Provision a manifest: new device secrets with their config, ESPHome snippet, QR code and the printable sheet (returned once, never stored)',
        tags: ['partner'],
        security: session,
        params: FarmParams,
        body: ProvisionRequest,
        response: {
          200: ProvisionResult,
          422: Type.Object({ problems: Type.Array(ManifestProblem) }),
          ...errors,
          429: ProblemBody,
        },
      },
    },
    async (request, reply) => {
      const { session: s } = farmAccess(ctx, request, request.params.farm, PROVISIONERS);
      const out = await provision(
        { db: ctx.db, downlink: ctx.downlink, catalogue, user: s.user.name },
        request.params.farm,
        request.body,
      );
      if ('problems' in out) return reply.status(422).send({ problems: out.problems });
      return reply.header('cache-control', 'no-store').send(out.result);
    },
  );
}
