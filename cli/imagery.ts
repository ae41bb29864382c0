// `hatake imagery …` — arrives with issue 6; until then it says so instead of pretending.
import { HatakeError } from '../protocol/errors.ts';

export async function imagery(_args: string[]): Promise<number> {
  throw new HatakeError('HATAKE_E_CONFIG', 'hatake imagery is not in this build yet (issue 6)');
}
