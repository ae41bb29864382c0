// The gateway's housekeeping, on a timer: SD-card budget and free space (refuse data and alert
// when full, recover when space returns), retention (raw → hourly aggregates → gone), and device
// health (a device silent for more than N expected intervals raises an event).
//
// A device last heard before the gateway started (or before its only link to the devices, an
// external broker, went down) is judged from when the gateway could hear it again: after an
// outage, none is called silent before it has had its N intervals to report. Each step of a round
// that fails (SQLITE_FULL, an I/O error) is logged and counted, and the next round tries again:
// a timer's exception would end the process.
import { statfsSync } from 'node:fs';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import type { ResolvedGatewayConfig } from './config.ts';
import type { GatewayStore } from './store.ts';
import type { DeviceRegistry } from './registry.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { EventLog } from './events.ts';
import { enforceBacklogBudget, type BacklogCounts } from './backlog.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MIB = 1024 * 1024; // storage.maxDbMB counts these
/** Days to one decimal, for messages. */
const days = (ms: number) => Math.round((ms / DAY) * 10) / 10;
/**
 * Storage pressure, as a share of the database budget in use (pages holding data, not free
 * pages): from PRESSURE_START the oldest raw readings are rolled up into hourly aggregates ahead
 * of the retention period until use is below PRESSURE_STOP. The gap is the hysteresis: an episode
 * frees a tenth of the budget and then leaves the card alone for days, rather than rolling up a
 * sliver every round at the edge. At FULL_AT the disk counts as full (the alert; SQLite itself
 * refuses the write that would pass the budget).
 */
export const PRESSURE_START = 0.9;
export const PRESSURE_STOP = 0.8;
export const FULL_AT = 0.98;
/**
 * How long a round may spend rolling up raw readings before it commits (checked between
 * series-hours; retention and pressure share it, and are a transaction — one fsync — each). With
 * its commit such a round took 15–18 ms and rolled about 10,000 readings on a 200-device table
 * (docs/storage.md): far more than a farm sends, in a pause devices do not notice.
 */
export const ROLL_UP_BUDGET_MS = 10;
/**
 * The backlog budget's share of the event loop a turn, and its rows a transaction: 2,000 readings
 * aggregate in about 16 ms here (a Pi several times that), so a pass is one or a few chunks.
 */
export const BACKLOG_BUDGET_MS = 50;
export const BACKLOG_CHUNK = 2_000;

/** Early roll-up under storage pressure, as reported (kept in `meta` across restarts). */
interface EarlyRollUp {
  /** Raw readings before this time (epoch ms) were rolled up ahead of the retention period. */
  before: number;
  /** The raw retention last reported in an event (ms), and whether it was the floor. */
  reportedMs: number;
  reportedFloor: boolean;
}

/** The raw retention in force, for the status page. */
export interface RetentionStatus {
  /** Configured raw retention (retention.rawDays), ms. */
  rawMs: number;
  /** Floor under storage pressure (retention.minRawDays), ms. */
  minRawMs: number;
  /** Raw readings before this time were rolled up early to fit the budget, or null. */
  shortenedBefore: number | null;
  /** Raw readings kept now (ms): the configured period, or less when shortened. */
  keptMs: number;
  /** Rolling up early now (database use reached PRESSURE_START and not yet below PRESSURE_STOP). */
  pressure: boolean;
  /** Shortened to the floor: nothing older is left to roll up; next comes refusing data. */
  atFloor: boolean;
}

/** A failing step is logged again, while it fails the same way, this often. */
const FAILING_LOG_MS = 10 * 60_000;

