/** Typed errors of the bus: one class, stable codes, predicates. */

export const BusErrorCode = {
  /** An argument was malformed (subject, partition, consumer group, setting). */
  invalidArgument: 'BUS_INVALID_ARGUMENT',
  /** The connection to the message server could not be established. */
  connectFailed: 'BUS_CONNECT_FAILED',
  /** No stream stores the subject (run `ensureTopology()` first), or JetStream is unavailable. */
  noStream: 'BUS_NO_STREAM',
  /** A stream exists with settings that cannot be updated in place (retention, storage). */
  topologyConflict: 'BUS_TOPOLOGY_CONFLICT',
  /** The server cannot keep what the settings ask safely (more than one copy before nats-server 2.10). */
  unsupportedServer: 'BUS_UNSUPPORTED_SERVER',
  /** Another consumer group already consumes the partition (work-queue streams allow one consumer a subject). */
  consumerConflict: 'BUS_CONSUMER_CONFLICT',
  /** The message is larger than the stream (or the server) accepts. */
  messageTooLarge: 'BUS_MESSAGE_TOO_LARGE',
  /** A publish was not confirmed by the stream. */
  publishFailed: 'BUS_PUBLISH_FAILED',
  /** An acknowledgement was not confirmed by the server. */
  ackFailed: 'BUS_ACK_FAILED',
  /** A management request (stream, consumer) failed. */
  requestFailed: 'BUS_REQUEST_FAILED',
  /** The mailbox stopped receiving because of an error (see `cause`). */
  mailboxFailed: 'BUS_MAILBOX_FAILED',
  /** A newer lease epoch holds the partition: the caller lost its lease and must stop. */
  fenced: 'BUS_FENCED',
  /** The bus was closed. */
  closed: 'BUS_CLOSED',
} as const;
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

export class BusError extends Error {
  override readonly name = 'BusError';
  readonly code: BusErrorCode;
  /** For `BUS_FENCED`: the newer lease epoch that holds the partition. */
  readonly currentEpoch: number | undefined;
  constructor(code: BusErrorCode, message: string, options?: { cause?: unknown; currentEpoch?: number }) {
    super(message, options);
    this.code = code;
    this.currentEpoch = options?.currentEpoch;
  }
}

/** True when `err` is a `BusError`, and (when given) has `code`. */
export function isBusError(err: unknown, code?: BusErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code);
}

/** Turns anything thrown into an Error, keeping the original as `cause`. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : `non-error thrown: ${String(value)}`, {
    cause: value,
  });
}
