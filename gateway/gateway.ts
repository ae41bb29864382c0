// The farm-gateway process: broker → ingest → store → sync, with housekeeping and a status page,
// put together and taken apart in order. Start opens the store before the broker listens; stop
// closes the broker (no new PUBACKs), flushes the ingest, stops the uplink and only then closes
// the store.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import { HatakeError } from '../protocol/errors.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import {
  codecDirsFromEnv,
  codecSourceOf,
  loadCatalogue,
  type Catalogue,
} from '../firmware-config/catalogue.ts';
import type { Kit } from '../protocol/kit.ts';
import { settingsInEffect, type GatewayTunables, type ResolvedGatewayConfig } from './config.ts';
import { GatewayStore, type DeviceState } from './store.ts';
import { DeviceRegistry, readRegistryFile } from './registry.ts';
import { Ingest } from './ingest.ts';
import { Broker, type BrokerPorts } from './broker.ts';
import { SyncClient } from './sync-client.ts';
import { serverFetch } from './server-fetch.ts';
import { GatewayMetrics } from './metrics.ts';
import { EventLog } from './events.ts';
import { Maintenance } from './maintenance.ts';
import { startGatewayHttp, type GatewayStatus, type HealthProblem } from './http.ts';
import type { ExternalBroker } from './external.ts';
import { TipEngine, airTemperatureDevices, turn } from './tips.ts';
import { scoutCellRows } from '../edge/imagery/scout-cells.ts';
import { offsetMs } from '../edge/rules/local-time.ts';
import { GatewayRecommender } from './recommender.ts';
import { ImageryInbox, coverageLog, type ProcessedScene } from './imagery/inbox.ts';
import { ImageryReceiver } from './imagery/receiver.ts';
import { ImageryTopics } from './imagery/mqtt.ts';
import { queueMapUploads, uploadPendingMaps } from './imagery/uploads.ts';
import { imageryTopic } from '../protocol/imagery.ts';
import type { Recommendation } from '../protocol/recommendation.ts';
import type { FieldInput } from '../edge/imagery/fields.ts';
import { LoRaWanUplinks } from './lorawan.ts';
import { checkManifest, loadManifest } from '../firmware-config/manifest-check.ts';
import { DownlinkClient, type DownlinkDoc } from './downlink-client.ts';
import {
  automationKeeper,
  keepHandler,
  stageCheck,
  manifestHandler,
  modelHandler,
  registryHandler,
  sceneFailureEvent,
  sceneHandler,
} from './downlink-apply.ts';
import { QualityTracker } from '../firmware-config/quality-tracker.ts';
import {
  applyTunables,
  configHandler,
  currentTunables,
  loadKeptRemoteConfig,
  mergeRemote,
} from './remote-config.ts';
import type { EngineClock } from './automations/clock.ts';
import { automationProblemLine, type AutomationEngine } from './automations/engine.ts';
import { createAutomationEngine } from './automations/wiring.ts';
import { automationRoutes } from './automations/routes.ts';
import { loadOrCreateOverrideToken } from './automations/override-token.ts';

/** Reported to the server with every batch. */
export const GATEWAY_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
/** A clock this far off the server's is corrected; this far, an alert is raised. */
const CLOCK_TRUST_MS = 2_000;
const CLOCK_ALERT_MS = 60_000;

export interface GatewayEvents {
  /** A downlink document the gateway keeps (automation, override, recommendation decision, config). */
  document: [doc: DownlinkDoc];
}

export class Gateway extends EventEmitter<GatewayEvents> {
  readonly config: ResolvedGatewayConfig;
  readonly log: Logger;
  readonly metrics = new GatewayMetrics();
  manifest!: Manifest;
  catalogue!: Catalogue;
  store!: GatewayStore;
  registry!: DeviceRegistry;
  ingest!: Ingest;
  events!: EventLog;
  maintenance!: Maintenance;
  broker: Broker | undefined;
  external: ExternalBroker | undefined;
  sync: SyncClient | undefined;
  downlink: DownlinkClient | undefined;
  tips!: TipEngine;
  imagery!: ImageryInbox;
  imageryReceiver!: ImageryReceiver;
  recommender!: GatewayRecommender;
  /** Runs the automations the server sent down (needs the embedded broker). */
  automations: AutomationEngine | undefined;
  /** Set before start() to run the automations on another clock (tests drive one by hand). */
  automationClock: EngineClock | undefined;
  private lorawan: LoRaWanUplinks | undefined;
  /** The tunables of the gateway's own configuration, before any sent down from the server. */
  private ownTunables!: GatewayTunables;
  private uploading: Promise<number> | undefined;
  /** Set by stop(): no new map uploads start while the parts close. */
  private stopping = false;
  /** Processed scenes whose results are being stored and recommended from. */
  private readonly sceneWork = new Set<Promise<unknown>>();
  private deviceIndex: { manifest: Manifest; byId: Map<string, Manifest['devices'][number]> } | undefined;
  private http: FastifyInstance | undefined;
  ports: BrokerPorts = { mqtt: 0 };
  httpPort = 0;

