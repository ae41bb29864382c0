// What every codec is given besides the bytes: whose they are, when they arrived, and the limits.
import type { Kit } from '../../protocol/kit.ts';
import type { QualityTracker } from '../quality-tracker.ts';
import type { CodecSandbox } from './sandbox.ts';

export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024;

export interface DecodeContext {
  device: string;
  kit: Kit;
  /** Gateway receive time, epoch ms; used when the payload carries no time. */
  receivedAt: number;
  maxBytes?: number;
  /** LoRaWAN frame port (binary codecs); 1 when absent. */
  fPort?: number;
  /** The device's calibration overrides from its manifest entry (metric → coefficients). */
  calibration?: Readonly<Record<string, readonly number[]>>;
  /** When given, readings also get spike / stuck / clock_skew / duplicate flags from it. */
  tracker?: QualityTracker;
  /** The sandbox vendor codecs run in (the process-wide one when absent). */
  sandbox?: CodecSandbox;
}
