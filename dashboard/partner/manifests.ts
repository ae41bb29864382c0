// The IT partner's provisioning in the browser: check a manifest (every problem at its line and
// column, as `hatake kit validate` reports them), then provision it — new device secrets, their
// config files, ESPHome snippets and QR codes, and the printable sheet — exactly as
// `hatake kit provision` does, without writing a secret anywhere on the server: the files go back
// in the response only. The server keeps the manifest text and the registry (hashes only), and
// publishes both as downlink documents for the farm's gateways.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { visit } from 'yaml';
import { HatakeError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { Registry } from '../../protocol/registry.ts';
import { validator } from '../../protocol/validate.ts';
import type {
  ManifestCheckResult,
  ManifestProblem,
  ProvisionRequest,
  ProvisionResult,
  StoredManifest,
} from '../../protocol/views.ts';
import type { Catalogue } from '../../firmware-config/catalogue.ts';
import { checkManifest, manifestData, readManifestYaml } from '../../firmware-config/manifest-check.ts';
import {
  configQrPng,
  deviceConfig,
  esphomeSnippet,
  sheetHtml,
  type SheetRow,
} from '../../firmware-config/firmware-files.ts';
import { provisionRegistry } from '../../firmware-config/provision.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';
import type { Downlink } from '../downlink.ts';

export const MANIFEST_FILE_NAME = 'manifest.yaml';
const registryValidator = validator(Registry);

export function migratePartner(db: Db): void {
  migrate(db, 'partner', [
    `
    CREATE TABLE partner_manifests (
      farm TEXT PRIMARY KEY, text TEXT NOT NULL, manifest TEXT NOT NULL, registry TEXT NOT NULL,
      updated INTEGER NOT NULL, by TEXT NOT NULL
    );
    `,
  ]);
}

const problemOf = (e: HatakeError): ManifestProblem => ({
  code: e.code,
  message: e.message,
  line: e.place?.line ?? null,
  column: e.place?.column ?? null,
  pointer: e.place?.pointer ?? null,
  expected: e.expected ?? null,
});

const NO_COUNTS = { fields: 0, devices: 0 };

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
          place: { pointer: `/files/${name.slice(0, 100)}` },
          expected: 'a plain file name (letters, digits, . _ -), not manifest.yaml',
        });
      writeFileSync(join(dir, name), content);
    }
    const check = checkManifest(join(dir, MANIFEST_FILE_NAME), safe, { catalogue, now });
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

export function checkResult(
  text: string,
  files: Record<string, string> | undefined,
  catalogue: Catalogue,
): ManifestCheckResult {
  const { manifest, problems, counts } = checkUpload(text, files, catalogue);
  return { ok: manifest !== undefined && problems.length === 0, problems, ...counts };
}

interface StoredRow {
  text: string;
  manifest: string;
  registry: string;
  updated: number;
}

/** The manifest text last provisioned here, or one rebuilt from what the gateway synced. */
export function storedManifest(db: Db, farm: string): StoredManifest {
  const row = db.prepare('SELECT text, updated FROM partner_manifests WHERE farm = ?').get(farm) as
    Pick<StoredRow, 'text' | 'updated'> | undefined;
  if (row) return { text: row.text, source: 'provisioned', updated: new Date(row.updated).toISOString() };
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
  const host = req.broker?.host ?? manifest.broker?.host;
  if (!host)
    throw new HatakeError('HATAKE_E_CONFIG', "the gateway's broker address is not known", {
      place: { pointer: '/broker/host' },
      expected: 'a broker host in the form, or broker: { host: … } in the manifest',
    });
  const tls = req.broker?.tls ?? manifest.broker?.tls ?? false;
  const broker = { host, tls, port: req.broker?.port ?? manifest.broker?.port ?? (tls ? 8883 : 1883) };
  const { registry, secrets } = provisionRegistry(manifest, storedRegistry(pc.db, farm), {
    catalogue: pc.catalogue,
    rotate: req.rotate !== undefined ? [req.rotate] : [],
    now,
  });
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
    if (secret !== undefined) {
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
  pc.db
    .prepare(
      `INSERT INTO partner_manifests (farm, text, manifest, registry, updated, by) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (farm) DO UPDATE SET text = excluded.text, manifest = excluded.manifest,
         registry = excluded.registry, updated = excluded.updated, by = excluded.by`,
    )
    .run(farm, req.text, JSON.stringify(manifest), JSON.stringify(registry), now, pc.user);
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
