// How a simulated kit (sensor or valve) logs in to the gateway's broker: a real mqtt.js client
// with its provisioned credentials and a retained `offline` last will. A login the broker refuses
// (its key was replaced: the gateway's registry no longer holds its secret) is told to
// `onRefused` once, not thrown: the other kits keep running, and this one tries again every
// minute, so it comes back by itself once its key is put right.
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../protocol/topics.ts';

/** MQTT 3.1.1 CONNACK codes 4 and 5, MQTT 5 reason codes 134 and 135: the login was refused. */
const REFUSED = new Set([4, 5, 134, 135]);
const RECONNECT_MS = 2000;
/** How often a refused kit tries again: slowly, not to fill the gateway's log. */
export const REFUSED_RETRY_MS = 60_000;

export interface Refusal {
  device: string;
  /** The broker's reason, as mqtt.js words it (e.g. "Connection refused: Bad username or password"). */
  reason: string;
  /** The CONNACK return / reason code, when there is one. */
  code: number | undefined;
}

export interface KitLogin {
  farm: string;
  device: string;
  secret: string;
  brokerUrl: string;
  /** Told once when the broker refuses the login (again only after it was accepted meanwhile). */
  onRefused?: (r: Refusal) => void;
  /** Told when the broker accepts the kit again after a refusal. */
  onBack?: (device: string) => void;
  /** How long a refused kit waits before it tries again (ms). */
  refusedRetryMs?: number;
}

export interface KitConnection {
  client: MqttClient;
  /** True once the first login was accepted, false when it was refused or failed (it keeps trying). */
  first: Promise<boolean>;
  /** The refusal the kit is under now; undefined while connected or never refused. */
  refused(): Refusal | undefined;
  /** Publishes the retained `offline` status when connected, then closes the client. */
  end(): Promise<void>;
}

/**
 * Connects a kit. `onConnect` runs at every accepted login (the first and each reconnection),
 * after the retained `online` status is on its way.
 */
export function connectKit(
  login: KitLogin,
  session: { clientId: string; clean: boolean },
  onConnect: (client: MqttClient) => void,
): KitConnection {
  const { farm, device, secret, brokerUrl } = login;
  const status = deviceTopic(farm, device, 'status');
  let refused: Refusal | undefined;
  const client = mqtt.connect(brokerUrl, {
    username: device,
    password: secret,
    clientId: session.clientId,
    clean: session.clean,
    reconnectPeriod: RECONNECT_MS,
    // A refused login is tried again (mqtt.js gives up on it otherwise), at refusedRetryMs.
    reconnectOnConnackError: true,
    will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true },
  });
  const first = new Promise<boolean>((resolve) => {
    client.once('connect', () => resolve(true));
    client.once('error', () => resolve(false));
  });
  client.on('connect', () => {
    client.options.reconnectPeriod = RECONNECT_MS;
    if (refused) {
      refused = undefined;
      login.onBack?.(device);
    }
    void client.publishAsync(status, 'online', { qos: 1, retain: true }).catch(() => {});
    onConnect(client);
  });
  // Without a listener an 'error' event would end the whole process.
  client.on('error', (e) => {
    const raw: unknown = (e as Error & { code?: unknown }).code;
    const code = typeof raw === 'number' ? raw : undefined;
    if (code === undefined || !REFUSED.has(code)) return; // network trouble: mqtt.js reconnects
    client.options.reconnectPeriod = login.refusedRetryMs ?? REFUSED_RETRY_MS;
    if (refused) return;
    refused = { device, reason: e.message, code };
    login.onRefused?.(refused);
  });
  return {
    client,
    first,
    refused: () => refused,
    async end() {
      if (!client.connected) return client.endAsync(true); // refused, or not yet back
      await client.publishAsync(status, 'offline', { qos: 1, retain: true }).catch(() => {});
      await client.endAsync();
    },
  };
}
