import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { explainSpans, spansFromReadable, type Explanation } from '@throughline/telemetry';
/**
 * `throughline demo`: a deterministic, skewed ledger workload through the embedded pipeline, start to verify.
 * The demo feeds with flow control (at most `maxPendingEvents` between ingest and commit), so its latency figures
 * describe the pipeline at full speed rather than the length of a queue it built up itself.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger, type VerifyReport } from '@throughline/stores';
import { type OutcomeCounts } from './commit-stats.js';
import { DEFAULT_DATA_DIR, EmbeddedDatabase, hasDatabase } from './database/embedded-database.js';
import { runEmbeddedPipeline, type EmbeddedPipeline } from './embedded-pipeline.js';
import { EmbeddedError, EmbeddedErrorCode } from './errors.js';
import { demoTenants } from './tenants.js';
import type { StageName, StageTime } from './turn-accounting.js';

export interface DemoOptions {
  /** Events to generate. Default 1000000. */
  events?: number;
  /** Distinct accounts. Default 100000. */
  accounts?: number;
  /** Tenants (`tenant-1`..`tenant-N`, all configured). Default 5. */
  tenants?: number;
  /** Workload seed: the same seed gives the same events. Default 1. */
  seed?: number;
  /** Zipf exponent of the account distribution. Default 0.8. */
  skew?: number;
  /** Data directory; it is emptied first and must hold nothing but an earlier database. Default `./.throughline/data`. */
  dataDir?: string;
  /** Partitions. Default 8. */
  partitionCount?: number;
  /** Events published but not yet committed, at most. Default 100000. */
  maxPendingEvents?: number;
  /** Events per publish call. Default 5000. */
  chunkEvents?: number;
  /** Called every `progressIntervalMs` while the demo runs. */
  onProgress?: (progress: DemoProgress) => void;
  /** Default 1000 ms. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export type DemoPhase = 'starting' | 'running' | 'draining' | 'verifying' | 'done';

export interface DemoProgress {
  phase: DemoPhase;
  /** Since the first event was published, ms. */
  elapsedMs: number;
  events: number;
  published: number;
  committed: number;
  /** Committed events a second over the last interval. */
  eventsPerSecond: number;
  backlog: Record<StageName, number>;
}

export interface DemoReport {
  events: number;
  accounts: number;
  tenants: number;
  seed: number;
  skew: number;
  partitions: number;
  dataDir: string;
  /** Opening (creating) the database, migrating, starting the actors, ms. */
  startupMs: number;
  /** From the first event published to the last committed, ms. */
  processingMs: number;
  verifyMs: number;
  totalMs: number;
  /** Events committed a second over `processingMs`. */
  eventsPerSecond: number;
  /** Ingest (acceptance) to commit, ms. */
  latencyMs: { p50: number; p99: number; max: number };
  outcomes: OutcomeCounts;
  /** Ledger rows inserted. */
  committedRows: number;
  /** Events the state stage skipped as already applied. */
  duplicatesSkipped: number;
  stages: Record<StageName, StageTime>;
  /** Where the time went, from the demo's own spans: the `throughline explain` table and its verdict. */
  explanation: Explanation;
  /** How busy each thread was while processing (0..1): the pipeline's actors share the main thread, PostgreSQL has its own. */
  utilization: { mainThread: number; databaseThread: number };
  verify: VerifyReport;
}

/** Empties `dir` for a fresh database, refusing to touch a directory holding anything else. */
export function prepareFreshDataDir(dir: string): string {
  const path = resolve(dir);
  if (existsSync(path) && readdirSync(path).length > 0) {
    if (!hasDatabase(path)) {
      throw new EmbeddedError(
        EmbeddedErrorCode.invalidArgument,
        `${path} is not empty and holds no database; choose an empty or new --data-dir`,
      );
    }
    rmSync(path, { recursive: true, force: true });
  }
  return path;
}

/** The progress rate's window, ms. */
const RATE_WINDOW_MS = 2000;

