/**
 * The ingest service's gRPC handlers: each request's bytes bounded before they are decoded, every caller
 * authenticated and every event validated and authorized before anything is published, and a stream's messages
 * published a window at a time.
 */
import * as grpc from '@grpc/grpc-js';
import { IngestServiceService, PublishBatchRequest, type IngestServiceServer } from '@throughline/contracts';
import { ensureError, type Logger } from '@throughline/runtime';
import { isPipelineError, isResourceExhaustedError } from './errors.js';
import { IngestAccess, type CallIdentity, type IngestClient } from './ingest-clients.js';
import type { IngestPublisher } from './ingest-publisher.js';
import { scanPublishRequest } from './request-bounds.js';
import { describeViolation, validateEvents, type EventLimits, type FieldViolation } from './validation.js';

/** Streamed batches a PublishStream call may have in flight before it stops reading from the client. */
export const STREAM_WINDOW = 8;

/** What was learnt of a request from its bytes: their number, and why it was not decoded. */
const received = new WeakMap<PublishBatchRequest, { bytes: number; refused?: FieldViolation }>();

/**
 * IngestService's definition with a bounded decoder: each request's bytes are scanned (event count, each event's
 * size, the encoding) before protobuf decodes them; a request refused there, or that does not decode, reaches the
 * handler empty, with its violation (answered INVALID_ARGUMENT there, never an INTERNAL from grpc-js).
 */
export function ingestServiceDefinition(limits: EventLimits): typeof IngestServiceService {
  const requestDeserialize = (bytes: Buffer): PublishBatchRequest => {
    const refused = scanPublishRequest(bytes, limits);
    let request: PublishBatchRequest = { events: [] };
    let why = refused;
    if (refused === undefined) {
      try {
        request = PublishBatchRequest.decode(bytes);
      } catch (err) {
        why = {
          index: -1,
          field: 'request',
          description: `is not a valid PublishBatchRequest encoding: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
    }
    received.set(
      request,
      why === undefined ? { bytes: bytes.length } : { bytes: bytes.length, refused: why },
    );
    return request;
  };
  return {
    ...IngestServiceService,
    publishBatch: { ...IngestServiceService.publishBatch, requestDeserialize },
    publishStream: { ...IngestServiceService.publishStream, requestDeserialize },
  };
}

/**
 * IngestService: authenticates the caller (UNAUTHENTICATED without a valid credential), validates every event of a
 * request before anything is published (a bad request is refused whole with INVALID_ARGUMENT naming the event
 * index and field), refuses an event of a tenant the client may not publish for (PERMISSION_DENIED naming the
 * event), then answers once the stream has acked every event.
 */
export function createIngestService(
  publisher: Pick<IngestPublisher, 'publish'>,
  limits: EventLimits,
  logger: Logger,
  access: IngestAccess = new IngestAccess(undefined),
): IngestServiceServer {
  return {
    publishBatch(call, callback) {
      try {
        const who = access.authenticate(identityOf(call));
        if (!who.ok) {
          callback(who.status);
          return;
        }
        const error = check(call.request, limits) ?? denied(access, who.client, call.request);
        if (error) {
          callback(error);
          return;
        }
        publisher.publish(call.request.events, received.get(call.request)?.bytes).then(
          () => callback(null, { accepted: call.request.events.length }),
          (err: unknown) => callback(toStatus(err, logger)),
        );
      } catch (err) {
        callback(internal(err, logger));
      }
    },
    publishStream(call, callback) {
      const who = access.authenticate(identityOf(call));
      if (!who.ok) {
        // Nothing of the stream is read: the call ends at once.
        callback(who.status);
        return;
      }
      const client = who.client;
      let accepted = 0n;
      let batches = 0n;
      let failed = false;
      let ended = false;
      const inFlight = new Set<Promise<void>>();
      /** Answers with `status` once the earlier messages' publishes settled, so the count it gives is final. */
      const fail = (status: (accepted: bigint) => Partial<grpc.StatusObject>): void => {
        if (failed) return;
        failed = true;
        call.removeAllListeners('data');
        void Promise.allSettled([...inFlight]).then(() => callback(status(accepted)));
      };
      const finish = (): void => {
        if (!failed && ended && inFlight.size === 0) callback(null, { accepted, batches });
      };
      const onData = (request: PublishBatchRequest): void => {
        if (failed) return;
        const index = batches;
        if (!access.isCurrent(client)) {
          fail((earlier) => ({
            code: grpc.status.UNAUTHENTICATED,
            details: `message ${index}: the client's credential was revoked during the stream (${earlier} events of earlier messages were accepted)`,
          }));
          return;
        }
        const invalid =
          check(request, limits, `message ${index}: `) ??
          denied(access, client, request, `message ${index}: `);
        if (invalid) {
          fail((earlier) => ({
            ...invalid,
            details: `${invalid.details} (${earlier} events of earlier messages were accepted)`,
          }));
          return;
        }
        batches++;
        const publishing = publisher.publish(request.events, received.get(request)?.bytes).then(
          () => {
            accepted += BigInt(request.events.length);
          },
          (err: unknown) => fail(() => toStatus(err, logger)),
        );
        inFlight.add(publishing);
        if (inFlight.size >= STREAM_WINDOW) call.pause();
        void publishing.finally(() => {
          inFlight.delete(publishing);
          if (inFlight.size < STREAM_WINDOW) call.resume();
          finish();
        });
      };
      call.on('data', (request: PublishBatchRequest) => {
        try {
          onData(request);
        } catch (err) {
          fail(() => internal(err, logger));
        }
      });
      call.on('end', () => {
        ended = true;
        finish();
      });
      call.on('error', (err) => logger.warn('publish stream broken by the client', { error: err.message }));
    },
  };
}

