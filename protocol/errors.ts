// The registry of coded errors. Every error a user can meet carries a stable `HATAKE_E_…` code,
// says what was wrong, where, and what was expected. The CLI prints them without a stack; the
// HTTP API returns them as application/problem+json.

/** Where in an input a problem was found: a file and position, a JSON pointer, a topic, … */
export interface ErrorPlace {
  file?: string;
  line?: number;
  column?: number;
  pointer?: string;
  topic?: string;
}

export const ERROR_CODES = {
  HATAKE_E_CONFIG: { status: 400, title: 'Invalid configuration' },
  HATAKE_E_TOPIC: { status: 400, title: 'Topic does not follow hatake/v1/{farm}/{device}/{kind}' },
  HATAKE_E_PAYLOAD_SIZE: { status: 413, title: 'Payload larger than the limit' },
  HATAKE_E_PAYLOAD_JSON: { status: 400, title: 'Payload is not valid JSON' },
  HATAKE_E_PAYLOAD_SCHEMA: { status: 400, title: 'Payload does not match its schema' },
  HATAKE_E_UNKNOWN_METRIC: { status: 400, title: 'Metric is not known to the device kit' },
  HATAKE_E_OUT_OF_RANGE: { status: 400, title: 'Value outside the physically possible range' },
  HATAKE_E_UNKNOWN_DEVICE: { status: 404, title: 'Device is not in the registry' },
  HATAKE_E_UNKNOWN_KIT: { status: 400, title: 'Kit is not in the catalogue' },
  HATAKE_E_AUTH: { status: 401, title: 'Authentication required or failed' },
  HATAKE_E_FORBIDDEN: { status: 403, title: 'Not allowed for this caller' },
  HATAKE_E_NOT_FOUND: { status: 404, title: 'Not found' },
  HATAKE_E_SYNC_BATCH: { status: 400, title: 'Sync batch is malformed' },
  HATAKE_E_STORAGE: { status: 503, title: 'Storage is unavailable; retry later' },
  HATAKE_E_DISK_FULL: { status: 507, title: 'Disk budget exhausted' },
  HATAKE_E_RATE_LIMIT: { status: 429, title: 'Too many requests' },
  HATAKE_E_INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A coded, user-facing error. */
export class HatakeError extends Error {
  readonly code: ErrorCode;
  readonly place: ErrorPlace | undefined;
  readonly expected: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { place?: ErrorPlace; expected?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HatakeError';
    this.code = code;
    this.place = opts.place;
    this.expected = opts.expected;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** One line for a terminal or a log: code, place, message, expectation. */
  describe(): string {
    const p = this.place;
    const where = p
      ? [
          p.file,
          p.line !== undefined ? `${p.line}` : undefined,
          p.column !== undefined ? `${p.column}` : undefined,
        ]
          .filter((x) => x !== undefined)
          .join(':') ||
        p.pointer ||
        p.topic ||
        ''
      : '';
    return `${this.code}${where ? ` ${where}` : ''}: ${this.message}${this.expected ? ` (expected ${this.expected})` : ''}`;
  }
}

export function isHatakeError(e: unknown): e is HatakeError {
  return e instanceof HatakeError;
}
