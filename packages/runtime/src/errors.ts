/** Errors of the runtime, and how the runtime tells a passing outage from a message that can never succeed. */

export const RuntimeErrorCode = {
  /** The message could not be decoded; retrying cannot help. */
  decode: 'DECODE',
  /** The message can never be processed (bad content); it goes to the dead-letter stream. */
  poison: 'POISON',
  /** The actor was stopped. */
  stopped: 'STOPPED',
  /** An effect was refused because a newer lease epoch holds the partition: this instance lost it. */
  fenced: 'FENCED',
} as const;
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];

/**
 * An error with a stable code that callers switch on, the original error kept as `cause`: the base of the errors of
 * the packages built on the runtime, each with its own codes (and what else it must tell).
 */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class RuntimeError extends CodedError<RuntimeErrorCode> {
  override readonly name = 'RuntimeError';
}

export function isRuntimeError(err: unknown): err is RuntimeError {
  return err instanceof RuntimeError;
}

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : `non-error thrown: ${String(value)}`, {
    cause: value,
  });
}

/**
 * True when `err` or one of its causes says an effect was refused because a newer lease epoch holds the partition
 * (code `FENCED`, or `<PACKAGE>_FENCED` as the bus and the stores name it). Such a turn is neither retried nor
 * dead-lettered: its actor stops, as its instance no longer owns the partition.
 */
export function isFencedError(err: unknown): boolean {
  for (
    let current: unknown = err, depth = 0;
    typeof current === 'object' && current !== null && depth < 8;
    depth++
  ) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (code === 'FENCED' || code.endsWith('_FENCED'))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The lease epoch that refused a fenced effect, when the error (or a cause) tells it (`currentEpoch`): the epoch
 * a newer owner claimed the partition under.
 */
export function fencingEpochOf(err: unknown): number | undefined {
  for (
    let current: unknown = err, depth = 0;
    typeof current === 'object' && current !== null && depth < 8;
    depth++
  ) {
    const epoch = (current as { currentEpoch?: unknown }).currentEpoch;
    if (typeof epoch === 'number' && Number.isSafeInteger(epoch)) return epoch;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
