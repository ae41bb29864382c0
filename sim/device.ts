// A simulated sensor kit: a real MQTT client (mqtt.js) that connects with its provisioned
// credentials, announces itself on its retained `status` topic with a last will, and publishes
// JSON telemetry at QoS 1 on its `up` topic. A refused login is told, not thrown (connect.ts).
import type { MqttClient } from 'mqtt';
import { deviceTopic } from '../protocol/topics.ts';
import { connectKit, type KitConnection, type KitLogin, type Refusal } from './connect.ts';
import type { Signal } from './signals.ts';

export { REFUSED_RETRY_MS, type Refusal } from './connect.ts';

export interface SimulatedDeviceOptions extends KitLogin {
  intervalMs: number;
  signal: Signal;
  /**
   * On its first connection, the kit first reports the past `hours` every `everyMs`, oldest first
   * (as a logger that kept its readings would): a fresh demo has a day of charts at once.
   */
  history?: { hours: number; everyMs: number };
}

export class SimulatedDevice {
  private conn: KitConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  published = 0;
  readonly opts: SimulatedDeviceOptions;

  constructor(opts: SimulatedDeviceOptions) {
    this.opts = opts;
  }

  /** The refusal it is under now; undefined while connected or never refused. */
  get refused(): Refusal | undefined {
    return this.conn?.refused();
  }

  private get client(): MqttClient | undefined {
    return this.conn?.client;
  }

  /**
   * Connects and starts publishing. Resolves true once connected, or false when the first login
   * is refused or fails (it keeps trying in the background); it never rejects for that.
   */
  async start(): Promise<boolean> {
    const { device } = this.opts;
    let history = this.opts.history;
    this.conn = connectKit(this.opts, { clientId: `${device}-sim`, clean: false }, () => {
      const past = history;
      history = undefined;
      void (past ? this.publishHistory(past) : Promise.resolve())
        .then(() => this.publishNow())
        .catch(() => {});
    });
    this.timer = setInterval(() => void this.publishNow().catch(() => {}), this.opts.intervalMs);
    return this.conn.first;
  }

  /** Publishes one reading of every metric, stamped with the current time (nothing while not connected). */
  async publishNow(time = Date.now()): Promise<void> {
    if (!this.client?.connected) return;
    const payload = JSON.stringify({ time: new Date(time).toISOString(), values: this.opts.signal(time) });
    await this.client.publishAsync(deviceTopic(this.opts.farm, this.opts.device, 'up'), payload, { qos: 1 });
    this.published++;
  }

  /** The past `hours` every `everyMs`, oldest first, ending one step before now. */
  private async publishHistory(h: { hours: number; everyMs: number }): Promise<void> {
    const now = Date.now();
    for (let k = Math.floor((h.hours * 3_600_000) / h.everyMs) - 1; k >= 1; k--)
      await this.publishNow(now - k * h.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.conn?.end();
  }
}
