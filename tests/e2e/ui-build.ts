// The e2e journeys test the app as built. `npm ci` builds it (the `prepare` script); when the
// sources (dashboard/ui and the protocol/ and edge/ modules it imports) are newer than the build
// — a developer changed a page and ran one test file — the build is redone here first, once,
// under a lock shared by test files running at once.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';

const ROOT = join(import.meta.dirname, '../..');
const UI = join(ROOT, 'dashboard/ui');
/** Everything the app's bundle is built from: its own sources and what they import from ours. */
const SOURCES = [UI, join(ROOT, 'protocol'), join(ROOT, 'edge'), join(ROOT, 'dashboard/review')];
const STAMP = join(ROOT, 'dashboard/public/build-manifest.json');
const LOCK = join(ROOT, 'dashboard/.ui-build.lock');

function newest(dir: string): number {
  let t = 0;
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

const fresh = () => existsSync(STAMP) && statSync(STAMP).mtimeMs >= Math.max(...SOURCES.map(newest));

/** Builds the web app unless the build is newer than every source file. */
export async function ensureUiBuilt(): Promise<void> {
  const end = Date.now() + 120_000;
  while (!fresh()) {
    try {
      mkdirSync(LOCK);
    } catch {
      // Another test file is building; a lock older than two minutes was left by a crash.
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > 120_000)
        rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > end) throw new Error('the UI build lock was not released within two minutes');
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      if (!fresh()) {
        // vitest sets NODE_ENV=test, which Vite would carry into the bundle; build as npm does.
        const env = process.env.NODE_ENV;
        process.env.NODE_ENV = 'production';
        try {
          await build({ configFile: join(UI, 'vite.config.ts'), mode: 'production', logLevel: 'warn' });
        } finally {
          process.env.NODE_ENV = env;
        }
      }
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}
