// Entry of the compiled tree (scripts/build.js → dist/hatake.mjs), what a gateway runs in
// production. It checks that the tree was built from the sources now on disk before loading the
// rest (a dynamic import, its own chunk): running old code after an update would be a silent lie.
import { changedSources } from '../runtime/build-info.ts';

// EX_CONFIG. Restarting cannot make a stale build current: the systemd unit does not restart on it
// (RestartPreventExitStatus=78).
const STALE_EXIT = 78;

/** Why this tree must not run, or undefined when it was built from the sources on disk. */
function stale(): string | undefined {
  let changed: string[];
  try {
    changed = changedSources(new URL('build.json', import.meta.hatakeDist));
  } catch (e) {
    return (e as Error).message;
  }
  if (changed.length === 0) return undefined;
  const shown = changed.slice(0, 5).join(', ') + (changed.length > 5 ? `, … (${changed.length} in all)` : '');
  return `the compiled tree is older than its sources (changed: ${shown})`;
}

const why = stale();
if (why !== undefined) {
  process.stderr.write(`hatake: ${why}; run \`npm run build\`\n`);
  process.exit(STALE_EXIT);
}
const { main, endQuietlyOnClosedPipe } = await import('./main.ts');
endQuietlyOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
