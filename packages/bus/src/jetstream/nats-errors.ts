/** Turns nats.js errors into `BusError`s with the code a caller can act on. */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { ClosedConnectionError, DrainingConnectionError, NoRespondersError } from '@nats-io/nats-core';
import { BusError, BusErrorCode, ensureError } from '../errors.js';

/** nats-server's error code for "filtered consumer not unique on workqueue stream" and its siblings. */
const WORKQUEUE_CONSUMER_CONFLICT_CODES: ReadonlySet<number> = new Set([10099, 10100]);
/** "message size exceeds maximum allowed". */
const MESSAGE_TOO_LARGE_CODE = 10054;

/** "filtered consumer not unique on workqueue stream": another consumer (or a ghost of one) holds the subject. */
export function isNotUnique(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10100;
}

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

export function isConsumerNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}

/**
 * A stream message asked for by sequence is not (or no longer) there: "no message found" on a get (10037), on a
 * delete (10057, nats-server's JSStreamMsgDeleteFailedF).
 */
export function isNoMessage(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.NoMessageFound || err.code === 10057)
  );
}

/**
 * "no suitable peers for placement" (10005): a clustered JetStream cannot place the copies asked for — for good when
 * it has fewer servers, for a moment while a server is joining (seen on a cluster just started).
 */
export function isNoPeers(err: unknown): boolean {
  return hasApiCode(err, 10005);
}

/** Whether `err`, or an error it wraps, is a JetStream API error with `code`. */
function hasApiCode(err: unknown, code: number): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++)
    if (e instanceof JetStreamApiError && e.code === code) return true;
  return false;
}

const SEQUENCE_RESYNC_CODE = 10077;
/** "JetStream system temporarily unavailable": a clustered JetStream without a meta leader yet. */
const TEMPORARILY_UNAVAILABLE_CODE = 10008;

/**
 * "expected sequence does not match store" (10077, status 503): the leader of a clustered stream refused a publish
 * because its count of proposed messages disagrees with its store — after a purge moved the stream's sequence
 * (nats-server before 2.9.21 does not reset the count then). Nothing was stored, and the leader has set its count
 * right: the same publish, compare-and-set included, can be sent again.
 */
export function isSequenceResync(err: unknown): boolean {
  return hasApiCode(err, SEQUENCE_RESYNC_CODE);
}

/**
 * Whether `err` (or an error it wraps) says that JetStream did not answer for now rather than that the request is
 * wrong: a timed-out request, one nobody answered, or a JetStream API error with status 503 or "temporarily
 * unavailable". On a
 * clustered JetStream this is how a stream or meta leader election looks to a client (a few seconds).
 */
export function isJetStreamUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e.name === 'TimeoutError') return true;
    // A KV or API request to a stream whose leader is not elected yet: nobody answers its subject for a moment.
    if (e instanceof NoRespondersError) return true;
    if (e instanceof JetStreamApiError && (e.status === 503 || e.code === TEMPORARILY_UNAVAILABLE_CODE))
      return true;
  }
  return false;
}

/** Maps `err` to a BusError; `fallback` is the code when nothing more specific applies. */
export function toBusError(err: unknown, fallback: BusErrorCode, context: string): BusError {
  if (err instanceof BusError) return err;
  const error = ensureError(err);
  const code = classify(error) ?? fallback;
  return new BusError(code, `${context}: ${error.message}`, { cause: error });
}

function classify(error: Error): BusErrorCode | undefined {
  if (error instanceof JetStreamApiError) {
    if (error.code === JetStreamApiCodes.StreamNotFound) return BusErrorCode.noStream;
    if (WORKQUEUE_CONSUMER_CONFLICT_CODES.has(error.code)) return BusErrorCode.consumerConflict;
    if (error.code === MESSAGE_TOO_LARGE_CODE) return BusErrorCode.messageTooLarge;
    return undefined;
  }
  // A publish nobody answers: no stream captures the subject (nats.js calls it "jetstream is not enabled").
  if (error instanceof NoRespondersError || error.name === 'JetStreamNotEnabled')
    return BusErrorCode.noStream;
  if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError)
    return BusErrorCode.closed;
  if (error.message.includes('max_payload')) return BusErrorCode.messageTooLarge;
  return undefined;
}
