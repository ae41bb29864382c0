// The compiled tree (scripts/build.js) built for a test into a temporary directory, so a test never
// depends on (or disturbs) the repository's own dist/. With NO_TS_ARGS the process refuses to load
// tsx or any TypeScript file: proof that what runs is the compiled tree and nothing else.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

/** Node flags that make loading tsx or a .ts module an error (tests/helpers/no-ts-loader.mjs). */
export const NO_TS_ARGS = ['--import', join(ROOT, 'tests/helpers/no-ts-register.mjs')];

/**
 * Builds the compiled tree into a new temporary directory under the repository's tmp/ (ignored by
 * git and the linters): inside the repository, so its packages resolve from node_modules as
 * dist/'s do. `remove` deletes it.
 */
export function buildDist(): { dir: string; entry: string; remove: () => void } {
  mkdirSync(join(ROOT, 'tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'tmp', 'dist-'));
  const run = spawnSync(process.execPath, ['scripts/build.js', '--out', dir], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (run.status !== 0)
    throw new Error(`scripts/build.js failed (${run.status}): ${run.stderr}${run.stdout}`);
  return { dir, entry: join(dir, 'hatake.mjs'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
