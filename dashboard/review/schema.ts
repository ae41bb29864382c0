// The review feature's own tables (runtime/sqlite.ts `migrate`, module "review"): recommendations
// under review, the append-only audit log (triggers refuse UPDATE and DELETE, and each row is
// chained to the previous one by sha256), auto-approval policies, tips, automations and their
// logs, manual overrides, and the durable webhook queue.
import { migrate, type Db } from '../../runtime/sqlite.ts';

const MIGRATIONS = [
  `
  CREATE TABLE review_recommendations (
    farm TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL, crop TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending_review', 'edited', 'approved', 'rejected', 'superseded')),
    model TEXT NOT NULL, created_at INTEGER NOT NULL, received_at INTEGER NOT NULL, gateway TEXT NOT NULL,
    area_ha REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 0,
    decided_by TEXT, decided_at INTEGER, auto_approved INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL, original TEXT NOT NULL,
    PRIMARY KEY (farm, id)
  );
  CREATE INDEX review_recommendations_by_status ON review_recommendations (status, created_at);
  CREATE INDEX review_recommendations_by_field ON review_recommendations (farm, field, status);

  CREATE TABLE review_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL, farm TEXT NOT NULL, recommendation TEXT,
    actor TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL,
    from_status TEXT, to_status TEXT, changes TEXT NOT NULL, reason TEXT,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
  );
  CREATE INDEX review_audit_by_rec ON review_audit (farm, recommendation, seq);
  CREATE INDEX review_audit_by_time ON review_audit (at);
  CREATE TRIGGER review_audit_no_update BEFORE UPDATE ON review_audit
    BEGIN SELECT RAISE(ABORT, 'review_audit is append-only'); END;
  CREATE TRIGGER review_audit_no_delete BEFORE DELETE ON review_audit
    BEGIN SELECT RAISE(ABORT, 'review_audit is append-only'); END;

  CREATE TABLE review_auto_approval (
    farm TEXT PRIMARY KEY, model TEXT NOT NULL, max_kg_n_ha REAL NOT NULL,
    set_by TEXT NOT NULL, set_at INTEGER NOT NULL
  );

  CREATE TABLE tips (
    farm TEXT NOT NULL, id TEXT NOT NULL, dedup_key TEXT NOT NULL, kind TEXT NOT NULL,
    severity TEXT NOT NULL, field TEXT, created INTEGER NOT NULL, expires INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acted', 'dismissed', 'automated', 'superseded', 'duplicate')),
    state_by TEXT, state_at INTEGER, automation TEXT, gateway TEXT NOT NULL, received INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (farm, id)
  );
  CREATE INDEX tips_by_key ON tips (farm, dedup_key, created);
  CREATE INDEX tips_by_farm ON tips (farm, state, created);

  CREATE TABLE automations (
    id TEXT PRIMARY KEY, farm TEXT NOT NULL, version INTEGER NOT NULL, enabled INTEGER NOT NULL,
    doc TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL, updated_at INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX automations_by_farm ON automations (farm, deleted);

  CREATE TABLE automation_logs (
    farm TEXT NOT NULL, id TEXT NOT NULL, automation TEXT NOT NULL, time INTEGER NOT NULL,
    event TEXT NOT NULL, device TEXT, message TEXT NOT NULL, detail TEXT,
    gateway TEXT NOT NULL, received INTEGER NOT NULL,
    PRIMARY KEY (farm, id)
  );
  CREATE INDEX automation_logs_by_automation ON automation_logs (farm, automation, time);

  CREATE TABLE device_overrides (
    farm TEXT NOT NULL, device TEXT NOT NULL, mode TEXT NOT NULL, until INTEGER NOT NULL,
    by TEXT NOT NULL, set_at INTEGER NOT NULL,
    PRIMARY KEY (farm, device)
  );

  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, scope TEXT NOT NULL CHECK (scope IN ('farm', 'region')),
    farm TEXT, region TEXT, url TEXT NOT NULL, secret TEXT NOT NULL, events TEXT NOT NULL,
    created_by TEXT NOT NULL, created_at INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, event TEXT NOT NULL,
    event_id TEXT NOT NULL, body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER, last_status INTEGER, last_error TEXT,
    created INTEGER NOT NULL, delivered_at INTEGER,
    UNIQUE (webhook, event_id)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
  CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook, state, id);
  `,
  // An automation log's text in each language (AutomationLog.text, JSON); NULL from older gateways.
  `ALTER TABLE automation_logs ADD COLUMN text TEXT;`,
  // When the tip's condition ended (TipCleared from its gateway); NULL while it holds. A cleared
  // tip keeps the farmer's state (acted, automated …) but is no longer live.
  `ALTER TABLE tips ADD COLUMN cleared_at INTEGER;`,
  // The newer recommendation of the field that superseded this one (ReviewDetail.supersededBy);
  // NULL unless superseded. Rows superseded before the column existed get it from their history's
  // "superseded by …" note.
  `ALTER TABLE review_recommendations ADD COLUMN superseded_by TEXT;
  UPDATE review_recommendations SET superseded_by = (
    SELECT substr(json_extract(h.value, '$.note'), length('superseded by ') + 1)
    FROM json_each(review_recommendations.doc, '$.history') AS h
    WHERE json_extract(h.value, '$.status') = 'superseded'
      AND json_extract(h.value, '$.note') LIKE 'superseded by %'
    ORDER BY h.key DESC LIMIT 1
  ) WHERE status = 'superseded';`,
];

/** Creates or upgrades the review feature's tables. */
export function migrateReview(db: Db): void {
  migrate(db, 'review', MIGRATIONS);
}