export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const o = {
    events: 1_000_000,
    accounts: 100_000,
    tenants: 5,
    seed: 1,
    skew: 0.8,
    dataDir: DEFAULT_DATA_DIR,
    partitionCount: 8,
    maxPendingEvents: 100_000,
    chunkEvents: 5000,
    progressIntervalMs: 1000,
    ...options,
  };
  const started = performance.now();
  const dataDir = prepareFreshDataDir(o.dataDir);
  const database = await EmbeddedDatabase.open({ dataDir });
  let pipeline: EmbeddedPipeline | undefined;
  let phase: DemoPhase = 'starting';
  let feedStarted = 0;
  // Commits arrive a turn at a time: the rate is taken over the last couple of seconds, not the last tick.
  const samples: { at: number; committed: number }[] = [];
  const tick = (): void => {
    const p = pipeline?.progress();
    const now = performance.now();
    const committed = p?.committed ?? 0;
    samples.push({ at: now, committed });
    while (samples.length > 2 && now - samples[1]!.at >= RATE_WINDOW_MS) samples.shift();
    const from = samples[0]!;
    const rate = now > from.at ? ((committed - from.committed) * 1000) / (now - from.at) : 0;
    o.onProgress?.({
      phase,
      elapsedMs: feedStarted === 0 ? 0 : now - feedStarted,
      events: o.events,
      published: p?.published ?? 0,
      committed,
      eventsPerSecond: rate,
      backlog: p?.backlog ?? { enrich: 0, state: 0, writer: 0 },
    });
  };
  const timer = setInterval(tick, o.progressIntervalMs);
  // The demo traces itself like the services do (every ingest batch and turn), into memory, and explains the spans.
  const tracing = inMemoryTracing();
  try {
    pipeline = await runEmbeddedPipeline({
      database,
      partitionCount: o.partitionCount,
      tenants: demoTenants(o.tenants),
      bulkLoad: true,
      tracer: tracing.provider.getTracer('throughline-demo'),
    });
    const startupMs = performance.now() - started;
    phase = 'running';
    feedStarted = performance.now();
    const loopAtStart = performance.eventLoopUtilization();
    const dbBusyAtStart = database.busyMs;
    await feed(pipeline, o);
    phase = 'draining';
    await pipeline.drain(o.signal ? { signal: o.signal } : {});
    const processingMs = performance.now() - feedStarted;
    const utilization = {
      mainThread: performance.eventLoopUtilization(loopAtStart).utilization,
      databaseThread: Math.min(1, (database.busyMs - dbBusyAtStart) / processingMs),
    };
    phase = 'verifying';
    tick();
    const verifyStarted = performance.now();
    await pipeline.completeBulkLoad();
    const verify = await verifyLedger(database.pool);
    if (verify.checkedEvents !== o.events) {
      verify.ok = false;
      verify.totalViolations++;
      verify.violations.unshift({
        invariant: 'exactly-one-row',
        detail: `${o.events} events were accepted but the ledger holds ${verify.checkedEvents} rows`,
      });
    }
    const verifyMs = performance.now() - verifyStarted;
    phase = 'done';
    const { commits, stateCounters, turns } = pipeline;
    return {
      events: o.events,
      accounts: o.accounts,
      tenants: o.tenants,
      seed: o.seed,
      skew: o.skew,
      partitions: o.partitionCount,
      dataDir,
      startupMs,
      processingMs,
      verifyMs,
      totalMs: performance.now() - started,
      eventsPerSecond: (commits.insertedRows * 1000) / processingMs,
      latencyMs: {
        p50: commits.latency.quantile(0.5),
        p99: commits.latency.quantile(0.99),
        max: commits.latency.maxMs,
      },
      outcomes: commits.snapshotOutcomes(),
      committedRows: commits.insertedRows,
      duplicatesSkipped: stateCounters.duplicates,
      stages: turns.snapshot(),
      explanation: explainSpans(spansFromReadable(tracing.exporter.getFinishedSpans())),
      utilization,
      verify,
    };
  } finally {
    clearInterval(timer);
    await pipeline?.stop();
    await database.close();
    await tracing.provider.shutdown();
  }
}

function inMemoryTracing(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { provider, exporter };
}

async function feed(
  pipeline: EmbeddedPipeline,
  o: Required<Omit<DemoOptions, 'onProgress' | 'signal'>> & DemoOptions,
): Promise<void> {
  const workload = new LedgerWorkload({
    accounts: o.accounts,
    tenants: o.tenants,
    seed: o.seed,
    skew: o.skew,
  });
  for (let sent = 0; sent < o.events;) {
    const n = Math.min(o.chunkEvents, o.events - sent);
    const chunk = workload.take(n);
    for (;;) {
      if (o.signal?.aborted) throw new EmbeddedError(EmbeddedErrorCode.closed, 'the demo was interrupted');
      const p = pipeline.progress();
      if (p.published - p.committed - pipeline.stateCounters.duplicates + n <= o.maxPendingEvents) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    await pipeline.publish(chunk);
    sent += n;
  }
}
