// The IT partner's provisioning in the browser: check a manifest (every problem at its line and
// column, as `hatake kit validate` reports them), then provision it — new device secrets, their
// config files, ESPHome snippets and QR codes, and the printable sheet — exactly as
// `hatake kit provision` does, without writing a secret anywhere on the server: the files go back
// in the response only. The server keeps the manifest text (each boundary file uploaded with it
// written inline, so the text read back is whole) and the registry (hashes only), and publishes
// both as downlink documents for the farm's gateways.
// Provisioning starts from every key the server knows for the farm: the registry it provisioned
// and the registries the farm's gateways synced (a gateway provisioned on the farm, by `hatake kit
// provision` or `hatake start`, has keys the server never made), so the devices working in the
// field keep their keys; the check says beforehand which devices keep theirs and which get new ones.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { isMap, isScalar, isSeq, visit } from 'yaml';
import { HatakeError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { Registry, type RegistryDevice, type RegistryProvider } from '../../protocol/registry.ts';
import { validator } from '../../protocol/validate.ts';
import type {
  KeyPreview,
  ManifestCheckResult,
  ManifestProblem,
  ProvisionRequest,
  ProvisionResult,
  StoredManifest,
} from '../../protocol/views.ts';
import type { Catalogue } from '../../firmware-config/catalogue.ts';
import {
  checkManifest,
  installedModels,
  manifestData,
  readManifestYaml,
  type InstalledModels,
} from '../../firmware-config/manifest-check.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import {
  configQrPng,
  deviceConfig,
  esphomeSnippet,
  sheetHtml,
  type SheetRow,
} from '../../firmware-config/firmware-files.ts';
import { keyPlan, provisionRegistry } from '../../firmware-config/provision.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';
import type { Downlink } from '../downlink.ts';
import type { GatewayIdentity } from '../auth.ts';
import { pointerOf } from '../../protocol/pointer.ts';

export const MANIFEST_FILE_NAME = 'manifest.yaml';
const registryValidator = validator(Registry);

export function migratePartner(db: Db): void {
  migrate(db, 'partner', PARTNER_MIGRATIONS);
}

/** The partner tables' migrations, in order (exported for the test of the history's backfill). */
export const PARTNER_MIGRATIONS: readonly string[] = [
  `
    CREATE TABLE partner_manifests (
      farm TEXT PRIMARY KEY, text TEXT NOT NULL, manifest TEXT NOT NULL, registry TEXT NOT NULL,
      updated INTEGER NOT NULL, by TEXT NOT NULL
    );
    `,
  // The registry each gateway last synced (hashes only), and when the server first heard each
  // device's present hash from it; the same times for the registry provisioned here (null in a
  // row from before: its devices' rotatedAt stand in).
  `
    CREATE TABLE partner_gateway_registries (
      farm TEXT NOT NULL, gateway TEXT NOT NULL, registry TEXT NOT NULL, heard TEXT NOT NULL,
      received INTEGER NOT NULL, PRIMARY KEY (farm, gateway)
    );
    ALTER TABLE partner_manifests ADD COLUMN heard TEXT;
    `,
  // Every key the server has known for a device, from any source, and when it first knew it: a
  // gateway's first sync cannot make a key the server knew before a rotation newer than the
  // rotation. Backfilled from what the server holds (the earliest time it recorded per key).
  `
  CREATE TABLE partner_key_history (
    farm TEXT NOT NULL, device TEXT NOT NULL, hash TEXT NOT NULL, first INTEGER NOT NULL,
    PRIMARY KEY (farm, device, hash)
  ) WITHOUT ROWID;
  INSERT INTO partner_key_history (farm, device, hash, first)
    SELECT farm, device, hash, MIN(t) FROM (
      SELECT r.farm AS farm, json_extract(d.value, '$.id') AS device,
        json_extract(d.value, '$.secretHash') AS hash,
        COALESCE(json_extract(r.heard, '$."' || json_extract(d.value, '$.id') || '"'), r.received) AS t
      FROM partner_gateway_registries r, json_each(r.registry, '$.devices') d
      WHERE json_extract(r.registry, '$.farm') = r.farm
      UNION ALL
      SELECT m.farm, json_extract(d.value, '$.id'), json_extract(d.value, '$.secretHash'),
        COALESCE(json_extract(m.heard, '$."' || json_extract(d.value, '$.id') || '"'), m.updated)
      FROM partner_manifests m, json_each(m.registry, '$.devices') d
      WHERE json_extract(m.registry, '$.farm') = m.farm
    ) WHERE device IS NOT NULL AND hash IS NOT NULL GROUP BY farm, device, hash;
  `,
];

