/**
 * One measured run of the pipeline: fresh servers and services with the given settings, the same generated events
 * sent over gRPC by this process (the load generator), until every event is committed or the time box ends.
 */
import * as grpc from '@grpc/grpc-js';
import type pg from 'pg';
import type { Event, IngestServiceClient } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger } from '@throughline/stores';
import { treeCpuSeconds } from './cpu.js';
import { emptyStageMetrics, scrapeStage, type StageMetrics } from './metrics.js';
import { startPipeline, startServers } from './stack.js';

export interface PipelineRunOptions {
  label: string;
  /** Environment of every service: PIPELINE_MODE, PIPELINE_FEATURES, NAIVE_CONCURRENCY, INJECT_LATENCY, … */
  env: Record<string, string>;
  events: number;
  /** Stop measuring after this long even when not every event is committed, ms. */
  timeBoxMs: number;
  partitions?: number;
  /** Check the ledger's invariants after the run (every committed event once, balances add up). */
  verify?: boolean;
}

export interface PipelineRow {
  label: string;
  env: Record<string, string>;
  sent: number;
  committed: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds per 1,000 committed events over every service and server process. */
  cpuSecondsPer1k: number;
  cpuSeconds: Record<string, number>;
  /** Round trips to external systems per event, summed over enrich, state and writer. */
  externalCallsPerEvent: number;
  /** Where the stages' turn time went, ms per event, summed over the stages. */
  split: { queueMs: number; dependencyMs: number; computeMs: number };
  stages: Record<string, StageMetrics>;
  verified?: boolean;
  timedOut: boolean;
}

/** The workload every pipeline scenario uses: the same events for every row. */
export function workload(events: number): Event[] {
  return new LedgerWorkload({ accounts: 20_000, seed: 7, idPrefix: 'bench' }).take(events);
}

async function publishBatch(client: IngestServiceClient, events: Event[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) =>
        client.publishBatch({ events }, (err) => (err ? reject(err) : resolve())),
      );
      return;
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (attempt > 200 || (e.code !== grpc.status.RESOURCE_EXHAUSTED && e.code !== grpc.status.UNAVAILABLE))
        throw err;
      await new Promise((r) => setTimeout(r, Number(e.metadata?.get('retry-after-ms')[0] ?? 100)));
    }
  }
}

/** Sends `events` in requests of 1,000, 8 in flight, retrying what ingest refuses for being over its bound. */
export async function sendEvents(
  client: IngestServiceClient,
  events: Event[],
  stop: () => boolean,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < events.length && !stop()) {
      const chunk = events.slice(next, next + 1000);
      next += 1000;
      await publishBatch(client, chunk);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function committedCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
  return Number(rows[0]?.n ?? 0);
}

async function latencyPercentiles(pool: pg.Pool): Promise<{ p50: number; p99: number }> {
  const { rows } = await pool.query<{ p50: number | null; p99: number | null }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
     FROM (SELECT extract(epoch FROM committed_at - accepted_at) * 1000 AS ms FROM ledger) t`,
  );
  return { p50: Number(rows[0]?.p50 ?? 0), p99: Number(rows[0]?.p99 ?? 0) };
}

export async function runPipeline(opts: PipelineRunOptions, events: Event[]): Promise<PipelineRow> {
  const servers = await startServers();
  try {
    const stack = await startPipeline({ servers, partitions: opts.partitions ?? 8, env: opts.env });
    try {
      const roots = () => [...servers.pids, ...stack.pids()];
      const cpuBefore = new Map([...stack.services].map(([n, s]) => [n, treeCpuSeconds([s.pid ?? -1])]));
      const serversBefore = treeCpuSeconds(servers.pids);
      const totalBefore = treeCpuSeconds(roots());
      const started = performance.now();
      let stopSending = false;
      const sending = sendEvents(stack.ingest, events, () => stopSending);
      let committed = 0;
      let timedOut = false;
      for (;;) {
        committed = await committedCount(stack.pool);
        if (committed >= events.length) break;
        if (performance.now() - started > opts.timeBoxMs) {
          timedOut = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = (performance.now() - started) / 1000;
      const totalCpu = treeCpuSeconds(roots()) - totalBefore;
      const cpuSeconds: Record<string, number> = {};
      for (const [name, s] of stack.services)
        cpuSeconds[name] = treeCpuSeconds([s.pid ?? -1]) - (cpuBefore.get(name) ?? 0);
      cpuSeconds.servers = treeCpuSeconds(servers.pids) - serversBefore;
      stopSending = true;
      await sending.catch(() => undefined);
      const stages: Record<string, StageMetrics> = {};
      for (const name of ['enrich', 'state', 'writer']) {
        const port = stack.httpPorts.get(name);
        stages[name] = port === undefined ? emptyStageMetrics() : await scrapeStage(port);
      }
      const { p50, p99 } = await latencyPercentiles(stack.pool);
      let calls = 0;
      const split = { queueMs: 0, dependencyMs: 0, computeMs: 0 };
      for (const s of Object.values(stages)) {
        const per = s.events > 0 ? 1 / s.events : 0;
        calls += s.externalCalls * per;
        split.queueMs += s.queueMs * per;
        split.dependencyMs += s.dependencyMs * per;
        split.computeMs += s.computeMs * per;
      }
      let verified: boolean | undefined;
      if (opts.verify) verified = (await verifyLedger(stack.pool)).ok;
      return {
        label: opts.label,
        env: opts.env,
        sent: events.length,
        committed,
        seconds,
        eventsPerSecond: committed / seconds,
        p50Ms: p50,
        p99Ms: p99,
        cpuSecondsPer1k: committed > 0 ? (totalCpu * 1000) / committed : 0,
        cpuSeconds,
        externalCallsPerEvent: calls,
        split,
        stages,
        ...(verified === undefined ? {} : { verified }),
        timedOut,
      };
    } finally {
      await stack.stop();
    }
  } finally {
    await servers.stop();
  }
}
