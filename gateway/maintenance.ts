// The gateway's housekeeping, on a timer: SD-card budget and free space (refuse data and alert
// when full, recover when space returns), retention (raw → hourly aggregates → gone), and device
// health (a device silent for more than N expected intervals raises an event).
import { statfsSync } from 'node:fs';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import type { ResolvedGatewayConfig } from './config.ts';
import type { GatewayStore } from './store.ts';
import type { DeviceRegistry } from './registry.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { EventLog } from './events.ts';
import { enforceBacklogBudget, type BacklogCounts } from './backlog.ts';

export interface MaintenanceDeps {
  config: ResolvedGatewayConfig;
  store: GatewayStore;
  registry: DeviceRegistry;
  catalogue: Catalogue;
  metrics: GatewayMetrics;
  events: EventLog;
}

export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private lastRetention = -Infinity;
  /** True while the disk is too full to take data. */
  diskFull = false;
  private readonly d: MaintenanceDeps;

  constructor(deps: MaintenanceDeps) {
    this.d = deps;
  }

  start(everyMs = 5000): void {
    this.run(Date.now());
    this.timer = setInterval(() => this.run(Date.now()), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Free bytes on the database's filesystem. */
  fsFree(): number {
    const s = statfsSync(this.d.config.dataDir);
    return s.bavail * s.bsize;
  }

  /** One round of housekeeping (also called by tests with their own clock). */
  run(now: number): void {
    this.checkDisk();
    const mono = performance.now();
    if (mono - this.lastRetention > 3_600_000) {
      this.lastRetention = mono;
      const { rawMs, hourlyMs } = this.d.config.retention;
      this.d.store.rollUp(now - rawMs, now - hourlyMs);
    }
    this.checkDevices(now);
    this.enforceBacklog(now);
    this.d.metrics.queueDepth.set({ queue: 'outbox' }, this.d.store.outboxDepth());
    this.d.metrics.queueDepth.set({ queue: 'outbox_bytes' }, this.d.store.outboxBytes);
  }

  private lastBacklogCheck = -Infinity;

  /** Keeps the offline backlog inside its disk budget (at most every 2 s). */
  enforceBacklog(now: number): BacklogCounts | undefined {
    const mono = performance.now();
    if (mono - this.lastBacklogCheck < 2000) return undefined;
    this.lastBacklogCheck = mono;
    const done = enforceBacklogBudget(
      this.d.store,
      { maxBytes: this.d.config.sync.maxOutboxBytes, aggregateAfterMs: this.d.config.sync.aggregateAfterMs },
      now,
    );
    if (done.aggregatedReadings + done.droppedReadings + done.droppedAggregates > 0) {
      this.d.events.log.warn({ ...done }, 'offline backlog over budget: aggregated / dropped');
    }
    return done;
  }

  /** Updates the disk gauges and the full/ok state; raises an event on each change. */
  checkDisk(): void {
    const free = this.fsFree();
    const use = this.d.store.diskUse(free);
    this.d.metrics.diskBytes.set({ kind: 'db' }, use.dbBytes);
    this.d.metrics.diskBytes.set({ kind: 'db_free_pages' }, use.freePagesBytes);
    this.d.metrics.diskBytes.set({ kind: 'wal' }, use.walBytes);
    this.d.metrics.diskBytes.set({ kind: 'fs_free' }, free);
    const dbFull = use.dbBytes - use.freePagesBytes >= use.budgetBytes * 0.98;
    const fsLow = free < this.d.config.storage.minFreeBytes;
    const full = dbFull || fsLow;
    // Every round, not only when `full` changes: free space can run low while the database budget
    // already has the disk marked full, and stay low after the budget frees up.
    this.d.store.refuseWrites = fsLow;
    if (full !== this.diskFull) {
      this.diskFull = full;
      if (full) {
        this.d.events.raise({
          type: 'disk_full',
          severity: 'critical',
          message: fsLow
            ? `only ${Math.round(free / 1e6)} MB free on the gateway's disk; new readings are refused`
            : 'database budget reached; new readings are refused',
          detail: { fsFreeBytes: free, dbBytes: use.dbBytes, budgetBytes: use.budgetBytes },
        });
      } else {
        this.d.events.raise({
          type: 'disk_ok',
          severity: 'info',
          message: 'disk space is back; readings are accepted again',
          detail: { fsFreeBytes: free },
        });
      }
    }
  }

  /** Marks devices silent for more than N of their kit's intervals, once each time. */
  checkDevices(now: number): void {
    const states = new Map(this.d.store.devices().map((s) => [s.id, s]));
    let online = 0;
    let silent = 0;
    for (const id of this.d.registry.ids()) {
      const kit = this.d.catalogue.get(this.d.registry.get(id)!.kit);
      const s = states.get(id);
      const interval = (kit?.interval ?? 600) * 1000;
      if (!s?.lastSeen) continue;
      if (now - s.lastSeen > this.d.config.health.offlineAfterIntervals * interval) {
        silent++;
        if (this.d.store.markSilent(id, now)) {
          this.d.events.raise({
            type: 'device_silent',
            severity: 'warning',
            device: id,
            message: `${id} has sent nothing for ${Math.round((now - s.lastSeen) / 60_000)} min (expected every ${interval / 1000} s)`,
            detail: { lastSeen: s.lastSeen, intervalS: interval / 1000 },
          });
        }
      } else {
        online++;
      }
    }
    this.d.metrics.devices.set({ state: 'reporting' }, online);
    this.d.metrics.devices.set({ state: 'silent' }, silent);
    this.d.metrics.devices.set({ state: 'never_seen' }, this.d.registry.size - online - silent);
  }
}
