// A server database from before readings and gateway aggregates carried field and kit labels:
// opening the store adds the columns and labels the old rows by the current devices, so a field's
// roll-ups count them, and opening it again changes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openServerDb } from '../../dashboard/db.ts';
import { SqliteReadingStore } from '../../dashboard/storage/sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-labels-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('labels old readings and aggregates by the current devices and indexes them by metric', async () => {
  const file = join(dir, 'server.db');
  const HOUR = 3_600_000;
  const h0 = Date.UTC(2026, 5, 1, 6);
  {
    const db = openServerDb(file);
    // The tables as an older server made them (its migrations may have made them already).
    db.exec(`
      DROP TABLE IF EXISTS readings;
      DROP TABLE IF EXISTS aggregates;
      CREATE TABLE readings (
        farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, time INTEGER NOT NULL,
        value REAL NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL,
        PRIMARY KEY (farm, device, metric, time)
      ) WITHOUT ROWID;
      CREATE TABLE aggregates (
        farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, hour INTEGER NOT NULL, part TEXT NOT NULL,
        unit TEXT NOT NULL, min REAL NOT NULL, max REAL NOT NULL, mean REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (farm, device, metric, hour, part)
      ) WITHOUT ROWID;
      INSERT INTO farms (id, name) VALUES ('f', 'F');
      INSERT INTO devices (farm, id, field, kit) VALUES ('f', 'soil-1', 'upland-1', 'hatake-soil-probe');
    `);
    db.prepare('INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      'f',
      'soil-1',
      'soil_vwc',
      h0 + 60_000,
      0.3,
      'm3/m3',
      '[]',
    );
    db.prepare('INSERT INTO aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      'f',
      'soil-1',
      'soil_vwc',
      h0 + HOUR,
      '1',
      'm3/m3',
      0.2,
      0.4,
      0.25,
      60,
    );
    db.close();
  }
  for (let open = 0; open < 2; open++) {
    const db = openServerDb(file);
    const store = new SqliteReadingStore(db);
    expect(db.prepare('SELECT field, kit FROM readings').all()).toEqual([
      { field: 'upland-1', kit: 'hatake-soil-probe' },
    ]);
    expect(db.prepare('SELECT field, kit FROM aggregates').all()).toEqual([
      { field: 'upland-1', kit: 'hatake-soil-probe' },
    ]);
    const indexes = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]
    ).map((r) => r.name);
    expect(indexes).toEqual(expect.arrayContaining(['readings_by_metric', 'aggregates_by_metric']));
    const hours = await store.rollups({
      farm: 'f',
      field: 'upland-1',
      metric: 'soil_vwc',
      from: h0,
      to: h0 + 2 * HOUR,
    });
    expect(hours.map((r) => [r.hour, r.count])).toEqual([
      [h0, 1],
      [h0 + HOUR, 60],
    ]);
    db.close();
  }
});
