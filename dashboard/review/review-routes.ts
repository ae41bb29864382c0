// Routes of the officers' review: the queue, the detail view, edit / approve / reject, the CSV of
// decisions, and a farm's auto-approval policy. Officers see only the farms of their regions: a
// recommendation elsewhere is a 404, never its data; farmers and partners get 403.
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { Id, RecommendationId } from '../../protocol/ids.ts';
import {
  ApproveBody,
  AutoApprovalBody,
  AutoApprovalPolicy,
  DecisionsQuery,
  EditBody,
  EditResult,
  RejectBody,
  ReviewDetail,
  ReviewQueueItem,
  ReviewQueueQuery,
} from '../../protocol/review.ts';
import { requireSession, type App } from '../server.ts';
import type { ReviewServices } from './services.ts';
import { decisionsOf } from './audit.ts';
import { decisionsCsv } from './decisions-csv.ts';
import { queryInt } from './query.ts';

export const RecId = RecommendationId();
const session = [{ session: [] }];
const problems = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };

export async function reviewRoutes(app: App, s: ReviewServices): Promise<void> {
  const tags = ['review'];

  app.get(
    '/api/v1/reviews',
    {
      schema: {
        summary: 'Review queue: recommendations of my region’s farms, oldest day first, larger fields first',
        tags,
        security: session,
        querystring: ReviewQueueQuery,
        response: { 200: Type.Array(ReviewQueueItem), ...problems },
      },
    },
    async (request) =>
      s.reviews.queue(requireSession(request).user, {
        ...request.query,
        limit: queryInt(request.query.limit, 'limit', 1, 500, 200),
      }),
  );

  app.get(
    '/api/v1/reviews/decisions.csv',
    {
      schema: {
        summary: 'Review decisions as CSV (UTF-8 with BOM)',
        tags,
        security: session,
        querystring: DecisionsQuery,
        produces: ['text/csv'],
        response: {
          200: {
            description:
              'CSV (UTF-8 with BOM, CRLF): time_utc, time_local (the farm’s zone), farm, farm_name, field, field_name, recommendation, model, action, action_ja, actor, role, from_status, from_status_ja, to_status, to_status_ja, changes (kg N/ha), changes_ja (kg/10a, as the review page writes them), reason',
            content: { 'text/csv': { schema: { type: 'string' } } },
          },
          ...problems,
        },
      },
    },
    async (request, reply) => {
      const user = requireSession(request).user;
      let farms = s.access.reviewFarms(user);
      if (request.query.farm) farms = farms.filter((f) => f === request.query.farm);
      const from = request.query.from ? Date.parse(request.query.from) : 0;
      const to = request.query.to ? Date.parse(request.query.to) : Date.now() + 1;
      const csv = decisionsCsv(decisionsOf(s.db, farms, from, to), {
        farm: (farm) => s.access.farm(farm),
        recommendation: (farm, id) => s.reviews.describe(farm, id),
      });
      const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="hatake-decisions-${day}.csv"`)
        .header('x-content-type-options', 'nosniff')
        .send(csv);
    },
  );

  app.get(
    '/api/v1/reviews/:id',
    {
      schema: {
        summary:
          'Everything to decide on: zones and rates, inputs and their freshness, imagery, model card, economics, audit',
        tags,
        security: session,
        params: Type.Object({ id: RecId }),
        response: { 200: ReviewDetail, ...problems },
      },
    },
    async (request) => s.reviews.detail(requireSession(request).user, request.params.id),
  );

  app.post(
    '/api/v1/reviews/:id/edit',
    {
      schema: {
        summary:
          'Set rates of zones (kg N/ha) with a reason; held to the crop profile limits and the spreader step',
        tags,
        security: session,
        params: Type.Object({ id: RecId }),
        body: EditBody,
        response: { 200: EditResult, ...problems, 409: ProblemBody },
      },
    },
    async (request) => s.reviews.edit(requireSession(request).user, request.params.id, request.body),
  );

  app.post(
    '/api/v1/reviews/:id/approve',
    {
      schema: {
        summary: 'Approve: the farmer sees it with its prescription, the gateways get it',
        tags,
        security: session,
        params: Type.Object({ id: RecId }),
        body: ApproveBody,
        response: { 200: ReviewDetail, ...problems, 409: ProblemBody },
      },
    },
    async (request) => s.reviews.approve(requireSession(request).user, request.params.id, request.body),
  );

  app.post(
    '/api/v1/reviews/:id/reject',
    {
      schema: {
        summary: 'Reject with a reason: the farmer never sees it',
        tags,
        security: session,
        params: Type.Object({ id: RecId }),
        body: RejectBody,
        response: { 200: ReviewDetail, ...problems, 409: ProblemBody },
      },
    },
    async (request) => s.reviews.reject(requireSession(request).user, request.params.id, request.body),
  );

  const farmParams = Type.Object({ farm: Id('Farm id') });

  app.get(
    '/api/v1/farms/:farm/auto-approval',
    {
      schema: {
        summary: 'The farm’s auto-approval policy (null when it has none)',
        tags,
        security: session,
        params: farmParams,
        response: { 200: Type.Union([AutoApprovalPolicy, Type.Null()]), ...problems },
      },
    },
    async (request) => s.reviews.policy(requireSession(request).user, request.params.farm),
  );

  app.put(
    '/api/v1/farms/:farm/auto-approval',
    {
      schema: {
        summary: 'Opt the farm in to auto-approval for a model under a rate ceiling (logged in the audit)',
        tags,
        security: session,
        params: farmParams,
        body: AutoApprovalBody,
        response: { 200: AutoApprovalPolicy, ...problems },
      },
    },
    async (request) => s.reviews.setPolicy(requireSession(request).user, request.params.farm, request.body),
  );

  app.delete(
    '/api/v1/farms/:farm/auto-approval',
    {
      schema: {
        summary: 'Opt the farm out of auto-approval (logged in the audit)',
        tags,
        security: session,
        params: farmParams,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      s.reviews.removePolicy(requireSession(request).user, request.params.farm);
      return reply.status(204).send(null);
    },
  );
}
