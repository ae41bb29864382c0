// Sign-in and sign-out for people (gateways use bearer tokens, never sessions), and a signed-in
// user's own password change. Login is rate-limited per address (10 a minute) and per account
// (dashboard/auth.ts LoginThrottle: 429 with Retry-After past an account's free failures, except for
// a browser that signed in to the account before — it brings the http-only device cookie set here).
// The session cookie is http-only and SameSite=Strict, Secure whenever the browser reached us over
// HTTPS, and the CSRF token returned here must accompany every state-changing request.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import type { App, ServerContext } from '../server.ts';
import { SESSION_COOKIE, requireSession } from '../server.ts';
import { DEVICE_TTL_MS, LoginThrottled, MIN_PASSWORD_LENGTH, SESSION_TTL_MS } from '../auth.ts';

/** The browser's device token: sent only to the sign-in routes (DEVICE_COOKIE_PATH). */
export const DEVICE_COOKIE = 'hatake_device';
const DEVICE_COOKIE_PATH = '/api/v1/auth';

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

/** A refusal by the per-account throttle says when to come back. */
async function throttled<T>(reply: FastifyReply, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof LoginThrottled) void reply.header('retry-after', String(e.retryAfterS));
    throw e;
  }
}

export async function authRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  app.post(
    '/api/v1/auth/login',
    {
      config: { rateLimit: { max: 10, timeWindow: 60_000 } },
      schema: {
        summary: 'Sign in',
        description:
          "Limited per client address (10 a minute) and per account: past an account's free failures " +
          '(10 within a day) its sign-ins are refused for 1 min, doubling with each further failure up ' +
          'to 15 min (429 with Retry-After), except from a browser that signed in to it before (its ' +
          '`hatake_device` cookie). A disabled account answers as a wrong password does.',
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
      const { token, session, device } = await throttled(reply, () =>
        ctx.auth.login(request.body.username, request.body.password, request.cookies[DEVICE_COOKIE]),
      );
      void reply.setCookie(SESSION_COOKIE, token, {
        ...sessionCookie(request, ctx.secureCookies),
        maxAge: SESSION_TTL_MS / 1000,
      });
      void reply.setCookie(DEVICE_COOKIE, device, {
        ...sessionCookie(request, ctx.secureCookies),
        path: DEVICE_COOKIE_PATH,
        maxAge: DEVICE_TTL_MS / 1000,
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

  app.post(
    '/api/v1/auth/password',
    {
      config: { rateLimit: { max: 10, timeWindow: 60_000 } },
      schema: {
        summary: 'Change my password',
        description:
          'The current password is checked (and throttled) as a sign-in is. Every other session of the ' +
          'account ends; this one stays.',
        tags: ['auth'],
        security: [{ session: [] }],
        body: Type.Object(
          {
            current: Type.String({ minLength: 1, maxLength: 256 }),
            password: Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: {
          204: Type.Null(),
          400: ProblemBody,
          401: ProblemBody,
          403: ProblemBody,
          429: ProblemBody,
        },
      },
    },
    async (request, reply) => {
      const s = requireSession(request);
      await throttled(reply, () =>
        ctx.auth.changePassword(s.user.name, request.body.current, request.body.password, {
          token: request.sessionToken,
          device: request.cookies[DEVICE_COOKIE],
        }),
      );
      request.log.info({ user: s.user.name }, 'account: own password changed, other sessions ended');
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
