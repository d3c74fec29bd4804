import { Redis } from 'ioredis';
import pg from 'pg';
import {
  createNaiveStateHandler,
  decodeEnrichedBatch,
  InFlightLimit,
  injectDelay,
  isOptimized,
  type AccountTransactions,
  newStateCounters,
  StateStage,
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
import {
  createPostgresAccountTransactions,
  createPostgresStateSource,
  createRedisStateStore,
  migrate,
  readDeploymentId,
  stateKeyPrefixFor,
} from '@throughline/stores';
import { loadSettings } from './config.js';
import { instrumentStage } from '@throughline/telemetry';
import type { Telemetry } from '@throughline/telemetry-sdk';

/** Runs the state service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('state', settings.LOG_LEVEL, { instance: settings.INSTANCE_INDEX });
  const partitions = ownedPartitionsOrExit(settings, logger);
  const http = await startHttpServer({ address: settings.HTTP_ADDRESS, metrics: telemetry.metricsHandler });

  const redis = new Redis(settings.REDIS_URL, { maxRetriesPerRequest: 2, enableAutoPipelining: false });
  redis.on('error', (err: Error) => logger.warn('redis connection error', { error: err.message }));
  const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: settings.PG_POOL_SIZE });
  pool.on('error', (err) => logger.warn('idle PostgreSQL connection failed', { error: err.message }));
  // Redis keys carry the database's deployment id: a fresh database never reads another one's state.
  await migrate(pool);
  const keyPrefix = stateKeyPrefixFor(await readDeploymentId(pool));
  const store = withInjectedLatency(
    createRedisStateStore(redis, { dedupHorizonMs: settings.DEDUP_HORIZON_MS, keyPrefix }),
    settings.INJECT_LATENCY,
    'redis',
  );
  const committed = withInjectedLatency(createPostgresStateSource(pool), settings.INJECT_LATENCY, 'postgres');

  const bus = await connectServiceBus('state', settings, logger);
  const counters = newStateCounters();
  const { observer, metrics } = instrumentStage({
    tracer: telemetry.tracer,
    meter: telemetry.meter,
    bus,
    stage: 'state',
    topic: 'enriched',
    partitions,
  });
  const mode = pipelineModeOf(settings);
  const limit = new InFlightLimit(mode.concurrency);
  const rawAccounts = createPostgresAccountTransactions(pool);
  if (!mode.features.has('cache')) await rawAccounts.prepare();
  // Without the cache, a transaction per event: BEGIN + SELECT … FOR UPDATE, then UPSERT + COMMIT.
  const accounts: AccountTransactions = {
    async lock(accountId) {
      await injectDelay(settings.INJECT_LATENCY, 'postgres');
      const locked = await rawAccounts.lock(accountId);
      return withInjectedLatency(locked, settings.INJECT_LATENCY, 'postgres');
    },
  };
  const stageOptions = {
    store,
    committed,
    counters,
    logger,
    maxCachedAccounts: settings.STATE_MAX_CACHED_ACCOUNTS,
    dedupHorizonMs: settings.DEDUP_HORIZON_MS,
    maxOutputEvents: settings.STATE_MAX_OUTPUT_EVENTS,
  };
  const supervisor = new Supervisor({ logger });
  startPartitionActors({
    supervisor,
    bus,
    stage: 'state',
    topic: 'enriched',
    partitions,
    decode: decodeEnrichedBatch,
    handlerFor: (partition) =>
      isOptimized(mode)
        ? new StateStage({ bus, partition, ...stageOptions }).handle
        : createNaiveStateHandler({ bus, partition, mode, limit, accounts, stage: stageOptions }),
    actor: { logger, observer, maxTurnMessages: settings.STATE_MAX_TURN_MESSAGES },
  });
  // The standard gRPC health service, for probes and meshes that speak gRPC (this service has no other API).
  const grpcServer = await startGrpcServer({ address: settings.GRPC_ADDRESS, services: [] });
  grpcServer.setServing(true);
  http.setReady(true);
  metrics.observe('tl.state.cache_hit_ratio', 'Share of account look-ups answered from memory', () => {
    const lookups = counters.memoryHits + counters.storeHits + counters.rebuiltFromDatabase;
    return Promise.resolve(lookups === 0 ? [] : [{ value: counters.memoryHits / lookups }]);
  });
  logger.info('ready', { httpPort: http.port, partitions, features: [...mode.features].join(',') });
  const report = setInterval(() => logger.info('state counters', { ...counters }), 10_000);
  report.unref();

  onShutdown(
    async () => {
      http.setReady(false);
      grpcServer.setServing(false);
      await supervisor.stop();
      await bus.close();
      redis.disconnect();
      await pool.end();
      logger.info('state counters', { ...counters });
      await grpcServer.shutdown(1000);
      await http.close();
      await telemetry.shutdown();
    },
    { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
  );
}
