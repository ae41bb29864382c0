// What a scene's own metadata says about it: its id, acquisition time and processing baseline
// (which decides the Sentinel-2 radiometric offset). Read from a STAC item JSON beside the files
// (Earth Search: `s2:processing_baseline`, `earthsearch:boa_offset_applied`), a BigEarthNet
// `*_labels_metadata.json`, or a Sentinel-2 product name (…_MSIL2A_20200219T112111_N0214_…) in a
// file or folder name. Only metadata files up to 4 MiB are read.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface SceneMetadata {
  id?: string;
  /** ISO 8601 UTC. */
  acquired?: string;
  /** e.g. "04.00". */
  processingBaseline?: string;
  /** Earth Search: the provider already added BOA_ADD_OFFSET to the DNs. */
  offsetApplied?: boolean;
  /** Product level the name says, e.g. "L2A". */
  level?: string;
  /** Which file said it. */
  source?: string;
}

const MAX_META_BYTES = 4 * 1024 * 1024;
const PRODUCT = /S2[ABCD]_MSI(L1C|L2A)_(\d{8}T\d{6})_N(\d{2})(\d{2})_/;
const DATETIME_IN_NAME = /(?:^|[_/])(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:[_/.]|$)/;

function isoOf(compact: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})$/.exec(compact);
  if (!m) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
  return Number.isNaN(Date.parse(iso)) ? undefined : iso;
}

/** Metadata from a Sentinel-2 product name inside a string (file or folder name). */
export function fromProductName(name: string): SceneMetadata {
  const m = PRODUCT.exec(name);
  if (m) {
    return {
      level: m[1],
      acquired: isoOf(m[2]!),
      processingBaseline: `${m[3]}.${m[4]}`,
      source: 'product name',
    };
  }
  const d = DATETIME_IN_NAME.exec(name);
  if (d) return { acquired: isoOf(`${d[1]}${d[2]}${d[3]}T${d[4]}${d[5]}${d[6]}`), source: 'file name' };
  return {};
}

/**
 * The product level an `s2:product_type` names: ESA's product types as Earth Search and the
 * Planetary Computer give them ("S2MSI2A", "S2MSI1C" — no "L" in them), or a name holding the
 * level ("MSIL2A", "L1C"); undefined for anything else.
 */
function levelOf(productType: string): 'L2A' | 'L1C' | undefined {
  if (/L2A|MSI2A/.test(productType)) return 'L2A';
  if (/L1C|MSI1C/.test(productType)) return 'L1C';
  return undefined;
}

/** Metadata from a parsed STAC item. */
export function fromStacItem(item: unknown): SceneMetadata {
  if (typeof item !== 'object' || item === null) return {};
  const it = item as { id?: unknown; properties?: Record<string, unknown> };
  const p = it.properties ?? {};
  const out: SceneMetadata = { source: 'STAC item' };
  if (typeof it.id === 'string') out.id = it.id;
  if (typeof p.datetime === 'string' && !Number.isNaN(Date.parse(p.datetime))) {
    out.acquired = new Date(p.datetime).toISOString();
  }
  if (typeof p['s2:processing_baseline'] === 'string') out.processingBaseline = p['s2:processing_baseline'];
  if (typeof p['earthsearch:boa_offset_applied'] === 'boolean') {
    out.offsetApplied = p['earthsearch:boa_offset_applied'];
  }
  if (typeof p['s2:product_type'] === 'string') out.level = levelOf(p['s2:product_type']);
  if (!out.processingBaseline && typeof p['s2:product_uri'] === 'string') {
    const n = fromProductName(p['s2:product_uri']);
    out.processingBaseline = n.processingBaseline;
  }
  return out;
}

function readJson(file: string): unknown {
  try {
    if (statSync(file).size > MAX_META_BYTES) return undefined;
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Looks beside the scene's first file for metadata; later sources fill what earlier ones lack. */
export function discoverMetadata(files: readonly string[]): SceneMetadata {
  const first = files[0];
  if (!first) return {};
  const dir = dirname(first);
  const found: SceneMetadata[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((n) => n.toLowerCase().endsWith('.json'))
      .sort();
  } catch {
    names = [];
  }
  for (const n of names.slice(0, 50)) {
    const json = readJson(join(dir, n));
    if (typeof json !== 'object' || json === null) continue;
    if ('stac_version' in json && (json as { type?: unknown }).type === 'Feature') {
      found.push({ ...fromStacItem(json), source: n });
    } else if (n.endsWith('_labels_metadata.json')) {
      const j = json as { acquisition_date?: unknown };
      if (typeof j.acquisition_date === 'string') {
        const iso = j.acquisition_date.replace(' ', 'T') + 'Z';
        if (!Number.isNaN(Date.parse(iso))) found.push({ acquired: new Date(iso).toISOString(), source: n });
      }
    }
  }
  found.push(fromProductName(basename(first)), fromProductName(basename(dir)));
  const out: SceneMetadata = {};
  for (const m of found) {
    for (const [k, v] of Object.entries(m) as [keyof SceneMetadata, never][]) {
      if (v !== undefined && out[k] === undefined) out[k] = v;
    }
  }
  return out;
}
