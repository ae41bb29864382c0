// `hatake kit …` — arrives with issue 3; until then it says so instead of pretending.
import { HatakeError } from '../protocol/errors.ts';

export async function kit(_args: string[]): Promise<number> {
  throw new HatakeError('HATAKE_E_CONFIG', 'hatake kit is not in this build yet (issue 3)');
}
