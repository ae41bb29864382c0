// Loading a YAML config file against its schema, with relative paths made absolute against the
// file's own folder, so a config works wherever the process is started from.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { TSchema, Static } from '@sinclair/typebox';
import { HatakeError, type ErrorPlace } from '../protocol/errors.ts';
import { parseYaml } from '../protocol/yaml.ts';
import type { Validator } from '../protocol/validate.ts';

/** Reads a file a config needs; one that cannot be read is a coded error at `place`. */
export function readConfigText(file: string, place: ErrorPlace = { file }, expected?: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { place, expected },
    );
  }
}

/** Reads and validates a YAML file; errors name the file, line and column. */
export function loadYamlFile<T extends TSchema>(file: string, v: Validator<T>): Static<T> {
  return parseYaml(readConfigText(file), file, v);
}

/** Resolves a path from a config file against the file's folder. */
export function resolveFrom(configFile: string, p: string): string {
  return resolve(dirname(configFile), p);
}
