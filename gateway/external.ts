// External-broker mode: the gateway as a client of an existing broker (Mosquitto, or the MQTT
// integration of a LoRaWAN network server), with a persistent session at QoS 1. Each message goes
// through the same ingest as the embedded broker's, and is acknowledged to the external broker
// only after it is durable here.
//
// mqtt.js reads the next packet only once `handleMessage` has called back, and sends the PUBACK
// then; waiting there for the commit would make every message its own transaction (measured:
// 2,800 msg/s at 250 µs of CPU each). So a telemetry message is handed to the ingest and
// `handleMessage` calls back at once, while its PUBACK is held (`deferAcks`) until its group has
// committed: many messages share a commit, as on the embedded broker, and none is acknowledged
// before it is durable. Imagery chunks, written in order, still wait for their turn.
// The farm's imagery topics (hatake/v1/{farm}/imagery/…) are subscribed too and go to the same
// ImageryReceiver as on the embedded broker; its status answers are published back here.
//
// The broker need not be there when the gateway starts: start() waits a moment for the first
// connection and then returns either way, and mqtt.js keeps trying every RECONNECT_MS with the same
// persistent session. While the link is down it is a health problem (`link()`, read by /healthz,
// /metrics and the status page) and the log says so — once, again when the reason changes, and
// every STILL_DOWN_LOG_MS — so that a broker down or a typo in `external.url` is seen, not a
// gateway that will not start. When the broker appears, the subscriptions are made and ingest
// begins.
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient, type IPublishPacket } from 'mqtt';
import { HatakeError } from '../protocol/errors.ts';
import { parseDeviceTopic } from '../protocol/topics.ts';
import { imageryTopicPrefix } from '../protocol/imagery.ts';
import type { ExternalTopicFormat } from '../protocol/gateway-config.ts';
import type { Logger } from '../runtime/log.ts';
import type { ResolvedGatewayConfig } from './config.ts';
import type { Ingest } from './ingest.ts';
import type { DeviceRegistry } from './registry.ts';
import type { GatewayStore } from './store.ts';

type ExternalConfig = NonNullable<ResolvedGatewayConfig['external']>;

/** True when an MQTT topic filter (with + and #) matches a topic. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * The filters for a farm's scenes: manifests, chunks and ends — not `…/status`, the gateway's own
 * answers, which would only come back to it.
 */
export function imageryFilters(farm: string): string[] {
  const p = imageryTopicPrefix(farm);
  return [`${p}+/manifest`, `${p}+/chunk/+`, `${p}+/end`];
}

/** Takes a farm's imagery messages (the gateway's ImageryReceiver). */
export interface ImageryHandler {
  /** Resolves once the message is on disk; `topicSuffix` is the topic after …/imagery/. */
  handle(topicSuffix: string, payload: Buffer): Promise<void>;
}

/** Gateway meta key: the filters subscribed in the broker's persistent session. */
const SUBSCRIBED_META = 'external_subscriptions';

export interface NetworkUplinkHandler {
  /** Ingests one network-server uplink event; resolves once its outcome is durable. */
  ingest(format: Exclude<ExternalTopicFormat, 'hatake'>, topic: string, payload: Buffer): Promise<unknown>;
}

/** How often mqtt.js tries again while the broker cannot be reached. */
export const RECONNECT_MS = 2000;
/** A broker that accepts the connection but sends no CONNACK within this is given up, and tried again. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** start() waits this long at most for the first connection (a broker that does not answer). */
export const FIRST_CONNECT_WAIT_MS = 3000;
/** A link down this long (or whose attempt to connect failed) is a health problem. */
export const REPORT_DOWN_AFTER_MS = 5000;
/** While the link stays down for the same reason, the log says so again this often. */
const STILL_DOWN_LOG_MS = 10 * 60_000;

/** The link to the external broker, as /healthz, /metrics and the status page report it. */
export interface ExternalLink {
  /** `external.url` without any user or password in it. */
  url: string;
  connected: boolean;
  /** Since when it is down (the start, or the connection lost); null while connected. */
  downSince: number | null;
  /** The last connection error (ECONNREFUSED, connack timeout, a refused login …), or null. */
  lastError: string | null;
  /** Attempts to connect that failed since it was last connected (or since the start). */
  failedAttempts: number;
  /** Down long enough, or refused: a health problem. */
  unreachable: boolean;
  /** How often it is tried again. */
  retryMs: number;
}

