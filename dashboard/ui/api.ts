// The browser's side of the API: JSON over fetch with the session cookie, the CSRF token on every
// state-changing request, and problem+json errors turned into ApiError with hatake's code; a
// request that got no answer (no signal in the field, server down) becomes NetworkError, which the
// pages show in the reader's language instead of the browser's English "Failed to fetch".
import { ERROR_CODES } from '../../protocol/errors.ts';

let csrf = '';

/** Fired on window when the server no longer knows the session. */
export const SIGNED_OUT = 'hatake:signed-out';

/** Remembers the CSRF token from login or /auth/me. */
export function setCsrf(token: string): void {
  csrf = token;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: unknown;
  constructor(status: number, code: string, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }

  /** The JSON pointer of the problem the server named (problem+json `pointer`), if any. */
  get pointer(): string | undefined {
    const p = (this.body as { pointer?: unknown } | null)?.pointer;
    return typeof p === 'string' ? p : undefined;
  }

  /** What the server expected instead (problem+json `expected`), if it said. */
  get expected(): string | undefined {
    const e = (this.body as { expected?: unknown } | null)?.expected;
    return typeof e === 'string' && e ? e : undefined;
  }
}

/**
 * A request that got no answer: fetch failed (no connection, the server unreachable, the answer cut
 * off) or was aborted or timed out. `message` and `cause` keep the browser's own error for support.
 */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'NetworkError';
  }
}

/**
 * Whether what fetch (or reading its body) threw means the request got no answer: a TypeError
 * ("Failed to fetch", "NetworkError when attempting to fetch resource.", "Load failed") or an
 * AbortError/TimeoutError DOMException. Only for fetch's errors: elsewhere a TypeError is a bug.
 */
export function isNetworkFailure(e: unknown): boolean {
  if (e instanceof TypeError) return true;
  const name = typeof e === 'object' && e !== null ? (e as { name?: unknown }).name : undefined;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** How an error reads on a page (ErrorBox); see errorMessage. */
export interface ErrorText {
  /** What went wrong, in the reader's language. */
  message: string;
  /** hatake's code (HATAKE_E_…), or HTTP_<status> for an answer that was not problem+json. */
  code?: string;
  /** The server's own words (problem+json `detail`), in English: why it refused this request. */
  reason?: string;
  /** What the server expected instead (problem+json `expected`), in English. */
  expected?: string;
  /** For a network failure, the browser's original message (shown as a tooltip, for support). */
  detail?: string;
}

/** Whether a code is one of hatake's (protocol/errors.ts), each with an `error_${code}` sentence. */
export const isErrorCode = (code: string): code is keyof typeof ERROR_CODES =>
  Object.hasOwn(ERROR_CODES, code);

/**
 * How an error reads on a page. A server's problem is said in the reader's language by its code —
 * the way the partner page says each manifest problem: every code of protocol/errors.ts has an
 * `error_${code}` sentence in the catalogue, any other code (an answer that was not problem+json)
 * the general one — with the server's own English words (why it refused: the farm, the role, the
 * value) and what it expected kept beside it, and the code. A request that got no answer reads as
 * the network failure it is, the browser's message kept for support.
 */
export function errorMessage(error: unknown, t: (key: string) => string): ErrorText {
  if (error instanceof NetworkError) return { message: t('networkError'), detail: error.message };
  if (error instanceof ApiError) {
    const out: ErrorText = {
      message: isErrorCode(error.code) ? t(`error_${error.code}`) : t('errorOther'),
      code: error.code,
    };
    if (error.message) out.reason = error.message;
    if (error.expected) out.expected = error.expected;
    return out;
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

/** Calls the API; resolves with the parsed JSON (or text for non-JSON answers). */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let data: unknown;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const type = res.headers.get('content-type') ?? '';
    data = type.includes('json') ? await res.json() : await res.text();
  } catch (e) {
    // A body that is not JSON (SyntaxError) is not a network failure and goes on as it is.
    throw isNetworkFailure(e) ? new NetworkError(e) : e;
  }
  // An expired session: the app goes back to the sign-in form.
  if (res.status === 401 && !path.startsWith('/api/v1/auth/')) window.dispatchEvent(new Event(SIGNED_OUT));
  if (!res.ok) {
    // problem+json (RFC 9457) with hatake's code; any other answer (a proxy's HTML page, a body
    // without a code) keeps its status as the code and the status text as the server's words.
    const p = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
    const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    throw new ApiError(
      res.status,
      text(p.code) ?? `HTTP_${res.status}`,
      text(p.detail) ?? text(p.title) ?? res.statusText,
      data,
    );
  }
  return data as T;
}

/** Query string from the defined values of an object. */
export function qs(params: Record<string, string | number | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
