/**
 * One measured run of the pipeline: fresh servers and services with the given settings, the same generated events
 * sent over gRPC by this process (the load generator), until every event is committed or the time box ends.
 */
import type pg from 'pg';
import { publishWithRetry, type Event, type IngestServiceClient } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger } from '@throughline/stores';
import { CpuTracker, reapedChildrenCpuSeconds, selfCpuSeconds, treeCpuSeconds } from './cpu.js';
import { emptyStageMetrics, scrapeStage, type StageMetrics } from './metrics.js';
import type { StageApp } from '@throughline/stack';
import { startSecuredServers } from './secured.js';
import {
  startPipeline,
  startReplicatedServers,
  startServers,
  type PipelineStack,
  type Servers,
} from './stack.js';

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
  /**
   * Offer the events at this rate (a paced, open-loop load: requests of 1,000 events (as in a flood) on a fixed schedule, whatever
   * the pipeline does) instead of as fast as ingest accepts them. For latency at a given load.
   */
  paceEventsPerSecond?: number;
  /**
   * Leave the events ingest accepted in the first this-many ms out of p50/p99 (JIT, connections, cold caches);
   * `p99WithWarmupMs` still counts them. Default 0.
   */
  warmupMs?: number;
  /** Node.js flags for every service (`--cpu-prof --cpu-prof-dir=…` to profile a run). */
  nodeArgs?: readonly string[];
  /** Instances each stage starts with. Default one each. */
  instances?: Partial<Record<StageApp, number>>;
  /** Run the services of another checkout (`<root>/apps/<app>/dist/main.js`), built with `pnpm build`. */
  appsRoot?: string;
  /** Every hop secured (`startSecuredServers`): TLS to each server and on gRPC, users and a client token. */
  secured?: boolean;
  /** NATS a three-node cluster on this machine, every stream in three copies (`startReplicatedServers`). */
  replicated?: boolean;
  /** The nats-server to run (default: the one on PATH; for `replicated`, one of 2.10 or newer). */
  natsBinary?: string;
  /**
   * Runs beside the load (scale events, faults), given the stack, how many events were sent so far and the
   * servers; the run waits for it before it ends.
   */
  during?: (stack: PipelineStack, sent: () => number, servers: Servers) => Promise<void>;
}

/** The partitions that changed hands in a run, from the services' `acquired partition` log lines. */
export interface Handovers {
  /** Partitions taken (the first acquisitions at start included). */
  acquisitions: number;
  /** Of those, taken from an owner that released it cooperatively: the pause is known. */
  cooperative: number;
  /** How long a cooperatively moved partition went unprocessed. */
  pauseP50Ms: number;
  pauseP99Ms: number;
  pauseMaxMs: number;
  /** Every pause, ms, ascending (to take percentiles over several runs). */
  pausesMs: number[];
  /** The longest pause: which service took which partition from whom. */
  slowest?: {
    service: string;
    partition: number;
    previousOwner: string;
    pauseMs: number;
    /** Of the pause: until the new owner saw the release, then until it went for the lease (newer builds log them). */
    noticedAfterMs?: number;
    queuedMs?: number;
    /** Of `noticedAfterMs`: until the bucket stored the release, then until the new owner's watch delivered it. */
    storedAfterMs?: number;
    deliveredAfterMs?: number;
    /** Of `deliveredAfterMs`: the longest the new owner's event loop stood still meanwhile (newer builds log it). */
    loopStoodStillMs?: number;
    /** Of `deliveredAfterMs`: the garbage collector's pauses in the new owner meanwhile, in all. */
    gcMs?: number;
  };
}