/** A broker URL for logs and pages: any credentials in it left out. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

export class ExternalBroker {
  private client: MqttClient | undefined;
  private readonly cfg: ExternalConfig;
  private readonly ingest: Ingest;
  private readonly registry: DeviceRegistry;
  private readonly store: GatewayStore;
  private readonly log: Logger;
  /** LoRaWAN network-server formats are handled by this, when the gateway has it. */
  networkUplinks: NetworkUplinkHandler | undefined;
  /** The farm's imagery topics are subscribed and handed to this, when set before start(). */
  imagery: ImageryHandler | undefined;
  /** Told when the link comes up (true) and goes down (false), with the time. */
  onLink: ((up: boolean, at: number) => void) | undefined;
  connected = false;
  private downSince: number | null = null;
  private lastError: string | null = null;
  private failedAttempts = 0;
  /** What the log last said of the link being down, and when (repeated every STILL_DOWN_LOG_MS). */
  private logged: { error: string; at: number } | undefined;
  private stopped = false;

  constructor(
    cfg: ExternalConfig,
    deps: { ingest: Ingest; registry: DeviceRegistry; store: GatewayStore; log: Logger },
  ) {
    this.cfg = cfg;
    this.ingest = deps.ingest;
    this.registry = deps.registry;
    this.store = deps.store;
    this.log = deps.log;
  }

  /** Every filter the session should hold: the configured topics and, with imagery, the farm's scenes. */
  private wantedFilters(): string[] {
    const filters = this.cfg.topics.map((t) => t.filter);
    if (this.imagery) filters.push(...imageryFilters(this.registry.farm));
    return [...new Set(filters)];
  }

  /**
   * Subscribes what the session lacks. A new session gets every filter; a resumed one only those
   * added since (a topic added to the config, imagery after an upgrade), and loses those removed.
   */
  private syncSubscriptions(client: MqttClient, sessionPresent: boolean): Promise<void> {
    const wanted = this.wantedFilters();
    let had: string[] = [];
    try {
      if (sessionPresent) had = JSON.parse(this.store.getMeta(SUBSCRIBED_META) ?? '[]') as string[];
    } catch {
      had = [];
    }
    const add = wanted.filter((f) => !had.includes(f));
    const drop = had.filter((f) => !wanted.includes(f));
    const record = () => {
      try {
        this.store.setMeta(SUBSCRIBED_META, JSON.stringify(wanted));
      } catch (e) {
        // Not recorded (a full disk): the next connection subscribes them again, harmlessly.
        this.log.warn({ err: (e as Error).message }, 'subscriptions not recorded');
      }
    };
    const done: Promise<void>[] = [];
    if (drop.length) {
      done.push(
        new Promise((resolve) =>
          client.unsubscribe(drop, (err) => {
            if (err) this.log.warn({ err: err.message }, 'unsubscribe failed');
            else if (!add.length) record();
            resolve();
          }),
        ),
      );
    }
    if (add.length) {
      done.push(
        new Promise((resolve) =>
          client.subscribe(add, { qos: 1 }, (err, granted) => {
            const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
            if (err) this.log.error({ err: err.message }, 'subscribe failed');
            else if (refused.length)
              this.log.error({ filters: refused }, 'the broker refused these subscriptions');
            else record();
            resolve();
          }),
        ),
      );
    }
    return Promise.all(done).then(() => undefined);
  }

  /** The link as it is now (`now`: the time it is judged at). */
  link(now = Date.now()): ExternalLink {
    const down = !this.connected && this.downSince !== null;
    return {
      url: displayUrl(this.cfg.url),
      connected: this.connected,
      downSince: this.connected ? null : this.downSince,
      lastError: this.lastError,
      failedAttempts: this.failedAttempts,
      unreachable: down && (this.failedAttempts > 0 || now - this.downSince! >= REPORT_DOWN_AFTER_MS),
      retryMs: RECONNECT_MS,
    };
  }

  /** The link went down, or an attempt to bring it up failed: said in the log, not every 2 s. */
  private logDown(now: number): void {
    const error = this.lastError ?? 'no answer from the broker';
    const repeat = this.logged?.error === error;
    if (repeat && now - this.logged!.at < STILL_DOWN_LOG_MS) {
      this.log.debug({ err: error, attempts: this.failedAttempts }, 'external broker still unreachable');
      return;
    }
    this.logged = { error, at: now };
    this.log.error(
      {
        url: displayUrl(this.cfg.url),
        err: error,
        downForS: Math.round((now - (this.downSince ?? now)) / 1000),
        attempts: this.failedAttempts,
      },
      `external broker unreachable: nothing arrives through it until it answers; retrying every ${RECONNECT_MS / 1000} s`,
    );
  }

  /** Publishes (QoS 1) through the external broker; queued by the client while disconnected. */
  async publish(topic: string, payload: string | Buffer): Promise<void> {
    if (!this.client) throw new Error('the external broker client has not started');
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  /**
   * Connects, and keeps connecting: resolves once connected and subscribed, or once the first
   * attempt failed, or after FIRST_CONNECT_WAIT_MS (a broker that does not answer) — never
   * rejected by the broker being away, so the gateway starts without it.
   */
  async start(): Promise<void> {
    this.downSince = Date.now();
    const client = mqtt.connect(this.cfg.url, {
      clientId: this.cfg.clientId,
      clean: false, // persistent session: the broker keeps QoS 1 messages while we are away
      username: this.cfg.username,
      password: this.cfg.password,
      ca: this.cfg.ca ? readFileSync(this.cfg.ca) : undefined,
      reconnectPeriod: RECONNECT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // A refused login (or a broker "unavailable") is tried again too: the broker's users may be
      // fixed without a restart here. The refusal is on /healthz meanwhile.
      reconnectOnConnackError: true,
      protocolVersion: 4,
    });
    this.client = client;
    const held = deferAcks(client);
    const notStored = (packet: IPublishPacket, err: Error) =>
      this.log.error(
        { topic: packet.topic.slice(0, 200), err: err.message },
        'not stored; leaving it with the external broker',
      );
    client.handleMessage = (packet, callback) => {
      const durable = this.handle(packet);
      if (packet.qos <= 1 && !this.isImagery(packet.topic)) {
        // QoS 0 has nothing to acknowledge; QoS 1's PUBACK goes once `durable` resolves.
        if (packet.qos === 1 && packet.messageId !== undefined) held.hold(packet.messageId, durable);
        durable.catch((err: Error) => notStored(packet, err));
        callback();
        return;
      }
      durable.then(
        () => callback(),
        (err: Error) => {
          notStored(packet, err);
          callback(err);
        },
      );
    };
    let subscribed: Promise<void> | undefined;
    client.on('connect', (ack) => {
      const now = Date.now();
      const downForS = this.downSince === null ? 0 : Math.round((now - this.downSince) / 1000);
      const after = this.failedAttempts;
      this.connected = true;
      this.downSince = null;
      this.lastError = null;
      this.failedAttempts = 0;
      this.logged = undefined;
      this.log.info(
        {
          url: displayUrl(this.cfg.url),
          sessionPresent: ack.sessionPresent,
          ...(after > 0 ? { downForS, failedAttempts: after } : {}),
        },
        after > 0 ? 'connected to external broker after it was unreachable' : 'connected to external broker',
      );
      subscribed = this.syncSubscriptions(client, ack.sessionPresent);
      this.onLink?.(true, now);
    });
    client.on('close', () => {
      if (this.stopped) return;
      const now = Date.now();
      if (this.connected) {
        this.connected = false;
        this.downSince = now;
        this.log.warn(
          { url: displayUrl(this.cfg.url) },
          `connection to the external broker lost; reconnecting every ${RECONNECT_MS / 1000} s`,
        );
        this.onLink?.(false, now);
        return;
      }
      // An attempt that closed before any CONNACK.
      this.failedAttempts++;
      this.logDown(now);
    });
    client.on('error', (err) => {
      this.lastError = err.message;
      if (this.connected) this.log.warn({ err: err.message }, 'external broker error');
    });
    // The first connection (and its subscriptions), or its first failure, or a broker that does not
    // answer: the gateway goes on starting after whichever comes first.
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FIRST_CONNECT_WAIT_MS);
      client.once('connect', () => void subscribed?.then(resolve));
      client.once('close', () => resolve());
    });
    clearTimeout(timer);
    if (!this.connected) {
      this.log.warn(
        { url: displayUrl(this.cfg.url), err: this.lastError ?? 'no answer yet' },
        'starting without the external broker: it is tried again in the background',
      );
    }
  }

  private isImagery(topic: string): boolean {
    return this.imagery !== undefined && topic.startsWith(imageryTopicPrefix(this.registry.farm));
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const topic = packet.topic;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const prefix = imageryTopicPrefix(this.registry.farm);
    if (this.imagery && topic.startsWith(prefix)) {
      // On disk before the PUBACK; a refusal is answered on the scene's status topic, not here.
      await this.imagery.handle(topic.slice(prefix.length), payload);
      return;
    }
    const route = this.cfg.topics.find((t) => topicMatches(t.filter, topic));
    if (!route) return; // not ours (a broader subscription of the session): acknowledge and move on
    if (route.format === 'hatake') {
      let device: string | null = null;
      try {
        const t = parseDeviceTopic(topic);
        if (t.kind !== 'up') return;
        if (t.farm !== this.registry.farm)
          throw new HatakeError('HATAKE_E_TOPIC', `farm "${t.farm}" is not this gateway's`);
        device = t.device;
      } catch (e) {
        await this.ingest.submitWith(device, topic, payload, Date.now(), () => {
          throw e;
        });
        return;
      }
      await this.ingest.submit(device, topic, payload);
      return;
    }
    if (!this.networkUplinks) {
      await this.ingest.submitWith(null, topic, payload, Date.now(), () => {
        throw new HatakeError('HATAKE_E_CONFIG', `no decoder for ${route.format} uplinks on this gateway`);
      });
      return;
    }
    await this.networkUplinks.ingest(route.format, topic, payload);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Connected, messages in flight finish first; otherwise nothing would ever finish them (a
    // publish queued while the link was down), so the client is ended at once.
    await this.client?.endAsync(!this.connected);
  }
}