const problemOf = (e: HatakeError): ManifestProblem => ({
  code: e.code,
  message: e.message,
  line: e.place?.line ?? null,
  column: e.place?.column ?? null,
  pointer: e.place?.pointer ?? null,
  expected: e.expected ?? null,
});

const NO_COUNTS = { fields: 0, devices: 0 };

/** The models and crop profiles the server ships: a field's `model` and `profile` must name them (read once). */
let shipped: InstalledModels | undefined;
const shippedModels = (): InstalledModels =>
  (shipped ??= installedModels(
    new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] }),
  ));

const isPathLike = (v: unknown): v is string => typeof v === 'string' && /\.(geo)?json$/i.test(v);

/**
 * Checks an uploaded manifest. Boundary files may be uploaded beside it (flat names); a boundary
 * that names a path with a folder is refused at its line, and is never read: the check runs in an
 * empty temporary folder, and such paths are replaced (same length, so every line and column
 * stays) before the shared checker sees the text.
 */
export function checkUpload(
  text: string,
  files: Record<string, string> | undefined,
  catalogue: Catalogue,
  now = Date.now(),
): {
  manifest: Manifest | undefined;
  problems: ManifestProblem[];
  /** How many fields and devices the document lists, whatever else is wrong with it. */
  counts: { fields: number; devices: number };
} {
  const { source, errors } = readManifestYaml(text, MANIFEST_FILE_NAME);
  if (errors.length) return { manifest: undefined, problems: errors.map(problemOf), counts: NO_COUNTS };
  const ranges: Array<[number, number]> = [];
  visit(source.doc, {
    Scalar(_key, node) {
      if (isPathLike(node.value) && /[\\/]/.test(node.value) && node.range)
        ranges.push([node.range[0], node.range[1]]);
    },
  });
  const refused: ManifestProblem[] = [];
  let raw: unknown;
  try {
    raw = manifestData(source);
  } catch (e) {
    return { manifest: undefined, problems: [problemOf(e as HatakeError)], counts: NO_COUNTS };
  }
  const fields = (raw as { fields?: unknown } | null)?.fields;
  const devices = (raw as { devices?: unknown } | null)?.devices;
  const counts = {
    fields: Array.isArray(fields) ? fields.length : 0,
    devices: Array.isArray(devices) ? devices.length : 0,
  };
  const refusedPointers = new Set<string>();
  if (Array.isArray(fields)) {
    fields.forEach((f: unknown, i) => {
      const b = (f as { boundary?: unknown } | null)?.boundary;
      if (isPathLike(b) && /[\\/]/.test(b)) refusedPointers.add(`/fields/${i}/boundary`);
    });
  }
  let safe = text;
  for (const [start, end] of ranges.sort((a, b) => b[0] - a[0])) {
    const original = text.slice(start, end);
    if (original.includes('\n') || end - start < 6) {
      refused.push({
        code: 'HATAKE_E_CONFIG',
        message: 'a boundary path must be written on one line',
        line: source.lines.linePos(start).line,
        column: source.lines.linePos(start).col,
        pointer: null,
        expected: 'the name of a boundary file uploaded with the manifest',
      });
      continue;
    }
    safe = safe.slice(0, start) + 'x'.repeat(end - start - 5) + '.json' + safe.slice(end);
  }
  if (refused.length) return { manifest: undefined, problems: refused, counts };
  const dir = mkdtempSync(join(tmpdir(), 'hatake-manifest-'));
  try {
    for (const [name, content] of Object.entries(files ?? {})) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name) || name === MANIFEST_FILE_NAME)
        throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', `file name "${name.slice(0, 100)}" is not allowed`, {
          place: { pointer: pointerOf('files', name.slice(0, 100)) },
          expected: 'a plain file name (letters, digits, . _ -), not manifest.yaml',
        });
      writeFileSync(join(dir, name), content);
    }
    const check = checkManifest(join(dir, MANIFEST_FILE_NAME), safe, {
      catalogue,
      now,
      models: shippedModels(),
    });
    const problems = check.problems.map((e) => {
      const p = problemOf(e);
      if (p.pointer && refusedPointers.has(p.pointer))
        return {
          ...p,
          message: `${p.pointer}: a boundary path with a folder cannot be read here`,
          expected:
            'upload the GeoJSON file with the manifest and give its plain name, or write the polygon inline',
        };
      return p;
    });
    return { manifest: check.manifest, problems, counts };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The check's answer; `keys`, given, previews the keys of a valid manifest (null: no preview,
 * e.g. a manifest of another farm, which provisioning refuses).
 */