export interface PipelineRow {
  label: string;
  env: Record<string, string>;
  /** The paced rate the events were offered at; absent for a flood (as fast as ingest accepts). */
  offeredEventsPerSecond?: number;
  sent: number;
  committed: number;
  seconds: number;
  eventsPerSecond: number;
  /** Ingest-to-commit latency percentiles over the events accepted after the warm-up (`warmupMs`). */
  p50Ms: number;
  p99Ms: number;
  /** Warm-up left out of the percentiles, ms (0: none). */
  warmupMs: number;
  /** p99 over every committed event, warm-up included. */
  p99WithWarmupMs: number;
  /** CPU seconds per 1,000 committed events over every service and server process and the load generator. */
  cpuSecondsPer1k: number;
  /** CPU seconds of each service, each server (nats, redis, postgres) and the load generator (`load`). */
  cpuSeconds: Record<string, number>;
  /** Round trips to external systems per event, summed over enrich, state and writer. */
  externalCallsPerEvent: number;
  /** Where the stages' turn time went, ms per event, summed over the stages. */
  split: { queueMs: number; dependencyMs: number; computeMs: number };
  stages: Record<string, StageMetrics>;
  verified?: boolean;
  timedOut: boolean;
  /** With `during`: the hand-overs of the run. */
  handovers?: Handovers;
}

/** The workload every pipeline scenario uses: the same events for every row. */
export function workload(events: number): Event[] {
  return new LedgerWorkload({ accounts: 20_000, seed: 7, idPrefix: 'bench' }).take(events);
}

/** One request, retried while ingest refuses it for being over its bound (or unavailable for a moment). */
async function publishBatch(client: IngestServiceClient, events: Event[], token?: string): Promise<void> {
  await publishWithRetry(client, events, { maxAttempts: 200, pauseMs: 100, token });
}

/**
 * Sends `events` over gRPC, retrying what ingest refuses for being over its bound. A flood (no `pace`) sends
 * requests of 1,000 events, 8 in flight. A paced load starts request k (of 1,000 events) at k × 1,000 / pace seconds,
 * whether or not earlier ones have finished (at most 64 in flight), so a slow pipeline does not slow the arrivals.
 */
export async function sendEvents(
  client: IngestServiceClient,
  events: Event[],
  stop: () => boolean,
  pace?: number,
  onSent: (events: number) => void = () => undefined,
  token?: string,
): Promise<void> {
  if (pace === undefined) {
    let next = 0;
    const worker = async () => {
      while (next < events.length && !stop()) {
        const chunk = events.slice(next, next + 1000);
        next += 1000;
        onSent(chunk.length);
        await publishBatch(client, chunk, token);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return;
  }
  const size = 1000;
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let k = 0; k * size < events.length && !stop(); k++) {
    const due = started + (k * size * 1000) / pace;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (inFlight.size >= 64) await Promise.race(inFlight);
    const chunk = events.slice(k * size, (k + 1) * size);
    onSent(chunk.length);
    const sending = publishBatch(client, chunk, token).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  }
  await Promise.all(inFlight);
}

async function committedCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
  return Number(rows[0]?.n ?? 0);
}

/**
 * Waits until `target` rows are committed or `deadline` passes; returns the last count. Counting the ledger is a
 * scan whose CPU would be booked to the run, so the count runs every 100 ms only once the writer's own counter
 * (events handed to its commits) has reached the target, and every second before that.
 */
