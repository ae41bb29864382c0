// Builds the dashboard's web app (Preact + Leaflet + uPlot) into dashboard/public, which the
// server serves as static files. Everything is bundled: no CDN, no web fonts, nothing fetched at
// run time. `npm run build:ui` runs it; `npm run dev:ui` serves it with the API proxied.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../public/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
    manifest: 'build-manifest.json',
  },
  server: { proxy: { '/api': 'http://localhost:8080', '/docs': 'http://localhost:8080' } },
});
