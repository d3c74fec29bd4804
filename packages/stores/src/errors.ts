/** Errors of the stores: one class, stable codes, and the original driver error kept as `cause`. */

export const StoreErrorCode = {
  /** A schema migration failed; the transaction of that migration was rolled back. */
  migrationFailed: 'MIGRATION_FAILED',
  /** A batch could not be committed to PostgreSQL; nothing of it was written (one transaction). */
  commitFailed: 'COMMIT_FAILED',
  /** A read or write query on PostgreSQL failed. */
  queryFailed: 'QUERY_FAILED',
  /** A Redis round trip failed (connection, time-out, or an error reply). The caller retries. */
  redisFailed: 'REDIS_FAILED',
  /** Stored state could not be decoded (a foreign or corrupted value under one of our keys). */
  corruptState: 'CORRUPT_STATE',
  /** An argument is not acceptable (for example a Result with an unspecified outcome). Retrying cannot help. */
  invalidInput: 'INVALID_INPUT',
  /** The LISTEN connection for configuration changes failed. */
  listenFailed: 'LISTEN_FAILED',
  /** An effect was refused because a newer lease epoch owns the partition: the caller lost its lease. */
  fenced: 'STORE_FENCED',
  /** The schema is older than this build needs and the caller may not migrate it (`ensureSchema(…, 'off')`). */
  schemaBehind: 'SCHEMA_BEHIND',
  /** The partition's state in Redis has no marker (Redis lost it): rebuild it, then retry. */
  stateLost: 'STATE_LOST',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

const DEPENDENCY_OF: Partial<Record<StoreErrorCode, 'redis' | 'postgres'>> = {
  MIGRATION_FAILED: 'postgres',
  SCHEMA_BEHIND: 'postgres',
  COMMIT_FAILED: 'postgres',
  QUERY_FAILED: 'postgres',
  LISTEN_FAILED: 'postgres',
  REDIS_FAILED: 'redis',
  CORRUPT_STATE: 'redis',
  STATE_LOST: 'redis',
};

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  /** True when retrying after a while (or after the caller rebuilt what was lost) can succeed. */
  readonly transient: boolean;
  /** True when the input itself is at fault (`INVALID_INPUT`): the same input fails the same way every time. */
  readonly poison: boolean;
  /** The server the error came from, `redis` or `postgres`, when it came from one. */
  readonly dependency: 'redis' | 'postgres' | undefined;
  /** For `STORE_FENCED`, when known: the newer lease epoch that owns the partition. */
  readonly currentEpoch: number | undefined;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; currentEpoch?: number }) {
    super(message, options);
    this.code = code;
    this.transient = code === StoreErrorCode.stateLost;
    this.poison = code === StoreErrorCode.invalidInput;
    this.dependency = DEPENDENCY_OF[code];
    this.currentEpoch = options?.currentEpoch;
  }
}

/** True when `err` is a StoreError (of `code`, when given). */
export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : `non-error thrown: ${String(value)}`, {
    cause: value,
  });
}

/** Wraps a driver error into a StoreError of `code`, leaving StoreErrors (and their codes) as they are. */
export function toStoreError(code: StoreErrorCode, message: string, cause: unknown): StoreError {
  if (cause instanceof StoreError) return cause;
  const detail = ensureError(cause).message;
  return new StoreError(code, `${message}: ${detail}`, { cause });
}
