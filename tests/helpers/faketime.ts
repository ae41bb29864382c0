// libfaketime for chaos tests that jump a child process's wall clock: where the faketime package
// put the library, and the environment that makes a child read its offset from a file on every
// clock read (so a test moves the clock by rewriting the file while the process runs).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** libfaketime.so.1 wherever the faketime package put it (any multiarch directory), or undefined. */
export function findLibfaketime(): string | undefined {
  const candidates = ['/usr/lib/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];
  try {
    for (const d of readdirSync('/usr/lib')) candidates.unshift(`/usr/lib/${d}/faketime/libfaketime.so.1`);
  } catch {
    // no /usr/lib: dpkg below, or nothing
  }
  const found = candidates.find((f) => existsSync(f));
  if (found) return found;
  const dpkg = spawnSync('dpkg', ['-L', 'faketime'], { encoding: 'utf8' });
  return (dpkg.stdout ?? '').split('\n').find((f) => f.endsWith('/libfaketime.so.1') && existsSync(f));
}

/** The library, or an error that says how to get it (a test fails rather than skips without it). */
export function requireLibfaketime(): string {
  const lib = findLibfaketime();
  if (!lib)
    throw new Error(
      'libfaketime.so.1 not found (looked in /usr/lib/*/faketime/ and `dpkg -L faketime`): install faketime (apt-get install faketime) to run this test',
    );
  return lib;
}

/**
 * The environment of a child whose wall clock is offset by what `offsetFile` says (`+0`, `+31d`,
 * `-2d`), read again at every clock read. Node's timers need a monotonic clock that never goes
 * back: only the wall clock jumps.
 */
export function faketimeEnv(lib: string, offsetFile: string): Record<string, string> {
  return {
    LD_PRELOAD: lib,
    FAKETIME_TIMESTAMP_FILE: offsetFile,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}