type SendPacket = (
  packet: { cmd: string; messageId?: number },
  cb?: (err?: Error) => void,
  ...rest: unknown[]
) => void;

/**
 * Holds a QoS 1 message's PUBACK until `durable` resolves, and lets mqtt.js read the next packet
 * meanwhile. mqtt.js sends every packet through its `_sendPacket`; a PUBACK for a held message id
 * is taken there: mqtt.js is told it went, and it goes when the message is durable — on the same
 * connection only (after a reconnect the id may name another message, and the broker resends the
 * unacknowledged one anyway). A message that could not be stored is never acknowledged; the
 * connection is dropped so that the broker, holding it in the persistent session, sends it again
 * after the reconnect. Acknowledgements go in the order the messages came, as MQTT asks: groups
 * commit in order and release their messages in order.
 */
function deferAcks(client: MqttClient): { hold(messageId: number, durable: Promise<void>): void } {
  const c = client as unknown as { _sendPacket: SendPacket; stream?: { destroy(): void } };
  const send = c._sendPacket.bind(client);
  const held = new Map<number, Promise<void>>();
  let connection = 0;
  client.on('close', () => {
    connection++;
    held.clear();
  });
  c._sendPacket = (packet, cb, ...rest) => {
    const durable = packet.cmd === 'puback' ? held.get(packet.messageId!) : undefined;
    if (!durable) return send(packet, cb, ...rest);
    held.delete(packet.messageId!);
    const on = connection;
    cb?.();
    durable.then(
      () => {
        if (on === connection) send(packet);
      },
      () => {
        if (on === connection) c.stream?.destroy();
      },
    );
  };
  return { hold: (messageId, durable) => held.set(messageId, durable) };
}
