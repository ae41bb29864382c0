// A front for the hatake server as a farm's server may sit behind one: HTTPS with a certificate
// from a private CA (or plain HTTP), forwarding every request to the server and noting what it
// saw — method, path, status — so a test can count what a gateway asked for and when.
import {
  createServer as createHttpServer,
  request,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { generate } from 'selfsigned';

export interface SeenRequest {
  method: string;
  path: string;
  status: number | null;
  at: number;
}

/** A CA and a server certificate it signed, for 127.0.0.1 and localhost; PEM text. */
export async function makeTestCa(name = 'hatake test CA'): Promise<{
  ca: { cert: string; key: string };
  server: { cert: string; key: string };
}> {
  const now = new Date();
  const until = new Date(now.getTime() + 86_400_000);
  const ca = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: until,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: until,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { ca: { cert: ca.cert, key: ca.private }, server: { cert: leaf.cert, key: leaf.private } };
}

export class ServerFront {
  /**
   * A status (404, 403…) to answer every request with, after reading it, as a reverse proxy's own
   * HTML page during maintenance (nginx's); null forwards.
   */
  maintenance: number | null = null;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly seen: SeenRequest[] = [];
  private readonly target: URL;
  private readonly tls: { cert: string; key: string } | undefined;
  url = '';

  /** `tls`: the certificate chain (leaf first, then the CA, as servers send it) and key. */
  constructor(target: string, tls?: { cert: string; key: string }) {
    this.target = new URL(target);
    this.tls = tls;
  }

  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.forward(req, res);
    const server = this.tls ? createHttpsServer(this.tls, handler) : createHttpServer(handler);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // A client that refuses the certificate hangs up mid-handshake: not the front's problem.
    server.on('tlsClientError', () => {});
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this.url;
  }

  /** Requests seen whose path starts with `prefix` (after `since`, a time in ms). */
  count(prefix: string, since = 0): number {
    return this.seen.filter((r) => r.path.startsWith(prefix) && r.at >= since).length;
  }

  /** Cuts every open connection (a dropped uplink): streams end, clients reconnect. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const seen: SeenRequest = { method: req.method ?? '', path: req.url ?? '', status: null, at: Date.now() };
    this.seen.push(seen);
    const status = this.maintenance;
    if (status !== null) {
      req.resume();
      req.on('end', () => {
        seen.status = status;
        const page = `<html>\r\n<head><title>${status}</title></head>\r\n<body>\r\n<center><h1>${status}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
        res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(page) });
        res.end(page);
      });
      return;
    }
    const up = request(
      {
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: this.target.host },
      },
      (upRes) => {
        seen.status = upRes.statusCode ?? null;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.flushHeaders();
        upRes.pipe(res);
        res.on('close', () => upRes.destroy());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
