// Shared by the firmware-config tests: the catalogue with the TTN Device Repository codecs from
// ../shared/data/lorawan, and a way to catch a coded error.
import { join } from 'node:path';
import { HatakeError } from '../../../protocol/errors.ts';
import { loadCatalogue } from '../../../firmware-config/catalogue.ts';

export const LORAWAN_DIR = join(import.meta.dirname, '../../../../shared/data/lorawan');
export const catalogue = () => loadCatalogue([], { codecDirs: [LORAWAN_DIR] });

/** The HatakeError a function throws; fails the test if it throws nothing or something else. */
export function coded(fn: () => unknown): HatakeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('did not throw');
}
