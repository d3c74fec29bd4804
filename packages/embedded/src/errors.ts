/** Errors of the embedded mode: one class, stable codes, the original error kept as `cause`. */
import { CodedError } from '@throughline/runtime';

export const EmbeddedErrorCode = {
  /** The embedded database could not be opened (data directory unusable, or not a database). */
  openFailed: 'EMBEDDED_OPEN_FAILED',
  /** A statement failed in the embedded database; `sqlState` holds PostgreSQL's error code when there is one. */
  queryFailed: 'EMBEDDED_QUERY_FAILED',
  /** The embedded database was closed, or its thread stopped. */
  closed: 'EMBEDDED_CLOSED',
  /** An option is not acceptable. */
  invalidArgument: 'EMBEDDED_INVALID_ARGUMENT',
} as const;
export type EmbeddedErrorCode = (typeof EmbeddedErrorCode)[keyof typeof EmbeddedErrorCode];

export class EmbeddedError extends CodedError<EmbeddedErrorCode> {
  override readonly name = 'EmbeddedError';
  /** PostgreSQL's SQLSTATE of a failed statement (`23505`, …), when known. */
  readonly sqlState: string | undefined;
  constructor(code: EmbeddedErrorCode, message: string, options?: { cause?: unknown; sqlState?: string }) {
    super(code, message, options);
    this.sqlState = options?.sqlState;
  }
}

/** True when `err` is an EmbeddedError (of `code`, when given). */
export function isEmbeddedError(err: unknown, code?: EmbeddedErrorCode): err is EmbeddedError {
  return err instanceof EmbeddedError && (code === undefined || err.code === code);
}
