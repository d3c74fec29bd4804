import pg from 'pg';
import {
  createGroupCommitSink,
  createNaiveWriterHandler,
  createWriterHandler,
  InFlightLimit,
  decodeResultBatch,
  newWriterCounters,
  withInjectedLatency,
} from '@throughline/pipeline';
import { onShutdown, startPartitionActors, Supervisor } from '@throughline/runtime';
import {
  startGrpcServer,
  startHttpServer,
  connectServiceBus,
  ownedPartitionsOrExit,
  createLogger,
  pipelineModeOf,
} from '@throughline/service';
import { createPostgresSink, migrate } from '@throughline/stores';
import { loadSettings } from './config.js';
import { instrumentStage } from '@throughline/telemetry';
import type { Telemetry } from '@throughline/telemetry-sdk';

/** Runs the writer service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('writer', settings.LOG_LEVEL, { instance: settings.INSTANCE_INDEX });
  const partitions = ownedPartitionsOrExit(settings, logger);
  const http = await startHttpServer({ address: settings.HTTP_ADDRESS, metrics: telemetry.metricsHandler });

  const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: settings.PG_POOL_SIZE });
  pool.on('error', (err) => logger.warn('idle PostgreSQL connection failed', { error: err.message }));
  const migration = await migrate(pool);
  logger.info('schema up to date', { ...migration });
  if (settings.MIGRATE_ONLY) {
    await pool.end();
    await http.close();
    await telemetry.shutdown();
    process.exit(0);
  }
  const store = withInjectedLatency(createPostgresSink(pool), settings.INJECT_LATENCY, 'postgres');
  // Batched: the partitions' turns share statements (group commit); naive: one statement per row, as it asks.
  const groupSink = createGroupCommitSink(store, { maxInFlight: settings.WRITER_COMMITS_IN_FLIGHT });

  const bus = await connectServiceBus('writer', settings, logger);
  const counters = newWriterCounters();
  const { observer } = instrumentStage({
    tracer: telemetry.tracer,
    meter: telemetry.meter,
    bus,
    stage: 'writer',
    topic: 'applied',
    partitions,
  });
  const mode = pipelineModeOf(settings);
  const limit = new InFlightLimit(mode.concurrency);
  const supervisor = new Supervisor({ logger });
  startPartitionActors({
    supervisor,
    bus,
    stage: 'writer',
    topic: 'applied',
    partitions,
    decode: decodeResultBatch,
    handlerFor: (partition) =>
      mode.features.has('batching')
        ? createWriterHandler({ partition, sink: groupSink, counters })
        : createNaiveWriterHandler({ partition, sink: store, counters, limit }),
    actor: { logger, observer, maxTurnMessages: settings.WRITER_MAX_TURN_MESSAGES },
  });
  // The standard gRPC health service, for probes and meshes that speak gRPC (this service has no other API).
  const grpcServer = await startGrpcServer({ address: settings.GRPC_ADDRESS, services: [] });
  grpcServer.setServing(true);
  http.setReady(true);
  logger.info('ready', { httpPort: http.port, partitions, features: [...mode.features].join(',') });
  const report = setInterval(
    () => logger.info('writer counters', { ...counters, groupCommit: groupSink.stats }),
    10_000,
  );
  report.unref();

  onShutdown(
    async () => {
      http.setReady(false);
      grpcServer.setServing(false);
      await supervisor.stop();
      await bus.close();
      await pool.end();
      logger.info('writer counters', { ...counters, groupCommit: groupSink.stats });
      await grpcServer.shutdown(1000);
      await http.close();
      await telemetry.shutdown();
    },
    { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
  );
}