export function checkResult(
  text: string,
  files: Record<string, string> | undefined,
  catalogue: Catalogue,
  keys?: (manifest: Manifest) => KeyPreview | null,
): ManifestCheckResult {
  const { manifest, problems, counts } = checkUpload(text, files, catalogue);
  const ok = manifest !== undefined && problems.length === 0;
  return { ok, problems, ...counts, keys: ok && keys ? keys(manifest) : null };
}

interface StoredRow {
  text: string;
  manifest: string;
  registry: string;
  updated: number;
}

/**
 * The manifest text as it is stored: each boundary given by the name of a file uploaded beside it
 * replaced by that file's polygon (from `manifest`, the checked manifest with its boundaries read),
 * written inline on the same line — a JSON flow mapping, with the file's name as a comment where
 * the line has room — so every other line keeps its number, and the text read back (to edit, check
 * or provision again, without the files) still has every field's boundary. The uploaded files are
 * not kept: the text is the whole manifest.
 */
export function inlineBoundaries(text: string, manifest: Manifest): string {
  const { source, errors } = readManifestYaml(text, MANIFEST_FILE_NAME);
  if (errors.length) return text;
  const fields = source.doc.get('fields', true);
  if (!isSeq(fields)) return text;
  const edits: Array<{ start: number; end: number; text: string }> = [];
  fields.items.forEach((item, i) => {
    if (!isMap(item)) return;
    const node = item.get('boundary', true);
    const field = manifest.fields[i];
    if (!isScalar(node) || !isPathLike(node.value) || !node.range || !field) return;
    if (field.id !== item.get('id') || !field.boundary || typeof field.boundary !== 'object') return;
    const [start, end] = node.range;
    const lineEnd = text.indexOf('\n', end);
    const rest = text.slice(end, lineEnd === -1 ? text.length : lineEnd);
    const polygon = JSON.stringify(field.boundary);
    edits.push({ start, end, text: /^[ \t]*\r?$/.test(rest) ? `${polygon} # ${node.value}` : polygon });
  });
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start))
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** The manifest text last provisioned here, or one rebuilt from what the gateway synced. */
export function storedManifest(db: Db, farm: string): StoredManifest {
  const row = db.prepare('SELECT text, manifest, updated FROM partner_manifests WHERE farm = ?').get(farm) as
    Pick<StoredRow, 'text' | 'manifest' | 'updated'> | undefined;
  // A text stored before boundaries were inlined gets them now, from the manifest stored with it.
  if (row)
    return {
      text: inlineBoundaries(row.text, JSON.parse(row.manifest) as Manifest),
      source: 'provisioned',
      updated: new Date(row.updated).toISOString(),
    };
  const f = db.prepare('SELECT id, name, region, timezone FROM farms WHERE id = ?').get(farm) as
    { id: string; name: string; region: string | null; timezone: string } | undefined;
  if (!f) return { text: '', source: 'none', updated: null };
  const fields = (
    db.prepare('SELECT doc FROM fields WHERE farm = ? ORDER BY id').all(farm) as { doc: string }[]
  ).map((r) => JSON.parse(r.doc) as unknown);
  const devices = (
    db
      .prepare('SELECT id, kit, field, name FROM devices WHERE farm = ? AND kit IS NOT NULL ORDER BY id')
      .all(farm) as {
      id: string;
      kit: string;
      field: string | null;
      name: string | null;
    }[]
  ).map((d) => ({
    id: d.id,
    kit: d.kit,
    ...(d.field ? { field: d.field } : {}),
    ...(d.name ? { name: d.name } : {}),
  }));
  const doc = {
    farm: { id: f.id, name: f.name, ...(f.region ? { region: f.region } : {}), timezone: f.timezone },
    fields,
    devices,
  };
  // JSON is YAML: the partner edits it in the same box.
  return { text: `${JSON.stringify(doc, null, 2)}\n`, source: 'synced', updated: null };
}

