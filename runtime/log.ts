// Structured JSON logs (pino) for the long-running processes. Secrets never go in a log line:
// the redact list covers every place a credential travels.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  'secret',
  'token',
  '*.password',
  '*.secret',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(name: string, level = process.env.HATAKE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}

/** Turns "address in use" and "permission denied" on listen into an error a user can act on. */
export function listenError(e: unknown, what: string, port: number): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return Object.assign(
      new Error(
        `${what}: port ${port} is already in use (another hatake, or another program); choose another port`,
      ),
      { code },
    );
  if (code === 'EACCES')
    return Object.assign(new Error(`${what}: no permission to listen on port ${port}`), { code });
  return e as Error;
}
