// The gateway's durable store: readings, the sync outbox, dead letters and device state in one
// SQLite file. A reading and its outbox row are written in the same transaction, and only after
// that transaction commits does the broker send the PUBACK.
import { statSync } from 'node:fs';
import { HatakeError } from '../protocol/errors.ts';
import type { ScoutCellPoint } from '../edge/imagery/scout-cells.ts';
import { openDatabase, type Db } from '../runtime/sqlite.ts';
import type { Reading } from '../protocol/telemetry.ts';
import type { SyncBatch, SyncItem, SyncKind } from '../protocol/sync.ts';
import {
  OUTBOX_TOTAL_ADD_SQL,
  READING_PRIORITY,
  TRIM_DEAD_SQL,
  prepareCommit,
  type Commit,
  type CommitResult,
} from './commit-sql.js';
import { CommitWriter } from './commit-writer.ts';
import { SeriesCache } from './series-cache.ts';

const MIGRATIONS = [
  `
  CREATE TABLE readings (
    device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL, received INTEGER NOT NULL,
    PRIMARY KEY (device, metric, time)
  ) WITHOUT ROWID;
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, priority INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL
  );
  CREATE INDEX outbox_by_priority ON outbox (priority, seq);
  CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, device TEXT, topic TEXT NOT NULL,
    code TEXT NOT NULL, reason TEXT NOT NULL, head BLOB
  );
  CREATE TABLE devices (id TEXT PRIMARY KEY, last_seen INTEGER, online INTEGER);
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  `
  ALTER TABLE devices ADD COLUMN battery REAL;
  ALTER TABLE devices ADD COLUMN rssi REAL;
  ALTER TABLE devices ADD COLUMN snr REAL;
  ALTER TABLE devices ADD COLUMN silent_since INTEGER;
  CREATE TABLE readings_hourly (
    device TEXT NOT NULL, metric TEXT NOT NULL, hour INTEGER NOT NULL, unit TEXT NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (device, metric, hour)
  ) WITHOUT ROWID;
  CREATE INDEX readings_by_time ON readings (time);
  `,
  `
  CREATE TABLE documents (
    kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, applied INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  );
  `,
  // LoRaWAN devices: the network-server gateway that heard the last uplink best, and how many heard it.
  `
  ALTER TABLE devices ADD COLUMN lora_gateway TEXT;
  ALTER TABLE devices ADD COLUMN lora_gateways INTEGER;
  `,
  // Per-scene statistics of fixed scouting cells, the history the imagery-anomaly rule judges.
  // `grid` names the cells' layout (it changes with the field's boundary, and history of other
  // ground is not read back).
  `
  CREATE TABLE zone_index (
    field TEXT NOT NULL, grid TEXT NOT NULL, idx TEXT NOT NULL, time INTEGER NOT NULL, zone TEXT NOT NULL,
    mean REAL NOT NULL, valid_fraction REAL NOT NULL, lon REAL, lat REAL, scene TEXT,
    PRIMARY KEY (field, grid, idx, time, zone)
  ) WITHOUT ROWID;
  CREATE INDEX zone_index_by_time ON zone_index (time);
  `,
  // A document the server refused for good keeps its whole body beside the head (see
  // deadLetterOutbox): recommendations and tips are never dropped, not even as dead letters.
  `
  ALTER TABLE dead_letters ADD COLUMN body TEXT;
  `,
  // The outbox's size in UTF-8 bytes and rows, kept by every statement that changes the outbox in
  // its own transaction, so a start reads one row instead of every body (a long outage leaves
  // hundreds of MB; summing them took tens of seconds on a Pi's SD card). Counted once, here.
  `
  CREATE TABLE outbox_total (
    id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL, rows INTEGER NOT NULL
  );
  INSERT INTO outbox_total SELECT 0, COALESCE(SUM(octet_length(body)), 0), COUNT(*) FROM outbox;
  `,
];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Past every time a row can have (SQLite's largest integer): seeks to the next series. */
/** The meta key holding when the server last acknowledged a batch (epoch ms). */
const LAST_SYNC_META = 'sync_last_success';

/**
 * How far past the gateway's clock a reading may be dated and still be a metric's latest value:
 * a device whose clock ran fast once must not hide its current values until the clock catches up.
 */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

/** A series' raw readings in columns of equal length, times ascending (the rules' SeriesInput). */
export interface SeriesColumns {
  device: string;
  metric: string;
  unit: string;
  time: number[];
  value: number[];
  /** True where the reading carried any quality flag. */
  flagged: boolean[];
}

/** A metric's newest reading (flags as stored: JSON text). */
export interface LatestReading {
  metric: string;
  value: number;
  unit: string;
  time: number;
  flags: string;
}

const LAST_TIME = '9223372036854775807';

/** Zone index points kept at most (oldest dropped first): about a year of 50 fields' 9 cells × 6 indices every 5 days. */
export const ZONE_INDEX_MAX_ROWS = 200_000;
/** Zone index points older than this (before the newest insert's time) are dropped. */
export const ZONE_INDEX_RETENTION_MS = 366 * 24 * HOUR;

/** A scouting cell's index statistic in one scene, as the gateway keeps it (edge/imagery/scout-cells.ts). */
export type ZoneIndexRow = ScoutCellPoint;

/** What the database and its filesystem hold, in bytes. */
export interface DiskUse {
  dbBytes: number;
  freePagesBytes: number;
  walBytes: number;
  budgetBytes: number;
  fsFreeBytes: number;
}

/**
 * The statement of `GatewayStore.dailyTemperatures` for `stations` devices (exported for its plan's
 * test). Parameters: the zone's offset, the stations, raw readings after this time, the stations,
 * aggregates from this hour; `bounded` adds an end to each (raw readings before, aggregates of
 * hours before), after its start.
 */
export function dailyTemperatureSql(stations: number, bounded = false): string {
  const list = Array<string>(stations).fill('?').join(', ');
  return `SELECT date((t + ?) / 1000, 'unixepoch') AS date, MIN(lo) AS tmin, MAX(hi) AS tmax,
      SUM(s) / SUM(n) AS mean, SUM(n) AS count FROM (
      SELECT time AS t, value AS lo, value AS hi, value AS s, 1 AS n FROM readings
        WHERE device IN (${list}) AND metric = 'air_temperature' AND time > ?${bounded ? ' AND time < ?' : ''}
      UNION ALL
      SELECT hour, min, max, sum, count FROM readings_hourly
        WHERE device IN (${list}) AND metric = 'air_temperature' AND hour >= ?${bounded ? ' AND hour < ?' : ''}
    ) GROUP BY date ORDER BY date`;
}

/**
 * Whole local days of daily temperatures kept between calls (`GatewayStore.dailyTemperatures`):
 * the days `firstDay` up to (not including) `endDay` (days since the epoch in the zone), computed
 * once instead of reading months of raw readings at every evaluation of the rules.
 */
interface DailyTemperatureMemo {
  stations: ReadonlySet<string>;
  firstDay: number;
  endDay: number;
  /** The UTC time `endDay` starts at: a reading before it changes a kept day. */
  endUtc: number;
  /** The zone's offset from UTC the days are local to. */
  offsetMs: number;
  rows: DailyTemperatureRow[];
  /** Kept days the store changed since they were read (a late reading, a roll-up): read again. */
  stale: Set<number>;
  /** False while keepDailyTemperatures is still reading its days. */
  complete: boolean;
  /** The day before which the days are read (`endDay` once complete). */
  readTo: number;
  /** Set while keepDailyTemperatures reads the days, settled when it stops. */
  filling?: Promise<void>;
}

/** The days a dailyTemperatures call keeps, and its memo's key; undefined when it keeps none. */
interface DailyPlan {
  key: string;
  firstDay: number;
  endDay: number;
  firstUtc: number;
  endUtc: number;
}

function dailyPlan(
  devices: readonly string[],
  from: number,
  offsetMs: number,
  now: number,
): DailyPlan | undefined {
  const firstDay = Math.floor((from + offsetMs) / DAY) + 1;
  const endDay = Math.floor((now + offsetMs) / DAY) - 1;
  if (endDay <= firstDay) return undefined;
  return {
    key: `${offsetMs}\u0000${devices.join('\u0000')}`,
    firstDay,
    endDay,
    firstUtc: firstDay * DAY - offsetMs,
    endUtc: endDay * DAY - offsetMs,
  };
}

/** Whether a memo holds the plan's days (read again whole past STALE_DAYS_READ_ALONE stale days). */
const serves = (memo: DailyTemperatureMemo, plan: DailyPlan): boolean =>
  memo.complete &&
  memo.firstDay <= plan.firstDay &&
  memo.endDay === plan.endDay &&
  memo.stale.size <= STALE_DAYS_READ_ALONE;

/** Kept days keepDailyTemperatures reads per turn of the event loop. */
const DAILY_CHUNK_DAYS = 7;

/** Stale kept days read again one by one at most; past this many the memo is read whole. */
const STALE_DAYS_READ_ALONE = 7;

/** Daily temperature memos kept (a key each: stations and zone; the gateway asks with one or two). */
const DAILY_MEMOS = 4;

/** The date (YYYY-MM-DD) of a local day number (days since the epoch in the zone). */
const dateOfDay = (day: number): string => new Date(day * DAY).toISOString().slice(0, 10);

/** One local day of air temperature (°C), as `GatewayStore.dailyTemperatures` gives it. */
export interface DailyTemperatureRow {
  date: string;
  tmin: number;
  tmax: number;
  mean: number;
  count: number;
}

export interface DeviceState {
  id: string;
  lastSeen: number | null;
  online: boolean | null;
  battery: number | null;
  rssi: number | null;
  snr: number | null;
  silentSince: number | null;
  /** LoRaWAN: the network-server gateway that heard the last uplink best (highest RSSI). */
  loraGateway: string | null;
  /** LoRaWAN: how many gateways heard the last uplink. */
  loraGateways: number | null;
}

/** Who heard a LoRaWAN device's last uplink (from the network server's radio metadata). */
export interface HeardBy {
  /** The gateway that heard it best. */
  gateway: string;
  /** How many gateways heard it. */
  gateways: number;
  /** The best gateway's RSSI (dBm) and SNR (dB), when the network server gave them. */
  rssi?: number;
  snr?: number;
}

/** What a bounded roll-up of the oldest raw readings did. */
export interface RollUpResult {
  /** Raw readings rolled into hourly aggregates (and deleted). */
  rolled: number;
  /**
   * The end of the latest hour rolled up (epoch ms; other series' readings of that hour may still
   * be raw), or null when nothing was rolled.
   */
  before: number | null;
  /** True when raw readings older than the cutoff are left (the budget ran out first). */
  more: boolean;
}

/** Lower drains first: documents and events before raw readings. */
export const PRIORITY: Record<SyncKind, number> = {
  manifest: 5,
  registry: 5,
  recommendation: 10,
  tip: 15,
  // after the tip it ends (same priority: by seq, so a raise always goes before its clear)
  tip_cleared: 15,
  event: 20,
  automation_log: 25,
  device_status: 40,
  imagery: 50,
  aggregate: 90,
  reading: READING_PRIORITY,
};

/**
 * Dead letters kept (the newest), not counting documents the server refused, which keep their
 * whole body and are never trimmed: their bound is the database budget, as in the outbox.
 */
export const DEAD_LETTER_LIMIT = 10_000;
export const DEAD_LETTER_HEAD_BYTES = 64;

/**
 * Whether an outbox row the server refused for good keeps its whole body as a dead letter: every
 * document does (a recommendation, tip, manifest, event… exists nowhere else); a reading or an
 * hourly aggregate keeps its head, as a payload refused at ingest does.
 */
export function deadLetterKeepsBody(kind: SyncKind): boolean {
  return kind !== 'reading' && kind !== 'aggregate';
}

/** A document the server refused for good, whole (`GatewayStore.deadLetteredDocuments`). */
export interface DeadDocument {
  id: number;
  time: number;
  kind: SyncKind;
  code: string;
  reason: string;
  /** The outbox body as it was queued (JSON). */
  body: string;
}

export interface DeadLetter {
  time: number;
  device: string | null;
  topic: string;
  code: string;
  reason: string;
  head: Uint8Array | null;
}

export interface OutboxRow {
  seq: number;
  kind: SyncKind;
  body: string;
}

export class GatewayStore {
  readonly db: Db;
  private readonly insertOutbox;
  /** The ingest's group commit on this connection (commit-sql.js). */
  private readonly commitSql: Commit;
  /** The same commit on its own thread and connection, once started (startWriter). */
  private writer: CommitWriter | undefined;
  /** The budget in pages, for a writer started after it was set. */
  private budgetPages: number | undefined;
  private readonly insertDeadOutbox;
  private readonly trimDead;
  /** LoRaWAN radio metadata noted since the last commit, written with the next one. */
  private readonly heardBy = new Map<string, HeardBy>();
  private readonly rollUpSql;
  private readonly latestUpTo;
  private readonly seriesColumnsSql;
  /** The hour being rolled up and the last series done in it, in key order (see rollUpOldest). */
  private rollUpPlan: { hour: number; last: { device: string; metric: string } | undefined } | undefined;
  private deadLimit = DEAD_LETTER_LIMIT;

  readonly file: string;
  private budgetBytes = Infinity;
  /** Set while the filesystem is nearly full: commits are refused before they touch the disk. */
  refuseWrites = false;
  /** Bytes of outbox bodies, kept in step with every insert and delete (the backlog budget). */
  outboxBytes = 0;
  /**
   * Outbox rows in a batch on its way to the server (set by the sync client while it waits for
   * the answer). The backlog budget leaves them alone: aggregating or dropping one of them would
   * deliver its readings twice (raw and in an aggregate), or lose an update to a report.
   */
  inFlightSeqs: readonly number[] = [];
  private outboxRows = 0;
  private readonly addOutboxTotal;
  private readonly readOutboxTotal;

  constructor(file: string) {
    this.file = file;
    this.db = openDatabase(file, MIGRATIONS);
    this.addOutboxTotal = this.db.prepare(OUTBOX_TOTAL_ADD_SQL);
    this.readOutboxTotal = this.db.prepare('SELECT bytes, rows FROM outbox_total WHERE id = 0');
    // Both counts as the database keeps them (the row count too: the status page's backlog, the
    // metrics and the server's view of it read it, and were 0 after every restart until the outbox
    // emptied).
    this.loadOutboxTotals();
    this.insertOutbox = this.db.prepare(
      'INSERT INTO outbox (kind, priority, body, created) VALUES (?, ?, ?, ?)',
    );
    this.commitSql = prepareCommit(this.db);
    this.insertDeadOutbox = this.db.prepare(
      'INSERT INTO dead_letters (time, device, topic, code, reason, head, body) VALUES (?, NULL, ?, ?, ?, ?, ?)',
    );
    this.trimDead = this.db.prepare(TRIM_DEAD_SQL);
    this.rollUpSql = {
      oldest: this.db.prepare('SELECT MIN(time) AS t FROM readings'),
      first: this.db.prepare('SELECT device, metric FROM readings ORDER BY device, metric LIMIT 1'),
      // The next series (device, metric) after one, along the primary key: one seek past the
      // series' last possible key ((device, metric) > (?, ?) alone would step through its rows).
      next: this.db.prepare(
        `SELECT device, metric FROM readings WHERE (device, metric, time) > (?, ?, ${LAST_TIME})
         ORDER BY device, metric, time LIMIT 1`,
      ),
      firstHourly: this.db.prepare(
        'SELECT device, metric FROM readings_hourly ORDER BY device, metric LIMIT 1',
      ),
      nextHourly: this.db.prepare(
        `SELECT device, metric FROM readings_hourly WHERE (device, metric, hour) > (?, ?, ${LAST_TIME})
         ORDER BY device, metric, hour LIMIT 1`,
      ),
      dropHourly: this.db.prepare('DELETE FROM readings_hourly WHERE device = ? AND metric = ? AND hour < ?'),
      aggregate: this.db.prepare(
        `SELECT unit, MIN(value) AS min, MAX(value) AS max, SUM(value) AS sum, COUNT(*) AS count
         FROM readings WHERE device = ? AND metric = ? AND time >= ? AND time < ?`,
      ),
      del: this.db.prepare('DELETE FROM readings WHERE device = ? AND metric = ? AND time >= ? AND time < ?'),
      upsert: this.db.prepare(
        `INSERT INTO readings_hourly (device, metric, hour, unit, min, max, sum, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (device, metric, hour) DO UPDATE SET min = MIN(min, excluded.min), max = MAX(max, excluded.max),
           sum = sum + excluded.sum, count = count + excluded.count`,
      ),
    };
    this.seriesColumnsSql = {
      rows: this.db
        .prepare(
          `SELECT time, value, flags <> '[]' FROM readings
           WHERE device = ? AND metric = ? AND time > ? AND time <= ? ORDER BY time`,
        )
        .raw(true),
      unit: this.db.prepare('SELECT unit FROM readings WHERE device = ? AND metric = ? AND time = ?'),
    };
    // A metric's newest reading up to a time: one backward seek in its key range.
    this.latestUpTo = this.db.prepare(
      `SELECT metric, value, unit, time, flags FROM readings
       WHERE device = ? AND metric = ? AND time <= ? ORDER BY time DESC LIMIT 1`,
    );
    for (const r of this.db
      .prepare('SELECT id, silent_since, last_seen FROM devices WHERE silent_since IS NOT NULL')
      .all() as { id: string; silent_since: number; last_seen: number | null }[])
      this.silent.set(r.id, { since: r.silent_since, lastSeen: r.last_seen });
  }

  /**
   * Devices marked silent, as the table says: when they were marked, and when they were last heard
   * before it. A commit of their data ends it.
   */
  private readonly silent = new Map<string, { since: number; lastSeen: number | null }>();
  /**
   * Told after a commit that carried data from devices marked silent (their mark is cleared in
   * that commit): when each was marked, and last heard before its silence. Must not throw.
   */
  onDeviceBack:
    ((back: { device: string; since: number; lastSeen: number | null }[], now: number) => void) | undefined;

  /** How many dead letters are kept (the newest). */
  get deadLetterLimit(): number {
    return this.deadLimit;
  }

  /** Keeps at most `n` dead letters from now on, dropping the oldest beyond it at once. */
  setDeadLetterLimit(n: number): void {
    this.deadLimit = n;
    this.trimDead.run(n);
  }

  /**
   * Caps the database file (SQLite's max_page_count): past it, writes fail with SQLITE_FULL and
   * roll back, so the card never fills and nothing stored is damaged.
   */
  setBudget(bytes: number): void {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = Math.max(
      Math.floor(bytes / pageSize),
      this.db.pragma('page_count', { simple: true }) as number,
    );
    this.db.pragma(`max_page_count = ${pages}`);
    this.writer?.setBudget(pages);
    this.budgetPages = pages;
    this.budgetBytes = pages * pageSize;
  }

  diskUse(fsFreeBytes: number): DiskUse {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    let walBytes = 0;
    try {
      walBytes = statSync(`${this.file}-wal`).size;
    } catch {
      walBytes = 0;
    }
    return {
      dbBytes: pages * pageSize,
      freePagesBytes: free * pageSize,
      walBytes,
      budgetBytes: this.budgetBytes,
      fsFreeBytes,
    };
  }

  /**
   * Rolls raw readings older than `rawCutoff` (to the hour) into hourly aggregates (min, max, sum,
   * count) and deletes them, all of them, about 50,000 per transaction; deletes aggregates older
   * than `hourlyCutoff`. Returns how many raw readings were rolled up. (The gateway's housekeeping
   * uses `rollUpOldest`, which stops after a time budget.)
   */
  rollUp(rawCutoff: number, hourlyCutoff: number): number {
    let rolled = 0;
    for (;;) {
      const step = this.rollUpOldest(rawCutoff, { budgetMs: Infinity, maxReadings: 50_000 });
      rolled += step.rolled;
      if (!step.more) break;
    }
    this.dropHourlyBefore(hourlyCutoff);
    return rolled;
  }

  /**
   * Deletes hourly aggregates of hours before `cutoff`, series by series along the primary key
   * (one seek each: `hour` alone has no index, and a scan of years of aggregates would hold the
   * event loop for seconds).
   */
  dropHourlyBefore(cutoff: number): number {
    const q = this.rollUpSql;
    let dropped = 0;
    this.db.transaction(() => {
      let s = q.firstHourly.get() as { device: string; metric: string } | undefined;
      while (s) {
        const n = q.dropHourly.run(s.device, s.metric, cutoff).changes;
        if (n > 0 && s.metric === 'air_temperature') this.noteDailyChange(s.device, -Infinity, cutoff);
        dropped += n;
        s = q.nextHourly.get(s.device, s.metric) as { device: string; metric: string } | undefined;
      }
    })();
    return dropped;
  }

  /**
   * Rolls the oldest raw readings before `cutoff` (to the hour: nothing at or after it is touched)
   * into hourly aggregates and deletes them, in one transaction: oldest hour first, and within an
   * hour one series (device, metric) after another along the primary key, until none is left
   * before the cutoff, `budgetMs` has passed, `maxReadings` are rolled or `enough()` (asked every
   * 1000 readings) says so; an hour left half done is taken up by the next call. A series' hour is
   * one range of the primary key, read once and deleted at once, and its aggregate written once:
   * thin time slices across all series instead rewrote each series' pages for every slice (seven
   * times the pages written to the SD card, measured). A series' readings are deleted before its
   * aggregate is written, so the pages they free make room even at the database budget.
   */
  rollUpOldest(
    cutoff: number,
    opts: { budgetMs: number; maxReadings?: number; enough?: () => boolean },
  ): RollUpResult {
    const limit = Math.floor(cutoff / HOUR) * HOUR;
    const started = performance.now();
    const q = this.rollUpSql;
    const result: RollUpResult = { rolled: 0, before: null, more: false };
    const oldestHour = () => {
      const t = (q.oldest.get() as { t: number | null }).t;
      return t === null || t >= limit ? null : Math.floor(t / HOUR) * HOUR;
    };
    this.db.transaction(() => {
      let plan = this.rollUpPlan;
      // Readings older than the plan's hour may have come in since (a device's late backlog).
      if (plan && oldestHour() !== plan.hour) plan = undefined;
      let checked = 0;
      for (;;) {
        if (!plan) {
          const hour = oldestHour();
          if (hour === null) break;
          plan = { hour, last: undefined };
        }
        if (result.rolled > 0) {
          if (performance.now() - started >= opts.budgetMs || result.rolled >= (opts.maxReadings ?? Infinity))
            break;
        }
        if (result.rolled >= checked) {
          checked = result.rolled + 1000;
          if (opts.enough?.()) break;
        }
        const series = (plan.last ? q.next.get(plan.last.device, plan.last.metric) : q.first.get()) as
          { device: string; metric: string } | undefined;
        if (!series) {
          plan = undefined; // every series done for this hour (or it is rolled again from the start)
          continue;
        }
        plan.last = series;
        const end = plan.hour + HOUR;
        const g = q.aggregate.get(series.device, series.metric, plan.hour, end) as {
          unit: string;
          min: number;
          max: number;
          sum: number;
          count: number;
        };
        if (g.count === 0) continue; // a series with nothing in this hour
        // The hour's readings leave their days for its aggregate, counted on the day of its start
        // (two days, where the zone's midnight falls inside an hour).
        if (series.metric === 'air_temperature')
          this.noteDailyChange(series.device, plan.hour, plan.hour + HOUR - 1);
        result.rolled += q.del.run(series.device, series.metric, plan.hour, end).changes;
        this.seriesCache.changed(series.device, series.metric, plan.hour, end - 1);
        q.upsert.run(series.device, series.metric, plan.hour, g.unit, g.min, g.max, g.sum, g.count);
        result.before = end;
      }
      this.rollUpPlan = plan;
      result.more = oldestHour() !== null;
    })();
    return result;
  }

  /**
   * Air temperature per local day since `from` (min, max, mean and how many values), from the raw
   * readings and, for the hours already rolled up, the hourly aggregates, so a season longer than
   * the raw retention keeps its early days. Read along the primary keys of the given devices (the
   * weather stations), never by scanning every reading. `offsetMs` is the zone's offset from UTC.
   *
   * The whole days after `from`'s day and before yesterday (days since the epoch in the zone; day
   * d starts at d × DAY − offsetMs UTC) are kept between calls: months of raw readings of every
   * station (0.7 s for 10 stations × 90 days at one a minute, measured) are read once, not at every
   * evaluation of the rules. `from`'s day and the last two are read every time. A kept day changes
   * only through this store — a reading committed for it, a roll-up of one of its hours, a
   * deletion of aggregates — and each of those marks the days it touched stale (a deletion of
   * aggregates that reaches the kept days drops them all), which the next call reads again, one
   * day each: a station's
   * hour passing the raw retention is rolled up every hour, and the whole memo read again for it
   * held the event loop for 0.6 s each time (10 stations, 90 days; a Pi several times that).
   * `keepDailyTemperatures` reads the kept days a few at a time beforehand.
   */
  dailyTemperatures(
    devices: readonly string[],
    from: number,
    offsetMs: number,
    now = Date.now(),
  ): DailyTemperatureRow[] {
    if (devices.length === 0) return [];
    // Reading times are whole milliseconds (the protocol's), so `time > start − 1` is `time >= start`.
    const read = (rawAfter: number, hourFrom: number, end?: number) =>
      this.readDailyTemperatures(devices, offsetMs, rawAfter, hourFrom, end);
    const hourFrom = Math.ceil(from / HOUR) * HOUR;
    const plan = dailyPlan(devices, from, offsetMs, now);
    if (!plan) return read(from, hourFrom);
    const { firstDay, firstUtc, endUtc } = plan;
    let memo = this.dailyMemos.get(plan.key);
    if (!memo || !serves(memo, plan)) {
      memo = this.newDailyMemo(devices, offsetMs, plan);
      memo.rows = read(firstUtc - 1, firstUtc, endUtc);
      memo.readTo = plan.endDay;
      memo.complete = true;
    }
    for (const day of memo.stale) {
      const start = day * DAY - offsetMs;
      const date = dateOfDay(day);
      const kept = memo.rows.filter((r) => r.date !== date);
      kept.push(...read(start - 1, start, start + DAY));
      memo.rows = kept.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    }
    memo.stale.clear();
    const firstDate = dateOfDay(firstDay);
    return [
      ...read(from, hourFrom, firstUtc),
      ...memo.rows.filter((r) => r.date >= firstDate),
      ...read(endUtc - 1, endUtc),
    ];
  }

  /**
   * Reads the days `dailyTemperatures` with the same arguments will keep, DAILY_CHUNK_DAYS at a
   * time with `turn()` between (a first evaluation after a start read 90 days of 10 stations in one
   * block of 0.75–1 s here). Nothing is read when they are kept already. Changes meanwhile mark
   * days stale as usual; the call that uses the days reads those again.
   */
  async keepDailyTemperatures(
    devices: readonly string[],
    from: number,
    offsetMs: number,
    now: number,
    turn: () => Promise<void>,
  ): Promise<void> {
    const plan = devices.length === 0 ? undefined : dailyPlan(devices, from, offsetMs, now);
    if (!plan) return;
    // Two callers share a memo (the rules' 200 days, the recommender's year): one whose days a
    // fill under way covers waits for it; a fill replaced by a wider one is waited for in turn.
    for (let tries = 0; tries < 4; tries++) {
      const kept = this.dailyMemos.get(plan.key);
      if (kept && serves(kept, plan)) return;
      if (kept?.filling && kept.firstDay <= plan.firstDay && kept.endDay === plan.endDay) {
        await kept.filling;
        continue;
      }
      const memo = this.newDailyMemo(devices, offsetMs, plan);
      memo.filling = this.fillDailyMemo(memo, plan.key, devices, offsetMs, turn).finally(() => {
        memo.filling = undefined;
      });
      await memo.filling;
    }
  }

  /** `dailyTemperatures`, its kept days read beforehand a week per `turn()` (keepDailyTemperatures). */
  async dailyTemperaturesInTurns(
    devices: readonly string[],
    from: number,
    offsetMs: number,
    now: number,
    turn: () => Promise<void>,
  ): Promise<DailyTemperatureRow[]> {
    await this.keepDailyTemperatures(devices, from, offsetMs, now, turn);
    return this.dailyTemperatures(devices, from, offsetMs, now);
  }

  /** Reads a new memo's days a chunk per turn; stops if the memo is replaced or dropped meanwhile. */
  private async fillDailyMemo(
    memo: DailyTemperatureMemo,
    key: string,
    devices: readonly string[],
    offsetMs: number,
    turn: () => Promise<void>,
  ): Promise<void> {
    for (let day = memo.firstDay; day < memo.endDay; day += DAILY_CHUNK_DAYS) {
      if (day > memo.firstDay) {
        await turn();
        if (this.dailyMemos.get(key) !== memo) return;
      }
      const start = day * DAY - offsetMs;
      const to = Math.min(day + DAILY_CHUNK_DAYS, memo.endDay);
      memo.rows.push(...this.readDailyTemperatures(devices, offsetMs, start - 1, start, to * DAY - offsetMs));
      memo.readTo = to;
    }
    memo.complete = true;
  }

  /** A new, empty memo of the plan's days, in place of any of its key (the oldest of others evicted). */
  private newDailyMemo(devices: readonly string[], offsetMs: number, plan: DailyPlan): DailyTemperatureMemo {
    const memo: DailyTemperatureMemo = {
      stations: new Set(devices),
      firstDay: plan.firstDay,
      endDay: plan.endDay,
      endUtc: plan.endUtc,
      offsetMs,
      rows: [],
      stale: new Set(),
      complete: false,
      readTo: plan.firstDay,
    };
    this.dailyMemos.delete(plan.key);
    if (this.dailyMemos.size >= DAILY_MEMOS) this.dailyMemos.delete(this.dailyMemos.keys().next().value!);
    this.dailyMemos.set(plan.key, memo);
    return memo;
  }

  /** Daily rows from raw readings after `rawAfter` and aggregates from `hourFrom`, each before `end` if given. */
  private readDailyTemperatures(
    devices: readonly string[],
    offsetMs: number,
    rawAfter: number,
    hourFrom: number,
    end?: number,
  ): DailyTemperatureRow[] {
    return this.db
      .prepare(dailyTemperatureSql(devices.length, end !== undefined))
      .all(
        offsetMs,
        ...devices,
        rawAfter,
        ...(end === undefined ? [] : [end]),
        ...devices,
        hourFrom,
        ...(end === undefined ? [] : [end]),
      ) as DailyTemperatureRow[];
  }

  /** Kept daily temperatures (see dailyTemperatures), by stations and zone. */
  private readonly dailyMemos = new Map<string, DailyTemperatureMemo>();
  /** The rules' windows kept between evaluations (seriesColumns). */
  readonly seriesCache = new SeriesCache((d, m, from, to) => this.readSeriesColumns(d, m, from, to));

  /**
   * A station's air temperature in [from, to] changed (a reading committed, an hour rolled up);
   * `from` −Infinity: aggregates of the hours before `to` deleted. The kept days it touches are
   * marked stale (or the memo dropped, for a deletion that reaches its days).
   */
  private noteDailyChange(device: string, from: number, to = from): void {
    for (const [key, memo] of this.dailyMemos) {
      if (from >= memo.endUtc || !memo.stations.has(device)) continue;
      if (from === -Infinity) {
        // Aggregates of hours before `to` deleted: only a memo whose kept days reach before it
        // (kept days read the aggregates from their first day's start) is touched.
        if (to > memo.firstDay * DAY - memo.offsetMs) this.dailyMemos.delete(key);
        continue;
      }
      const first = Math.max(memo.firstDay, Math.floor((from + memo.offsetMs) / DAY));
      // Days not read yet (a fill under way) will be read as they are then.
      const last = Math.min(memo.readTo - 1, Math.floor((to + memo.offsetMs) / DAY));
      for (let d = first; d <= last && memo.stale.size <= STALE_DAYS_READ_ALONE; d++) memo.stale.add(d);
    }
  }

  hourly(
    device: string,
    metric: string,
  ): { hour: number; min: number; max: number; mean: number; count: number }[] {
    return this.db
      .prepare(
        'SELECT hour, min, max, sum / count AS mean, count FROM readings_hourly WHERE device = ? AND metric = ? ORDER BY hour',
      )
      .all(device, metric) as { hour: number; min: number; max: number; mean: number; count: number }[];
  }

  devices(): DeviceState[] {
    return (
      this.db
        .prepare(
          'SELECT id, last_seen, online, battery, rssi, snr, silent_since, lora_gateway, lora_gateways FROM devices ORDER BY id',
        )
        .all() as {
        id: string;
        last_seen: number | null;
        online: number | null;
        battery: number | null;
        rssi: number | null;
        snr: number | null;
        silent_since: number | null;
        lora_gateway: string | null;
        lora_gateways: number | null;
      }[]
    ).map((d) => ({
      id: d.id,
      lastSeen: d.last_seen,
      online: d.online === null ? null : d.online === 1,
      battery: d.battery,
      rssi: d.rssi,
      snr: d.snr,
      silentSince: d.silent_since,
      loraGateway: d.lora_gateway,
      loraGateways: d.lora_gateways,
    }));
  }

  /**
   * Notes who heard a LoRaWAN device's last uplink. It is written with the next commit (the one
   * carrying that uplink's readings), not on its own: one write to the SD card per group.
   */
  noteHeardBy(device: string, heard: HeardBy): void {
    this.heardBy.set(device, heard);
  }

  /** Marks a device as silent (no data for too long); returns false if it already was. */
  markSilent(device: string, since: number): boolean {
    const marked =
      this.db
        .prepare('UPDATE devices SET silent_since = ? WHERE id = ? AND silent_since IS NULL')
        .run(since, device).changes === 1;
    if (marked) {
      const row = this.db.prepare('SELECT last_seen FROM devices WHERE id = ?').get(device) as
        { last_seen: number | null } | undefined;
      this.silent.set(device, { since, lastSeen: row?.last_seen ?? null });
    }
    return marked;
  }

  /** Every series (device, metric) with raw readings, in key order: one seek each along the primary key. */
  seriesKeys(): { device: string; metric: string }[] {
    const q = this.rollUpSql;
    const out: { device: string; metric: string }[] = [];
    let s = q.first.get() as { device: string; metric: string } | undefined;
    while (s) {
      out.push(s);
      s = q.next.get(s.device, s.metric) as { device: string; metric: string } | undefined;
    }
    return out;
  }

  /**
   * One series' raw readings with from < time <= to in columns, times ascending, with its newest
   * unit; undefined when it has none there. Kept between calls (gateway/series-cache.ts): a call
   * reads only the rows after the previous one's `to`, unless a change inside what is kept (a late
   * reading, a roll-up) dropped it. The columns are read-only, valid until the next call for the
   * same series.
   */
  seriesColumns(device: string, metric: string, from: number, to: number): SeriesColumns | undefined {
    return this.seriesCache.get(device, metric, from, to);
  }

  /** Forgets the kept windows of every series but these (the rules' window, one evaluation's). */
  retainSeriesWindows(keep: ReadonlyMap<string, ReadonlySet<string>>): void {
    this.seriesCache.retain(keep);
  }

  /**
   * One series' raw readings with from < time <= to in columns, times ascending (a range of the
   * primary key), with its newest unit, read from the file; undefined when it has none there.
   * Rows come as arrays, not objects, and the flags only as "any or none": the rules' window is a
   * million rows on a busy farm, and objects of six properties each cost three times the read and
   * most of the memory (measured with 50 devices at one reading a minute: 2.9 s and ~1 GB against
   * 1.3 s).
   */
  private readSeriesColumns(
    device: string,
    metric: string,
    from: number,
    to: number,
  ): SeriesColumns | undefined {
    const rows = this.seriesColumnsSql.rows.all(device, metric, from, to) as [number, number, number][];
    if (rows.length === 0) return undefined;
    const time = new Array<number>(rows.length);
    const value = new Array<number>(rows.length);
    const flagged = new Array<boolean>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      time[i] = r[0];
      value[i] = r[1];
      flagged[i] = r[2] === 1;
    }
    const { unit } = this.seriesColumnsSql.unit.get(device, metric, rows[rows.length - 1]![0]) as {
      unit: string;
    };
    return { device, metric, unit, time, value, flagged };
  }

  /**
   * The latest reading of every metric of a device, by metric. With `now` (the gateway's
   * corrected clock), a reading dated more than FUTURE_TOLERANCE_MS after it is the latest only
   * while the metric has no other.
   */
  latest(device: string, now?: number): LatestReading[] {
    // Seeks along the primary key, a few per metric: a device's history (90 days of raw readings
    // by default) is never read through. (A GROUP BY metric with MAX(time) read all of it: about
    // 0.1 s a device on this machine, for each status page and each automation check.)
    const out: LatestReading[] = [];
    const bound = now === undefined ? Number.MAX_SAFE_INTEGER : now + FUTURE_TOLERANCE_MS;
    let metric = '';
    for (;;) {
      // The series after this one (the roll-up's seek; `device = ?` beside it would make SQLite
      // search by the device alone and step through its rows): past the device, it is done.
      const next = this.rollUpSql.next.get(device, metric) as { device: string; metric: string } | undefined;
      if (next?.device !== device) break;
      metric = next.metric;
      const row = (this.latestUpTo.get(device, metric, bound) ??
        this.latestUpTo.get(device, metric, Number.MAX_SAFE_INTEGER)) as LatestReading;
      out.push(row);
    }
    return out;
  }

  /**
   * Writes a group of accepted readings and dead letters in one transaction (group commit).
   * A reading already stored (same device, metric and time) is a resend: it is neither stored
   * nor queued again. Returns how many readings were new.
   */
  commit(readings: readonly Reading[], dead: readonly DeadLetter[], now: number): number {
    this.checkWritable();
    const r = this.commitSql(readings, dead, now, this.heardBy, this.deadLimit);
    this.heardBy.clear();
    return this.committed(readings, r, now);
  }

  /**
   * As `commit`, on the writer thread when it runs (startWriter): the event loop goes on while the
   * group is written and fsync'd. Commits are applied in the order they are called. Without the
   * thread, the commit runs here at once.
   */
  commitAsync(readings: readonly Reading[], dead: readonly DeadLetter[], now: number): Promise<number> {
    const writer = this.writer;
    try {
      if (!writer) return Promise.resolve(this.commit(readings, dead, now));
      this.checkWritable();
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const heard = [...this.heardBy];
    this.heardBy.clear();
    return writer.commit(readings, dead, now, heard, this.deadLimit).then(
      (r) => this.committed(readings, r, now),
      (e: Error) => {
        // Noted again for the next commit, as a failed commit on this thread leaves them.
        for (const [device, h] of heard) if (!this.heardBy.has(device)) this.heardBy.set(device, h);
        // A thread that died may have done so after its COMMIT: told as if it had committed.
        this.readingsChanged(readings);
        throw e;
      },
    );
  }

  /** Told when the writer thread ended on its own (a crash): commits are back on this thread. */
  onWriterExit: ((why: string) => void) | undefined;

  /** Whether commits go to the writer thread. */
  get hasWriter(): boolean {
    return this.writer !== undefined;
  }

  /** Starts the commit writer thread (its own connection to this file); see commitAsync. */
  startWriter(): void {
    if (this.writer) return;
    const writer = new CommitWriter(this.file, (why) => {
      // Its commits in flight were refused (no PUBACK: the devices resend); later ones run here.
      if (this.writer === writer) this.writer = undefined;
      this.onWriterExit?.(why);
    });
    this.writer = writer;
    if (this.budgetPages !== undefined) this.writer.setBudget(this.budgetPages);
  }

  /** Ends the writer thread after the commits already posted; later commits run here. */
  async stopWriter(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close();
  }

  private checkWritable(): void {
    if (this.refuseWrites)
      throw new HatakeError('HATAKE_E_DISK_FULL', 'the gateway disk is nearly full; data refused');
  }

  /** A commit's effects outside the database: the backlog's counts, devices back from silence. */
  private committed(readings: readonly Reading[], r: CommitResult, now: number): number {
    if (r.fresh > 0) this.readingsChanged(readings);
    if (this.silent.size > 0) {
      let back: { device: string; since: number; lastSeen: number | null }[] | undefined;
      for (const { device } of readings) {
        const mark = this.silent.get(device);
        if (mark === undefined) continue;
        this.silent.delete(device);
        (back ??= []).push({ device, ...mark });
      }
      if (back) this.onDeviceBack?.(back, now);
    }
    return r.fresh;
  }

  /**
   * These readings were (or may have been) committed: the outbox's totals are read as the
   * database now holds them, not added to (a commit of the writer thread is answered later, and a
   * reload in between — the backlog budget's — would already count it), and what is kept of the
   * series and days they touch is told. (Closed meanwhile: there is nothing to update.)
   */
  private readingsChanged(readings: readonly Reading[]): void {
    if (!this.db.open) return;
    this.loadOutboxTotals();
    if (this.seriesCache.size > 0)
      for (const { device, metric, time } of readings) this.seriesCache.changed(device, metric, time, time);
    if (this.dailyMemos.size > 0)
      for (const { device, metric, time } of readings)
        if (metric === 'air_temperature') this.noteDailyChange(device, time);
  }

  /** Queues a document or event (not a reading) for the server. */
  enqueue(kind: Exclude<SyncKind, 'reading'>, body: unknown, now: number): void {
    const text = JSON.stringify(body);
    this.outboxTransaction(() => {
      this.insertOutbox.run(kind, PRIORITY[kind], text, now);
      this.outboxChanged(Buffer.byteLength(text), 1);
    });
  }

  /**
   * Runs `fn` in a transaction that changes the outbox. If it fails as the outermost transaction,
   * the totals in memory are read again: a statement that fails changes neither, but a COMMIT
   * that fails — a real full disk (ENOSPC) is met when the WAL is written, after every statement
   * and `outboxChanged` succeeded — rolls back what memory already counted.
   */
  private outboxTransaction(fn: () => void): void {
    try {
      this.db.transaction(fn)();
    } catch (e) {
      if (!this.db.inTransaction) {
        try {
          this.loadOutboxTotals();
        } catch {
          // The database cannot be read either: the next successful reload corrects them.
        }
      }
      throw e;
    }
  }

  /**
   * The outbox changed by `bytes` (UTF-8, as `octet_length(body)`) and `rows` (negative: fewer).
   * Call it inside the transaction that made the change: the database's totals change with it, all
   * or nothing. The counts in memory change at once; if that transaction rolls back they are off
   * until `loadOutboxTotals` (the backlog budget reloads once it aggregated or dropped).
   */
  outboxChanged(bytes: number, rows: number): void {
    this.addOutboxTotal.run(bytes, rows);
    this.outboxBytes = Math.max(0, this.outboxBytes + bytes);
    this.outboxRows = Math.max(0, this.outboxRows + rows);
  }

  /** Reads the outbox's totals as the database keeps them (one row). */
  loadOutboxTotals(): number {
    const r = this.readOutboxTotal.get() as { bytes: number; rows: number };
    this.outboxBytes = r.bytes;
    this.outboxRows = r.rows;
    return this.outboxBytes;
  }

  /**
   * Recounts the outbox from its rows (every body read) and stores the totals: a repair, for a
   * table changed by hand; nothing of the gateway needs it.
   */
  recountOutbox(): number {
    this.db
      .prepare(
        `UPDATE outbox_total SET (bytes, rows) =
           (SELECT COALESCE(SUM(octet_length(body)), 0), COUNT(*) FROM outbox) WHERE id = 0`,
      )
      .run();
    return this.loadOutboxTotals();
  }

  /** Records a device's online state (from its retained status or last will) and queues the event. */
  setDeviceOnline(device: string, online: boolean, now: number): void {
    this.outboxTransaction(() => {
      this.db
        .prepare(
          'INSERT INTO devices (id, last_seen, online) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET online = excluded.online',
        )
        .run(device, online ? now : null, online ? 1 : 0);
      this.enqueue('device_status', { device, online, time: now }, now);
    });
  }

  /** The next rows to send: highest priority first, oldest first within a priority. */
  peekOutbox(limit: number, maxBytes = Infinity): OutboxRow[] {
    const rows: OutboxRow[] = [];
    let bytes = 0;
    for (const r of this.db
      .prepare('SELECT seq, kind, body FROM outbox ORDER BY priority, seq LIMIT ?')
      .iterate(limit) as Iterable<OutboxRow>) {
      if (rows.length > 0 && bytes + r.body.length > maxBytes) break;
      rows.push(r);
      bytes += r.body.length;
    }
    return rows;
  }

  /**
   * The server acknowledged these outbox rows at `at`: they go, and when the uplink last worked is
   * kept with them (one transaction, one fsync), so a restart still knows it.
   */
  acknowledged(seqs: readonly number[], at: number): void {
    this.db.transaction(() => {
      this.deleteOutbox(seqs);
      this.setMeta(LAST_SYNC_META, String(at));
    })();
  }

  /** When the server last acknowledged a batch (epoch ms), or null if it never did. */
  lastSync(): number | null {
    const t = Number(this.getMeta(LAST_SYNC_META));
    return Number.isSafeInteger(t) && t > 0 ? t : null;
  }

  /** Forgets rows the server has acknowledged. */
  deleteOutbox(seqs: readonly number[]): void {
    this.db.transaction(() => {
      const freed = this.db
        .prepare(
          'DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING octet_length(body) AS n',
        )
        .all(JSON.stringify(seqs)) as { n: number }[];
      this.outboxChanged(-freed.reduce((a, r) => a + r.n, 0), -freed.length);
    })();
  }

  /**
   * Moves rows the server will never accept to the dead letters, with its code and reason. A
   * document keeps its whole body (`deadLetterKeepsBody`), a reading or an aggregate its head.
   */
  deadLetterOutbox(rows: readonly OutboxRow[], code: string, reason: string, now: number): void {
    this.db.transaction(() => {
      for (const r of rows) {
        this.insertDeadOutbox.run(
          now,
          `outbox/${r.kind}`,
          code,
          reason,
          Buffer.from(r.body.slice(0, DEAD_LETTER_HEAD_BYTES)),
          deadLetterKeepsBody(r.kind) ? r.body : null,
        );
      }
      this.deleteOutbox(rows.map((r) => r.seq));
      this.trimDead.run(this.deadLimit);
    })();
  }

  /** Documents the server refused for good, newest first, each with its whole body. */
  deadLetteredDocuments(limit = 100): DeadDocument[] {
    return this.db
      .prepare(
        `SELECT id, time, substr(topic, 8) AS kind, code, reason, body FROM dead_letters
           WHERE body IS NOT NULL ORDER BY id DESC LIMIT ?`,
      )
      .all(limit) as DeadDocument[];
  }

  /** When the oldest unsent row was queued, or null when the outbox is empty. */
  /**
   * The outbox's first row: its sequence number (nothing below it can be sent again) and when it
   * was queued — rows are created in seq order, so it is the oldest (an index walk, not a scan).
   * Null when the outbox is empty.
   */
  outboxHead(): { seq: number; created: number } | null {
    return (
      (this.db.prepare('SELECT seq, created FROM outbox ORDER BY seq LIMIT 1').get() as
        { seq: number; created: number } | undefined) ?? null
    );
  }

  oldestOutbox(): number | null {
    return this.outboxHead()?.created ?? null;
  }

  /** Rows waiting in the outbox (kept in step like `outboxBytes`). */
  outboxDepth(): number {
    return this.outboxRows;
  }

  /** Whether any raw reading is stored (one row looked up, not counted). */
  hasReadings(): boolean {
    return this.db.prepare('SELECT 1 FROM readings LIMIT 1').get() !== undefined;
  }

  readingCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM readings').get() as { n: number }).n;
  }

  /** How many dead letters are kept (the table is bounded: retention.deadLetters). */
  deadLetterCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n;
  }

  deadLetters(limit = 100): DeadLetter[] {
    return this.db
      .prepare('SELECT time, device, topic, code, reason, head FROM dead_letters ORDER BY id DESC LIMIT ?')
      .all(limit) as DeadLetter[];
  }

  /**
   * Keeps a scene's zone index points. The same scene processed again replaces its points (the
   * key is field, grid, index, acquisition time and zone). Then bounds the table: points more than
   * `retentionMs` older than `now` go, and beyond `maxRows` the oldest go. Returns the rows dropped.
   */
  putZoneIndex(
    rows: readonly ZoneIndexRow[],
    now: number,
    { retentionMs = ZONE_INDEX_RETENTION_MS, maxRows = ZONE_INDEX_MAX_ROWS } = {},
  ): number {
    const put = this.db.prepare(
      `INSERT INTO zone_index (field, grid, idx, time, zone, mean, valid_fraction, lon, lat, scene)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (field, grid, idx, time, zone) DO UPDATE SET mean = excluded.mean,
         valid_fraction = excluded.valid_fraction, lon = excluded.lon, lat = excluded.lat, scene = excluded.scene`,
    );
    return this.db.transaction(() => {
      for (const r of rows)
        put.run(
          r.field,
          r.grid,
          r.index,
          r.time,
          r.zone,
          r.mean,
          r.validFraction,
          r.centroid?.[0] ?? null,
          r.centroid?.[1] ?? null,
          r.scene ?? null,
        );
      let dropped = this.db.prepare('DELETE FROM zone_index WHERE time < ?').run(now - retentionMs).changes;
      const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM zone_index').get() as { n: number };
      if (n > maxRows)
        dropped += this.db
          .prepare(
            `DELETE FROM zone_index WHERE (field, grid, idx, time, zone) IN
               (SELECT field, grid, idx, time, zone FROM zone_index ORDER BY time LIMIT ?)`,
          )
          .run(n - maxRows).changes;
      return dropped;
    })();
  }

  /**
   * The zone index points acquired in [from, to], of each field's current cell layout only
   * (`grids`: field → grid; fields not named are left out), oldest first.
   */
  zoneIndex(grids: ReadonlyMap<string, string>, from: number, to: number): ZoneIndexRow[] {
    if (grids.size === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT z.field, z.grid, z.zone, z.idx AS "index", z.time, z.mean, z.valid_fraction AS validFraction,
                z.lon, z.lat, z.scene
         FROM zone_index z JOIN json_each(?) g ON z.field = g.key AND z.grid = g.value
         WHERE z.time >= ? AND z.time <= ? ORDER BY z.time, z.field, z.idx, z.zone`,
      )
      .all(JSON.stringify(Object.fromEntries(grids)), from, to) as (Omit<
      ZoneIndexRow,
      'centroid' | 'scene'
    > & {
      lon: number | null;
      lat: number | null;
      scene: string | null;
    })[];
    return rows.map(({ lon, lat, scene, ...r }) => ({
      ...r,
      ...(lon !== null && lat !== null ? { centroid: [lon, lat] as [number, number] } : {}),
      ...(scene !== null ? { scene } : {}),
    }));
  }

  /** Keeps the last good downlink document of a kind and id (replacing the previous one). */
  putDocument(kind: string, id: string, version: number, body: unknown, now: number): void {
    this.db
      .prepare(
        `INSERT INTO documents (kind, id, version, body, applied) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, body = excluded.body, applied = excluded.applied`,
      )
      .run(kind, id, version, JSON.stringify(body), now);
  }

  deleteDocument(kind: string, id: string): void {
    this.db.prepare('DELETE FROM documents WHERE kind = ? AND id = ?').run(kind, id);
  }

  documents<T>(kind: string): { id: string; version: number; body: T }[] {
    return (
      this.db.prepare('SELECT id, version, body FROM documents WHERE kind = ? ORDER BY id').all(kind) as {
        id: string;
        version: number;
        body: string;
      }[]
    ).map((d) => ({ ...d, body: JSON.parse(d.body) as T }));
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
      ?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  close(): void {
    // The writer's commits are settled by now (the ingest drains first): its thread just ends.
    void this.writer?.close();
    this.writer = undefined;
    this.db.close();
  }
}

/** Turns outbox rows into protocol sync items. */
export function toSyncItems(rows: readonly OutboxRow[]): SyncItem[] {
  return rows.map((r) => ({ seq: r.seq, kind: r.kind, body: JSON.parse(r.body) }) as SyncItem);
}

/**
 * The JSON text of a sync batch, with each row's stored body spliced in as it is: the bodies
 * were written by JSON.stringify, so parsing and re-serialising them would only cost time.
 */
export function syncBatchJson(head: Omit<SyncBatch, 'items'>, rows: readonly OutboxRow[]): string {
  const items = rows.map((r) => `{"seq":${r.seq},"kind":${JSON.stringify(r.kind)},"body":${r.body}}`);
  return `${JSON.stringify(head).slice(0, -1)},"items":[${items.join(',')}]}`;
}
