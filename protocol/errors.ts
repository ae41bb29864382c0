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
  HATAKE_E_IMAGERY_FILE: { status: 400, title: 'Imagery file is unreadable, corrupt or truncated' },
  HATAKE_E_IMAGERY_GRID: { status: 400, title: 'Imagery bands do not share one grid' },
  HATAKE_E_IMAGERY_BANDS: { status: 400, title: 'Imagery lacks a band the sensor profile or index needs' },
  HATAKE_E_IMAGERY_CRS: { status: 400, title: 'Imagery coordinate reference system is unknown' },
  HATAKE_E_IMAGERY_RADIOMETRY: { status: 400, title: 'Radiometric offset or scale cannot be decided' },
  HATAKE_E_FIELDS: { status: 400, title: 'Field boundaries are invalid or do not touch the imagery' },
  HATAKE_E_IMAGERY_TRANSFER: { status: 400, title: 'Imagery transfer refused' },
  HATAKE_E_MODEL_NOT_FOUND: { status: 404, title: 'Model or crop profile is not installed' },
  HATAKE_E_MODEL_CARD: { status: 400, title: 'Model card or crop profile is invalid' },
  HATAKE_E_MODEL_INTEGRITY: { status: 422, title: 'Model file does not match its card (sha256, signature)' },
  HATAKE_E_MODEL_CORRUPT: { status: 422, title: 'Model artifact is not a loadable ONNX model' },
  HATAKE_E_MODEL_INCOMPATIBLE: { status: 422, title: 'Model inputs or outputs do not match its card' },
  HATAKE_E_MODEL_INPUT_MISSING: { status: 422, title: 'A model input is missing; no recommendation' },
  HATAKE_E_MODEL_INPUT_RANGE: { status: 422, title: 'A model input is outside its valid range' },
  HATAKE_E_INFERENCE: { status: 503, title: 'Inference failed or the inference pool is unavailable' },
  HATAKE_E_TRIALS: { status: 400, title: 'Trial data cannot be used for training' },
  HATAKE_E_PRESCRIPTION: { status: 400, title: 'Recommendation cannot be exported as a prescription' },
  HATAKE_E_CODEC: { status: 400, title: 'Payload codec failed or reported an error' },
  HATAKE_E_CODEC_LIMIT: { status: 400, title: 'Payload codec exceeded its time or memory limit' },
  HATAKE_E_PAYLOAD_BINARY: { status: 400, title: 'Binary payload is malformed or truncated' },
  HATAKE_E_UNKNOWN_COMMAND: { status: 400, title: 'Command is not known to the device kit' },
  HATAKE_E_RULE_INPUT: { status: 400, title: 'Rule input (context, readings, series) is malformed' },
  HATAKE_E_RULE_PARAMS: { status: 400, title: 'Rule parameters are invalid' },
  HATAKE_E_TIP_STATE: { status: 400, title: 'Tip lifecycle state is malformed' },
  HATAKE_E_STATE_CONFLICT: {
    status: 409,
    title: 'Not allowed in the current state (already decided, changed meanwhile, or expired)',
  },
  HATAKE_E_AUTOMATION: { status: 400, title: "Automation does not fit the farm's devices and kits" },
  HATAKE_E_WEBHOOK: { status: 400, title: 'Webhook target or subscription is not allowed' },
  HATAKE_E_FIELD_STAGE: {
    status: 400,
    title: "Growth stage does not fit the field's crop, or its day is outside the days the rules use",
  },
  // Farm manifest problems (firmware-config/manifest-check.ts): one code per kind of mistake, so
  // the partner page can say each in Japanese (an unknown kit is HATAKE_E_UNKNOWN_KIT, a file over
  // the size limit HATAKE_E_PAYLOAD_SIZE).
  HATAKE_E_MANIFEST_YAML: { status: 400, title: 'Manifest is not valid YAML' },
  HATAKE_E_MANIFEST_TYPE: { status: 400, title: 'Manifest value is of the wrong type' },
  HATAKE_E_MANIFEST_REQUIRED: { status: 400, title: 'Manifest entry is missing' },
  HATAKE_E_MANIFEST_UNKNOWN_KEY: { status: 400, title: 'Manifest entry name is not known' },
  HATAKE_E_MANIFEST_FORMAT: { status: 400, title: 'Manifest value is not written in the required form' },
  HATAKE_E_MANIFEST_RANGE: { status: 400, title: 'Manifest value, length or count is out of range' },
  HATAKE_E_MANIFEST_TIMEZONE: { status: 400, title: 'Time zone is not known' },
  HATAKE_E_MANIFEST_FUTURE_DATE: { status: 400, title: 'Planting or observation date is in the future' },
  HATAKE_E_MANIFEST_DUPLICATE_ID: { status: 400, title: 'Field id, device id or DevEUI is used twice' },
  HATAKE_E_MANIFEST_UNKNOWN_FIELD: { status: 400, title: 'Device names a field the manifest does not have' },
  HATAKE_E_MANIFEST_OUTSIDE_FIELD: { status: 400, title: "Device position is outside its field's boundary" },
  HATAKE_E_MANIFEST_GEOJSON: { status: 400, title: 'Boundary is not a GeoJSON Polygon' },
  HATAKE_E_MANIFEST_RING_OPEN: { status: 400, title: 'Boundary ring is not closed' },
  HATAKE_E_MANIFEST_RING_CROSSING: { status: 400, title: 'Boundary crosses itself' },
  HATAKE_E_MANIFEST_BOUNDARY_FILE: { status: 400, title: 'Boundary file is missing or too large' },
  HATAKE_E_MANIFEST_CALIBRATION: { status: 400, title: 'Calibration of a metric the kit does not calibrate' },
  HATAKE_E_MANIFEST_DEVEUI: { status: 400, title: 'LoRaWAN device has no DevEUI' },
  HATAKE_E_MANIFEST_MODEL: {
    status: 400,
    title: 'Field names a model that is not installed or not for its crop',
  },
  HATAKE_E_MANIFEST_PROFILE: {
    status: 400,
    title: 'Field names a crop profile that is not installed or does not fit its crop or model',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Every code a manifest problem can carry: one per kind of mistake (firmware-config/manifest-check.ts; docs/kits.md lists them). */
export const MANIFEST_PROBLEM_CODES = [
  'HATAKE_E_MANIFEST_YAML',
  'HATAKE_E_PAYLOAD_SIZE',
  'HATAKE_E_MANIFEST_TYPE',
  'HATAKE_E_MANIFEST_REQUIRED',
  'HATAKE_E_MANIFEST_UNKNOWN_KEY',
  'HATAKE_E_MANIFEST_FORMAT',
  'HATAKE_E_MANIFEST_RANGE',
  'HATAKE_E_MANIFEST_TIMEZONE',
  'HATAKE_E_MANIFEST_FUTURE_DATE',
  'HATAKE_E_MANIFEST_DUPLICATE_ID',
  'HATAKE_E_UNKNOWN_KIT',
  'HATAKE_E_MANIFEST_UNKNOWN_FIELD',
  'HATAKE_E_MANIFEST_OUTSIDE_FIELD',
  'HATAKE_E_MANIFEST_GEOJSON',
  'HATAKE_E_MANIFEST_RING_OPEN',
  'HATAKE_E_MANIFEST_RING_CROSSING',
  'HATAKE_E_MANIFEST_BOUNDARY_FILE',
  'HATAKE_E_MANIFEST_CALIBRATION',
  'HATAKE_E_MANIFEST_DEVEUI',
  'HATAKE_E_MANIFEST_MODEL',
  'HATAKE_E_MANIFEST_PROFILE',
] as const satisfies readonly ErrorCode[];
export type ManifestProblemCode = (typeof MANIFEST_PROBLEM_CODES)[number];

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
