// The gateway's embedded MQTT broker (aedes) on TCP, and optionally TLS and WebSocket. It
// authenticates every device against the provisioned registry, lets a device publish only under
// its own topic and subscribe only to its own `down` channel, enforces the limits (packet size,
// connections, in-flight messages and publish rate per device — each refusal counted), and hands
// telemetry to the ingest, whose commit gates the PUBACK: aedes sends a QoS 1 PUBACK only after
// `authorizePublish` has called back. A session (an MQTT client id) belongs to the device that
// made it: another device may not take it over, and a device whose credentials a registry reload
// revoked or changed is disconnected.
import { createServer, type Server, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { parseDeviceTopic, deviceTopic } from '../protocol/topics.ts';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import { listenError, type Logger } from '../runtime/log.ts';
import type { DeviceRegistry } from './registry.ts';
import type { Ingest } from './ingest.ts';
import type { GatewayStore } from './store.ts';
import type { GatewayMetrics, RefusalReason } from './metrics.ts';
import type { ResolvedGatewayConfig } from './config.ts';
import { guardPacketSize } from './packet-guard.ts';
import { PublishRateLimiter } from './rate-limit.ts';

/** A handler for topics outside the device scheme that a trusted client may publish to. */
export interface TopicHandler {
  /** True when this handler owns the topic. */
  matches(topic: string): boolean;
  /** May this (authenticated) client publish there? */
  mayPublish(device: string, topic: string): boolean;
  handle(device: string, topic: string, payload: Buffer): Promise<void>;
}

export interface BrokerPorts {
  mqtt: number;
  tls?: number;
  websocket?: number;
}

const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
/** Persistent sessions whose owner is remembered (aedes keeps their state in memory too). */
const MAX_SESSION_OWNERS = 100_000;

export class Broker {
  aedes!: Aedes;
  private readonly servers: (Server | HttpServer)[] = [];
  private wss: WebSocketServer | undefined;
  private readonly deviceOf = new WeakMap<Client, string>();
  private readonly inflight = new Map<string, number>();
  private readonly limiter: PublishRateLimiter;
  /** Imagery providers have their own limit (a scene is thousands of chunks). */
  private readonly providerLimiter: PublishRateLimiter;
  private readonly providers = new WeakSet<Client>();
  /** Each client id in use: the client that authenticated with it last (until its connection closes). */
  private readonly sessions = new Map<string, Client>();
  /** The device owning each persistent (clean: false) session, kept while aedes keeps it. */
  private readonly sessionOwners = new Map<string, string>();
  private readonly handlers: TopicHandler[] = [];
  private openConnections = 0;
  private readonly registry: DeviceRegistry;
  private readonly ingest: Ingest;
  private readonly store: GatewayStore;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly cfg: ResolvedGatewayConfig['mqtt'];

  constructor(
    cfg: ResolvedGatewayConfig['mqtt'],
    deps: {
      registry: DeviceRegistry;
      ingest: Ingest;
      store: GatewayStore;
      metrics: GatewayMetrics;
      log: Logger;
    },
  ) {
    this.cfg = cfg;
    this.registry = deps.registry;
    this.ingest = deps.ingest;
    this.store = deps.store;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.limiter = new PublishRateLimiter(cfg.rate);
    this.providerLimiter = new PublishRateLimiter(cfg.providerRate);
  }

  /** Routes publishes on other topics (e.g. imagery chunks) to a handler. */
  addTopicHandler(h: TopicHandler): void {
    this.handlers.push(h);
  }

  async start(): Promise<BrokerPorts> {
    this.aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.authorizeSubscribe(client, sub, done),
      authorizeForward: (client, packet) => this.authorizeForward(client, packet),
      // Guard a slow consumer: at most this many QoS>0 messages in flight to one client.
      concurrency: 100,
    });
    this.aedes.on('clientReady', (client) => {
      this.recordSession(client);
      this.recordOnline(client, true);
    });
    this.registry.onRevoked((ids) => this.disconnectDevices(ids));
    this.aedes.on('clientDisconnect', (client) => this.recordOnline(client, false));
    this.aedes.on('clientError', (client, err) => {
      // Publishes aedes refuses itself (wildcards or an empty topic in a PUBLISH, too many
      // levels) close the connection before our hooks see them: count them here.
      if (/not allowed in PUBLISH|empty topic|too many levels/i.test(err.message)) {
        this.metrics.refuse('protocol');
        this.log.warn(
          { device: this.deviceOf.get(client), err: err.message },
          'publish refused by the broker',
        );
      } else {
        this.log.debug({ device: this.deviceOf.get(client), err: err.message }, 'client error');
      }
    });
    const ports: BrokerPorts = { mqtt: await this.listen(createServer(), this.cfg.port) };
    if (this.cfg.tls) {
      const tls = createTlsServer({
        cert: readFileSync(this.cfg.tls.cert),
        key: readFileSync(this.cfg.tls.key),
        minVersion: 'TLSv1.2',
      });
      ports.tls = await this.listen(tls, this.cfg.tls.port, 'secureConnection');
    }
    if (this.cfg.websocket)
      ports.websocket = await this.listenWebSocket(this.cfg.websocket.port, this.cfg.websocket.path);
    return ports;
  }

  /** Records a device's connection state; a full disk must not turn this into a crash. */
  private recordOnline(client: Client, online: boolean): void {
    const device = this.deviceOf.get(client);
    if (!device) return;
    try {
      this.store.setDeviceOnline(device, online, Date.now());
    } catch (e) {
      this.log.warn({ device, online, err: (e as Error).message }, 'device state not recorded');
    }
  }

  /**
   * A persistent session outlives its connection: remember whose it is. A clean start discards the
   * session that was stored under its client id.
   */
  private recordSession(client: Client): void {
    const device = this.deviceOf.get(client);
    if (device === undefined) return;
    this.sessionOwners.delete(client.id);
    if (client.clean) return;
    if (this.sessionOwners.size >= MAX_SESSION_OWNERS)
      this.sessionOwners.delete(this.sessionOwners.keys().next().value!);
    this.sessionOwners.set(client.id, device);
  }

  /**
   * Closes every connection of these devices (their credentials were revoked or changed): they
   * must log in again, with what the registry holds now.
   */
  private disconnectDevices(ids: ReadonlySet<string>): void {
    for (const client of [...this.sessions.values()]) {
      const device = this.deviceOf.get(client);
      if (device === undefined || !ids.has(device) || client.closed) continue;
      this.log.warn({ device, clientId: client.id.slice(0, 64) }, 'credentials changed; connection closed');
      client.close();
    }
  }

  /** Accepts a connection if under the limit, guards its packet sizes and hands it to aedes. */
  private accept(
    conn: Duplex,
    request?: Parameters<Aedes['handle']>[1],
    oversize?: { counted: boolean },
  ): void {
    if (this.openConnections >= this.cfg.maxConnections) {
      this.metrics.refuse('connections');
      conn.destroy();
      return;
    }
    this.openConnections++;
    this.metrics.connections.set(this.openConnections);
    conn.once('close', () => {
      this.openConnections--;
      this.metrics.connections.set(this.openConnections);
    });
    guardPacketSize(conn, this.cfg.maxPacketBytes, (declared) => {
      if (oversize?.counted) return;
      if (oversize) oversize.counted = true;
      this.metrics.refuse('packet_size');
      this.log.warn({ declared, limit: this.cfg.maxPacketBytes }, 'packet too large; connection closed');
    });
    this.aedes.handle(conn, request);
  }

  private async listen(
    server: Server,
    port: number,
    event: 'connection' | 'secureConnection' = 'connection',
  ): Promise<number> {
    server.on(event, (socket: Socket) => this.accept(socket));
    server.on('error', (e) => this.log.error({ err: e.message }, 'listener error'));
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new HatakeError('HATAKE_E_CONFIG', listenError(e, 'MQTT broker', port).message)),
      );
      server.listen(port, this.cfg.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  private async listenWebSocket(port: number, path: string): Promise<number> {
    const http = createHttpServer();
    this.wss = new WebSocketServer({ server: http, path, maxPayload: this.cfg.maxPacketBytes });
    this.wss.on('connection', (ws, req) => {
      // A frame over the limit is refused by ws itself (close 1009) before the MQTT packet guard
      // sees it: counted and logged as that guard's refusals are.
      // (mqtt.js sends a packet's fixed header in a frame of its own, so the guard usually counts
      // it first: one refusal per connection, whichever sees it.)
      const oversize = { counted: false };
      ws.on('error', (e: Error & { code?: string }) => {
        if (e.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || oversize.counted) return;
        oversize.counted = true;
        this.metrics.refuse('packet_size');
        this.log.warn({ limit: this.cfg.maxPacketBytes }, 'WebSocket frame too large; connection closed');
      });
      this.accept(createWebSocketStream(ws), req, oversize);
    });
    this.servers.push(http);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, this.cfg.host, () => resolve());
    });
    return (http.address() as AddressInfo).port;
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): void {
    if (username === undefined || !this.registry.authenticate(username, password)) {
      this.metrics.refuse('bad_login');
      this.log.warn(
        { username: username?.slice(0, 64), clientId: client.id?.slice(0, 64) },
        'connection refused: bad username or password',
      );
      done(
        Object.assign(new Error('bad username or password'), { returnCode: BAD_USERNAME_OR_PASSWORD }),
        null,
      );
      return;
    }
    const taken = this.clientIdTakenFrom(username, client.id);
    if (taken !== undefined) {
      // The device would take over (MQTT-3.1.4-2) a session that is not its own: another device's
      // connection, and the messages queued for it. Refused as MQTT 3.1.1 says a client id the
      // server does not allow is: CONNACK 2, identifier rejected.
      this.metrics.refuse('client_id');
      this.log.warn(
        { device: username, clientId: client.id.slice(0, 64), owner: taken },
        "connection refused: client id is another device's",
      );
      done(Object.assign(new Error('identifier rejected'), { returnCode: IDENTIFIER_REJECTED }), null);
      return;
    }
    this.deviceOf.set(client, username);
    if (this.registry.isProvider(username, 'imagery')) this.providers.add(client);
    const clientId = client.id;
    this.sessions.set(clientId, client);
    client.conn.once('close', () => {
      if (this.sessions.get(clientId) === client) this.sessions.delete(clientId);
    });
    done(null, true);
  }

  /**
   * The device (or provider) a client id belongs to when it is not `device`'s to use: a registered
   * id's own client ids (that id, or it and a suffix: `gate-1`, `gate-1-valve-sim`), a client id
   * another device is connected (or connecting) with, or another device's persistent session.
   */
  private clientIdTakenFrom(device: string, clientId: string): string | undefined {
    const named = this.registry.clientIdOwner(clientId);
    if (named !== undefined && named !== device) return named;
    const live = this.sessions.get(clientId);
    const liveDevice = live && !live.closed ? this.deviceOf.get(live) : undefined;
    if (liveDevice !== undefined && liveDevice !== device) return liveDevice;
    const owner = this.sessionOwners.get(clientId);
    if (owner !== undefined && owner !== device) return owner;
    return undefined;
  }

  private authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    if (client === null) {
      done(null); // the gateway's own publishes (commands on `down`)
      return;
    }
    const device = this.deviceOf.get(client);
    if (device === undefined) {
      this.refusePublish('topic', device, packet.topic, 'not authenticated', done);
      return;
    }
    // A closed client's publish is its last will: it reports the device offline, and a device cut
    // off for flooding must still be known to be offline, so the rate limit does not apply to it.
    const lastWill = (client as Client & { closed?: boolean }).closed === true;
    if (!lastWill) {
      const provider = this.providers.has(client);
      if (!(provider ? this.providerLimiter : this.limiter).take(device)) {
        const rate = provider ? this.cfg.providerRate : this.cfg.rate;
        this.refusePublish(
          'rate',
          device,
          packet.topic,
          `more than ${rate.perSecond}/s (burst ${rate.burst})`,
          done,
        );
        return;
      }
    }
    for (const handler of this.handlers) {
      if (!handler.matches(packet.topic)) continue;
      if (!handler.mayPublish(device, packet.topic)) {
        this.refusePublish('topic', device, packet.topic, 'not allowed on this topic', done);
        return;
      }
      this.track(device, handler.handle(device, packet.topic, packet.payload as Buffer), done);
      return;
    }
    // The device's own telemetry topic (nearly every publish) is known without parsing it.
    const kind = packet.topic === this.upTopic(device) ? 'up' : this.otherTopicKind(device, packet, done);
    if (kind !== 'up') return;
    if ((this.inflight.get(device) ?? 0) >= this.cfg.maxInflightPerDevice) {
      this.refusePublish(
        'inflight',
        device,
        packet.topic,
        `more than ${this.cfg.maxInflightPerDevice} messages in flight`,
        done,
      );
      return;
    }
    this.track(device, this.ingest.submit(device, packet.topic, packet.payload as Buffer), done);
  }

  /**
   * A device's `up` topic, when parsing it would accept it as that device's in this farm (the
   * same checks as `parseDeviceTopic` and the farm and device comparison; worked out once).
   */
  private upTopic(device: string): string | undefined {
    const farm = this.registry.farm;
    if (farm !== this.upTopicsFarm) {
      this.upTopics.clear();
      this.upTopicsFarm = farm;
    }
    let t = this.upTopics.get(device);
    if (t === undefined) {
      t = deviceTopic(farm, device, 'up');
      let valid = false;
      try {
        const parsed = parseDeviceTopic(t);
        valid = parsed.kind === 'up' && parsed.device === device && parsed.farm === farm;
      } catch {
        valid = false;
      }
      t = valid ? t : null;
      this.upTopics.set(device, t);
    }
    return t ?? undefined;
  }

  private readonly upTopics = new Map<string, string | null>();
  private upTopicsFarm: string | undefined;

  /**
   * Any other topic: parsed and checked. Answers 'up' for telemetry to ingest; otherwise the
   * publish has been answered (status recorded, or refused).
   */
  private otherTopicKind(
    device: string,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): 'up' | undefined {
    let topic;
    try {
      topic = parseDeviceTopic(packet.topic);
    } catch (e) {
      this.refusePublish('topic', device, packet.topic, isHatakeError(e) ? e.describe() : String(e), done);
      return undefined;
    }
    if (topic.device !== device || topic.farm !== this.registry.farm) {
      this.refusePublish('topic', device, packet.topic, 'topic belongs to another device', done);
      return undefined;
    }
    if (topic.kind === 'down') {
      this.refusePublish('topic', device, packet.topic, 'devices may not publish commands', done);
      return undefined;
    }
    if (topic.kind === 'status') {
      const text = packet.payload.toString().trim().toLowerCase();
      if (text === 'offline' || text === 'online') {
        try {
          this.store.setDeviceOnline(device, text === 'online', Date.now());
        } catch (e) {
          // The store refused (disk full, I/O error): refused like a reading it cannot keep.
          this.metrics.refuse('store');
          this.log.error(
            { device, err: (e as Error).message },
            'device status not recorded; publish refused',
          );
          done(e as Error);
          return undefined;
        }
      }
      done(null);
      return undefined;
    }
    return 'up';
  }

  /**
   * Counts a device's in-flight publish until its outcome is durable, then releases the PUBACK
   * (and only then the count). One reaction per publish, not a chain of promises.
   */
  private track(device: string, work: Promise<unknown>, done: (error?: Error | null) => void): void {
    this.inflight.set(device, (this.inflight.get(device) ?? 0) + 1);
    void work.then(
      () => {
        try {
          done(null);
        } finally {
          this.release(device);
        }
      },
      (err: Error) => {
        try {
          // The store refused (disk full, I/O error): no PUBACK, so the device keeps the message.
          this.metrics.refuse('store');
          this.log.error({ device, err: err.message }, 'ingest failed; publish not acknowledged');
          done(err);
        } finally {
          this.release(device);
        }
      },
    );
  }

  private release(device: string): void {
    const n = (this.inflight.get(device) ?? 1) - 1;
    if (n <= 0) this.inflight.delete(device);
    else this.inflight.set(device, n);
  }

  private refusePublish(
    reason: RefusalReason,
    device: string | undefined,
    topic: string,
    detail: string,
    done: (error?: Error | null) => void,
  ): void {
    this.metrics.refuse(reason);
    this.log.warn({ device, topic: topic.slice(0, 200), reason: detail }, 'publish refused');
    // MQTT 3.1.1 has no negative PUBACK: the broker closes the connection.
    done(new Error(`publish refused: ${detail}`));
  }

  private authorizeSubscribe(
    client: Client,
    sub: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const device = this.deviceOf.get(client);
    if (device !== undefined && sub.topic === deviceTopic(this.registry.farm, device, 'down')) {
      done(null, sub);
      return;
    }
    const handler = this.handlers.find((h) => h.matches(sub.topic));
    if (device !== undefined && handler?.mayPublish(device, sub.topic)) {
      done(null, sub); // e.g. an imagery provider reading its own status replies
      return;
    }
    this.metrics.refuse('subscribe');
    this.log.warn({ device, topic: sub.topic.slice(0, 200) }, 'subscribe refused');
    done(null, null); // SUBACK with the failure code 0x80
  }

  /**
   * Delivers a command (a `down` message) only to its own device, whichever session holds the
   * subscription: a second line behind the session checks in `authenticate`.
   */
  private authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (!packet.topic.endsWith('/down')) return packet;
    let target: string;
    try {
      const topic = parseDeviceTopic(packet.topic);
      if (topic.kind !== 'down') return packet;
      target = topic.device;
    } catch {
      return packet;
    }
    const device = this.deviceOf.get(client);
    if (device === target) return packet;
    this.log.warn({ device, topic: packet.topic.slice(0, 200) }, "another device's command not delivered");
    return null;
  }

  /** Publishes a message from the gateway itself (a command on a device's `down`, a status reply). */
  async publish(
    topic: string,
    payload: string | Buffer,
    opts: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: opts.qos ?? 1,
          retain: opts.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  /** Publishes a command to a device's `down` topic. */
  async command(device: string, payload: string): Promise<void> {
    await this.publish(deviceTopic(this.registry.farm, device, 'down'), payload);
  }

  private listenersClosed: Promise<unknown> | undefined;

  /** Takes no new connections; the connected devices stay (the first step of a graceful stop). */
  stopAccepting(): void {
    this.listenersClosed ??= Promise.all(
      this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
    this.wss?.close();
  }

  async stop(): Promise<void> {
    // Stop accepting, then close the clients (which lets the listeners finish closing).
    this.stopAccepting();
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await this.listenersClosed;
  }
}
