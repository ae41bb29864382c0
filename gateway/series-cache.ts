// The rules' window of raw readings, kept between evaluations. The tip engine asks for every
// series' last 48 hours (its weather stations' last 14 days) once a minute while readings come;
// read whole each time that was about 0.8 s of CPU at 50 devices on the bench host, nearly all of
// it SQLite handing back rows the previous evaluation had already read. A kept series is read on
// from where the last read ended, and its front is trimmed as the window moves.
//
// A kept series is exact as long as every change to its rows within what it holds is reported
// (`changed`): the store reports each committed reading and each range a roll-up deletes, and a
// change inside a kept range drops that series, which the next request reads whole again.
import type { SeriesColumns } from './store.ts';

/** Reads one series' rows with from < time <= to, times ascending; undefined when there are none. */
export type ReadSeries = (
  device: string,
  metric: string,
  from: number,
  to: number,
) => SeriesColumns | undefined;

interface Kept {
  /**
   * The window this holds: every stored row with from < time <= to, nothing else. `to` is the
   * newest time read (not the bound asked for, which reaches minutes into the future): a reading
   * committed after it is new, read on by the next request; one at or before it is a change.
   */
  from: number;
  to: number;
  columns: SeriesColumns;
}

/**
 * Readings kept at most: 24 bytes each (two numbers and a flag) as read, up to ~36 as the columns
 * grow by appending, so at most ~70 MB (the gateway's unit allows 300 MB); past it, series are
 * read each time. 50 devices at one reading a minute keep about 1.5 M.
 */
export const SERIES_CACHE_MAX_ROWS = 2_000_000;

export class SeriesCache {
  private readonly kept = new Map<string, Map<string, Kept>>();
  private rows = 0;
  /** Rows read from the database for windows (whole reads and continuations), since start. */
  rowsRead = 0;

  private readonly read: ReadSeries;
  private readonly maxRows: number;

  constructor(read: ReadSeries, maxRows = SERIES_CACHE_MAX_ROWS) {
    this.read = read;
    this.maxRows = maxRows;
  }

  /**
   * One series' rows with from < time <= to, in columns, as `read` would give them. The columns
   * are the cache's own: read-only, and valid until the next call for the same series.
   */
  get(device: string, metric: string, from: number, to: number): SeriesColumns | undefined {
    const k = this.kept.get(device)?.get(metric);
    if (!k || from < k.from || to < k.to) {
      // Nothing kept, or it does not reach back far enough, or the clock went back.
      if (k) this.drop(device, metric);
      const whole = this.read(device, metric, from, to);
      this.rowsRead += whole?.time.length ?? 0;
      const columns = whole ?? { device, metric, unit: '', time: [], value: [], flagged: [] };
      this.keep(device, metric, { from, to: newest(columns, from), columns });
      return whole;
    }
    const c = k.columns;
    const more = to > k.to ? this.read(device, metric, k.to, to) : undefined;
    if (more) {
      this.rowsRead += more.time.length;
      this.rows += more.time.length;
      push(c.time, more.time);
      push(c.value, more.value);
      push(c.flagged, more.flagged);
      c.unit = more.unit;
    }
    k.to = newest(c, from);
    if (from > k.from) {
      // Times ascend: the first row inside the window, found by bisection.
      let lo = 0;
      let hi = c.time.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (c.time[mid]! <= from) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0) {
        c.time.splice(0, lo);
        c.value.splice(0, lo);
        c.flagged.splice(0, lo);
        this.rows -= lo;
      }
      k.from = from;
    }
    if (this.rows > this.maxRows) this.drop(device, metric);
    return c.time.length === 0 ? undefined : c;
  }

  /**
   * Rows of a series with from <= time <= to were added or deleted: a kept series they fall
   * within is dropped. (Rows after what it holds are read on by the next request.)
   */
  changed(device: string, metric: string, from: number, to: number): void {
    const k = this.kept.get(device)?.get(metric);
    if (k && from <= k.to && to > k.from) this.drop(device, metric);
  }

  /** Whether anything is kept (the store skips reporting changes when nothing is). */
  get size(): number {
    return this.kept.size;
  }

  /** Forgets every series but these (devices removed, series rolled away). */
  retain(keep: ReadonlyMap<string, ReadonlySet<string>>): void {
    for (const [device, byMetric] of this.kept)
      for (const metric of byMetric.keys()) if (!keep.get(device)?.has(metric)) this.drop(device, metric);
  }

  /** Rows held now. */
  get heldRows(): number {
    return this.rows;
  }

  private keep(device: string, metric: string, k: Kept): void {
    const n = k.columns.time.length;
    if (this.rows + n > this.maxRows) return;
    let byMetric = this.kept.get(device);
    if (!byMetric) this.kept.set(device, (byMetric = new Map()));
    byMetric.set(metric, k);
    this.rows += n;
  }

  private drop(device: string, metric: string): void {
    const byMetric = this.kept.get(device);
    const k = byMetric?.get(metric);
    if (!byMetric || !k) return;
    this.rows -= k.columns.time.length;
    byMetric.delete(metric);
    if (byMetric.size === 0) this.kept.delete(device);
  }
}

/** The newest time a series holds, or `from` when it holds none. */
const newest = (c: SeriesColumns, from: number): number =>
  c.time.length === 0 ? from : Math.max(from, c.time[c.time.length - 1]!);

/** Appends without spreading (a spread of a long array overflows the call stack). */
function push<T>(to: T[], from: readonly T[]): void {
  for (let i = 0; i < from.length; i++) to.push(from[i]!);
}
