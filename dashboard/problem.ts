// Errors as application/problem+json (RFC 9457) with hatake's code, for every route.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, HatakeError, isHatakeError } from '../protocol/errors.ts';
import type { ProblemBody } from '../protocol/api.ts';

export function problemOf(err: HatakeError): ProblemBody {
  return {
    type: `https://hatake.dev/errors/${err.code}`,
    title: ERROR_CODES[err.code].title,
    status: err.status,
    code: err.code,
    detail: err.message,
    ...(err.place?.pointer ? { pointer: err.place.pointer } : {}),
    ...(err.expected ? { expected: err.expected } : {}),
  };
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
      status === 413
        ? 'HATAKE_E_PAYLOAD_SIZE'
        : status === 429
          ? 'HATAKE_E_RATE_LIMIT'
          : status === 404
            ? 'HATAKE_E_NOT_FOUND'
            : 'HATAKE_E_PAYLOAD_SCHEMA';
    const body = problemOf(new HatakeError(code, error.message));
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
