// Generated readings for property tests of the gateway store's seeks along its primary key
// (device, metric, time), and throw-away stores in one temp directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { GatewayStore } from '../../gateway/store.ts';
import type { Reading } from '../../protocol/telemetry.ts';

/**
 * Device and metric names that sort next to one another ('a' < 'a-1' < 'ab' < 'b'): where a seek
 * to "the series after this one" could stop inside a neighbour's rows, or step over one.
 */
export const NEIGHBOUR_NAMES = ['a', 'a-1', 'b', 'ab', 'soil_vwc', 'z'] as const;

/** Readings over the neighbour names, at integer times in [0, maxTime], flagged or not, in `units`. */
export function storeRowsArb(opts: {
  maxTime: number;
  maxLength: number;
  flags?: boolean;
  units?: readonly string[];
}): fc.Arbitrary<Reading[]> {
  const names = fc.constantFrom(...NEIGHBOUR_NAMES);
  return fc.array(
    fc
      .record({
        device: names,
        metric: names,
        time: fc.integer({ min: 0, max: opts.maxTime }),
        value: fc.integer({ min: -5, max: 5 }),
        flagged: opts.flags ? fc.boolean() : fc.constant(false),
        unit: fc.constantFrom(...(opts.units ?? ['u'])),
      })
      .map(({ flagged, ...r }) => ({ ...r, flags: flagged ? ['spike'] : [] }) as Reading),
    { maxLength: opts.maxLength },
  );
}

/** A new store file each call, all in one temp directory removed by `cleanUp`. */
export function tempStores(prefix: string): {
  newStore: () => GatewayStore;
  newFile: () => string;
  cleanUp: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  const newFile = () => join(dir, `g${n++}.db`);
  return {
    newStore: () => new GatewayStore(newFile()),
    newFile,
    cleanUp: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The outbox's size as its rows give it (UTF-8 bytes of the bodies, rows): what the totals must be. */
export const outboxCounted = (store: GatewayStore) =>
  store.db
    .prepare('SELECT COALESCE(SUM(octet_length(body)), 0) AS bytes, COUNT(*) AS rows FROM outbox')
    .get() as { bytes: number; rows: number };

/** Readings of a few devices and metrics queued for the server, dated in the 8 hours before `now`. */
export const queuedReadingsArb = (now: number, maxLength: number) =>
  fc.array(
    fc.record({
      device: fc.constantFrom('soil-1', 'soil-2', 'ws-1'),
      metric: fc.constantFrom('soil_vwc', 'air_temperature'),
      time: fc.integer({ min: now - 8 * 3_600_000, max: now }),
      value: fc.double({ min: -10, max: 40, noNaN: true }),
    }),
    { minLength: 1, maxLength },
  );