/** Device positions from the manifest provisioned here (the synced device rows have none). */
export function devicePositions(db: Db, farm: string): Map<string, [number, number]> {
  const row = db.prepare('SELECT manifest FROM partner_manifests WHERE farm = ?').get(farm) as
    { manifest: string } | undefined;
  const out = new Map<string, [number, number]>();
  if (!row) return out;
  for (const d of (JSON.parse(row.manifest) as Manifest).devices) if (d.position) out.set(d.id, d.position);
  return out;
}

/** The registry provisioned here for a farm (hashes only), if any. */
export function storedRegistry(db: Db, farm: string): Registry | undefined {
  const row = db.prepare('SELECT registry FROM partner_manifests WHERE farm = ?').get(farm) as
    { registry: string } | undefined;
  if (!row) return undefined;
  const parsed: unknown = JSON.parse(row.registry);
  return registryValidator.check(parsed) ? parsed : undefined;
}

/** Per device id, when the server first knew its present hash (epoch ms, server clock). */
type Heard = Record<string, number>;

const parseHeard = (text: string | null): Heard => {
  if (!text) return {};
  const v: unknown = JSON.parse(text);
  return v && typeof v === 'object' ? (v as Heard) : {};
};

/**
 * Stores the registries a gateway synced (its sync applier; idempotent: a resent registry changes
 * no time). Each device's hash keeps the time the server first heard it from this gateway, so a
 * gateway that has not yet applied a key rotated here cannot undo it with its older key.
 */
export function applyGatewayRegistries(
  db: Db,
  gateway: GatewayIdentity,
  now: number,
  bodies: readonly Registry[],
): void {
  const get = db.prepare(
    'SELECT registry, heard FROM partner_gateway_registries WHERE farm = ? AND gateway = ?',
  );
  const put = db.prepare(
    `INSERT INTO partner_gateway_registries (farm, gateway, registry, heard, received) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (farm, gateway) DO UPDATE SET registry = excluded.registry, heard = excluded.heard,
       received = excluded.received`,
  );
  for (const registry of bodies) {
    const row = get.get(gateway.farm, gateway.id) as { registry: string; heard: string } | undefined;
    const before = new Map(
      row ? (JSON.parse(row.registry) as Registry).devices.map((d) => [d.id, d.secretHash]) : [],
    );
    const heardBefore = parseHeard(row?.heard ?? null);
    const heard: Heard = {};
    for (const d of registry.devices)
      if (d.secretHash) heard[d.id] = before.get(d.id) === d.secretHash ? (heardBefore[d.id] ?? now) : now;
    put.run(gateway.farm, gateway.id, JSON.stringify(registry), JSON.stringify(heard), now);
    if (registry.farm === gateway.farm) rememberKeys(db, registry, heard);
  }
}

