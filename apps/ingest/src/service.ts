import type { Bus } from '@throughline/bus';
import {
  createIngestService,
  IngestAccess,
  IngestClientDirectory,
  IngestPublisher,
  ingestServiceDefinition,
  maxRequestBytes,
  STAGE_NAMES,
  STAGES,
} from '@throughline/pipeline';
import { onShutdown } from '@throughline/runtime';
import {
  connectServiceBus,
  createLogger,
  serverCredentialsOrExit,
  startGrpcServer,
  startHttpServer,
} from '@throughline/service';
import { loadSettings } from './config.js';
import { createPublishObserver, PipelineMetrics } from '@throughline/telemetry';
import type { Telemetry } from '@throughline/telemetry-sdk';

/**
 * Messages each stage has not yet acknowledged, over all its partitions (`{"enrich":…,"state":…,"writer":…}`):
 * KEDA's metrics-api trigger reads it to scale a stage on its lag.
 */
async function lagByStage(bus: Bus): Promise<Record<string, number>> {
  const lag: Record<string, number> = {};
  for (const name of STAGE_NAMES) lag[name] = await bus.topicBacklog(STAGES[name].consumes);
  return lag;
}

/** Runs the ingest service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('ingest', settings.LOG_LEVEL, { instance: settings.INSTANCE_INDEX });
  const bus = await connectServiceBus('ingest', settings, logger);
  // Ingest always runs, even while a stage is scaled to zero: the place an autoscaler asks for each stage's lag.
  const http = await startHttpServer({
    address: settings.HTTP_ADDRESS,
    metrics: telemetry.metricsHandler,
    json: { '/lag': () => lagByStage(bus) },
  });
  const publisher = new IngestPublisher({
    bus,
    partitionCount: settings.PARTITION_COUNT,
    maxBatchEvents: settings.INGEST_MAX_BATCH_EVENTS,
    lingerMs: settings.INGEST_LINGER_MS,
    maxInFlightEvents: settings.INGEST_MAX_IN_FLIGHT_EVENTS,
    maxInFlightBytes: settings.INGEST_MAX_IN_FLIGHT_BYTES,
    retryAfterMs: settings.INGEST_RETRY_AFTER_MS,
    observer: createPublishObserver(telemetry.tracer),
  });
  const limits = { maxBatchEvents: settings.INGEST_MAX_REQUEST_EVENTS };
  // The clients are known before the first call is served: a credential created before start works at once.
  const access = new IngestAccess(
    settings.INGEST_AUTH_OPEN ? undefined : await IngestClientDirectory.open(await bus.clients(), logger),
  );
  const grpcServer = await startGrpcServer({
    address: settings.GRPC_ADDRESS,
    credentials: await serverCredentialsOrExit(settings, logger),
    // No request larger than the largest valid one is read; its events are counted before they are decoded.
    maxReceiveMessageBytes: maxRequestBytes(limits),
    connections: settings,
    services: [
      {
        name: 'throughline.v1.IngestService',
        definition: ingestServiceDefinition(limits),
        implementation: createIngestService(publisher, limits, logger, access),
      },
    ],
  });
  const metrics = new PipelineMetrics(telemetry.meter);
  metrics.observe('tl.ingest.in_flight_events', 'Events accepted and not yet durable', () =>
    Promise.resolve([{ value: publisher.inFlightEvents }]),
  );
  metrics.countBy(
    'tl.ingest.refused',
    'Calls refused: RESOURCE_EXHAUSTED (events in flight over INGEST_MAX_IN_FLIGHT_EVENTS), UNAUTHENTICATED (no valid client credential), PERMISSION_DENIED (an event of a tenant the client may not publish for)',
    'tl.reason',
    () => ({
      resource_exhausted: publisher.refusedCalls,
      unauthenticated: access.refused.unauthenticated,
      permission_denied: access.refused.permissionDenied,
    }),
  );
  grpcServer.setServing(true);
  http.setReady(true);
  logger.info(
    access.open
      ? 'publishing is open to every caller (INGEST_AUTH_OPEN=true)'
      : `publishing needs a client credential (${access.clients} clients known)`,
  );
  logger.info('ready', { httpPort: http.port, port: grpcServer.port, partitions: settings.PARTITION_COUNT });

  onShutdown(
    async () => {
      http.setReady(false);
      grpcServer.setServing(false);
      await grpcServer.shutdown(Math.max(1000, settings.SHUTDOWN_TIMEOUT_MS - 5000));
      await publisher.close();
      await access.close();
      await bus.close();
      await http.close();
      await telemetry.shutdown();
    },
    { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
  );
}
