// Routes of webhooks: a farm's (its farmer) or a region's (its officers). The secret is shown
// once, at creation; lists show the URL without its query.
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { DeliveryView, WebhookCreate, WebhookCreated, WebhookView } from '../../protocol/review.ts';
import type { User } from '../auth.ts';
import { requireSession, type App } from '../server.ts';
import type { ReviewServices } from './services.ts';
import { checkWebhookUrl } from './webhook-target.ts';

const session = [{ session: [] }];
const problems = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };
const params = Type.Object({ id: Type.String({ pattern: '^wh-[0-9a-f]{16}$', description: 'Webhook id' }) });

export async function webhookRoutes(app: App, s: ReviewServices): Promise<void> {
  const tags = ['webhooks'];

  const regionsOf = (user: User): string[] => {
    if (user.role === 'officer') return user.regions;
    if (user.role === 'admin')
      return (
        s.db.prepare('SELECT DISTINCT region FROM farms WHERE region IS NOT NULL').all() as {
          region: string;
        }[]
      ).map((r) => r.region);
    return [];
  };
  const farmsOf = (user: User) => s.access.visible(user).filter((f) => s.access.canManage(user, f));

  /** A webhook the user manages, or a 404 (never confirm someone else's exists). */
  const managed = (user: User, id: string) => {
    const scope = s.webhooks.scopeOf(id);
    const ok =
      scope &&
      ((scope.farm !== null && farmsOf(user).includes(scope.farm)) ||
        (scope.region !== null && regionsOf(user).includes(scope.region)));
    if (!ok) throw new HatakeError('HATAKE_E_NOT_FOUND', `no webhook "${id}"`);
    return scope;
  };

  app.get(
    '/api/v1/webhooks',
    {
      schema: {
        summary: 'Webhooks of the farms and regions I manage',
        tags,
        security: session,
        response: { 200: Type.Array(WebhookView), ...problems },
      },
    },
    async (request) => {
      const user = requireSession(request).user;
      return s.webhooks.list(farmsOf(user), regionsOf(user));
    },
  );

  app.post(
    '/api/v1/webhooks',
    {
      schema: {
        summary:
          'Create a webhook for a farm (its farmer) or a region (its officers); the secret is shown once',
        tags,
        security: session,
        body: WebhookCreate,
        response: { 201: WebhookCreated, ...problems },
      },
    },
    async (request, reply) => {
      const user = requireSession(request).user;
      const b = request.body;
      if ((b.farm === undefined) === (b.region === undefined))
        throw new HatakeError('HATAKE_E_WEBHOOK', 'give either farm or region', {
          place: { pointer: '/farm' },
          expected: 'exactly one of farm, region',
        });
      if (b.farm !== undefined) s.access.requireManage(user, b.farm);
      else if (!regionsOf(user).includes(b.region!))
        throw new HatakeError(
          'HATAKE_E_FORBIDDEN',
          `only officers of region "${b.region}" may add its webhooks`,
        );
      checkWebhookUrl(b.url, s.dispatcher.opts.allowPrivateTargets);
      const { view, secret } = s.webhooks.create(
        b.farm !== undefined ? { farm: b.farm } : { region: b.region! },
        b.url,
        b.events,
        user.name,
        Date.now(),
      );
      return reply.status(201).send({ ...view, secret });
    },
  );

  app.delete(
    '/api/v1/webhooks/:id',
    {
      schema: {
        summary: 'Delete a webhook',
        tags,
        security: session,
        params,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      managed(requireSession(request).user, request.params.id);
      s.webhooks.delete(request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/webhooks/:id/ping',
    {
      schema: {
        summary: 'Queue a signed "ping" event to check the receiver',
        tags,
        security: session,
        params,
        response: {
          202: Type.Object({ queued: Type.Integer() }, { additionalProperties: false }),
          ...problems,
        },
      },
    },
    async (request, reply) => {
      const scope = managed(requireSession(request).user, request.params.id)!;
      const now = Date.now();
      const queued = s.webhooks.enqueue(
        'ping',
        { farm: scope.farm ?? '', region: scope.region },
        `ping:${request.params.id}:${now}`,
        { message: 'hatake webhook test' },
        now,
        request.params.id,
      );
      s.dispatcher.kick();
      return reply.status(202).send({ queued });
    },
  );

  app.get(
    '/api/v1/webhooks/:id/deliveries',
    {
      schema: {
        summary: 'The webhook’s latest deliveries and their state',
        tags,
        security: session,
        params,
        response: { 200: Type.Array(DeliveryView), ...problems },
      },
    },
    async (request) => {
      managed(requireSession(request).user, request.params.id);
      return s.webhooks.deliveries(request.params.id);
    },
  );
}