/** What the transport says of the caller: its `authorization` header and its verified certificate's name. */
function identityOf(
  call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>,
): CallIdentity {
  const header = call.metadata.get('authorization')[0];
  const cn: unknown = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  return {
    authorization: header === undefined ? undefined : String(header),
    certificateName: typeof cn === 'string' ? cn : Array.isArray(cn) ? String(cn[0]) : undefined,
  };
}

/** PERMISSION_DENIED naming the first event of a tenant `client` may not publish for. */
function denied(
  access: IngestAccess,
  client: IngestClient,
  request: PublishBatchRequest,
  prefix = '',
): Partial<grpc.StatusObject> | undefined {
  const refused = access.refusal(client, request.events, prefix);
  if (refused === undefined) return undefined;
  const metadata = new grpc.Metadata();
  metadata.set('tl-violation-index', String(refused.index));
  metadata.set('tl-violation-field', 'tenant_id');
  return { code: refused.code, details: wellFormed(refused.details), metadata };
}

function check(
  request: PublishBatchRequest,
  limits: EventLimits,
  prefix = '',
): Partial<grpc.StatusObject> | undefined {
  const violation = received.get(request)?.refused ?? validateEvents(request.events, limits);
  if (violation === undefined) return undefined;
  const metadata = new grpc.Metadata();
  metadata.set('tl-violation-index', String(violation.index));
  metadata.set('tl-violation-field', asciiMetadata(violation.field));
  return {
    code: grpc.status.INVALID_ARGUMENT,
    details: wellFormed(`${prefix}${describeViolation(violation)}`),
    metadata,
  };
}

/**
 * A metadata value holds printable ASCII only (grpc-js throws on anything else): every other character is written
 * as `\uXXXX`, as in JSON — a field named after a client's attribute key can hold any text.
 */
function asciiMetadata(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `value` with every lone surrogate replaced by U+FFFD: what the grpc-message header can carry. */
function wellFormed(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}

/** A handler's unexpected throw: logged and answered INTERNAL, never a crash of the process. */
function internal(err: unknown, logger: Logger): Partial<grpc.StatusObject> {
  const e = ensureError(err);
  logger.error('ingest handler failed', { error: e.message, stack: e.stack });
  return { code: grpc.status.INTERNAL, details: wellFormed(`ingest failed on this request: ${e.message}`) };
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