async function waitForCommitted(
  pool: pg.Pool,
  writerHttpPort: number | undefined,
  target: number,
  deadline: number,
): Promise<{ committed: number; timedOut: boolean }> {
  let lastCount = 0;
  for (;;) {
    const near =
      writerHttpPort === undefined ||
      // A writer restarted by a fault no longer answers there: count the ledger instead.
      (await scrapeStage(writerHttpPort).then(
        (m) => m.events >= target,
        () => true,
      ));
    if (near || performance.now() - lastCount >= 1000) {
      lastCount = performance.now();
      // PostgreSQL killed or restarting by a fault: not counted this time; the deadline still holds.
      const committed = await committedCount(pool).catch(() => undefined);
      if (committed !== undefined && committed >= target) return { committed, timedOut: false };
      if (performance.now() > deadline)
        return { committed: committed ?? (await committedCount(pool)), timedOut: true };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** p50 and p99 of ingest-to-commit over the rows accepted at or after `fromMs` (epoch ms), and p99 over all rows. */
async function latencyPercentiles(
  pool: pg.Pool,
  fromMs: number,
): Promise<{ p50: number; p99: number; p99All: number }> {
  const { rows } = await pool.query<{ p50: number | null; p99: number | null; p99_all: number | null }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE steady) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FILTER (WHERE steady) AS p99,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99_all
     FROM (SELECT extract(epoch FROM committed_at - accepted_at) * 1000 AS ms,
                  accepted_at >= to_timestamp($1::float8 / 1000) AS steady
           FROM ledger) t`,
    [fromMs],
  );
  return {
    p50: Number(rows[0]?.p50 ?? 0),
    p99: Number(rows[0]?.p99 ?? 0),
    p99All: Number(rows[0]?.p99_all ?? 0),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}

/** The hand-overs in the services' JSON logs (`acquired partition` lines, with the pause when it is known). */
export function handoversOf(outputs: readonly string[], names: readonly string[] = []): Handovers {
  let acquisitions = 0;
  const pauses: number[] = [];
  let slowest: Handovers['slowest'];
  outputs.forEach((output, i) => {
    for (const line of output.split('\n')) {
      if (!line.includes('acquired partition')) continue;
      try {
        const {
          pauseMs,
          partition,
          previousOwner,
          noticedAfterMs,
          queuedMs,
          storedAfterMs,
          deliveredAfterMs,
          loopStoodStillMs,
          gcMs,
        } = JSON.parse(line) as {
          pauseMs?: number | null;
          partition?: number;
          previousOwner?: string;
          noticedAfterMs?: number;
          queuedMs?: number;
          storedAfterMs?: number;
          deliveredAfterMs?: number;
          loopStoodStillMs?: number;
          gcMs?: number;
        };
        acquisitions++;
        if (typeof pauseMs !== 'number') continue;
        pauses.push(pauseMs);
        if (slowest === undefined || pauseMs > slowest.pauseMs)
          slowest = {
            service: names[i] ?? `#${i}`,
            partition: partition ?? -1,
            previousOwner: previousOwner ?? '',
            pauseMs,
            ...(typeof noticedAfterMs === 'number' && typeof queuedMs === 'number'
              ? { noticedAfterMs, queuedMs }
              : {}),
            ...(typeof storedAfterMs === 'number' && typeof deliveredAfterMs === 'number'
              ? { storedAfterMs, deliveredAfterMs }
              : {}),
            ...(typeof loopStoodStillMs === 'number' ? { loopStoodStillMs } : {}),
            ...(typeof gcMs === 'number' ? { gcMs } : {}),
          };
      } catch {
        // not a log line of ours
      }
    }
  });
  pauses.sort((a, b) => a - b);
  return {
    acquisitions,
    cooperative: pauses.length,
    pauseP50Ms: percentile(pauses, 0.5),
    pauseP99Ms: percentile(pauses, 0.99),
    pauseMaxMs: pauses.at(-1) ?? 0,
    pausesMs: pauses,
    ...(slowest ? { slowest } : {}),
  };
}

/** Percentiles of the pauses of several runs' hand-overs taken together. */
export function pausesOf(handovers: readonly (Handovers | undefined)[]): {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
} {
  const all = handovers.flatMap((h) => h?.pausesMs ?? []).sort((a, b) => a - b);
  return {
    count: all.length,
    p50Ms: percentile(all, 0.5),
    p99Ms: percentile(all, 0.99),
    maxMs: all.at(-1) ?? 0,
  };
}

