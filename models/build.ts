// `hatake model build`: rebuilds the published models from their TypeScript builders and writes
// (or checks) the committed artifacts. The same builders give the same bytes, so a check that
// finds a difference means the artifact and the code have drifted apart.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { buildSbnrc } from './published/sbnrc.ts';
import { buildHollandSchepers } from './published/holland-schepers.ts';
import { buildRiceTopdress } from './published/rice-topdress.ts';
import type { BuiltModel } from './published/card-parts.ts';

/** Every published model, built. */
export function buildPublished(): BuiltModel[] {
  return [buildSbnrc(), buildHollandSchepers(), buildRiceTopdress('ndvi'), buildRiceTopdress('ndre')];
}

export const cardFileOf = (onnxFile: string) => onnxFile.replace(/\.onnx$/, '.card.json');

/** Writes the ONNX file and its card for each model into `dir`. */
export function writeArtifacts(dir: string, models: BuiltModel[] = buildPublished()): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const m of models) {
    writeFileSync(join(dir, m.card.file), m.bytes);
    writeFileSync(join(dir, cardFileOf(m.card.file)), `${JSON.stringify(m.card, null, 2)}\n`);
    written.push(m.card.file);
  }
  return written;
}

/** Compares freshly built models with the artifacts in `dir`; returns what differs. */
export function checkArtifacts(dir: string, models: BuiltModel[] = buildPublished()): string[] {
  const problems: string[] = [];
  for (const m of models) {
    const onnxPath = join(dir, m.card.file);
    const cardPath = join(dir, cardFileOf(m.card.file));
    if (!existsSync(onnxPath)) problems.push(`${m.card.file}: missing`);
    else if (!Buffer.from(m.bytes).equals(readFileSync(onnxPath)))
      problems.push(`${m.card.file}: bytes differ`);
    if (!existsSync(cardPath)) problems.push(`${cardFileOf(m.card.file)}: missing`);
    else if (!isDeepStrictEqual(JSON.parse(readFileSync(cardPath, 'utf8')), m.card))
      problems.push(`${cardFileOf(m.card.file)}: card differs`);
  }
  return problems;
}
