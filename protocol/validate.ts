// Runtime validation from the TypeBox schemas: one compiled checker per schema, and errors that
// name the JSON pointer of the first problems and what was expected there.
import { FormatRegistry, type TSchema, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { HatakeError, type ErrorCode } from './errors.ts';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
if (!FormatRegistry.Has('date'))
  FormatRegistry.Set('date', (v) => DATE.test(v) && !Number.isNaN(Date.parse(v)));

export interface Problem {
  pointer: string;
  message: string;
}

export interface Validator<T extends TSchema> {
  check(value: unknown): value is Static<T>;
  /** Every problem, each with its JSON pointer. */
  problems(value: unknown, max?: number): Problem[];
  /** Returns the value typed, or throws a HatakeError naming the first problems. */
  parse(value: unknown, what: string, code?: ErrorCode): Static<T>;
}

export function validator<T extends TSchema>(schema: T): Validator<T> {
  // Compiled on first use: modules declare their validators at load, most are never needed in a
  // given process, and each compiled checker costs memory (a gateway on a Pi counts megabytes).
  let cache: ReturnType<typeof TypeCompiler.Compile<T>> | undefined;
  const compiledOf = () => (cache ??= TypeCompiler.Compile(schema));
  const problems = (value: unknown, max = 20): Problem[] => {
    const out: Problem[] = [];
    for (const e of compiledOf().Errors(value)) {
      // A pointer names keys from the input, which can be huge: keep messages short.
      const pointer = e.path || '/';
      out.push({ pointer: pointer.length > 200 ? `${pointer.slice(0, 200)}…` : pointer, message: e.message });
      if (out.length >= max) break;
    }
    return out;
  };
  return {
    check: (value): value is Static<T> => compiledOf().Check(value),
    problems,
    parse(value, what, code = 'HATAKE_E_PAYLOAD_SCHEMA') {
      if (compiledOf().Check(value)) return value;
      const ps = problems(value, 3);
      const first = ps[0] ?? { pointer: '/', message: 'invalid' };
      throw new HatakeError(code, `${what}: ${ps.map((p) => `${p.pointer} ${p.message}`).join('; ')}`, {
        place: { pointer: first.pointer },
        expected: first.message,
      });
    },
  };
}