/** Notes each device's key in the farm's key history (a key already there keeps its first time). */
function rememberKeys(db: Db, registry: Registry, heard: Heard): void {
  const add = db.prepare(
    'INSERT OR IGNORE INTO partner_key_history (farm, device, hash, first) VALUES (?, ?, ?, ?)',
  );
  for (const d of registry.devices)
    if (d.secretHash && heard[d.id] !== undefined) add.run(registry.farm, d.id, d.secretHash, heard[d.id]);
}

/** Every key the server knows for a farm, one per device: see knownKeys. */
export interface KnownKeys {
  /** The registry provisioning starts from; undefined when the server knows none. */
  registry: Registry | undefined;
  /** Where each device's key comes from. */
  from: Map<string, 'server' | 'gateway'>;
  /** When the server first knew each device's key. */
  heard: Heard;
  /** When the newest registry a gateway of the farm synced arrived; null: none has. */
  gatewayAt: number | null;
}

interface Candidate {
  device: RegistryDevice;
  at: number;
  from: 'server' | 'gateway';
}

/**
 * The registry provisioned here and those the farm's gateways (not revoked) synced, merged: for
 * each device, the key the server came to know last — a key rotated here wins over a gateway's
 * older one until the gateway applies it; a key made on the farm after wins over this server's
 * (on a tie, the gateway's: what the devices use). The times are all the server's clock, and a
 * key counts from when the server first knew it from any source (its key history), so a gateway
 * syncing for the first time cannot make a key from before a rotation here newer than it. The
 * clients that are not devices (imagery providers) are only ever made on the farm: the gateways'.
 */
export function knownKeys(db: Db, farm: string): KnownKeys {
  const own = db
    .prepare('SELECT registry, heard, updated FROM partner_manifests WHERE farm = ?')
    .get(farm) as { registry: string; heard: string | null; updated: number } | undefined;
  const synced = db
    .prepare(
      `SELECT r.registry, r.heard, r.received FROM partner_gateway_registries r
       JOIN gateways g ON g.id = r.gateway AND g.farm = r.farm
       WHERE r.farm = ? AND g.revoked IS NULL ORDER BY r.received`,
    )
    .all(farm) as { registry: string; heard: string; received: number }[];
  // When the server first knew each key, from whichever source: a key a gateway syncs for the
  // first time is as old as the server's first knowledge of it.
  const first = new Map(
    (
      db.prepare('SELECT device, hash, first FROM partner_key_history WHERE farm = ?').all(farm) as {
        device: string;
        hash: string;
        first: number;
      }[]
    ).map((r) => [`${r.device}\n${r.hash}`, r.first]),
  );
  const best = new Map<string, Candidate>();
  const offer = (c: Candidate) => {
    const known = c.device.secretHash ? first.get(`${c.device.id}\n${c.device.secretHash}`) : undefined;
    if (known !== undefined && known < c.at) c = { ...c, at: known };
    const had = best.get(c.device.id);
    const better =
      !had ||
      (c.device.secretHash !== undefined && had.device.secretHash === undefined) ||
      ((c.device.secretHash === undefined) === (had.device.secretHash === undefined) &&
        (c.at > had.at || (c.at === had.at && c.from === 'gateway')));
    if (better) best.set(c.device.id, c);
  };
  let providers: RegistryProvider[] | undefined;
  const ownRegistry = own ? parsedRegistry(own.registry) : undefined;
  if (own && ownRegistry?.farm === farm) {
    const heard = parseHeard(own.heard);
    for (const d of ownRegistry.devices) {
      const rotated = d.rotatedAt ? Date.parse(d.rotatedAt) : NaN;
      offer({
        device: d,
        at: heard[d.id] ?? (Number.isFinite(rotated) ? rotated : own.updated),
        from: 'server',
      });
    }
    providers = ownRegistry.providers;
  }
  let gatewayAt: number | null = null;
  const fromGateways = new Map<string, RegistryProvider>();
  for (const row of synced) {
    const registry = parsedRegistry(row.registry);
    if (registry?.farm !== farm) continue;
    gatewayAt = row.received;
    const heard = parseHeard(row.heard);
    for (const d of registry.devices) offer({ device: d, at: heard[d.id] ?? row.received, from: 'gateway' });
    for (const p of registry.providers ?? []) fromGateways.set(p.id, p);
  }
  if (gatewayAt !== null) providers = fromGateways.size ? [...fromGateways.values()] : undefined;
  if (best.size === 0 && !providers) return { registry: undefined, from: new Map(), heard: {}, gatewayAt };
  const chosen = [...best.values()];
  return {
    registry: {
      farm,
      devices: chosen.map((c) => c.device),
      ...(providers?.length ? { providers } : {}),
    },
    from: new Map(chosen.map((c) => [c.device.id, c.from])),
    heard: Object.fromEntries(chosen.map((c) => [c.device.id, c.at])),
    gatewayAt,
  };
}

