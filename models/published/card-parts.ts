// Shared pieces of the published models' builders: declaring card inputs as graph inputs, and
// finishing a card from the built bytes (sha256).
import { createHash } from 'node:crypto';
import type { ModelCard, ModelInput } from '../../protocol/model-card.ts';
import type { GraphBuilder } from '../onnx/graph.ts';

/** A card without its sha256, as a builder describes it. */
export type CardDraft = Omit<ModelCard, 'sha256'>;

/** What every builder returns: the ONNX bytes and the finished card. */
export interface BuiltModel {
  bytes: Uint8Array;
  card: ModelCard;
}

/** Declares every card input on the graph with its shape: [N, 1] per zone, or the table's dims. */
export function declareInputs(b: GraphBuilder, inputs: ModelInput[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const i of inputs) {
    names[i.name] = b.input(i.name, i.type, i.shape === 'zone' ? ['N', 1] : i.shape);
  }
  return names;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Completes a card with the artifact's sha256. */
export function finish(draft: CardDraft, bytes: Uint8Array): BuiltModel {
  const { schema, id, version, title, file, ...rest } = draft;
  return { bytes, card: { schema, id, version, title, file, sha256: sha256Hex(bytes), ...rest } };
}

/** A per-zone float64 input of a published model. */
export function zoneIn(
  name: string,
  unit: string,
  min: number,
  max: number,
  source: ModelInput['source'],
  en: string,
  ja: string,
): ModelInput {
  return { name, description: { ja, en }, unit, min, max, type: 'float64', shape: 'zone', source };
}
