// InfluxDB that answers /ping but whose writes fail (HTTP 500) or time out: every sync is refused
// with 503, and /healthz must say so — not "ok" because the ping answers — until a write succeeds
// again. A real influxd behind an HTTP proxy that passes everything but /write, which it answers
// with InfluxDB's own 500 or holds past the store's request timeout; the real server, synced to
// over its real endpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import { HatakeServer } from '../../dashboard/server.ts';
import { WriteBatcher } from '../../dashboard/storage/write-batcher.ts';
import { MAX_TIME_MS } from '../../dashboard/storage/types.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { demoManifest } from '../helpers/stack.ts';

type WriteMode = 'pass' | 'fail' | 'slow';

/** Passes every request to influxd; /write as `mode` says. Counts what it saw. */
class WriteFaultProxy {
  mode: WriteMode = 'pass';
  /** How long a slow /write is held before it goes on to influxd. */
  slowMs = 2500;
  readonly seen = { ping: 0, write: 0, failed: 0, held: 0 };
  private server: Server | undefined;
  private readonly target: URL;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(target: string) {
    this.target = new URL(target);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    // The store's pool keeps connections alive; closing the proxy must not wait for them.
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ping') this.seen.ping++;
    if (path === '/write') {
      this.seen.write++;
      if (this.mode === 'fail') {
        this.seen.failed++;
        req.resume();
        req.once('end', () => {
          // What influxd answers when its write times out inside (coordinator write-timeout).
          res.writeHead(500, {
            'content-type': 'application/json',
            'x-influxdb-version': '1.6.7~rc0',
            'x-influxdb-error': 'timeout',
          });
          res.end('{"error":"timeout"}\n');
        });
        return;
      }
      if (this.mode === 'slow') {
        // Read the body now, send it on later: an InfluxDB that takes its time to write.
        this.seen.held++;
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.once('end', () => {
          const t = setTimeout(() => {
            this.timers.delete(t);
            this.forward(req, res, Buffer.concat(chunks));
          }, this.slowMs);
          this.timers.add(t);
        });
        return;
      }
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => this.forward(req, res, Buffer.concat(chunks)));
  }