const parsedRegistry = (text: string): Registry | undefined => {
  const parsed: unknown = JSON.parse(text);
  return registryValidator.check(parsed) ? parsed : undefined;
};

/** Which keys provisioning `manifest` for `farm` would keep and issue now, and who would be cut off. */
export function keyPreview(db: Db, farm: string, manifest: Manifest, catalogue: Catalogue): KeyPreview {
  const known = knownKeys(db, farm);
  const plan = keyPlan(manifest, known.registry, { catalogue });
  const rows = new Map(
    (
      db.prepare('SELECT id, last_seen, online FROM devices WHERE farm = ?').all(farm) as {
        id: string;
        last_seen: number | null;
        online: number | null;
      }[]
    ).map((r) => [r.id, r]),
  );
  const names = new Map(manifest.devices.map((d) => [d.id, d.name ?? null]));
  const devices = plan.map((p) => {
    const row = rows.get(p.id);
    return {
      id: p.id,
      kit: p.kit,
      name: names.get(p.id) ?? null,
      key: p.key,
      from: p.key === 'keep' ? (known.from.get(p.id) ?? null) : null,
      lastSeen: row?.last_seen != null ? new Date(row.last_seen).toISOString() : null,
      online: row?.online != null ? row.online === 1 : null,
    };
  });
  const listed = new Set(manifest.devices.map((d) => d.id));
  return {
    devices,
    atRisk: devices
      .filter((d) => (d.key === 'new' || d.key === 'rotate') && (d.lastSeen !== null || d.online !== null))
      .map((d) => d.id),
    removed: (known.registry?.devices ?? [])
      .filter((d) => d.secretHash && !listed.has(d.id))
      .map((d) => d.id),
    gatewayRegistry: known.gatewayAt === null ? null : new Date(known.gatewayAt).toISOString(),
    brokerHost: manifest.broker?.host ?? null,
  };
}

export interface ProvisionContext {
  db: Db;
  downlink: Downlink;
  catalogue: Catalogue;
  user: string;
  now?: number;
}

