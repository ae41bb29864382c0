// LoRaWAN uplinks from a network server's MQTT integration (ChirpStack v4, The Things Stack v3):
// unwrapped and decoded by firmware-config, deduplicated by DevEUI + fCnt, then stored through the
// same ingest as everything else.
import type { Manifest } from '../protocol/manifest.ts';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import { decodeNetworkUplink, lorawanLookup } from '../firmware-config/network-uplink.ts';
import type { QualityTracker } from '../firmware-config/quality-tracker.ts';
import { UplinkDedup } from '../firmware-config/uplink-dedup.ts';
import type { Ingest } from './ingest.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { NetworkUplinkHandler } from './external.ts';

export class LoRaWanUplinks implements NetworkUplinkHandler {
  private readonly dedup = new UplinkDedup();
  private lookup: ReturnType<typeof lorawanLookup>;
  private readonly store: Ingest;
  private readonly catalogue: Catalogue;
  private readonly tracker: QualityTracker;
  private readonly metrics: GatewayMetrics;

  constructor(
    ingest: Ingest,
    catalogue: Catalogue,
    manifest: Manifest,
    tracker: QualityTracker,
    metrics: GatewayMetrics,
  ) {
    this.store = ingest;
    this.catalogue = catalogue;
    this.tracker = tracker;
    this.metrics = metrics;
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
      if (up.duplicate) {
        this.metrics.duplicates.inc();
        return [];
      }
      return up.readings;
    });
  }
}
