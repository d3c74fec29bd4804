/**
 * Publishing to IngestService as a client should: with its credential, and retrying what ingest asks to be
 * retried — RESOURCE_EXHAUSTED after the `retry-after-ms` hint it carries, UNAVAILABLE after a pause. A retried
 * call is safe: events are de-duplicated by `event_id`. Every other status (INVALID_ARGUMENT, UNAUTHENTICATED,
 * PERMISSION_DENIED, …) is the caller's to handle and is thrown at once. The one client of the load command, the
 * benchmarks, the end-to-end tests and the chart's smoke test.
 */
import * as grpc from '@grpc/grpc-js';
import type { IngestServiceClient } from './gen/throughline/v1/ingest.js';
import type { Event } from './gen/throughline/v1/events.js';

export interface PublishOptions {
  /** A client token, sent as `authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Deadline of each attempt, ms. Default: none. */
  attemptTimeoutMs?: number | undefined;
}

export interface PublishWithRetryOptions extends PublishOptions {
  /** Attempts before the last error is thrown. Default 50. */
  maxAttempts?: number | undefined;
  /** Pause after UNAVAILABLE, or after RESOURCE_EXHAUSTED without a usable hint, ms. Default 200. */
  pauseMs?: number | undefined;
  /** Stops retrying once aborted (the last error is thrown). */
  signal?: AbortSignal | undefined;
  /** Told of each retry: the status that caused it, and the attempt that failed (1 for the first). */
  onRetry?: ((code: grpc.status, attempt: number) => void) | undefined;
}

/** The call metadata of a client: its bearer token, if it has one. */
export function clientMetadata(token: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** One PublishBatch call: the number of events ingest accepted. */
export function publishOnce(
  client: IngestServiceClient,
  events: readonly Event[],
  opts: PublishOptions = {},
): Promise<number> {
  const callOptions: Partial<grpc.CallOptions> =
    opts.attemptTimeoutMs === undefined ? {} : { deadline: new Date(Date.now() + opts.attemptTimeoutMs) };
  return new Promise((resolve, reject) => {
    client.publishBatch({ events: events as Event[] }, clientMetadata(opts.token), callOptions, (err, res) =>
      err ? reject(err) : resolve(res.accepted),
    );
  });
}

/** Whether ingest asks for `code` to be retried. */
export function isRetriable(code: grpc.status | undefined): boolean {
  return code === grpc.status.RESOURCE_EXHAUSTED || code === grpc.status.UNAVAILABLE;
}

/** How long to wait before retrying after `err`: its `retry-after-ms` hint, or `pauseMs`. */
export function retryDelayMs(err: grpc.ServiceError, pauseMs = 200): number {
  const hint = Number(err.metadata?.get('retry-after-ms')[0]);
  return err.code === grpc.status.RESOURCE_EXHAUSTED && Number.isFinite(hint) && hint >= 0 ? hint : pauseMs;
}

/** PublishBatch, retried while ingest asks for it (see the module's comment). */
export async function publishWithRetry(
  client: IngestServiceClient,
  events: readonly Event[],
  opts: PublishWithRetryOptions = {},
): Promise<number> {
  const maxAttempts = opts.maxAttempts ?? 50;
  for (let attempt = 1; ; attempt++) {
    try {
      return await publishOnce(client, events, opts);
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (!isRetriable(e.code) || attempt >= maxAttempts || opts.signal?.aborted === true) throw err;
      opts.onRetry?.(e.code, attempt);
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(e, opts.pauseMs)));
    }
  }
}
