// How the web app's api() helper turns failures into errors, and how a page shows them: a request
// that got no answer (fetch's TypeError, an abort or a timeout, an answer cut off mid-body) is a
// NetworkError that reads 「サーバーに接続できません…」 in Japanese, with the browser's own English
// message kept as its detail for support; the server's problems stay ApiError with their code.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, NetworkError, api, errorMessage, isNetworkFailure } from '../../dashboard/ui/api.ts';
import { translate } from '../../dashboard/ui/i18n.ts';

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

  it('shows 404 and 403 translated, other server problems as the server words them, each with its code', () => {
    const problem = (status: number) =>
      new ApiError(status, `HATAKE_E_${status}`, `server says ${status}`, {});
    expect(errorMessage(problem(404), ja)).toEqual({ message: ja('notFound'), code: 'HATAKE_E_404' });
    expect(errorMessage(problem(403), ja)).toEqual({ message: ja('forbidden'), code: 'HATAKE_E_403' });
    expect(errorMessage(problem(409), ja)).toEqual({ message: 'server says 409', code: 'HATAKE_E_409' });
  });

  it('shows anything else as its message', () => {
    expect(errorMessage(new Error('boom'), ja)).toEqual({ message: 'boom' });
    expect(errorMessage('plain', ja)).toEqual({ message: 'plain' });
  });
});
