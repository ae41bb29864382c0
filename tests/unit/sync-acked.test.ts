// The server's record of the sequence numbers it acknowledged per gateway (dashboard/sync-acked.ts),
// against a plain set of numbers: whatever batches come, in whatever order, it answers exactly
// which were acknowledged before, and keeps them as few, disjoint, non-adjacent ranges.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openDatabase, type Db } from '../../runtime/sqlite.ts';
import { RESEND_WINDOW_MS, syncAcked, type SyncAcked } from '../../dashboard/sync-acked.ts';

let dir: string;
let db: Db;
let acked: SyncAcked;
let gatewayNo = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-acked-'));
  db = openDatabase(join(dir, 'server.db'), []);
  acked = syncAcked(db);
});
afterAll(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('acknowledged sequence ranges', () => {
  it('answer exactly what was recorded, as merged ranges', () => {
    const batches = fc.array(
      fc.uniqueArray(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 }),
      {
        maxLength: 12,
      },
    );
    fc.assert(
      fc.property(
        batches,
        fc.uniqueArray(fc.integer({ min: 0, max: 320 }), { maxLength: 60 }),
        (bs, probe) => {
          const gw = `gw-${++gatewayNo}`;
          const model = new Set<number>();
          for (const b of bs) {
            // What a batch finds held is what earlier batches recorded.
            expect([...acked.held(gw, b)].sort((x, y) => x - y)).toEqual(
              b.filter((s) => model.has(s)).sort((x, y) => x - y),
            );
            acked.record(gw, b, 1_000);
            for (const s of b) model.add(s);
          }
          expect([...acked.held(gw, probe)].sort((x, y) => x - y)).toEqual(
            probe.filter((s) => model.has(s)).sort((x, y) => x - y),
          );
          const ranges = acked.ranges(gw);
          for (let i = 0; i < ranges.length; i++) {
            expect(ranges[i]!.lo).toBeLessThanOrEqual(ranges[i]!.hi);
            if (i > 0) expect(ranges[i]!.lo).toBeGreaterThan(ranges[i - 1]!.hi + 1);
          }
          expect(ranges.reduce((n, r) => n + r.hi - r.lo + 1, 0)).toBe(model.size);
        },
      ),
    );
  });

  it('keep gateways apart', () => {
    acked.record('gw-a', [1, 2, 3], 1_000);
    expect(acked.held('gw-b', [1, 2, 3]).size).toBe(0);
  });

  it('of a gateway that says the lowest sequence it holds: forget only what lies wholly below it, never by time', () => {
    acked.record('gw-floor', [1, 2, 3], 1_000, 1);
    acked.record('gw-floor', [5, 6], 2_000, 1);
    // Months later by the server's clock (a jump, a long outage): nothing is forgotten while the
    // gateway still holds sequence 2 (a row whose answer was lost stays until acknowledged).
    acked.record('gw-floor', [9], 2_000 + 3 * RESEND_WINDOW_MS, 2);
    expect(acked.ranges('gw-floor')).toEqual([
      { lo: 1, hi: 3 },
      { lo: 5, hi: 6 },
      { lo: 9, hi: 9 },
    ]);
    expect([...acked.held('gw-floor', [2, 3, 4])]).toEqual([2, 3]);
    // The gateway deleted everything below 6: the ranges wholly below go, one that reaches it stays.
    acked.record('gw-floor', [12], 3_000, 6);
    expect(acked.ranges('gw-floor')).toEqual([
      { lo: 5, hi: 6 },
      { lo: 9, hi: 9 },
      { lo: 12, hi: 12 },
    ]);
  });

  it('forget a range untouched for the resend window', () => {
    acked.record('gw-old', [1, 2, 3], 1_000);
    acked.record('gw-old', [10], 1_000 + RESEND_WINDOW_MS);
    expect(acked.ranges('gw-old')).toEqual([
      { lo: 1, hi: 3 },
      { lo: 10, hi: 10 },
    ]);
    acked.record('gw-old', [20], 2_000 + RESEND_WINDOW_MS);
    expect(acked.ranges('gw-old')).toEqual([
      { lo: 10, hi: 10 },
      { lo: 20, hi: 20 },
    ]);
  });
});
