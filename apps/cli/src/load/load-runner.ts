/** Sends the request stream to an IngestService at a target rate with bounded concurrency, and counts the outcome. */
import * as grpc from '@grpc/grpc-js';
import { publishWithRetry, type IngestServiceClient } from '@throughline/contracts';
import { statusName } from '../grpc.js';
import { RequestStream, type LoadRequest, type RequestStreamOptions } from './request-stream.js';

export interface LoadOptions extends RequestStreamOptions {
  /** Events a second, or as fast as the server takes them. */
  rate: number | 'max';
  /** Stop after this many events … */
  events?: number;
  /** … or after this long, ms. */
  durationMs?: number;
  concurrency: number;
  /** Deadline of one request, ms. Default 30000. */
  requestTimeoutMs?: number;
  /** The client's token (`throughline clients create`), sent as a bearer token. */
  token?: string;
  signal?: AbortSignal;
  onProgress?: (report: LoadReport) => void;
}

export interface LoadReport {
  elapsedMs: number;
  /** Events in requests the server accepted. */
  acceptedEvents: number;
  /** Of those, events sent again on purpose (the pipeline must apply them once). */
  resentEvents: number;
  malformedSent: number;
  /** Malformed events refused with INVALID_ARGUMENT, as they should be. */
  malformedRefused: number;
  requests: number;
  /** Attempts retried after RESOURCE_EXHAUSTED or UNAVAILABLE. */
  retries: number;
  /** Failures by gRPC status (a failed request counts once, with its final status). */
  errors: Record<string, number>;
  /** Per successful request, send to answer (retries included), ms. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  acceptedPerSecond: number;
}

const MAX_ATTEMPTS = 20;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function runLoad(client: IngestServiceClient, o: LoadOptions): Promise<LoadReport> {
  const stream = new RequestStream(o);
  const started = performance.now();
  const latencies: number[] = [];
  const report: LoadReport = {
    elapsedMs: 0,
    acceptedEvents: 0,
    resentEvents: 0,
    malformedSent: 0,
    malformedRefused: 0,
    requests: 0,
    retries: 0,
    errors: {},
    latencyMs: { p50: 0, p90: 0, p99: 0, max: 0 },
    acceptedPerSecond: 0,
  };
  let scheduled = 0;
  const budgetLeft = (): number => (o.events === undefined ? Number.MAX_SAFE_INTEGER : o.events - scheduled);
  const timeLeft = (): boolean => o.durationMs === undefined || performance.now() - started < o.durationMs;
  const nextRequest = (): LoadRequest | undefined => {
    if (o.signal?.aborted || budgetLeft() <= 0 || !timeLeft()) return undefined;
    const request = stream.next(budgetLeft());
    scheduled += request.events.length;
    return request;
  };

  const send = async (request: LoadRequest): Promise<void> => {
    const t0 = performance.now();
    try {
      await publishWithRetry(client, request.events, {
        token: o.token,
        attemptTimeoutMs: o.requestTimeoutMs ?? 30_000,
        maxAttempts: MAX_ATTEMPTS,
        signal: o.signal,
        onRetry: () => report.retries++,
      });
      latencies.push(performance.now() - t0);
      if (request.kind === 'valid') {
        report.acceptedEvents += request.events.length;
        report.resentEvents += request.resent;
      } else {
        report.errors.ACCEPTED_MALFORMED = (report.errors.ACCEPTED_MALFORMED ?? 0) + 1;
      }
    } catch (err) {
      if (request.kind === 'invalid' && (err as grpc.ServiceError).code === grpc.status.INVALID_ARGUMENT) {
        report.malformedRefused += request.events.length;
        return;
      }
      const kind = statusName(err);
      report.errors[kind] = (report.errors[kind] ?? 0) + 1;
    }
  };

  const worker = async (): Promise<void> => {
    for (let request = nextRequest(); request !== undefined; request = nextRequest()) {
      if (o.rate !== 'max') {
        // Open-loop pacing: the request's first event is due when the ones before it have had their time.
        const dueMs = ((scheduled - request.events.length) * 1000) / o.rate;
        const waitMs = dueMs - (performance.now() - started);
        if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      }
      report.requests++;
      if (request.kind === 'invalid') report.malformedSent += request.events.length;
      await send(request);
    }
  };

  const finish = (): LoadReport => {
    report.elapsedMs = performance.now() - started;
    const sorted = [...latencies].sort((a, b) => a - b);
    report.latencyMs = {
      p50: quantile(sorted, 0.5),
      p90: quantile(sorted, 0.9),
      p99: quantile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? 0,
    };
    report.acceptedPerSecond = (report.acceptedEvents * 1000) / Math.max(1, report.elapsedMs);
    return { ...report, errors: { ...report.errors } };
  };
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(finish()), 1000) : undefined;
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearInterval(ticker);
  }
  return finish();
}
