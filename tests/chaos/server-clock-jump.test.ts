// The server's clock jumps a month forward and back while a gateway syncs to it (a VM restored
// from a snapshot, an NTP server that was wrong, a hand-set date): the server runs as a child
// process under libfaketime, the gateway (on the right time) delivers through a proxy that can
// lose an answer and hold the uplink, and devices keep publishing throughout. Every acknowledged
// reading is stored exactly once; sessions opened before the jump end cleanly (401 with its code,
// the live stream's `end` event) and a sign-in after it works, with CSRF still required; the
// gateway list's last sync follows the server's clock and its throughput stays a finite figure
// >= 0; the gateway measures the server's clock (its offset, a clock_skew event), keeps syncing,
// and finds it right again when it comes back.
//
// The resend across the jump: a batch whose answer was lost just before a jump of more than 30
// days comes again after the first batch acknowledged on the new clock (a dozen device status
// changes, which drain before readings). The server forgets what it acknowledged only below the
// lowest sequence the gateway says it still holds (dashboard/sync-acked.ts), never by its clock —
// which this test found: it used to forget after 30 days by its own clock, and announced the
// resent readings to the browsers a second time. Now they are stored once, counted once and
// heard once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/topics.ts';
import type { SyncAck, SyncBatch } from '../../protocol/sync.ts';
import { faketimeEnv, requireLibfaketime } from '../helpers/faketime.ts';
import { ServerChild } from '../helpers/server-child.ts';
import { readLive } from '../helpers/live-stream.ts';
import { eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';

const DAY = 86_400_000;
const JUMP = 31 * DAY; // past the 30 days the server remembers acknowledged sequence numbers for
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * An HTTP proxy in front of the server for the gateway. Everything passes, but a sync batch can
 * have its answer lost (the server applied it; the gateway sees the connection close) and the
 * uplink can be held (sync connections closed unanswered) until the test lets it go.
 */
class SyncProxy {
  /** Lose the answer to the next sync batch the server takes, then hold the uplink. */
  loseNext = false;
  hold = false;
  /** Batches whose answer was lost. */
  readonly lost: SyncBatch[] = [];
  /** Batches answered 200 and passed on, with their answers, in order. */
  readonly exchanges: { batch: SyncBatch; ack: SyncAck }[] = [];
  private server: Server | undefined;
  private readonly targetPort: number;

  constructor(targetPort: number) {
    this.targetPort = targetPort;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const isSync = req.method === 'POST' && req.url === '/api/v1/sync';
    if (isSync && this.hold) {
      req.socket.destroy();
      return;
    }
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const up = request(
        { host: '127.0.0.1', port: this.targetPort, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          if (!isSync) {
            res.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(res);
            return;
          }
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            const text = Buffer.concat(parts);
            const batch = JSON.parse(gunzipSync(Buffer.concat(body)).toString()) as SyncBatch;
            if (answer.statusCode === 200 && this.loseNext) {
              this.loseNext = false;
              this.hold = true;
              this.lost.push(batch);
              req.socket.destroy();
              return;
            }
            if (answer.statusCode === 200)
              this.exchanges.push({ batch, ack: JSON.parse(text.toString()) as SyncAck });
            res.writeHead(answer.statusCode!, answer.headers);
            res.end(text);
          });
        },
      );
      up.on('error', () => req.socket.destroy());
      up.end(Buffer.concat(body));
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

type Fetcher = Awaited<ReturnType<typeof signIn>>;

/** A live stream (GET /api/v1/live) read as it comes: its readings' keys, and how it ended. */
async function liveStream(as: Fetcher) {
  const res = await as('/api/v1/live');
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const live = readLive(res);
  return {
    get keys() {
      return live.events
        .filter((e) => e.event === 'reading')
        .map((e) => {
          const r = e.data as { device: string; metric: string; time: string };
          return `${r.device}/${r.metric}/${Date.parse(r.time)}`;
        });
    },
    ended: () => (live.events.find((e) => e.event === 'end')?.data as { reason: string } | undefined)?.reason,
    close: live.close,
  };
}

interface GatewayRow {
  id: string;
  lastSync: string | null;
  clockOffsetMs: number | null;
  throughput: number;
}

describe('the server clock jumps', () => {
  it('keeps every acknowledged reading once, sessions end cleanly, the gateway list stays sane', async () => {
    const lib = requireLibfaketime();
    const dir = mkdtempSync(join(tmpdir(), 'hatake-server-clock-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const offsetFile = join(dir, 'faketime');
    writeFileSync(offsetFile, '+0');
    const server = new ServerChild(dir, { env: faketimeEnv(lib, offsetFile) });
    cleanups.push(() => server.kill());
    await server.start();
    const proxy = new SyncProxy(server.port);
    const proxyUrl = await proxy.start();
    cleanups.push(() => proxy.stop());

    const admin = await signIn(server.url, 'admin');
    const reg = await admin('/api/v1/gateways', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'gw-test', farm: 'demo-farm' }),
    });
    expect(reg.status).toBe(201);
    const { token } = (await reg.json()) as { token: string };
    // Small batches: a dozen device status changes (which drain before readings) fill one.
    const stack: Stack = await startStack({
      server: false,
      mqtt: { rate: { perSecond: 1000, burst: 1000 } },
      gateway: {
        server: { url: proxyUrl, token },
        sync: { intervalMs: 100, batchMaxItems: 10, batchDelayMs: 10, backoffCapMs: 300 },
      },
    });
    cleanups.push(() => stack.close());
    const gwSync = stack.gateway.sync!;
    const gatewayList = async (as: Fetcher) => {
      const res = await as('/api/v1/gateways');
      expect(res.status).toBe(200);
      return ((await res.json()) as GatewayRow[]).find((g) => g.id === 'gw-test')!;
    };
    const offsetNear = (ms: number) =>
      eventually(
        () => gwSync.status.clockOffsetMs !== null && Math.abs(gwSync.status.clockOffsetMs - ms) < 60_000,
        30_000,
        50,
      );
    const serverDb = () => new Database(join(dir, 'server', 'server.db'), { readonly: true });

    // A farmer watching the live readings from before the jump.
    const before = await liveStream(await signIn(server.url, 'demo-farmer'));
    cleanups.push(() => before.close());

    // Three devices publish a reading every 100 ms each (QoS 1) until told to stop; a reading is
    // acknowledged when its PUBACK arrives. Their clocks are right (the test process's).
    const devices = ['soil-1', 'wx-1', 'water-1'] as const;
    const metric = { 'soil-1': 'soil_ec', 'wx-1': 'air_humidity', 'water-1': 'water_temperature' } as const;
    const clients: MqttClient[] = await Promise.all(
      devices.map((d) =>
        mqtt.connectAsync(stack.mqttUrl, {
          username: d,
          password: stack.secrets[d],
          clientId: `server-clock-${d}`,
          clean: false,
          reconnectPeriod: 200,
        }),
      ),
    );
    const acked = new Map<string, number[]>(devices.map((d) => [d, []]));
    let stop = false;
    const base = Date.now() - 60_000;
    const streams = devices.map(async (d, k) => {
      for (let i = 0; !stop; i++) {
        const time = base + i * 100;
        await clients[k]!.publishAsync(
          deviceTopic('demo-farm', d, 'up'),
          JSON.stringify({ time, values: { [metric[d]]: 10 + (i % 7) } }),
          { qos: 1 },
        );
        acked.get(d)!.push(time);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    // A failed test ends the clients under the publishers: that is not a second failure.
    for (const s of streams) s.catch(() => {});
    cleanups.push(async () => {
      stop = true;
      for (const c of clients) await c.endAsync(true);
    });

    const stored = (d: (typeof devices)[number]) => {
      const db = serverDb();
      try {
        return (
          db
            .prepare(
              "SELECT COUNT(*) AS n FROM readings WHERE farm = 'demo-farm' AND device = ? AND metric = ?",
            )
            .get(d, metric[d]) as { n: number }
        ).n;
      } finally {
        db.close();
      }
    };
    /** Each device has `n` more readings acknowledged, and the server holds all of them so far. */
    const flowOn = async (n: number) => {
      const mark = new Map(devices.map((d) => [d, acked.get(d)!.length + n]));
      await eventually(() => devices.every((d) => acked.get(d)!.length >= mark.get(d)!), 30_000, 50);
      await eventually(() => devices.every((d) => stored(d) >= mark.get(d)!), 30_000, 100);
    };

    // On the right time: readings flow, the gateway finds the server's clock where its own is.
    await flowOn(10);
    await offsetNear(0);
    const listed = await gatewayList(admin);
    expect(Math.abs(Date.parse(listed.lastSync!) - Date.now())).toBeLessThan(60_000);

    // A batch is answered but the answer is lost on the way, and the uplink goes down with it...
    // (A batch of readings: one of documents alone is let through, and the next one lost.)
    let lost: SyncBatch | undefined;
    for (let tries = 0; !lost?.items.some((i) => i.kind === 'reading'); tries++) {
      expect(tries, 'a batch with readings to lose').toBeLessThan(5);
      proxy.hold = false;
      proxy.loseNext = true;
      await eventually(() => proxy.lost.length > tries, 30_000, 20);
      lost = proxy.lost[tries]!;
    }
    const lostReadings = lost.items.filter((i) => i.kind === 'reading');
    // ... and the server's clock jumps a month forward.
    writeFileSync(offsetFile, `+${JUMP / DAY}d`);

    // Sessions opened before the jump are over, said plainly: 401 with its code. A sign-in after
    // it works, and CSRF is still required of what it does.
    const stale = await admin('/api/v1/gateways');
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { code: string }).code).toBe('HATAKE_E_AUTH');
    const admin2 = await signIn(server.url, 'admin');
    const register = (headers: Record<string, string> = {}) =>
      admin2('/api/v1/gateways', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ id: 'gw-spare', farm: 'demo-farm' }),
      });
    expect((await register({ 'x-csrf-token': 'not-the-token' })).status).toBe(403);
    expect((await register()).status).toBe(201);
    // The farmer signs in again and watches.
    const after = await liveStream(await signIn(server.url, 'demo-farmer'));
    cleanups.push(() => after.close());

    // While the uplink was down, the devices' connections flapped: a dozen status changes, which
    // drain before readings, fill the first batch after it comes back.
    for (let n = 0; n < 2; n++)
      for (const [k, d] of devices.entries())
        for (const s of ['offline', 'online'])
          await clients[k]!.publishAsync(deviceTopic('demo-farm', d, 'status'), s, { qos: 1 });
    await eventually(() => stack.gateway.store.peekOutbox(10).every((r) => r.kind !== 'reading'), 10_000, 20);
    const exchangedBefore = proxy.exchanges.length;
    proxy.hold = false;

    // The lost batch comes again — after a batch acknowledged on the new clock.
    const lostSeqs = new Set(lost.items.map((i) => i.seq));
    await eventually(
      () =>
        [...lostSeqs].every((s) =>
          proxy.exchanges.slice(exchangedBefore).some((e) => e.batch.items.some((i) => i.seq === s)),
        ),
      30_000,
      20,
    );
    const afterJump = proxy.exchanges.slice(exchangedBefore);
    expect(
      afterJump[0]!.batch.items.some((i) => lostSeqs.has(i.seq)),
      'first batch after the jump',
    ).toBe(false);
    // The store held every reading of it already: counted as duplicates, so not in the throughput.
    const carrying = afterJump.filter((e) => e.batch.items.some((i) => lostSeqs.has(i.seq)));
    expect(carrying.reduce((n, e) => n + e.ack.duplicates, 0)).toBe(lostReadings.length);

    // On the server's new clock: the gateway measures it and says so, and keeps syncing.
    await offsetNear(JUMP);
    await eventually(
      () => {
        const db = serverDb();
        try {
          return db.prepare("SELECT 1 FROM events WHERE gateway = 'gw-test' AND type = 'clock_skew'").get();
        } finally {
          db.close();
        }
      },
      30_000,
      100,
    );
    const ahead = await eventually(async () => {
      const g = await gatewayList(admin2);
      return g.clockOffsetMs !== null && Math.abs(g.clockOffsetMs - JUMP) < 60_000 ? g : undefined;
    }, 30_000);
    expect(Math.abs(Date.parse(ahead.lastSync!) - (Date.now() + JUMP))).toBeLessThan(60_000);
    expect(Number.isFinite(ahead.throughput) && ahead.throughput > 0).toBe(true);
    await flowOn(20);

    // Back to the right time. The session made on the clock ahead expires 38 days from now: it is
    // not honoured (a session lives a week), and a sign-in on the right time works.
    writeFileSync(offsetFile, '+0');
    await offsetNear(0);
    expect((await admin2('/api/v1/gateways')).status).toBe(401);
    const admin3 = await signIn(server.url, 'admin');
    const back = await eventually(async () => {
      const g = await gatewayList(admin3);
      return Math.abs(Date.parse(g.lastSync!) - Date.now()) < 60_000 ? g : undefined;
    }, 30_000);
    expect(Number.isFinite(back.throughput) && back.throughput >= 0).toBe(true);
    await flowOn(20);

    // Every acknowledged reading is stored, once.
    stop = true;
    await Promise.all(streams);
    await eventually(() => stack.gateway.store.outboxDepth() === 0, 30_000, 50);
    const db = serverDb();
    try {
      for (const d of devices) {
        const times = (
          db
            .prepare(
              "SELECT time FROM readings WHERE farm = 'demo-farm' AND device = ? AND metric = ? ORDER BY time",
            )
            .all(d, metric[d]) as { time: number }[]
        ).map((r) => r.time);
        expect(times, `${d}: stored once, every acknowledged reading`).toEqual(acked.get(d)!);
      }
    } finally {
      db.close();
    }
    // The stream opened before the jump ended when its session did, and said why.
    await eventually(() => before.ended(), 30_000, 100);
    expect(before.ended()).toBe('session-ended');

    // The readings of the batch whose answer was lost, as the browsers heard them: the record that
    // tells the resend from new readings survived the jump, so no batch after it — even one that
    // carried them beside new readings — announced them again.
    const lostKeys = lostReadings.map((i) => {
      const r = i.body as { device: string; metric: string; time: number };
      return `${r.device}/${r.metric}/${r.time}`;
    });
    const heardAgain = lostReadings.map((i) =>
      carrying.some((e) => e.ack.applied > 0 && e.batch.items.some((x) => x.seq === i.seq)) ? 1 : 0,
    );
    expect(lostKeys.map((k) => before.keys.filter((a) => a === k).length).every((n) => n >= 1)).toBe(true);
    expect(lostReadings.every((i) => carrying.some((e) => e.batch.items.some((x) => x.seq === i.seq)))).toBe(
      true,
    );
    // …and at least one such batch also brought new readings (so live events were sent with it).
    expect(heardAgain).toContain(1);
    expect(lostKeys.map((k) => after.keys.filter((a) => a === k).length)).toEqual(lostKeys.map(() => 0));
  }, 120_000);
});
