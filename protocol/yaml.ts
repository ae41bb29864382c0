// YAML documents checked against a schema, with every problem placed at its file, line and
// column — so a partner fixing a manifest in a paddy sees where, not just what.
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { TSchema, Static } from '@sinclair/typebox';
import { HatakeError } from './errors.ts';
import { pointerTokens } from './pointer.ts';
import type { Validator } from './validate.ts';

export const MAX_YAML_BYTES = 4 * 1024 * 1024;

export interface YamlSource {
  file: string;
  doc: Document;
  lines: LineCounter;
}

/** Parses YAML text; syntax errors are returned as placed HatakeErrors. */
export function readYaml(text: string, file: string): { source: YamlSource; errors: HatakeError[] } {
  const lines = new LineCounter();
  if (text.length > MAX_YAML_BYTES) {
    const err = new HatakeError('HATAKE_E_CONFIG', `file is larger than ${MAX_YAML_BYTES} bytes`, {
      place: { file },
    });
    return { source: { file, doc: parseDocument('', { lineCounter: lines }), lines }, errors: [err] };
  }
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const errors = doc.errors.map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return new HatakeError('HATAKE_E_CONFIG', e.message.split('\n')[0] ?? 'invalid YAML', {
      place: { file, line: pos.line, column: pos.col },
      expected: 'valid YAML',
    });
  });
  return { source: { file, doc, lines }, errors };
}

/** The line and column of the node a JSON pointer names (or its nearest existing parent). */
export function placeOf(source: YamlSource, pointer: string): { line: number; column: number } {
  const path = pointerTokens(pointer).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = n === 0 ? source.doc.contents : source.doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = source.lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

/** A HatakeError placed at the node a JSON pointer names. */
export function placedError(
  source: YamlSource,
  pointer: string,
  message: string,
  expected?: string,
): HatakeError {
  const { line, column } = placeOf(source, pointer);
  return new HatakeError('HATAKE_E_CONFIG', message, {
    place: { file: source.file, line, column, pointer },
    expected,
  });
}

/**
 * The document as plain data. The yaml library throws a bare error for an alias bomb ("excessive
 * alias count") or an alias to nothing; this turns that into a coded error naming the file.
 */
export function toData(source: YamlSource): unknown {
  try {
    return source.doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `YAML cannot be resolved: ${String((e as Error).message).slice(0, 200)}`,
      {
        place: { file: source.file },
        expected: 'YAML with at most 100 alias uses, each naming an anchor',
      },
    );
  }
}

/**
 * Every schema problem of a YAML document, each placed. `data` is the document already converted
 * (toData), when the caller has it, so a large document is not converted twice.
 */
export function schemaProblems<T extends TSchema>(
  source: YamlSource,
  v: Validator<T>,
  max = 100,
  data: unknown = toData(source),
): HatakeError[] {
  return v
    .problems(data, max)
    .map((p) => placedError(source, p.pointer, `${p.pointer === '/' ? '' : p.pointer + ': '}${p.message}`));
}

/** Parses and validates a YAML document; throws the first problem, placed. */
export function parseYaml<T extends TSchema>(text: string, file: string, v: Validator<T>): Static<T> {
  const { source, errors } = readYaml(text, file);
  if (errors[0]) throw errors[0];
  const data = toData(source);
  const problems = schemaProblems(source, v, 1, data);
  if (problems[0]) throw problems[0];
  return data as Static<T>;
}