/** The steps of a round, as `hatake_gateway_maintenance_failures_total` counts their failures. */
export type MaintenanceStep = 'disk' | 'retention' | 'devices' | 'backlog' | 'gauges';

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
  /** Raw readings older than the retention period are left (rolled up over the next rounds). */
  private retentionDue = false;
  /** True while the disk is too full to take data. */
  diskFull = false;
  /** True while the database is under storage pressure (see PRESSURE_START / PRESSURE_STOP). */
  pressure = false;
  /** Under pressure with nothing older than the floor left to roll up. */
  atFloor = false;
  private early: EarlyRollUp | undefined;
  /** Raw readings rolled up early in this pressure episode. */
  private episodeRolled = 0;
  private readonly d: MaintenanceDeps;
  /** Since when the gateway can hear its devices (see `hearing`); null while it cannot. */
  private hearingSince: number | null = null;
  /** Devices not heard since the gateway began hearing (again), with the lastSeen they had then. */
  private readonly awaited = new Map<string, number>();
  /** Steps failing now: their error, and when the log last said it. */
  private readonly failing = new Map<MaintenanceStep, { error: string; loggedAt: number; rounds: number }>();

  constructor(deps: MaintenanceDeps) {
    this.d = deps;
    const kept = deps.store.getMeta('early_rollup');
    if (kept) this.early = JSON.parse(kept) as EarlyRollUp;
    this.awaitAll();
  }

  start(everyMs = 5000): void {
    this.run(Date.now());
    this.timer = setInterval(() => this.run(Date.now()), everyMs);
    this.timer.unref();
  }

  /**
   * Tells since when the gateway can hear its devices: its broker listening (the start), or its
   * external broker connected; null when it cannot (that link down). A device not heard since is
   * judged silent only once N of its intervals have passed from then.
   */
  hearing(since: number | null): void {
    if (since === null) {
      if (this.hearingSince !== null) this.awaitAll();
      this.hearingSince = null;
    } else if (this.hearingSince === null) {
      this.hearingSince = since;
    }
  }

  /** Every device heard before is awaited: its silence is counted from when it can be heard. */
  private awaitAll(): void {
    this.awaited.clear();
    for (const s of this.d.store.devices()) if (s.lastSeen !== null) this.awaited.set(s.id, s.lastSeen);
  }

  /**
   * Runs one step, catching its failure: logged (when it starts, when its error changes, every
   * FAILING_LOG_MS while it lasts, and when it ends) and counted; the caller's next round retries.
   */
  guard<T>(step: MaintenanceStep, fn: () => T): T | undefined {
    const log = this.d.events.log;
    try {
      const r = fn();
      const was = this.failing.get(step);
      if (was) {
        this.failing.delete(step);
        log.info({ step, failedRounds: was.rounds }, 'housekeeping step works again');
      }
      return r;
    } catch (e) {
      const error = (e as Error).message;
      const now = Date.now();
      this.d.metrics.maintenanceFailures.inc({ step });
      const was = this.failing.get(step);
      const rounds = (was?.rounds ?? 0) + 1;
      if (!was || was.error !== error || now - was.loggedAt >= FAILING_LOG_MS) {
        this.failing.set(step, { error, loggedAt: now, rounds });
        log.error(
          { step, err: error, failedRounds: rounds },
          'housekeeping step failed; the gateway goes on and tries again next round',
        );
      } else {
        was.rounds = rounds;
      }
      return undefined;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined; // a backlog pass waiting for its turn goes no further
  }

  /** Free bytes on the database's filesystem. */
  fsFree(): number {
    const s = statfsSync(this.d.config.dataDir);
    return s.bavail * s.bsize;
  }

  /** One round of housekeeping (also called by tests with their own clock). */
  run(now: number): void {
    // Each step on its own: a full disk failing the backlog's aggregation still lets the devices
    // be checked (and the disk step report it full).
    this.guard('disk', () => this.checkDisk());
    this.guard('retention', () => this.retain(now));
    this.guard('devices', () => this.checkDevices(now));
    this.guard('backlog', () => this.enforceBacklog(now));
    this.guard('gauges', () => {
      this.d.metrics.rawRetention.set(this.retentionStatus(now).keptMs / DAY);
      this.d.metrics.queueDepth.set({ queue: 'outbox' }, this.d.store.outboxDepth());
      this.d.metrics.outboxBytes.set(this.d.store.outboxBytes);
      this.d.metrics.outboxBudget.set(this.d.config.sync.maxOutboxBytes);
      this.d.metrics.rulesWindow.set(this.d.store.seriesCache.heldRows);
    });
  }

  /**
   * Retention, at most ROLL_UP_BUDGET_MS a round: hourly, raw readings past the retention period
   * become hourly aggregates (over as many rounds as that takes) and aggregates past theirs go;
   * under storage pressure the oldest raw readings are rolled up early, down to the floor.
   */
  retain(now: number): void {
    const { rawMs, hourlyMs } = this.d.config.retention;
    const store = this.d.store;
    const started = performance.now();
    // A failed round (an I/O error) throws to `run`'s guard, which logs and counts it; the next retries.
    if (started - this.lastRetention > HOUR) {
      this.lastRetention = started;
      this.retentionDue = true;
      store.dropHourlyBefore(now - hourlyMs);
    }
    if (this.retentionDue) {
      this.retentionDue = store.rollUpOldest(now - rawMs, { budgetMs: ROLL_UP_BUDGET_MS }).more;
    }
    this.relievePressure(now, Math.max(0, ROLL_UP_BUDGET_MS - (performance.now() - started)));
  }

  /** Share of the database budget holding data (0 without a budget). */
  usedShare(): number {
    const use = this.d.store.diskUse(0);
    return Number.isFinite(use.budgetBytes) ? (use.dbBytes - use.freePagesBytes) / use.budgetBytes : 0;
  }

  /** Rolls up the oldest raw readings early while the database is under pressure (bounded). */
  private relievePressure(now: number, budgetMs: number): void {
    const share = this.usedShare();
    if (!this.pressure && share >= PRESSURE_START) {
      this.pressure = true;
      this.episodeRolled = 0;
    } else if (this.pressure && share < PRESSURE_STOP) {
      this.pressure = false;
      this.atFloor = false;
    }
    if (!this.pressure) {
      this.checkRestored(now);
      return;
    }
    const floor = now - this.d.config.minRawMs;
    const r = this.d.store.rollUpOldest(floor, {
      budgetMs,
      enough: () => this.usedShare() < PRESSURE_STOP,
    });
    // Nothing older than the floor is left (the store rolls whole hours: the floor's hour stays raw).
    this.atFloor = !r.more && this.usedShare() >= PRESSURE_STOP;
    if (r.rolled > 0) {
      this.episodeRolled += r.rolled;
      this.shortened(now, r.before!);
    } else if (this.atFloor && this.early && !this.early.reportedFloor) {
      this.shortened(now, this.early.before);
    }
  }

  /** Records how far raw readings were rolled up early, and says so when it matters. */
  private shortened(now: number, before: number): void {
    const { rawMs } = this.d.config.retention;
    const minRawMs = this.d.config.minRawMs;
    const prev = this.early;
    const at = Math.max(before, prev?.before ?? 0);
    const keptMs = now - at;
    const floorNow = this.atFloor;
    // An event when raw retention first falls short of the configured period, each further whole
    // day it loses, and when it reaches the floor — not every round.
    const report = !prev || keptMs <= prev.reportedMs - DAY || (floorNow && !prev.reportedFloor);
    this.early = {
      before: at,
      reportedMs: report ? keptMs : prev!.reportedMs,
      reportedFloor: report ? floorNow : prev!.reportedFloor,
    };
    this.d.store.setMeta('early_rollup', JSON.stringify(this.early));
    if (!report) return;
    const use = this.d.store.diskUse(0);
    this.d.events.raise({
      type: 'retention_shortened',
      severity: 'warning',
      message:
        `the database reached ${PRESSURE_START * 100} % of its ${Math.round(use.budgetBytes / MIB)} MB budget: raw readings older than ` +
        `${days(keptMs)} days were rolled up into hourly aggregates ahead of the ${days(rawMs)}-day retention` +
        (floorNow
          ? `; that is the floor (retention.minRawDays ${days(minRawMs)}): if the database still fills, new readings will be refused`
          : ` (floor ${days(minRawMs)} days)`),
      detail: {
        rawRetentionDays: days(keptMs),
        configuredRawDays: days(rawMs),
        floorDays: days(minRawMs),
        atFloor: floorNow,
        rolledBefore: at,
        rolledReadings: this.episodeRolled,
        dbBytes: use.dbBytes - use.freePagesBytes,
        budgetBytes: use.budgetBytes,
      },
    });
  }

  /** Once the raw readings kept have grown back to the configured period, says so (once). */
  private checkRestored(now: number): void {
    if (!this.early || now - this.early.before < this.d.config.retention.rawMs) return;
    this.early = undefined;
    this.d.store.db.prepare("DELETE FROM meta WHERE key = 'early_rollup'").run();
    this.d.events.raise({
      type: 'retention_restored',
      severity: 'info',
      message: `raw readings are kept for the configured ${days(this.d.config.retention.rawMs)} days again`,
      detail: { rawRetentionDays: days(this.d.config.retention.rawMs) },
    });
  }

  /** The raw retention in force (for the status page). */
  retentionStatus(now: number): RetentionStatus {
    const { rawMs } = this.d.config.retention;
    const before = this.early && now - this.early.before < rawMs ? this.early.before : null;
    return {
      rawMs,
      minRawMs: this.d.config.minRawMs,
      shortenedBefore: before,
      keptMs: before === null ? rawMs : now - before,
      pressure: this.pressure,
      atFloor: this.atFloor,
    };
  }

  private lastBacklogCheck = -Infinity;

  /** Keeps the offline backlog inside its disk budget (at most every 2 s). */
  enforceBacklog(now: number): BacklogCounts | undefined {
    const mono = performance.now();
    if (mono - this.lastBacklogCheck < 2000 || this.backlogContinues) return undefined;
    this.lastBacklogCheck = mono;
    return this.backlogPass(now);
  }

  /** The outbox is over its budget and a pass ran out of time: the rest goes on in later turns. */
  private backlogContinues = false;

  /**
   * One pass of the backlog budget, at most BACKLOG_BUDGET_MS (and one chunk) of the event loop;
   * while the outbox is still over, the next pass follows on the next turn of the loop, so a big
   * overshoot (a lowered budget over a full outbox, weeks offline) is worked off without holding
   * the devices' PUBACKs and the status page for seconds.
   */
  private backlogPass(now: number): BacklogCounts {
    const done = enforceBacklogBudget(
      this.d.store,
      { maxBytes: this.d.config.sync.maxOutboxBytes, aggregateAfterMs: this.d.config.sync.aggregateAfterMs },
      now,
      BACKLOG_CHUNK,
      BACKLOG_BUDGET_MS,
    );
    if (done.aggregatedReadings + done.droppedReadings + done.droppedAggregates > 0) {
      this.d.events.log.warn({ ...done }, 'offline backlog over budget: aggregated / dropped');
    }
    this.backlogContinues = done.more && this.timer !== undefined;
    if (this.backlogContinues)
      setImmediate(() => {
        if (this.timer === undefined) {
          this.backlogContinues = false;
          return;
        }
        this.guard('backlog', () => this.backlogPass(Date.now()));
      });
    return done;
  }

  /**
   * The budget in force when SQLite itself last refused a commit as full (SQLITE_FULL: the
   * filesystem full — ENOSPC writing the WAL or growing the file at a checkpoint — or the budget),
   * until a commit succeeds or the budget changes. Free space may be above storage.minFreeMB (0,
   * or less than SQLite needed), so statfs alone does not tell.
   */
  private refusedAtBudget: number | undefined;

  /** The ingest's commits: refused by SQLite as full (true), or one succeeded (false). */
  storeRefused(full: boolean): void {
    this.refusedAtBudget = full ? this.d.store.diskUse(0).budgetBytes : undefined;
  }

  /** SQLite refused a commit as full and none has succeeded since (nor the budget changed). */
  get storeRefusing(): boolean {
    return this.refusedAtBudget !== undefined;
  }

  /** Updates the disk gauges and the full/ok state; raises an event on each change. */
  checkDisk(): void {
    const free = this.fsFree();
    const use = this.d.store.diskUse(free);
    this.d.metrics.diskBytes.set({ kind: 'db' }, use.dbBytes);
    this.d.metrics.diskBytes.set({ kind: 'db_free_pages' }, use.freePagesBytes);
    this.d.metrics.diskBytes.set({ kind: 'wal' }, use.walBytes);
    this.d.metrics.diskBytes.set({ kind: 'fs_free' }, free);
    this.d.metrics.dbBudget.set(use.budgetBytes);
    const dbFull = use.dbBytes - use.freePagesBytes >= use.budgetBytes * FULL_AT;
    const fsLow = free < this.d.config.storage.minFreeBytes;
    if (this.refusedAtBudget !== undefined && this.refusedAtBudget !== use.budgetBytes)
      this.refusedAtBudget = undefined;
    // Refused by SQLite below the budget: the filesystem is full, whatever the minimum says.
    const fsFull = fsLow || (this.refusedAtBudget !== undefined && !dbFull);
    const full = dbFull || fsFull;
    // Every round, not only when `full` changes: free space can run low while the database budget
    // already has the disk marked full, and stay low after the budget frees up.
    this.d.store.refuseWrites = fsLow;
    if (full !== this.diskFull) {
      this.diskFull = full;
      if (full) {
        this.d.events.raise({
          type: 'disk_full',
          severity: 'critical',
          message: fsFull
            ? `only ${Math.round(free / 1e6)} MB free on the gateway's disk; new readings are refused`
            : this.atFloor
              ? `database budget reached with no raw reading older than the ${days(this.d.config.minRawMs)}-day floor left to roll up; new readings are refused`
              : 'database budget reached; new readings are refused',
          // Which of the messages above, as data: the status page words it in its language.
          detail: {
            fsFreeBytes: free,
            dbBytes: use.dbBytes,
            budgetBytes: use.budgetBytes,
            fsLow: fsFull,
            atRetentionFloor: this.atFloor,
            floorDays: days(this.d.config.minRawMs),
          },
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

  /**
   * Marks devices silent for more than N of their kit's intervals, once each time. A device not
   * heard since the gateway began hearing (again) counts its silence from then, and is not judged
   * while the gateway cannot hear at all.
   */
  checkDevices(now: number): void {
    const states = new Map(this.d.store.devices().map((s) => [s.id, s]));
    let online = 0;
    let silent = 0;
    let waiting = 0;
    for (const id of this.d.registry.ids()) {
      const kit = this.d.catalogue.get(this.d.registry.get(id)!.kit);
      const s = states.get(id);
      const interval = (kit?.interval ?? 600) * 1000;
      if (!s?.lastSeen) continue;
      // Not heard since the gateway began hearing (again): its silence counts from then.
      let from = s.lastSeen;
      if (this.awaited.get(id) === s.lastSeen) {
        if (s.silentSince !== null) {
          silent++; // marked silent before: still is, and was said then
          continue;
        }
        if (this.hearingSince === null) {
          waiting++; // the gateway cannot hear it now
          continue;
        }
        from = Math.max(from, this.hearingSince);
      } else {
        this.awaited.delete(id); // heard since (or never awaited)
      }
      if (now - from > this.d.config.health.offlineAfterIntervals * interval) {
        silent++;
        if (this.d.store.markSilent(id, now)) {
          const silentMin = Math.round((now - s.lastSeen) / 60_000);
          this.d.events.raise({
            type: 'device_silent',
            severity: 'warning',
            device: id,
            time: now, // the round's clock, which the message and detail are measured against
            message: `${id} has sent nothing for ${silentMin} min (expected every ${interval / 1000} s)`,
            detail: { lastSeen: s.lastSeen, intervalS: interval / 1000, silentMin },
          });
        }
      } else if (from !== s.lastSeen) {
        waiting++;
      } else {
        online++;
      }
    }
    this.d.metrics.devices.set({ state: 'reporting' }, online);
    this.d.metrics.devices.set({ state: 'silent' }, silent);
    // Heard before the gateway started (or lost its link to them), not since, within their grace.
    this.d.metrics.devices.set({ state: 'waiting' }, waiting);
    this.d.metrics.devices.set({ state: 'never_seen' }, this.d.registry.size - online - silent - waiting);
  }
}
