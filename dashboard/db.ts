// The server's own SQLite database: accounts, sessions, gateways, farms, fields, devices — and,
// in the embedded default, the time series too (dashboard/storage/sqlite.ts).
import { openDatabase, type Db } from '../runtime/sqlite.ts';

const MIGRATIONS = [
  `
  CREATE TABLE users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('farmer', 'officer', 'partner', 'admin')),
    farms TEXT NOT NULL DEFAULT '[]', regions TEXT NOT NULL DEFAULT '[]', created INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL
  );
  CREATE TABLE gateways (
    id TEXT PRIMARY KEY, farm TEXT NOT NULL, token_hash TEXT NOT NULL, created INTEGER NOT NULL,
    revoked INTEGER, last_sync INTEGER, acked_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE farms (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT, timezone TEXT NOT NULL DEFAULT 'Asia/Tokyo'
  );
  CREATE TABLE fields (
    farm TEXT NOT NULL REFERENCES farms(id), id TEXT NOT NULL, name TEXT NOT NULL, crop TEXT, doc TEXT NOT NULL,
    PRIMARY KEY (farm, id)
  );
  CREATE TABLE devices (
    farm TEXT NOT NULL REFERENCES farms(id), id TEXT NOT NULL, field TEXT, kit TEXT, name TEXT,
    last_seen INTEGER, online INTEGER, PRIMARY KEY (farm, id)
  );
  `,
  `
  CREATE TABLE events (
    gateway TEXT NOT NULL, farm TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL,
    time INTEGER NOT NULL, device TEXT, message TEXT NOT NULL, detail TEXT,
    PRIMARY KEY (gateway, id)
  );
  CREATE INDEX events_by_farm ON events (farm, time);
  `,
  `
  ALTER TABLE gateways ADD COLUMN version TEXT;
  ALTER TABLE gateways ADD COLUMN backlog INTEGER;
  ALTER TABLE gateways ADD COLUMN backlog_bytes INTEGER;
  ALTER TABLE gateways ADD COLUMN oldest_age_ms INTEGER;
  ALTER TABLE gateways ADD COLUMN clock_offset_ms REAL;
  ALTER TABLE gateways ADD COLUMN downlink_version INTEGER;
  ALTER TABLE gateways ADD COLUMN status_at INTEGER;
  CREATE TABLE aggregates (
    farm TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL, hour INTEGER NOT NULL, part TEXT NOT NULL,
    unit TEXT NOT NULL, min REAL NOT NULL, max REAL NOT NULL, mean REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (farm, device, metric, hour, part)
  ) WITHOUT ROWID;
  `,
  // A gateway's reports about the downlink documents it applied or refused, by the document's kind
  // (the health view's newest report about the configuration sent down, however many alerts
  // followed it). Partial and on json_valid rows only, so no event can fail to be written for it.
  `
  CREATE INDEX events_downlink_reports ON events (gateway, json_extract(detail, '$.kind'), time)
    WHERE type IN ('downlink_applied', 'downlink_refused') AND json_valid(detail);
  `,
  // The same reports by farm and document (an automation's outcome on the farm's gateways: a few
  // index rows, however many other events the farm has).
  `
  CREATE INDEX events_downlink_by_doc ON events
    (farm, json_extract(detail, '$.kind'), json_extract(detail, '$.id'), time)
    WHERE type IN ('downlink_applied', 'downlink_refused') AND json_valid(detail);
  `,
  // A gateway's newest backlog report (the health view): without it the lookup walked every event
  // of the farm newer than the last report, or all of them for a gateway that never sent one.
  `
  CREATE INDEX events_backlog_reports ON events (gateway, farm, time) WHERE type = 'backlog_report';
  `,
];

export function openServerDb(file: string): Db {
  return openDatabase(file, MIGRATIONS);
}
