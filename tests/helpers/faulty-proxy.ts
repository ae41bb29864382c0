// A TCP proxy between a gateway and the server that misbehaves on request: it drops connections,
// stalls them, or cuts the server's answer in the middle — the faults of a rural uplink.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type Fault = 'pass' | 'drop' | 'stall' | 'cut';

export class FaultyProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** The fault for each new connection, in order; `pass` once the list is used up. */
  faults: Fault[] = [];
  /** Connections seen, by the fault they got. */
  readonly seen: Record<Fault, number> = { pass: 0, drop: 0, stall: 0, cut: 0 };
  private readonly target: { host: string; port: number };
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.target = target;
  }

  async start(): Promise<string> {
    this.server = createServer((client) => this.handle(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  private handle(client: Socket): void {
    const fault = this.faults.shift() ?? 'pass';
    this.seen[fault]++;
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => {});
    if (fault === 'drop') {
      client.destroy();
      return;
    }
    if (fault === 'stall') return; // read nothing, answer nothing: the client's timeout must fire
    const upstream = connect(this.target.port, this.target.host);
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    if (fault === 'pass') {
      upstream.pipe(client);
      return;
    }
    // cut: the request reaches the server (which applies it), half of the answer reaches the client.
    let forwarded = false;
    upstream.on('data', (chunk: Buffer) => {
      if (!forwarded) {
        forwarded = true;
        client.write(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))));
      }
      client.destroy();
      upstream.destroy();
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
