// How the web app's api() helper turns failures into errors, and how a page shows them: a request
// that got no answer (fetch's TypeError, an abort or a timeout, an answer cut off mid-body) is a
// NetworkError that reads 「サーバーに接続できません…」 in Japanese, with the browser's own English
// message kept as its detail for support; the server's problems stay ApiError with their code, and
// read in the reader's language by that code with the server's own reason and expectation beside.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, NetworkError, api, errorMessage, isNetworkFailure } from '../../dashboard/ui/api.ts';
import { translate } from '../../dashboard/ui/i18n.ts';
import { ERROR_CODES, HatakeError, type ErrorCode } from '../../protocol/errors.ts';
import { problemOf } from '../../dashboard/problem.ts';

const ja = (k: string) => translate('ja', k);
const en = (k: string) => translate('en', k);
const JA_NETWORK = 'サーバーに接続できません。電波の良い所で再度お試しください。';
const EN_NETWORK = 'Cannot reach the server. Try again when you have a connection.';

afterEach(() => {
  vi.unstubAllGlobals();
});

/** api() against a fetch that does `impl`. */
async function failureOf(impl: () => Promise<Response>): Promise<unknown> {
  vi.stubGlobal('fetch', vi.fn(impl));
  return api('/api/v1/farms').then(
    () => expect.unreachable('api() resolved'),
    (e: unknown) => e,
  );
}

describe('api(): failures', () => {
  it('turns fetch’s TypeError into a NetworkError that keeps the browser’s error', async () => {
    const cause = new TypeError('Failed to fetch');
    const e = await failureOf(() => Promise.reject(cause));
    expect(e).toBeInstanceOf(NetworkError);
    expect(e).not.toBeInstanceOf(ApiError);
    expect((e as NetworkError).message).toBe('Failed to fetch');
    expect((e as NetworkError).cause).toBe(cause);
  });

  it('turns an abort and a timeout into a NetworkError', async () => {
    for (const name of ['AbortError', 'TimeoutError']) {
      const e = await failureOf(() => Promise.reject(new DOMException('The operation was aborted.', name)));
      expect(e, name).toBeInstanceOf(NetworkError);
    }
  });

  it('turns an answer cut off while its body is read into a NetworkError', async () => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"id":'));
        c.error(new TypeError('network error'));
      },
    });
    const e = await failureOf(() =>
      Promise.resolve(new Response(body, { headers: { 'content-type': 'application/json' } })),
    );
    expect(e).toBeInstanceOf(NetworkError);
  });

  it('keeps the server’s problem+json an ApiError with its status and code', async () => {
    const e = await failureOf(() =>
      Promise.resolve(
        Response.json(
          { code: 'HATAKE_E_NOT_FOUND', title: 'Not found', detail: 'no farm x' },
          { status: 404, headers: { 'content-type': 'application/problem+json' } },
        ),
      ),
    );
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 404, code: 'HATAKE_E_NOT_FOUND', message: 'no farm x' });
  });

  it('does not call a body that is not JSON a network failure', async () => {
    const e = await failureOf(() =>
      Promise.resolve(new Response('{oops', { headers: { 'content-type': 'application/json' } })),
    );
    expect(e).toBeInstanceOf(SyntaxError);
  });

  it('tells fetch’s failures from other errors', () => {
    expect(isNetworkFailure(new TypeError('Load failed'))).toBe(true);
    expect(isNetworkFailure(new DOMException('x', 'TimeoutError'))).toBe(true);
    expect(isNetworkFailure(new SyntaxError('Unexpected token'))).toBe(false);
    expect(isNetworkFailure(new DOMException('x', 'NotAllowedError'))).toBe(false);
    expect(isNetworkFailure('Failed to fetch')).toBe(false);
    expect(isNetworkFailure(null)).toBe(false);
  });
});

