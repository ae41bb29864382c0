// The automations on the gateway's HTTP server: GET /automations (the page with the manual-override
// form), GET /api/automations (the same as JSON) and POST /automations/override, which sets or ends
// an override from a form or JSON. The POST needs the gateway's override code (override-token.ts):
// compared in constant time, at most 10 attempts a minute per address, and a request another site
// made the browser send (Origin or Sec-Fetch-Site saying so) is refused before the code is looked
// at. A Fastify plugin: `app.register(automationRoutes, { engine, token, gateway })`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import { ERROR_CODES, HatakeError, isHatakeError } from '../../protocol/errors.ts';
import type { AutomationEngine } from './engine.ts';
import { OVERRIDE_MODES } from './engine.ts';
import { renderAutomationsPage, type Lang } from './page.ts';
import { tokenMatches } from './override-token.ts';

export interface AutomationRoutesOptions {
  engine: Pick<AutomationEngine, 'status' | 'setOverride' | 'clearOverride'>;
  /** The gateway's override code. */
  token: string;
  /** Shown in the page title. */
  gateway: string;
  /** POSTs allowed per address and minute (10). */
  attemptsPerMinute?: number;
}

const FORM = 'application/x-www-form-urlencoded';
const MAX_BODY_BYTES = 4096;

/** Registers the automations page, its JSON and the override POST (an encapsulated plugin). */
export async function automationRoutes(app: FastifyInstance, opts: AutomationRoutesOptions): Promise<void> {
  await app.register(fastifyRateLimit, { global: false });
  if (!app.hasContentTypeParser(FORM)) {
    app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
  }
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const err = isHatakeError(error)
      ? error
      : error.statusCode === 429
        ? new HatakeError('HATAKE_E_RATE_LIMIT', 'too many attempts; wait a minute')
        : error.statusCode === 413
          ? new HatakeError('HATAKE_E_PAYLOAD_SIZE', `body larger than ${MAX_BODY_BYTES} bytes`)
          : error.statusCode !== undefined && error.statusCode < 500
            ? new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', error.message.slice(0, 200))
            : (request.log.error({ err: error.message }, 'automations route failed'),
              new HatakeError('HATAKE_E_INTERNAL', 'internal error'));
    return sendError(request, reply, opts, err);
  });

  app.get('/automations', async (request, reply) => {
    const q = request.query as { lang?: string; done?: string };
    const lang = langOf(request, q.lang);
    const done = typeof q.done === 'string' && q.done.length <= 64 ? q.done : undefined;
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(renderAutomationsPage(opts.engine.status(), lang, { gateway: opts.gateway, done }));
  });

  app.get('/api/automations', async () => opts.engine.status());

  app.post(
    '/automations/override',
    {
      bodyLimit: MAX_BODY_BYTES,
      config: { rateLimit: { max: opts.attemptsPerMinute ?? 10, timeWindow: 60_000 } },
    },
    async (request, reply) => {
      refuseCrossSite(request);
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'the body is not a form or a JSON object', {
          expected: 'device, mode, minutes, token (and by)',
        });
      const f = body as Record<string, unknown>;
      if (!tokenMatches(f.token, opts.token))
        throw new HatakeError('HATAKE_E_AUTH', 'the override code is missing or wrong', {
          place: { pointer: '/token' },
          expected: "the gateway's override code",
        });
      const device = field(f, 'device', 64);
      const mode = field(f, 'mode', 16);
      const by =
        (typeof f.by === 'string' ? f.by : '')
          .replace(/[\p{Cc}<>\u202a-\u202e\u2066-\u2069]/gu, '')
          .trim()
          .slice(0, 64) || 'gateway page';
      let result;
      if (mode === 'clear') {
        result = opts.engine.clearOverride(device, by) ?? null;
      } else {
        if (!(OVERRIDE_MODES as readonly string[]).includes(mode))
          throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `unknown mode "${mode}"`, {
            place: { pointer: '/mode' },
            expected: [...OVERRIDE_MODES, 'clear'].join(', '),
          });
        const raw = f.minutes;
        const minutes =
          typeof raw === 'number'
            ? raw
            : typeof raw === 'string' && /^\d{1,6}$/.test(raw.trim())
              ? Number(raw)
              : NaN;
        result = opts.engine.setOverride({
          device,
          mode: mode as (typeof OVERRIDE_MODES)[number],
          minutes,
          by,
        });
      }
      if (isForm(request)) {
        const lang = langOf(request, typeof f.lang === 'string' ? f.lang : undefined);
        return reply.redirect(`/automations?lang=${lang}&done=${encodeURIComponent(device)}`, 303);
      }
      return reply.send({ override: result });
    },
  );
}

function field(f: Record<string, unknown>, name: string, max: number): string {
  const v = f[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `${name} is missing or longer than ${max} characters`, {
      place: { pointer: `/${name}` },
    });
  return v;
}

/** A form another site made the browser post is refused (the code protects too; this is the first wall). */
function refuseCrossSite(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin;
  const host = request.headers.host;
  let foreign = site === 'cross-site';
  if (!foreign && typeof origin === 'string' && origin !== 'null') {
    try {
      foreign = new URL(origin).host !== host;
    } catch {
      foreign = true;
    }
  } else if (origin === 'null') foreign = true;
  if (foreign)
    throw new HatakeError('HATAKE_E_FORBIDDEN', 'a request from another site may not set overrides', {
      expected: "the gateway's own page",
    });
}

function isForm(request: FastifyRequest): boolean {
  return String(request.headers['content-type'] ?? '').startsWith(FORM);
}

function langOf(request: FastifyRequest, asked: string | undefined): Lang {
  if (asked === 'en' || asked === 'ja') return asked;
  return String(request.headers['accept-language'] ?? '').startsWith('en') ? 'en' : 'ja';
}

function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  opts: AutomationRoutesOptions,
  err: HatakeError,
): FastifyReply {
  if (isForm(request) || String(request.headers.accept ?? '').includes('text/html')) {
    const lang = langOf(request, undefined);
    let status;
    try {
      status = opts.engine.status();
    } catch {
      status = { timezone: 'Asia/Tokyo', automations: [], actuators: [], logs: [] };
    }
    return reply
      .status(err.status)
      .type('text/html; charset=utf-8')
      .send(renderAutomationsPage(status, lang, { gateway: opts.gateway, error: err.describe() }));
  }
  return reply
    .status(err.status)
    .type('application/problem+json')
    .send({
      type: `https://hatake.dev/errors/${err.code}`,
      title: ERROR_CODES[err.code].title,
      status: err.status,
      code: err.code,
      detail: err.message,
      ...(err.place?.pointer ? { pointer: err.place.pointer } : {}),
      ...(err.expected ? { expected: err.expected } : {}),
    });
}
