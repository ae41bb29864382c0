// npm's `prepare` (run by `npm ci` and `npm install`): compiles the sources into dist/ (the tree
// a gateway runs, scripts/build.js), then builds the dashboard's web app (dashboard/public) when
// Vite is installed. A production install (`npm ci --omit=dev`, as on a
// Raspberry Pi gateway) has no Vite and needs no web app — the gateway's status page is rendered
// by the gateway itself — so there it says so in one line and succeeds. Plain JavaScript: it runs before
// anything else is known to work.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const built = spawnSync(process.execPath, [fileURLToPath(new URL('./build.js', import.meta.url))], {
  stdio: 'inherit',
});
if (built.error) throw built.error;
if (built.status !== 0) process.exit(built.status ?? 1);

const require = createRequire(import.meta.url);
let hasVite = true;
try {
  require.resolve('vite/package.json');
} catch {
  hasVite = false;
}
if (!hasVite) {
  console.log(
    'hatake: the dashboard web app was not built (no Vite: dev dependencies omitted); the gateway does not need it — its status page is rendered by the gateway itself.',
  );
  process.exit(0);
}
// The same `npm run build:ui` the script defines, with the npm that is running us.
const npm = process.env.npm_execpath;
const run = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build:ui'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build:ui'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (run.error) throw run.error;
process.exit(run.status ?? 1);
