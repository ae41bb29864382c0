// LoRaWAN uplinks from a network server's MQTT integration (ChirpStack v4, The Things Stack v3):
// unwrapped and decoded by firmware-config, deduplicated by DevEUI + fCnt, then stored through the
// same ingest as everything else. The radio metadata says which network-server gateways heard the
// uplink: the best-heard one and how many are kept per device (its health on the status page).
import type { Manifest } from '../protocol/manifest.ts';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import { decodeNetworkUplink, lorawanLookup } from '../firmware-config/network-uplink.ts';
import type { QualityTracker } from '../firmware-config/quality-tracker.ts';
import { UplinkDedup } from '../firmware-config/uplink-dedup.ts';
import type { RadioMetadata } from '../protocol/lorawan.ts';
import type { Ingest } from './ingest.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { NetworkUplinkHandler } from './external.ts';
import type { GatewayStore, HeardBy } from './store.ts';

type Heard = Map<string, { rssi?: number; snr?: number }>;

/** The gateway that heard an uplink best (highest RSSI; the first listed when none gave one). */
export function heardBy(gateways: Heard): HeardBy | undefined {
  let best: [string, { rssi?: number; snr?: number }] | undefined;
  for (const g of gateways) {
    if (!best || (g[1].rssi !== undefined && (best[1].rssi === undefined || g[1].rssi > best[1].rssi)))
      best = g;
  }
  if (!best) return undefined;
  return {
    gateway: best[0],
    gateways: gateways.size,
    ...(best[1].rssi !== undefined ? { rssi: best[1].rssi } : {}),
    ...(best[1].snr !== undefined ? { snr: best[1].snr } : {}),
  };
}

export class LoRaWanUplinks implements NetworkUplinkHandler {
  private readonly dedup = new UplinkDedup();
  private lookup: ReturnType<typeof lorawanLookup>;
  private readonly store: Ingest;
  private readonly catalogue: Catalogue;
  private readonly tracker: QualityTracker;
  private readonly metrics: GatewayMetrics;
  private readonly devices: GatewayStore | undefined;
  /**
   * Per device, the gateways that heard its last uplink (one entry per device): a frame a network
   * server delivers once per gateway (no deduplication of its own) is merged by DevEUI + fCnt.
   */
  private readonly lastHeard = new Map<string, { key: string; gateways: Heard }>();

  constructor(
    ingest: Ingest,
    catalogue: Catalogue,
    manifest: Manifest,
    tracker: QualityTracker,
    metrics: GatewayMetrics,
    devices?: GatewayStore,
  ) {
    this.store = ingest;
    this.catalogue = catalogue;
    this.tracker = tracker;
    this.metrics = metrics;
    this.devices = devices;
    this.lookup = lorawanLookup(manifest.devices);
  }

  /** Uses a new manifest's devices from now on. */
  setManifest(manifest: Manifest): void {
    this.lookup = lorawanLookup(manifest.devices);
  }

  /** Decodes and stores one uplink event; a duplicate is acknowledged and not stored again. */
  ingest(_format: 'chirpstack' | 'tts', topic: string, payload: Buffer): Promise<unknown> {
    const now = Date.now();
    return this.store.submitWith(null, topic, payload, now, () => {
      const up = decodeNetworkUplink(topic, payload, {
        catalogue: this.catalogue,
        lookup: this.lookup,
        receivedAt: now,
        dedup: this.dedup,
        tracker: this.tracker,
      });
      this.noteRadio(up.device, up.dedupKey, up.radio);
      if (up.duplicate) {
        this.metrics.duplicates.inc();
        return [];
      }
      return up.readings;
    });
  }

  /** Keeps who heard the device's last uplink (written to the device's row with the next commit). */
  private noteRadio(device: string, key: string, radio: RadioMetadata): void {
    if (!this.devices || radio.gateways.length === 0) return;
    let last = this.lastHeard.get(device);
    if (last?.key !== key) {
      last = { key, gateways: new Map() };
      this.lastHeard.set(device, last);
    }
    for (const g of radio.gateways) {
      const had = last.gateways.get(g.id);
      // The same gateway twice (a resent event): its louder reception counts.
      if (!had || (g.rssi !== undefined && (had.rssi === undefined || g.rssi > had.rssi)))
        last.gateways.set(g.id, { rssi: g.rssi, snr: g.snr });
    }
    const best = heardBy(last.gateways);
    if (best) this.devices.noteHeardBy(device, best);
  }
}
