// The gateway's Prometheus metrics: one registry per gateway (tests run several in a process).
// Every limit and every refusal has a counter; the status page reads the same numbers.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type RefusalReason =
  | 'bad_login'
  | 'client_id'
  | 'topic'
  | 'subscribe'
  | 'packet_size'
  | 'rate'
  | 'inflight'
  | 'connections'
  | 'store'
  | 'protocol';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly messages = new Counter({
    name: 'hatake_gateway_messages_total',
    help: 'Telemetry messages received',
    registers: [this.registry],
  });
  readonly readings = new Counter({
    name: 'hatake_gateway_readings_total',
    help: 'Readings stored',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'hatake_gateway_rejected_total',
    help: 'Payloads refused and dead-lettered, by error code',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'hatake_gateway_refused_total',
    help: 'Connections, publishes and subscriptions refused by the broker, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly ingestLatency = new Histogram({
    name: 'hatake_gateway_ingest_seconds',
    help: 'From a publish arriving to its readings being durable',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly commits = new Counter({
    name: 'hatake_gateway_commits_total',
    help: 'Group-commit transactions',
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'hatake_gateway_queue_depth',
    help: 'Items waiting, by queue',
    labelNames: ['queue'],
    registers: [this.registry],
  });
  readonly diskBytes = new Gauge({
    name: 'hatake_gateway_disk_bytes',
    help: 'Database size (db: the file, db_free_pages: its reusable pages, wal: the log) and free space on its filesystem (fs_free)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly dbBudget = new Gauge({
    name: 'hatake_gateway_db_budget_bytes',
    help: 'The database size past which readings are rolled up early, then refused (storage.maxDbMB)',
    registers: [this.registry],
  });
  readonly outboxBytes = new Gauge({
    name: 'hatake_gateway_outbox_bytes',
    help: 'Bytes of the items waiting in the outbox for the server',
    registers: [this.registry],
  });
  readonly outboxBudget = new Gauge({
    name: 'hatake_gateway_outbox_budget_bytes',
    help: 'The outbox size past which old readings become hourly aggregates, then the oldest are dropped (sync.maxOutboxMB)',
    registers: [this.registry],
  });
  readonly maintenanceFailures = new Counter({
    name: 'hatake_gateway_maintenance_failures_total',
    help: 'Housekeeping steps that failed (retried at the next round), by step',
    labelNames: ['step'] as const,
    registers: [this.registry],
  });
  readonly rulesWindow = new Gauge({
    name: 'hatake_gateway_rules_window_readings',
    help: "Raw readings of the rules' window kept in memory between tip evaluations (24–36 bytes each)",
    registers: [this.registry],
  });
  readonly devices = new Gauge({
    name: 'hatake_gateway_devices',
    help: 'Devices by state',
    labelNames: ['state'],
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'hatake_gateway_connections',
    help: 'Open MQTT connections',
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'hatake_gateway_duplicate_uplinks_total',
    help: 'LoRaWAN uplinks seen before (same DevEUI and fCnt), acknowledged and not stored again',
    registers: [this.registry],
  });
  readonly recommendationsRefused = new Counter({
    name: 'hatake_gateway_recommendations_refused_total',
    help: 'Fertilization recommendations not made (a missing or out-of-range input, no model …), by model and error code',
    labelNames: ['model', 'code'],
    registers: [this.registry],
  });
  readonly rawRetention = new Gauge({
    name: 'hatake_gateway_raw_retention_days',
    help: 'Days of raw readings kept: retention.rawDays, or fewer while storage pressure has them rolled up early',
    registers: [this.registry],
  });
  readonly syncItems = new Counter({
    name: 'hatake_gateway_synced_items_total',
    help: 'Outbox items the server acknowledged',
    registers: [this.registry],
  });

  /** Where the uplink gauges read from at scrape time (set by the gateway when it has an uplink). */
  uplink: { oldestQueuedAt: () => number | null; lastSuccess: () => number | null } | undefined;
  readonly backlogAge = new Gauge({
    name: 'hatake_gateway_backlog_oldest_age_seconds',
    help: 'Age of the oldest item waiting in the outbox (0 when it is empty)',
    registers: [this.registry],
    collect: () => {
      const at = this.uplink?.oldestQueuedAt() ?? null;
      this.backlogAge.set(at === null ? 0 : Math.max(0, (Date.now() - at) / 1000));
    },
  });
  readonly lastSync = new Gauge({
    name: 'hatake_gateway_last_successful_sync_timestamp_seconds',
    help: 'When the server last acknowledged a batch (Unix time; 0 = not yet)',
    registers: [this.registry],
    collect: () => {
      const t = this.uplink?.lastSuccess() ?? null;
      this.lastSync.set(t === null ? 0 : t / 1000);
    },
  });

  /** Whether the store's commit writer thread runs (read at scrape time; set by the gateway). */
  commitThread: (() => boolean) | undefined;
  readonly commitThreadGauge = new Gauge({
    name: 'hatake_gateway_commit_thread',
    help: 'Whether group commits run on the commit writer thread (1) or the main thread (0)',
    registers: [this.registry],
    collect: () => {
      this.commitThreadGauge.set(this.commitThread?.() ? 1 : 0);
    },
  });

  /** The gateway's health problems as /healthz reads them (at scrape time; set by the gateway). */
  healthProblems: (() => readonly { code: string }[]) | undefined;
  readonly health = new Gauge({
    name: 'hatake_gateway_health_problems',
    help: 'Health problems now, by code (what /healthz reports; none: the gauge has no series)',
    labelNames: ['code'],
    registers: [this.registry],
    collect: () => {
      this.health.reset();
      try {
        for (const p of this.healthProblems?.() ?? []) this.health.inc({ code: p.code });
      } catch {
        // The status could not be read (the card fails reads): that is the problem.
        this.health.inc({ code: 'status_unreadable' });
      }
    },
  });

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'hatake_gateway_' });
  }

  refuse(reason: RefusalReason): void {
    this.refused.inc({ reason });
  }

  /** Current value of a counter/gauge (for tests and the status page). */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = await this.registry.getSingleMetric(name)?.get();
    const v = metric?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
    return v?.value ?? 0;
  }
}
