// What a server clock that ran ahead (a VM restored from a snapshot, an NTP server that was wrong)
// leaves behind once it comes back: a session made on it would outlive its week, and throughput
// counted on it would count again when the clock caught up. Neither may.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openServerDb } from '../../dashboard/db.ts';
import { Auth, SESSION_TTL_MS } from '../../dashboard/auth.ts';
import { THROUGHPUT_WINDOW_MS, syncThroughput } from '../../dashboard/routes/gateways.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'hatake-clock-ahead-'));
const db = openServerDb(join(dir, 'server.db'));
afterEach(() => vi.useRealTimers());
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('after the server clock ran a month ahead and came back', () => {
  it('a session made on the clock ahead is not honoured for a month more', async () => {
    const auth = new Auth(db);
    await auth.createUser('farmer-a', 'a-long-password-1', 'farmer', { farms: ['f'] });
    const now = Date.now();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(now + 31 * DAY);
    const ahead = await auth.login('farmer-a', 'a-long-password-1');
    expect(auth.session(ahead.token)?.user.name).toBe('farmer-a');
    vi.setSystemTime(now);
    // Its expiry is 38 days off: further than any session lives.
    expect(auth.session(ahead.token)).toBeUndefined();
    // A session made now lives its week.
    const fresh = await auth.login('farmer-a', 'a-long-password-1');
    vi.setSystemTime(now + SESSION_TTL_MS - 60_000);
    expect(auth.session(fresh.token)?.user.name).toBe('farmer-a');
  });

  it('the items counted on the clock ahead do not count again when the clock reaches them', () => {
    const t = syncThroughput(db);
    const now = Date.now();
    t.record('gw-a', 500, now + 31 * DAY); // counted on the clock ahead
    t.record('gw-a', 10, now); // the clock is back
    expect(t.perMinute(now).get('gw-a')).toBe(10 / (THROUGHPUT_WINDOW_MS / 60_000));
    // A month later, at the time those 500 were stamped with: only what came then counts.
    t.record('gw-a', 5, now + 31 * DAY);
    expect(t.perMinute(now + 31 * DAY).get('gw-a')).toBe(5 / (THROUGHPUT_WINDOW_MS / 60_000));
  });
});
