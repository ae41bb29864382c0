// Where the built-in model artifacts, their cards and the crop profiles live in the repository.
import { fileURLToPath } from 'node:url';

export const ARTIFACTS_DIR = fileURLToPath(new URL('./artifacts/', import.meta.url));
export const PROFILES_DIR = fileURLToPath(new URL('./profiles/', import.meta.url));
/** Models trained from trial data with `hatake model train` (the shipped Las Rosas example). */
export const TRAINED_DIR = fileURLToPath(new URL('./trained/', import.meta.url));