  private forward(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const up = request(
      {
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'content-length': String(body.length), connection: 'close' },
      },
      (answer) => {
        if (res.destroyed) {
          answer.resume();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    up.end(body);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

let influxd: Influxd;
let proxy: WriteFaultProxy;
let server: HatakeServer;
let url: string;
let dir: string;
const logLines: string[] = [];
// The store gives a request 400 ms and a write 1.2 s; its ping 300 ms.
const timeouts = { requestMs: 400, writeMs: 1200, pingMs: 300 };

beforeAll(async () => {
  influxd = await startInfluxd();
  proxy = new WriteFaultProxy(influxd.url);
  const influxUrl = await proxy.start();
  dir = mkdtempSync(join(tmpdir(), 'hatake-slow-influx-'));
  server = await HatakeServer.create({
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) }),
    storage: { kind: 'influx', url: influxUrl, database: 'hatake', timeouts },
  });
  url = `http://127.0.0.1:${await server.listen()}`;
}, 60_000);
afterAll(async () => {
  await server?.close();
  await proxy?.stop();
  await influxd?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A gateway of the demo farm, syncing over the real endpoint. */
class Gateway {
  private seq = 0;
  private readonly token: string;
  constructor() {
    this.token = server.ctx.auth.issueGatewayToken('gw-slow', 'demo-farm');
  }
  /** Sends one batch (numbered as a gateway numbers its outbox: a resend keeps its numbers). */
  async send(items: { kind: string; body: unknown }[], seqFrom = this.seq + 1) {
    const seqTo = seqFrom + items.length - 1;
    this.seq = Math.max(this.seq, seqTo);
    const res = await fetch(`${url}/api/v1/sync`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({
        gateway: 'gw-slow',
        seqFrom,
        seqTo,
        sentAt: Date.now(),
        items: items.map((it, i) => ({ seq: seqFrom + i, ...it })),
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, seqFrom };
  }
}

const healthz = async () => {
  const res = await fetch(`${url}/healthz`);
  return {
    status: res.status,
    body: (await res.json()) as { status: string; storage: { ok: boolean; detail?: string } },
  };
};
const reading = (time: number, value: number) => ({
  kind: 'reading',
  body: { device: 'soil-1', metric: 'soil_vwc', value, unit: 'm3/m3', time, flags: [] },
});
const stored = async () =>
  (
    await server.ctx.readings.readings({
      farm: 'demo-farm',
      device: 'soil-1',
      metric: 'soil_vwc',
      from: 0,
      to: MAX_TIME_MS,
    })
  ).map((r) => [r.time, r.value]);
/** The time `since` names in a health detail, epoch ms. */
const sinceIn = (detail: string | undefined) => {
  const m = / since (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(detail ?? '');
  return m ? Date.parse(m[1]!) : NaN;
};

describe('/healthz while InfluxDB answers /ping but its writes fail', () => {
  const t0 = Date.now() - 60_000;
  let gw: Gateway;

  it('is ok while writes succeed', async () => {
    gw = new Gateway();
    expect((await gw.send([{ kind: 'manifest', body: demoManifest() }, reading(t0, 0.2)])).status).toBe(200);
    expect(await stored()).toEqual([[t0, 0.2]]);
    const h = await healthz();
    expect(h.status).toBe(200);
    expect(h.body.storage).toMatchObject({ ok: true, kind: 'influx' });
  });

  it('turns 503, with the reason and since when, when /write answers 500, and ok again after a write succeeds', async () => {
    proxy.mode = 'fail';
    const before = Date.now();
    const refused = await gw.send([reading(t0 + 1000, 0.21)]);
    // Retryable: the gateway keeps the batch and sends it again later.
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('HATAKE_E_STORAGE');
    expect(proxy.seen.failed).toBeGreaterThan(0);

    const pingsBefore = proxy.seen.ping;
    const down = await healthz();
    expect(proxy.seen.ping).toBeGreaterThan(pingsBefore); // the ping answered, through the proxy
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('degraded');
    expect(down.body.storage.ok).toBe(false);
    expect(down.body.storage.detail).toContain(
      'InfluxDB writes failing: InfluxDB answered a write with HTTP 5xx (Internal Server Error) since ',
    );
    expect(down.body.storage.detail).toContain("stay in the gateways' outboxes until a write succeeds");
    const since = sinceIn(down.body.storage.detail);
    expect(since).toBeGreaterThanOrEqual(before);
    expect(since).toBeLessThanOrEqual(Date.now());

    // Refused again (tried once: the store knows writes fail): still failing, since the first time.
    const again = await gw.send([reading(t0 + 1000, 0.21)], refused.seqFrom);
    expect(again.status).toBe(503);
    const still = await healthz();
    expect(still.status).toBe(503);
    expect(sinceIn(still.body.storage.detail)).toBe(since);
    expect(still.body.storage.detail).toMatch(/ \(last \d{4}-\d\d-\d\dT[\d:.]+Z\)/);

    // Healed: the ping alone does not clear it — no write has succeeded yet.
    proxy.mode = 'pass';
    expect((await healthz()).status).toBe(503);
    // The gateway's resend is stored, once, and the health is ok again.
    const ok = await gw.send([reading(t0 + 1000, 0.21)], refused.seqFrom);
    expect(ok.status).toBe(200);
    expect(await stored()).toEqual([
      [t0, 0.2],
      [t0 + 1000, 0.21],
    ]);
    const up = await healthz();
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ok', storage: { ok: true } });
    expect(logLines.some((l) => l.includes('InfluxDB writes succeed again'))).toBe(true);
  }, 30_000);

  it('turns 503 when writes time out, also when InfluxDB writes them late, and ok again after a write succeeds', async () => {
    proxy.mode = 'slow';
    const before = Date.now();
    const refused = await gw.send([reading(t0 + 2000, 0.22)]);
    const took = Date.now() - before;
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('HATAKE_E_STORAGE');
    // Within the store's write timeout (and a margin for a busy machine).
    expect(took).toBeLessThan(timeouts.writeMs + 1500);
    expect(proxy.seen.held).toBeGreaterThan(0);

    const down = await healthz();
    expect(down.status).toBe(503);
    expect(down.body.storage.detail).toMatch(
      /^InfluxDB writes failing: (no answer to a write within 400 ms|the write was not confirmed within 1200 ms) since /,
    );
    const since = sinceIn(down.body.storage.detail);
    expect(since).toBeGreaterThanOrEqual(before);

    // The held writes reach influxd after the refusal: InfluxDB has the point, the sync was
    // refused all the same, and the health still says so.
    await new Promise((r) => setTimeout(r, proxy.slowMs + 500));
    expect(await stored()).toContainEqual([t0 + 2000, 0.22]);
    const still = await healthz();
    expect(still.status).toBe(503);
    expect(sinceIn(still.body.storage.detail)).toBe(since);

    // Healed: the gateway's resend is acknowledged, the reading is there once, health is ok.
    proxy.mode = 'pass';
    const ok = await gw.send([reading(t0 + 2000, 0.22)], refused.seqFrom);
    expect(ok.status).toBe(200);
    expect(await stored()).toEqual([
      [t0, 0.2],
      [t0 + 1000, 0.21],
      [t0 + 2000, 0.22],
    ]);
    const up = await healthz();
    expect(up.status).toBe(200);
    expect(up.body.storage.ok).toBe(true);
  }, 30_000);
});

describe('what the write batcher tells the store of a slow write', () => {
  it('reports a caller whose deadline passed as a failure, and a write confirmed only after that as no success', async () => {
    const outcomes: string[] = [];
    const pending: (() => void)[] = [];
    const b = new WriteBatcher<number>({
      maxPoints: 10,
      maxDelayMs: 10,
      maxInFlight: 1,
      maxQueuedPoints: 100,
      writeTimeoutMs: 200,
      send: () => new Promise<void>((done) => pending.push(done)),
      retryable: () => true,
      onFailure: (e) => outcomes.push(`failure: ${(e as Error).message}`),
      onSuccess: () => outcomes.push('success'),
      failing: () => outcomes.at(-1)?.startsWith('failure') ?? false,
    });
    const late = await b.submit([1]).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(HatakeError);
    expect(outcomes).toEqual(['failure: the write was not confirmed within 200 ms']);
    // InfluxDB confirms it now: the caller was refused all the same, so it is no success.
    pending.shift()!();
    await new Promise((r) => setTimeout(r, 20));
    expect(outcomes).toHaveLength(1);
    // A write confirmed in time is.
    const inTime = b.submit([2]);
    await new Promise((r) => setTimeout(r, 20));
    pending.shift()!();
    await inTime;
    expect(outcomes.at(-1)).toBe('success');
    await b.close();
  });
});
