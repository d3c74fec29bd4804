import { connectJetStreamBus } from '@throughline/bus';
import { IngestServiceService } from '@throughline/contracts';
import { IngestPublisher } from '@throughline/pipeline';
import { onShutdown } from '@throughline/runtime';
import { startHttpServer, busSettingsOf, createLogger, startGrpcServer } from '@throughline/service';
import { loadSettings } from './config.js';
import { createIngestService } from './ingest-service.js';

const settings = loadSettings();
const logger = createLogger('ingest', settings.LOG_LEVEL, { instance: settings.INSTANCE_INDEX });
const http = await startHttpServer({ address: settings.HTTP_ADDRESS });


const bus = await connectJetStreamBus({ servers: settings.NATS_URL, name: `ingest-${settings.INSTANCE_INDEX}`, settings: busSettingsOf(settings), logger });
await bus.ensureTopology();
const publisher = new IngestPublisher({
  bus,
  partitionCount: settings.PARTITION_COUNT,
  maxBatchEvents: settings.INGEST_MAX_BATCH_EVENTS,
  lingerMs: settings.INGEST_LINGER_MS,
  maxInFlightEvents: settings.INGEST_MAX_IN_FLIGHT_EVENTS,
  retryAfterMs: settings.INGEST_RETRY_AFTER_MS,
});
const grpcServer = await startGrpcServer({
  address: settings.GRPC_ADDRESS,
  services: [
    {
      name: 'throughline.v1.IngestService',
      definition: IngestServiceService,
      implementation: createIngestService(publisher, { maxBatchEvents: settings.INGEST_MAX_REQUEST_EVENTS }, logger),
    },
  ],
});
grpcServer.setServing(true);
http.setReady(true);
logger.info('ready', { httpPort: http.port, port: grpcServer.port, partitions: settings.PARTITION_COUNT });

onShutdown(
  async () => {
    http.setReady(false);
    grpcServer.setServing(false);
    await grpcServer.shutdown(Math.max(1000, settings.SHUTDOWN_TIMEOUT_MS - 5000));
    await publisher.close();
    await bus.close();
    await http.close();
  },
  { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
);
