// GET /api/v1/live — Server-Sent Events of new readings for the caller's farms.
//
// A stream lives no longer than the session that opened it: at every heartbeat it reads the
// session again (gone after sign-out, past its expiry, or with its account removed) and the farms
// the user may see now, so a user who lost a farm stops hearing about it within one heartbeat and
// a stream whose session ended writes a last `end` event (data `{"reason": …}`) and closes. A user
// holds at most `live.maxStreamsPerUser` streams at once (429 beyond), all users `maxStreams`.
import { ProblemBody, type LiveReadingEvent } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { LiveEndReason, LiveStream } from '../live.ts';
import type { App, ServerContext } from '../server.ts';
import { requireSession } from '../server.ts';

export async function liveRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  app.get(
    '/api/v1/live',
    {
      schema: {
        summary: 'Live readings (text/event-stream)',
        description:
          'Events `reading` and `change` for the farms the user may see, a comment at every heartbeat, ' +
          'and a last `end` event when the session ends (signed out, expired, account removed). ' +
          '429 when the server or this account already has as many streams as allowed.',
        tags: ['devices'],
        security: [{ session: [] }],
        response: { 401: ProblemBody, 429: ProblemBody },
      },
    },
    async (request, reply) => {
      const token = request.sessionToken!;
      let user = requireSession(request).user;
      const refusal = ctx.live.refusal(user.name);
      if (refusal) {
        ctx.live.refused++;
        throw new HatakeError('HATAKE_E_RATE_LIMIT', `too many live streams: ${refusal}`);
      }
      let farms = new Set(ctx.auth.visibleFarms(user));
      // Review events name pending recommendations: only officers and admins get those.
      let seesReviews = user.role === 'officer' || user.role === 'admin';
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': hatake live\n\n');

      let over = false;
      const end = (reason: LiveEndReason) => {
        if (over) return;
        cleanup();
        raw.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      };
      const onReading = (e: LiveReadingEvent) => {
        if (!farms.has(e.farm)) return;
        if (raw.writableNeedDrain) {
          ctx.live.dropped++; // a slow client loses events rather than growing our memory
          return;
        }
        raw.write(`event: reading\ndata: ${JSON.stringify(e)}\n\n`);
      };
      // Something a page may want to refresh (a tip, a recommendation, an automation log).
      const onChange = (e: { farm: string; kind: string; id: string }) => {
        if (!farms.has(e.farm) || raw.writableNeedDrain) return;
        if (!seesReviews && (e.kind === 'review' || e.kind === 'auto_approval')) return;
        raw.write(`event: change\ndata: ${JSON.stringify(e)}\n\n`);
      };
      // Each heartbeat asks again who this is and what they may see: the session may have ended
      // and the user's role or farms may have changed since the stream opened.
      const beat = () => {
        let session;
        try {
          session = ctx.auth.session(token);
          if (session) {
            user = session.user;
            farms = new Set(ctx.auth.visibleFarms(user));
            seesReviews = user.role === 'officer' || user.role === 'admin';
          }
        } catch (err) {
          request.log.error({ err }, 'live stream: could not check the session');
          return end('error'); // when the session cannot be checked, no more events
        }
        if (!session) return end('session-ended');
        raw.write(': keep-alive\n\n');
      };
      const heartbeat = setInterval(beat, ctx.live.heartbeatMs);
      function cleanup() {
        over = true;
        clearInterval(heartbeat);
        ctx.live.off('reading', onReading);
        ctx.live.off('change', onChange);
        uncount();
      }
      ctx.live.on('reading', onReading);
      ctx.live.on('change', onChange);
      const stream: LiveStream = { user: user.name, token, end };
      const uncount = ctx.live.add(stream);
      raw.on('close', () => {
        if (!over) cleanup();
      });
    },
  );
}
