// The ReadingStore contract against InfluxDB 1.x: a real influxd (Debian's `influxdb` package)
// started for this file on free ports, reached through the server's own store factory.
import { afterAll, beforeAll } from 'vitest';
import { createReadingStore } from '../../dashboard/storage/index.ts';
import { startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { quietLog } from '../helpers/stack.ts';
import { readingStoreContract } from './reading-store.contract.ts';

let influxd: Influxd;
beforeAll(async () => {
  influxd = await startInfluxd();
});
afterAll(async () => {
  await influxd?.destroy();
});

readingStoreContract('InfluxDB 1.x', (db) =>
  createReadingStore({ kind: 'influx', url: influxd.url, database: 'hatake_contract' }, db, quietLog()),
);
