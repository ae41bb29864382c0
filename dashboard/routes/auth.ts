// Sign-in and sign-out for people (gateways use bearer tokens, never sessions). Login is
// rate-limited per address; the session cookie is http-only and SameSite=Strict, Secure whenever
// the browser reached us over HTTPS, and the CSRF token returned here must accompany every
// state-changing request.
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import type { App, ServerContext } from '../server.ts';
import { SESSION_COOKIE, requireSession } from '../server.ts';
import { SESSION_TTL_MS } from '../auth.ts';

const Me = Type.Object({
  user: Type.String(),
  role: Type.String(),
  farms: Type.Array(Type.String()),
  regions: Type.Array(Type.String()),
  csrf: Type.String(),
});

/**
 * Whether the session cookie gets the Secure attribute: always when `secureCookies` is set, and
 * otherwise whenever the request came over HTTPS — on a TLS socket, or through a reverse proxy that
 * says so in X-Forwarded-Proto. The header is honoured without a trusted-proxy list because it can
 * only add Secure, never remove it: a client that forges it over plain HTTP gets a cookie its own
 * browser refuses to store. Plain-HTTP localhost (the demo) keeps a cookie without Secure.
 */
export function cookieIsSecure(request: FastifyRequest, secureCookies: boolean): boolean {
  if (secureCookies || request.protocol === 'https') return true;
  const fwd = request.headers['x-forwarded-proto'];
  const protos = (Array.isArray(fwd) ? fwd.join(',') : (fwd ?? '')).split(',');
  return protos.some((p) => p.trim().toLowerCase() === 'https');
}

const sessionCookie = (request: FastifyRequest, secureCookies: boolean) => ({
  httpOnly: true,
  sameSite: 'strict' as const,
  secure: cookieIsSecure(request, secureCookies),
  path: '/',
});

export async function authRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  app.post(
    '/api/v1/auth/login',
    {
      config: { rateLimit: { max: 10, timeWindow: 60_000 } },
      schema: {
        summary: 'Sign in',
        tags: ['auth'],
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Me, 401: ProblemBody, 429: ProblemBody },
      },
    },
    async (request, reply) => {
      const { token, session } = await ctx.auth.login(request.body.username, request.body.password);
      void reply.setCookie(SESSION_COOKIE, token, {
        ...sessionCookie(request, ctx.secureCookies),
        maxAge: SESSION_TTL_MS / 1000,
      });
      const u = session.user;
      return {
        user: u.name,
        role: u.role,
        farms: ctx.auth.visibleFarms(u),
        regions: u.regions,
        csrf: session.csrf,
      };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      schema: {
        summary: 'Sign out',
        tags: ['auth'],
        security: [{ session: [] }],
        response: { 204: Type.Null(), 401: ProblemBody },
      },
    },
    async (request, reply) => {
      requireSession(request);
      // The session's live streams end now, not at their next heartbeat.
      if (request.sessionToken) ctx.live.endSession(request.sessionToken);
      ctx.auth.logout(request.sessionToken);
      // The same attributes as when it was set, so a browser replaces the Secure cookie too.
      void reply.clearCookie(SESSION_COOKIE, sessionCookie(request, ctx.secureCookies));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/auth/me',
    {
      schema: {
        summary: 'Who am I',
        tags: ['auth'],
        security: [{ session: [] }],
        response: { 200: Me, 401: ProblemBody },
      },
    },
    async (request) => {
      const s = requireSession(request);
      return {
        user: s.user.name,
        role: s.user.role,
        farms: ctx.auth.visibleFarms(s.user),
        regions: s.user.regions,
        csrf: s.csrf,
      };
    },
  );
}
