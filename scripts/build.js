// `npm run build` (also run by `npm ci` through `prepare`, and by `npm start`): compiles the
// TypeScript sources into dist/, the tree a gateway runs in production (dist/hatake.mjs). From
// sources, every start goes through tsx's loader — a transform at each boot and a loader thread
// of its own (about 30 MB resident, docs/benchmarks.md); the compiled tree needs neither.
//
// One ESM bundle of our code, split in chunks so that commands load only what they use; packages
// stay in node_modules (native addons, and no second copy of anything). Files found at run time
// by `new URL(…, import.meta.url)` — kit definitions, model artifacts, plain-JS workers, the web
// app — stay in the source tree: each module's `import.meta.url` is rewritten to its source file's
// URL, relative to the bundle, so the tree moves as a whole. `import.meta.hatakeDist` is the
// bundle's own URL (undefined when running from sources): the compiled inference worker is found
// by it. dist/build.json records every source file bundled, its size and modification time;
// dist/hatake.mjs refuses to start when one has changed since (runtime/build-info.ts).
//
//   node scripts/build.js [--out DIR]
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'dist') } } });
const OUT = resolve(values.out);

/** A path from the output directory, with forward slashes (a URL path relative to the bundle). */
const fromOut = (path) => relative(OUT, path).split(sep).join('/');

const sourceImportMeta = {
  name: 'hatake-source-import-meta',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.')) return undefined;
      // Anything else of import.meta would silently mean the bundle's location: refuse it.
      const other = /import\.meta\.(?!url\b|hatakeDist\b)(\w+)/.exec(text);
      if (other)
        return {
          errors: [{ text: `import.meta.${other[1]} is not supported by the build (use import.meta.url)` }],
        };
      const contents = text.replace(/import\.meta\.(url|hatakeDist)\b/g, (_, name) =>
        name === 'url'
          ? `new URL(${JSON.stringify(fromOut(args.path))}, import.meta.url).href`
          : 'import.meta.url',
      );
      return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
    });
  },
};

const started = performance.now();
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const result = await build({
  entryPoints: {
    hatake: join(ROOT, 'cli/built.ts'),
    'inference-worker': join(ROOT, 'edge/inference/worker.ts'),
  },
  outdir: OUT,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  // hatake.mjs is a command (`/usr/local/bin/hatake` may link to it); harmless on the chunks.
  banner: { js: '#!/usr/bin/env node' },
  metafile: true,
  logLevel: 'warning',
  plugins: [sourceImportMeta],
});
chmodSync(join(OUT, 'hatake.mjs'), 0o755);
const inputs = {};
for (const path of Object.keys(result.metafile.inputs).sort()) {
  const abs = resolve(ROOT, path);
  const st = statSync(abs);
  inputs[fromOut(abs)] = { size: st.size, mtimeMs: st.mtimeMs };
}
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
writeFileSync(
  join(OUT, 'build.json'),
  `${JSON.stringify({ version, node: process.version, builtAt: new Date().toISOString(), inputs }, null, 1)}\n`,
);
console.log(
  `hatake: built ${fromOut(join(OUT, 'hatake.mjs'))} from ${Object.keys(inputs).length} sources in ${Math.round(performance.now() - started)} ms`,
);
