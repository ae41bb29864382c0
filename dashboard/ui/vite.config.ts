// Builds the dashboard's web app (Preact + Leaflet + uPlot) into dashboard/public, which the
// server serves as static files. Everything is bundled: no CDN, no web fonts, nothing fetched at
// run time. `npm run build:ui` runs it; `npm run dev:ui` serves it with the API proxied.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../public/', import.meta.url));

/**
 * Writes a Brotli (.br) and a gzip (.gz) copy beside every text file of the build, compressed once
 * here at their best settings, so the server sends them as they are (@fastify/static's
 * `preCompressed`) to a phone on a slow rural link instead of compressing per request or not at
 * all. A copy that would not be smaller is not written.
 */
function precompress(): Plugin {
  return {
    name: 'hatake-precompress',
    apply: 'build',
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const file of walk(outDir)) {
        if (!/\.(html|js|css|svg|json)$/.test(file)) continue;
        const raw = readFileSync(file);
        const br = brotliCompressSync(raw, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
        });
        const gz = gzipSync(raw, { level: 9 });
        if (br.length < raw.length) writeFileSync(`${file}.br`, br);
        if (gz.length < raw.length) writeFileSync(`${file}.gz`, gz);
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  plugins: [precompress()],
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
    manifest: 'build-manifest.json',
  },
  server: { proxy: { '/api': 'http://localhost:8080', '/docs': 'http://localhost:8080' } },
});
