// Deduplication of LoRaWAN uplinks by DevEUI + frame counter. The same uplink can arrive twice —
// a network server redelivering at QoS 1, two integrations, a replay after a reconnect — and must
// be stored once. Bounded in entries and in time: a device that rejoins restarts its counter, so
// a key is forgotten after `windowMs` (the store's device+metric+time key catches later replays).
export interface UplinkDedupOptions {
  /** Most keys remembered; the oldest go first. */
  max?: number;
  /** How long a key is remembered. */
  windowMs?: number;
  clock?: () => number;
}

/** The dedup key of an uplink (also usable as a stored key). */
export function uplinkKey(devEui: string, fCnt: number): string {
  return `${devEui.toLowerCase()}:${fCnt}`;
}

export class UplinkDedup {
  private readonly seenAt = new Map<string, number>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly clock: () => number;

  constructor(opts: UplinkDedupOptions = {}) {
    this.max = opts.max ?? 10_000;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
    this.clock = opts.clock ?? Date.now;
  }

  get size(): number {
    return this.seenAt.size;
  }

  /** True when the key was seen within the window; otherwise remembers it and returns false. */
  seen(key: string, now: number = this.clock()): boolean {
    for (const [k, t] of this.seenAt) {
      if (t >= now - this.windowMs && this.seenAt.size < this.max) break;
      this.seenAt.delete(k);
    }
    const t = this.seenAt.get(key);
    if (t !== undefined && t >= now - this.windowMs) return true;
    this.seenAt.set(key, now);
    return false;
  }
}
