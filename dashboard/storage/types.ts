// The time-series store behind the server. Everything above this interface (sync endpoint, API,
// live stream) is unaware of which adapter holds the readings.
import type { Reading } from '../../protocol/telemetry.ts';

export interface FarmReading extends Reading {
  farm: string;
}

export interface ApplyResult {
  applied: number;
  duplicates: number;
}

export interface LatestRow {
  farm: string;
  device: string;
  metric: string;
  value: number;
  unit: string;
  time: number;
  flags: string[];
}

export interface ReadingStore {
  /** Stores readings idempotently: a reading already held (farm, device, metric, time) is a duplicate. */
  writeReadings(readings: readonly FarmReading[]): Promise<ApplyResult>;
  /** The latest value of every metric of the given farms' devices. */
  latest(farms: readonly string[]): Promise<LatestRow[]>;
  /** How many readings are held for a device (for tests and diagnostics). */
  count(farm: string, device?: string): Promise<number>;
  /** Whether the store can take writes now; `detail` says why not. */
  health(): Promise<{ ok: boolean; detail?: string }>;
  close(): Promise<void>;
}