export async function runPipeline(opts: PipelineRunOptions, events: Event[]): Promise<PipelineRow> {
  const servers = opts.secured
    ? await startSecuredServers()
    : opts.replicated
      ? await startReplicatedServers(opts.natsBinary)
      : await startServers(opts.natsBinary);
  try {
    const stack = await startPipeline({
      servers,
      partitions: opts.partitions ?? 8,
      env: opts.env,
      ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
      ...(opts.instances ? { instances: opts.instances } : {}),
      ...(opts.appsRoot ? { appsRoot: opts.appsRoot } : {}),
    });
    let stopSending = false;
    let perProcess: CpuTracker | undefined;
    try {
      const roots = () => [...servers.pids, ...stack.pids()];
      // Read again at each sample: a scale step adds and stops instances, a fault restarts a process.
      const processes = () =>
        new Map<string, number>([
          ...[...stack.services].map(([n, s]) => [n, s.pid ?? -1] as const),
          ...Object.entries(servers.pidsByName),
        ]);
      perProcess = new CpuTracker(processes);
      const loadBefore = selfCpuSeconds();
      const reapedBefore = reapedChildrenCpuSeconds();
      const totalBefore = treeCpuSeconds(roots());
      const started = performance.now();
      const startedAtMs = Date.now();
      let sent = 0;
      const sending = sendEvents(
        stack.ingest,
        events,
        () => stopSending,
        opts.paceEventsPerSecond,
        (n) => (sent += n),
        stack.token,
      );
      // Should the run end early (an error below), the load stops and its failures are not left unhandled.
      sending.catch(() => undefined);
      const beside = opts.during?.(stack, () => sent, servers);
      const { committed, timedOut } = await waitForCommitted(
        stack.pool,
        stack.httpPorts.get('writer'),
        events.length,
        started + opts.timeBoxMs,
      );
      const seconds = (performance.now() - started) / 1000;
      const load = selfCpuSeconds() - loadBefore;
      // What runs now, less what ran at the start, plus the whole time of the processes that exited meanwhile
      // (an exited process's reading at the start is in `totalBefore`, so only its time since counts).
      const totalCpu =
        treeCpuSeconds(roots()) - totalBefore + (reapedChildrenCpuSeconds() - reapedBefore) + load;
      const cpuSeconds = perProcess.stop();
      cpuSeconds.load = load;
      stopSending = true;
      await sending.catch(() => undefined);
      await beside;
      const stages: Record<string, StageMetrics> = {};
      for (const name of ['enrich', 'state', 'writer']) {
        const port = stack.httpPorts.get(name);
        // A service restarted during the run (a fault) serves on another port: its counters restarted anyway.
        stages[name] =
          port === undefined ? emptyStageMetrics() : await scrapeStage(port).catch(() => emptyStageMetrics());
      }
      const warmupMs = opts.warmupMs ?? 0;
      const { p50, p99, p99All } = await latencyPercentiles(stack.pool, startedAtMs + warmupMs);
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
      const handovers = opts.during
        ? handoversOf(
            [...stack.services.values()].map((p) => p.output()),
            [...stack.services.keys()],
          )
        : undefined;
      return {
        label: opts.label,
        env: opts.env,
        ...(opts.paceEventsPerSecond === undefined
          ? {}
          : { offeredEventsPerSecond: opts.paceEventsPerSecond }),
        sent: events.length,
        committed,
        seconds,
        eventsPerSecond: committed / seconds,
        p50Ms: p50,
        p99Ms: p99,
        warmupMs,
        p99WithWarmupMs: p99All,
        cpuSecondsPer1k: committed > 0 ? (totalCpu * 1000) / committed : 0,
        cpuSeconds,
        externalCallsPerEvent: calls,
        split,
        stages,
        ...(verified === undefined ? {} : { verified }),
        timedOut,
        ...(handovers ? { handovers } : {}),
      };
    } finally {
      perProcess?.stop();
      stopSending = true;
      await stack.stop();
    }
  } finally {
    await servers.stop();
  }
}
