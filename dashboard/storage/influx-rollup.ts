// Hourly roll-ups in InfluxDB: min, max, mean and count per series and UTC hour, from the raw
// retention policy into the long-term one.
//
// Not a continuous query: a CQ aggregates only the interval that just ended, but a gateway that
// was offline for a week delivers a week of readings late, and a CQ would never see them. So
// every write first records the (farm, hour) pairs it touches — in memory, and in the server's
// SQLite file when a pair is new — before the write, so a crash between the two recomputes an
// hour rather than forgetting it; the
// roll-up recomputes exactly those hours with SELECT … INTO. Recomputing an hour overwrites its
// aggregate points (same series, same time): it is idempotent, like everything else here.
import type { InfluxDB } from 'influx';
import type { Db } from '../../runtime/sqlite.ts';
import type { Logger } from '../../runtime/log.ts';
import { describeError } from './write-batcher.ts';
import { HOUR_MS } from './types.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS influx_rollup_pending (
    database TEXT NOT NULL, farm TEXT NOT NULL, hour INTEGER NOT NULL,
    PRIMARY KEY (database, farm, hour)
  ) WITHOUT ROWID;
`;
/** Hours further apart than this are recomputed by separate statements. */
const MAX_GAP_HOURS = 6;
/** Longest span one statement recomputes. */
const MAX_SPAN_HOURS = 168;

/** Where the roll-up reads and writes: the database and the two qualified measurements. */
export interface RollupTarget {
  database: string;
  source: string;
  target: string;
}

export class HourlyRollup {
  private readonly db: Db;
  private readonly influx: InfluxDB;
  private readonly t: RollupTarget;
  private readonly log: Logger | undefined;
  private readonly insertStmt;
  private readonly deleteStmt;
  /**
   * Pending (farm, hour) → generation, mirrored in SQLite. A row is written only when a pair
   * becomes pending (about once per farm and hour), so a write costs no fsync; the generation
   * (in memory) tells a roll-up whether the hour was touched again while it ran.
   */
  private readonly pending = new Map<string, { farm: string; hour: number; gen: number }>();
  private gen = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(db: Db, influx: InfluxDB, target: RollupTarget, log: Logger | undefined) {
    this.db = db;
    this.influx = influx;
    this.t = target;
    this.log = log;
    db.exec(SCHEMA);
    this.insertStmt = db.prepare(
      'INSERT OR IGNORE INTO influx_rollup_pending (database, farm, hour) VALUES (?, ?, ?)',
    );
    this.deleteStmt = db.prepare(
      'DELETE FROM influx_rollup_pending WHERE database = ? AND farm = ? AND hour = ?',
    );
    // Hours left pending by the last run of the server (or a crash) are recomputed.
    const rows = db
      .prepare('SELECT farm, hour FROM influx_rollup_pending WHERE database = ?')
      .all(target.database) as { farm: string; hour: number }[];
    for (const r of rows) this.pending.set(key(r.farm, r.hour), { farm: r.farm, hour: r.hour, gen: 0 });
  }

  /** Records that these farms' hours hold new data and need their aggregates recomputed. */
  mark(farmTimes: Iterable<readonly [farm: string, time: number]>): void {
    const gen = ++this.gen;
    const fresh: { farm: string; hour: number }[] = [];
    let lastFarm = '';
    let lastHour = NaN;
    for (const [farm, t] of farmTimes) {
      const hour = t - (t % HOUR_MS);
      if (hour === lastHour && farm === lastFarm) continue;
      lastFarm = farm;
      lastHour = hour;
      const k = key(farm, hour);
      const p = this.pending.get(k);
      if (p) p.gen = gen;
      else {
        this.pending.set(k, { farm, hour, gen });
        fresh.push({ farm, hour });
      }
    }
    if (fresh.length > 0) {
      this.db.transaction(() => {
        for (const f of fresh) this.insertStmt.run(this.t.database, f.farm, f.hour);
      })();
    }
  }

  /** Hours waiting for their roll-up (for diagnostics and tests). */
  pendingCount(): number {
    return this.pending.size;
  }

  /** Recomputes pending hours (only one farm's within [from, to) when given); one run at a time. */
  run(only?: { farm: string; from: number; to: number }): Promise<void> {
    const next = this.chain.then(() => this.runNow(only));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Runs the roll-up every `intervalMs`; failures are logged and the hours stay pending. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.run().catch((e: unknown) =>
        this.log?.warn({ err: describeError(e) }, 'hourly roll-up failed; the hours stay pending'),
      );
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.chain;
  }

  private async runNow(only?: { farm: string; from: number; to: number }): Promise<void> {
    const rows = [...this.pending.values()]
      .filter(
        (p) =>
          !only || (p.farm === only.farm && p.hour >= only.from - (only.from % HOUR_MS) && p.hour < only.to),
      )
      .map((p) => ({ ...p }))
      .sort((a, b) => (a.farm < b.farm ? -1 : a.farm > b.farm ? 1 : a.hour - b.hour));
    for (const span of spans(rows)) {
      await this.influx
        .queryRaw(
          `SELECT min("value") AS "min", max("value") AS "max", mean("value") AS "mean", count("value") AS "count"
         INTO ${this.t.target} FROM ${this.t.source}
         WHERE "farm" = $farm AND time >= ${span.from}ms AND time < ${span.to}ms
         GROUP BY time(1h), * fill(none)`,
          { database: this.t.database, method: 'POST', placeholders: { farm: span.farm } },
        )
        .then(assertNoResultErrors);
      // An hour marked again while this ran keeps a newer generation and is recomputed next time.
      const done = span.rows.filter((r) => this.pending.get(key(r.farm, r.hour))?.gen === r.gen);
      this.db.transaction(() => {
        for (const r of done) {
          this.pending.delete(key(r.farm, r.hour));
          this.deleteStmt.run(this.t.database, r.farm, r.hour);
        }
      })();
    }
  }
}

const key = (farm: string, hour: number) => `${farm}\u0000${hour}`;

interface Span {
  farm: string;
  from: number;
  to: number;
  rows: { farm: string; hour: number; gen: number }[];
}

/** Groups sorted (farm, hour) rows into few statements: near hours of one farm share one. */
function spans(rows: { farm: string; hour: number; gen: number }[]): Span[] {
  const out: Span[] = [];
  let cur: Span | undefined;
  for (const r of rows) {
    if (
      cur &&
      cur.farm === r.farm &&
      r.hour - cur.to <= MAX_GAP_HOURS * HOUR_MS &&
      r.hour + HOUR_MS - cur.from <= MAX_SPAN_HOURS * HOUR_MS
    ) {
      cur.to = r.hour + HOUR_MS;
      cur.rows.push(r);
    } else {
      cur = { farm: r.farm, from: r.hour, to: r.hour + HOUR_MS, rows: [r] };
      out.push(cur);
    }
  }
  return out;
}

/** InfluxDB answers 200 with per-statement errors in the body; turn those into exceptions. */
export function assertNoResultErrors<T extends { results?: { error?: string }[]; error?: string }>(
  res: T,
): T {
  if (res.error) throw new Error(`InfluxDB: ${res.error}`);
  for (const r of res.results ?? []) if (r.error) throw new Error(`InfluxDB: ${r.error}`);
  return res;
}
