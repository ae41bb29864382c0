// The models and crop profiles a gateway has: model cards (*.card.json) beside their ONNX files,
// and crop profiles (*.yaml). A model is handed out only as verified bytes: its sha256 — and its
// ed25519 signature when it carries one or the gateway demands one — checked against the card
// before anything runs it.
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { HatakeError } from '../../protocol/errors.ts';
import { ModelCard, MODEL_REF, modelRef } from '../../protocol/model-card.ts';
import { CropProfile, profileRef } from '../../protocol/crop-profile.ts';
import { validator } from '../../protocol/validate.ts';
import { parseYaml } from '../../protocol/yaml.ts';

const MAX_CARD_BYTES = 1024 * 1024;
const MAX_PROFILE_BYTES = 256 * 1024;
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;
const cardValidator = validator(ModelCard);
const profileValidator = validator(CropProfile);

export interface RegistryOptions {
  /** Folders holding *.card.json + *.onnx; later folders override earlier ones for the same id@version. */
  modelDirs: string[];
  /** Folders holding crop profiles (*.yaml). */
  profileDirs: string[];
  /** Ed25519 public keys by key id (PEM or KeyObject) that may sign models. */
  trustedKeys?: Record<string, string | KeyObject>;
  /** Refuse models that carry no signature. */
  requireSignature?: boolean;
}

export interface CardEntry {
  card: ModelCard;
  cardFile: string;
  onnxFile: string;
}

/** A model whose bytes matched its card. */
export interface VerifiedModel {
  card: ModelCard;
  bytes: Uint8Array;
}

