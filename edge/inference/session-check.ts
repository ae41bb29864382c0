// Checks a loaded ONNX session against its model card: the same input names, types and ranks,
// and every output the card names. A model whose inputs do not match its card is refused.
import { HatakeError } from '../../protocol/errors.ts';
import type { ModelCard } from '../../protocol/model-card.ts';

/** The parts of onnxruntime's session metadata the check reads. */
export interface SessionShape {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata: readonly {
    name: string;
    isTensor: boolean;
    type?: string;
    shape?: readonly (number | string)[];
  }[];
  outputMetadata: readonly {
    name: string;
    isTensor: boolean;
    type?: string;
    shape?: readonly (number | string)[];
  }[];
}

/** Throws HATAKE_E_MODEL_INCOMPATIBLE listing every difference between the session and the card. */
export function checkSessionAgainstCard(card: ModelCard, s: SessionShape): void {
  const problems: string[] = [];
  const want = card.inputs.map((i) => i.name);
  const missing = want.filter((n) => !s.inputNames.includes(n));
  const extra = s.inputNames.filter((n) => !want.includes(n));
  if (missing.length) problems.push(`the ONNX model has no input ${missing.join(', ')}`);
  if (extra.length) problems.push(`the ONNX model has input(s) ${extra.join(', ')} the card does not name`);
  for (const input of card.inputs) {
    const m = s.inputMetadata.find((x) => x.name === input.name);
    if (!m) continue;
    if (!m.isTensor || m.type !== input.type)
      problems.push(
        `input ${input.name} is ${m.isTensor ? m.type : 'not a tensor'}, the card says ${input.type}`,
      );
    const rank = input.shape === 'zone' ? 2 : input.shape.length;
    if (m.shape && m.shape.length !== rank)
      problems.push(`input ${input.name} has rank ${m.shape.length}, the card implies ${rank}`);
    if (input.shape === 'zone' && m.shape && m.shape.length === 2 && m.shape[1] !== 1)
      problems.push(`input ${input.name} is not one value per zone ([N, 1])`);
  }
  for (const output of card.outputs) {
    const m = s.outputMetadata.find((x) => x.name === output.name);
    if (!m) problems.push(`the ONNX model has no output ${output.name}`);
    else if (!m.isTensor || m.type !== output.type)
      problems.push(`output ${output.name} is ${m.type ?? 'not a tensor'}, the card says ${output.type}`);
  }
  if (problems.length)
    throw new HatakeError(
      'HATAKE_E_MODEL_INCOMPATIBLE',
      `${card.id}@${card.version}: ${problems.join('; ')}`,
      {
        place: { file: card.file },
        expected: `inputs ${want.join(', ')}`,
      },
    );
}

/** Compares outputs with the card's worked example; throws HATAKE_E_MODEL_INCOMPATIBLE on a difference. */
export function checkExample(
  card: ModelCard,
  outputs: Record<string, { data: ArrayLike<number> }>,
  rel = 1e-4,
): void {
  if (!card.example) return;
  const bad: string[] = [];
  for (const [name, expected] of Object.entries(card.example.outputs)) {
    const got = outputs[name]?.data[0];
    const tol = rel * Math.max(1, Math.abs(expected));
    if (got === undefined || !(Math.abs(got - expected) <= tol))
      bad.push(`${name} = ${got} (card: ${expected})`);
  }
  if (bad.length)
    throw new HatakeError(
      'HATAKE_E_MODEL_INCOMPATIBLE',
      `${card.id}@${card.version}: the worked example does not reproduce: ${bad.join('; ')}`,
      {
        place: { file: card.file },
        expected: card.example.source,
      },
    );
}
