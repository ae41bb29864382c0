// A simulated sensor kit: a real MQTT client (mqtt.js) that connects with its provisioned
// credentials, announces itself on its retained `status` topic with a last will, and publishes
// JSON telemetry at QoS 1 on its `up` topic.
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../protocol/topics.ts';
import type { Signal } from './signals.ts';

export interface SimulatedDeviceOptions {
  farm: string;
  device: string;
  secret: string;
  brokerUrl: string;
  intervalMs: number;
  signal: Signal;
}

export class SimulatedDevice {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  published = 0;
  readonly opts: SimulatedDeviceOptions;

  constructor(opts: SimulatedDeviceOptions) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    const { farm, device, secret, brokerUrl } = this.opts;
    const status = deviceTopic(farm, device, 'status');
    this.client = await mqtt.connectAsync(brokerUrl, {
      username: device,
      password: secret,
      clientId: `${device}-sim`,
      clean: false,
      reconnectPeriod: 2000,
      will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await this.client.publishAsync(status, 'online', { qos: 1, retain: true });
    await this.publishNow();
    this.timer = setInterval(() => void this.publishNow().catch(() => {}), this.opts.intervalMs);
  }

  /** Publishes one reading of every metric, stamped with the current time. */
  async publishNow(time = Date.now()): Promise<void> {
    const payload = JSON.stringify({ time: new Date(time).toISOString(), values: this.opts.signal(time) });
    await this.client?.publishAsync(deviceTopic(this.opts.farm, this.opts.device, 'up'), payload, { qos: 1 });
    this.published++;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.client) return;
    await this.client
      .publishAsync(deviceTopic(this.opts.farm, this.opts.device, 'status'), 'offline', {
        qos: 1,
        retain: true,
      })
      .catch(() => {});
    await this.client.endAsync();
  }
}
