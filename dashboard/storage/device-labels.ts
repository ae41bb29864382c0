// The field and kit a device had at a given time. Both stores label each reading with them; in
// InfluxDB they are tags and so part of a point's identity. Labelling by the device's *current*
// field would break the exactly-once effect there: a batch resent after the device moved to
// another field would land in a second series. So assignments are kept as a history with the
// time each took effect, and a reading is labelled by its own time — a resend always gets the
// same labels.
import type { Db } from '../../runtime/sqlite.ts';

export interface DeviceLabels {
  field: string | null;
  kit: string | null;
}

interface Assignment {
  since: number;
  /** Frozen, and handed to every reading labelled with it. */
  labels: DeviceLabels;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS store_device_labels (
    farm TEXT NOT NULL, device TEXT NOT NULL, since INTEGER NOT NULL, field TEXT, kit TEXT,
    PRIMARY KEY (farm, device, since)
  ) WITHOUT ROWID;
`;
const NO_LABELS: DeviceLabels = Object.freeze({ field: null, kit: null });
/** Bound on cached histories; devices are bounded by their manifests, this guards the rest. */
const MAX_CACHED_DEVICES = 200_000;

export class DeviceLabelHistory {
  private readonly db: Db;
  private readonly cache = new Map<string, Assignment[]>();
  private readonly current;
  private readonly load;
  private readonly insert;

  constructor(db: Db) {
    this.db = db;
    db.exec(SCHEMA);
    this.current = db.prepare('SELECT field, kit, last_seen FROM devices WHERE farm = ? AND id = ?');
    this.load = db.prepare(
      'SELECT since, field, kit FROM store_device_labels WHERE farm = ? AND device = ? ORDER BY since',
    );
    this.insert = db.prepare(
      'INSERT OR REPLACE INTO store_device_labels (farm, device, since, field, kit) VALUES (?, ?, ?, ?, ?)',
    );
  }

  /**
   * Records a new assignment for every device whose field or kit in the devices table differs
   * from its latest one. The new assignment takes effect after the device's last reading and
   * not before now, so readings already held keep their labels.
   */
  refresh(devices: Iterable<readonly [farm: string, device: string]>, now = Date.now()): void {
    const seen = new Set<string>();
    this.db.transaction(() => {
      for (const [farm, device] of devices) {
        const key = `${farm}\u0000${device}`;
        if (seen.has(key)) continue;
        seen.add(key);
        this.refreshOne(farm, device, now);
      }
    })();
  }

  /**
   * Runs `fn` (which calls labelsFor) in one transaction, so the assignments it records cost one
   * commit rather than one each.
   */
  batch<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (e) {
      this.forget();
      throw e;
    }
  }

  /** `refresh` for one device, then its `resolver`: for labelling a batch in one pass. */
  labelsFor(farm: string, device: string, now = Date.now()): (t: number) => DeviceLabels {
    this.refreshOne(farm, device, now);
    return this.resolver(farm, device);
  }

  private refreshOne(farm: string, device: string, now: number): void {
    const row = this.current.get(farm, device) as
      { field: string | null; kit: string | null; last_seen: number | null } | undefined;
    const field = row?.field ?? null;
    const kit = row?.kit ?? null;
    const history = this.history(farm, device);
    const last = history.at(-1);
    if (last && last.labels.field === field && last.labels.kit === kit) return;
    const since = last ? Math.max(now, (row?.last_seen ?? 0) + 1, last.since + 1) : 0;
    this.insert.run(farm, device, since, field, kit);
    history.push({ since, labels: Object.freeze({ field, kit }) });
  }

  /** The labels of a device at time t (its earliest assignment for times before any). */
  at(farm: string, device: string, t: number): DeviceLabels {
    return this.resolver(farm, device)(t);
  }

  /**
   * A function giving one device's labels at a time, for labelling many of its readings. Readings
   * with the same labels get the same (frozen) object, so a caller may cache what it derives from
   * the labels by their identity.
   */
  resolver(farm: string, device: string): (t: number) => DeviceLabels {
    const history = this.history(farm, device);
    if (history.length <= 1) {
      const only = history[0]?.labels ?? NO_LABELS;
      return () => only;
    }
    return (t) => {
      for (let i = history.length - 1; i > 0; i--) if (history[i]!.since <= t) return history[i]!.labels;
      return history[0]!.labels;
    };
  }

  /** Drops the cache (after a transaction that may have rolled back an assignment). */
  forget(): void {
    this.cache.clear();
  }

  private history(farm: string, device: string): Assignment[] {
    const key = `${farm}\u0000${device}`;
    let h = this.cache.get(key);
    if (!h) {
      if (this.cache.size >= MAX_CACHED_DEVICES) this.cache.clear();
      h = (this.load.all(farm, device) as ({ since: number } & DeviceLabels)[]).map((a) => ({
        since: a.since,
        labels: Object.freeze({ field: a.field, kit: a.kit }),
      }));
      this.cache.set(key, h);
    }
    return h;
  }
}
