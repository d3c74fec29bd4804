import * as grpc from '@grpc/grpc-js';
import type { IngestServiceServer, PublishBatchRequest } from '@throughline/contracts';
import {
  describeViolation,
  isPipelineError,
  isResourceExhaustedError,
  validateEvents,
  type EventLimits,
  type IngestPublisher,
} from '@throughline/pipeline';
import { ensureError, type Logger } from '@throughline/runtime';

/** Streamed batches a PublishStream call may have in flight before it stops reading from the client. */
const STREAM_WINDOW = 8;

/**
 * IngestService: validates every event of a request before anything is published (a bad request is refused whole
 * with INVALID_ARGUMENT naming the event index and field), then answers once the stream has acked every event.
 */
export function createIngestService(
  publisher: IngestPublisher,
  limits: EventLimits,
  logger: Logger,
): IngestServiceServer {
  return {
    publishBatch(call, callback) {
      const error = check(call.request, limits);
      if (error) {
        callback(error);
        return;
      }
      publisher.publish(call.request.events).then(
        () => callback(null, { accepted: call.request.events.length }),
        (err: unknown) => callback(toStatus(err, logger)),
      );
    },
    publishStream(call, callback) {
      let accepted = 0n;
      let batches = 0n;
      let failed = false;
      let ended = false;
      const inFlight = new Set<Promise<void>>();
      const fail = (status: Partial<grpc.StatusObject>): void => {
        if (failed) return;
        failed = true;
        call.removeAllListeners('data');
        callback(status);
      };
      const finish = (): void => {
        if (!failed && ended && inFlight.size === 0) callback(null, { accepted, batches });
      };
      call.on('data', (request: PublishBatchRequest) => {
        if (failed) return;
        const index = batches;
        const invalid = check(request, limits, `message ${index}: `);
        if (invalid) {
          fail({
            ...invalid,
            details: `${invalid.details} (${accepted} events of earlier messages were accepted)`,
          });
          return;
        }
        batches++;
        const publishing = publisher.publish(request.events).then(
          () => {
            accepted += BigInt(request.events.length);
          },
          (err: unknown) => fail(toStatus(err, logger)),
        );
        inFlight.add(publishing);
        if (inFlight.size >= STREAM_WINDOW) call.pause();
        void publishing.finally(() => {
          inFlight.delete(publishing);
          if (inFlight.size < STREAM_WINDOW) call.resume();
          finish();
        });
      });
      call.on('end', () => {
        ended = true;
        finish();
      });
      call.on('error', (err) => logger.warn('publish stream broken by the client', { error: err.message }));
    },
  };
}

function check(
  request: PublishBatchRequest,
  limits: EventLimits,
  prefix = '',
): Partial<grpc.StatusObject> | undefined {
  const violation = validateEvents(request.events, limits);
  if (violation === undefined) return undefined;
  const metadata = new grpc.Metadata();
  metadata.set('tl-violation-index', String(violation.index));
  metadata.set('tl-violation-field', violation.field);
  return {
    code: grpc.status.INVALID_ARGUMENT,
    details: `${prefix}${describeViolation(violation)}`,
    metadata,
  };
}

function toStatus(err: unknown, logger: Logger): Partial<grpc.StatusObject> {
  if (isResourceExhaustedError(err)) {
    const metadata = new grpc.Metadata();
    metadata.set('retry-after-ms', String(err.retryAfterMs));
    return { code: grpc.status.RESOURCE_EXHAUSTED, details: err.message, metadata };
  }
  const e = ensureError(err);
  logger.warn('publish failed', {
    error: e.message,
    cause: e.cause instanceof Error ? e.cause.message : undefined,
  });
  if (isPipelineError(err))
    return {
      code: grpc.status.UNAVAILABLE,
      details: `${e.message}; retry the call (events are de-duplicated by event_id)`,
    };
  return { code: grpc.status.INTERNAL, details: e.message };
}
