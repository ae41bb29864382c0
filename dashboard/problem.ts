// Errors as application/problem+json (RFC 9457) with hatake's code, for every route.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, HatakeError, isHatakeError } from '../protocol/errors.ts';
import type { ProblemBody } from '../protocol/api.ts';

/** `status` overrides the code's usual status where HTTP says more (414, 431 for a size refusal). */
export function problemOf(err: HatakeError, status: number = err.status): ProblemBody {
  return {
    type: `https://hatake.dev/errors/${err.code}`,
    title: ERROR_CODES[err.code].title,
    status,
    code: err.code,
    detail: err.message,
    ...(err.place?.pointer ? { pointer: err.place.pointer } : {}),
    ...(err.expected ? { expected: err.expected } : {}),
  };
}

/**
 * Answers a connection the HTTP parser refused (a header too large, a malformed request line)
 * with problem+json instead of Node's bare 400.
 */
export function clientProblem(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify(
    problemOf(
      new HatakeError(
        status === 431 ? 'HATAKE_E_PAYLOAD_SIZE' : 'HATAKE_E_PAYLOAD_SCHEMA',
        status === 431 ? 'request headers too large' : 'malformed HTTP request',
      ),
      status,
    ),
  );
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

interface ValidationError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { additionalProperty?: unknown };
}

/**
 * The error that says what is wrong. For a union (a sync item is one of a dozen kinds) the
 * validator reports each alternative's first complaint — "kind must be equal to constant" from all
 * the kinds an item is not — and the one that matters is the one that got furthest into the value:
 * the deepest path (`/items/0/body/sceneId must match pattern`), and at equal depth not a `const`
(`/items/0/body must have required property 'at'` over `/items/0/kind must be equal to
constant`). Otherwise the first.
 */
function mostSpecific(errors: readonly ValidationError[]): ValidationError | undefined {
  let best: ValidationError | undefined;
  let depth = -1;
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    // At equal depth a `const` is the union's "not this kind" and anything else says more.
    const d = 2 * (e.instancePath ?? '').split('/').length - (e.keyword === 'const' ? 1 : 0);
    if (d > depth) {
      best = e;
      depth = d;
    }
  }
  return best ?? errors[0];
}

/** Maps any error a route throws to a problem body; internal errors are logged, never leaked. */
export function problemHandler(
  error: FastifyError | HatakeError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  let err: HatakeError;
  if (isHatakeError(error)) {
    err = error;
  } else if ('validation' in error && Array.isArray(error.validation)) {
    const first = mostSpecific(error.validation as ValidationError[]);
    const ctx = (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
    const extra = first?.params?.additionalProperty;
    const message = `${first?.message ?? 'is invalid'}${typeof extra === 'string' ? ` (${extra.slice(0, 64)})` : ''}`;
    err = new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `${ctx}${first?.instancePath ?? ''} ${message}`, {
      place: { pointer: first?.instancePath || '/' },
      expected: first?.message,
    });
  } else if ('statusCode' in error && typeof error.statusCode === 'number' && error.statusCode < 500) {
    const status = error.statusCode;
    const code =
      status === 413 || status === 414 || status === 431
        ? 'HATAKE_E_PAYLOAD_SIZE'
        : status === 429
          ? 'HATAKE_E_RATE_LIMIT'
          : status === 404
            ? 'HATAKE_E_NOT_FOUND'
            : 'HATAKE_E_PAYLOAD_SCHEMA';
    // Framework messages can quote the request (a URL, a parameter): keep them short.
    const body = problemOf(new HatakeError(code, error.message.slice(0, 200)), status);
    void reply
      .status(status)
      .type('application/problem+json')
      .send({ ...body, status });
    return;
  } else {
    request.log.error({ err: error }, 'internal error');
    err = new HatakeError('HATAKE_E_INTERNAL', 'internal error');
  }
  void reply.status(err.status).type('application/problem+json').send(problemOf(err));
}
