// Routes of approved recommendations for the farm's people: the list, one with its map, and its
// prescription file in ISOXML, shapefile, GeoJSON or CSV — always with the officer's edited rates.
// Pending, rejected and superseded recommendations do not exist here (404).
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { Id } from '../../protocol/ids.ts';
import {
  ApprovedRecommendation,
  ApprovedRecommendationDetail,
  PrescriptionFormatSchema,
} from '../../protocol/review.ts';
import { requireSession, type App } from '../server.ts';
import type { ReviewServices } from './services.ts';
import { RecId } from './review-routes.ts';
import { prescriptionFile } from './prescription-files.ts';

const session = [{ session: [] }];
const problems = { 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };

export async function recommendationRoutes(app: App, s: ReviewServices): Promise<void> {
  const tags = ['recommendations'];

  app.get(
    '/api/v1/recommendations',
    {
      schema: {
        summary: 'Approved recommendations of my farms, newest decision first',
        tags,
        security: session,
        querystring: Type.Object(
          { farm: Type.Optional(Id('Only this farm')), field: Type.Optional(Id('Only this field')) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(ApprovedRecommendation), ...problems },
      },
    },
    async (request) => s.reviews.approvedList(requireSession(request).user, request.query),
  );

  app.get(
    '/api/v1/recommendations/:id',
    {
      schema: {
        summary: 'An approved recommendation with its zones (geometry) and applied rates',
        tags,
        security: session,
        params: Type.Object({ id: RecId }),
        response: { 200: ApprovedRecommendationDetail, ...problems },
      },
    },
    async (request) => s.reviews.approvedDetail(requireSession(request).user, request.params.id),
  );

  app.get(
    '/api/v1/recommendations/:id/prescription/:format',
    {
      schema: {
        summary: 'Prescription file: isoxml (ISO 11783-10 TaskData zip), shp (shapefile zip), geojson or csv',
        tags,
        security: session,
        params: Type.Object({ id: RecId, format: PrescriptionFormatSchema }),
        produces: ['application/zip', 'application/geo+json', 'text/csv'],
        response: {
          200: {
            description: 'The file, as an attachment',
            content: {
              'application/zip': { schema: { type: 'string', format: 'binary' } },
              'application/geo+json': { schema: { type: 'string' } },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...problems,
        },
      },
    },
    async (request, reply) => {
      const rec = s.reviews.approvedDoc(requireSession(request).user, request.params.id);
      const file = await prescriptionFile(rec, request.params.format);
      return reply
        .type(file.contentType)
        .header('content-disposition', `attachment; filename="${file.fileName}"`)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'private, no-store')
        .send(file.body);
    },
  );
}
