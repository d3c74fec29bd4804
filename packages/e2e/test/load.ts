/**
 * A paced load for fault tests: events sent at a steady rate, every acknowledgement and every retry counted, so a
 * test can prove that each acknowledged event ended in exactly one ledger row while something was going wrong.
 */
import * as grpc from '@grpc/grpc-js';
import { get } from 'node:http';
import { publishWithRetry, type Event, type IngestServiceClient } from '@throughline/contracts';

export interface PacedLoad {
  /** Events acknowledged by ingest so far (each one a promise: it must reach the ledger). */
  readonly acknowledged: number;
  /** Events handed to ingest so far (acknowledged or in flight). */
  readonly sent: number;
  /** Requests retried, by gRPC status name. */
  readonly retries: Record<string, number>;
  /** Resolves once every event was acknowledged; rejects on an error that is not retried. */
  readonly done: Promise<void>;
  /**
   * Sends nothing more and gives up retrying; resolves when every request has ended. For a test that ends early:
   * called before the stack stops, so no request is left failing against services that are gone.
   */
  stop(): Promise<void>;
}

/**
 * Sends `events` at `perSecond` in requests of `batchSize`, up to `concurrency` requests at once, retrying
 * RESOURCE_EXHAUSTED (after its `retry-after-ms` hint) and UNAVAILABLE (after 200 ms), as a client would.
 */
export function sendPaced(
  client: IngestServiceClient,
  events: readonly Event[],
  opts: { perSecond: number; batchSize?: number; concurrency?: number },
): PacedLoad {
  const batchSize = opts.batchSize ?? 500;
  const concurrency = opts.concurrency ?? 8;
  const state = { acknowledged: 0, sent: 0, retries: {} as Record<string, number> };
  const started = performance.now();
  const stopping = new AbortController();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < events.length && !stopping.signal.aborted) {
      const chunk = events.slice(next, next + batchSize);
      // Not before its time: request k leaves at k × batchSize / perSecond.
      const dueMs = (next / opts.perSecond) * 1000;
      next += chunk.length;
      const waitMs = dueMs - (performance.now() - started);
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      state.sent += chunk.length;
      await publishWithRetry(client, chunk, {
        maxAttempts: 600,
        signal: stopping.signal,
        onRetry: (code) => {
          const name = grpc.status[code];
          state.retries[name] = (state.retries[name] ?? 0) + 1;
        },
      });
      state.acknowledged += chunk.length;
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => undefined);
  return {
    get acknowledged() {
      return state.acknowledged;
    },
    get sent() {
      return state.sent;
    },
    retries: state.retries,
    done,
    async stop() {
      stopping.abort();
      await done.catch(() => undefined);
    },
  };
}

/** The Prometheus text of a service's /metrics. */
export function scrapeMetrics(httpPort: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: httpPort, path: '/metrics', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`/metrics on port ${httpPort} timed out`)));
  });
}

/** The sum of a metric's samples whose labels include `labels` (0 when there is none). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/**
 * The partitions a service holds now, by its JSON log (one stage's instance): each `acquired partition` adds one,
 * each `released` or `lost partition` removes it.
 */
export function ownedPartitions(output: string): Set<number> {
  const owned = new Set<number>();
  for (const line of output.split('\n')) {
    const change = /: (acquired|released|lost) partition \d+"/.exec(line)?.[1];
    if (change === undefined) continue;
    try {
      const { partition } = JSON.parse(line) as { partition: number };
      if (change === 'acquired') owned.add(partition);
      else owned.delete(partition);
    } catch {
      // not a JSON line
    }
  }
  return owned;
}

/** Every `acquired partition` line of a service's JSON log: partition, epoch, and the pause it reported. */
export function acquisitions(output: string): { partition: number; epoch: number; pauseMs: number | null }[] {
  const out: { partition: number; epoch: number; pauseMs: number | null }[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('acquired partition')) continue;
    try {
      const fields = JSON.parse(line) as { partition: number; epoch: number; pauseMs: number | null };
      out.push({ partition: fields.partition, epoch: fields.epoch, pauseMs: fields.pauseMs });
    } catch {
      // not a JSON line
    }
  }
  return out;
}
