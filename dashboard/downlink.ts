// Downlink documents: what the server sends to a farm's gateways — device manifest, gateway
// config, model artifacts, approved recommendations, automations, manual overrides. Each document
// has a kind and an id; every change gets a new, farm-wide increasing version, so a gateway asks
// "everything after version N" and applies each atomically. The signature covers the whole
// document — farm, kind, id, version, withdrawal and body (protocol/downlink.ts) — not the body
// alone, so nothing of it can be changed on the way.
import { DOWNLINK_SIGNED_AS, downlinkSigningText, type DownlinkWireDocument } from '../protocol/downlink.ts';
import { migrate, type Db } from '../runtime/sqlite.ts';
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
  /** The body as JSON text, byte for byte as the signature's envelope holds it. */
  bodyJson: string;
  /** ed25519 signature (base64) by the server's key of the document's envelope
   * (downlinkSigningText: farm, kind, id, version, deleted, body), when signed. */
  signature: string | null;
  created: number;
  /** True when the document withdraws an earlier one (e.g. a deleted automation). */
  deleted: boolean;
}

/** A document as the downlink page sends it to a gateway (GET /api/v1/gateways/me/downlink). */
export function wireDocument(d: DownlinkDocument): DownlinkWireDocument {
  return {
    kind: d.kind,
    id: d.id,
    version: d.version,
    bodyJson: d.bodyJson,
    signature: d.signature,
    deleted: d.deleted,
  };
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS downlink (
    farm TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
    body TEXT NOT NULL, signature TEXT, created INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (farm, kind, id)
  );
  CREATE INDEX IF NOT EXISTS downlink_by_version ON downlink (farm, version);
`;

/**
 * `signed_as`: the layout the stored signature covers (DOWNLINK_SIGNED_AS), NULL for a row signed
 * before the envelope, when the signature covered the body alone. Such rows are signed again as
 * they are served (`since`), if their old signature is still the one the key makes for their body.
 */
const MIGRATIONS = ['ALTER TABLE downlink ADD COLUMN signed_as TEXT'];

interface Row {
  farm: string;
  kind: DownlinkKind;
  id: string;
  version: number;
  body: string;
  signature: string | null;
  signed_as: string | null;
  created: number;
  deleted: number;
}

export class Downlink {
  private readonly db: Db;
  private readonly live: LiveHub | undefined;
  /** Signs a text (a document's envelope, downlinkSigningText); set by the server when it has a
   * signing key. ed25519 is deterministic: the same key signs the same text the same way. */
  sign: ((text: string) => string) | undefined;

  constructor(db: Db, live?: LiveHub) {
    this.db = db;
    this.live = live;
    db.exec(SCHEMA);
    migrate(db, 'downlink', MIGRATIONS);
  }

  /** Publishes (or replaces) a document for a farm's gateways; returns its new version. */
  publish(
    farm: string,
    kind: DownlinkKind,
    id: string,
    body: unknown,
    opts: { deleted?: boolean } = {},
  ): number {
    const bodyJson = JSON.stringify(body);
    const deleted = opts.deleted === true;
    const version = this.db.transaction(() => {
      const v =
        ((
          this.db.prepare('SELECT MAX(version) AS v FROM downlink WHERE farm = ?').get(farm) as {
            v: number | null;
          }
        ).v ?? 0) + 1;
      // A withdrawal's body is the same `{}` for every document: only the envelope tells them apart.
      const signature = this.sign
        ? this.sign(downlinkSigningText({ farm, kind, id, version: v, deleted, bodyJson }))
        : null;
      this.db
        .prepare(
          `INSERT INTO downlink (farm, kind, id, version, body, signature, signed_as, created, deleted)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (farm, kind, id) DO UPDATE SET version = excluded.version, body = excluded.body,
             signature = excluded.signature, signed_as = excluded.signed_as, created = excluded.created,
             deleted = excluded.deleted`,
        )
        .run(
          farm,
          kind,
          id,
          v,
          bodyJson,
          signature,
          signature === null ? null : DOWNLINK_SIGNED_AS,
          Date.now(),
          deleted ? 1 : 0,
        );
      return v;
    })();
    this.live?.emit('downlink', { farm, version });
    return version;
  }

  /** Every document of a farm newer than `after`, oldest first. */
  since(farm: string, after: number, limit = 500): DownlinkDocument[] {
    const rows = this.db
      .prepare('SELECT * FROM downlink WHERE farm = ? AND version > ? ORDER BY version LIMIT ?')
      .all(farm, after, limit) as Row[];
    return rows.map((stored) => {
      const { signed_as: _, ...r } = this.envelopeSigned(stored);
      return { ...r, body: JSON.parse(r.body) as unknown, bodyJson: r.body, deleted: r.deleted === 1 };
    });
  }

  /**
   * A row signed before the envelope (its signature covers the body alone), signed again over its
   * envelope and kept so — but only if its signature is still the one this key makes for its body
   * (ed25519 signs deterministically): a body changed in the store since keeps the signature it
   * has, which no gateway accepts. Gateways take envelope signatures only: without this, every
   * document published before the change would wait on them for ever.
   */
  private envelopeSigned(r: Row): Row {
    if (r.signed_as !== null || r.signature === null || !this.sign) return r;
    if (this.sign(r.body) !== r.signature) return r;
    const signature = this.sign(
      downlinkSigningText({
        farm: r.farm,
        kind: r.kind,
        id: r.id,
        version: r.version,
        deleted: r.deleted === 1,
        bodyJson: r.body,
      }),
    );
    this.db
      .prepare(
        `UPDATE downlink SET signature = ?, signed_as = ?
         WHERE farm = ? AND kind = ? AND id = ? AND version = ? AND signed_as IS NULL`,
      )
      .run(signature, DOWNLINK_SIGNED_AS, r.farm, r.kind, r.id, r.version);
    return { ...r, signature, signed_as: DOWNLINK_SIGNED_AS };
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
