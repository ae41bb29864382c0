// GET /api/v1/live — Server-Sent Events of new readings for the caller's farms.
import { LIVE_HEARTBEAT_MS, type LiveReadingEvent } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { App, ServerContext } from '../server.ts';
import { requireSession } from '../server.ts';

export async function liveRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  app.get(
    '/api/v1/live',
    {
      schema: {
        summary: 'Live readings (text/event-stream)',
        tags: ['devices'],
        security: [{ session: [] }],
      },
    },
    async (request, reply) => {
      const user = requireSession(request).user;
      if (ctx.live.streams >= ctx.live.maxStreams)
        throw new HatakeError('HATAKE_E_RATE_LIMIT', 'too many live streams');
      const farms = new Set(ctx.auth.visibleFarms(user));
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': hatake live\n\n');
      ctx.live.streams++;
      const onReading = (e: LiveReadingEvent) => {
        if (!farms.has(e.farm)) return;
        if (raw.writableNeedDrain) {
          ctx.live.dropped++; // a slow client loses events rather than growing our memory
          return;
        }
        raw.write(`event: reading\ndata: ${JSON.stringify(e)}\n\n`);
      };
      // Something a page may want to refresh (a tip, a recommendation, an automation log).
      // Review events name pending recommendations: only officers and admins get those.
      const seesReviews = user.role === 'officer' || user.role === 'admin';
      const onChange = (e: { farm: string; kind: string; id: string }) => {
        if (!farms.has(e.farm) || raw.writableNeedDrain) return;
        if (!seesReviews && (e.kind === 'review' || e.kind === 'auto_approval')) return;
        raw.write(`event: change\ndata: ${JSON.stringify(e)}\n\n`);
      };
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), LIVE_HEARTBEAT_MS);
      ctx.live.on('reading', onReading);
      ctx.live.on('change', onChange);
      request.raw.on('close', () => {
        clearInterval(heartbeat);
        ctx.live.off('reading', onReading);
        ctx.live.off('change', onChange);
        ctx.live.streams--;
      });
    },
  );
}
