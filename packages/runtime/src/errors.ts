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

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
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

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  // @throughline/bus
  'BUS_CONNECT_FAILED',
  'BUS_PUBLISH_FAILED',
  'BUS_ACK_FAILED',
  'BUS_REQUEST_FAILED',
  'BUS_NO_STREAM',
  // nats.js
  'TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_DRAINING',
  'DISCONNECT',
  '503',
]);

const TRANSIENT_MESSAGES = [
  /connection is closed/i,
  /connection terminated/i,
  /connection refused/i,
  /not connected/i,
  /timeout/i,
  /timed out/i,
  /no responders/i,
  /reached the max retries per request limit/i,
  /the database system is (starting up|shutting down)/i,
  /terminating connection due to administrator command/i,
  /cannot connect now/i,
  /Client has encountered a connection error/i,
  /unavailable/i,
];

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

/**
 * True when `err` (or one of its causes) looks like a dependency that is down or slow — a refused or reset
 * connection, a time-out, PostgreSQL's class 08 and 57P0x errors, a closed Redis or NATS connection. Such a
 * turn is retried until the dependency is back, without burning the message's bounded attempts.
 */
export function isTransientError(err: unknown): boolean {
  for (
    let current: unknown = err, depth = 0;
    current !== undefined && current !== null && depth < 8;
    depth++
  ) {
    if (typeof current !== 'object') return false;
    const e = current as { code?: unknown; message?: unknown; transient?: unknown; cause?: unknown };
    if (e.transient === true) return true;
    if (isRuntimeError(current)) return false;
    const code = typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : undefined;
    if (code !== undefined) {
      if (TRANSIENT_CODES.has(code)) return true;
      if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300') return true;
    }
    if (typeof e.message === 'string' && TRANSIENT_MESSAGES.some((re) => re.test(e.message as string)))
      return true;
    current = e.cause;
  }
  return false;
}
