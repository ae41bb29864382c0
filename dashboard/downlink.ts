// Downlink documents: what the server sends to a farm's gateways — device manifest, gateway
// config, model artifacts, approved recommendations, automations, manual overrides. Each document
// has a kind and an id; every change gets a new, farm-wide increasing version, so a gateway asks
// "everything after version N" and applies each atomically.
import type { Db } from '../runtime/sqlite.ts';
import type { LiveHub } from './live.ts';

export type DownlinkKind =
  | 'manifest'
  | 'registry'
  | 'config'
  | 'model'
  | 'scene'
  | 'recommendation'
  | 'automation'
  | 'override'
  | 'stage';

export interface DownlinkDocument {
  farm: string;
  kind: DownlinkKind;
  id: string;
  version: number;
  body: unknown;
  /** The exact text the signature covers (the body as JSON). */
  bodyJson: string;
  /** ed25519 signature (base64) of the canonical body, by the server's key, when signed. */
  signature: string | null;
  created: number;
  /** True when the document withdraws an earlier one (e.g. a deleted automation). */
  deleted: boolean;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS downlink (
    farm TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
    body TEXT NOT NULL, signature TEXT, created INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (farm, kind, id)
  );
  CREATE INDEX IF NOT EXISTS downlink_by_version ON downlink (farm, version);
`;

export class Downlink {
  private readonly db: Db;
  private readonly live: LiveHub | undefined;
  /** Signs a document body; set by the server when it has a signing key. */
  sign: ((canonical: string) => string) | undefined;

  constructor(db: Db, live?: LiveHub) {
    this.db = db;
    this.live = live;
    db.exec(SCHEMA);
  }

  /** Publishes (or replaces) a document for a farm's gateways; returns its new version. */
  publish(
    farm: string,
    kind: DownlinkKind,
    id: string,
    body: unknown,
    opts: { deleted?: boolean } = {},
  ): number {
    const canonical = JSON.stringify(body);
    const version = this.db.transaction(() => {
      const v =
        ((
          this.db.prepare('SELECT MAX(version) AS v FROM downlink WHERE farm = ?').get(farm) as {
            v: number | null;
          }
        ).v ?? 0) + 1;
      this.db
        .prepare(
          `INSERT INTO downlink (farm, kind, id, version, body, signature, created, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (farm, kind, id) DO UPDATE SET version = excluded.version, body = excluded.body,
             signature = excluded.signature, created = excluded.created, deleted = excluded.deleted`,
        )
        .run(
          farm,
          kind,
          id,
          v,
          canonical,
          this.sign ? this.sign(canonical) : null,
          Date.now(),
          opts.deleted ? 1 : 0,
        );
      return v;
    })();
    this.live?.emit('downlink', { farm, version });
    return version;
  }

  /** Every document of a farm newer than `after`, oldest first. */
  since(farm: string, after: number, limit = 500): DownlinkDocument[] {
    return (
      this.db
        .prepare('SELECT * FROM downlink WHERE farm = ? AND version > ? ORDER BY version LIMIT ?')
        .all(farm, after, limit) as {
        farm: string;
        kind: DownlinkKind;
        id: string;
        version: number;
        body: string;
        signature: string | null;
        created: number;
        deleted: number;
      }[]
    ).map((r) => ({ ...r, body: JSON.parse(r.body) as unknown, bodyJson: r.body, deleted: r.deleted === 1 }));
  }

  /** The current document of a kind and id, if any. */
  get(farm: string, kind: DownlinkKind, id: string): DownlinkDocument | undefined {
    const r = this.db
      .prepare('SELECT version FROM downlink WHERE farm = ? AND kind = ? AND id = ?')
      .get(farm, kind, id) as { version: number } | undefined;
    return r ? this.since(farm, r.version - 1, 1)[0] : undefined;
  }

  /** The farm's latest version (0 when nothing was ever sent). */
  latestVersion(farm: string): number {
    return (
      (
        this.db.prepare('SELECT MAX(version) AS v FROM downlink WHERE farm = ?').get(farm) as {
          v: number | null;
        }
      ).v ?? 0
    );
  }
}
