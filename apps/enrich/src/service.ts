import * as grpc from '@grpc/grpc-js';
import { ConfigServiceClient } from '@throughline/contracts';
import {
  ConfigCache,
  ConfigFeed,
  createEnrichHandler,
  createNaiveEnrichHandler,
  decodeEventBatch,
  InFlightLimit,
  injectDelay,
  isOptimized,
} from '@throughline/pipeline';
import { getTenantConfig } from './get-config.js';
import { onShutdown, startPartitionActors, Supervisor } from '@throughline/runtime';
import {
  startGrpcServer,
  startHttpServer,
  connectServiceBus,
  ownedPartitionsOrExit,
  createLogger,
  pipelineModeOf,
} from '@throughline/service';
import { loadSettings } from './config.js';
import { instrumentStage } from '@throughline/telemetry';
import type { Telemetry } from '@throughline/telemetry-sdk';

/** Runs the enrich service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('enrich', settings.LOG_LEVEL, { instance: settings.INSTANCE_INDEX });
  const partitions = ownedPartitionsOrExit(settings, logger);
  const http = await startHttpServer({ address: settings.HTTP_ADDRESS, metrics: telemetry.metricsHandler });

  const configClient = new ConfigServiceClient(settings.CONFIG_ADDRESS, grpc.credentials.createInsecure());
  const cache = new ConfigCache();
  const feed = new ConfigFeed({ client: configClient, cache, logger });
  await feed.start();

  const bus = await connectServiceBus('enrich', settings, logger);
  const { observer } = instrumentStage({
    tracer: telemetry.tracer,
    meter: telemetry.meter,
    bus,
    stage: 'enrich',
    topic: 'ingested',
    partitions,
  });
  const mode = pipelineModeOf(settings);
  const limit = new InFlightLimit(mode.concurrency);
  const getConfig = async (tenantId: string) => {
    await injectDelay(settings.INJECT_LATENCY, 'config');
    return getTenantConfig(configClient, tenantId);
  };
  const supervisor = new Supervisor({ logger });
  startPartitionActors({
    supervisor,
    bus,
    stage: 'enrich',
    topic: 'ingested',
    partitions,
    decode: decodeEventBatch,
    handlerFor: (partition) =>
      isOptimized(mode)
        ? createEnrichHandler({
            bus,
            partition,
            snapshot: () => cache.current,
            maxOutputEvents: settings.ENRICH_MAX_OUTPUT_EVENTS,
          })
        : createNaiveEnrichHandler({
            bus,
            partition,
            mode,
            limit,
            snapshot: () => cache.current,
            getConfig,
            maxOutputEvents: settings.ENRICH_MAX_OUTPUT_EVENTS,
          }),
    actor: { logger, observer, maxTurnMessages: settings.ENRICH_MAX_TURN_MESSAGES },
  });
  // The standard gRPC health service, for probes and meshes that speak gRPC (this service has no other API).
  const grpcServer = await startGrpcServer({ address: settings.GRPC_ADDRESS, services: [] });
  grpcServer.setServing(true);
  http.setReady(true);
  logger.info('ready', {
    httpPort: http.port,
    partitions,
    configVersion: String(cache.current.version),
    features: [...mode.features].join(','),
  });

  onShutdown(
    async () => {
      http.setReady(false);
      grpcServer.setServing(false);
      await supervisor.stop();
      await feed.stop();
      configClient.close();
      await bus.close();
      await grpcServer.shutdown(1000);
      await http.close();
      await telemetry.shutdown();
    },
    { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
  );
}
