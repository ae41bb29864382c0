// External-broker mode: the gateway as a client of an existing broker (Mosquitto, or the MQTT
// integration of a LoRaWAN network server), with a persistent session at QoS 1. Each message goes
// through the same ingest as the embedded broker's, and is acknowledged to the external broker
// only after it is durable here — mqtt.js sends the PUBACK when `handleMessage` calls back.
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient, type IPublishPacket } from 'mqtt';
import { HatakeError } from '../protocol/errors.ts';
import { parseDeviceTopic } from '../protocol/topics.ts';
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

export interface NetworkUplinkHandler {
  /** Ingests one network-server uplink event; resolves once its outcome is durable. */
  ingest(format: Exclude<ExternalTopicFormat, 'hatake'>, topic: string, payload: Buffer): Promise<unknown>;
}

export class ExternalBroker {
  private client: MqttClient | undefined;
  private readonly cfg: ExternalConfig;
  private readonly ingest: Ingest;
  private readonly registry: DeviceRegistry;
  private readonly log: Logger;
  /** LoRaWAN network-server formats are handled by this, when the gateway has it. */
  networkUplinks: NetworkUplinkHandler | undefined;
  connected = false;

  constructor(
    cfg: ExternalConfig,
    deps: { ingest: Ingest; registry: DeviceRegistry; store: GatewayStore; log: Logger },
  ) {
    this.cfg = cfg;
    this.ingest = deps.ingest;
    this.registry = deps.registry;
    this.log = deps.log;
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.cfg.url, {
      clientId: this.cfg.clientId,
      clean: false, // persistent session: the broker keeps QoS 1 messages while we are away
      username: this.cfg.username,
      password: this.cfg.password,
      ca: this.cfg.ca ? readFileSync(this.cfg.ca) : undefined,
      reconnectPeriod: 2000,
      protocolVersion: 4,
    });
    this.client = client;
    client.handleMessage = (packet, callback) => {
      this.handle(packet).then(
        () => callback(),
        (err: Error) => {
          this.log.error(
            { topic: packet.topic.slice(0, 200), err: err.message },
            'not stored; leaving it with the external broker',
          );
          callback(err);
        },
      );
    };
    client.on('connect', (ack) => {
      this.connected = true;
      this.log.info(
        { url: this.cfg.url, sessionPresent: ack.sessionPresent },
        'connected to external broker',
      );
      if (!ack.sessionPresent) {
        client.subscribe(
          this.cfg.topics.map((t) => t.filter),
          { qos: 1 },
          (err) => err && this.log.error({ err: err.message }, 'subscribe failed'),
        );
      }
    });
    client.on('close', () => (this.connected = false));
    client.on('error', (err) => this.log.warn({ err: err.message }, 'external broker error'));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const topic = packet.topic;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
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
    await this.client?.endAsync();
  }
}