/** Parses and checks one card file's text. */
export function parseCard(text: string, file: string): ModelCard {
  if (text.length > MAX_CARD_BYTES)
    throw new HatakeError('HATAKE_E_MODEL_CARD', `card is larger than ${MAX_CARD_BYTES} bytes`, {
      place: { file },
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HatakeError('HATAKE_E_MODEL_CARD', `card is not valid JSON: ${(e as Error).message}`, {
      place: { file },
    });
  }
  const card = cardValidator.parse(json, `model card ${file}`, 'HATAKE_E_MODEL_CARD');
  const names = new Set<string>();
  for (const i of card.inputs) {
    if (names.has(i.name))
      throw new HatakeError('HATAKE_E_MODEL_CARD', `input "${i.name}" is declared twice`, {
        place: { file },
      });
    names.add(i.name);
    if (!(i.min <= i.max))
      throw new HatakeError('HATAKE_E_MODEL_CARD', `input "${i.name}" has min > max`, {
        place: { file },
        expected: 'min ≤ max',
      });
  }
  if (card.kind === 'n_rate' && !card.outputs.some((o) => o.role === 'n_rate'))
    throw new HatakeError('HATAKE_E_MODEL_CARD', 'an n_rate model needs an output with role n_rate', {
      place: { file },
    });
  if (
    card.kind === 'yield_response' &&
    (!card.outputs.some((o) => o.role === 'yield') || !card.inputs.some((i) => i.source.kind === 'n_rate'))
  )
    throw new HatakeError(
      'HATAKE_E_MODEL_CARD',
      'a yield_response model needs a yield output and an n_rate input',
      { place: { file } },
    );
  return card;
}

/** Parses a crop profile and checks what the schema cannot (limits, table shapes, edge order). */
export function parseProfile(text: string, file: string): CropProfile {
  if (text.length > MAX_PROFILE_BYTES)
    throw new HatakeError('HATAKE_E_MODEL_CARD', `profile is larger than ${MAX_PROFILE_BYTES} bytes`, {
      place: { file },
    });
  const p = parseYaml(text, file, profileValidator);
  const bad = (message: string, expected?: string) =>
    new HatakeError('HATAKE_E_MODEL_CARD', message, { place: { file }, expected });
  if (p.limits.minKgNHa > p.limits.maxKgNHa) throw bad('limits.minKgNHa is above limits.maxKgNHa');
  const r = p.riceTopdress;
  if (r) {
    const ascending = (a: number[]) => a.every((v, k) => k === 0 || v > a[k - 1]!);
    if (!ascending(r.spadEdges) || !ascending(r.heightEdgesCm))
      throw bad('riceTopdress edges must be strictly ascending');
    if (
      r.tableKgN10a.length !== r.spadEdges.length + 1 ||
      r.tableKgN10a.some((row) => row.length !== r.heightEdgesCm.length + 1)
    )
      throw bad(
        'riceTopdress.tableKgN10a has the wrong shape',
        `${r.spadEdges.length + 1} rows of ${r.heightEdgesCm.length + 1} values (one per SPAD bin × height bin)`,
      );
  }
  return p;
}

/** sha256 of bytes, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Checks bytes against the card's sha256 and signature; throws HATAKE_E_MODEL_INTEGRITY. */
export function verifyArtifact(
  card: ModelCard,
  bytes: Uint8Array,
  opts: Pick<RegistryOptions, 'trustedKeys' | 'requireSignature'> = {},
): void {
  const ref = modelRef(card);
  const actual = sha256Hex(bytes);
  if (actual !== card.sha256) {
    throw new HatakeError(
      'HATAKE_E_MODEL_INTEGRITY',
      `${ref}: the ONNX file's sha256 ${actual} does not match the card's ${card.sha256}`,
      {
        place: { file: card.file },
        expected: card.sha256,
      },
    );
  }
  if (!card.signature) {
    if (opts.requireSignature)
      throw new HatakeError(
        'HATAKE_E_MODEL_INTEGRITY',
        `${ref}: the model is not signed and this gateway requires signatures`,
        {
          place: { file: card.file },
        },
      );
    return;
  }
  const key = opts.trustedKeys?.[card.signature.keyId];
  if (!key)
    throw new HatakeError(
      'HATAKE_E_MODEL_INTEGRITY',
      `${ref}: signed by unknown key "${card.signature.keyId}"`,
      {
        place: { file: card.file },
        expected: Object.keys(opts.trustedKeys ?? {}).join(', ') || 'a trusted key',
      },
    );
  const keyObject = typeof key === 'string' ? createPublicKey(key) : key;
  let ok = false;
  try {
    ok = verify(null, bytes, keyObject, Buffer.from(card.signature.ed25519, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok)
    throw new HatakeError(
      'HATAKE_E_MODEL_INTEGRITY',
      `${ref}: the ed25519 signature does not verify with key "${card.signature.keyId}"`,
      {
        place: { file: card.file },
      },
    );
}

/** Parses "id@version". */
export function parseModelRef(ref: string): { id: string; version: string } {
  const m = MODEL_REF.exec(ref);
  if (!m)
    throw new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `"${ref.slice(0, 100)}" is not a model reference`, {
      expected: 'id@1.2.3',
    });
  return { id: m[1]!, version: m[2]! };
}

/** The models and profiles found in the configured folders. */
export class ModelRegistry {
  private readonly opts: RegistryOptions;
  private readonly cards = new Map<string, CardEntry>();
  private readonly profiles = new Map<string, CropProfile & { file: string }>();
  /** Files that could not be read, with the reason; they are skipped, not fatal. */
  readonly problems: HatakeError[] = [];

  constructor(opts: RegistryOptions) {
    this.opts = opts;
    for (const dir of opts.modelDirs) this.scanModels(dir);
    for (const dir of opts.profileDirs) this.scanProfiles(dir);
  }

  private scanModels(dir: string): void {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.card.json')) continue;
      const cardFile = join(dir, name);
      try {
        const card = parseCard(readFileSync(cardFile, 'utf8'), cardFile);
        if (basename(card.file) !== card.file)
          throw new HatakeError('HATAKE_E_MODEL_CARD', 'card.file must be a plain file name', {
            place: { file: cardFile },
          });
        this.cards.set(modelRef(card), { card, cardFile, onnxFile: join(dir, card.file) });
      } catch (e) {
        this.problems.push(placed(e, cardFile));
      }
    }
  }

  private scanProfiles(dir: string): void {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      if (!/\.ya?ml$/.test(name)) continue;
      const file = join(dir, name);
      try {
        const p = parseProfile(readFileSync(file, 'utf8'), file);
        this.profiles.set(p.id, { ...p, file });
      } catch (e) {
        this.problems.push(placed(e, file));
      }
    }
  }

  /** Every card, sorted by reference. */
  list(): CardEntry[] {
    return [...this.cards.values()].sort((a, b) => modelRef(a.card).localeCompare(modelRef(b.card)));
  }

  /** A card by "id@version", or by "id" alone (the highest version). */
  entry(ref: string): CardEntry {
    if (!ref.includes('@')) {
      const versions = this.list().filter((e) => e.card.id === ref);
      const best = versions.sort((a, b) => compareVersions(b.card.version, a.card.version))[0];
      if (best) return best;
    } else {
      parseModelRef(ref);
      const e = this.cards.get(ref);
      if (e) return e;
    }
    throw new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `model "${ref.slice(0, 100)}" is not installed`, {
      expected: [...this.cards.keys()].join(', ') || 'a model card in the models folder',
    });
  }

  /** Reads a model's bytes and verifies them against its card. */
  load(ref: string): VerifiedModel {
    const { card, onnxFile } = this.entry(ref);
    if (!existsSync(onnxFile))
      throw new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `${modelRef(card)}: ONNX file is missing`, {
        place: { file: onnxFile },
      });
    const size = statSync(onnxFile).size;
    if (size > MAX_MODEL_BYTES)
      throw new HatakeError(
        'HATAKE_E_MODEL_CORRUPT',
        `${modelRef(card)}: ONNX file is larger than ${MAX_MODEL_BYTES} bytes`,
        { place: { file: onnxFile } },
      );
    const bytes = new Uint8Array(readFileSync(onnxFile));
    verifyArtifact(card, bytes, this.opts);
    return { card, bytes };
  }

  profileIds(): string[] {
    return [...this.profiles.keys()].sort();
  }

  /** A crop profile by id. */
  profile(id: string): CropProfile {
    const p = this.profiles.get(id);
    if (!p)
      throw new HatakeError(
        'HATAKE_E_MODEL_NOT_FOUND',
        `crop profile "${id.slice(0, 100)}" is not installed`,
        {
          expected: this.profileIds().join(', '),
        },
      );
    const { file: _file, ...profile } = p;
    return profile;
  }

  /** "id@version" of a profile, for provenance. */
  static profileRef = profileRef;
}

/** A skipped file's error, always naming the file. */
function placed(e: unknown, file: string): HatakeError {
  if (e instanceof HatakeError && e.place?.file) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new HatakeError(e instanceof HatakeError ? e.code : 'HATAKE_E_MODEL_CARD', message, {
    place: { file, pointer: e instanceof HatakeError ? e.place?.pointer : undefined },
    expected: e instanceof HatakeError ? e.expected : undefined,
  });
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}
