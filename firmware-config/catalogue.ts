// The kit catalogue: every *.yaml kit definition in the built-in folder plus any folders a
// partner adds. Later files override earlier ones with the same id, so a partner can patch a kit.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kit } from '../protocol/kit.ts';
import { HatakeError } from '../protocol/errors.ts';
import { validator } from '../protocol/validate.ts';
import { parseYaml } from '../protocol/yaml.ts';

export const BUILTIN_KITS_DIR = fileURLToPath(new URL('./kits/', import.meta.url));
const MAX_KIT_FILE_BYTES = 256 * 1024;
const kitValidator = validator(Kit);

export class Catalogue {
  readonly kits = new Map<string, Kit>();

  get(id: string): Kit | undefined {
    return this.kits.get(id);
  }

  require(id: string): Kit {
    const kit = this.kits.get(id);
    if (!kit) {
      throw new HatakeError('HATAKE_E_UNKNOWN_KIT', `kit "${id}" is not in the catalogue`, {
        expected: [...this.kits.keys()].join(', '),
      });
    }
    return kit;
  }
}

/** Parses one kit file; throws a HatakeError naming the file, line and column. */
export function parseKitFile(file: string, text: string): Kit {
  if (text.length > MAX_KIT_FILE_BYTES) {
    throw new HatakeError('HATAKE_E_CONFIG', `kit file is larger than ${MAX_KIT_FILE_BYTES} bytes`, {
      place: { file },
    });
  }
  const kit = parseYaml(text, file, kitValidator);
  for (const [name, m] of Object.entries(kit.metrics)) {
    if (!(m.min < m.max)) {
      throw new HatakeError('HATAKE_E_CONFIG', `metric "${name}" has min ${m.min} not below max ${m.max}`, {
        place: { file, pointer: `/metrics/${name}` },
      });
    }
  }
  return kit;
}

/** Loads the built-in kits and then each extra folder, in order. */
export function loadCatalogue(extraDirs: readonly string[] = []): Catalogue {
  const catalogue = new Catalogue();
  for (const dir of [BUILTIN_KITS_DIR, ...extraDirs]) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'));
    } catch (e) {
      throw new HatakeError('HATAKE_E_CONFIG', `cannot read kit folder: ${(e as Error).message}`, {
        place: { file: dir },
      });
    }
    for (const name of names.sort()) {
      const file = join(dir, name);
      const kit = parseKitFile(file, readFileSync(file, 'utf8'));
      catalogue.kits.set(kit.id, kit);
    }
  }
  return catalogue;
}
