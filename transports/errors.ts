/**
 * One error class with a closed set of stable codes. Tests assert codes, never message text.
 * The sidecar's wire codes (sidecars/errors.py) are a subset and keep their names.
 */
export const HARNESS_ERROR_CODES = [
  // Wire codes, as the sidecar sends them.
  'BAD_FRAME',
  'FRAME_TOO_LARGE',
  'UNKNOWN_TYPE',
  'BAD_INPUT',
  'UNSUPPORTED_OP',
  'MODEL_ERROR',
  'INTERNAL',
  /** Also a wire code: a generation whose client stopped reading for too long. */
  'TIMEOUT',
  /** Refused at a limit (connections, bytes held for unfinished calls): try again later. */
  'OVERLOADED',
  // Client and harness side.
  'SIDECAR_CLOSED',
  'SIDECAR_START_FAILED',
  'SIDECAR_CRASHED',
  'CONNECT_FAILED',
  'PROTOCOL_ERROR',
  'MISMATCH',
  /** A reply named a class the harness's class names do not have (framed type 1's label text). */
  'UNKNOWN_LABEL',
  'USAGE',
  'SETUP_FAILED',
  'ABORTED',
] as const;

export type HarnessErrorCode = (typeof HARNESS_ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(HARNESS_ERROR_CODES);

export function isHarnessErrorCode(value: unknown): value is HarnessErrorCode {
  return typeof value === 'string' && CODE_SET.has(value);
}

export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  readonly code: HarnessErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: HarnessErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}

/** Normalise anything thrown at a boundary into a HarnessError, keeping the original as `cause`. */
export function toHarnessError(error: unknown, fallback: HarnessErrorCode = 'INTERNAL'): HarnessError {
  if (error instanceof HarnessError) return error;
  if (error instanceof Error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ECONNREFUSED' || errno === 'ENOENT') {
      return new HarnessError('CONNECT_FAILED', error.message, { cause: error });
    }
    if (errno === 'ECONNRESET' || errno === 'EPIPE') {
      return new HarnessError('SIDECAR_CLOSED', error.message, { cause: error });
    }
    return new HarnessError(fallback, error.message, { cause: error });
  }
  return new HarnessError(fallback, String(error), { cause: error });
}

/** A wire error object `{code, message}` from any transport, as a HarnessError. */
export function fromWireError(value: unknown): HarnessError {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const code = isHarnessErrorCode(record['code']) ? record['code'] : 'PROTOCOL_ERROR';
  const message = typeof record['message'] === 'string' ? record['message'] : JSON.stringify(value);
  return new HarnessError(code, message, { details: { wire: value } });
}
