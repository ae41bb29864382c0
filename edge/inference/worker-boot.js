// Worker-thread entry. From sources the gateway runs TypeScript through tsx, and a worker starts
// without its parent's module loader — so register tsx here, then load the real worker. The
// compiled tree (scripts/build.js) hands over its JavaScript worker, which needs no loader.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) (await import('tsx/esm/api')).register();
await import(workerData.entry);
