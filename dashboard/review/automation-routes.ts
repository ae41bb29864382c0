// Routes of automations (CRUD, checked against the farm's devices and kits, each change published
// to the gateways), their logs, and manual overrides of actuators.
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { Id } from '../../protocol/ids.ts';
import {
  AutomationCreate,
  AutomationLogView,
  AutomationUpdate,
  AutomationView,
  LogsQuery,
  OverrideBody,
  OverrideView,
} from '../../protocol/review.ts';
import { requireSession, type App } from '../server.ts';
import type { ReviewServices } from './services.ts';
import { queryInt } from './query.ts';

const session = [{ session: [] }];
const problems = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };
const params = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_-]{4,64}$', description: 'Automation id' }),
});
const deviceParams = Type.Object({ farm: Id('Farm id'), device: Id('Actuator device id') });

export async function automationRoutes(app: App, s: ReviewServices): Promise<void> {
  const tags = ['automations'];

  app.get(
    '/api/v1/automations',
    {
      schema: {
        summary: 'Automations of my farms',
        tags,
        security: session,
        querystring: Type.Object(
          { farm: Type.Optional(Id('Only this farm')) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(AutomationView), ...problems },
      },
    },
    async (request) => s.automations.list(requireSession(request).user, request.query.farm),
  );

  app.post(
    '/api/v1/automations',
    {
      schema: {
        summary: 'Create an automation (checked against the farm’s devices and kits, sent to its gateways)',
        tags,
        security: session,
        body: AutomationCreate,
        response: { 201: AutomationView, ...problems },
      },
    },
    async (request, reply) =>
      reply.status(201).send(s.automations.create(requireSession(request).user, request.body)),
  );

  app.get(
    '/api/v1/automations/:id',
    {
      schema: {
        summary: 'One automation',
        tags,
        security: session,
        params,
        response: { 200: AutomationView, ...problems },
      },
    },
    async (request) => s.automations.get(requireSession(request).user, request.params.id),
  );

  app.put(
    '/api/v1/automations/:id',
    {
      schema: {
        summary: 'Replace an automation (send the version you edited; a newer one answers 409)',
        tags,
        security: session,
        params,
        body: AutomationUpdate,
        response: { 200: AutomationView, ...problems, 409: ProblemBody },
      },
    },
    async (request) => s.automations.update(requireSession(request).user, request.params.id, request.body),
  );

  app.delete(
    '/api/v1/automations/:id',
    {
      schema: {
        summary: 'Delete an automation (the gateways drop it)',
        tags,
        security: session,
        params,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      s.automations.delete(requireSession(request).user, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/automations/:id/logs',
    {
      schema: {
        summary: 'What the automation did (synced from the gateway), newest first',
        tags,
        security: session,
        params,
        querystring: LogsQuery,
        response: { 200: Type.Array(AutomationLogView), ...problems },
      },
    },
    async (request) =>
      s.automations.logs(requireSession(request).user, request.params.id, {
        limit: queryInt(request.query.limit, 'limit', 1, 1000, 100),
        before: queryInt(request.query.before, 'before', 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      }),
  );

  app.get(
    '/api/v1/farms/:farm/overrides',
    {
      schema: {
        summary: 'Manual overrides of the farm’s actuators',
        tags,
        security: session,
        params: Type.Object({ farm: Id('Farm id') }),
        response: { 200: Type.Array(OverrideView), ...problems },
      },
    },
    async (request) => s.automations.overrides(requireSession(request).user, request.params.farm),
  );

  app.put(
    '/api/v1/farms/:farm/devices/:device/override',
    {
      schema: {
        summary: 'Hold an actuator closed or open, or pause its automations, for some minutes',
        tags,
        security: session,
        params: deviceParams,
        body: OverrideBody,
        response: { 200: OverrideView, ...problems },
      },
    },
    async (request) =>
      s.automations.setOverride(
        requireSession(request).user,
        request.params.farm,
        request.params.device,
        request.body,
      ),
  );

  app.delete(
    '/api/v1/farms/:farm/devices/:device/override',
    {
      schema: {
        summary: 'End an actuator’s override now',
        tags,
        security: session,
        params: deviceParams,
        response: { 200: OverrideView, ...problems },
      },
    },
    async (request) =>
      s.automations.clearOverride(requireSession(request).user, request.params.farm, request.params.device),
  );
}
