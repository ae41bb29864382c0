// Worker-thread entry: the gateway runs TypeScript through tsx with no build step, and a worker
// starts without its parent's module loader — so register tsx here, then load the real worker.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
