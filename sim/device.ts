// A simulated sensor kit: a real MQTT client (mqtt.js) that connects with its provisioned
// credentials, announces itself on its retained `status` topic with a last will, and publishes
// JSON telemetry at QoS 1 on its `up` topic.
// A login the broker refuses (its key was replaced: the gateway's registry no longer holds its
// secret) is told to `onRefused` once, not thrown: the other kits keep running, and this one
// tries again every minute, so it comes back by itself once its key is put right.
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../protocol/topics.ts';
import type { Signal } from './signals.ts';

/** MQTT 3.1.1 CONNACK codes 4 and 5, MQTT 5 reason codes 134 and 135: the login was refused. */
const REFUSED = new Set([4, 5, 134, 135]);
const RECONNECT_MS = 2000;
/** How often a refused device tries again: slowly, not to fill the gateway's log. */
export const REFUSED_RETRY_MS = 60_000;

export interface Refusal {
  device: string;
  /** The broker's reason, as mqtt.js words it (e.g. "Connection refused: Bad username or password"). */
  reason: string;
  /** The CONNACK return / reason code, when there is one. */
  code: number | undefined;
}

export interface SimulatedDeviceOptions {
  farm: string;
  device: string;
  secret: string;
  brokerUrl: string;
  intervalMs: number;
  signal: Signal;
  /** Told once when the broker refuses the login (again only after it was accepted meanwhile). */
  onRefused?: (r: Refusal) => void;
  /** Told when the broker accepts the device again after a refusal. */
  onBack?: (device: string) => void;
  /** How long a refused device waits before it tries again (ms). */
  refusedRetryMs?: number;
}

export class SimulatedDevice {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  published = 0;
  /** The refusal it is under now; undefined while connected or never refused. */
  refused: Refusal | undefined;
  readonly opts: SimulatedDeviceOptions;

  constructor(opts: SimulatedDeviceOptions) {
    this.opts = opts;
  }

  /**
   * Connects and starts publishing. Resolves true once connected, or false when the first login
   * is refused or fails (it keeps trying in the background); it never rejects for that.
   */
  async start(): Promise<boolean> {
    const { farm, device, secret, brokerUrl } = this.opts;
    const status = deviceTopic(farm, device, 'status');
    const client = mqtt.connect(brokerUrl, {
      username: device,
      password: secret,
      clientId: `${device}-sim`,
      clean: false,
      reconnectPeriod: RECONNECT_MS,
      // A refused login is tried again (mqtt.js gives up on it otherwise), at refusedRetryMs.
      reconnectOnConnackError: true,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client = client;
    const first = new Promise<boolean>((resolve) => {
      client.once('connect', () => resolve(true));
      client.once('error', () => resolve(false));
    });
    client.on('connect', () => {
      client.options.reconnectPeriod = RECONNECT_MS;
      if (this.refused) {
        this.refused = undefined;
        this.opts.onBack?.(device);
      }
      void client.publishAsync(status, 'online', { qos: 1, retain: true }).catch(() => {});
      void this.publishNow().catch(() => {});
    });
    // Without a listener an 'error' event would end the whole process.
    client.on('error', (e) => this.onError(e));
    this.timer = setInterval(() => void this.publishNow().catch(() => {}), this.opts.intervalMs);
    return first;
  }

  private onError(e: Error): void {
    const raw: unknown = (e as Error & { code?: unknown }).code;
    const code = typeof raw === 'number' ? raw : undefined;
    if (code === undefined || !REFUSED.has(code)) return; // network trouble: mqtt.js reconnects
    this.client!.options.reconnectPeriod = this.opts.refusedRetryMs ?? REFUSED_RETRY_MS;
    if (this.refused) return;
    this.refused = { device: this.opts.device, reason: e.message, code };
    this.opts.onRefused?.(this.refused);
  }

  /** Publishes one reading of every metric, stamped with the current time (nothing while not connected). */
  async publishNow(time = Date.now()): Promise<void> {
    if (!this.client?.connected) return;
    const payload = JSON.stringify({ time: new Date(time).toISOString(), values: this.opts.signal(time) });
    await this.client.publishAsync(deviceTopic(this.opts.farm, this.opts.device, 'up'), payload, { qos: 1 });
    this.published++;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.client) return;
    if (!this.client.connected) return this.client.endAsync(true); // refused, or not yet back
    await this.client
      .publishAsync(deviceTopic(this.opts.farm, this.opts.device, 'status'), 'offline', {
        qos: 1,
        retain: true,
      })
      .catch(() => {});
    await this.client.endAsync();
  }
}