/** Checks and provisions a manifest for `farm`; throws a placed problem list as one error when invalid. */
export async function provision(
  pc: ProvisionContext,
  farm: string,
  req: ProvisionRequest,
): Promise<{ result: ProvisionResult } | { problems: ManifestProblem[] }> {
  const now = pc.now ?? Date.now();
  const { manifest, problems } = checkUpload(req.text, req.files, pc.catalogue, now);
  if (!manifest || problems.length) return { problems };
  if (manifest.farm.id !== farm)
    throw new HatakeError(
      'HATAKE_E_FORBIDDEN',
      `the manifest is for farm "${manifest.farm.id}", not "${farm}"`,
      {
        place: { pointer: '/farm/id' },
        expected: farm,
      },
    );
  if (req.rotate !== undefined && !manifest.devices.some((d) => d.id === req.rotate))
    throw new HatakeError('HATAKE_E_UNKNOWN_DEVICE', `device "${req.rotate}" is not in the manifest`, {
      expected: manifest.devices.map((d) => d.id).join(', '),
    });
  // Every key the server knows, its own and those the gateways synced: a device keeps its key
  // unless it is asked to rotate.
  const known = knownKeys(pc.db, farm);
  const { registry, secrets } = provisionRegistry(manifest, known.registry, {
    catalogue: pc.catalogue,
    rotate: req.rotate !== undefined ? [req.rotate] : [],
    now,
  });
  // The broker address goes into the config files of the devices given a secret now; provisioning
  // that issues none (every key kept, LoRaWAN devices) writes no config and needs no address.
  const host = req.broker?.host ?? manifest.broker?.host;
  if (!host && Object.keys(secrets).length > 0)
    throw new HatakeError('HATAKE_E_CONFIG', "the gateway's broker address is not known", {
      place: { pointer: '/broker/host' },
      expected: 'a broker host in the form, or broker: { host: … } in the manifest',
    });
  const tls = req.broker?.tls ?? manifest.broker?.tls ?? false;
  const broker = host
    ? { host, tls, port: req.broker?.port ?? manifest.broker?.port ?? (tls ? 8883 : 1883) }
    : undefined;
  const heard: Heard = {};
  for (const d of registry.devices)
    if (d.secretHash) heard[d.id] = secrets[d.id] !== undefined ? now : (known.heard[d.id] ?? now);
  const fieldNames = new Map(manifest.fields.map((f) => [f.id, f.name]));
  const devices: ProvisionResult['devices'] = [];
  const rows: SheetRow[] = [];
  for (const d of manifest.devices) {
    const kit = pc.catalogue.require(d.kit);
    const lorawan = kit.transport === 'lorawan';
    const secret = secrets[d.id];
    let files: ProvisionResult['devices'][number]['files'] = null;
    let qr: string | undefined;
    let topic: string | undefined;
    if (secret !== undefined && broker) {
      const config = deviceConfig(manifest, d, kit, secret, broker, now);
      files = {
        config: `${JSON.stringify(config, null, 2)}\n`,
        esphome: esphomeSnippet(config, kit),
        qrPng: (await configQrPng(config)).toString('base64'),
      };
      qr = await QRCode.toDataURL(JSON.stringify(config), { errorCorrectionLevel: 'M', margin: 2, scale: 4 });
      topic = config.mqtt.topic;
    }
    devices.push({ id: d.id, kit: d.kit, name: d.name ?? null, field: d.field ?? null, lorawan, files });
    rows.push({
      device: d,
      kit,
      fieldName: d.field ? fieldNames.get(d.field) : undefined,
      qr,
      topic,
      lorawan,
    });
  }
  // The registry and its keys' history together.
  pc.db.transaction(() => {
    pc.db
      .prepare(
        `INSERT INTO partner_manifests (farm, text, manifest, registry, heard, updated, by) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (farm) DO UPDATE SET text = excluded.text, manifest = excluded.manifest,
           registry = excluded.registry, heard = excluded.heard, updated = excluded.updated, by = excluded.by`,
      )
      .run(
        farm,
        inlineBoundaries(req.text, manifest),
        JSON.stringify(manifest),
        JSON.stringify(registry),
        JSON.stringify(heard),
        now,
        pc.user,
      );
    rememberKeys(pc.db, registry, heard);
  })();
  pc.downlink.publish(farm, 'manifest', 'manifest', manifest);
  const downlinkVersion = pc.downlink.publish(farm, 'registry', 'registry', registry);
  return {
    result: {
      farm,
      issued: Object.keys(secrets),
      kept: registry.devices.filter((d) => d.secretHash && secrets[d.id] === undefined).map((d) => d.id),
      devices,
      sheetHtml: sheetHtml(manifest, rows, now),
      downlinkVersion,
    },
  };
}
