// HTTP for the hostile suites: the operations of the server's OpenAPI document, and a raw client
// (node:http) that sends a path exactly as written — `..` segments, encoded slashes — which fetch
// would normalise away, with a deadline so a hang is a failure and not a stuck test.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { ERROR_CODES } from '../../protocol/errors.ts';
import type { JsonSchema } from './hostile-schema.ts';

export interface OpenApiParameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema: JsonSchema;
}

export interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  security?: Record<string, string[]>[];
  tags?: string[];
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

export interface Operation {
  /** "POST /api/v1/sync" */
  key: string;
  method: string;
  route: string;
  op: OpenApiOperation;
  pathParams: OpenApiParameter[];
  queryParams: OpenApiParameter[];
  bodySchema: JsonSchema | undefined;
  /** Which credential the route expects: a user's session, a gateway's bearer token, or none. */
  auth: 'session' | 'gateway' | 'none';
}

/** Every operation of an OpenAPI document. */
export function operations(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([route, ops]) =>
    Object.entries(ops).map(([m, op]) => {
      const method = m.toUpperCase();
      const security = (op.security ?? []).flatMap((s) => Object.keys(s));
      return {
        key: `${method} ${route}`,
        method,
        route,
        op,
        pathParams: (op.parameters ?? []).filter((p) => p.in === 'path'),
        queryParams: (op.parameters ?? []).filter((p) => p.in === 'query'),
        bodySchema: op.requestBody?.content?.['application/json']?.schema,
        auth: security.includes('gateway') ? 'gateway' : security.includes('session') ? 'session' : 'none',
      } satisfies Operation;
    }),
  );
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/**
 * Sends one request with the path as given. An event stream is read only up to its headers. Rejects
 * when no complete answer arrives within `timeoutMs`.
 */
export function rawRequest(
  baseUrl: string,
  opts: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    timeoutMs?: number;
  },
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const t0 = performance.now();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const body =
      opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method,
        path: opts.path,
        // A fresh connection each time: a socket the server closed after a refusal is never reused.
        agent: false,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          clearTimeout(timer);
          res.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.alloc(0),
            ms: performance.now() - t0,
          });
          return;
        }
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: performance.now() - t0,
          });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(
        new Error(
          `${opts.method} ${opts.path.slice(0, 200)}: no complete answer within ${timeoutMs} ms (hang)`,
        ),
      );
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}

/** Undefined when a response is an acceptable answer to a hostile request, else why not. */
export function problemVerdict(res: RawResponse, sentText = ''): string | undefined {
  const type = String(res.headers['content-type'] ?? '');
  const text = res.body.toString('utf8');
  if (res.status >= 500) return `status ${res.status}: ${text.slice(0, 300)}`;
  if (res.status < 200) return `status ${res.status}`;
  // Internals never leak: no stack frames, no paths of the checkout.
  if (/\bat [\w.<>]+ \(|node_modules\/|\/work\/main\//.test(text) && !sentText.includes('node_modules'))
    return `status ${res.status} leaks internals: ${text.slice(0, 300)}`;
  if (res.status === 422 && type.includes('application/json')) {
    // The partner's provisioning answers a manifest with problems by listing them all, each coded.
    const p = JSON.parse(text) as { problems?: { code?: string }[] };
    if (!Array.isArray(p.problems) || p.problems.length === 0)
      return `422 without problems: ${text.slice(0, 200)}`;
    const uncoded = p.problems.filter((x) => typeof x.code !== 'string' || !(x.code in ERROR_CODES));
    return uncoded.length
      ? `422 with uncoded problems: ${JSON.stringify(uncoded[0]).slice(0, 200)}`
      : undefined;
  }
  if (res.status >= 400) {
    if (!type.includes('application/problem+json'))
      return `status ${res.status} as ${type}, not problem+json`;
    let p: { code?: string; status?: number; title?: string };
    try {
      p = JSON.parse(text) as typeof p;
    } catch {
      return `status ${res.status} with a problem body that is not JSON: ${text.slice(0, 200)}`;
    }
    if (typeof p.code !== 'string' || !(p.code in ERROR_CODES))
      return `problem without a registered code: ${text.slice(0, 200)}`;
    if (p.status !== res.status) return `problem status ${String(p.status)} differs from HTTP ${res.status}`;
  }
  return undefined;
}
