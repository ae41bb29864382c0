// Routes of tips: the list for the farm's people, and the farmer's act / dismiss / automate.
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { Id } from '../../protocol/ids.ts';
import { AutomateBody, AutomationView, TipView, TipsQuery } from '../../protocol/review.ts';
import { requireSession, type App } from '../server.ts';
import type { ReviewServices } from './services.ts';
import { queryInt } from './query.ts';

const session = [{ session: [] }];
const problems = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };
const params = Type.Object({ id: Id('Tip id') });

export async function tipRoutes(app: App, s: ReviewServices): Promise<void> {
  const tags = ['tips'];

  app.get(
    '/api/v1/tips',
    {
      schema: {
        summary: 'Tips of my farms: active ones (most severe first) or the history',
        tags,
        security: session,
        querystring: TipsQuery,
        response: { 200: Type.Array(TipView), ...problems },
      },
    },
    async (request) =>
      s.tips.list(requireSession(request).user, {
        ...request.query,
        limit: queryInt(request.query.limit, 'limit', 1, 500, 100),
      }),
  );

  app.get(
    '/api/v1/tips/:id',
    {
      schema: {
        summary: 'One tip with its evidence',
        tags,
        security: session,
        params,
        response: { 200: TipView, ...problems },
      },
    },
    async (request) => s.tips.get(requireSession(request).user, request.params.id),
  );

  app.post(
    '/api/v1/tips/:id/act',
    {
      schema: {
        summary: 'Mark a tip as done',
        tags,
        security: session,
        params,
        response: { 200: TipView, ...problems, 409: ProblemBody },
      },
    },
    async (request) => s.tips.act(requireSession(request).user, request.params.id),
  );

  app.post(
    '/api/v1/tips/:id/dismiss',
    {
      schema: {
        summary: 'Dismiss a tip',
        tags,
        security: session,
        params,
        response: { 200: TipView, ...problems, 409: ProblemBody },
      },
    },
    async (request) => s.tips.dismiss(requireSession(request).user, request.params.id),
  );

  app.post(
    '/api/v1/tips/:id/automate',
    {
      schema: {
        summary: 'Make an automation from the tip’s suggested action (created disabled unless enabled: true)',
        tags,
        security: session,
        params,
        body: AutomateBody,
        response: {
          200: Type.Object({ tip: TipView, automation: AutomationView }, { additionalProperties: false }),
          ...problems,
          409: ProblemBody,
        },
      },
    },
    async (request) => s.tips.automate(requireSession(request).user, request.params.id, request.body ?? {}),
  );
}
