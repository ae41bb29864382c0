// The farm-gateway process: broker → ingest → store → sync, put together and taken apart in
// order. Start opens the store before the broker listens; stop closes the broker (no new
// PUBACKs), flushes the ingest, stops the uplink and only then closes the store.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { HatakeError } from '../protocol/errors.ts';
import { Manifest } from '../protocol/manifest.ts';
import { validator } from '../protocol/validate.ts';
import { loadYamlFile } from '../runtime/config-file.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { loadCatalogue } from '../firmware-config/catalogue.ts';
import type { ResolvedGatewayConfig } from './config.ts';
import { GatewayStore } from './store.ts';
import { DeviceRegistry } from './registry.ts';
import { Ingest } from './ingest.ts';
import { Broker } from './broker.ts';
import { SyncClient } from './sync-client.ts';

const manifestValidator = validator(Manifest);

export class Gateway {
  readonly config: ResolvedGatewayConfig;
  readonly log: Logger;
  store!: GatewayStore;
  registry!: DeviceRegistry;
  ingest!: Ingest;
  broker!: Broker;
  sync: SyncClient | undefined;
  mqttPort = 0;

  constructor(config: ResolvedGatewayConfig, log: Logger = createLogger('gateway')) {
    this.config = config;
    this.log = log;
  }

  async start(): Promise<void> {
    const c = this.config;
    mkdirSync(c.dataDir, { recursive: true });
    const catalogue = loadCatalogue(c.kits);
    const manifest = loadYamlFile(c.manifest, manifestValidator);
    this.registry = new DeviceRegistry(c.registry, this.log);
    if (this.registry.farm !== manifest.farm.id) {
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        `registry is for farm "${this.registry.farm}" but the manifest is for "${manifest.farm.id}"`,
        {
          place: { file: c.registry },
        },
      );
    }
    this.store = new GatewayStore(join(c.dataDir, 'gateway.db'));
    this.queueManifestIfChanged(manifest);
    this.ingest = new Ingest(this.store, this.registry, catalogue, {
      maxPayloadBytes: c.mqtt.maxPayloadBytes,
      maxGroup: 1000,
    });
    if (c.server) {
      this.sync = new SyncClient(
        this.store,
        { gatewayId: c.id, url: c.server.url, token: c.server.token, ...c.sync },
        this.log.child({ part: 'sync' }),
      );
      const sync = this.sync;
      this.ingest.on('committed', () => sync.kick());
      sync.start();
    }
    this.broker = new Broker(this.registry, this.ingest, this.store, this.log.child({ part: 'broker' }));
    this.mqttPort = await this.broker.start({ host: c.mqtt.host, port: c.mqtt.port });
    this.registry.watch();
    this.log.info(
      { mqtt: this.mqttPort, devices: this.registry.size, farm: manifest.farm.id },
      'gateway started',
    );
  }

  /** Sends the manifest to the server when it differs from the last one sent. */
  private queueManifestIfChanged(manifest: Manifest): void {
    const hash = createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
    if (this.store.getMeta('manifest_sha256') === hash) return;
    this.store.db.transaction(() => {
      this.store.enqueue('manifest', manifest, Date.now());
      this.store.setMeta('manifest_sha256', hash);
    })();
  }

  async stop(): Promise<void> {
    this.registry?.close();
    await this.broker?.stop();
    this.ingest?.drain();
    await this.sync?.stop();
    this.store?.close();
    this.log.info('gateway stopped');
  }
}
