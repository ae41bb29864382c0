// A small tmpfs for tests that need a filesystem that really fills up (ENOSPC), not a configured
// limit. Mounting needs root (or CAP_SYS_ADMIN): `tmpfsUnavailable` says why it cannot be done
// here, so a test can skip with that reason instead of failing.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(cmd: string, args: string[]): { ok: boolean; why: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return { ok: false, why: `${cmd} could not run: ${r.error.message}` };
  return { ok: r.status === 0, why: `${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}` };
}

/** Why a tmpfs cannot be mounted here (tried: a 64 KiB one, mounted and unmounted), or undefined. */
export function tmpfsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `tmpfs mounts need Linux (this is ${process.platform})`;
  const dir = mkdtempSync(join(tmpdir(), 'hatake-tmpfs-probe-'));
  try {
    const m = run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    if (!m.ok)
      return `cannot mount a tmpfs (needs root or CAP_SYS_ADMIN; uid ${process.getuid?.()}): ${m.why}`;
    unmountTmpfs(dir);
    return undefined;
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      // Still mounted (unmount failed): left for the OS; it is empty and tiny.
    }
  }
}

/** Mounts a tmpfs of `bytes` (rounded up to whole 4 KiB pages by the kernel) on `dir`. */
export function mountTmpfs(dir: string, bytes: number): void {
  const m = run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir]);
  if (!m.ok) throw new Error(m.why);
}

/** Unmounts `dir`; if something still holds it open, detaches it (lazy) so it goes when released. */
export function unmountTmpfs(dir: string): void {
  if (run('umount', [dir]).ok) return;
  const lazy = run('umount', ['-l', dir]);
  if (!lazy.ok) throw new Error(lazy.why);
}

/**
 * Creates `file` and writes zeros into it until the filesystem refuses (ENOSPC), large chunks
 * first, then single pages: it takes every block left. Returns the bytes written.
 */
export function fillUp(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
