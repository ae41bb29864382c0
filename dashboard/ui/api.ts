// The browser's side of the API: JSON over fetch with the session cookie, the CSRF token on every
// state-changing request, and problem+json errors turned into ApiError with hatake's code.
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
}

/** Calls the API; resolves with the parsed JSON (or text for non-JSON answers). */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const type = res.headers.get('content-type') ?? '';
  const data: unknown = type.includes('json') ? await res.json() : await res.text();
  // An expired session: the app goes back to the sign-in form.
  if (res.status === 401 && !path.startsWith('/api/v1/auth/')) window.dispatchEvent(new Event(SIGNED_OUT));
  if (!res.ok) {
    const p = (data ?? {}) as { code?: string; detail?: string; title?: string };
    throw new ApiError(
      res.status,
      p.code ?? `HTTP_${res.status}`,
      p.detail ?? p.title ?? res.statusText,
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
