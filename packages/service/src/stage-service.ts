/**
 * The one host of a stage service (enrich, state, writer): settings → HTTP endpoints → bus → the stage's own
 * clients → partitions under leases → ready → drain on SIGTERM. A stage app is its clients and its processor.
 *
 * ```ts
 * await runStageService({ spec: STAGES.writer, settings, telemetry, instanceId,
 *   async start({ logger }) {
 *     const pool = new pg.Pool({ connectionString: settings.DATABASE_URL });
 *     const sink = createPostgresSink(pool);
 *     return { processorFor: (lease) => createWriterProcessor({ ...lease, sink }), close: () => pool.end() };
 *   } });
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Meter, Tracer } from '@opentelemetry/api';
import type { Bus } from '@throughline/bus';
import {
  hostStage,
  onShutdown,
  type Lease,
  type Logger,
  type PartitionProcessor,
  type StageHost,
  type StageSpec,
} from '@throughline/runtime';
import {
  instrumentFailures,
  instrumentOwnership,
  instrumentStage,
  type PipelineMetrics,
} from '@throughline/telemetry';
import { startGrpcServer } from './grpc-server.js';
import { startHttpServer } from './http-server.js';
import { createLogger } from './logger.js';
import type { CommonSettings } from './settings.js';
import { connectServiceBus, staticPartitionsOrExit } from './stage.js';

/** What a service's telemetry gives the host (`@throughline/telemetry-sdk`'s `Telemetry`). */
export interface ServiceTelemetry {
  readonly tracer: Tracer;
  readonly meter: Meter;
  readonly metricsHandler: (req: IncomingMessage, res: ServerResponse) => void;
  shutdown(): Promise<void>;
}

/** A stage's own part, built once the bus is connected. */
export interface StageRuntime<T> {
  /** The processor of a partition held under `lease` (made again at every restart of its actor). */
  processorFor(lease: Lease): PartitionProcessor<T>;
  /** Messages one turn takes. */
  maxTurnMessages: number;
  /** Stale batches dropped so far (older producer epochs): reported as fenced effects. */
  staleBatches?(): number;
  /** Figures logged every 10 s and at shutdown. */
  report?(): Record<string, unknown>;
  /** Closes the stage's clients, once its partitions have stopped. */
  close(): Promise<void>;
}

export interface StageServiceOptions<T> {
  /** The stage, from the pipeline's stage table. */
  spec: StageSpec<T>;
  settings: CommonSettings;
  telemetry: ServiceTelemetry;
  /** This instance's id among the stage's live instances (`instanceIdOf`). */
  instanceId: string;
  /** Builds the stage's clients and processors. */
  start(ctx: { bus: Bus; logger: Logger; metrics: PipelineMetrics }): Promise<StageRuntime<T>>;
  /** Fields added to the ready line. */
  readyFields?: () => Record<string, unknown>;
}

/** Runs a stage service until SIGTERM (then drains: every partition finishes its turn, acks and is released). */
export async function runStageService<T>(opts: StageServiceOptions<T>): Promise<StageHost> {
  const { spec, settings, telemetry, instanceId } = opts;
  const logger = createLogger(spec.name, settings.LOG_LEVEL, { instance: instanceId });
  const staticPartitions = staticPartitionsOrExit(settings, logger);
  const http = await startHttpServer({ address: settings.HTTP_ADDRESS, metrics: telemetry.metricsHandler });
  const bus = await connectServiceBus(instanceId, settings, logger);

  // The metrics read the host, which needs the metrics' observers to start: it is filled in below.
  const started: { host?: StageHost } = {};
  const owned = (): readonly Lease[] => started.host?.owned() ?? [];
  const { observer, metrics } = instrumentStage({
    tracer: telemetry.tracer,
    meter: telemetry.meter,
    bus,
    stage: spec.name,
    topic: spec.consumes,
    partitions: () => owned().map((l) => l.partition),
  });
  const stage = await opts.start({ bus, logger, metrics });
  const host = await hostStage<T>({
    bus,
    stage: spec.name,
    topic: spec.consumes,
    decode: spec.decode,
    ...(spec.split ? { split: spec.split } : {}),
    partitionCount: settings.PARTITION_COUNT,
    memberId: instanceId,
    ...(staticPartitions ? { staticPartitions } : {}),
    processorFor: (lease) => stage.processorFor(lease),
    actor: { observer, maxTurnMessages: stage.maxTurnMessages },
    observer: instrumentOwnership({
      tracer: telemetry.tracer,
      meter: telemetry.meter,
      stage: spec.name,
      topic: spec.consumes,
      owned,
      fenced: () => ({
        staleInput: stage.staleBatches?.() ?? 0,
        refused: started.host?.refusedEffects ?? 0,
      }),
    }),
    logger,
  });
  started.host = host;
  const running = host;
  instrumentFailures({ meter: telemetry.meter, stage: spec.name, source: host });
  http.setHealthCheck(() => stallReason(host));
  // The standard gRPC health service, for probes and meshes that speak gRPC (a stage has no other API).
  const grpcServer = await startGrpcServer({ address: settings.GRPC_ADDRESS, services: [] });
  grpcServer.setServing(true);
  http.setReady(true);
  logger.info('ready', {
    httpPort: http.port,
    instance: instanceId,
    assignment: settings.PARTITION_ASSIGNMENT,
    partitions: running.owned().map((l) => l.partition),
    ...opts.readyFields?.(),
  });
  const report = (): void =>
    logger.info(`${spec.name} counters`, {
      partitions: running.owned().map((l) => l.partition),
      restarts: running.restarts,
      fencedPartitions: running.fencedPartitions,
      refusedEffects: running.refusedEffects,
      ...stage.report?.(),
    });
  const reporting = setInterval(report, 10_000);
  reporting.unref();
  const stalls = watchEventLoop(logger, settings.LEASE_TTL_MS);

  onShutdown(
    async () => {
      http.setReady(false);
      grpcServer.setServing(false);
      clearInterval(reporting);
      stalls.stop();
      await running.stop();
      await stage.close();
      await bus.close();
      report();
      await grpcServer.shutdown(1000);
      await http.close();
      await telemetry.shutdown();
    },
    { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
  );
  return running;
}

/**
 * Why `/readyz` answers 503 while partitions wait for a dependency: which, on what, since when. The service is
 * not restarted for it (that is liveness); it is held out of rollouts until its dependencies answer again.
 */
function stallReason(host: StageHost): string | undefined {
  const stalled = host.stalled();
  if (stalled.length === 0) return undefined;
  const oldest = stalled[0]!;
  const partitions = stalled.map((s) => s.partition).sort((a, b) => a - b);
  const seconds = Math.round((Date.now() - oldest.sinceMs) / 1000);
  return `${partitions.length} partition(s) [${partitions.join(',')}] stalled on ${oldest.dependency} (${oldest.reason}) for ${seconds} s: ${oldest.error}`;
}

/**
 * Warns when the event loop was blocked long enough to matter: a process that cannot run its timers cannot renew
 * its leases, and loses its partitions after a quarter of the lease time to live without it.
 */
function watchEventLoop(logger: Logger, leaseTtlMs: number): { stop(): void } {
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  const thresholdMs = leaseTtlMs / 4;
  const timer = setInterval(() => {
    const maxMs = delay.max / 1e6;
    if (maxMs > thresholdMs)
      logger.warn('the event loop was blocked', { maxMs: Math.round(maxMs), leaseTtlMs });
    delay.reset();
  }, 5_000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      delay.disable();
    },
  };
}