  constructor(config: ResolvedGatewayConfig, log: Logger = createLogger('gateway')) {
    super();
    // The tunable sections are this gateway's own objects: a configuration sent down changes them
    // in place, which must not reach another gateway built from the same defaults.
    this.config = {
      ...config,
      storage: { ...config.storage },
      retention: { ...config.retention },
      health: { ...config.health },
      sync: { ...config.sync },
      mqtt: { ...config.mqtt, rate: { ...config.mqtt.rate } },
    };
    this.log = log;
  }

  get mqttPort(): number {
    return this.ports.mqtt;
  }

  async start(): Promise<void> {
    const c = this.config;
    mkdirSync(c.dataDir, { recursive: true });
    // The configuration the server last sent down, over the gateway's own, before any part reads it.
    this.ownTunables = currentTunables(c);
    const kept = loadKeptRemoteConfig(c.dataDir, this.log);
    if (kept) {
      applyTunables(c, mergeRemote(this.ownTunables, kept.config));
      this.log.info({ version: kept.version }, 'running on the configuration the server sent down');
    }
    // Vendor codecs: beside each kit file, then HATAKE_CODEC_PATH (an override), then `codecs:`.
    const codecDirs = [...codecDirsFromEnv(), ...c.codecs];
    this.catalogue = loadCatalogue(c.kits, { codecDirs });
    // Boundary files are inlined and every device is checked against the catalogue.
    // A manifest the server sent down takes the place of the configured file.
    const downlinked = join(c.dataDir, 'downlink', 'manifest.json');
    this.manifest = loadManifest(existsSync(downlinked) ? downlinked : c.manifest, {
      catalogue: this.catalogue,
    });
    this.warnMissingCodecs(codecDirs);
    this.registry = new DeviceRegistry(c.registry, this.log);
    if (this.registry.farm !== this.manifest.farm.id) {
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        `registry is for farm "${this.registry.farm}" but the manifest is for "${this.manifest.farm.id}"`,
        {
          place: { file: c.registry },
        },
      );
    }
    this.store = new GatewayStore(join(c.dataDir, 'gateway.db'));
    this.store.setBudget(c.storage.maxDbBytes);
    this.store.setDeadLetterLimit(c.retention.deadLetters);
    this.metrics.commitThread = () => this.store.hasWriter;
    // What /healthz says, read the same way: a status that cannot be read is a problem too.
    this.metrics.healthProblems = () => this.status().health.issues ?? [];
    this.store.onWriterExit = (why) =>
      this.log.error({ why }, 'commit writer thread stopped; group commits are back on the main thread');
    this.events = new EventLog(this.store, this.log.child({ part: 'events' }));
    // A device marked silent that sends again says so, as its silence did (the partner's alerts,
    // the status page): otherwise "has sent nothing" stood beside a device reporting fine.
    this.store.onDeviceBack = (back, now) => {
      for (const { device, since, lastSeen } of back) {
        try {
          const silentMin = lastSeen === null ? null : Math.max(0, Math.round((now - lastSeen) / 60_000));
          this.events.raise({
            type: 'device_back',
            severity: 'info',
            device,
            time: now,
            message:
              silentMin === null
                ? `${device} is sending again`
                : `${device} is sending again after ${silentMin} min of silence`,
            detail: { silentSince: since, ...(lastSeen === null ? {} : { lastSeen, silentMin }) },
          });
        } catch (e) {
          this.log.warn({ device, err: (e as Error).message }, 'device_back event not recorded');
        }
      }
    };
    this.queueManifestIfChanged(this.manifest);
    const tracker = new QualityTracker();
    this.ingest = new Ingest(this.store, this.registry, this.catalogue, this.metrics, {
      maxPayloadBytes: c.mqtt.maxPayloadBytes,
      maxGroup: 1000,
      // With storage.commitThreadFrom, group commits from that size on move to their own thread:
      // the broker keeps reading and decoding while a group is written and fsync'd.
      threadFrom: c.commitThreadFrom,
      // A slow reporter's message waits up to this long to share its commit (SD-card wear).
      commitWindowMs: c.commitWindowMs,
      calibration: (id) => this.devices.get(id)?.calibration,
      clock: () => this.now(),
      tracker,
    });
    this.maintenance = new Maintenance({
      config: c,
      store: this.store,
      registry: this.registry,
      catalogue: this.catalogue,
      metrics: this.metrics,
      events: this.events,
    });
    // A refused commit (disk full) is checked at once, not at the next housekeeping round. Any
    // other refusal (a read-only or failing card) is a health problem of its own until a commit
    // succeeds again: every device is being refused its PUBACK.
    this.ingest.on('storeFailed', (err, first) => {
      // SQLite's own SQLITE_FULL (not the store's free-space gate): ENOSPC, or the budget.
      if ((err.cause as { code?: string } | undefined)?.code === 'SQLITE_FULL')
        this.maintenance.storeRefused(true);
      this.maintenance.guard('disk', () => this.maintenance.checkDisk());
      if (first && err.code !== 'HATAKE_E_DISK_FULL')
        this.log.error({ err: err.message }, 'the store refuses writes');
    });
    // A commit that succeeds after SQLite refused one: space is back (checked at once).
    this.ingest.on('readings', () => {
      if (!this.maintenance.storeRefusing) return;
      this.maintenance.storeRefused(false);
      this.maintenance.guard('disk', () => this.maintenance.checkDisk());
    });
    this.maintenance.start();
    // Nothing is connected to a gateway that is starting: devices recorded online when it stopped
    // (a crash or a power cut records no disconnection) are offline until they connect again.
    if (c.mqtt.enabled) this.markDevicesOffline();
    this.tips = new TipEngine(
      this.store,
      this.catalogue,
      () => this.manifest,
      {
        windowHours: 48,
        minIntervalMs: 60_000,
        everyMs: 5 * 60_000,
        timeZone: this.manifest.farm.timezone ?? 'Asia/Tokyo',
        rules: c.rules,
      },
      this.log.child({ part: 'tips' }),
    );
    this.ingest.on('committed', () => this.tips.nudge());
    this.tips.start();
    this.recommender = new GatewayRecommender(c.dataDir, this.log.child({ part: 'recommend' }), {
      latest: (device) => this.store.latest(device, this.now()),
      metrics: this.metrics,
    });
    const imageryDir = join(c.dataDir, 'imagery');
    this.imagery = new ImageryInbox(
      imageryDir,
      () => this.fieldInputs(),
      (r) => this.sceneDone(r),
      this.log.child({ part: 'imagery' }),
      (f) => {
        // A scene sent down that failed: the server (and whoever sent it) learns why.
        const event = sceneFailureEvent(f);
        if (event) this.events.raise(event);
      },
    );
    this.imageryReceiver = new ImageryReceiver({
      dir: join(imageryDir, 'mqtt'),
      fields: () => this.fieldInputs(),
      maxChunkBytes: c.mqtt.maxPacketBytes - 1024,
    });
    this.imageryReceiver.on('result', (r) => {
      if (r.uncovered.length > 0 || Object.values(r.coverage).some((c) => c < 1))
        this.log.info(
          { scene: r.sceneId, ...coverageLog(r.uncovered, r.coverage) },
          'received scene processed; not every field covered',
        );
      this.sceneDone({
        sceneId: r.sceneId,
        acquired: new Date(r.manifest.acquired).toISOString(),
        stats: r.stats,
        zones: r.zones,
        outDir: r.outDir,
        uncovered: r.uncovered,
        coverage: r.coverage,
      });
    });
    // The answer goes out on both brokers the gateway has: a provider may be on either.
    this.imageryReceiver.on('status', (st) => {
      const topic = imageryTopic(this.manifest.farm.id, st.sceneId, 'status');
      void this.broker?.publish(topic, JSON.stringify(st)).catch(() => {});
      void this.external?.publish(topic, JSON.stringify(st)).catch(() => {});
    });
    this.imageryReceiver.on('invalid', (suffix, reason) =>
      this.log.warn({ suffix, reason }, 'imagery message refused'),
    );
    this.imageryReceiver.on('fault', (scene, err) =>
      this.log.error({ scene, err: err.message }, 'processing a received scene failed'),
    );
    this.imageryReceiver.on('expired', (x) =>
      this.log.warn(
        { scene: x.sceneId, received: x.received, chunkCount: x.chunkCount, idleMs: x.idleMs },
        'imagery transfer expired; its files were deleted',
      ),
    );
    if (c.server) this.startUplink(c.server);
    if (c.mqtt.enabled) {
      this.broker = new Broker(c.mqtt, {
        registry: this.registry,
        ingest: this.ingest,
        store: this.store,
        metrics: this.metrics,
        log: this.log.child({ part: 'broker' }),
      });
      this.broker.addTopicHandler(
        new ImageryTopics(this.manifest.farm.id, this.registry, this.imageryReceiver),
      );
      this.ports = await this.broker.start();
      // Devices not heard since before the start are judged silent only from now on.
      this.maintenance.hearing(Date.now());
    }
    if (c.external) {
      // Loaded only in external-broker mode: the MQTT client library is no part of a gateway
      // whose own broker takes the devices.
      const { ExternalBroker } = await import('./external.ts');
      this.external = new ExternalBroker(c.external, {
        ingest: this.ingest,
        registry: this.registry,
        store: this.store,
        log: this.log.child({ part: 'external' }),
      });
      this.lorawan = new LoRaWanUplinks(
        this.ingest,
        this.catalogue,
        this.manifest,
        tracker,
        this.metrics,
        this.store,
      );
      this.external.networkUplinks = this.lorawan;
      this.external.imagery = this.imageryReceiver;
      // Without a broker of its own, the gateway hears its devices only while this link is up:
      // none is judged silent while it is down, and each gets its grace again when it is back.
      if (!this.broker) this.external.onLink = (up, at) => this.maintenance.hearing(up ? at : null);
      const external = this.external;
      new Gauge({
        name: 'hatake_gateway_external_broker_connected',
        help: 'Whether the gateway is connected to its external broker (1) or not (0)',
        registers: [this.metrics.registry],
        collect() {
          this.set(external.connected ? 1 : 0);
        },
      });
      // Returns connected, or not: an unreachable broker is a health problem, not a failed start.
      await this.external.start();
    }
    // Automations command actuators through the embedded broker, or the external one without it.
    if (this.broker || this.external) {
      this.automations = createAutomationEngine(this, this.automationClock);
      this.ingest.on('readings', (readings) => this.automations?.observe(readings));
    }
    const overrideCode = loadOrCreateOverrideToken(c.dataDir);
    if (overrideCode.created)
      this.log.info({ file: overrideCode.file }, 'override code for the gateway page created');
    const automations = this.automations;
    const http = await startGatewayHttp({
      ...c.http,
      register: automations
        ? async (app) => {
            await app.register(automationRoutes, {
              engine: automations,
              token: overrideCode.token,
              gateway: c.id,
            });
          }
        : undefined,
      log: this.log.child({ part: 'http' }),
      status: () => this.status(),
      // The page's names and the zones of kept decisions (gateway/http.ts StatusPageContext).
      page: () => ({
        manifest: this.manifest,
        catalogue: this.catalogue,
        recommendations: this.store.documents<Partial<Recommendation>>('recommendation').map((d) => d.body),
      }),
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        body: await this.metrics.registry.metrics(),
      }),
    });
    this.http = http.app;
    this.httpPort = http.port;
    this.registry.watch();
    this.imagery.start();
    this.log.info(
      { ...this.ports, http: this.httpPort, devices: this.registry.size, farm: this.manifest.farm.id },
      'gateway started',
    );
  }

  /**
   * Records the devices the store has online as offline, and tells the server as a disconnection
   * would: called at start, before the broker listens, when none can be connected.
   */
  private markDevicesOffline(): void {
    const online = this.store
      .devices()
      .filter((d) => d.online === true)
      .map((d) => d.id);
    if (!online.length) return;
    const now = Date.now();
    try {
      this.store.db.transaction(() => {
        for (const id of online) this.store.setDeviceOnline(id, false, now);
      })();
      this.log.info(
        { devices: online },
        'devices online when the gateway stopped are offline until they connect',
      );
    } catch (e) {
      // A full disk: the flags stay as they were (the status page may show them online), no more.
      this.log.warn({ devices: online, err: (e as Error).message }, 'devices not recorded offline at start');
    }
  }

  /** Names, once at start, each vendor codec a manifest device needs but that was not found. */
  private warnMissingCodecs(codecDirs: readonly string[]): void {
    const missing = new Map<Kit, string[]>();
    for (const d of this.manifest.devices) {
      const kit = this.catalogue.get(d.kit);
      if (kit?.codec !== 'ttn-js' || codecSourceOf(kit)) continue;
      missing.set(kit, [...(missing.get(kit) ?? []), d.id]);
    }
    for (const [kit, devices] of missing) {
      this.log.warn(
        { kit: kit.id, codecFile: kit.codecFile, devices, codecDirs },
        "vendor codec not found: these devices' uplinks will be dead-lettered (see `codecs` in the gateway config)",
      );
    }
  }

  /** The farm's field boundaries, as the imagery pipeline takes them. */
  fieldInputs(): FieldInput[] {
    return this.manifest.fields
      .filter((f) => f.boundary)
      .map((f) => ({
        id: f.id,
        name: f.name,
        polygons: [f.boundary!.coordinates as FieldInput['polygons'][number]],
      }));
  }

  /** Hands a processed scene on; stop() waits for it (its results go to the store it closes). */
  private sceneDone(r: ProcessedScene): void {
    const work = this.onScene(r)
      .catch((e: Error) => this.log.error({ scene: r.sceneId, err: e.message }, 'scene results not stored'))
      .finally(() => this.sceneWork.delete(work));
    this.sceneWork.add(work);
  }

  /**
   * Tells the server the settings the gateway runs on (its file with any configuration sent down
   * over it), so the partner's settings form shows them: a `config_effective` event, raised when
   * they differ from the last one told (at start, and after a configuration is applied).
   */
  private reportSettings(): void {
    const values = settingsInEffect(currentTunables(this.config));
    const told = JSON.stringify(values);
    if (this.store.getMeta('settings_reported') === told) return;
    this.events.raise({
      type: 'config_effective',
      severity: 'info',
      message: `settings in effect: ${Object.entries(values)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      detail: values,
    });
    this.store.setMeta('settings_reported', told);
  }

  /**
   * A processed scene: its statistics and zones go to the server, its scouting cells' index
   * statistics to the store for the imagery-anomaly rule (which is run soon), then the
   * recommendations.
   */
  async onScene(r: ProcessedScene): Promise<Recommendation[]> {
    const now = Date.now();
    this.keepCellStatistics(r, now);
    this.store.db.transaction(() => {
      this.store.enqueue(
        'imagery',
        { sceneId: r.sceneId, acquired: r.acquired, stats: r.stats, zones: r.zones },
        now,
      );
      queueMapUploads(this.store, r.sceneId, r.outDir, r.stats, now);
    })();
    this.sync?.kick();
    const recs = await this.recommender.forScene(
      this.manifest,
      this.config.id,
      r.zones,
      await this.dailyMeanTemperatures(this.now()),
      this.now(),
    );
    for (const rec of recs) this.store.enqueue('recommendation', rec, now);
    if (recs.length) {
      this.log.info(
        { scene: r.sceneId, recommendations: recs.map((x) => x.id) },
        'recommendations queued for review',
      );
      this.sync?.kick();
    }
    return recs;
  }

  /**
   * Keeps the scene's per-cell index statistics (edge/imagery/scout-cells.ts: fixed cells of
   * the fields, not the scene's zone numbers), idempotently and bounded, and asks for the rules.
   * A failure here is logged: the scene's results still go to the server.
   */
  private keepCellStatistics(r: ProcessedScene, now: number): void {
    // A scene whose acquisition time nobody knew (stats.json says null; the inbox then stamps the
    // processing time) cannot be placed in a zone's history.
    if (!r.stats.scene?.acquired) return;
    const acquired = Date.parse(r.acquired);
    if (!Number.isFinite(acquired)) return;
    try {
      const rows = scoutCellRows(this.manifest.fields, r.zones, r.sceneId, acquired);
      if (rows.length === 0) return;
      this.store.putZoneIndex(rows, now);
      this.tips.nudge();
    } catch (e) {
      this.log.error({ scene: r.sceneId, err: (e as Error).message }, 'scouting cell statistics not kept');
    }
  }

  /**
   * Daily mean air temperature (the farm's local days, the last year) from its weather stations,
   * the kept days read beforehand a week per turn of the event loop.
   */
  private async dailyMeanTemperatures(now: number): Promise<Map<string, number>> {
    const rows = await this.store.dailyTemperaturesInTurns(
      airTemperatureDevices(this.manifest, this.catalogue),
      now - 366 * 86_400_000,
      offsetMs(this.manifest.farm.timezone ?? 'Asia/Tokyo', now),
      now,
      turn,
    );
    return new Map(rows.map((r) => [r.date, r.mean]));
  }

  /** The devices of the current manifest, by id. */
  get devices(): Map<string, Manifest['devices'][number]> {
    if (this.deviceIndex?.manifest !== this.manifest) {
      this.deviceIndex = {
        manifest: this.manifest,
        byId: new Map(this.manifest.devices.map((d) => [d.id, d])),
      };
    }
    return this.deviceIndex.byId;
  }

  /** The gateway's best idea of the time: its clock corrected by the offset measured against the server. */
  now(): number {
    const offset = this.sync?.status.clockOffsetMs ?? null;
    return offset !== null && Math.abs(offset) > CLOCK_TRUST_MS ? Date.now() + offset : Date.now();
  }

  /** Uplink (outbox → server) and downlink (server → gateway), with the backlog budget. */
  private startUplink(server: NonNullable<ResolvedGatewayConfig['server']>): void {
    const c = this.config;
    // One client (connection pool, server.ca) for everything the gateway asks of its server.
    const send = serverFetch(server, this.log.child({ part: 'sync' }));
    const sync = new SyncClient(
      this.store,
      {
        gatewayId: c.id,
        url: server.url,
        token: server.token,
        fetch: send,
        ...c.sync,
        status: () => ({ version: GATEWAY_VERSION, downlinkVersion: this.downlink?.version ?? 0 }),
      },
      this.log.child({ part: 'sync' }),
    );
    this.sync = sync;
    // Each gauge asks for its own figure: a scrape queries the outbox once.
    this.metrics.uplink = {
      oldestQueuedAt: () => this.store.oldestOutbox(),
      lastSuccess: () => sync.status.lastSuccess,
    };
    this.ingest.on('committed', () => {
      if (this.store.outboxBytes > c.sync.maxOutboxBytes)
        this.maintenance.guard('backlog', () => this.maintenance.enforceBacklog(Date.now()));
      sync.kick();
    });
    sync.on('synced', (_ack, items) => {
      this.metrics.syncItems.inc(items);
      if (!this.stopping && !this.uploading && this.store.documents('map_upload').length > 0) {
        this.uploading = uploadPendingMaps(
          this.store,
          { url: server.url, token: server.token, fetch: send },
          this.log.child({ part: 'maps' }),
        ).finally(() => (this.uploading = undefined));
      }
    });
    // Said once per disagreement: again after the clocks agreed (a second jump, either side's).
    let clockAlerted = false;
    sync.on('clock', (offset) => {
      if (Math.abs(offset) < CLOCK_TRUST_MS) clockAlerted = false;
      if (Math.abs(offset) > CLOCK_ALERT_MS && !clockAlerted) {
        clockAlerted = true;
        const s = Math.round(Math.abs(offset) / 1000);
        this.events.raise({
          type: 'clock_skew',
          severity: 'warning',
          // Which clock is wrong the gateway cannot tell: it says by how much they differ.
          message: `the server's clock is ${s} s ${offset > 0 ? 'ahead of' : 'behind'} the gateway's; the gateway times readings by the server's clock and flags far-off ones — check both clocks`,
          detail: { offsetMs: Math.round(offset) },
        });
      }
    });
    this.reportSettings();
    sync.start();
    const downlink = new DownlinkClient(
      this.store,
      {
        url: server.url,
        token: server.token,
        publicKey: server.publicKey,
        // The farm its documents must be signed for: this gateway's, from its manifest.
        farm: this.manifest.farm.id,
        intervalMs: c.sync.downlinkIntervalMs,
        fetch: send,
      },
      this.events,
      this.log.child({ part: 'downlink' }),
    );
    this.downlink = downlink;
    downlink.on('model', modelHandler(join(c.dataDir, 'models'), this.store));
    downlink.on('scene', sceneHandler(this.imagery));
    const applyRegistry = registryHandler(c.registry, this.manifest.farm.id, () => this.registry.reload());
    const applyManifest = manifestHandler(c.dataDir, (body) => this.applyManifest(body));
    const keepConfig = keepHandler(this.store);
    const applyConfig = configHandler(c.dataDir, c, this.ownTunables, (t) => {
      sync.configure(t.sync);
      downlink.configure({ intervalMs: t.sync.downlinkIntervalMs });
      // The store holds its own copies of these two: told here, or a new budget waited for a restart.
      this.store.setBudget(t.storage.maxDbBytes);
      this.store.setDeadLetterLimit(t.retention.deadLetters);
      this.maintenance.checkDisk();
      this.reportSettings();
    });
    downlink.on('config', async (doc) => {
      const what = await applyConfig(doc);
      await keepConfig(doc);
      return what;
    });
    const kept = (doc: DownlinkDoc) => this.emit('document', doc);
    for (const kind of ['recommendation', 'override']) downlink.on(kind, keepHandler(this.store, kept));
    // A growth stage recorded on the dashboard: kept for the rules, which look again now.
    downlink.on(
      'stage',
      keepHandler(
        this.store,
        (doc) => {
          kept(doc);
          this.tips.nudge();
        },
        stageCheck(() => this.manifest.farm.id),
      ),
    );
    // An automation is kept only if the engine can run it here (the registry's devices, the
    // catalogue's kits, as createAutomationEngine gives them); else refused, the previous one kept,
    // and the refused one remembered: planned again whenever the devices change (a registry or
    // manifest sent down, this start: the registry file may have changed meanwhile), it is kept
    // and reported applied once it plans. The engine, made after this, reads what is kept.
    const kitOf = (device: string) => {
      const entry = this.registry.get(device);
      return entry ? this.catalogue.get(entry.kit) : undefined;
    };
    const automationDocs = automationKeeper({
      store: this.store,
      farm: this.registry.farm,
      kitOf,
      onChange: kept,
      raise: (e) => this.events.raise(e),
      log: this.log.child({ part: 'downlink' }),
    });
    downlink.on('automation', automationDocs.handler);
    downlink.on('registry', async (doc) => {
      const what = await applyRegistry(doc);
      automationDocs.recheck(`registry v${doc.version}`);
      this.queueRegistryIfChanged();
      return what;
    });
    downlink.on('manifest', async (doc) => {
      const what = await applyManifest(doc);
      automationDocs.recheck(`manifest v${doc.version}`);
      return what;
    });
    // The registry file rewritten on the farm (`hatake kit provision` beside the gateway).
    this.registry.onReload(() => automationDocs.recheck('registry file changed'));
    // The registry as this gateway holds it goes to the server at every start (a server that lost
    // it, or refused it before it knew the kind, hears it again) and whenever it changes (sent
    // down, or rewritten here): provisioning there starts from it, so the devices working here
    // keep their keys.
    this.queueRegistryIfChanged(true);
    this.registry.onReload(() => this.queueRegistryIfChanged());
    automationDocs.recheck('gateway start');
    downlink.start();
  }

  /** Checks a manifest sent down and makes it the current one; throws a HatakeError if it is not valid. */
  private applyManifest(body: unknown): string {
    const text = JSON.stringify(body);
    const check = checkManifest('downlink manifest', text, { catalogue: this.catalogue });
    if (!check.manifest || check.problems.length > 0) {
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        `manifest refused: ${check.problems
          .map((p) => p.describe())
          .slice(0, 3)
          .join('; ')}`,
      );
    }
    if (check.manifest.farm.id !== this.manifest.farm.id)
      throw new HatakeError('HATAKE_E_FORBIDDEN', 'manifest for another farm');
    this.manifest = check.manifest;
    this.lorawan?.setManifest(this.manifest);
    this.queueManifestIfChanged(this.manifest);
    return `manifest with ${this.manifest.fields.length} fields and ${this.manifest.devices.length} devices`;
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

  /**
   * Sends the registry file (ids, kits, secret hashes, providers: it holds no secret) to the
   * server when it differs from the last one sent (or always, with `force`). A file that does not
   * read is not sent: the registry kept running is the last good one, sent when it was loaded.
   */
  private queueRegistryIfChanged(force = false): void {
    let registry;
    try {
      registry = readRegistryFile(this.config.registry);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'registry not sent to the server: it does not read');
      return;
    }
    const hash = createHash('sha256').update(JSON.stringify(registry)).digest('hex');
    if (!force && this.store.getMeta('registry_sha256') === hash) return;
    this.store.db.transaction(() => {
      this.store.enqueue('registry', registry, Date.now());
      this.store.setMeta('registry_sha256', hash);
    })();
  }

  /**
   * The gateway's health problems: each as data (the page words it in its language) and as the
   * English line kept for /healthz and /api/status readers (both through `status()`, as is the
   * `/metrics` gauge that counts them by code).
   */
  private health(devices: Iterable<DeviceState>): {
    problems: string[];
    issues: HealthProblem[];
  } {
    const issues: HealthProblem[] = [];
    const problems: string[] = [];
    const problem = (p: HealthProblem, line: string) => {
      issues.push(p);
      problems.push(line);
    };
    if (this.maintenance.diskFull) problem({ code: 'disk_full' }, 'disk full');
    else if (this.ingest.storeFailure && this.ingest.storeFailure.code !== 'HATAKE_E_DISK_FULL') {
      const message = this.ingest.storeFailure.message;
      problem({ code: 'store_failing', message }, `store refusing writes: ${message}`);
    }
    const refused = this.sync?.status.refused;
    if (this.sync?.status.stopped) problem({ code: 'sync_stopped' }, 'sync stopped: token refused');
    else if (refused)
      problem(
        { code: 'sync_refused', status: refused.status },
        `sync refused by the server: HTTP ${refused.status}${refused.code ? ` ${refused.code}` : ''}; outbox kept, retrying`,
      );
    else if ((this.sync?.status.consecutiveFailures ?? 0) > 0)
      problem({ code: 'server_unreachable' }, 'server unreachable');
    if (this.downlink?.stopped) problem({ code: 'downlink_stopped' }, 'downlink stopped: token refused');
    const link = this.external?.link();
    if (link?.unreachable) {
      const error = link.lastError ?? 'no answer from the broker';
      const downMin = Math.floor((Date.now() - link.downSince!) / 60_000);
      problem(
        { code: 'external_unreachable', url: link.url, error, downSince: link.downSince },
        `external broker unreachable: ${link.url} (${error}), down ${downMin < 1 ? 'less than a minute' : `${downMin} min`}; retrying every ${link.retryMs / 1000} s`,
      );
    }
    const silent = [...devices].filter((d) => d.silentSince !== null).map((d) => d.id);
    if (silent.length) problem({ code: 'devices_silent', devices: silent }, `silent: ${silent.join(', ')}`);
    for (const p of this.automations?.healthProblems() ?? []) problem(p, automationProblemLine(p));
    return { problems, issues };
  }

  /** Everything the status page and /api/status show. */
  status(now = Date.now()): GatewayStatus {
    const states = new Map(this.store.devices().map((d) => [d.id, d]));
    const use = this.store.diskUse(this.maintenance.fsFree());
    const oldest = this.store.oldestOutbox();
    const { problems, issues } = this.health(states.values());
    return {
      gateway: this.config.id,
      farm: this.manifest.farm.id,
      time: now,
      health: { ok: problems.length === 0, problems, issues },
      devices: this.registry.ids().map((id) => {
        const s = states.get(id);
        const kit = this.registry.get(id)!.kit;
        const kitMetrics = this.catalogue.get(kit)?.metrics;
        const nameOf = (metric: string) =>
          kitMetrics && Object.hasOwn(kitMetrics, metric) ? kitMetrics[metric]!.name : undefined;
        return {
          id,
          kit,
          lastSeen: s?.lastSeen ?? null,
          online: s?.online ?? null,
          silent: s?.silentSince !== null && s?.silentSince !== undefined,
          battery: s?.battery ?? null,
          rssi: s?.rssi ?? null,
          snr: s?.snr ?? null,
          loraGateway: s?.loraGateway ?? null,
          loraGateways: s?.loraGateways ?? null,
          latest: this.store.latest(id, this.now()).map((l) => {
            const name = nameOf(l.metric);
            return { ...l, flags: JSON.parse(l.flags) as string[], ...(name ? { name } : {}) };
          }),
        };
      }),
      deadLetters: this.store
        .deadLetters(20)
        .map(({ time, device, topic, code, reason }) => ({ time, device, topic, code, reason })),
      deadLetterTotal: this.store.deadLetterCount(),
      sync: {
        configured: this.sync !== undefined,
        backlog: this.store.outboxDepth(),
        oldestAgeMs: oldest === null ? null : now - oldest,
        lastSuccess: this.sync?.status.lastSuccess ?? null,
        lastError: this.sync?.status.lastError ?? null,
        stopped: this.sync?.status.stopped ?? null,
        sentItems: this.sync?.status.sentItems ?? 0,
        backlogBytes: this.store.outboxBytes,
        throughput: this.sync?.status.throughput ?? null,
        clockOffsetMs: this.sync?.status.clockOffsetMs ?? null,
        downlinkVersion: this.downlink?.version ?? 0,
        downlinkError: this.downlink?.lastError ?? null,
        configVersion: this.store.documents('config')[0]?.version ?? null,
      },
      disk: {
        dbBytes: use.dbBytes,
        walBytes: use.walBytes,
        budgetBytes: use.budgetBytes,
        fsFreeBytes: use.fsFreeBytes,
        full: this.maintenance.diskFull,
        retention: this.maintenance.retentionStatus(now),
      },
      events: this.events.recent.slice(0, 20),
      tips: this.tips.live().map((x) => ({
        id: x.id,
        kind: x.kind,
        severity: x.severity,
        field: x.field,
        title: x.title,
        text: x.text,
        created: x.created,
      })),
      recommendations: this.store.documents<Partial<Recommendation>>('recommendation').map((d) => ({
        id: d.id,
        field: d.body.field ?? '',
        status: d.body.status ?? '',
        totalNKg: d.body.totals?.nKg ?? null,
      })),
      notRecommended: [...this.recommender.refused],
      automations: this.automations?.status(),
    };
  }

  /** Stops in order; in-flight publishes are committed before the store closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.automations?.stop();
    this.registry?.close();
    // A graceful stop: no new connections, commit what has arrived and let its PUBACKs go out
    // while the devices are still connected, then close them; anything that arrived meanwhile
    // is committed too (its PUBACK is lost, the device resends, the duplicate is not stored).
    this.broker?.stopAccepting();
    await this.ingest?.drain();
    await turn();
    await this.broker?.stop();
    await this.external?.stop();
    await this.ingest?.drain();
    this.maintenance?.stop();
    this.tips?.stop();
    await this.imagery?.stop();
    await this.imageryReceiver?.idle(); // a scene being processed: its results reach the store
    this.imageryReceiver?.close();
    await Promise.all(this.sceneWork);
    await this.recommender?.close();
    await this.downlink?.stop();
    await this.sync?.stop();
    await this.uploading; // started by a batch that synced before the stop; none starts after it
    await this.http?.close();
    await this.store?.stopWriter();
    this.store?.close();
    this.log.info('gateway stopped');
  }
}
