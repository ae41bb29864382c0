// `hatake rx …` — arrives with issue 7; until then it says so instead of pretending.
import { HatakeError } from '../protocol/errors.ts';

export async function rx(_args: string[]): Promise<number> {
  throw new HatakeError('HATAKE_E_CONFIG', 'hatake rx is not in this build yet (issue 7)');
}
