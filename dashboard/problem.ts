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
    const first = error.validation[0] as { instancePath?: string; message?: string } | undefined;
    const ctx = (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
    err = new HatakeError(
      'HATAKE_E_PAYLOAD_SCHEMA',
      `${ctx}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`,
      {
        place: { pointer: first?.instancePath || '/' },
        expected: first?.message,
      },
    );
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
