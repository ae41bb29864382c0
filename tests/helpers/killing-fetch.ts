// A gateway's fetch that SIGKILLs the server at one of the two dangerous moments of a sync batch,
// when armed, and records what it saw — for the chaos tests of a server killed mid-batch:
// 'sent'    — SIGKILL as the request leaves: the server dies with the batch on the wire or half
//             applied (its transaction rolls back, or InfluxDB holds part of it), before its ack;
// 'applied' — SIGKILL after the server stored the batch and answered, the answer lost on the way:
//             the gateway must send the batch again and the server must take it as a no-op.
import { gunzipSync } from 'node:zlib';
import type { SyncAck, SyncBatch } from '../../protocol/sync.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import type { ServerFetch } from '../../gateway/server-fetch.ts';
import type { GatewayStore } from '../../gateway/store.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import type { Logger } from '../../runtime/log.ts';

export type KillMoment = 'sent' | 'applied';

export interface KillingFetch {
  fetch: ServerFetch;
  /** Kills the server at that moment of the next batch; resolves once it is dead. */
  arm(at: KillMoment): Promise<void>;
  /** The batches the server was killed at, in order. */
  readonly killed: { at: KillMoment; batch: SyncBatch }[];
  /** Every batch the server acknowledged, with its answer. */
  readonly acks: { batch: SyncBatch; ack: SyncAck }[];
}

export function killingFetch(kill: () => Promise<unknown>): KillingFetch {
  let armed: { at: KillMoment; done: () => void } | undefined;
  const killed: KillingFetch['killed'] = [];
  const acks: KillingFetch['acks'] = [];
  return {
    killed,
    acks,
    arm: (at) => new Promise<void>((done) => (armed = { at, done })),
    fetch: async (url, init) => {
      const batch = JSON.parse(gunzipSync(init.body as Uint8Array).toString()) as SyncBatch;
      const now = armed;
      armed = undefined;
      if (now?.at === 'sent') {
        killed.push({ at: 'sent', batch });
        const res = fetch(url, init);
        void kill().then(now.done);
        return res;
      }
      const res = await fetch(url, init);
      if (now?.at === 'applied') {
        killed.push({ at: 'applied', batch });
        await kill();
        now.done();
        throw new TypeError('fetch failed: the connection closed before the answer was read');
      }
      if (res.ok) acks.push({ batch, ack: (await res.clone().json()) as SyncAck });
      return res;
    },
  };
}

/** `n` battery readings of the three demo devices, a minute apart from `t0`, in turn. */
export function batteryBacklog(n: number, t0: number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < n; i++)
    out.push({
      device: ['soil-1', 'wx-1', 'water-1'][i % 3]!,
      metric: 'battery',
      value: 3.7,
      unit: 'V',
      time: t0 + i * 60_000,
      flags: [],
    });
  return out;
}

/** `batteryBacklog(n, t0)` committed to the gateway's store: readings the server has not seen. */
export function queueBatteryBacklog(store: GatewayStore, n: number, t0: number): Reading[] {
  const readings = batteryBacklog(n, t0);
  for (let i = 0; i < n; i += 5000) store.commit(readings.slice(i, i + 5000), [], Date.now());
  return readings;
}

/**
 * A sync client of `store` to the server at `url` whose fetch kills the server when armed
 * (`killingFetch`), with short intervals and back-off so a chaos test does not wait.
 */
export function killingSync(
  store: GatewayStore,
  server: { url: string; kill(signal: 'SIGKILL'): Promise<unknown> },
  token: string,
  log: Logger,
): KillingFetch & { sync: SyncClient } {
  const k = killingFetch(() => server.kill('SIGKILL'));
  const sync = new SyncClient(
    store,
    {
      gatewayId: 'gw-test',
      url: server.url,
      token,
      intervalMs: 100,
      batchMaxItems: 500,
      batchDelayMs: 10,
      backoffCapMs: 300,
      fetch: k.fetch,
    },
    log,
  );
  return { ...k, sync };
}
