// The gateway's embedded MQTT broker (aedes over TCP). It authenticates every device against the
// provisioned registry, lets a device publish only under its own topic and subscribe only to its
// own `down` channel, and hands telemetry to the ingest — whose commit gates the PUBACK, because
// aedes sends a QoS 1 PUBACK only after `authorizePublish` has called back.
import { createServer, type Server, type AddressInfo } from 'node:net';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import { parseDeviceTopic, deviceTopic } from '../protocol/topics.ts';
import { isHatakeError } from '../protocol/errors.ts';
import type { Logger } from '../runtime/log.ts';
import type { DeviceRegistry } from './registry.ts';
import type { Ingest } from './ingest.ts';
import type { GatewayStore } from './store.ts';

export interface BrokerOptions {
  host: string;
  port: number;
}

/** Refusal counters by reason, for /metrics and the status page. */
export interface BrokerCounters {
  connectRefused: number;
  publishRefused: number;
  subscribeRefused: number;
}

const BAD_USERNAME_OR_PASSWORD = 4;

export class Broker {
  aedes!: Aedes;
  private server: Server | undefined;
  private readonly deviceOf = new WeakMap<Client, string>();
  readonly counters: BrokerCounters = { connectRefused: 0, publishRefused: 0, subscribeRefused: 0 };
  private readonly registry: DeviceRegistry;
  private readonly ingest: Ingest;
  private readonly store: GatewayStore;
  private readonly log: Logger;

  constructor(registry: DeviceRegistry, ingest: Ingest, store: GatewayStore, log: Logger) {
    this.registry = registry;
    this.ingest = ingest;
    this.store = store;
    this.log = log;
  }

  async start(opts: BrokerOptions): Promise<number> {
    this.aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.authorizeSubscribe(client, sub, done),
    });
    this.aedes.on('clientReady', (client) => {
      const device = this.deviceOf.get(client);
      if (device) this.store.setDeviceOnline(device, true, Date.now());
    });
    this.aedes.on('clientDisconnect', (client) => {
      const device = this.deviceOf.get(client);
      if (device) this.store.setDeviceOnline(device, false, Date.now());
    });
    const server = createServer(this.aedes.handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): void {
    if (username !== undefined && this.registry.authenticate(username, password)) {
      this.deviceOf.set(client, username);
      done(null, true);
      return;
    }
    this.counters.connectRefused++;
    this.log.warn(
      { username: username?.slice(0, 64), clientId: client.id?.slice(0, 64) },
      'connection refused: bad username or password',
    );
    done(
      Object.assign(new Error('bad username or password'), { returnCode: BAD_USERNAME_OR_PASSWORD }),
      null,
    );
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
    let topic;
    try {
      topic = parseDeviceTopic(packet.topic);
    } catch (e) {
      this.refusePublish(device, packet.topic, isHatakeError(e) ? e.describe() : String(e), done);
      return;
    }
    if (device === undefined || topic.device !== device || topic.farm !== this.registry.farm) {
      this.refusePublish(device, packet.topic, 'topic belongs to another device', done);
      return;
    }
    if (topic.kind === 'down') {
      this.refusePublish(device, packet.topic, 'devices may not publish commands', done);
      return;
    }
    if (topic.kind === 'status') {
      const text = packet.payload.toString().trim().toLowerCase();
      if (text === 'offline' || text === 'online')
        this.store.setDeviceOnline(device, text === 'online', Date.now());
      done(null);
      return;
    }
    this.ingest.submit(device, packet.topic, packet.payload as Buffer).then(
      () => done(null),
      (err: Error) => {
        // The store refused (disk full, I/O error): no PUBACK, so the device keeps the message.
        this.log.error({ device, err: err.message }, 'ingest failed; publish not acknowledged');
        done(err);
      },
    );
  }

  private refusePublish(
    device: string | undefined,
    topic: string,
    reason: string,
    done: (error?: Error | null) => void,
  ): void {
    this.counters.publishRefused++;
    this.log.warn({ device, topic: topic.slice(0, 200), reason }, 'publish refused');
    // MQTT 3.1.1 has no negative PUBACK: the broker closes the connection.
    done(new Error(`publish refused: ${reason}`));
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
    this.counters.subscribeRefused++;
    this.log.warn({ device, topic: sub.topic.slice(0, 200) }, 'subscribe refused');
    done(null, null); // SUBACK with the failure code 0x80
  }

  /** Publishes a command to a device's `down` topic. */
  async command(device: string, payload: string): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.aedes.publish(
        {
          cmd: 'publish',
          topic: deviceTopic(this.registry.farm, device, 'down'),
          payload: Buffer.from(payload),
          qos: 1,
          retain: false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  async stop(): Promise<void> {
    // Stop accepting, then close the clients (which lets the listener finish closing).
    const closed = new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await closed;
  }
}
