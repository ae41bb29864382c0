// What the automation engine keeps in the gateway's SQLite file so that a restart changes nothing:
// each automation's runs today, last run and band side; each actuator's run in progress (with its
// deadlines) and fault; the manual overrides; the recent logs shown on the status page. The
// engine's own tables, created here (the store's numbered migrations are not touched).
import type { AutomationLog, ManualOverride } from '../../protocol/automation.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';
import type { Counters, Side } from './decide.ts';
import type { Run } from './run.ts';

const MIGRATIONS = [
  `
  CREATE TABLE IF NOT EXISTS automation_counters (
    automation TEXT PRIMARY KEY, day INTEGER NOT NULL, runs INTEGER NOT NULL,
    last_run_at INTEGER, last_end_at INTEGER, side TEXT
  );
  CREATE TABLE IF NOT EXISTS automation_actuators (device TEXT PRIMARY KEY, run TEXT, fault TEXT);
  CREATE TABLE IF NOT EXISTS automation_overrides (
    device TEXT PRIMARY KEY, mode TEXT NOT NULL, until INTEGER NOT NULL, by TEXT NOT NULL,
    source TEXT NOT NULL, set_at INTEGER NOT NULL, server_version INTEGER NOT NULL, active INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS automation_log_recent (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL
  );
  `,
];

/** An automation's memory between readings. */
export interface AutomationMemory {
  counters: Counters | undefined;
  side: Side | undefined;
}

export interface OverrideState {
  device: string;
  mode: ManualOverride['mode'];
  until: number;
  by: string;
  /** Set on the server (dashboard) or here (the gateway's page). */
  source: 'server' | 'local';
  setAt: number;
  /** The newest server document version applied for this device (an older one never wins). */
  serverVersion: number;
  /** In force and not yet logged as cleared. */
  active: boolean;
}

export class AutomationStateStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    migrate(db, 'gateway_automations', MIGRATIONS);
  }

  /** Runs the writes of one engine step atomically. */
  transaction(fn: () => void): void {
    this.db.transaction(fn)();
  }

  memories(): Map<string, AutomationMemory> {
    const rows = this.db.prepare('SELECT * FROM automation_counters').all() as {
      automation: string;
      day: number;
      runs: number;
      last_run_at: number | null;
      last_end_at: number | null;
      side: Side | null;
    }[];
    return new Map(
      rows.map((r) => [
        r.automation,
        {
          counters: { day: r.day, runs: r.runs, lastRunAt: r.last_run_at, lastEndAt: r.last_end_at },
          side: r.side ?? undefined,
        },
      ]),
    );
  }

  putMemory(automation: string, m: AutomationMemory): void {
    const c = m.counters ?? { day: 0, runs: 0, lastRunAt: null, lastEndAt: null };
    this.db
      .prepare(
        `INSERT INTO automation_counters (automation, day, runs, last_run_at, last_end_at, side) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (automation) DO UPDATE SET day = excluded.day, runs = excluded.runs,
           last_run_at = excluded.last_run_at, last_end_at = excluded.last_end_at, side = excluded.side`,
      )
      .run(automation, c.day, c.runs, c.lastRunAt, c.lastEndAt, m.side ?? null);
  }

  actuators(): { device: string; run: Run | undefined; fault: string | undefined }[] {
    return (
      this.db.prepare('SELECT device, run, fault FROM automation_actuators').all() as {
        device: string;
        run: string | null;
        fault: string | null;
      }[]
    ).map((r) => ({
      device: r.device,
      run: r.run ? (JSON.parse(r.run) as Run) : undefined,
      fault: r.fault ?? undefined,
    }));
  }

  putActuator(device: string, run: Run | undefined, fault: string | undefined): void {
    if (!run && !fault) {
      this.db.prepare('DELETE FROM automation_actuators WHERE device = ?').run(device);
      return;
    }
    this.db
      .prepare(
        `INSERT INTO automation_actuators (device, run, fault) VALUES (?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET run = excluded.run, fault = excluded.fault`,
      )
      .run(device, run ? JSON.stringify(run) : null, fault ?? null);
  }

  overrides(): OverrideState[] {
    return (
      this.db.prepare('SELECT * FROM automation_overrides ORDER BY device').all() as {
        device: string;
        mode: ManualOverride['mode'];
        until: number;
        by: string;
        source: 'server' | 'local';
        set_at: number;
        server_version: number;
        active: number;
      }[]
    ).map((r) => ({
      device: r.device,
      mode: r.mode,
      until: r.until,
      by: r.by,
      source: r.source,
      setAt: r.set_at,
      serverVersion: r.server_version,
      active: r.active === 1,
    }));
  }

  putOverride(o: OverrideState): void {
    this.db
      .prepare(
        `INSERT INTO automation_overrides (device, mode, until, by, source, set_at, server_version, active)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET mode = excluded.mode, until = excluded.until, by = excluded.by,
           source = excluded.source, set_at = excluded.set_at, server_version = excluded.server_version,
           active = excluded.active`,
      )
      .run(o.device, o.mode, o.until, o.by, o.source, o.setAt, o.serverVersion, o.active ? 1 : 0);
  }

  /** Keeps a log for the status page (the newest `keep`). */
  appendLog(log: AutomationLog, keep: number): void {
    this.db.prepare('INSERT INTO automation_log_recent (body) VALUES (?)').run(JSON.stringify(log));
    this.db
      .prepare(
        'DELETE FROM automation_log_recent WHERE seq <= (SELECT MAX(seq) FROM automation_log_recent) - ?',
      )
      .run(keep);
  }

  /** The newest logs first. */
  recentLogs(limit: number): AutomationLog[] {
    return (
      this.db.prepare('SELECT body FROM automation_log_recent ORDER BY seq DESC LIMIT ?').all(limit) as {
        body: string;
      }[]
    ).map((r) => JSON.parse(r.body) as AutomationLog);
  }
}