describe('errorMessage(): how a page shows an error', () => {
  it('shows a network failure translated, with the browser’s message as the detail and no code', () => {
    const e = new NetworkError(new TypeError('Failed to fetch'));
    expect(errorMessage(e, ja)).toEqual({ message: JA_NETWORK, detail: 'Failed to fetch' });
    expect(errorMessage(e, en)).toEqual({ message: EN_NETWORK, detail: 'Failed to fetch' });
  });

  it('says a server problem by its code in the reader’s language, with the server’s reason, expectation and code', () => {
    const forbidden = new ApiError(403, 'HATAKE_E_FORBIDDEN', 'a farmer may not use this route', {
      expected: 'one of the roles partner, admin',
    });
    expect(errorMessage(forbidden, ja)).toEqual({
      message: 'この操作は許可されていません',
      code: 'HATAKE_E_FORBIDDEN',
      reason: 'a farmer may not use this route',
      expected: 'one of the roles partner, admin',
    });
    expect(errorMessage(forbidden, en)).toMatchObject({ message: 'You may not do this' });
    const notFound = new ApiError(404, 'HATAKE_E_NOT_FOUND', 'no farm "x"', {});
    expect(errorMessage(notFound, ja)).toEqual({
      message: '見つかりません（権限がないか、存在しません）',
      code: 'HATAKE_E_NOT_FOUND',
      reason: 'no farm "x"',
    });
  });

  it('has a sentence of its own for every code of protocol/errors.ts, in both languages', () => {
    const codes = Object.keys(ERROR_CODES) as ErrorCode[];
    const say = (code: string, t: typeof ja) => errorMessage(new ApiError(400, code, 'x', {}), t).message;
    const general = [ja('errorOther'), en('errorOther')];
    for (const code of codes) {
      expect(general, code).not.toContain(say(code, ja));
      expect(general, code).not.toContain(say(code, en));
      expect(say(code, ja), code).toMatch(/[\u3040-\u30ff\u3400-\u9fff]/);
      expect(say(code, en), code).not.toBe(say(code, ja));
    }
    // A code the app does not know (an answer that was not problem+json) reads as the general one.
    expect(errorMessage(new ApiError(502, 'HTTP_502', 'Bad Gateway', '<html>'), ja)).toEqual({
      message: 'サーバーが受け付けませんでした',
      code: 'HTTP_502',
      reason: 'Bad Gateway',
    });
  });

  it('shows anything else as its message', () => {
    expect(errorMessage(new Error('boom'), ja)).toEqual({ message: 'boom' });
    expect(errorMessage('plain', ja)).toEqual({ message: 'plain' });
  });
});

describe('api() then errorMessage(): the server’s problem+json as the page shows it', () => {
  /** A real problem+json Response of the server's own writer (dashboard/problem.ts). */
  const answer = (err: HatakeError, status?: number) => () =>
    Promise.resolve(
      Response.json(problemOf(err, status), {
        status: status ?? err.status,
        headers: { 'content-type': 'application/problem+json' },
      }),
    );

  it('keeps why a partner may not provision this manifest here (403), in Japanese and English', async () => {
    const e = await failureOf(
      answer(
        new HatakeError('HATAKE_E_FORBIDDEN', 'the manifest is for farm "other-farm", not "demo-farm"', {
          place: { pointer: '/farm/id' },
          expected: 'demo-farm',
        }),
      ),
    );
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).pointer).toBe('/farm/id');
    expect(errorMessage(e, ja)).toEqual({
      message: 'この操作は許可されていません',
      code: 'HATAKE_E_FORBIDDEN',
      reason: 'the manifest is for farm "other-farm", not "demo-farm"',
      expected: 'demo-farm',
    });
    expect(errorMessage(e, en)).toEqual({
      message: 'You may not do this',
      code: 'HATAKE_E_FORBIDDEN',
      reason: 'the manifest is for farm "other-farm", not "demo-farm"',
      expected: 'demo-farm',
    });
  });

  it('keeps the reason of a 409, a 413 and a 422 problem', async () => {
    const cases: [HatakeError, number | undefined, string][] = [
      [
        new HatakeError('HATAKE_E_STATE_CONFLICT', 'the automation changed meanwhile'),
        undefined,
        '今の状態では',
      ],
      [new HatakeError('HATAKE_E_PAYLOAD_SIZE', 'Request body is too large'), 413, '上限より大きすぎます'],
      [
        new HatakeError('HATAKE_E_MODEL_INPUT_RANGE', 'ndvi 1.4 is above 1'),
        undefined,
        '有効な範囲を外れています',
      ],
    ];
    for (const [err, status, sentence] of cases) {
      const e = await failureOf(answer(err, status));
      expect(e, err.code).toMatchObject({ status: status ?? err.status, code: err.code });
      const shown = errorMessage(e, ja);
      expect(shown.message, err.code).toContain(sentence);
      expect(shown, err.code).toMatchObject({ code: err.code, reason: err.message });
    }
  });

  it('keeps the status as the code, and the status text as the reason, of an answer that is not problem+json', async () => {
    const e = await failureOf(() =>
      Promise.resolve(
        new Response('<html>bad gateway</html>', {
          status: 502,
          statusText: 'Bad Gateway',
          headers: { 'content-type': 'text/html' },
        }),
      ),
    );
    expect(errorMessage(e, en)).toEqual({
      message: 'The server refused it',
      code: 'HTTP_502',
      reason: 'Bad Gateway',
    });
    // A JSON body whose code is not a string is not taken for one.
    const odd = await failureOf(() =>
      Promise.resolve(Response.json({ code: 7, detail: ['x'] }, { status: 400 })),
    );
    expect(odd).toMatchObject({ code: 'HTTP_400' });
  });
});
